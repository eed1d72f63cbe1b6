"""The training panel: train the model on the canvas and watch it learn.

Training runs in the worker process (``python -m netbuilder.runtime.workers.training``, the same one the
command line uses), driven through ``QProcess``: the job goes to its stdin as one JSON line, its
events come back as JSON lines on stdout, and ``stop`` on stdin ends training after the current
batch. The editor never imports TensorFlow, and a worker that crashes or is killed only ends the
run: the panel says so and the editor keeps going.

Beside the curves: the project's runs (read back from ``<project>-runs/``; tick runs to draw
their validation curves, use one's weights, open or delete it), the confusion matrix and the
misclassified samples (thumbnails with "true → predicted (confidence)"). Data… opens the data
dialog (``data_dialog.py``).

pyqtgraph is imported when the plots are first needed (the panel shown or a run started), so it
does not slow the editor's start.
"""

from __future__ import annotations

import collections
import datetime
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QProcess,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDesktopServices,
    QIcon,
    QPixmap,
    QShowEvent,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from netbuilder.cli.train import format_duration
from netbuilder.core.project import Project
from netbuilder.runtime.workers.client import parse_event_line
from netbuilder.ui import theme
from netbuilder.ui.commands import SetTrainingSettings
from netbuilder.ui.panels.training.runs import Run, delete_run, list_runs, runs_base
from netbuilder.ui.workers import new_worker_process, read_stderr_lines, read_stdout_lines

BUILTIN_SOURCES = ("digits", "shapes", "mnist", "fashion_mnist", "cifar10")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
CHOOSE_PATH = "Choose a folder or file…"
PLOT_INTERVAL_MS = 100          # the plots are redrawn at most ten times a second
BATCH_REDRAW_S = 1.0            # ... but for new batches alone at most once a second: a redraw
                                # costs ~14 ms of the CPU that training shares
CRASH_MESSAGE = "the training process ended unexpectedly"

COLORS = {"loss": "#1a73e8", "val_loss": "#e8710a", "batch_loss": "#a8c7fa",
          "metric": "#188038", "val_metric": "#d93025", "learning_rate": "#8430ce"}
LR_KEYS = ("learning_rate", "lr")    # what Keras calls the rate in the epoch logs
RUN_COLORS = ("#7b1fa2", "#00897b", "#c2185b", "#5d4037", "#3949ab", "#7cb342", "#f4511e",
              "#546e7a")             # the compared runs' curves, one colour each
MISCLASSIFIED_THUMB = 48             # pixels


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
    base = runs_base(project_path, project_name)
    folder = base / stamp
    n = 2
    while folder.exists():
        folder = base / f"{stamp}-{n}"
        n += 1
    return folder


