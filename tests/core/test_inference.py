import dataclasses
import random

import pytest
from helpers import chain, mlp
from hypothesis import given, settings
from hypothesis import strategies as st

from netbuilder.core.blocks import Block
from netbuilder.core.catalog.base import Inferred, registry
from netbuilder.core.graph import Graph, GraphError
from netbuilder.core.inference import InferenceEngine, NodeResult


def test_mlp_totals_match_the_course_notes():
    g, _ = mlp()
    totals = g.inference.totals()
    assert (totals.params, totals.trainable, totals.non_trainable) == (55050, 55050, 0)
    assert totals.flops == 2 * (784 * 64 + 64 * 64 + 64 * 10)


def test_error_names_node_shapes_and_fix():
    g, (inp, dense) = chain(("Input", {"shape": [None]}), ("Dense", {"units": 3}))
    r = g.inference.result(dense.id)
    assert r.error == "dense: Dense needs a known last dimension, got (None, None)"
    assert r.fix
    assert "dense" in g.inference.errors()[0]


def test_invalid_node_blocks_downstream_and_recovers():
    g, (inp, a, b, _) = chain(("Input", {"shape": [8]}), ("Reshape", {"target_shape": [3, 3]}),
                              ("Dense", {"units": 2}), ("Flatten", {}))
    assert g.inference.result(a.id).error.startswith("reshape: Reshape: target (3, 3) holds 9")
    assert g.inference.result(b.id) == NodeResult(blocked_by=a.id)
    g.set_param(a.id, "target_shape", [4, 2])
    assert g.inference.result(b.id).outputs == [(None, 4, 2)]
    assert g.inference.errors() == []


def test_frozen_node_counts_as_non_trainable():
    g, (inp, a, b, c) = mlp()
    g.set_trainable(a.id, False)
    t = g.inference.totals()
    assert (t.trainable, t.non_trainable) == (55050 - 50240, 50240)


def test_dense_on_images_is_allowed_with_a_note():
    g, (inp, d, _) = chain(("Input", {"shape": [28, 28, 1]}), ("Dense", {"units": 10}),
                           ("Flatten", {}))  # inside the model; as its output, an error (below)
    r = g.inference.result(d.id)
    assert r.outputs == [(None, 28, 28, 10)] and r.error is None
    assert "insert Flatten" in r.notes[0]


@pytest.mark.parametrize("bug", [lambda p, inputs: Inferred(None),       # no outputs
                                 lambda p, inputs: 1 / 0])
def test_a_bug_in_a_spec_marks_its_layer_and_takes_nothing_down(monkeypatch, bug):
    monkeypatch.setattr(InferenceEngine, "raise_internal_errors", False)  # as the editor runs
    spec = registry()["Dense"]
    monkeypatch.setitem(registry(), "Dense", dataclasses.replace(spec, infer=bug))
    g, (inp, hidden, out) = chain(("Input", {"shape": [4]}), ("Dense", {"units": 3}),
                                  ("Dense", {"units": 2}))
    g.set_param(inp.id, "shape", [5])    # the hidden Dense: on update's inline path
    assert "dense: could not infer its shape (internal error:" in g.inference.result(
        hidden.id).error
    assert g.inference.result(out.id).blocked_by == hidden.id
    monkeypatch.setitem(registry(), "Dense", spec)
    g.inference.full_recompute()
    assert g.inference.result(out.id).outputs == [(None, 2)]


def test_an_edit_recomputes_only_what_changes():
    layers = [("Input", {"shape": [16]})] + [("Dense", {"units": 16})] * 200
    g, nodes = chain(*layers)
    engine = g.inference

    def recomputed(edit):
        """The nodes that got a new result (every computation makes a new object)."""
        before = dict(engine.results)
        edit()
        return [n.id for n in nodes if engine.results[n.id] is not before[n.id]]

    # same shape: only the node itself
    assert recomputed(lambda: g.set_param(nodes[100].id, "activation", "relu")) == [
        nodes[100].id]
    # the next layer's params change, its shape does not
    assert recomputed(lambda: g.set_param(nodes[100].id, "units", 8)) == [
        nodes[100].id, nodes[101].id]
    assert engine.result(nodes[101].id).params == 8 * 16 + 16
    assert recomputed(lambda: g.set_param(nodes[0].id, "shape", [4])) == [
        nodes[0].id, nodes[1].id]


