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
