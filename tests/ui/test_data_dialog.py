"""The data dialog (Train ▸ Data…): options kept in the project (undoably), checked before they
are kept, and a preview that runs the worker in a QProcess: recorded events, a fake worker, and
the real worker on the bundled digits."""

from __future__ import annotations

import base64
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netbuilder.core.project import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def private_temp_folder(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()


def encode(images) -> dict:
    arr = np.ascontiguousarray(images, dtype=np.uint8)
    return {"shape": list(arr.shape), "dtype": "uint8",
            "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def fake_worker(body: str) -> list[str]:
    code = "import json, sys\njob = json.loads(sys.stdin.readline())\n" + textwrap.dedent(body)
    return [sys.executable, "-c", code]


def test_the_train_menu_and_the_dock_open_the_data_dialog(window):
    assert window.data_action in window.train_menu.actions()
    panel = window.training_panel
    assert panel.form.data_button.isEnabled()
    dialog = panel.form.open_data_dialog(modal=False)
    assert dialog.isVisible() and dialog.windowTitle() == "Training data"
    assert dialog.source.currentText() == panel.form.data_source()
    assert dialog.validation_split.value() == 20                # the default split
    assert not dialog.aug_amounts["rotation"].isEnabled()      # off until ticked
    dialog.reject()


def test_ok_keeps_the_source_and_options_in_the_project_undoably(window, qtbot):
    panel = window.training_panel
    assert not window.is_modified()
    dialog = panel.form.open_data_dialog(modal=False)
    dialog.source.set_source("shapes")
    assert dialog.num_classes.isEnabled() and dialog.image_height.isEnabled()
    assert not dialog.download.isEnabled() and not dialog.label_column.isEnabled()
    dialog.validation_split.setValue(30)
    dialog.test_split.setValue(10)
    dialog.image_height.setValue(32)
    dialog.image_width.setValue(40)
    dialog.aug_checks["flip"].setChecked(True)
    dialog.flip_mode.setCurrentText("vertical")
    dialog.aug_checks["rotation"].setChecked(True)
    assert dialog.aug_amounts["rotation"].isEnabled()
    dialog.aug_amounts["rotation"].setValue(0.2)
    dialog.accept()
    assert not dialog.isVisible()
    expected = {"source": "shapes", "options": {
        "validation_split": 0.3, "test_split": 0.1, "image_size": [32, 40],
        "augmentation": {"flip": "vertical", "rotation": 0.2}}}
    assert window.project.settings["data"] == expected
    assert window.is_modified()
    assert panel.form.data_source() == "shapes"
    assert "rotation 0.2" in panel.form.data_combo.toolTip()
    # the next training job carries the options
    job = panel.job(Path("/tmp/out"))
    assert job["data"] == expected
    # shown again when the dialog reopens
    dialog = panel.form.open_data_dialog(modal=False)
    assert dialog.test_split.value() == 10 and dialog.image_width.value() == 40
    assert dialog.aug_checks["flip"].isChecked() and dialog.flip_mode.currentText() == "vertical"
    assert not dialog.aug_checks["zoom"].isChecked()
    dialog.accept()                                          # unchanged: no new undo step
    assert window.undo_stack.count() == 1
    window.undo_stack.undo()
    assert "data" not in window.project.settings
    assert not window.is_modified()
    window.undo_stack.redo()
    assert window.project.settings["data"] == expected

    # training keeps the options with the project (and the source shown in the dock)
    panel.worker_command = fake_worker(
        'print(json.dumps({"event": "finished", "reason": "completed", "history": {}}))\n')
    panel.form.data_combo.set_source("digits")
    assert panel.train()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    assert window.project.settings["data"] == {"source": "digits",
                                               "options": expected["options"]}


def test_options_that_cannot_work_are_explained_and_not_kept(window, tmp_path):
    panel = window.training_panel
    dialog = panel.form.open_data_dialog(modal=False)
    dialog.source.set_source("shapes")
    dialog.image_height.setValue(32)                         # no width
    dialog.accept()
    assert dialog.isVisible()
    assert "image height and width" in dialog.error_label.text()
    dialog.image_height.setValue(0)
    dialog.validation_split.setValue(60)
    dialog.test_split.setValue(45)
    dialog.accept()
    assert "leave no training data" in dialog.error_label.text()
    assert dialog.isVisible() and "data" not in window.project.settings
    assert not dialog.preview()                              # nor previewed
    assert "Cannot preview" in dialog.preview_status.text()
    dialog.test_split.setValue(0)
    dialog.source.set_source(str(tmp_path / "gone"))
    dialog.accept()
    assert "is not there" in dialog.error_label.text()
    assert not window.is_modified()
    dialog.reject()


def test_choosing_a_file_source(window, tmp_path):
    panel = window.training_panel
    table = tmp_path / "table.csv"
    table.write_text("a,b,label\n1,2,0\n3,4,1\n")
    panel.form.ask_data_path = lambda: str(table)
    dialog = panel.form.open_data_dialog(modal=False)
    dialog.source.setCurrentIndex(dialog.source.count() - 1)
    dialog.source.chosen(dialog.source.count() - 1)          # "Choose a folder or file…"
    assert dialog.source.currentText() == str(table)
    assert dialog.label_column.isEnabled() and not dialog.image_height.isEnabled()
    dialog.label_column.setText("2")
    dialog.accept()
    assert window.project.settings["data"] == {"source": str(table.resolve()),
                                               "options": {"label_column": 2}}


def recorded_data_event() -> dict:
    samples = np.zeros((5, 8, 8), dtype=np.uint8)
    samples[:, 2:6, 3] = 255
    augmented = np.full((9, 8, 8, 1), 128, dtype=np.uint8)
    return {"event": "data", "name": "digits", "source": "digits", "sample_shape": [8, 8],
            "class_names": ["zero", "one", "two"],
            "sizes": {"train": 30, "validation": 9},
            "counts": {"train": [10, 11, 9], "validation": [3, 3, 3]},
            "value_range": "0-1", "notes": ["held out 9 training samples (20%) for validation"],
            "input_shape": [8, 8, 1], "samples": encode(samples),
            "sample_labels": [0, 0, 1, 2, 2], "augmented": encode(augmented)}


def test_a_recorded_preview_fills_the_class_table_and_the_image_grids(window):
    dialog = window.training_panel.form.open_data_dialog(modal=False)
    dialog.handle_event({"event": "status", "message": "loading TensorFlow"})
    assert dialog.preview_status.text() == "Loading TensorFlow…"
    dialog.handle_event(recorded_data_event())
    table = dialog.class_table
    assert table.rowCount() == 3
    assert [table.item(r, 0).text() for r in range(3)] == ["zero", "one", "two"]
    assert [table.item(r, 1).text() for r in range(3)] == ["10", "11", "9"]
    assert table.item(1, 2).text() == "3"
    assert table.isColumnHidden(3) and not table.isColumnHidden(2)   # no test split
    assert "30 train, 9 validation" in dialog.summary_label.text()
    assert "held out 9" in dialog.summary_label.text()
    assert dialog.sample_count == 5 and dialog.augmented_count == 9
    # one row per class, the class name first, then its images
    grid = dialog.samples_grid
    assert grid.itemAtPosition(0, 0).widget().text() == "zero"
    assert grid.itemAtPosition(1, 0).widget().text() == "one"
    assert grid.itemAtPosition(0, 2) is not None and grid.itemAtPosition(1, 2) is None
    assert dialog.augmented_grid.count() == 9
    assert dialog.augmented_box.isVisibleTo(dialog)
    picture = grid.itemAtPosition(0, 1).widget().findChildren(type(dialog.preview_status))[0]
    image = picture.pixmap().toImage()
    assert image.width() > 8                                  # enlarged for the eye
    dialog.handle_event({"event": "error", "kind": "data",
                         "message": "no such data source: /nope"})
    assert "Preview failed: no such data source: /nope" in dialog.preview_status.text()
    assert table.rowCount() == 0 and dialog.sample_count == 0   # nothing stale left
    dialog.reject()


def test_the_preview_job_and_a_worker_that_dies(window, qtbot, tmp_path):
    panel = window.training_panel
    jobs = tmp_path / "job.json"
    panel.worker_command = fake_worker(f"""
        open({str(jobs)!r}, "w").write(json.dumps(job))
        print(json.dumps({{"event": "status", "message": "loading data: digits"}}), flush=True)
        sys.exit(3)
    """)
    dialog = panel.form.open_data_dialog(modal=False)
    dialog.validation_split.setValue(25)
    assert dialog.preview()
    assert not dialog.preview_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.is_previewing(), timeout=30000)
    assert "ended unexpectedly (exit status 3)" in dialog.preview_status.text()
    assert dialog.preview_button.isEnabled()
    job = json.loads(jobs.read_text())
    assert job["action"] == "preview" and job["send_samples"] is True
    assert job["data"] == {"source": "digits", "options": {"validation_split": 0.25}}
    assert job["project"]["graph"]["nodes"]
    assert not Path(job["output_dir"]).exists()               # its scratch folder is removed
    dialog.reject()


def test_closing_the_dialog_ends_a_running_preview(window, qtbot):
    panel = window.training_panel
    panel.worker_command = fake_worker("import time\ntime.sleep(60)\n")
    dialog = panel.form.open_data_dialog(modal=False)
    assert dialog.preview()
    process = dialog.client.process
    dialog.reject()
    assert not dialog.is_previewing()
    assert process is not None


def test_a_real_preview_of_the_digits_with_augmentation(make_window, qtbot):
    pytest.importorskip("keras")
    project = load(ROOT / "resources" / "examples" / "mnist_cnn.nbproj")
    window = make_window(project.graph, "mnist_cnn")
    dialog = window.training_panel.form.open_data_dialog(modal=False)
    dialog.source.set_source("digits")
    dialog.test_split.setValue(10)
    dialog.aug_checks["rotation"].setChecked(True)
    dialog.aug_checks["zoom"].setChecked(True)
    assert dialog.preview()
    qtbot.waitUntil(lambda: not dialog.is_previewing(), timeout=240000)
    event = dialog.preview_event
    assert event is not None, dialog.preview_status.text()
    assert dialog.preview_status.text() == "Data loaded."
    assert event["class_names"] == [str(i) for i in range(10)]
    sizes = event["sizes"]
    assert sum(sizes.values()) == 1797 and set(sizes) == {"train", "validation", "test"}
    table = dialog.class_table
    assert table.rowCount() == 10
    assert sum(int(table.item(r, 1).text()) for r in range(10)) == sizes["train"]
    assert sum(int(table.item(r, 3).text()) for r in range(10)) == sizes["test"]
    assert dialog.sample_count == 40                          # 4 per class
    assert dialog.augmented_count == 9
    assert "augmentation on the training data only" in dialog.summary_label.text()
    dialog.reject()


def test_a_real_preview_error_is_shown_in_the_dialog(window, qtbot, tmp_path):
    pytest.importorskip("keras")
    empty = tmp_path / "images"
    (empty / "cats").mkdir(parents=True)
    (empty / "dogs").mkdir()
    dialog = window.training_panel.form.open_data_dialog(modal=False)
    dialog.source.set_source(str(empty))
    assert dialog.image_height.isEnabled()                   # a folder: images get a size
    assert dialog.preview()
    qtbot.waitUntil(lambda: not dialog.is_previewing(), timeout=240000)
    assert dialog.preview_event is None
    assert dialog.preview_status.text().startswith("Preview failed: ")
    assert "Traceback" not in dialog.preview_status.text()
    assert str(empty) in dialog.preview_status.text()       # it names the folder
    dialog.reject()


def test_data_is_previewed_as_loaded_while_the_model_cannot_be_built(make_window, qtbot):
    from netbuilder.core.graph import Graph

    graph = Graph()
    a = graph.add_node("Input", {"shape": [8]})
    b = graph.add_node("Conv2D", {"filters": 4, "kernel_size": 3}, position=(0, 110))
    graph.connect(a.id, b.id)
    window = make_window(graph)
    dialog = window.training_panel.form.open_data_dialog(modal=False)
    dialog.source.setCurrentText("digits")
    dialog.aug_checks["rotation"].setChecked(True)
    assert dialog.preview()
    qtbot.waitUntil(lambda: not dialog.is_previewing(), timeout=120_000)
    assert dialog.preview_error is None, dialog.preview_error
    event = dialog.preview_event
    assert event["fitted"] is False and "input_shape" not in event
    assert "not fitted to the model: it cannot be built yet" in event["notes"][0]
    assert "not fitted to the model" in dialog.summary_label.text()
    assert dialog.sample_count > 0
    from netbuilder.runtime.workers.protocol import decode_images

    assert decode_images(event["augmented"]).shape == (9, 8, 8)
    dialog.source.setCurrentText("shapes")
    dialog.accept()                                         # the options are kept
    assert window.project.settings["data"] == {
        "source": "shapes", "options": {"augmentation": {"rotation": 0.1}}}


def test_the_same_source_without_options_is_no_change(window):
    window.project.settings["data"] = "digits"              # as training leaves it
    dialog = window.training_panel.form.open_data_dialog(modal=False)
    dialog.accept()
    assert window.undo_stack.count() == 0 and window.project.settings["data"] == "digits"


def test_the_source_chooser_lists_the_built_in_sources_of_the_data_module():
    from netbuilder.runtime.data import BUILTIN_SOURCES
    from netbuilder.ui.dialogs import common

    assert common.BUILTIN_SOURCES == BUILTIN_SOURCES
