"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
RMSNormalization, UnitNormalization."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.core.catalog.base import (
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

FAMILY = "Normalization"


# --- helpers ---------------------------------------------------------------------------------


def _check_axis(layer: str, axis: int, shape: Shape) -> int:
    """The non-negative index of ``axis`` in ``shape``; refuses axes the tensor lacks."""
    rank = len(shape)
    if not -rank <= axis < rank:
        raise LayerError(
            f"{layer}: axis {axis} is out of range for input {fmt_shape(shape)} "
            f"(rank {rank}: axes {-rank}..{rank - 1})",
            "choose an existing axis; -1 is the last (channels) axis")
    return axis % rank


def _axis_size(layer: str, axis: int, shape: Shape) -> int:
    """The size of ``shape`` along ``axis``, which must be known to create weights."""
    index = _check_axis(layer, axis, shape)
    dim = shape[index]
    if dim is None:
        what = "the batch axis" if index == 0 else f"axis {axis}"
        if len(shape) == 1:
            fix = "the input has no feature axis; insert Reshape to (1,) before it"
        elif index == 0:
            fix = "normalize a feature axis of fixed size (usually -1, the channels)"
        else:
            fix = "give the input a fixed size on that axis"
        raise LayerError(
            f"{layer} needs a known size on {what} to create its weights, got "
            f"{fmt_shape(shape)}", fix)
    return dim


def _axes(axis: int | Sequence[int]) -> list[int]:
    return [axis] if isinstance(axis, int) else list(axis)


def _weight_size(layer: str, axis: int | Sequence[int], shape: Shape) -> int:
    """Elements of one weight vector over ``axis`` (a product over listed axes, repeats too)."""
    size = 1
    for a in _axes(axis):
        size *= _axis_size(layer, a, shape)
    return size


def _batch_axis_notes(layer: str, axis: int | Sequence[int], shape: Shape) -> list[str]:
    rank = len(shape)
    if (axis % rank == 0 if isinstance(axis, int)
            else any(a % rank == 0 for a in axis)):
        return [f"{layer} normalizes over the batch axis (axis 0), which ties the model to one "
                "batch size; a feature axis (e.g. -1) is usually meant"]
    return []


def _affine_params(center_help: str, scale_help: str) -> tuple[Param, ...]:
    return (
        Param("center", "bool", True, center_help),
        Param("scale", "bool", True, scale_help),
        *weight_params("beta", "zeros", "offset (beta)"),
        *weight_params("gamma", "ones", "scale (gamma)"),
    )


EPSILON_HELP = "Small number added to the variance so that it never divides by zero."


# --- BatchNormalization ----------------------------------------------------------------------

_RENORM_KEYS = ("rmax", "rmin", "dmax")


def _check_renorm_clipping(clipping: Any) -> None:
    """Refuse what Keras' constructor refuses in ``renorm_clipping`` (when renorm=True)."""
    if not clipping:  # Keras reads None, {} (and any empty value) as "no clipping"
        return
    if not isinstance(clipping, Mapping):
        raise LayerError(
            f"BatchNormalization: renorm_clipping must be an object with keys rmax, rmin, dmax, "
            f"got {clipping!r}", "give e.g. {\"rmax\": 3, \"rmin\": 0.3, \"dmax\": 5}")
    unknown = sorted(set(clipping) - set(_RENORM_KEYS))
    if unknown:
        raise LayerError(
            f"BatchNormalization: renorm_clipping has unknown keys {unknown}; the keys are "
            "rmax, rmin and dmax", "remove the other keys")
    for key in _RENORM_KEYS:
        value = clipping.get(key)
        if value is not None and not isinstance(value, (int, float)):
            raise LayerError(f"BatchNormalization: renorm_clipping[{key!r}] must be a number, "
                             f"got {value!r}", "give a number or leave the key out")
    rmax, rmin, dmax = (clipping.get(k) for k in _RENORM_KEYS)
    if rmax is not None and rmin is not None and rmax < rmin:
        raise LayerError(
            f"BatchNormalization: renorm_clipping rmax ({rmax}) is smaller than rmin ({rmin})",
            "make rmax >= rmin")
    if dmax is not None and dmax < 0:
        raise LayerError(f"BatchNormalization: renorm_clipping dmax ({dmax}) is negative",
                         "make dmax >= 0")


