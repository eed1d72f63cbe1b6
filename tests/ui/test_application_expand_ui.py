"""A Keras Application in the editor: Edit ▸ Expand Block / Collapse Block, one undo step each;
"Edit Block Definition…" (a double-click) explains and offers the expansion instead; the status
bar says whether the collapse gave the Application back or made a plain model."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from netbuilder.core.block_edits import group_of
from netbuilder.core.project import Project, dumps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_application_blocks import APP, LAYERS, with_head  # noqa: E402


def state(window):
    return dumps(Project(window.graph, "x"))


def edit_menu(window):
    return next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")


def trigger(window, action):
    """Click an Edit menu item as the user does: the menu updates what is enabled first."""
    menu = edit_menu(window)
    assert action in menu.actions()
    window.block_actions.update_enabled()
    assert action.isEnabled(), action.text()
    action.trigger()


def status(window):
    return window.statusBar().currentMessage()


def test_expand_and_collapse_from_the_edit_menu_with_undo_and_redo(make_window):
    graph, block, base = with_head()
    window = make_window(graph)
    scene, stack, actions = window.scene, window.undo_stack, window.block_actions
    original = state(window)
    scene.select_node(base)
    actions.update_enabled()
    assert not actions.collapse_action.isEnabled()
    assert not actions.save_action.isEnabled()  # a nested model is not a library block

    trigger(window, actions.expand_action)
    names = [f"tiny_{name}" for name in LAYERS]
    ids = [graph.node_by_name(n).id for n in names]
    assert base not in graph.nodes and base not in scene.node_items
    assert all(nid in scene.node_items for nid in ids)
    assert sorted(scene.selected_node_ids()) == sorted(ids)
    assert "VGG16" in status(window) and "Collapse Block" in status(window)
    assert "without the imagenet weights" in status(window)
    assert stack.undoText() == "Expand tiny"
    expanded = state(window)
    window.parameter_editor.set_selection([ids[0]])
    note = window.parameter_editor.findChild(QLabel, "group_note")
    assert note is not None and "Collapse Block" in note.text() and "VGG16" in note.text()
    flat = scene.node_items[graph.node_by_name("flatten").id]
    assert flat.pos().y() > scene.node_items[ids[-1]].pos().y()  # moved down, not under it

    stack.undo()
    assert state(window) == original and base in scene.node_items
    assert graph.blocks["tiny"].application == APP
    stack.redo()
    assert state(window) == expanded and group_of(graph, ids[0]) is not None

    scene.select_node(ids[2])
    trigger(window, actions.collapse_action)
    assert state(window) == original
    assert graph.nodes[base].name == "tiny" and base in scene.node_items
    assert scene.selected_node_ids() == [base]
    assert "Keras Application VGG16 again" in status(window)
    assert stack.undoText() == "Collapse tiny"
    stack.undo()
    assert state(window) == expanded and all(nid in scene.node_items for nid in ids)
    stack.redo()
    assert state(window) == original and graph.blocks["tiny"] is block


def test_changed_layers_collapse_into_a_plain_model_and_undo_gives_the_application_back(
        make_window):
    graph, block, base = with_head()
    window = make_window(graph)
    scene, stack, actions = window.scene, window.undo_stack, window.block_actions
    scene.select_node(base)
    trigger(window, actions.expand_action)
    conv = graph.node_by_name("tiny_block2_conv1").id
    window.parameter_editor.set_selection([conv])
    from netbuilder.ui.commands import SetParam, push

    push(stack, SetParam(graph, conv, "filters", 12))
    edited = state(window)
    scene.select_node(conv)
    trigger(window, actions.collapse_action)
    node = graph.node_by_name("tiny")
    assert graph.blocks[node.params["block"]].application is None
    text = status(window)
    assert "plain model" in text and "no longer comes from keras.applications" in text
    assert scene.node_items[node.id].type_text == "tiny"  # no longer shown as VGG16
    stack.undo()
    assert state(window) == edited
    stack.undo()
    stack.undo()
    assert graph.blocks["tiny"] is block and graph.nodes[base].name == "tiny"


def test_editing_the_definition_explains_and_offers_the_expansion(make_window, qtbot):
    graph, _block, base = with_head()
    window = make_window(graph)
    scene, stack, actions = window.scene, window.undo_stack, window.block_actions
    original = state(window)
    asked = []

    def decline(block):
        asked.append(block.name)
        return False

    actions.ask_expand_model = decline
    scene.select_node(base)
    trigger(window, actions.edit_action)
    assert asked == ["tiny"] and state(window) == original and stack.count() == 0

    from netbuilder.ui.features.blocks import expand_model_text

    text = expand_model_text(graph.blocks["tiny"])
    assert "VGG16 comes from keras.applications" in text and "plain model" in text

    actions.ask_expand_model = lambda block: True  # "Expand on Canvas"
    item = scene.node_items[base]
    view = window.view
    point = view.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert base not in graph.nodes and graph.node_by_name("tiny_block1_conv1") is not None
    assert stack.count() == 1 and stack.undoText() == "Expand tiny"
    stack.undo()
    assert state(window) == original


def test_the_inspector_says_how_to_change_an_applications_layers(make_window):
    graph, _block, base = with_head()
    window = make_window(graph)
    window.scene.select_node(base)
    window.parameter_editor.set_selection([base])
    texts = [label.text() for label in window.parameter_editor.findChildren(QLabel)]
    hint = next(t for t in texts if "keras.applications" in t)
    assert "Expand Block" in hint and "plain model" in hint
    assert not any("edit its definition" in t for t in texts)
