"""The canvas: a QGraphicsScene that draws a Graph and a QGraphicsView to look at it.

The scene observes the graph (``Graph.subscribe``) and keeps one item per node and per edge. Items
only display; every change the user makes goes through an undo command (``commands.push``), and
the scene redraws when the graph reports the change, whoever made it (an undo, the inspector...).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from html import escape

from PySide6.QtCore import QMimeData, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QInputDialog,
    QLineEdit,
    QMenu,
    QStyleOptionGraphicsItem,
    QWidget,
)

from netbuilder.core import catalog
from netbuilder.core.catalog import LayerSpec
from netbuilder.core.explain import derivations, explain
from netbuilder.core.graph import BLOCK_TYPE, Edge, Event, Graph, GraphError, Node
from netbuilder.core.inference import NodeResult
from netbuilder.core.layout import V_SPACING
from netbuilder.core.quick_fixes import ParamFix, QuickFix, describe_fix, suggest_fixes
from netbuilder.ui import theme
from netbuilder.ui.canvas.clipboard import base_name, data_from_mime, data_to_mime, nodes_to_data
from netbuilder.ui.commands import (
    AddNode,
    ApplyQuickFix,
    Connect,
    Disconnect,
    GraphCommand,
    InsertOnEdge,
    Move,
    RemoveNode,
    Rename,
    SetParam,
    SetTrainable,
    push,
)
from netbuilder.ui.formatting import compact_shape, key_params_text, outputs_text, params_text

log = logging.getLogger(__name__)

LAYER_MIME = "application/x-netbuilder-layer"
"""Mime type of a layer dragged from the palette; the data is the layer type's name (UTF-8)."""

NODE_WIDTH = 196.0
NODE_HEIGHT = 72.0
PORT_RADIUS = 5.0
STRIPE = 5.0
LABEL_OFFSET = 19.0  # how far below its output port an edge's shape label sits
DETAIL_ZOOM = 0.35  # below this zoom nodes are drawn as plain boxes (overview, huge models)
PASTE_STEP = 40.0  # how far a pasted or duplicated layer sits from its original


