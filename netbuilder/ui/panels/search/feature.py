"""Hyperparameter search in the window: the Search dock, Train ▸ Search…, Train ▸ Open Search
Study… (a study in another Optuna storage, e.g. a shared one) and Train ▸ Apply Best Search
Trial, and the ⚲ marks on the node cards of layers with searched parameters (the canvas's node
notes).

The storage opened for a project (and the study asked for) is remembered in the editor's
settings, keyed by the project's path (never in the project file), and shown again when that
project is opened; choosing no storage goes back to the study in the runs folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer

from netbuilder.core.search_space import TRAINING as PROJECT_TRAINING
from netbuilder.ui.dialogs.search import OpenStudyDialog, SearchDialog
from netbuilder.ui.panels.search.marks import marked_layers
from netbuilder.ui.panels.search.panel import SearchPanel, job_base, shown_url
from netbuilder.ui.user_files import app_settings

if TYPE_CHECKING:
    from netbuilder.ui.main_window import MainWindow

OPENED_KEY = "search/opened_studies"
"""The editor's setting: ``{project path: {"storage": URL, "study": NAME}}`` as JSON."""


def _opened() -> dict[str, dict[str, str]]:
    try:
        value = json.loads(str(app_settings().value(OPENED_KEY, "") or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def remembered_study(project: Path | None) -> tuple[str, str] | None:
    """The storage and study last opened for the project at ``project``, if any."""
    if project is None:
        return None
    entry = _opened().get(str(Path(project).resolve()))
    if not isinstance(entry, dict) or not isinstance(entry.get("storage"), str):
        return None
    return entry["storage"], str(entry.get("study") or "")


def remember_study(project: Path | None, storage: str | None, study: str = "") -> None:
    """Remember (``storage`` None: forget) the study opened for the project at ``project``."""
    if project is None:
        return
    opened = _opened()
    key = str(Path(project).resolve())
    if storage:
        opened[key] = {"storage": storage, "study": study}
    elif opened.pop(key, None) is None:
        return
    app_settings().setValue(OPENED_KEY, json.dumps(opened))


class SearchFeature(QObject):
    """Plugs search into ``window`` (made after its menus and the Training dock)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        document = window.document
        self.document = document
        training = window.training_panel
        self.panel = SearchPanel(
            document, lambda create=True: training.home.base(document.path, create=create),
            lambda: job_base(document, {"source": training.form.data_source(),
                                        "options": training.form.data_settings()["options"]},
                             training.form.changes()), gpus=self.gpus)
        self.dock = window._dock("Search", "searchDock", self.panel,
                                 Qt.DockWidgetArea.BottomDockWidgetArea)
        window.tabifyDockWidget(window.inspect_dock, self.dock)
        window.summary_dock.raise_()
        self.panel.search_button.clicked.connect(lambda: self.open_dialog())
        self.panel.trial_finished.connect(lambda _e: training.refresh_runs())
        menu = window.train_menu
        menu.addSeparator()
        self.search_action = menu.addAction("Searc&h…")
        self.search_action.setStatusTip("Search the values marked ⚲ for the best model "
                                        "(Optuna): trials, sampler, pruning")
        self.search_action.triggered.connect(lambda _c=False: self.open_dialog())
        self.open_study_action = menu.addAction("&Open Search Study…")
        self.open_study_action.setStatusTip("Show a study from an Optuna storage (netbuilder "
                                            "search --storage) in the Search dock")
        self.open_study_action.triggered.connect(lambda _c=False: self.open_study_dialog())
        self.apply_action = menu.addAction("Apply Best Search Trial")
        self.apply_action.setStatusTip("Set the best trial's values on the model and settings")
        self.apply_action.triggered.connect(lambda _c=False: self.panel.apply_best())
        window.view_menu.addAction(self.dock.toggleViewAction())
        self.panel.running_changed.connect(self._running)
        self.panel.storage_opened.connect(
            lambda url, study: remember_study(self.document.path, url, study))
        document.search_changed.connect(self.show_marks)
        document.project_replaced.connect(  # the window makes the new scene right after
            lambda: QTimer.singleShot(0, self, self._project_opened))
        self._running(False)
        QTimer.singleShot(0, self, self._project_opened)

    def _project_opened(self) -> None:
        self.show_marks()
        opened = remembered_study(self.document.path)
        if opened is not None:      # the storage last opened for this project
            self.panel.open_storage(*opened)
        else:
            self.panel.load_study()     # an earlier session's search, to look at and resume

    def open_study_dialog(self, start: bool = True) -> OpenStudyDialog:
        """Train ▸ Open Search Study…: the dialog; accepted, the Search dock shows that study
        (no storage: the runs folder's again)."""
        panel = self.panel
        storage, study, studies = panel.storage or "", panel.study_name or "", panel.studies
        if not storage:
            storage, study = remembered_study(self.document.path) or ("", "")
        dialog = OpenStudyDialog(storage, study, studies if panel.storage else (), self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.open_study(dialog.storage(), dialog.study()))
        if start:
            dialog.open()
        return dialog

    def open_study(self, storage: str, study: str = "") -> bool:
        """Show the study ``study`` ("": the newest) of ``storage`` ("": the runs folder's) in
        the Search dock; False while a search runs."""
        if self.panel.is_running():
            self.window.statusBar().showMessage("A search is running: stop it before opening "
                                                "another study.", 5000)
            return False
        self.dock.show()
        self.dock.raise_()
        if storage:
            return self.panel.open_storage(storage, study)
        remember_study(self.document.path, None)
        self.panel.load_study()
        return True

    def _running(self, running: bool) -> None:
        self.search_action.setEnabled(not running)
        self.open_study_action.setEnabled(not running)
        self.apply_action.setEnabled(self.panel.apply_button.isEnabled())

    def show_marks(self) -> None:
        """⚲ and the searched parameters' names on the searched layers' cards."""
        scene = self.window.scene
        if scene is not None:
            scene.set_node_notes(marked_layers(self.document.graph,
                                               self.document.project.search), source="search")

    def space(self) -> tuple[list[str], str | None]:
        """The marked parameters as text, and why they cannot be searched (None: they can)."""
        from netbuilder.core.search_space import SearchError
        from netbuilder.runtime.search import space_for

        try:
            return [d.text() for d in space_for(self.document.project)], None
        except SearchError as err:
            return [], str(err)

    def gpus(self) -> list[int]:
        """The GPUs parallel trials take turns on: those the project's devices setting names,
        else every GPU this machine has (none on a CPU-only one)."""
        from netbuilder.runtime.search import search_gpus

        training = self.document.project.settings.get("training") or {}
        return search_gpus(training.get("devices"))

    def open_dialog(self, start: bool = True) -> SearchDialog:
        """Train ▸ Search…: the dialog; accepted, the search starts in the Search dock."""
        space, problem = self.space()
        epochs = self.window.training_panel.form.epochs_spin.value()
        searched = f"{PROJECT_TRAINING}.epochs" in (self.document.project.search or {})
        storage = self.panel.storage
        target = (f"Continues the study {self.panel.study_name!r} in {shown_url(storage)} "
                  "(Train ▸ Open Search Study… to change)"
                  if storage is not None and self.panel.study_name else None)
        dialog = SearchDialog(space, problem, min(epochs, 5), self.panel.config or None,
                              self.window, gpus=self.gpus(), epochs_searched=searched,
                              target=target)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.start(dialog.config()))
        if start:
            dialog.open()
        return dialog

    def start(self, config: dict[str, Any]) -> bool:
        self.dock.show()
        self.dock.raise_()
        return self.panel.start(config)

    def shutdown(self) -> None:
        self.panel.shutdown()
