"""Blocks as first-class pieces: exposed parameters, optional layers, make / expand / collapse,
snapshots for undo, project files and the summary of function blocks."""

import json

import pytest

from netbuilder.core import blocks_library as bl
from netbuilder.core import project as proj
from netbuilder.core.block_edits import (
    collapse_block,
    expand_block,
    group_of,
    make_block,
    restore,
    snapshot,
)
from netbuilder.core.blocks import Block, exposable_params
from netbuilder.core.graph import Graph, GraphError
from netbuilder.core.summary import summarize, to_json

STAGES = [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3


def resnet34(graph=None):
    """ResNet-34 (the example's) from 16 instances of the built-in residual unit."""
    g = graph or Graph()
    bl.add_to_graph(g, bl.residual_unit())

    def add(layer_type, src, name=None, **params):
        node = g.add_node(layer_type, params, name=name)
        g.connect(src, node.id)
        return node.id

    x = g.add_node("Input", {"shape": [224, 224, 3]}).id
    x = add("Conv2D", x, "stem_conv", filters=64, kernel_size=7, strides=2, padding="same",
            use_bias=False)
    x = add("BatchNormalization", x, "stem_bn")
    x = add("Activation", x, "stem_relu", activation="relu")
    x = add("MaxPooling2D", x, "stem_pool", pool_size=3, strides=2, padding="same")
    prev = 64
    for i, filters in enumerate(STAGES, start=1):
        x = add("Block", x, f"unit{i}", block="residual_unit", filters=filters,
                strides=1 if filters == prev else 2)
        prev = filters
    x = add("GlobalAveragePooling2D", x, "avg_pool")
    x = add("Flatten", x)
    add("Dense", x, "predictions", units=10, activation="softmax")
    return g


def residual_net():
    """Input -> Conv2D -> [Conv2D -> BN -> Add(skip)] -> Flatten -> Dense."""
    g = Graph()
    inp = g.add_node("Input", {"shape": [8, 8, 3]})
    stem = g.add_node("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"})
    conv = g.add_node("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"},
                      position=(0, 100))
    bn = g.add_node("BatchNormalization", position=(0, 200))
    add = g.add_node("Add", position=(50, 300))
    flat = g.add_node("Flatten")
    dense = g.add_node("Dense", {"units": 4})
    for a, b in [(inp, stem), (stem, conv), (conv, bn), (bn, add), (stem, add), (add, flat),
                 (flat, dense)]:
        g.connect(a.id, b.id)
    return g, [conv.id, bn.id, add.id]


def test_resnet34_from_one_block_equals_the_flat_example():
    g = resnet34()
    assert g.inference.errors() == []
    flat = proj.load(proj.Path(__file__).resolve().parents[2] / "resources" / "examples"
                     / "resnet34.nbproj").graph
    ours, theirs = g.inference.totals(), flat.inference.totals()
    assert (ours.trainable, ours.non_trainable, ours.flops, ours.memory) == (
        theirs.trainable, theirs.non_trainable, theirs.flops, theirs.memory)
    # summary --json: a function block's layers are rows named as Keras names them
    rows = to_json(summarize(g))["layers"]
    flat_rows = to_json(summarize(flat))["layers"]
    assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, flat_rows))
    assert {"unit4_skip_conv", "unit4_skip_bn"} <= {r["name"] for r in rows}
    assert "unit5_skip_conv" not in {r["name"] for r in rows}


def test_exposed_values_change_inference_and_are_validated():
    g = resnet34()
    unit = g.node_by_name("unit5")
    assert unit.params == {"block": "residual_unit", "filters": 128, "strides": [1, 1]}
    before = g.inference.result(unit.id).params
    g.set_param(unit.id, "strides", 2)  # now it projects, and halves the image
    r = g.inference.result(unit.id)
    assert r.outputs == [(None, 14, 14, 128)]
    assert r.params == before + 128 * 128 + 4 * 128
    with pytest.raises(GraphError, match="filters"):
        g.set_param(unit.id, "filters", 0)
    with pytest.raises(GraphError, match="has no parameter 'units'.*filters, strides"):
        g.set_param(unit.id, "units", 3)
    with pytest.raises(GraphError, match="has no parameter 'units'"):
        g.add_node("Block", {"block": "residual_unit", "units": 3})


