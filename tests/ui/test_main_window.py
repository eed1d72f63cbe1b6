"""The main window: docks, title and modified marker, files, unsaved-changes prompts, and no
Keras on the way to the first window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDockWidget, QMessageBox

from netbuilder.core.project import load
from netbuilder.ui.app import create_window
from netbuilder.ui.dialogs import export_files

ROOT = Path(__file__).resolve().parents[2]


def test_layout_of_the_window(window):
    docks = {d.objectName(): window.dockWidgetArea(d) for d in window.findChildren(QDockWidget)}
    from PySide6.QtCore import Qt
    assert docks == {"paletteDock": Qt.DockWidgetArea.LeftDockWidgetArea,
                     "inspectorDock": Qt.DockWidgetArea.RightDockWidgetArea,
                     "summaryDock": Qt.DockWidgetArea.BottomDockWidgetArea,
                     "codeDock": Qt.DockWidgetArea.BottomDockWidgetArea,
                     "trainingDock": Qt.DockWidgetArea.BottomDockWidgetArea,
                     "inspectDock": Qt.DockWidgetArea.BottomDockWidgetArea,
                     "searchDock": Qt.DockWidgetArea.BottomDockWidgetArea}
    assert window.tabifiedDockWidgets(window.summary_dock) == [window.code_dock,
                                                              window.training_dock,
                                                              window.inspect_dock,
                                                              window.search_feature.dock]
    assert window.centralWidget() is window.view
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[:3] == ["File", "Edit", "View"]


def test_title_has_name_and_modified_marker(window):
    title = window.windowTitle()
    assert "NetBuilder" in title and "test" in title and not title.startswith("*")
    window.scene.select_node("n2")
    window.parameter_editor.editors["filters"].widget.setValue(16)
    assert window.is_modified()
    assert window.windowTitle().startswith("*")
    window.undo_stack.undo()
    assert not window.is_modified()
    assert not window.windowTitle().startswith("*")


def test_save_and_reopen(window, make_window, tmp_path):
    window.scene.select_node("n2")
    window.parameter_editor.editors["filters"].widget.setValue(48)
    window.graph.set_trainable("n5", True)
    target = tmp_path / "model.nbproj"
    assert window.save_to(target)
    assert not window.is_modified()
    assert "model.nbproj" in window.windowTitle()
    assert not window.windowTitle().startswith("*")

    reopened = make_window(load(target).graph, name="again")
    assert reopened.open_file(target)
    graph = reopened.graph
    assert graph.nodes["n2"].params["filters"] == 48
    assert graph.inference.result("n3").outputs == [(None, 13, 13, 48)]
    assert set(reopened.scene.node_items) == set(window.graph.nodes)
    assert reopened.path == target
    assert not reopened.is_modified()
    assert reopened.undo_stack.count() == 0


def test_save_without_a_path_asks_for_one(window, tmp_path):
    target = tmp_path / "chosen"
    window.ask_save_path = lambda: str(target)
    window.graph.set_param("n5", "units", 10)  # no change: still clean
    window.scene.select_node("n5")
    window.parameter_editor.editors["units"].widget.setValue(12)
    window.save_action.trigger()
    saved = target.with_suffix(".nbproj")
    assert saved.is_file()
    assert json.loads(saved.read_text())["graph"]["nodes"][4]["params"]["units"] == 12
    assert window.path == saved


def test_damaged_file_shows_the_reason_never_a_traceback(window, tmp_path, no_modal_dialogs):
    damaged = tmp_path / "broken.nbproj"
    damaged.write_text('{"format": "netbuilder-project", "version": 1, "graph": {"nodes": [')
    nodes_before = set(window.graph.nodes)
    assert not window.open_file(damaged)
    (kind, title, text) = no_modal_dialogs[-1]
    assert kind == "critical"
    assert "broken.nbproj" in text and "truncated" in text
    assert set(window.graph.nodes) == nodes_before  # the open project stays

    new_window, error = create_window(damaged)
    try:
        assert error is not None and "truncated" in error
        assert new_window.graph.nodes == {}
    finally:
        new_window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Discard
        new_window.close()
        new_window.deleteLater()


def test_unsaved_changes_prompt_on_close(window, qtbot):
    window.scene.select_node("n2")
    window.parameter_editor.editors["filters"].widget.setValue(8)
    asked = []

    def cancel():
        asked.append(True)
        return QMessageBox.StandardButton.Cancel

    window.ask_unsaved_changes = cancel
    assert not window.close()
    assert asked and window.isVisible()

    window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Discard
    assert window.close()


def test_unsaved_changes_prompt_before_opening_another_project(window, tmp_path):
    other = tmp_path / "other.nbproj"
    window.save_to(other)
    window.scene.select_node("n2")
    window.parameter_editor.editors["filters"].widget.setValue(8)
    window.ask_open_path = lambda: str(other)
    window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Cancel
    window.open_dialog()
    assert window.graph.nodes["n2"].params["filters"] == 8  # stayed

    window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Discard
    window.open_dialog()
    assert window.graph.nodes["n2"].params["filters"] == 32
    assert not window.is_modified()


def test_examples_open_as_templates(make_window, tmp_path):
    from netbuilder.ui import user_files

    example = tmp_path / "tiny.nbproj"
    make_window().save_to(example)
    window = make_window()
    assert window.open_example(example)
    assert window.path is None and window.is_example
    assert "(example)" in window.windowTitle()
    saved_to = tmp_path / "mine.nbproj"
    window.ask_save_path = lambda: str(saved_to)
    assert window.save()
    assert window.path == saved_to
    assert user_files.examples_dir().name == "examples"


def test_arrange_is_one_undo_step(window):
    window.graph.move("n3", (500.0, 900.0))
    window.undo_stack.clear()
    window.arrange()
    assert window.undo_stack.count() == 1
    assert window.graph.nodes["n3"].position != (500.0, 900.0)
    window.undo_stack.undo()
    assert window.graph.nodes["n3"].position == (500.0, 900.0)


def test_no_keras_tensorflow_or_numpy_on_the_way_to_the_first_window(tmp_path):
    project = tmp_path / "m.nbproj"
    script = textwrap.dedent(f"""
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from netbuilder.ui import app as editor

        def check():
            try:
                window = next(w for w in QApplication.topLevelWidgets()
                              if type(w).__name__ == "MainWindow")
                print("VISIBLE", window.isVisible())
                # numpy and pyqtgraph (~0.2 s together) wait for the plots that need them
                heavy = sorted(m for m in sys.modules
                               if m.split(".")[0] in ("keras", "tensorflow", "tf_keras",
                                                      "numpy", "pyqtgraph"))
                print("HEAVY", heavy)
                print("TITLE", window.windowTitle())
                print("LAYERS", len(window.graph.nodes))
                window.close()
            finally:
                QApplication.instance().quit()

        editor.application()
        QTimer.singleShot(200, check)
        sys.exit(editor.run_editor({str(project)!r}))
    """)
    make = textwrap.dedent(f"""
        from netbuilder.core.graph import Graph
        from netbuilder.core.project import Project, save
        g = Graph()
        a = g.add_node("Input", {{"shape": [8]}})
        b = g.add_node("Dense", {{"units": 2}}, position=(0, 110))
        g.connect(a.id, b.id)
        save(Project(g, "tiny"), {str(project)!r})
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT),
           # settings and recovery files of this run stay in the test's folder
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    subprocess.run([sys.executable, "-c", make], check=True, env=env, timeout=120)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "VISIBLE True" in result.stdout, result.stdout
    assert "HEAVY []" in result.stdout, result.stdout
    assert "TITLE tiny (m.nbproj) — NetBuilder" in result.stdout
    assert "LAYERS 2" in result.stdout
    assert "Traceback" not in result.stderr


