"""Pooling layers against Keras: shapes, parameter counts and refusals over generated cases."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy, shapes

from netbuilder.core import catalog

POOLING = ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
           "AveragePooling1D", "AveragePooling2D", "AveragePooling3D"]
GLOBAL_POOLING = ["GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
                  "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"]


def rank_of(layer_type: str) -> int:
    """Spatial axes of a ``...ND`` layer."""
    return int(layer_type[-2])


def inputs(rank: int, hi: int = 8) -> st.SearchStrategy:
    """Mostly inputs of the layer's own rank (rank spatial axes + batch + channels), sometimes
    another rank (vectors, images into 1D layers, ...)."""
    return st.one_of(
        shapes(rank + 2, hi=hi),
        shapes(rank + 2, hi=hi),
        st.integers(1, 6).flatmap(lambda r: shapes(r, hi=hi)),
    )


def pool_params(layer_type: str) -> st.SearchStrategy:
    rank = rank_of(layer_type)
    # pool_size and strides 0 are refused by Keras (0 pool; 0 stride divides by zero).
    size = st.integers(0, 4) | st.tuples(*[st.integers(1, 4)] * rank)
    stride = st.none() | st.integers(0, 3) | st.tuples(*[st.integers(1, 3)] * rank)
    return params_strategy(catalog.get(layer_type), {"pool_size": size, "strides": stride})


@pytest.mark.parametrize("layer_type", POOLING)
def test_pooling(layer_type):
    @given(pool_params(layer_type), inputs(rank_of(layer_type), hi=6))
    def run(params, shape):
        check_layer(layer_type, params, [shape])

    run()


@pytest.mark.parametrize("layer_type", GLOBAL_POOLING)
def test_global_pooling(layer_type):
    @given(params_strategy(catalog.get(layer_type)), inputs(rank_of(layer_type), hi=12))
    def run(params, shape):
        check_layer(layer_type, params, [shape])

    run()


def test_pooling_fixed_cases():
    """Accepted and refused layers on fixed cases, and what the messages say."""
    ok = check_layer("MaxPooling2D", {"pool_size": 3}, [(None, 4, 4, 3)])
    assert ok.ok and ok.outputs == [(None, 1, 1, 3)]
    refused = check_layer("MaxPooling2D", {"pool_size": 3}, [(None, 2, 4, 3)])
    assert not refused.ok and "height" in refused.error and "padding='same'" in refused.error
    refused = check_layer("MaxPooling2D", {}, [(None, 784)])
    assert "rank 4 (batch, height, width, channels)" in refused.error
    assert "Reshape" in refused.error
    refused = check_layer("MaxPooling1D", {}, [(None, 28, 28, 1)])
    assert "MaxPooling2D" in refused.error
    refused = check_layer("AveragePooling1D", {"pool_size": 2, "strides": 0}, [(None, 8, 3)])
    assert not refused.ok
    same = check_layer("AveragePooling3D", {"pool_size": (3, 2, 1), "padding": "same",
                                            "data_format": "channels_first"},
                       [(None, 2, 1, None, 5)])
    assert same.outputs == [(None, 2, 1, None, 5)]
    first = check_layer("GlobalAveragePooling2D", {"data_format": "channels_first",
                                                   "keepdims": True}, [(None, 3, 5, 5)])
    assert first.outputs == [(None, 3, 1, 1)]
