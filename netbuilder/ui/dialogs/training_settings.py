"""The training settings dialog: every field of ``TrainingSettings`` with an editor that fits it.

The values are checked with ``TrainingSettings.validate()`` when OK is pressed; a problem is shown
in the dialog (which stays open) and nothing is applied. ``result_settings`` holds the accepted
settings. No TensorFlow is imported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from netbuilder.runtime.training.settings import (
    OPTIMIZERS,
    SCHEDULES,
    SettingsError,
    TrainingSettings,
)
from netbuilder.ui.dialogs.common import FormDialog, add_rows

LOSSES = ("", "categorical_crossentropy", "sparse_categorical_crossentropy",
          "binary_crossentropy", "mse", "mae", "huber", "kl_divergence")
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")
SUGGESTED = "(suggested)"
NO_FINE_TUNING = "(no fine-tuning)"
TTA_TIP = ("Test-time augmentation: the final evaluation also averages the predictions over "
           "this many augmented copies of each sample, and shows the metrics without and with "
           "it; off: none")
TTA_OFF_TIP = ("Test-time augmentation needs augmentation: set it in the data settings "
               "(Data…) first")
def _double(decimals: int, low: float, high: float, step: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(decimals)
    spin.setRange(low, high)
    spin.setSingleStep(step)
    return spin


def _int(low: int, high: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    return spin


def _monitor_combo() -> QComboBox:
    combo = QComboBox()
    combo.setEditable(True)
    combo.addItems(list(MONITORS))
    return combo


class TrainingSettingsDialog(FormDialog):
    """Edit ``settings`` (a ``TrainingSettings``); ``result_settings`` is set on OK."""

    def __init__(self, settings: TrainingSettings, parent: QWidget | None = None,
                 layers: Sequence[str] = (), augmented: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("trainingSettingsDialog")
        self.setWindowTitle("Training settings")
        self.result_settings: TrainingSettings | None = None
        self.layers = list(layers)
        self.augmented = augmented     # the data options have augmentation (TTA needs it)
        self._build()
        self.set_settings(settings)

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        tabs = QTabWidget()

        # optimizer and schedule
        page = QWidget()
        form = QFormLayout(page)
        self.optimizer = QComboBox()
        self.optimizer.addItems(list(OPTIMIZERS))
        self.optimizer.setToolTip("sgd (with momentum), rmsprop, adam, adamw")
        self.learning_rate = _double(7, 0.0, 10.0, 0.0001)
        self.momentum = _double(4, 0.0, 1.0, 0.05)
        self.nesterov = QCheckBox("Nesterov momentum")
        self.weight_decay = _double(6, 0.0, 1.0, 0.001)
        self.clip = QCheckBox("Clip gradients by norm")
        self.clipnorm = _double(4, 0.0, 1e6, 0.1)
        clip_row = QHBoxLayout()
        clip_row.addWidget(self.clip)
        clip_row.addWidget(self.clipnorm)
        self.schedule = QComboBox()
        self.schedule.addItems(list(SCHEDULES))
        self.schedule.setToolTip("constant; step: multiply every N epochs; cosine decay; "
                                 "plateau: reduce when val_loss stalls")
        self.step_epochs = _int(0, 100000)
        self.step_factor = _double(4, 0.0, 10.0, 0.05)
        self.cosine_alpha = _double(4, 0.0, 1.0, 0.05)
        self.plateau_factor = _double(4, 0.0, 10.0, 0.05)
        self.plateau_patience = _int(0, 100000)
        self.min_learning_rate = _double(9, 0.0, 10.0, 1e-6)
        self.optimizer_rows: dict[str, list[QWidget]] = {
            "sgd": [self.momentum, self.nesterov], "adamw": [self.weight_decay]}
        self.schedule_rows: dict[str, list[QWidget]] = {
            "step": [self.step_epochs, self.step_factor], "cosine": [self.cosine_alpha],
            "plateau": [self.plateau_factor, self.plateau_patience, self.min_learning_rate]}
        add_rows(form, ("Optimizer", self.optimizer), ("Learning rate", self.learning_rate),
                 ("Momentum", self.momentum), ("", self.nesterov),
                 ("Weight decay", self.weight_decay), ("Gradient clipping", clip_row),
                 ("Schedule", self.schedule), ("Every N epochs", self.step_epochs),
                 ("Multiply by", self.step_factor),
                 ("Final fraction (alpha)", self.cosine_alpha),
                 ("Plateau factor", self.plateau_factor),
                 ("Plateau patience", self.plateau_patience),
                 ("Minimum rate", self.min_learning_rate))
        self._form_optimizer = form
        tabs.addTab(page, "Optimizer")

        # loss, metrics, batches
        page = QWidget()
        form = QFormLayout(page)
        self.loss = QComboBox()
        self.loss.setEditable(True)
        self.loss.addItems(list(LOSSES))
        self.loss.lineEdit().setPlaceholderText(SUGGESTED)
        self.loss.setToolTip("Blank: suggested from the output layer and the labels")
        self.metrics = QLineEdit()
        self.metrics.setPlaceholderText("accuracy (classification) or mae (regression)")
        self.metrics.setToolTip("Metric names separated by commas; blank: the default")
        self.output_losses = QLineEdit()
        self.output_losses.setPlaceholderText('{"output": {"loss": "mse", "weight": 0.5}}')
        self.output_losses.setToolTip("Multi-output models: a loss and loss weight per output, "
                                      "as JSON; blank: the same loss for every output")
        self.batch_size = _int(0, 1 << 20)
        self.epochs = _int(0, 1000000)
        self.shuffle = QCheckBox("Shuffle the training data each epoch")
        self.use_seed = QCheckBox("Fixed random seed")
        self.seed = _int(0, 2 ** 31 - 1)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.use_seed)
        seed_row.addWidget(self.seed)
        form.addRow("Loss", self.loss)
        form.addRow("Metrics", self.metrics)
        form.addRow("Per-output losses", self.output_losses)
        form.addRow("Batch size", self.batch_size)
        self.devices = QComboBox()
        self.devices.setEditable(True)
        self.devices.addItems(["auto", "all", "gpu:0", "gpu:0,1", "cpu:2"])
        self.devices.setToolTip("auto: every GPU, else the CPU; gpu:0,1: those GPUs; cpu:N: the "
                                "CPU as N devices. Several devices train under MirroredStrategy; "
                                "the batch size is then the global batch, split among them")
        form.addRow("Devices", self.devices)
        form.addRow("Epochs", self.epochs)
        form.addRow("", self.shuffle)
        form.addRow("Seed", seed_row)
        self.tta = _int(0, 1000)
        self.tta.setSpecialValueText("off")
        self.tta.setPrefix("×")
        self.tta.setToolTip(TTA_TIP if self.augmented else TTA_OFF_TIP)
        self.tta.setEnabled(self.augmented)
        form.addRow("Test-time augmentation", self.tta)
        tabs.addTab(page, "Loss && metrics")

        # callbacks
        page = QWidget()
        form = QFormLayout(page)
        self.checkpoint = QCheckBox("Keep the best model (best.keras)")
        self.checkpoint_monitor = _monitor_combo()
        self.early_stopping = QCheckBox("Stop early when the metric stops improving")
        self.early_stopping_monitor = _monitor_combo()
        self.patience = _int(0, 100000)
        self.min_delta = _double(6, 0.0, 1e6, 0.001)
        self.restore_best_weights = QCheckBox("Restore the best weights")
        self.terminate_on_nan = QCheckBox("Stop when the loss becomes NaN")
        self.csv_log = QCheckBox("CSV log (training.csv)")
        self.tensorboard = QCheckBox("TensorBoard logs (tensorboard/)")
        form.addRow(self.checkpoint)
        form.addRow("Checkpoint monitor", self.checkpoint_monitor)
        form.addRow(self.early_stopping)
        form.addRow("Monitor", self.early_stopping_monitor)
        form.addRow("Patience (epochs)", self.patience)
        form.addRow("Min delta", self.min_delta)
        form.addRow("", self.restore_best_weights)
        form.addRow(self.terminate_on_nan)
        form.addRow(self.csv_log)
        form.addRow(self.tensorboard)
        tabs.addTab(page, "Callbacks")
        tabs.addTab(self._fine_tuning_page(), "Fine-tuning")
        self.tabs = tabs

        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        self.add_footer(layout, lambda: self.set_settings(TrainingSettings()), "settingsError")

        self.optimizer.currentTextChanged.connect(self._update_enabled)
        self.schedule.currentTextChanged.connect(self._update_enabled)
        for box in (self.clip, self.use_seed, self.checkpoint, self.early_stopping):
            box.toggled.connect(self._update_enabled)

    def _fine_tuning_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        about = QLabel("Two stages, as in transfer learning: first train with the settings on "
                       "the other tabs (frozen layers stay frozen), then unfreeze every layer "
                       "from the one chosen here to the output and train some more epochs at "
                       "a low learning rate.")
        about.setWordWrap(True)
        self.fine_tune_from = QComboBox()
        self.fine_tune_from.setEditable(True)
        self.fine_tune_from.addItem("")
        self.fine_tune_from.addItems(self.layers)
        self.fine_tune_from.lineEdit().setPlaceholderText(NO_FINE_TUNING)
        self.fine_tune_from.setToolTip("The first layer to unfreeze (a layer of the model, or "
                                       "one inside a nested model such as block5_conv1); "
                                       "blank: no fine-tuning")
        self.fine_tune_epochs = _int(0, 1000000)
        self.fine_tune_epochs.setToolTip("Epochs of the fine-tuning stage (0: none)")
        self.fine_tune_learning_rate = _double(8, 0.0, 10.0, 1e-5)
        self.fine_tune_learning_rate.setToolTip("Learning rate of the fine-tuning stage, "
                                                "usually far below the first stage's")
        form.addRow(about)
        form.addRow("Unfreeze from layer", self.fine_tune_from)
        form.addRow("Fine-tuning epochs", self.fine_tune_epochs)
        form.addRow("Fine-tuning rate", self.fine_tune_learning_rate)
        self.fine_tune_from.currentTextChanged.connect(self._update_enabled)
        return page

    def _update_enabled(self, *_: Any) -> None:
        optimizer = self.optimizer.currentText()
        for name, widgets in self.optimizer_rows.items():
            for widget in widgets:
                widget.setEnabled(name == optimizer)
        schedule = self.schedule.currentText()
        for name, widgets in self.schedule_rows.items():
            for widget in widgets:
                widget.setEnabled(name == schedule)
        self.clipnorm.setEnabled(self.clip.isChecked())
        self.seed.setEnabled(self.use_seed.isChecked())
        self.checkpoint_monitor.setEnabled(self.checkpoint.isChecked())
        early = self.early_stopping.isChecked()
        for widget in (self.early_stopping_monitor, self.patience, self.min_delta,
                       self.restore_best_weights):
            widget.setEnabled(early)
        tuning = bool(self.fine_tune_from.currentText().strip())
        self.fine_tune_epochs.setEnabled(tuning)
        self.fine_tune_learning_rate.setEnabled(tuning)

    # -- values --------------------------------------------------------------------------------

    def set_settings(self, s: TrainingSettings) -> None:
        def pick(combo: QComboBox, text: str) -> None:
            index = combo.findText(text)
            if index < 0 and combo.isEditable():
                combo.setEditText(text)
            else:
                combo.setCurrentIndex(max(0, index))

        pick(self.optimizer, s.optimizer)
        self.learning_rate.setValue(s.learning_rate)
        self.momentum.setValue(s.momentum)
        self.nesterov.setChecked(s.nesterov)
        self.weight_decay.setValue(s.weight_decay)
        self.clip.setChecked(s.clipnorm is not None)
        self.clipnorm.setValue(s.clipnorm if s.clipnorm is not None else 1.0)
        pick(self.schedule, s.schedule)
        self.step_epochs.setValue(s.step_epochs)
        self.step_factor.setValue(s.step_factor)
        self.cosine_alpha.setValue(s.cosine_alpha)
        self.plateau_factor.setValue(s.plateau_factor)
        self.plateau_patience.setValue(s.plateau_patience)
        self.min_learning_rate.setValue(s.min_learning_rate)
        pick(self.loss, s.loss or "")
        self.metrics.setText(", ".join(s.metrics) if s.metrics is not None else "")
        self.output_losses.setText(json.dumps(s.output_losses) if s.output_losses else "")
        self.batch_size.setValue(s.batch_size)
        pick(self.devices, s.devices)
        self.epochs.setValue(s.epochs)
        self.shuffle.setChecked(s.shuffle)
        self.use_seed.setChecked(s.seed is not None)
        self.seed.setValue(s.seed if s.seed is not None else 0)
        self.checkpoint.setChecked(s.checkpoint)
        pick(self.checkpoint_monitor, s.checkpoint_monitor)
        self.early_stopping.setChecked(s.early_stopping)
        pick(self.early_stopping_monitor, s.early_stopping_monitor)
        self.patience.setValue(s.patience)
        self.min_delta.setValue(s.min_delta)
        self.restore_best_weights.setChecked(s.restore_best_weights)
        self.terminate_on_nan.setChecked(s.terminate_on_nan)
        self.csv_log.setChecked(s.csv_log)
        self.tensorboard.setChecked(s.tensorboard)
        self.fine_tune_from.setEditText(s.fine_tune_from or "")
        self.fine_tune_epochs.setValue(int(s.fine_tune_epochs))
        self.fine_tune_learning_rate.setValue(float(s.fine_tune_learning_rate))
        self.tta.setValue(int(s.tta))
        self._update_enabled()
        self.show_error(None)

    def values(self) -> dict[str, Any]:
        """The fields as shown, as a ``TrainingSettings`` dict (not yet validated); raises
        ``SettingsError`` for text that cannot be read (the per-output losses' JSON)."""
        loss = self.loss.currentText().strip()
        metrics_text = self.metrics.text().strip()
        metrics = ([m.strip() for m in metrics_text.split(",") if m.strip()]
                   if metrics_text else None)
        text = self.output_losses.text().strip()
        try:
            output_losses = json.loads(text) if text else {}
        except ValueError as err:
            raise SettingsError(f"per-output losses must be JSON such as "
                                f'{{"output": {{"loss": "mse", "weight": 0.5}}}} ({err})'
                                ) from None
        values: dict[str, Any] = {
            "optimizer": self.optimizer.currentText(),
            "learning_rate": float(self.learning_rate.value()),
            "momentum": float(self.momentum.value()),
            "nesterov": self.nesterov.isChecked(),
            "weight_decay": float(self.weight_decay.value()),
            "schedule": self.schedule.currentText(),
            "step_epochs": self.step_epochs.value(),
            "step_factor": float(self.step_factor.value()),
            "cosine_alpha": float(self.cosine_alpha.value()),
            "plateau_factor": float(self.plateau_factor.value()),
            "plateau_patience": self.plateau_patience.value(),
            "min_learning_rate": float(self.min_learning_rate.value()),
            "clipnorm": float(self.clipnorm.value()) if self.clip.isChecked() else None,
            "loss": loss or None,
            "output_losses": output_losses,
            "metrics": metrics,
            "batch_size": self.batch_size.value(),
            "devices": self.devices.currentText().strip() or "auto",
            "epochs": self.epochs.value(),
            "shuffle": self.shuffle.isChecked(),
            "seed": self.seed.value() if self.use_seed.isChecked() else None,
            "checkpoint": self.checkpoint.isChecked(),
            "checkpoint_monitor": self.checkpoint_monitor.currentText().strip(),
            "early_stopping": self.early_stopping.isChecked(),
            "early_stopping_monitor": self.early_stopping_monitor.currentText().strip(),
            "patience": self.patience.value(),
            "min_delta": float(self.min_delta.value()),
            "restore_best_weights": self.restore_best_weights.isChecked(),
            "terminate_on_nan": self.terminate_on_nan.isChecked(),
            "tensorboard": self.tensorboard.isChecked(),
            "csv_log": self.csv_log.isChecked(),
        }
        values["fine_tune_from"] = self.fine_tune_from.currentText().strip() or None
        values["fine_tune_epochs"] = self.fine_tune_epochs.value()
        values["fine_tune_learning_rate"] = float(self.fine_tune_learning_rate.value())
        values["tta"] = self.tta.value()
        return values

    def settings(self) -> TrainingSettings:
        """The validated settings; raises ``SettingsError``."""
        return TrainingSettings.from_dict(self.values())

    def accept(self) -> None:
        try:
            settings = self.settings()
        except SettingsError as err:
            self.show_error(f"Not applied: {err}.")
            return
        except (TypeError, ValueError) as err:   # e.g. JSON of the wrong shape
            self.show_error(f"Not applied: {err}.")
            return
        self.show_error(None)
        self.result_settings = settings
        super().accept()