def test_cache_distinguishes_instances_with_different_values():
    g = Graph()
    bl.add_to_graph(g, bl.dense_dropout())
    inp = g.add_node("Input", {"shape": [10]})
    a = g.add_node("Block", {"block": "dense_dropout", "units": 5})
    b = g.add_node("Block", {"block": "dense_dropout", "units": 7})
    g.connect(inp.id, a.id)
    g.connect(inp.id, b.id)
    assert g.inference.result(a.id).params == 55
    assert g.inference.result(b.id).params == 77


@pytest.mark.parametrize("exposed, optional, message", [
    ({"filters": [("nope", "filters")]}, {}, "not one of its layers"),
    ({"filters": [("c", "units")]}, {}, "has no parameter 'units'"),
    ({"name": [("c", "filters")]}, {}, "reserved"),
    ({"2x": [("c", "filters")]}, {}, "Python identifier"),
    ({"f": [("c", "filters"), ("c", "strides")]}, {}, "different kinds"),
    ({"f": [("c", "filters")], "g": [("c", "filters")]}, {}, "both set"),
    ({"f": [("c", "filters")]}, {"c": ("strides", 1)}, "must name one of the exposed"),
    ({"f": [("c", "filters")]}, {"c": ("f", -3)}, "optional layer c"),
    ({"f": [("i", "shape")]}, {}, "cannot expose"),
])
def test_bad_exposures_are_refused(exposed, optional, message):
    sub = Graph()
    sub.add_node("Input", {"shape": [4, 4, 2]}, node_id="i", name="i")
    sub.add_node("Conv2D", {"filters": 2, "kernel_size": 1}, node_id="c", name="c")
    sub.connect("i", "c")
    with pytest.raises(GraphError, match=message):
        Block("b", sub, ["i"], [("c", 0)], exposed=exposed, optional=optional)


def test_model_blocks_cannot_expose():
    sub = Graph()
    sub.add_node("Input", {"shape": [4]}, node_id="i")
    sub.add_node("Dense", {"units": 2}, node_id="d")
    sub.connect("i", "d")
    with pytest.raises(GraphError, match="nested model"):
        Block("m", sub, ["i"], [("d", 0)], "model", exposed={"units": [("d", "units")]})


def test_optional_layers_pass_their_input_through():
    block = bl.residual_unit()
    plain = block.for_instance({"strides": 1})
    names = {n.name for n in plain.graph.nodes.values()}
    assert "skip_conv" not in names and "skip_bn" not in names
    add = next(n for n in plain.graph.nodes.values() if n.name == "add")
    assert [plain.graph.nodes[e.src].name for e in plain.graph.in_edges(add.id)] == [
        "bn2", "inputs"]
    projected = block.for_instance({"strides": 2, "filters": 32})
    conv = next(n for n in projected.graph.nodes.values() if n.name == "skip_conv")
    assert conv.params["strides"] == (2, 2) and conv.params["filters"] == 32
    assert block.for_instance({"strides": [2, 2], "filters": 32}) is projected  # cached


def test_editing_the_definition_updates_every_instance():
    g = resnet34()
    units = [n for n in g.nodes.values() if n.type == "Block"]
    before = g.inference.totals().params
    block = g.blocks["residual_unit"]
    events = []
    g.subscribe(events.append)
    # a new definition: conv2 without "same" padding is not allowed to change shapes silently:
    # use a bias on conv2 instead (one more parameter per filter in every unit)
    new_graph = block.graph
    conv2 = next(n for n in new_graph.nodes.values() if n.name == "conv2")
    new_graph.set_param(conv2.id, "use_bias", True)
    g.add_block(Block(block.name, new_graph, block.inputs, block.outputs,
                      exposed=block.exposed, optional=block.optional))
    assert g.inference.totals().params == before + sum(u.params["filters"] for u in units)
    assert any(e.kind == "block_changed" for e in events)
    # dropping an exposure: instances lose that value
    g.add_block(Block(block.name, new_graph, block.inputs, block.outputs,
                      exposed={"filters": block.exposed["filters"]}, optional={}))
    assert units[5].params == {"block": "residual_unit", "filters": 128}


