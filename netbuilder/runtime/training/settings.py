"""Training settings: what ``model.compile`` and ``model.fit`` need besides the model and the
data, kept in ``project.settings["training"]``. No Keras, TensorFlow or numpy here, so that the
editor reads and edits them at start-up without loading any of those (``training.py`` runs them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from netbuilder.runtime.devices import DeviceError, parse_devices

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "plateau")
SETTINGS_KEY = "training"
DATA_KEY = "data"


class SettingsError(Exception):
    """Training settings that cannot be used; ``str(err)`` is for the user."""


@dataclass
class TrainingSettings:
    """Everything ``model.compile`` and ``model.fit`` need besides the model and the data."""

    optimizer: str = "adam"              # sgd (with momentum), rmsprop, adam, adamw
    learning_rate: float = 0.001
    momentum: float = 0.9                # sgd
    nesterov: bool = False               # sgd
    weight_decay: float = 0.004          # adamw
    schedule: str = "constant"           # constant, step, cosine, plateau
    step_epochs: int = 10                # step: multiply the rate by step_factor every N epochs
    step_factor: float = 0.5
    cosine_alpha: float = 0.0            # cosine: final rate as a fraction of the first
    plateau_factor: float = 0.5          # plateau: multiply by this when val_loss stalls
    plateau_patience: int = 3
    min_learning_rate: float = 1e-6
    clipnorm: float | None = None        # gradient clipping by norm
    loss: str | None = None              # None: suggested from the output layer and labels
    output_losses: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per output of a multi-output model: {"box_output": {"loss": "mse", "weight": 0.5}}
    metrics: list[str] | None = None     # None: accuracy (classification) or mae (regression)
    batch_size: int = 32
    epochs: int = 10
    shuffle: bool = True
    seed: int | None = None
    checkpoint: bool = True              # keep the best model as best.keras
    checkpoint_monitor: str = "val_loss"
    early_stopping: bool = False
    early_stopping_monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best_weights: bool = True
    terminate_on_nan: bool = True
    tensorboard: bool = False            # logs in OUT/tensorboard
    csv_log: bool = False                # OUT/training.csv
    # two-stage fine-tuning: after the epochs above, unfreeze from this layer (top-level or
    # inside a nested model; BatchNormalization stays frozen) and train fine_tune_epochs more
    # at fine_tune_learning_rate (kept constant: the step and cosine schedules shape stage 1
    # only; reduce-on-plateau goes on acting)
    fine_tune_from: str | None = None
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 1e-5
    # auto (every GPU, else the CPU), all, gpu:0,1 or cpu:N (runtime/devices.py); with several
    # devices batch_size is the global batch, split among them
    devices: str = "auto"
    # test-time augmentation: the final evaluation also averages the predictions over this many
    # augmented copies of each sample (the data options' augmentation), shown beside the plain
    # metrics; 0: off
    tta: int = 0

    @property
    def fine_tuning(self) -> bool:
        """Whether a second, fine-tuning stage follows the first."""
        return bool(self.fine_tune_from) and self.fine_tune_epochs > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> TrainingSettings:
        """Settings from a (possibly partial) dict; unknown keys and bad values raise
        ``SettingsError`` naming the key."""
        values = dict(values or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise SettingsError(f"unknown training setting {unknown[0]!r}")
        settings = cls(**values)
        settings.validate()
        return settings

    def updated(self, changes: Mapping[str, Any] | None) -> TrainingSettings:
        return TrainingSettings.from_dict({**self.to_dict(), **dict(changes or {})})

    def validate(self) -> None:
        def number(name: str, low: float | None = None, *, integer: bool = False,
                   optional: bool = False, above: bool = False) -> None:
            value = getattr(self, name)
            if value is None and optional:
                return
            kinds = (int,) if integer else (int, float)
            if not isinstance(value, kinds) or isinstance(value, bool) or (
                    isinstance(value, float) and not math.isfinite(value)):
                raise SettingsError(f"{name} must be a {'whole ' if integer else ''}number, "
                                    f"found {value!r}")
            if low is not None and (value <= low if above else value < low):
                raise SettingsError(f"{name} must be {'above' if above else 'at least'} {low:g}, "
                                    f"found {value!r}")

        def choice(name: str, options: tuple[str, ...]) -> None:
            value = getattr(self, name)
            if value not in options:
                raise SettingsError(f"{name} must be one of {', '.join(options)}, found {value!r}")

        if isinstance(self.optimizer, str):
            self.optimizer = self.optimizer.lower()
        choice("optimizer", OPTIMIZERS)
        choice("schedule", SCHEDULES)
        number("learning_rate", 0, above=True)
        number("momentum", 0)
        number("weight_decay", 0)
        number("step_epochs", 1, integer=True)
        number("step_factor", 0, above=True)
        number("cosine_alpha", 0)
        number("plateau_factor", 0, above=True)
        number("plateau_patience", 0, integer=True)
        number("min_learning_rate", 0)
        number("clipnorm", 0, optional=True, above=True)
        number("batch_size", 1, integer=True)
        number("epochs", 1, integer=True)
        number("patience", 0, integer=True)
        number("min_delta", 0)
        number("seed", 0, integer=True, optional=True)
        number("fine_tune_epochs", 0, integer=True)
        number("fine_tune_learning_rate", 0, above=True)
        number("tta", 0, integer=True)
        try:
            self.devices = parse_devices(self.devices).text
        except DeviceError as err:
            raise SettingsError(str(err)) from None
        if isinstance(self.fine_tune_from, str):
            self.fine_tune_from = self.fine_tune_from.strip() or None   # "" from a text field
        if self.fine_tune_from is not None and not isinstance(self.fine_tune_from, str):
            raise SettingsError(f"fine_tune_from must name a layer, found {self.fine_tune_from!r}")
        for flag in ("nesterov", "shuffle", "checkpoint", "early_stopping",
                     "restore_best_weights", "terminate_on_nan", "tensorboard", "csv_log"):
            if not isinstance(getattr(self, flag), bool):
                raise SettingsError(f"{flag} must be true or false, found {getattr(self, flag)!r}")
        for name in ("checkpoint_monitor", "early_stopping_monitor"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise SettingsError(f"{name} must name a metric such as val_loss")
        if self.loss is not None and not isinstance(self.loss, str):
            raise SettingsError(f"loss must be a Keras loss name, found {self.loss!r}")
        if self.metrics is not None and (not isinstance(self.metrics, list) or not all(
                isinstance(m, str) for m in self.metrics)):
            raise SettingsError(f"metrics must be a list of metric names, found {self.metrics!r}")
        if not isinstance(self.output_losses, dict):
            raise SettingsError("output_losses must map output names to {\"loss\", \"weight\"}")
        for name, spec in self.output_losses.items():
            if not isinstance(spec, dict) or set(spec) - {"loss", "weight"}:
                raise SettingsError(f"output_losses[{name!r}] must be {{\"loss\": NAME, "
                                    f"\"weight\": NUMBER}}, found {spec!r}")
            weight = spec.get("weight", 1.0)
            if (not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0
                    or not math.isfinite(weight)):
                raise SettingsError(f"output_losses[{name!r}] weight must be a number >= 0")
            if spec.get("loss") is not None and not isinstance(spec["loss"], str):
                raise SettingsError(f"output_losses[{name!r}] loss must be a Keras loss name")


def load_settings(project: Any) -> TrainingSettings:
    """The project's training settings (defaults where it has none)."""
    return TrainingSettings.from_dict(project.settings.get(SETTINGS_KEY))


def store_settings(project: Any, settings: TrainingSettings) -> None:
    """Keep ``settings`` in the project (saved with the project file)."""
    settings.validate()
    project.settings[SETTINGS_KEY] = settings.to_dict()
