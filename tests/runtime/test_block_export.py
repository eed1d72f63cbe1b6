"""Blocks exported as Python functions, checked against Keras: ResNet-34 from one residual unit
becomes one ``def`` called 16 times, and that code builds the model the graph describes."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.core import blocks_library as bl  # noqa: E402
from netbuilder.core.block_edits import expand_block, make_block  # noqa: E402
from netbuilder.core.codegen import generate_code  # noqa: E402
from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.project import Project  # noqa: E402
from netbuilder.core.summary import summarize, to_json  # noqa: E402
from netbuilder.runtime.keras_build import build_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_blocks import resnet34  # noqa: E402
from test_blocks_library import INPUTS, VALUES  # noqa: E402


def weights(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def run_exported(code):
    scope = {"__name__": "exported"}
    exec(compile(code, "exported.py", "exec"), scope)  # noqa: S102 - our own generated code
    return scope["build_model"]()


def assert_model_matches_graph(model, graph):
    summary = summarize(graph)
    rows = {r["name"]: r for r in to_json(summary)["layers"]}
    assert sorted(layer.name for layer in model.layers) == sorted(rows)
    for layer in model.layers:
        row = rows[layer.name]
        assert [tuple(row["output_shape"])] == [tuple(layer.output.shape)], layer.name
        assert layer.count_params() == row["params"], layer.name
        assert weights(layer.trainable_weights) == row["trainable_params"], layer.name
    assert model.count_params() == summary.total_params
    assert weights(model.trainable_weights) == summary.trainable_params
    assert weights(model.non_trainable_weights) == summary.non_trainable_params


def test_resnet34_exports_one_block_function_and_builds_the_same_model():
    graph = resnet34()
    code = generate_code(Project(graph, name="resnet34"))
    assert len(re.findall(r"^def residual_unit\(", code, re.M)) == 1
    assert re.findall(r"^def ", code, re.M) == ["def ", "def "]  # the block and build_model
    assert code.count("residual_unit(x, name=") == 16
    assert 'x = residual_unit(x, name="unit4", filters=128, strides=2)' in code
    assert "    if strides != 1:" in code
    exported = run_exported(code)
    built = build_model(graph, name="resnet34")
    assert_model_matches_graph(exported, graph)
    assert_model_matches_graph(built, graph)
    assert len(exported.layers) == len(built.layers) == 126
    inferred = graph.inference.result(graph.outputs()[0].id).outputs[0]
    assert tuple(exported.output.shape) == tuple(built.outputs[0].shape) == inferred == (
        None, 10)
    assert [layer.name for layer in exported.layers] == [layer.name for layer in built.layers]


@pytest.mark.parametrize("name", list(bl.BUILTIN))
def test_builtin_blocks_build_in_keras_as_inferred(name):
    g = Graph()
    bl.add_to_graph(g, bl.builtin(name))
    x = g.add_node("Input", {"shape": INPUTS[name]})
    a = g.add_node("Block", {"block": name, **VALUES[name]}, name="first")
    b = g.add_node("Block", {"block": name, **VALUES[name]}, name="second")
    g.connect(x.id, a.id)
    g.connect(a.id, b.id)
    code = generate_code(Project(g, name=name))
    assert len(re.findall(rf"^def {name}\(", code, re.M)) == 1
    assert_model_matches_graph(run_exported(code), g)
    assert_model_matches_graph(build_model(g), g)


def test_made_block_exports_and_expands_consistently():
    g = Graph()
    inp = g.add_node("Input", {"shape": [10]})
    d1 = g.add_node("Dense", {"units": 6, "activation": "relu"})
    d2 = g.add_node("Dense", {"units": 6})
    add = g.add_node("Add")
    head = g.add_node("Dense", {"units": 2})
    for s, t in [(inp, d1), (d1, d2), (d2, add), (d1, add), (add, head)]:
        g.connect(s.id, t.id)
    inst = make_block(g, [d2.id, add.id], "skip_dense",
                      exposed={"width": [(d2.id, "units")]})
    exported = run_exported(generate_code(Project(g, name="m")))
    assert_model_matches_graph(exported, g)
    before = sorted(json.dumps(r) for r in to_json(summarize(g))["layers"])
    expand_block(g, inst)  # the expanded layers are named as the build named them
    assert sorted(json.dumps(r) for r in to_json(summarize(g))["layers"]) == before
    assert_model_matches_graph(build_model(g), g)


def test_every_node_has_its_layer_in_the_built_model_for_inspection():
    """What the Inspect dock asks for: each node's output is one named layer's output in the
    built model, block instances included (their inlined output layer)."""
    from netbuilder.runtime.keras_build import built_layer_name

    g = Graph()
    bl.add_to_graph(g, bl.residual_unit())
    bl.add_to_graph(g, bl.se_block())
    x = g.add_node("Input", {"shape": [16, 16, 8]}).id
    nodes = [x]
    for params in ({"block": "residual_unit", "filters": 8, "strides": 1},
                   {"block": "residual_unit", "filters": 16, "strides": 2},
                   {"block": "se_block", "channels": 16}):
        node = g.add_node("Block", params)
        g.connect(nodes[-1], node.id)
        nodes.append(node.id)
    pool = g.add_node("GlobalAveragePooling2D", {})
    g.connect(nodes[-1], pool.id)
    nodes.append(pool.id)
    assert not g.inference.errors()
    model = build_model(g)
    for node_id in nodes:
        name = built_layer_name(g, node_id)
        layer = model.get_layer(name)
        expected = g.inference.results[node_id].outputs[0]
        assert tuple(layer.output.shape) == tuple(expected), (name, expected)
    assert built_layer_name(g, nodes[2]).startswith(g.nodes[nodes[2]].name + "_")
