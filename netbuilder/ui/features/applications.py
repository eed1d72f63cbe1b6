"""Keras Applications in the editor: the "Keras Application…" dialog, placing one as a block node
(one undo step), the Inspector's freezing controls ("Frozen", "Fine-tune from layer"), and the
transfer-learning recipes (a classifier head; two-stage fine-tuning wired into the training
settings).

Keras is only imported in background jobs (``import_dialog.Job``): making the Application's
layers and looking for its ImageNet weights in Keras' cache take seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QUndoStack
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core import freezing
from netbuilder.core.blocks import Block
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError
from netbuilder.core.recipes import (
    DEFAULT_DROPOUT,
    DEFAULT_FINE_TUNE_EPOCHS,
    DEFAULT_FINE_TUNE_LEARNING_RATE,
    classifier_head,
    known_classes,
    suggested_fine_tune_layer,
    two_stage_settings,
)
from netbuilder.runtime.applications import (
    ApplicationError,
    check_arguments,
    default_arguments,
    input_sizes,
)
from netbuilder.ui.commands import AddNode, Connect, GraphCommand, push
from netbuilder.ui.dialogs.import_model import KNOWN_APPLICATIONS, Job
from netbuilder.ui.panels.palette import APPLICATION_KEY

if TYPE_CHECKING:
    from netbuilder.ui.canvas.scene import GraphScene
    from netbuilder.ui.main_window import MainWindow

PALETTE_KEY = APPLICATION_KEY
"""The palette's "Keras Application…" (not a layer type)."""
FAMILY = "Pretrained"
WEIGHT_FILTER = "Keras weights (*.h5 *.weights.h5 *.keras);;All files (*)"
_MUTED = "color: #5f6873;"
_ERROR = "color: #d93025;"
_OK = "color: #1e7e34;"

_FAMILIES = (("VGG", "VGG: plain stacks of 3×3 convolutions (the course's VGG16)"),
             ("ResNet", "ResNet: residual blocks"), ("Inception", "Inception"),
             ("Xception", "Xception: depthwise separable convolutions"),
             ("MobileNet", "MobileNet: small and fast"), ("DenseNet", "DenseNet"),
             ("NASNet", "NASNet"), ("EfficientNet", "EfficientNet: scaled for accuracy"),
             ("ConvNeXt", "ConvNeXt: modern convolutions"))


def describe_application(name: str) -> str:
    default, minimum = input_sizes(name)
    family = next((text for prefix, text in _FAMILIES if name.startswith(prefix)), name)
    return (f"{family}. Default input {default}×{default}×3; at least {minimum}×{minimum} "
            "pixels.")


def application_of(graph: Graph, node_id: str | None) -> Block | None:
    """The Application block a node calls, or None."""
    if node_id is None or node_id not in graph.nodes:
        return None
    node = graph.nodes[node_id]
    if node.type != BLOCK_TYPE:
        return None
    block = graph.blocks.get(node.params.get("block"))
    return block if block is not None and getattr(block, "application", None) else None


def node_detail(graph: Graph, node_id: str) -> tuple[str, str]:
    """The canvas node's type and detail: ("VGG16", "frozen"), ("VGG16", "fine-tuned from
    block5_conv1")."""
    block = application_of(graph, node_id)
    if block is None:
        return "", ""
    return block.application["name"], freezing.describe(graph, node_id)


def add_recipe_actions(scene: GraphScene, menu: Any, node_id: str) -> None:
    """The recipes in an Application node's right-click menu."""
    if application_of(scene.graph, node_id) is None:
        return
    menu.addSection("Transfer learning")
    head = menu.addAction("Add classifier head")
    head.setToolTip("GlobalAveragePooling2D → Dropout(0.5) → Dense(classes, softmax) after it")
    head.triggered.connect(lambda _c=False: scene.recipe_requested.emit("head", node_id))
    stages = menu.addAction("Two-stage fine-tuning…")
    stages.setToolTip("Train the head with the base frozen, then unfreeze its top layers with "
                      "a lower learning rate")
    stages.triggered.connect(lambda _c=False: scene.recipe_requested.emit("two_stage", node_id))


# --- the dialog ----------------------------------------------------------------------------------


