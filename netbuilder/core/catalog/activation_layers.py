"""Activation layers with their own settings: ReLU, LeakyReLU, PReLU, ELU, Softmax.

(The plain ``Activation`` layer, which takes an activation by name, is in core.)
"""

from __future__ import annotations

from typing import Any

from netbuilder.core.catalog.base import (
    InferFn,
    Inferred,
    LayerError,
    LayerSpec,
    Param,
    Shape,
    fmt_shape,
    numel,
    register,
)
from netbuilder.core.catalog.shared_params import weight_params

FAMILY = "Activation"

NONLINEAR = ("activation", "nonlinearity", "nonlinear")


def _infer_relu(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    notes = []
    if p["max_value"] is not None and p["max_value"] < p["threshold"]:
        notes.append(f"max_value {p['max_value']:g} is below threshold {p['threshold']:g}: "
                     "the output is almost constant")
    return Inferred([shape], flops=numel(shape), notes=notes)


register(LayerSpec(
    type="ReLU", family=FAMILY,
    help="Rectified linear unit: max(x, 0), optionally capped (max_value=6: ReLU6), with a "
         "slope below the threshold or a threshold other than 0.",
    params=(
        Param("max_value", "float", None,
              "Largest output value (e.g. 6 for ReLU6); none for no cap.",
              minimum=0.0, nullable=True),
        Param("negative_slope", "float", 0.0,
              "Slope for inputs below the threshold (0: plain ReLU; >0: leaky).", minimum=0.0),
        Param("threshold", "float", 0.0,
              "Inputs below this value are set to 0 (or scaled by negative_slope).",
              minimum=0.0),
    ),
    infer=_infer_relu,
    keywords=NONLINEAR + ("relu", "relu6", "rectifier", "clip"),
    key_params=("max_value",),
))


def _same(flops_per_value: int) -> InferFn:
    """The same shape, at ``flops_per_value`` operations per value."""
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        return Inferred([shape], flops=flops_per_value * numel(shape))
    return infer


register(LayerSpec(
    type="LeakyReLU", family=FAMILY,
    help="Leaky ReLU: x for positive inputs, negative_slope × x for negative ones (keeps a "
         "small gradient so units never die).",
    params=(
        Param("negative_slope", "float", 0.3,
              "Slope for negative inputs (0.01 to 0.3 is usual).", minimum=0.0),
    ),
    infer=_same(2),
    keywords=NONLINEAR + ("leaky", "relu", "rectifier", "slope"),
    key_params=("negative_slope",),
))


def _infer_prelu(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    shared = p["shared_axes"]
    # Keras: alpha has the input's shape without batch, with 1 on every shared axis; it indexes
    # that shape with (axis - 1), so 0 and negative axes count from the end as in Python.
    alpha: list[int | None] = list(shape[1:])
    notes = []
    if shared is not None:
        for axis in ([shared] if isinstance(shared, int) else shared):
            if not -len(alpha) <= axis - 1 < len(alpha):
                raise LayerError(
                    f"PReLU: shared axis {axis} does not exist in input {fmt_shape(shape)} "
                    f"(axes 1..{len(shape) - 1}, counted after the batch axis)",
                    "list axes between 1 and the input's rank - 1, e.g. 1, 2 for images")
            if axis < 1:
                notes.append(f"PReLU: shared axis {axis} counts from the end (axis "
                             f"{len(alpha) + axis}); axes are usually counted from 1")
            alpha[axis - 1] = 1
    unknown = [i + 1 for i, d in enumerate(alpha) if d is None]
    if unknown:
        raise LayerError(
            f"PReLU learns one slope per value, so it needs known sizes on axes {unknown} of "
            f"{fmt_shape(shape)}",
            f"share the slope over those axes (shared_axes={unknown}) or give the input fixed "
            "sizes")
    size = 1
    for d in alpha:
        size *= d  # type: ignore[operator]
    return Inferred([shape], trainable=size, flops=3 * numel(shape), notes=notes)


register(LayerSpec(
    type="PReLU", family=FAMILY,
    help="Parametric ReLU: like LeakyReLU, but the negative slope is learned, one per value "
         "unless shared over some axes (share over 1, 2 for one slope per image channel).",
    params=(
        *weight_params("alpha", "zeros", "negative slopes (alpha)"),
        Param("shared_axes", "axes", None,
              "Axes (counted from 1, after the batch axis) that share one slope; e.g. 1, 2 "
              "for one slope per channel of an image. None: a slope for every value.",
              nullable=True),
    ),
    infer=_infer_prelu,
    keywords=NONLINEAR + ("prelu", "parametric", "leaky", "relu", "learned slope"),
    key_params=("shared_axes",),
))


register(LayerSpec(
    type="ELU", family=FAMILY,
    help="Exponential linear unit: x for positive inputs, alpha × (exp(x) - 1) for negative "
         "ones (smooth, outputs can be negative).",
    params=(Param("alpha", "float", 1.0, "Scale of the negative part (its limit is -alpha)."),),
    infer=_same(3),
    keywords=NONLINEAR + ("elu", "exponential", "smooth"),
    key_params=("alpha",),
))


def _infer_softmax(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    rank = len(shape)
    axes = [p["axis"]] if isinstance(p["axis"], int) else list(p["axis"])
    notes = []
    bad = [a for a in axes if not -rank <= a < rank]
    if bad:
        # Keras accepts any axis when building the model; the error comes when it runs.
        notes.append(f"Softmax: axis {bad[0]} does not exist in input {fmt_shape(shape)} "
                     f"(axes {-rank}..{rank - 1}); the model will fail when it runs")
    elif any(a % rank == 0 for a in axes):
        notes.append("Softmax over the batch axis (axis 0) mixes samples; -1 is usually meant")
    return Inferred([shape], flops=3 * numel(shape), notes=notes)


register(LayerSpec(
    type="Softmax", family=FAMILY,
    help="Turns scores into probabilities that sum to 1 along an axis (the last by default): "
         "the output of a classifier.",
    params=(Param("axis", "axes", -1,
                  "The axis (or axes) along which the probabilities sum to 1; -1 is the last."),),
    infer=_infer_softmax,
    keywords=NONLINEAR + ("softmax", "probabilities", "classifier", "output", "attention"),
    key_params=("axis",),
))
