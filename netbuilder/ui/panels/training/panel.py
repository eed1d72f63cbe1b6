"""The training panel: train the model on the canvas and watch it learn.

Training runs in the worker process (``python -m netbuilder.runtime.workers.training``, the same
one the command line uses), driven through ``WorkerClient``: the job goes to its stdin as one JSON
line, its events come back as JSON lines on stdout, and ``stop`` on stdin ends training after the
current batch. The editor never imports TensorFlow, and a worker that crashes or is killed only
ends the run: the panel says what happened, how many epochs finished and what is kept.

The settings column (data, epochs, batch, optimizer, learning rate, the Data… and Settings…
dialogs) is ``settings_form.SettingsForm``. Beside the curves: the project's runs (``runs_tab``,
read back from ``<project>-runs/``, or an unsaved project's temporary folder: ``runs.RunsHome``),
the confusion matrix and the misclassified samples (thumbnails with "true → predicted
(confidence)").

pyqtgraph is imported when the plots are first needed (the panel shown or a run started), so it
does not slow the editor's start.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core.summary import OUT_OF_MEMORY_ADVICE
from netbuilder.core.text import format_duration
from netbuilder.runtime.workers.client import TRAINING_WORKER, out_of_memory
from netbuilder.runtime.workers.protocol import STOP
from netbuilder.ui import theme
from netbuilder.ui.dialogs.common import BUILTIN_SOURCES, CHOOSE_PATH
from netbuilder.ui.document import Document
from netbuilder.ui.formatting import number_text
from netbuilder.ui.memory_check import confirm_training_memory
from netbuilder.ui.panels.training.confusion import fill_confusion, fill_misclassified
from netbuilder.ui.panels.training.curves import Curves
from netbuilder.ui.panels.training.project_runs import ProjectRuns
from netbuilder.ui.panels.training.runs import RunsHome, run_folder
from netbuilder.ui.panels.training.runs_tab import RunsTab
from netbuilder.ui.panels.training.settings_form import SettingsForm
from netbuilder.ui.workers import WorkerClient, crash_message

PLOT_INTERVAL_MS = 100          # the plots are redrawn at most ten times a second
BATCH_REDRAW_S = 1.0            # ... but for new batches alone at most once a second: a redraw
                                # costs ~14 ms of the CPU that training shares
PROCESS_NAME = "training process"
CRASH_MESSAGE = crash_message(PROCESS_NAME)
LR_KEYS = ("learning_rate", "lr")    # what Keras calls the rate in the epoch logs


class TrainingPanel(ProjectRuns, QWidget):
    """Data and settings on the left, live curves on the right, for the ``document``'s project
    (its file: ``document.path``, None when never saved). Changes to the settings are the
    document's (undoable)."""

    running_changed = Signal(bool)
    finished = Signal(dict)          # the worker's last event (finished or error)
    event_received = Signal(dict)    # every worker event (the Inspect dock follows weights)
    run_chosen = Signal(dict)        # "Use this run": {"event": "finished", "model_path", ...}

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self.document = document
        self.worker_command: Sequence[str] | None = None   # tests put a fake worker here
        self.client = WorkerClient(PROCESS_NAME, TRAINING_WORKER, self,
                                   last_events=("finished", "error"))
        self.client.event.connect(self.handle_event)
        self.client.finished.connect(self._end_process)
        self.client.crashed.connect(self._crashed)
        self.terminal: dict[str, Any] | None = None
        self.stop_requested = False
        self.events: list[dict[str, Any]] = []       # this run's events, in order
        self.output_dir: Path | None = None
        self.last_model: Path | None = None           # what Continue starts from
        self.epochs_done = 0                          # epochs trained so far (Continue adds)
        self.steps = 1
        self.history: dict[str, list[float]] = {}     # per-epoch logs, as Keras' History
        self.epoch_x: list[float] = []
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.metric_name: str | None = None
        self.plots = Curves()
        self._dirty = False
        self._batch_dirty = False       # only new batch losses since the last redraw
        self._last_redraw = 0.0
        self._epoch_offset = 0
        self._runs_base: Path | None = None
        self.home = RunsHome()
        self._adopt_runs = False        # the project was first saved while a run was training
        document.project_replaced.connect(self.home.release)
        document.path_changed.connect(self._path_changed)
        self._overlay_dirty = False
        self.misclassified: list[int] = []
        self.evaluation: dict[str, Any] | None = None
        self.job_options: dict[str, Any] = {}          # extra job fields (latest_weights)

        self._build()
        self.plot_timer = QTimer(self)
        self.plot_timer.setInterval(PLOT_INTERVAL_MS)
        self.plot_timer.timeout.connect(self._refresh_if_dirty)
        self._set_running(False)

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        side = QWidget()
        side.setMinimumWidth(210)
        side.setMaximumWidth(400)
        self.form = SettingsForm(self.document, lambda: self.worker_command)

        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train the model from fresh weights (F5)")
        self.train_button.clicked.connect(lambda: self.train())
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current batch; the weights are kept")
        self.stop_button.clicked.connect(lambda: self.stop())
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip("Train more epochs, starting from the last run's "
                                        "weights (with the settings above)")
        self.continue_button.clicked.connect(lambda: self.train(resume=True))
        buttons = QHBoxLayout()
        for button in (self.train_button, self.stop_button, self.continue_button):
            buttons.addWidget(button)
        self.status_label = QLabel("Choose the data and press Train.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)      # the text is below, never over the fill
        self.progress_label = QLabel()
        self.progress_label.setObjectName("trainingProgress")
        self.progress_label.setToolTip("The bar spans the whole run: a continued run's earlier "
                                       "epochs count as done")
        self.results_label = QLabel()
        self.results_label.setWordWrap(True)
        self.results_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.results_label.setTextFormat(Qt.TextFormat.RichText)
        self.confusion = QTableWidget()
        small = self.confusion.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() - 1))
        self.confusion.setFont(small)
        self.confusion.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.confusion.setToolTip("Confusion matrix: rows are the true classes, columns the "
                                  "predicted ones")

        left = QVBoxLayout(side)
        left.setContentsMargins(6, 6, 6, 6)
        left.addWidget(self.form)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.progress_label)
        left.addWidget(self.status_label)
        left.addStretch(1)

        # the right column: runs, confusion matrix, misclassified samples
        self.confusion_box = QWidget()
        box = QVBoxLayout(self.confusion_box)
        box.setContentsMargins(4, 4, 4, 4)
        self.confusion_title = QLabel("Rows are the true classes, columns the predicted ones.")
        self.confusion_title.setWordWrap(True)
        box.addWidget(self.confusion_title)
        box.addWidget(self.confusion, 1)

        self.misclassified_box = QWidget()
        box = QVBoxLayout(self.misclassified_box)
        box.setContentsMargins(4, 4, 4, 4)
        self.misclassified_title = QLabel()
        self.misclassified_title.setWordWrap(True)
        self.misclassified_list = QListWidget()
        self.misclassified_list.setFont(small)
        self.misclassified_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.misclassified_list.setToolTip("The misclassified samples of the evaluated split: "
                                           "true class → predicted class (confidence)")
        box.addWidget(self.misclassified_title)
        box.addWidget(self.misclassified_list, 1)

        self.runs_tab = RunsTab()
        self.runs_tab.ticks_changed.connect(self._runs_ticked)
        self.runs_tab.use_clicked.connect(lambda: self.use_run())
        self.runs_tab.delete_clicked.connect(lambda: self.delete_selected_run())

        # the curves side by side over the whole width, the runs, confusion matrix and
        # misclassified samples in tabs beside them; the results above them, always seen
        self.plot_area = QWidget()
        self.plot_layout = QHBoxLayout(self.plot_area)
        self.plot_layout.setContentsMargins(0, 0, 0, 0)
        self.plot_layout.setSpacing(2)
        self.plot_area.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self.results_tabs = QTabWidget()
        self.results_tabs.setDocumentMode(True)
        self.results_tabs.addTab(self.plot_area, "Curves")
        self.results_tabs.addTab(self.runs_tab, "Runs")
        self.results_tabs.addTab(self.confusion_box, "Confusion")
        self.results_tabs.setTabToolTip(2, "The confusion matrix of the evaluated split")
        self.results_tabs.addTab(self.misclassified_box, "Misclassified")
        self._disable_result_tabs()
        self.results_tabs.setMinimumWidth(300)  # the dock fits a laptop beside the side docks
        self.results_tabs.currentChanged.connect(lambda _i: self.plots_if_seen())

        results = QWidget()
        column = QVBoxLayout(results)
        column.setContentsMargins(4, 4, 4, 0)
        column.setSpacing(2)
        column.addWidget(self.results_label)
        column.addWidget(self.results_tabs, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        # a short dock scrolls the column instead of squeezing its fields
        side_scroll = QScrollArea()
        side_scroll.setWidget(side)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(250)
        side_scroll.setMaximumWidth(320)
        splitter.addWidget(side_scroll)
        splitter.addWidget(results)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 2000])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _disable_result_tabs(self) -> None:
        """Confusion and Misclassified wait for an evaluation."""
        for box in (self.confusion_box, self.misclassified_box):
            self.results_tabs.setTabEnabled(self.results_tabs.indexOf(box), False)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # a tabified dock behind another is shown for a moment as the window opens: wait and
        # see, so that pyqtgraph loads only when the panel is really on screen
        QTimer.singleShot(50, self, self.plots_if_seen)
        if self._runs_base != self.runs_folder():        # saved somewhere new meanwhile
            self.refresh_runs()

    def plots_if_seen(self) -> None:
        if (self.isVisible() and not self.visibleRegion().isEmpty()
                and self.results_tabs.currentWidget() is self.plot_area):
            self.ensure_plots()

    def ensure_plots(self) -> None:
        """Create the pyqtgraph plots (the first time only)."""
        if self.plots.ready:
            return
        self.plots.create(self.plot_layout)
        self._overlay_dirty = True
        self.refresh_plots()

    def load_settings(self) -> None:
        """Show the project's training settings and its runs (a project was opened)."""
        self.form.load_settings()
        self.refresh_runs()

    # -- running -------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.client.running()

    def can_continue(self) -> bool:
        return self.last_model is not None and self.last_model.is_file()

    def model_problem(self) -> str | None:
        """Why the model on the canvas cannot be built (None: it can)."""
        from netbuilder.core.summary import summarize

        project = self.document.project
        if not project.graph.nodes:
            return "the model is empty. Add some layers first"
        errors = summarize(project.graph, project.name).errors
        if errors:
            n = len(errors)
            more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
            return f"the model has a problem to fix first: {errors[0]}{more}"
        if not any(node.type == "Input" for node in project.graph.nodes.values()):
            return "the model has no Input layer"
        return None

    def problem(self, resume: bool = False) -> str | None:
        """Why training cannot start now (None: it can)."""
        from netbuilder.runtime.training.settings import SettingsError, load_settings

        if self.is_running():
            return "Training is running already: stop it first."
        project = self.document.project
        model = self.model_problem()
        if model is not None:
            return f"Cannot train: {model}."
        try:
            load_settings(project).updated(self.form.changes())
        except SettingsError as err:
            return f"Cannot train: {err}."
        source = self.form.data_source()
        if source == CHOOSE_PATH:
            return "Cannot train: choose the training data first."
        if source not in BUILTIN_SOURCES and not Path(source).exists():
            return f"Cannot train: the data {source} is not there any more."
        if resume and not self.can_continue():
            return "Nothing to continue: train the model first."
        return None

    def job(self, output_dir: Path, resume: bool = False) -> dict[str, Any]:
        from netbuilder.core.project import project_to_dict

        source = self.form.data_source()
        if source not in BUILTIN_SOURCES:
            source = str(Path(source).expanduser().resolve())
        job: dict[str, Any] = {"project": project_to_dict(self.document.project),
                               "data": {"source": source,
                                        "options": self.form.data_settings()["options"]},
                               "settings": self.form.changes(), "output_dir": str(output_dir)}
        job.update(self.job_options)     # e.g. {"latest_weights": True} from the Inspect dock
        if resume and self.last_model is not None:
            job["initial_weights"] = str(self.last_model)
            job["initial_epoch"] = self.epochs_done
        return job

    def train(self, resume: bool = False) -> bool:
        """Start training (``resume``: from the last run's weights); False, with the reason
        shown in the panel, when it cannot start."""
        why = self.problem(resume)
        if why is not None:
            self.show_error(why)
            self.train_button.setToolTip(why)
            return False
        self.train_button.setToolTip("Train the model from fresh weights (F5)")
        project = self.document.project
        if not confirm_training_memory(self, project.graph, {  # one batch in the RAM free now
                **(project.settings.get("training") or {}), **self.form.changes()}):
            return False
        self.form.remember_settings(project)
        base = self.home.base(self.document.path, create=True)
        assert base is not None
        output_dir = run_folder(base)
        job = self.job(output_dir, resume)
        if not resume:
            self.clear()
        self.ensure_plots()
        self.events = []
        self.terminal = None
        self.stop_requested = False
        self.output_dir = output_dir
        self.misclassified_list.clear()
        self.misclassified = []
        self._disable_result_tabs()
        self.results_tabs.setCurrentWidget(self.plot_area)
        self.results_label.clear()
        self.show_progress(0, "starting…")
        self.show_status("Starting the training process…")
        self._start_process(job)
        return True

    def _start_process(self, job: dict[str, Any]) -> None:
        if self.worker_command is not None:
            self.client.command = list(self.worker_command)
        self.client.start(job)
        if self.is_running():                # else it could not start, and said so
            self._set_running(True)
            self.started_at = time.monotonic()
            self.plot_timer.start()

    def stop(self) -> None:
        """Ask the worker to stop after the current batch (the weights are kept)."""
        if not self.is_running() or self.stop_requested:
            return
        self.stop_requested = True
        self.client.send(STOP)
        self.stop_button.setEnabled(False)
        self.show_status("Stopping after the current batch…")

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """The editor is closing: stop the worker (a stop request, then a kill) and a data
        preview still loading; an unsaved project's empty runs folder goes."""
        self.form.stop_preview()
        self.stop()
        self.client.close(timeout_ms)
        self.plot_timer.stop()
        self.home.release()

    def kill(self) -> None:
        self.client.kill()

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.continue_button.setEnabled(not running and self.can_continue())
        self.form.set_running(running)
        self._update_run_buttons()
        self.running_changed.emit(running)

    # -- the worker's output ---------------------------------------------------------------------

    def _crashed(self, reason: str) -> None:
        """The worker could not start, or ended without saying finished or error."""
        code = self.client.exit_code
        if code is None:
            self.handle_event({"event": "error", "kind": "start", "message": reason})
        else:
            self.handle_event({"event": "error", "kind": "crashed", "returncode": code,
                               "message": self.crash_text(reason, code)})
        self._end_process()

    def crash_text(self, reason: str, code: int) -> str:
        """What a worker that ended unexpectedly (``reason``, exit ``code``: -N for signal N)
        means for this run: what happened, how many epochs finished, what is kept, and after
        running out of memory how to need less."""
        if code < 0:
            try:
                name = f" ({signal.Signals(-code).name})"
            except ValueError:
                name = ""
            oom = " — out of memory?" if code == -signal.SIGKILL else ""
            text = f"{CRASH_MESSAGE}: it was killed by signal {-code}{name}{oom}"
        else:
            text = reason
        epochs = [e for e in self.events if e.get("event") == "epoch"]
        text += (f". {len(epochs)} epoch{'s' if len(epochs) != 1 else ''} finished"
                 if epochs else ". No epoch finished")
        checkpoints = [e for e in self.events if e.get("event") == "checkpoint"]
        if self.output_dir is not None and (self.output_dir / "best.keras").exists():
            when = f" from epoch {checkpoints[-1].get('epoch')}" if checkpoints else ""
            text += f"; best.keras{when} is kept in {self.output_dir}"
        elif epochs and self.output_dir is not None:
            text += f"; their history is kept in {self.output_dir}"
        text += "."
        if out_of_memory(code, self.client.stderr_tail):
            text += f" {OUT_OF_MEMORY_ADVICE}"
        return text

    def _end_process(self) -> None:
        self.plot_timer.stop()
        if self._adopt_runs:
            self.move_runs_beside()
        self.refresh_plots()
        self._set_running(False)
        self.refresh_runs()

    def handle_event(self, event: dict[str, Any]) -> None:
        """Show one worker event (tests feed recorded ones)."""
        self.events.append(event)
        kind = event.get("event")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)
        self.event_received.emit(event)

    def _on_status(self, e: dict[str, Any]) -> None:
        message = str(e.get("message", ""))
        if message == "training engine started":
            message = "training process started"
        self.show_status(message[:1].upper() + message[1:] + "…")

    def _on_model(self, e: dict[str, Any]) -> None:
        self._info = f"Model {e.get('name')}: {e.get('params', 0):,} parameters"

    def _on_data(self, e: dict[str, Any]) -> None:
        sizes = ", ".join(f"{n:,} {k}" for k, n in (e.get("sizes") or {}).items())
        classes = e.get("class_names") or []
        text = f"Data {e.get('name')}: {sizes}" + (f", {len(classes)} classes" if classes else "")
        self._info = " · ".join(t for t in (getattr(self, "_info", ""), text) if t)
        notes = e.get("notes") or []
        self.status_label.setToolTip("\n".join(f"• {n}" for n in notes))

    def _on_train_begin(self, e: dict[str, Any]) -> None:
        self.ensure_plots()
        self.steps = max(1, int(e.get("steps_per_epoch") or 1))
        self.total_epochs = int(e.get("epochs") or 0)
        self._epoch_offset = int(e.get("initial_epoch") or 0)
        self.show_status(f"Training: {e.get('samples', 0):,} samples, batch size "
                         f"{e.get('batch_size')}, {self.steps} steps per epoch")
        self.results_label.setText(getattr(self, "_info", ""))

    def _on_batch(self, e: dict[str, Any]) -> None:
        loss = (e.get("logs") or {}).get("loss")
        steps = max(1, int(e.get("steps") or self.steps))
        if loss is not None:
            self.batch_x.append(int(e["epoch"]) - 1 + int(e["batch"]) / steps)
            self.batch_loss.append(float(loss))
        self._progress(e, int(e.get("batch") or 0) / steps)
        self._batch_dirty = True

    def _on_epoch(self, e: dict[str, Any]) -> None:
        logs = e.get("logs") or {}
        n = len(self.epoch_x)
        for key, value in logs.items():
            series = self.history.setdefault(key, [])
            series.extend([float("nan")] * (n - len(series)))
            series.append(float("nan") if value is None else float(value))
        self.epoch_x.append(float(e["epoch"]))
        self.epochs_done = int(e["epoch"])
        if self.metric_name is None:
            self.metric_name = self._pick_metric(logs)
        self._progress(e, 1.0)
        parts = "  ".join(f"{k} {number_text(v)}" for k, v in logs.items() if k not in LR_KEYS)
        self.show_status(f"Epoch {e.get('epoch')}/{e.get('epochs')} "
                         f"({e.get('epoch_s', 0):.1f}s): {parts}")
        self._dirty = True

    @staticmethod
    def _pick_metric(logs: dict[str, Any]) -> str | None:
        if "accuracy" in logs:
            return "accuracy"
        for key in logs:
            if key != "loss" and key not in LR_KEYS and not key.startswith("val_") \
                    and not key.endswith("loss"):
                return key
        return None

    def _progress(self, e: dict[str, Any], part: float) -> None:
        """Epoch ``e["epoch"]`` of ``e["epochs"]`` is ``part`` done: the bar and its text count
        the whole numbering (a continued run starts part-way)."""
        try:
            epoch, epochs = int(e["epoch"]), int(e["epochs"])
            fraction = min(1.0, (epoch - 1 + part) / epochs)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return
        eta = e.get("eta_s")
        left = f" · {format_duration(eta, ' ')} left" if eta is not None and fraction < 1 else ""
        self.show_progress(fraction, f"epoch {epoch} of {epochs} · {fraction:.0%}{left}")

    def show_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(fraction * 1000)))
        self.progress_label.setText(text)

    def _on_stage(self, e: dict[str, Any]) -> None:
        message = str(e.get("message") or f"stage {e.get('stage')}")
        self.show_status(message[:1].upper() + message[1:])

    def _on_warning(self, e: dict[str, Any]) -> None:
        self.show_status(f"Warning: {e.get('message')}", theme.NOTE)

    def _on_evaluation(self, e: dict[str, Any]) -> None:
        self.evaluation = e
        metrics = "  ".join(f"{k} <b>{number_text(v)}</b>"
                            for k, v in (e.get("metrics") or {}).items())
        tta = e.get("tta")
        if isinstance(tta, dict) and tta.get("metrics"):     # without → with, side by side
            from netbuilder.runtime.training.tta import comparison

            metrics = comparison(e.get("metrics") or {}, tta["metrics"], tta.get("copies"),
                                 lambda v: f"<b>{number_text(v)}</b>")
        self.results_label.setText(f"{getattr(self, '_info', '')}<br>"
                                   f"On the {e.get('split', 'validation')} data: {metrics}")
        matrix = e.get("confusion_matrix")
        names = [str(n) for n in e.get("class_names") or []]
        if matrix:
            self.show_confusion(matrix, names)
        wrong = e.get("misclassified")
        if isinstance(wrong, list):
            self.show_misclassified(wrong, int(e.get("misclassified_count") or len(wrong)),
                                    str(e.get("split", "validation")), e, names)

    def show_misclassified(self, indices: list[int], count: int, split: str,
                           event: dict[str, Any] | None = None,
                           names: Sequence[str] = ()) -> None:
        """Show the misclassified samples (see ``fill_misclassified``)."""
        self.misclassified = [int(i) for i in indices]
        fill_misclassified(self.misclassified_list, self.misclassified_title,
                           self.misclassified, count, split, event or {}, names)
        index = self.results_tabs.indexOf(self.misclassified_box)
        self.results_tabs.setTabEnabled(index, True)
        self.results_tabs.setTabText(index, f"Misclassified ({count})")

    def show_confusion(self, matrix: list[list[int]], names: list[str]) -> None:
        self.ensure_plots()
        fill_confusion(self.confusion, matrix, names)
        self.results_tabs.setTabEnabled(self.results_tabs.indexOf(self.confusion_box), True)

    def _on_finished(self, e: dict[str, Any]) -> None:
        self.terminal = e
        reason = {"completed": "Training done", "stopped": "Training stopped",
                  "early_stopping": "Training stopped early (no more improvement)",
                  "preview": "Data loaded"}.get(e.get("reason"), "Training ended")
        n = e.get("epochs_run", 0)
        speed = f", {e['samples_per_s']:,.0f} samples/s" if e.get("samples_per_s") else ""
        took = format_duration(e.get("train_s"), " ")
        text = f"{reason}: {n} epoch{'s' if n != 1 else ''} in {took}{speed}."
        model = e.get("model_path")
        if model:
            self.last_model = Path(model)
            out = Path(str(e.get("output_dir") or self.last_model.parent))
            text += f" Saved in {out.parent.name}/{out.name}."
            self.status_label.setToolTip(f"history.json and model.keras are in {out}")
        fraction = 1.0 if e.get("reason") == "completed" else self.progress.value() / 1000
        self.show_progress(fraction, f"{fraction:.0%} · {reason.lower()}")
        self.show_status(text, QColor("#2e7d32"))
        if not getattr(self, "evaluation", None) and e.get("history"):
            final = {k: v[-1] for k, v in e["history"].items() if k.startswith("val_") and v}
            if final:
                self.results_label.setText("  ".join(f"{k} <b>{number_text(v)}</b>"
                                                     for k, v in final.items()))
        self._dirty = True
        self.finished.emit(e)

    def _on_error(self, e: dict[str, Any]) -> None:
        self.terminal = e
        self.show_error(f"Training failed: {e.get('message')}")
        self.progress_label.setText(f"{self.progress.value() / 10:.0f}% · failed")
        self.finished.emit(e)

    # -- display -------------------------------------------------------------------------------

    def show_status(self, text: str, color: QColor | None = None) -> None:
        self.status_label.setText(text)
        style = f"color: {color.name()};" if color is not None else ""
        self.status_label.setStyleSheet(style)

    def show_error(self, text: str) -> None:
        self.show_status(text, theme.ERROR)

    def learning_rates(self) -> list[float]:
        """The per-epoch learning rate the worker sent (empty: none sent)."""
        for key in LR_KEYS:
            if key in self.history:
                return list(self.history[key])
        return []

    def clear(self) -> None:
        """Forget the curves and results of earlier runs."""
        self.history = {}
        self.epoch_x = []
        self.batch_x = []
        self.batch_loss = []
        self.metric_name = None
        self.epochs_done = 0
        self.last_model = None
        self.evaluation = None
        self._info = ""
        self._dirty = True
        self.refresh_plots()
        self._last_redraw = 0.0       # a new run's first batch is drawn at once, not 1 s later

    def _refresh_if_dirty(self) -> None:
        if self._dirty or (self._batch_dirty
                           and time.monotonic() - self._last_redraw >= BATCH_REDRAW_S):
            self.refresh_plots()


    def refresh_plots(self) -> None:
        """Give the curves their data (setData; called at most ten times a second while
        training)."""
        self._dirty = self._batch_dirty = False
        self._last_redraw = time.monotonic()
        if not self.plots.ready:
            return
        self.plots.draw(self.epoch_x, self.history, (self.batch_x, self.batch_loss),
                        self.metric_name, self.learning_rates())
        if self._overlay_dirty:
            self._overlay_dirty = False
            self.plots.draw_runs(self.runs_tab.ticked(), self.metric_name)

    def curve_data(self, name: str) -> tuple[list[float], list[float]]:
        """What a curve shows now (for tests): ``(xs, ys)``."""
        return self.plots.curve_data(name)

    def overlay_data(self) -> list[tuple[str, str, list[float], list[float]]]:
        """The earlier runs' curves drawn now (for tests): ``(plot, run, xs, ys)``."""
        return self.plots.overlay_data()
