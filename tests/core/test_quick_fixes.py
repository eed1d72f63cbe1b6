from helpers import chain

from netbuilder.core.graph import Graph
from netbuilder.core.quick_fixes import apply_fix, suggest_fixes


def labels(graph, node_id):
    return [f.label for f in suggest_fixes(graph, node_id)]


def test_dense_after_convolution_offers_flatten_and_global_pooling():
    g, (inp, conv, dense, _) = chain(("Input", {"shape": [28, 28, 1]}),
                                     ("Conv2D", {"filters": 8, "kernel_size": 3}),
                                     ("Dense", {"units": 10}), ("Flatten", {}))
    assert g.inference.result(dense.id).notes  # valid in Keras, but rarely meant
    assert labels(g, dense.id) == ["Insert Flatten before it",
                                   "Insert GlobalAveragePooling2D before it"]
    new_id = apply_fix(g, suggest_fixes(g, dense.id)[0])
    assert g.nodes[new_id].type == "Flatten"
    assert g.inference.result(dense.id).outputs == [(None, 10)]
    assert not g.inference.result(dense.id).notes
    assert g.inference.result(dense.id).params == 26 * 26 * 8 * 10 + 10


def test_conv_after_flat_input_offers_reshape_to_an_image():
    g, (inp, conv) = chain(("Input", {"shape": [784]}),
                           ("Conv2D", {"filters": 8, "kernel_size": 3}))
    assert g.inference.result(conv.id).error
    assert labels(g, conv.id) == ["Reshape to (28, 28, 1) before it"]
    apply_fix(g, suggest_fixes(g, conv.id)[0])
    assert g.inference.result(conv.id).outputs == [(None, 26, 26, 8)]
    assert g.inference.errors() == []


def test_add_with_different_channels_offers_a_1x1_convolution():
    g = Graph()
    inp = g.add_node("Input", {"shape": [8, 8, 3]})
    a = g.add_node("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"})
    b = g.add_node("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same"})
    c = g.add_node("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"})
    add = g.add_node("Add")
    for n in (a, b, c):
        g.connect(inp.id, n.id)
        g.connect(n.id, add.id)
    assert g.inference.result(add.id).error
    fixes = suggest_fixes(g, add.id)
    assert [f.label for f in fixes] == [
        "Insert a 1×1 Conv2D with 16 filters to match channels (on the input from conv2d_1)"]
    apply_fix(g, fixes[0])
    assert g.inference.result(add.id).outputs == [(None, 8, 8, 16)]
    # the inserted layer took the same input port: the order of Add's inputs is kept
    assert [g.nodes[e.src].name for e in g.in_edges(add.id)] == ["conv2d", "conv2d_3", "conv2d_2"]


def test_valid_and_blocked_nodes_get_no_fixes():
    g, (inp, d1, d2) = chain(("Input", {"shape": [4]}), ("Dense", {"units": 3}),
                             ("Dense", {"units": 2}))
    assert suggest_fixes(g, d2.id) == []
    g.set_param(inp.id, "shape", [None])
    assert g.inference.result(d2.id).blocked_by == d1.id
    assert suggest_fixes(g, d2.id) == []


def test_no_fix_is_offered_that_does_not_work():
    g, (inp, rep) = chain(("Input", {"shape": [5, 7]}), ("RepeatVector", {"n": 2}))
    for fix in suggest_fixes(g, rep.id):
        trial, _ = chain(("Input", {"shape": [5, 7]}))
        trial_rep = trial.add_node("RepeatVector", {"n": 2})
        trial.connect("n1", trial_rep.id)
        apply_fix(trial, [f for f in suggest_fixes(trial, trial_rep.id)
                          if f.label == fix.label][0])
        assert trial.inference.errors() == []



def test_a_block_instance_gets_its_exposed_channels_set_to_its_input():
    from netbuilder.core import blocks_library as bl
    from netbuilder.core.quick_fixes import ParamFix, describe_fix

    g = Graph()
    bl.add_to_graph(g, bl.se_block())
    x = g.add_node("Input", {"shape": [8, 8, 3]})
    conv = g.add_node("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"})
    se = g.add_node("Block", {"block": "se_block"})
    g.connect(x.id, conv.id)
    g.connect(conv.id, se.id)
    assert g.inference.result(se.id).error          # channels 64 by default, the input has 16
    fixes = suggest_fixes(g, se.id)
    assert [(f.name, f.value) for f in fixes] == [("channels", 16)]
    assert all(isinstance(f, ParamFix) for f in fixes)
    assert describe_fix(g, fixes[0]) == f"Set {se.name}'s channels from 64 to 16"
    assert apply_fix(g, fixes[0]) == se.id
    assert g.inference.result(se.id).ok and g.nodes[se.id].params["channels"] == 16
    assert suggest_fixes(g, se.id) == []


def test_no_parameter_fix_is_offered_when_none_makes_the_block_valid():
    from netbuilder.core import blocks_library as bl

    g = Graph()
    bl.add_to_graph(g, bl.se_block())
    x = g.add_node("Input", {"shape": [10]})
    se = g.add_node("Block", {"block": "se_block"})
    g.connect(x.id, se.id)                          # a vector: no channels value can help
    assert g.inference.result(se.id).error
    assert suggest_fixes(g, se.id) == []
