"""The training panel's settings column: the data, epochs, batch size, optimizer and learning
rate of the ``document``'s project, and the Data… and Settings… dialogs. What it shows is the
project's; a change made here or in a dialog is one undoable edit of the document
(``Document.set_training_settings``), and the form follows ``settings_changed``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)
from shiboken6 import isValid

from netbuilder.core.project import Project
from netbuilder.ui.dialogs.common import CHOOSE_PATH, SourceCombo
from netbuilder.ui.document import Document
from netbuilder.ui.panels.search.marks import SettingSearchButton

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


def _show_dialog(dialog: QDialog, modal: bool) -> QDialog:
    """Run ``dialog`` to its end (``modal``), or open it and return at once (tests)."""
    if modal:
        dialog.exec()
        dialog.deleteLater()
    else:
        dialog.open()
    return dialog


class SettingsForm(QWidget):
    """The fields and the two dialog buttons, laid out as one form. ``worker_command()`` gives
    the data preview's worker command (None: the real worker; tests put a fake one)."""

    def __init__(self, document: Document,
                 worker_command: Callable[[], Sequence[str] | None] = lambda: None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.worker_command = worker_command
        self.data_dialog: QDialog | None = None
        self.settings_dialog: QDialog | None = None
        document.settings_changed.connect(self._settings_changed)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.data_combo = SourceCombo(lambda: self.ask_data_path())
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 100000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1 << 16)
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItems(list(OPTIMIZERS))
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(0.000001, 10.0)
        self.lr_spin.setSingleStep(0.0001)
        self.lr_spin.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.NoButtons)
        self.lr_spin.setToolTip("Learning rate")
        self.lr_spin.setMaximumWidth(76)
        self.optimizer_combo.setMaximumWidth(84)
        form.addRow("Data", self.data_combo)
        # ⚲ beside a setting: search it (a range or choices, in a popup; Train ▸ Search…)
        self.search_buttons = {
            "epochs": SettingSearchButton(document, "epochs", "int", self.epochs_spin.value),
            "batch_size": SettingSearchButton(document, "batch_size", "int",
                                              self.batch_spin.value),
            "optimizer": SettingSearchButton(document, "optimizer", "categorical",
                                             self.optimizer_combo.currentText, OPTIMIZERS),
            "learning_rate": SettingSearchButton(document, "learning_rate", "float",
                                                 self.lr_spin.value)}
        row = QHBoxLayout()
        row.addWidget(self.epochs_spin)
        row.addWidget(self.search_buttons["epochs"])
        row.addWidget(QLabel("Batch"))
        row.addWidget(self.batch_spin)
        row.addWidget(self.search_buttons["batch_size"])
        form.addRow("Epochs", row)
        row = QHBoxLayout()
        row.addWidget(self.optimizer_combo)
        row.addWidget(self.search_buttons["optimizer"])
        row.addWidget(QLabel("LR"))
        row.addWidget(self.lr_spin)
        row.addWidget(self.search_buttons["learning_rate"])
        form.addRow("Optimizer", row)
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setToolTip("Every training setting: optimizer and schedule, loss "
                                        "and metrics, checkpoint, early stopping, logs")
        self.settings_button.clicked.connect(lambda: self.open_settings())
        self.data_button = QPushButton("Data…")
        self.data_button.setToolTip("The data: source, splits, augmentation, and a preview of "
                                    "its classes and samples")
        self.data_button.clicked.connect(lambda: self.open_data_dialog())
        row = QHBoxLayout()
        row.addWidget(self.data_button)
        row.addWidget(self.settings_button)
        form.addRow("", row)

    def set_running(self, running: bool) -> None:
        """No change to the settings while training."""
        for widget in (self.data_combo, self.epochs_spin, self.batch_spin,
                       self.optimizer_combo, self.lr_spin, self.settings_button,
                       self.data_button):
            widget.setEnabled(not running)

    # -- the project's settings shown ----------------------------------------------------------

    def load_settings(self) -> None:
        """Show the project's training settings and data (defaults where it has none)."""
        self._show_settings()
        self._show_data()

    def _settings_changed(self, key: str) -> None:
        if key == "data":
            self._show_data()
        else:
            self._show_settings()

    def _show_settings(self) -> None:
        from netbuilder.runtime.training.settings import (
            SettingsError,
            TrainingSettings,
            load_settings,
        )

        try:
            settings = load_settings(self.document.project)
        except SettingsError:
            settings = TrainingSettings()
        self.epochs_spin.setValue(settings.epochs)
        self.batch_spin.setValue(settings.batch_size)
        self.optimizer_combo.setCurrentIndex(max(0, self.optimizer_combo.findText(
            settings.optimizer)))
        self.lr_spin.setValue(settings.learning_rate)

    def data_settings(self) -> dict[str, Any]:
        """The project's data: ``{"source", "options"}`` (``project.settings["data"]`` is a
        source name or that dict)."""
        data = self.document.project.settings.get("data")
        if isinstance(data, dict):
            options = data.get("options")
            return {"source": data.get("source"),
                    "options": dict(options) if isinstance(options, dict) else {}}
        return {"source": data if isinstance(data, str) and data else None, "options": {}}

    def _show_data(self) -> None:
        data = self.data_settings()
        source = data["source"]
        if isinstance(source, str) and source:
            self.data_combo.set_source(source)
        aug = data["options"].get("augmentation")
        tip = self.data_combo.toolTip().split("\n\n")[0]
        extra = []
        if data["options"]:
            from netbuilder.runtime.data import describe_augmentation

            shown = {k: v for k, v in data["options"].items() if k != "augmentation"}
            if shown:
                extra.append("Options: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
            if aug:
                extra.append(f"Augmentation: {describe_augmentation(aug)}")
        self.data_combo.setToolTip("\n\n".join([tip] + extra))

    def changes(self) -> dict[str, Any]:
        """The settings shown here, as changes over the project's settings."""
        return {"epochs": self.epochs_spin.value(), "batch_size": self.batch_spin.value(),
                "optimizer": self.optimizer_combo.currentText(),
                "learning_rate": float(self.lr_spin.value())}

    def current_settings(self) -> Any:
        """The project's training settings with the form's fields over them (defaults where
        they cannot be read)."""
        from netbuilder.runtime.training.settings import (
            SettingsError,
            TrainingSettings,
            load_settings,
        )

        try:
            return load_settings(self.document.project).updated(self.changes())
        except SettingsError:
            try:
                return TrainingSettings().updated(self.changes())
            except SettingsError:
                return TrainingSettings()

    def remember_settings(self, project: Project) -> None:
        """Keep the settings and data source (with its options) with the project (saved with
        it)."""
        training = dict(project.settings.get("training") or {})
        training.update(self.changes())
        project.settings["training"] = training
        options = self.data_settings()["options"]
        project.settings["data"] = ({"source": self.data_source(), "options": options}
                                    if options else self.data_source())

    # -- the data source -----------------------------------------------------------------------

    def data_source(self) -> str:
        return self.data_combo.currentText()

    def ask_data_path(self) -> str:
        """Ask for a data folder or file (tests replace this)."""
        path = self.document.path
        start = str(path.parent) if path else str(Path.home())
        name, _ = QFileDialog.getOpenFileName(
            self, "Training data: a .npz or .csv file (Cancel to choose a folder)", start,
            "Data files (*.npz *.csv);;All files (*)")
        if name:
            return name
        return QFileDialog.getExistingDirectory(
            self, "Training data: a folder with one sub-folder of images per class", start)

    # -- the dialogs ---------------------------------------------------------------------------

    def open_data_dialog(self, modal: bool = True) -> Any:
        """Show the data dialog; OK keeps the source and options in the project (undoable).
        ``modal=False`` returns the open dialog at once (tests)."""
        from netbuilder.core.project import project_to_dict
        from netbuilder.ui.dialogs.data import DataDialog

        data = self.data_settings()
        data["source"] = self.data_source() if self.data_source() != CHOOSE_PATH \
            else data["source"]
        dialog = DataDialog(data, lambda: project_to_dict(self.document.project),
                            lambda: self.ask_data_path(), self)
        dialog.worker_command = self.worker_command()
        self.data_dialog = dialog
        dialog.accepted.connect(lambda: self.document.data_check.preview_seen(
            dialog.result_data, dialog.preview_event))  # a class count the preview found
        dialog.accepted.connect(lambda: self.apply_data(dialog.result_data))
        return _show_dialog(dialog, modal)

    def stop_preview(self) -> None:
        """Stop a data preview still loading (the editor is closing)."""
        if self.data_dialog is not None and isValid(self.data_dialog):
            self.data_dialog.stop_preview()

    def apply_data(self, data: dict[str, Any] | None) -> bool:
        """Keep ``data`` (``{"source", "options"}``) in project.settings["data"], one undo step
        of the document; False when nothing changed."""
        if not data:
            return False
        project = self.document.project
        old = project.settings.get("data")
        new = {"source": data["source"], "options": dict(data.get("options") or {})}
        if old == new or (old == new["source"] and not new["options"]):
            return False        # the same (a bare source name is a source without options)
        return self.document.set_training_settings(new, key="data")

    def open_settings(self, modal: bool = True) -> Any:
        """Show the settings dialog; OK applies the (validated) settings to the project.
        ``modal=False`` returns the open dialog at once (tests)."""
        from netbuilder.ui.dialogs.training_settings import TrainingSettingsDialog

        graph = self.document.project.graph
        layers = [node.name for node in graph.nodes.values()]
        for block in graph.blocks.values():    # fine-tuning starts inside a base model too
            if block.is_model:
                layers += [block.graph.nodes[nid].name for nid in block.graph.topological_order()
                           if block.graph.nodes[nid].type != "Input"]
        aug = self.data_settings()["options"].get("augmentation")
        dialog = TrainingSettingsDialog(self.current_settings(), self, layers=layers,
                                        augmented=bool(aug and any(aug.values())))
        self.settings_dialog = dialog
        dialog.accepted.connect(lambda: self.apply_settings(dialog.result_settings))
        return _show_dialog(dialog, modal)

    def apply_settings(self, settings: Any) -> bool:
        """Keep ``settings`` (a valid ``TrainingSettings``) in project.settings["training"], one
        undo step of the document (so the project counts as modified); False when nothing
        changed."""
        if settings is None:
            return False
        return self.document.set_training_settings(settings.to_dict())