def _momentum_notes(p: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    if not 0.0 <= p["momentum"] <= 1.0:
        notes.append(f"momentum {p['momentum']:g} is outside 0..1: the moving averages will "
                     "diverge (0.9 to 0.999 is usual)")
    if p["epsilon"] <= 0:
        notes.append(f"epsilon {p['epsilon']:g} is not positive: the layer can divide by zero")
    return notes


def _infer_batch_norm(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    if p["renorm"]:
        _check_renorm_clipping(p["renorm_clipping"])
    axis = p["axis"]
    rank = len(shape)
    dim = shape[axis] if -rank <= axis < rank else None
    if dim is None:  # refused there
        dim = _axis_size("BatchNormalization", axis, shape)
    trainable = dim * (p["scale"] + p["center"])                    # bools: 0 to 2 vectors
    # moving_mean and moving_variance; renorm adds moving_stddev, renorm_mean, renorm_stddev
    non_trainable = dim * (5 if p["renorm"] else 2)
    if axis % rank and 0.0 <= p["momentum"] <= 1.0 and p["epsilon"] > 0:
        notes: list[str] = []           # the usual case, without building the notes
    else:
        notes = _batch_axis_notes("BatchNormalization", axis, shape) + _momentum_notes(p)
    return Inferred([shape], trainable, non_trainable, 2 * numel(shape), notes)


register(LayerSpec(
    type="BatchNormalization", family=FAMILY,
    help="Normalizes each channel with the batch's mean and variance (moving averages at "
         "inference), then scales and shifts it: faster, more stable training.",
    params=(
        Param("axis", "int", -1,
              "The features (channels) axis, normalized per channel: -1 for channels_last, "
              "1 after channels_first convolutions."),
        Param("momentum", "float", 0.99,
              "How slowly the moving mean and variance follow the batches (0.9 to 0.999)."),
        Param("epsilon", "float", 1e-3, EPSILON_HELP),
        *_affine_params("Learn an offset (beta) added after normalizing.",
                        "Learn a factor (gamma) multiplied after normalizing; can be off when "
                        "the next layer is linear (e.g. Dense, Conv2D)."),
        Param("moving_mean_initializer", "initializer", "zeros",
              "Initial value of the moving mean used at inference."),
        Param("moving_variance_initializer", "initializer", "ones",
              "Initial value of the moving variance used at inference."),
        Param("synchronized", "bool", False,
              "With several GPUs (TensorFlow), use the statistics of the whole global batch."),
        Param("renorm", "bool", False,
              "Batch renormalization: corrects the batch statistics towards the moving ones "
              "(helps with small batches); adds 3 non-trainable vectors."),
        Param("renorm_clipping", "json", None,
              "With renorm: limits of the correction, an object with keys rmax, rmin, dmax "
              "(none: no limits).", nullable=True),
        Param("renorm_momentum", "float", 0.99,
              "With renorm: momentum of the renormalization statistics."),
    ),
    infer=_infer_batch_norm,
    keywords=("normalize", "normalization", "batchnorm", "bn", "standardize", "stabilize",
              "batch statistics", "regularize"),
    key_params=("axis", "momentum"),
))


# --- LayerNormalization ----------------------------------------------------------------------


def _infer_layer_norm(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    vectors = int(p["scale"]) + int(p["center"])
    if vectors:
        size = _weight_size("LayerNormalization", p["axis"], shape)
    else:  # no weights to create: any size will do, but the axes must exist
        size = 0
        for a in _axes(p["axis"]):
            _check_axis("LayerNormalization", a, shape)
    notes = _batch_axis_notes("LayerNormalization", p["axis"], shape)
    return Inferred([shape], trainable=size * vectors,
                    flops=8 * numel(shape), notes=notes)


AXES_HELP = ("The axis (or list of axes) to normalize over, and that the learned scale and "
             "offset span: -1 is the last (features) axis.")

register(LayerSpec(
    type="LayerNormalization", family=FAMILY,
    help="Normalizes each sample over its features (mean 0, variance 1), then scales and "
         "shifts it; independent of the batch (used in Transformers and RNNs).",
    params=(
        Param("axis", "axes", -1, AXES_HELP),
        Param("epsilon", "float", 1e-3, EPSILON_HELP),
        *_affine_params("Learn an offset (beta) added after normalizing.",
                        "Learn a factor (gamma) multiplied after normalizing."),
    ),
    infer=_infer_layer_norm,
    keywords=("normalize", "normalization", "layernorm", "ln", "transformer", "standardize"),
    key_params=("axis",),
))


# --- GroupNormalization ----------------------------------------------------------------------


def _infer_group_norm(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    groups = p["groups"]
    if groups == 0 or groups < -1:
        raise LayerError(
            f"GroupNormalization: groups must be a positive integer (or -1 for instance "
            f"normalization), got {groups}", "set groups to a divisor of the channel count")
    dim = _axis_size("GroupNormalization", p["axis"], shape)
    if groups == -1:
        groups = dim
    if dim < groups:
        raise LayerError(
            f"GroupNormalization: {groups} groups is more than the {dim} channels of "
            f"{fmt_shape(shape)}", f"use at most {dim} groups, a divisor of {dim}")
    if dim % groups:
        divisors = [d for d in range(1, dim + 1) if dim % d == 0]
        raise LayerError(
            f"GroupNormalization: {groups} groups do not divide the {dim} channels of "
            f"{fmt_shape(shape)}",
            f"use a divisor of {dim} as groups ({', '.join(map(str, divisors[:8]))}"
            f"{', ...' if len(divisors) > 8 else ''})")
    notes = _batch_axis_notes("GroupNormalization", p["axis"], shape)
    return Inferred([shape], trainable=dim * (int(p["scale"]) + int(p["center"])),
                    flops=8 * numel(shape), notes=notes)


register(LayerSpec(
    type="GroupNormalization", family=FAMILY,
    help="Splits the channels into groups and normalizes each group within each sample; "
         "works with small batches (groups=1: layer norm, groups=-1: instance norm).",
    params=(
        Param("groups", "int", 32,
              "Number of channel groups; must divide the channel count (-1: one group per "
              "channel, instance normalization).", minimum=-1),
        Param("axis", "int", -1, "The channels axis (-1: last, 1 for channels_first)."),
        Param("epsilon", "float", 1e-3, EPSILON_HELP),
        *_affine_params("Learn an offset (beta) per channel after normalizing.",
                        "Learn a factor (gamma) per channel after normalizing."),
    ),
    infer=_infer_group_norm,
    keywords=("normalize", "normalization", "groupnorm", "gn", "instance norm", "small batch"),
    key_params=("groups",),
))


# --- RMSNormalization ------------------------------------------------------------------------


def _infer_rms_norm(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    size = _weight_size("RMSNormalization", p["axis"], shape)
    notes = _batch_axis_notes("RMSNormalization", p["axis"], shape)
    return Inferred([shape], trainable=size, flops=5 * numel(shape), notes=notes)


register(LayerSpec(
    type="RMSNormalization", family=FAMILY,
    help="Divides each sample by the root mean square of its features, then multiplies by a "
         "learned scale (a cheaper LayerNormalization, used in modern Transformers).",
    params=(
        Param("axis", "axes", -1, AXES_HELP),
        Param("epsilon", "float", 1e-6, EPSILON_HELP),
    ),
    infer=_infer_rms_norm,
    keywords=("normalize", "normalization", "rmsnorm", "root mean square", "transformer"),
    key_params=("axis",),
))


# --- UnitNormalization -----------------------------------------------------------------------


def _infer_unit_norm(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    for axis in _axes(p["axis"]):
        _check_axis("UnitNormalization", axis, shape)
    return Inferred([shape], flops=3 * numel(shape))


register(LayerSpec(
    type="UnitNormalization", family=FAMILY,
    help="Scales each sample to length 1 (L2 norm) along an axis; no weights (e.g. before a "
         "cosine similarity).",
    params=(Param("axis", "axes", -1, "The axis (or axes) whose L2 norm becomes 1."),),
    infer=_infer_unit_norm,
    keywords=("normalize", "l2", "unit length", "cosine", "embedding"),
    key_params=("axis",),
))
