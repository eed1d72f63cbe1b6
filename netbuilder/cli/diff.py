"""``netbuilder diff A B [--json]``: the differences from network A (old) to network B (new).

A and B are each a project file, a run folder (or its ``run.json``: the project as it was
trained) or a Keras model file (``.keras``, ``.h5``, a ``model.to_json()`` ``.json``; only these
import TensorFlow). Layers are matched by name, then a renamed layer by its type and inputs
(``core/diff.py``).

The text report, one line per layer::

    + dense_2 (Dense) (None, 10) 650 params, from dense_1
    ~ conv2d (Conv2D): filters 32 → 64; output (None, 26, 26, 32) → (None, 26, 26, 64); …
    - dropout (Dropout) (None, 64) 0 params, from dense
    Layers: 1 changed, 1 added, 1 removed, 7 unchanged
    Total params: 93,322 → 112,010 (+18,688)

``--json`` prints::

    {"a": label, "b": label, "identical": bool,
     "added": [LAYER], "removed": [LAYER],
     "changed": [{"name", "old_name", "type",
                  "changes": {"config": {PARAM: {"old", "new"}},
                              "type" | "output_shape" | "params" | "trainable_params" |
                              "trainable" | "inputs": {"old", "new"},
                              "layers": true}}],
     "unchanged": N,
     "totals": {"total_params" | "trainable_params" | "non_trainable_params":
                {"old", "new", "delta"}},
     "errors": {"a": [...], "b": [...]}}

with LAYER = ``{"name", "type", "output_shape", "params", "trainable_params", "trainable",
"inputs"}``, shapes as in ``summary --json`` (lists, ``null`` for the batch dimension) and
``changes`` holding only what differs. Exit status 0 whenever the comparison ran, different or
not; 1 (one line on stderr) when a source cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys

from netbuilder.cli.errors import fail, unexpected
from netbuilder.core.diff import (
    DiffSourceError,
    diff_projects,
    format_text,
    load_source,
    source_kind,
    to_json,
)
from netbuilder.core.project import Project

HELP = ("A and B: project files, run folders (or their run.json) or Keras model files "
        "(.keras, .h5, .json). Exit status 0 whenever the comparison ran, whether the two "
        "differ or not; 1 when a source cannot be read.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = HELP
    parser.add_argument("a", metavar="A", help="the old network")
    parser.add_argument("b", metavar="B", help="the new network")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _read(source: str) -> Project:
    if source_kind(source) == "keras":
        from netbuilder.runtime.keras_import import import_source
        from netbuilder.runtime.keras_loader import import_keras_quietly

        import_keras_quietly()
        return import_source(source)
    return load_source(source)


def run(args: argparse.Namespace) -> int:
    from_keras = False
    try:
        projects = []
        for source in (args.a, args.b):
            from_keras = from_keras or source_kind(source) == "keras"
            projects.append(_read(source))
    except DiffSourceError as err:
        return fail(str(err))
    except Exception as err:  # noqa: BLE001 - the promise: one line, never a traceback
        if type(err).__name__ == "KerasImportError":
            return fail(str(err))
        return unexpected("diff" if not from_keras else "reading the Keras model", err)
    diff = diff_projects(projects[0], projects[1], args.a, args.b)
    if args.json:
        print(json.dumps(to_json(diff), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(format_text(diff))
    return 0
