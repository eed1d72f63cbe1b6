"""The pictures of the Inspect dock: feature-map grids, filters, top-k predictions, Grad-CAM
overlays and layer statistics. They only draw arrays that the inspection worker computed (see
``inspect_panel.py``); nothing here runs a model.

A grid of channels is drawn as one mosaic image (numpy tiles the channels, a colormap lookup
table colours them, one pyqtgraph ``ImageItem`` shows the result): one texture, however many
channels, so that a 64-channel layer draws as fast as a 1-channel one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGraphicsRectItem,
    QGridLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.ui import theme
from netbuilder.ui.formatting import number_text

GAP_COLOR = (255, 255, 255)          # between the tiles of a mosaic (the background)
BACKGROUND = "#ffffff"


def lookup_table(name: str) -> np.ndarray:
    """A 256 x 3 uint8 colour table for a colormap name (``gray`` is black to white)."""
    if name == "gray":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp, ramp, ramp], axis=1)
    cmap = pg.colormap.get(name)
    table = np.asarray(cmap.getLookupTable(0.0, 1.0, 256, alpha=False), dtype=np.uint8)
    return table[:, :3]


def normalise(maps: np.ndarray, per_channel: bool = True) -> np.ndarray:
    """Values scaled to [0, 1]: each channel on its own range (``per_channel``), or all channels
    on the layer's range. A constant channel becomes 0."""
    maps = np.asarray(maps, dtype=np.float32)
    if per_channel:
        low = maps.min(axis=(0, 1), keepdims=True)
        high = maps.max(axis=(0, 1), keepdims=True)
    else:
        low = np.full((1, 1, 1), maps.min() if maps.size else 0.0, dtype=np.float32)
        high = np.full((1, 1, 1), maps.max() if maps.size else 0.0, dtype=np.float32)
    span = high - low
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (maps - low) / safe, 0.0).astype(np.float32)


def grid_shape(count: int, tile_h: int, tile_w: int, aspect: float = 1.6) -> tuple[int, int]:
    """(rows, columns) for ``count`` tiles so that the mosaic is about ``aspect`` wide."""
    if count <= 0:
        return 0, 0

    def badness(cols: int) -> float:
        rows = math.ceil(count / cols)
        ratio = (cols * tile_w) / (rows * max(1, tile_h))
        return abs(math.log(ratio / aspect)) + (rows * cols - count) / count

    cols = min(range(1, count + 1), key=badness)
    return math.ceil(count / cols), cols


def mosaic(tiles: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """Tiles ``(n, h, w[, 3])`` in [0, 1] laid out in rows of ``cols``; gaps are NaN."""
    n, h, w = tiles.shape[:3]
    extra = tiles.shape[3:]
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *extra), np.nan,
                  dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[i]
    return out


def colourise(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (NaN: a gap) as an RGB uint8 image through a lookup table."""
    gaps = np.isnan(values)
    index = np.clip(np.nan_to_num(values, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgb = table[index]
    rgb[gaps] = GAP_COLOR
    return rgb


def rgb_mosaic(tiles: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """Colour tiles ``(n, h, w, 3)`` in [0, 1] as one RGB uint8 image with light gaps."""
    values = mosaic(tiles, cols, gap)
    gaps = np.isnan(values[..., 0])
    rgb = np.clip(np.nan_to_num(values, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgb[gaps] = GAP_COLOR
    return rgb


def display_image(image: np.ndarray) -> np.ndarray:
    """An ``input_image`` (H x W x C uint8) as H x W (gray) or H x W x 3 for drawing."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] > 3:
        return image[:, :, :3]
    if image.ndim == 3 and image.shape[2] == 2:
        return image[:, :, 0]
    return image


def _image_view() -> tuple[pg.GraphicsLayoutWidget, pg.ViewBox, pg.ImageItem]:
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground(BACKGROUND)
    box = widget.addViewBox()
    box.setAspectLocked(True)
    box.invertY(True)
    box.setMenuEnabled(False)
    item = pg.ImageItem(axisOrder="row-major")
    box.addItem(item)
    return widget, box, item


def message_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.MUTED.name()}; padding: 12px;")
    return label


