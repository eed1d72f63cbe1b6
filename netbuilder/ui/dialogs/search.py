"""Train ▸ Search…: what a hyperparameter search optimises and how (objective, direction, trials,
epochs per trial, time budget, sampler, pruning, trials at once), over the parameters marked ⚲
for search. The Search dock (``ui/panels/search/panel.py``) runs it: trials at once are that
many search processes on one study, and with several GPUs worker k trains on GPU k mod count."""

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

from netbuilder.runtime.search import worker_gpus

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
    fields, with ``at_once`` (parallel search processes) and ``gpus`` (each one's GPU, or
    None). ``space`` is the marked parameters as text (``dense.units=16..128``); ``problem``
    says why there is nothing to search (then Start is off); ``gpus`` the GPUs the workers take
    turns on (``runtime.search.search_gpus``; none on a CPU-only machine); ``epochs_searched``:
    training.epochs is marked ⚲, which wins over epochs per trial (greyed out then)."""

    def __init__(self, space: Sequence[str], problem: str | None, epochs: int,
                 previous: dict[str, Any] | None = None, parent: QWidget | None = None,
                 gpus: Sequence[int] = (), epochs_searched: bool = False) -> None:
        super().__init__(parent)
        self.gpu_list = list(gpus)
        self.setWindowTitle("Hyperparameter Search")
        layout = QVBoxLayout(self)
        what = QLabel()
        what.setWordWrap(True)
        what.setTextFormat(Qt.TextFormat.RichText)
        if problem:
            what.setText(f"<span style='color:#d93025'>{escape(problem)}</span><br>Mark values "
                         "with ⚲ in the Inspector (a layer's parameters) or beside the Training "
                         "dock's epochs, batch size, optimizer and learning rate.")
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
        self.at_once.setRange(1, 64)
        self.at_once.setValue(1)
        self.at_once.setToolTip("Trials trained in parallel: that many search processes share "
                                "one study (Optuna). To search on several machines, run "
                                "'netbuilder search' on each with the same --storage and "
                                "--study (see the README).")
        form.addRow("Objective", self.objective)
        form.addRow("Direction", self.direction)
        form.addRow("Trials", self.trials)
        form.addRow("Epochs per trial", self.epochs)
        self.epochs_note = QLabel("training.epochs is marked ⚲: each trial's epochs are "
                                  "searched (the mark wins over this)")
        self.epochs_note.setStyleSheet("color: #5f6873;")
        self.epochs_note.setWordWrap(True)
        self.epochs.setEnabled(not epochs_searched)
        self.epochs_note.setVisible(epochs_searched)
        form.addRow("", self.epochs_note)
        form.addRow("Time budget", self.timeout)
        form.addRow("Sampler", self.sampler)
        form.addRow("Pruning", self.pruner)
        self.at_once_note = QLabel()
        self.at_once_note.setStyleSheet("color: #5f6873;")
        self.at_once_note.setWordWrap(True)
        form.addRow("Trials at once", self.at_once)
        form.addRow("", self.at_once_note)
        self.at_once.valueChanged.connect(lambda _v: self._show_placement())
        self._show_placement()
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

    def _show_placement(self) -> None:
        n = self.at_once.value()
        gpus = self.gpu_list
        if len(gpus) >= 2 and n >= 2:
            places = ", ".join(f"{k + 1} on gpu:{g}" for k, g in
                               enumerate(worker_gpus(min(n, 8), gpus)))
            text = (f"one process per trial, each on its own GPU in turn (worker k on GPU k "
                    f"mod {len(gpus)}): {places}{'…' if n > 8 else ''}")
        elif gpus:
            text = ("trials at once share the one GPU" if n >= 2 else
                    "one trial at a time; more share the GPU")
        else:
            text = ("no GPU: trials at once share this machine's CPU cores (each trains more "
                    "slowly)")
        self.at_once_note.setText(text + ". Several machines: netbuilder search --storage")

    def config(self) -> dict[str, Any]:
        """The search's settings: the worker job's ``config`` (``runtime.search.SearchConfig``
        fields) with ``at_once`` and ``gpus`` (each worker's GPU or None)."""
        direction = self.direction.currentData()
        minutes = self.timeout.value()
        at_once = self.at_once.value()
        return {"objective": self.objective.currentText().strip() or "val_loss",
                "direction": None if direction == "auto" else direction,
                "trials": self.trials.value(), "epochs": self.epochs.value(),
                "timeout": minutes * 60 if minutes > 0 else None,
                "sampler": self.sampler.currentData(), "pruner": self.pruner.currentData(),
                "at_once": at_once, "gpus": worker_gpus(at_once, self.gpu_list)}

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
        self.at_once.setValue(int(config.get("at_once") or 1))
