"""Gestures on the canvas that take more than one event: drawing a connection from an output
port to a layer, and dropping a layer from the palette (onto a connection: inserted there)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from netbuilder.core import catalog
from netbuilder.core.graph import Edge
from netbuilder.ui import theme
from netbuilder.ui.canvas.items import EdgeItem

if TYPE_CHECKING:
    from netbuilder.ui.canvas.scene import GraphScene
    from netbuilder.ui.canvas.view import GraphView

LAYER_MIME = "application/x-netbuilder-layer"
"""Mime type of a layer dragged from the palette; the data is the palette key (a layer type's
name, or a block's key), UTF-8."""


class LinkDrag:
    """A connection being drawn: a dashed curve from an output port follows the mouse; released
    on a layer (or one of its input ports), the two are connected."""

    def __init__(self, scene: GraphScene) -> None:
        self.scene = scene
        self.source: tuple[str, int] | None = None
        self.preview: QGraphicsPathItem | None = None

    @property
    def active(self) -> bool:
        return self.source is not None

    def begin(self, src: str, port: int) -> None:
        self.source = (src, port)
        preview = QGraphicsPathItem()
        preview.setPen(QPen(theme.SELECTED, 1.6, Qt.PenStyle.DashLine))
        preview.setZValue(3)
        self.scene.addItem(preview)
        self.preview = preview
        self.scene.document.report("Drop on a layer to connect it (Esc cancels)")

    def update(self, pos: QPointF) -> None:
        if self.source is None or self.preview is None:
            return
        src, port = self.source
        a = self.scene.node_items[src].output_pos(port)
        bend = max(30.0, abs(pos.y() - a.y()) / 2)
        path = QPainterPath(a)
        path.cubicTo(QPointF(a.x(), a.y() + bend), QPointF(pos.x(), pos.y() - bend), pos)
        self.preview.setPath(path)

    def finish(self, pos: QPointF) -> bool:
        """End the drag at ``pos``: connect to the port or the layer there."""
        link = self.source
        self.cancel()
        if link is None:
            return False
        src, src_port = link
        port = self.scene.port_at(pos)
        target = self.scene.node_at(pos)
        if target is None:
            self.scene.document.report("")
            return False
        dst_port = port.index if port is not None and not port.is_output else None
        return self.scene.document.connect(src, target.node_id, src_port, dst_port)

    def cancel(self) -> None:
        self.source = None
        if self.preview is not None:
            self.scene.removeItem(self.preview)
            self.preview = None


def palette_key(mime: QMimeData | None) -> str | None:
    """The palette key a drag carries, or None."""
    if mime is None or not mime.hasFormat(LAYER_MIME):
        return None
    name = bytes(mime.data(LAYER_MIME).data()).decode("utf-8")
    return name or None


class PaletteDrop:
    """A layer dragged from the palette over a view: the connection it would be inserted on is
    highlighted; dropped, it is added there, or where it was dropped."""

    def __init__(self, view: GraphView) -> None:
        self.view = view
        self.highlighted: EdgeItem | None = None

    def edge_at(self, key: str, view_pos: QPointF) -> Edge | None:
        """The connection a layer dropped at ``view_pos`` would be inserted on."""
        scene = self.view.graph_scene()
        if scene is None or not catalog.has(key) or catalog.get(key).max_inputs == 0:
            return None
        return scene.edge_at(self.view.mapToScene(view_pos.toPoint()))

    def highlight(self, edge: Edge | None) -> None:
        scene = self.view.graph_scene()
        item = scene.edge_items.get(edge) if scene is not None and edge is not None else None
        if item is self.highlighted:
            return
        if self.highlighted is not None and self.highlighted.scene() is not None:
            self.highlighted.hovered = False
            self.highlighted.update()
        self.highlighted = item
        if item is not None and scene is not None and edge is not None:
            item.hovered = True
            item.update()
            src, dst = scene.graph.node(edge.src), scene.graph.node(edge.dst)
            scene.document.report(f"Drop to insert it between {src.name} and {dst.name}")

    def drop(self, mime: QMimeData | None, view_pos: QPointF) -> str | None:
        """Add what ``mime`` names centred at ``view_pos`` (viewport coordinates), or, a layer
        dropped on a connection, insert it there; returns the new node's id."""
        key = palette_key(mime)
        scene = self.view.graph_scene()
        if key is None or scene is None:
            return None
        edge = self.edge_at(key, view_pos)
        if edge is not None:
            return scene.document.insert_on_edge(key, edge)
        pos = self.view.mapToScene(view_pos.toPoint())
        return scene.document.add_layer(key, (pos.x(), pos.y()))
