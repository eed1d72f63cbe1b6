"""``netbuilder import SOURCE -o PROJECT``: a Keras model file or ``app:NAME`` -> a project (and
its weights beside it); ``netbuilder import FILE.py --allow-code -o PROJECT [--model NAME]
[--timeout S]``: Keras code, run in a child process (``runtime/code_import``) only with that
consent. Errors are one line on stderr (a syntax error adds the line it is about) and exit
status 1, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from netbuilder.cli.errors import fail, unexpected
from netbuilder.runtime.code_import.runner import DEFAULT_TIMEOUT
from netbuilder.runtime.keras_loader import import_keras_quietly


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE",
                        help="a .keras, .h5 or .json (model.to_json()) file, app:NAME for a "
                             "Keras Application (e.g. app:ResNet50), or a .py file of Keras code "
                             "(with --allow-code)")
    parser.add_argument("-o", "--output", required=True, metavar="PROJECT",
                        help="the project file to write (used exactly as given); the weights go "
                             "beside it as <name>.weights.h5")
    parser.add_argument("--no-top", dest="include_top", action="store_false",
                        help="app:NAME without its classifier (include_top=False)")
    parser.add_argument("--input-shape", metavar="H,W,C",
                        help="app:NAME input shape, e.g. 224,224,3")
    parser.add_argument("--pooling", choices=("avg", "max"),
                        help="app:NAME with --no-top: global pooling of the features")
    parser.add_argument("--weights", metavar="none|imagenet|FILE",
                        help="app:NAME weights: none (default), imagenet (from Keras' cache "
                             "~/.keras/models only) or a weights file")
    parser.add_argument("--classes", type=int, metavar="N",
                        help="app:NAME number of classes of its classifier")
    parser.add_argument("--allow-code", action="store_true",
                        help="FILE.py: run the code (in a separate process, without network) "
                             "to make its model; importing code runs it, so it needs this consent")
    parser.add_argument("--model", metavar="NAME",
                        help="FILE.py: the variable (or function) holding the model; default: "
                             "build_model(), else model, else the last model made")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help=f"FILE.py: stop the code after S seconds (default "
                             f"{DEFAULT_TIMEOUT:g})")


def run(args: argparse.Namespace) -> int:
    from netbuilder.runtime.keras_to_graph import KerasImportError

    if args.source.lower().endswith(".py"):
        return _import_code(args)
    code_options = [flag for flag, value in (("--allow-code", args.allow_code),
                                             ("--model", args.model),
                                             ("--timeout", args.timeout)) if value]
    if code_options:
        return fail(f"{', '.join(code_options)}: these options apply to FILE.py sources only")
    try:
        options = _options(args)
        if args.source.startswith("app:") or os.path.exists(args.source):
            import_keras_quietly()
        return _import(args, options)
    except KerasImportError as err:
        return fail(str(err))
    except Exception as err:  # noqa: BLE001 - the promise: one line, never a traceback
        return unexpected("import", err)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The Keras Applications' options given on the command line (checked before Keras
    loads)."""
    from netbuilder.runtime.keras_import import parse_input_shape
    from netbuilder.runtime.keras_to_graph import KerasImportError

    options: dict[str, Any] = {}
    if not args.include_top:
        options["include_top"] = False
    if args.input_shape is not None:
        options["input_shape"] = parse_input_shape(args.input_shape)
    if args.pooling is not None:
        options["pooling"] = args.pooling
    if args.weights is not None:
        options["weights"] = None if args.weights.lower() == "none" else args.weights
    if args.classes is not None:
        options["classes"] = args.classes
    if not args.source.startswith("app:") and options:
        names = {"include_top": "--no-top", "input_shape": "--input-shape",
                 "pooling": "--pooling", "weights": "--weights", "classes": "--classes"}
        used = ", ".join(names[k] for k in options)
        raise KerasImportError(f"{used}: these options apply to app:NAME sources only")
    return options


def _import(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from netbuilder.core.summary import summarize
    from netbuilder.runtime.keras_import import import_to_file

    project = import_to_file(args.source, args.output, **options)
    for note in project.settings.get("imported", {}).get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    summary = summarize(project.graph, project.name)
    print(f"Imported {args.source} as {args.output}: {len(project.graph.nodes)} layers, "
          f"{summary.total_params:,} params ({summary.trainable_params:,} trainable)")
    if project.weights is not None:
        print(f"Weights saved beside it: {project.weights}")
    return 0


def _import_code(args: argparse.Namespace) -> int:
    """``FILE.py --allow-code``: the code runs in the child process; this one writes the
    project."""
    from netbuilder.core.project import ProjectError, save
    from netbuilder.core.summary import summarize
    from netbuilder.runtime.code_import.runner import import_code
    from netbuilder.runtime.code_import.source import CodeImportError

    source = Path(args.source)
    if not args.allow_code:
        return fail(f"{source} is Python code, and importing code runs it: pass --allow-code to "
                    "run it in a separate process without network (for up to --timeout "
                    "seconds), or import a saved model (.keras, .h5, .json) instead")
    used = [flag for flag, value in (("--no-top", not args.include_top),
                                     ("--input-shape", args.input_shape),
                                     ("--pooling", args.pooling), ("--weights", args.weights),
                                     ("--classes", args.classes)) if value]
    if used:
        return fail(f"{', '.join(used)}: these options apply to app:NAME sources only")
    if not source.is_file():
        return fail(f"{source}: no such file" if not source.exists() else
                    f"{source}: is a folder; expected a .py file")
    folder = Path(args.output).parent
    if not folder.is_dir():
        return fail(f"cannot write {args.output}: the folder {folder} does not exist")
    try:
        code = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return fail(f"{source}: cannot read it: {err}")
    try:
        result = import_code(code, filename=str(source), model=args.model,
                             timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout)
        save(result.project, args.output)
    except (CodeImportError, ProjectError) as err:
        return fail(str(err))
    except Exception as err:  # noqa: BLE001 - the promise: one line, never a traceback
        return unexpected("import", err)
    for note in result.notes + result.project.settings.get("imported", {}).get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    others = result.others()
    if others:
        print(f"Took {result.chosen}; the code also makes {', '.join(others)} "
              "(choose one with --model NAME)")
    project = result.project
    summary = summarize(project.graph, project.name)
    print(f"Imported {result.chosen} from {source} as {args.output}: "
          f"{len(project.graph.nodes)} layers, {summary.total_params:,} params "
          f"({summary.trainable_params:,} trainable); fresh weights, as the code makes them")
    return 0
