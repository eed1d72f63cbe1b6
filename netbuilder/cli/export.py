"""``netbuilder export PROJECT -o FILE.py``: standalone Keras code (``core.codegen``), or with
``--format keras`` the built model as a ``.keras`` file, with the project's weights when it has
them. The output path is used exactly as given and written atomically; an invalid graph exits 1
with its errors on stderr; no error is ever a traceback. Keras is imported only for
``--format keras``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from netbuilder.cli.errors import fail, unexpected
from netbuilder.core.atomic_write import write_atomically
from netbuilder.runtime.keras_loader import import_keras_quietly

FORMATS = ("python", "keras")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.py",
                        help="the file to write (used exactly as given)")
    parser.add_argument("--format", choices=FORMATS, default="python",
                        help="python: Keras code defining build_model() (default); keras: the "
                             "built model saved as a .keras file, with the project's weights")
    parser.add_argument("--with-training", action="store_true",
                        help="python format: add data loading, compile and fit for the "
                             "project's training settings")
    parser.add_argument("--data", metavar="SOURCE",
                        help="with --with-training: digits, mnist, fashion_mnist, cifar10, a "
                             "folder of images or an .npz file (default: the project's data)")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except OSError as err:
        return fail(f"cannot write {args.output}: {err.strerror or err}")
    except Exception as err:  # noqa: BLE001 - the promise: one line, never a traceback
        return unexpected("export", err)


def _run(args: argparse.Namespace) -> int:
    from netbuilder.core.project import ProjectError, load

    try:
        project = load(args.project)
    except ProjectError as err:
        return fail(str(err))
    problems = project.graph.inference.errors()
    if problems:
        print(f"netbuilder: cannot export {args.project}: the model has "
              f"{len(problems)} error{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    output = Path(args.output)
    if args.with_training and args.format != "python":
        return fail("--with-training adds Python code: it needs --format python")
    if args.format == "python":
        from netbuilder.core.codegen import generate_code

        text = generate_code(project)
        if args.with_training:
            from netbuilder.runtime.training.code import TrainingCodeError, with_training

            data = args.data or _project_data(project)
            if not data:
                return fail("--with-training needs --data SOURCE (the project names none)")
            try:
                text = with_training(text, project.graph, project.settings.get("training"),
                                     data)
            except TrainingCodeError as err:
                return fail(f"cannot export the training: {err}")
        code = text.encode("utf-8")
        write_atomically(output, lambda tmp: tmp.write_bytes(code))
        print(f"Wrote the Keras code of {project.name} to {output}")
        return 0
    return _export_keras(project, Path(args.project), output)


def _project_data(project: Any) -> str | None:
    """The data source the project was last trained on (the editor saves it), if any."""
    data = project.settings.get("data")
    source = data.get("source") if isinstance(data, dict) else data
    return source if isinstance(source, str) else None


def _export_keras(project: Any, project_file: Path, output: Path) -> int:
    import_keras_quietly()
    from netbuilder.core.codegen import model_name
    from netbuilder.runtime.keras_build import BuildError, build_model

    weights = None
    weights_path = getattr(project, "weights_path", None)
    if callable(weights_path):
        weights = weights_path(project_file)
    try:
        if weights is not None:
            model = build_model(project.graph, name=model_name(project.name),
                                weights_path=weights)
        else:
            model = build_model(project.graph, name=model_name(project.name))
    except BuildError as err:
        return fail(f"cannot build {project_file}: {err}")
    # Keras saves only to names ending in .keras: save beside the output, then move it there.
    write_atomically(output, lambda tmp: model.save(str(tmp)), suffix=".keras")
    detail = " with its weights" if weights is not None else ""
    print(f"Wrote the Keras model {model.name}{detail} to {output}")
    return 0
