"""Regularization layers (spatial dropout, noise, activity regularization) against Keras: the same
shape out, no weights, and refusals (wrong rank, rates outside 0..1) over generated cases."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy

from netbuilder.core import catalog

batch = st.none() | st.integers(1, 3)
dim = st.integers(1, 9) | st.none()
any_shape = st.sampled_from((3, 4, 5, 2, 1, 6)).flatmap(
    lambda r: st.tuples(batch, *[dim] * (r - 1)))
rate = st.floats(-0.5, 1.5)
seed = st.none() | st.integers(-5, 100)


@pytest.mark.parametrize("rank", (1, 2, 3))
@given(data=st.data())
def test_spatial_dropout(rank, data):
    layer_type = f"SpatialDropout{rank}D"
    params = data.draw(params_strategy(catalog.get(layer_type), {"rate": rate, "seed": seed}),
                       label="params")
    # mostly the right rank (rank + 2), sometimes one off
    shape = data.draw(st.sampled_from((rank + 2, rank + 2, rank + 1, rank + 3)).flatmap(
        lambda r: st.tuples(batch, *[dim] * (r - 1))), label="shape")
    check_layer(layer_type, params, [shape])


@given(params_strategy(catalog.get("GaussianNoise"), {"stddev": rate, "seed": seed}),
       any_shape)
@example({"stddev": 1.0}, (None, 3))
@example({"stddev": 1.01}, (None, 3))
@example({"stddev": -0.1}, (None, 3))
def test_gaussian_noise(params, shape):
    check_layer("GaussianNoise", params, [shape])


@given(params_strategy(catalog.get("GaussianDropout"), {"rate": rate, "seed": seed}),
       any_shape)
@example({"rate": 1.0}, (None, 3))
@example({"rate": 1.5}, (None, 3))
def test_gaussian_dropout(params, shape):
    check_layer("GaussianDropout", params, [shape])


@given(params_strategy(catalog.get("AlphaDropout"), {
    "rate": rate, "seed": seed,
    "noise_shape": st.none() | st.lists(st.none() | st.integers(1, 4), min_size=1, max_size=4),
}), any_shape)
@example({"rate": 0.2, "noise_shape": [None, 1, 5]}, (None, 7, 5))
def test_alpha_dropout(params, shape):
    check_layer("AlphaDropout", params, [shape])


@given(params_strategy(catalog.get("ActivityRegularization"), {
    "l1": st.floats(-0.5, 2.0), "l2": st.floats(-0.5, 2.0)}), any_shape)
@example({"l1": -0.01}, (None, 3))
def test_activity_regularization(params, shape):
    check_layer("ActivityRegularization", params, [shape])
