"""The training panel: recorded worker events drive its curves, progress and status; an invalid
graph, a worker error, a crashed or killed worker; Stop and Continue with a fake worker; and one
real run through the real worker."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from netbuilder.core.graph import Graph
from netbuilder.core.project import load
from netbuilder.ui.panels.training.panel import CRASH_MESSAGE
from netbuilder.ui.panels.training.runs import RunsHome, run_folder, runs_beside

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def private_temp_folder(tmp_path, monkeypatch):
    """Runs of unsaved projects go under the temporary folder: the test's own one."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()


def recorded_events() -> list[dict]:
    """What the worker sends for a 2-epoch run, 3 steps per epoch (abridged)."""
    events: list[dict] = [
        {"event": "status", "message": "training engine started", "pid": 1},
        {"event": "status", "message": "reading the project"},
        {"event": "status", "message": "loading TensorFlow"},
        {"event": "model", "name": "test", "params": 5130, "inputs": [[None, 28, 28, 1]],
         "outputs": [[None, 10]]},
        {"event": "status", "message": "loading data: digits"},
        {"event": "data", "name": "digits", "class_names": [str(i) for i in range(10)],
         "sizes": {"train": 1438, "validation": 359}, "notes": ["images resized"]},
        {"event": "train_begin", "epochs": 2, "initial_epoch": 0, "steps_per_epoch": 3,
         "batch_size": 32, "samples": 96, "validation_samples": 20, "notes": []},
    ]
    done = 0
    for epoch in (1, 2):
        for batch in (1, 2, 3):
            done += 1
            events.append({"event": "batch", "epoch": epoch, "epochs": 2, "batch": batch,
                           "steps": 3, "logs": {"loss": 2.0 / done, "accuracy": 0.1 * done},
                           "progress": done / 6, "eta_s": 6.0 - done, "elapsed_s": done})
        events.append({"event": "epoch", "epoch": epoch, "epochs": 2,
                       "logs": {"accuracy": 0.4 * epoch, "loss": 1.0 / epoch,
                                "val_accuracy": 0.45 * epoch, "val_loss": 1.1 / epoch,
                                "learning_rate": 0.001},
                       "progress": epoch / 2, "eta_s": 3.0 * (2 - epoch), "epoch_s": 1.5})
    events += [
        {"event": "status", "message": "evaluating on the validation data"},
        {"event": "evaluation", "split": "validation",
         "metrics": {"accuracy": 0.9, "loss": 0.55},
         "confusion_matrix": [[5, 1, 0], [0, 6, 0], [1, 0, 7]], "class_names": ["a", "b", "c"],
         "misclassified": [3, 9], "misclassified_count": 2},
        {"event": "finished", "reason": "completed", "epochs_run": 2,
         "history": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.55]}, "train_s": 3.0,
         "samples_per_s": 64.0, "output_dir": "/tmp/x", "model_path": "/tmp/x/model.keras"},
    ]
    return events


def fake_worker(body: str) -> list[str]:
    """A worker command: Python that reads the job line, then runs ``body``."""
    code = "import json, sys, time\njob = json.loads(sys.stdin.readline())\n" + \
        textwrap.dedent(body)
    return [sys.executable, "-c", code]


def emit(event: dict) -> str:
    return f"print(json.dumps({event!r}), flush=True)\n"


def test_new_batches_alone_redraw_the_plots_at_most_once_a_second(window, monkeypatch):
    from netbuilder.ui.panels.training import panel as tp

    panel = window.training_panel
    panel.ensure_plots()
    events = recorded_events()
    for event in events[:11]:     # up to the end of the first epoch
        panel.handle_event(event)
    panel._refresh_if_dirty()
    assert len(panel.curve_data("batch_loss")[0]) == 3
    now = [1000.0]
    monkeypatch.setattr(tp.time, "monotonic", lambda: now[0])
    panel.refresh_plots()
    batches = [e for e in events[11:] if e["event"] == "batch"]
    panel.handle_event(batches[0])
    now[0] += 0.5
    panel._refresh_if_dirty()                   # half a second: not yet
    assert len(panel.curve_data("batch_loss")[0]) == 3
    now[0] += 0.6
    panel._refresh_if_dirty()                   # over a second: redrawn
    assert len(panel.curve_data("batch_loss")[0]) == 4
    epoch = next(e for e in events[11:] if e["event"] == "epoch")
    panel.handle_event(epoch)
    panel._refresh_if_dirty()                   # an epoch is drawn at once
    assert len(panel.curve_data("loss")[0]) == 2


def test_a_new_runs_first_batch_is_drawn_at_once(window, monkeypatch):
    """Found under Xvfb: the throttle kept a new run's first point off the curve for a second
    (the run's clear() had just redrawn the empty plots)."""
    from netbuilder.ui.panels.training import panel as tp

    panel = window.training_panel
    panel.ensure_plots()
    now = [1000.0]
    monkeypatch.setattr(tp.time, "monotonic", lambda: now[0])
    panel.clear()                                  # what starting a run does
    first = next(e for e in recorded_events() if e["event"] == "batch")
    panel.handle_event(first)
    now[0] += 0.1                                  # the plot timer's next tick
    panel._refresh_if_dirty()
    assert len(panel.curve_data("batch_loss")[0]) == 1


