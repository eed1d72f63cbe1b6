"""A model that ends in a Dense layer applied to a feature map (Flatten forgotten) gives each
sample a grid of outputs where class labels need one vector: an error at the output node, with
the Flatten and global-pooling quick fixes; a Dense inside the model, a per-step output of a
sequence model and a block's subgraph stay valid."""

from helpers import chain

from netbuilder.core.blocks import Block
from netbuilder.core.graph import Graph
from netbuilder.core.quick_fixes import apply_fix, suggest_fixes


def conv_then_dense(**dense):
    return chain(("Input", {"shape": [28, 28, 1]}),
                 ("Conv2D", {"filters": 10, "kernel_size": 3, "strides": 9}),
                 ("Dense", {"units": 10, **dense}))


def test_dense_output_on_a_feature_map_is_an_error_with_fixes():
    g, (_, conv, dense) = conv_then_dense(activation="softmax")
    r = g.inference.result(dense.id)
    assert not r.ok and "(None, 3, 3, 10)" in r.error and "one vector per sample" in r.error
    assert "Flatten" in r.fix and "GlobalAveragePooling2D" in r.fix
    assert any("dense" in p for p in g.inference.errors())
    fixes = suggest_fixes(g, dense.id)
    assert [f.layer_type for f in fixes] == ["Flatten", "GlobalAveragePooling2D"]
    apply_fix(g, fixes[1])
    assert g.inference.result(dense.id).outputs == [(None, 10)]
    assert g.inference.errors() == []


def test_it_follows_connections_made_and_removed_below_the_dense():
    g, (_, conv, dense) = conv_then_dense()
    flatten = g.add_node("Flatten")
    edge = g.connect(dense.id, flatten.id)  # no longer the output: valid, with a note
    assert g.inference.result(dense.id).ok and g.inference.result(dense.id).notes
    g.disconnect(edge)
    assert g.inference.result(dense.id).error
    g.connect(dense.id, flatten.id)
    g.remove_node(flatten.id)
    assert g.inference.result(dense.id).error


def test_flat_input_without_channels_is_caught_too():
    g, (_, _, out) = chain(("Input", {"shape": [28, 28]}), ("Dense", {"units": 64}),
                           ("Dense", {"units": 10, "activation": "softmax"}))
    assert "(None, 28, 10)" in g.inference.result(out.id).error
    assert [f.layer_type for f in suggest_fixes(g, out.id)] == ["Flatten",
                                                               "GlobalAveragePooling1D"]


def test_per_step_output_of_a_sequence_model_stays_valid():
    g, (*_, out) = chain(("Input", {"shape": [20]}),
                         ("Embedding", {"input_dim": 100, "output_dim": 8}),
                         ("LSTM", {"units": 16, "return_sequences": True}),
                         ("Dense", {"units": 5, "activation": "softmax"}))
    assert g.inference.result(out.id).outputs == [(None, 20, 5)]
    assert g.inference.errors() == []


def test_segmentation_output_made_by_a_convolution_stays_valid():
    g, (*_, out) = chain(("Input", {"shape": [32, 32, 3]}),
                         ("Conv2D", {"filters": 4, "kernel_size": 1, "activation": "softmax"}))
    assert g.inference.result(out.id).outputs == [(None, 32, 32, 4)]
    assert g.inference.errors() == []


def test_a_blocks_output_is_not_a_model_output():
    sub, (inp, _, dense) = conv_then_dense()
    block = Block("head", sub, [inp.id], [(dense.id, 0)])
    assert sub.inference.result(dense.id).ok
    g = Graph()
    g.add_block(block)
    i = g.add_node("Input", {"shape": [28, 28, 1]})
    b = g.add_node("Block", {"block": "head"})
    f = g.add_node("Flatten")
    g.connect(i.id, b.id)
    g.connect(b.id, f.id)
    assert g.inference.result(f.id).outputs == [(None, 90)]
