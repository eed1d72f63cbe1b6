"""Core layers against Keras: shapes, parameter counts and refusals over generated cases."""

from hypothesis import example, given
from hypothesis import strategies as st
from oracle import CHECKED, check_layer, params_strategy, shapes

from netbuilder.core import catalog

any_shape = st.integers(1, 5).flatmap(lambda r: shapes(r, hi=9))


@given(params_strategy(catalog.get("Dense"), {"units": st.integers(-1, 40),
                                              "lora_rank": st.none() | st.integers(0, 4)}),
       any_shape)
def test_dense(params, shape):
    check_layer("Dense", params, [shape])


@given(params_strategy(catalog.get("Activation"), {
    "activation": st.sampled_from(["relu", "softmax", "gelu", "linear", "no_such_function"])}),
    any_shape)
# the one refusal the generated cases reach only now and then (about 1 in 10): always tried
@example({"activation": "no_such_function"}, (None, 4))
def test_activation(params, shape):
    check_layer("Activation", params, [shape])


@given(params_strategy(catalog.get("Dropout"), {
    "rate": st.floats(-0.5, 1.5),
    "noise_shape": st.none(),
}), any_shape)
def test_dropout(params, shape):
    check_layer("Dropout", params, [shape])


@given(st.fixed_dictionaries({}, optional={"data_format": st.sampled_from(
    [None, "channels_last", "channels_first", "channels_middle"])}), any_shape)
def test_flatten(params, shape):
    check_layer("Flatten", params, [shape])


@given(st.lists(st.sampled_from([-1, 1, 2, 3, 4, 6, 12]), min_size=1, max_size=4),
       st.integers(1, 4).flatmap(lambda r: shapes(r, hi=6, unknown=False)) | shapes(3, hi=6))
def test_reshape(target, shape):
    check_layer("Reshape", {"target_shape": target}, [shape])


@given(st.integers(1, 4).flatmap(lambda n: st.permutations(list(range(1, n + 1))))
       | st.lists(st.integers(1, 4), min_size=1, max_size=4),
       st.integers(2, 5).flatmap(lambda r: shapes(r, hi=6)))
def test_permute(dims, shape):
    check_layer("Permute", {"dims": dims}, [shape])


@given(params_strategy(catalog.get("RepeatVector"), {"n": st.integers(1, 10)}), any_shape)
def test_repeat_vector(params, shape):
    check_layer("RepeatVector", params, [shape])


@given(params_strategy(catalog.get("Embedding"), {
    "input_dim": st.integers(0, 50), "output_dim": st.integers(0, 20),
    "lora_rank": st.none() | st.integers(0, 4)}), any_shape)
def test_embedding(params, shape):
    check_layer("Embedding", params, [shape], dtype="int32")


@given(st.lists(st.integers(1, 30) | st.none(), min_size=1, max_size=4),
       st.none() | st.integers(1, 8))
def test_input(shape, batch_size):
    from netbuilder.runtime.keras_layers import make_layer

    spec = catalog.get("Input")
    ours = spec.infer(spec.resolve({"shape": shape, "batch_size": batch_size}), []).outputs
    layer = make_layer("Input", {"shape": shape, "batch_size": batch_size})
    assert ours == [tuple(layer.output.shape)]
    CHECKED.setdefault("Input", set()).add(True)