def test_recorded_events_drive_status_progress_curves_and_results(window, qtbot):
    panel = window.training_panel
    events = recorded_events()
    panel.handle_event(events[0])
    panel.handle_event(events[1])
    panel.handle_event(events[2])
    assert "Loading TensorFlow" in panel.status_label.text()
    for event in events[3:11]:    # up to the end of the first epoch
        panel.handle_event(event)
    assert 480 <= panel.progress.value() <= 520
    assert "left" in panel.progress_label.text()
    assert "Epoch 1/2" in panel.status_label.text()
    panel.refresh_plots()
    assert panel.curve_data("loss") == ([1.0], [1.0])
    assert panel.curve_data("val_metric")[1] == [0.45]
    assert len(panel.curve_data("batch_loss")[0]) == 3
    for event in events[11:]:
        panel.handle_event(event)
    qtbot.wait(250)               # the plot timer is not running: refresh by hand
    panel.refresh_plots()
    assert panel.curve_data("loss")[1] == [1.0, 0.5]
    assert panel.curve_data("val_loss")[1] == pytest.approx([1.1, 0.55])
    assert panel.curve_data("metric")[1] == pytest.approx([0.4, 0.8])
    assert len(panel.curve_data("batch_loss")[1]) == 6
    assert panel.curve_data("batch_loss")[0][-1] == pytest.approx(2.0)
    assert panel.progress.value() == 1000
    assert "Training done: 2 epochs" in panel.status_label.text()
    assert "accuracy <b>0.9000</b>" in panel.results_label.text()
    assert panel.results_tabs.currentWidget() is panel.plot_area     # the curves stay in view
    assert panel.results_tabs.isTabEnabled(panel.results_tabs.indexOf(panel.confusion_box))
    assert panel.confusion.rowCount() == 3 and panel.confusion.item(2, 2).text() == "7"
    assert panel.epochs_done == 2


def test_an_invalid_graph_is_explained_instead_of_training(make_window):
    graph = Graph()
    a = graph.add_node("Input", {"shape": [8]})
    b = graph.add_node("Conv2D", {"filters": 4, "kernel_size": 3}, position=(0, 110))
    graph.connect(a.id, b.id)
    window = make_window(graph)
    assert window.train() is False
    panel = window.training_panel
    assert panel.client.process is None
    assert "Cannot train" in panel.status_label.text()
    assert "problem" in panel.status_label.text()
    assert window.training_dock.isVisible()

    empty = make_window(Graph())
    assert empty.train() is False
    assert "empty" in empty.training_panel.status_label.text()


def test_a_crashed_worker_is_reported_and_the_editor_keeps_running(window, qtbot):
    panel = window.training_panel
    panel.worker_command = fake_worker(
        emit({"event": "status", "message": "loading TensorFlow"}) + "sys.exit(3)\n")
    assert window.train()
    assert not window.train_action.isEnabled()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    text = panel.status_label.text()
    assert CRASH_MESSAGE in text and "exit status 3" in text
    assert panel.terminal["kind"] == "crashed"
    assert window.isVisible() and window.train_action.isEnabled()
    assert panel.train_button.isEnabled()
    assert window.graph.nodes    # nothing lost


def test_a_killed_worker_is_reported(window, qtbot):
    panel = window.training_panel
    panel.worker_command = fake_worker(
        emit({"event": "status", "message": "loading data: digits"}) + "time.sleep(60)\n")
    assert panel.train()
    qtbot.waitUntil(lambda: "Loading data" in panel.status_label.text(), timeout=30000)
    panel.kill()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    assert CRASH_MESSAGE in panel.status_label.text()


def test_a_worker_error_event_is_shown(window, qtbot):
    panel = window.training_panel
    panel.worker_command = fake_worker(
        emit({"event": "error", "kind": "data", "message": "no such folder /nope"})
        + "sys.exit(1)\n")
    assert panel.train()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    assert "Training failed: no such folder /nope" in panel.status_label.text()
    assert CRASH_MESSAGE not in panel.status_label.text()


