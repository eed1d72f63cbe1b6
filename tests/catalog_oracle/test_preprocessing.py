"""Preprocessing layers against Keras: shapes, parameter counts (Normalization's mean, variance
and count) and refusals over generated cases.

Image shapes come batched (batch, height, width, channels), unbatched (height, width, channels:
Keras reads a rank-3 tensor as one image), with a fixed batch, and of other ranks, which Keras
sometimes accepts while building and sometimes refuses.
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
numbers = st.lists(number, min_size=1, max_size=4)
crop_size = st.integers(-1, 14)


def record(outcome) -> None:  # type: ignore[no-untyped-def]
    event("accepted" if outcome.ok else "refused")


@given(params_strategy(catalog.get("Rescaling"), {
    "scale": number | numbers, "offset": number | numbers}), image_shapes)
@example({"scale": [0.5, 0.25, 2.0]}, (None, 8, 8, 3))
def test_rescaling(params, shape):
    record(check_layer("Rescaling", params, [shape]))


@st.composite
def normalization_params(draw):  # type: ignore[no-untyped-def]
    """Axis, and mean/variance that mostly share a shape that often fits the kept axes."""
    params = {}
    if draw(st.booleans()):
        params["axis"] = draw(st.none() | st.integers(-5, 4)
                              | st.lists(st.integers(-5, 4), min_size=1, max_size=3))
    if draw(st.booleans()):
        params["invert"] = draw(st.booleans())
    kind = draw(st.sampled_from(("none", "scalar", "same", "same", "other", "one")))
    if kind == "scalar":
        params["mean"], params["variance"] = draw(number), draw(st.floats(0.0, 4.0))
    elif kind in ("same", "other"):
        shape = draw(st.lists(st.sampled_from((1, 2, 3, 5, 6)), min_size=1, max_size=3))

        def array(s):  # type: ignore[no-untyped-def]
            if not s:
                return draw(number)
            return [array(s[1:]) for _ in range(s[0])]

        params["mean"] = array(shape)
        other = shape if kind == "same" else draw(
            st.lists(st.sampled_from((1, 2, 3)), min_size=0, max_size=2))
        params["variance"] = array(other)
    elif kind == "one":
        params[draw(st.sampled_from(("mean", "variance")))] = draw(number)
    return params


@given(normalization_params(), image_shapes)
@example({}, (None, 5))
@example({"axis": None}, (None,))
@example({"axis": (1, 2)}, (None, 6, 7, 3))
@example({"axis": (1, 1)}, (None, 6, 7, 3))
@example({"axis": (3, -1)}, (None, 6, 7, 1))
@example({"axis": 0}, (4, 6, 7, 3))
@example({"mean": [1.0, 2.0], "variance": [1.0, 2.0]}, (None, 6, 7, 3))
@example({"mean": [1.0], "variance": [1.0]}, (None, 6, 7, 3))
@example({"axis": (1, 2), "mean": [[1.0]], "variance": [[1.0]]}, (None, 6, 7, 3))
@example({"axis": (1, 1), "mean": [1.0] * 6, "variance": [1.0] * 6}, (None, 6, 7, 3))
def test_normalization(params, shape):
    record(check_layer("Normalization", params, [shape]))


def sized(layer: str):  # type: ignore[no-untyped-def]
    return params_strategy(catalog.get(layer), {
        "height": crop_size, "width": crop_size, "fill_value": number})


@given(sized("Resizing"), image_shapes)
@example({"height": 3, "width": 4}, (None, 5))
@example({"height": 3, "width": 4, "data_format": "channels_first"}, (None, 5))
@example({"height": 3, "width": 4, "data_format": "channels_first"}, (None, 4, 6, 7, 3))
@example({"height": 3, "width": 4, "crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True},
         (None, 6, 7, 3))
def test_resizing(params, shape):
    record(check_layer("Resizing", params, [shape]))


@given(sized("CenterCrop"), image_shapes)
@example({"height": 30, "width": 4}, (None, 6, 7, 3))
@example({"height": 3, "width": 4}, (None, 4, 6, 7, 3))
@example({"height": 3, "width": 4, "data_format": "channels_first"}, (6, 7, 3))
def test_center_crop(params, shape):
    record(check_layer("CenterCrop", params, [shape]))


@given(params_strategy(catalog.get("AutoContrast"), {
    "value_range": st.tuples(number, number) | number | st.lists(number, max_size=3)}),
    image_shapes)
def test_auto_contrast(params, shape):
    record(check_layer("AutoContrast", params, [shape]))
