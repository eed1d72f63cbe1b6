"""The Inspect dock: what the network computes for one input — feature maps of the layer selected
on the canvas, a conv layer's filters, the top-k predictions, Grad-CAM, and layer statistics.

The model runs in the inspection worker (``python -m netbuilder.runtime.workers.inspection``, see
``runtime/workers/protocol.py``), started through ``WorkerClient`` the first time the dock needs it
and kept: the editor never imports TensorFlow and never waits. Requests are JSON lines with an id;
replies are read as they arrive (``readyRead``). Only the newest request of each kind is drawn:
a reply for an older selection, input or model is dropped. The graph is sent again (debounced)
after every edit; a worker that crashes is restarted with a message.

Weights: the project's weights file if it has one, else untrained; after a training run, that
run's model; during training, with "refresh after each epoch", the weights the training worker
writes after every epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core.graph import Event, Graph
from netbuilder.core.project import Project
from netbuilder.runtime.workers.client import INSPECTION_WORKER
from netbuilder.runtime.workers.protocol import is_reply
from netbuilder.ui import theme
from netbuilder.ui.panels.inspect.captions import (
    UNTRAINED_TIP,
    weights_caption,
)
from netbuilder.ui.panels.inspect.drawing import AUTO_LAYER, TOP_PREDICTION, ReplyDrawing
from netbuilder.ui.panels.inspect.inputs import InputChooser
from netbuilder.ui.workers import WorkerClient

PROCESS_NAME = "inspection process"
RELOAD_DELAY_MS = 400         # the model is rebuilt this long after the last edit
MAX_RESTARTS = 3              # crashes in a row before the worker is no longer restarted
TTA_COPIES = 8          # the predictions' TTA when the training settings choose none
TTA_TIP = ("Test-time augmentation: average the predictions over augmented copies of the "
           "input (the training data's augmentation); the caption shows both")
TTA_OFF_TIP = "Test-time augmentation needs augmentation: set it in the data settings (Data…)"
VIEWS = ("maps", "filters", "predict", "gradcam", "stats")
COLORMAPS = ("viridis", "inferno", "magma", "gray", "turbo", "cividis")


class InspectPanel(ReplyDrawing, QWidget):
    """The Inspect dock's contents. ``project()`` is the window's project, ``project_weights()``
    its weights file (or None), ``data_source()`` the training data chosen in the Training
    panel."""

    drawn = Signal(str)              # a view was drawn from a reply: "maps", "filters"...
    live_weights_wanted = Signal(bool)   # "refresh after each epoch" toggled

    def __init__(self, project: Callable[[], Project],
                 project_weights: Callable[[], Path | None] | None = None,
                 data_source: Callable[[], Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspectPanel")
        self._project = project
        self._project_weights = project_weights or (lambda: None)
        self.client = WorkerClient(PROCESS_NAME, INSPECTION_WORKER, self)
        self.client.event.connect(self._message)
        self.client.crashed.connect(self._ended)
        self.graph: Graph | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.selection: list[str] = []          # names of the layers selected on the canvas
        self.generation = 0                     # one per model sent
        self.model: dict[str, Any] | None = None   # the last "load" result
        self.model_dirty = True
        self.load_id: int | None = None
        self.load_error: str | None = None
        self.pending: dict[int, tuple[str, int, Any]] = {}   # id -> (view, generation, context)
        self.latest: dict[str, int] = {}        # view -> id of its newest request
        self.sent_at: dict[int, float] = {}
        self.weights: str | None = None         # a run's weights (None: the project's)
        self.weights_text = "untrained"
        self.run_weights_failed: str | None = None
        self.live_epoch: int | None = None
        self.class_names: list[str] = []
        self.crashes = 0
        self.last_ms: float | None = None
        self.restart_note = ""                  # shown after the worker was restarted
        self.seen: bool | None = None           # None: seen while visible (see set_seen)
        self._dirty_view = True

        self._build(data_source or (lambda: "digits"))
        self.reload_timer = QTimer(self)
        self.reload_timer.setSingleShot(True)
        self.reload_timer.setInterval(RELOAD_DELAY_MS)
        self.reload_timer.timeout.connect(self.refresh)
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setSingleShot(True)
        self.refresh_timer.setInterval(0)
        self.refresh_timer.timeout.connect(self.refresh)

    # -- layout --------------------------------------------------------------------------------

    def _build(self, data_source: Callable[[], Any]) -> None:
        """The controls; the pictures (pyqtgraph, numpy) come with ``ensure_views``, when the
        panel is first shown, so that they never slow the editor's start."""
        self.maps: Any = None
        self.filters: Any = None
        self.predictions: Any = None
        self.gradcam: Any = None
        self.stats: Any = None
        self.status_label = QLabel("The model runs when this panel is first shown.")
        self.status_label.setWordWrap(True)
        self.weights_label = QLabel()
        self.weights_label.setToolTip("Which weights the model has here")
        self.live_check = QCheckBox("Refresh after each epoch")
        self.live_check.setToolTip("While training, use the weights of the latest epoch and "
                                   "redraw the view after every epoch")
        self.live_check.toggled.connect(self.live_weights_wanted.emit)
        self.inputs = InputChooser(data_source)
        self.inputs.changed.connect(self._input_changed)
        scroll = QScrollArea()
        scroll.setWidget(self.inputs)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side = QWidget()
        side.setMinimumWidth(190)
        side.setMaximumWidth(260)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(scroll, 1)

        def caption() -> QLabel:
            label = QLabel()
            label.setStyleSheet("font-weight: 600;")
            label.setTextFormat(Qt.TextFormat.RichText)
            return label

        # feature maps
        self.maps_caption = caption()
        self.per_channel_check = QCheckBox("Normalise each channel")
        self.per_channel_check.setChecked(True)
        self.per_channel_check.setToolTip("Scale every channel to its own range (off: one range "
                                          "for the whole layer, to compare channels)")
        self.per_channel_check.toggled.connect(
            lambda on: self.maps is not None and self.maps.set_per_channel(on))
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(list(COLORMAPS))
        self.colormap_combo.setToolTip("The colours of the values, low to high")
        self.colormap_combo.currentTextChanged.connect(
            lambda name: self.maps is not None and self.maps.set_colormap(name))
        maps_hint = QLabel("Click a channel to zoom into it")
        maps_hint.setStyleSheet(f"color: {theme.MUTED.name()};")
        maps_hint.setWordWrap(True)  # the dock fits a laptop beside the side docks
        maps_bar = QHBoxLayout()
        maps_bar.addWidget(maps_hint, 1)
        maps_bar.addWidget(self.per_channel_check)
        maps_bar.addWidget(QLabel("Colours"))
        maps_bar.addWidget(self.colormap_combo)

        # filters
        self.filters_caption = caption()
        self.filter_channel_combo = QComboBox()
        self.filter_channel_combo.setToolTip("Which input channel of each kernel to show")
        self.filter_channel_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.filter_channel_combo.activated.connect(self._filter_channel_chosen)
        self.filter_colormap = QComboBox()
        self.filter_colormap.addItems(["gray"] + [c for c in COLORMAPS if c != "gray"])
        self.filter_colormap.currentTextChanged.connect(
            lambda name: self.filters is not None and self.filters.set_colormap(name))
        filters_bar = QHBoxLayout()
        filters_bar.addStretch(1)
        filters_bar.addWidget(QLabel("Show"))
        filters_bar.addWidget(self.filter_channel_combo)
        filters_bar.addWidget(QLabel("Colours"))
        filters_bar.addWidget(self.filter_colormap)

        # predictions
        self.predict_caption = caption()
        self.top_spin = QSpinBox()
        self.top_spin.setRange(1, 20)
        self.top_spin.setValue(5)
        self.top_spin.valueChanged.connect(lambda _v: self.request_refresh())
        self.tta_check = QCheckBox()
        self.tta_check.toggled.connect(lambda _on: self.request_refresh())
        predict_bar = QHBoxLayout()
        predict_bar.addWidget(self.tta_check)
        predict_bar.addStretch(1)
        predict_bar.addWidget(QLabel("Top"))
        predict_bar.addWidget(self.top_spin)

        # Grad-CAM
        self.gradcam_caption = caption()
        self.gradcam_caption.setWordWrap(True)
        self.class_combo = QComboBox()
        self.class_combo.addItem(TOP_PREDICTION, None)
        self.class_combo.setToolTip("The class whose evidence the heat map shows")
        self.class_combo.activated.connect(lambda _i: self.request_refresh())
        self.cam_layer_combo = QComboBox()
        self.cam_layer_combo.addItem(AUTO_LAYER, None)
        self.cam_layer_combo.setToolTip("The conv layer whose maps Grad-CAM weighs")
        self.cam_layer_combo.activated.connect(lambda _i: self.request_refresh())
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(70)
        self.alpha_slider.setMaximumWidth(90)
        self.alpha_slider.setToolTip("How opaque the heat map's hottest regions are")
        self.alpha_slider.valueChanged.connect(
            lambda v: self.gradcam is not None and self.gradcam.set_alpha(v / 100))
        cam_bar = QHBoxLayout()
        cam_bar.addWidget(QLabel("Class"))
        cam_bar.addWidget(self.class_combo)
        cam_bar.addWidget(QLabel("Layer"))
        cam_bar.addWidget(self.cam_layer_combo)
        cam_bar.addWidget(QLabel("Opacity"))
        cam_bar.addWidget(self.alpha_slider)
        cam_bar.addStretch(1)

        # statistics
        self.stats_caption = caption()
        self.count_spin = QSpinBox()
        self.count_spin.setRange(2, 4096)
        self.count_spin.setValue(64)
        self.count_spin.setToolTip("How many samples of the training data the statistics use")
        self.count_spin.valueChanged.connect(lambda _v: self.request_refresh())
        stats_bar = QHBoxLayout()
        stats_bar.addStretch(1)
        stats_bar.addWidget(QLabel("Samples"))
        stats_bar.addWidget(self.count_spin)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._pages: dict[str, QVBoxLayout] = {}
        for view, bar, extra, title in (
                ("maps", maps_bar, self.maps_caption, "Feature maps"),
                ("filters", filters_bar, self.filters_caption, "Filters"),
                ("predict", predict_bar, self.predict_caption, "Predictions"),
                ("gradcam", cam_bar, self.gradcam_caption, "Grad-CAM"),
                ("stats", stats_bar, self.stats_caption, "Statistics")):
            page = QWidget()
            page_layout = QVBoxLayout(page)
            page_layout.setContentsMargins(4, 4, 4, 0)
            page_layout.setSpacing(4)
            page_layout.addLayout(bar)
            if extra is not None:
                page_layout.addWidget(extra)
            self._pages[view] = page_layout
            self.tabs.addTab(page, title)
        self.tabs.currentChanged.connect(lambda _i: self.request_refresh())

        body = QHBoxLayout()
        body.setSpacing(10)
        body.addWidget(side)
        body.addWidget(self.tabs, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        top = QHBoxLayout()           # what runs and on which weights, over the whole width
        top.addWidget(self.status_label, 1)
        top.addWidget(self.weights_label)
        top.addSpacing(8)
        top.addWidget(self.live_check)
        layout.addLayout(top)
        layout.addLayout(body, 1)

    def ensure_views(self) -> None:
        """Make the pictures (imports numpy and pyqtgraph) the first time they are needed."""
        if self.maps is not None:
            return
        from netbuilder.ui.panels.inspect.views import (
            FilterGrid,
            GradCamView,
            MapGrid,
            PredictionBars,
            StatsTable,
        )

        self.maps = MapGrid()
        self.maps.per_channel = self.per_channel_check.isChecked()
        self.maps.colormap = self.colormap_combo.currentText()
        self.filters = FilterGrid()
        self.filters.colormap = self.filter_colormap.currentText()
        self.predictions = PredictionBars()
        self.gradcam = GradCamView()
        self.gradcam.set_alpha(self.alpha_slider.value() / 100)
        self.stats = StatsTable()
        for view, widget in (("maps", self.maps), ("filters", self.filters),
                             ("predict", self.predictions), ("gradcam", self.gradcam),
                             ("stats", self.stats)):
            self._pages[view].addWidget(widget, 1)

    def current_view(self) -> str:
        return VIEWS[self.tabs.currentIndex()]

    def show_view(self, view: str) -> None:
        self.tabs.setCurrentIndex(VIEWS.index(view))

    # -- the project -----------------------------------------------------------------------------

    def set_project(self) -> None:
        """The window shows another project: follow its graph, forget the old run's weights."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.graph = self._project().graph
        self._unsubscribe = self.graph.subscribe(self._graph_changed)
        self.weights = None
        self.live_epoch = None
        self.selection = []
        self.model = None
        self.model_dirty = True
        self.inputs.sync()
        self.sync_tta()
        self._show_weights()
        self.request_refresh()

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _input_changed(self) -> None:
        self.crashes = 0          # a new try after repeated crashes
        self.request_refresh()

    def _graph_changed(self, event: Event) -> None:
        if event.kind == "node_moved":
            return
        self.crashes = 0
        self.model_dirty = True
        self.reload_timer.start()

    def set_selection(self, names: list[str]) -> None:
        """The layers selected on the canvas (their names)."""
        if names == self.selection:
            return
        self.selection = list(names)
        if self.current_view() in ("maps", "filters"):
            self.request_refresh()

    def inspect_layer(self, name: str) -> None:
        """Show one layer's feature maps (the canvas' "Inspect layer")."""
        self.selection = [name]
        self.show_view("maps")
        self.request_refresh()

    def tta_copies(self) -> int:
        """How many augmented copies the predictions' TTA averages: the training settings'
        ``tta``, else 8."""
        training = self._project().settings.get("training")
        copies = training.get("tta") if isinstance(training, dict) else None
        return copies if isinstance(copies, int) and not isinstance(copies, bool) and (
            copies > 0) else TTA_COPIES

    def sync_tta(self) -> None:
        """The TTA box: its number of copies, and enabled only when the training data has
        augmentation (the tooltip says why not)."""
        augmented = self.inputs.augmentation() is not None
        self.tta_check.setText(f"TTA ×{self.tta_copies()}")
        self.tta_check.setEnabled(augmented)
        self.tta_check.setToolTip(TTA_TIP if augmented else TTA_OFF_TIP)

    def tta_request(self) -> dict[str, Any] | None:
        """The predict request's ``tta`` object, or None when TTA is off or cannot work."""
        self.sync_tta()
        aug = self.inputs.augmentation()
        if not self.tta_check.isChecked() or aug is None:
            return None
        return {"copies": self.tta_copies(), "augmentation": aug, "seed": 0}

    def data_source_changed(self) -> None:
        self.sync_tta()
        self.inputs.sync()
        if self.inputs.kind() == "dataset" or self.current_view() == "stats":
            self.request_refresh()

    # -- weights from training --------------------------------------------------------------------

    def training_event(self, event: dict[str, Any]) -> None:
        """An event of the training worker (the Training panel forwards them)."""
        kind = event.get("event")
        if kind == "epoch":
            self.live_epoch = int(event.get("epoch") or 0)
        elif kind == "weights" and self.live_check.isChecked() and event.get("path"):
            self.weights = str(event["path"])
            epoch = self.live_epoch if self.live_epoch is not None else "?"
            self.weights_text = f"live (epoch {epoch})"
            self.run_weights_failed = None
            self._use_weights()
        elif kind == "train_begin":
            self.live_epoch = None

    def training_finished(self, event: dict[str, Any]) -> None:
        """A training run ended: inspect its model from now on."""
        path = event.get("model_path")
        if event.get("event") != "finished" or not path:
            return
        self.weights = str(path)
        folder = Path(str(event.get("output_dir") or Path(str(path)).parent))
        self.weights_text = f"from run {folder.name}"
        self.live_epoch = None
        self.run_weights_failed = None
        self._use_weights()

    def _use_weights(self) -> None:
        self._show_weights()
        if self.model is not None and not self.model_dirty and self.client.running():
            rid = self.client.request("reload_weights", weights=self.weights)
            self.pending[rid] = ("reload_weights", self.generation, self.weights)
            self.latest["reload_weights"] = rid
            self.request_refresh()
        else:
            self.model_dirty = True
            self.request_refresh()

    def weights_path(self) -> str | None:
        if self.weights and not self.run_weights_failed:
            return self.weights
        project_weights = self._project_weights()
        return str(project_weights) if project_weights else None

    def _show_weights(self) -> None:
        run = self.weights_text if self.weights and not self.run_weights_failed else None
        self.weights_label.setText(weights_caption(run, bool(self._project_weights()),
                                                   bool(self.run_weights_failed)))
        self.weights_label.setToolTip(self.weights_path() or UNTRAINED_TIP)

    # -- requests -----------------------------------------------------------------------------

    def request_refresh(self) -> None:
        self.refresh_timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty_view and self.is_seen():
            self.request_refresh()

    def set_seen(self, seen: bool) -> None:
        """Whether the user can see the panel (its dock's ``visibilityChanged``: a dock behind
        another tab counts as hidden). Nothing runs while it is not seen."""
        self.seen = seen
        if seen and self._dirty_view:
            self.request_refresh()

    def is_seen(self) -> bool:
        return self.isVisible() if self.seen is None else self.seen and self.isVisible()

    def problem(self) -> str | None:
        """Why the model cannot run (None: it can)."""
        project = self._project()
        graph = project.graph
        if not graph.nodes:
            return "The model is empty: add some layers to inspect it."
        if not any(node.type == "Input" for node in graph.nodes.values()):
            return "Fix the graph first: the model has no Input layer."
        errors = graph.inference.errors()
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return f"Fix the graph first: {errors[0]}{more}."
        return None

    def refresh(self) -> None:
        """Ask the worker for what the current tab shows (loading the model first if the graph
        changed). Does nothing while the panel is hidden."""
        if not self.is_seen():
            self._dirty_view = True
            return
        self._dirty_view = False
        self.ensure_views()
        why = self.problem()
        if why is not None:
            self.model = None
            self.model_dirty = True
            self.set_status(why, error=True)
            self._show_in_view(why)
            return
        if self.crashes >= MAX_RESTARTS and not self.client.running():
            return
        if self.model_dirty:
            self._load()
            return
        if self.model is None:        # loading, or it failed (the status says which)
            return
        self._request_view()

    def _load(self) -> None:
        from netbuilder.core.project import project_to_dict

        self.model_dirty = False
        self.model = None
        self.load_error = None
        self.generation += 1
        if not self.client.running():
            self.set_status("Starting the inspection process (TensorFlow takes a few seconds)…")
        else:
            self.set_status("Building the model…")
        rid = self.client.request("load", project=project_to_dict(self._project()),
                               weights=self.weights_path())
        self.load_id = rid
        self.pending[rid] = ("load", self.generation, None)

    def layer_names(self) -> list[str]:
        return [str(entry.get("name")) for entry in (self.model or {}).get("layers", [])]

    def conv_layers(self) -> list[str]:
        return [str(e.get("name")) for e in (self.model or {}).get("layers", [])
                if e.get("conv")]

    def chosen_layer(self, kernels: bool = False) -> str | None:
        """The layer selected on the canvas, else the first conv layer (for filters: the first
        layer with a kernel)."""
        if len(self.selection) == 1:
            return self.selection[0]
        pool = [str(e.get("name")) for e in (self.model or {}).get("layers", [])
                if (e.get("has_kernel") and e.get("conv")) or (not kernels and e.get("conv"))]
        return pool[0] if pool else None

    def _send(self, view: str, action: str, context: Any = None, **fields: Any) -> int:
        rid = self.client.request(action, **fields)
        self.pending[rid] = (view, self.generation, context)
        self.latest[view] = rid
        self.sent_at[rid] = time.perf_counter()
        return rid

    def _request_view(self) -> None:
        view = self.current_view()
        if view == "maps":
            self.request_maps(self.chosen_layer())
        elif view == "filters":
            layer = self.chosen_layer(kernels=True)
            if layer is None:
                self._show_in_view("This model has no convolution layer: filters are the "
                                   "kernels of a Conv layer.")
                return
            info = self.layer_info(layer)
            if info is not None and not (info.get("has_kernel") and info.get("conv")):
                convs = [n for n in self.conv_layers()
                         if (self.layer_info(n) or {}).get("has_kernel")]
                hint = f" Try {', '.join(convs[:3])}." if convs else ""
                what = "is not a convolution" if info.get("has_kernel") else \
                    "has no kernel to show"
                self._show_in_view(f"{layer} {what}: filters are the kernels of a convolution "
                                   f"layer; select one on the canvas.{hint}")
                self.filters_caption.setText(layer)
                return
            self._send("filters", "filters", layer, layer=layer)
        elif view == "predict":
            spec = self._input_or_message()
            if spec is not None:
                tta = self.tta_request()
                extra = {"tta": tta} if tta is not None else {}
                self._send("predict", "predict", None, input=spec, top=self.top_spin.value(),
                           **extra)
        elif view == "gradcam":
            spec = self._input_or_message()
            if spec is not None:
                self._send("gradcam", "gradcam", None, input=spec,
                           class_index=self.class_combo.currentData(),
                           layer=self.cam_layer_combo.currentData())
        elif view == "stats":
            self.stats_caption.setText("Computing statistics…")
            self._send("stats", "stats", None,
                       input=self.inputs.batch_spec(self.count_spin.value()))

    def request_maps(self, layer: str | None) -> int | None:
        """Ask for one layer's output on the chosen input; its request id."""
        if layer is None:
            self._show_in_view("Select a layer on the canvas to see its output.")
            return None
        if self.model is not None and self.layer_info(layer) is None:
            self._show_in_view(f"{layer} is not a layer of the built model yet (it is being "
                               "rebuilt, or this block only passes its input on).")
            return None
        spec = self._input_or_message()
        if spec is None:
            return None
        return self._send("maps", "activations", layer, layers=[layer], input=spec)

    def _input_or_message(self) -> dict[str, Any] | None:
        spec = self.inputs.spec()
        if spec is None:
            self._show_in_view("Choose an image file (Input, on the left).")
        return spec

    def _show_in_view(self, text: str) -> None:
        view = self.current_view()
        for caption in (self.maps_caption, self.filters_caption, self.predict_caption,
                        self.gradcam_caption):
            caption.clear()
        if view == "maps":
            self.maps.show_message(text)
        elif view == "filters":
            self.filters.show_message(text)
        elif view == "predict":
            self.predictions.set_top([], text)
        elif view == "gradcam":
            self.gradcam.show_message(text)
        elif view == "stats":
            self.stats.setRowCount(0)
            self.stats_caption.setText(text)

    def set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {theme.ERROR.name()};" if error else "")

    # -- replies ----------------------------------------------------------------------------------

    def _message(self, message: dict[str, Any]) -> None:
        if is_reply(message):
            self._reply(message)
        else:
            self._event(message)

    def _event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "status" and self.model is None:
            message = str(event.get("message", ""))
            self.set_status(message[:1].upper() + message[1:] + "…")

    def _ended(self, reason: str) -> None:
        message = reason[:1].upper() + reason[1:]
        self.crashes += 1
        self.pending.clear()
        self.latest.clear()
        self.model = None
        self.model_dirty = True
        if self.crashes >= MAX_RESTARTS:
            self.set_status(f"{message}. It ended {self.crashes} times in a row, so it is not "
                            "restarted: change the model or the input to try again.", error=True)
            return
        self.set_status(f"{message}. Restarting it…", error=True)
        self.restart_note = f"restarted after: {message[:1].lower()}{message[1:]}"
        QTimer.singleShot(300, self, self.request_refresh)

    def _reply(self, reply: dict[str, Any]) -> None:
        rid = reply.get("id")
        entry = self.pending.pop(rid, None) if isinstance(rid, int) else None
        if entry is None:
            return
        view, generation, context = entry
        started = self.sent_at.pop(rid, None)
        if generation != self.generation or self.latest.get(view, rid) != rid:
            return                         # an older model, selection or input: drop it
        if view == "load":
            self._loaded(reply)
            return
        if reply.get("ok"):
            self.crashes = 0
        error = reply.get("error") or {}
        if view == "reload_weights":
            if not reply.get("ok"):
                self.set_status(f"Cannot use the new weights: {error.get('message')}",
                                error=True)
            return
        if not reply.get("ok"):
            message = str(error.get("message") or "the inspection failed")
            self._show_in_view(message)
            if view == "maps":
                self.maps_caption.setText(str(context or ""))
            return
        result = reply.get("result") or {}
        if started is not None:
            self.last_ms = (time.perf_counter() - started) * 1000
        try:
            getattr(self, f"_draw_{view}")(result, context)
        except Exception as err:  # noqa: BLE001 - a malformed reply is shown, never raised
            self._show_in_view(f"Cannot show the worker's reply: {err}")
            return
        self._set_ready_status(result)
        self.drawn.emit(view)

    def _set_ready_status(self, result: dict[str, Any]) -> None:
        ms = result.get("ms")
        name = (self.model or {}).get("name") or self._project().name
        params = (self.model or {}).get("params")
        text = f"Model {name}" + (f" · {params:,} parameters" if isinstance(params, int)
                                  else "")
        if isinstance(ms, (int, float)):
            text += f" · computed in {ms:.0f} ms"
        if self.restart_note:
            text += f" · the inspection process was {self.restart_note}"
        self.set_status(text)

    def _loaded(self, reply: dict[str, Any]) -> None:
        if not reply.get("ok"):
            error = reply.get("error") or {}
            if error.get("kind") == "weights" and self.weights and not self.run_weights_failed:
                self.run_weights_failed = str(error.get("message"))
                self._show_weights()
                self.model_dirty = True        # again, untrained
                self.refresh()
                return
            self.load_error = str(error.get("message") or "the model cannot be built")
            what = "Fix the graph first" if error.get("kind") == "build" else \
                "Cannot load the model"
            self.set_status(f"{what}: {self.load_error}", error=True)
            self._show_in_view(f"{what}: {self.load_error}")
            return
        self.crashes = 0
        self.model = reply.get("result") or {}
        self._show_weights()
        self._fill_layer_combos()
        self._set_ready_status({})
        self._request_view()

    # -- closing ----------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """The editor is closing: end the worker."""
        self.detach()
        self.reload_timer.stop()
        self.refresh_timer.stop()
        self.client.close()
