"""The canvas: a QGraphicsScene that draws the document's graph.

The scene observes the graph (``Graph.subscribe``) and keeps one item per node and per edge
(``canvas.items``). Items only display; every change the user makes is one call to the
``Document``, and the scene redraws when the graph reports the change, whoever made it (an undo,
the parameter editor...). What features add (menu entries, double-click, node looks) comes from
``CanvasHooks``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QMimeData, QPointF, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneHelpEvent,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QInputDialog,
    QLineEdit,
    QMenu,
    QWidget,
)

from netbuilder.core.graph import BLOCK_TYPE, Edge, Event
from netbuilder.core.quick_fixes import ParamFix, QuickFix
from netbuilder.ui import theme
from netbuilder.ui.canvas import menus
from netbuilder.ui.canvas.clipboard import data_from_mime, data_to_mime, nodes_to_data
from netbuilder.ui.canvas.hooks import CanvasHooks
from netbuilder.ui.canvas.interactions import LinkDrag
from netbuilder.ui.canvas.items import EdgeItem, NodeItem, PortItem
from netbuilder.ui.document import Document


class GraphScene(QGraphicsScene):
    """Draws the document's graph and turns the user's gestures into calls to the document."""

    inspect_requested = Signal(str)
    """"Inspect Layer" in a layer's menu: the id of the layer."""

    def __init__(self, document: Document, hooks: CanvasHooks | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.graph = document.graph
        self.hooks = hooks if hooks is not None else CanvasHooks()
        self.node_notes: dict[str, str] = {}   # short labels on some layers (set_node_notes)
        self._notes_by_source: dict[str, dict[str, str]] = {}
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self._drag_start: dict[str, QPointF] = {}
        self.link_drag = LinkDrag(self)
        self.setBackgroundBrush(theme.CANVAS)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        for node_id in self.graph.nodes:
            self._add_node_item(node_id)
        for edge in self.graph.edges:
            self._add_edge_item(edge)
        self._unsubscribe: Callable[[], None] | None = self.graph.subscribe(self._on_graph_event)
        self.selectionChanged.connect(self._selection_changed)
        document.select_requested.connect(self.select_nodes)
        document.data_check.changed.connect(self._data_problems_changed)

    def helpEvent(self, event: QGraphicsSceneHelpEvent) -> None:  # noqa: N802 - Qt's name
        """Qt shows the tooltip of the item under the pointer: a layer writes its own now
        (``NodeItem.toolTip``), not after every edit."""
        for item in self.items(event.scenePos()):
            node = item if isinstance(item, NodeItem) else item.parentItem()
            if isinstance(node, NodeItem):
                node.toolTip()
                break
        super().helpEvent(event)

    def _data_problems_changed(self, node_ids: list[str]) -> None:
        for node_id in node_ids:
            self._refresh_node(node_id)

    def detach(self) -> None:
        """Stop observing the graph and the document (before the scene is thrown away)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
            self.selectionChanged.disconnect(self._selection_changed)
            self.document.select_requested.disconnect(self.select_nodes)
            self.document.data_check.changed.disconnect(self._data_problems_changed)

    # -- graph -> items ---------------------------------------------------------------------

    def _on_graph_event(self, event: Event) -> None:
        kind = event.kind
        if kind == "node_added" and event.node is not None:
            self._add_node_item(event.node.id)
        elif kind == "node_removed" and event.node is not None:
            node_id = event.node.id
            edges = self._edges_of(node_id)
            for edge in edges:
                self._remove_edge_item(edge)
            item = self.node_items.pop(node_id, None)
            if item is not None:
                self.removeItem(item)
            for edge in edges:  # a merge layer downstream has one port fewer
                self._refresh_node(edge.dst)
        elif kind == "edge_added" and event.edge is not None:
            self._add_edge_item(event.edge)
            self._refresh_node(event.edge.dst)
            self._refresh_out_edges(event.edge.src)
        elif kind == "edge_removed" and event.edge is not None:
            self._remove_edge_item(event.edge)
            self._refresh_node(event.edge.dst)
            self._refresh_out_edges(event.edge.src)
        elif kind in ("param_changed", "node_renamed", "trainable_changed") and event.node:
            self._refresh_node(event.node.id)
            if kind == "node_renamed":
                for edge in self._edges_of(event.node.id):
                    self.edge_items[edge].refresh()
        elif kind == "node_moved" and event.node is not None:
            item = self.node_items.get(event.node.id)
            x, y = event.node.position
            if item is not None and (item.pos().x(), item.pos().y()) != (x, y):
                item.setPos(x, y)
        elif kind == "shapes_changed":
            for node_id in event.nodes:
                self._refresh_node(node_id)
                self._refresh_out_edges(node_id)
        elif kind == "sharing_changed":  # a shared layer's calls show whom they share with
            for node_id in list(self.node_items):
                self._refresh_node(node_id)
        elif kind == "block_changed":  # a new definition: its instances' ports and values
            for node in list(self.graph.nodes.values()):
                if node.type == BLOCK_TYPE and node.params.get("block") == event.name:
                    self._refresh_node(node.id)

    def _add_node_item(self, node_id: str) -> None:
        item = NodeItem(self, node_id)
        x, y = self.graph.node(node_id).position
        item.setPos(x, y)
        self.node_items[node_id] = item
        self.addItem(item)

    def _refresh_node(self, node_id: str) -> None:
        item = self.node_items.get(node_id)
        if item is not None and node_id in self.graph.nodes:
            if item.refresh():  # its ports moved: so do its edges' ends
                for edge in self._edges_of(node_id):
                    self.edge_items[edge].update_path()

    def _refresh_out_edges(self, node_id: str) -> None:
        if node_id in self.graph.nodes:
            for edge in self.graph.out_edges(node_id):
                if edge in self.edge_items:
                    self.edge_items[edge].refresh()

    def _add_edge_item(self, edge: Edge) -> None:
        if edge in self.edge_items:
            return
        item = EdgeItem(self, edge)
        self.edge_items[edge] = item
        self.addItem(item)

    def _remove_edge_item(self, edge: Edge) -> None:
        item = self.edge_items.pop(edge, None)
        if item is not None:
            self.removeItem(item)

    def _edges_of(self, node_id: str) -> list[Edge]:
        if node_id in self.graph.nodes:
            edges = self.graph.in_edges(node_id) + self.graph.out_edges(node_id)
            return [e for e in edges if e in self.edge_items]
        return [e for e in self.edge_items if node_id in (e.src, e.dst)]

    def node_item_moved(self, node_id: str) -> None:
        for edge in self._edges_of(node_id):
            self.edge_items[edge].update_path()

    # -- notes ------------------------------------------------------------------------------

    def set_node_notes(self, notes: dict[str, str], source: str = "") -> None:
        """Short labels drawn on layers' name lines, kept per ``source`` so that features do not
        wipe each other's (the block editor marks the optional layers: "only if strides ≠ 1";
        search marks "⚲ units"; a comparison "changed: …"). A layer with notes from several
        sources shows them joined."""
        if notes:
            self._notes_by_source[source] = dict(notes)
        else:
            self._notes_by_source.pop(source, None)
        merged: dict[str, str] = {}
        for by_node in self._notes_by_source.values():
            for node_id, note in by_node.items():
                merged[node_id] = f"{merged[node_id]} · {note}" if node_id in merged else note
        changed = {n for n in set(self.node_notes) | set(merged)
                   if self.node_notes.get(n) != merged.get(n)}
        self.node_notes = merged
        for node_id in changed:
            item = self.node_items.get(node_id)
            if item is not None:
                item.refresh()

    # -- selection --------------------------------------------------------------------------

    def _selection_changed(self) -> None:
        self.document.set_selection(self.selected_node_ids())

    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_node(self, node_id: str | None) -> None:
        """Select exactly this node (None: nothing) and scroll it into view."""
        self.select_nodes([node_id] if node_id else [])

    def select_nodes(self, node_ids: list[str]) -> None:
        """Select exactly these nodes and scroll the first into view."""
        self.clearSelection()
        items = [self.node_items[n] for n in node_ids if n in self.node_items]
        for item in items:
            item.setSelected(True)
        if items:
            for view in self.views():
                if isinstance(view, QGraphicsView):
                    view.ensureVisible(items[0], 40, 40)

    def select_all(self) -> None:
        for item in self.node_items.values():
            item.setSelected(True)

    # -- gestures on the selection -------------------------------------------------------------

    def delete_selection(self) -> None:
        """Delete the selected layers (with their connections) and connections: one undo step."""
        self.document.delete(self.selected_node_ids(), self.selected_edges())

    def quick_fixes(self, node_id: str) -> list[QuickFix | ParamFix]:
        item = self.node_items.get(node_id)
        return list(item.fixes) if item is not None else []

    def copy_selection(self) -> QMimeData | None:
        """The selected layers (and the connections among them) as clipboard data."""
        ids = self.selected_node_ids()
        if not ids:
            return None
        return data_to_mime(nodes_to_data(self.graph, ids))

    def copy_to_clipboard(self) -> None:
        mime = self.copy_selection()
        if mime is not None:
            QApplication.clipboard().setMimeData(mime)

    def paste_mime(self, mime: QMimeData | None) -> list[str]:
        data = data_from_mime(mime)
        if data is None:
            self.document.report("The clipboard holds no layers to paste")
            return []
        return self.document.paste(data)

    def duplicate_selection(self) -> list[str]:
        ids = self.selected_node_ids()
        if not ids:
            return []
        return self.document.paste(nodes_to_data(self.graph, ids), "Duplicate")

    def ask_name(self, old: str) -> str | None:
        """Ask for a layer's new name (tests replace this)."""
        views = self.views()
        text, ok = QInputDialog.getText(views[0] if views else None, "Rename layer",
                                        "New name (letters, digits, _ . -):",
                                        QLineEdit.EchoMode.Normal, old)
        return text.strip() if ok else None

    def rename_node(self, node_id: str) -> bool:
        old = self.graph.node(node_id).name
        new = self.ask_name(old)
        if not new or new == old:
            return False
        error = self.document.rename(node_id, new)
        if error:
            self.document.report(error)
        return error is None

    # -- menus and double-click ------------------------------------------------------------------

    def node_menu(self, node_id: str) -> QMenu:
        return menus.node_menu(self, node_id)

    def edge_menu(self, edge: Edge) -> QMenu:
        return menus.edge_menu(self, edge)

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:
        pos = event.scenePos()
        node = self.node_at(pos)
        edge = self.edge_at(pos) if node is None else None
        if node is not None:
            menu = self.node_menu(node.node_id)
        elif edge is not None:
            menu = self.edge_menu(edge)
        else:
            menu = menus.canvas_menu(self)
        menu.exec(event.screenPos())
        menu.deleteLater()
        event.accept()

    def activate_node(self, node_id: str) -> bool:
        """What a double-click on a layer does: the first feature hook that takes it (a block
        opens its definition)."""
        return any(hook(node_id) for hook in self.hooks.double_clicks)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        node = self.node_at(event.scenePos())
        if node is not None and self.activate_node(node.node_id):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    # -- mouse: moving nodes (one undo step per drag) and drawing connections -----------------

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            port = self.port_at(event.scenePos())
            if port is not None and port.is_output:
                self.link_drag.begin(port.node.node_id, port.index)
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_start = {i.node_id: i.pos() for i in self.selectedItems()
                                if isinstance(i, NodeItem)}

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.link_drag.active:
            self.link_drag.update(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.link_drag.active:
            self.link_drag.finish(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        self.commit_moves()

    def commit_moves(self) -> None:
        """Record the drag that just ended as one Move command."""
        moves = {}
        for node_id, start in self._drag_start.items():
            item = self.node_items.get(node_id)
            if item is None or node_id not in self.graph.nodes:
                continue
            end = item.pos()
            if end != start:
                moves[node_id] = ((start.x(), start.y()), (round(end.x(), 1), round(end.y(), 1)))
        self._drag_start = {}
        self.document.move(moves)

    def port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def node_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item.node
            if isinstance(item, NodeItem):
                return item
        return None

    def edge_at(self, pos: QPointF) -> Edge | None:
        """The connection under ``pos`` (scene coordinates), unless a layer is there."""
        if self.node_at(pos) is not None:
            return None
        for item in self.items(pos):
            if isinstance(item, EdgeItem) and item.shape().contains(item.mapFromScene(pos)):
                return item.edge
        return None
