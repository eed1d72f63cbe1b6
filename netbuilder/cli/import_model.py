"""``netbuilder import SOURCE -o PROJECT``: a Keras model file or ``app:NAME`` -> a project (and
its weights beside it). Errors are one line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from netbuilder.cli.errors import fail, unexpected
from netbuilder.runtime.keras_loader import import_keras_quietly


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE",
                        help="a .keras, .h5 or .json (model.to_json()) file, or app:NAME for a "
                             "Keras Application (e.g. app:ResNet50)")
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


def run(args: argparse.Namespace) -> int:
    from netbuilder.runtime.keras_to_graph import KerasImportError

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
