import pytest
from helpers import chain, mlp

from netbuilder.core.blocks import Block
from netbuilder.core.graph import Edge, Graph, GraphError, snake_case


def test_keras_default_names():
    assert snake_case("Conv2D") == "conv2d"
    assert snake_case("BatchNormalization") == "batch_normalization"
    assert snake_case("GlobalAveragePooling2D") == "global_average_pooling2d"
    g = Graph()
    names = [g.add_node("Dense").name for _ in range(3)] + [g.add_node("Input").name]
    assert names == ["dense", "dense_1", "dense_2", "input_layer"]


def test_unknown_type_and_bad_param_are_refused():
    g = Graph()
    with pytest.raises(GraphError, match="unknown layer type 'Dens'; did you mean Dense"):
        g.add_node("Dens")
    with pytest.raises(GraphError, match="units"):
        g.add_node("Dense", {"units": 0})
    node = g.add_node("Dense")
    with pytest.raises(GraphError, match="dense: `units`: -3 is not an integer >= 1"):
        g.set_param(node.id, "units", -3)
    with pytest.raises(GraphError, match="did you mean `units`"):
        g.set_param(node.id, "unit", 3)
    assert node.params["units"] == 64
    assert len(g.nodes) == 1


def test_cycles_and_second_inputs_are_refused():
    g, (inp, a, b, c) = mlp()
    with pytest.raises(GraphError, match="cycle"):
        g.connect(c.id, a.id)
    with pytest.raises(GraphError, match="cycle"):
        g.connect(a.id, a.id)
    with pytest.raises(GraphError, match="takes one input and it is connected already"):
        g.connect(inp.id, b.id)
    with pytest.raises(GraphError, match="takes no inputs"):
        g.connect(a.id, inp.id)
    assert len(g.edges) == 3


def test_duplicate_and_invalid_names():
    g, (inp, a, *_rest) = mlp()
    with pytest.raises(GraphError, match="exists already"):
        g.rename(a.id, "input_layer")
    with pytest.raises(GraphError, match="invalid layer name"):
        g.rename(a.id, "a b/c")
    g.rename(a.id, "hidden")
    assert g.node_by_name("hidden") is a
    # a view told of the rename already sees error texts with the new name
    g.remove_node(inp.id)
    seen = []
    g.subscribe(lambda e: seen.append(g.inference.result(a.id).error))
    g.rename(a.id, "first")
    assert seen[0].startswith("first: ")


def test_events_are_past_tense_and_only_on_change():
    g, (inp, a, b, c) = mlp()
    events = []
    g.subscribe(lambda e: events.append((e.kind, e.name)))
    g.set_param(a.id, "units", 64)  # unchanged: nothing happens
    assert events == []
    g.set_param(a.id, "units", 32)
    assert events == [("param_changed", "units"), ("shapes_changed", None)]
    events.clear()
    g.move(a.id, (10, 20))
    g.move(a.id, (10, 20))
    assert events == [("node_moved", None)]


def test_remove_node_removes_its_edges_and_reinfers_consumers():
    g, (inp, a, b, c) = mlp()
    events = []
    g.subscribe(lambda e: events.append((e.kind, e.edge or (e.node and e.node.name))))
    removed = g.remove_node(b.id)
    assert set(removed) == {Edge(a.id, b.id), Edge(b.id, c.id)}
    assert events[:3] == [("edge_removed", removed[0]), ("edge_removed", removed[1]),
                          ("node_removed", "dense_1")]
    assert g.inference.result(c.id).error == "dense_2: Dense takes exactly 1 input, got 0"
    assert g.inference.result(c.id).fix == "connect its input"


def test_merge_takes_many_inputs_in_port_order():
    g = Graph()
    inp = g.add_node("Input", {"shape": [8]})
    branches = [g.add_node("Dense", {"units": u}) for u in (3, 5, 7)]
    for br in branches:
        g.connect(inp.id, br.id)
    from netbuilder.core import catalog

    if not catalog.has("Concatenate"):
        pytest.skip("Concatenate spec not present")
    cat = g.add_node("Concatenate")
    g.connect(branches[2].id, cat.id, dst_port=2)
    g.connect(branches[0].id, cat.id)
    g.connect(branches[1].id, cat.id)
    assert [e.src for e in g.in_edges(cat.id)] == [b.id for b in branches]
    assert g.inference.result(cat.id).outputs == [(None, 15)]


def test_topological_order_keeps_insertion_order_for_ties():
    g, nodes = chain(("Input", {"shape": [4]}), ("Dense", {}), ("Dense", {}))
    extra = g.add_node("Dense", {"units": 2})
    g.connect(nodes[0].id, extra.id)
    assert g.topological_order() == [nodes[0].id, nodes[1].id, nodes[2].id, extra.id]
    assert [n.name for n in g.outputs()] == ["dense_1", "dense_2"]


def test_block_definition_is_checked():
    sub, (sub_in, sub_dense) = chain(("Input", {"shape": [4]}), ("Dense", {"units": 3}))
    with pytest.raises(GraphError, match="not an Input node"):
        Block("b", sub, [sub_dense.id], [(sub_dense.id, 0)])
    with pytest.raises(GraphError, match="has no outputs"):
        Block("b", sub, [sub_in.id], [])
    with pytest.raises(GraphError, match="kind"):
        Block("b", sub, [sub_in.id], [(sub_dense.id, 0)], kind="other")


def test_a_sequential_block_is_a_straight_chain():
    sub, (x, d1, d2) = chain(("Input", {"shape": [4]}), ("Dense", {"units": 3}),
                             ("Dense", {"units": 2}))
    block = Block("seq", sub, [x.id], [(d2.id, 0)], kind="sequential")
    assert block.sequence() == [x.id, d1.id, d2.id] and block.is_model
    assert not Block("f", sub, [x.id], [(d2.id, 0)]).is_model
    with pytest.raises(GraphError, match="not the last layer"):
        Block("seq", sub, [x.id], [(d1.id, 0)], kind="sequential")
    branch = sub.add_node("Dense", {"units": 5})
    sub.connect(d1.id, branch.id)
    with pytest.raises(GraphError, match="feeds several layers"):
        Block("seq", sub, [x.id], [(d2.id, 0)], kind="sequential")


def test_batch_defers_inference():
    g = Graph()
    with g.batch():
        inp = g.add_node("Input", {"shape": [4]})
        d = g.add_node("Dense", {"units": 2})
        g.connect(inp.id, d.id)
        assert d.id not in g.inference.results
    assert g.inference.result(d.id).outputs == [(None, 2)]
