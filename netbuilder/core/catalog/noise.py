"""Regularization layers (besides Dropout, which is in core): SpatialDropout1D/2D/3D,
GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization.

All of them act only during training and return their input's shape; none has weights.
"""

from __future__ import annotations

from typing import Any

from netbuilder.core.catalog.base import (
    InferFn,
    Inferred,
    LayerSpec,
    Param,
    Shape,
    fmt_shape,
    register,
    require_rank,
)
from netbuilder.core.catalog.shared_params import DATA_FORMAT, SEED

FAMILY = "Regularization"

REGULARIZE = ("regularize", "regularization", "overfitting", "generalize")


def _rate(default: float, help_text: str) -> Param:
    """``rate``, which Keras requires (no default): always written out."""
    return Param("rate", "float", default, help_text, minimum=0.0, maximum=1.0, required=True)


_SPATIAL_FIX = {
    3: "use it on sequences (batch, steps, channels), e.g. after Conv1D; Dropout fits vectors",
    4: "use it on images (batch, height, width, channels), e.g. after Conv2D; "
       "SpatialDropout1D fits sequences, Dropout vectors",
    5: "use it on volumes (batch, depth, height, width, channels), e.g. after Conv3D; "
       "SpatialDropout2D fits images",
}


def _spatial_infer(layer: str, rank: int) -> InferFn:
    """The same shape, for inputs of exactly ``rank`` (batch included)."""
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        require_rank(layer, shape, (rank,), _SPATIAL_FIX[rank])
        return Inferred([shape])
    return infer


register(LayerSpec(
    type="SpatialDropout1D", family=FAMILY,
    help="During training, drops whole channels of a sequence (batch, steps, channels) rather "
         "than single values: better for correlated neighbours.",
    params=(
        _rate(0.5, "Fraction of channels to drop during training (0 to 1)."),
        SEED,
    ),
    infer=_spatial_infer("SpatialDropout1D", 3),
    keywords=REGULARIZE + ("dropout", "drop", "channels", "sequence", "feature maps"),
    key_params=("rate",),
))

register(LayerSpec(
    type="SpatialDropout2D", family=FAMILY,
    help="During training, drops whole feature maps of an image tensor rather than single "
         "pixels (neighbouring pixels are correlated, so plain Dropout does little).",
    params=(
        _rate(0.5, "Fraction of feature maps (channels) to drop during training (0 to 1)."),
        DATA_FORMAT,
        SEED,
    ),
    infer=_spatial_infer("SpatialDropout2D", 4),
    keywords=REGULARIZE + ("dropout", "drop", "channels", "feature maps", "image", "cnn"),
    key_params=("rate",),
))

register(LayerSpec(
    type="SpatialDropout3D", family=FAMILY,
    help="During training, drops whole 3D feature maps of a volume rather than single voxels.",
    params=(
        _rate(0.5, "Fraction of feature maps (channels) to drop during training (0 to 1)."),
        DATA_FORMAT,
        SEED,
    ),
    infer=_spatial_infer("SpatialDropout3D", 5),
    keywords=REGULARIZE + ("dropout", "drop", "channels", "feature maps", "volume", "video"),
    key_params=("rate",),
))


def _same(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    return Inferred([inputs[0]])


register(LayerSpec(
    type="GaussianNoise", family=FAMILY,
    help="During training, adds random normal noise (mean 0) to every value; a form of data "
         "augmentation for real-valued inputs.",
    params=(
        Param("stddev", "float", 0.1,
              "Standard deviation of the noise (Keras allows 0 to 1).",
              minimum=0.0, maximum=1.0, required=True),
        SEED,
    ),
    infer=_same,
    keywords=REGULARIZE + ("noise", "gaussian", "augmentation", "robust", "jitter"),
    key_params=("stddev",),
))


def _infer_gaussian_dropout(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    notes = []
    if p["rate"] == 1.0:
        notes.append("rate 1 makes the noise's standard deviation infinite: training fails")
    return Inferred([inputs[0]], notes=notes)


register(LayerSpec(
    type="GaussianDropout", family=FAMILY,
    help="During training, multiplies every value by random normal noise centred on 1 "
         "(standard deviation sqrt(rate / (1 - rate))).",
    params=(
        _rate(0.5, "Drop probability it imitates (0 to 1, below 1); more rate, more noise."),
        SEED,
    ),
    infer=_infer_gaussian_dropout,
    keywords=REGULARIZE + ("dropout", "noise", "gaussian", "multiplicative"),
    key_params=("rate",),
))


def _infer_alpha_dropout(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    noise = p["noise_shape"]
    notes = []
    if noise is not None and (not isinstance(noise, (list, tuple)) or len(noise) != len(shape)):
        notes.append(f"noise_shape {noise!r} does not match the input {fmt_shape(shape)} "
                     f"(it needs {len(shape)} entries, None for 'as the input'): training "
                     "will fail")
    return Inferred([shape], notes=notes)


register(LayerSpec(
    type="AlphaDropout", family=FAMILY,
    help="Dropout for self-normalizing networks (SELU activation, lecun_normal init): keeps "
         "the mean and variance of its inputs while dropping.",
    params=(
        _rate(0.1, "Fraction of inputs to drop during training (0 to 1)."),
        Param("noise_shape", "json", None,
              "Shape of the dropout mask (batch included), to drop whole features (e.g. "
              "[None, 1, 64]); none for independent units.", nullable=True),
        SEED,
    ),
    infer=_infer_alpha_dropout,
    keywords=REGULARIZE + ("dropout", "selu", "self-normalizing", "drop"),
    key_params=("rate",),
))


register(LayerSpec(
    type="ActivityRegularization", family=FAMILY,
    help="Passes its input through unchanged and adds an L1/L2 penalty on it to the loss "
         "(encourages small or sparse activations).",
    params=(
        Param("l1", "float", 0.0, "L1 penalty factor (sum of absolute values); sparsity.",
              minimum=0.0),
        Param("l2", "float", 0.0, "L2 penalty factor (sum of squares); small activations.",
              minimum=0.0),
    ),
    infer=_same,
    keywords=REGULARIZE + ("penalty", "l1", "l2", "sparse", "activity", "loss"),
    key_params=("l1", "l2"),
))
