"""Preprocessing layers: Rescaling, Normalization, Resizing, CenterCrop, AutoContrast.

They run inside the model (in training and inference alike) and prepare the raw input: scale pixel
values, standardise features, bring images to one size. The image layers follow Keras' symbolic
shape rules exactly, including its odd ones: Keras reads a rank-3 tensor as one image without a
batch axis, and a few layers accept tensors of other ranks while building the model and only fail
when it runs; the specs say so in notes.
"""

from __future__ import annotations

import math
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
from netbuilder.core.catalog.shared_params import DATA_FORMAT

FAMILY = "Preprocessing"

IMAGE_FIX = "insert Reshape before it to give each sample the shape (height, width, channels)"


# --- parameters with Keras' own checks ----------------------------------------------------------


def is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def array_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a number or a rectangular nested list of numbers, as ``np.shape`` gives it;
    None when ``value`` is neither (ragged lists, strings, ...)."""
    if is_number(value):
        return ()
    if isinstance(value, (list, tuple)):
        inner = [array_shape(v) for v in value]
        if any(s is None for s in inner):
            return None
        if inner and any(s != inner[0] for s in inner):
            return None
        return (len(value),) + (inner[0] if inner else ())
    return None


@dataclass(frozen=True)
class NumberArrayParam(Param):
    """A ``json`` parameter holding a number or a (nested, rectangular) list of numbers.

    ``max_rank`` bounds the nesting (1: a number or a flat list).
    """

    max_rank: int | None = None

    def normalize(self, value: Any) -> Any:
        if value is None and self.nullable:
            return None
        shape = array_shape(value)
        if shape is None or (self.max_rank is not None and len(shape) > self.max_rank):
            what = "a number or a list of numbers" if self.max_rank == 1 else (
                "a number or a (nested) list of numbers")
            raise self._fail(what, value)
        if shape == ():
            return float(value)
        return super().normalize(value)


# --- shapes of images ---------------------------------------------------------------------------


def channels_last(p: dict[str, Any]) -> bool:
    return p.get("data_format") in (None, "channels_last")


def image_notes(layer: str, shape: Shape) -> list[str]:
    """Hints for inputs that Keras accepts while building but reads unlike a batch of images."""
    if len(shape) == 4:
        return []
    if len(shape) == 3:
        return [f"{layer} reads the rank-3 input {fmt_shape(shape)} as one image (height, width, "
                "channels) without a batch axis, so the batch axis becomes the height; for "
                f"grayscale images insert Reshape to {fmt_shape(tuple(shape[1:]) + (1,))} "
                "before it"]
    return [f"{layer} accepts {fmt_shape(shape)} while the model is built, but fails when it runs: "
            "images must have rank 4 (batch, height, width, channels)"]


def set_height_width(layer: str, p: dict[str, Any], shape: Shape) -> Shape:
    """Keras' ``compute_output_shape`` of Resizing and CenterCrop: a rank-4 tensor is a batch of
    images; any other rank is read as one image, its height and width counted from axis 0."""
    rank = len(shape)
    if rank == 4:
        at = (1, 2) if channels_last(p) else (2, 3)
    else:
        at = (0, 1) if channels_last(p) else (1, 2)
    if at[1] >= rank:
        raise LayerError(
            f"{layer} expects images (batch, height, width, channels), got {fmt_shape(shape)}",
            IMAGE_FIX)
    out = list(shape)
    out[at[0]], out[at[1]] = p["height"], p["width"]
    return tuple(out)


def size_notes(layer: str, p: dict[str, Any]) -> list[str]:
    if p["height"] == 0 or p["width"] == 0:
        return [f"{layer} makes empty images ({p['height']}×{p['width']}); Keras accepts it "
                "while building, but nothing useful comes out"]
    return []


def _hw(p: dict[str, Any], shape: Shape) -> tuple[Any, Any]:
    """(height, width) of a batch of images, or (None, None) for other ranks."""
    if len(shape) != 4:
        return None, None
    return (shape[1], shape[2]) if channels_last(p) else (shape[2], shape[3])


def height_width_params(default: int, what: str) -> tuple[Param, Param]:
    return (
        Param("height", "int", default, f"Height of the {what} image, in pixels.", minimum=0,
              required=True),
        Param("width", "int", default, f"Width of the {what} image, in pixels.", minimum=0,
              required=True),
    )


# --- Rescaling ----------------------------------------------------------------------------------


def _infer_rescaling(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    notes = []
    last = shape[-1] if len(shape) > 1 else None
    for name in ("scale", "offset"):
        value = p[name]
        if isinstance(value, tuple) and last is not None and len(value) not in (1, last):
            notes.append(
                f"Rescaling: {name} has {len(value)} values but the input {fmt_shape(shape)} "
                f"has {last} channels; they will not match when the model runs (give 1 or {last} "
                "values)")
    return Inferred([shape], flops=2 * numel(shape), notes=notes)


register(LayerSpec(
    type="Rescaling", family=FAMILY,
    help="Multiplies every input value by scale and adds offset, e.g. 1/255 maps pixels to 0–1.",
    params=(
        NumberArrayParam("scale", "json", 1.0 / 255.0,
                         "Factor for every value (1/255 maps 0–255 pixels to 0–1), or one "
                         "factor per channel.", max_rank=1, required=True),
        NumberArrayParam("offset", "json", 0.0,
                         "Added after scaling (with scale 1/127.5, offset -1 gives -1 to 1), or "
                         "one value per channel.", max_rank=1),
    ),
    infer=_infer_rescaling,
    keywords=("rescale", "scale", "normalize", "pixels", "255", "preprocess", "range"),
    key_params=("scale", "offset"),
))


# --- Normalization ------------------------------------------------------------------------------


def _prod(values: Any) -> int:
    n = 1
    for v in values:
        n *= v
    return n


def _infer_normalization(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    axis = p["axis"]
    axes: tuple[int, ...] = () if axis is None else (axis,) if isinstance(axis, int) else axis
    mean, variance = p["mean"], p["variance"]
    if (mean is None) != (variance is None):
        raise LayerError(
            "Normalization: set both mean and variance, or neither (then adapt() learns them "
            f"from data); got mean={mean!r} and variance={variance!r}",
            "give the other one too, or clear both")
    mean_shape: tuple[int, ...] = ()
    if mean is not None:
        mean_shape = array_shape(mean) or ()
        var_shape = array_shape(variance) or ()
        if mean_shape != var_shape:
            raise LayerError(
                f"Normalization: mean has shape {fmt_shape(mean_shape)} but variance has shape "
                f"{fmt_shape(var_shape)}", "give mean and variance the same number of values")
        if len(mean_shape) > len(axes):
            raise LayerError(
                f"Normalization: mean of shape {fmt_shape(mean_shape)} has more dimensions than "
                f"there are kept axes (axis={axis!r})",
                "give one value per index of the kept axis, or a single number")
    ndim = len(shape)
    bad = [a for a in axes if a < -ndim or a >= ndim]
    if bad:
        raise LayerError(
            f"Normalization: axis {bad[0]} does not exist in the input {fmt_shape(shape)} "
            f"(rank {ndim})", f"use an axis from {-ndim} to {ndim - 1}, e.g. -1 for the features")
    keep = sorted(a + ndim if a < 0 else a for a in axes)
    for d in keep:
        if shape[d] is None:
            what = "the batch axis" if d == 0 else f"axis {d}"
            raise LayerError(
                f"Normalization keeps one mean per index of {what}, whose size is unknown in "
                f"{fmt_shape(shape)}",
                "choose another axis (e.g. -1 for the features) or give the input a fixed size")
    broadcast = [shape[d] if d in keep else 1 for d in range(ndim)]
    kept_shape = tuple(shape[d] for d in keep)
    if mean is None:
        size = _prod(kept_shape)  # type: ignore[arg-type]
        if size != _prod(broadcast):
            raise LayerError(
                f"Normalization: axis {axis!r} names an axis twice", "list each axis once")
        non_trainable = 2 * size + 1  # mean, variance and the count of adapted samples
    else:
        non_trainable = 0
        if mean_shape:
            expanded = [1] * ndim
            for i in range(1, len(mean_shape) + 1):
                expanded[keep[-i]] = mean_shape[-i]
            if _prod(expanded) != _prod(mean_shape):
                raise LayerError(
                    f"Normalization: axis {axis!r} names an axis twice", "list each axis once")
            if any(e != b and e != 1 for e, b in zip(expanded, broadcast, strict=True)):
                raise LayerError(
                    f"Normalization: mean and variance of shape {fmt_shape(mean_shape)} do not "
                    f"fit the kept axes {fmt_shape(kept_shape)} of the input {fmt_shape(shape)}",
                    f"give {fmt_shape(kept_shape)} values (one per index), or a single number")
    notes = []
    if mean is None:
        notes.append("Normalization starts with mean 0 and variance 1: call adapt() on "
                     "training data before training, or set mean and variance")
    return Inferred([shape], non_trainable=non_trainable, flops=2 * numel(shape), notes=notes)


register(LayerSpec(
    type="Normalization", family=FAMILY,
    help="Standardises features to mean 0 and variance 1, with statistics from adapt() or given.",
    params=(
        Param("axis", "axes", -1,
              "Axis (or axes) with a separate mean and variance per index (-1: per feature or "
              "channel); none for one mean and variance for everything.", nullable=True),
        NumberArrayParam("mean", "json", None,
                         "Mean to subtract (a number, or one per index of the kept axis); none: "
                         "learn it with adapt().", nullable=True),
        NumberArrayParam("variance", "json", None,
                         "Variance to divide by (its square root); set together with mean.",
                         nullable=True),
        Param("invert", "bool", False,
              "Undo the normalization instead (turns standardised values back)."),
    ),
    infer=_infer_normalization,
    keywords=("normalize", "standardize", "mean", "variance", "adapt", "preprocess", "z-score"),
    key_params=("axis",),
))


# --- Resizing -----------------------------------------------------------------------------------

# Multiply-adds per output value of each resizing filter (taps in 2-D).
RESIZE_TAPS = {"nearest": 0, "bilinear": 4, "bicubic": 16, "area": 4, "lanczos3": 36,
               "lanczos5": 100}


def _infer_resizing(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    out = set_height_width("Resizing", p, shape)
    notes = image_notes("Resizing", shape) + size_notes("Resizing", p)
    if p["crop_to_aspect_ratio"] and p["pad_to_aspect_ratio"]:
        notes.append("Resizing: crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be on; "
                     "Keras accepts it while building but it fails when the model runs")
    flops = max(1, 2 * RESIZE_TAPS[p["interpolation"]]) * numel(out)
    return Inferred([out], flops=flops, notes=notes)


register(LayerSpec(
    type="Resizing", family=FAMILY,
    help="Resizes images to a fixed height and width (e.g. to the input size of a pretrained "
         "model).",
    params=(
        *height_width_params(224, "resized"),
        Param("interpolation", "choice", "bilinear",
              "How new pixels are computed: 'bilinear' (smooth), 'nearest' (blocky, keeps "
              "values), 'bicubic', 'lanczos3', 'lanczos5' (sharper), 'area'.",
              choices=("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5")),
        Param("crop_to_aspect_ratio", "bool", False,
              "Crop the centre first so that the image is not stretched."),
        Param("pad_to_aspect_ratio", "bool", False,
              "Pad the short side first so that the image is not stretched."),
        Param("fill_mode", "choice", "constant",
              "How padding is filled with pad_to_aspect_ratio (only 'constant' is supported).",
              choices=("constant",)),
        Param("fill_value", "float", 0.0, "Value of the padded pixels."),
        Param("antialias", "bool", False,
              "Blur before shrinking, to avoid aliasing (slower)."),
        DATA_FORMAT,
    ),
    infer=_infer_resizing,
    keywords=("resize", "scale", "image size", "upsample", "downsample", "preprocess"),
    key_params=("height", "width"),
))


# --- CenterCrop ---------------------------------------------------------------------------------


def _infer_center_crop(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    if len(shape) not in (3, 4):
        raise LayerError(
            f"CenterCrop expects images (batch, height, width, channels), got {fmt_shape(shape)}",
            IMAGE_FIX)
    out = set_height_width("CenterCrop", p, shape)
    notes = image_notes("CenterCrop", shape) + size_notes("CenterCrop", p)
    height, width = _hw(p, shape)
    flops = 0
    if (height is not None and height < p["height"]) or (width is not None and width < p["width"]):
        notes.append(
            f"CenterCrop: the image {height}×{width} is smaller than the crop "
            f"{p['height']}×{p['width']}; Keras crops to the crop's aspect ratio and resizes it "
            "up instead")
        flops = 8 * numel(out)
    return Inferred([out], flops=flops, notes=notes)


register(LayerSpec(
    type="CenterCrop", family=FAMILY,
    help="Cuts the central height × width window out of each image.",
    params=(*height_width_params(224, "cropped"), DATA_FORMAT),
    infer=_infer_center_crop,
    keywords=("crop", "center", "centre", "cut", "image size", "preprocess"),
    key_params=("height", "width"),
))


# --- AutoContrast -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairParam(Param):
    """A ``factor`` parameter that must be a pair of numbers (a range such as (0, 255))."""

    def normalize(self, value: Any) -> Any:
        if not (isinstance(value, (list, tuple)) and len(value) == 2
                and all(is_number(v) for v in value)):
            raise self._fail("a pair of numbers (low, high)", value)
        return super().normalize(value)


VALUE_RANGE = PairParam("value_range", "factor", (0, 255),
                        "Range of the pixel values, e.g. (0, 255) or (0, 1).")


def _infer_auto_contrast(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    return Inferred([shape], flops=6 * numel(shape), notes=image_notes("AutoContrast", shape))


register(LayerSpec(
    type="AutoContrast", family=FAMILY,
    help="Stretches each image's values so that its darkest pixel becomes the low end of the "
         "range and its brightest the high end.",
    params=(VALUE_RANGE, DATA_FORMAT),
    infer=_infer_auto_contrast,
    keywords=("contrast", "auto", "stretch", "histogram", "image", "preprocess"),
    key_params=("value_range",),
))
