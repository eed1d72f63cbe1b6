"""Hyperparameter search in the window: the Search dock, Train ▸ Search… and Train ▸ Apply Best
Search Trial, and the ⚲ marks on the node cards of layers with searched parameters (the
canvas's node notes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer

from netbuilder.core.search_space import TRAINING as PROJECT_TRAINING
from netbuilder.ui.dialogs.search import SearchDialog
from netbuilder.ui.panels.search.marks import marked_layers
from netbuilder.ui.panels.search.panel import SearchPanel, job_base

if TYPE_CHECKING:
    from netbuilder.ui.main_window import MainWindow


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
        self.apply_action = menu.addAction("Apply Best Search Trial")
        self.apply_action.setStatusTip("Set the best trial's values on the model and settings")
        self.apply_action.triggered.connect(lambda _c=False: self.panel.apply_best())
        window.view_menu.addAction(self.dock.toggleViewAction())
        self.panel.running_changed.connect(self._running)
        document.search_changed.connect(self.show_marks)
        document.project_replaced.connect(  # the window makes the new scene right after
            lambda: QTimer.singleShot(0, self, self._project_opened))
        self._running(False)
        QTimer.singleShot(0, self, self._project_opened)

    def _project_opened(self) -> None:
        self.show_marks()
        self.panel.load_study()     # an earlier session's search, to look at and resume

    def _running(self, running: bool) -> None:
        self.search_action.setEnabled(not running)
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
        dialog = SearchDialog(space, problem, min(epochs, 5), self.panel.config or None,
                              self.window, gpus=self.gpus(), epochs_searched=searched)
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