class ApplicationDialog(QDialog):
    """Choose a Keras Application and its constructor's arguments."""

    def __init__(self, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a Keras Application")
        self.start_dir = start_dir
        self._cache_jobs: list[Job] = []
        self._cache_key: Any = None
        self._pending_app: dict[str, Any] | None = None
        self._cache_timer = QTimer(self)
        self._cache_timer.setSingleShot(True)
        self._cache_timer.setInterval(400)
        self._cache_timer.timeout.connect(self._look_up_cache)
        self._preview_key: Any = None
        self._answers: dict[tuple[str, Any], Any] = {}  # what the background jobs found
        self._asked: set[tuple[str, Any]] = set()

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search, e.g. resnet, mobile")
        self.search.setClearButtonEnabled(True)
        self.models = QListWidget()
        self.models.setMinimumWidth(190)
        self.set_application_names(list(KNOWN_APPLICATIONS))
        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Model</b>"))
        left.addWidget(self.search)
        left.addWidget(self.models, 1)

        self.about = QLabel()
        self.about.setWordWrap(True)
        self.about.setStyleSheet(_MUTED)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.height_spin = self._size_spin(1, 4096)
        self.width_spin = self._size_spin(1, 4096)
        self.channels_spin = self._size_spin(1, 64)
        shape_row = QHBoxLayout()
        for label, spin in (("height", self.height_spin), ("width", self.width_spin),
                            ("channels", self.channels_spin)):
            shape_row.addWidget(spin)
            hint = QLabel(label)
            hint.setStyleSheet(_MUTED)
            shape_row.addWidget(hint)
        shape_row.addStretch(1)
        self.include_top = QCheckBox("Include the ImageNet classifier on top (include_top)")
        self.classes = QSpinBox()
        self.classes.setRange(1, 100000)
        self.classes.setValue(1000)
        self.pooling = QComboBox()
        self.pooling.addItem("none: feature maps (e.g. 4×4×512)", None)
        self.pooling.addItem("avg: global average pooling, a vector", "avg")
        self.pooling.addItem("max: global max pooling, a vector", "max")

        self.weights_none = QRadioButton("None: random weights (always works)")
        self.weights_imagenet = QRadioButton("ImageNet, from Keras' cache")
        self.weights_file = QRadioButton("A weights file:")
        group = QButtonGroup(self)
        for button in (self.weights_none, self.weights_imagenet, self.weights_file):
            group.addButton(button)
        self.weights_none.setChecked(True)
        self.cache_status = QLabel()
        self.cache_status.setWordWrap(True)
        self.cache_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cache_status.hide()
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("path to a .h5 weights file")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.weights_file)
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(browse)
        weights_box = QVBoxLayout()
        weights_box.setSpacing(2)
        weights_box.addWidget(self.weights_none)
        weights_box.addWidget(self.weights_imagenet)
        weights_box.addLayout(file_row)
        self.freeze = QCheckBox("Freeze it (base.trainable = False): train only what you add "
                                "on top")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(self.about)
        form.addRow(self.preview)
        form.addRow("Input shape", shape_row)
        form.addRow("", self.include_top)
        form.addRow("Classes", self.classes)
        form.addRow("Pooling", self.pooling)
        form.addRow("Weights", weights_box)
        form.addRow("", self.cache_status)
        form.addRow("", self.freeze)
        note = QLabel("Keras builds the model in the background (a few seconds); it is placed "
                      "as one block node. Nothing is downloaded.")
        note.setWordWrap(True)
        note.setStyleSheet(_MUTED)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(_ERROR)
        self.error.hide()
        right = QVBoxLayout()
        right.addLayout(form)
        right.addStretch(1)
        right.addWidget(note)
        right.addWidget(self.error)

        columns = QHBoxLayout()
        columns.addLayout(left)
        columns.addLayout(right, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Add")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        layout.addWidget(self.buttons)

        self.search.textChanged.connect(self._filter)
        self.models.currentItemChanged.connect(self._model_changed)
        for widget in (self.height_spin, self.width_spin, self.channels_spin, self.classes):
            widget.valueChanged.connect(self._validate)
        self.include_top.toggled.connect(self._validate)
        self.pooling.currentIndexChanged.connect(self._validate)
        self.file_edit.textChanged.connect(self._validate)
        group.buttonToggled.connect(self._weights_changed)
        self.select("VGG16")
        self.resize(720, 470)

    @staticmethod
    def _size_spin(low: int, high: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setMinimumWidth(70)
        return spin

    # -- the model list ---------------------------------------------------------------------------

    def set_application_names(self, names: list[str]) -> None:
        current = self.current_name()
        self.models.blockSignals(True)
        self.models.clear()
        for name in names:
            item = QListWidgetItem(name)
            item.setToolTip(describe_application(name))
            self.models.addItem(item)
        self.models.blockSignals(False)
        if current:
            self.select(current)

    def names(self) -> list[str]:
        return [self.models.item(i).text() for i in range(self.models.count())]

    def current_name(self) -> str:
        item = self.models.currentItem()
        return item.text() if item is not None else ""

    def select(self, name: str) -> None:
        found = self.models.findItems(name, Qt.MatchFlag.MatchExactly)
        if found:
            self.models.setCurrentItem(found[0])

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        first = None
        for i in range(self.models.count()):
            item = self.models.item(i)
            hide = not all(w in item.text().lower() for w in words)
            item.setHidden(hide)
            if not hide and first is None:
                first = item
        current = self.models.currentItem()
        if first is not None and (current is None or current.isHidden()):
            self.models.setCurrentItem(first)

    def _model_changed(self, *_: Any) -> None:
        name = self.current_name()
        if not name:
            return
        app = default_arguments(name)
        self.about.setText(f"<b>{escape(name)}</b>: {escape(describe_application(name))}")
        spins = (self.height_spin, self.width_spin, self.channels_spin)
        for spin, value in zip(spins, app["input_shape"]):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self._validate()

    # -- weights ----------------------------------------------------------------------------------

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", self.start_dir,
                                              WEIGHT_FILTER)
        if path:
            self.file_edit.setText(path)
            self.weights_file.setChecked(True)

    def _weights_changed(self, *_: Any) -> None:
        if not self.weights_none.isChecked():
            self.freeze.setChecked(True)  # pretrained weights: usually kept at first
        self._validate()

    def weights(self) -> str | None:
        if self.weights_imagenet.isChecked():
            return "imagenet"
        if self.weights_file.isChecked():
            return self.file_edit.text().strip() or ""
        return None

    def arguments(self) -> dict[str, Any]:
        """The constructor's arguments as chosen (not checked)."""
        return {"name": self.current_name(), "include_top": self.include_top.isChecked(),
                "pooling": self.pooling.currentData(), "weights": self.weights(),
                "input_shape": [self.height_spin.value(), self.width_spin.value(),
                                self.channels_spin.value()],
                "classes": self.classes.value()}

    def _validate(self, *_: Any) -> str | None:
        self.classes.setEnabled(self.include_top.isChecked())
        self.pooling.setEnabled(not self.include_top.isChecked())
        message = None
        app = self.arguments()
        if not app["include_top"]:
            app["classes"] = 1000
        else:
            app["pooling"] = None
        try:
            if app["weights"] == "":
                raise ApplicationError("choose the weights file (Browse…)")
            check_arguments(app)
        except ApplicationError as err:
            message = str(err)
        self.error.setText(message or "")
        self.error.setVisible(bool(message))
        self.ok.setEnabled(message is None)
        self._check_cache(app if message is None else None)
        return message

    def _check_cache(self, app: dict[str, Any] | None) -> None:
        """Count the model's parameters and, with ImageNet weights, say whether Keras' cache
        holds the file: both in the background (Keras builds the model), once the choice has
        settled."""
        if app is None:
            self.cache_status.hide()
            self.preview.clear()
            self._cache_key = self._preview_key = None
            return
        preview_key = (app["name"], app["include_top"], tuple(app["input_shape"]),
                       app["pooling"], app["classes"])
        cache_key = preview_key if app.get("weights") == "imagenet" else None
        if cache_key is None:
            self.cache_status.hide()
        if (preview_key, cache_key) == (self._preview_key, self._cache_key):
            return
        self._preview_key, self._cache_key = preview_key, cache_key
        known = self._answers.get(("preview", preview_key))
        self.preview.setText(known if known is not None else "Counting its parameters…")
        if cache_key is not None:
            found = self._answers.get(("cache", cache_key))
            if found is not None:
                self._show_cache(cache_key, found)
            else:
                self.cache_status.setText("Looking in Keras' cache…")
                self.cache_status.setStyleSheet(_MUTED)
            self.cache_status.show()
        self._pending_app = app
        self._cache_timer.start()  # while a size is being typed, one look-up at the end

    def _look_up_cache(self) -> None:
        app = self._pending_app
        if app is None:
            return
        for kind, key, fn in (("preview", self._preview_key, _preview),
                              ("cache", self._cache_key, _cached)):
            if key is None or (kind, key) in self._answers or (kind, key) in self._asked:
                continue
            self._asked.add((kind, key))
            job = Job(lambda fn=fn: fn(app), self)
            job.finished.connect(lambda answer, k=(kind, key): self._answer(k, answer))
            job.failed.connect(lambda message, k=(kind, key): self._answer(
                k, message if k[0] == "preview" else (None, message)))
            self._cache_jobs.append(job)
            job.start()
        self._cache_jobs = [j for j in self._cache_jobs if j.running()]

    def _answer(self, key: tuple[str, Any], answer: Any) -> None:
        self._asked.discard(key)
        self._answers[key] = answer
        kind, choice = key
        if kind == "preview" and choice == self._preview_key:
            self.preview.setText(answer)
        elif kind == "cache":
            self._show_cache(choice, answer)

    def _show_cache(self, key: Any, found: tuple[bool | None, str]) -> None:
        if key != self._cache_key:
            return  # an answer for an earlier choice
        self.cache_status.setVisible(True)
        cached, where = found
        if cached:
            self.cache_status.setText(f"✓ In Keras' cache: {escape(where)}")
            self.cache_status.setStyleSheet(_OK)
        elif cached is None:
            self.cache_status.setText(f"Cannot tell: {escape(where)}")
            self.cache_status.setStyleSheet(_ERROR)
        else:
            self.cache_status.setText(
                f"✗ Not in Keras' cache: copy the file to {escape(where)} (NetBuilder does not "
                "download it), or choose a weights file")
            self.cache_status.setStyleSheet(_ERROR)

    def jobs_running(self) -> bool:
        return self._cache_timer.isActive() or any(job.running() for job in self._cache_jobs)

    # -- result -----------------------------------------------------------------------------------

    def request(self) -> tuple[dict[str, Any], bool]:
        """``(application arguments, freeze)``; ``ValueError`` with the reason when invalid."""
        message = self._validate()
        if message:
            raise ValueError(message)
        app = self.arguments()
        if not app["include_top"]:
            app["classes"] = 1000
        else:
            app["pooling"] = None
        return check_arguments(app), self.freeze.isChecked()

    def _accept(self) -> None:
        try:
            self.request()
        except ValueError:
            return
        self.accept()


def _user_error(err: ApplicationError) -> Exception:
    """The error a ``Job`` reports as it is (its message for the user, no traceback)."""
    from netbuilder.runtime.keras_to_graph import KerasImportError

    return KerasImportError(str(err))


def _preview(app: dict[str, Any]) -> str:
    """"14,714,688 parameters · output (None, 4, 4, 512)" (Keras builds it, weights=None)."""
    from netbuilder.runtime.applications import make_model

    try:
        model = make_model(app, weights=None)
    except ApplicationError as err:
        raise _user_error(err) from None
    shape = tuple(model.output.shape)
    return f"{model.count_params():,} parameters · output {shape}"


def _cached(app: dict[str, Any]) -> tuple[bool, str]:
    from netbuilder.runtime.applications import weights_cached

    try:
        cached, path = weights_cached(app)
    except ApplicationError as err:
        raise _user_error(err) from None
    return cached, str(path)


def load_application_names() -> list[str]:
    from netbuilder.runtime.applications import application_names

    return application_names()


def make_application_block(app: dict[str, Any], taken: list[str]) -> Block:
    """In the worker thread: the Application's block (Keras builds it with weights=None)."""
    from netbuilder.runtime.keras_to_graph import application_block

    try:
        return application_block(app, taken)
    except ApplicationError as err:
        raise _user_error(err) from None


# --- placing, freezing ---------------------------------------------------------------------------


def place_application(scene: GraphScene, block: Block, frozen: bool = False,
                      after: str | None = None) -> str | None:
    """Add ``block`` and a node calling it (one undo step), below ``after`` and fed by it; in
    an empty model an Input of the Application's shape comes first. Returns the node id."""
    from netbuilder.ui.features.blocks import run_structural

    graph = scene.graph
    i = 1
    base_name = block.name
    while block.name in graph.blocks:
        block.name = f"{base_name}_{i}"
        i += 1
    shape = (block.application or {}).get("input_shape")

    def action() -> str:
        source = after
        if source is None and not graph.nodes and shape is not None and None not in shape:
            source = graph.add_node("Input", {"shape": list(shape)}, position=(0.0, 0.0)).id
        if source is not None:
            x, y = graph.node(source).position
            where = (x, y + 110.0)
        else:
            taken = [n.position for n in graph.nodes.values()]
            x = max((p[0] for p in taken), default=-260.0) + 260.0
            where = (x, 0.0)
        graph.add_block(block)
        node = graph.add_node(BLOCK_TYPE, {"block": block.name}, position=where,
                              trainable=not frozen)
        if source is not None:
            graph.connect(source, node.id)
        return node.id

    try:
        node_id = run_structural(scene.undo_stack, graph,
                                 f"Add Keras Application {block.application['name']}", action)
    except GraphError as err:
        scene.status_message.emit(str(err))
        return None
    scene.select_node(node_id)
    return node_id


class SetFreezing(GraphCommand):
    """Freeze, unfreeze or fine-tune a nested model from a layer: the instance's flag and the
    flags inside its block, restored as a whole on undo."""

    def __init__(self, graph: Graph, node_id: str, frozen: bool | None,
                 fine_tune_from: str | None = None) -> None:
        node = graph.node(node_id)
        if fine_tune_from:
            text = f"Fine-tune {node.name} from {fine_tune_from}"
        else:
            text = f"{'Freeze' if frozen else 'Unfreeze'} {node.name}"
        super().__init__(graph, text)
        self.node_id = node_id
        self.frozen = frozen
        self.layer = fine_tune_from
        self.before: freezing.FreezeState | None = None
        self.after: freezing.FreezeState | None = None

    def apply(self) -> None:
        if self.after is not None:
            freezing.restore(self.graph, self.node_id, self.after)
            return
        self.before = freezing.state(self.graph, self.node_id)
        block = freezing.block_of(self.graph, self.node_id)
        with self.graph.batch():
            if self.layer:
                freezing.freeze_block(self.graph, self.node_id, False)
                freezing.fine_tune_from(block, self.layer, self.graph)
            else:
                freezing.freeze_block(self.graph, self.node_id, bool(self.frozen))
        self.after = freezing.state(self.graph, self.node_id)

    def revert(self) -> None:
        assert self.before is not None
        freezing.restore(self.graph, self.node_id, self.before)


class FreezeControls(QWidget):
    """The Inspector's controls for a nested model: "Frozen" and "Fine-tune from layer"."""

    status_message = Signal(str)

    ALL = "(all layers trainable)"

    def __init__(self, graph: Graph, node_id: str, undo_stack: QUndoStack,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graph, self.node_id, self.undo_stack = graph, node_id, undo_stack
        block = freezing.block_of(graph, node_id)
        self.block = block
        app = getattr(block, "application", None) or {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        if app:
            weights = app.get("weights") or "none (random)"
            shape = app.get("input_shape")
            info = QLabel(
                f"<b>Keras Application {escape(app['name'])}</b><br>"
                f"input {escape('×'.join(str(d) for d in shape) if shape else 'any size')}, "
                f"include_top={app.get('include_top')}, pooling={app.get('pooling')}, "
                f"weights: {escape(str(weights))}")
            info.setWordWrap(True)
            info.setStyleSheet(_MUTED)
            layout.addWidget(info)
        self.frozen = QCheckBox("Frozen (base.trainable = False)")
        self.frozen.setToolTip("Keep every weight of the model as it is during training; it "
                               "runs in inference mode (training=False).")
        layout.addWidget(self.frozen)
        row = QHBoxLayout()
        label = QLabel("Fine-tune from layer")
        self.layer_combo = QComboBox()
        self.layer_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(10)  # long layer names must not widen the panel
        self.layer_combo.addItem(self.ALL)
        self.layer_combo.addItems([n.name for n in freezing.inner_layers(block)])
        self.layer_combo.setToolTip(
            "Layers from this one on train, the earlier ones stay frozen; BatchNormalization "
            "layers stay frozen too (they keep their ImageNet statistics).")
        row.addWidget(label)
        row.addWidget(self.layer_combo, 1)
        layout.addLayout(row)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setStyleSheet(_MUTED)
        layout.addWidget(self.state_label)
        self.refresh()
        self.frozen.toggled.connect(self._frozen_toggled)
        self.layer_combo.activated.connect(self._layer_chosen)

    def refresh(self) -> None:
        if self.node_id not in self.graph.nodes:
            return
        node = self.graph.nodes[self.node_id]
        self.frozen.blockSignals(True)
        self.frozen.setChecked(not node.trainable)
        self.frozen.blockSignals(False)
        layer = freezing.fine_tune_layer(self.block)
        self.layer_combo.setCurrentText(layer if layer else self.ALL)
        self.layer_combo.setEnabled(node.trainable)
        result = self.graph.inference.results.get(self.node_id)
        text = f"Now: {freezing.describe(self.graph, self.node_id)}"
        if result is not None and result.ok:
            text += (f" · {result.trainable:,} trainable, {result.non_trainable:,} "
                     "non-trainable parameters")
        self.state_label.setText(text)

    def _push(self, command: GraphCommand) -> None:
        try:
            push(self.undo_stack, command)
        except GraphError as err:
            self.status_message.emit(str(err))
        self.refresh()

    def _frozen_toggled(self, on: bool) -> None:
        self._push(SetFreezing(self.graph, self.node_id, on))

    def _layer_chosen(self, _index: int) -> None:
        layer = self.layer_combo.currentText()
        if layer == self.ALL:
            self._push(SetFreezing(self.graph, self.node_id, False))
        else:
            self._push(SetFreezing(self.graph, self.node_id, None, fine_tune_from=layer))


# --- recipes -------------------------------------------------------------------------------------


def add_head(scene: GraphScene, node_id: str, classes: int,
             dropout: float = DEFAULT_DROPOUT) -> list[str]:
    """Append GlobalAveragePooling2D → Dropout → Dense(classes) after ``node_id`` (one undo
    step); returns the new node ids."""
    graph, stack = scene.graph, scene.undo_stack
    try:
        steps = classifier_head(graph, node_id, classes, dropout)
    except GraphError as err:
        scene.status_message.emit(str(err))
        return []
    ids: list[str] = []
    stack.beginMacro("Add classifier head")
    try:
        previous = node_id
        for step in steps:
            add = AddNode(graph, step.type, step.params, position=step.position)
            push(stack, add)
            assert add.node_id is not None
            push(stack, Connect(graph, previous, add.node_id))
            ids.append(add.node_id)
            previous = add.node_id
    except GraphError as err:
        scene.status_message.emit(str(err))
    finally:
        stack.endMacro()
    if ids:
        scene.select_node(ids[-1])
    return ids


def ask_classes(parent: QWidget | None, settings: dict[str, Any]) -> int | None:
    """The number of classes: from the project's data when known, else asked."""
    known = known_classes(settings)
    if known is not None:
        return known
    value, ok = QInputDialog.getInt(parent, "Classifier head",
                                    "How many classes does your data have?\n"
                                    "(1 for a yes/no problem: a sigmoid unit)", 2, 1, 100000)
    return value if ok else None


class TwoStageDialog(QDialog):
    """Two-stage fine-tuning: train the head with the base frozen, then unfreeze its top layers
    from a layer and train more epochs with a lower learning rate."""

    def __init__(self, block: Block, parent: QWidget | None = None,
                 epochs: int = DEFAULT_FINE_TUNE_EPOCHS,
                 learning_rate: float = DEFAULT_FINE_TUNE_LEARNING_RATE) -> None:
        super().__init__(parent)
        self.setWindowTitle("Two-stage fine-tuning")
        intro = QLabel(
            f"<b>Stage 1</b>: {escape(block.name)} is frozen and only the layers after it "
            "train (the training settings' epochs and learning rate).<br>"
            "<b>Stage 2</b>: the layers from the one chosen here on are unfrozen "
            "(BatchNormalization stays frozen) and the model trains more epochs with a much "
            "lower learning rate, so the pretrained weights are adjusted, not destroyed.")
        intro.setWordWrap(True)
        self.layer = QComboBox()
        self.layer.addItems([n.name for n in freezing.inner_layers(block)])
        suggested = suggested_fine_tune_layer(block)
        if suggested:
            self.layer.setCurrentText(suggested)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10000)
        self.epochs.setValue(max(1, epochs))
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(7)
        self.learning_rate.setRange(1e-7, 1.0)
        self.learning_rate.setSingleStep(1e-5)
        self.learning_rate.setValue(learning_rate)
        form = QFormLayout()
        form.addRow("Unfreeze from layer", self.layer)
        form.addRow("Stage 2 epochs", self.epochs)
        form.addRow("Stage 2 learning rate", self.learning_rate)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Set up")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(480, self.sizeHint().height())

    def values(self) -> dict[str, Any]:
        return two_stage_settings(self.layer.currentText(), self.epochs.value(),
                                  self.learning_rate.value())


def set_up_two_stage(scene: GraphScene, node_id: str, values: dict[str, Any],
                     apply_settings: Callable[[dict[str, Any]], str | None]) -> bool:
    """Freeze the base and set the training settings' fine-tuning fields, one undo step.
    ``apply_settings(changes)`` pushes the settings change on the same undo stack (the
    training panel's mechanism) and returns an error message or None."""
    graph, stack = scene.graph, scene.undo_stack
    stack.beginMacro(f"Two-stage fine-tuning of {graph.node(node_id).name}")
    try:
        if graph.node(node_id).trainable or freezing.fine_tune_layer(
                freezing.block_of(graph, node_id)) is not None:
            push(stack, SetFreezing(graph, node_id, True))
        error = apply_settings(values)
    finally:
        stack.endMacro()
    if error:
        stack.undo()  # the freezing alone is not what was asked for
        scene.status_message.emit(error)
        return False
    scene.status_message.emit(
        f"Two-stage fine-tuning: stage 1 trains with {graph.node(node_id).name} frozen, "
        f"stage 2 unfreezes from {values['fine_tune_from']} for "
        f"{values['fine_tune_epochs']} epochs at {values['fine_tune_learning_rate']:g}")
    return True



# --- the window's actions ------------------------------------------------------------------------


class ApplicationActions(QObject):
    """The "Recipes" menu and the Keras Application flow of a main window: the dialog, the
    background job that makes the block, placing it, the recipes (also from an Application
    node's right-click menu, ``GraphScene.recipe_requested``)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.job: Job | None = None
        self.menu = window.menuBar().addMenu("&Recipes")

        def action(text: str, slot: Callable[[], object], tip: str) -> QAction:
            act = QAction(text, window)
            act.setStatusTip(tip)
            act.triggered.connect(lambda _c=False: slot())
            self.menu.addAction(act)
            return act

        self.application_action = action(
            "Keras &Application…", self.add_application,
            "Add a pretrained model (VGG16, ResNet50, MobileNetV2…) as one block")
        self.menu.addSeparator()
        self.head_action = action(
            "Add &Classifier Head", lambda: self.add_head(),
            "GlobalAveragePooling2D → Dropout(0.5) → Dense(classes, softmax) after the selected "
            "layer")
        self.two_stage_action = action(
            "&Two-Stage Fine-Tuning…", lambda: self.two_stage(),
            "Train the head with the base frozen, then unfreeze its top layers with a lower "
            "learning rate")

    def attach(self, scene: GraphScene) -> None:
        scene.recipe_requested.connect(self._recipe)

    def _recipe(self, kind: str, node_id: str) -> None:
        if kind == "head":
            self.add_head(node_id)
        elif kind == "two_stage":
            self.two_stage(node_id)

    def _status(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    def _selected(self) -> str | None:
        scene = self.window.scene
        ids = scene.selected_node_ids() if scene is not None else []
        return ids[0] if len(ids) == 1 else None

    # -- Keras Application… -----------------------------------------------------------------------

    def ask_application(self) -> tuple[dict[str, Any], bool] | None:
        """Ask which Application (tests replace this): ``(arguments, freeze)`` or None."""
        window = self.window
        start = str(window.path.parent) if window.path else str(Path.home())
        dialog = ApplicationDialog(window, start)
        names = Job(load_application_names, dialog)  # the real list, once Keras has loaded
        names.finished.connect(dialog.set_application_names)
        names.start()
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            return dialog.request()
        finally:
            dialog.deleteLater()

    def add_application(self) -> None:
        request = self.ask_application()
        if request is not None:
            self.start(*request)

    def start(self, app: dict[str, Any], frozen: bool = False) -> bool:
        """Make the Application's block in the background and place it when ready (after the
        selected layer, or after a lone unconnected Input). False if one is being made."""
        window = self.window
        if self.job is not None and self.job.running():
            self._status("A Keras Application is being made already")
            return False
        graph = window.graph
        after = self._selected()
        if after is None:
            free = [n for n in graph.inputs() if not graph.out_edges(n.id)]
            after = free[0].id if len(free) == 1 else None
        taken = list(graph.blocks)
        job = Job(lambda: make_application_block(app, taken), self)
        job.finished.connect(lambda block: self._ready(block, frozen, after, graph))
        job.failed.connect(self._failed)
        self.job = job
        window.statusBar().showMessage(f"Making {app['name']}… (Keras takes a few seconds; you "
                                       "can keep working)", 0)
        job.start()
        return True

    def _ready(self, block: Block, frozen: bool, after: str | None, graph: Graph) -> None:
        self.job = None
        window = self.window
        if not window._alive() or window.scene is None or window.graph is not graph:
            return  # another project meanwhile
        window.statusBar().clearMessage()
        if after is not None and after not in graph.nodes:
            after = None
        node_id = place_application(window.scene, block, frozen, after)
        if node_id is not None:
            result = graph.inference.results.get(node_id)
            count = f": {result.params:,} parameters" if result is not None and result.ok else ""
            self._status(f"Added {block.application['name']}{count}")

    def _failed(self, message: str) -> None:
        self.job = None
        if not self.window._alive():
            return
        self.window.statusBar().clearMessage()
        self.window.show_error("Cannot add the Keras Application", message)

    # -- recipes ----------------------------------------------------------------------------------

    def ask_classes(self) -> int | None:
        return ask_classes(self.window, self.window.project.settings)

    def add_head(self, node_id: str | None = None, classes: int | None = None) -> list[str]:
        """The classifier-head recipe after ``node_id`` (the selected layer by default)."""
        scene = self.window.scene
        node_id = node_id or self._selected()
        if scene is None or node_id is None:
            self._status("Select the layer the classifier head goes after (e.g. the "
                         "Keras Application)")
            return []
        if classes is None:
            classes = self.ask_classes()
            if classes is None:
                return []
        return add_head(scene, node_id, classes)

    def _application_node(self, node_id: str | None) -> str | None:
        graph = self.window.graph
        node_id = node_id or self._selected()
        if application_of(graph, node_id) is not None:
            return node_id
        apps = [n.id for n in graph.nodes.values() if application_of(graph, n.id) is not None]
        return apps[0] if len(apps) == 1 and node_id is None else None

    def ask_two_stage(self, block: Block) -> dict[str, Any] | None:
        """Ask for the fine-tuning layer, epochs and rate (tests replace this)."""
        dialog = TwoStageDialog(block, self.window)
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            return dialog.values()
        finally:
            dialog.deleteLater()

    def two_stage(self, node_id: str | None = None) -> bool:
        """Two-stage fine-tuning of an Application: freeze it and set the training settings'
        fine_tune_from / fine_tune_epochs / fine_tune_learning_rate (one undo step)."""
        scene = self.window.scene
        node_id = self._application_node(node_id)
        if scene is None or node_id is None:
            self._status("Select the Keras Application to fine-tune")
            return False
        values = self.ask_two_stage(freezing.block_of(scene.graph, node_id))
        if values is None:
            return False
        return set_up_two_stage(scene, node_id, values, self._apply_training)

    def _apply_training(self, values: dict[str, Any]) -> str | None:
        """Set training settings fields through the training panel (its undo command)."""
        from netbuilder.runtime.training.settings import SettingsError

        panel = self.window.training_panel
        try:
            settings = panel.current_settings().updated(values)
        except SettingsError as err:
            return f"Cannot set up two-stage fine-tuning: {err}"
        panel.apply_settings(settings)
        return None
