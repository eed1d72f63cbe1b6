"""Training runs kept with the project: ``<project>-runs/<date>_<time>/`` beside the project file
(in a temporary folder of the project's own while it was never saved: ``RunsHome``), each with
``run.json`` (the project as it was trained, the settings, the data, and once it ends the result
and history), ``history.json``, ``model.keras`` and ``best.keras``.

Plain Python (no Qt, no TensorFlow): where runs go, read them back, describe them, tell whether
a run trained the graph now on the canvas, and delete one.
"""

from __future__ import annotations

import datetime
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
STAMP = "%Y-%m-%d_%H-%M-%S"
REASONS = {"completed": "completed", "stopped": "stopped", "early_stopping": "stopped early",
           None: "did not finish"}


def runs_beside(project_path: Path) -> Path:
    """The folder holding a saved project's runs: ``<project>-runs`` beside its file."""
    return project_path.parent / f"{project_path.stem}-runs"


def run_folder(base: Path, now: datetime.datetime | None = None) -> Path:
    """A new folder for one run's output under ``base``: ``<date>_<time>`` (``-2``, ``-3``…
    when taken)."""
    stamp = (now or datetime.datetime.now()).strftime(STAMP)
    folder = base / stamp
    n = 2
    while folder.exists():
        folder = base / f"{stamp}-{n}"
        n += 1
    return folder


class RunsHome:
    """Where the open project's runs are kept: beside its file, or, for a project never saved,
    in a temporary folder of its own (``netbuilder-runs-*``, made for its first run), which
    moves beside the file when the project is first saved. Another project opened releases
    it: removed if empty, else left for the user (its runs belong to the project left)."""

    def __init__(self) -> None:
        self.temp: Path | None = None

    def base(self, project_path: Path | None, create: bool = False) -> Path | None:
        """The runs folder (None: the project is unsaved and has none yet; ``create`` makes
        one)."""
        if project_path is not None:
            return runs_beside(project_path)
        if self.temp is None and create:
            self.temp = Path(tempfile.mkdtemp(prefix="netbuilder-runs-"))
        return self.temp

    def adopt(self, project_path: Path) -> Path:
        """The project was saved as ``project_path``: move the runs of its temporary folder
        beside it (merged into a ``<project>-runs`` already there; a run whose name is taken
        gets ``-2``…) and return that folder."""
        target = runs_beside(project_path)
        temp, self.temp = self.temp, None
        if temp is None or not temp.is_dir():
            return target
        target.mkdir(parents=True, exist_ok=True)
        for child in sorted(temp.iterdir()):
            dest = target / child.name
            n = 2
            while dest.exists():
                dest = target / f"{child.name}-{n}"
                n += 1
            shutil.move(str(child), str(dest))
        temp.rmdir()
        return target

    def release(self) -> None:
        """The project is closed: remove its temporary folder if it holds nothing."""
        temp, self.temp = self.temp, None
        if temp is not None:
            try:
                temp.rmdir()
            except OSError:
                pass                      # runs in it, or already gone


def graph_signature(project: dict[str, Any] | None) -> str | None:
    """What a project's graph computes, as one comparable string: layers (name, type,
    parameters, trainable flag), connections and blocks; positions are left out (moving a
    layer does not change the model). None when there is no graph."""
    if not isinstance(project, dict) or not isinstance(project.get("graph"), dict):
        return None

    def graph(g: dict[str, Any]) -> dict[str, Any]:
        nodes = g.get("nodes") or []
        names = {n.get("id"): n.get("name") for n in nodes if isinstance(n, dict)}
        layers = sorted(
            json.dumps([n.get("name"), n.get("type"), n.get("params") or {},
                        n.get("trainable", True)], sort_keys=True, default=str)
            for n in nodes if isinstance(n, dict))
        edges = []
        for e in g.get("edges") or []:
            try:
                (src, sp), (dst, dp) = e["from"], e["to"]
            except (KeyError, TypeError, ValueError):
                continue
            edges.append(json.dumps([names.get(src, src), sp, names.get(dst, dst), dp],
                                    default=str))
        return {"layers": layers, "edges": sorted(edges)}

    blocks = []
    for b in project.get("blocks") or []:
        if isinstance(b, dict) and isinstance(b.get("graph"), dict):
            blocks.append({"name": b.get("name"), "inputs": b.get("inputs"),
                           "outputs": b.get("outputs"), "graph": graph(b["graph"])})
    return json.dumps({"graph": graph(project["graph"]), "blocks": blocks}, sort_keys=True,
                      default=str)


def _is_acc_like(name: str) -> bool:
    return any(k in name for k in ("acc", "auc", "precision", "recall"))