def _font(point_size: float, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font


NAME_FONT = _font(9.0, bold=True)
DETAIL_FONT = _font(8.0)
TYPE_FONT = _font(8.0, bold=True)
LABEL_FONT = _font(7.5)


class PortItem(QGraphicsItem):
    """An input (top) or output (bottom) connection point of a node."""

    def __init__(self, node: NodeItem, is_output: bool, index: int, label: str) -> None:
        super().__init__(node)
        self.node = node
        self.is_output = is_output
        self.index = index
        self.hovered = False
        self.setAcceptHoverEvents(True)
        self.setToolTip(label)
        if is_output:
            self.setCursor(Qt.CursorShape.CrossCursor)

    def boundingRect(self) -> QRectF:
        r = PORT_RADIUS + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = PORT_RADIUS + (1.5 if self.hovered else 0)
        painter.setPen(QPen(theme.EDGE, 1.2))
        painter.setBrush(theme.SELECTED if self.hovered else QColor("white"))
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = True
        self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = False
        self.update()


class NodeItem(QGraphicsItem):
    """One layer: a rounded box with its name, type, key parameters, output shape and parameter
    count. Its position is the node's centre, as in the graph."""

    def __init__(self, canvas: GraphScene, node_id: str) -> None:
        super().__init__()
        self.canvas = canvas
        self.node_id = node_id
        self.inputs: list[PortItem] = []
        self.outputs: list[PortItem] = []
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.name = self.type_text = self.detail = self.shape_line = self.count = ""
        self.family = "Core"
        self.error = False
        self.blocked = False
        self.frozen = False
        self.noted = False
        self.fixes: list[QuickFix] = []
        self.refresh()

    # -- model -> item ----------------------------------------------------------------------

    def refresh(self) -> None:
        graph = self.canvas.graph
        node = graph.node(self.node_id)
        result = graph.inference.results.get(self.node_id)
        self.name = node.name
        if node.type == BLOCK_TYPE:
            self.family, self.type_text = "Blocks", node.params["block"]
            self.detail = ", ".join(  # its exposed values: filters=128, strides=2
                f"{k}={v[0] if isinstance(v, list) and v and v.count(v[0]) == len(v) else v}"
                for k, v in node.params.items() if k != "block") or "block"
            spec = None
            if getattr(graph.blocks.get(node.params["block"]), "application", None):
                from netbuilder.ui.features.applications import node_detail  # a Keras Application

                self.family = "Pretrained"
                self.type_text, self.detail = node_detail(graph, node.id)
        else:
            spec = catalog.get(node.type)
            self.family, self.type_text = spec.family, node.type
            self.detail = key_params_text(spec, node.params)
        self.frozen = not node.trainable
        self.error = bool(result and result.error)
        self.blocked = bool(result and result.blocked_by is not None)
        self.noted = bool(result and result.ok and result.notes)
        self.fixes = []
        settled = all(e.src in graph.inference.results for e in graph.in_edges(self.node_id))
        if (self.error or self.noted) and settled:  # (mid-batch, inference has not run yet)
            try:
                self.fixes = suggest_fixes(graph, self.node_id)
            except Exception:  # a hint must never take an edit down with it
                log.exception("quick fixes for %s failed", node.name)
        if result is None:
            self.shape_line, self.count = "?", ""
        elif result.ok:
            self.shape_line = outputs_text(result.outputs)
            self.count = params_text(result.params)
        elif self.error:
            assert result.error is not None
            message = result.error
            if message.startswith(f"{node.name}: "):
                message = message[len(node.name) + 2:]
            self.shape_line = f"⚠ {message}"
            self.count = f"Fix: {result.fix}" if result.fix else "hover for details"
        else:
            upstream = graph.nodes.get(result.blocked_by or "")
            self.shape_line = (f"waits for {upstream.name}" if upstream is not None
                               else "waits for its input")
            self.count = ""
        self.setToolTip(self._tooltip(node, result))
        self._sync_ports(node, spec, result)
        self.update()

    def _tooltip(self, node: Node, result: NodeResult | None) -> str:
        lines = [f"<b>{escape(node.name)}</b> ({escape(self.type_text)})"]
        if self.detail:
            lines.append(escape(self.detail))
        if result is not None and result.ok:
            lines.append(f"Output: {escape(outputs_text(result.outputs))}")
            extra = f" ({result.non_trainable:,} non-trainable)" if result.non_trainable else ""
            lines.append(f"Parameters: {result.params:,}{extra}")
        if result is not None and result.error:
            lines.append(f"<span style='color:#d93025'><b>Error:</b> {escape(result.error)}</span>")
            if result.fix:
                lines.append(f"<b>Fix:</b> {escape(result.fix)}")
        elif result is not None and result.blocked_by is not None:
            upstream = self.canvas.graph.nodes.get(result.blocked_by)
            if upstream is not None:
                lines.append(f"Waits for {escape(upstream.name)}, which is invalid or "
                             "unconnected.")
        if result is not None:
            lines.extend(f"<i>Note:</i> {escape(n)}" for n in result.notes)
        if self.fixes:
            lines.append("<b>Quick fixes</b> (right-click the layer, or see the Inspector):")
            lines.extend(f"&nbsp;• {escape(f.label)}" for f in self.fixes)
        if self.frozen:
            lines.append("Frozen: its weights do not change in training.")
        if self.canvas.node_notes.get(self.node_id):
            lines.append(f"<i>{escape(self.canvas.node_notes[self.node_id])}</i>")
        how = explanation_html(self.canvas.graph, self.node_id) if result is not None and \
            result.ok else ""
        if how:
            lines.append("<b>How these numbers are computed</b>")
            lines.append(how)
        return "<br>".join(lines)

    def _sync_ports(self, node: Node, spec: LayerSpec | None, result: NodeResult | None
                    ) -> None:
        graph = self.canvas.graph
        connected = len(graph.in_edges(self.node_id))
        names: list[str]
        if node.type == BLOCK_TYPE:
            block = graph.blocks.get(node.params["block"])
            count = len(block.inputs) if block else connected
            names = [f"input {i}" for i in range(count)]
            outs = len(block.outputs) if block else 1
        else:
            assert spec is not None
            if spec.max_inputs is None:  # merge layers: one free port after the used ones
                used = max((e.dst_port for e in graph.in_edges(self.node_id)), default=-1) + 1
                count = max(spec.min_inputs, used + 1)
            else:
                count = spec.max_inputs
            names = [spec.input_names[i] if i < len(spec.input_names) else f"input {i}"
                     for i in range(count)]
            outs = len(result.outputs) if result is not None and result.ok and result.outputs \
                else 1
        if [p.toolTip() for p in self.inputs] != [f"Input: {n}" for n in names]:
            for port in self.inputs:
                port.setParentItem(None)
                if port.scene() is not None:
                    port.scene().removeItem(port)
            self.inputs = [PortItem(self, False, i, f"Input: {n}") for i, n in enumerate(names)]
        if len(self.outputs) != outs:
            for port in self.outputs:
                port.setParentItem(None)
                if port.scene() is not None:
                    port.scene().removeItem(port)
            self.outputs = [PortItem(self, True, i, "Output — drag to a layer to connect")
                            for i in range(outs)]
        for ports, y in ((self.inputs, -NODE_HEIGHT / 2), (self.outputs, NODE_HEIGHT / 2)):
            for i, port in enumerate(ports):
                port.setPos(self._port_x(i, len(ports)), y)

    @staticmethod
    def _port_x(index: int, count: int) -> float:
        if count <= 1:
            return 0.0
        span = min(NODE_WIDTH - 40, 36.0 * (count - 1))
        return -span / 2 + span * index / (count - 1)

    def input_pos(self, port: int) -> QPointF:
        if port < len(self.inputs):
            return self.mapToScene(self.inputs[port].pos())
        return self.mapToScene(QPointF(0, -NODE_HEIGHT / 2))

    def output_pos(self, port: int) -> QPointF:
        if port < len(self.outputs):
            return self.mapToScene(self.outputs[port].pos())
        return self.mapToScene(QPointF(0, NODE_HEIGHT / 2))

    # -- drawing ----------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return QRectF(-NODE_WIDTH / 2 - 2, -NODE_HEIGHT / 2 - 2, NODE_WIDTH + 4, NODE_HEIGHT + 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        rect = QRectF(-NODE_WIDTH / 2, -NODE_HEIGHT / 2, NODE_WIDTH, NODE_HEIGHT)
        fill = theme.ERROR_FILL if self.error else QColor("white")
        if option.levelOfDetailFromTransform(painter.worldTransform()) < DETAIL_ZOOM:
            # too small to read: a box in the family's colour (fast for big models, overview)
            painter.setPen(QPen(theme.SELECTED if self.isSelected() else
                                theme.ERROR if self.error else theme.BORDER, 0))
            painter.setBrush(theme.ERROR_FILL if self.error else
                             theme.family_color(self.family).lighter(170))
            painter.drawRect(rect)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.isSelected():
            pen = QPen(theme.SELECTED, 2.4)
        elif self.error:
            pen = QPen(theme.ERROR, 2.0)
        elif self.blocked:
            pen = QPen(theme.BORDER, 1.2, Qt.PenStyle.DashLine)
        else:
            pen = QPen(theme.BORDER, 1.0)
        painter.setPen(pen)
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 6, 6)
        if self.error and self.isSelected():  # keep the red visible on a selected invalid node
            painter.setPen(QPen(theme.ERROR, 1.2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(3, 3, -3, -3), 4, 4)

        stripe = QPainterPath()
        stripe.addRoundedRect(rect, 6, 6)
        clip = QPainterPath()
        clip.addRect(QRectF(rect.left(), rect.top(), STRIPE, rect.height()))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.ERROR if self.error else theme.family_color(self.family))
        painter.drawPath(stripe.intersected(clip))

        left = rect.left() + STRIPE + 7
        width = rect.right() - 7 - left
        muted = theme.MUTED if not self.blocked else QColor("#9aa1a9")
        y = rect.top() + 5

        # line 1: the layer's name (and the scene's note on it, right-aligned)
        note = self.canvas.node_notes.get(self.node_id, "")
        name_width = width
        if note:
            painter.setFont(DETAIL_FONT)
            painter.setPen(theme.family_color("Blocks"))
            fm_note = QFontMetricsF(DETAIL_FONT)
            note_text = fm_note.elidedText(note, Qt.TextElideMode.ElideRight, width * 0.6)
            painter.drawText(QRectF(left, y, width, 17),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                             note_text)
            name_width = width - fm_note.horizontalAdvance(note_text) - 6
        painter.setFont(NAME_FONT)
        painter.setPen(theme.TEXT if not self.blocked else muted)
        fm = QFontMetricsF(NAME_FONT)
        painter.drawText(QRectF(left, y, name_width, 17), Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(self.name, Qt.TextElideMode.ElideMiddle, name_width))
        y += 17

        # line 2: type and key parameters, like the Keras call: Conv2D 32 · 3×3 · relu
        painter.setFont(TYPE_FONT)
        painter.setPen(theme.family_color(self.family).darker(115))
        fm_type = QFontMetricsF(TYPE_FONT)
        type_text = fm_type.elidedText(self.type_text, Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(left, y, width, 15), Qt.AlignmentFlag.AlignVCenter, type_text)
        used = fm_type.horizontalAdvance(type_text) + 6
        if self.detail and used < width:
            painter.setFont(DETAIL_FONT)
            painter.setPen(muted)
            fm_detail = QFontMetricsF(DETAIL_FONT)
            painter.drawText(QRectF(left + used, y, width - used, 15),
                             Qt.AlignmentFlag.AlignVCenter,
                             fm_detail.elidedText(self.detail, Qt.TextElideMode.ElideRight,
                                                  width - used))
        y += 15

        # line 3: output shape
        painter.setFont(DETAIL_FONT)
        fm_detail = QFontMetricsF(DETAIL_FONT)
        painter.setPen(theme.ERROR if self.error else theme.TEXT if not self.blocked else muted)
        painter.drawText(QRectF(left, y, width, 15), Qt.AlignmentFlag.AlignVCenter,
                         fm_detail.elidedText(self.shape_line, Qt.TextElideMode.ElideRight,
                                              width))
        y += 15

        # line 4: parameter count, frozen or not; for an invalid layer, the fix
        if self.count:
            painter.setPen(theme.ERROR.darker(130) if self.error else muted)
            painter.drawText(QRectF(left, y, width, 15), Qt.AlignmentFlag.AlignVCenter,
                             fm_detail.elidedText(self.count, Qt.TextElideMode.ElideRight,
                                                  width))
        if self.frozen:
            painter.setPen(QColor("#1565c0"))
            painter.drawText(QRectF(left, y, width, 15),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                             "❄ frozen")
        if self.noted or self.fixes:
            # a badge in the corner: hover for the note, right-click for the fix
            badge = QRectF(rect.right() - 19, rect.top() + 5, 14, 14)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.ERROR if self.error else theme.NOTE)
            painter.drawEllipse(badge)
            painter.setPen(QColor("white"))
            painter.setFont(TYPE_FONT)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange,
                   value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self.canvas.node_item_moved(self.node_id)
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(2 if value else 1)
        return super().itemChange(change, value)


