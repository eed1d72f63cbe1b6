"""File ▸ Export ▸ For Deployment…: the dialog builds the job from its choices and runs it in
the deployment worker, showing the progress and the verified result line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netbuilder.core.project import dumps, load
from netbuilder.ui.dialogs.deployment import DeploymentDialog

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def _dialog(qtbot, tmp_path):
    project = load(EXAMPLES / "mlp.nbproj")
    dialog = DeploymentDialog(json.loads(dumps(project)), project_file=str(tmp_path / "mlp.nbproj"),
                              data="digits")
    qtbot.addWidget(dialog)
    return dialog


def test_the_job_follows_the_choices(qtbot, tmp_path):
    dialog = _dialog(qtbot, tmp_path)
    assert not dialog.quantize.isEnabled()            # SavedModel: float32 only
    dialog.format.setCurrentIndex(2)                  # tflite
    assert dialog.quantize.isEnabled() and dialog.output.text().endswith("mlp.tflite")
    dialog.quantize.setCurrentIndex(2)
    job = dialog.job()
    assert job["format"] == "tflite" and job["quantize"] == "int8" and job["data"] == "digits"
    assert job["fresh"] is True and job["weights"] is None     # no project weights, no run


@pytest.mark.slow
def test_a_real_export_shows_the_result_line(qtbot, tmp_path):
    dialog = _dialog(qtbot, tmp_path)
    dialog.format.setCurrentIndex(1)                  # onnx
    dialog.output.setText(str(tmp_path / "mlp.onnx"))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled(), timeout=120_000)
    assert dialog.result.text().startswith(f"Wrote {tmp_path / 'mlp.onnx'} (ONNX"), \
        dialog.result.text()
    assert "UNTRAINED" in dialog.log.toPlainText()
    assert (tmp_path / "mlp.onnx").is_file()
    qtbot.waitUntil(lambda: not dialog.worker.running(), timeout=30_000)
    dialog.close()
