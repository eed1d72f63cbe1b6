"""File ▸ Import ▸ Keras Model…: a model file (.keras, .h5, .json) or a Keras Application, imported
in a background thread so that the window stays responsive while Keras starts (seconds).

Nothing here imports Keras itself: ``runtime.keras_import`` does, inside the worker thread.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

MODEL_FILTER = "Keras models (*.keras *.h5 *.hdf5 *.json);;All files (*)"

# Shown at once; replaced by keras.applications' own list once Keras has loaded.
KNOWN_APPLICATIONS = (
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1",
    "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6",
    "EfficientNetB7", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
    "EfficientNetV2B3", "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
    "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Large",
    "MobileNetV3Small", "NASNetLarge", "NASNetMobile", "ResNet101", "ResNet101V2", "ResNet152",
    "ResNet152V2", "ResNet50", "ResNet50V2", "VGG16", "VGG19", "Xception",
)


class Job(QObject):
    """Runs ``fn()`` in a daemon thread; ``finished(result)`` or ``failed(message)`` arrive in the
    thread that created the job (the GUI's), as napari's workers do."""

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="netbuilder-job", daemon=True)
        self.thread.start()

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _run(self) -> None:
        try:
            result = self.fn()
        except Exception as err:  # noqa: BLE001 - reported to the user, not raised
            message = str(err) or type(err).__name__
            if type(err).__name__ != "KerasImportError":
                traceback.print_exc()
                message = f"{type(err).__name__}: {message}"
            self._emit(self.failed, message)
            return
        self._emit(self.finished, result)

    @staticmethod
    def _emit(signal: Any, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:
            pass  # the window went away meanwhile


class ImportDialog(QDialog):
    """Choose what to import: a model file, or a Keras Application and its options."""

    def __init__(self, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a Keras model")
        self.start_dir = start_dir
        self.file_button = QRadioButton("A model file (.keras, .h5, or an architecture .json)")
        self.app_button = QRadioButton("A Keras Application (a well-known architecture)")
        group = QButtonGroup(self)
        group.addButton(self.file_button)
        group.addButton(self.app_button)
        self.file_button.setChecked(True)

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("path to the model file")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(browse)

        self.app_combo = QComboBox()
        self.app_combo.setEditable(False)
        self.set_application_names(list(KNOWN_APPLICATIONS))
        self.app_combo.setCurrentText("ResNet50")
        self.include_top = QCheckBox("include the classifier on top (include_top)")
        self.include_top.setChecked(True)
        self.input_shape = QLineEdit()
        self.input_shape.setPlaceholderText("default, e.g. 224, 224, 3")
        self.weights = QComboBox()
        self.weights.addItem("none (random weights: always works)", None)
        self.weights.addItem("imagenet (needs the file in Keras' cache)", "imagenet")
        app_form = QFormLayout()
        app_form.addRow("Application", self.app_combo)
        app_form.addRow("", self.include_top)
        app_form.addRow("Input shape", self.input_shape)
        app_form.addRow("Weights", self.weights)
        self.app_box = QWidget()
        self.app_box.setLayout(app_form)

        note = QLabel("The import runs in the background: Keras takes a few seconds to start. "
                      "Lambda layers (Python code) cannot be imported.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #5f6873;")
        self.error = QLabel()
        self.error.setStyleSheet("color: #d93025;")
        self.error.setWordWrap(True)
        self.error.hide()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Import")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.file_button)
        layout.addLayout(file_row)
        layout.addSpacing(8)
        layout.addWidget(self.app_button)
        layout.addWidget(self.app_box)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.file_button.toggled.connect(self._sync)
        self._sync()
        self.resize(520, self.sizeHint().height())

    def set_application_names(self, names: list[str]) -> None:
        current = self.app_combo.currentText()
        self.app_combo.clear()
        self.app_combo.addItems(names)
        if current in names:
            self.app_combo.setCurrentText(current)

    def _sync(self) -> None:
        from_file = self.file_button.isChecked()
        self.path_edit.setEnabled(from_file)
        self.app_box.setEnabled(not from_file)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Keras model file", self.start_dir,
                                              MODEL_FILTER)
        if path:
            self.path_edit.setText(path)
            self.file_button.setChecked(True)

    def request(self) -> tuple[str, dict[str, Any]]:
        """``(source, options)`` for ``keras_import.import_source``; ``ValueError`` if the
        choice is incomplete."""
        if self.file_button.isChecked():
            path = self.path_edit.text().strip()
            if not path:
                raise ValueError("Choose a model file.")
            if not Path(path).is_file():
                raise ValueError(f"{path} is not a file.")
            return path, {}
        options: dict[str, Any] = {"include_top": self.include_top.isChecked()}
        shape = self.input_shape.text().strip()
        if shape:
            try:
                options["input_shape"] = tuple(int(p) for p in shape.strip("()[] ").split(",")
                                               if p.strip())
            except ValueError:
                raise ValueError("Input shape: sizes separated by commas, e.g. 224, 224, "
                                 "3.") from None
        if self.weights.currentData():
            options["weights"] = self.weights.currentData()
        return f"app:{self.app_combo.currentText()}", options

    def _accept(self) -> None:
        try:
            self.request()
        except ValueError as err:
            self.error.setText(str(err))
            self.error.show()
            return
        self.accept()


def load_application_names() -> list[str]:
    from netbuilder.runtime.applications import application_names

    return application_names()


def run_import(source: str, options: dict[str, Any], workdir: str | None = None) -> Any:
    """The import itself (in the worker thread): a ``Project``. With ``workdir``, the source's
    weights (if it has any) are kept there, as ``imported.weights.h5``."""
    from netbuilder.runtime.keras_import import import_source

    if workdir is not None:
        options = {**options, "project_path": str(Path(workdir) / "imported.nbproj")}
    return import_source(source, **options)