def test_stop_then_continue_from_the_last_weights(make_window, qtbot, tmp_path):
    window = make_window(path=tmp_path / "model.nbproj")
    panel = window.training_panel
    jobs = tmp_path / "jobs.txt"
    panel.worker_command = fake_worker(f"""
        open({str(jobs)!r}, "a").write(json.dumps(job) + "\\n")
        out = job["output_dir"]
        import os
        os.makedirs(out, exist_ok=True)
        open(os.path.join(out, "model.keras"), "w").write("weights")
        first = job.get("initial_epoch", 0) + 1
        print(json.dumps({{"event": "train_begin", "epochs": first + 9,
              "initial_epoch": first - 1, "steps_per_epoch": 2, "batch_size": 8,
              "samples": 16}}), flush=True)
        print(json.dumps({{"event": "epoch", "epoch": first, "epochs": first + 9,
              "logs": {{"loss": 1.0 / first, "val_loss": 1.0}}, "progress": 0.1,
              "eta_s": 9}}), flush=True)
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        print(json.dumps({{"event": "finished", "reason": "stopped", "epochs_run": 1,
              "history": {{}}, "output_dir": out,
              "model_path": os.path.join(out, "model.keras")}}), flush=True)
    """)
    panel.form.epochs_spin.setValue(10)
    assert window.train()
    qtbot.waitUntil(lambda: panel.epochs_done == 1, timeout=30000)
    window.stop_training()
    assert "Stopping" in panel.status_label.text()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    assert "Training stopped" in panel.status_label.text()
    assert panel.continue_button.isEnabled()
    first_out = panel.output_dir
    assert first_out.parent == tmp_path / "model-runs"

    panel.form.lr_spin.setValue(0.0005)
    assert panel.train(resume=True)
    qtbot.waitUntil(lambda: panel.epochs_done == 2, timeout=30000)
    panel.stop()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    first, second = [json.loads(line) for line in jobs.read_text().splitlines()]
    assert "initial_weights" not in first
    assert second["initial_weights"] == str(first_out / "model.keras")
    assert second["initial_epoch"] == 1
    assert second["settings"]["learning_rate"] == pytest.approx(0.0005)
    assert second["output_dir"] != first["output_dir"]
    panel.refresh_plots()
    assert panel.curve_data("loss")[0] == [1.0, 2.0]     # the curves go on


def test_run_folders_are_named_by_date_and_time(tmp_path):
    import datetime

    when = datetime.datetime(2026, 3, 4, 5, 6, 7)
    folder = run_folder(runs_beside(tmp_path / "m.nbproj"), when)
    assert folder == tmp_path / "m-runs" / "2026-03-04_05-06-07"
    folder.mkdir(parents=True)
    assert run_folder(runs_beside(tmp_path / "m.nbproj"), when).name == "2026-03-04_05-06-07-2"
    home = RunsHome()
    assert "netbuilder-runs" in str(run_folder(home.base(None, create=True), when))
    home.release()


def test_a_real_short_run_through_the_worker(make_window, qtbot, tmp_path):
    pytest.importorskip("keras")
    project = load(ROOT / "resources" / "examples" / "mlp.nbproj")
    window = make_window(project.graph, "mlp", path=tmp_path / "mlp.nbproj")
    panel = window.training_panel
    panel.form.data_combo.set_source("digits")
    panel.form.epochs_spin.setValue(2)
    panel.form.batch_spin.setValue(64)
    assert window.train()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=240000)
    assert panel.terminal is not None
    assert panel.terminal["event"] == "finished", panel.status_label.text()
    assert panel.terminal["reason"] == "completed"
    panel.refresh_plots()
    assert len(panel.curve_data("loss")[1]) == 2
    assert len(panel.curve_data("val_metric")[1]) == 2
    assert panel.curve_data("batch_loss")[1]
    out = panel.output_dir
    assert (out / "history.json").is_file() and (out / "model.keras").is_file()
    assert panel.continue_button.isEnabled()
    assert any(e.get("message") == "loading TensorFlow" for e in panel.events)
    # the run is kept with the project and listed
    assert (out / "run.json").is_file()
    assert panel.runs_tab.runs_list.count() == 1 and panel.runs_tab.runs[0].folder == out
    assert "2 epochs · completed" in panel.runs_tab.runs_list.item(0).text()
    evaluation = panel.evaluation
    assert evaluation is not None and panel.misclassified_list.count() == min(
        100, evaluation["misclassified_count"])


def test_train_menu_f5_and_the_view_toggle(window):
    from PySide6.QtGui import QKeySequence

    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert "Train" in menus
    assert window.train_action.shortcut() == QKeySequence("F5")
    assert window.training_dock.toggleViewAction() in window.view_menu.actions()
    assert not window.stop_training_action.isEnabled()


