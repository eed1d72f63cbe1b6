"""The training panel: train the model on the canvas and watch it learn.

Training runs in the worker process (``python -m netbuilder.runtime.worker``, the same one the
command line uses), driven through ``QProcess``: the job goes to its stdin as one JSON line, its
events come back as JSON lines on stdout, and ``stop`` on stdin ends training after the current
batch. The editor never imports TensorFlow, and a worker that crashes or is killed only ends the
run: the panel says so and the editor keeps going.

pyqtgraph is imported when the plots are first needed (the panel shown or a run started), so it
does not slow the editor's start.
"""

from __future__ import annotations

import collections
import datetime
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QProcess, QProcessEnvironment, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QShowEvent, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.project import Project
from ..runtime.engine_client import parse_event_line
from ..runtime.train_cli import format_duration
from . import theme

BUILTIN_SOURCES = ("digits", "shapes", "mnist", "fashion_mnist", "cifar10")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
CHOOSE_PATH = "Choose a folder or file…"
PLOT_INTERVAL_MS = 100          # the plots are redrawn at most ten times a second
CRASH_MESSAGE = "the training process ended unexpectedly"

COLORS = {"loss": "#1a73e8", "val_loss": "#e8710a", "batch_loss": "#a8c7fa",
          "metric": "#188038", "val_metric": "#d93025", "learning_rate": "#8430ce"}
LR_KEYS = ("learning_rate", "lr")    # what Keras calls the rate in the epoch logs
MAX_PREVIOUS_RUNS = 8                # earlier runs kept for "Compare with previous runs"


def _fmt(value: Any) -> str:
    if value is None:
        return "nan"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def run_folder(project_path: Path | None, project_name: str,
               now: datetime.datetime | None = None) -> Path:
    """A new folder for one run's output: ``<project>-runs/<date>_<time>`` beside the project
    file, or under the temporary folder for a project never saved."""
    stamp = (now or datetime.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    if project_path is not None:
        base = project_path.parent / f"{project_path.stem}-runs"
    else:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in project_name) or "model"
        base = Path(tempfile.gettempdir()) / "netbuilder-runs" / safe
    folder = base / stamp
    n = 2
    while folder.exists():
        folder = base / f"{stamp}-{n}"
        n += 1
    return folder


