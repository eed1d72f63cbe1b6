"""A recorded ``model.compile(...)`` as the project's training settings (in the child process,
where the optimizer and loss objects live): the optimizer and its learning rate (momentum and
nesterov for SGD, weight decay for AdamW, clipnorm), the loss (one, or one per output with its
weight) and the metrics. What the settings cannot hold is said in a note."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.runtime.training.settings import OPTIMIZERS, SettingsError, TrainingSettings


def _name(value: Any) -> str | None:
    """A loss or metric as the name Keras knows it by ("binary_crossentropy", "accuracy")."""
    if value is None or isinstance(value, str):
        return value
    fn = getattr(value, "fn", None)             # a LossFunctionWrapper / MeanMetricWrapper
    for candidate in (fn, value):
        name = getattr(candidate, "__name__", None)
        if isinstance(name, str) and name != "<lambda>":
            return name
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else None


def _optimizer(value: Any, changes: dict[str, Any], notes: list[str]) -> None:
    import keras

    try:
        optimizer = keras.optimizers.get(value)
    except (ValueError, TypeError) as err:
        notes.append(f"optimizer {value!r} not understood ({err}); the project keeps Adam")
        return
    kind = type(optimizer).__name__.lower()
    if kind not in OPTIMIZERS:
        notes.append(f"optimizer {type(optimizer).__name__}: NetBuilder trains with "
                     f"{', '.join(OPTIMIZERS)}; the project keeps Adam at the same learning rate")
    else:
        changes["optimizer"] = kind
    rate = optimizer.learning_rate
    if isinstance(getattr(optimizer, "_learning_rate", None),
                  keras.optimizers.schedules.LearningRateSchedule):
        notes.append("a learning-rate schedule object: its first rate is taken (choose the "
                     "schedule in Train ▸ Settings…)")
    # float32 in Keras: 1e-4 comes back as 9.999999747378752e-05
    changes["learning_rate"] = float(f"{float(keras.ops.convert_to_numpy(rate)):.7g}")
    if kind == "sgd":
        changes["momentum"] = float(optimizer.momentum)
        changes["nesterov"] = bool(optimizer.nesterov)
    if kind == "adamw":
        changes["weight_decay"] = float(optimizer.weight_decay)
    if getattr(optimizer, "clipnorm", None):
        changes["clipnorm"] = float(optimizer.clipnorm)


def _losses(loss: Any, weights: Any, outputs: Sequence[str], changes: dict[str, Any],
            notes: list[str]) -> None:
    if loss is None:
        return
    if isinstance(loss, Mapping) or (isinstance(loss, (list, tuple)) and len(outputs) > 1):
        items = loss.items() if isinstance(loss, Mapping) else zip(outputs, loss)
        if isinstance(weights, Mapping):
            weight_of = dict(weights)
        elif isinstance(weights, (list, tuple)):
            weight_of = dict(zip(outputs, weights))
        else:
            weight_of = {}
        changes["output_losses"] = {
            str(out): {"loss": _name(value), "weight": float(weight_of.get(out, 1.0))}
            for out, value in items}
        return
    if isinstance(loss, (list, tuple)):
        loss = loss[0] if loss else None
    name = _name(loss)
    if name is None:
        notes.append("the loss is a Python function NetBuilder cannot keep; the loss follows "
                     "the output layer")
    else:
        changes["loss"] = name


def _metrics(metrics: Any, changes: dict[str, Any], notes: list[str]) -> None:
    if metrics is None:
        return
    if isinstance(metrics, Mapping):
        notes.append("metrics given per output: all of them are kept for every output")
        metrics = [m for value in metrics.values()
                   for m in (value if isinstance(value, (list, tuple)) else [value])]
    if not isinstance(metrics, (list, tuple)):
        metrics = [metrics]
    names: list[str] = []
    for metric in metrics:
        name = _name(metric)
        if name is None:
            notes.append(f"metric {metric!r} cannot be kept (a Python function)")
        elif name not in names:
            names.append(name)
    changes["metrics"] = names


def training_settings(compiled: Mapping[str, Any], model: Any) -> tuple[dict[str, Any], list[str]]:
    """``(settings as a dict, notes)`` for the arguments of a recorded ``compile``."""
    notes: list[str] = []
    changes: dict[str, Any] = {}
    _optimizer(compiled.get("optimizer", "rmsprop"), changes, notes)
    outputs = [str(n) for n in getattr(model, "output_names", [])]
    _losses(compiled.get("loss"), compiled.get("loss_weights"), outputs, changes, notes)
    _metrics(compiled.get("metrics"), changes, notes)
    ignored = [k for k in ("weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile")
               if compiled.get(k) not in (None, False, 1, "auto")]
    if ignored:
        notes.append(f"compile's {', '.join(ignored)} not kept")
    try:
        settings = TrainingSettings().updated(changes)
    except SettingsError as err:
        notes.append(f"compile's settings not kept ({err}); the project keeps the defaults")
        settings = TrainingSettings()
    described = [f"{settings.optimizer} at learning rate {settings.learning_rate:g}"]
    if settings.loss:
        described.append(f"loss {settings.loss}")
    if settings.metrics:
        described.append(f"metrics {', '.join(settings.metrics)}")
    notes.insert(0, "compile(...) read, not run: " + ", ".join(described))
    return settings.to_dict(), notes
