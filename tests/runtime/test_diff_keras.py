"""`netbuilder diff` with Keras model files: a .keras model against the project it was built
from, and a model.to_json() architecture against an edited copy; the totals are Keras'."""

from __future__ import annotations

import json

import pytest

keras = pytest.importorskip("keras")

from netbuilder.cli import main  # noqa: E402
from netbuilder.core import project as proj  # noqa: E402
from netbuilder.runtime.keras_build import build_model  # noqa: E402

MNIST = "resources/examples/mnist_cnn.nbproj"


@pytest.mark.slow
def test_model_files_against_projects(tmp_path, capsys):
    project = proj.load(MNIST)
    model = build_model(project.graph)
    keras_file = tmp_path / "mnist.keras"
    model.save(keras_file)
    architecture = tmp_path / "mnist.json"
    architecture.write_text(model.to_json())

    assert main(["diff", str(keras_file), MNIST, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["identical"] is True, data
    assert data["totals"]["total_params"]["old"] == model.count_params()

    edited = proj.loads(proj.dumps(project))
    edited.graph.set_param(edited.graph.node_by_name("dense").id, "units", 32)
    edited_file = tmp_path / "edited.nbproj"
    proj.save(edited, edited_file)
    assert main(["diff", str(architecture), str(edited_file)]) == 0
    out = capsys.readouterr().out
    assert "~ dense (Dense): units 64 → 32" in out
    edited_model = build_model(edited.graph)
    delta = edited_model.count_params() - model.count_params()
    assert (f"Total params: {model.count_params():,} → {edited_model.count_params():,} "
            f"({delta:+,})") in out


@pytest.mark.slow
def test_damaged_model_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    assert main(["diff", str(bad), MNIST]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("netbuilder: ")
