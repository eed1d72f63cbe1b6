"""Runs last in this folder: every spec was checked against Keras, on accepted and refused cases."""

from pathlib import Path

import pytest
from oracle import CHECKED

from netbuilder.core import catalog

HERE = Path(__file__).parent

# Layers Keras accepts on any input, with any parameter value of the right type (Input: its shape
# is whatever the user declares); their tests can reach no refusal.
NEVER_REFUSED = {"Input", "ELU", "Softmax", "RandomFlip", "Rescaling"}


def test_every_spec_was_checked_against_keras(request):
    files = {p.name for p in HERE.glob("test_*.py")} - {Path(__file__).name,
                                                         "test_signatures.py"}
    ran = {Path(str(item.fspath)).name for item in request.session.items}
    if not files <= ran:
        pytest.skip("only part of the oracle suite was selected")
    unchecked = [s.type for s in catalog.all_specs() if s.type not in CHECKED]
    assert not unchecked, f"no oracle test checked {unchecked}"
    one_sided = [t for t, seen in CHECKED.items()
                 if seen != {True, False} and t not in NEVER_REFUSED]
    assert not one_sided, f"oracle tests reached only accepted or only refused cases: {one_sided}"
