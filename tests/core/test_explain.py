"""The learner's explanations: every number a line shows is computed by the arithmetic it shows,
and equals what inference says (the output dimension, the parameter count), over many generated
configurations."""

from __future__ import annotations

import ast
import math
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from netbuilder.core import catalog
from netbuilder.core.explain import derivations, explain, explains
from netbuilder.core.graph import Graph, GraphError

# --- reading the arithmetic the user reads ------------------------------------------------------

_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant, ast.Add,
            ast.Sub, ast.Mult, ast.Div, ast.USub, ast.Load)
_FUNCTIONS = {"floor": math.floor, "ceil": math.ceil, "max": max}


def evaluate(text: str) -> int:
    """Evaluate arithmetic as shown (``·`` for ×, ``−`` for minus), allowing only numbers,
    + − · /, parentheses and floor/ceil/max."""
    source = text.replace("·", "*").replace("−", "-")
    tree = ast.parse(source, mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, _ALLOWED), f"unexpected {type(node).__name__} in {text!r}"
        if isinstance(node, ast.Name):
            assert node.id in _FUNCTIONS, text
    value = eval(compile(tree, "<shown>", "eval"), {"__builtins__": {}}, dict(_FUNCTIONS))
    assert float(value).is_integer(), text
    return int(value)


LINE = re.compile(r"^(?:(?P<label>[^:=]+): )?(?P<lhs>[^=]+?) = (?:(?P<expr>.+) = )?"
                  r"(?P<value>\d[\d,]*)(?: \(.*\))?$")


def check(graph: Graph, node_id: str, expect_all_axes: bool = True) -> list:
    """Every derivation is right and shown; returns them."""
    result = graph.inference.result(node_id)
    assert result.ok
    shown = explain(graph, node_id)
    found = derivations(graph, node_id)
    assert found, shown
    dims = set()
    params_lines = 0
    for d in found:
        text = d.text()
        assert text in shown
        match = LINE.match(text)
        assert match, text
        assert int(match["value"].replace(",", "")) == d.value
        assert evaluate(match["expr"] or match["value"].replace(",", "")) == d.value, text
        if d.target[0] == "dim":
            _, output, axis = d.target
            assert result.outputs[output][axis] == d.value, (text, result.outputs)
            dims.add(axis)
        elif d.target[0] == "params":
            params_lines += 1
            assert result.params == d.value, (text, result.params)
    assert params_lines == 1, shown
    if expect_all_axes:
        out = result.outputs[0]
        wanted = {i for i in range(1, len(out)) if out[i] is not None}
        assert dims == wanted, (shown, out)
    return found


def single(layer_type: str, input_shape, params, batch_size=None):
    graph = Graph()
    inp = graph.add_node("Input", {"shape": list(input_shape), "batch_size": batch_size})
    node = graph.add_node(layer_type, params)
    graph.connect(inp.id, node.id)
    return graph, node.id


def build(layer_type, shape, params):
    try:
        graph, node_id = single(layer_type, shape, params)
    except GraphError:
        assume(False)
    assume(graph.inference.result(node_id).ok)
    return graph, node_id


# --- examples a learner sees ------------------------------------------------------------------


def test_conv2d_on_mnist_reads_like_the_course_notes():
    graph, node_id = single("Conv2D", (28, 28, 1), {"filters": 32, "kernel_size": 3})
    lines = explain(graph, node_id)
    assert "height: out = floor((28 − 3 + 2·0)/1) + 1 = 26" in lines
    assert "width: out = floor((28 − 3 + 2·0)/1) + 1 = 26" in lines
    assert "params = 3·3·1·32 + 32 = 320 (kernel + bias)" in lines
    check(graph, node_id)


def test_same_padding_strides_and_dilation():
    graph, node_id = single("Conv2D", (32, 31, 3), {"filters": 64, "kernel_size": 3,
                                                     "strides": 2, "padding": "same"})
    lines = explain(graph, node_id)
    assert "height: out = ceil(32/2) = 16" in lines
    assert "width: out = ceil(31/2) = 16" in lines
    assert "params = 3·3·3·64 + 64 = 1,792 (kernel + bias)" in lines
    graph, node_id = single("Conv1D", (100, 8), {"filters": 4, "kernel_size": 3,
                                                  "dilation_rate": 2})
    assert "steps: out = floor((100 − (2·(3 − 1) + 1) + 2·0)/1) + 1 = 96" in explain(
        graph, node_id)
    check(graph, node_id)