def explanation_html(graph: Graph, node_id: str) -> str:
    """``core.explain``'s lines as rich text: what is computed in plain type, how in grey."""
    try:
        computed = {d.text() for d in derivations(graph, node_id)}
        shown = explain(graph, node_id)
    except Exception:  # a tooltip must never take an edit down with it
        log.exception("explaining %s failed", node_id)
        return ""
    lines = []
    for line in shown:
        if line in computed:
            lines.append(f"&nbsp;&nbsp;{escape(line)}")
        else:
            lines.append(f"<span style='color:#5f6873'>{escape(line)}</span>")
    return "<br>".join(lines)


class EdgeItem(QGraphicsPathItem):
    """A connection, drawn as a curve from an output port down to an input port, labelled with
    the shape of the tensor it carries."""

    def __init__(self, canvas: GraphScene, edge: Edge) -> None:
        super().__init__()
        self.canvas = canvas
        self.edge = edge
        self.label = ""
        self.show_label = True
        self.valid = True
        self.hovered = False
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(0)
        self.refresh()

    def refresh(self) -> None:
        self.prepareGeometryChange()  # the label (and so the bounds) may change
        self._label_rect = self._bounds = None
        # every edge from one output carries the same tensor: only the first one is labelled,
        # just below the port, so that fan-outs do not repeat (and pile up) the same shape
        siblings = [e for e in self.canvas.graph.out_edges(self.edge.src)
                    if e.src_port == self.edge.src_port]
        self.show_label = not siblings or siblings[0] == self.edge
        self.setZValue(0.5 if self.show_label else 0)  # the label above its siblings' lines
        result = self.canvas.graph.inference.results.get(self.edge.src)
        if result is not None and result.ok and result.outputs and \
                self.edge.src_port < len(result.outputs):
            self.label = compact_shape(result.outputs[self.edge.src_port])
            self.valid = True
        else:
            self.label, self.valid = "?", False
        graph = self.canvas.graph
        self.setToolTip(f"{graph.node(self.edge.src).name} → {graph.node(self.edge.dst).name}"
                        f"\nTensor: {self.label if self.valid else 'unknown'}"
                        "\nClick to select, Delete to remove")
        self.update_path()

    def update_path(self) -> None:
        src = self.canvas.node_items.get(self.edge.src)
        dst = self.canvas.node_items.get(self.edge.dst)
        if src is None or dst is None:
            return
        a = src.output_pos(self.edge.src_port)
        b = dst.input_pos(self.edge.dst_port)
        bend = max(30.0, min(abs(b.y() - a.y()) / 2, 120.0))
        if b.y() < a.y() + 20:  # a connection that goes back up: loop around
            bend = max(bend, 80.0)
        path = QPainterPath(a)
        path.cubicTo(QPointF(a.x(), a.y() + bend), QPointF(b.x(), b.y() - bend), b)
        self.prepareGeometryChange()
        self.setPath(path)
        self._label_rect = None
        self._bounds = None

    _label_rect: QRectF | None = None
    _bounds: QRectF | None = None  # both cached: Qt asks for them for every item, every frame

    def label_rect(self) -> QRectF:
        if not self.show_label:
            return QRectF()
        if self._label_rect is None:
            fm = QFontMetricsF(LABEL_FONT)
            path = self.path()
            length = path.length()
            at = path.pointAtPercent(path.percentAtLength(min(LABEL_OFFSET, length / 2)))
            w = fm.horizontalAdvance(self.label) + 10
            h = fm.height() + 2
            self._label_rect = QRectF(at.x() - w / 2, at.y() - h / 2, w, h)
        return QRectF(self._label_rect)

    def boundingRect(self) -> QRectF:
        if self._bounds is None:
            rect = super().boundingRect().adjusted(-4, -4, 4, 4)
            self._bounds = rect.united(self.label_rect()) if self.show_label else rect
        return QRectF(self._bounds)

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        shape = stroker.createStroke(self.path())
        if self.show_label:
            shape.addRect(self.label_rect())
        return shape

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        color = theme.SELECTED if self.isSelected() or self.hovered else theme.EDGE
        if option.levelOfDetailFromTransform(painter.worldTransform()) < DETAIL_ZOOM:
            painter.setPen(QPen(color, 0))
            painter.drawPath(self.path())
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(color, 3.0 if self.hovered and not self.isSelected() else
                   2.2 if self.isSelected() else 1.5)
        if not self.valid:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        path = self.path()
        painter.drawPath(path)
        # arrow head at the input port
        end = path.pointAtPercent(1.0)
        angle = math.radians(-path.angleAtPercent(0.97))
        size = 6.0
        left = QPointF(end.x() - size * math.cos(angle - 0.45),
                       end.y() - size * math.sin(angle - 0.45))
        right = QPointF(end.x() - size * math.cos(angle + 0.45),
                        end.y() - size * math.sin(angle + 0.45))
        painter.setBrush(color)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon([end, left, right])
        if not self.show_label:
            return
        # shape label
        rect = self.label_rect()
        painter.setBrush(theme.CANVAS)
        painter.setPen(QPen(color if self.isSelected() else theme.GRID, 1))
        painter.drawRoundedRect(rect, 4, 4)
        painter.setFont(LABEL_FONT)
        painter.setPen(theme.MUTED)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.label)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = True
        self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = False
        self.update()


