"""File ▸ Compare With…: the open project against its saved copy, a run, after edits."""

from __future__ import annotations

import json

from conftest import small_cnn
from PySide6.QtWidgets import QDialog

from netbuilder.core import project as proj
from netbuilder.ui.dialogs import compare
from netbuilder.ui.dialogs.compare import ADDED, CHANGED, DiffMark


def marks(window):
    return {item.parentItem().node_id: item.kind for item in window.scene.items()
            if isinstance(item, DiffMark)}


def saved_copy(tmp_path, name="before.nbproj"):
    path = tmp_path / name
    proj.save(proj.Project(small_cnn(), "before"), path)
    return path


def test_edits_are_highlighted_and_listed(make_window, tmp_path, qtbot):
    window = make_window()
    path = saved_copy(tmp_path)
    graph = window.graph
    conv = graph.node_by_name("conv2d")
    dense = graph.node_by_name("dense")
    pool = graph.node_by_name("max_pooling2d")
    document = window.document
    document.set_param(conv.id, "filters", 64)
    flatten = graph.node_by_name("flatten")
    document.delete([pool.id], [])
    document.connect(conv.id, flatten.id)
    extra = document.add_layer("Dense", (0, 550))
    document.connect(dense.id, extra)
    assert compare.compare_with_path(window, path)
    comparison = window.comparison
    shown = marks(window)
    assert shown[conv.id] == "changed" and shown[extra] == "added"
    assert shown[flatten.id] == "changed"               # its input changed
    assert dense.id in shown                            # fewer inputs: another count
    assert window.scene.node_notes[conv.id].startswith("changed: filters 32 → 64")
    assert window.scene.node_items[conv.id].toolTip().count("filters 32 → 64") == 1
    lines = comparison.panel.lines()
    assert any(line.startswith("~ conv2d (Conv2D): filters 32 → 64") for line in lines)
    assert any(line.startswith("+ dense_1 (Dense)") for line in lines)
    assert any(line.startswith("- max_pooling2d (MaxPooling2D)") and "not on the canvas" in line
               for line in lines)
    assert "Total params:" in comparison.panel.totals.text()
    # the marks' colours: changed and added differ
    colours = {m.kind: m.pen().color().name() for m in window.scene.items()
               if isinstance(m, DiffMark)}
    assert colours == {"changed": CHANGED.name(), "added": ADDED.name()}
    # clicking a difference selects its layer
    comparison.panel._clicked(comparison.panel.list.item(0))
    assert window.scene.selected_node_ids() == [conv.id]
    window.grab().save(str(tmp_path / "compare.png"))

    # it follows edits: undoing everything leaves no difference
    while window.undo_stack.canUndo():
        window.undo_stack.undo()
    qtbot.waitUntil(lambda: comparison.diff.identical, timeout=2000)
    assert marks(window) == {}
    assert comparison.panel.lines() == ["No layer differs."]

    comparison.panel.clear_button.click()
    assert window.comparison is None
    assert marks(window) == {} and window.scene.node_notes == {}
    graph.set_param(conv.id, "filters", 8)           # no longer observed
    qtbot.wait(compare.REFRESH_MS + 50)
    assert marks(window) == {}


def test_run_from_the_runs_tab_and_the_dialog(make_window, tmp_path, monkeypatch):
    window = make_window()
    run = tmp_path / "runs" / "2024-01-01_10-00-00"
    run.mkdir(parents=True)
    trained = proj.Project(small_cnn(), "before")
    trained.graph.set_trainable(trained.graph.node_by_name("dense").id, False)
    (run / "run.json").write_text(json.dumps({"project": proj.project_to_dict(trained)}))
    monkeypatch.setattr(compare, "selected_run_folder", lambda w: run)

    def answer(dialog):
        assert dialog.run_choice.isChecked()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(compare.CompareDialog, "exec", answer)
    window.compare_action.trigger()
    comparison = window.comparison
    dense = window.graph.node_by_name("dense")
    assert marks(window) == {dense.id: "changed"}
    assert comparison.panel.lines()[0].startswith("~ dense (Dense): unfrozen")
    assert "run 2024-01-01_10-00-00" in comparison.panel.title.text()
    # opening another project ends the comparison
    window.set_project(proj.Project(small_cnn(), "other"))
    assert window.comparison is None and marks(window) == {}


def test_unreadable_file_is_one_message(window, tmp_path, no_modal_dialogs):
    bad = tmp_path / "broken.nbproj"
    bad.write_text("{")
    assert not compare.compare_with_path(window, bad)
    (kind, title, text), = no_modal_dialogs
    assert kind == "warning" and "not valid JSON" in text
    assert getattr(window, "comparison", None) is None
