"""Notes (hints that are not errors) of convolutions and BatchNormalization: given exactly when
their case arises, and none in the usual case (the fast path that skips building them)."""

from __future__ import annotations

import pytest

from netbuilder.core.graph import Graph


def infer(kind, params, shape):
    """The layer's inference result after an Input of ``shape`` (batch dimension first)."""
    g = Graph()
    x = g.add_node("Input", {"shape": list(shape[1:]), **(
        {"batch_size": shape[0]} if shape[0] is not None else {})})
    node = g.add_node(kind, params)
    g.connect(x.id, node.id)
    result = g.inference.result(node.id)
    assert result.error is None, result.error
    return result


@pytest.mark.parametrize("params, shape, note", [
    ({"filters": 4, "kernel_size": 3}, (None, 8, 8, 3), None),
    ({"filters": 4, "kernel_size": 3, "padding": "same"}, (None, 9, 7, 3), None),
    ({"filters": 4, "kernel_size": 1, "strides": 2}, (None, 8, 8, 3), "never looked at"),
    ({"filters": 4, "kernel_size": 2, "strides": 3, "padding": "same"}, (None, 8, 8, 3),
     "never looked at"),
    ({"filters": 4, "kernel_size": 3}, (None, 8, None, 3), None),
])
def test_conv2d_notes(params, shape, note):
    notes = infer("Conv2D", params, shape).notes
    assert (notes == []) if note is None else any(note in n for n in notes), notes


def test_conv1d_and_3d_take_the_general_path():
    assert infer("Conv1D", {"filters": 2, "kernel_size": 3}, (None, 10, 1)).outputs == [
        (None, 8, 2)]
    assert infer("Conv3D", {"filters": 2, "kernel_size": 3, "strides": 2},
                 (None, 9, 9, 9, 1)).outputs == [(None, 4, 4, 4, 2)]


@pytest.mark.parametrize("params, note", [
    ({}, None),
    ({"axis": 1}, None),
    ({"axis": 0}, "batch axis"),
    ({"axis": -4}, "batch axis"),
    ({"momentum": 1.5}, "outside 0..1"),
    ({"epsilon": 0.0}, "divide by zero"),
])
def test_batch_normalization_notes(params, note):
    notes = infer("BatchNormalization", params, (4, 8, 8, 3)).notes
    assert (notes == []) if note is None else any(note in n for n in notes), notes


def test_a_transposed_convolution_that_would_output_a_negative_size_is_refused():
    """Found by the catalog oracle: Keras refuses a negative output size ("Negative dimensions
    are not allowed"); an empty input gives one with 'same' padding and strides 2."""
    keras = pytest.importorskip("keras")
    g = Graph()
    x = g.add_node("Input", {"shape": [0, 0, 3]})
    node = g.add_node("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2,
                                          "padding": "same", "output_padding": 0})
    g.connect(x.id, node.id)
    result = g.inference.result(node.id)
    assert result.error is not None and "negative size" in result.error
    with pytest.raises(ValueError, match="[Nn]egative"):
        keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=0)(
            keras.Input((0, 0, 3)))
