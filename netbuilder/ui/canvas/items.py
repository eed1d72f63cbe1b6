"""The canvas' items: a layer (``NodeItem``) with its ports, and a connection (``EdgeItem``).

Items only display: they read the graph and the scene's hooks (how a feature draws its nodes),
and never change anything.
"""

from __future__ import annotations

import functools
import logging
import math
from html import escape
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsSceneHoverEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from netbuilder.core import catalog
from netbuilder.core.catalog import LayerSpec
from netbuilder.core.data_fit import DataProblem
from netbuilder.core.explain import derivations, explain
from netbuilder.core.freezing import FROZEN
from netbuilder.core.graph import BLOCK_TYPE, Edge, Graph, Node
from netbuilder.core.inference import NodeResult
from netbuilder.core.quick_fixes import QuickFix, suggest_fixes
from netbuilder.ui import theme
from netbuilder.ui.document import NODE_HEIGHT, NODE_WIDTH
from netbuilder.ui.formatting import compact_shape, key_params_text, outputs_text, params_text

if TYPE_CHECKING:
    from netbuilder.ui.canvas.scene import GraphScene

log = logging.getLogger(__name__)

PORT_RADIUS = 5.0
STRIPE = 5.0
LABEL_OFFSET = 19.0  # how far below its output port an edge's shape label sits
DETAIL_ZOOM = 0.35  # below this zoom nodes are drawn as plain boxes (overview, huge models)
FROZEN_BADGE = "❄ frozen"


def make_font(point_size: float, bold: bool = False) -> QFont:
    """The application's font at ``point_size`` (call it once the QApplication exists: a font
    made before has no family, and its metrics are not those of the font the painter draws)."""
    font = QFont()
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font


class Fonts(NamedTuple):
    name: QFont
    detail: QFont
    type: QFont
    label: QFont


@functools.cache
def fonts() -> Fonts:
    """The canvas' fonts, made on first use (the application exists by then)."""
    return Fonts(make_font(9.0, bold=True), make_font(8.0), make_font(8.0, bold=True),
                 make_font(7.5))


def elide_words(fm: QFontMetricsF, text: str, width: float) -> str:
    """``text`` cut at a word boundary with "…" to fit ``width`` (one long word: at a
    character)."""
    if fm.horizontalAdvance(text) <= width:
        return text
    words = text.split(" ")
    while words and fm.horizontalAdvance(" ".join(words) + " …") > width:
        words.pop()
    if not words:
        return fm.elidedText(text, Qt.TextElideMode.ElideRight, width)
    return " ".join(words).rstrip(",;:") + " …"


class HoverHighlight:
    """Items drawn highlighted while the pointer is over them (``hovered``)."""

    hovered = False

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = True
        self.update()  # type: ignore[attr-defined]

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = False
        self.update()  # type: ignore[attr-defined]


