"""File ▸ Export ▸ For Deployment…: the choices of ``netbuilder export --format
savedmodel|onnx|tflite`` (format, quantization, weights, data, output), run in the deployment
worker (``runtime/workers/deployment.py``) through ``WorkerClient``, so that TensorFlow never
runs in the window's process; its progress and the verified result line are shown here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from netbuilder.ui.workers import WorkerClient

WORKER = "netbuilder.runtime.workers.deployment"
FORMATS = (("savedmodel", "SavedModel (TensorFlow Serving, TF.js)"),
           ("onnx", "ONNX (onnxruntime)"), ("tflite", "TFLite / LiteRT (phones, Raspberry Pi)"))
QUANTIZATIONS = (("", "none (float32)"), ("float16", "float16 weights"),
                 ("int8", "int8, full integer (calibrated on the data)"))
SUFFIXES = {"savedmodel": "", "onnx": ".onnx", "tflite": ".tflite"}
NO_DATA = "(none: random inputs)"


class DeploymentDialog(QDialog):
    """``project_dict``: the project as saved (a snapshot); ``project_file``: where it lives
    (its weights file is found from it); ``run_model``: the selected run's model.keras, if any;
    ``data``: the project's data source, if any."""

    def __init__(self, project_dict: dict[str, Any], *, project_file: str | None = None,
                 project_weights: str | None = None, run_model: str | None = None,
                 data: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export for Deployment")
        self.project_dict = project_dict
        self.project_file = project_file
        self.format = QComboBox()
        for key, text in FORMATS:
            self.format.addItem(text, key)
        self.quantize = QComboBox()
        for key, text in QUANTIZATIONS:
            self.quantize.addItem(text, key)
        self.weights = QComboBox()
        if project_weights:
            self.weights.addItem(f"the project's ({Path(project_weights).name})", project_weights)
        if run_model:
            self.weights.addItem(f"the selected run ({run_model})", run_model)
        self.weights.addItem("fresh: UNTRAINED random weights", "")
        self.data = QComboBox()
        self.data.setEditable(True)
        self.data.addItems([NO_DATA, "digits", "shapes", "mnist", "fashion_mnist", "cifar10"])
        if data:
            self.data.setCurrentText(data)
        self.output = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.output)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Quantization", self.quantize)
        form.addRow("Weights", self.weights)
        form.addRow("Data (to check; int8 calibrates on it)", self.data)
        form.addRow("Save to", row)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export",
                                                    QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.log)
        layout.addWidget(self.result)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()
        self.worker = WorkerClient("export process", WORKER, self,
                                   last_events=("finished", "error"))
        self.worker.event.connect(self._event)
        self.worker.crashed.connect(lambda why: self._done(f"Export failed: {why}", False))

    def _format_changed(self) -> None:
        fmt = self.format.currentData()
        self.quantize.setEnabled(fmt == "tflite")
        if fmt != "tflite":
            self.quantize.setCurrentIndex(0)
        name = Path(self.output.text() or self.project_dict.get("name") or "model")
        stem = name.name.split(".")[0] if self.output.text() else str(name)
        folder = name.parent if self.output.text() else Path(self.project_file or ".").parent
        self.output.setText(str(folder / (stem + SUFFIXES[fmt])))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export for deployment", self.output.text())
        if path:
            self.output.setText(path)

    def job(self) -> dict[str, Any]:
        weights = self.weights.currentData()
        data = self.data.currentText().strip()
        return {"project": self.project_dict, "project_file": self.project_file,
                "format": self.format.currentData(),
                "quantize": self.quantize.currentData() or None,
                "data": None if data in ("", NO_DATA) else data,
                "weights": weights or None, "fresh": not weights,
                "output": self.output.text().strip()}

    def start(self) -> None:
        if self.worker.running():
            return
        self.log.clear()
        self.result.setText("")
        self.export_button.setEnabled(False)
        self.worker.start(json.loads(json.dumps(self.job())))

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind in ("status", "log"):
            self.log.appendPlainText(str(event.get("message", "")))
        elif kind == "warning":
            self.log.appendPlainText(f"warning: {event.get('message', '')}")
        elif kind == "result":
            self._done(str(event.get("line", "")), True)
        elif kind == "error":
            self._done(f"Export failed: {event.get('message', '')}", False)

    def _done(self, text: str, ok: bool) -> None:
        self.result.setText(text)
        self.result.setStyleSheet("" if ok else "color: #c0392b;")
        self.export_button.setEnabled(True)

    def done(self, result: int) -> None:  # noqa: D401 - Qt's override
        self.worker.close()
        super().done(result)


def open_deployment_dialog(window: Any) -> DeploymentDialog:
    """Show the dialog for ``window``'s project (its weights, the Runs tab's selected run, the
    training form's data source)."""
    from netbuilder.core.project import dumps

    run_model = None
    panel = getattr(window, "training_panel", None)
    run = panel.runs_tab.selected_run() if panel is not None else None
    if run is not None and run.model_path.is_file():
        run_model = str(run.model_path)
    data = None
    if panel is not None:
        source = panel.form.data_source()
        data = source if isinstance(source, str) else None
    path = getattr(window.document, "path", None)
    dialog = DeploymentDialog(
        json.loads(dumps(window.project)), project_file=str(path) if path else None,
        project_weights=str(window.weights_file) if window.weights_file else None,
        run_model=run_model, data=data, parent=window)
    dialog.show()
    return dialog
