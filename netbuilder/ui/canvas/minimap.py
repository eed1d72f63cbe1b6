"""The overview: a small picture of the whole model in a corner of the canvas, with the part the
canvas shows outlined; click or drag in it to move there. It shows itself only while the model
does not fit in the canvas (and the user has not turned it off in the View menu).

The picture of the model is rendered once per burst of edits and cached, so that scrolling or
zooming a model of a thousand layers only redraws a rectangle over it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QWidget

from netbuilder.ui import theme
from netbuilder.ui.canvas.scene import GraphScene
from netbuilder.ui.canvas.view import GraphView

OVERVIEW_SIZE = (220, 160)  # the usual size; a tall or wide model gets a strip to match
MAX_SIDE = 360
MIN_SIDE = 90
MARGIN = 12  # from the canvas' edges
INSET = 4  # between the frame and the picture
REDRAW_DELAY_MS = 80  # one new picture per burst of edits


class Overview(QFrame):
    """Shows ``view``'s model shrunk to fit, and ``view``'s visible rectangle on it."""

    def __init__(self, view: GraphView, parent: QWidget | None = None) -> None:
        super().__init__(parent if parent is not None else view)
        self.view = view
        self.setObjectName("overview")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFrameShape(QFrame.Shape.Box)
        self.setStyleSheet("QFrame#overview { border: 1px solid #aab2bd; background: #fafbfc; }")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview of the whole model: click or drag to move the canvas there")
        self.resize(*OVERVIEW_SIZE)
        self.enabled = True  # the user's choice (View ▸ Overview)
        self._scene: GraphScene | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._model_rect: QRectF | None = None  # cached until the scene changes
        self._picture: QPixmap | None = None
        self._picture_of: tuple[object, ...] | None = None  # what it was rendered from
        self._fit = QTransform()  # scene -> this widget
        self._dragging = False
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_DELAY_MS)
        self._redraw_timer.timeout.connect(self.refit)
        view.viewport_changed.connect(self._view_changed)
        self.set_scene(view.graph_scene())

    # -- following the scene and the canvas -----------------------------------------------------

    def set_scene(self, scene: GraphScene | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._scene = scene
        self._model_rect = None
        self._picture = self._picture_of = None
        if scene is not None:
            # the model's edits, not every repaint of the scene (hover, selection)
            self._unsubscribe = scene.graph.subscribe(self._graph_changed)
        self.refit()

    def scene(self) -> GraphScene | None:
        return self._scene

    def _graph_changed(self, _event: object = None) -> None:
        self._model_rect = None
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _view_changed(self) -> None:
        self.place()
        self.update_visibility()
        self.update()

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        self.update_visibility()

    def needed(self) -> bool:
        """Whether the model is larger than what the canvas shows."""
        if self._scene is None or not self._scene.node_items:
            return False
        model = self.model_rect().adjusted(50, 50, -50, -50)
        return not self.visible_rect().contains(model)

    def update_visibility(self) -> None:
        shown = self.enabled and self.needed()
        if shown == self.isHidden():  # isHidden: its own state, whether the window is up or not
            self.setVisible(shown)
            if shown:
                self.refit()

    # -- geometry ------------------------------------------------------------------------------

    def model_rect(self) -> QRectF:
        """The part of the scene the model occupies (with a margin)."""
        if self._model_rect is None:
            rect = QRectF()
            if self._scene is not None:
                for item in self._scene.node_items.values():
                    rect = rect.united(item.sceneBoundingRect())
            self._model_rect = (rect.adjusted(-60, -60, 60, 60) if not rect.isNull()
                                else QRectF(-200, -150, 400, 300))
        return QRectF(self._model_rect)

    def visible_rect(self) -> QRectF:
        """The part of the scene the canvas shows, in scene coordinates."""
        return self.view.mapToScene(self.view.viewport().rect()).boundingRect()

    def size_for(self, rect: QRectF) -> tuple[int, int]:
        """A box for the model's shape: the usual one, or a strip for a tall or wide model."""
        w, h = OVERVIEW_SIZE
        area = self.view.viewport().rect()
        longest = max(MIN_SIDE, min(MAX_SIDE, int(0.6 * min(area.width(), area.height()))))
        if rect.height() > 2 * rect.width():
            h = max(h, longest)
            w = max(MIN_SIDE, min(w, int(h * rect.width() / rect.height()) + 20))
        elif rect.width() > 3 * rect.height():
            w = max(w, longest)
            h = max(MIN_SIDE, min(h, int(w * rect.height() / rect.width()) + 20))
        return w, h

    def place(self) -> None:
        """Sit in the bottom-right corner of the canvas."""
        area = self.view.viewport().geometry()
        w, h = self.size_for(self.model_rect())
        self.setGeometry(area.right() - w - MARGIN, area.bottom() - h - MARGIN, w, h)

    def _target(self) -> QRectF:
        """Where the model's picture goes in this widget (aspect kept, centred)."""
        rect = self.model_rect()
        box = QRectF(self.rect()).adjusted(INSET, INSET, -INSET, -INSET)
        scale = min(box.width() / rect.width(), box.height() / rect.height())
        w, h = rect.width() * scale, rect.height() * scale
        return QRectF(box.center().x() - w / 2, box.center().y() - h / 2, w, h)

    def refit(self) -> None:
        """Fit the model in the box again and render its picture anew."""
        self._redraw_timer.stop()
        self.place()
        source, target = self.model_rect(), self._target()
        scale = target.width() / source.width()
        self._fit = QTransform()
        self._fit.translate(target.left(), target.top())
        self._fit.scale(scale, scale)
        self._fit.translate(-source.left(), -source.top())
        drawn = (target.size(), self._drawn())
        if drawn != self._picture_of:   # shapes and counts alone change nothing drawn here
            self._picture, self._picture_of = None, drawn
        self.update_visibility()
        self.update()

    def _drawn(self) -> tuple[object, ...]:
        """What the picture shows, at its scale: each layer's place, colour and ports (its
        lines' ends), and the connections."""
        scene = self._scene
        if scene is None:
            return ()
        return (tuple((nid, item.pos().x(), item.pos().y(), item.family, item.error,
                       len(item.inputs), len(item.outputs))
                      for nid, item in scene.node_items.items()),
                tuple(scene.edge_items))

    def _render(self) -> QPixmap:
        ratio = self.devicePixelRatioF()
        target = self._target()
        size = QSize(max(1, round(target.width() * ratio)), max(1, round(target.height() * ratio)))
        picture = QPixmap(size)
        picture.setDevicePixelRatio(ratio)
        picture.fill(QColor(0, 0, 0, 0))
        if self._scene is not None:
            painter = QPainter(picture)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._scene.render(painter, QRectF(0, 0, target.width(), target.height()),
                               self.model_rect())
            painter.end()
        return picture

    def to_scene(self, pos: QPointF) -> QPointF:
        inverted, ok = self._fit.inverted()
        return inverted.map(pos) if ok else QPointF()

    def from_scene(self, point: QPointF) -> QPointF:
        return self._fit.map(point)

    # -- drawing -------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self._scene is None:
            return
        if self._picture is None:
            self._picture = self._render()
        painter = QPainter(self)
        painter.drawPixmap(self._target().topLeft(), self._picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        visible = self._fit.mapRect(self.visible_rect()).intersected(
            QRectF(self.rect()).adjusted(1, 1, -1, -1))
        fill = QColor(theme.SELECTED)
        fill.setAlpha(40)
        painter.setPen(QPen(theme.SELECTED, 1.2))
        painter.setBrush(fill)
        painter.drawRect(visible)
        painter.end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size() != event.oldSize():
            self.refit()

    # -- navigating ----------------------------------------------------------------------------

    def move_to(self, pos: QPointF) -> None:
        """Centre the canvas on the scene point under ``pos`` (this widget's coordinates)."""
        self.view.centerOn(self.to_scene(pos))
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self.move_to(event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            self.move_to(event.position())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._dragging = False
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.view.wheelEvent(event)  # zoom the canvas, not the overview

    def contextMenuEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        event.accept()
