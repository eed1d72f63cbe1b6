"""``netbuilder train PROJECT --data SOURCE``: headless training in a worker process, with
progress on the terminal. This process never imports TensorFlow; the worker does."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
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

_SKIP_LOGS = ("learning_rate",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="digits, shapes, mnist, fashion_mnist, cifar10, or a path: a folder with "
                        "one sub-folder per class, a .npz or a .csv file; the data options saved "
                        "in the project (Train ▸ Data…: augmentation, splits, image size...) "
                        "apply to it too, whatever source they were saved with")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs to train (default: the "
                   "project's setting, else 10)")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--out", metavar="DIR", help="where history.json, model.keras, best.keras "
                   "and run.json go (default: PROJECT-NAME-training)")
    p.add_argument("--learning-rate", type=float, metavar="LR")
    p.add_argument("--optimizer", metavar="NAME", help="sgd, rmsprop, adam or adamw")
    p.add_argument("--loss", metavar="NAME", help="a Keras loss (default: chosen from the output "
                   "layer and the labels), e.g. mean_squared_error for a regression on class "
                   "numbers")
    p.add_argument("--validation-split", type=float, metavar="F",
                   help="fraction of the training data held out for validation (default: the "
                        "project's data option, else 0.2)")
    p.add_argument("--weights", metavar="FILE", help="start from these weights (.keras or "
                   ".weights.h5), e.g. the model.keras of an earlier run")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a data option over the project's saved one, e.g. num_classes=4, "
                        "image_size=[64,64] or augmentation='{\"flip\": \"horizontal\"}' "
                        "(augmentation=null: none); repeatable")
    p.add_argument("--fine-tune-from", metavar="LAYER", help="after the epochs, fine-tune: "
                   "unfreeze this layer (top-level or inside a nested model) and the layers "
                   "after it")
    p.add_argument("--fine-tune-epochs", type=int, metavar="N",
                   help="epochs of fine-tuning after the first stage")
    p.add_argument("--fine-tune-learning-rate", type=float, metavar="LR",
                   help="learning rate of the fine-tuning stage (default 1e-5)")
    p.add_argument("--devices", metavar="auto|all|gpu:0,1|cpu:N",
                   help="where to train: auto (default: every GPU, else the CPU), all, chosen "
                        "GPUs, or the CPU split into N devices; several devices train under "
                        "MirroredStrategy and --batch-size is the global batch, split among them")
    p.add_argument("--tta", type=int, metavar="N", help="test-time augmentation: the final "
                   "evaluation also averages the predictions over N augmented copies of each "
                   "sample (the data options' augmentation) and shows the metrics without and "
                   "with it; 0: off (default: the project's setting)")
    p.add_argument("--latest-weights", action="store_true", help="write "
                   "OUT/latest.weights.h5 after every epoch")
    p.add_argument("--quiet", action="store_true",
                   help="print only the epoch lines (and the fine-tuning stage line)")


def _data_options(pairs: list[str], error: type[Exception]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise error(f"--data-option needs KEY=VALUE, found {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def _options_lines(saved: dict[str, Any], given: dict[str, Any], describe: Any) -> list[str]:
    """What the saved and given data options change, for the lines under ``Training ...``."""
    lines = []
    aug = given["augmentation"] if "augmentation" in given else saved.get("augmentation")
    saved_aug = saved.get("augmentation")
    if aug and any(aug.values()):
        where = "--data-option" if "augmentation" in given else "saved in the project"
        lines.append(f"augmentation of the training data: {describe(aug)} ({where})")
    elif saved_aug and any(saved_aug.values()):
        lines.append(f"augmentation of the training data: none (--data-option over the "
                     f"project's {describe(saved_aug)})")
    kept = {k: v for k, v in saved.items() if k not in given and k != "augmentation"}
    if kept:
        lines.append("data options saved in the project: "
                     + ", ".join(f"{k} {json.dumps(v)}" for k, v in kept.items()))
    return lines


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from netbuilder.core.project import ProjectError, load
    from netbuilder.core.summary import training_memory_warning
    from netbuilder.runtime import data as data_mod
    from netbuilder.runtime.training.settings import SettingsError, load_settings
    from netbuilder.runtime.workers.client import TrainingProcess

    out = out or sys.stdout
    try:
        project = load(args.project)
    except ProjectError as err:
        return fail(str(err))
    changes: dict[str, Any] = {}
    for name in ("epochs", "batch_size", "learning_rate", "optimizer", "loss", "fine_tune_from",
                 "fine_tune_epochs", "fine_tune_learning_rate", "devices", "tta"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    try:
        settings = load_settings(project).updated(changes)
        given = _data_options(args.data_option, data_mod.DataError)
        if args.validation_split is not None:
            given["validation_split"] = args.validation_split
        saved = saved_data_options(project)
        options = data_options(saved, given)
        augmentation = data_mod.resolve_options(options)["augmentation"]
    except (SettingsError, data_mod.DataError) as err:
        return fail(str(err))
    if getattr(args, "tta", None) and not (augmentation and any(augmentation.values())):
        return fail(f"--tta {args.tta} needs augmentation to average over: add --data-option "
                    "'augmentation={\"flip\": \"horizontal\"}' (or leave --tta out)")
    try:
        source = resolve_source(args.data)
    except DataSourceError as err:
        return fail(str(err))
    out_dir = Path(args.out or f"{Path(args.project).stem}-training").resolve()
    job: dict[str, Any] = {"project": str(Path(args.project).resolve()),
                           "data": {"source": source, "options": options},
                           "settings": changes, "output_dir": str(out_dir)}
    if getattr(args, "latest_weights", False):
        job["latest_weights"] = True
    if args.weights:
        if not Path(args.weights).exists():
            return fail(f"no weights file {args.weights}")
        job["initial_weights"] = str(Path(args.weights).resolve())

    printer = _Printer(out, quiet=args.quiet, tty=out.isatty())
    epochs = f"{settings.epochs} epoch{'s' if settings.epochs != 1 else ''}"
    if settings.fine_tuning:
        n = settings.fine_tune_epochs
        epochs += (f" + {n} fine-tuning epoch{'s' if n != 1 else ''} from "
                   f"{settings.fine_tune_from}")
    printer.line(f"Training {project.name} on {args.data} for {epochs} "
                 f"(batch size {settings.batch_size}) -> {out_dir}")
    if not args.quiet:
        for line in _options_lines(saved, given, data_mod.describe_augmentation):
            printer.line(f"  {line}")
    memory = training_memory_warning(project.graph, {
        **(project.settings.get("training") or {}), **changes})
    if memory:  # training goes on: the estimate may be pessimistic, swap may do
        print(f"warning: {memory}", file=sys.stderr)
    proc = TrainingProcess(job)
    interrupts = 0

    def on_sigint(*_: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            printer.line("Stopping after the current batch (Ctrl-C again to abort)...")
            proc.stop()
        else:
            proc.kill()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        proc.start()
        final: dict[str, Any] | None = None
        for event in proc.events():
            printer.show(event)
            if event["event"] in ("finished", "error"):
                final = event
        proc.close()
    except RuntimeError as err:
        return fail(str(err))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert final is not None
    if final["event"] == "error":
        printer.end_bar()
        message = final["message"]
        if final.get("kind") == "nan" and (out_dir / "history.json").exists():
            message += f" (history so far: {out_dir / 'history.json'})"
        return fail(message)
    return 0


def _fmt(value: Any) -> str:
    if value is None:
        return "nan"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)


class _Printer:
    def __init__(self, out: TextIO, *, quiet: bool, tty: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.tty = tty
        self.bar = False
        self.last_bar = 0.0

    def line(self, text: str) -> None:
        self.end_bar()
        print(text, file=self.out, flush=True)

    def end_bar(self) -> None:
        if self.bar:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self.bar = False

    def show(self, e: dict[str, Any]) -> None:
        kind = e["event"]
        if kind == "status" and not self.quiet:
            if e["message"] != "training engine started":
                self.line(f"  {e['message']}")
        elif kind == "model" and not self.quiet:
            self.line(f"  model {e['name']}: {e['params']:,} parameters")
        elif kind == "data" and not self.quiet:
            sizes = ", ".join(f"{n} {k}" for k, n in e["sizes"].items())
            classes = f", {len(e['class_names'])} classes" if e["class_names"] else ""
            self.line(f"  data {e['name']}: {sizes} samples{classes}")
            for note in e.get("notes", []):
                self.line(f"    - {note}")
        elif kind == "train_begin" and not self.quiet:
            for note in e.get("notes", []):
                self.line(f"    - {note}")
        elif kind == "batch" and self.tty and not self.quiet:
            now = time.monotonic()
            if now - self.last_bar < 0.2:
                return
            self.last_bar = now
            width = 24
            filled = int(width * e["batch"] / max(1, e["steps"]))
            loss = e["logs"].get("loss")
            bar = "=" * filled + "." * (width - filled)
            text = (f"\rEpoch {e['epoch']}/{e['epochs']} [{bar}] {e['batch']}/{e['steps']} "
                    f"loss {_fmt(loss)} ETA {format_duration(e['eta_s'])}")
            self.out.write(text + "\x1b[K")
            self.out.flush()
            self.bar = True
        elif kind == "epoch":
            logs = "  ".join(f"{k} {_fmt(v)}" for k, v in e["logs"].items()
                             if k not in _SKIP_LOGS)
            eta = f"  ETA {format_duration(e['eta_s'])}" if e.get("eta_s") else ""
            self.line(f"Epoch {e['epoch']}/{e['epochs']}  {e['epoch_s']:.1f}s  {logs}{eta}")
        elif kind == "evaluation" and e.get("tta"):     # asked for: shown even when quiet
            from netbuilder.runtime.training.tta import comparison

            tta = e["tta"]
            self.line(f"  {e['split']} data: "
                      f"{comparison(e['metrics'], tta['metrics'], tta['copies'], _fmt)}")
        elif kind == "evaluation" and not self.quiet:
            metrics = "  ".join(f"{k} {_fmt(v)}" for k, v in e["metrics"].items())
            self.line(f"  {e['split']} data: {metrics}")
        elif kind == "finished":
            reason = {"completed": "done", "stopped": "stopped", "early_stopping":
                      "stopped early (no more improvement)"}.get(e["reason"], e["reason"])
            speed = f", {e['samples_per_s']:,.0f} samples/s" if e.get("samples_per_s") else ""
            n = e.get("epochs_run", 0)
            self.line(f"Training {reason}: {n} epoch{'s' if n != 1 else ''} in "
                      f"{format_duration(e.get('train_s'))}{speed}")
            paths = [p for p in (e.get("history_path"), e.get("model_path")) if p]
            if paths:
                best = f" (best checkpoint: {_rel(e['best_path'])})" if e.get("best_path") else ""
                self.line(f"Wrote {', '.join(_rel(p) for p in paths)}{best}")
        elif kind == "stage":
            self.line(f"Stage {e['stage']}: {e['message']}")
        elif kind == "warning":
            self.line(f"  warning: {e['message']}")
        elif kind == "log" and not self.quiet:
            self.line(f"  {e['message']}")


def _rel(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path