class GraphScene(QGraphicsScene):
    """Draws one graph and turns the user's gestures into undo commands."""

    status_message = Signal(str)
    """A short message for the status bar (a refused connection and why)."""
    inspect_requested = Signal(str)
    """"Inspect Layer" in a layer's menu: the id of the layer."""
    recipe_requested = Signal(str, str)
    """A transfer-learning recipe from an Application's menu: ("head" | "two_stage", node id);
    the main window carries it out (``ui.application_dialog``)."""
    block_requested = Signal(str, str)
    """A block command from a layer's menu or a double-click: ("expand" | "collapse" | "edit" |
    "save" | "make", node id); ``ui.block_editor.BlockActions`` carries it out."""

    def __init__(self, graph: Graph, undo_stack: QUndoStack, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.graph = graph
        self.undo_stack = undo_stack
        self.node_notes: dict[str, str] = {}   # short labels on some layers (set_node_notes)
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self._drag_start: dict[str, QPointF] = {}
        self._pending_link: tuple[str, int] | None = None
        self._link_preview: QGraphicsPathItem | None = None
        self._link_target: NodeItem | None = None
        self.setBackgroundBrush(theme.CANVAS)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        for node_id in graph.nodes:
            self._add_node_item(node_id)
        for edge in graph.edges:
            self._add_edge_item(edge)
        self._unsubscribe: Callable[[], None] | None = graph.subscribe(self._on_graph_event)

    def detach(self) -> None:
        """Stop observing the graph (before the scene is thrown away)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

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
            item.refresh()
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

    # -- selection --------------------------------------------------------------------------

    def set_node_notes(self, notes: dict[str, str]) -> None:
        """Short labels drawn on layers' name lines (the block editor marks the optional
        layers: "only if strides ≠ 1")."""
        changed = set(self.node_notes) | set(notes)
        self.node_notes = dict(notes)
        for node_id in changed:
            item = self.node_items.get(node_id)
            if item is not None:
                item.refresh()

    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_node(self, node_id: str | None) -> None:
        """Select exactly this node (None: nothing) and scroll it into view."""
        self.clearSelection()
        item = self.node_items.get(node_id) if node_id else None
        if item is not None:
            item.setSelected(True)
            for view in self.views():
                if isinstance(view, GraphView):
                    view.ensureVisible(item, 40, 40)

    # -- edits (each one undo command) -------------------------------------------------------

    def _push(self, command: GraphCommand) -> bool:
        try:
            push(self.undo_stack, command)
        except GraphError as err:
            self.status_message.emit(str(err))
            return False
        return True

    def add_layer(self, layer_type: str, position: QPointF) -> str | None:
        """Add a layer centred at ``position``; returns its node id."""
        if layer_type.startswith("block:"):  # a block from the palette
            from netbuilder.ui.features.blocks import place_block

            return place_block(self, layer_type, position)
        command = AddNode(self.graph, layer_type, position=(round(position.x(), 1),
                                                            round(position.y(), 1)))
        if not self._push(command):
            return None
        self.select_node(command.node_id)
        return command.node_id

    def append_layer(self, layer_type: str, fallback: QPointF | None = None) -> str | None:
        """Add a layer below the selected one (or the last output) and connect the two."""
        selected = self.selected_node_ids()
        after = selected[-1] if selected else None
        if after is None:
            outputs = self.graph.outputs()
            after = outputs[-1].id if outputs else None
        if layer_type.startswith("block:"):  # a block from the palette
            from netbuilder.ui.features.blocks import place_block

            return place_block(self, layer_type, fallback or self._free_spot(QPointF(0, 0)),
                               after)
        takes_input = catalog.has(layer_type) and catalog.get(layer_type).max_inputs != 0
        if after is None or not takes_input:
            position = fallback or self._free_spot(QPointF(0, 0))
            return self.add_layer(layer_type, position)
        x, y = self.graph.node(after).position
        position = self._free_spot(QPointF(x, y + V_SPACING))
        add = AddNode(self.graph, layer_type, position=(position.x(), position.y()))
        self.undo_stack.beginMacro(f"Append {layer_type}")
        try:
            if not self._push(add):
                return None
            assert add.node_id is not None
            self._push(Connect(self.graph, after, add.node_id))
        finally:
            self.undo_stack.endMacro()
        self.select_node(add.node_id)
        return add.node_id

    def _free_spot(self, wanted: QPointF) -> QPointF:
        """``wanted``, or the nearest place to its right where no node sits."""
        x, y = wanted.x(), wanted.y()
        taken = [n.position for n in self.graph.nodes.values()]
        while any(abs(px - x) < NODE_WIDTH and abs(py - y) < NODE_HEIGHT for px, py in taken):
            x += NODE_WIDTH + 30
        return QPointF(x, y)

    def connect_nodes(self, src: str, dst: str, src_port: int = 0,
                      dst_port: int | None = None) -> bool:
        """Connect two nodes; a refused connection is reported on ``status_message``."""
        ok = self._push(Connect(self.graph, src, dst, src_port, dst_port))
        if ok:
            self.status_message.emit(
                f"Connected {self.graph.node(src).name} → {self.graph.node(dst).name}")
        return ok

    def delete_selection(self) -> None:
        """Delete the selected layers (with their connections) and connections: one undo step."""
        nodes = self.selected_node_ids()
        edges = [e for e in self.selected_edges() if e.src not in nodes and e.dst not in nodes]
        if not nodes and not edges:
            return
        count = len(nodes) + len(edges)
        if count == 1:
            text = (f"Delete {self.graph.node(nodes[0]).name}" if nodes else
                    f"Delete connection {self.graph.node(edges[0].src).name} → "
                    f"{self.graph.node(edges[0].dst).name}")
        else:
            text = f"Delete {count} items"
        self.undo_stack.beginMacro(text)
        try:
            for edge in edges:
                self._push(Disconnect(self.graph, edge))
            for node_id in nodes:
                self._push(RemoveNode(self.graph, node_id))
        finally:
            self.undo_stack.endMacro()

    # -- inserting on a connection: quick fixes and drops on an edge ---------------------------

    def quick_fixes(self, node_id: str) -> list[QuickFix | ParamFix]:
        item = self.node_items.get(node_id)
        return list(item.fixes) if item is not None else []

    def _room_for_insert(self, edge: Edge) -> Move | None:
        """If a layer put halfway along ``edge`` would overlap its ends, a Move that pushes the
        consumer and everything below it down one row."""
        src = self.graph.node(edge.src).position
        dst = self.graph.node(edge.dst).position
        if abs(dst[1] - src[1]) >= 2 * NODE_HEIGHT + 40 or abs(dst[0] - src[0]) >= NODE_WIDTH:
            return None
        below, stack = {edge.dst}, [edge.dst]
        while stack:
            for e in self.graph.out_edges(stack.pop()):
                if e.dst not in below:
                    below.add(e.dst)
                    stack.append(e.dst)
        if edge.src in below:
            return None
        moves = {}
        for node_id in below:
            x, y = self.graph.node(node_id).position
            moves[node_id] = ((x, y), (x, y + V_SPACING))
        return Move(self.graph, moves, "Make room")

    def _insert(self, command: InsertOnEdge, text: str) -> str | None:
        """Make room if needed, then run ``command``: one undo step."""
        try:
            command._check()
        except GraphError as err:
            self.status_message.emit(str(err))
            return None
        room = self._room_for_insert(command.edge)
        self.undo_stack.beginMacro(text)
        try:
            if room is not None:
                self._push(room)
            if isinstance(command, ApplyQuickFix):
                pass  # apply_fix places the layer halfway, where there is room now
            else:
                src = self.graph.node(command.edge.src).position
                dst = self.graph.node(command.edge.dst).position
                command.position = ((src[0] + dst[0]) / 2, (src[1] + dst[1]) / 2)
            ok = self._push(command)
        finally:
            self.undo_stack.endMacro()
        if not ok:
            if room is not None:  # the insertion was refused: take the room back
                self.undo_stack.undo()
            return None
        assert command.node_id is not None
        self.select_node(command.node_id)
        return command.node_id

    def apply_quick_fix(self, fix: QuickFix | ParamFix) -> str | None:
        """Apply a quick fix as one undo step; returns the inserted layer's id (for a parameter
        fix, the node's)."""
        if isinstance(fix, ParamFix):
            node = self.graph.node(fix.node_id)
            text = describe_fix(self.graph, fix)
            push(self.undo_stack, SetParam(self.graph, fix.node_id, fix.name, fix.value))
            result = self.graph.inference.result(fix.node_id)
            state = "valid now" if result.ok and not result.notes else "changed"
            self.status_message.emit(f"{text}: {node.name} is {state}. Ctrl+Z undoes it.")
            self.select_node(fix.node_id)
            return fix.node_id
        node_name = self.graph.node(fix.edge.dst).name
        node_id = self._insert(ApplyQuickFix(self.graph, fix),
                               f"Quick fix for {node_name}: {fix.label[0].lower()}"
                               f"{fix.label[1:]}")
        if node_id is not None:
            result = self.graph.inference.result(fix.edge.dst)
            state = "valid now" if result.ok and not result.notes else "changed"
            self.status_message.emit(f"Inserted {self.graph.node(node_id).name} "
                                     f"({fix.layer_type}) before {node_name}: it is {state}. "
                                     "Ctrl+Z undoes it.")
        return node_id

    def edge_at(self, pos: QPointF) -> Edge | None:
        """The connection under ``pos`` (scene coordinates), unless a layer is there."""
        if self._node_at(pos) is not None:
            return None
        for item in self.items(pos):
            if isinstance(item, EdgeItem) and item.shape().contains(item.mapFromScene(pos)):
                return item.edge
        return None

    def insert_layer_on_edge(self, layer_type: str, edge: Edge) -> str | None:
        """Insert a new ``layer_type`` on ``edge`` (a drop from the palette), one undo step.

        A layer that does not accept the tensor on the edge is inserted anyway, red, and the
        status bar says why; undo takes it out."""
        src, dst = self.graph.node(edge.src), self.graph.node(edge.dst)
        node_id = self._insert(InsertOnEdge(self.graph, edge, layer_type),
                               f"Insert {layer_type} between {src.name} and {dst.name}")
        if node_id is None:
            return None
        new = self.graph.node(node_id)
        mine = self.graph.inference.result(node_id)
        after = self.graph.inference.result(edge.dst)
        where = f"Inserted {new.name} ({layer_type}) between {src.name} and {dst.name}"
        if mine.error:
            message = mine.error.removeprefix(f"{new.name}: ")
            self.status_message.emit(
                f"{where}, but it does not accept the tensor there: {message}"
                f"{'; ' + mine.fix if mine.fix else ''}. Ctrl+Z takes it out.")
        elif after.error:
            message = after.error.removeprefix(f"{dst.name}: ")
            self.status_message.emit(f"{where}, but {dst.name} does not accept its output: "
                                     f"{message}. Ctrl+Z takes it out.")
        else:
            self.status_message.emit(f"{where}.")
        return node_id

    # -- copy, paste, duplicate, rename, freeze ------------------------------------------------

    def copy_selection(self) -> QMimeData | None:
        """The selected layers (and the connections among them) as clipboard data."""
        ids = self.selected_node_ids()
        if not ids:
            return None
        return data_to_mime(nodes_to_data(self.graph, ids))

    def paste_data(self, data: dict, what: str = "Paste") -> list[str]:
        """Add copies of the layers in ``data`` (from ``clipboard.nodes_to_data``) and their
        connections, with new names, beside the originals: one undo step. Returns the new ids."""
        entries = [n for n in data["nodes"]
                   if catalog.has(n["type"]) or n["type"] == BLOCK_TYPE
                   and n.get("params", {}).get("block") in self.graph.blocks]
        skipped = len(data["nodes"]) - len(entries)
        if not entries:
            if skipped:
                self.status_message.emit("Nothing to paste: the copied layers are blocks this "
                                         "project does not have")
            return []
        taken = [n.position for n in self.graph.nodes.values()]
        step = 1
        while step < 50 and any(
                abs(px - (e["position"][0] + step * PASTE_STEP)) < 10
                and abs(py - (e["position"][1] + step * PASTE_STEP)) < 10
                for e in entries for px, py in taken):
            step += 1
        offset = step * PASTE_STEP
        count = len(entries)
        text = f"{what} {entries[0]['name']}" if count == 1 else f"{what} {count} layers"
        new_ids: dict[str, str] = {}
        self.undo_stack.beginMacro(text)
        try:
            for entry in entries:
                x, y = entry["position"]
                add = AddNode(self.graph, entry["type"], entry.get("params") or {},
                              position=(float(x) + offset, float(y) + offset),
                              name=self.graph.unique_name(base_name(entry["name"])))
                if not self._push(add):
                    continue
                assert add.node_id is not None
                new_ids[entry["id"]] = add.node_id
                if entry.get("trainable") is False and entry["type"] != "Input":
                    self._push(SetTrainable(self.graph, add.node_id, False))
            for edge in data["edges"]:
                (src, src_port), (dst, dst_port) = edge["from"], edge["to"]
                if src in new_ids and dst in new_ids:
                    self._push(Connect(self.graph, new_ids[src], new_ids[dst], int(src_port),
                                       int(dst_port)))
        finally:
            self.undo_stack.endMacro()
        self.clearSelection()
        for node_id in new_ids.values():
            self.node_items[node_id].setSelected(True)
        if new_ids:
            first = self.node_items[next(iter(new_ids.values()))]
            for view in self.views():
                if isinstance(view, GraphView):
                    view.ensureVisible(first, 40, 40)
        return list(new_ids.values())

    def paste_mime(self, mime: QMimeData | None) -> list[str]:
        data = data_from_mime(mime)
        if data is None:
            self.status_message.emit("The clipboard holds no layers to paste")
            return []
        return self.paste_data(data)

    def duplicate_selection(self) -> list[str]:
        ids = self.selected_node_ids()
        if not ids:
            return []
        return self.paste_data(nodes_to_data(self.graph, ids), "Duplicate")

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
        return self._push(Rename(self.graph, node_id, new))

    def set_trainable(self, node_ids: list[str], trainable: bool) -> None:
        """Freeze (or unfreeze) layers: one undo step."""
        ids = [n for n in node_ids if self.graph.node(n).type != "Input"
               and self.graph.node(n).trainable != trainable]
        if not ids:
            return
        verb = "Unfreeze" if trainable else "Freeze"
        text = f"{verb} {self.graph.node(ids[0]).name}" if len(ids) == 1 else \
            f"{verb} {len(ids)} layers"
        self.undo_stack.beginMacro(text)
        try:
            for node_id in ids:
                self._push(SetTrainable(self.graph, node_id, trainable))
        finally:
            self.undo_stack.endMacro()

    # -- context menus ---------------------------------------------------------------------------

    def node_menu(self, node_id: str) -> QMenu:
        """The right-click menu of a layer (acting on the whole selection when it is part of
        it): its quick fixes first, then the usual edits."""
        if node_id not in self.selected_node_ids():
            self.select_node(node_id)
        ids = self.selected_node_ids()
        menu = QMenu()
        fixes = self.quick_fixes(node_id) if len(ids) == 1 else []
        if fixes:
            menu.addSection("Quick fixes")
            for fix in fixes:
                action = menu.addAction(fix.label)
                action.setToolTip(describe_fix(self.graph, fix))
                action.triggered.connect(lambda _c=False, f=fix: self.apply_quick_fix(f))
            menu.addSeparator()

        def add(text: str, slot: Callable[[], object], shortcut: str | None = None,
                enabled: bool = True) -> QAction:
            action = menu.addAction(text)
            if shortcut:
                action.setShortcut(shortcut)
                action.setShortcutVisibleInContextMenu(True)
            action.setEnabled(enabled)
            action.triggered.connect(lambda _c=False: slot())
            return action

        add("Duplicate", self.duplicate_selection, "Ctrl+D")
        add("Copy", self._copy_to_clipboard, "Ctrl+C")
        add("Rename…", lambda: self.rename_node(node_id), "F2", enabled=len(ids) == 1)
        add("Inspect Layer", lambda: self.inspect_requested.emit(node_id), "Ctrl+Shift+I",
            enabled=len(ids) == 1)
        freezable = [n for n in ids if self.graph.node(n).type != "Input"]
        if freezable:
            frozen = all(not self.graph.node(n).trainable for n in freezable)
            if frozen:
                add("Unfreeze (train its weights)", lambda: self.set_trainable(ids, True))
            else:
                add("Freeze (keep its weights as they are)",
                    lambda: self.set_trainable(ids, False))
        if len(ids) == 1:  # a Keras Application: its recipes
            from netbuilder.ui.features.applications import add_recipe_actions

            add_recipe_actions(self, menu, node_id)
        self._block_menu_items(menu, node_id, ids)
        menu.addSeparator()
        add("Delete", self.delete_selection, "Del")
        return menu

    def _block_menu_items(self, menu: QMenu, node_id: str, ids: list[str]) -> None:
        """Make Block… / Expand / Edit Definition… / Save to Library / Collapse."""
        from netbuilder.core.block_ops import group_of

        node = self.graph.node(node_id)
        menu.addSeparator()
        items: list[tuple[str, str]] = []
        if node.type == BLOCK_TYPE and len(ids) == 1:
            items.append(("Expand Block", "expand"))
            if not self.graph.blocks[node.params["block"]].is_model:
                items += [("Edit Block Definition…", "edit"), ("Save Block to Library", "save")]
        if group_of(self.graph, node_id) is not None:
            items.append(("Collapse Block", "collapse"))
        if node.type != "Input":
            items.append(("Make Block…", "make"))
        for text, what in items:
            action = menu.addAction(text)
            if what == "make":
                action.setShortcut("Ctrl+B")
                action.setShortcutVisibleInContextMenu(True)
            action.triggered.connect(
                lambda _c=False, w=what: self.block_requested.emit(w, node_id))

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        node = self._node_at(event.scenePos())
        if node is not None and self.graph.node(node.node_id).type == BLOCK_TYPE:
            self.block_requested.emit("edit", node.node_id)  # open its definition
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def edge_menu(self, edge: Edge) -> QMenu:
        self.clearSelection()
        self.edge_items[edge].setSelected(True)
        menu = QMenu()
        action = menu.addAction("Delete connection")
        action.triggered.connect(lambda _c=False: self.delete_selection())
        return menu

    def canvas_menu(self) -> QMenu:
        menu = QMenu()
        paste = menu.addAction("Paste")
        paste.setShortcut("Ctrl+V")
        paste.setShortcutVisibleInContextMenu(True)
        paste.setEnabled(data_from_mime(QApplication.clipboard().mimeData()) is not None)
        paste.triggered.connect(lambda _c=False: self.paste_mime(
            QApplication.clipboard().mimeData()))
        select_all = menu.addAction("Select All")
        select_all.triggered.connect(lambda _c=False: self.select_all())
        return menu

    def select_all(self) -> None:
        for item in self.node_items.values():
            item.setSelected(True)

    def _copy_to_clipboard(self) -> None:
        mime = self.copy_selection()
        if mime is not None:
            QApplication.clipboard().setMimeData(mime)

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:
        pos = event.scenePos()
        node = self._node_at(pos)
        edge = self.edge_at(pos) if node is None else None
        if node is not None:
            menu = self.node_menu(node.node_id)
        elif edge is not None:
            menu = self.edge_menu(edge)
        else:
            menu = self.canvas_menu()
        menu.exec(event.screenPos())
        menu.deleteLater()
        event.accept()

    # -- mouse: moving nodes (one undo step per drag) and drawing connections -----------------

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            port = self._port_at(event.scenePos())
            if port is not None and port.is_output:
                self.begin_link(port.node.node_id, port.index)
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_start = {i.node_id: i.pos() for i in self.selectedItems()
                                if isinstance(i, NodeItem)}

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._pending_link is not None:
            self.update_link(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._pending_link is not None:
            self.finish_link(event.scenePos())
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
        if moves:
            self._push(Move(self.graph, moves))

    def _port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def _node_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item.node
            if isinstance(item, NodeItem):
                return item
        return None

    def begin_link(self, src: str, port: int) -> None:
        self._pending_link = (src, port)
        preview = QGraphicsPathItem()
        preview.setPen(QPen(theme.SELECTED, 1.6, Qt.PenStyle.DashLine))
        preview.setZValue(3)
        self.addItem(preview)
        self._link_preview = preview
        self.status_message.emit("Drop on a layer to connect it (Esc cancels)")

    def update_link(self, pos: QPointF) -> None:
        if self._pending_link is None or self._link_preview is None:
            return
        src, port = self._pending_link
        a = self.node_items[src].output_pos(port)
        bend = max(30.0, abs(pos.y() - a.y()) / 2)
        path = QPainterPath(a)
        path.cubicTo(QPointF(a.x(), a.y() + bend), QPointF(pos.x(), pos.y() - bend), pos)
        self._link_preview.setPath(path)
        target = self._node_at(pos)
        if target is not self._link_target:
            self._link_target = target

    def finish_link(self, pos: QPointF) -> bool:
        """End a connection drag at ``pos``: connect to the port or the layer there."""
        link, self._pending_link = self._pending_link, None
        self.cancel_link()
        if link is None:
            return False
        src, src_port = link
        port = self._port_at(pos)
        target = self._node_at(pos)
        if target is None:
            self.status_message.emit("")
            return False
        dst_port = port.index if port is not None and not port.is_output else None
        return self.connect_nodes(src, target.node_id, src_port, dst_port)

    def cancel_link(self) -> None:
        self._pending_link = None
        self._link_target = None
        if self._link_preview is not None:
            self.removeItem(self._link_preview)
            self._link_preview = None


class GraphView(QGraphicsView):
    """Looks at a GraphScene: zoom with the wheel, F fits the graph, drop layers from the
    palette (onto a connection: inserted there), drag with the middle button to pan."""

    viewport_changed = Signal()
    """The visible part of the scene moved or was zoomed (the overview follows)."""

    MIN_ZOOM, MAX_ZOOM = 0.15, 3.0
    MARGIN = 1500.0  # room to scroll around the model, to drop new layers beside it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPointF | None = None
        self._drop_edge: EdgeItem | None = None

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.viewport_changed.emit()

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        self.viewport_changed.emit()

    def setScene(self, scene: QGraphicsScene | None) -> None:  # type: ignore[override]
        old = self.scene()
        if old is not None:
            old.changed.disconnect(self._grow_scene_rect)
        super().setScene(scene)
        if scene is not None:
            self.setSceneRect(QRectF(-self.MARGIN, -self.MARGIN, 2 * self.MARGIN,
                                     2 * self.MARGIN))
            scene.changed.connect(self._grow_scene_rect)
            self._grow_scene_rect()

    def _grow_scene_rect(self, _regions: object = None) -> None:
        """Keep every item reachable by scrolling, with a margin around them."""
        scene = self.scene()
        if scene is None:
            return
        m = self.MARGIN
        wanted = scene.itemsBoundingRect().adjusted(-m, -m, m, m)
        if not self.sceneRect().contains(wanted):
            self.setSceneRect(self.sceneRect().united(wanted))

    def graph_scene(self) -> GraphScene | None:
        scene = self.scene()
        return scene if isinstance(scene, GraphScene) else None

    # -- zoom and pan -----------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        new = min(self.MAX_ZOOM, max(self.MIN_ZOOM, self.zoom() * factor))
        if new != self.zoom():
            f = new / self.zoom()
            self.scale(f, f)
            self.viewport_changed.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.0015 ** delta)
            event.accept()
        else:
            super().wheelEvent(event)

    def fit_to_view(self, min_zoom: float | None = None) -> None:
        """Show the whole graph, never magnified beyond 100 %; with ``min_zoom``, a graph too
        tall to read at that zoom is shown from its top instead."""
        scene = self.graph_scene()
        if scene is None or not scene.node_items:
            self.resetTransform()
            self.centerOn(0, 0)
            return
        rect = QRectF()
        for item in scene.node_items.values():
            rect = rect.united(item.sceneBoundingRect())
        rect = rect.adjusted(-40, -30, 40, 30)
        self.setSceneRect(rect.adjusted(-self.MARGIN, -self.MARGIN, self.MARGIN, self.MARGIN))
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        zoom = min(self.zoom(), 1.0)
        if min_zoom is not None and zoom < min_zoom:
            zoom = min_zoom
        self.resetTransform()
        self.scale(zoom, zoom)
        visible_height = self.viewport().height() / zoom
        if rect.height() > visible_height:
            self.centerOn(rect.center().x(), rect.top() + visible_height / 2)
        else:
            self.centerOn(rect.center())
        self.viewport_changed.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        scene = self.graph_scene()
        if event.key() == Qt.Key.Key_Escape and scene is not None and scene._pending_link:
            scene.cancel_link()
            return
        super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value()
                                                    - delta.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, theme.CANVAS)
        if self.zoom() < 0.4:
            return
        step = 20
        painter.setPen(QPen(theme.GRID, 0))
        left = math.floor(rect.left() / step) * step
        top = math.floor(rect.top() / step) * step
        lines = []
        x = left
        while x < rect.right():
            lines.append((QPointF(x, rect.top()), QPointF(x, rect.bottom())))
            x += step
        y = top
        while y < rect.bottom():
            lines.append((QPointF(rect.left(), y), QPointF(rect.right(), y)))
            y += step
        for a, b in lines:
            painter.drawLine(a, b)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        scene = self.graph_scene()
        if scene is not None and not scene.node_items:
            painter.save()
            painter.resetTransform()
            painter.setPen(theme.MUTED)
            painter.setFont(_font(11))
            painter.drawText(self.viewport().rect().adjusted(20, 20, -20, -20),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "Drag a layer here from the palette to start.\n\n"
                             "Begin with an Input layer: it says what the data looks like.")
            painter.restore()

    # -- drops from the palette -------------------------------------------------------------

    def _layer_type(self, mime: QMimeData | None) -> str | None:
        if mime is None or not mime.hasFormat(LAYER_MIME):
            return None
        name = bytes(mime.data(LAYER_MIME).data()).decode("utf-8")
        return name or None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._layer_type(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        layer_type = self._layer_type(event.mimeData())
        if layer_type is not None:
            event.acceptProposedAction()
            self._highlight_drop_edge(self._drop_edge_at(layer_type, event.position()))
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        # not QGraphicsView's: the drag never entered the scene (dragEnterEvent is ours too)
        self._highlight_drop_edge(None)
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:
        self._highlight_drop_edge(None)
        if self.handle_drop(event.mimeData(), event.position()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def _drop_edge_at(self, layer_type: str, view_pos: QPointF) -> Edge | None:
        """The connection a layer dropped at ``view_pos`` would be inserted on."""
        scene = self.graph_scene()
        if scene is None or not catalog.has(layer_type) or \
                catalog.get(layer_type).max_inputs == 0:
            return None
        return scene.edge_at(self.mapToScene(view_pos.toPoint()))

    def _highlight_drop_edge(self, edge: Edge | None) -> None:
        scene = self.graph_scene()
        item = scene.edge_items.get(edge) if scene is not None and edge is not None else None
        if item is self._drop_edge:
            return
        if self._drop_edge is not None and self._drop_edge.scene() is not None:
            self._drop_edge.hovered = False
            self._drop_edge.update()
        self._drop_edge = item
        if item is not None:
            item.hovered = True
            item.update()
            if scene is not None:
                src, dst = scene.graph.node(edge.src), scene.graph.node(edge.dst)  # type: ignore[union-attr]
                scene.status_message.emit(f"Drop to insert it between {src.name} and {dst.name}")

    def handle_drop(self, mime: QMimeData | None, view_pos: QPointF) -> str | None:
        """Add the layer named in ``mime`` centred at ``view_pos`` (viewport coordinates), or,
        dropped on a connection, insert it there; returns the new node's id."""
        layer_type = self._layer_type(mime)
        scene = self.graph_scene()
        if layer_type is None or scene is None:
            return None
        edge = self._drop_edge_at(layer_type, view_pos)
        if edge is not None:
            node_id = scene.insert_layer_on_edge(layer_type, edge)
        else:
            node_id = scene.add_layer(layer_type, self.mapToScene(view_pos.toPoint()))
        if node_id is not None:
            self.setFocus()
        return node_id
