"""The graph built as a Keras functional model: names, trainable flags, blocks, several inputs and
outputs; Keras' own counts equal our inference."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.core.blocks import Block  # noqa: E402
from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.summary import summarize  # noqa: E402
from netbuilder.runtime.keras_build import BuildError, build_model  # noqa: E402


def counts(layer):
    size = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    return size(layer.trainable_weights), size(layer.non_trainable_weights)


def assert_matches_keras(graph, model):
    rows = {r.name: r for r in summarize(graph).rows}
    keras_names = [layer.name for layer in model.layers]
    assert set(rows) == set(keras_names)
    for layer in model.layers:
        row = rows[layer.name]
        trainable, non_trainable = counts(layer)
        assert (row.trainable_params, row.params) == (trainable, trainable + non_trainable), \
            layer.name
        out = layer.output if not isinstance(layer, keras.layers.InputLayer) else layer.output
        shapes = [tuple(o.shape) for o in (out if isinstance(out, (list, tuple)) else [out])]
        assert row.outputs == shapes, layer.name


def small_block(kind="function", shape=(None,)):
    sub = Graph()
    x = sub.add_node("Input", {"shape": list(shape)})
    d = sub.add_node("Dense", {"units": 8, "activation": "relu"})
    b = sub.add_node("BatchNormalization")
    sub.connect(x.id, d.id)
    sub.connect(d.id, b.id)
    return Block("unit", sub, [x.id], [(b.id, 0)], kind=kind)


def test_function_block_used_twice_inlines_its_layers():
    g = Graph()
    g.add_block(small_block())
    inp = g.add_node("Input", {"shape": [4]})
    b1 = g.add_node("Block", {"block": "unit"})
    b2 = g.add_node("Block", {"block": "unit"})
    out = g.add_node("Dense", {"units": 2})
    g.connect(inp.id, b1.id)
    g.connect(b1.id, b2.id)
    g.connect(b2.id, out.id)
    model = build_model(g)
    # each call of the block makes its own layers, named after the instance
    assert [layer.name for layer in model.layers] == [
        "input_layer", "unit_dense", "unit_batch_normalization", "unit_1_dense",
        "unit_1_batch_normalization", "dense"]
    assert model.count_params() == g.inference.totals().params
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == g.inference.totals().trainable


def test_model_block_is_one_nested_model_and_can_be_frozen():
    g = Graph()
    g.add_block(small_block("model", (6,)))
    inp = g.add_node("Input", {"shape": [6]})
    base = g.add_node("Block", {"block": "unit"}, trainable=False)
    head = g.add_node("Dense", {"units": 1, "activation": "sigmoid"})
    g.connect(inp.id, base.id)
    g.connect(base.id, head.id)
    model = build_model(g)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Functional",
                                                                 "Dense"]
    assert model.layers[1].name == "unit"
    assert_matches_keras(g, model)
    totals = g.inference.totals()
    assert (totals.trainable, totals.non_trainable) == (9, 6 * 8 + 8 + 4 * 8)


def test_two_inputs_two_outputs_names_and_frozen_layers():
    g = Graph()
    a = g.add_node("Input", {"shape": [5]}, name="image_features")
    b = g.add_node("Input", {"shape": [3]}, name="meta")
    cat = g.add_node("Concatenate")
    hidden = g.add_node("Dense", {"units": 16}, trainable=False)
    cls = g.add_node("Dense", {"units": 4, "activation": "softmax"}, name="class_output")
    box = g.add_node("Dense", {"units": 4}, name="box_output")
    g.connect(a.id, cat.id)
    g.connect(b.id, cat.id)
    g.connect(cat.id, hidden.id)
    g.connect(hidden.id, cls.id)
    g.connect(hidden.id, box.id)
    model = build_model(g, name="two_heads")
    assert [t.name for t in model.inputs] == ["image_features", "meta"]
    assert model.output_names == ["class_output", "box_output"]
    assert model.get_layer(hidden.name).trainable is False
    assert_matches_keras(g, model)


def test_invalid_graph_is_refused_with_the_errors():
    g = Graph()
    inp = g.add_node("Input", {"shape": [784]})
    conv = g.add_node("Conv2D", {"filters": 4, "kernel_size": 3})
    g.connect(inp.id, conv.id)
    with pytest.raises(BuildError, match="conv2d: Conv2D expects input of rank 4"):
        build_model(g)


def siamese(frozen_second: bool = False):
    """Two inputs through one nested model (placed twice), added: Keras shares the model."""
    inner = Graph()
    i = inner.add_node("Input", {"shape": [8]})
    d = inner.add_node("Dense", {"units": 4})
    n = inner.add_node("BatchNormalization", {})
    inner.connect(i.id, d.id)
    inner.connect(d.id, n.id)
    g = Graph()
    g.add_block(Block("enc", inner, [i.id], [(n.id, 0)], kind="model"))
    a = g.add_node("Input", {"shape": [8]}, name="a")
    b = g.add_node("Input", {"shape": [8]}, name="b")
    e1 = g.add_node("Block", {"block": "enc"}, name="enc_a")
    e2 = g.add_node("Block", {"block": "enc"}, name="enc_b", trainable=not frozen_second)
    g.connect(a.id, e1.id)
    g.connect(b.id, e2.id)
    add = g.add_node("Add", {})
    g.connect(e1.id, add.id)
    g.connect(e2.id, add.id)
    return g


@pytest.mark.parametrize("frozen_second", [False, True])
def test_a_nested_model_placed_twice_is_one_shared_model_as_in_keras(frozen_second):
    from netbuilder.core.summary import to_json

    g = siamese(frozen_second)
    model = build_model(g)
    doc = to_json(summarize(g))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert doc["total_params"] == model.count_params() == 36 + 16
    assert doc["trainable_params"] == trainable
    assert doc["non_trainable_params"] == model.count_params() - trainable
    assert [row["name"] for row in doc["layers"]] == [layer.name for layer in model.layers]
    assert sum(row["params"] for row in doc["layers"]) == model.count_params()