def test_the_settings_dialog_edits_every_field_validates_and_marks_the_project_modified(window):
    from netbuilder.runtime.training.engine import TrainingSettings

    panel = window.training_panel
    assert not window.is_modified()
    dialog = panel.form.open_settings(modal=False)
    try:
        # every TrainingSettings field has an editor, and the dialog shows the panel's values
        assert set(dialog.values()) == set(TrainingSettings().to_dict())
        assert dialog.epochs.value() == panel.form.epochs_spin.value()
        assert not dialog.momentum.isEnabled()               # adam: no momentum
        dialog.optimizer.setCurrentText("sgd")
        assert dialog.momentum.isEnabled() and dialog.nesterov.isEnabled()
        assert not dialog.step_epochs.isEnabled()
        dialog.schedule.setCurrentText("step")
        assert dialog.step_epochs.isEnabled() and not dialog.cosine_alpha.isEnabled()

        # an invalid value: shown inline, not applied, the dialog stays open
        dialog.checkpoint_monitor.setEditText("")
        dialog.accept()
        assert dialog.isVisible()
        assert "checkpoint_monitor" in dialog.error_label.text()
        assert dialog.error_label.isVisibleTo(dialog)
        assert "training" not in window.project.settings or \
            window.project.settings["training"].get("optimizer") != "sgd"
        assert not window.is_modified()
        dialog.checkpoint_monitor.setEditText("val_accuracy")
        dialog.learning_rate.setValue(0.0)
        dialog.accept()
        assert "learning_rate" in dialog.error_label.text() and dialog.isVisible()

        dialog.learning_rate.setValue(0.05)
        dialog.momentum.setValue(0.8)
        dialog.nesterov.setChecked(True)
        dialog.step_epochs.setValue(4)
        dialog.clip.setChecked(True)
        dialog.clipnorm.setValue(1.5)
        dialog.loss.setEditText("")                 # blank: suggested
        dialog.metrics.setText("accuracy, auc")
        dialog.early_stopping.setChecked(True)
        dialog.early_stopping_monitor.setEditText("val_accuracy")
        dialog.patience.setValue(7)
        dialog.min_delta.setValue(0.01)
        dialog.restore_best_weights.setChecked(False)
        dialog.terminate_on_nan.setChecked(False)
        dialog.csv_log.setChecked(True)
        dialog.tensorboard.setChecked(True)
        dialog.epochs.setValue(12)
        dialog.accept()
        assert not dialog.isVisible()
    finally:
        dialog.close()
    saved = window.project.settings["training"]
    expected = {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.8, "nesterov": True,
                "schedule": "step", "step_epochs": 4, "clipnorm": 1.5, "loss": None,
                "metrics": ["accuracy", "auc"], "early_stopping": True,
                "early_stopping_monitor": "val_accuracy", "patience": 7, "min_delta": 0.01,
                "restore_best_weights": False, "terminate_on_nan": False, "csv_log": True,
                "tensorboard": True, "checkpoint_monitor": "val_accuracy", "epochs": 12}
    assert {k: saved[k] for k in expected} == expected
    assert TrainingSettings.from_dict(saved).optimizer == "sgd"
    assert window.is_modified()
    # the panel's own fields follow
    assert panel.form.optimizer_combo.currentText() == "sgd"
    assert panel.form.epochs_spin.value() == 12
    assert panel.form.lr_spin.value() == pytest.approx(0.05)
    # and it is one undoable step
    window.undo_stack.undo()
    assert window.project.settings.get("training", {}).get("optimizer") != "sgd"
    assert not window.is_modified()
    window.undo_stack.redo()
    assert window.project.settings["training"]["optimizer"] == "sgd"


def test_settings_cancelled_or_unchanged_change_nothing(window):
    panel = window.training_panel
    dialog = panel.form.open_settings(modal=False)
    dialog.optimizer.setCurrentText("rmsprop")
    dialog.reject()
    assert not window.is_modified()
    dialog = panel.form.open_settings(modal=False)
    dialog.accept()
    before = window.undo_stack.count()
    dialog = panel.form.open_settings(modal=False)
    dialog.accept()                                    # the same again: no new undo step
    assert window.undo_stack.count() == before
    assert not panel.form.open_settings(modal=False).output_losses.text()
    panel.form.settings_dialog.output_losses.setText("{not json")
    panel.form.settings_dialog.accept()
    assert "JSON" in panel.form.settings_dialog.error_label.text()
    panel.form.settings_dialog.close()


def feed(panel, events):
    for event in events:
        panel.handle_event(event)
    panel.refresh_plots()


def test_the_learning_rate_curve_follows_the_epoch_logs(window):
    panel = window.training_panel
    events = recorded_events()
    for event in events:
        if event["event"] == "epoch":
            event["logs"]["learning_rate"] = 0.01 / event["epoch"]
    panel.ensure_plots()
    assert not panel.plots.lr_plot.isVisibleTo(panel)          # no rate yet: no plot
    feed(panel, events)
    assert panel.curve_data("learning_rate") == ([1.0, 2.0], pytest.approx([0.01, 0.005]))
    assert panel.plots.lr_plot.isVisibleTo(panel)
    assert "learning_rate" not in panel.status_label.text()

    # Keras' older name for it works too; a worker that sends no rate shows no curve
    panel.clear()
    for event in events:
        if event["event"] == "epoch":
            event["logs"]["lr"] = event["logs"].pop("learning_rate")
    feed(panel, events)
    assert panel.curve_data("learning_rate")[1] == pytest.approx([0.01, 0.005])
    assert panel.metric_name == "accuracy"
    panel.clear()
    for event in events:
        if event["event"] == "epoch":
            event["logs"].pop("lr")
    feed(panel, events)
    assert panel.curve_data("learning_rate") == ([], [])
    assert not panel.plots.lr_plot.isVisibleTo(panel)


