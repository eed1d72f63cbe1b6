"""The training panel's runs kept with the project: where they are (``runs.RunsHome``: beside the
project file, or an unsaved project's temporary folder, moved beside the file when it is first
saved), reading them again, using one (its curves shown, Continue trains on from its weights) and
deleting one. ``TrainingPanel`` takes these methods from ``ProjectRuns``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from netbuilder.ui import theme
from netbuilder.ui.panels.training.runs import Run, RunsHome, delete_run
from netbuilder.ui.panels.training.runs_tab import RunsTab

if TYPE_CHECKING:
    from PySide6.QtGui import QColor

    from netbuilder.ui.document import Document


class ProjectRuns:
    """The runs of ``document``'s project, shown in ``runs_tab``."""

    document: Document
    home: RunsHome
    runs_tab: RunsTab
    output_dir: Path | None
    last_model: Path | None
    history: dict[str, list[float]]
    epoch_x: list[float]
    epochs_done: int
    metric_name: str | None
    run_chosen: Any
    _runs_base: Path | None
    _adopt_runs: bool
    _overlay_dirty: bool
    _dirty: bool

    if TYPE_CHECKING:
        def is_running(self) -> bool: ...
        def clear(self) -> None: ...
        def ensure_plots(self) -> None: ...
        def refresh_plots(self) -> None: ...
        def _set_running(self, running: bool) -> None: ...
        def show_status(self, text: str, color: QColor | None = None) -> None: ...
        def show_error(self, text: str) -> None: ...

    def runs_folder(self) -> Path | None:
        """Where this project's runs are (None: never saved, and no run yet)."""
        return self.home.base(self.document.path)

    def _path_changed(self) -> None:
        if self.document.path is None or self.home.temp is None:
            return
        if self.is_running():
            self._adopt_runs = True       # moved when the run ends: the worker writes there
        else:
            self.move_runs_beside()

    def move_runs_beside(self) -> None:
        """The project was first saved: its runs move from their temporary folder to
        ``<project>-runs/`` beside the file, and the run shown goes with them."""
        path = self.document.path
        temp = self.home.temp
        self._adopt_runs = False
        if path is None or temp is None:
            return
        try:
            base = self.home.adopt(path)
        except OSError as err:
            self.show_error(f"Could not move the runs beside the project: {err}. They are in "
                            f"{temp}.")
            return
        if self.output_dir is not None and self.output_dir.parent == temp:
            self.output_dir = base / self.output_dir.name
        if self.last_model is not None and self.last_model.parent.parent == temp:
            self.last_model = base / self.last_model.parent.name / self.last_model.name
        self.refresh_runs()

    def refresh_runs(self) -> None:
        """Read this project's runs from disk again (ticked runs stay ticked)."""
        from netbuilder.core.project import project_to_dict
        from netbuilder.ui.panels.training.runs import graph_signature

        base = self.runs_folder()
        self._runs_base = base
        self.runs_tab.refresh(base, graph_signature(project_to_dict(self.document.project)),
                              self.output_dir, self.document.path is not None)
        self._overlay_dirty = True
        self.refresh_plots()

    def _update_run_buttons(self) -> None:
        self.runs_tab.busy = self.is_running()
        self.runs_tab.busy_folder = self.output_dir if self.is_running() else None
        self.runs_tab.update_buttons()

    def _runs_ticked(self) -> None:
        self._overlay_dirty = True
        self.refresh_plots()

    def use_run(self, run: Run | None = None) -> bool:
        """Show ``run``'s curves as the current ones and make Continue train on from its
        weights (its model.keras); ``run_chosen`` tells the Inspect dock."""
        run = run or self.runs_tab.selected_run()
        if run is None or self.is_running():
            return False
        if not run.model_path.is_file():
            self.show_error(f"The run {run.name} has no model.keras to continue from.")
            return False
        from netbuilder.core.project import project_to_dict
        from netbuilder.ui.panels.training.runs import graph_signature

        self.clear()
        self.ensure_plots()
        self.history = {k: list(v) for k, v in run.history.items()}
        self.epoch_x = run.epoch_numbers()
        self.epochs_done = run.initial_epoch + run.epochs
        self.metric_name = run.metric
        self.last_model = run.model_path
        self.output_dir = run.folder
        self._dirty = True
        self.refresh_plots()
        self._set_running(False)
        text = (f"Continue will train on from the run of {run.when()} "
                f"({self.epochs_done} epochs, its model.keras).")
        if run.signature is not None and run.signature != graph_signature(
                project_to_dict(self.document.project)):
            self.show_status(text + " That run trained an earlier version of the graph: its "
                                    "weights may not fit.", theme.NOTE)
        else:
            self.show_status(text)
        self.refresh_runs()
        self.run_chosen.emit({"event": "finished", "reason": run.reason,
                              "model_path": str(run.model_path), "output_dir": str(run.folder)})
        return True

    def delete_selected_run(self) -> bool:
        run = self.runs_tab.selected_run()
        base = self.runs_folder()
        if run is None or base is None:
            return False
        if self.is_running() and self.output_dir is not None and run.folder == self.output_dir:
            self.show_error("This run is training now: stop it before deleting it.")
            return False
        if not self.runs_tab.confirm_delete(run):
            return False
        try:
            delete_run(run, base)
        except OSError as err:
            self.show_error(f"Could not delete the run: {err}")
            return False
        if self.last_model is not None and self.last_model.parent == run.folder:
            self.last_model = None
            self._set_running(False)
        self.show_status(f"Deleted the run of {run.when()}.")
        self.refresh_runs()
        return True
