"""Train ▸ Search…: what a hyperparameter search optimises and how (objective, direction, trials,
epochs per trial, time budget, sampler, pruning), over the parameters marked ⚲ for search.
The Search dock (``ui/panels/search/panel.py``) runs it."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

OBJECTIVES = ("val_loss", "val_accuracy", "loss", "accuracy")
SAMPLERS = (("tpe", "TPE (Bayesian, tree-structured)"), ("random", "Random"),
            ("grid", "Grid (every combination)"), ("gp", "Gaussian process (needs PyTorch)"))
PRUNERS = (("none", "None: every trial runs all its epochs"),
           ("median", "Median: stop a trial worse than the median after an epoch"),
           ("hyperband", "Hyperband"))
DIRECTIONS = (("auto", "Automatic (minimise losses, maximise the rest)"),
              ("minimize", "Minimise"), ("maximize", "Maximise"))


def _combo(items: Sequence[tuple[str, str]]) -> QComboBox:
    combo = QComboBox()
    for key, text in items:
        combo.addItem(text, key)
    return combo


class SearchDialog(QDialog):
    """The search's settings; ``config()`` gives them as ``runtime.search.SearchConfig``'s
    fields. ``space`` is the marked parameters as text (``dense.units=16..128``); ``problem``
    says why there is nothing to search (then Start is off)."""

    def __init__(self, space: Sequence[str], problem: str | None, epochs: int,
                 previous: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hyperparameter Search")
        layout = QVBoxLayout(self)
        what = QLabel()
        what.setWordWrap(True)
        what.setTextFormat(Qt.TextFormat.RichText)
        if problem:
            what.setText(f"<span style='color:#d93025'>{escape(problem)}</span><br>Mark values "
                         "with ⚲ in the Inspector (a layer's parameters) or beside the Training "
                         "dock's batch size, optimizer and learning rate.")
        else:
            what.setText("<b>Searched</b> (⚲ in the Inspector and the Training dock):<br>"
                         + "<br>".join(f"&nbsp;&nbsp;{escape(s)}" for s in space))
        layout.addWidget(what)
        form = QFormLayout()
        self.objective = QComboBox()
        self.objective.setEditable(True)
        self.objective.addItems(list(OBJECTIVES))
        self.objective.setToolTip("The metric each trial is judged by, at its last epoch: any "
                                  "key of the training history (val_loss, val_accuracy, …)")
        self.direction = _combo(DIRECTIONS)
        self.trials = QSpinBox()
        self.trials.setRange(1, 10000)
        self.trials.setValue(10)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100000)
        self.epochs.setValue(max(1, epochs))
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0, 7 * 24 * 60)
        self.timeout.setDecimals(0)
        self.timeout.setSuffix(" min")
        self.timeout.setSpecialValueText("none")
        self.timeout.setToolTip("Start no trial after this many minutes (none: run every trial)")
        self.sampler = _combo(SAMPLERS)
        self.pruner = _combo(PRUNERS)
        self.pruner.setCurrentIndex(1)
        self.at_once = QSpinBox()
        self.at_once.setRange(1, 1)
        self.at_once.setEnabled(False)
        self.at_once.setToolTip("The editor runs one trial at a time. To search on several "
                                "machines at once, run 'netbuilder search' on each with the "
                                "same --storage and --study (see the README).")
        form.addRow("Objective", self.objective)
        form.addRow("Direction", self.direction)
        form.addRow("Trials", self.trials)
        form.addRow("Epochs per trial", self.epochs)
        form.addRow("Time budget", self.timeout)
        form.addRow("Sampler", self.sampler)
        form.addRow("Pruning", self.pruner)
        note = QLabel("one at a time here; several machines: netbuilder search --storage")
        note.setStyleSheet("color: #5f6873;")
        note.setWordWrap(True)
        form.addRow("Trials at once", self.at_once)
        form.addRow("", note)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = buttons.addButton("Start Search",
                                              QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setEnabled(problem is None)
        self.start_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if previous:
            self.set_config(previous)

    def config(self) -> dict[str, Any]:
        """The worker job's ``config`` (``runtime.search.SearchConfig`` fields)."""
        direction = self.direction.currentData()
        minutes = self.timeout.value()
        return {"objective": self.objective.currentText().strip() or "val_loss",
                "direction": None if direction == "auto" else direction,
                "trials": self.trials.value(), "epochs": self.epochs.value(),
                "timeout": minutes * 60 if minutes > 0 else None,
                "sampler": self.sampler.currentData(), "pruner": self.pruner.currentData()}

    def set_config(self, config: dict[str, Any]) -> None:
        self.objective.setCurrentText(str(config.get("objective") or "val_loss"))
        self.direction.setCurrentIndex(max(0, self.direction.findData(
            config.get("direction") or "auto")))
        self.trials.setValue(int(config.get("trials") or 10))
        if config.get("epochs"):
            self.epochs.setValue(int(config["epochs"]))
        self.timeout.setValue((config.get("timeout") or 0) / 60)
        self.sampler.setCurrentIndex(max(0, self.sampler.findData(config.get("sampler"))))
        self.pruner.setCurrentIndex(max(0, self.pruner.findData(config.get("pruner"))))
