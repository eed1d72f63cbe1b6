"""Reshaping layers that work on spatial axes: ZeroPadding1D/2D/3D, Cropping1D/2D/3D,
UpSampling1D/2D/3D.

(Reshape, Flatten, Permute and RepeatVector are in the Core family.) The 1D/2D/3D variants are
written once as factories parametrised by the number of spatial axes.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from netbuilder.core.catalog.pooling import AXIS_NAMES, require_spatial_rank, spatial_axes
from netbuilder.core.catalog.shared_params import DATA_FORMAT

FAMILY = "Reshaping"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class PerAxisParam(Param):
    """Amounts removed or added at both ends of each spatial axis, in every form Keras takes.

    Keras accepts one int for every side, one int per axis (the same at both ends), or a
    ``(before, after)`` pair per axis, mixed freely for 2D/3D (``(1, (2, 3))``); for 1D layers
    one int or one ``(left, right)`` pair. Values are normalized to the explicit form (a pair for
    1D, a tuple of pairs for 2D/3D), which Keras accepts too. ``negative_int`` keeps a single
    negative int as it is: ZeroPadding2D/3D accept one (Keras does not validate it there).
    """

    axes: int = 1
    negative_int: bool = False

    def _expected(self) -> str:
        if self.axes == 1:
            return "an integer >= 0 or a pair (left, right) of integers >= 0"
        names = ", ".join(AXIS_NAMES[self.axes])
        return (f"an integer >= 0, or {self.axes} values ({names}), each an integer >= 0 or "
                "a pair (before, after)")

    def example(self, value: Any = None) -> str | None:
        if self.axes == 1:
            return "1 or [1, 2]"
        return f"1 or {[1] * self.axes} or {[[1, 2]] * self.axes}"

    def _pair(self, value: Any, original: Any) -> tuple[int, int]:
        if _is_int(value):
            if value < 0:
                raise self._fail(self._expected(), original)
            return (value, value)
        if (isinstance(value, (list, tuple)) and len(value) == 2
                and all(_is_int(v) and v >= 0 for v in value)):
            return (value[0], value[1])
        raise self._fail(self._expected(), original)

    def normalize(self, value: Any) -> Any:
        if value is None:
            raise self._fail(self._expected(), value)
        if self.axes == 1:
            return self._pair(value, value)
        if _is_int(value):
            if value < 0:
                if self.negative_int:
                    return value
                raise self._fail(self._expected(), value)
            return ((value, value),) * self.axes
        if not isinstance(value, (list, tuple)) or len(value) != self.axes:
            raise self._fail(self._expected(), value)
        return tuple(self._pair(v, value) for v in value)


def per_axis(value: Any, axes: int) -> tuple[tuple[int, int], ...]:
    """The ``(before, after)`` pair of each axis of a normalized ``PerAxisParam`` value."""
    if _is_int(value):
        return ((value, value),) * axes
    if axes == 1:
        return (tuple(value),)  # type: ignore[return-value]
    return tuple(tuple(pair) for pair in value)  # type: ignore[misc]


# --- ZeroPadding -----------------------------------------------------------------------------

_PAD_DEFAULTS: dict[int, Any] = {1: 1, 2: (1, 1), 3: ((1, 1), (1, 1), (1, 1))}


def _padding_infer(layer_type: str, rank: int):
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        fmt = p.get("data_format")
        require_spatial_rank(layer_type, "ZeroPadding", rank, shape, fmt)
        pairs = per_axis(p["padding"], rank)
        out = list(shape)
        for i, axis in enumerate(spatial_axes(rank, fmt)):
            if shape[axis] is None:
                continue
            before, after = pairs[i]
            out[axis] = shape[axis] + before + after
            if out[axis] < 0:
                name = AXIS_NAMES[rank][i]
                raise LayerError(
                    f"{layer_type}: padding ({before}, {after}) makes the {name} of "
                    f"{fmt_shape(shape)} negative ({out[axis]})",
                    f"use padding >= 0, and Cropping{rank}D to remove rows")
        notes = []
        if _is_int(p["padding"]) and p["padding"] < 0:
            notes.append(
                "negative padding builds in Keras but fails when the model runs "
                f"(padding must be >= 0); use Cropping{rank}D to remove borders")
        return Inferred([tuple(out)], notes=notes)

    return infer


def _padding_spec(rank: int) -> LayerSpec:
    layer_type = f"ZeroPadding{rank}D"
    names = ", ".join(AXIS_NAMES[rank])
    if rank == 1:
        form = "one number for both ends, or a pair (left, right)"
    else:
        form = (f"one number for every side, one per axis ({names}), or a [before, after] "
                f"pair per axis, e.g. {[[1, 1]] * rank}")
    return LayerSpec(
        type=layer_type, family=FAMILY,
        help=f"Adds rows of zeros at both ends of the {names} (e.g. to keep the size after a "
             "convolution).",
        params=(
            PerAxisParam("padding", "json", _PAD_DEFAULTS[rank],
                         f"How many zeros to add at each end: {form}.",
                         axes=rank, negative_int=rank > 1),
            DATA_FORMAT,
        ),
        infer=_padding_infer(layer_type, rank),
        keywords=("pad", "padding", "zeros", "border", "enlarge", "same size", "margin"),
        key_params=("padding",),
    )


# --- Cropping --------------------------------------------------------------------------------

_CROP_DEFAULTS: dict[int, Any] = {1: (1, 1), 2: ((0, 0), (0, 0)), 3: ((1, 1), (1, 1), (1, 1))}


def _cropping_infer(layer_type: str, rank: int):
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        fmt = p.get("data_format")
        require_spatial_rank(layer_type, "Cropping", rank, shape, fmt)
        pairs = per_axis(p["cropping"], rank)
        out = list(shape)
        for i, axis in enumerate(spatial_axes(rank, fmt)):
            if shape[axis] is None:
                continue
            before, after = pairs[i]
            out[axis] = shape[axis] - before - after
            if out[axis] <= 0:
                name = AXIS_NAMES[rank][i]
                raise LayerError(
                    f"{layer_type}: cropping ({before}, {after}) removes the whole {name} "
                    f"({shape[axis]}) of the input {fmt_shape(shape)}",
                    f"crop less than {shape[axis]} in total along the {name}")
        return Inferred([tuple(out)])

    return infer


def _cropping_spec(rank: int) -> LayerSpec:
    layer_type = f"Cropping{rank}D"
    names = ", ".join(AXIS_NAMES[rank])
    if rank == 1:
        form = "one number for both ends, or a pair (start, end)"
    else:
        form = (f"one number for every side, one per axis ({names}), or a [before, after] "
                f"pair per axis, e.g. {[[1, 1]] * rank}")
    params: tuple[Param, ...] = (
        PerAxisParam("cropping", "json", _CROP_DEFAULTS[rank],
                     f"How much to cut off at each end: {form}.", axes=rank),
    )
    if rank > 1:
        params += (DATA_FORMAT,)
    return LayerSpec(
        type=layer_type, family=FAMILY,
        help=f"Cuts rows off both ends of the {names} (e.g. to match the size of a skip "
             "connection).",
        params=params,
        infer=_cropping_infer(layer_type, rank),
        keywords=("crop", "cropping", "trim", "cut", "border", "skip", "u-net", "shrink"),
        key_params=("cropping",),
    )


# --- UpSampling ------------------------------------------------------------------------------

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")

# Input values read per output value (for the flops estimate).
_TAPS = {"nearest": 0, "bilinear": 4, "bicubic": 16, "lanczos3": 36, "lanczos5": 100}


def _upsampling_infer(layer_type: str, rank: int):
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        fmt = p.get("data_format")
        require_spatial_rank(layer_type, "UpSampling", rank, shape, fmt)
        size = (p["size"],) if rank == 1 else tuple(p["size"])
        out = list(shape)
        for factor, axis in zip(size, spatial_axes(rank, fmt)):
            if shape[axis] is not None:
                out[axis] = shape[axis] * factor
        outputs = tuple(out)
        flops = 2 * _TAPS[p.get("interpolation", "nearest")] * numel(outputs)
        return Inferred([outputs], flops=flops)

    return infer


def _upsampling_spec(rank: int) -> LayerSpec:
    layer_type = f"UpSampling{rank}D"
    names = ", ".join(AXIS_NAMES[rank])
    params: tuple[Param, ...]
    if rank == 1:
        params = (Param("size", "int", 2, "How many times each step is repeated.", minimum=1),)
    else:
        params = (
            Param("size", "ints", (2,) * rank,
                  f"Enlargement factor along each axis ({names}); one number for all.",
                  length=rank, minimum=1),
            DATA_FORMAT,
        )
    if rank == 2:
        params += (Param("interpolation", "choice", "nearest",
                         "How new pixels are computed: 'nearest' repeats them, the others "
                         "blend neighbours (smoother).", choices=INTERPOLATIONS),)
    return LayerSpec(
        type=layer_type, family=FAMILY,
        help=f"Enlarges the {names} by repeating values (no weights), e.g. in a decoder.",
        params=params,
        infer=_upsampling_infer(layer_type, rank),
        keywords=("upsample", "upsampling", "resize", "enlarge", "decoder", "u-net", "unpool",
                  "interpolate", "repeat"),
        key_params=("size", "interpolation") if rank == 2 else ("size",),
    )


for _rank in (1, 2, 3):
    register(_padding_spec(_rank))
for _rank in (1, 2, 3):
    register(_cropping_spec(_rank))
for _rank in (1, 2, 3):
    register(_upsampling_spec(_rank))
