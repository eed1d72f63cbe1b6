"""ZeroPadding, Cropping and UpSampling against Keras: shapes and refusals over generated cases."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy, shapes

from netbuilder.core import catalog

ZERO_PADDING = ["ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"]
CROPPING = ["Cropping1D", "Cropping2D", "Cropping3D"]
UPSAMPLING = ["UpSampling1D", "UpSampling2D", "UpSampling3D"]


def rank_of(layer_type: str) -> int:
    """Spatial axes of a ``...ND`` layer."""
    return int(layer_type[-2])


def inputs(rank: int, hi: int = 7) -> st.SearchStrategy:
    """Mostly inputs of the layer's own rank, sometimes another rank."""
    return st.one_of(
        shapes(rank + 2, hi=hi),
        shapes(rank + 2, hi=hi),
        st.integers(1, 6).flatmap(lambda r: shapes(r, hi=hi)),
    )


def pair(lo: int) -> st.SearchStrategy:
    return st.tuples(st.integers(lo, 3), st.integers(0, 3))


def per_axis_values(rank: int, lo: int) -> st.SearchStrategy:
    """Every form Keras takes (an int, one value per axis, a pair per axis, mixed), plus wrong
    lengths and negative values (``lo`` < 0)."""
    entry = st.integers(lo, 3) | pair(lo)
    if rank == 1:
        return st.one_of(
            st.integers(lo, 3), pair(lo),
            st.lists(st.integers(0, 3), min_size=1, max_size=3))
    return st.one_of(
        st.integers(lo, 3),
        st.integers(lo, -1),
        st.tuples(*[entry] * rank),
        st.tuples(*[entry] * rank),
        st.lists(st.integers(0, 2) | st.lists(st.integers(0, 2), min_size=1, max_size=3),
                 min_size=rank - 1, max_size=rank + 1),
    )


@pytest.mark.parametrize("spec_type", ZERO_PADDING)
def test_zero_padding(spec_type):
    rank = rank_of(spec_type)
    # ZeroPadding2D/3D take a negative int (the shape shrinks; negative sizes are refused).
    padding = per_axis_values(rank, lo=-4)

    @given(params_strategy(catalog.get(spec_type), {"padding": padding}), inputs(rank))
    def run(params, shape):
        check_layer(spec_type, params, [shape])

    run()


@pytest.mark.parametrize("spec_type", CROPPING)
def test_cropping(spec_type):
    rank = rank_of(spec_type)
    cropping = per_axis_values(rank, lo=-1)

    @given(params_strategy(catalog.get(spec_type), {"cropping": cropping}), inputs(rank, hi=5))
    def run(params, shape):
        check_layer(spec_type, params, [shape])

    run()


@pytest.mark.parametrize("spec_type", UPSAMPLING)
def test_upsampling(spec_type):
    rank = rank_of(spec_type)
    size = st.integers(0, 3) if rank == 1 else (
        st.integers(0, 3) | st.tuples(*[st.integers(1, 3)] * rank))

    @given(params_strategy(catalog.get(spec_type), {"size": size}), inputs(rank))
    def run(params, shape):
        check_layer(spec_type, params, [shape])

    run()


def test_forms_and_refusals():
    """Each Keras form of padding/cropping, and the refusals, on fixed cases."""
    out = check_layer("ZeroPadding2D", {"padding": [1, [2, 3]]}, [(None, 4, 4, 3)])
    assert out.outputs == [(None, 6, 9, 3)]
    out = check_layer("ZeroPadding2D", {"padding": -1}, [(None, 5, 5, 3)])
    assert out.outputs == [(None, 3, 3, 3)]
    out = check_layer("ZeroPadding2D", {"padding": -3}, [(None, None, 5, 3)])
    assert not out.ok and "width" in out.error
    out = check_layer("ZeroPadding1D", {"padding": -1}, [(None, 5, 3)])
    assert not out.ok
    out = check_layer("Cropping2D", {"cropping": ((2, 2), (0, 0))}, [(None, 4, 5, 3)])
    assert not out.ok and "height" in out.error and "crop less" in out.error
    out = check_layer("Cropping2D", {"cropping": ((1, 1), (0, 0))}, [(None, 2, 5, 3)])
    assert not out.ok  # cropping all of an axis is refused, not an empty axis
    out = check_layer("Cropping3D", {"cropping": 1}, [(None, 3, None, 4, 2)])
    assert out.outputs == [(None, 1, None, 2, 2)]
    out = check_layer("Cropping1D", {"cropping": (0, 2)}, [(None, 3, 5)])
    assert out.outputs == [(None, 1, 5)]
    out = check_layer("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear",
                                       "data_format": "channels_first"}, [(None, 3, 4, 5)])
    assert out.outputs == [(None, 3, 8, 15)]
    out = check_layer("UpSampling3D", {}, [(None, 28, 28, 1)])
    assert not out.ok and "UpSampling2D" in out.error


def test_negative_padding_note():
    spec = catalog.get("ZeroPadding2D")
    result = spec.infer(spec.resolve({"padding": -1}), [(None, 5, 5, 3)])
    assert result.outputs == [(None, 3, 3, 3)] and result.notes
