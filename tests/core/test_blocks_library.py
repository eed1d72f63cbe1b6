"""The built-in blocks and the user's block library."""

import pytest

from netbuilder.core import blocks_library as bl
from netbuilder.core.graph import Graph, GraphError

INPUTS = {"residual_unit": [16, 16, 8], "inception_cell": [12, 12, 20],
          "se_block": [8, 8, 24], "conv_bn_relu": [16, 16, 3], "separable_conv": [16, 16, 8],
          "dense_dropout": [12]}
VALUES = {"residual_unit": {"filters": 8}, "inception_cell": {}, "se_block": {"channels": 24},
          "conv_bn_relu": {}, "separable_conv": {}, "dense_dropout": {}}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NETBUILDER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("name", list(bl.BUILTIN))
def test_builtin_blocks_are_valid_and_usable(name):
    block = bl.builtin(name)
    assert block.name == name and block.kind == "function" and block.exposed
    assert block.graph.inference.errors() == []
    assert name in bl.DESCRIPTIONS
    g = Graph()
    bl.add_to_graph(g, block)
    inp = g.add_node("Input", {"shape": INPUTS[name]})
    inst = g.add_node("Block", {"block": name, **VALUES[name]})
    g.connect(inp.id, inst.id)
    assert g.inference.errors() == []
    assert g.inference.result(inst.id).params > 0


def test_residual_unit_projects_only_when_striding():
    g = Graph()
    bl.add_to_graph(g, bl.residual_unit())
    inp = g.add_node("Input", {"shape": [16, 16, 8]})
    a = g.add_node("Block", {"block": "residual_unit", "filters": 8, "strides": 1})
    b = g.add_node("Block", {"block": "residual_unit", "filters": 16, "strides": 2})
    g.connect(inp.id, a.id)
    g.connect(a.id, b.id)
    conv3 = 3 * 3 * 8 * 8
    assert g.inference.result(a.id).params == 2 * conv3 + 2 * 4 * 8
    assert g.inference.result(b.id).outputs == [(None, 8, 8, 16)]
    # 3x3 convs (8->16, 16->16), 1x1 projection 8->16, three BNs of 16
    assert g.inference.result(b.id).params == 9 * 8 * 16 + 9 * 16 * 16 + 8 * 16 + 3 * 4 * 16
    # more filters without striding: the skip connection cannot be added
    c = g.add_node("Block", {"block": "residual_unit", "filters": 32, "strides": 1})
    g.connect(b.id, c.id)
    assert "inside block residual_unit" in g.inference.result(c.id).error


def test_unknown_builtin():
    with pytest.raises(GraphError, match="no built-in block named 'nope'.*residual_unit"):
        bl.builtin("nope")


def test_library_save_load_and_damaged_files(home):
    block = bl.se_block()
    path = bl.save_to_library(block)
    assert path == home / "blocks" / "se_block.json"
    (home / "blocks" / "broken.json").write_text('{"format": "netbuilder-project", "vers')
    (home / "blocks" / "other.json").write_text('{"format": "something else"}')
    library = bl.load_library()
    assert list(library.blocks) == ["se_block"]
    loaded = library.blocks["se_block"]
    assert loaded.exposed.keys() == block.exposed.keys()
    assert len(library.problems) == 2
    assert any("broken.json" in p and "not valid JSON" in p for p in library.problems)
    assert any("other.json" in p and "not a NetBuilder project" in p for p in library.problems)
    # no temporary files left behind; saving again replaces
    bl.save_to_library(block)
    assert sorted(p.name for p in (home / "blocks").iterdir()) == [
        "broken.json", "other.json", "se_block.json"]
    bl.remove_from_library("se_block")
    assert "se_block" not in bl.load_library().blocks
    with pytest.raises(GraphError, match="no block named"):
        bl.remove_from_library("se_block")


def test_library_folder_missing_or_unwritable(home, tmp_path):
    assert bl.load_library().blocks == {}
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GraphError, match="cannot save block se_block"):
        bl.save_to_library(bl.se_block(), blocker / "sub")


def test_add_to_graph_keeps_the_projects_own_definition():
    g = Graph()
    first = bl.add_to_graph(g, bl.dense_dropout())
    again = bl.add_to_graph(g, bl.dense_dropout())
    assert again is first
