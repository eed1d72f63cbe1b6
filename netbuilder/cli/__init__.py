"""The command line. ``netbuilder`` and ``python main.py`` both end up in ``main()``.

    netbuilder [PROJECT]                        open the editor
    netbuilder summary PROJECT [--json]         layer table and parameter totals
    netbuilder import SOURCE -o PROJECT         a Keras model file or app:NAME -> project
    netbuilder export PROJECT -o FILE.py        standalone Keras code
    netbuilder train PROJECT --data SOURCE ...  headless training

``summary`` never imports TensorFlow or Keras.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from netbuilder import __version__

COMMANDS = ("summary", "import", "export", "train")


def _fail(message: str, code: int = 1) -> int:
    print(f"netbuilder: {message}", file=sys.stderr)
    return code


def cmd_summary(args: argparse.Namespace) -> int:
    from netbuilder.core.project import ProjectError, load
    from netbuilder.core.summary import format_text, summarize, to_json

    try:
        project = load(args.project)
    except ProjectError as err:
        return _fail(str(err))
    summary = summarize(project.graph, project.name)
    if args.json:
        print(json.dumps(to_json(summary), indent=2))
    else:
        sys.stdout.write(format_text(summary))
    for error in summary.errors:
        print(f"error: {error}", file=sys.stderr)
    return 0 if summary.ok else 1


def cmd_train(args: argparse.Namespace) -> int:
    from netbuilder.cli.train import run

    return run(args)


def cmd_import(args: argparse.Namespace) -> int:
    from netbuilder.cli.import_model import run

    return run(args)


def cmd_export(args: argparse.Namespace) -> int:
    from netbuilder.cli.export import run

    return run(args)


def _not_yet(name: str) -> int:
    return _fail(f"'{name}' is not available in this version yet", 2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netbuilder",
        description="Design neural networks visually, train them, and export Keras code.")
    parser.add_argument("--version", action="version", version=f"netbuilder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("summary", help="print the layer table and parameter totals")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("import", help="make a project from a Keras model or app:NAME")
    from netbuilder.cli.import_model import add_arguments as add_import_arguments

    add_import_arguments(p)
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("export", help="write standalone Keras code (or a .keras model)")
    from netbuilder.cli.export import add_arguments as add_export_arguments

    add_export_arguments(p)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("train", help="train a project headless")
    from netbuilder.cli.train import add_arguments as add_train_arguments

    add_train_arguments(p)
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS or any(a in ("-h", "--help", "--version") for a in argv[:1]):
        args = _parser().parse_args(argv)
        return int(args.func(args))
    editor = argparse.ArgumentParser(prog="netbuilder", add_help=False)
    editor.add_argument("project", nargs="?")
    args, rest = editor.parse_known_args(argv)
    if rest:
        _parser().print_usage(sys.stderr)
        return _fail(f"unrecognized arguments: {' '.join(rest)}", 2)
    from netbuilder.ui.app import run_editor

    return run_editor(args.project)


if __name__ == "__main__":
    sys.exit(main())