def test_dense_lstm_embedding_batchnorm():
    graph, node_id = single("Dense", (784,), {"units": 64})
    assert "params = 784·64 + 64 = 50,240 (weights + bias)" in explain(graph, node_id)
    graph, node_id = single("LSTM", (20, 10), {"units": 32})
    assert "params = 4·(10·32 + 32·32 + 32) = 5,504" in explain(graph, node_id)
    graph, node_id = single("Embedding", (50,), {"input_dim": 1000, "output_dim": 64})
    assert "params = 1000·64 = 64,000 (table)" in explain(graph, node_id)
    graph, node_id = single("BatchNormalization", (8, 8, 16), {})
    assert explain(graph, node_id)[-1] == "params = 32 + 32 = 64"
    check(graph, node_id, expect_all_axes=False)


def test_invalid_blocked_and_unexplained_layers_say_nothing():
    graph, node_id = single("Conv2D", (784,), {"filters": 8})
    assert graph.inference.result(node_id).error
    assert explain(graph, node_id) == [] and derivations(graph, node_id) == []
    graph, node_id = single("Dropout", (10,), {"rate": 0.5})
    assert not explains("Dropout") and explain(graph, node_id) == []


def test_unknown_sizes_are_said_not_computed():
    graph, node_id = single("Conv2D", (None, 28, 3), {"filters": 8, "kernel_size": 3})
    lines = explain(graph, node_id)
    assert "height: out = ? (the input's height is not fixed)" in lines
    check(graph, node_id)


def test_frozen_layers_count_the_same_parameters():
    graph, node_id = single("Conv2D", (28, 28, 1), {"filters": 32, "kernel_size": 3})
    graph.set_trainable(node_id, False)
    check(graph, node_id)


# --- generated configurations -------------------------------------------------------------------

formats = st.sampled_from([None, "channels_last", "channels_first"])


def spatial_input(rank, channels, data_format, sizes):
    return (channels, *sizes) if data_format == "channels_first" else (*sizes, channels)


@st.composite
def conv_case(draw, kinds=("Conv", "Separable", "Depthwise", "Transpose")):
    kind = draw(st.sampled_from(kinds))
    rank = draw(st.sampled_from((1, 2) if kind in ("Separable", "Depthwise") else (1, 2, 3)))
    sizes = draw(st.lists(st.integers(1, 24), min_size=rank, max_size=rank))
    channels = draw(st.integers(1, 8))
    data_format = draw(formats)
    kernel = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    strides = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    dilation = [1] * rank
    if all(s == 1 for s in strides) and draw(st.booleans()):
        dilation = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    padding = draw(st.sampled_from(("valid", "same", "causal") if kind == "Conv" and rank == 1
                                   else ("valid", "same")))
    params = {"kernel_size": kernel, "strides": strides, "dilation_rate": dilation,
              "padding": padding, "data_format": data_format,
              "use_bias": draw(st.booleans())}
    if kind == "Conv":
        layer = f"Conv{rank}D"
        groups = draw(st.sampled_from([1, 1, 2]))
        params["groups"] = groups
        params["filters"] = groups * draw(st.integers(1, 8))
        if draw(st.integers(0, 4)) == 0:
            params["lora_rank"] = draw(st.integers(1, 3))
    elif kind == "Transpose":
        layer = f"Conv{rank}DTranspose"
        params["filters"] = draw(st.integers(1, 8))
        if draw(st.booleans()):
            params["output_padding"] = [draw(st.integers(0, max(0, s - 1))) for s in strides]
    elif kind == "Separable":
        layer = f"SeparableConv{rank}D"
        params["filters"] = draw(st.integers(1, 8))
        params["depth_multiplier"] = draw(st.integers(1, 3))
    else:
        layer = f"DepthwiseConv{rank}D"
        params["depth_multiplier"] = draw(st.integers(1, 3))
    if draw(st.integers(0, 5)) == 0:
        sizes[0] = None
    return layer, spatial_input(rank, channels, data_format, sizes), params


@given(conv_case())
def test_convolutions(case):
    layer, shape, params = case
    graph, node_id = build(layer, shape, params)
    check(graph, node_id)