class TrainingPanel(QWidget):
    """Data and settings on the left, live curves on the right. ``project()`` and ``path()``
    give the window's current project and its file (None: never saved)."""

    running_changed = Signal(bool)
    finished = Signal(dict)          # the worker's last event (finished or error)
    event_received = Signal(dict)    # every worker event (the Inspect dock follows weights)
    run_chosen = Signal(dict)        # "Use this run": {"event": "finished", "model_path", ...}

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
        self.metric_name: str | None = None
        self.plots_ready = False
        self._dirty = False
        self._batch_dirty = False       # only new batch losses since the last redraw
        self._last_redraw = 0.0
        self._epoch_offset = 0
        self.runs: list[Run] = []                     # this project's runs on disk
        self._runs_base: Path | None = None
        self.overlay_items: list[Any] = []
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
        self.data_button = QPushButton("Data…")
        self.data_button.setToolTip("The data: source, splits, augmentation, and a preview of "
                                    "its classes and samples")
        self.data_button.clicked.connect(lambda: self.open_data_dialog())
        row = QHBoxLayout()
        row.addWidget(self.data_button)
        row.addWidget(self.settings_button)
        form.addRow("", row)

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

        self.runs_box = QWidget()
        box = QVBoxLayout(self.runs_box)
        box.setContentsMargins(4, 4, 4, 4)
        self.runs_note = QLabel()
        self.runs_note.setWordWrap(True)
        self.runs_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.runs_list = QListWidget()
        self.runs_list.setFont(small)
        self.runs_list.setIconSize(QSize(12, 12))
        self.runs_list.setToolTip("This project's runs, newest first. Tick runs to draw their "
                                  "validation curves behind the current run's.")
        self.runs_list.itemChanged.connect(self._run_ticked)
        self.runs_list.currentRowChanged.connect(lambda _: self._update_run_buttons())
        self.open_run_button = QPushButton("Open folder")
        self.open_run_button.setToolTip("Show the run's files: run.json, history.json, "
                                        "model.keras, best.keras")
        self.open_run_button.clicked.connect(lambda: self.open_run_folder())
        self.use_run_button = QPushButton("Use this run")
        self.use_run_button.setToolTip("Use this run's weights (its model.keras): Continue "
                                       "trains on from them, and the Inspect dock shows them; "
                                       "its curves are shown")
        self.use_run_button.clicked.connect(lambda: self.use_run())
        self.delete_run_button = QPushButton("Delete")
        self.delete_run_button.setToolTip("Delete the run's folder (asks first)")
        self.delete_run_button.clicked.connect(lambda: self.delete_selected_run())
        run_buttons = QHBoxLayout()
        for button in (self.open_run_button, self.use_run_button, self.delete_run_button):
            run_buttons.addWidget(button)
        box.addWidget(self.runs_note)
        box.addWidget(self.runs_list, 1)
        box.addLayout(run_buttons)

        self.results_tabs = QTabWidget()
        self.results_tabs.setDocumentMode(True)
        self.results_tabs.addTab(self.runs_box, "Runs")
        self.results_tabs.addTab(self.confusion_box, "Confusion")
        self.results_tabs.setTabToolTip(1, "The confusion matrix of the evaluated split")
        self.results_tabs.addTab(self.misclassified_box, "Misclassified")
        self.results_tabs.setTabEnabled(1, False)
        self.results_tabs.setTabEnabled(2, False)
        self.results_tabs.setMinimumWidth(310)
        self.results_tabs.setMaximumWidth(440)

        self.plot_area = QWidget()
        self.plot_layout = QHBoxLayout(self.plot_area)
        self.plot_layout.setContentsMargins(0, 0, 0, 0)
        self.plot_area.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.plot_layout.addWidget(self.results_tabs)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        # a short dock scrolls the column instead of squeezing its fields
        side_scroll = QScrollArea()
        side_scroll.setWidget(side)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(272)
        side_scroll.setMaximumWidth(414)
        splitter.addWidget(side_scroll)
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
        if self._runs_base != self.runs_folder():        # saved somewhere new meanwhile
            self.refresh_runs()

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
            self.plot_layout.insertWidget(self.plot_layout.count() - 1, plot, 1)
        self.lr_plot.hide()                   # until the worker sends a rate

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
        from netbuilder.runtime.training.settings import (
            SettingsError,
            TrainingSettings,
            load_settings,
        )

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
        self._show_data()
        self.refresh_runs()

    def data_settings(self) -> dict[str, Any]:
        """The project's data: ``{"source", "options"}`` (``project.settings["data"]`` is a
        source name or that dict)."""
        data = self._project().settings.get("data")
        if isinstance(data, dict):
            options = data.get("options")
            return {"source": data.get("source"),
                    "options": dict(options) if isinstance(options, dict) else {}}
        return {"source": data if isinstance(data, str) and data else None, "options": {}}

    def _show_data(self) -> None:
        data = self.data_settings()
        source = data["source"]
        if isinstance(source, str) and source:
            self.set_data_source(source)
        aug = data["options"].get("augmentation")
        tip = self.data_combo.toolTip().split("\n\n")[0]
        extra = []
        if data["options"]:
            from netbuilder.runtime.data import describe_augmentation

            shown = {k: v for k, v in data["options"].items() if k != "augmentation"}
            if shown:
                extra.append("Options: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
            if aug:
                extra.append(f"Augmentation: {describe_augmentation(aug)}")
        self.data_combo.setToolTip("\n\n".join([tip] + extra))

    def open_data_dialog(self, modal: bool = True) -> Any:
        """Show the data dialog; OK keeps the source and options in the project (undoable).
        ``modal=False`` returns the open dialog at once (tests)."""
        from netbuilder.core.project import project_to_dict
        from netbuilder.ui.dialogs.data import DataDialog

        data = self.data_settings()
        data["source"] = self.data_source() if self.data_source() != CHOOSE_PATH \
            else data["source"]
        dialog = DataDialog(data, lambda: project_to_dict(self._project()), self.ask_data_path,
                            self)
        dialog.worker_command = self.worker_command
        self.data_dialog = dialog
        dialog.accepted.connect(lambda: self.apply_data(dialog.result_data))
        if modal:
            dialog.exec()
            dialog.deleteLater()
        else:
            dialog.open()
        return dialog

    def apply_data(self, data: dict[str, Any] | None) -> bool:
        """Keep ``data`` (``{"source", "options"}``) in project.settings["data"], through the
        window's undo stack; False when nothing changed."""
        if not data:
            return False
        project = self._project()
        old = project.settings.get("data")
        new = {"source": data["source"], "options": dict(data.get("options") or {})}
        if old == new or (old == new["source"] and not new["options"]):
            return False        # the same (a bare source name is a source without options)
        command = SetTrainingSettings(project, old, new, self._show_data, key="data")
        stack = self.undo_stack()
        if stack is not None:
            stack.push(command)
        else:
            command.redo()
        return True

    def current_settings(self) -> Any:
        """The project's training settings with the panel's fields over them (defaults where
        they cannot be read)."""
        from netbuilder.runtime.training.settings import (
            SettingsError,
            TrainingSettings,
            load_settings,
        )

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
        from netbuilder.ui.dialogs.training_settings import TrainingSettingsDialog

        graph = self._project().graph
        layers = [node.name for node in graph.nodes.values()]
        for block in graph.blocks.values():    # fine-tuning starts inside a base model too
            if block.is_model:
                layers += [block.graph.nodes[nid].name for nid in block.graph.topological_order()
                           if block.graph.nodes[nid].type != "Input"]
        dialog = TrainingSettingsDialog(self.current_settings(), self, layers=layers)
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
        from netbuilder.runtime.training.settings import (
            SettingsError,
            TrainingSettings,
            load_settings,
        )

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

    def model_problem(self) -> str | None:
        """Why the model on the canvas cannot be built (None: it can)."""
        from netbuilder.core.summary import summarize

        project = self._project()
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
        project = self._project()
        model = self.model_problem()
        if model is not None:
            return f"Cannot train: {model}."
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
        from netbuilder.core.project import project_to_dict

        source = self.data_source()
        if source not in BUILTIN_SOURCES:
            source = str(Path(source).expanduser().resolve())
        job: dict[str, Any] = {"project": project_to_dict(self._project()),
                               "data": {"source": source,
                                        "options": self.data_settings()["options"]},
                               "settings": self.changes(), "output_dir": str(output_dir)}
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
        project = self._project()
        self._remember_settings(project)
        output_dir = run_folder(self._path(), project.name)
        job = self.job(output_dir, resume)
        if not resume:
            self.clear()
        self.ensure_plots()
        self.events = []
        self.terminal = None
        self.stop_requested = False
        self.stderr_tail.clear()
        self._buffer = b""
        self.output_dir = output_dir
        self.misclassified_list.clear()
        self.misclassified = []
        self.results_tabs.setTabEnabled(1, False)
        self.results_tabs.setTabEnabled(2, False)
        self.results_tabs.setCurrentIndex(0)
        self.results_label.clear()
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.show_status("Starting the training process…")
        self._start_process(job)
        return True

    def _remember_settings(self, project: Project) -> None:
        """Keep the settings and data source (with its options) with the project (saved with
        it)."""
        training = dict(project.settings.get("training") or {})
        training.update(self.changes())
        project.settings["training"] = training
        options = self.data_settings()["options"]
        project.settings["data"] = ({"source": self.data_source(), "options": options}
                                    if options else self.data_source())

    def _command(self) -> list[str]:
        if self.worker_command is not None:
            return list(self.worker_command)
        from netbuilder.runtime.workers.client import worker_command

        return worker_command()

    def _start_process(self, job: dict[str, Any]) -> None:
        process = new_worker_process(self, stdout=self._read_stdout, stderr=self._read_stderr,
                                     finished=self._process_finished,
                                     error=self._process_error)
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
        """The editor is closing: stop the worker (a stop request, then a kill), and a data
        preview still loading."""
        dialog = getattr(self, "data_dialog", None)
        if dialog is not None and isValid(dialog):
            dialog.stop_preview()
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
                       self.optimizer_combo, self.lr_spin, self.settings_button,
                       self.data_button):
            widget.setEnabled(not running)
        self._update_run_buttons()
        self.running_changed.emit(running)

    # -- the worker's output ---------------------------------------------------------------------

    def _read_stdout(self, final: bool = False) -> None:
        if self.process is None:
            return
        lines, self._buffer = read_stdout_lines(self.process, self._buffer, final)
        for raw in lines:
            event = parse_event_line(raw)
            if event is not None:
                self.handle_event(event)

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        self.stderr_tail.extend(read_stderr_lines(self.process))

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            process = self.process
            self.handle_event({"event": "error", "kind": "start", "message":
                               f"cannot start the training process: {process.errorString()}"})
            self._end_process()

    def _process_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if self.process is None:
            return
        self._read_stdout(final=True)
        self._read_stderr()
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

    def _on_stage(self, e: dict[str, Any]) -> None:
        message = str(e.get("message") or f"stage {e.get('stage')}")
        self.show_status(message[:1].upper() + message[1:])

    def _on_warning(self, e: dict[str, Any]) -> None:
        self.show_status(f"Warning: {e.get('message')}", theme.NOTE)

    def _on_evaluation(self, e: dict[str, Any]) -> None:
        self.evaluation = e
        metrics = "  ".join(f"{k} <b>{_fmt(v)}</b>" for k, v in (e.get("metrics") or {}).items())
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
        if matrix:
            self.results_tabs.setCurrentWidget(self.confusion_box)

    def show_misclassified(self, indices: list[int], count: int, split: str,
                           event: dict[str, Any] | None = None,
                           names: Sequence[str] = ()) -> None:
        """Show the misclassified samples: a grid of thumbnails captioned "true → predicted
        (confidence)" when the evaluation event carries their images and labels, else (runs
        of older workers) a list of their indices in the evaluated split."""
        event = event or {}
        self.misclassified = [int(i) for i in indices]
        listing = self.misclassified_list
        listing.clear()
        images = None
        if event.get("misclassified_images"):
            from netbuilder.runtime.training.engine import decode_images

            try:
                images = decode_images(event["misclassified_images"])
            except (KeyError, TypeError, ValueError):
                images = None
        true = list(event.get("misclassified_true") or [])
        pred = list(event.get("misclassified_pred") or [])
        confidence = list(event.get("misclassified_confidence") or [])

        def name(k: Any) -> str:
            try:
                k = int(k)
            except (TypeError, ValueError):
                return "?"
            return str(names[k]) if 0 <= k < len(names) else str(k)

        if count == 0:
            self.misclassified_title.setText(f"No misclassified {split} samples.")
        else:
            shown = len(self.misclassified)
            more = f", the first {shown} shown" if shown < count else ""
            self.misclassified_title.setText(f"Misclassified {split} samples: {count}{more}"
                                             + (". True → predicted (confidence)."
                                                if images is not None else "."))
        if images is not None and len(images):
            from netbuilder.ui.dialogs.data import thumbnail

            size = MISCLASSIFIED_THUMB
            listing.setViewMode(QListView.ViewMode.IconMode)
            listing.setFlow(QListView.Flow.LeftToRight)
            listing.setWrapping(True)
            listing.setResizeMode(QListView.ResizeMode.Adjust)
            listing.setMovement(QListView.Movement.Static)
            listing.setIconSize(QSize(size, size))
            listing.setGridSize(QSize(size + 34, size + 34))
            listing.setWordWrap(True)
            listing.setUniformItemSizes(True)
            listing.setSpacing(2)
            for k, image in enumerate(images):
                t = true[k] if k < len(true) else None
                p = pred[k] if k < len(pred) else None
                c = confidence[k] if k < len(confidence) else None
                conf = f" ({c:.0%})" if isinstance(c, (int, float)) else ""
                caption = f"{name(t)} → {name(p)}{conf}"
                index = self.misclassified[k] if k < len(self.misclassified) else k
                item = QListWidgetItem(QIcon(thumbnail(image, size)), caption)
                sure = f" with {c:.1%} confidence" if conf else ""
                item.setToolTip(f"{split} sample #{index}: true {name(t)}, predicted "
                                f"{name(p)}{sure}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                listing.addItem(item)
        else:
            listing.setViewMode(QListView.ViewMode.ListMode)
            listing.setGridSize(QSize())
            listing.setIconSize(QSize())
            listing.setWrapping(False)
            for k, i in enumerate(self.misclassified):
                text = f"{split} sample #{i}"
                if k < len(true) and k < len(pred):
                    text += f": {name(true[k])} → {name(pred[k])}"
                listing.addItem(text)
        listing.setVisible(bool(listing.count()))
        index = self.results_tabs.indexOf(self.misclassified_box)
        self.results_tabs.setTabEnabled(index, True)
        self.results_tabs.setTabText(index, f"Misclassified ({count})")

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

    # -- runs kept with the project -------------------------------------------------------------

    def runs_folder(self) -> Path:
        project = self._project()
        return runs_base(self._path(), project.name)

    def refresh_runs(self) -> None:
        """Read this project's runs from disk again (ticked runs stay ticked)."""
        from netbuilder.core.project import project_to_dict
        from netbuilder.ui.panels.training.runs import graph_signature

        ticked = {r.folder for r in self.ticked_runs()}
        current = self.runs_list.currentItem()
        selected = current.data(Qt.ItemDataRole.UserRole).folder if current else None
        base = self.runs_folder()
        self._runs_base = base
        self.runs = list_runs(base)
        signature = graph_signature(project_to_dict(self._project()))
        listing = self.runs_list
        listing.blockSignals(True)
        listing.clear()
        for k, run in enumerate(self.runs):
            text = run.describe()
            tip = [run.details()]
            item = QListWidgetItem()
            if run.signature is not None and run.signature != signature:
                text += "\n⚠ trained an earlier version of the graph"
                tip.append("This run trained an earlier version of the graph: its weights may "
                           "not fit the model on the canvas.")
                item.setForeground(QBrush(theme.MUTED))
            if self.output_dir is not None and run.folder == self.output_dir:
                bold = item.font()
                bold.setBold(True)
                item.setFont(bold)
                tip.append("Its curves are the ones shown.")
            item.setText(text)
            item.setToolTip("\n".join(tip))
            item.setData(Qt.ItemDataRole.UserRole, run)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if run.folder in ticked
                               else Qt.CheckState.Unchecked)
            self._color_run_item(item, k)
            listing.addItem(item)
            if run.folder == selected:
                listing.setCurrentItem(item)
        listing.blockSignals(False)
        if self._path() is None:
            self.runs_note.setText(f"This project is not saved: its runs are kept in a "
                                   f"temporary folder ({base}). Save the project to keep them "
                                   f"beside it.")
        elif self.runs:
            self.runs_note.setText(f"Runs kept in {base.name}/ beside the project. Tick runs "
                                   f"to compare their validation curves.")
        else:
            self.runs_note.setText(f"No runs yet. Each run is kept in {base.name}/ beside the "
                                   "project.")
        self._update_run_buttons()
        self._overlay_dirty = True
        self.refresh_plots()

    def _color_run_item(self, item: QListWidgetItem, k: int) -> None:
        if item.checkState() == Qt.CheckState.Checked:
            pixmap = QPixmap(12, 12)
            pixmap.fill(QColor(RUN_COLORS[k % len(RUN_COLORS)]))
            item.setIcon(QIcon(pixmap))
        else:
            item.setIcon(QIcon())

    def ticked_runs(self) -> list[Run]:
        out = []
        for k in range(self.runs_list.count()):
            item = self.runs_list.item(k)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def set_run_ticked(self, row: int, ticked: bool) -> None:
        self.runs_list.item(row).setCheckState(Qt.CheckState.Checked if ticked
                                               else Qt.CheckState.Unchecked)

    def _run_ticked(self, item: QListWidgetItem) -> None:
        self.runs_list.blockSignals(True)
        self._color_run_item(item, self.runs_list.row(item))
        self.runs_list.blockSignals(False)
        self._overlay_dirty = True
        self.refresh_plots()

    def selected_run(self) -> Run | None:
        item = self.runs_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _update_run_buttons(self) -> None:
        run = self.selected_run()
        self.open_run_button.setEnabled(run is not None)
        busy = self.is_running()
        self.use_run_button.setEnabled(run is not None and not busy
                                       and run.model_path.is_file())
        self.delete_run_button.setEnabled(run is not None and not (
            busy and self.output_dir is not None and run.folder == self.output_dir))

    def open_run_folder(self) -> bool:
        run = self.selected_run()
        if run is None:
            return False
        return self.open_url(QUrl.fromLocalFile(str(run.folder)))

    def open_url(self, url: QUrl) -> bool:
        """Open a folder in the file manager (tests replace this)."""
        return QDesktopServices.openUrl(url)

    def use_run(self, run: Run | None = None) -> bool:
        """Show ``run``'s curves as the current ones and make Continue train on from its
        weights (its model.keras); ``run_chosen`` tells the Inspect dock."""
        run = run or self.selected_run()
        if run is None or self.is_running():
            return False
        if not run.model_path.is_file():
            self.show_error(f"The run {run.name} has no model.keras to continue from.")
            return False
        from netbuilder.core.project import project_to_dict
        from netbuilder.ui.panels.training.runs import graph_signature

        self.clear()
        self.ensure_plots()
        self.history = {k: list(v) for k, v in run.history.items()}
        self.epoch_x = run.epoch_numbers()
        self.epochs_done = run.initial_epoch + run.epochs
        self.metric_name = run.metric
        self.last_model = run.model_path
        self.output_dir = run.folder
        self._dirty = True
        self.refresh_plots()
        self._set_running(False)
        text = (f"Continue will train on from the run of {run.when()} "
                f"({self.epochs_done} epochs, its model.keras).")
        if run.signature is not None and run.signature != graph_signature(
                project_to_dict(self._project())):
            self.show_status(text + " That run trained an earlier version of the graph: its "
                                    "weights may not fit.", theme.NOTE)
        else:
            self.show_status(text)
        self.refresh_runs()
        self.run_chosen.emit({"event": "finished", "reason": run.reason,
                              "model_path": str(run.model_path), "output_dir": str(run.folder)})
        return True

    def confirm_delete(self, run: Run) -> bool:
        """Ask before deleting a run (tests replace this)."""
        answer = QMessageBox.question(
            self, "Delete run", f"Delete the run of {run.when()} and its files "
                                f"(model, checkpoint, history)?\n\n{run.folder}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def delete_selected_run(self) -> bool:
        run = self.selected_run()
        if run is None:
            return False
        if self.is_running() and self.output_dir is not None and run.folder == self.output_dir:
            self.show_error("This run is training now: stop it before deleting it.")
            return False
        if not self.confirm_delete(run):
            return False
        try:
            delete_run(run, self.runs_folder())
        except OSError as err:
            self.show_error(f"Could not delete the run: {err}")
            return False
        if self.last_model is not None and self.last_model.parent == run.folder:
            self.last_model = None
            self._set_running(False)
        self.show_status(f"Deleted the run of {run.when()}.")
        self.refresh_runs()
        return True

    def _draw_overlays(self) -> None:
        import pyqtgraph as pg

        self._overlay_dirty = False
        for plot, item in self.overlay_items:
            plot.removeItem(item)
        self.overlay_items = []
        for k in range(self.runs_list.count()):
            entry = self.runs_list.item(k)
            if entry.checkState() != Qt.CheckState.Checked:
                continue
            run: Run = entry.data(Qt.ItemDataRole.UserRole)
            label = run.when()
            xs = run.epoch_numbers()
            metric = self.metric_name
            if not metric or f"val_{metric}" not in run.history:
                metric = run.metric
            color = QColor(RUN_COLORS[k % len(RUN_COLORS)])
            for plot, key in ((self.loss_plot, "val_loss"),
                              (self.metric_plot, f"val_{metric}" if metric else None)):
                if key is None:
                    continue
                pairs = [(a, b) for a, b in zip(xs, run.history.get(key) or []) if b == b]
                if not pairs:
                    continue
                item = pg.PlotDataItem([a for a, _ in pairs], [b for _, b in pairs],
                                       pen=pg.mkPen(color, width=1.5,
                                                    style=Qt.PenStyle.DashLine))
                item.setZValue(-10)
                item.setToolTip(f"run {label}: {key}")
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
        self.metric_name = None
        self.epochs_done = 0
        self.last_model = None
        self.evaluation = None
        self._info = ""
        self._dirty = True
        self.refresh_plots()

    def _refresh_if_dirty(self) -> None:
        if self._dirty or (self._batch_dirty
                           and time.monotonic() - self._last_redraw >= BATCH_REDRAW_S):
            self.refresh_plots()

    def refresh_plots(self) -> None:
        """Give the curves their data (setData; called at most ten times a second while
        training)."""
        self._dirty = self._batch_dirty = False
        self._last_redraw = time.monotonic()
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
        metric = self.metric_name
        set_curve("metric", x, series(metric))
        set_curve("val_metric", x, series(f"val_{metric}" if metric else None))
        rates = self.learning_rates()
        rates = rates[:n] + [float("nan")] * (n - len(rates[:n]))
        set_curve("learning_rate", x, rates)
        known = [r for r in rates if r == r]
        # a constant rate says nothing a curve would show: the plot appears once it changes
        self.lr_plot.setVisible(len(known) > 1 and max(known) - min(known) > 1e-12)
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
