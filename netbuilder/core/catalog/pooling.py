"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, GlobalMaxPooling1D/2D/3D,
GlobalAveragePooling1D/2D/3D.

The 1D/2D/3D variants of a layer differ only in their number of spatial axes (``rank``), so each
family is written once as a factory parametrised by rank. The helpers for spatial layouts and rank
errors are shared with the reshaping family (padding, cropping, upsampling).
"""

from __future__ import annotations

import math
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
from netbuilder.core.catalog.conv_arithmetic import pool_length
from netbuilder.core.catalog.shared_params import DATA_FORMAT, PADDING

FAMILY = "Pooling"

# --- spatial layouts, shared with reshaping.py -----------------------------------------------

AXIS_NAMES: dict[int, tuple[str, ...]] = {
    1: ("steps",),
    2: ("height", "width"),
    3: ("depth", "height", "width"),
}

_EXAMPLE_SHAPES = {1: "(100, 1)", 2: "(28, 28, 1)", 3: "(16, 28, 28, 1)"}


def channels_first(data_format: str | None) -> bool:
    """Whether ``data_format`` puts the channels before the spatial axes (None: Keras' default,
    channels_last)."""
    return data_format == "channels_first"


def layout(rank: int, data_format: str | None = None) -> str:
    """The expected input layout in words, e.g. ``(batch, height, width, channels)``."""
    axes = AXIS_NAMES[rank]
    parts = ("channels",) + axes if channels_first(data_format) else axes + ("channels",)
    return "(batch, " + ", ".join(parts) + ")"


def spatial_axes(rank: int, data_format: str | None = None) -> range:
    """Indices (batch included) of the spatial axes of a rank-``rank`` layer's input."""
    start = 2 if channels_first(data_format) else 1
    return range(start, start + rank)


def require_spatial_rank(layer_type: str, base: str, rank: int, shape: Shape,
                         data_format: str | None = None) -> None:
    """Raise unless ``shape`` has ``rank`` spatial axes plus batch and channels.

    ``base`` is the layer name without its ``ND`` suffix ("MaxPooling"), used to suggest the
    variant that fits the input.
    """
    want = rank + 2
    got = len(shape)
    if got == want:
        return
    if 3 <= got <= 5:
        fix = (f"use {base}{got - 2}D for {got - 2}D data, or reshape the input to "
               f"{layout(rank, data_format)}")
    elif got == 2:
        fix = (f"insert Reshape before it to give each sample {rank} spatial "
               f"ax{'is' if rank == 1 else 'es'} and a channel axis, e.g. {_EXAMPLE_SHAPES[rank]}")
    else:
        fix = f"reshape the input to {layout(rank, data_format)}"
    raise LayerError(
        f"{layer_type} expects input of rank {want} {layout(rank, data_format)}, "
        f"got {fmt_shape(shape)}", fix)


def _size_text(values: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in values)


# --- MaxPooling / AveragePooling -------------------------------------------------------------


def _pooling_infer(layer_type: str, base: str, rank: int, average: bool):
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        fmt = p["data_format"]
        require_spatial_rank(layer_type, base, rank, shape, fmt)
        pool = tuple(p["pool_size"])
        strides = pool if p["strides"] is None else tuple(p["strides"])
        padding = p["padding"]
        out = list(shape)
        for i, axis in enumerate(spatial_axes(rank, fmt)):
            length = pool_length(shape[axis], pool[i], padding, strides[i])
            if length is not None and length <= 0:
                name = AXIS_NAMES[rank][i]
                raise LayerError(
                    f"{layer_type}: a pool of {pool[i]} does not fit the {name} "
                    f"({shape[axis]}) of the input {fmt_shape(shape)} with padding='valid'",
                    "use padding='same', a smaller pool_size, or a larger input")
            out[axis] = length
        outputs = tuple(out)
        window = math.prod(pool)
        flops = numel(outputs) * window + (numel(outputs) if average else 0)
        notes = []
        if any(s > k for s, k in zip(strides, pool)):
            notes.append(
                f"strides {_size_text(strides)} are larger than pool_size {_size_text(pool)}: "
                "some inputs fall between windows and are ignored")
        return Inferred([outputs], flops=flops, notes=notes)

    return infer


def _pooling_spec(rank: int, average: bool) -> LayerSpec:
    base = "AveragePooling" if average else "MaxPooling"
    layer_type = f"{base}{rank}D"
    axes = ", ".join(AXIS_NAMES[rank])
    what = "average" if average else "largest value"
    return LayerSpec(
        type=layer_type, family=FAMILY,
        help=(f"Keeps the {what} of each pool_size window, shrinking the {axes} "
              "(downsampling); it has no weights."),
        params=(
            # AveragePooling has no default pool_size in Keras (MaxPooling's is 2).
            Param("pool_size", "ints", 2,
                  f"Size of the window ({axes}); one number for all axes.",
                  length=rank, minimum=1, required=average),
            Param("strides", "ints", None,
                  f"Step between windows ({axes}); none = pool_size (windows that do not "
                  "overlap).", length=rank, minimum=1, nullable=True),
            PADDING,
            DATA_FORMAT,
        ),
        infer=_pooling_infer(layer_type, base, rank, average),
        keywords=("pool", "pooling", "downsample", "subsample", "reduce resolution", "shrink",
                  "average" if average else "max", "cnn"),
        key_params=("pool_size", "strides"),
    )


# --- GlobalMaxPooling / GlobalAveragePooling -------------------------------------------------


def _global_infer(layer_type: str, base: str, rank: int):
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        fmt = p["data_format"]
        require_spatial_rank(layer_type, base, rank, shape, fmt)
        first = channels_first(fmt)
        channels = shape[1] if first else shape[-1]
        if p["keepdims"]:
            ones = (1,) * rank
            out = (shape[0], channels) + ones if first else (shape[0],) + ones + (channels,)
        else:
            out = (shape[0], channels)
        return Inferred([out], flops=numel(shape))

    return infer


def _global_spec(rank: int, average: bool) -> LayerSpec:
    base = "GlobalAveragePooling" if average else "GlobalMaxPooling"
    layer_type = f"{base}{rank}D"
    axes = ", ".join(AXIS_NAMES[rank])
    what = "average" if average else "maximum"
    return LayerSpec(
        type=layer_type, family=FAMILY,
        help=(f"Takes the {what} over all of the {axes} of each channel: one value per "
              "channel (e.g. before the classifier)."),
        params=(
            DATA_FORMAT,
            Param("keepdims", "bool", False,
                  f"Keep the {axes} ax{'is' if rank == 1 else 'es'} with size 1 instead of "
                  "removing them."),
        ),
        infer=_global_infer(layer_type, base, rank),
        keywords=("pool", "pooling", "global", "flatten", "vector", "classifier", "head",
                  "gap" if average else "gmp", "average" if average else "max", "reduce"),
        key_params=("keepdims",),
    )


for _average in (False, True):
    for _rank in (1, 2, 3):
        register(_pooling_spec(_rank, _average))
for _average in (False, True):
    for _rank in (1, 2, 3):
        register(_global_spec(_rank, _average))
