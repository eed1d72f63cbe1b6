"""The automatic layered layout: every node placed, edges pointing down, no overlaps, long edges
passing beside the rows they skip. No Qt, no Keras."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from helpers import chain, mlp
from hypothesis import given
from hypothesis import strategies as st

from netbuilder.core.graph import Graph
from netbuilder.core.layout import H_SPACING, V_SPACING, layered_layout
from netbuilder.core.project import load

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples")
                  .glob("*.nbproj"))
EPS = 1e-6


def check_layout(graph: Graph, pos: dict[str, tuple[float, float]]) -> None:
    """The properties every layout has."""
    assert set(pos) == set(graph.nodes)
    for x, y in pos.values():
        assert isinstance(x, float) and isinstance(y, float)
        assert y >= 0 and x >= -EPS
        assert abs(y / V_SPACING - round(y / V_SPACING)) < EPS  # on a row
    for e in graph.edges:  # layers go downward along every edge
        assert pos[e.dst][1] > pos[e.src][1]
    for a, b in itertools.combinations(pos.values(), 2):  # no two nodes overlap
        assert abs(a[0] - b[0]) >= H_SPACING - EPS or abs(a[1] - b[1]) >= V_SPACING - EPS


def check_long_edges_clear(graph: Graph, pos: dict[str, tuple[float, float]]) -> None:
    """An edge drawn as a straight line passes at least half a spacing from the centre of every
    node in the rows between its ends."""
    for e in graph.edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        for nid, (x, y) in pos.items():
            if y0 < y < y1:
                line_x = x0 + (x1 - x0) * (y - y0) / (y1 - y0)
                assert abs(line_x - x) >= H_SPACING / 2 - 1e-3, (
                    f"{graph.nodes[e.src].name} -> {graph.nodes[e.dst].name} passes "
                    f"{abs(line_x - x):.0f} px from {graph.nodes[nid].name}")


def residual(graph: Graph, x: str, depth: int = 2) -> str:
    """A residual unit on ``x``: ``depth`` Dense layers, then Add(branch, x)."""
    branch = x
    for _ in range(depth):
        node = graph.add_node("Dense", {"units": 8}).id
        graph.connect(branch, node)
        branch = node
    add = graph.add_node("Add").id
    graph.connect(branch, add)
    graph.connect(x, add)
    return add


def test_empty_graph():
    assert layered_layout(Graph()) == {}


def test_single_node_at_origin():
    g = Graph()
    node = g.add_node("Input", {"shape": [4]})
    assert layered_layout(g) == {node.id: (0.0, 0.0)}


def test_chain_is_one_straight_column():
    g, nodes = mlp()
    pos = layered_layout(g)
    check_layout(g, pos)
    assert [pos[n.id] for n in nodes] == [(0.0, i * V_SPACING) for i in range(len(nodes))]


def test_branches_side_by_side_and_centred():
    g, (inp, base) = chain(("Input", {"shape": [8]}), ("Dense", {"units": 8}))
    heads = [g.add_node("Dense", {"units": u}) for u in (10, 4, 2)]
    for head in heads:
        g.connect(base.id, head.id)
    pos = layered_layout(g)
    check_layout(g, pos)
    xs = [pos[h.id][0] for h in heads]
    assert len({pos[h.id][1] for h in heads}) == 1  # one row
    assert xs == sorted(xs)  # in the order they were added
    assert xs[1] - xs[0] == pytest.approx(H_SPACING) and xs[2] - xs[1] == pytest.approx(H_SPACING)
    assert pos[base.id][0] == pytest.approx(sum(xs) / 3)  # parent centred above them


def test_fork_and_join_are_lined_up():
    g, (inp, a) = chain(("Input", {"shape": [8]}), ("Dense", {"units": 8}))
    left, right = g.add_node("Dense", {"units": 8}), g.add_node("Dense", {"units": 8})
    join = g.add_node("Concatenate")
    for branch in (left, right):
        g.connect(a.id, branch.id)
        g.connect(branch.id, join.id)
    pos = layered_layout(g)
    check_layout(g, pos)
    assert pos[join.id][0] == pytest.approx(pos[a.id][0])
    assert pos[left.id][0] < pos[a.id][0] < pos[right.id][0]


def test_skip_connection_passes_beside_the_branch():
    g, (inp, x) = chain(("Input", {"shape": [8]}), ("Dense", {"units": 8}))
    out = x.id
    for _ in range(3):
        out = residual(g, out, depth=3)
    pos = layered_layout(g)
    check_layout(g, pos)
    check_long_edges_clear(g, pos)
    # the skip itself stays vertical: each Add sits right under the node its skip leaves from
    for node in g.nodes.values():
        if node.type == "Add":
            skip = g.in_edges(node.id)[1].src
            assert pos[node.id][0] == pytest.approx(pos[skip][0])


def test_a_late_second_input_sits_above_where_it_joins():
    g, nodes = chain(("Input", {"shape": [8]}), ("Dense", {"units": 8}),
                     ("Dense", {"units": 8}), ("Dense", {"units": 8}))
    extra = g.add_node("Input", {"shape": [8]})
    join = g.add_node("Concatenate")
    g.connect(nodes[-1].id, join.id)
    g.connect(extra.id, join.id)
    pos = layered_layout(g)
    check_layout(g, pos)
    assert pos[extra.id][1] == pos[nodes[-1].id][1]


def test_disconnected_parts_and_isolated_nodes():
    g, _ = mlp()
    chain(("Input", {"shape": [3]}), ("Dense", {"units": 2}), graph=g)
    g.add_node("Dense", {"units": 5})  # not connected at all
    pos = layered_layout(g)
    check_layout(g, pos)


def test_deterministic_and_independent_of_positions():
    g, _ = mlp()
    residual(g, g.node_by_name("dense_1").id)
    first = layered_layout(g)
    for nid in g.nodes:
        g.move(nid, (123.0, -45.0))
    assert layered_layout(g) == first


def test_custom_spacing():
    g, (inp, a) = chain(("Input", {"shape": [8]}), ("Dense", {"units": 8}))
    b = g.add_node("Dense", {"units": 3})
    g.connect(inp.id, b.id)
    pos = layered_layout(g, h_spacing=300, v_spacing=150)
    assert pos[a.id][1] == 150 and abs(pos[a.id][0] - pos[b.id][0]) == pytest.approx(300)


def test_large_graph():
    g = Graph()
    with g.batch():
        x = g.add_node("Input", {"shape": [8]}).id
        for _ in range(150):
            x = residual(g, x, depth=3)
    assert len(g.nodes) > 500
    pos = layered_layout(g)
    assert set(pos) == set(g.nodes)
    for e in g.edges:
        assert pos[e.dst][1] > pos[e.src][1]


@st.composite
def dags(draw):
    """Random DAGs: each new node takes one to three earlier nodes (Add joins several)."""
    g = Graph()
    n_inputs = draw(st.integers(1, 3))
    ids = [g.add_node("Input", {"shape": [4]}).id for _ in range(n_inputs)]
    for _ in range(draw(st.integers(0, 25))):
        sources = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
        node = g.add_node("Dense" if len(sources) == 1 else "Add",
                          {"units": 4} if len(sources) == 1 else None)
        for src in sources:
            g.connect(src, node.id)
        ids.append(node.id)
    return g


@given(dags())
def test_random_graphs(graph):
    # (long edges are kept clear of nodes for the usual shapes: skip connections, U-Net,
    # inception cells; not for every tangle of edges)
    pos = layered_layout(graph)
    check_layout(graph, pos)
    assert layered_layout(graph) == pos


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples(path):
    graph = load(path).graph
    pos = layered_layout(graph)
    check_layout(graph, pos)
    check_long_edges_clear(graph, pos)
    assert pos == {nid: node.position for nid, node in graph.nodes.items()}
