"""``netbuilder [PROJECT]``: open the editor (with PROJECT, or the MNIST CNN example)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from netbuilder.cli.errors import fail


def run(argv: Sequence[str], print_usage: Callable[[], None]) -> int:
    """Open the editor on the one optional PROJECT in ``argv``; anything else is a usage error
    (``print_usage`` shows the commands' usage)."""
    editor = argparse.ArgumentParser(prog="netbuilder", add_help=False)
    editor.add_argument("project", nargs="?")
    args, rest = editor.parse_known_args(argv)
    if rest:
        print_usage()
        return fail(f"unrecognized arguments: {' '.join(rest)}", 2)
    from netbuilder.ui.app import run_editor  # Qt: only once the editor really opens

    return run_editor(args.project)