def pick_metric(keys: Any) -> str | None:
    """The metric shown beside the loss: accuracy if there, else the first other metric."""
    keys = list(keys)
    if "accuracy" in keys:
        return "accuracy"
    for key in keys:
        if key not in ("loss", "learning_rate", "lr") and not key.startswith("val_") \
                and not key.endswith("loss"):
            return key
    return None


@dataclass
class Run:
    """One run folder, as read back."""

    folder: Path
    started: datetime.datetime | None
    reason: str | None                      # completed, stopped, early_stopping; None: unfinished
    history: dict[str, list[float]] = field(default_factory=dict)
    initial_epoch: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    data_source: str = ""
    signature: str | None = None
    problem: str | None = None              # run.json unreadable

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def epochs(self) -> int:
        return max((len(v) for v in self.history.values()), default=0)

    @property
    def metric(self) -> str | None:
        return pick_metric(self.history)

    @property
    def model_path(self) -> Path:
        return self.folder / "model.keras"

    @property
    def best_path(self) -> Path:
        return self.folder / "best.keras"

    def epoch_numbers(self) -> list[float]:
        return [float(self.initial_epoch + i + 1) for i in range(self.epochs)]

    def best(self) -> tuple[str, float, int] | None:
        """The best validation value: (key, value, epoch) — val_<metric> (highest) if the run
        has it, else val_loss (lowest), else the training loss."""
        metric = self.metric
        for key in ([f"val_{metric}"] if metric else []) + ["val_loss", "loss"]:
            values = [(v, i) for i, v in enumerate(self.history.get(key) or [])
                      if isinstance(v, (int, float)) and math.isfinite(v)]
            if not values:
                continue
            value, i = (max if _is_acc_like(key) else min)(values)
            return key, float(value), self.initial_epoch + i + 1
        return None

    def when(self) -> str:
        if self.started is None:
            return self.folder.name
        return self.started.strftime("%d %b %H:%M:%S")

    def describe(self) -> str:
        """Two lines for the runs list: when, epochs, how it ended / the best value."""
        n = self.epochs
        first = f"{self.when()} · {n} epoch{'s' if n != 1 else ''} · " \
                f"{REASONS.get(self.reason, str(self.reason))}"
        if self.problem:
            return f"{self.folder.name}\n{self.problem}"
        best = self.best()
        second = (f"best {best[0]} {best[1]:.4f} (epoch {best[2]})" if best
                  else "no epoch finished")
        return f"{first}\n{second}"

    def details(self) -> str:
        """More for a tooltip: the folder, the data and the main settings."""
        lines = [str(self.folder)]
        if self.data_source:
            lines.append(f"data: {self.data_source}")
        keys = ("optimizer", "learning_rate", "batch_size", "epochs")
        shown = [f"{k} {self.settings[k]}" for k in keys if k in self.settings]
        if shown:
            lines.append(", ".join(shown))
        return "\n".join(lines)


def _stamp(name: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(name[:19], STAMP)
    except ValueError:
        return None


def read_run(folder: Path) -> Run | None:
    """The run in ``folder`` (None when it has no run.json)."""
    path = folder / RUN_FILE
    if not path.is_file():
        return None
    run = Run(folder, _stamp(folder.name), None)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        run.problem = f"run.json cannot be read: {err}"
        return run
    result = record.get("result") if isinstance(record.get("result"), dict) else {}
    run.reason = result.get("reason")
    history = record.get("history")
    if not isinstance(history, dict):
        try:
            history = json.loads((folder / "history.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            history = {}
    run.history = {str(k): [float("nan") if v is None else float(v) for v in values]
                   for k, values in (history or {}).items()
                   if isinstance(values, list)
                   and all(v is None or isinstance(v, (int, float)) for v in values)}
    try:
        run.initial_epoch = int(record.get("initial_epoch") or 0)
    except (TypeError, ValueError):
        run.initial_epoch = 0
    run.settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    run.data_source = str(data.get("source") or "")
    run.signature = graph_signature(record.get("project"))
    return run


def list_runs(base: Path) -> list[Run]:
    """The runs under ``base``, newest first."""
    if not base.is_dir():
        return []
    runs = []
    for folder in base.iterdir():
        if folder.is_dir():
            run = read_run(folder)
            if run is not None:
                runs.append(run)
    oldest = datetime.datetime.min
    runs.sort(key=lambda r: (r.started or oldest, r.folder.name), reverse=True)
    return runs


def delete_run(run: Run, base: Path) -> None:
    """Delete a run's folder (only a folder directly under ``base`` holding a run.json)."""
    folder = run.folder.resolve()
    if folder.parent != base.resolve() or not (folder / RUN_FILE).is_file():
        raise OSError(f"{run.folder} is not a run folder of this project")
    shutil.rmtree(folder)
