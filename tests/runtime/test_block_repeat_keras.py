"""A repeated block instance (``repeat``: the block applied N times in a row) against Keras: the
graph built by NetBuilder and the exported loop give the layers, shapes and counts that
inference and the summary say, for every built-in block and repeat 1..3."""

import sys
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")

from netbuilder.core import blocks_library as bl  # noqa: E402
from netbuilder.core.block_edits import collapse_block, expand_block  # noqa: E402
from netbuilder.core.codegen import generate_code  # noqa: E402
from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.project import Project, dumps, loads  # noqa: E402
from netbuilder.core.summary import summarize, to_json  # noqa: E402
from netbuilder.runtime.keras_build import build_model, built_layer_name  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_block_export import assert_model_matches_graph, run_exported  # noqa: E402
from test_blocks_library import INPUTS, VALUES  # noqa: E402

CASES = [(name, VALUES[name]) for name in bl.BUILTIN] + [
    ("residual_unit", {"filters": 16, "strides": 2})]


def repeated(name, values, repeat):
    g = Graph()
    bl.add_to_graph(g, bl.builtin(name))
    x = g.add_node("Input", {"shape": INPUTS[name]})
    params = {"block": name, **values}
    if repeat != 1:
        params["repeat"] = repeat
    unit = g.add_node("Block", params, name="unit")
    g.connect(x.id, unit.id)
    return g, unit.id


@pytest.mark.slow
@pytest.mark.parametrize("repeat", [1, 2, 3])
@pytest.mark.parametrize(("name", "values"), CASES)
def test_repeated_builtin_blocks_equal_keras_layer_by_layer(name, values, repeat):
    g, unit = repeated(name, values, repeat)
    assert g.inference.errors() == []
    once, _ = repeated(name, values, 1)
    layers_once = len(to_json(summarize(once))["layers"]) - 1
    rows = to_json(summarize(g))["layers"]
    assert len(rows) - 1 == repeat * layers_once  # every call's layers, inline
    built = build_model(g)
    assert_model_matches_graph(built, g)
    code = generate_code(Project(g, name=name))
    if repeat > 1:
        assert f"    for i in range({repeat}):\n" in code
        assert "name=f\"unit_r{i + 1}\"" in code, code
    else:
        assert "for i in range" not in code
    exported = run_exported(code)
    assert_model_matches_graph(exported, g)
    assert [layer.name for layer in exported.layers] == [layer.name for layer in built.layers]
    layer = built.get_layer(built_layer_name(g, unit))
    assert tuple(layer.output.shape) == g.inference.results[unit].outputs[0]


def test_repeat_doubles_depth_and_totals_and_round_trips_through_the_file():
    g, unit = repeated("residual_unit", {"filters": 8}, 1)
    one = summarize(g).total_params
    g.set_param(unit, "repeat", 3)
    assert summarize(g).total_params == 3 * one
    again = loads(dumps(Project(g, name="r")))
    assert again.graph.nodes[unit].params["repeat"] == 3
    assert summarize(again.graph).total_params == 3 * one
    ids = expand_block(g, unit)  # three calls of the unit on the canvas, as built
    assert summarize(g).total_params == 3 * one
    assert any(g.nodes[i].name.startswith("unit_r3_") for i in ids)
    back = collapse_block(g, ids[0])
    assert g.nodes[back].params["repeat"] == 3