class MessagePages(QWidget):
    """A message page and the pictures' pages in one stack: ``show_message`` puts a message
    where the pictures were and forgets them (``forget``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stack = QStackedWidget()
        self.message = message_label()
        self.stack.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    def forget(self) -> None:
        """Drop what the pictures showed."""

    def show_message(self, text: str) -> None:
        self.forget()
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)


class MapGrid(MessagePages):
    """Every channel of a layer's output as a grid; a click on a channel shows it large beside
    the grid. A vector output is a bar plot; anything else is a message."""

    channel_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colormap = "viridis"
        self.per_channel = True
        self.maps: np.ndarray | None = None      # H x W x C
        self.vector: np.ndarray | None = None
        self.cols = 0
        self.tile = (0, 0)
        self.selected: int | None = None
        self.grid_image: np.ndarray | None = None   # the RGB mosaic drawn (tests read it)

        self.grid_widget, self.grid_box, self.grid_item = _image_view()
        self.grid_widget.scene().sigMouseClicked.connect(self._clicked)
        self.highlight = QGraphicsRectItem()
        self.highlight.setPen(pg.mkPen(theme.SELECTED, width=2, cosmetic=True))
        self.highlight.setZValue(10)
        self.highlight.hide()
        self.grid_box.addItem(self.highlight)
        self.zoom_widget, self.zoom_box, self.zoom_item = _image_view()
        self.zoom_label = QLabel()
        self.zoom_label.setWordWrap(True)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.zoom_label.setStyleSheet(f"color: {theme.MUTED.name()};")
        zoom = QWidget()
        zoom_layout = QVBoxLayout(zoom)
        zoom_layout.setContentsMargins(0, 0, 0, 0)
        zoom_layout.setSpacing(2)
        zoom_layout.addWidget(self.zoom_widget, 1)
        zoom_layout.addWidget(self.zoom_label)
        self.zoom_panel = zoom
        maps_page = QWidget()
        maps_layout = QGridLayout(maps_page)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        maps_layout.setSpacing(6)
        maps_layout.addWidget(self.grid_widget, 0, 0)
        maps_layout.addWidget(zoom, 0, 1)
        maps_layout.setColumnStretch(0, 3)
        maps_layout.setColumnStretch(1, 1)
        self.plot = pg.PlotWidget()
        self.plot.setBackground(BACKGROUND)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=False, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "unit")
        self.plot.setLabel("left", "value")
        self.bars: pg.BarGraphItem | None = None
        for page in (maps_page, self.plot):
            self.stack.addWidget(page)
        self.maps_page = maps_page

    # -- what is shown ---------------------------------------------------------------------

    def forget(self) -> None:
        self.maps = None
        self.vector = None

    def showing(self) -> str:
        """``message``, ``maps`` or ``vector``."""
        page = self.stack.currentWidget()
        return "maps" if page is self.maps_page else "vector" if page is self.plot else "message"

    def set_maps(self, maps: np.ndarray) -> None:
        """A H x W x C output (a 2-D output is one channel)."""
        maps = np.asarray(maps, dtype=np.float32)
        if maps.ndim == 2:
            maps = maps[:, :, None]
        self.maps = maps
        self.vector = None
        h, w, c = maps.shape
        self.tile = (h, w)
        _, self.cols = grid_shape(c, h, w)
        if self.selected is not None and self.selected >= c:
            self.selected = None
        self.redraw()
        self.stack.setCurrentWidget(self.maps_page)

    def set_vector(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        self.vector = values
        self.maps = None
        if self.bars is not None:
            self.plot.removeItem(self.bars)
        x = np.arange(values.size)
        brushes = [pg.mkBrush("#1a73e8" if v >= 0 else "#d93025") for v in values] \
            if values.size <= 2048 else pg.mkBrush("#1a73e8")
        self.bars = pg.BarGraphItem(x=x, height=values, width=0.8, brushes=brushes
                                    if isinstance(brushes, list) else None,
                                    brush=None if isinstance(brushes, list) else brushes,
                                    pen=pg.mkPen(None))
        self.plot.addItem(self.bars)
        self.plot.setXRange(-1, max(1, values.size), padding=0.02)
        low = float(min(0.0, values.min())) if values.size else 0.0
        high = float(max(0.0, values.max())) if values.size else 1.0
        self.plot.setYRange(low, high if high > low else low + 1.0, padding=0.05)
        self.stack.setCurrentWidget(self.plot)

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        self.redraw()

    def set_per_channel(self, per_channel: bool) -> None:
        self.per_channel = per_channel
        self.redraw()

    def redraw(self) -> None:
        if self.maps is None:
            return
        maps = self.maps
        scaled = normalise(maps, self.per_channel)
        tiles = np.moveaxis(scaled, 2, 0)
        values = mosaic(tiles, self.cols)
        table = lookup_table(self.colormap)
        self.grid_image = colourise(values, table)
        self.grid_item.setImage(self.grid_image, autoLevels=False, levels=(0, 255))
        self.grid_box.autoRange(padding=0.01)
        self._draw_zoom()

    # -- the zoomed channel ----------------------------------------------------------------

    def channel_at(self, x: float, y: float) -> int | None:
        """The channel under a point of the mosaic (image pixels), None in a gap or outside."""
        if self.maps is None:
            return None
        h, w = self.tile
        if x < 0 or y < 0:
            return None
        col, dx = divmod(int(x), w + 1)
        row, dy = divmod(int(y), h + 1)
        if dx >= w or dy >= h or col >= self.cols:
            return None
        index = row * self.cols + col
        return index if index < self.maps.shape[2] else None

    def select_channel(self, index: int | None) -> None:
        self.selected = index
        self._draw_zoom()
        if index is not None:
            self.channel_clicked.emit(index)

    def _clicked(self, event: Any) -> None:
        point = self.grid_box.mapSceneToView(event.scenePos())
        index = self.channel_at(point.x(), point.y())
        if index is not None:
            self.select_channel(index)

    def _draw_zoom(self) -> None:
        if self.maps is None:
            return
        index = self.selected if self.selected is not None else 0
        channel = self.maps[:, :, index]
        scaled = normalise(channel[:, :, None], True)[:, :, 0] if self.per_channel else \
            normalise(self.maps, False)[:, :, index]
        self.zoom_item.setImage(colourise(scaled, lookup_table(self.colormap)),
                                autoLevels=False, levels=(0, 255))
        self.zoom_box.autoRange(padding=0.02)
        if self.selected is None:
            self.highlight.hide()
        else:
            h, w = self.tile
            row, col = divmod(index, self.cols)
            self.highlight.setRect(col * (w + 1) - 0.5, row * (h + 1) - 0.5, w + 1, h + 1)
            self.highlight.show()
        self.zoom_label.setText(f"channel {index}\nmin {channel.min():.3g} · "
                                f"max {channel.max():.3g}")


class FilterGrid(MessagePages):
    """A conv layer's kernels: colour images when they read 3 channels, else one input channel
    (or the mean over all of them) per kernel, in a grid."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colormap = "gray"
        self.kernels: np.ndarray | None = None     # kh x kw x cin x cout
        self.rgb = False
        self.input_channel: int | None = None     # None: the mean over input channels
        self.image: np.ndarray | None = None
        self.widget, self.box, self.item = _image_view()
        self.stack.addWidget(self.widget)

    def forget(self) -> None:
        self.kernels = None

    def set_kernels(self, kernels: np.ndarray, rgb: bool) -> None:
        kernels = np.asarray(kernels, dtype=np.float32)
        if kernels.ndim == 3:                 # Conv1D: kw x cin x cout
            kernels = kernels[None]
        self.kernels = kernels
        self.rgb = bool(rgb) and kernels.shape[2] == 3
        if self.input_channel is not None and self.input_channel >= kernels.shape[2]:
            self.input_channel = None
        self.redraw()
        self.stack.setCurrentWidget(self.widget)

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        self.redraw()

    def set_input_channel(self, channel: int | None) -> None:
        self.input_channel = channel
        self.redraw()

    def redraw(self) -> None:
        if self.kernels is None:
            return
        k = self.kernels
        kh, kw, _cin, cout = k.shape
        _, cols = grid_shape(cout, kh, kw)
        if self.rgb and self.input_channel is None:
            tiles = np.moveaxis(k, 3, 0)                      # cout x kh x kw x 3
            low = tiles.min(axis=(1, 2, 3), keepdims=True)
            high = tiles.max(axis=(1, 2, 3), keepdims=True)
            span = np.where(high > low, high - low, 1.0)
            self.image = rgb_mosaic((tiles - low) / span, cols)
        else:
            if self.input_channel is None:
                chosen = k.mean(axis=2)
            else:
                chosen = k[:, :, self.input_channel, :]
            values = mosaic(np.moveaxis(normalise(chosen, True), 2, 0), cols)
            self.image = colourise(values, lookup_table(self.colormap))
        self.item.setImage(self.image, autoLevels=False, levels=(0, 255))
        self.box.autoRange(padding=0.01)


