"""File ▸ Compare With…: the open project against another network (a project file, a training
run's project, or a Keras model file), as ``netbuilder diff OTHER THIS`` reports it
(``core/diff.py``).

On the canvas, changed layers get an orange frame and added ones (here, not in the other) a
green one, each with a short note ("changed: filters 32 → 64", full on hover); the Comparison
dock lists every difference, the removed layers too (they are not on the canvas), and the
totals' deltas. The comparison follows edits (it is redone shortly after each) until Clear
Comparison, closing the dock, or another project opened.

The frames are child items of the canvas's node items, so the canvas knows nothing of this
feature; nothing here edits the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QGraphicsItem,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from netbuilder.core.diff import (
    DiffSourceError,
    GraphDiff,
    change_line,
    change_parts,
    counts_line,
    diff_graphs,
    layer_line,
    load_source,
    source_kind,
    totals_lines,
)
from netbuilder.core.project import Project
from netbuilder.ui.canvas.items import NODE_HEIGHT, NODE_WIDTH
from netbuilder.ui.dialogs.common import ok_cancel_buttons

if TYPE_CHECKING:
    from netbuilder.ui.main_window import MainWindow

ADDED = QColor("#2e9d4f")
CHANGED = QColor("#e8710a")
REMOVED = QColor("#d93025")
FILE_FILTER = ("Networks (*.nbproj *.json *.keras *.h5 *.hdf5);;Projects (*.nbproj);;"
               "All files (*)")
REFRESH_MS = 200


class DiffMark(QGraphicsPathItem):
    """A coloured frame around a node item (its child: it moves with it)."""

    def __init__(self, parent: QGraphicsItem, color: QColor, kind: str) -> None:
        super().__init__(parent)
        self.kind = kind
        path = QPainterPath()
        margin = 5.0
        path.addRoundedRect(QRectF(-NODE_WIDTH / 2 - margin, -NODE_HEIGHT / 2 - margin,
                                   NODE_WIDTH + 2 * margin, NODE_HEIGHT + 2 * margin), 9, 9)
        self.setPath(path)
        self.setPen(QPen(color, 3.0))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)


class ComparePanel(QWidget):
    """The differences as a list (click one to select its layer) and Clear Comparison."""

    clear_requested = Signal()
    layer_clicked = Signal(str)
    """A changed or added layer's node id."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._clicked)
        self.totals = QLabel()
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.clear_button = QPushButton("Clear Comparison")
        self.clear_button.clicked.connect(self.clear_requested)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.totals)
        layout.addWidget(self.clear_button)

    def show_diff(self, diff: GraphDiff) -> None:
        self.title.setText(f"<b>This project</b> compared with <b>{diff.a_label}</b><br>"
                           f"{counts_line(diff)}")
        self.list.clear()
        for change in diff.changed:
            self._add(change_line(change), CHANGED, change.new.node_id)
        for layer in diff.added:
            self._add(layer_line(layer, "+"), ADDED, layer.node_id)
        for layer in diff.removed:
            self._add(layer_line(layer, "-") + " (not on the canvas)", REMOVED, None)
        if not (diff.changed or diff.added or diff.removed):
            self.list.addItem("No layer differs.")
        self.totals.setText("\n".join(totals_lines(diff)))

    def lines(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _add(self, text: str, color: QColor, node_id: str | None) -> None:
        item = QListWidgetItem(text)
        item.setForeground(color.darker(120))
        item.setData(Qt.ItemDataRole.UserRole, node_id)
        self.list.addItem(item)

    def _clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.ItemDataRole.UserRole)
        if node_id:
            self.layer_clicked.emit(node_id)


class CompareDock(QDockWidget):
    closed = Signal()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        super().closeEvent(event)
        self.closed.emit()


class Comparison(QObject):
    """The open project against ``reference``, shown on the canvas and in a dock until
    ``clear()``."""

    def __init__(self, window: MainWindow, reference: Project, label: str) -> None:
        super().__init__(window)
        self.window = window
        self.reference = reference
        self.label = label
        self.diff: GraphDiff | None = None
        self.marks: dict[str, DiffMark] = {}
        self.panel = ComparePanel()
        self.panel.clear_requested.connect(self.clear)
        self.panel.layer_clicked.connect(lambda nid: window.document.select([nid]))
        self.dock = CompareDock("Comparison", window)
        self.dock.setObjectName("compareDock")
        self.dock.setWidget(self.panel)
        self.dock.closed.connect(self.clear)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self._unsubscribe: Any = window.graph.subscribe(self._graph_changed)
        window.document.project_replaced.connect(self.clear)
        self.active = True
        self.refresh()
        self.dock.show()
        self.dock.raise_()

    def _graph_changed(self, event: object) -> None:
        self.timer.start()

    def refresh(self) -> None:
        """Compare again and redraw the marks (after edits)."""
        if not self.active:
            return
        self.diff = diff_graphs(self.reference.graph, self.window.graph, self.label,
                                "this project")
        self.panel.show_diff(self.diff)
        looks = {c.new.node_id: (CHANGED, "changed", "changed: " + "; ".join(change_parts(c)))
                 for c in self.diff.changed}
        looks |= {layer.node_id: (ADDED, "added", f"added (not in {self.label})")
                  for layer in self.diff.added}
        self._remove_marks()
        scene = self.window.scene
        if scene is None:
            return
        for node_id, (color, kind, _note) in looks.items():
            item = scene.node_items.get(node_id)
            if item is not None:
                self.marks[node_id] = DiffMark(item, color, kind)
        scene.set_node_notes({nid: note for nid, (_c, _k, note) in looks.items()},
                             source="compare")

    def _remove_marks(self) -> None:
        for mark in self.marks.values():
            if isValid(mark) and mark.scene() is not None:
                mark.scene().removeItem(mark)
        self.marks = {}

    def clear(self) -> None:
        """End the comparison: no marks, no notes, no dock."""
        if not self.active:
            return
        self.active = False
        self.timer.stop()
        self._unsubscribe()
        self.window.document.project_replaced.disconnect(self.clear)
        self._remove_marks()
        scene = self.window.scene
        if scene is not None and isValid(scene):
            scene.set_node_notes({}, source="compare")
        self.dock.closed.disconnect(self.clear)
        self.window.removeDockWidget(self.dock)
        self.dock.deleteLater()
        if getattr(self.window, "comparison", None) is self:
            self.window.comparison = None  # type: ignore[attr-defined]
        self.deleteLater()


