"""The editor's main window: palette (left), canvas (centre, with the overview in its corner),
parameter editor (right), summary (bottom), with the File, Edit and View menus, recent files,
picture export, and autosave with crash recovery. Every edit is the ``Document``'s; the window
wires the views and the features (blocks, Keras Applications) to it."""

from __future__ import annotations

import datetime
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QByteArray, QPoint, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QShowEvent, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QWidget,
)
from shiboken6 import isValid

from netbuilder.core.data_fit import DataFix
from netbuilder.core.graph import Graph
from netbuilder.core.project import SUFFIX, Project, ProjectError, load, save
from netbuilder.core.quick_fixes import ParamFix, QuickFix
from netbuilder.core.summary import Summary
from netbuilder.runtime.keras_build import built_layer_name
from netbuilder.ui import autosave
from netbuilder.ui.autosave import Autosaver
from netbuilder.ui.canvas.hooks import CanvasHooks
from netbuilder.ui.canvas.minimap import Overview
from netbuilder.ui.canvas.scene import GraphScene
from netbuilder.ui.canvas.view import OPEN_MIN_ZOOM, GraphView
from netbuilder.ui.dialogs import import_model
from netbuilder.ui.document import Document
from netbuilder.ui.engine import EnginePool
from netbuilder.ui.features.applications.actions import ApplicationActions
from netbuilder.ui.features.blocks import BlockActions
from netbuilder.ui.panels.code import CodeView
from netbuilder.ui.panels.inspect.panel import InspectPanel
from netbuilder.ui.panels.palette import LayerPalette
from netbuilder.ui.panels.parameters import ParameterEditor
from netbuilder.ui.panels.search.feature import SearchFeature
from netbuilder.ui.panels.summary import SummaryPanel
from netbuilder.ui.panels.training.panel import TrainingPanel
from netbuilder.ui.user_files import (
    APP_NAME,
    app_settings,
    forget_recent,
    is_example,
    last_dir,
    remember_dir,
    remember_recent,
)
from netbuilder.ui.window_actions import make_actions, make_menus

FILE_FILTER = f"NetBuilder projects (*{SUFFIX});;All files (*)"
STATE_VERSION = 1
"""Of the saved dock layout (``window/state``): raise it when the set of docks changes."""
LARGEST = QSize(1600, 1000)  # the window's first size on a big screen
SMALL_SCREEN = QSize(1500, 900)  # below this (a laptop), the window opens maximised
PALETTE_MIN_WIDTH, PARAMETERS_MIN_WIDTH = 215, 300  # the side docks are never squeezed more


def default_geometry(available: QRect) -> tuple[QRect, bool]:
    """Where the window first opens on a screen whose free area is ``available``: at most
    ``LARGEST``, never larger than the screen, centred; True: maximise it (a small screen)."""
    size = LARGEST.boundedTo(available.size())
    rect = QRect(QPoint(0, 0), size)
    rect.moveCenter(available.center())
    small = available.width() < SMALL_SCREEN.width() or available.height() < SMALL_SCREEN.height()
    return rect, small


