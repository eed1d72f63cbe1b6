"""Pooling layers against Keras: shapes, parameter counts and refusals over generated cases."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netbuilder.core import catalog
from oracle import check_layer, params_strategy, shapes


def inputs(rank: int, hi: int = 8) -> st.SearchStrategy:
    """Mostly inputs of the layer's own rank (rank spatial axes + batch + channels), sometimes
    another rank (vectors, images into 1D layers, ...)."""
    return st.one_of(
        shapes(rank + 2, hi=hi),
        shapes(rank + 2, hi=hi),
        st.integers(1, 6).flatmap(lambda r: shapes(r, hi=hi)),
    )


def pool_params(rank: int, spec_type: str) -> st.SearchStrategy:
    # pool_size and strides 0 are refused by Keras (0 pool; 0 stride divides by zero).
    size = st.integers(0, 4) | st.tuples(*[st.integers(1, 4)] * rank)
    stride = st.none() | st.integers(0, 3) | st.tuples(*[st.integers(1, 3)] * rank)
    return params_strategy(catalog.get(spec_type), {"pool_size": size, "strides": stride})


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("base", ["MaxPooling", "AveragePooling"])
def test_pooling(base, rank):
    spec_type = f"{base}{rank}D"

    @given(pool_params(rank, spec_type), inputs(rank, hi=6))
    def run(params, shape):
        check_layer(spec_type, params, [shape])

    run()


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("base", ["GlobalMaxPooling", "GlobalAveragePooling"])
def test_global_pooling(base, rank):
    spec_type = f"{base}{rank}D"

    @given(params_strategy(catalog.get(spec_type)), inputs(rank, hi=12))
    def run(params, shape):
        check_layer(spec_type, params, [shape])

    run()


def test_pooling_reaches_both_outcomes():
    """The generated cases include accepted and refused layers (pool too big for the input)."""
    ok = check_layer("MaxPooling2D", {"pool_size": 3}, [(None, 4, 4, 3)])
    assert ok.ok and ok.outputs == [(None, 1, 1, 3)]
    refused = check_layer("MaxPooling2D", {"pool_size": 3}, [(None, 2, 4, 3)])
    assert not refused.ok and "height" in refused.error and "padding='same'" in refused.error
    refused = check_layer("MaxPooling2D", {}, [(None, 784)])
    assert "rank 4 (batch, height, width, channels)" in refused.error
    assert "Reshape" in refused.error
    refused = check_layer("AveragePooling1D", {"strides": 0}, [(None, 8, 3)])
    assert not refused.ok
    first = check_layer("GlobalAveragePooling2D", {"data_format": "channels_first",
                                                   "keepdims": True}, [(None, 3, 5, 5)])
    assert first.outputs == [(None, 3, 1, 1)]