def test_without_a_path_the_mnist_example_opens(qtbot):
    from netbuilder.ui.app import DEFAULT_EXAMPLE
    from netbuilder.ui.user_files import examples_dir

    if not (examples_dir() / DEFAULT_EXAMPLE).is_file():
        import pytest
        pytest.skip("the example projects are not there")
    window, error = create_window(None)
    qtbot.addWidget(window)
    assert error is None
    assert window.is_example and window.path is None
    assert window.project.name == "mnist_cnn"
    assert "mnist_cnn" in window.windowTitle() and "NetBuilder" in window.windowTitle()
    assert not window.is_modified()
    assert window.graph.inference.totals().params == 93_322
    assert [a.text() for a in window.examples_menu.actions()]


def test_an_example_opened_by_its_path_opens_as_an_example(qtbot, tmp_path):
    """The README's first command passes the example's path: Save and training must not write
    into the installation, so it opens unsaved, as File ▸ Open Example does."""
    import shutil

    from netbuilder.ui.user_files import examples_dir

    example = examples_dir() / "lenet5.nbproj"
    window, error = create_window(example)
    qtbot.addWidget(window)
    assert error is None
    assert window.is_example and window.path is None
    assert window.project.name == "lenet5"
    copy = tmp_path / "lenet5.nbproj"
    shutil.copy(example, copy)
    assert window.open_file(copy)
    assert not window.is_example and window.path == copy
    assert window.open_file(example)
    assert window.is_example and window.path is None


def test_no_display_gives_a_clear_message(monkeypatch, capsys):
    from netbuilder.ui import app

    monkeypatch.setattr(app.sys, "platform", "linux")
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert app.run_editor(None) == 1
    assert "no display to open the editor on" in capsys.readouterr().err


def test_export_keras_model_builds_in_the_background(qtbot, tmp_path):
    keras = pytest.importorskip("keras")
    from netbuilder.ui.app import create_window

    window, _ = create_window(ROOT / "resources" / "examples" / "mnist_cnn.nbproj")
    qtbot.addWidget(window)
    target = tmp_path / "mnist.whatever"  # any extension: used as given
    assert export_files.export_keras_model(window, str(target))
    qtbot.waitUntil(lambda: target.exists(), timeout=120000)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file
    check = tmp_path / "check.keras"  # Keras reads only names ending in .keras
    check.write_bytes(target.read_bytes())
    model = keras.saving.load_model(str(check), compile=False)
    assert model.count_params() == 93322
