"""The model's outputs and the loss that fits each one's labels (sparse / categorical / binary
cross-entropy, or a regression loss), with how to convert the labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from netbuilder.runtime.data.dataset import DataError, class_indices, is_integral, is_one_hot


@dataclass
class LossChoice:
    """The loss for one output: a Keras loss name, whether the output gives logits, and why."""

    output: str
    loss: str
    from_logits: bool = False
    reason: str = ""
    classification: bool = True

    def keras_loss(self) -> Any:
        import keras

        classes = {"sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
                   "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
                   "binary_crossentropy": keras.losses.BinaryCrossentropy}
        if self.loss in classes:
            return classes[self.loss](from_logits=self.from_logits)
        return keras.losses.get(self.loss)


@dataclass
class OutputInfo:
    name: str
    shape: tuple[int | None, ...]      # without the batch axis
    activation: str


def output_classes(model: Any) -> int | None:
    """How many classes the model's (first) output tells apart: its units, or 2 for a single
    sigmoid unit; None when that is not a classifier's output."""
    outs = model_outputs(model)
    if not outs or not outs[0].shape or outs[0].shape[-1] is None:
        return None
    units = int(outs[0].shape[-1])
    if units == 1:
        return 2 if outs[0].activation == "sigmoid" else None
    return units


def model_outputs(model: Any) -> list[OutputInfo]:
    """Name, shape and final activation of each output of a Keras model."""
    names = list(getattr(model, "output_names", None) or [])
    infos = []
    for i, tensor in enumerate(model.outputs):
        layer = tensor._keras_history[0]
        activation = "linear"
        cls = type(layer).__name__
        if cls == "Softmax":
            activation = "softmax"
        elif hasattr(layer, "activation") and layer.activation is not None:
            activation = getattr(layer.activation, "__name__", str(layer.activation))
        name = names[i] if i < len(names) else layer.name
        infos.append(OutputInfo(name, tuple(tensor.shape[1:]), activation))
    return infos


LOSS_NAMES = ("sparse_categorical_crossentropy", "categorical_crossentropy",
              "binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber",
              "mse", "mae", "categorical_hinge", "hinge", "kl_divergence", "log_cosh",
              "poisson")


def suggest_loss(out: OutputInfo, y: np.ndarray, num_classes: int | None = None
                 ) -> tuple[LossChoice, Callable[[np.ndarray], np.ndarray]]:
    """The loss that matches output ``out`` and labels ``y`` (of ``num_classes`` classes when
    known), and how to reshape the labels. Raises ``DataError`` when the labels cannot fit the
    output."""
    shape = tuple(out.shape)
    ys = tuple(y.shape[1:])
    units = shape[-1] if shape else 1
    act = out.activation
    integral = is_integral(y)
    where = f"output {out.name!r} ({shape_text(shape)}, {act} activation)"
    if units == 1 and ys in ((), (1,)) and len(shape) == 1:
        if integral and y.size and set(np.unique(y).tolist()) <= {0, 1}:
            return (LossChoice(out.name, "binary_crossentropy", act != "sigmoid",
                               "0/1 labels and one output unit"),
                    lambda a: a.reshape(len(a), 1).astype(np.float32))
        return (LossChoice(out.name, "mean_squared_error", False,
                           "number labels and one output unit", classification=False),
                lambda a: a.reshape(len(a), 1).astype(np.float32))
    if ys == shape:
        if units > 1 and is_one_hot(y):
            return (LossChoice(out.name, "categorical_crossentropy", act != "softmax",
                               f"one-hot labels of {units} classes"),
                    lambda a: a.astype(np.float32))
        if act == "sigmoid" and integral and set(np.unique(y).tolist()) <= {0, 1}:
            return (LossChoice(out.name, "binary_crossentropy", False,
                               "0/1 labels for each output unit"),
                    lambda a: a.astype(np.float32))
        return (LossChoice(out.name, "mean_squared_error", False,
                           "number labels of the output's shape",
                           classification=False), lambda a: a.astype(np.float32))
    if shape and (ys == shape[:-1] or ys == shape[:-1] + (1,)):
        if not integral or (y.size and y.min() < 0):
            raise DataError(f"the labels are not class numbers (whole numbers from 0), so they "
                            f"cannot train {where}")
        top = int(y.max()) if y.size else 0
        if top >= units:
            raise DataError(f"the labels go up to {top} ({top + 1} classes) but {where} has "
                            f"{units} units: set its units to {top + 1}")
        if units == 1:
            raise DataError(f"{where} has one unit: use a sigmoid activation for two classes, "
                            "or one unit per class with softmax")
        if num_classes and units != num_classes:
            raise DataError(f"the data has {num_classes} classes but {where} has {units} "
                            f"units: set its units to {num_classes}")
        return (LossChoice(out.name, "sparse_categorical_crossentropy", act != "softmax",
                           f"class numbers as labels, {units} classes"),
                lambda a: a.reshape((len(a),) + shape[:-1]).astype(np.int64))
    raise DataError(f"labels of shape {shape_text(ys)} don't fit {where}: give one class "
                    f"number per sample, one-hot rows of {units}, or labels of shape "
                    f"{shape_text(shape)}")


def forced_loss(out: OutputInfo, y: np.ndarray, loss: str
                 ) -> tuple[LossChoice, Callable[[np.ndarray], np.ndarray]]:
    """A loss the user chose: labels converted to match it where that is possible."""
    units = out.shape[-1] if out.shape else 1
    logits = {"softmax": False, "sigmoid": False}.get(out.activation, True)
    choice = LossChoice(out.name, loss, False, "chosen in the settings")
    if loss == "categorical_crossentropy":
        choice.from_logits = out.activation != "softmax" and logits
        if is_one_hot(y):
            return choice, lambda a: a.astype(np.float32)
        classes = class_indices(y)
        if classes is None or classes.max() >= units:
            raise DataError(f"categorical_crossentropy needs one-hot labels or class numbers "
                            f"below {units} for output {out.name!r}")
        choice.reason = "chosen in the settings (class numbers converted to one-hot)"
        return choice, lambda a: np.eye(units, dtype=np.float32)[class_indices(a)]
    if loss == "sparse_categorical_crossentropy":
        choice.from_logits = out.activation != "softmax" and logits
        if is_one_hot(y):
            choice.reason = "chosen in the settings (one-hot labels converted to class numbers)"
            return choice, lambda a: np.argmax(a, axis=-1).astype(np.int64)
        return choice, lambda a: a.astype(np.int64)
    if loss == "binary_crossentropy":
        choice.from_logits = out.activation != "sigmoid" and logits
    choice.classification = loss in ("binary_crossentropy", "categorical_hinge", "hinge")
    if len(out.shape) == 1 and out.shape[0] == 1 and y.ndim == 1:
        return choice, lambda a: a.reshape(len(a), 1).astype(np.float32)
    return choice, lambda a: a.astype(np.float32)


def units_text(out: OutputInfo) -> str:
    units = out.shape[-1] if out.shape else 1
    return f"{units} unit{'s' if units != 1 else ''}, {out.activation}"


def shape_text(shape: tuple[Any, ...]) -> str:
    return "(" + ", ".join("None" if v is None else str(v) for v in shape) + (
        ",)" if len(shape) == 1 else ")")
