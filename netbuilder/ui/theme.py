"""Colours and sizes shared by the canvas, the palette and the panels."""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

# One hue per layer family: the stripe on a canvas node and the swatch in the palette match.
FAMILY_COLORS = {
    "Core": "#4f6d8f",
    "Convolution": "#2f6fde",
    "Pooling": "#0e9384",
    "Normalization": "#8e44ad",
    "Regularization": "#e67e22",
    "Reshaping": "#8d6e63",
    "Merging": "#2e9d4f",
    "Activation": "#c9a100",
    "Recurrent": "#d6336c",
    "Attention": "#b83280",
    "Preprocessing": "#607d8b",
    "Augmentation": "#7c8a16",
    "Blocks": "#455a64",
    "Pretrained": "#5c6bc0",
}

ERROR = QColor("#d93025")
ERROR_FILL = QColor("#fdeceb")
NOTE = QColor("#d98a00")  # a hint that is not an error (Keras accepts it, but it is rarely meant)
SELECTED = QColor("#1a73e8")
TEXT = QColor("#1f2328")
MUTED = QColor("#5f6873")
BORDER = QColor("#aab2bd")
EDGE = QColor("#7d8590")
CANVAS = QColor("#f4f6f8")
GRID = QColor("#e6e9ed")


def family_color(family: str) -> QColor:
    return QColor(FAMILY_COLORS.get(family, "#455a64"))


def swatch_icon(family: str, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor(0, 0, 0, 0))
    painter.setBrush(family_color(family))
    painter.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    painter.end()
    return QIcon(pixmap)


def _glyph(painter: QPainter, family: str, s: float) -> None:
    """A small pictogram of what a family of layers does, in a square of side ``s``."""
    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QPainterPath

    def p(x: float, y: float) -> QPointF:
        return QPointF(x * s, y * s)

    if family == "Core":  # neurons joined to one
        for y in (0.2, 0.5, 0.8):
            painter.drawLine(p(0.2, y), p(0.8, 0.5))
        painter.drawEllipse(p(0.8, 0.5), 0.1 * s, 0.1 * s)
    elif family == "Convolution":  # a 3x3 kernel
        for i in range(3):
            for j in range(3):
                painter.drawRect(QRectF(p(0.12 + 0.27 * i, 0.12 + 0.27 * j),
                                        p(0.12 + 0.27 * i + 0.2, 0.12 + 0.27 * j + 0.2)))
    elif family == "Pooling":  # a big square into a small one
        painter.drawRect(QRectF(p(0.08, 0.08), p(0.58, 0.58)))
        painter.drawRect(QRectF(p(0.66, 0.66), p(0.92, 0.92)))
    elif family == "Normalization":  # a bell curve
        path = QPainterPath(p(0.05, 0.85))
        path.cubicTo(p(0.4, 0.85), p(0.35, 0.1), p(0.5, 0.1))
        path.cubicTo(p(0.65, 0.1), p(0.6, 0.85), p(0.95, 0.85))
        painter.drawPath(path)
    elif family == "Regularization":  # units, some dropped
        for i, (x, y) in enumerate(((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))):
            if i in (1, 2):
                painter.drawLine(p(x - 0.15, y - 0.15), p(x + 0.15, y + 0.15))
            else:
                painter.drawEllipse(p(x, y), 0.15 * s, 0.15 * s)
    elif family == "Reshaping":  # a tall block becomes a wide one
        painter.drawRect(QRectF(p(0.08, 0.1), p(0.35, 0.9)))
        painter.drawRect(QRectF(p(0.5, 0.55), p(0.95, 0.9)))
    elif family == "Merging":  # two branches join
        painter.drawLine(p(0.15, 0.15), p(0.5, 0.55))
        painter.drawLine(p(0.85, 0.15), p(0.5, 0.55))
        painter.drawLine(p(0.5, 0.55), p(0.5, 0.92))
    elif family == "Activation":  # a ReLU ramp
        painter.drawLine(p(0.08, 0.7), p(0.5, 0.7))
        painter.drawLine(p(0.5, 0.7), p(0.92, 0.12))
    elif family == "Recurrent":  # a loop
        painter.drawArc(QRectF(p(0.15, 0.15), p(0.85, 0.85)), 30 * 16, 300 * 16)
        painter.drawLine(p(0.8, 0.32), p(0.93, 0.22))
    elif family == "Attention":  # an eye
        path = QPainterPath(p(0.05, 0.5))
        path.quadTo(p(0.5, 0.05), p(0.95, 0.5))
        path.quadTo(p(0.5, 0.95), p(0.05, 0.5))
        painter.drawPath(path)
        painter.drawEllipse(p(0.5, 0.5), 0.12 * s, 0.12 * s)
    elif family == "Preprocessing":  # a slider
        painter.drawLine(p(0.08, 0.5), p(0.92, 0.5))
        painter.drawRect(QRectF(p(0.55, 0.3), p(0.7, 0.7)))
    elif family == "Augmentation":  # a rotated frame
        path = QPainterPath(p(0.5, 0.05))
        for x, y in ((0.95, 0.5), (0.5, 0.95), (0.05, 0.5), (0.5, 0.05)):
            path.lineTo(p(x, y))
        painter.drawPath(path)
    elif family == "Pretrained":  # a deep stack of layers
        for i in range(3):
            painter.drawRect(QRectF(p(0.08 + 0.14 * i, 0.5 - 0.14 * i),
                                    p(0.58 + 0.14 * i, 0.9 - 0.14 * i)))
    else:  # Other: a plain box
        painter.drawRect(QRectF(p(0.15, 0.15), p(0.85, 0.85)))


def layer_icon(family: str, size: int = 16) -> QIcon:
    """The palette's icon for a layer: its family's pictogram in its family's colour."""
    from PySide6.QtGui import QPen

    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(family_color(family))
    pen.setWidthF(1.4)
    painter.setPen(pen)
    _glyph(painter, family, size)
    painter.end()
    return QIcon(pixmap)
