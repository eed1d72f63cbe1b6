"""KerasLayer, a Keras layer kept as imported, against Keras: on the shapes it was imported with,
the shapes and weight counts it records are exactly what Keras builds again from its class and
config; on any other shapes it refuses with a message naming both; only Keras' own layer
classes are ever built, never one that runs stored code."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from oracle import CHECKED, ours

from netbuilder.core import catalog
from netbuilder.core.catalog import opaque
from netbuilder.core.catalog.base import LayerError

TYPE = opaque.TYPE


def _count(weights) -> int:
    import numpy as np

    return sum(int(np.prod(w.shape)) for w in weights)


def _weights(layer, which: str) -> int:
    return _count(getattr(layer, which, []))  # a Keras operation (x + 3) has none


def imported(layer, shapes: list[tuple], call: Any = "single") -> dict[str, Any]:
    """The parameters an import records for ``layer`` called on ``shapes``."""
    import keras

    from netbuilder.runtime.keras_layers import call_opaque

    tensors = [keras.Input(batch_shape=s) for s in shapes]
    params = {"class_name": type(layer).__name__, "module": type(layer).__module__,
              "config": {k: v for k, v in layer.get_config().items()
                         if k not in ("name", "trainable")},
              "call": call, "input_shapes": [list(s) for s in shapes]}
    out = call_opaque(params, layer, tensors)
    outs = out if isinstance(out, list) else [out]
    params["output_shapes"] = [list(o.shape) for o in outs]
    params["trainable_weights"] = _weights(layer, "trainable_weights")
    params["non_trainable_weights"] = _weights(layer, "non_trainable_weights")
    return params


def rebuilt(params: dict[str, Any], shapes: list[tuple]) -> tuple[list[tuple], int, int]:
    """What Keras gives for the layer built again from ``params`` on ``shapes``."""
    import keras

    from netbuilder.runtime.keras_layers import call_opaque, make_layer

    layer = make_layer(TYPE, params)
    tensors = [keras.Input(batch_shape=s) for s in shapes]
    out = call_opaque(catalog.get(TYPE).resolve(params), layer, tensors)
    outs = out if isinstance(out, list) else [out]
    return ([tuple(o.shape) for o in outs], _weights(layer, "trainable_weights"),
            _weights(layer, "non_trainable_weights"))


def check(params: dict[str, Any], shapes: list[tuple], other: list[tuple]) -> None:
    """Accepted on the import shapes (and equal to Keras), refused on ``other``."""
    mine = ours(TYPE, params, shapes)
    assert mine.ok, mine.error
    assert (mine.outputs, mine.trainable, mine.non_trainable) == rebuilt(params, shapes)
    CHECKED.setdefault(TYPE, set()).add(True)
    if other != shapes:
        refused = ours(TYPE, params, other)
        assert not refused.ok
        assert params["class_name"] in refused.error and "imported" in refused.error
        CHECKED[TYPE].add(False)


DIM = st.integers(1, 6)


@given(h=DIM, w=DIM, c=DIM, init=st.floats(1e-6, 1.0), bump=st.integers(1, 3))
@example(h=4, w=4, c=3, init=1e-6, bump=1)
def test_layer_scale(h, w, c, init, bump):
    from keras.src.applications.convnext import LayerScale

    shapes = [(None, h, w, c)]
    params = imported(LayerScale(init, c), shapes)
    check(params, shapes, [(None, h + bump, w, c)])


@given(h=DIM, c=DIM, scale=st.floats(0.05, 2.0), extra=st.integers(1, 3))
@example(h=3, c=2, scale=0.17, extra=1)
def test_custom_scale_layer_takes_a_list(h, c, scale, extra):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    shapes = [(None, h, h, c), (None, h, h, c)]
    params = imported(CustomScaleLayer(scale), shapes, call="list")
    check(params, shapes, [(None, h, h, c)] * 2 + [(None, h, h, c + extra)])
    check(params, shapes, [(None, h, h, c)])  # fewer inputs than it was imported with


@given(units=st.integers(1, 8), features=st.integers(1, 8), batch=st.sampled_from([None, 2]))
def test_any_keras_layer_with_weights(units, features, batch):
    import keras

    shapes = [(batch, features)]
    params = imported(keras.layers.Dense(units, use_bias=False), shapes)
    assert params["trainable_weights"] == units * features
    check(params, shapes, [(batch, features + 1)])


def test_batch_normalization_counts_its_moving_statistics():
    import keras

    shapes = [(None, 5, 7)]
    params = imported(keras.layers.BatchNormalization(), shapes)
    assert (params["trainable_weights"], params["non_trainable_weights"]) == (14, 14)
    check(params, shapes, [(None, 5, 8)])


def test_operation_called_with_a_constant():
    """``x + 3.0`` (MobileNetV3's hard sigmoid) replayed from its call template."""
    from keras.src.ops.numpy import Add

    shapes = [(None, 4)]
    call = {"args": [{"tensor": 0}, {"value": 3.0}], "kwargs": {}}
    params = imported(Add(), shapes, call=call)
    check(params, shapes, [(None, 5)])


@pytest.mark.parametrize("class_name, module, message", [
    ("system", "os", "not one of Keras' own modules"),
    ("Dense", "keras_evil.layers", "not one of Keras' own modules"),
    ("Lambda", "keras.layers", "runs code stored with it"),
    ("TFSMLayer", "keras.layers", "runs code stored with it"),
    ("Dense; import os", "keras.layers", "invalid Keras class name"),
    ("NoSuchLayer", "keras.layers", "not a Keras layer class"),
    ("Dense", "keras.no_such_module", "no module"),
])
def test_only_keras_own_layers_are_built(class_name, module, message):
    from netbuilder.runtime.keras_layers import make_layer

    params = {"class_name": class_name, "module": module, "config": {}}
    with pytest.raises(LayerError, match=message):
        make_layer(TYPE, params)


def test_a_subclass_of_lambda_is_refused_too():
    from netbuilder.runtime.keras_layers import opaque_class

    with pytest.raises(LayerError, match="runs code"):
        opaque_class("Lambda", "keras.src.layers.core.lambda_layer")


def test_malformed_records_are_errors_not_crashes():
    bad = ours(TYPE, {"input_shapes": "nope"}, [(None, 8)])
    assert not bad.ok and "input_shapes" in bad.error
    none_out = ours(TYPE, {"output_shapes": []}, [(None, 8)])
    assert not none_out.ok and "no output shapes" in none_out.error