def test_exposable_params_are_the_usual_and_key_ones_of_the_selected_layers():
    g = Graph()
    inp = g.add_node("Input", {"shape": [8, 8, 3]})
    conv = g.add_node("Conv2D", {"filters": 4, "kernel_size": 3})
    dense = g.add_node("Dense", {"units": 2})
    g.connect(inp.id, conv.id)
    g.connect(conv.id, dense.id)
    offered = [(nid, p.name) for nid, p in exposable_params(g, [inp.id, conv.id])]
    assert offered == [(conv.id, "filters"), (conv.id, "kernel_size"), (conv.id, "strides"),
                       (conv.id, "activation")]
    kept = exposable_params(g, [conv.id], {(conv.id, "use_bias"): "bias"})
    assert (conv.id, "use_bias") in [(nid, p.name) for nid, p in kept]
    assert all(p.kind not in ("json", "layer") for _, p in exposable_params(g, list(g.nodes)))


def test_make_block_expand_and_collapse_round_trip():
    g, selection = residual_net()
    total = g.inference.totals()
    dense = g.node_by_name("dense")
    conv = g.nodes[selection[0]]
    inst = make_block(g, selection, "unit", exposed={"filters": [(conv.id, "filters")]})
    node = g.nodes[inst]
    assert node.type == "Block" and node.params == {"block": "unit", "filters": 16}
    assert g.inference.totals() == total
    assert len(g.nodes) == 5
    block = g.blocks["unit"]
    assert len(block.inputs) == 1  # the stem feeds two selected layers: one input
    assert g.inference.result(dense.id).outputs == [(None, 4)]

    ids = expand_block(g, inst)
    assert inst not in g.nodes
    assert {g.nodes[n].name for n in ids} == {"unit_conv2d_1", "unit_batch_normalization",
                                              "unit_add"}
    assert g.inference.totals() == total and g.inference.errors() == []
    assert group_of(g, ids[1]).block == "unit"

    back = collapse_block(g, ids[0])
    assert g.nodes[back].params == {"block": "unit", "filters": 16}
    assert g.nodes[back].name == "unit"
    assert g.inference.totals() == total
    assert group_of(g, back) is None


def test_collapse_after_editing_makes_a_new_definition():
    g, selection = residual_net()
    inst = make_block(g, selection, "unit")
    ids = expand_block(g, inst)
    conv = next(n for n in ids if g.nodes[n].type == "Conv2D")
    g.set_param(conv, "use_bias", False)
    back = collapse_block(g, conv)
    assert g.nodes[back].params["block"] == "unit_1"
    assert set(g.blocks) == {"unit", "unit_1"}
    assert g.inference.errors() == []


def test_make_block_refuses_what_cannot_be_a_block():
    g, selection = residual_net()
    with pytest.raises(GraphError, match="select the layers"):
        make_block(g, [], "b")
    with pytest.raises(GraphError, match="Python name"):
        make_block(g, selection, "my block")
    inp = g.inputs()[0]
    with pytest.raises(GraphError, match="Input layer"):
        make_block(g, [inp.id] + selection, "b")
    conv, _bn, add = selection
    with pytest.raises(GraphError, match="between selected layers"):
        make_block(g, [conv, add], "b")  # bn is in between, outside the selection
    make_block(g, selection, "b")
    with pytest.raises(GraphError, match="exists already"):
        make_block(g, [g.node_by_name("flatten").id], "b")


def test_expand_a_model_block():
    sub = Graph()
    sub.add_node("Input", {"shape": [6]}, node_id="i")
    sub.add_node("Dense", {"units": 3}, node_id="d", name="dense")
    sub.connect("i", "d")
    g = Graph()
    g.add_block(Block("base", sub, ["i"], [("d", 0)], "model"))
    inp = g.add_node("Input", {"shape": [6]})
    base = g.add_node("Block", {"block": "base"}, name="base")
    out = g.add_node("Dense", {"units": 1})
    g.connect(inp.id, base.id)
    g.connect(base.id, out.id)
    total = g.inference.totals().params
    ids = expand_block(g, base.id)
    assert [g.nodes[n].name for n in ids] == ["base_dense"]
    assert g.inference.totals().params == total
    back = collapse_block(g, ids[0])
    assert g.nodes[back].params == {"block": "base"}