def test_misclassified_samples_are_listed_after_training(window):
    """An evaluation event without images (an older worker): their indices are listed."""
    panel = window.training_panel
    tabs = panel.results_tabs
    assert not tabs.isTabEnabled(tabs.indexOf(panel.misclassified_box))
    feed(panel, recorded_events())
    assert panel.misclassified == [3, 9]
    assert panel.misclassified_list.count() == 2
    assert panel.misclassified_list.item(0).text() == "validation sample #3"
    assert "Misclassified validation samples: 2" in panel.misclassified_title.text()
    assert tabs.isTabEnabled(tabs.indexOf(panel.misclassified_box))
    assert tabs.tabText(tabs.indexOf(panel.misclassified_box)) == "Misclassified (2)"
    panel.handle_event({"event": "evaluation", "split": "test", "metrics": {"loss": 0.1},
                        "confusion_matrix": [[4, 0], [0, 4]], "class_names": ["a", "b"],
                        "misclassified": list(range(100)), "misclassified_count": 250})
    assert panel.misclassified_list.count() == 100
    assert "250, the first 100 shown" in panel.misclassified_title.text()
    panel.handle_event({"event": "evaluation", "split": "test", "metrics": {"loss": 0.1},
                        "confusion_matrix": [[4, 0], [0, 4]], "class_names": ["a", "b"],
                        "misclassified": [], "misclassified_count": 0})
    assert "No misclassified test samples" in panel.misclassified_title.text()
    assert not panel.misclassified_list.isVisibleTo(panel)


