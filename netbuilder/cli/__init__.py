"""The command line. ``netbuilder`` and ``python main.py`` both end up in ``main()``; each
command is one module here.

    netbuilder [PROJECT]                        open the editor (editor.py)
    netbuilder summary PROJECT [--json]         layer table and parameter totals (summary.py)
    netbuilder import SOURCE -o PROJECT         a Keras model file or app:NAME -> project
                                                (import_model.py)
    netbuilder export PROJECT -o FILE.py        standalone Keras code (export.py)
    netbuilder train PROJECT --data SOURCE ...  headless training (train.py)
    netbuilder search PROJECT --data SOURCE ... hyperparameter search with Optuna (search.py)
    netbuilder diff A B [--json]                differences between two projects / run graphs
                                                (diff.py)

``summary`` never imports TensorFlow or Keras.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from netbuilder import __version__
from netbuilder.cli import diff, editor, export, import_model, search, summary, train

COMMANDS = ("summary", "import", "export", "train", "search", "diff")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netbuilder",
        description="Design neural networks visually, train them, and export Keras code.")
    parser.add_argument("--version", action="version", version=f"netbuilder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, text in (
            ("summary", summary, "print the layer table and parameter totals"),
            ("import", import_model, "make a project from a Keras model or app:NAME"),
            ("export", export, "write Keras code, a .keras model, or a verified SavedModel, "
                               "ONNX or TFLite file"),
            ("train", train, "train a project headless"),
            ("search", search, "search hyperparameters with Optuna"),
            ("diff", diff, "compare two networks: projects, runs or Keras model files")):
        p = sub.add_parser(name, help=text)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS or any(a in ("-h", "--help", "--version") for a in argv[:1]):
        args = _parser().parse_args(argv)
        return int(args.func(args))
    return editor.run(argv, lambda: _parser().print_usage(sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
