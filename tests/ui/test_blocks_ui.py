"""Blocks in the editor: Make Block… (Ctrl+B), Expand / Collapse, the Blocks palette section,
the library, the definition editor (every instance updates; one undo step) and the inspector's
exposed parameters."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt

from netbuilder.core import blocks_library as bl
from netbuilder.core.graph import Graph
from netbuilder.core.project import Project, dumps
from netbuilder.ui.canvas.interactions import LAYER_MIME
from netbuilder.ui.commands import SetParam, push
from netbuilder.ui.features.blocks import BlockEditorDialog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_blocks import resnet34  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NETBUILDER_HOME", str(tmp_path / "nbhome"))
    return tmp_path / "nbhome"


def state(window):
    return dumps(Project(window.graph, "x"))


def residual_graph():
    g = Graph()
    inp = g.add_node("Input", {"shape": [8, 8, 3]}, position=(0, 0))
    stem = g.add_node("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"},
                      position=(0, 110))
    conv = g.add_node("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"},
                      position=(100, 220))
    add = g.add_node("Add", position=(0, 330))
    flat = g.add_node("Flatten", position=(0, 440))
    for a, b in [(inp, stem), (stem, conv), (conv, add), (stem, add), (add, flat)]:
        g.connect(a.id, b.id)
    return g


def menu_texts(menu):
    return [a.text() for a in menu.actions() if a.text()]


def test_make_block_expand_collapse_each_one_undo_step(make_window):
    window = make_window(residual_graph())
    graph, scene, stack = window.graph, window.scene, window.undo_stack
    original = state(window)
    scene.clearSelection()
    for nid in ("n3", "n4"):
        scene.node_items[nid].setSelected(True)
    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    window.block_actions.update_enabled()
    assert window.block_actions.make_action.isEnabled()
    assert window.block_actions.make_action.shortcut().toString() == "Ctrl+B"
    assert "Make &Block…" in menu_texts(edit_menu)

    def answer(dialog):
        assert dialog.name_edit.text() == "my_block"
        checked = dialog.exposed()
        assert checked == {"filters": [("n3", "filters")]}
        dialog.name_edit.setText("skip_unit")
        return True

    window.block_actions.ask_make_block = answer
    inst = window.block_actions.make_block()
    assert graph.nodes[inst].params == {"block": "skip_unit", "filters": 8}
    assert inst in scene.node_items and "n3" not in scene.node_items
    assert "filters=8" in scene.node_items[inst].detail
    made = state(window)

    stack.undo()
    assert state(window) == original and "skip_unit" not in graph.blocks
    stack.redo()
    assert state(window) == made

    # expand from the block's context menu, collapse from a layer's
    menu = scene.node_menu(inst)
    assert {"Expand Block", "Edit Block Definition…", "Save Block to Library"} <= set(
        menu_texts(menu))
    next(a for a in menu.actions() if a.text() == "Expand Block").trigger()
    expanded = [n for n in graph.nodes.values() if n.name.startswith("skip_unit_")]
    assert sorted(n.name for n in expanded) == ["skip_unit_add", "skip_unit_conv2d_1"]
    assert graph.inference.errors() == []
    menu = scene.node_menu(expanded[0].id)
    next(a for a in menu.actions() if a.text() == "Collapse Block").trigger()
    assert state(window) == made
    stack.undo()  # back to expanded
    assert graph.node_by_name("skip_unit_add") is not None
    stack.undo()  # back to the block
    assert state(window) == made


def test_make_block_shows_refusals_in_the_dialog(make_window):
    window = make_window(residual_graph())
    window.scene.clearSelection()
    for nid in ("n3", "n4"):
        window.scene.node_items[nid].setSelected(True)
    seen = []

    def answer(dialog):
        if seen:
            seen.append(dialog.error.text())
            return False
        dialog.name_edit.setText("bad name")
        seen.append("first")
        return True

    window.block_actions.ask_make_block = answer
    assert window.block_actions.make_block() is None
    assert "Python name" in seen[1]
    assert window.undo_stack.count() == 0


def test_palette_blocks_section_places_blocks_and_library(make_window, home):
    window = make_window()
    palette = window.palette
    keys = palette.visible_entries("Blocks")
    assert keys == [f"block:builtin:{name}" for name in bl.BUILTIN]
    assert palette.sections["Blocks"] is palette.tree.topLevelItem(0)
    mime = palette.mime_data_for("block:builtin:dense_dropout")
    assert bytes(mime.data(LAYER_MIME).data()).decode() == "block:builtin:dense_dropout"
    palette.search.setText("residual")
    assert palette.visible_entries("Blocks") == ["block:builtin:residual_unit"]
    palette.search.clear()

    graph = window.graph
    before = state(window)
    window.scene.select_node("n4")  # Flatten
    node_id = window.append_layer("block:builtin:dense_dropout")
    node = graph.nodes[node_id]
    assert node.params == {"block": "dense_dropout", "units": 128, "rate": 0.5,
                           "activation": "relu"}
    assert [e.src for e in graph.in_edges(node_id)] == ["n4"]
    window.undo_stack.undo()
    assert state(window) == before and "dense_dropout" not in graph.blocks

    # a drop on the canvas
    dropped = window.view.handle_drop(mime, QPointF(50, 50))
    assert graph.nodes[dropped].params["block"] == "dense_dropout"

    # save to the library: the palette lists it, another project can place it
    assert window.block_actions.save_to_library(dropped)
    assert (home / "blocks" / "dense_dropout.json").is_file()
    assert "block:library:dense_dropout" in palette.visible_entries("Blocks")
    other = make_window()
    placed = other.document.add_layer("block:library:dense_dropout", (0.0, 0.0))
    assert other.graph.nodes[placed].params["block"] == "dense_dropout"


def test_damaged_library_file_is_reported_not_fatal(make_window, home):
    (home / "blocks").mkdir(parents=True)
    (home / "blocks" / "broken.json").write_text("{nope")
    window = make_window()
    assert window.palette.visible_entries("Blocks") == [f"block:builtin:{n}" for n in bl.BUILTIN]
    assert any("broken.json" in p for p in window.block_actions.library_problems)
    assert "broken.json" in window.palette.sections["Blocks"].toolTip(0)


def test_inspector_edits_exposed_parameters_undoably(make_window):
    window = make_window(resnet34())
    graph = window.graph
    unit = graph.node_by_name("unit5")
    window.scene.select_node(unit.id)
    inspector = window.parameter_editor
    assert set(inspector.editors) == {"filters", "strides", "repeat"}
    assert "conv1.strides" in inspector.editors["strides"].widget.toolTip()
    inspector._apply("repeat", 2)  # the block applied twice in a row, shown on its card
    assert unit.params["repeat"] == 2
    assert "×2" in window.scene.node_items[unit.id].type_text
    window.document.undo_stack.undo()
    assert unit.params.get("repeat", 1) == 1
    assert "×" not in window.scene.node_items[unit.id].type_text
    before = graph.inference.result(unit.id).params
    inspector._apply("strides", [2, 2])
    assert unit.params["strides"] == [2, 2]
    assert graph.inference.result(unit.id).params > before  # it projects now
    window.undo_stack.undo()
    assert unit.params["strides"] == [1, 1]
    assert graph.inference.result(unit.id).params == before
    inspector._apply("filters", 0)
    assert "filters" in inspector.editors["filters"].error.text()


def test_edit_definition_updates_every_instance_in_one_undo_step(make_window, qtbot):
    window = make_window(resnet34())
    graph = window.graph
    units = [n for n in graph.nodes.values() if n.type == "Block"]
    before_text, before_total = state(window), graph.inference.totals().params
    old_block = graph.blocks["residual_unit"]

    def edit(dialog: BlockEditorDialog):
        assert "used 16 times" in dialog.findChildren(type(dialog.error))[0].text()
        assert "skip_conv" in dialog.exposed_label.text()
        conv2 = next(n for n in dialog.sub.nodes.values() if n.name == "conv2")
        push(dialog.undo_stack, SetParam(dialog.sub, conv2.id, "use_bias", True))
        assert old_block.graph.nodes[conv2.id].params["use_bias"] is False  # a copy
        dialog._accept()
        return True

    window.block_actions.ask_edit = edit
    window.scene.activate_node(units[0].id)  # what a double-click does
    assert graph.blocks["residual_unit"] is not old_block
    assert graph.inference.totals().params == before_total + sum(
        u.params["filters"] for u in units)
    assert window.undo_stack.undoText() == "Edit block residual_unit"
    window.undo_stack.undo()
    assert graph.blocks["residual_unit"] is old_block
    assert state(window) == before_text
    window.undo_stack.redo()
    assert graph.inference.totals().params == before_total + sum(
        u.params["filters"] for u in units)


def test_editor_refuses_a_broken_definition(make_window):
    window = make_window(resnet34())
    dialog = BlockEditorDialog(window.graph, "residual_unit", window)
    out = next(n for n in dialog.sub.nodes.values() if n.name == "add")
    dialog.scene.select_node(out.id)
    dialog.scene.delete_selection()
    dialog._accept()
    assert dialog.result_block is None
    assert dialog.error.isVisibleTo(dialog) and dialog.error.text()
    dialog.reject()


def test_double_click_on_a_block_asks_to_edit(make_window, qtbot):
    from netbuilder.core.layout import layered_layout

    graph = resnet34()
    for node_id, position in layered_layout(graph).items():
        graph.move(node_id, position)
    window = make_window(graph)
    unit = window.graph.node_by_name("unit2")
    asked = []
    window.block_actions.ask_edit = lambda dialog: asked.append(dialog.block.name) or False
    item = window.scene.node_items[unit.id]
    window.view.centerOn(item)
    pos = window.view.mapFromScene(item.scenePos())
    qtbot.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert asked == ["residual_unit"]


def test_screenshot_of_a_block_being_edited(make_window, qtbot, tmp_path):
    """The residual unit's definition in its editor can be pictured (the README's picture is
    taken by tools/screenshots.py, never by a test: tests do not write into the checkout)."""
    window = make_window(resnet34())
    dialog = BlockEditorDialog(window.graph, "residual_unit", window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    skip = next(n for n in dialog.sub.nodes.values() if n.name == "skip_conv")
    # the optional layers (the projection) are marked on the canvas
    marked = {dialog.sub.nodes[n].name: note for n, note in dialog.scene.node_notes.items()}
    assert marked == {"skip_conv": "only if strides ≠ 1", "skip_bn": "only if strides ≠ 1"}
    assert "only if strides ≠ 1" in dialog.scene.node_items[skip.id].toolTip()
    dialog.scene.select_node(skip.id)
    dialog.view.fit_to_view()
    qtbot.wait(100)  # let the inspector lay itself out
    target = tmp_path / "screenshot-block-edit.png"
    assert dialog.grab().save(str(target))
    assert target.stat().st_size > 10_000
    dialog.reject()


def test_editor_changes_which_parameters_instances_set(make_window):
    window = make_window(resnet34())
    graph = window.graph
    unit = graph.node_by_name("unit5")

    def choose(dialog):
        tree = dialog.tree
        rows = {(tree.topLevelItem(i).text(1), tree.topLevelItem(i).text(2)):
                tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
        assert rows[("conv1", "filters")].checkState(0) == Qt.CheckState.Checked
        assert rows[("skip_conv", "strides")].text(0) == "strides"
        item = rows[("conv2", "kernel_size")]
        item.setCheckState(0, Qt.CheckState.Checked)
        item.setText(0, "kernel")
        return True

    def edit(dialog):
        dialog.ask_parameters = choose
        dialog.choose_parameters()
        assert "kernel" in dialog.exposed_label.text()
        dialog._accept()
        return True

    window.block_actions.ask_edit = edit
    assert window.block_actions.edit(unit.id)
    assert unit.params == {"block": "residual_unit", "filters": 128, "strides": [1, 1],
                           "kernel": [3, 3]}
    window.scene.select_node(unit.id)
    assert set(window.parameter_editor.editors) == {"filters", "strides", "kernel", "repeat"}
    window.parameter_editor._apply("kernel", [5, 5])
    assert graph.inference.result(unit.id).params > 0
    assert graph.inference.errors() == []
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert unit.params == {"block": "residual_unit", "filters": 128, "strides": [1, 1]}


def test_make_block_with_a_renamed_parameter(make_window):
    window = make_window(residual_graph())
    window.scene.clearSelection()
    for nid in ("n3", "n4"):
        window.scene.node_items[nid].setSelected(True)

    def answer(dialog):
        item = dialog.tree.topLevelItem(0)
        assert (item.text(0), item.text(2)) == ("filters", "filters")
        item.setText(0, "width")
        return True

    window.block_actions.ask_make_block = answer
    inst = window.block_actions.make_block()
    assert window.graph.nodes[inst].params == {"block": "my_block", "width": 8}
