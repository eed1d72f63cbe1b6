"""The canvas: drops from the palette, connecting by dragging, moving, deleting, errors."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent, QImage, QPainter
from PySide6.QtTest import QTest

from netbuilder.core.graph import Graph
from netbuilder.ui.canvas.interactions import LAYER_MIME
from netbuilder.ui.canvas.items import NodeItem


def view_point(window, scene_point: QPointF) -> QPoint:
    return window.view.mapFromScene(scene_point)


def drag(window, start: QPointF, end: QPointF) -> None:
    """Press at ``start``, move in steps to ``end`` and release (scene coordinates)."""
    viewport = window.view.viewport()
    a, b = view_point(window, start), view_point(window, end)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, 6):
        p = a + (b - a) * i / 5
        QTest.mouseMove(viewport, p)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def test_scene_mirrors_the_graph(window):
    scene = window.scene
    assert set(scene.node_items) == set(window.graph.nodes)
    assert set(scene.edge_items) == set(window.graph.edges)
    conv = scene.node_items["n2"]
    assert conv.name == "conv2d"
    assert conv.type_text == "Conv2D"
    assert conv.detail == "32 · 3×3 · relu"
    assert conv.shape_line == "(None, 26, 26, 32)"
    assert conv.count == "320 params"
    edge = next(e for e in scene.edge_items if e.src == "n2")
    assert scene.edge_items[edge].label == "26×26×32"


def test_drop_from_palette_adds_a_layer_at_the_drop_point(window):
    mime = window.palette.mime_data_for("Dense")
    assert mime.hasFormat(LAYER_MIME)
    assert bytes(mime.data(LAYER_MIME).data()) == b"Dense"

    drop_at = QPointF(300, 200)
    event = QDropEvent(drop_at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    before = set(window.graph.nodes)
    window.view.dropEvent(event)
    (new_id,) = set(window.graph.nodes) - before
    node = window.graph.nodes[new_id]
    assert node.type == "Dense"
    expected = window.view.mapToScene(drop_at.toPoint())
    assert abs(node.position[0] - expected.x()) < 1 and abs(node.position[1] - expected.y()) < 1
    assert new_id in window.scene.node_items
    assert window.scene.selected_node_ids() == [new_id]
    assert window.undo_stack.undoText() == "Add Dense"

    window.undo_stack.undo()
    assert new_id not in window.graph.nodes and new_id not in window.scene.node_items


def test_drop_ignores_foreign_data(window):
    mime = QMimeData()
    mime.setText("Dense")
    before = len(window.graph.nodes)
    assert window.view.handle_drop(mime, QPointF(10, 10)) is None
    assert len(window.graph.nodes) == before


def test_dragging_from_an_output_port_connects(make_window):
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [16]}, position=(0, 0))
    dense = graph.add_node("Dense", {"units": 4}, position=(0, 160))
    window = make_window(graph)
    scene = window.scene
    port = scene.node_items[inp.id].outputs[0]
    drag(window, port.scenePos(), scene.node_items[dense.id].scenePos())
    assert [(e.src, e.dst) for e in graph.edges] == [(inp.id, dense.id)]
    assert scene.node_items[dense.id].shape_line == "(None, 4)"
    assert window.undo_stack.count() == 1

    window.undo_stack.undo()
    assert graph.edges == []
    assert not scene.edge_items


def test_refused_connection_says_why_in_the_status_bar(make_window):
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [16]}, position=(0, 0))
    dense = graph.add_node("Dense", {"units": 4}, position=(0, 160))
    graph.connect(inp.id, dense.id)
    window = make_window(graph)
    scene = window.scene
    port = scene.node_items[dense.id].outputs[0]
    drag(window, port.scenePos(), scene.node_items[inp.id].scenePos())
    assert len(graph.edges) == 1
    assert "takes no inputs" in window.statusBar().currentMessage()
    assert window.undo_stack.count() == 0


def test_connecting_into_a_merge_layer_uses_the_next_free_port(make_window):
    graph = Graph()
    a = graph.add_node("Input", {"shape": [8]}, position=(0, 0))
    b = graph.add_node("Input", {"shape": [8]}, position=(250, 0))
    add = graph.add_node("Add", position=(120, 160))
    window = make_window(graph)
    assert window.document.connect(a.id, add.id)
    assert window.document.connect(b.id, add.id)
    assert [e.dst_port for e in graph.in_edges(add.id)] == [0, 1]
    assert len(window.scene.node_items[add.id].inputs) == 3  # one free port for a third
    assert window.scene.node_items[add.id].shape_line == "(None, 8)"


def test_delete_then_undo_and_redo(window):
    graph, scene = window.graph, window.scene
    scene.select_node("n2")
    edges_before = set(graph.edges)
    window.delete_action.trigger()
    assert "n2" not in graph.nodes and "n2" not in scene.node_items
    assert not any("n2" in (e.src, e.dst) for e in scene.edge_items)
    assert graph.inference.result("n3").blocked_by is None  # pooling now has no input
    assert scene.node_items["n3"].shape_line.startswith("⚠ MaxPooling2D takes exactly 1 input")
    assert scene.node_items["n3"].count == "Fix: connect its input"

    window.undo_stack.undo()
    assert set(graph.edges) == edges_before
    assert set(scene.edge_items) == edges_before
    assert graph.nodes["n2"].name == "conv2d"
    assert scene.node_items["n5"].shape_line == "(None, 10)"

    window.undo_stack.redo()
    assert "n2" not in graph.nodes and "n2" not in scene.node_items


def test_deleting_connected_layers_together_restores_the_edge_between_them(window):
    graph, scene = window.graph, window.scene
    edges_before = set(graph.edges)
    for node_id in ("n2", "n3"):
        scene.node_items[node_id].setSelected(True)
    scene.delete_selection()
    assert window.undo_stack.count() == 1
    assert {"n2", "n3"}.isdisjoint(graph.nodes)
    window.undo_stack.undo()
    assert set(graph.edges) == edges_before


def test_deleting_a_selected_connection(window):
    graph, scene = window.graph, window.scene
    edge = next(e for e in graph.edges if e.dst == "n4")
    scene.clearSelection()
    scene.edge_items[edge].setSelected(True)
    window.delete_action.trigger()
    assert edge not in graph.edges and edge not in scene.edge_items
    window.undo_stack.undo()
    assert edge in graph.edges and edge in scene.edge_items


def test_edges_end_on_their_ports_when_a_merge_layer_gains_one(make_window):
    graph = Graph()
    a = graph.add_node("Input", {"shape": [4]}, position=(0, 0))
    b = graph.add_node("Input", {"shape": [4]}, position=(300, 0))
    add = graph.add_node("Add", {}, position=(150, 150))
    graph.connect(a.id, add.id)
    window = make_window(graph)
    scene = window.scene
    item = scene.node_items[add.id]
    first = next(e for e in graph.edges if e.src == a.id)
    before = scene.edge_items[first].path().pointAtPercent(1.0)
    window.document.connect(b.id, add.id)   # Add makes a port more: the first one moves
    assert len(item.inputs) == 3
    for edge in graph.in_edges(add.id):
        assert scene.edge_items[edge].path().pointAtPercent(1.0) == item.input_pos(
            edge.dst_port)
    assert scene.edge_items[first].path().pointAtPercent(1.0) != before
    edge_item = scene.edge_items[first]
    redrawn = []
    real = edge_item.update_path
    edge_item.update_path = lambda: redrawn.append(1) or real()
    window.document.set_param(a.id, "shape", [6])    # shapes only: the ports stay, and the
    assert redrawn == [1]                           # line is drawn again once (its label)


def test_moving_a_node_is_one_undo_step(window):
    graph, scene = window.graph, window.scene
    item = scene.node_items["n4"]
    start = item.scenePos()
    drag(window, start + QPointF(0, -20), start + QPointF(150, 40))
    moved = graph.nodes["n4"].position
    assert moved != (0.0, 330.0)
    assert (item.pos().x(), item.pos().y()) == moved
    assert window.undo_stack.count() == 1
    assert window.undo_stack.undoText() == "Move flatten"
    edge = next(e for e in graph.edges if e.dst == "n4")
    assert scene.edge_items[edge].path().pointAtPercent(1.0) == item.input_pos(0)

    window.undo_stack.undo()
    assert graph.nodes["n4"].position == (0.0, 330.0)
    assert (item.pos().x(), item.pos().y()) == (0.0, 330.0)


@pytest.mark.qt_log_ignore("This plugin does not support (raise|propagateSizeHints)")  # tooltip
def test_a_layers_tooltip_is_written_when_qt_asks_for_it_not_on_every_edit(make_window):
    from PySide6.QtWidgets import QGraphicsItem, QGraphicsSceneHelpEvent, QToolTip

    graph = Graph()
    inp = graph.add_node("Input", {"shape": [8]}, position=(0, 0))
    dense = graph.add_node("Dense", {"units": 3}, position=(0, 110))
    graph.connect(inp.id, dense.id)
    window = make_window(graph)
    item = window.scene.node_items[dense.id]
    assert "Output: (None, 3)" in item.toolTip()
    window.document.set_param(dense.id, "units", 5)
    stored = QGraphicsItem.toolTip(item)          # what Qt itself would read: not yet written
    assert "Output: (None, 3)" in stored
    event = QGraphicsSceneHelpEvent(QGraphicsSceneHelpEvent.Type.GraphicsSceneHelp)
    event.setScenePos(item.scenePos())
    window.scene.helpEvent(event)                  # the pointer rests on the layer
    assert "Output: (None, 5)" in QGraphicsItem.toolTip(item)
    QToolTip.hideText()
    window.document.set_param(dense.id, "units", 7)
    assert "Output: (None, 7)" in item.toolTip()   # and whoever asks in Python


def test_invalid_node_is_red_with_its_reason_in_the_tooltip(make_window):
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [784]}, position=(0, 0))
    conv = graph.add_node("Conv2D", {"filters": 8}, position=(0, 110))
    dense = graph.add_node("Dense", {"units": 3}, position=(0, 220))
    graph.connect(inp.id, conv.id)
    graph.connect(conv.id, dense.id)
    window = make_window(graph)
    item = window.scene.node_items[conv.id]
    result = graph.inference.result(conv.id)
    assert item.error
    assert result.error in item.toolTip().replace("&gt;", ">").replace("&lt;", "<")
    assert "insert Reshape to (28, 28, 1) before it" in item.toolTip()
    assert window.scene.node_items[dense.id].blocked
    assert "Waits for conv2d" in window.scene.node_items[dense.id].toolTip()

    # the border is drawn red
    image = QImage(240, 120, QImage.Format.Format_ARGB32)
    image.fill(0xFFFFFFFF)
    painter = QPainter(image)
    rect = item.sceneBoundingRect()
    window.scene.clearSelection()
    window.scene.render(painter, image.rect().toRectF(), rect.adjusted(-10, -10, 10, 10))
    painter.end()
    reds = sum(1 for x in range(image.width()) for y in range(image.height())
               if (c := image.pixelColor(x, y)).red() > 180 and c.green() < 90 and c.blue() < 90)
    assert reds > 100

    # fixing the input shape makes it valid again, live
    graph.set_param(inp.id, "shape", [28, 28, 1])
    assert not item.error and item.shape_line == "(None, 26, 26, 8)"
    assert not window.scene.node_items[dense.id].blocked


def test_wheel_zooms_and_fit_shows_everything(window):
    view = window.view
    view.fit_to_view()
    zoom = view.zoom()
    assert 0 < zoom <= 1.0
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    for item in window.scene.node_items.values():
        assert visible.contains(item.sceneBoundingRect())
    view.zoom_by(1.5)
    assert abs(view.zoom() - min(zoom * 1.5, view.MAX_ZOOM)) < 1e-6
    from PySide6.QtCore import QPoint as P
    from PySide6.QtGui import QWheelEvent
    event = QWheelEvent(QPointF(50, 50), view.mapToGlobal(P(50, 50)).toPointF(), P(0, 0),
                        P(0, -240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    before = view.zoom()
    view.wheelEvent(event)
    assert view.zoom() < before
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_F)
    assert abs(view.zoom() - zoom) < 1e-6


def test_items_are_never_edited_directly(window):
    """Items display only: a node item has no reference to edit the graph except commands."""
    item = window.scene.node_items["n2"]
    assert isinstance(item, NodeItem)
    window.graph.rename("n2", "features")
    assert item.name == "features"


def test_delete_key_on_the_canvas(window, qtbot):
    window.scene.select_node("n5")
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Delete)
    assert "n5" not in window.graph.nodes


def test_connection_dropped_on_empty_canvas_does_nothing(window):
    scene = window.scene
    port = scene.node_items["n5"].outputs[0]
    drag(window, port.scenePos(), port.scenePos() + QPointF(0, 150))
    assert window.undo_stack.count() == 0
    assert scene.link_drag.preview is None


def test_far_away_layers_stay_reachable_by_scrolling(window, qtbot):
    node = window.graph.add_node("Dense", {"units": 3}, position=(6000.0, 4000.0))
    item = window.scene.node_items[node.id]
    qtbot.waitUntil(lambda: window.view.sceneRect().contains(item.sceneBoundingRect()))


def test_renaming_an_invalid_layer_renames_it_in_its_error(make_window, qtbot):
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [784]})
    conv = graph.add_node("Conv2D", {"filters": 8}, position=(0, 110))
    graph.connect(inp.id, conv.id)
    window = make_window(graph)
    window.scene.select_node(conv.id)
    window.parameter_editor.name_edit.setText("features")
    window.parameter_editor.name_edit.editingFinished.emit()
    item = window.scene.node_items[conv.id]
    qtbot.waitUntil(lambda: "features: Conv2D expects" in item.toolTip())
    qtbot.waitUntil(lambda: "features: Conv2D" in window.parameter_editor.status.text())


def test_node_notes_from_several_features_are_kept_apart(window):
    """Search marks and a comparison both note layers: one clearing its notes keeps the other's."""
    scene = window.scene
    scene.set_node_notes({"n2": "⚲ filters"}, source="search")
    scene.set_node_notes({"n2": "changed: filters", "n3": "added"}, source="compare")
    assert scene.node_notes == {"n2": "⚲ filters · changed: filters", "n3": "added"}
    scene.set_node_notes({}, source="compare")
    assert scene.node_notes == {"n2": "⚲ filters"}


def test_ports_and_edges_highlight_while_hovered(window):
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QGraphicsSceneHoverEvent

    scene = window.scene
    edge = next(iter(scene.edge_items.values()))
    port = next(i for i in scene.items() if type(i).__name__ == "PortItem")
    for item in (edge, port):
        scene.sendEvent(item, QGraphicsSceneHoverEvent(QEvent.Type.GraphicsSceneHoverEnter))
        assert item.hovered
        scene.sendEvent(item, QGraphicsSceneHoverEvent(QEvent.Type.GraphicsSceneHoverLeave))
        assert not item.hovered