class PredictionBars(QWidget):
    """The top-k classes: name, a bar and the probability, one row each."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, float]] = []
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(6)
        self.grid.setColumnStretch(1, 1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.MUTED.name()};")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(self.grid)
        layout.addWidget(self.note)
        layout.addStretch(1)

    def set_top(self, top: list[dict[str, Any]], note: str = "", truth: int | None = None
                ) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.rows = []
        for row, entry in enumerate(top):
            name = str(entry.get("name", entry.get("index")))
            p = float(entry.get("probability") or 0.0)
            self.rows.append((name, p))
            label = QLabel(name)
            if truth is not None and entry.get("index") == truth:
                label.setText(f"<b>{name}</b> ✓")
                label.setToolTip("the sample's true class")
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(p * 1000))
            bar.setTextVisible(False)
            bar.setFixedHeight(14)
            bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            value = QLabel(f"{p * 100:.1f}%")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setMinimumWidth(52)
            self.grid.addWidget(label, row, 0)
            self.grid.addWidget(bar, row, 1)
            self.grid.addWidget(value, row, 2)
        self.note.setText(note)


class GradCamView(MessagePages):
    """The input as the model sees it, and beside it the same input with the Grad-CAM heat map
    over it: hot regions opaque, cold ones transparent (``alpha``: how opaque the hottest
    are)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alpha = 0.7
        self.colormap = "inferno"
        self.heatmap: np.ndarray | None = None
        self.input_image: np.ndarray | None = None
        self.widget = pg.GraphicsLayoutWidget()
        self.widget.setBackground(BACKGROUND)
        muted = theme.MUTED.name()
        self.widget.addLabel("input", row=0, col=0, color=muted)
        self.widget.addLabel("Grad-CAM heat map over the input", row=0, col=1, color=muted)
        self.boxes = []
        for col in (0, 1):
            box = self.widget.addViewBox(row=1, col=col)
            box.setAspectLocked(True)
            box.invertY(True)
            box.setMenuEnabled(False)
            self.boxes.append(box)
        self.boxes[1].setXLink(self.boxes[0])
        self.boxes[1].setYLink(self.boxes[0])
        self.input_item = pg.ImageItem(axisOrder="row-major")
        self.base_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.boxes[0].addItem(self.input_item)
        self.boxes[1].addItem(self.base_item)
        self.boxes[1].addItem(self.heat_item)
        # the colour scale: 0 no evidence for the class (transparent), 1 the strongest
        self.scale = pg.ColorBarItem(values=(0.0, 1.0), width=12, interactive=False,
                                     colorMap=self.color_map(), colorMapMenu=False,
                                     label="evidence: low 0 … 1 high", pen=muted)
        self.widget.addItem(self.scale, row=1, col=2)
        self.stack.addWidget(self.widget)

    def forget(self) -> None:
        self.heatmap = None

    def set_result(self, input_image: np.ndarray, heatmap: np.ndarray) -> None:
        self.input_image = display_image(input_image)
        self.heatmap = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
        for item in (self.input_item, self.base_item):
            item.setImage(self.input_image, autoLevels=False, levels=(0, 255))
        h, w = self.input_image.shape[:2]
        self._draw_heat()
        self.heat_item.setRect(0, 0, w, h)         # the heat map covers the input exactly
        self.boxes[0].autoRange(padding=0.02)
        self.stack.setCurrentWidget(self.widget)

    def set_alpha(self, alpha: float) -> None:
        self.alpha = alpha
        self.heat_item.setOpacity(alpha)

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        self.scale.setColorMap(self.color_map())
        self._draw_heat()

    def color_map(self) -> pg.ColorMap:
        """The heat map's colours, low (0) to high (1), for the colour scale."""
        table = lookup_table(self.colormap)
        return pg.ColorMap(np.linspace(0.0, 1.0, len(table)), table)

    def heat_rgba(self) -> np.ndarray:
        """The heat map as RGBA: the colormap's colour, transparent where the map is cold."""
        assert self.heatmap is not None
        rgb = colourise(self.heatmap, lookup_table(self.colormap))
        alpha = np.clip(self.heatmap ** 0.8 * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.concatenate([rgb, alpha[..., None]], axis=2)

    def _draw_heat(self) -> None:
        if self.heatmap is None:
            return
        self.heat_item.setImage(self.heat_rgba(), autoLevels=False, levels=(0, 255))
        self.heat_item.setOpacity(self.alpha)


STATS_COLUMNS = ("Layer", "Mean", "Std", "Dead ReLU")


class StatsTable(QTableWidget):
    """Activation mean, standard deviation and dead-ReLU fraction per layer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(STATS_COLUMNS), parent)
        self.setHorizontalHeaderLabels(STATS_COLUMNS)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        header = self.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.setColumnWidth(0, 200)
        self.setColumnWidth(1, 90)
        self.setColumnWidth(2, 90)
        self.horizontalHeaderItem(3).setToolTip(
            "The share of units (channels) of a ReLU layer that output 0 for every sample of "
            "the batch: they learn nothing")

    def set_layers(self, layers: list[dict[str, Any]]) -> None:
        self.setRowCount(len(layers))
        for row, entry in enumerate(layers):
            dead = entry.get("dead_fraction")
            cells = (str(entry.get("name")), number_text(entry.get("mean"), missing="—"),
                     number_text(entry.get("std"), missing="—"),
                     "—" if dead is None else f"{float(dead) * 100:.0f}%")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 3 and dead is not None and float(dead) >= 0.5:
                    item.setForeground(QColor(theme.ERROR))
                    item.setToolTip("half or more of this layer's units never fire on this "
                                    "batch")
                self.setItem(row, column, item)
