"""auto_layout: Graphviz' dot (pygraphviz), grandalf as the pure-Python fallback, layered_layout
last; every engine gives a layout with the properties of layered_layout's (rows, edges going
down, no overlaps). No Qt, no Keras."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import chain, mlp
from test_layout import check_layout, residual

from netbuilder.core.graph import Graph
from netbuilder.core.layout import H_SPACING, V_SPACING, auto_layout, layered_layout
from netbuilder.core.project import load

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples")
                  .glob("*.nbproj"))


def _available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


ENGINES = [
    pytest.param("dot", marks=pytest.mark.skipif(not _available("pygraphviz"),
                                                 reason="pygraphviz is not installed")),
    pytest.param("grandalf", marks=pytest.mark.skipif(not _available("grandalf"),
                                                      reason="grandalf is not installed")),
    "layered",
]


def two_inputs() -> tuple[Graph, list]:
    g, (a, da) = chain(("Input", {"shape": [8]}), ("Dense", {"units": 4}))
    _, (b, db) = chain(("Input", {"shape": [3]}), ("Dense", {"units": 4}), graph=g)
    join = g.add_node("Concatenate")
    g.connect(da.id, join.id)
    g.connect(db.id, join.id)
    return g, [a, da, b, db, join]


def residual_stack() -> Graph:
    g, (inp, x) = chain(("Input", {"shape": [8]}), ("Dense", {"units": 8}))
    out = x.id
    for _ in range(4):
        out = residual(g, out, depth=3)
    return g


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_gives_a_proper_layout(engine):
    for graph in (mlp()[0], two_inputs()[0], residual_stack()):
        check_layout(graph, auto_layout(graph, engine))
    g, _ = mlp()
    chain(("Input", {"shape": [3]}), ("Dense", {"units": 2}), graph=g)
    g.add_node("Dense", {"units": 5})  # not connected at all
    check_layout(g, auto_layout(g, engine))
    assert auto_layout(Graph(), engine) == {}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples(engine, path):
    graph = load(path).graph
    check_layout(graph, auto_layout(graph, engine))


@pytest.mark.skipif(not _available("pygraphviz"), reason="pygraphviz is not installed")
def test_dot_draws_a_chain_as_a_column_and_keeps_input_order():
    g, nodes = mlp()
    pos = auto_layout(g, "dot")
    assert [pos[n.id] for n in nodes] == [(0.0, i * V_SPACING) for i in range(len(nodes))]
    g, (a, da, b, db, join) = two_inputs()
    pos = auto_layout(g, "dot")
    assert pos[a.id][0] < pos[b.id][0] and pos[da.id][0] < pos[db.id][0]
    assert pos[da.id][0] + H_SPACING <= pos[db.id][0] + 1e-6


def test_auto_falls_back_when_the_libraries_are_missing(monkeypatch):
    graph = residual_stack()
    monkeypatch.setitem(sys.modules, "pygraphviz", None)  # import pygraphviz -> ImportError
    if _available("grandalf"):
        assert auto_layout(graph) == auto_layout(graph, "grandalf")
    monkeypatch.setitem(sys.modules, "grandalf", None)
    monkeypatch.setitem(sys.modules, "grandalf.graphs", None)
    monkeypatch.setitem(sys.modules, "grandalf.layouts", None)
    assert auto_layout(graph) == layered_layout(graph)
    with pytest.raises(ImportError):
        auto_layout(graph, "dot")


def test_unknown_engine():
    with pytest.raises(ValueError, match="unknown layout engine 'neato'"):
        auto_layout(mlp()[0], "neato")


def test_core_imports_no_layout_library_until_asked():
    import subprocess

    code = ("import sys, netbuilder.core.layout, netbuilder.core.project; "
            "print(any(m in sys.modules for m in ('pygraphviz', 'grandalf')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr
