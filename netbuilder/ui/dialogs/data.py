"""The data dialog (Train ▸ Data…): the training data source, its options (splits, image size,
shapes, CSV label column…), augmentation of the training data, and a preview: class names and
counts per split, sample images with their labels, and augmented versions of one image.

The preview runs the training worker (``python -m netbuilder.runtime.workers.training``) with the
job's ``"action": "preview"``, through ``WorkerClient``: TensorFlow is never imported in the
editor, and the dialog stays responsive while the data loads. OK keeps the source and options in
``project.settings["data"]`` (an undoable step, through the training panel).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.runtime.data import (
    AUGMENTATIONS,
    BUILTIN_SOURCES,
    DEFAULT_OPTIONS,
    FLIP_MODES,
    KERAS_DATASETS,
    DataError,
    resolve_options,
)
from netbuilder.runtime.workers.client import TRAINING_WORKER
from netbuilder.runtime.workers.protocol import decode_images
from netbuilder.ui import theme
from netbuilder.ui.dialogs.common import CHOOSE_PATH, FormDialog, SourceCombo, add_rows
from netbuilder.ui.images import thumbnail
from netbuilder.ui.workers import WorkerClient

THUMB = 52                      # sample thumbnails, pixels
AUG_HELP = {
    "flip": "Mirror images at random",
    "rotation": "Rotate at random by up to this fraction of a full turn (0.1 = ±36°)",
    "zoom": "Zoom in or out at random by up to this fraction",
    "shift": "Shift at random by up to this fraction of the width and height",
    "contrast": "Change the contrast at random by up to this factor",
    "brightness": "Change the brightness at random by up to this fraction of the value range",
}


# --- images ----------------------------------------------------------------------------------


def image_cell(image: Any, caption: str, size: int = THUMB, tip: str = "") -> QWidget:
    """A thumbnail with a caption under it."""
    cell = QWidget()
    box = QVBoxLayout(cell)
    box.setContentsMargins(2, 2, 2, 2)
    box.setSpacing(1)
    picture = QLabel()
    picture.setPixmap(thumbnail(image, size))
    picture.setFixedSize(size + 2, size + 2)
    picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
    picture.setStyleSheet(f"border: 1px solid {theme.BORDER.name()}; background: #000;")
    box.addWidget(picture, 0, Qt.AlignmentFlag.AlignHCenter)
    if caption:
        text = QLabel(caption)
        text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        small = text.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() - 1))
        text.setFont(small)
        text.setMaximumWidth(size + 24)
        box.addWidget(text, 0, Qt.AlignmentFlag.AlignHCenter)
    if tip:
        cell.setToolTip(tip)
    return cell


def _spin(low: int, high: int, special: str = "", tip: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    if special:
        spin.setSpecialValueText(special)
    if tip:
        spin.setToolTip(tip)
    return spin


def _percent(tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.0, 95.0)
    spin.setDecimals(0)
    spin.setSingleStep(5.0)
    spin.setSuffix(" %")
    spin.setToolTip(tip)
    return spin


def _clear(layout: Any) -> None:
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget()
        if widget is not None:
            widget.setParent(None)
            widget.deleteLater()


class DataDialog(FormDialog):
    """Edit the data source and options. ``project_dict()`` gives the project to preview with
    (the worker fits the data to its model, or shows it as loaded while the model cannot be
    built); ``ask_path()`` asks for a folder or file.
    ``result_data`` is ``{"source": ..., "options": {...}}`` once OK is pressed."""

    def __init__(self, data: Any, project_dict: Callable[[], dict[str, Any]],
                 ask_path: Callable[[], str] | None = None, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("dataDialog")
        self.setWindowTitle("Training data")
        self._project_dict = project_dict
        self._ask_path = ask_path
        self.worker_command: Sequence[str] | None = None   # tests put a fake worker here
        self.client = WorkerClient("data process", TRAINING_WORKER, self,
                                   last_events=("data", "error"))
        self.client.event.connect(self.handle_event)
        self.client.finished.connect(self._end_process)
        self.client.crashed.connect(self._crashed)
        self._preview_dir: Path | None = None
        self.preview_event: dict[str, Any] | None = None   # the last "data" event shown
        self.preview_error: str | None = None
        self.result_data: dict[str, Any] | None = None
        self._build()
        self.set_data(data)

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        left = QWidget()
        left.setMaximumWidth(380)
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)

        source_box = QGroupBox("Source and splits")
        form = QFormLayout(source_box)
        self.source = SourceCombo(lambda: self._ask_path() if self._ask_path else "")
        self.source.currentTextChanged.connect(self._update_enabled)
        self.validation_split = _percent("Share of the training data held out for validation")
        self.test_split = _percent("Share held out for the final test, when the source has no "
                                   "test set of its own (mnist, fashion_mnist and cifar10 have)")
        self.seed = _spin(0, 2 ** 31 - 1, tip="Seed of the random split (and of shapes)")
        self.max_samples = _spin(0, 10 ** 8, "all", "Keep at most this many training samples "
                                                    "(quick experiments)")
        add_rows(form, ("Data", self.source), ("Validation", self.validation_split),
                 ("Test", self.test_split), ("Split seed", self.seed),
                 ("Training samples", self.max_samples))
        column.addWidget(source_box)

        options_box = QGroupBox("Source options")
        form = QFormLayout(options_box)
        size_row = QHBoxLayout()
        self.image_height = _spin(0, 4096, "model's", "Image height (folders and shapes); "
                                                      "\"model's\": the model's input size")
        self.image_width = _spin(0, 4096, "model's", "Image width (folders and shapes)")
        size_row.addWidget(self.image_height)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.image_width)
        self.num_classes = _spin(0, 10, "model's", "shapes: how many kinds of shapes; "
                                                   "\"model's\": as many as the model's output")
        self.shape_samples = _spin(10, 10 ** 6, tip="shapes: how many images in all")
        self.label_column = QLineEdit()
        self.label_column.setPlaceholderText("the last column")
        self.label_column.setToolTip("CSV: the label column's name or 0-based index")
        self.download = QCheckBox("Download when not in Keras' cache")
        self.download.setToolTip("mnist, fashion_mnist, cifar10: try to download them when "
                                 "they are not cached (needs the internet)")
        self.max_memory = _spin(16, 1 << 20, tip="Larger data is adapted batch by batch")
        self.max_memory.setSuffix(" MB")
        add_rows(form, ("Image size", size_row), ("Shapes: classes", self.num_classes),
                 ("Shapes: images", self.shape_samples), ("CSV label column", self.label_column),
                 ("", self.download), ("Memory for arrays", self.max_memory))
        column.addWidget(options_box)

        aug_box = QGroupBox("Augmentation (training data only)")
        grid = QGridLayout(aug_box)
        self.aug_checks: dict[str, QCheckBox] = {}
        self.aug_amounts: dict[str, QDoubleSpinBox] = {}
        self.flip_mode = QComboBox()
        self.flip_mode.addItems(list(FLIP_MODES))
        self.flip_mode.setToolTip(AUG_HELP["flip"])
        for row, kind in enumerate(AUGMENTATIONS):
            check = QCheckBox(kind.capitalize())
            check.setToolTip(AUG_HELP[kind])
            check.toggled.connect(self._update_enabled)
            self.aug_checks[kind] = check
            grid.addWidget(check, row, 0)
            if kind == "flip":
                grid.addWidget(self.flip_mode, row, 1)
                continue
            amount = QDoubleSpinBox()
            amount.setRange(0.01, 0.99)
            amount.setDecimals(2)
            amount.setSingleStep(0.05)
            amount.setValue(0.1)
            amount.setToolTip(AUG_HELP[kind])
            self.aug_amounts[kind] = amount
            grid.addWidget(amount, row, 1)
        grid.setColumnStretch(1, 1)
        column.addWidget(aug_box)
        column.addStretch(1)

        # the preview
        right = QWidget()
        preview = QVBoxLayout(right)
        preview.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Load the data as training would (in a separate "
                                       "process) and show its classes and samples")
        self.preview_button.clicked.connect(lambda: self.preview())
        self.preview_status = QLabel("Press Preview to load the data and see it.")
        self.preview_status.setWordWrap(True)
        self.preview_status.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.preview_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.preview_status, 1)
        preview.addLayout(top)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        preview.addWidget(self.summary_label)

        self.class_table = QTableWidget(0, 4)
        self.class_table.setHorizontalHeaderLabels(["Class", "Train", "Validation", "Test"])
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.class_table.verticalHeader().hide()
        self.class_table.verticalHeader().setDefaultSectionSize(20)
        header = self.class_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for j in (1, 2, 3):
            header.setSectionResizeMode(j, QHeaderView.ResizeMode.ResizeToContents)
        self.class_table.setMaximumWidth(280)
        self.class_table.setMinimumWidth(200)

        samples_column = QVBoxLayout()
        self.samples_title = QLabel("<b>Training samples</b>")
        samples_column.addWidget(self.samples_title)
        self.samples_area = QScrollArea()
        self.samples_area.setWidgetResizable(True)
        self.samples_widget = QWidget()
        self.samples_grid = QGridLayout(self.samples_widget)
        self.samples_grid.setContentsMargins(4, 4, 4, 4)
        self.samples_grid.setHorizontalSpacing(4)
        self.samples_grid.setVerticalSpacing(2)
        self.samples_area.setWidget(self.samples_widget)
        self.samples_area.setMinimumWidth(4 * (THUMB + 10) + 90)
        samples_column.addWidget(self.samples_area, 1)

        aug_column = QVBoxLayout()
        self.augmented_title = QLabel("<b>Augmented</b>")
        self.augmented_title.setWordWrap(True)
        aug_column.addWidget(self.augmented_title)
        self.augmented_widget = QWidget()
        self.augmented_grid = QGridLayout(self.augmented_widget)
        self.augmented_grid.setContentsMargins(4, 4, 4, 4)
        self.augmented_grid.setSpacing(4)
        aug_column.addWidget(self.augmented_widget)
        aug_column.addStretch(1)
        self.augmented_box = QWidget()
        self.augmented_box.setLayout(aug_column)

        middle = QHBoxLayout()
        table_column = QVBoxLayout()
        table_column.addWidget(QLabel("<b>Classes</b>"))
        table_column.addWidget(self.class_table, 1)
        middle.addLayout(table_column)
        middle.addLayout(samples_column, 1)
        middle.addWidget(self.augmented_box)
        preview.addLayout(middle, 1)


        body = QHBoxLayout()
        body.addWidget(left)
        body.addWidget(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        self.add_footer(layout, lambda: self.set_data(
            {"source": self.source.currentText(), "options": {}}), "dataError")
        self.resize(1200, 660)
        self.show_preview(None)

    def _update_enabled(self, *_: Any) -> None:
        source = self.source.currentText()
        key = source.strip().lower().replace("-", "_")
        is_path = key not in BUILTIN_SOURCES
        self.num_classes.setEnabled(key == "shapes")
        self.shape_samples.setEnabled(key == "shapes")
        for spin in (self.image_height, self.image_width):
            spin.setEnabled(key == "shapes" or (is_path and Path(source).is_dir()))
        self.label_column.setEnabled(is_path and Path(source).suffix.lower() in
                                     (".csv", ".tsv", ".txt"))
        self.download.setEnabled(key in KERAS_DATASETS)
        for kind, amount in self.aug_amounts.items():
            amount.setEnabled(self.aug_checks[kind].isChecked())
        self.flip_mode.setEnabled(self.aug_checks["flip"].isChecked())

    # -- values --------------------------------------------------------------------------------

    def set_data(self, data: Any) -> None:
        """Show ``data``: a source name or ``{"source", "options"}`` (unknown or invalid
        options fall back to the defaults)."""
        if isinstance(data, dict):
            source = data.get("source") or "digits"
            options = data.get("options") if isinstance(data.get("options"), dict) else {}
        else:
            source, options = (data or "digits"), {}
        try:
            opts = resolve_options(options)
        except DataError:
            opts = resolve_options({})
        self.source.set_source(str(source))
        self.validation_split.setValue(round(100 * float(opts["validation_split"])))
        self.test_split.setValue(round(100 * float(opts["test_split"])))
        self.seed.setValue(int(opts["seed"]))
        self.max_samples.setValue(int(opts["max_samples"] or 0))
        size = opts["image_size"] or [0, 0]
        self.image_height.setValue(size[0])
        self.image_width.setValue(size[1])
        self.num_classes.setValue(int(options.get("num_classes") or 0))
        self.shape_samples.setValue(int(opts["samples"]))
        column = opts["label_column"]
        self.label_column.setText("" if column is None else str(column))
        self.download.setChecked(bool(opts["download"]))
        self.max_memory.setValue(int(opts["max_memory_mb"]))
        aug = opts["augmentation"] or {}
        for kind in AUGMENTATIONS:
            value = aug.get(kind)
            self.aug_checks[kind].setChecked(bool(value))
            if kind == "flip":
                mode = "horizontal" if value in (True, None, False) else str(value)
                self.flip_mode.setCurrentIndex(max(0, self.flip_mode.findText(mode)))
            elif value:
                self.aug_amounts[kind].setValue(float(value))
        self._update_enabled()
        self.show_error(None)

    def augmentation(self) -> dict[str, Any] | None:
        aug: dict[str, Any] = {}
        for kind in AUGMENTATIONS:
            if not self.aug_checks[kind].isChecked():
                continue
            aug[kind] = (self.flip_mode.currentText() if kind == "flip"
                         else round(float(self.aug_amounts[kind].value()), 4))
        return aug or None

    def options(self) -> dict[str, Any]:
        """The options as shown, only those that differ from the defaults."""
        column_text = self.label_column.text().strip()
        column: Any = int(column_text) if column_text.isdigit() else (column_text or None)
        height, width = self.image_height.value(), self.image_width.value()
        values: dict[str, Any] = {
            "validation_split": round(self.validation_split.value() / 100, 4),
            "test_split": round(self.test_split.value() / 100, 4),
            "seed": self.seed.value(),
            "max_samples": self.max_samples.value() or None,
            "image_size": [height, width] if height and width else None,
            "num_classes": self.num_classes.value() or None,
            "samples": self.shape_samples.value(),
            "label_column": column,
            "download": self.download.isChecked(),
            "max_memory_mb": self.max_memory.value(),
            "augmentation": self.augmentation(),
        }
        defaults = dict(DEFAULT_OPTIONS)
        defaults["num_classes"] = None          # shapes: None matches the model's output
        return {k: v for k, v in values.items() if v != defaults.get(k)}

    def data(self) -> dict[str, Any]:
        """``{"source", "options"}`` as shown; raises ``DataError`` for what cannot work."""
        source = self.source.currentText()
        if source == CHOOSE_PATH or not source.strip():
            raise DataError("choose the training data first")
        height, width = self.image_height.value(), self.image_width.value()
        if bool(height) != bool(width):
            raise DataError("give both the image height and width (or neither, for the "
                            "model's input size)")
        options = self.options()
        resolve_options(options)
        key = source.strip().lower().replace("-", "_")
        if key not in BUILTIN_SOURCES and not Path(source).expanduser().exists():
            raise DataError(f"the data {source} is not there (no such file or folder)")
        if key not in BUILTIN_SOURCES:
            source = str(Path(source).expanduser().resolve())
        return {"source": source, "options": options}

    def accept(self) -> None:
        try:
            data = self.data()
        except DataError as err:
            self.show_error(f"Not applied: {err}.")
            return
        self.show_error(None)
        self.result_data = data
        self.stop_preview()
        super().accept()

    def reject(self) -> None:
        self.stop_preview()
        super().reject()

    def done(self, result: int) -> None:
        self.stop_preview()
        super().done(result)

    # -- the preview ---------------------------------------------------------------------------

    def preview_job(self) -> dict[str, Any]:
        """The worker job that loads and describes the data shown (raises ``DataError``). While
        the model cannot be built the worker shows the data as it loads, and says so."""
        data = self.data()
        if self._preview_dir is None:
            self._preview_dir = Path(tempfile.mkdtemp(prefix="netbuilder-preview-"))
        return {"project": self._project_dict(), "data": data, "action": "preview",
                "send_samples": True, "output_dir": str(self._preview_dir)}

    def is_previewing(self) -> bool:
        return self.client.running()

    def preview(self) -> bool:
        """Start loading the data in a worker process; False (with the reason shown) when the
        options cannot work."""
        if self.client.running():
            return False
        try:
            job = self.preview_job()
        except DataError as err:
            self.show_preview_error(f"Cannot preview: {err}.")
            return False
        self.preview_event = None
        self.preview_error = None
        if self.worker_command is not None:
            self.client.command = list(self.worker_command)
        self.preview_button.setEnabled(False)
        self.show_status("Starting the data process…")
        self.client.start(job)
        self.client.close_input()
        return True

    def stop_preview(self) -> None:
        if not self.client.running():
            return
        self.client.close(timeout_ms=0)
        self.preview_button.setEnabled(True)
        self._remove_preview_dir()

    def _remove_preview_dir(self) -> None:
        if self._preview_dir is not None:
            shutil.rmtree(self._preview_dir, ignore_errors=True)
            self._preview_dir = None

    def _crashed(self, reason: str) -> None:
        self._end_process()
        self.show_preview_error(f"Preview failed: {reason}.")

    def _end_process(self) -> None:
        self.preview_button.setEnabled(True)
        self._remove_preview_dir()

    def handle_event(self, event: dict[str, Any]) -> None:
        """Show one worker event (tests feed recorded ones)."""
        kind = event.get("event")
        if kind == "status":
            message = str(event.get("message", ""))
            if message == "training engine started":
                message = "data process started"
            self.show_status(message[:1].upper() + message[1:] + "…")
        elif kind == "data":
            self.preview_event = event
            self.show_preview(event)
        elif kind == "error":
            self.preview_error = str(event.get("message"))
            self.show_preview_error(f"Preview failed: {event.get('message')}")

    def show_status(self, text: str, color: Any = None) -> None:
        self.preview_status.setText(text)
        self.preview_status.setStyleSheet(f"color: {color.name()};" if color is not None
                                          else "")

    def show_preview_error(self, text: str) -> None:
        self.show_preview(None)            # nothing left over from an earlier preview
        self.preview_error = text
        self.show_status(text, theme.ERROR)

    def show_preview(self, event: dict[str, Any] | None) -> None:
        """Fill the class table and the image grids from a worker ``data`` event (None: empty)."""
        event = event or {}
        names = [str(n) for n in event.get("class_names") or []]
        counts = event.get("counts") or {}
        sizes = event.get("sizes") or {}
        table = self.class_table
        table.setRowCount(len(names))
        for j, split in enumerate(("train", "validation", "test"), start=1):
            table.setColumnHidden(j, bool(event) and not counts.get(split))
        for i, name in enumerate(names):
            table.setItem(i, 0, QTableWidgetItem(name))
            for j, split in enumerate(("train", "validation", "test"), start=1):
                per_class = counts.get(split) or []
                text = f"{per_class[i]:,}" if i < len(per_class) else ""
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(i, j, item)
        if event:
            shape = "×".join(str(v) for v in event.get("sample_shape") or [])
            parts = [f"{n:,} {k}" for k, n in sizes.items()]
            text = f"<b>{event.get('name')}</b>: {', '.join(parts)} samples of {shape}"
            if names:
                text += f", {len(names)} classes"
            model_in = event.get("input_shape")
            if model_in:
                text += f"; fed to the model as {'×'.join(str(v) for v in model_in)}"
            notes = [str(n) for n in event.get("notes") or []]
            if notes:
                text += "<br>" + "<br>".join(f"• {n}" for n in notes)
            self.summary_label.setText(text)
            self.show_status("Data loaded.", QColor("#2e7d32"))
        else:
            self.summary_label.setText("")

        _clear(self.samples_grid)
        samples = decode_images(event.get("samples"))
        labels = event.get("sample_labels")
        self.sample_count = 0 if samples is None else len(samples)
        if samples is None or not len(samples):
            self.samples_title.setText("<b>Training samples</b>" + (
                " — none to show (not images)" if event else ""))
        else:
            self.samples_title.setText(f"<b>Training samples</b> ({len(samples)}, "
                                       "by class)" if labels else "<b>Training samples</b>")
            self._fill_samples(samples, labels, names)

        _clear(self.augmented_grid)
        augmented = decode_images(event.get("augmented"))
        self.augmented_count = 0 if augmented is None else len(augmented)
        if augmented is not None and len(augmented):
            self.augmented_title.setText("<b>Augmented</b><br>one training image, "
                                         f"{len(augmented)} random draws")
            columns = 3
            for k, image in enumerate(augmented):
                self.augmented_grid.addWidget(image_cell(image, "", THUMB + 12), k // columns,
                                              k % columns)
            self.augmented_box.show()
        else:
            self.augmented_box.setVisible(bool(event) and self.augmentation() is not None)
            self.augmented_title.setText("<b>Augmented</b><br>none")

    def _fill_samples(self, samples: Any, labels: list[int] | None, names: list[str]) -> None:
        grid = self.samples_grid
        if labels and len(labels) == len(samples):
            rows: dict[int, list[int]] = {}
            for k, label in enumerate(labels):
                rows.setdefault(int(label), []).append(k)
            for r, (label, indices) in enumerate(sorted(rows.items())):
                name = names[label] if 0 <= label < len(names) else str(label)
                title = QLabel(name)
                title.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                title.setToolTip(f"class {label}: {name}")
                grid.addWidget(title, r, 0)
                for c, k in enumerate(indices):
                    grid.addWidget(image_cell(samples[k], "", tip=f"{name} (class {label})"),
                                   r, c + 1)
            grid.setColumnStretch(grid.columnCount(), 1)
        else:
            columns = 8
            for k, image in enumerate(samples):
                grid.addWidget(image_cell(image, f"#{k}"), k // columns, k % columns)
        grid.setRowStretch(grid.rowCount(), 1)
        self.samples_widget.setSizePolicy(QSizePolicy.Policy.Preferred,
                                          QSizePolicy.Policy.Preferred)