def encode(images) -> dict:
    import base64

    import numpy as np

    arr = np.ascontiguousarray(images, dtype=np.uint8)
    return {"shape": list(arr.shape), "dtype": "uint8",
            "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def test_misclassified_samples_are_shown_as_captioned_thumbnails(window, qtbot):
    import numpy as np
    from PySide6.QtWidgets import QListView

    panel = window.training_panel
    images = np.zeros((3, 8, 8, 1), dtype=np.uint8)
    images[1, 2:6, 2:6, 0] = 255
    panel.handle_event({
        "event": "evaluation", "split": "test", "metrics": {"accuracy": 0.5},
        "confusion_matrix": [[1, 2], [1, 0]], "class_names": ["cat", "dog"],
        "misclassified": [4, 7, 11], "misclassified_count": 3,
        "misclassified_true": [0, 0, 1], "misclassified_pred": [1, 1, 0],
        "misclassified_confidence": [0.92, 0.51, 0.875], "misclassified_images": encode(images)})
    listing = panel.misclassified_list
    assert listing.viewMode() == QListView.ViewMode.IconMode
    assert [listing.item(k).text() for k in range(3)] == [
        "cat → dog (92%)", "cat → dog (51%)", "dog → cat (88%)"]
    assert "test sample #7" in listing.item(1).toolTip()
    assert "true cat, predicted dog" in listing.item(1).toolTip()
    icon = listing.item(1).icon()
    assert not icon.isNull()
    picture = icon.pixmap(56, 56).toImage()
    # the white square in the middle of the second image, black around it
    assert picture.pixelColor(picture.width() // 2, picture.height() // 2).lightness() > 200
    assert picture.pixelColor(1, 1).lightness() < 50
    assert "True → predicted (confidence)" in panel.misclassified_title.text()
    # an older event afterwards goes back to the plain list
    feed(panel, recorded_events())
    assert listing.viewMode() == QListView.ViewMode.ListMode
    assert listing.item(0).icon().isNull()


def run_record(folder, project, history, reason="completed", initial_epoch=0, model=True):
    """A run folder as the worker writes it."""
    from netbuilder.core.project import project_to_dict

    folder.mkdir(parents=True)
    record = {"project": project_to_dict(project), "settings": {"epochs": 2},
              "data": {"source": "digits", "options": {}}, "initial_epoch": initial_epoch,
              "result": {"reason": reason}, "history": history}
    (folder / "run.json").write_text(json.dumps(record))
    if model:
        (folder / "model.keras").write_text("weights")
    return folder


HISTORY = {"loss": [1.0, 0.5], "accuracy": [0.4, 0.8], "val_loss": [1.1, 0.55],
           "val_accuracy": [0.45, 0.9]}


def test_runs_of_the_project_are_listed_and_compared(make_window, tmp_path):
    window = make_window(path=tmp_path / "model.nbproj")
    panel = window.training_panel
    assert panel.runs_tab.runs_list.count() == 0
    assert "No runs yet" in panel.runs_tab.runs_note.text()
    base = tmp_path / "model-runs"
    run_record(base / "2026-01-01_10-00-00", window.project, HISTORY)
    run_record(base / "2026-01-02_10-00-00", window.project,
               {"loss": [0.9, 0.4], "val_loss": [2.0, 1.0], "accuracy": [0.5, 0.9],
                "val_accuracy": [0.5, 0.6]}, reason="stopped")
    panel.refresh_runs()
    assert panel.runs_tab.runs_list.count() == 2
    newest = panel.runs_tab.runs_list.item(0).text()
    assert "02 Jan 10:00:00 · 2 epochs · stopped" in newest
    assert "best val_accuracy 0.6000 (epoch 2)" in newest
    assert "earlier version" not in newest
    assert "beside the project" in panel.runs_tab.runs_note.text()

    panel.ensure_plots()
    feed(panel, recorded_events())
    assert panel.overlay_data() == []                   # nothing ticked
    panel.runs_tab.set_run_ticked(1, True)                       # the older run
    drawn = panel.overlay_data()
    assert ("loss", "01 Jan 10:00:00", [1.0, 2.0], pytest.approx([1.1, 0.55])) in drawn
    assert ("metric", "01 Jan 10:00:00", [1.0, 2.0], pytest.approx([0.45, 0.9])) in drawn
    assert len(drawn) == 2
    assert not panel.runs_tab.runs_list.item(1).icon().isNull()  # its colour swatch
    panel.runs_tab.set_run_ticked(0, True)
    assert len(panel.overlay_data()) == 4
    assert len(panel.plots.loss_plot.plotItem.legend.items) == 3      # overlays stay off the legend
    panel.refresh_runs()                                # re-read: the ticks stay
    assert len(panel.runs_tab.ticked_runs()) == 2
    panel.runs_tab.set_run_ticked(0, False)
    panel.runs_tab.set_run_ticked(1, False)
    assert panel.overlay_data() == []

    # a run of an earlier graph is marked
    node = next(n for n in window.graph.nodes.values() if n.type == "Dense")
    window.graph.set_param(node.id, "units", 12)
    panel.refresh_runs()
    assert "trained an earlier version of the graph" in panel.runs_tab.runs_list.item(0).text()

    # the runs are read again when a project opens
    from netbuilder.core.project import Project

    window.set_project(Project(window.graph, "other"), tmp_path / "other.nbproj")
    assert panel.runs_tab.runs_list.count() == 0
    window.set_project(Project(window.graph, "model"), tmp_path / "model.nbproj")
    assert panel.runs_tab.runs_list.count() == 2


def test_an_unsaved_project_says_where_its_runs_go(window):
    panel = window.training_panel
    assert "not saved" in panel.runs_tab.runs_note.text()
    assert "temporary folder" in panel.runs_tab.runs_note.text()


def test_continue_from_a_listed_run_open_its_folder_and_delete_it(make_window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    window = make_window(path=tmp_path / "model.nbproj")
    panel = window.training_panel
    base = tmp_path / "model-runs"
    old = run_record(base / "2026-01-01_10-00-00", window.project, HISTORY, initial_epoch=3)
    run_record(base / "2026-01-02_10-00-00", window.project, HISTORY, model=False)
    panel.refresh_runs()
    panel.runs_tab.runs_list.setCurrentRow(0)
    assert not panel.runs_tab.use_run_button.isEnabled()         # no model.keras to continue from
    panel.runs_tab.runs_list.setCurrentRow(1)
    assert panel.runs_tab.use_run_button.isEnabled()
    assert not panel.can_continue()

    opened = []
    panel.runs_tab.open_url = lambda url: opened.append(url.toLocalFile()) or True
    assert panel.runs_tab.open_run_folder()
    assert opened == [str(old)]

    chosen = []
    panel.run_chosen.connect(chosen.append)
    assert panel.use_run()
    assert panel.can_continue() and panel.continue_button.isEnabled()
    assert chosen == [{"event": "finished", "reason": "completed", "output_dir": str(old),
                       "model_path": str(old / "model.keras")}]
    assert window.inspect_panel.weights == str(old / "model.keras")   # Inspect follows
    assert panel.curve_data("val_loss") == ([4.0, 5.0], pytest.approx([1.1, 0.55]))
    assert "Continue will train on from the run of 01 Jan 10:00:00" in \
        panel.status_label.text()
    jobs = tmp_path / "jobs.txt"
    panel.worker_command = fake_worker(f"""
        open({str(jobs)!r}, "a").write(json.dumps(job) + "\\n")
        print(json.dumps({{"event": "finished", "reason": "completed", "epochs_run": 0,
              "history": {{}}}}), flush=True)
    """)
    assert panel.train(resume=True)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    job = json.loads(jobs.read_text().splitlines()[0])
    assert job["initial_weights"] == str(old / "model.keras")
    assert job["initial_epoch"] == 5

    # delete: asks first; No keeps it
    panel.refresh_runs()
    row = next(k for k in range(panel.runs_tab.runs_list.count())
               if panel.runs_tab.runs_list.item(k).data(Qt.ItemDataRole.UserRole).folder == old)
    panel.runs_tab.runs_list.setCurrentRow(row)
    asked = []
    panel.runs_tab.confirm_delete = lambda run: asked.append(run.folder) or False
    assert not panel.delete_selected_run()
    assert old.is_dir() and asked == [old]
    panel.last_model = old / "model.keras"
    panel.runs_tab.confirm_delete = lambda run: True
    assert panel.delete_selected_run()
    assert not old.exists()
    assert old.name not in "".join(panel.runs_tab.runs_list.item(k).text()
                                   for k in range(panel.runs_tab.runs_list.count()))
    assert not panel.can_continue()                     # its weights are gone
    assert "Deleted the run" in panel.status_label.text()


def test_a_finished_run_appears_in_the_runs_list(make_window, qtbot, tmp_path):
    window = make_window(path=tmp_path / "model.nbproj")
    panel = window.training_panel
    panel.worker_command = fake_worker("""
        import os
        out = job["output_dir"]
        os.makedirs(out, exist_ok=True)
        history = {"loss": [1.0], "val_loss": [0.7], "accuracy": [0.5], "val_accuracy": [0.6]}
        json.dump({"project": job["project"], "settings": job["settings"],
                   "data": job["data"], "initial_epoch": 0,
                   "result": {"reason": "completed"}, "history": history},
                  open(os.path.join(out, "run.json"), "w"))
        print(json.dumps({"event": "epoch", "epoch": 1, "epochs": 1,
              "logs": {"loss": 1.0, "val_loss": 0.7, "accuracy": 0.5, "val_accuracy": 0.6},
              "progress": 1.0, "eta_s": 0}), flush=True)
        print(json.dumps({"event": "finished", "reason": "completed", "epochs_run": 1,
              "history": history, "output_dir": out}), flush=True)
    """)
    for n in (1, 2):
        assert panel.train()
        qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
        assert panel.runs_tab.runs_list.count() == n
    assert panel.runs_tab.runs_list.item(0).font().bold()             # the run shown
    assert not panel.runs_tab.runs_list.item(1).font().bold()
    assert "1 epoch · completed" in panel.runs_tab.runs_list.item(1).text()
    panel.ensure_plots()
    panel.runs_tab.set_run_ticked(1, True)                       # the first run behind the second
    assert {p for p, _, _, _ in panel.overlay_data()} == {"loss", "metric"}


def test_the_settings_dialog_has_a_fine_tuning_stage(window):
    panel = window.training_panel
    dialog = panel.form.open_settings(modal=False)
    try:
        names = [dialog.fine_tune_from.itemText(k) for k in range(dialog.fine_tune_from.count())]
        assert set(names) >= {n.name for n in window.graph.nodes.values()}
        assert not dialog.fine_tune_epochs.isEnabled()        # no layer: no second stage
        conv = next(n.name for n in window.graph.nodes.values() if n.type == "Conv2D")
        dialog.fine_tune_from.setCurrentText(conv)
        assert dialog.fine_tune_epochs.isEnabled()
        dialog.fine_tune_epochs.setValue(3)
        dialog.fine_tune_learning_rate.setValue(0.0)
        dialog.accept()
        assert "fine_tune_learning_rate" in dialog.error_label.text() and dialog.isVisible()
        dialog.fine_tune_learning_rate.setValue(2e-5)
        dialog.accept()
        assert not dialog.isVisible()
    finally:
        dialog.close()
    saved = window.project.settings["training"]
    assert (saved["fine_tune_from"], saved["fine_tune_epochs"]) == (conv, 3)
    assert saved["fine_tune_learning_rate"] == pytest.approx(2e-5)
    dialog = panel.form.open_settings(modal=False)
    assert dialog.fine_tune_from.currentText() == conv      # shown again
    dialog.close()


def test_a_stage_event_is_shown(window):
    panel = window.training_panel
    panel.handle_event({"event": "stage", "stage": 2, "message":
                        "fine-tuning from conv2d at lr 1e-05: 1,234 trainable params"})
    assert panel.status_label.text().startswith("Fine-tuning from conv2d")


def test_fine_tuning_offers_the_layers_inside_a_base_model(make_window):
    from netbuilder.core.blocks import Block
    from netbuilder.core.graph import Graph

    inner = Graph()
    i = inner.add_node("Input", {"shape": [8, 8, 3]})
    c1 = inner.add_node("Conv2D", {"filters": 4, "kernel_size": 3}, name="base_conv1")
    c2 = inner.add_node("Conv2D", {"filters": 4, "kernel_size": 3}, name="base_conv2")
    inner.connect(i.id, c1.id)
    inner.connect(c1.id, c2.id)
    graph = Graph()
    graph.add_block(Block("base", inner, [i.id], [(c2.id, 0)], kind="model"))
    x = graph.add_node("Input", {"shape": [8, 8, 3]})
    b = graph.add_node("Block", {"block": "base"}, position=(0, 110))
    graph.connect(x.id, b.id)
    window = make_window(graph)
    dialog = window.training_panel.form.open_settings(modal=False)
    offered = [dialog.fine_tune_from.itemText(k) for k in range(dialog.fine_tune_from.count())]
    assert offered.index("base_conv1") < offered.index("base_conv2")
    assert "input_layer" not in offered[offered.index("base_conv1"):]
    dialog.reject()


def test_runs_of_an_unsaved_project_move_beside_it_on_its_first_save(make_window, tmp_path):
    window = make_window()
    panel = window.training_panel
    assert panel.runs_folder() is None
    temp = panel.home.base(None, create=True)
    run_record(temp / "2026-01-01_10-00-00", window.project, HISTORY)
    panel.refresh_runs()
    assert panel.runs_tab.runs_list.count() == 1
    assert "not saved" in panel.runs_tab.runs_note.text()

    path = tmp_path / "model.nbproj"
    assert window.save_to(path)
    assert not temp.exists()
    assert (tmp_path / "model-runs" / "2026-01-01_10-00-00" / "run.json").is_file()
    assert panel.runs_tab.runs_list.count() == 1
    assert "not saved" not in panel.runs_tab.runs_note.text()
    assert "model-runs" in panel.runs_tab.runs_note.text()

    window.set_project(load(path), path)                 # reopened: its runs are there
    assert panel.runs_tab.runs_list.count() == 1
    window.new_project()                                 # a new project has none
    assert panel.runs_tab.runs_list.count() == 0
    assert "not saved" in panel.runs_tab.runs_note.text()


def test_a_new_untitled_project_does_not_show_the_last_untitled_projects_runs(make_window):
    window = make_window()
    panel = window.training_panel
    temp = panel.home.base(None, create=True)
    run_record(temp / "2026-01-01_10-00-00", window.project, HISTORY)
    panel.refresh_runs()
    assert panel.runs_tab.runs_list.count() == 1
    window.new_project()
    assert panel.runs_tab.runs_list.count() == 0 and panel.runs_folder() is None
    assert temp.is_dir()                                 # the runs left are not deleted


def test_a_worker_killed_after_some_epochs_says_what_happened_and_what_is_kept(window, qtbot):
    from netbuilder.ui.panels.training.runs import read_run

    panel = window.training_panel
    panel.worker_command = fake_worker("""
        import os, signal
        out = job["output_dir"]
        os.makedirs(out, exist_ok=True)
        json.dump({"project": job["project"], "settings": {}, "initial_epoch": 0},
                  open(os.path.join(out, "run.json"), "w"))
        print("WARNING: All log messages before absl::InitializeLog() is called are written "
              "to STDERR", file=sys.stderr, flush=True)
        history = {"loss": [], "val_loss": []}
        for epoch in (1, 2, 3):
            history["loss"].append(1.0 / epoch)
            history["val_loss"].append(1.1 / epoch)
            json.dump(history, open(os.path.join(out, "history.json"), "w"))
            print(json.dumps({"event": "epoch", "epoch": epoch, "epochs": 10,
                  "logs": {"loss": 1.0 / epoch, "val_loss": 1.1 / epoch},
                  "progress": epoch / 10, "eta_s": 9}), flush=True)
            if epoch < 3:
                open(os.path.join(out, "best.keras"), "w").write("weights")
                print(json.dumps({"event": "checkpoint", "epoch": epoch,
                      "path": os.path.join(out, "best.keras"), "monitor": "val_loss",
                      "value": 1.1 / epoch}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert panel.train()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    text = panel.status_label.text()
    assert CRASH_MESSAGE in text
    assert "killed by signal 9 (SIGKILL) — out of memory?" in text
    assert "3 epochs finished" in text and "best.keras from epoch 2 is kept" in text
    assert "smaller batch size" in text and "stride" in text and "fewer layers" in text
    assert "absl" not in text
    run = read_run(panel.output_dir)
    assert run.epochs == 3 and "3 epochs" in run.describe()
    assert "no epoch finished" not in run.describe()


def test_a_crash_says_the_exit_status_and_never_tensorflows_start_up_chatter(window, qtbot):
    panel = window.training_panel
    panel.worker_command = fake_worker("""
        print("I0000 00:00:1717000000.123456   42 cuda_executor.cc:1015] successful NUMA node",
              file=sys.stderr, flush=True)
        sys.exit(3)
    """)
    assert panel.train()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    text = panel.status_label.text()
    assert CRASH_MESSAGE in text and "exit status 3" in text
    assert "NUMA" not in text and "No epoch finished" in text
    assert "out of memory" not in text


def test_a_crash_after_resource_exhausted_gives_the_advice_for_memory(window, qtbot):
    panel = window.training_panel
    panel.worker_command = fake_worker("""
        print("tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when "
              "allocating tensor", file=sys.stderr, flush=True)
        sys.exit(1)
    """)
    assert panel.train()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    assert "smaller batch size" in panel.status_label.text()


def test_the_progress_text_counts_the_whole_run_beside_the_bar(window):
    panel = window.training_panel
    assert not panel.progress.isTextVisible()          # never drawn over the fill
    panel.handle_event({"event": "train_begin", "epochs": 99, "initial_epoch": 49,
                        "steps_per_epoch": 4, "batch_size": 8, "samples": 32})
    panel.handle_event({"event": "batch", "epoch": 50, "epochs": 99, "batch": 2, "steps": 4,
                        "logs": {"loss": 1.0}, "progress": 0.01, "eta_s": 125})
    assert panel.progress_label.text() == "epoch 50 of 99 · 50% · 2m 05s left"
    assert panel.progress.value() == round((49.5 / 99) * 1000)
    panel.handle_event({"event": "epoch", "epoch": 50, "epochs": 99, "logs": {"loss": 1.0},
                        "progress": 0.02, "eta_s": 120})
    assert panel.progress_label.text().startswith("epoch 50 of 99 · 51%")
