"""The training panel's live curves: loss (per batch and per epoch), the metric, the learning rate
when it changes, and the validation curves of earlier runs drawn behind them.

pyqtgraph is imported when the plots are first made (``create``), so that it does not slow the
editor's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QBoxLayout

from netbuilder.ui.panels.training.runs import Run

COLORS = {"loss": "#1a73e8", "val_loss": "#e8710a", "batch_loss": "#a8c7fa",
          "metric": "#188038", "val_metric": "#d93025", "learning_rate": "#8430ce"}
RUN_COLORS = ("#7b1fa2", "#00897b", "#c2185b", "#5d4037", "#3949ab", "#7cb342", "#f4511e",
              "#546e7a")             # the compared runs' curves, one colour each


def run_color(k: int) -> QColor:
    """The colour of the ``k``-th run in the runs list."""
    return QColor(RUN_COLORS[k % len(RUN_COLORS)])


LEGEND_ROW = 22                      # px: the row above each plot that holds its legend
TICK_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000)


def epoch_step(span: float, pixels: float, room: float = 42.0) -> float | None:
    """The distance between epoch ticks: a whole number of epochs, so that ticks lie at least
    ``room`` pixels apart over ``pixels`` showing ``span`` epochs (None: let pyqtgraph choose,
    past 10000 per tick)."""
    most = max(1.0, pixels / room)
    return next((float(s) for s in TICK_STEPS if span / s <= most), None)


def _drop_nan(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(a, b) for a, b in zip(xs, ys) if b == b]
    return [a for a, _ in pairs], [b for _, b in pairs]


class Curves:
    """Three pyqtgraph plots (made by ``create``) and their curves."""

    def __init__(self) -> None:
        self.ready = False
        self.loss_plot: Any = None
        self.metric_plot: Any = None
        self.lr_plot: Any = None
        self.curves: dict[str, Any] = {}
        self.overlay_items: list[tuple[Any, Any]] = []

    def create(self, layout: QBoxLayout) -> None:
        """Make the plots, side by side at the end of ``layout``. Each plot's legend is a row
        above its data area (never over the curves); the epoch axis has whole-number ticks."""
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, background="w", foreground="#1f2328")

        class EpochAxis(pg.AxisItem):       # epochs are counted: 1, 2, 3, never 0.2 0.4
            def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list:
                step = epoch_step(maxVal - minVal, size)
                return [(step, 0.0)] if step else super().tickSpacing(minVal, maxVal, size)

        def plot_widget() -> Any:
            plot = pg.PlotWidget(axisItems={"bottom": EpochAxis(orientation="bottom")})
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("bottom", "epoch")
            plot.setMouseEnabled(x=False, y=False)
            plot.setMinimumWidth(130)
            item = plot.plotItem
            item.setTitle(" ")                # reserves the row above the data for the legend
            item.layout.setRowFixedHeight(0, LEGEND_ROW)
            legend = pg.LegendItem(offset=None, colCount=4, labelTextSize="8pt", frame=False,
                                   horSpacing=2, verSpacing=-6)
            legend.layout.setContentsMargins(0, 0, 0, 0)
            legend.setParentItem(item)
            legend.anchor(itemPos=(0.5, 0.0), parentPos=(0.5, 0.0), offset=(0, 1))
            legend.mouseDragEvent = lambda event: event.ignore()      # it stays in its row
            item.legend = legend              # named curves join it (PlotItem.addItem)
            layout.addWidget(plot, 1)
            return plot

        self.loss_plot = plot_widget()
        self.metric_plot = plot_widget()
        self.lr_plot = plot_widget()
        self.lr_plot.hide()                   # until the worker sends a rate

        def pen(key: str, width: float = 2.0) -> Any:
            return pg.mkPen(COLORS[key], width=width)

        def dots(key: str) -> dict[str, Any]:
            return {"pen": pen(key), "symbol": "o", "symbolSize": 5, "symbolBrush": COLORS[key]}

        self.curves = {
            "batch_loss": self.loss_plot.plot([], [], pen=pen("batch_loss", 1.0),
                                              name="batches"),
            "loss": self.loss_plot.plot([], [], name="loss", **dots("loss")),
            "val_loss": self.loss_plot.plot([], [], name="val_loss", **dots("val_loss")),
            "metric": self.metric_plot.plot([], [], name="accuracy", **dots("metric")),
            "val_metric": self.metric_plot.plot([], [], name="val_accuracy",
                                                **dots("val_metric")),
            "learning_rate": self.lr_plot.plot([], [], name="learning rate",
                                               **dots("learning_rate")),
        }
        self.ready = True

    def draw(self, epochs: list[float], history: dict[str, list[float]],
             batches: tuple[list[float], list[float]], metric: str | None,
             rates: list[float]) -> None:
        """Give the curves their data: per-epoch ``history`` over ``epochs``, the batch losses,
        ``metric`` (e.g. "accuracy") and its validation twin, the learning ``rates``."""
        n = len(epochs)

        def series(values: list[float]) -> list[float]:
            return values[:n] + [float("nan")] * (n - len(values[:n]))

        def set_curve(name: str, xs: list[float], ys: list[float]) -> None:
            self.curves[name].setData(*_drop_nan(xs, ys))

        set_curve("batch_loss", *batches)
        set_curve("loss", epochs, series(history.get("loss", [])))
        set_curve("val_loss", epochs, series(history.get("val_loss", [])))
        set_curve("metric", epochs, series(history.get(metric, []) if metric else []))
        set_curve("val_metric", epochs,
                  series(history.get(f"val_{metric}", []) if metric else []))
        rates = series(rates)
        set_curve("learning_rate", epochs, rates)
        known = [r for r in rates if r == r]
        # a constant rate says nothing a curve would show: the plot appears once it changes
        self.lr_plot.setVisible(len(known) > 1 and max(known) - min(known) > 1e-12)
        legend = self.metric_plot.plotItem.legend
        if legend is not None and metric:
            for sample, label in legend.items:
                if sample.item is self.curves["metric"]:
                    label.setText(metric)
                elif sample.item is self.curves["val_metric"]:
                    label.setText(f"val_{metric}")

    def draw_runs(self, runs: list[tuple[int, Run]], metric: str | None) -> None:
        """Draw the validation curves of ``runs`` (``(k, run)``: the run and its row in the runs
        list, which gives its colour) behind the current ones, out of the legend."""
        import pyqtgraph as pg

        for plot, item in self.overlay_items:
            plot.removeItem(item)
        self.overlay_items = []
        for k, run in runs:
            label = run.when()
            xs = run.epoch_numbers()
            shown = metric if metric and f"val_{metric}" in run.history else run.metric
            for plot, key in ((self.loss_plot, "val_loss"),
                              (self.metric_plot, f"val_{shown}" if shown else None)):
                if key is None:
                    continue
                xs_shown, ys = _drop_nan(xs, run.history.get(key) or [])
                if not ys:
                    continue
                item = pg.PlotDataItem(xs_shown, ys, pen=pg.mkPen(run_color(k), width=1.5,
                                                                  style=Qt.PenStyle.DashLine))
                item.setZValue(-10)
                item.setToolTip(f"run {label}: {key}")
                item.run_label = label
                plot.addItem(item)              # not in the legend
                self.overlay_items.append((plot, item))

    def curve_data(self, name: str) -> tuple[list[float], list[float]]:
        """What a curve shows now (for tests): ``(xs, ys)``."""
        xs, ys = self.curves[name].getData()
        return ([] if xs is None else [float(v) for v in xs],
                [] if ys is None else [float(v) for v in ys])

    def overlay_data(self) -> list[tuple[str, str, list[float], list[float]]]:
        """The earlier runs' curves drawn now (for tests): ``(plot, run, xs, ys)``."""
        out = []
        for plot, item in self.overlay_items:
            xs, ys = item.getData()
            name = "loss" if plot is self.loss_plot else "metric"
            out.append((name, item.run_label, [float(v) for v in xs], [float(v) for v in ys]))
        return out
