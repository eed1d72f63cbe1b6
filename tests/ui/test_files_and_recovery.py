"""Documents: shortcuts, recent files, pictures of the model (PNG, SVG), autosave and crash
recovery."""

from __future__ import annotations

import os
import time

from PySide6.QtGui import QImage, QKeySequence

from netbuilder.core.project import load, save
from netbuilder.ui import autosave
from netbuilder.ui.autosave import Autosaver, pending_recovery, recovery_key, recovery_path
from netbuilder.ui.dialogs import export_files
from netbuilder.ui.user_files import recent_files
from netbuilder.ui.window_actions import fill_recent_menu

# -- shortcuts ------------------------------------------------------------------------------------


def test_the_shortcuts_people_expect(window):
    def keys(action):
        return {s.toString() for s in action.shortcuts()}

    assert "Ctrl+N" in keys(window.new_action)
    assert "Ctrl+O" in keys(window.open_action)
    assert "Ctrl+S" in keys(window.save_action)
    assert "Ctrl+Shift+S" in keys(window.save_as_action)
    assert "Ctrl+Z" in keys(window.undo_action)
    assert {"Ctrl+Shift+Z", "Ctrl+Y"} & keys(window.redo_action)
    assert "Ctrl+C" in keys(window.copy_action)
    assert "Ctrl+V" in keys(window.paste_action)
    assert "Ctrl+D" in keys(window.duplicate_action)
    assert "Ctrl+A" in keys(window.select_all_action)
    assert "Del" in keys(window.delete_action)
    assert "F" in keys(window.fit_action)
    assert QKeySequence("F2") in window.rename_action.shortcuts()


# -- recent files -------------------------------------------------------------------------------


def test_saved_and_opened_projects_become_recent_files(window, make_window, tmp_path):
    first, second = tmp_path / "first.nbproj", tmp_path / "second.nbproj"
    assert window.save_to(first)
    assert window.save_to(second)
    assert recent_files() == [str(second.resolve()), str(first.resolve())]

    other = make_window()
    fill_recent_menu(other)
    texts = [a.text() for a in other.recent_menu.actions() if not a.isSeparator()]
    assert texts[0].startswith("&1 second.nbproj") and texts[1].startswith("&2 first.nbproj")
    assert texts[-1] == "Clear Recent Files"
    other.recent_menu.actions()[1].trigger()  # open first.nbproj
    assert other.path == first
    assert recent_files()[0] == str(first.resolve())

    first.unlink()  # files that went away are not listed
    assert recent_files() == [str(second.resolve())]
    fill_recent_menu(other)
    clear = [a for a in other.recent_menu.actions() if a.text() == "Clear Recent Files"][0]
    clear.trigger()
    assert recent_files() == []
    fill_recent_menu(other)
    (empty,) = other.recent_menu.actions()
    assert empty.text() == "No recent files" and not empty.isEnabled()


def test_a_recent_file_that_vanished_is_reported(window, tmp_path, no_modal_dialogs):
    path = tmp_path / "gone.nbproj"
    window.save_to(path)
    path.unlink()
    assert not window.open_recent(path)
    assert no_modal_dialogs[-1][0] == "critical" and "not there" in no_modal_dialogs[-1][2]


# -- pictures -----------------------------------------------------------------------------------


def test_export_png_and_svg(window, tmp_path):
    png, svg = tmp_path / "model.png", tmp_path / "model.svg"
    window.scene.select_node("n2")
    assert export_files.export_png(window, str(png))
    image = QImage(str(png))
    assert not image.isNull() and image.height() > image.width()  # a tall chain
    assert export_files.export_svg(window, str(svg))
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "conv2d" in text and "max_pooling2d" in text  # node names are text, not pixels
    assert window.scene.selected_node_ids() == ["n2"]  # the selection survives the export
    assert window.undo_stack.count() == 0


def test_export_asks_where_and_adds_the_suffix(window, tmp_path):
    window.ask_export_path = lambda title, suffix, file_filter: str(tmp_path / "pic") + suffix
    window.export_png_action.trigger()
    assert (tmp_path / "pic.png").is_file()
    assert [a.text() for a in window.export_menu.actions() if not a.isSeparator()] == [
        "&Keras Code…", "Keras &Model (.keras)…", "For &Deployment…", "Picture as &PNG…",
        "Picture as &SVG…"]


def test_export_of_an_empty_model_explains(make_window, tmp_path, no_modal_dialogs):
    from netbuilder.core.graph import Graph

    window = make_window(Graph())
    assert not export_files.export_png(window, str(tmp_path / "x.png"))
    assert no_modal_dialogs[-1][1] == "Nothing to export"


# -- autosave and recovery ------------------------------------------------------------------------