class MainWindow(QMainWindow):
    """One open project. ``path`` is None for a project never saved (or an example, which is a
    template: saving it asks where)."""

    def __init__(self, project: Project | None = None, path: str | Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.document = Document(parent=self)
        self.canvas_hooks = CanvasHooks()
        self.scene: GraphScene | None = None
        self._fitted = False

        self.view = GraphView(self)
        self.setCentralWidget(self.view)
        self.palette = LayerPalette()
        self.parameter_editor = ParameterEditor(self.document)
        self.summary = SummaryPanel()
        self.palette_dock = self._dock("Layers", "paletteDock", self.palette,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.parameters_dock = self._dock("Inspector", "inspectorDock", self.parameter_editor,
                                          Qt.DockWidgetArea.RightDockWidgetArea)
        self.summary_dock = self._dock("Summary", "summaryDock", self.summary,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.code_view = CodeView(self.document)
        self.code_dock = self._dock("Code", "codeDock", self.code_view,
                                    Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.summary_dock, self.code_dock)
        self.code_view.set_seen(False)
        self.code_dock.visibilityChanged.connect(self.code_view.set_seen)
        self.training_panel = TrainingPanel(self.document)
        self.training_dock = self._dock("Training", "trainingDock", self.training_panel,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.code_dock, self.training_dock)
        self.inspect_panel = InspectPanel(
            lambda: self.project, lambda: self.weights_file,
            lambda: {"source": self.training_panel.form.data_source(),
                     "options": self.training_panel.form.data_settings()["options"]})
        self.inspect_dock = self._dock("Inspect", "inspectDock", self.inspect_panel,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.training_dock, self.inspect_dock)
        self.inspect_panel.set_seen(False)
        self.inspect_dock.visibilityChanged.connect(self.inspect_panel.set_seen)
        self.training_panel.event_received.connect(self.inspect_panel.training_event)
        self.training_panel.finished.connect(self.inspect_panel.training_finished)
        self.training_panel.run_chosen.connect(self.inspect_panel.training_finished)
        self.inspect_panel.live_weights_wanted.connect(
            lambda on: self.training_panel.job_options.update(latest_weights=on))
        self.training_panel.form.data_combo.currentIndexChanged.connect(
            lambda _i: self.inspect_panel.data_source_changed())
        self.training_dock.visibilityChanged.connect(
            lambda shown: shown and QTimer.singleShot(50, self.training_panel,
                                                      self.training_panel.plots_if_seen))
        for dock in (self.training_dock, self.inspect_dock):  # plots need room: taller
            dock.visibilityChanged.connect(
                lambda shown, d=dock: shown and QTimer.singleShot(0, self, lambda: self._taller(d)))
        self.palette_dock.setMinimumWidth(PALETTE_MIN_WIDTH)
        self.parameters_dock.setMinimumWidth(PARAMETERS_MIN_WIDTH)
        self.summary_dock.raise_()
        self.weights_file: Path | None = None
        self.import_job = None
        self.import_progress: QProgressBar | None = None
        self.export_job = None
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self.overview = Overview(self.view)

        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)
        self.autosaver = Autosaver(lambda: self.project, lambda: self.path, self.is_modified,
                                   parent=self)
        self.autosaver.failed.connect(
            lambda why: self.statusBar().showMessage(f"Autosave failed: {why}", 8000))
        self.block_actions = BlockActions(self.document, self, self.palette)
        make_actions(self)
        make_menus(self)
        self.engines = EnginePool(self)   # a warm TensorFlow process for F5, Preview, Inspect
        self.engines.install(self, self.view_menu)
        # the features plug into the canvas, the palette and the parameter editor
        self.application_actions = ApplicationActions(
            self.document, self, self.training_panel.form.current_settings,
            self.training_panel.form.apply_settings)
        self.application_actions.add_menu(self.menuBar())
        self.application_actions.register(self.canvas_hooks, self.palette,
                                          self.parameter_editor)
        self.block_actions.register(self.canvas_hooks)
        self.search_feature = SearchFeature(self)   # Train ▸ Search…, the Search dock, 🔍 marks

        self.palette.layer_activated.connect(self.append_layer)
        self.summary.node_clicked.connect(self.select_node)
        self.summary.refreshed.connect(self._summary_refreshed)
        self.parameter_editor.fix_requested.connect(self.apply_quick_fix)
        self.document.reported.connect(self._status_message)
        self.document.selection_changed.connect(self._selection_changed)
        self.document.modified_changed.connect(self._modified_changed)
        self.document.edited.connect(self._edited)
        self.document.path_changed.connect(self._identity_changed)
        self.undo_stack.indexChanged.connect(self._undo_moved)
        self._reported_at: int | None = None  # the undo step the status bar's report is about

        self.layout_restored = self.restore_layout()
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

    # -- the project -----------------------------------------------------------------------

    def set_project(self, project: Project, path: str | Path | None = None,
                    is_example: bool = False) -> None:
        """Show ``project``; the undo history starts empty and the project counts as saved."""
        old = self.scene
        if old is not None:
            old.detach()
        self.document.set_project(project, path, is_example)
        scene = GraphScene(self.document, self.canvas_hooks, self)
        scene.inspect_requested.connect(self.inspect_layer)
        self.scene = scene
        self.view.setScene(scene)
        self.overview.set_scene(scene)
        if old is not None:
            old.deleteLater()
        self.summary.set_graph(project.graph, project.name, project.settings)
        if not self.training_panel.is_running():
            self.training_panel.load_settings()
        weights = project.weights
        self.weights_file = (self.path.parent / weights) if weights and self.path else None
        self.inspect_panel.set_project()
        self._update_title()
        if self.isVisible():
            self.fit_to_view(min_zoom=OPEN_MIN_ZOOM)

    @property
    def project(self) -> Project:
        return self.document.project

    @property
    def path(self) -> Path | None:
        return self.document.path

    @property
    def is_example(self) -> bool:
        return self.document.is_example

    @property
    def undo_stack(self) -> QUndoStack:
        return self.document.undo_stack

    @property
    def graph(self) -> Graph:
        return self.project.graph

    def is_modified(self) -> bool:
        return self.document.is_modified()

    def _alive(self) -> bool:
        """False while Qt tears the window down (its children emit signals as they go)."""
        return isValid(self) and isValid(self.document) and isValid(self.undo_stack) and (
            self.scene is None or isValid(self.scene))

    def _edited(self) -> None:
        if self._alive():
            self.autosaver.changed()

    def _modified_changed(self, modified: bool) -> None:
        if self._alive():
            self._update_title()
            if not modified:  # back to what is saved (undo, or a save): nothing to recover
                self.autosaver.discard()

    def _identity_changed(self) -> None:
        """The project is another one, or has a new file (Save As names an untitled model after
        its file): every view that names it follows."""
        if not self._alive():
            return
        project = self.project
        self.parameter_editor.set_project_info(project.name, project.description)
        if self.summary.model_name != project.name:
            self.summary.model_name = project.name
            self.summary.refresh()
        self.code_view.set_project(project)  # the code's model name
        self._update_title()

    def _update_title(self) -> None:
        marker = "*" if self.is_modified() else ""
        where = f" ({self.path.name})" if self.path else " (example)" if self.is_example else ""
        self.setWindowTitle(f"{marker}{self.project.name}{where} — {APP_NAME}")

    def new_project(self) -> None:
        if self.maybe_save():
            self.autosaver.discard()
            self.set_project(Project(Graph()))

    def open_file(self, path: str | Path) -> bool:
        """Open a project file; a file that cannot be read is reported, never raised."""
        if is_example(path):
            return self.show_example(path)
        try:
            project = load(path)
        except ProjectError as err:
            self.show_error("Cannot open the project", str(err))
            return False
        self.autosaver.discard()
        self.set_project(project, path)
        remember_recent(path)
        remember_dir("project", path)
        self.statusBar().showMessage(f"Opened {path}", 5000)
        self.offer_recovery()
        return True

    def open_recent(self, path: str | Path) -> bool:
        if not self.maybe_save():
            return False
        if not Path(path).is_file():
            forget_recent(path)
            self.show_error("Cannot open the project", f"{path} is not there any more.")
            return False
        return self.open_file(path)

    def open_example(self, path: str | Path) -> bool:
        return self.maybe_save() and self.show_example(path)

    def show_example(self, path: str | Path) -> bool:
        """Open a bundled example unsaved (Save asks where), its runs in a temporary folder."""
        try:
            project = load(path)
        except ProjectError as err:
            self.show_error("Cannot open the example", str(err))
            return False
        self.autosaver.discard()
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
            self._carry_weights(Path(path))
            save(self.project, path)
        except (ProjectError, OSError) as err:
            self.show_error("Cannot save the project", str(getattr(err, "strerror", None)
                                                             or err))
            return False
        self.autosaver.discard(path)  # the work is safe: no recovery file, old or new name
        self.document.mark_saved(path)
        remember_recent(path)
        remember_dir("project", path)
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

    def start_dir(self, kind: str) -> Path:
        """Where a file dialog of ``kind`` ("project", "export", "import") opens: the folder the
        last one chose, else the project's folder, else the home folder."""
        return last_dir(kind) or (self.path.parent if self.path else Path.home())

    def ask_open_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Open project",
                                              str(self.start_dir("project")), FILE_FILTER)
        return path

    def ask_save_path(self) -> str:
        directory = self.start_dir("project")
        path, _ = QFileDialog.getSaveFileName(
            self, "Save project", str(directory / f"{self.project.name}{SUFFIX}"), FILE_FILTER)
        return path

    def ask_unsaved_changes(self) -> QMessageBox.StandardButton:
        return QMessageBox.question(
            self, APP_NAME, f"“{self.project.name}” has changes that are not saved.\n\n"
                            "Save them before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)

    def _carry_weights(self, path: Path) -> None:
        """A project with weights (an imported model's) keeps them beside its file, as
        ``<stem>.weights.h5``: saving it somewhere new copies them there."""
        source = self.weights_file
        if source is None or not self.project.weights:
            return
        target = path.with_name(f"{path.stem}.weights.h5")
        if not source.is_file():
            self.project.weights = None
            self.weights_file = None
            return
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        self.project.weights = target.name
        self.weights_file = target

    def ask_export_path(self, title: str, suffix: str, file_filter: str) -> str:
        directory = self.start_dir("export")
        path, _ = QFileDialog.getSaveFileName(
            self, title, str(directory / f"{self.project.name}{suffix}"), file_filter)
        if path and not Path(path).suffix:
            path += suffix
        if path:
            remember_dir("export", path)
        return path

    def ask_restore(self, recovery: Path) -> bool:
        when = datetime.datetime.fromtimestamp(recovery.stat().st_mtime)
        what = f"“{self.path.name}”" if self.path else "an unsaved project"
        answer = QMessageBox.question(
            self, APP_NAME,
            f"NetBuilder found changes to {what} from {when:%A %H:%M} that were never saved "
            "(the program did not close normally).\n\nRestore them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, title: str, text: str) -> None:
        QMessageBox.critical(self, title, text)

    # -- autosave and recovery -------------------------------------------------------------------

    def offer_recovery(self) -> bool:
        """If the last session left unsaved work for this project, offer to restore it;
        True if it was restored (the window then shows it, marked as modified)."""
        recovery = autosave.pending_recovery(self.path)
        if recovery is None:
            return False
        if not self.ask_restore(recovery):
            autosave.remove_recovery(self.path)
            return False
        try:
            project = load(recovery)
        except ProjectError as err:
            self.show_error("Cannot restore the unsaved changes", str(err))
            autosave.remove_recovery(self.path)
            return False
        self.set_project(project, self.path)
        self.document.mark_unsaved()  # restored work is not saved yet
        self.autosaver.pending = True
        self._update_title()
        self.statusBar().showMessage("Restored the unsaved changes; save them to keep them", 0)
        return True

    # -- import ----------------------------------------------------------------------------------

    def ask_import(self) -> tuple[str, dict] | None:
        """Ask what to import (tests replace this): ``(source, options)`` or None."""
        dialog = import_model.ImportDialog(self, str(self.start_dir("import")))
        # the real list, once Keras has loaded
        names = import_model.Job(import_model.load_application_names, dialog)
        names.finished.connect(dialog.set_application_names)
        names.start()
        try:
            if dialog.exec() != dialog.DialogCode.Accepted:
                return None
            source, options = dialog.request()
            if Path(source).exists():  # a file, not an Application's name
                remember_dir("import", source)
            return source, options
        finally:
            dialog.deleteLater()

    def import_dialog(self) -> None:
        request = self.ask_import()
        if request is not None:
            self.start_import(*request)

    def start_import(self, source: str, options: dict | None = None) -> bool:
        """Import ``source`` (a model file or ``app:NAME``) in the background; the project
        opens in this window when it is ready. False if an import is running already."""
        if self.import_job is not None and self.import_job.running():
            self.statusBar().showMessage("An import is running already", 5000)
            return False
        workdir = tempfile.mkdtemp(prefix="netbuilder-import-")
        job = import_model.Job(
            lambda: import_model.run_import(source, dict(options or {}), workdir), self)
        job.finished.connect(lambda project: self._import_finished(project, source, workdir))
        job.failed.connect(lambda message: self._import_failed(message, source))
        self.import_job = job
        self.import_progress = QProgressBar()
        self.import_progress.setRange(0, 0)  # busy
        self.import_progress.setMaximumWidth(120)
        self.statusBar().addPermanentWidget(self.import_progress)
        self.statusBar().showMessage(f"Importing {source}… (Keras takes a few seconds to "
                                     "start; you can keep working)", 0)
        job.start()
        return True

    def _end_import(self) -> None:
        if self.import_progress is not None:
            self.statusBar().removeWidget(self.import_progress)
            self.import_progress.deleteLater()
            self.import_progress = None
        self.import_job = None

    def _import_failed(self, message: str, source: str) -> None:
        if not self._alive():
            return
        self._end_import()
        self.statusBar().clearMessage()
        self.show_error("Cannot import the model", f"{source}:\n\n{message}")

    def _import_finished(self, project: Project, source: str, workdir: str) -> None:
        if not self._alive():
            return
        self._end_import()
        self.statusBar().clearMessage()
        if not self.maybe_save():
            self.statusBar().showMessage(f"Import of {source} set aside", 5000)
            return
        self.autosaver.discard()
        self.set_project(project, None)
        weights = project.weights
        self.weights_file = Path(workdir) / weights if weights else None
        self.document.mark_unsaved()  # an imported model is not saved anywhere yet
        self._update_title()
        notes = project.settings.get("imported", {}).get("notes", [])
        layers = len(project.graph.nodes)
        text = f"Imported {source}: {layers} layers"
        if notes:
            text += f"; {len(notes)} kept as opaque Keras layers (see their tooltips)"
        self.statusBar().showMessage(text, 10000)

    # -- editing -------------------------------------------------------------------------------

    def append_layer(self, layer_type: str) -> str | None:
        """Add a layer after the selected one (double-click in the palette)."""
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        node_id = self.document.append_layer(layer_type, (centre.x(), centre.y()))
        if node_id is not None:
            self.view.setFocus()
        return node_id

    def delete_selection(self) -> None:
        if self.scene is not None:
            self.scene.delete_selection()

    def select_all(self) -> None:
        if self.scene is not None:
            self.scene.select_all()

    def copy(self) -> bool:
        mime = self.scene.copy_selection() if self.scene is not None else None
        if mime is None:
            self.statusBar().showMessage("Select the layers to copy first", 5000)
            return False
        QApplication.clipboard().setMimeData(mime)
        count = len(self.document.selection)
        self.statusBar().showMessage(f"Copied {count} layer{'s' if count != 1 else ''}", 5000)
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete_selection()

    def paste(self) -> list[str]:
        if self.scene is None:
            return []
        return self.scene.paste_mime(QApplication.clipboard().mimeData())

    def duplicate(self) -> list[str]:
        if self.scene is None:
            return []
        return self.scene.duplicate_selection()

    def rename(self) -> None:
        ids = self.document.selection
        if self.scene is not None and len(ids) == 1:
            self.scene.rename_node(ids[0])
        else:
            self.statusBar().showMessage("Select one layer to rename it", 5000)

    def set_trainable(self, trainable: bool) -> None:
        self.document.set_trainable(self.document.selection, trainable)

    def apply_quick_fix(self, fix: object) -> str | None:
        if not isinstance(fix, (QuickFix, ParamFix, DataFix)):
            return None
        node_id = self.document.apply_quick_fix(fix)
        if node_id is not None:
            self.view.setFocus()
        return node_id

    def train(self, resume: bool = False) -> bool:
        """Show the training panel and start training (F5); False, with the reason in the
        panel, when it cannot start."""
        self.training_dock.show()
        self.training_dock.raise_()
        return self.training_panel.train(resume=resume)

    def stop_training(self) -> None:
        self.training_panel.stop()

    def _training_running(self, running: bool) -> None:
        self.train_action.setEnabled(not running)
        self.stop_training_action.setEnabled(running)
        self.continue_training_action.setEnabled(not running)

    def show_overview(self, shown: bool) -> None:
        """Turn the overview on (it shows while the model does not fit) or off."""
        self.overview.set_enabled(shown)
        if self.overview_action.isChecked() != shown:
            self.overview_action.setChecked(shown)
        app_settings().setValue("view/overview", shown)

    def select_node(self, node_id: str) -> None:
        if self.scene is not None:
            self.scene.select_node(node_id)

    def arrange(self) -> None:
        self.document.arrange()
        self.fit_to_view()

    def fit_to_view(self, min_zoom: float | None = None) -> None:
        """Show the whole model (F); on opening, a tall model is shown readable, from its top."""
        self.view.fit_to_view(min_zoom=min_zoom)

    def _zoom_reset(self) -> None:
        self.view.zoom_by(1.0 / self.view.zoom())

    # -- keeping the panels in step ----------------------------------------------------------------

    def _selection_changed(self, ids: list[str]) -> None:
        if self.scene is None or not self._alive():
            return
        self.inspect_panel.set_selection([self._built_name(n) for n in ids
                                          if n in self.graph.nodes])
        self.summary.select_node(ids[0] if len(ids) == 1 else None)

    def _built_name(self, node_id: str) -> str:
        """The Keras layer the Inspect dock shows for a node: for a function block instance,
        its output layer as the build names it."""
        return built_layer_name(self.graph, node_id) or self.graph.node(node_id).name

    def inspect_layer(self, node_id: str | None = None) -> None:
        """Show the Inspect dock on one layer (the selected one by default)."""
        if node_id is None:
            node_id = self.document.selected_one()
        self.inspect_dock.show()
        self.inspect_dock.raise_()
        if not self.inspect_dock.isFloating() and self.inspect_dock.height() < 380:
            self.resizeDocks([self.inspect_dock], [380], Qt.Orientation.Vertical)
        if node_id is not None and node_id in self.graph.nodes:
            self.inspect_panel.inspect_layer(self._built_name(node_id))
        else:
            self.statusBar().showMessage("Select one layer to inspect it", 5000)

    def _status_message(self, text: str) -> None:
        self._reported_at = self.undo_stack.index()
        self.statusBar().showMessage(text, 8000)

    def _undo_moved(self, index: int) -> None:
        """An edit's report ("Inserted flatten…: it is valid now") goes once the edit is undone
        (or another is made)."""
        if self._alive() and self._reported_at is not None and index != self._reported_at:
            self._reported_at = None
            self.statusBar().clearMessage()

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

    def restore_layout(self) -> bool:
        """Put the window where it was when last closed, with its docks as they were (True);
        else (first start, or its screen is gone) size it for this screen (False)."""
        settings = app_settings()
        geometry, state = settings.value("window/geometry"), settings.value("window/state")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry) and \
                QGuiApplication.screenAt(self.geometry().center()) is not None:
            return isinstance(state, QByteArray) and self.restoreState(state, STATE_VERSION)
        rect, small = default_geometry(self.screen().availableGeometry())
        self.setGeometry(rect)
        if small:
            self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)
        return False

    def default_docks(self) -> None:
        """Dock sizes in proportion to the window: palette 17 %, parameter editor 22 % of its
        width (never below their minimums), the bottom docks 30 % of its height."""
        width, height = self.width(), self.height()
        self.resizeDocks([self.palette_dock, self.parameters_dock],
                         [max(PALETTE_MIN_WIDTH + 15, int(0.17 * width)),
                          max(PARAMETERS_MIN_WIDTH + 20, int(0.22 * width))],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.summary_dock], [int(0.3 * height)], Qt.Orientation.Vertical)

    def _taller(self, dock: QDockWidget) -> None:
        """Training and Inspect show plots: their tab gets some 36 % of the height or more."""
        wanted = int(0.4 * self.height())  # (the tab bar under it takes some 25 px)
        if self._alive() and not dock.isFloating() and dock.height() < wanted:
            self.resizeDocks([dock], [wanted], Qt.Orientation.Vertical)

    def _first_show(self) -> None:
        """Once the window has its size (a maximise comes later than the show): the docks,
        then the model fitted in the canvas that is left."""
        if not self._alive():
            return
        if not self.layout_restored:
            self.default_docks()
        QTimer.singleShot(0, self, lambda: self.fit_to_view(min_zoom=OPEN_MIN_ZOOM))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            self.engines.start_when_idle()
            QTimer.singleShot(0, self, self._first_show)
            self.overview.refit()
            self.view.setFocus()  # so that F, Delete and the arrows act on the canvas
            self.statusBar().showMessage(
                "Drag layers from the palette onto the canvas · drag from a layer's bottom dot "
                "to another layer to connect them · F fits the model in view", 0)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self.autosaver.discard()  # saved, or deliberately thrown away
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(STATE_VERSION))
        if self.scene is not None:
            self.scene.detach()
        self.parameter_editor.detach()
        self.summary.detach()
        self.code_view.detach()
        self.training_panel.shutdown()
        self.search_feature.shutdown()
        self.inspect_panel.shutdown()
        self.engines.shutdown()
        self.overview.set_scene(None)
        event.accept()
