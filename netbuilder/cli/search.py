"""``netbuilder search PROJECT --data SOURCE``: a hyperparameter search with Optuna
(``runtime/search.py``), one line per trial on stdout.

    netbuilder search PROJECT --data SOURCE [--trials N] [--timeout SECONDS] [--epochs N]
                      [--space PATH=LOW..HIGH[:log]] [--space PATH=A,B,C] ...
                      [--objective METRIC] [--direction minimize|maximize]
                      [--storage URL] [--study NAME] [--out DIR]

``--out DIR`` (default PROJECT-NAME-search) gets ``trials.csv``, ``best.nbproj``, the study
(``study.db``, unless ``--storage`` names another) and one run folder per trial
(``trials/NNN``). Processes given the same ``--storage`` and ``--study`` share one study.
Bad input is one line on stderr and exit status 1, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from netbuilder.cli.data_source import (
    DataSourceError,
    data_options,
    resolve_source,
    saved_data_options,
)
from netbuilder.cli.errors import fail
from netbuilder.core.text import format_duration


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="digits, shapes, mnist, fashion_mnist, cifar10, or a path (as for train)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="trials this process runs (default 10 without --timeout)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="start no trial after this many seconds")
    p.add_argument("--epochs", type=int, metavar="N",
                   help="epochs per trial (default: the project's setting)")
    p.add_argument("--space", action="append", default=[], metavar="PATH=RANGE",
                   help="a searched parameter: LAYER.PARAM or training.SETTING = LOW..HIGH"
                        "[:log][:step=S] or A,B,C (repeatable; default: the project's marks)")
    p.add_argument("--objective", default="val_loss", metavar="METRIC",
                   help="the metric to optimise (default val_loss)")
    p.add_argument("--direction", choices=("minimize", "maximize"),
                   help="default: minimize for losses and errors, else maximize")
    p.add_argument("--storage", metavar="URL", help="an Optuna storage URL (sqlite:///F.db, "
                   "postgresql://..., mysql://..., journal:PATH; default sqlite in --out)")
    p.add_argument("--study", metavar="NAME", help="the study's name (default: the project's)")
    p.add_argument("--out", metavar="DIR", help="where trials.csv, best.nbproj and the trials' "
                   "runs go (default: PROJECT-NAME-search)")


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from netbuilder.core.project import ProjectError, load
    from netbuilder.core.search_space import SearchError, parse_dimension
    from netbuilder.runtime.search import Search, SearchConfig, space_for

    out = out or sys.stdout
    try:
        project = load(args.project)
    except ProjectError as err:
        return fail(str(err))
    from netbuilder.runtime.data import DataError

    try:
        source = resolve_source(args.data)
        options = data_options(saved_data_options(project), {}, overridable=False)
    except (DataSourceError, DataError) as err:
        return fail(str(err))
    out_dir = Path(args.out or f"{Path(args.project).stem}-search").resolve()
    trials = args.trials if args.trials is not None or args.timeout is not None else 10
    try:
        dims = space_for(project, [parse_dimension(text) for text in args.space])
        config = SearchConfig(data={"source": source, "options": options}, out_dir=out_dir,
                              trials=trials, timeout=args.timeout, epochs=args.epochs,
                              objective=args.objective, direction=args.direction,
                              storage=args.storage, study=args.study)
        search = Search(project, dims, config)
        study = search.open()
    except SearchError as err:
        return fail(str(err))

    def line(text: str) -> None:
        print(text, file=out, flush=True)

    what = (f"{trials} trial{'s' if trials != 1 else ''}" if trials is not None else "trials")
    budget = f" within {format_duration(args.timeout)}" if args.timeout is not None else ""
    line(f"Searching {project.name} on {args.data}: {what}{budget}, {search.direction} "
         f"{config.objective}, study {study.study_name!r} -> {out_dir}")
    for dim in dims:
        line(f"  {dim.text()}")
    if options:      # the editor's data settings, as each trial's training uses them
        line("  data options saved in the project: "
             + ", ".join(f"{k} {json.dumps(v)}" for k, v in options.items()))
    interrupts = 0

    def on_sigint(*_: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            line("Stopping after the current batch (Ctrl-C again to abort)...")
            search.stop()
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    ran = 0
    try:
        for outcome in search.run():
            ran += 1
            value = "" if outcome.value is None else f"  {config.objective} {outcome.value:.4f}"
            reason = f": {outcome.reason}" if outcome.reason else ""
            best = search.best_trial()
            best_text = (f"  best {best.value:.4f} (trial {best.number})"
                         if best is not None else "")
            line(f"Trial {outcome.number}  {outcome.state}{reason}{value}  "
                 f"{format_duration(outcome.duration_s)}  ({_params_text(outcome.params)})"
                 f"{best_text}")
    except SearchError as err:
        return fail(str(err))
    except KeyboardInterrupt:
        return fail("search aborted")
    finally:
        signal.signal(signal.SIGINT, previous)
    best = search.best_trial()
    if best is None:
        return fail(f"no trial completed out of {ran}; see {out_dir / 'trials.csv'}")
    line(f"Best: trial {best.number}  {config.objective} {best.value:.4f}  "
         f"({_params_text(best.params)})")
    line(f"Wrote {out_dir / 'trials.csv'}, {out_dir / 'best.nbproj'}")
    return 0
