"""Augmentation layers: random flips, rotations, zooms, shifts, crops and colour changes.

They change each training image at random (to fight overfitting) and pass images through
unchanged when the model evaluates or predicts, except RandomCrop (see its notes). All keep the
shape except RandomCrop. Keras checks little while building the model (it even accepts tensors
that are not images and only fails when the model runs); the specs match what it accepts and say
the rest in notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from netbuilder.core.catalog.preprocessing import (
    IMAGE_FIX,
    VALUE_RANGE,
    channels_last,
    image_notes,
    is_number,
)
from netbuilder.core.catalog.shared_params import DATA_FORMAT, SEED

FAMILY = "Augmentation"


@dataclass(frozen=True)
class KerasFactorParam(Param):
    """A ``factor`` checked the way Keras' image layers check theirs: a number must lie within
    [minimum, maximum]; a pair (lower, upper) is refused only when lower > maximum or
    upper < minimum (Keras does not clip it)."""

    def normalize(self, value: Any) -> Any:
        if (isinstance(value, (list, tuple)) and len(value) == 2
                and all(is_number(v) for v in value)):
            lower, upper = value
            if ((self.maximum is not None and lower > self.maximum)
                    or (self.minimum is not None and upper < self.minimum)):
                raise self._fail(f"a pair (lower, upper) with lower <= {self.maximum:g} and "
                                 f"upper >= {self.minimum:g}", value)
            return (float(lower), float(upper))
        return super().normalize(value)


FILL_MODE = Param(
    "fill_mode", "choice", "reflect",
    "How the pixels that come from outside the image are filled: 'reflect' (mirror), 'wrap', "
    "'nearest' (repeat the edge) or 'constant' (fill_value).",
    choices=("reflect", "wrap", "constant", "nearest"))
INTERPOLATION = Param("interpolation", "choice", "bilinear",
                      "How new pixels are computed: 'bilinear' (smooth) or 'nearest'.",
                      choices=("bilinear", "nearest"))
FILL_VALUE = Param("fill_value", "float", 0.0, "Value of the filled pixels with fill_mode "
                   "'constant'.")


def _shape_kept(layer: str, flops_per_value: int,
                extra: Callable[[dict[str, Any], Shape], list[str]] | None = None) -> InferFn:
    """An infer function for layers that keep the shape (Keras accepts any rank)."""

    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        notes = image_notes(layer, shape)
        if extra is not None:
            notes += extra(p, shape)
        return Inferred([shape], flops=flops_per_value * numel(shape), notes=notes)

    return infer


def _affine_flops(p: dict[str, Any]) -> int:
    return 10 if p["interpolation"] == "bilinear" else 3


def _affine(layer: str) -> InferFn:
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        return Inferred([shape], flops=_affine_flops(p) * numel(shape),
                        notes=image_notes(layer, shape))

    return infer


# --- RandomFlip ---------------------------------------------------------------------------------

register(LayerSpec(
    type="RandomFlip", family=FAMILY,
    help="Flips each training image left–right and/or upside down at random.",
    params=(
        Param("mode", "choice", "horizontal_and_vertical",
              "Which flips: 'horizontal' (left–right, usual for photos), 'vertical' or both.",
              choices=("horizontal", "vertical", "horizontal_and_vertical")),
        SEED,
        DATA_FORMAT,
    ),
    infer=_shape_kept("RandomFlip", 1),
    keywords=("flip", "mirror", "augment", "augmentation", "random", "overfitting"),
    key_params=("mode",),
))


# --- RandomRotation -----------------------------------------------------------------------------

register(LayerSpec(
    type="RandomRotation", family=FAMILY,
    help="Rotates each training image by a random angle.",
    params=(
        KerasFactorParam("factor", "factor", 0.1,
                         "Largest rotation as a fraction of a full turn (0.1 = ±36°), or a "
                         "(lower, upper) pair, e.g. (-0.05, 0.1).", minimum=-1.0, maximum=1.0,
                         required=True),
        FILL_MODE,
        INTERPOLATION,
        SEED,
        FILL_VALUE,
        DATA_FORMAT,
    ),
    infer=_affine("RandomRotation"),
    keywords=("rotate", "rotation", "angle", "augment", "augmentation", "random"),
    key_params=("factor",),
))


# --- RandomZoom ---------------------------------------------------------------------------------

register(LayerSpec(
    type="RandomZoom", family=FAMILY,
    help="Zooms each training image in or out at random.",
    params=(
        Param("height_factor", "factor", 0.1,
              "Zoom range as a fraction of the height (0.2 = from 20% in to 20% out; negative "
              "zooms in), or a (lower, upper) pair; each value in (-1, 1].",
              minimum=-1.0, maximum=1.0, exclusive_minimum=True, required=True),
        Param("width_factor", "factor", None,
              "Zoom range for the width; none keeps the aspect ratio (same zoom as the height).",
              minimum=-1.0, maximum=1.0, exclusive_minimum=True, nullable=True),
        FILL_MODE,
        INTERPOLATION,
        SEED,
        FILL_VALUE,
        DATA_FORMAT,
    ),
    infer=_affine("RandomZoom"),
    keywords=("zoom", "scale", "augment", "augmentation", "random"),
    key_params=("height_factor", "width_factor"),
))


# --- RandomTranslation --------------------------------------------------------------------------

register(LayerSpec(
    type="RandomTranslation", family=FAMILY,
    help="Shifts each training image up/down and left/right at random.",
    params=(
        Param("height_factor", "factor", 0.1,
              "Vertical shift as a fraction of the height (0.1 = up to 10% up or down), or a "
              "(lower, upper) pair; each value in [-1, 1].", minimum=-1.0, maximum=1.0,
              required=True),
        Param("width_factor", "factor", 0.1,
              "Horizontal shift as a fraction of the width, or a (lower, upper) pair.",
              minimum=-1.0, maximum=1.0, required=True),
        FILL_MODE,
        INTERPOLATION,
        SEED,
        FILL_VALUE,
        DATA_FORMAT,
    ),
    infer=_affine("RandomTranslation"),
    keywords=("translate", "shift", "move", "augment", "augmentation", "random"),
    key_params=("height_factor", "width_factor"),
))


# --- RandomContrast -----------------------------------------------------------------------------

register(LayerSpec(
    type="RandomContrast", family=FAMILY,
    help="Raises or lowers each training image's contrast by a random amount.",
    params=(
        KerasFactorParam("factor", "factor", 0.2,
                         "Contrast change: 0.2 scales the contrast by 0.8 to 1.2; a "
                         "(lower, upper) pair scales by 1 - lower to 1 + upper.",
                         minimum=0.0, maximum=1.0, required=True),
        VALUE_RANGE,
        SEED,
        DATA_FORMAT,
    ),
    infer=_shape_kept("RandomContrast", 5),
    keywords=("contrast", "color", "colour", "augment", "augmentation", "random"),
    key_params=("factor",),
))


# --- RandomBrightness ---------------------------------------------------------------------------

register(LayerSpec(
    type="RandomBrightness", family=FAMILY,
    help="Makes each training image brighter or darker by a random amount.",
    params=(
        KerasFactorParam("factor", "factor", 0.2,
                         "Brightness change as a fraction of the value range (0.2 = up to 20% "
                         "darker or brighter), or a (lower, upper) pair.",
                         minimum=-1.0, maximum=1.0, required=True),
        VALUE_RANGE,
        SEED,
        DATA_FORMAT,
    ),
    infer=_shape_kept("RandomBrightness", 3),
    keywords=("brightness", "light", "dark", "color", "colour", "augment", "augmentation",
              "random"),
    key_params=("factor",),
))


# --- RandomGrayscale ----------------------------------------------------------------------------


def _grayscale_notes(p: dict[str, Any], shape: Shape) -> list[str]:
    if len(shape) not in (3, 4):
        return []
    channels = shape[-1] if channels_last(p) else shape[-3]
    if channels is not None and channels not in (1, 3):
        return [f"RandomGrayscale needs 3 (RGB) or 1 channels, the input {fmt_shape(shape)} has "
                f"{channels}: it fails when the model runs"]
    return []


register(LayerSpec(
    type="RandomGrayscale", family=FAMILY,
    help="Turns a random share of the training images grey (keeping 3 channels).",
    params=(
        Param("factor", "float", 0.5, "Probability that an image is turned grey (0 to 1).",
              minimum=0.0, maximum=1.0),
        DATA_FORMAT,
        SEED,
    ),
    infer=_shape_kept("RandomGrayscale", 6, _grayscale_notes),
    keywords=("grayscale", "greyscale", "gray", "grey", "color", "colour", "augment",
              "augmentation", "random"),
    key_params=("factor",),
))


# --- RandomCrop ---------------------------------------------------------------------------------


def _infer_random_crop(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    at = (-3, -2) if channels_last(p) else (-2, -1)
    if len(shape) < -at[0]:
        raise LayerError(
            f"RandomCrop expects images (batch, height, width, channels), got {fmt_shape(shape)}",
            IMAGE_FIX)
    out = list(shape)
    out[at[0]], out[at[1]] = p["height"], p["width"]
    crop = (p["height"], p["width"])
    image = (shape[at[0]], shape[at[1]])
    notes = image_notes("RandomCrop", shape)
    if 0 in crop:
        notes.append(f"RandomCrop makes empty images ({crop[0]}×{crop[1]}); Keras accepts it "
                     "while building, but nothing useful comes out")
    flops = 0
    if any(i is not None and i < c for i, c in zip(image, crop, strict=True)):
        notes.append(
            f"RandomCrop: the image {image[0]}×{image[1]} is smaller than the crop "
            f"{crop[0]}×{crop[1]}; Keras crops to the crop's aspect ratio and resizes it up "
            "instead")
        flops = 8 * numel(tuple(out))
    if image != crop:
        notes.append(
            "RandomCrop in Keras 3.15 passes images through uncropped when the model evaluates "
            "or predicts (keras-team/keras#21868), so later layers then get another size; add "
            f"CenterCrop({crop[0]}, {crop[1]}) right after it")
    return Inferred([tuple(out)], flops=flops, notes=notes)


register(LayerSpec(
    type="RandomCrop", family=FAMILY,
    help="Cuts a height × width window at a random place out of each training image.",
    params=(
        Param("height", "int", 224, "Height of the cropped image, in pixels.", minimum=0,
              required=True),
        Param("width", "int", 224, "Width of the cropped image, in pixels.", minimum=0,
              required=True),
        SEED,
        DATA_FORMAT,
    ),
    infer=_infer_random_crop,
    keywords=("crop", "cut", "random", "augment", "augmentation", "image size"),
    key_params=("height", "width"),
))
