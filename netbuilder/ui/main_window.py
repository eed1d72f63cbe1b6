"""The editor's main window: palette (left), canvas (centre), inspector (right), summary (bottom),
with the File, Edit and View menus and one undo stack for every edit."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)
from shiboken6 import isValid

from ..core.graph import Graph
from ..core.layout import layered_layout
from ..core.project import SUFFIX, Project, ProjectError, load, save
from ..core.summary import Summary
from .canvas import GraphScene, GraphView
from .commands import Move, push
from .inspector import Inspector
from .palette import LayerPalette
from .summary_panel import SummaryPanel

APP_NAME = "NetBuilder"
FILE_FILTER = f"NetBuilder projects (*{SUFFIX});;All files (*)"


def examples_dir() -> Path:
    """Where the example projects live (``resources/examples`` next to the package)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "resources" / "examples",
                      package.parent / "resources" / "examples"):
        if candidate.is_dir():
            return candidate
    return package.parent / "resources" / "examples"


def example_paths() -> list[Path]:
    directory = examples_dir()
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []


class MainWindow(QMainWindow):
    """One open project. ``path`` is None for a project never saved (or an example, which is a
    template: saving it asks where)."""

    def __init__(self, project: Project | None = None, path: str | Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.undo_stack = QUndoStack(self)
        self.project: Project = Project(Graph())
        self.path: Path | None = None
        self.is_example = False
        self.scene: GraphScene | None = None
        self._fitted = False

        self.view = GraphView(self)
        self.setCentralWidget(self.view)
        self.palette = LayerPalette()
        self.inspector = Inspector(self.undo_stack)
        self.summary = SummaryPanel()
        self.palette_dock = self._dock("Layers", "paletteDock", self.palette,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", "inspectorDock", self.inspector,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.summary_dock = self._dock("Summary", "summaryDock", self.summary,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)
        self._make_actions()
        self._make_menus()

        self.palette.layer_activated.connect(self.append_layer)
        self.summary.node_clicked.connect(self.select_node)
        self.summary.refreshed.connect(self._summary_refreshed)
        self.undo_stack.cleanChanged.connect(self._clean_changed)

        self.resize(1400, 850)
        self.set_project(project or Project(Graph()), path)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea
              ) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    # -- actions and menus ---------------------------------------------------------------------

    def _action(self, text: str, slot, shortcut=None, tip: str = "",  # type: ignore[no-untyped-def]
                on_canvas: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        if on_canvas:
            # single-key shortcuts act on the canvas only, never while typing in a field
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(action)
        return action

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.new_action = self._action("&New", self.new_project, K.New, "Start an empty model")
        self.open_action = self._action("&Open…", self.open_dialog, K.Open,
                                        "Open a project file")
        self.save_action = self._action("&Save", self.save, K.Save, "Save the project")
        self.save_as_action = self._action("Save &As…", self.save_as, K.SaveAs,
                                           "Save the project under a new name")
        self.quit_action = self._action("&Quit", self.close, K.Quit, "Close NetBuilder")
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts(QKeySequence.keyBindings(K.Undo))
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts(QKeySequence.keyBindings(K.Redo))
        self.delete_action = self._action(
            "&Delete", self.delete_selection,
            [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)],
            "Delete the selected layers and connections", on_canvas=True)
        self.select_all_action = self._action("Select &All", self.select_all, K.SelectAll,
                                              on_canvas=True)
        self.fit_action = self._action("&Fit to View", self.fit_to_view,
                                       QKeySequence(Qt.Key.Key_F), "Show the whole model",
                                       on_canvas=True)
        self.zoom_in_action = self._action("Zoom &In", lambda: self.view.zoom_by(1.25),
                                           K.ZoomIn)
        self.zoom_out_action = self._action("Zoom &Out", lambda: self.view.zoom_by(0.8),
                                            K.ZoomOut)
        self.zoom_reset_action = self._action("&Actual Size", self._zoom_reset, "Ctrl+0")
        self.arrange_action = self._action("A&rrange Layers", self.arrange, "Ctrl+L",
                                           "Lay the model out top to bottom, branches side by "
                                           "side")

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.open_action)
        self.examples_menu = file_menu.addMenu("Open &Example")
        for path in example_paths():
            action = self.examples_menu.addAction(path.stem.replace("_", " "))
            action.triggered.connect(lambda _c=False, p=path: self.open_example(p))
        self.examples_menu.setEnabled(bool(self.examples_menu.actions()))
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.delete_action)
        edit_menu.addAction(self.select_all_action)

        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.fit_action)
        view_menu.addAction(self.zoom_in_action)
        view_menu.addAction(self.zoom_out_action)
        view_menu.addAction(self.zoom_reset_action)
        view_menu.addSeparator()
        view_menu.addAction(self.arrange_action)
        view_menu.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.summary_dock):
            view_menu.addAction(dock.toggleViewAction())

    # -- the project -----------------------------------------------------------------------

    def set_project(self, project: Project, path: str | Path | None = None,
                    is_example: bool = False) -> None:
        """Show ``project``; the undo history starts empty and the project counts as saved."""
        old = self.scene
        if old is not None:
            old.detach()
        self.undo_stack.clear()
        self.project = project
        self.path = Path(path) if path is not None else None
        self.is_example = is_example
        scene = GraphScene(project.graph, self.undo_stack, self)
        scene.status_message.connect(self._status_message)
        scene.selectionChanged.connect(self._selection_changed)
        self.scene = scene
        self.view.setScene(scene)
        if old is not None:
            old.selectionChanged.disconnect(self._selection_changed)
            old.deleteLater()
        self.inspector.set_project_info(project.name, project.description)
        self.inspector.set_graph(project.graph)
        self.summary.set_graph(project.graph, project.name)
        self.undo_stack.setClean()
        self._update_title()
        if self.isVisible():
            self.fit_to_view(min_zoom=0.9)

    @property
    def graph(self) -> Graph:
        return self.project.graph

    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def _alive(self) -> bool:
        """False while Qt tears the window down (its children emit signals as they go)."""
        return isValid(self) and isValid(self.undo_stack) and (
            self.scene is None or isValid(self.scene))

    def _clean_changed(self, _clean: bool) -> None:
        if self._alive():
            self._update_title()

    def _update_title(self) -> None:
        marker = "*" if self.is_modified() else ""
        where = f" ({self.path.name})" if self.path else " (example)" if self.is_example else ""
        self.setWindowTitle(f"{marker}{self.project.name}{where} — {APP_NAME}")

    def new_project(self) -> None:
        if self.maybe_save():
            self.set_project(Project(Graph()))

    def open_file(self, path: str | Path) -> bool:
        """Open a project file; a file that cannot be read is reported, never raised."""
        try:
            project = load(path)
        except ProjectError as err:
            self.show_error("Cannot open the project", str(err))
            return False
        self.set_project(project, path)
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def open_example(self, path: str | Path) -> bool:
        if not self.maybe_save():
            return False
        try:
            project = load(path)
        except ProjectError as err:
            self.show_error("Cannot open the example", str(err))
            return False
        self.set_project(project, None, is_example=True)
        return True

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        path = self.ask_open_path()
        if path:
            self.open_file(path)

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self.save_to(self.path)

    def save_as(self) -> bool:
        path = self.ask_save_path()
        if not path:
            return False
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(SUFFIX)
        if self.project.name in ("untitled", "") or self.is_example and self.path is None:
            self.project.name = target.stem
        return self.save_to(target)

    def save_to(self, path: str | Path) -> bool:
        try:
            save(self.project, path)
        except ProjectError as err:
            self.show_error("Cannot save the project", str(err))
            return False
        self.path = Path(path)
        self.is_example = False
        self.undo_stack.setClean()
        self.summary.model_name = self.project.name
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def maybe_save(self) -> bool:
        """Before the project goes away: True to go on (saved or discarded), False to stay."""
        if not self.is_modified():
            return True
        answer = self.ask_unsaved_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # -- dialogs (methods, so that tests can answer them) ----------------------------------------

    def ask_open_path(self) -> str:
        start = str(self.path.parent) if self.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, FILE_FILTER)
        return path

    def ask_save_path(self) -> str:
        directory = self.path.parent if self.path else Path.home()
        path, _ = QFileDialog.getSaveFileName(
            self, "Save project", str(directory / f"{self.project.name}{SUFFIX}"), FILE_FILTER)
        return path

    def ask_unsaved_changes(self) -> QMessageBox.StandardButton:
        return QMessageBox.question(
            self, APP_NAME, f"“{self.project.name}” has changes that are not saved.\n\n"
                            "Save them before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)

    def show_error(self, title: str, text: str) -> None:
        QMessageBox.critical(self, title, text)

    # -- editing -------------------------------------------------------------------------------

    def append_layer(self, layer_type: str) -> str | None:
        if self.scene is None:
            return None
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        node_id = self.scene.append_layer(layer_type, QPointF(centre))
        if node_id is not None:
            self.view.setFocus()
        return node_id

    def delete_selection(self) -> None:
        if self.scene is not None:
            self.scene.delete_selection()

    def select_all(self) -> None:
        if self.scene is not None:
            for item in self.scene.node_items.values():
                item.setSelected(True)

    def select_node(self, node_id: str) -> None:
        if self.scene is not None:
            self.scene.select_node(node_id)

    def arrange(self) -> None:
        positions = layered_layout(self.graph)
        moves = {nid: (self.graph.nodes[nid].position, pos) for nid, pos in positions.items()
                 if self.graph.nodes[nid].position != pos}
        if moves:
            push(self.undo_stack, Move(self.graph, moves, "Arrange layers"))
        self.fit_to_view()

    def fit_to_view(self, min_zoom: float | None = None) -> None:
        """Show the whole model (F); on opening, a tall model is shown readable, from its top."""
        self.view.fit_to_view(min_zoom=min_zoom)

    def _zoom_reset(self) -> None:
        self.view.zoom_by(1.0 / self.view.zoom())

    # -- keeping the panels in step ----------------------------------------------------------------

    def _selection_changed(self) -> None:
        if self.scene is None or not self._alive():
            return
        ids = self.scene.selected_node_ids()
        self.inspector.set_selection(ids)
        self.summary.select_node(ids[0] if len(ids) == 1 else None)

    def _status_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _summary_refreshed(self, summary: Summary) -> None:
        layers = len(summary.rows)
        text = f"{layers} layer{'s' if layers != 1 else ''} · {summary.total_params:,} params"
        if not layers:
            text = "empty model"
        elif summary.errors:
            n = len(summary.errors)
            text += f" · <span style='color:#d93025'>{n} problem{'s' if n != 1 else ''}</span>"
        elif layers:
            text += " · <span style='color:#2e7d32'>valid</span>"
        self.status_label.setText(text)

    # -- window events -----------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            self.resizeDocks([self.palette_dock, self.inspector_dock], [230, 330],
                             Qt.Orientation.Horizontal)
            self.resizeDocks([self.summary_dock], [210], Qt.Orientation.Vertical)
            QTimer.singleShot(0, self, lambda: self.fit_to_view(min_zoom=0.9))
            self.view.setFocus()  # so that F, Delete and the arrows act on the canvas
            self.statusBar().showMessage(
                "Drag layers from the palette onto the canvas · drag from a layer's bottom dot "
                "to another layer to connect them · F fits the model in view", 0)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        if self.scene is not None:
            self.scene.detach()
        self.inspector.detach()
        self.summary.detach()
        event.accept()
