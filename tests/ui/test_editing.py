"""Editing on the canvas: dropping a layer onto a connection, copy/paste/duplicate, rubber-band
selection, select all, and the layer's context menu (delete, duplicate, rename, freeze)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from netbuilder.core.graph import Graph
from netbuilder.ui.canvas.clipboard import NODES_MIME, base_name, data_from_mime


def edge_point(window, src: str, dst: str) -> QPointF:
    """A point in the viewport on the connection src → dst, away from both layers."""
    scene = window.scene
    edge = next(e for e in window.graph.edges if (e.src, e.dst) == (src, dst))
    path = scene.edge_items[edge].path()
    point = path.pointAtPercent(0.5)
    assert scene.edge_at(point) == edge
    return QPointF(window.view.mapFromScene(point))


def snapshot(graph: Graph):
    return ({n.id: (n.type, n.name, n.position) for n in graph.nodes.values()}, set(graph.edges))


def menu_actions(menu):
    return {a.text(): a for a in menu.actions() if a.text() and not a.isSeparator()}


# -- dropping a layer onto a connection ------------------------------------------------------------


def test_dropping_a_layer_on_a_connection_inserts_it_there(window):
    graph = window.graph
    before = snapshot(graph)
    mime = window.palette.mime_data_for("Dropout")
    new_id = window.view.handle_drop(mime, edge_point(window, "n4", "n5"))
    assert new_id is not None and graph.nodes[new_id].type == "Dropout"
    assert [e.src for e in graph.in_edges(new_id)] == ["n4"]
    assert [e.src for e in graph.in_edges("n5")] == [new_id]
    assert graph.inference.errors() == []
    assert window.undo_stack.count() == 1
    assert window.undo_stack.undoText() == "Insert Dropout between flatten and dense"
    assert window.statusBar().currentMessage() == \
        "Inserted dropout (Dropout) between flatten and dense."
    # the layers below moved down to make room
    assert graph.nodes["n5"].position[1] - graph.nodes["n4"].position[1] >= 200
    assert window.scene.selected_node_ids() == [new_id]

    window.undo_stack.undo()
    assert snapshot(graph) == before
    window.undo_stack.redo()
    assert [e.src for e in graph.in_edges("n5")] == [new_id]


def test_drop_event_on_a_connection(window):
    """The real drop event goes the same way as the handler."""
    mime = window.palette.mime_data_for("BatchNormalization")
    event = QDropEvent(edge_point(window, "n2", "n3"), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.view.dropEvent(event)
    (new,) = [n for n in window.graph.nodes.values() if n.type == "BatchNormalization"]
    assert [e.src for e in window.graph.in_edges(new.id)] == ["n2"]
    assert window.graph.inference.result(new.id).params == 4 * 32


def test_a_layer_that_does_not_fit_is_inserted_red_and_the_status_bar_says_why(window):
    graph = window.graph
    new_id = window.view.handle_drop(window.palette.mime_data_for("LSTM"),
                                     edge_point(window, "n4", "n5"))
    assert new_id is not None
    assert window.scene.node_items[new_id].error
    message = window.statusBar().currentMessage()
    assert message.startswith("Inserted lstm (LSTM) between flatten and dense, but it does not "
                              "accept the tensor there: LSTM expects a sequence of rank 3")
    assert "Ctrl+Z" in message
    window.undo_stack.undo()
    assert graph.inference.errors() == [] and new_id not in graph.nodes


def test_an_input_dropped_on_a_connection_is_just_added(window):
    edges = set(window.graph.edges)
    new_id = window.view.handle_drop(window.palette.mime_data_for("Input"),
                                     edge_point(window, "n4", "n5"))
    assert window.graph.nodes[new_id].type == "Input"
    assert set(window.graph.edges) == edges


def test_dropping_beside_a_connection_adds_a_loose_layer(window):
    edges = set(window.graph.edges)
    point = window.view.mapFromScene(QPointF(600, 600))
    new_id = window.view.handle_drop(window.palette.mime_data_for("Dense"), QPointF(point))
    assert window.graph.in_edges(new_id) == [] and set(window.graph.edges) == edges


# -- copy, paste, duplicate -------------------------------------------------------------------


def test_copy_and_paste_layers_with_the_connections_among_them(window):
    graph, scene = window.graph, window.scene
    for node_id in ("n2", "n3"):
        scene.node_items[node_id].setSelected(True)
    assert window.copy()
    data = data_from_mime(QApplication.clipboard().mimeData())
    assert [n["name"] for n in data["nodes"]] == ["conv2d", "max_pooling2d"]
    assert len(data["edges"]) == 1  # conv2d → max_pooling2d; not the edges leaving the copy

    before = set(graph.nodes)
    new_ids = window.paste()
    assert len(new_ids) == 2 and set(new_ids).isdisjoint(before)
    conv, pool = (graph.nodes[i] for i in new_ids)
    assert (conv.name, pool.name) == ("conv2d_1", "max_pooling2d_1")
    assert conv.params == graph.nodes["n2"].params
    assert conv.position == (graph.nodes["n2"].position[0] + 40,
                             graph.nodes["n2"].position[1] + 40)
    assert [(e.src, e.dst) for e in graph.in_edges(pool.id)] == [(conv.id, pool.id)]
    assert graph.in_edges(conv.id) == []
    assert sorted(scene.selected_node_ids()) == sorted(new_ids)
    assert window.undo_stack.count() == 1
    assert window.undo_stack.undoText() == "Paste 2 layers"

    again = window.paste()  # a second paste lands further away, with new names again
    assert [graph.nodes[i].name for i in again] == ["conv2d_2", "max_pooling2d_2"]
    assert graph.nodes[again[0]].position == (graph.nodes["n2"].position[0] + 80,
                                              graph.nodes["n2"].position[1] + 80)
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert set(graph.nodes) == before


def test_cut_then_paste(window):
    window.scene.select_node("n5")
    window.cut()
    assert "n5" not in window.graph.nodes
    (new_id,) = window.paste()
    assert window.graph.nodes[new_id].name == "dense"
    assert window.graph.nodes[new_id].params["units"] == 10


def test_duplicate_keeps_frozen_flags_and_names_copies_like_keras(window):
    graph, scene = window.graph, window.scene
    graph.set_trainable("n2", False)
    scene.select_node("n2")
    (copy_id,) = window.duplicate()
    copy = graph.nodes[copy_id]
    assert copy.name == "conv2d_1" and not copy.trainable
    scene.select_node(copy_id)
    (second,) = window.duplicate()
    assert graph.nodes[second].name == "conv2d_2"
    assert window.undo_stack.count() == 2
    assert base_name("conv2d_12") == "conv2d" and base_name("head") == "head"
    assert base_name("_1") == "_1"


def test_keyboard_shortcuts_on_the_canvas(window, qtbot):
    graph = window.graph
    window.scene.select_node("n5")
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert len(graph.nodes) == 6
    QTest.keyClick(window.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(window.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(graph.nodes) == 7
    QTest.keyClick(window.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert len(window.scene.selected_node_ids()) == 7


def test_paste_ignores_foreign_clipboard_content(window):
    QApplication.clipboard().setText("hello")
    assert window.paste() == []
    assert "no layers" in window.statusBar().currentMessage()
    assert window.undo_stack.count() == 0


# -- selection ----------------------------------------------------------------------------------


def test_rubber_band_selects_the_layers_inside(make_window):
    graph = Graph()
    ids = [graph.add_node("Dense", {"units": 4}, position=(x, 0)).id for x in (0, 250, 500)]
    window = make_window(graph)
    window.view.resetTransform()
    window.view.centerOn(250, 0)
    viewport = window.view.viewport()
    start = window.view.mapFromScene(QPointF(-130, -60))
    end = window.view.mapFromScene(QPointF(380, 60))
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 9):
        QTest.mouseMove(viewport, start + (end - start) * i / 8)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    assert sorted(window.scene.selected_node_ids()) == sorted(ids[:2])
    assert window.undo_stack.count() == 0  # selecting is no edit


def test_select_all(window):
    window.select_all_action.trigger()
    assert sorted(window.scene.selected_node_ids()) == sorted(window.graph.nodes)


# -- the layer's context menu -------------------------------------------------------------------


def test_context_menu_delete_duplicate_rename_freeze(window):
    graph, scene = window.graph, window.scene
    menu = scene.node_menu("n2")
    actions = menu_actions(menu)
    assert {"Duplicate", "Copy", "Rename…", "Freeze (keep its weights as they are)",
            "Delete"} <= set(actions)
    assert scene.selected_node_ids() == ["n2"]  # right-click selects the layer

    actions["Freeze (keep its weights as they are)"].trigger()
    assert not graph.nodes["n2"].trainable
    assert graph.inference.result("n2").non_trainable == 320
    menu = scene.node_menu("n2")
    menu_actions(menu)["Unfreeze (train its weights)"].trigger()
    assert graph.nodes["n2"].trainable

    scene.ask_name = lambda old: "features"
    menu = scene.node_menu("n2")
    menu_actions(menu)["Rename…"].trigger()
    assert graph.nodes["n2"].name == "features"

    menu = scene.node_menu("n2")
    menu_actions(menu)["Duplicate"].trigger()
    assert graph.node_by_name("features_1") is not None

    menu = scene.node_menu("n3")
    menu_actions(menu)["Delete"].trigger()
    assert "n3" not in graph.nodes
    assert window.undo_stack.count() == 5
    for _ in range(5):
        window.undo_stack.undo()
    assert graph.nodes["n2"].name == "conv2d" and "n3" in graph.nodes
    assert len(graph.nodes) == 5


def test_context_menu_acts_on_the_whole_selection(window):
    graph, scene = window.graph, window.scene
    for node_id in ("n1", "n2", "n5"):
        scene.node_items[node_id].setSelected(True)
    menu = scene.node_menu("n2")
    actions = menu_actions(menu)
    assert not actions["Rename…"].isEnabled()
    actions["Freeze (keep its weights as they are)"].trigger()
    assert not graph.nodes["n2"].trainable and not graph.nodes["n5"].trainable
    assert graph.nodes["n1"].trainable  # an Input has nothing to freeze
    assert window.undo_stack.count() == 1
    assert window.undo_stack.undoText() == "Freeze 2 layers"


def test_rename_refused_says_why(window):
    window.scene.ask_name = lambda old: "dense"
    window.scene.select_node("n2")
    window.rename_action.trigger()
    assert window.graph.nodes["n2"].name == "conv2d"
    assert "exists already" in window.statusBar().currentMessage()


def test_clipboard_data_is_validated():
    from PySide6.QtCore import QMimeData

    mime = QMimeData()
    mime.setData(NODES_MIME, b'{"format": "netbuilder-nodes", "nodes": [{"id": 3}], "edges": []}')
    assert data_from_mime(mime) is None
    mime.setData(NODES_MIME, b"not json")
    assert data_from_mime(mime) is None


def test_dragging_a_layer_over_a_connection_highlights_it(window):
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent

    mime = window.palette.mime_data_for("Dropout")
    point = edge_point(window, "n4", "n5")
    window.view.dragEnterEvent(QDragEnterEvent(
        point.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier))
    event = QDragMoveEvent(point.toPoint(), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.view.dragMoveEvent(event)
    edge = next(e for e in window.graph.edges if e.dst == "n5")
    item = window.scene.edge_items[edge]
    assert item.hovered
    assert window.statusBar().currentMessage() == "Drop to insert it between flatten and dense"
    window.view.dragLeaveEvent(QDragLeaveEvent())
    assert not item.hovered
    # an Input cannot go on a connection: no highlight
    input_mime = window.palette.mime_data_for("Input")  # the event does not keep it alive
    event = QDragMoveEvent(point.toPoint(), Qt.DropAction.CopyAction, input_mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.view.dragMoveEvent(event)
    assert not item.hovered
