"""Every spec offers every argument a user sets in Keras, with Keras' own default."""

import inspect

import pytest

from netbuilder.core import catalog

# Constructor arguments that are not layer settings a user edits: they belong to the node (name,
# dtype, trainable), describe tensors rather than the layer, or carry data rather than settings.
NOT_SETTINGS = {
    "name", "dtype", "trainable", "input_shape", "autocast", "batch_shape", "input_tensor",
    "optional", "ragged", "sparse", "quantization_config", "weights", "backward_layer",
}

SPECS = catalog.all_specs()


def keras_arguments(spec):
    import keras

    cls = getattr(keras.layers, spec.class_name)
    sig = inspect.signature(cls.__init__)
    return {n: p.default for n, p in sig.parameters.items()
            if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.type)
def test_every_keras_argument_is_a_parameter(spec):
    if spec.keras_kwargs is not None:
        pytest.skip("parameters are mapped to Keras' arguments by keras_kwargs")
    missing = set(keras_arguments(spec)) - {p.name for p in spec.params} - NOT_SETTINGS
    assert not missing, f"{spec.type} lacks Keras arguments {sorted(missing)}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.type)
def test_defaults_are_keras_defaults(spec):
    if spec.keras_kwargs is not None:
        pytest.skip("parameters are mapped to Keras' arguments by keras_kwargs")
    arguments = keras_arguments(spec)
    wrong = []
    for p in spec.params:
        if p.name not in arguments:
            continue
        keras_default = arguments[p.name]
        if keras_default is inspect.Parameter.empty:
            assert p.required, f"{spec.type}.{p.name} has no default in Keras: mark it required"
            continue
        ours = p.normalize(p.default)
        if p.kind == "activation" and keras_default is None:
            keras_default = "linear"
        try:
            theirs = p.normalize(keras_default)
        except catalog.ParamError:
            theirs = keras_default
        if ours != theirs:
            wrong.append(f"{p.name}: ours {ours!r}, Keras {keras_default!r}")
    assert not wrong, f"{spec.type}: " + "; ".join(wrong)
