"""The Inspect dock's input chooser: a dataset sample (the training data source, a split and an
index), an image file, or one of scikit-learn's sample images, and the input shown as the model
sees it (from the worker's reply)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from netbuilder.runtime.workers.protocol import SAMPLE_IMAGES, ProtocolError, decode_array
from netbuilder.ui import theme
from netbuilder.ui.dialogs.common import add_rows
from netbuilder.ui.formatting import dims_text
from netbuilder.ui.images import thumbnail

INPUT_KINDS = ("Dataset sample", "Image file…", "china.jpg (scikit-learn)",
               "flower.jpg (scikit-learn)")
SPLITS = ("train", "validation", "test")
PREVIEW = 84                 # px: the input's picture, beside its caption


class InputChooser(QWidget):
    """Which input to inspect: a dataset sample (the training data source, a split and an index),
    an image file, or one of scikit-learn's sample images; shows it as the model sees it."""

    changed = Signal()

    def __init__(self, data_source: Callable[[], Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data_source = data_source
        self.file_path: str | None = None
        self.kind_combo = QComboBox()
        self.kind_combo.addItems(list(INPUT_KINDS))
        self.kind_combo.setToolTip("What to feed the model: a sample of the training data, an "
                                   "image file, or one of scikit-learn's bundled photos")
        self.kind_combo.activated.connect(self._kind_chosen)
        self.kind_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.kind_combo.setMinimumContentsLength(8)
        self._kind_index = 0
        self.source_label = QLabel()
        self.source_label.setToolTip("The training data chosen in the Training panel")
        self.split_combo = QComboBox()
        self.split_combo.addItems(list(SPLITS))
        self.split_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 10_000_000)
        self.index_spin.setToolTip("Which sample of the split")
        self.index_spin.valueChanged.connect(lambda _v: self.changed.emit())
        self.file_button = QPushButton("Choose image…")
        self.file_button.clicked.connect(self.choose_file)
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW, PREVIEW)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet(f"border: 1px solid {theme.BORDER.name()}; "
                                   "background: white;")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet(f"color: {theme.MUTED.name()}; font-size: 11px;")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        add_rows(form, ("Input", self.kind_combo), ("Data", self.source_label),
                 ("Split", self.split_combo), ("Sample", self.index_spin), ("", self.file_button))
        self.form = form
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(form)
        row = QHBoxLayout()           # the picture beside its caption: a short dock shows both
        row.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.caption, 1, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(row)
        layout.addWidget(self.notes)
        layout.addStretch(1)
        self.sync()

    def data(self) -> tuple[str, dict[str, Any]]:
        """The training data: its source and options (augmentation left out: the model is
        inspected on the data as it is)."""
        data: Any = self._data_source() or "digits"
        options: dict[str, Any] = {}
        if isinstance(data, dict):
            options = {k: v for k, v in (data.get("options") or {}).items()
                       if k != "augmentation"}
            data = data.get("source") or "digits"
        source = str(data)
        if "/" in source or "\\" in source:
            source = str(Path(source).expanduser().resolve())
        return source, options

    def augmentation(self) -> dict[str, Any] | None:
        """The training data's augmentation options (for test-time augmentation), or None
        when none is on."""
        data: Any = self._data_source()
        options = data.get("options") if isinstance(data, dict) else None
        aug = options.get("augmentation") if isinstance(options, dict) else None
        return dict(aug) if isinstance(aug, dict) and any(aug.values()) else None

    def source(self) -> str:
        return self.data()[0]

    def kind(self) -> str:
        index = self.kind_combo.currentIndex()
        return ("dataset", "file", "sample_image", "sample_image")[index]

    def sync(self) -> None:
        """Show the controls of the chosen kind of input."""
        dataset = self.kind() == "dataset"
        source = self.source()
        self.source_label.setText(Path(source).name if "/" in source else source)
        for widget in (self.source_label, self.split_combo, self.index_spin):
            widget.setVisible(dataset)
            label = self.form.labelForField(widget)
            if label is not None:
                label.setVisible(dataset)
        self.file_button.setVisible(self.kind() == "file")
        if self.kind() == "file" and self.file_path:
            self.file_button.setText(Path(self.file_path).name)
            self.file_button.setToolTip(self.file_path)

    def spec(self) -> dict[str, Any] | None:
        """The ``input`` of a request; None while no image file is chosen."""
        kind = self.kind()
        if kind == "dataset":
            source, options = self.data()
            return {"kind": "dataset", "source": source, "options": options,
                    "index": self.index_spin.value(), "split": self.split_combo.currentText()}
        if kind == "file":
            return {"kind": "file", "path": self.file_path} if self.file_path else None
        return {"kind": "sample_image", "name": SAMPLE_IMAGES[self.kind_combo.currentIndex() - 2]}

    def batch_spec(self, count: int) -> dict[str, Any]:
        """A batch of the training data, for the statistics."""
        source, options = self.data()
        return {"kind": "dataset", "source": source, "options": options, "index": 0,
                "split": self.split_combo.currentText(), "count": count}

    def ask_file(self) -> str:
        """Ask for an image file (tests replace this)."""
        start = str(Path(self.file_path).parent) if self.file_path else str(Path.home())
        name, _ = QFileDialog.getOpenFileName(
            self, "Inspect the model on an image", start,
            "Images (*.png *.jpg *.jpeg *.bmp *.gif);;All files (*)")
        return name

    def choose_file(self) -> bool:
        name = self.ask_file()
        if not name:
            return False
        self.file_path = name
        self.kind_combo.setCurrentIndex(1)
        self._kind_index = 1
        self.sync()
        self.changed.emit()
        return True

    def _kind_chosen(self, index: int) -> None:
        if index == 1 and not self.file_path and not self.choose_file():
            self.kind_combo.setCurrentIndex(self._kind_index)
            return
        self._kind_index = index
        self.sync()
        self.changed.emit()

    def show_input(self, result: dict[str, Any]) -> None:
        """Show the input of a reply as the model sees it, its label and the notes."""
        encoded = result.get("input_image")
        if isinstance(encoded, dict):
            try:
                image = decode_array(encoded)
                self.preview.setPixmap(thumbnail(image, PREVIEW - 4))
                shape = dims_text(image.shape)
            except ProtocolError:
                shape = "?"
        else:
            shape = None
        label = result.get("label")
        names = result.get("class_names") or []
        parts = []
        if shape:
            parts.append(f"as the model sees it: {shape}")
        if isinstance(label, int):
            name = names[label] if 0 <= label < len(names) else None
            parts.append(f"label: <b>{label}</b>" + (f" ({name})" if name and name != str(label)
                                                       else ""))
        self.caption.setText("<br>".join(parts))
        notes = result.get("notes") or []
        self.notes.setText("\n".join(f"• {n}" for n in notes))
