"""The training panel's Runs tab: this project's runs read back from ``<project>-runs/``, newest
first. Tick runs to draw their validation curves behind the current run's; open a run's folder,
use its weights, or delete it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from netbuilder.ui import theme
from netbuilder.ui.panels.training.curves import run_color
from netbuilder.ui.panels.training.runs import Run, list_runs


class RunsTab(QWidget):
    """The runs list and its buttons; the panel decides what using or deleting a run means."""

    ticks_changed = Signal()         # runs were ticked or unticked: redraw their curves
    use_clicked = Signal()
    delete_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[Run] = []
        self.busy = False                       # training now: no run can be used
        self.busy_folder: Path | None = None    # the run training now: it cannot be deleted
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        self.runs_note = QLabel()
        self.runs_note.setWordWrap(True)
        self.runs_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.runs_list = QListWidget()
        small = self.runs_list.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() - 1))
        self.runs_list.setFont(small)
        self.runs_list.setIconSize(QSize(12, 12))
        self.runs_list.setToolTip("This project's runs, newest first. Tick runs to draw their "
                                  "validation curves behind the current run's.")
        self.runs_list.itemChanged.connect(self._run_ticked)
        self.runs_list.currentRowChanged.connect(lambda _: self.update_buttons())
        self.open_run_button = QPushButton("Open folder")
        self.open_run_button.setToolTip("Show the run's files: run.json, history.json, "
                                        "model.keras, best.keras")
        self.open_run_button.clicked.connect(lambda: self.open_run_folder())
        self.use_run_button = QPushButton("Use this run")
        self.use_run_button.setToolTip("Use this run's weights (its model.keras): Continue "
                                       "trains on from them, and the Inspect dock shows them; "
                                       "its curves are shown")
        self.use_run_button.clicked.connect(self.use_clicked)
        self.delete_run_button = QPushButton("Delete")
        self.delete_run_button.setToolTip("Delete the run's folder (asks first)")
        self.delete_run_button.clicked.connect(self.delete_clicked)
        buttons = QHBoxLayout()
        for button in (self.open_run_button, self.use_run_button, self.delete_run_button):
            buttons.addWidget(button)
        box.addWidget(self.runs_note)
        box.addWidget(self.runs_list, 1)
        box.addLayout(buttons)

    def refresh(self, base: Path | None, signature: str | None, shown: Path | None,
                saved: bool) -> None:
        """Read the runs in ``base`` again (ticked runs stay ticked; None: no runs folder yet):
        those whose graph ``signature`` differs are marked, the run ``shown`` is bold;
        ``saved``: the project has a file (else its runs are in a temporary folder)."""
        ticked = {r.folder for r in self.ticked_runs()}
        current = self.runs_list.currentItem()
        selected = current.data(Qt.ItemDataRole.UserRole).folder if current else None
        self.runs = list_runs(base) if base is not None else []
        listing = self.runs_list
        listing.blockSignals(True)
        listing.clear()
        for k, run in enumerate(self.runs):
            text = run.describe()
            tip = [run.details()]
            item = QListWidgetItem()
            if run.signature is not None and run.signature != signature:
                text += "\n⚠ trained an earlier version of the graph"
                tip.append("This run trained an earlier version of the graph: its weights may "
                           "not fit the model on the canvas.")
                item.setForeground(QBrush(theme.MUTED))
            if shown is not None and run.folder == shown:
                bold = item.font()
                bold.setBold(True)
                item.setFont(bold)
                tip.append("Its curves are the ones shown.")
            item.setText(text)
            item.setToolTip("\n".join(tip))
            item.setData(Qt.ItemDataRole.UserRole, run)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if run.folder in ticked
                               else Qt.CheckState.Unchecked)
            self._color_run_item(item, k)
            listing.addItem(item)
            if run.folder == selected:
                listing.setCurrentItem(item)
        listing.blockSignals(False)
        if not saved:
            where = f" ({base})" if base is not None else ""
            self.runs_note.setText(f"This project is not saved: its runs are kept in a "
                                   f"temporary folder{where} until it is saved, then beside "
                                   f"it.")
        elif self.runs:
            self.runs_note.setText(f"Runs kept in {base.name}/ beside the project. Tick runs "
                                   f"to compare their validation curves.")
        else:
            self.runs_note.setText(f"No runs yet. Each run is kept in {base.name}/ beside the "
                                   "project.")
        self.update_buttons()

    def _color_run_item(self, item: QListWidgetItem, k: int) -> None:
        if item.checkState() == Qt.CheckState.Checked:
            pixmap = QPixmap(12, 12)
            pixmap.fill(run_color(k))
            item.setIcon(QIcon(pixmap))
        else:
            item.setIcon(QIcon())

    def ticked(self) -> list[tuple[int, Run]]:
        """The ticked runs with their rows (which give their colours)."""
        out = []
        for k in range(self.runs_list.count()):
            item = self.runs_list.item(k)
            if item.checkState() == Qt.CheckState.Checked:
                out.append((k, item.data(Qt.ItemDataRole.UserRole)))
        return out

    def ticked_runs(self) -> list[Run]:
        return [run for _, run in self.ticked()]

    def set_run_ticked(self, row: int, ticked: bool) -> None:
        self.runs_list.item(row).setCheckState(Qt.CheckState.Checked if ticked
                                               else Qt.CheckState.Unchecked)

    def _run_ticked(self, item: QListWidgetItem) -> None:
        self.runs_list.blockSignals(True)
        self._color_run_item(item, self.runs_list.row(item))
        self.runs_list.blockSignals(False)
        self.ticks_changed.emit()

    def selected_run(self) -> Run | None:
        item = self.runs_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def update_buttons(self) -> None:
        run = self.selected_run()
        self.open_run_button.setEnabled(run is not None)
        self.use_run_button.setEnabled(run is not None and not self.busy
                                       and run.model_path.is_file())
        self.delete_run_button.setEnabled(run is not None and not (
            self.busy_folder is not None and run.folder == self.busy_folder))

    def open_run_folder(self) -> bool:
        run = self.selected_run()
        if run is None:
            return False
        return self.open_url(QUrl.fromLocalFile(str(run.folder)))

    def open_url(self, url: QUrl) -> bool:
        """Open a folder in the file manager (tests replace this)."""
        return QDesktopServices.openUrl(url)

    def confirm_delete(self, run: Run) -> bool:
        """Ask before deleting a run (tests replace this)."""
        answer = QMessageBox.question(
            self, "Delete run", f"Delete the run of {run.when()} and its files "
                                f"(model, checkpoint, history)?\n\n{run.folder}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes
