"""Test-time augmentation in the editor: the training settings dialog's TTA field, the training
panel's results line with and without TTA, and the Inspect dock's "TTA ×N" box (against the
fake inspection worker)."""

from __future__ import annotations

from test_inspect_panel import WAIT, Worker, drawn_views, showing

FLIP = {"source": "digits", "options": {"augmentation": {"flip": "horizontal"}}}


def test_the_settings_dialog_has_a_tta_field_only_with_augmentation(window):
    form = window.training_panel.form
    dialog = form.open_settings(modal=False)
    try:
        assert not dialog.tta.isEnabled() and "needs augmentation" in dialog.tta.toolTip()
        assert dialog.values()["tta"] == 0 and dialog.tta.text() == "off"
    finally:
        dialog.reject()
    assert form.apply_data(FLIP)
    dialog = form.open_settings(modal=False)
    try:
        assert dialog.tta.isEnabled() and "averages the predictions" in dialog.tta.toolTip()
        dialog.tta.setValue(4)
        dialog.accept()
    finally:
        dialog.close()
    assert window.project.settings["training"]["tta"] == 4
    assert window.is_modified()


def test_the_results_line_shows_the_metrics_without_and_with_tta(window):
    panel = window.training_panel
    panel.handle_event({"event": "evaluation", "split": "test",
                        "metrics": {"loss": 0.31, "accuracy": 0.9192},
                        "tta": {"copies": 8, "metrics": {"loss": 0.28, "accuracy": 0.9304}}})
    text = panel.results_label.text()
    assert "On the test data: " in text
    assert "accuracy <b>0.9192</b> → <b>0.9304</b> with TTA ×8" in text
    assert "loss <b>0.31" in text and "→ <b>0.28" in text
    panel.handle_event({"event": "evaluation", "split": "test", "metrics": {"accuracy": 0.5}})
    assert "TTA" not in panel.results_label.text()


def test_the_inspect_dock_averages_predictions_with_tta(make_window, qtbot, tmp_path):
    worker = Worker(tmp_path)
    window = make_window()
    window.inspect_panel.client.command = worker.command()
    window.inspect_dock.show()
    window.inspect_dock.raise_()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    assert not panel.tta_check.isEnabled()
    assert "needs augmentation" in panel.tta_check.toolTip()

    window.training_panel.form.apply_data(FLIP)
    panel.data_source_changed()
    assert panel.tta_check.isEnabled() and panel.tta_check.text() == "TTA ×8"
    seen = drawn_views(panel)
    panel.show_view("predict")
    qtbot.waitUntil(lambda: "predict" in seen, timeout=WAIT)
    assert "tta" not in worker.requests("predict")[-1]
    assert panel.predict_caption.text() == "Predicted: 7 (80.0%)"

    panel.tta_check.setChecked(True)
    qtbot.waitUntil(lambda: seen.count("predict") == 2, timeout=WAIT)
    request = worker.requests("predict")[-1]
    assert request["tta"] == {"copies": 8, "augmentation": {"flip": "horizontal"}, "seed": 0}
    assert panel.predict_caption.text() == "Predicted: 7 (80.0%) → 7 (90.0%) with TTA ×8"
    assert panel.predictions.rows == [("7", 0.9), ("1", 0.1)]

    window.project.settings["training"] = {"tta": 4}     # the training settings' copies
    panel.tta_check.setChecked(False)
    qtbot.waitUntil(lambda: seen.count("predict") == 3, timeout=WAIT)
    panel.tta_check.setChecked(True)
    qtbot.waitUntil(lambda: seen.count("predict") == 4, timeout=WAIT)
    assert worker.requests("predict")[-1]["tta"]["copies"] == 4
    assert panel.tta_check.text() == "TTA ×4"
