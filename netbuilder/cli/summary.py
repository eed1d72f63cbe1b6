"""``netbuilder summary PROJECT [--json]``: the layer table and parameter totals, as Keras'
``model.summary()`` prints them. It never imports TensorFlow or Keras."""

from __future__ import annotations

import argparse
import json
import sys

from netbuilder.cli.errors import fail
from netbuilder.core.project import ProjectError, load
from netbuilder.core.summary import format_text, summarize, to_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    try:
        project = load(args.project)
    except ProjectError as err:
        return fail(str(err))
    summary = summarize(project.graph, project.name, project.settings.get("training"))
    if args.json:
        print(json.dumps(to_json(summary), indent=2))
    else:
        sys.stdout.write(format_text(summary))
    for error in summary.errors:
        print(f"error: {error}", file=sys.stderr)
    return 0 if summary.ok else 1