class SetTrainingSettings(QUndoCommand):
    """Set project.settings["training"] (undoable, so that the project counts as modified)."""

    def __init__(self, project: Project, old: Any, new: dict[str, Any],
                 shown: Callable[[], None]) -> None:
        super().__init__("Change training settings")
        self.project = project
        self.old = None if old is None else json.loads(json.dumps(old))
        self.new = new
        self.shown = shown

    def _set(self, value: Any) -> None:
        if value is None:
            self.project.settings.pop("training", None)
        else:
            self.project.settings["training"] = json.loads(json.dumps(value))
        try:
            self.shown()
        except Exception:  # noqa: BLE001 - an exception here would abort under Qt's stack
            import sys

            sys.excepthook(*sys.exc_info())

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class TrainingPanel(QWidget):
    """Data and settings on the left, live curves on the right. ``project()`` and ``path()``
    give the window's current project and its file (None: never saved)."""

    running_changed = Signal(bool)
    finished = Signal(dict)          # the worker's last event (finished or error)

    def __init__(self, project: Callable[[], Project], path: Callable[[], Path | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self._project = project
        self._path = path
        self.worker_command: Sequence[str] | None = None   # tests put a fake worker here
        self.process: QProcess | None = None
        self.terminal: dict[str, Any] | None = None
        self.stop_requested = False
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._buffer = b""
        self.events: list[dict[str, Any]] = []       # this run's events, in order
        self.output_dir: Path | None = None
        self.last_model: Path | None = None           # what Continue starts from
        self.epochs_done = 0                          # epochs trained so far (Continue adds)
        self.steps = 1
        self.history: dict[str, list[float]] = {}     # per-epoch logs, as Keras' History
        self.epoch_x: list[float] = []
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.metric: str | None = None
        self.plots_ready = False
        self._dirty = False
        self._epoch_offset = 0
        self.previous_runs: list[dict[str, Any]] = []  # earlier runs of this session
        self.overlay_items: list[Any] = []
        self._overlay_dirty = False
        self.misclassified: list[int] = []

        self._build()
        self.plot_timer = QTimer(self)
        self.plot_timer.setInterval(PLOT_INTERVAL_MS)
        self.plot_timer.timeout.connect(self._refresh_if_dirty)
        self._set_running(False)

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        side = QWidget()
        side.setMinimumWidth(230)
        side.setMaximumWidth(400)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        self.data_combo = QComboBox()
        self.data_combo.addItems(list(BUILTIN_SOURCES))
        self.data_combo.addItem(CHOOSE_PATH)
        self.data_combo.setToolTip("digits and shapes need no download; mnist, fashion_mnist "
                                   "and cifar10 come from Keras' cache or are downloaded; or a "
                                   "folder with one sub-folder of images per class, a .npz or "
                                   "a .csv file")
        self.data_combo.activated.connect(self._data_chosen)
        self._data_index = 0
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 100000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1 << 16)
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItems(list(OPTIMIZERS))
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(0.000001, 10.0)
        self.lr_spin.setSingleStep(0.0001)
        self.lr_spin.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.NoButtons)
        self.lr_spin.setToolTip("Learning rate")
        self.lr_spin.setMaximumWidth(76)
        self.optimizer_combo.setMaximumWidth(84)
        form.addRow("Data", self.data_combo)
        row = QHBoxLayout()
        row.addWidget(self.epochs_spin)
        row.addWidget(QLabel("Batch"))
        row.addWidget(self.batch_spin)
        form.addRow("Epochs", row)
        row = QHBoxLayout()
        row.addWidget(self.optimizer_combo)
        row.addWidget(QLabel("LR"))
        row.addWidget(self.lr_spin)
        form.addRow("Optimizer", row)

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
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setToolTip("Every training setting: optimizer and schedule, loss "
                                        "and metrics, checkpoint, early stopping, logs")
        self.settings_button.clicked.connect(lambda: self.open_settings())
        form.addRow("", self.settings_button)

        self.status_label = QLabel("Choose the data and press Train.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
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
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.status_label)
        left.addWidget(self.results_label)
        self.compare_box = QCheckBox("Compare with previous runs")
        self.compare_box.setToolTip("Draw the validation curves of this session's earlier runs, "
                                    "faded, behind the current run's")
        self.compare_box.toggled.connect(self._compare_toggled)
        left.addWidget(self.compare_box)
        left.addStretch(1)
        self.confusion_box = QWidget()
        box = QVBoxLayout(self.confusion_box)
        box.setContentsMargins(0, 0, 0, 0)
        self.confusion_title = QLabel("Confusion matrix: rows are the true classes, "
                                      "columns the predicted ones")
        self.confusion_title.setWordWrap(True)
        box.addWidget(self.confusion_title)
        box.addWidget(self.confusion, 1)
        self.misclassified_title = QLabel()
        self.misclassified_title.setWordWrap(True)
        self.misclassified_list = QListWidget()
        self.misclassified_list.setFont(small)
        self.misclassified_list.setToolTip(
            "Indices of the misclassified samples in the evaluated split (the worker sends "
            "their indices only, not their images or predicted labels)")
        box.addWidget(self.misclassified_title)
        box.addWidget(self.misclassified_list, 1)
        self.misclassified_title.hide()
        self.misclassified_list.hide()
        self.confusion_box.hide()

        self.plot_area = QWidget()
        self.plot_layout = QHBoxLayout(self.plot_area)
        self.plot_layout.setContentsMargins(0, 0, 0, 0)
        self.plot_area.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(side)
        splitter.addWidget(self.plot_area)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 2000])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # a tabified dock behind another is shown for a moment as the window opens: wait and
        # see, so that pyqtgraph loads only when the panel is really on screen
        QTimer.singleShot(50, self, self.plots_if_seen)

    def plots_if_seen(self) -> None:
        if self.isVisible() and not self.visibleRegion().isEmpty():
            self.ensure_plots()

    def ensure_plots(self) -> None:
        """Create the pyqtgraph plots (the first time only)."""
        if self.plots_ready:
            return
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, background="w", foreground="#1f2328")
        self.loss_plot = pg.PlotWidget()
        self.metric_plot = pg.PlotWidget()
        self.lr_plot = pg.PlotWidget()
        for plot, title, corner in ((self.loss_plot, "Loss", (-10, 10)),
                                    (self.metric_plot, "Accuracy", (-10, -30)),
                                    (self.lr_plot, "Learning rate", (-10, 10))):
            plot.setTitle(title)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("bottom", "epoch")
            plot.addLegend(offset=corner, labelTextSize="8pt", brush=(255, 255, 255, 210),
                           verSpacing=-6)
            plot.setMouseEnabled(x=False, y=False)
            plot.setMinimumWidth(150)
            self.plot_layout.addWidget(plot, 1)
        self.lr_plot.hide()                   # until the worker sends a rate
        self.plot_layout.addWidget(self.confusion_box)

        def pen(key: str, width: float = 2.0) -> Any:
            return pg.mkPen(COLORS[key], width=width)

        self.curves = {
            "batch_loss": self.loss_plot.plot([], [], pen=pen("batch_loss", 1.0),
                                              name="loss (batches)"),
            "loss": self.loss_plot.plot([], [], pen=pen("loss"), symbol="o", symbolSize=5,
                                        symbolBrush=COLORS["loss"], name="loss"),
            "val_loss": self.loss_plot.plot([], [], pen=pen("val_loss"), symbol="o",
                                            symbolSize=5, symbolBrush=COLORS["val_loss"],
                                            name="val_loss"),
            "metric": self.metric_plot.plot([], [], pen=pen("metric"), symbol="o", symbolSize=5,
                                            symbolBrush=COLORS["metric"], name="accuracy"),
            "val_metric": self.metric_plot.plot([], [], pen=pen("val_metric"), symbol="o",
                                                symbolSize=5, symbolBrush=COLORS["val_metric"],
                                                name="val_accuracy"),
            "learning_rate": self.lr_plot.plot([], [], pen=pen("learning_rate"), symbol="o",
                                               symbolSize=5,
                                               symbolBrush=COLORS["learning_rate"],
                                               name="learning rate"),
        }
        self._overlay_dirty = True
        self.plots_ready = True
        self.refresh_plots()

    # -- settings ------------------------------------------------------------------------------

    def load_settings(self) -> None:
        """Show the project's training settings (defaults where it has none)."""
        from ..runtime.training import SettingsError, TrainingSettings, load_settings

        project = self._project()
        try:
            settings = load_settings(project)
        except SettingsError:
            settings = TrainingSettings()
        self.epochs_spin.setValue(settings.epochs)
        self.batch_spin.setValue(settings.batch_size)
        index = self.optimizer_combo.findText(settings.optimizer)
        self.optimizer_combo.setCurrentIndex(max(0, index))
        self.lr_spin.setValue(settings.learning_rate)
        data = project.settings.get("data")
        source = data.get("source") if isinstance(data, dict) else data
        if isinstance(source, str) and source:
            self.set_data_source(source)

    def current_settings(self) -> Any:
        """The project's training settings with the panel's fields over them (defaults where
        they cannot be read)."""
        from ..runtime.training import SettingsError, TrainingSettings, load_settings

        try:
            return load_settings(self._project()).updated(self.changes())
        except SettingsError:
            try:
                return TrainingSettings().updated(self.changes())
            except SettingsError:
                return TrainingSettings()

    def open_settings(self, modal: bool = True) -> Any:
        """Show the settings dialog; OK applies the (validated) settings to the project.
        ``modal=False`` returns the open dialog at once (tests)."""
        from .training_settings_dialog import TrainingSettingsDialog

        dialog = TrainingSettingsDialog(self.current_settings(), self)
        self.settings_dialog = dialog
        dialog.accepted.connect(lambda: self.apply_settings(dialog.result_settings))
        if modal:
            dialog.exec()
            dialog.deleteLater()
        else:
            dialog.open()
        return dialog

    def undo_stack(self) -> QUndoStack | None:
        stack = getattr(self.window(), "undo_stack", None)
        return stack if isinstance(stack, QUndoStack) else None

    def apply_settings(self, settings: Any) -> bool:
        """Keep ``settings`` (a valid ``TrainingSettings``) in project.settings["training"],
        through the window's undo stack (so the project counts as modified); False when nothing
        changed."""
        if settings is None:
            return False
        project = self._project()
        new = settings.to_dict()
        old = project.settings.get("training")
        if old == new:
            return False
        command = SetTrainingSettings(project, old, new, self._show_settings)
        stack = self.undo_stack()
        if stack is not None:
            stack.push(command)
        else:
            command.redo()
        return True

    def _show_settings(self) -> None:
        from ..runtime.training import SettingsError, TrainingSettings, load_settings

        try:
            settings = load_settings(self._project())
        except SettingsError:
            settings = TrainingSettings()
        self.epochs_spin.setValue(settings.epochs)
        self.batch_spin.setValue(settings.batch_size)
        self.optimizer_combo.setCurrentIndex(max(0, self.optimizer_combo.findText(
            settings.optimizer)))
        self.lr_spin.setValue(settings.learning_rate)

    def changes(self) -> dict[str, Any]:
        """The settings shown here, as changes over the project's settings."""
        return {"epochs": self.epochs_spin.value(), "batch_size": self.batch_spin.value(),
                "optimizer": self.optimizer_combo.currentText(),
                "learning_rate": float(self.lr_spin.value())}

    def data_source(self) -> str:
        return self.data_combo.currentText()

    def set_data_source(self, source: str) -> None:
        index = self.data_combo.findText(source)
        if index < 0:
            index = self.data_combo.count() - 1      # before "Choose…"
            self.data_combo.insertItem(index, source)
        self.data_combo.setCurrentIndex(index)
        self._data_index = index

    def ask_data_path(self) -> str:
        """Ask for a data folder or file (tests replace this)."""
        path = self._path()
        start = str(path.parent) if path else str(Path.home())
        name, _ = QFileDialog.getOpenFileName(
            self, "Training data: a .npz or .csv file (Cancel to choose a folder)", start,
            "Data files (*.npz *.csv);;All files (*)")
        if name:
            return name
        return QFileDialog.getExistingDirectory(
            self, "Training data: a folder with one sub-folder of images per class", start)

    def _data_chosen(self, index: int) -> None:
        if self.data_combo.itemText(index) != CHOOSE_PATH:
            self._data_index = index
            return
        chosen = self.ask_data_path()
        if chosen:
            self.set_data_source(chosen)
        else:
            self.data_combo.setCurrentIndex(self._data_index)

    # -- running -------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.process is not None

    def can_continue(self) -> bool:
        return self.last_model is not None and self.last_model.is_file()

    def problem(self, resume: bool = False) -> str | None:
        """Why training cannot start now (None: it can)."""
        from ..core.summary import summarize
        from ..runtime.training import SettingsError, load_settings

        if self.is_running():
            return "Training is running already: stop it first."
        project = self._project()
        if not project.graph.nodes:
            return "Cannot train: the model is empty. Add some layers first."
        errors = summarize(project.graph, project.name).errors
        if errors:
            n = len(errors)
            more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
            return f"Cannot train: the model has a problem to fix first: {errors[0]}{more}."
        if not any(node.type == "Input" for node in project.graph.nodes.values()):
            return "Cannot train: the model has no Input layer."
        try:
            load_settings(project).updated(self.changes())
        except SettingsError as err:
            return f"Cannot train: {err}."
        source = self.data_source()
        if source == CHOOSE_PATH:
            return "Cannot train: choose the training data first."
        if source not in BUILTIN_SOURCES and not Path(source).exists():
            return f"Cannot train: the data {source} is not there any more."
        if resume and not self.can_continue():
            return "Nothing to continue: train the model first."
        return None

    def job(self, output_dir: Path, resume: bool = False) -> dict[str, Any]:
        from ..core.project import project_to_dict

        source = self.data_source()
        if source not in BUILTIN_SOURCES:
            source = str(Path(source).expanduser().resolve())
        job: dict[str, Any] = {"project": project_to_dict(self._project()),
                               "data": {"source": source, "options": {}},
                               "settings": self.changes(), "output_dir": str(output_dir)}
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
        project = self._project()
        self._remember_settings(project)
        output_dir = run_folder(self._path(), project.name)
        job = self.job(output_dir, resume)
        if not resume:
            self.archive_run()
            self.clear()
        self.ensure_plots()
        self.events = []
        self.terminal = None
        self.stop_requested = False
        self.stderr_tail.clear()
        self._buffer = b""
        self.output_dir = output_dir
        self.confusion_box.hide()
        self.misclassified_title.hide()
        self.misclassified_list.hide()
        self.misclassified_list.clear()
        self.misclassified = []
        self.results_label.clear()
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.show_status("Starting the training process…")
        self._start_process(job)
        return True

    def _remember_settings(self, project: Project) -> None:
        """Keep the settings and data source with the project (saved with it)."""
        training = dict(project.settings.get("training") or {})
        training.update(self.changes())
        project.settings["training"] = training
        project.settings["data"] = self.data_source()

    def _command(self) -> list[str]:
        if self.worker_command is not None:
            return list(self.worker_command)
        from ..runtime.engine_client import worker_command

        return worker_command()

    def _start_process(self, job: dict[str, Any]) -> None:
        from ..runtime.engine_client import worker_environment

        process = QProcess(self)
        env = QProcessEnvironment()
        for key, value in worker_environment().items():
            env.insert(key, value)
        process.setProcessEnvironment(env)
        process.setWorkingDirectory(str(Path.cwd()))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._process_finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process
        self._set_running(True)
        self.started_at = time.monotonic()
        self.plot_timer.start()
        command = self._command()
        process.start(command[0], command[1:])
        process.write(QByteArray((json.dumps(job) + "\n").encode("utf-8")))

    def stop(self) -> None:
        """Ask the worker to stop after the current batch (the weights are kept)."""
        if self.process is None or self.stop_requested:
            return
        self.stop_requested = True
        self.process.write(QByteArray(b"stop\n"))
        self.stop_button.setEnabled(False)
        self.show_status("Stopping after the current batch…")

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """The editor is closing: stop the worker (a stop request, then a kill)."""
        process = self.process
        if process is None:
            return
        self.stop()
        if not process.waitForFinished(timeout_ms):
            process.kill()
            process.waitForFinished(2000)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.continue_button.setEnabled(not running and self.can_continue())
        for widget in (self.data_combo, self.epochs_spin, self.batch_spin,
                       self.optimizer_combo, self.lr_spin, self.settings_button):
            widget.setEnabled(not running)
        self.running_changed.emit(running)

    # -- the worker's output ---------------------------------------------------------------------

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            event = parse_event_line(raw)
            if event is not None:
                self.handle_event(event)

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self.stderr_tail.append(line)

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            process = self.process
            self.handle_event({"event": "error", "kind": "start", "message":
                               f"cannot start the training process: {process.errorString()}"})
            self._end_process()

    def _process_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if self.process is None:
            return
        self._read_stdout()
        self._read_stderr()
        if self._buffer.strip():
            self._buffer += b"\n"
            self._read_stdout()
        if self.terminal is None:
            if status == QProcess.ExitStatus.CrashExit:
                how = "it crashed or was killed"
            else:
                how = f"exit status {code}"
            message = f"{CRASH_MESSAGE} ({how})"
            last = next((ln for ln in reversed(self.stderr_tail) if ln.strip()), "")
            if last:
                message += f": {last.strip()}"
            if self.output_dir is not None and (self.output_dir / "best.keras").exists():
                message += f". The best checkpoint so far is intact: {self.output_dir}/best.keras"
            self.handle_event({"event": "error", "kind": "crashed", "message": message,
                               "returncode": code})
        self._end_process()

    def _end_process(self) -> None:
        process = self.process
        self.process = None
        if process is not None:
            process.deleteLater()
        self.plot_timer.stop()
        self.refresh_plots()
        self._set_running(False)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Show one worker event (tests feed recorded ones)."""
        self.events.append(event)
        kind = event.get("event")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)

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
        self._info = "<br>".join(t for t in (getattr(self, "_info", ""), text) if t)
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
        self._progress(e, f"epoch {e.get('epoch')}/{e.get('epochs')}, batch "
                          f"{e.get('batch')}/{steps}")
        self._dirty = True

    def _on_epoch(self, e: dict[str, Any]) -> None:
        logs = e.get("logs") or {}
        n = len(self.epoch_x)
        for key, value in logs.items():
            series = self.history.setdefault(key, [])
            series.extend([float("nan")] * (n - len(series)))
            series.append(float("nan") if value is None else float(value))
        self.epoch_x.append(float(e["epoch"]))
        self.epochs_done = int(e["epoch"])
        if self.metric is None:
            self.metric = self._pick_metric(logs)
        self._progress(e, f"epoch {e.get('epoch')}/{e.get('epochs')} done")
        parts = "  ".join(f"{k} {_fmt(v)}" for k, v in logs.items() if k not in LR_KEYS)
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

    def _progress(self, e: dict[str, Any], where: str) -> None:
        fraction = float(e.get("progress") or 0.0)
        self.progress.setValue(int(round(fraction * 1000)))
        eta = e.get("eta_s")
        left = f" · {format_duration(eta, ' ')} left" if eta is not None and fraction < 1 else ""
        self.progress.setFormat(f"{fraction:.0%} · {where}{left}")

    def _on_warning(self, e: dict[str, Any]) -> None:
        self.show_status(f"Warning: {e.get('message')}", theme.NOTE)

    def _on_evaluation(self, e: dict[str, Any]) -> None:
        self.evaluation = e
        metrics = "  ".join(f"{k} <b>{_fmt(v)}</b>" for k, v in (e.get("metrics") or {}).items())
        self.results_label.setText(f"{getattr(self, '_info', '')}<br>"
                                   f"On the {e.get('split', 'validation')} data: {metrics}")
        matrix = e.get("confusion_matrix")
        if matrix:
            self.show_confusion(matrix, e.get("class_names") or [])
        wrong = e.get("misclassified")
        if isinstance(wrong, list):
            self.show_misclassified(wrong, int(e.get("misclassified_count") or len(wrong)),
                                    str(e.get("split", "validation")))

    def show_misclassified(self, indices: list[int], count: int, split: str) -> None:
        """List the misclassified samples. The worker's evaluation event carries only their
        indices in the evaluated split: no images and no true or predicted labels."""
        self.misclassified = [int(i) for i in indices]
        self.misclassified_list.clear()
        if count == 0:
            self.misclassified_title.setText(f"No misclassified {split} samples.")
        else:
            shown = len(self.misclassified)
            more = f", the first {shown} listed" if shown < count else ""
            self.misclassified_title.setText(f"Misclassified {split} samples: {count}{more}")
        for i in self.misclassified:
            self.misclassified_list.addItem(f"{split} sample #{i}")
        self.misclassified_title.show()
        self.misclassified_list.setVisible(bool(self.misclassified))
        self.confusion_box.show()

    def show_confusion(self, matrix: list[list[int]], names: list[str]) -> None:
        self.ensure_plots()
        k = len(matrix)
        labels = [str(n) for n in names] if len(names) == k else [str(i) for i in range(k)]
        table = self.confusion
        table.clear()
        table.setRowCount(k)
        table.setColumnCount(k)
        table.setHorizontalHeaderLabels(labels)
        table.setVerticalHeaderLabels(labels)
        peak = max((max(row) for row in matrix if row), default=1) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                strength = count / peak
                base = QColor(46, 125, 50) if i == j else QColor(217, 48, 37)
                color = QColor(base)
                color.setAlphaF(0.08 + 0.6 * strength if count else 0.0)
                item.setBackground(QBrush(color))
                item.setToolTip(f"true {labels[i]}, predicted {labels[j]}: {count}")
                table.setItem(i, j, item)
        longest = max((len(label) for label in labels), default=1)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.horizontalHeader().setMinimumSectionSize(16)
        table.horizontalHeader().setDefaultSectionSize(min(60, max(22, 8 + 7 * longest)))
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.verticalHeader().setMinimumSectionSize(14)
        table.verticalHeader().setDefaultSectionSize(18)
        table_width = (table.verticalHeader().sizeHint().width()
                       + sum(table.columnWidth(j) for j in range(k)) + 2 * table.frameWidth()
                       + 4)
        self.confusion_box.setMinimumWidth(150)
        self.confusion_box.setMaximumWidth(max(150, min(table_width, 420)))
        self.confusion_box.show()

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
        self.progress.setValue(1000 if e.get("reason") == "completed" else self.progress.value())
        self.progress.setFormat(f"{self.progress.value() / 10:.0f}% · {reason.lower()}")
        self.show_status(text, QColor("#2e7d32"))
        if not getattr(self, "evaluation", None) and e.get("history"):
            final = {k: v[-1] for k, v in e["history"].items() if k.startswith("val_") and v}
            if final:
                self.results_label.setText("  ".join(f"{k} <b>{_fmt(v)}</b>"
                                                     for k, v in final.items()))
        self._dirty = True
        self.finished.emit(e)

    def _on_error(self, e: dict[str, Any]) -> None:
        self.terminal = e
        self.show_error(f"Training failed: {e.get('message')}")
        self.progress.setFormat(f"{self.progress.value() / 10:.0f}% · failed")
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

    def archive_run(self) -> None:
        """Keep the current run's validation curves for "Compare with previous runs"."""
        if not self.epoch_x:
            return
        metric = self.metric
        run = {"x": list(self.epoch_x), "val_loss": list(self.history.get("val_loss", [])),
               "metric": metric,
               "val_metric": list(self.history.get(f"val_{metric}", [])) if metric else []}
        self.previous_runs.append(run)
        del self.previous_runs[:-MAX_PREVIOUS_RUNS]
        self._overlay_dirty = True

    def _compare_toggled(self, _: bool) -> None:
        self._overlay_dirty = True
        self.refresh_plots()

    def _draw_overlays(self) -> None:
        import pyqtgraph as pg

        self._overlay_dirty = False
        for plot, item in self.overlay_items:
            plot.removeItem(item)
        self.overlay_items = []
        if not self.compare_box.isChecked():
            return
        n = len(self.previous_runs)
        for k, run in enumerate(self.previous_runs):
            alpha = int(50 + 70 * (k + 1) / n)     # older runs fainter
            label = f"run {k + 1}"
            for plot, key, color in ((self.loss_plot, "val_loss", COLORS["val_loss"]),
                                     (self.metric_plot, "val_metric", COLORS["val_metric"])):
                pairs = [(a, b) for a, b in zip(run["x"], run[key]) if b == b]
                if not pairs:
                    continue
                c = QColor(color)
                c.setAlpha(alpha)
                item = pg.PlotDataItem([a for a, _ in pairs], [b for _, b in pairs],
                                       pen=pg.mkPen(c, width=1.5,
                                                    style=Qt.PenStyle.DashLine))
                item.setZValue(-10)
                shown = key if key == "val_loss" else f"val_{run['metric']}"
                item.setToolTip(f"{label}: {shown}")
                item.run_label = label
                plot.addItem(item)              # not in the legend
                self.overlay_items.append((plot, item))

    def overlay_data(self) -> list[tuple[str, str, list[float], list[float]]]:
        """The previous runs' curves drawn now (for tests): ``(plot, run, xs, ys)``."""
        out = []
        for plot, item in self.overlay_items:
            xs, ys = item.getData()
            name = "loss" if plot is self.loss_plot else "metric"
            out.append((name, item.run_label, [float(v) for v in xs], [float(v) for v in ys]))
        return out

    def clear(self) -> None:
        """Forget the curves and results of earlier runs."""
        self.history = {}
        self.epoch_x = []
        self.batch_x = []
        self.batch_loss = []
        self.metric = None
        self.epochs_done = 0
        self.last_model = None
        self.evaluation = None
        self._info = ""
        self._dirty = True
        self.refresh_plots()

    def _refresh_if_dirty(self) -> None:
        if self._dirty:
            self.refresh_plots()

    def refresh_plots(self) -> None:
        """Give the curves their data (setData; called at most ten times a second while
        training)."""
        self._dirty = False
        if not self.plots_ready:
            return
        x = self.epoch_x
        n = len(x)

        def series(key: str | None) -> list[float]:
            values = self.history.get(key, []) if key else []
            return values[:n] + [float("nan")] * (n - len(values[:n]))

        def set_curve(name: str, xs: list[float], ys: list[float]) -> None:
            pairs = [(a, b) for a, b in zip(xs, ys) if b == b]   # drop NaN
            self.curves[name].setData([a for a, _ in pairs], [b for _, b in pairs])

        set_curve("batch_loss", self.batch_x, self.batch_loss)
        set_curve("loss", x, series("loss"))
        set_curve("val_loss", x, series("val_loss"))
        metric = self.metric
        set_curve("metric", x, series(metric))
        set_curve("val_metric", x, series(f"val_{metric}" if metric else None))
        rates = self.learning_rates()
        rates = rates[:n] + [float("nan")] * (n - len(rates[:n]))
        set_curve("learning_rate", x, rates)
        self.lr_plot.setVisible(any(r == r for r in rates))
        if self._overlay_dirty:
            self._draw_overlays()
        title = metric.replace("_", " ").capitalize() if metric else "Accuracy"
        self.metric_plot.setTitle(title)
        legend = self.metric_plot.plotItem.legend
        if legend is not None and metric:
            for sample, label in legend.items:
                if sample.item is self.curves["metric"]:
                    label.setText(metric)
                elif sample.item is self.curves["val_metric"]:
                    label.setText(f"val_{metric}")

    def curve_data(self, name: str) -> tuple[list[float], list[float]]:
        """What a curve shows now (for tests): ``(xs, ys)``."""
        xs, ys = self.curves[name].getData()
        return ([] if xs is None else [float(v) for v in xs],
                [] if ys is None else [float(v) for v in ys])