def compare_with_project(window: MainWindow, reference: Project, label: str) -> Comparison:
    """Show the open project's differences from ``reference`` (replacing any comparison)."""
    old = getattr(window, "comparison", None)
    if old is not None:
        old.clear()
    window.comparison = Comparison(window, reference, label)  # type: ignore[attr-defined]
    return window.comparison  # type: ignore[attr-defined,no-any-return]


def compare_with_path(window: MainWindow, path: str | Path) -> bool:
    """Compare with a project file or a run folder, at once, or with a Keras model file, once
    it is imported (in a background thread). False, with a message, if it cannot be read."""
    from PySide6.QtWidgets import QMessageBox

    label = Path(path).name
    try:
        if source_kind(path) == "keras":
            _compare_with_model(window, str(path))
            return True
        reference = load_source(path)
    except DiffSourceError as err:
        QMessageBox.warning(window, "Compare With", str(err))
        return False
    if Path(path).is_dir():
        label = f"run {label}"
    compare_with_project(window, reference, label)
    return True


def _compare_with_model(window: MainWindow, path: str) -> None:
    from PySide6.QtWidgets import QMessageBox

    from netbuilder.ui.dialogs import import_model

    window.statusBar().showMessage(f"Reading {Path(path).name} with Keras…")
    job = import_model.Job(lambda: import_model.run_import(path, {}), window)
    job.finished.connect(lambda project: (window.statusBar().clearMessage(),
                                          compare_with_project(window, project,
                                                               Path(path).name)))
    job.failed.connect(lambda message: (window.statusBar().clearMessage(),
                                        QMessageBox.warning(window, "Compare With", message)))
    window.compare_job = job  # type: ignore[attr-defined]
    job.start()


def selected_run_folder(window: MainWindow) -> Path | None:
    """The run selected in the Training dock's Runs tab, if any."""
    runs_tab = getattr(window.training_panel, "runs_tab", None)
    selected = getattr(runs_tab, "selected_run", None)
    run = selected() if callable(selected) else None
    return run.folder if run is not None and run.problem is None else None


class CompareDialog(QDialog):
    """What to compare with: a file, or the run selected in the Runs tab."""

    def __init__(self, parent: QWidget | None, start_dir: str, run: Path | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare With")
        self.run = run
        self.file_choice = QRadioButton("A project or Keras model file:")
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a .nbproj, run folder, .keras, .h5 or .json")
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(start_dir))
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.run_choice = QRadioButton(
            f"The run selected in the Runs tab: {run.name}" if run is not None
            else "The run selected in the Runs tab (none is selected)")
        self.run_choice.setEnabled(run is not None)
        (self.run_choice if run is not None else self.file_choice).setChecked(True)
        self.path_edit.textEdited.connect(lambda _t: self.file_choice.setChecked(True))
        buttons = ok_cancel_buttons(self, "Compare")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Show how this project differs from:"))
        layout.addWidget(self.file_choice)
        layout.addLayout(row)
        layout.addWidget(self.run_choice)
        layout.addWidget(buttons)

    def _browse(self, start_dir: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Compare with", start_dir, FILE_FILTER)
        if path:
            self.path_edit.setText(path)
            self.file_choice.setChecked(True)

    def chosen(self) -> str | None:
        if self.run_choice.isChecked() and self.run is not None:
            return str(self.run)
        return self.path_edit.text().strip() or None


def compare_with(window: MainWindow) -> None:
    """File ▸ Compare With…: ask what, then compare."""
    dialog = CompareDialog(window, str(window.start_dir("project")), selected_run_folder(window))
    window.compare_dialog = dialog  # type: ignore[attr-defined]  # tests answer it
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return
    chosen = dialog.chosen()
    if chosen:
        compare_with_path(window, chosen)