def edit(window, filters=16):
    window.scene.select_node("n2")
    window.parameter_editor.editors["filters"].widget.setValue(filters)


def test_autosave_writes_unsaved_work_and_a_save_removes_it(window, tmp_path):
    saver = window.autosaver
    assert saver.timer.interval() == 30_000 and saver.timer.isSingleShot()
    assert saver.tick() is None  # nothing changed: nothing written
    edit(window)
    assert saver.timer.isActive()  # the next autosave is due in 30 s
    written = saver.tick()
    assert written == recovery_path(None) and written.name == "untitled.nbproj"
    assert load(written).graph.nodes["n2"].params["filters"] == 16
    assert saver.tick() is None  # no new change since

    edit(window, 24)
    assert saver.tick() == written
    assert load(written).graph.nodes["n2"].params["filters"] == 24

    target = tmp_path / "mine.nbproj"
    assert window.save_to(target)
    assert not written.exists()  # clean save: nothing to recover
    edit(window, 40)
    keyed = saver.tick()
    assert keyed == recovery_path(target) and keyed.name.startswith("mine-")
    window.undo_stack.undo()  # back to what is saved
    assert not keyed.exists()


def test_autosave_timer_fires_while_modified(make_window, qtbot):
    window = make_window()
    window.autosaver.timer.setInterval(50)
    edit(window)
    qtbot.waitUntil(lambda: recovery_path(None).is_file(), timeout=3000)


def test_closing_removes_the_recovery_file(make_window):
    window = make_window()
    edit(window)
    written = window.autosaver.tick()
    assert written.is_file()
    assert window.close()  # the test answers "Discard"
    assert not written.exists()


def test_recovery_is_offered_at_start_and_restores_the_work(make_window, tmp_path):
    target = tmp_path / "model.nbproj"
    first = make_window()
    first.save_to(target)
    edit(first, 48)
    written = first.autosaver.tick()
    old = time.time() - 60
    os.utime(target, (old, old))  # the project file is older than the recovery file
    # the session "crashes": the window goes without closing, the recovery file stays
    first.autosaver.timer.stop()
    assert pending_recovery(target) == written

    second = make_window(load(target).graph, path=target)
    asked = []
    second.ask_restore = lambda recovery: asked.append(recovery) or True
    assert second.offer_recovery()
    assert asked == [written]
    assert second.graph.nodes["n2"].params["filters"] == 48
    assert second.path == target
    assert second.is_modified() and second.windowTitle().startswith("*")
    assert written.exists()  # kept until the work is saved
    assert second.save()
    assert not written.exists() and not second.is_modified()
    assert load(target).graph.nodes["n2"].params["filters"] == 48


def test_declining_recovery_removes_the_file(make_window):
    window = make_window()
    edit(window)
    written = window.autosaver.tick()
    window.autosaver.timer.stop()
    other = make_window()
    other.ask_restore = lambda recovery: False
    assert not other.offer_recovery()
    assert not written.exists()
    assert not other.is_modified()


def test_a_recovery_file_older_than_its_project_is_stale(tmp_path):
    target = tmp_path / "model.nbproj"
    from netbuilder.core.graph import Graph
    from netbuilder.core.project import Project

    recovery = recovery_path(target)
    recovery.parent.mkdir(parents=True, exist_ok=True)
    save(Project(Graph(), "old"), recovery)
    old = time.time() - 60
    os.utime(recovery, (old, old))
    save(Project(Graph(), "new"), target)
    assert pending_recovery(target) is None
    assert not recovery.exists()


def test_recovery_keys(tmp_path):
    assert recovery_key(None) == "untitled"
    a, b = tmp_path / "a" / "model.nbproj", tmp_path / "b" / "model.nbproj"
    assert recovery_key(a) != recovery_key(b)
    assert recovery_key(a).startswith("model-")
    assert recovery_key(str(a)) == recovery_key(a)
    assert autosave.recovery_dir() == tmp_path / "recovery"  # the tests' own folder


def test_autosaver_with_plain_callables(qapp, tmp_path):
    """The autosaver needs no window: three callables and a clock (Qt's timer)."""
    from netbuilder.core.graph import Graph
    from netbuilder.core.project import Project

    state = {"modified": False}
    project = Project(Graph(), "p")
    saver = Autosaver(lambda: project, lambda: None, lambda: state["modified"],
                      interval_ms=10_000)
    saver.changed()
    assert not saver.timer.isActive() and saver.tick() is None  # not modified
    state["modified"] = True
    saver.changed()
    assert saver.timer.isActive()
    assert saver.tick() == recovery_path(None)
    saver.discard()
    assert not recovery_path(None).exists() and not saver.timer.isActive()