class PortItem(HoverHighlight, QGraphicsItem):
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
        if option.levelOfDetailFromTransform(painter.worldTransform()) < DETAIL_ZOOM:
            return  # a dot under a pixel (overview, huge models): the box and lines say it
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = PORT_RADIUS + (1.5 if self.hovered else 0)
        painter.setPen(QPen(theme.EDGE, 1.2))
        painter.setBrush(theme.SELECTED if self.hovered else QColor("white"))
        painter.drawEllipse(QPointF(0, 0), r, r)


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
        self.data_problem: DataProblem | None = None  # its output against the data (ui.data_check)
        self._tip_stale = True
        self.refresh()

    # -- model -> item ----------------------------------------------------------------------

    def refresh(self) -> bool:
        """Show the layer as the graph has it now; whether its ports changed (its edges' ends
        then move)."""
        graph = self.canvas.graph
        node = graph.node(self.node_id)
        result = graph.inference.results.get(self.node_id)
        self.name = node.name
        if node.type == BLOCK_TYPE:
            repeat = node.params.get("repeat", 1)  # applied N times in a row: "×N"
            self.family = "Blocks"
            self.type_text = node.params["block"] + (f" ×{repeat}" if repeat != 1 else "")
            self.detail = ", ".join(  # its exposed values: filters=128, strides=2
                f"{k}={v[0] if isinstance(v, list) and v and v.count(v[0]) == len(v) else v}"
                for k, v in node.params.items() if k not in ("block", "repeat")) or "block"
            spec = None
            look = next((found for hook in self.canvas.hooks.node_looks
                         if (found := hook(graph, node.id)) is not None), None)
            if look is not None:  # a feature draws it its way (a Keras Application)
                self.family, self.type_text, self.detail = look
        else:
            spec = catalog.get(node.type)
            self.family, self.type_text = spec.family, node.type
            self.detail = key_params_text(spec, node.params)
            group = graph.sharing_group(node.id)
            if len(group) > 1:  # a shared layer: one set of weights, called by each node
                self.type_text += (f" ⇄ shares {graph.nodes[group[0]].name}" if node.shares
                                   else f" ⇄ shared ×{len(group)}")
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
        problem = self.canvas.document.data_check.problems.get(self.node_id)
        self.data_problem = problem if result is not None and result.ok else None
        if self.data_problem is not None:
            self.error, self.fixes = True, [*self.data_problem.fixes, *self.fixes]
        if result is None:
            self.shape_line, self.count = "?", ""
        elif result.ok and self.data_problem is None:
            self.shape_line = outputs_text(result.outputs)
            self.count = params_text(result.params)
        elif self.error:
            message = self.data_problem.message if self.data_problem else str(result.error)
            if message.startswith(f"{node.name}: "):
                message = message[len(node.name) + 2:]
            self.shape_line = f"⚠ {message}"
            fix = self.fixes[0].label if self.data_problem and self.fixes else result.fix
            self.count = f"Fix: {fix}" if fix else "hover for details"
        else:
            upstream = graph.nodes.get(result.blocked_by or "")
            self.shape_line = (f"waits for {upstream.name}" if upstream is not None
                               else "waits for its input")
            self.count = ""
        self._tip_stale = True   # written when asked for (toolTip): an edit may refresh 1,000
        ports_changed = self._sync_ports(node, spec, result)
        self.update()
        return ports_changed

    def toolTip(self) -> str:  # noqa: N802 - Qt's name
        """The tooltip, written afresh if the layer changed since (``GraphScene.helpEvent``
        asks for it before Qt shows it)."""
        if self._tip_stale:
            self._tip_stale = False
            graph = self.canvas.graph
            self.setToolTip(self._tooltip(graph.node(self.node_id),
                                          graph.inference.results.get(self.node_id)))
        return super().toolTip()

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
        elif self.data_problem is not None:
            lines.append("<span style='color:#d93025'><b>Error:</b> "
                         f"{escape(self.data_problem.message)}</span>")
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
                    ) -> bool:
        """The ports the layer needs now; whether they changed (its edges then move)."""
        graph = self.canvas.graph
        changed = False
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
            changed = True
        if len(self.outputs) != outs:
            for port in self.outputs:
                port.setParentItem(None)
                if port.scene() is not None:
                    port.scene().removeItem(port)
            self.outputs = [PortItem(self, True, i, "Output — drag to a layer to connect")
                            for i in range(outs)]
            changed = True
        for ports, y in ((self.inputs, -NODE_HEIGHT / 2), (self.outputs, NODE_HEIGHT / 2)):
            for i, port in enumerate(ports):
                port.setPos(self._port_x(i, len(ports)), y)
        return changed

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

        font = fonts()
        left = rect.left() + STRIPE + 7
        width = rect.right() - 7 - left
        muted = theme.MUTED if not self.blocked else QColor("#9aa1a9")
        y = rect.top() + 5

        # line 1: the layer's name (and the scene's note on it, right-aligned)
        note = self.canvas.node_notes.get(self.node_id, "")
        name_width = width
        if note:
            painter.setFont(font.detail)
            painter.setPen(theme.family_color("Blocks"))
            fm_note = QFontMetricsF(font.detail)
            note_text = fm_note.elidedText(note, Qt.TextElideMode.ElideRight, width * 0.6)
            painter.drawText(QRectF(left, y, width, 17),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                             note_text)
            name_width = width - fm_note.horizontalAdvance(note_text) - 6
        painter.setFont(font.name)
        painter.setPen(theme.TEXT if not self.blocked else muted)
        fm = QFontMetricsF(font.name)
        painter.drawText(QRectF(left, y, name_width, 17), Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(self.name, Qt.TextElideMode.ElideMiddle, name_width))
        y += 17

        # line 2: type and key parameters, like the Keras call: Conv2D 32 · 3×3 · relu
        painter.setFont(font.type)
        painter.setPen(theme.family_color(self.family).darker(115))
        fm_type = QFontMetricsF(font.type)
        fm_detail = QFontMetricsF(font.detail)
        type_text = fm_type.elidedText(self.type_text, Qt.TextElideMode.ElideRight, width)
        drawn = painter.drawText(QRectF(left, y, width, 15), Qt.AlignmentFlag.AlignVCenter,
                                 type_text)
        used = drawn.width() + fm_detail.horizontalAdvance("  ")
        detail = self.shown_detail()
        if detail and used < width:
            painter.setFont(font.detail)
            painter.setPen(muted)
            painter.drawText(QRectF(left + used, y, width - used, 15),
                             Qt.AlignmentFlag.AlignVCenter,
                             fm_detail.elidedText(detail, Qt.TextElideMode.ElideRight,
                                                  width - used))
        y += 15

        # line 3: output shape
        painter.setFont(font.detail)
        painter.setPen(theme.ERROR if self.error else theme.TEXT if not self.blocked else muted)
        painter.drawText(QRectF(left, y, width, 15), Qt.AlignmentFlag.AlignVCenter,
                         self.elided(fm_detail, self.shape_line, width))
        y += 15

        # line 4: parameter count, frozen or not; for an invalid layer, the fix
        count_width = width
        if self.frozen:
            painter.setPen(QColor("#1565c0"))
            painter.drawText(QRectF(left, y, width, 15),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                             FROZEN_BADGE)
            count_width = width - fm_detail.horizontalAdvance(FROZEN_BADGE) - 6
        if self.count:
            painter.setPen(theme.ERROR.darker(130) if self.error else muted)
            painter.drawText(QRectF(left, y, count_width, 15), Qt.AlignmentFlag.AlignVCenter,
                             self.elided(fm_detail, self.count, count_width))
        if self.noted or self.fixes:
            # a badge in the corner: hover for the note, right-click for the fix
            badge = QRectF(rect.right() - 19, rect.top() + 5, 14, 14)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.ERROR if self.error else theme.NOTE)
            painter.drawEllipse(badge)
            painter.setPen(QColor("white"))
            painter.setFont(font.type)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")

    def shown_detail(self) -> str:
        """The detail on line 2, less a plain "frozen" that the badge on line 4 says."""
        return "" if self.frozen and self.detail == FROZEN else self.detail

    def elided(self, fm: QFontMetricsF, text: str, width: float) -> str:
        """A line of the card cut to ``width``: an error's words stay whole (the tooltip has
        the full text)."""
        if self.error:
            return elide_words(fm, text, width)
        return fm.elidedText(text, Qt.TextElideMode.ElideRight, width)

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


class EdgeItem(HoverHighlight, QGraphicsPathItem):
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
        if path == self.path():
            return  # its ends stay (a new label, a refreshed layer): so does the line
        self.prepareGeometryChange()
        self.setPath(path)
        self._label_rect = None
        self._label_at = None
        self._bounds = None

    _label_rect: QRectF | None = None
    _bounds: QRectF | None = None  # both cached: Qt asks for them for every item, every frame
    _label_at: QPointF | None = None
    """Where the label sits on the line: a walk along the curve, done once per line."""

    def label_rect(self) -> QRectF:
        if not self.show_label:
            return QRectF()
        if self._label_rect is None:
            fm = QFontMetricsF(fonts().label)
            at = self._label_at
            if at is None:
                path = self.path()
                length = path.length()
                at = self._label_at = path.pointAtPercent(
                    path.percentAtLength(min(LABEL_OFFSET, length / 2)))
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
        painter.setFont(fonts().label)
        painter.setPen(theme.MUTED)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.label)

