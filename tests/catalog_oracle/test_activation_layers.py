"""Activation layers against Keras: the same shape out, PReLU's slope count (shared_axes) and
refusals (negative slopes, thresholds or caps; unknown sizes PReLU must learn) over generated
cases."""

from hypothesis import example, given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy

from netbuilder.core import catalog

batch = st.none() | st.integers(1, 3)
dim = st.sampled_from((1, 2, 3, 4, 5, 7, None))
any_shape = st.sampled_from((2, 3, 4, 1, 5)).flatmap(lambda r: st.tuples(batch, *[dim] * (r - 1)))
signed = st.floats(-1.0, 8.0)


@given(params_strategy(catalog.get("ReLU"), {
    "max_value": st.none() | signed, "negative_slope": signed, "threshold": signed}), any_shape)
@example({"max_value": 6.0}, (None, 4))
@example({"max_value": -1.0}, (None, 4))
@example({"negative_slope": -0.1}, (None, 4))
@example({"threshold": -0.1}, (None, 4))
def test_relu(params, shape):
    check_layer("ReLU", params, [shape])


@given(params_strategy(catalog.get("LeakyReLU"), {"negative_slope": signed}), any_shape)
@example({"negative_slope": -0.01}, (None, 4))
def test_leaky_relu(params, shape):
    check_layer("LeakyReLU", params, [shape])


@given(params_strategy(catalog.get("ELU"), {"alpha": st.floats(-3.0, 3.0)}), any_shape)
def test_elu(params, shape):
    check_layer("ELU", params, [shape])


shared_axes = (st.none() | st.integers(-4, 5)
               | st.lists(st.integers(1, 4), min_size=1, max_size=3)
               | st.lists(st.integers(-4, 5), min_size=1, max_size=3))


@given(params_strategy(catalog.get("PReLU"), {"shared_axes": shared_axes}), any_shape)
@example({}, (None, 5))
@example({}, (None,))
@example({}, (None, 5, None))
@example({"shared_axes": [1, 2]}, (None, None, None, 3))
@example({"shared_axes": [1, 2]}, (None, 5, 6, 3))
@example({"shared_axes": 0}, (None, 5, 6, 3))
@example({"shared_axes": -1}, (None, 5, 6, 3))
@example({"shared_axes": 4}, (None, 5, 6, 3))
@example({"shared_axes": [1, 1]}, (None, 5, 6, 3))
def test_prelu(params, shape):
    check_layer("PReLU", params, [shape])


@given(st.fixed_dictionaries({}, optional={
    "axis": st.integers(-5, 5) | st.lists(st.integers(-4, 4), min_size=1, max_size=3)}),
    any_shape)
@example({"axis": 5}, (None, 4))
def test_softmax(params, shape):
    check_layer("Softmax", params, [shape])


def test_prelu_counts():
    """One slope per value, or per channel when shared over the image axes."""
    spec = catalog.get("PReLU")
    assert spec.infer(spec.defaults(), [(None, 28, 28, 16)]).trainable == 28 * 28 * 16
    shared = spec.resolve({"shared_axes": [1, 2]})
    assert spec.infer(shared, [(None, None, None, 16)]).trainable == 16
