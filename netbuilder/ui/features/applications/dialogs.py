"""The dialogs of Keras Applications: choosing one and its constructor's arguments (Keras counts
its parameters and looks for its weights in the background), the number of classes of a
classifier head, and two-stage fine-tuning; and what the background jobs run."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import Qt, QTimer
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
from netbuilder.core.recipes import (
    DEFAULT_FINE_TUNE_EPOCHS,
    DEFAULT_FINE_TUNE_LEARNING_RATE,
    known_classes,
    suggested_fine_tune_layer,
    two_stage_settings,
)
from netbuilder.runtime import applications, keras_to_graph
from netbuilder.runtime.applications import ApplicationError, check_arguments, default_arguments
from netbuilder.ui.dialogs.common import add_rows, ok_cancel_buttons
from netbuilder.ui.dialogs.import_model import KNOWN_APPLICATIONS, Job
from netbuilder.ui.features.applications.queries import describe_application

WEIGHT_FILTER = "Keras weights (*.h5 *.weights.h5 *.keras);;All files (*)"
MUTED = "color: #5f6873;"
_ERROR = "color: #d93025;"
_OK = "color: #1e7e34;"


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
        self.about.setStyleSheet(MUTED)
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
            hint.setStyleSheet(MUTED)
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
        add_rows(form, ("Input shape", shape_row), ("", self.include_top),
                 ("Classes", self.classes), ("Pooling", self.pooling), ("Weights", weights_box),
                 ("", self.cache_status), ("", self.freeze))
        note = QLabel("Keras builds the model in the background (a few seconds); it is placed "
                      "as one block node. Nothing is downloaded.")
        note.setWordWrap(True)
        note.setStyleSheet(MUTED)
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
        self.buttons = ok_cancel_buttons(self, "Add", self._accept)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
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
                self.cache_status.setStyleSheet(MUTED)
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
    return keras_to_graph.KerasImportError(str(err))


def _preview(app: dict[str, Any]) -> str:
    """"14,714,688 parameters · output (None, 4, 4, 512)" (Keras builds it, weights=None)."""
    try:
        model = applications.make_model(app, weights=None)
    except ApplicationError as err:
        raise _user_error(err) from None
    shape = tuple(model.output.shape)
    return f"{model.count_params():,} parameters · output {shape}"


def _cached(app: dict[str, Any]) -> tuple[bool, str]:
    try:
        cached, path = applications.weights_cached(app)
    except ApplicationError as err:
        raise _user_error(err) from None
    return cached, str(path)


def load_application_names() -> list[str]:
    return applications.application_names()


def make_application_block(app: dict[str, Any], taken: list[str]) -> Block:
    """In the worker thread: the Application's block (Keras builds it with weights=None)."""
    try:
        return keras_to_graph.application_block(app, taken)
    except ApplicationError as err:
        raise _user_error(err) from None


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
        buttons = ok_cancel_buttons(self, "Set up")
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(480, self.sizeHint().height())

    def values(self) -> dict[str, Any]:
        return two_stage_settings(self.layer.currentText(), self.epochs.value(),
                                  self.learning_rate.value())
