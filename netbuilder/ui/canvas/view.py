"""The view on the canvas: zoom with the wheel, F fits the graph, drag with the middle button to
pan, and drops from the palette (``canvas.interactions.PaletteDrop``)."""

from __future__ import annotations

import math

from PySide6.QtCore import QMimeData, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

from netbuilder.ui import theme
from netbuilder.ui.canvas.interactions import PaletteDrop, palette_key
from netbuilder.ui.canvas.items import make_font
from netbuilder.ui.canvas.scene import GraphScene

OPEN_MIN_ZOOM = 0.7
"""A model opens fitted in view down to this zoom (mnist_cnn's 9 layers on a laptop); a taller
one opens at it, from its top."""
REFIT_MIN_ZOOM = 0.25
"""A model seen whole when the canvas shrinks (a bottom dock raised) is fitted again down to this
zoom, so that its last layer stays in view."""


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
        self.palette_drop = PaletteDrop(self)
        self.showing_hint: bool | None = None  # the empty canvas' hint is drawn
        self.fitted: float | None = None
        """The last fit's ``min_zoom`` while the user has not zoomed or panned since (0 for
        none): a resize (a bottom dock raised or grown) fits the model again; None otherwise."""
        self._fitting = False
        for bar in (self.horizontalScrollBar(), self.verticalScrollBar()):
            bar.actionTriggered.connect(self._user_moved)   # the user's scrolling, not ours

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.viewport_changed.emit()

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        if self.fitted is not None and not self._fitting:
            self.fit_to_view(self.fitted or None)
        self.viewport_changed.emit()

    def _user_moved(self, _action: int = 0) -> None:
        self.fitted = None

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
        self.showing_hint = None
        self._update_hint()

    def _update_hint(self) -> None:
        """Repaint the whole viewport when the hint comes or goes (an item's change repaints
        only the item's rectangle, and the rest of the hint would stay)."""
        scene = self.graph_scene()
        empty = scene is not None and not scene.node_items
        if empty != self.showing_hint:
            self.showing_hint = empty
            self.viewport().update()

    def _grow_scene_rect(self, _regions: object = None) -> None:
        """Keep every item reachable by scrolling, with a margin around them."""
        scene = self.scene()
        if scene is None:
            return
        self._update_hint()
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
        self.fitted = None
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
            self._user_moved()
            super().wheelEvent(event)

    def fit_to_view(self, min_zoom: float | None = None) -> None:
        """Show the whole graph, never magnified beyond 100 %; with ``min_zoom``, a graph too
        tall to read at that zoom is shown from its top instead."""
        scene = self.graph_scene()
        if scene is None or not scene.node_items:
            self.fitted = None
            self.resetTransform()
            self.centerOn(0, 0)
            return
        self._fitting = True
        try:
            whole = self._fit(scene, min_zoom)
        finally:
            self._fitting = False
        # a model seen whole stays whole when the canvas shrinks, down to REFIT_MIN_ZOOM
        self.fitted = min(min_zoom or 0.0, REFIT_MIN_ZOOM) if whole else (min_zoom or 0.0)
        self.viewport_changed.emit()

    def _fit(self, scene: GraphScene, min_zoom: float | None) -> bool:
        """Fit; True if the whole graph shows."""
        rect = QRectF()
        for item in scene.node_items.values():
            rect = rect.united(item.sceneBoundingRect())
        cards = rect
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
        seen = self.mapToScene(self.viewport().rect()).boundingRect()
        return seen.contains(cards)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        scene = self.graph_scene()
        if event.key() == Qt.Key.Key_Escape and scene is not None and scene.link_drag.active:
            scene.link_drag.cancel()
            return
        super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self.fitted = None
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
            painter.setFont(make_font(11))
            painter.drawText(self.viewport().rect().adjusted(20, 20, -20, -20),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "Drag a layer here from the palette to start.\n\n"
                             "Begin with an Input layer: it says what the data looks like.")
            painter.restore()

    # -- drops from the palette -------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if palette_key(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        key = palette_key(event.mimeData())
        if key is not None:
            event.acceptProposedAction()
            self.palette_drop.highlight(self.palette_drop.edge_at(key, event.position()))
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        # not QGraphicsView's: the drag never entered the scene (dragEnterEvent is ours too)
        self.palette_drop.highlight(None)
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:
        self.palette_drop.highlight(None)
        if self.handle_drop(event.mimeData(), event.position()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def handle_drop(self, mime: QMimeData | None, view_pos: QPointF) -> str | None:
        """Add what ``mime`` names centred at ``view_pos`` (viewport coordinates), or, a layer
        dropped on a connection, insert it there; returns the new node's id."""
        node_id = self.palette_drop.drop(mime, view_pos)
        if node_id is not None:
            self.setFocus()
        return node_id