@given(st.sampled_from(("Max", "Average")), st.integers(1, 3), formats, st.data())
def test_pooling(kind, rank, data_format, data):
    sizes = data.draw(st.lists(st.integers(1, 30), min_size=rank, max_size=rank))
    pool = data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    strides = data.draw(st.none() | st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    padding = data.draw(st.sampled_from(("valid", "same")))
    shape = spatial_input(rank, data.draw(st.integers(1, 16)), data_format, sizes)
    graph, node_id = build(f"{kind}Pooling{rank}D", shape,
                           {"pool_size": pool, "strides": strides, "padding": padding,
                            "data_format": data_format})
    check(graph, node_id)


@given(st.sampled_from(("Max", "Average")), st.integers(1, 3), formats, st.booleans(),
       st.data())
def test_global_pooling(kind, rank, data_format, keepdims, data):
    sizes = data.draw(st.lists(st.integers(1, 12), min_size=rank, max_size=rank))
    shape = spatial_input(rank, data.draw(st.integers(1, 16)), data_format, sizes)
    graph, node_id = build(f"Global{kind}Pooling{rank}D", shape,
                           {"data_format": data_format, "keepdims": keepdims})
    check(graph, node_id, expect_all_axes=not keepdims)


@given(st.lists(st.integers(1, 12), min_size=1, max_size=3), st.integers(1, 300),
       st.booleans(), st.sampled_from([None, None, 1, 4]))
def test_dense(shape, units, use_bias, lora_rank):
    graph, node_id = build("Dense", shape, {"units": units, "use_bias": use_bias,
                                           "lora_rank": lora_rank})
    check(graph, node_id, expect_all_axes=False)


@given(st.lists(st.integers(1, 10), min_size=1, max_size=4))
def test_flatten(shape):
    graph, node_id = build("Flatten", shape, {})
    check(graph, node_id)


@given(st.lists(st.integers(1, 10), min_size=1, max_size=4), st.booleans(), st.booleans(),
       st.booleans(), st.data())
def test_batch_normalization(shape, scale, center, renorm, data):
    axis = data.draw(st.integers(1, len(shape))) if data.draw(st.booleans()) else -1
    graph, node_id = build("BatchNormalization", shape,
                           {"axis": axis, "scale": scale, "center": center, "renorm": renorm})
    check(graph, node_id, expect_all_axes=False)


@given(st.lists(st.integers(1, 12), min_size=1, max_size=2), st.integers(1, 5000),
       st.integers(1, 128), st.sampled_from([None, None, 2]))
def test_embedding(shape, vocab, dim, lora_rank):
    graph, node_id = build("Embedding", shape, {"input_dim": vocab, "output_dim": dim,
                                               "lora_rank": lora_rank})
    check(graph, node_id, expect_all_axes=False)


@given(st.sampled_from(("LSTM", "GRU", "SimpleRNN")), st.integers(1, 30), st.integers(1, 40),
       st.integers(1, 64), st.booleans(), st.booleans(), st.booleans())
def test_recurrent(layer, steps, features, units, use_bias, sequences, reset_after):
    params = {"units": units, "use_bias": use_bias, "return_sequences": sequences}
    if layer == "GRU":
        params["reset_after"] = reset_after
    graph, node_id = build(layer, (steps, features), params)
    check(graph, node_id)


@pytest.mark.parametrize("layer_type", [
    "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D",
    "MaxPooling2D", "AveragePooling1D", "GlobalAveragePooling2D", "Dense", "BatchNormalization",
    "Embedding", "LSTM", "GRU", "SimpleRNN", "Flatten"])
def test_the_layers_a_learner_meets_are_covered(layer_type):
    assert explains(layer_type)


_RANKS = [(12,), (6, 12), (6, 6, 3), (4, 6, 6, 3), (2, 4, 6, 6, 3)]


@pytest.mark.parametrize("layer_type", [s.type for s in catalog.all_specs()
                                        if s.min_inputs <= 1 and s.max_inputs != 0])
def test_wrong_rank_inputs_never_raise(layer_type):
    """Every single-input layer, valid on one input, then fed each other rank: settled (the node
    is invalid) and mid-batch (its result is still the valid one, its input is not)."""
    for good in _RANKS:
        graph = Graph()
        inputs = [graph.add_node("Input", {"shape": list(s)}) for s in _RANKS]
        node = graph.add_node(layer_type)
        edge = graph.connect(inputs[_RANKS.index(good)].id, node.id)
        if not graph.inference.result(node.id).ok:
            continue
        for bad in inputs:
            with graph.batch():
                graph.disconnect(edge)
                edge = graph.connect(bad.id, node.id)
                explain(graph, node.id), derivations(graph, node.id)  # stale result, new input
            explain(graph, node.id), derivations(graph, node.id)
            if graph.inference.result(node.id).error:
                assert explain(graph, node.id) == [] and derivations(graph, node.id) == []