def test_snapshot_restore_undoes_structural_edits():
    g, selection = residual_net()
    before = proj.dumps(proj.Project(g))
    snap = snapshot(g)
    inst = make_block(g, selection, "unit")
    after = snapshot(g)
    restore(g, snap)
    assert proj.dumps(proj.Project(g)) == before
    restore(g, after)
    assert g.nodes[inst].type == "Block" and "unit" in g.blocks
    restore(g, snap)
    assert proj.dumps(proj.Project(g)) == before


def test_project_round_trip_keeps_exposures_and_values(tmp_path):
    g = resnet34()
    path = tmp_path / "r.nbproj"
    proj.save(proj.Project(g, name="r"), path)
    data = json.loads(path.read_text())
    assert data["version"] == 2
    block = data["blocks"][0]
    assert set(block["exposed"]) == {"filters", "strides"}
    assert all(v[0] == "strides" for v in block["optional"].values())
    loaded = proj.load(path).graph
    assert loaded.inference.totals() == g.inference.totals()
    assert loaded.node_by_name("unit4").params == {"block": "residual_unit", "filters": 128,
                                                   "strides": [2, 2]}
    # a file without exposures stays version 1
    plain, _ = residual_net()
    assert json.loads(proj.dumps(proj.Project(plain)))["version"] == 1


def test_damaged_exposures_in_a_file_are_reported(tmp_path):
    g = resnet34()
    data = proj.project_to_dict(proj.Project(g))
    data["blocks"][0]["exposed"]["filters"] = [["nope", "filters"]]
    with pytest.raises(proj.ProjectError, match="block 'residual_unit'.*not one of its layers"):
        proj.loads(json.dumps(data), "f.nbproj")
    data["blocks"][0]["exposed"] = {"filters": "conv1"}
    with pytest.raises(proj.ProjectError, match="must list \\[node id, parameter\\] pairs"):
        proj.loads(json.dumps(data), "f.nbproj")


def test_summary_command_lists_a_blocks_layers_with_exact_totals(tmp_path, capsys):
    from netbuilder import cli

    g = resnet34()
    path = tmp_path / "resnet34_blocks.nbproj"
    proj.save(proj.Project(g, name="resnet34_blocks"), path)
    assert cli.main(["summary", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in data["layers"]]
    assert names[5:10] == ["unit1_conv1", "unit1_bn1", "unit1_relu1", "unit1_conv2", "unit1_bn2"]
    assert "unit1" not in names and "unit4_skip_conv" in names
    totals = g.inference.totals()
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == (
        totals.params, totals.trainable, totals.non_trainable)
    assert sum(row["params"] for row in data["layers"]) == totals.params
    assert cli.main(["summary", str(path)]) == 0
    text = capsys.readouterr().out
    assert " unit4_skip_conv (Conv2D) " in text and f"Total params: {totals.params}\n" in text


def test_expand_a_block_that_uses_another_block():
    inner = bl.conv_bn_relu()
    sub = Graph()
    sub.blocks["conv_bn_relu"] = inner
    x = sub.add_node("Input", {"shape": [8, 8, 3]}, node_id="i")
    a = sub.add_node("Block", {"block": "conv_bn_relu", "filters": 4}, name="first")
    b = sub.add_node("Block", {"block": "conv_bn_relu", "filters": 6}, name="second")
    sub.connect(x.id, a.id)
    sub.connect(a.id, b.id)
    g = Graph()
    g.add_block(Block("stage", sub, ["i"], [(b.id, 0)]))
    inp = g.add_node("Input", {"shape": [8, 8, 3]})
    stage = g.add_node("Block", {"block": "stage"})
    g.connect(inp.id, stage.id)
    total = g.inference.totals()
    rows = sorted(json.dumps(r) for r in to_json(summarize(g))["layers"])
    assert "stage_first_conv" in "".join(rows)
    ids = expand_block(g, stage.id)
    assert [g.nodes[n].name for n in ids] == ["stage_first", "stage_second"]
    assert "conv_bn_relu" in g.blocks
    assert g.inference.totals() == total
    assert sorted(json.dumps(r) for r in to_json(summarize(g))["layers"]) == rows
