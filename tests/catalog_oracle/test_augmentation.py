"""Augmentation layers against Keras: shapes and refusals over generated cases.

Factors are drawn beyond Keras' bounds, as numbers and as (lower, upper) pairs in any order, so
that both what Keras accepts (it does not clip pairs) and what it refuses come up. Image shapes
are batched, unbatched (Keras reads a rank-3 tensor as one image) and of other ranks.
"""

from __future__ import annotations

from hypothesis import event, example, given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy

from netbuilder.core import catalog

batch = st.none() | st.none() | st.integers(1, 4)
dim = st.sampled_from((1, 2, 3, 5, 6, 8, 12, None))
size = st.integers(1, 12)

image_shapes = st.one_of(
    st.tuples(batch, dim, dim, dim),                                  # a batch of images
    st.tuples(st.just(None), size, size, st.sampled_from((1, 3))),     # a typical batch
    st.tuples(size, size, st.sampled_from((1, 3, 4))),                # one image, no batch axis
    st.tuples(st.just(None), dim, dim),                               # grayscale without channel
    st.sampled_from((1, 2, 5)).flatmap(lambda r: st.tuples(batch, *[dim] * (r - 1))),
)

number = st.floats(-3.0, 3.0, allow_nan=False)
# Around Keras' bounds (-1, 0, 1) on purpose, and beyond.
edge = st.sampled_from((-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5))
factor_number = number | edge
factor = factor_number | st.tuples(factor_number, factor_number)
value_range = st.tuples(number, number)


def record(outcome) -> None:  # type: ignore[no-untyped-def]
    event("accepted" if outcome.ok else "refused")


def check(layer: str, params, shape) -> None:  # type: ignore[no-untyped-def]
    record(check_layer(layer, params, [shape]))


@given(params_strategy(catalog.get("RandomFlip")), image_shapes)
def test_random_flip(params, shape):
    check("RandomFlip", params, shape)


affine = {"factor": factor, "height_factor": factor, "width_factor": factor,
          "fill_value": number}


@given(params_strategy(catalog.get("RandomRotation"), affine), image_shapes)
@example({"factor": (-5.0, 5.0)}, (None, 6, 7, 3))
@example({"factor": (2.0, 5.0)}, (None, 6, 7, 3))
@example({"factor": -1.0}, (None, 6, 7, 3))
@example({"factor": (1.0, -2.0)}, (None, 6, 7, 3))
@example({"factor": (0.5, -1.0)}, (None, 6, 7, 3))
@example({"factor": (0.5, -1.5)}, (None, 6, 7, 3))
def test_random_rotation(params, shape):
    check("RandomRotation", params, shape)


@given(params_strategy(catalog.get("RandomZoom"), affine), image_shapes)
@example({"height_factor": -1.0}, (None, 6, 7, 3))
@example({"height_factor": 1.0, "width_factor": (-0.5, 1.0)}, (None, 6, 7, 3))
def test_random_zoom(params, shape):
    check("RandomZoom", params, shape)


@given(params_strategy(catalog.get("RandomTranslation"), affine), image_shapes)
@example({"height_factor": -1.0, "width_factor": 1.0}, (None, 6, 7, 3))
def test_random_translation(params, shape):
    check("RandomTranslation", params, shape)


@given(params_strategy(catalog.get("RandomContrast"), {
    "factor": factor, "value_range": value_range}), image_shapes)
@example({"factor": (-3.0, 0.5)}, (None, 6, 7, 3))
@example({"factor": (1.5, 0.5)}, (None, 6, 7, 3))
@example({"factor": (1.0, 0.0)}, (None, 6, 7, 3))
@example({"factor": (0.5, -0.5)}, (None, 6, 7, 3))
def test_random_contrast(params, shape):
    check("RandomContrast", params, shape)


@given(params_strategy(catalog.get("RandomBrightness"), {
    "factor": factor,
    "value_range": value_range | number | st.lists(number, max_size=3)}), image_shapes)
@example({"factor": (-3.0, 0.5), "value_range": (255, 0)}, (None, 6, 7, 3))
def test_random_brightness(params, shape):
    check("RandomBrightness", params, shape)


@given(params_strategy(catalog.get("RandomGrayscale"), {"factor": st.floats(-0.5, 1.5)}),
       image_shapes)
@example({"factor": 1.5}, (None, 6, 7, 3))
def test_random_grayscale(params, shape):
    check("RandomGrayscale", params, shape)


@given(params_strategy(catalog.get("RandomCrop"), {
    "height": st.integers(-1, 14), "width": st.integers(-1, 14)}), image_shapes)
@example({"height": 3, "width": 4}, (None, 5))
@example({"height": 3, "width": 4, "data_format": "channels_first"}, (None, 5))
@example({"height": 3, "width": 4}, (None, 4, 6, 7, 3))
@example({"height": 30, "width": 4}, (None, 6, 7, 3))
def test_random_crop(params, shape):
    check("RandomCrop", params, shape)