def _random_edit(g: Graph, rng: random.Random) -> None:
    ids = list(g.nodes)
    choice = rng.randrange(8)
    try:
        if choice == 0 or len(ids) < 3:
            g.add_node("Dense", {"units": rng.randint(1, 9)})
        elif choice == 1:
            g.connect(rng.choice(ids), rng.choice(ids))
        elif choice == 2:
            edges = g.edges
            if edges:
                g.disconnect(rng.choice(edges))
        elif choice == 3:
            node = g.nodes[rng.choice(ids)]
            if node.type == "Dense":
                g.set_param(node.id, "units", rng.randint(1, 9))
            elif node.type == "Input":
                g.set_param(node.id, "shape", [rng.choice([None, 3, 5])])
        elif choice == 4:
            node = g.nodes[rng.choice(ids)]
            if node.type != "Input":
                g.remove_node(node.id)
        elif choice == 5:
            g.set_trainable(rng.choice(ids), rng.random() < 0.5)
        elif choice == 6:
            dense = [n for n in ids if g.nodes[n].type == "Dense"]
            if len(dense) >= 2:
                g.share(*rng.sample(dense, 2))
        else:
            calls = [n for n in ids if g.nodes[n].shares is not None]
            if calls:
                g.unshare(rng.choice(calls))
    except GraphError:
        pass


@settings(max_examples=40)
@given(st.integers(0, 10**6))
def test_incremental_inference_equals_full_recompute(seed):
    rng = random.Random(seed)
    g = Graph()
    g.add_node("Input", {"shape": [5]})
    for _ in range(60):
        _random_edit(g, rng)
    incremental = dict(g.inference.results)
    # every node through _compute in topological order: update's inline path must agree
    assert g.inference.results_for({}) == incremental
    g.inference.full_recompute()
    assert g.inference.results == incremental


def _residual_block() -> Block:
    sub, (x, d1, d2) = chain(("Input", {"shape": [None]}), ("Dense", {"units": 8}),
                             ("Dense", {"units": 8}))
    return Block("res", sub, [x.id], [(d2.id, 0)])


def test_function_block_takes_the_shape_that_arrives():
    g = Graph()
    g.add_block(_residual_block())
    inp = g.add_node("Input", {"shape": [4]})
    b1 = g.add_node("Block", {"block": "res"})
    b2 = g.add_node("Block", {"block": "res"})
    g.connect(inp.id, b1.id)
    g.connect(b1.id, b2.id)
    assert [g.nodes[n].name for n in (b1.id, b2.id)] == ["res", "res_1"]
    assert g.inference.result(b1.id).params == (4 * 8 + 8) + (8 * 8 + 8)
    assert g.inference.result(b2.id).params == 2 * (8 * 8 + 8)
    assert g.inference.result(b2.id).outputs == [(None, 8)]


def test_model_block_checks_its_input_and_freezes_whole():
    sub, (x, d) = chain(("Input", {"shape": [6]}), ("Dense", {"units": 2}))
    g = Graph()
    g.add_block(Block("base", sub, [x.id], [(d.id, 0)], kind="model"))
    inp = g.add_node("Input", {"shape": [5]})
    node = g.add_node("Block", {"block": "base"})
    g.connect(inp.id, node.id)
    assert "expects input (None, 6), got (None, 5)" in g.inference.result(node.id).error
    g.set_param(inp.id, "shape", [6])
    assert g.inference.result(node.id).trainable == 14
    g.set_trainable(node.id, False)
    assert (g.inference.result(node.id).trainable,
            g.inference.result(node.id).non_trainable) == (0, 14)


def test_error_inside_block_is_reported_on_the_instance():
    g = Graph()
    g.add_block(_residual_block())
    inp = g.add_node("Input", {"shape": [None]})
    node = g.add_node("Block", {"block": "res"})
    g.connect(inp.id, node.id)
    assert g.inference.result(node.id).error.startswith("res: inside block res, dense: Dense "
                                                        "needs a known last dimension")


def test_missing_input_and_empty_model_are_errors():
    assert Graph().inference.errors() == [
        "the model is empty; add an Input layer and some layers"]
    g = Graph()
    g.add_node("Dense")
    assert any("no Input layer" in e for e in g.inference.errors())


def test_output_port_that_does_not_exist():
    g, (inp, d) = chain(("Input", {"shape": [3]}), ("Dense", {"units": 2}))
    extra = g.add_node("Dense")
    g.connect(d.id, extra.id, src_port=1)
    assert "has 1 output; its output 1 does not exist" in g.inference.result(extra.id).error


@pytest.mark.parametrize("size", [500, 1000])
def test_large_graph_infers(size):
    g, nodes = chain(("Input", {"shape": [32]}), *[("Dense", {"units": 32})] * size)
    assert g.inference.result(nodes[-1].id).outputs == [(None, 32)]
