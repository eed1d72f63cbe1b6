"""The Search dock: a hyperparameter search run by the search worker
(``runtime/workers/search.py``, through ``ui.workers.WorkerClient``), shown as it goes: a table
of trials (number, values, objective, state with the reason of a failure, duration), the
objective per trial with the best so far, each parameter against the objective, and parameter
importances once enough trials completed (pyqtgraph, imported when the plots are first made).

"Trials at once: N" starts N search workers on the same study (Optuna's way of running trials
in parallel; each runs its share, on its own GPU when the dialog placed it on one); the dock
merges their events (trial numbers are the study's, distinct), and a running trial's row shows
its epoch and objective as it trains.

Stop ends the search after the running trials' batch; Resume continues the same study (its
storage, ``study.db``, is kept in the project's runs folder under ``search/``) with the trials
left, or, once it has run them all, as many more. The search's settings are kept in the study
itself (an Optuna user attribute, written by the worker), so when a project is opened whose runs
folder has a study, the dock reads it (a search worker's ``read`` job: Optuna never enters the
editor's process), lists its trials and offers Resume with the settings it was made with. Every
trial is a run in the runs folder, so the Training dock's Runs tab lists it. Apply Best sets the
best trial's values on the graph and settings in one undo step.

``open_storage`` shows a study kept elsewhere instead: one in any Optuna storage (an SQLite or
journal file, a database URL), e.g. made by ``netbuilder search --storage URL`` on several
machines (Train ▸ Open Search Study…). It is read the same way (the ``read`` job with
``storage``) and shown the same; when the storage holds several studies, a Study list in the
dock's bar switches between them. Resume and Search… then continue that study in that storage
(the job's ``storage``); its trials' runs still go to the project's runs folder, and its
trials.csv and best.nbproj to ``search/shared/<study>`` there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core.project import project_to_dict
from netbuilder.core.text import format_duration
from netbuilder.runtime.search import STUDY_FILE, share_trials, worker_gpus
from netbuilder.ui.document import Document
from netbuilder.ui.workers import WorkerClient

SEARCH_WORKER = "netbuilder.runtime.workers.search"
SEARCH_FOLDER = "search"
"""The study's folder in the project's runs folder (study.db, trials.csv, best.nbproj)."""
SHARED_FOLDER = "shared"
"""Under SEARCH_FOLDER: a study opened from another storage gets its trials.csv and best.nbproj
in ``shared/<study>``."""
NO_SEARCH = "No search yet: mark values with ⚲ in the Inspector, then Train ▸ Search…."
STATE_COLORS = {"complete": "#1e7e34", "pruned": "#8a6d00", "failed": "#d93025",
                "running": "#1a73e8"}


def value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def shown_url(url: str) -> str:
    """A storage URL as the dock shows it: a database password hidden."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def short_url(url: str) -> str:
    """A storage URL in a few words: an SQLite or journal file by its name (the status's
    tooltip has the whole URL), a database URL without its password."""
    for prefix in ("sqlite:///", "journal:"):
        if url.startswith(prefix):
            name = Path(url[len(prefix):].split("?", 1)[0]).name
            return f"{prefix.rstrip('/')}…/{name}" if name else url
    return shown_url(url)


def folder_name(study: str) -> str:
    """A study's name as a folder name."""
    return re.sub(r"[^\w.-]+", "_", study).strip("._") or "study"


class SearchPanel(QWidget):
    """Runs and shows one search at a time. ``runs_folder(create=True)`` is where the
    project's runs go (made if ``create``); ``job_base()`` the project dict and data the trials
    train on; ``gpus()`` the GPUs a resumed search's workers take turns on."""

    running_changed = Signal(bool)
    trial_finished = Signal(dict)       # a ``trial`` event (the Runs tab reads its folder)
    storage_opened = Signal(str, str)   # open_storage(url, study): "" for the newest study

    def __init__(self, document: Document, runs_folder: Callable[..., Path | None],
                 job_base: Callable[[], dict[str, Any]], parent: QWidget | None = None,
                 gpus: Callable[[], list[int]] = list) -> None:
        super().__init__(parent)
        self.document = document
        self.runs_folder = runs_folder
        self.job_base = job_base
        self.gpus = gpus
        self.workers: list[WorkerClient] = []
        self.reader: WorkerClient | None = None   # reads an earlier session's study
        self.error: str | None = None       # the first worker error of this search
        self.pending: list[dict[str, Any]] = []   # jobs of the workers started once the
                                                  # first has opened (made) the study
        self.config: dict[str, Any] = {}     # the dialog's settings, or those the study kept
        self.study_name: str | None = None
        self.storage: str | None = None      # the shown study's storage URL; None: runs folder
        self.studies: list[str] = []         # the studies that storage holds
        self.trials: dict[int, dict[str, Any]] = {}
        self.paths: list[str] = []
        self.objective = "val_loss"
        self.direction = "minimize"
        self.best: dict[str, Any] = {}
        self.importances: dict[str, float] = {}
        self.stopped = False
        self._plots: Any = None
        self._build()

    # -- layout ----------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        self.status = QLabel(NO_SEARCH)
        self.status.setWordWrap(True)
        self.search_button = QPushButton("Search…")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.apply_button = QPushButton("Apply Best")
        self.stop_button.setToolTip("Start no more trials; the running one stops after its "
                                    "batch")
        self.apply_button.setToolTip("Set the best trial's values on the model and the "
                                     "training settings (one undo step)")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.apply_button.clicked.connect(self.apply_best)
        bar.addWidget(self.status, 1)
        self.study_label = QLabel("Study")
        self.study_combo = QComboBox()
        self.study_combo.setObjectName("searchStudyCombo")
        self.study_combo.setToolTip("The studies in this storage: choose one to show it")
        self.study_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.study_combo.activated.connect(self._study_chosen)
        bar.addWidget(self.study_label)
        bar.addWidget(self.study_combo)
        self._show_studies()
        for b in (self.search_button, self.stop_button, self.resume_button, self.apply_button):
            bar.addWidget(b)
        layout.addLayout(bar)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        split.addWidget(self.table)
        self.tabs = QTabWidget()
        split.addWidget(self.tabs)
        split.setSizes([520, 480])
        layout.addWidget(split, 1)
        self._set_running(False)

    def _make_plots(self) -> Any:
        """The three plots (pyqtgraph imported now, not at start-up)."""
        if self._plots is not None:
            return self._plots
        import pyqtgraph as pg

        objective = pg.PlotWidget()
        objective.setBackground("w")
        objective.showGrid(x=True, y=True, alpha=0.2)
        objective.setLabel("bottom", "trial")
        objective.addLegend(offset=(-10, 10))
        points = pg.ScatterPlotItem(size=8, name="trial")
        best = objective.plot([], [], pen=pg.mkPen("#d93025", width=2), name="best so far",
                              stepMode=None)
        objective.addItem(points)
        param_box = QWidget()
        param_layout = QVBoxLayout(param_box)
        param_layout.setContentsMargins(0, 0, 0, 0)
        param_combo = QComboBox()
        param_combo.currentIndexChanged.connect(lambda _i: self.refresh_plots())
        param_plot = pg.PlotWidget()
        param_plot.setBackground("w")
        param_plot.showGrid(x=True, y=True, alpha=0.2)
        param_points = pg.ScatterPlotItem(size=8)
        param_plot.addItem(param_points)
        param_layout.addWidget(param_combo)
        param_layout.addWidget(param_plot, 1)
        importance_box = QWidget()
        imp_layout = QVBoxLayout(importance_box)
        imp_layout.setContentsMargins(0, 0, 0, 0)
        importance_note = QLabel()
        importance_note.setWordWrap(True)
        importance_plot = pg.PlotWidget()
        importance_plot.setBackground("w")
        importance_plot.setLabel("bottom", "importance (fANOVA, Optuna)")
        importance_plot.getAxis("bottom").enableAutoSIPrefix(False)
        imp_layout.addWidget(importance_note)
        imp_layout.addWidget(importance_plot, 1)
        self.tabs.addTab(objective, "Objective")
        self.tabs.addTab(param_box, "Parameter vs objective")
        self.tabs.addTab(importance_box, "Importance")
        self._plots = {"pg": pg, "objective": objective, "points": points, "best": best,
                       "param_combo": param_combo, "param_plot": param_plot,
                       "param_points": param_points, "importance": importance_plot,
                       "importance_note": importance_note}
        return self._plots

    # -- running ---------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return any(w.running() for w in self.workers)

    def _new_worker(self, reader: bool = False) -> WorkerClient:
        worker = WorkerClient("search process", SEARCH_WORKER, self,
                              last_events=("finished", "error"))
        if reader:
            worker.event.connect(self._read_event)
            worker.crashed.connect(lambda why: (self.show_status(
                f"{self._unread()}: {why}", "#d93025"), self._forget_reader(worker)))
            worker.finished.connect(lambda: self._forget_reader(worker))
            return worker
        worker.event.connect(self.handle_event)
        worker.crashed.connect(self._crashed)
        worker.finished.connect(self._worker_ended)
        return worker

    def load_study(self) -> bool:
        """Forget the last project's search and show the study in this project's runs folder
        (an earlier session's), read by a search worker; False when there is none, or while a
        search runs."""
        if self.is_running():
            return False
        self._forget_study(None)
        self.show_status(NO_SEARCH)
        base = self.runs_folder(create=False)
        if base is None or not (base / SEARCH_FOLDER / STUDY_FILE).is_file():
            return False
        self.show_status("Reading the earlier search…")
        self.reader = self._new_worker(reader=True)
        self.reader.start({"read": True, "out_dir": str(base / SEARCH_FOLDER),
                           "config": {"study": self.study_default()}})
        return True

    def open_storage(self, url: str, study: str = "") -> bool:
        """Show the study ``study`` ("": the newest) of the Optuna storage ``url`` instead of
        the runs folder's, read by a search worker; False while a search runs. A storage that
        cannot be opened, or without that study, is one line in the status."""
        if self.is_running():
            return False
        self._forget_study(url)
        self.storage_opened.emit(url, study)
        self.show_status(f"Reading {'study ' + repr(study) if study else 'the newest study'} "
                         f"in {short_url(url)}…")
        self.reader = self._new_worker(reader=True)
        self.reader.start({"read": True, "storage": url, "config": {"study": study or None}})
        return True

    def _forget_study(self, storage: str | None) -> None:
        """Show nothing until the study in ``storage`` (None: the runs folder) is read."""
        self._close_reader()
        self.config, self.study_name, self.stopped, self.error = {}, None, False, None
        if storage != self.storage:
            self.studies = []
        self.storage = storage
        self.clear()
        self._show_studies()

    def _show_studies(self) -> None:
        """The Study list in the bar: the storage's studies, when it holds several."""
        combo = self.study_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(self.studies)
        if self.study_name in self.studies:
            combo.setCurrentIndex(self.studies.index(self.study_name))
        combo.blockSignals(False)
        several = self.storage is not None and len(self.studies) > 1
        combo.setVisible(several)
        self.study_label.setVisible(several)
        combo.setEnabled(not self.is_running())

    def _study_chosen(self, index: int) -> None:
        name = self.study_combo.itemText(index)
        if self.storage is not None and name and name != self.study_name:
            self.open_storage(self.storage, name)

    def _unread(self) -> str:
        return ("Could not read the earlier search" if self.storage is None else
                "Could not open the search study")

    def _read_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "error":
            self.show_status(f"{self._unread()}: {shown_url(str(event.get('message')))}",
                             "#d93025")
        else:
            self.handle_event(event)

    def _forget_reader(self, worker: WorkerClient) -> None:
        if self.reader is worker:
            self.reader = None
        worker.deleteLater()

    def _close_reader(self) -> None:
        reader, self.reader = self.reader, None
        if reader is not None:
            reader.close(2000)
            reader.deleteLater()

    def study_default(self) -> str:
        return self.document.project.name or "search"

    def finished_count(self) -> int:
        return sum(1 for t in self.trials.values() if t.get("state") != "running")

    def trials_left(self) -> int:
        """The trials the search's settings ask for less those run since it began (``begun``:
        the study's finished trials then); 0 once it has run them all."""
        ran = self.finished_count() - int(self.config.get("begun") or 0)
        return max(0, int(self.config.get("trials") or 0) - ran)

    def study_folder(self) -> Path | None:
        """Where the shown study's trials.csv and best.nbproj go (the study itself too, unless
        it is in another storage)."""
        base = self.runs_folder()
        if base is None:
            return None
        if self.storage is not None:
            return base / SEARCH_FOLDER / SHARED_FOLDER / folder_name(self.study_name or "study")
        return base / SEARCH_FOLDER

    def start(self, config: dict[str, Any], resume: bool = False) -> bool:
        """Start the search worker on the project as it is now; False when it runs already."""
        if self.is_running():
            return False
        base = self.runs_folder(create=True)
        if base is None:
            self.show_status("No folder for the runs: save the project first.", "#d93025")
            return False
        self._close_reader()
        config = dict(config)
        trials = int(config.get("trials") or 1)
        if resume:
            left = self.trials_left()
            if left == 0:         # all run: as many again, counted from now
                config["begun"] = self.finished_count()
            trials = left or trials
        else:
            config.pop("begun", None)       # the worker counts the study's trials so far
            self.clear()
        self.config = dict(config)
        at_once = max(1, int(config.pop("at_once", None) or 1))
        gpus = list(config.pop("gpus", None) or [])
        if resume and not gpus:             # settings from an earlier session: this machine's
            gpus = worker_gpus(at_once, self.gpus())
        if self.storage is not None and self.study_name:
            config["study"] = self.study_name       # the shown study, in its storage
        config.setdefault("study", self.study_default())
        saved = {**config, "at_once": at_once}       # kept in the study for a later Resume
        config.pop("begun", None)
        base_job = self.job_base()
        out_dir = base / SEARCH_FOLDER
        if self.storage is not None:
            out_dir = out_dir / SHARED_FOLDER / folder_name(config["study"])
            base_job["storage"] = self.storage
        base_job.update({"out_dir": str(out_dir), "runs_dir": str(base)})
        self.stopped = False
        self.error = None
        for worker in self.workers:
            worker.deleteLater()
        self.workers = []
        jobs = [{**base_job, "config": {**config, "trials": share},
                 "gpu": gpus[k] if k < len(gpus) else None}
                for k, share in enumerate(share_trials(trials, at_once))]
        # the others join once the first has made the study: processes creating one new
        # SQLite study at the same moment race to make its tables
        jobs[0]["saved"] = saved
        self.pending = jobs[1:]
        self._start_worker(jobs[0])
        self._set_running(True)
        count = len(jobs)
        self.show_status("Starting the search engine…" if count == 1 else
                         f"Starting {count} search processes on one study…")
        return True

    def _start_worker(self, job: dict[str, Any]) -> None:
        worker = self._new_worker()
        self.workers.append(worker)
        worker.start(job)

    def resume(self) -> bool:
        return bool(self.config) and self.start(self.config, resume=True)

    def stop(self) -> None:
        if self.is_running():
            self.stopped = True
            for worker in self.workers:
                worker.send("stop")
            self.show_status("Stopping after the running trials' current batch…")

    def shutdown(self) -> None:
        self._close_reader()
        if self.is_running():
            for worker in self.workers:
                worker.send("stop")
            for worker in self.workers:
                worker.close(5000)
            self._set_running(False)

    def _worker_ended(self) -> None:
        if not self.is_running():
            self._all_ended()

    def _all_ended(self) -> None:
        """Every worker has ended: say how the search went."""
        self.pending = []
        if self.error:
            self.show_status(f"The search could not run: {self.error}", "#d93025")
        else:
            how = "stopped" if self.stopped else "finished"
            self.show_status(f"Search {how}. {self._progress_text()}")
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.study_combo.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.search_button.setEnabled(not running)
        self.resume_button.setEnabled(not running and bool(self.config))
        left = self.trials_left()
        self.resume_button.setToolTip(
            f"Continue the study with the {left} trials left" if left else
            f"Continue the study with {int(self.config.get('trials') or 0)} more trials, "
            "with the same settings")
        self.apply_button.setEnabled(self.best.get("best_number") is not None)
        self.running_changed.emit(running)

    def _crashed(self, reason: str) -> None:
        self.error = self.error or reason
        if not self.is_running():
            self._set_running(False)
        self.show_status(f"The search stopped: {reason}", "#d93025")

    def show_status(self, text: str, color: str | None = None) -> None:
        self.status.setText(text)
        self.status.setToolTip("" if self.storage is None else
                               f"The study's storage: {shown_url(self.storage)}")
        self.status.setStyleSheet(f"color: {color};" if color else "")

    # -- events ----------------------------------------------------------------------------------

    def handle_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "status":
            self.show_status(str(event.get("message", "")).capitalize() + "…")
        elif kind == "study":
            self.paths = list(event.get("paths") or [])
            self.objective = str(event.get("objective") or "val_loss")
            self.direction = str(event.get("direction") or "minimize")
            self.study_name = str(event.get("name") or "")
            if self.storage is not None:
                self.studies = [str(n) for n in event.get("studies") or self.studies
                                or [self.study_name]]
                if self.study_name not in self.studies:
                    self.studies.append(self.study_name)
                self._show_studies()
            self.config.update(event.get("settings") or {})
            for trial in event.get("trials") or []:
                self.trials[int(trial["number"])] = trial
            self._best_from_trials()
            self.refresh()
            count = len(self.trials)
            self.show_status(f"Study {event.get('name')!r}: {self.direction} {self.objective}"
                             + (f", {count} earlier trials" if count else "")
                             + (f", {len(self.workers) + len(self.pending)} trials at once"
                                if self.pending or len(self.workers) > 1 else ""))
            pending, self.pending = self.pending, []
            if not self.stopped:
                for job in pending:
                    self._start_worker(job)
        elif kind == "trial_begin":
            number = int(event["number"])
            self.trials[number] = {"number": number, "state": "running",
                                   "params": event.get("params") or {}}
            self.refresh_table()
            self.show_status(f"Trial {number} training…  "
                             + self._params_text(event.get("params") or {}))
        elif kind == "trial_epoch":
            trial = self.trials.get(int(event["number"]))
            if trial is not None and trial.get("state") == "running":
                trial["progress"] = self._epoch_text(event)
                self.refresh_table()
        elif kind == "trial":
            self.trials[int(event["number"])] = event
            self._best_from_trials()
            self.refresh()
            self.trial_finished.emit(event)
            self.show_status(self._progress_text())
        elif kind == "importances":
            self.importances = dict(event.get("importances") or {})
            self.refresh_plots()
        elif kind == "finished" and event.get("reason") == "read":
            self._study_read()
        elif kind == "finished":
            self.stopped = self.stopped or event.get("reason") == "stopped"
            self._best_from_trials()
            if not self._others_running():
                self._all_ended()
        elif kind == "error":
            self.error = self.error or str(event.get("message"))
            if not self._others_running():
                self._all_ended()
            else:
                self.show_status(f"A search process could not run: {event.get('message')}",
                                 "#d93025")

    def _study_read(self) -> None:
        """An earlier session's study has been read: what it holds and what Resume does."""
        text = (f"Earlier search, study {self.study_name!r}: " if self.storage is None else
                f"Study {self.study_name!r} in {short_url(self.storage)}: ")
        text += f"{self._progress_text()}. "
        if self.config:
            left = self.trials_left()
            text += (f"Resume runs the {left} trials left" if left else
                     f"Resume runs {int(self.config.get('trials') or 0)} more trials")
            text += " with its settings."
        else:
            text += "Its settings were not kept: Train ▸ Search… continues it."
        self.show_status(text)
        self._set_running(self.is_running())

    def _others_running(self) -> bool:
        """Whether a worker other than the one whose last event this is still runs."""
        sender = self.sender()
        return any(w.running() for w in self.workers if w is not sender)

    def _epoch_text(self, event: dict[str, Any]) -> str:
        """'epoch 2/3 · val_loss 0.41' for a running trial's row."""
        logs = event.get("logs") or {}
        text = f"epoch {event.get('epoch')}/{event.get('epochs') or '?'}"
        name = self.objective if self.objective in logs else "loss"
        value = logs.get(name)
        if isinstance(value, (int, float)):
            text += f" · {name} {value:.4g}"
        return text

    def _best_from_trials(self) -> None:
        done = [t for t in self.trials.values() if t.get("state") == "complete"
                and isinstance(t.get("value"), (int, float))]
        if not done:
            return
        pick = min if self.direction == "minimize" else max
        best = pick(done, key=lambda t: t["value"])
        self.best = {"best_number": best["number"], "best_value": best["value"]}

    def _params_text(self, params: dict[str, Any]) -> str:
        return ", ".join(f"{k}={value_text(v)}" for k, v in params.items())

    def _progress_text(self) -> str:
        done = [t for t in self.trials.values() if t.get("state") != "running"]
        counts = {s: sum(1 for t in done if t.get("state") == s)
                  for s in ("complete", "pruned", "failed")}
        text = f"{len(done)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if self.best.get("best_number") is not None:
            text += (f". Best: trial {self.best['best_number']}, {self.objective} "
                     f"{value_text(self.best['best_value'])}")
        return text

    def clear(self) -> None:
        self.trials, self.best, self.importances, self.paths = {}, {}, {}, []
        self.refresh()

    # -- showing ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.refresh_table()
        self.refresh_plots()
        self._set_running(self.is_running())

    def refresh_table(self) -> None:
        headers = ["#", "state", self.objective, *self.paths, "time", "reason"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        rows = [self.trials[n] for n in sorted(self.trials)]
        self.table.setRowCount(len(rows))
        best = self.best.get("best_number")
        for r, trial in enumerate(rows):
            state = str(trial.get("state", ""))
            value = trial.get("value")
            params = trial.get("params") or {}
            shown = (f"{state} · {trial['progress']}" if state == "running"
                     and trial.get("progress") else state)
            cells = [str(trial["number"]), shown,
                     "" if value is None else f"{value:.4f}",
                     *[value_text(params[p]) if p in params else "" for p in self.paths],
                     format_duration(trial["duration_s"]) if trial.get("duration_s") else "",
                     str(trial.get("reason") or "")]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setForeground(QColor(STATE_COLORS.get(state, "#1f2328")))
                if trial.get("reason"):
                    item.setToolTip(str(trial["reason"]))
                if trial["number"] == best:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        header = self.table.horizontalHeader()
        for c in range(len(headers) - 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)

    def refresh_plots(self) -> None:
        if not self.trials and self._plots is None:
            return
        plots = self._make_plots()
        pg = plots["pg"]
        done = [self.trials[n] for n in sorted(self.trials)
                if isinstance(self.trials[n].get("value"), (int, float))
                and math.isfinite(self.trials[n]["value"])
                and self.trials[n].get("state") in ("complete", "pruned")]
        brushes = [pg.mkBrush(STATE_COLORS.get(t["state"], "#888")) for t in done]
        xs = [float(t["number"]) for t in done]
        ys = [float(t["value"]) for t in done]
        plots["points"].setData(xs, ys, brush=brushes)
        best_x, best_y, best = [], [], None
        pick = min if self.direction == "minimize" else max
        for t in done:
            if t["state"] != "complete":
                continue
            best = t["value"] if best is None else pick(best, t["value"])
            best_x.append(float(t["number"]))
            best_y.append(best)
        plots["best"].setData(best_x, best_y)
        plots["objective"].setLabel("left", self.objective)
        combo = plots["param_combo"]
        if [combo.itemText(i) for i in range(combo.count())] != self.paths:
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(self.paths)
            combo.blockSignals(False)
        path = combo.currentText()
        numeric = [(t["params"][path], t["value"], t["state"]) for t in done
                   if path in (t.get("params") or {})]
        plot = plots["param_plot"]
        choices = sorted({str(v) for v, _, _ in numeric
                          if not isinstance(v, (int, float)) or isinstance(v, bool)})
        xs = [choices.index(str(v)) if choices else float(v) for v, _, _ in numeric]
        plots["param_points"].setData(
            xs, [y for _, y, _ in numeric],
            brush=[pg.mkBrush(STATE_COLORS.get(s, "#888")) for _, _, s in numeric])
        plot.setLabel("bottom", path)
        plot.setLabel("left", self.objective)
        plot.getAxis("bottom").setTicks([list(enumerate(choices))] if choices else None)
        log = any(self.document.project.search.get(path, {}).get("log") for _ in (0,))
        plot.setLogMode(x=bool(log and not choices), y=False)
        self._draw_importances(plots)

    def _draw_importances(self, plots: dict[str, Any]) -> None:
        pg = plots["pg"]
        plot = plots["importance"]
        plot.clear()
        if not self.importances:
            complete = sum(1 for t in self.trials.values() if t.get("state") == "complete")
            plots["importance_note"].setText(
                f"Parameter importances appear after 3 completed trials ({complete} so far).")
            return
        plots["importance_note"].setText("How much of the objective's variation each "
                                         "parameter explains.")
        names = list(self.importances)[::-1]
        values = [self.importances[n] for n in names]
        bars = pg.BarGraphItem(x0=0, y=list(range(len(names))), height=0.6, width=values,
                               brush="#6a3fb5")
        plot.addItem(bars)
        plot.getAxis("left").setTicks([list(enumerate(names))])

    # -- applying the best trial -------------------------------------------------------------------

    def best_values(self) -> dict[str, Any] | None:
        number = self.best.get("best_number")
        trial = self.trials.get(number) if number is not None else None
        return dict(trial.get("params") or {}) if trial else None

    def apply_best(self) -> bool:
        values = self.best_values()
        if not values:
            return False
        number = self.best["best_number"]
        error = self.document.apply_search_values(values, f"Apply best search trial {number}")
        if error:
            self.show_status(f"Could not apply trial {number}: {error}", "#d93025")
            return False
        self.document.report(f"Applied search trial {number}: {self._params_text(values)}. "
                             "Ctrl+Z undoes it.")
        return True


def job_base(document: Document, data: dict[str, Any],
             settings: dict[str, Any]) -> dict[str, Any]:
    """The project (with the Training dock's ``settings`` over its training settings) and the
    data, as the search worker's job has them."""
    project = project_to_dict(document.project)
    training = dict((project.get("settings") or {}).get("training") or {})
    training.update(settings)
    project.setdefault("settings", {})["training"] = training
    return {"project": project, "data": data}
