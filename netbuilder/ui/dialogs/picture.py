"""Export a picture of the model: PNG (at twice the screen resolution) or SVG (vector, via
QtSvg, which PySide6-Essentials includes)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPainter

from netbuilder.ui import theme
from netbuilder.ui.canvas.items import EdgeItem, NodeItem
from netbuilder.ui.canvas.scene import GraphScene

PADDING = 30.0


class PictureError(Exception):
    """The picture could not be written; ``str(err)`` says why."""


def model_rect(scene: GraphScene) -> QRectF:
    rect = QRectF()
    for item in scene.items():
        if isinstance(item, (NodeItem, EdgeItem)):
            rect = rect.united(item.sceneBoundingRect())
    return rect.adjusted(-PADDING, -PADDING, PADDING, PADDING)


def _render(scene: GraphScene, painter: QPainter, target: QRectF, source: QRectF) -> None:
    """Draw the model without the selection highlight (it is not part of the picture)."""
    selected = scene.selectedItems()
    scene.clearSelection()
    try:
        painter.setRenderHints(QPainter.RenderHint.Antialiasing
                               | QPainter.RenderHint.TextAntialiasing)
        scene.render(painter, target, source)
    finally:
        for item in selected:
            item.setSelected(True)


def save_png(scene: GraphScene, path: str | Path, scale: float = 2.0) -> QSize:
    """Write the model as a PNG; returns the image size."""
    source = model_rect(scene)
    if source.isEmpty():
        raise PictureError("the model is empty: there is nothing to draw")
    size = QSize(max(1, round(source.width() * scale)), max(1, round(source.height() * scale)))
    if size.width() * size.height() > 400_000_000:
        scale = (400_000_000 / (source.width() * source.height())) ** 0.5
        size = QSize(round(source.width() * scale), round(source.height() * scale))
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(theme.CANVAS)
    painter = QPainter(image)
    try:
        _render(scene, painter, QRectF(0, 0, size.width(), size.height()), source)
    finally:
        painter.end()
    if not image.save(str(path), "PNG"):
        raise PictureError(f"cannot write {path}")
    return size


def save_svg(scene: GraphScene, path: str | Path, title: str = "model") -> QSize:
    """Write the model as an SVG drawing; returns its size in pixels."""
    from PySide6.QtSvg import QSvgGenerator  # only when asked: keep it off the startup path

    source = model_rect(scene)
    if source.isEmpty():
        raise PictureError("the model is empty: there is nothing to draw")
    size = QSize(round(source.width()), round(source.height()))
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle(title)
    generator.setDescription("A model drawn by NetBuilder")
    painter = QPainter()
    if not painter.begin(generator):
        raise PictureError(f"cannot write {path}")
    try:
        painter.fillRect(QRectF(0, 0, size.width(), size.height()), QColor(theme.CANVAS))
        _render(scene, painter, QRectF(0, 0, size.width(), size.height()), source)
    finally:
        painter.end()
    if not Path(path).is_file():
        raise PictureError(f"cannot write {path}")
    return size
