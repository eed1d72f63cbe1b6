"""``repeat`` on a block instance: inference follows it, and refuses what cannot chain."""

import pytest

from netbuilder.core import blocks_library as bl
from netbuilder.core.block_edits import make_block
from netbuilder.core.blocks import REPEAT_PARAM
from netbuilder.core.graph import Graph, GraphError
from netbuilder.core.search_space import check_space, parse_dimension


def unit_graph(shape=(16, 16, 8), **params):
    g = Graph()
    bl.add_to_graph(g, bl.residual_unit())
    x = g.add_node("Input", {"shape": list(shape)})
    u = g.add_node("Block", {"block": "residual_unit", "filters": 8, **params}, name="unit")
    g.connect(x.id, u.id)
    return g, u.id


def test_repeat_chains_shapes_and_sums_counts():
    g, u = unit_graph(filters=16, strides=2)
    one = g.inference.results[u]
    assert one.outputs == [(None, 8, 8, 16)]
    g.set_param(u, "repeat", 3)
    three = g.inference.results[u]
    assert three.outputs == [(None, 2, 2, 16)]
    assert three.params > one.params
    g.set_param(u, "repeat", 1)
    assert g.inference.results[u] == one


def test_bad_repeat_values_are_refused():
    g, u = unit_graph()
    for bad in (0, -1, 1.5, "two"):
        with pytest.raises(GraphError, match="repeat"):
            g.set_param(u, "repeat", bad)


def test_a_block_whose_output_does_not_fit_its_input_is_an_error_at_the_node():
    g = Graph()
    x = g.add_node("Input", {"shape": [10]})
    d = g.add_node("Dense", {"units": 4})
    r = g.add_node("Reshape", {"target_shape": [2, 2]})
    g.connect(x.id, d.id)
    g.connect(d.id, r.id)
    inst = make_block(g, [d.id, r.id], "to_square")
    g.set_param(inst, "repeat", 2)
    result = g.inference.results[inst]
    assert result.error.startswith("to_square: repeat 2: call 2 of block to_square cannot take "
                                   "call 1's output (None, 2, 2)")
    assert "set repeat to 1" in result.fix


def test_only_one_input_one_output_function_blocks_repeat():
    g = Graph()
    a = g.add_node("Input", {"shape": [4]})
    b = g.add_node("Input", {"shape": [4]})
    add = g.add_node("Add")
    g.connect(a.id, add.id)
    g.connect(b.id, add.id)
    inst = make_block(g, [add.id], "adder")
    with pytest.raises(GraphError, match="only a block with one input and one output"):
        g.set_param(inst, "repeat", 2)
    assert REPEAT_PARAM not in g.blocks["adder"].instance_params()
    g2, u = unit_graph()
    assert [p.name for p in g2.blocks["residual_unit"].instance_params()] == [
        "filters", "strides", "repeat"]


def test_search_space_accepts_an_instance_repeat():
    g, _ = unit_graph()
    dims = check_space([parse_dimension("unit.repeat=1..4")], g)
    assert (dims[0].kind, dims[0].low, dims[0].high) == ("int", 1, 4)
    from netbuilder.core.search_space import SearchError
    with pytest.raises(SearchError, match="repeat"):
        check_space([parse_dimension("unit.repeat=0..4")], g)
