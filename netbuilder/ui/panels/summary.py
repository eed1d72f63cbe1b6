"""The summary panel: the model.summary() table, live, with the totals under it.

It redraws once per burst of graph events (a zero-delay timer), so an edit that changes many
layers costs one refresh. Clicking a row selects that layer on the canvas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core.graph import Event, Graph
from netbuilder.core.summary import (
    available_memory,
    human_bytes,
    human_count,
    memory_warning,
    summarize,
)
from netbuilder.ui import theme
from netbuilder.ui.formatting import outputs_text

ID_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("Layer (type)", "Output shape", "Param #", "Connected to")
FROZEN_COLOR = QColor("#1565c0")


class SummaryPanel(QWidget):
    node_clicked = Signal(str)
    """A row was clicked: the id of its layer."""
    refreshed = Signal(object)
    """The table was rebuilt: the new ``core.summary.Summary``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graph: Graph | None = None
        self.model_name = "model"
        self.settings: Mapping[str, Any] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.totals = QLabel()
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.totals.setWordWrap(True)
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.totals.setStyleSheet("padding: 2px 4px;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.totals)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self.table.itemClicked.connect(self._clicked)
        self._sized = False

    def set_graph(self, graph: Graph | None, model_name: str = "model",
                  settings: Mapping[str, Any] | None = None) -> None:
        """Show ``graph``; ``settings`` (the project's, read at each refresh) give the training
        batch size and optimizer of the memory estimate."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.graph = graph
        self.model_name = model_name
        self.settings = settings or {}
        self._sized = False
        if graph is not None:
            self._unsubscribe = graph.subscribe(self._on_graph_event)
        self.refresh()

    def detach(self) -> None:
        self._timer.stop()
        self.set_graph(None)

    def _on_graph_event(self, event: Event) -> None:
        if event.kind not in ("node_moved",):
            self._timer.start()

    def refresh(self) -> None:
        """Rebuild the table and the totals from the graph (now)."""
        self._timer.stop()
        table = self.table
        selected = self.selected_node_id()
        graph = self.graph
        if graph is None:
            table.setRowCount(0)
            self.totals.setText("")
            return
        summary = summarize(graph, self.model_name, self.settings.get("training"))
        ids = graph.topological_order()
        table.setRowCount(len(summary.rows))
        for row, (node_id, info) in enumerate(zip(ids, summary.rows)):
            blocked = graph.inference.result(node_id).blocked_by is not None
            count = f"{info.params:,}" if info.outputs is not None else "?"
            if info.shares:
                count = f"shared ({info.shares})"
            cells = (f"{info.name} ({info.type})", outputs_text(info.outputs), count,
                     ", ".join(info.connected_to) or "-")
            for col, text in enumerate(cells):
                color, tip = None, ""
                if info.problem:
                    color, tip = (theme.MUTED if blocked else theme.ERROR), info.problem
                elif info.shares and col == 2:
                    color = theme.MUTED
                    tip = f"the same Keras model as {info.shares}: its weights are counted there"
                elif info.params and info.trainable_params == 0 and col == 2:
                    color, tip = FROZEN_COLOR, "frozen: not trained"
                self._set_cell(row, col, text, node_id, color, tip)
        if not self._sized and summary.rows:
            table.resizeColumnsToContents()
            for col, limit in ((0, 320), (1, 200), (2, 110)):
                table.setColumnWidth(col, min(limit, table.columnWidth(col) + 16))
            self._sized = True
        if selected is not None:
            self.select_node(selected)
        if not summary.rows:
            self.totals.setText("<span style='color:#5f6873'>The model is empty: drag an Input "
                                "layer from the palette onto the canvas to start.</span>")
            self.refreshed.emit(summary)
            return
        weights = human_bytes(4 * summary.total_params)
        memory = ""
        if summary.memory_estimate is not None:
            warning = memory_warning(summary.memory_estimate, available_memory())
            memory = (f"<br><span style='color:#5f6873'>{summary.memory_estimate.text()}</span>"
                      + (f"<br><span style='color:#d93025'>{warning}</span>" if warning else ""))
        problems = ""
        if summary.errors:
            n = len(summary.errors)
            problems = (f"&nbsp;&nbsp;<span style='color:#d93025'><b>{n} problem"
                        f"{'s' if n != 1 else ''}</b>: {summary.errors[0]}"
                        f"{' …' if n > 1 else ''}</span>")
        self.totals.setText(
            f"<b>Total params:</b> {summary.total_params:,} ({weights})"
            f" &nbsp;&nbsp; <b>Trainable:</b> {summary.trainable_params:,}"
            f" &nbsp;&nbsp; <b>Non-trainable:</b> {summary.non_trainable_params:,}<br>"
            f"<span style='color:#5f6873'>Per sample: {human_count(summary.flops, 'FLOPs')}"
            f" &nbsp;&nbsp; activation memory {human_bytes(summary.memory)}</span>"
            + memory + problems)
        self.refreshed.emit(summary)

    def _set_cell(self, row: int, col: int, text: str, node_id: str, color: QColor | None,
                  tip: str) -> None:
        """One cell as ``refresh`` wants it, changed only where it differs: a model of 800
        layers keeps its 3,200 cells from one edit to the next instead of making them anew."""
        item = self.table.item(row, col)
        if item is None:
            item = QTableWidgetItem(text)
            if col == 2:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setData(ID_ROLE, node_id)
            self.table.setItem(row, col, item)
        else:
            if item.text() != text:
                item.setText(text)
            if item.data(ID_ROLE) != node_id:
                item.setData(ID_ROLE, node_id)
        if item.toolTip() != tip:
            item.setToolTip(tip)
        brush = item.data(Qt.ItemDataRole.ForegroundRole)
        if color is None:
            if brush is not None:
                item.setData(Qt.ItemDataRole.ForegroundRole, None)   # the table's own colour
        elif brush is None or QBrush(brush).color() != color:
            item.setForeground(QBrush(color))

    def row_of(self, node_id: str) -> int | None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(ID_ROLE) == node_id:
                return row
        return None

    def selected_node_id(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(ID_ROLE) if items else None

    def select_node(self, node_id: str | None) -> None:
        """Highlight ``node_id``'s row (without emitting ``node_clicked``)."""
        self.table.blockSignals(True)
        try:
            self.table.clearSelection()
            row = self.row_of(node_id) if node_id else None
            if row is not None:
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, 0))
        finally:
            self.table.blockSignals(False)

    def _clicked(self, item: QTableWidgetItem) -> None:
        node_id = item.data(ID_ROLE)
        if node_id:
            self.node_clicked.emit(node_id)
