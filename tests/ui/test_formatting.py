"""Texts on nodes and in editors."""

from __future__ import annotations

import pytest

from netbuilder.core import catalog
from netbuilder.core.param_text import text_to_value, value_to_text
from netbuilder.ui.formatting import compact_shape, key_params_text, params_text


def spec_params(layer_type, **params):
    spec = catalog.get(layer_type)
    return spec, spec.resolve(params)


@pytest.mark.parametrize("layer_type, params, text", [
    ("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"},
     "32 · 3×3 · same · relu"),
    ("Conv2D", {"filters": 64, "kernel_size": 3, "strides": 2}, "64 · 3×3 · stride 2"),
    ("Dense", {"units": 10, "activation": "softmax"}, "10 · softmax"),
    ("Dense", {"units": 64}, "64"),
    ("MaxPooling2D", {"pool_size": 2}, "2×2"),
    ("Dropout", {"rate": 0.5}, "rate 0.5"),
    ("Flatten", {}, ""),
    ("LSTM", {"units": 32, "return_sequences": True}, "32 · return_sequences"),
])
def test_key_params_text(layer_type, params, text):
    assert key_params_text(*spec_params(layer_type, **params)) == text


def test_shapes_and_counts():
    assert compact_shape((None, 26, 26, 32)) == "26×26×32"
    assert compact_shape((None, None, 8)) == "?×8"
    assert params_text(0) == "no params"
    assert params_text(1) == "1 param"
    assert params_text(93322) == "93,322 params"


def test_values_round_trip_through_text():
    spec = catalog.get("Conv2D")
    kernel = spec.param("kernel_size")
    assert value_to_text(kernel, (3, 3)) == "3, 3"
    assert text_to_value(kernel, "5, 5") == [5, 5]
    assert text_to_value(kernel, "[5, 5]") == [5, 5]
    assert kernel.normalize(text_to_value(kernel, "5")) == (5, 5)
    shape = catalog.get("Input").param("shape")
    assert text_to_value(shape, "None, 8") == [None, 8]
    assert text_to_value(shape, "(8,)") == [8]
    with pytest.raises(ValueError, match="not a number"):
        text_to_value(kernel, "3, x")
    pad = catalog.get("ZeroPadding2D").param("padding")
    assert text_to_value(pad, "[[1, 2], [3, 4]]") == [[1, 2], [3, 4]]
    assert text_to_value(pad, "") is None
