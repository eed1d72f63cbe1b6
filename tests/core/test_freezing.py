"""Freezing and fine-tuning a nested model, the recipes, and Application blocks in project files;
pure Python (the Keras oracle for the same counts is tests/runtime/test_applications.py)."""

import json

import pytest

from netbuilder.core import project as project_io
from netbuilder.core.blocks import Block
from netbuilder.core.freezing import (
    describe,
    fine_tune_from,
    fine_tune_layer,
    freeze_block,
    inner_layers,
    restore,
    state,
)
from netbuilder.core.graph import Graph, GraphError
from netbuilder.core.project import Project, ProjectError
from netbuilder.core.recipes import (
    add_classifier_head,
    classifier_head,
    known_classes,
    suggested_fine_tune_layer,
    two_stage_settings,
)

APP = {"name": "Tiny", "include_top": False, "pooling": None, "weights": None,
       "input_shape": [32, 32, 3], "classes": 1000}


def tiny_base():
    """block1_conv (3x3, 8) -> block1_bn -> block2_conv1 (3x3, 16) -> block2_bn ->
    block2_conv2 (3x3, 16): a model block standing for an Application."""
    sub = Graph()
    x = sub.add_node("Input", {"shape": [32, 32, 3]}, name="input")
    prev = x.id
    for name, layer_type, params in (
            ("block1_conv", "Conv2D", {"filters": 8, "kernel_size": 3}),
            ("block1_bn", "BatchNormalization", {}),
            ("block2_conv1", "Conv2D", {"filters": 16, "kernel_size": 3}),
            ("block2_bn", "BatchNormalization", {}),
            ("block2_conv2", "Conv2D", {"filters": 16, "kernel_size": 3})):
        node = sub.add_node(layer_type, params, name=name)
        sub.connect(prev, node.id)
        prev = node.id
    return Block("tiny", sub, [x.id], [(prev, 0)], kind="model", application=dict(APP))


CONV1 = 3 * 3 * 3 * 8 + 8           # 224
BN1 = (2 * 8, 2 * 8)                # gamma, beta / moving mean, variance
CONV2 = 3 * 3 * 8 * 16 + 16         # 1168
BN2 = (2 * 16, 2 * 16)
CONV3 = 3 * 3 * 16 * 16 + 16        # 2320
BASE = CONV1 + sum(BN1) + CONV2 + sum(BN2) + CONV3


def with_head():
    g = Graph()
    block = tiny_base()
    g.add_block(block)
    inp = g.add_node("Input", {"shape": [32, 32, 3]})
    base = g.add_node("Block", {"block": "tiny"})
    g.connect(inp.id, base.id)
    head = add_classifier_head(g, base.id, 5)
    return g, block, base.id, head


def totals(g):
    t = g.inference.totals()
    return t.trainable, t.non_trainable


HEAD = 16 * 5 + 5


def test_counts_of_a_trainable_base_keep_batchnorm_statistics_non_trainable():
    g, _, _, _ = with_head()
    assert totals(g) == (BASE - BN1[1] - BN2[1] + HEAD, BN1[1] + BN2[1])


def test_freezing_the_instance_and_unfreezing_it_again():
    g, block, base, _ = with_head()
    freeze_block(g, base, True)
    assert totals(g) == (HEAD, BASE)
    assert describe(g, base) == "frozen"
    fine_tune_from(block, "block2_conv1", g)
    freeze_block(g, base, False)  # like base.trainable = True: every layer trains again
    assert all(n.trainable for n in inner_layers(block))
    assert totals(g) == (BASE - BN1[1] - BN2[1] + HEAD, BN1[1] + BN2[1])
    assert describe(g, base) == "trainable"


def test_freezing_every_layer_of_a_block():
    g, block, base, _ = with_head()
    freeze_block(g, block, True)
    assert g.node(base).trainable
    assert totals(g) == (HEAD, BASE)
    assert describe(g, base) == "frozen"


def test_fine_tune_from_a_layer_keeps_earlier_layers_and_batchnorm_frozen():
    g, block, base, _ = with_head()
    kept = fine_tune_from(block, "block2_conv1", g)
    assert kept == ["block2_bn"]
    flags = {n.name: n.trainable for n in inner_layers(block)}
    assert flags == {"block1_conv": False, "block1_bn": False, "block2_conv1": True,
                     "block2_bn": False, "block2_conv2": True}
    assert totals(g) == (CONV2 + CONV3 + HEAD, CONV1 + sum(BN1) + sum(BN2))
    assert fine_tune_layer(block) == "block2_conv1"
    assert describe(g, base) == "fine-tuned from block2_conv1"
    row = g.inference.result(base)
    assert (row.trainable, row.non_trainable) == (CONV2 + CONV3, CONV1 + sum(BN1) + sum(BN2))
    with pytest.raises(GraphError, match="no layer named 'nope'"):
        fine_tune_from(block, "nope", g)


def test_state_and_restore_undo_any_freezing():
    g, block, base, _ = with_head()
    before = state(g, base)
    counts = totals(g)
    fine_tune_from(block, "block2_conv2", g)
    freeze_block(g, base, True)
    assert totals(g) != counts
    restore(g, base, before)
    assert totals(g) == counts and state(g, base) == before


def test_freeze_block_refuses_a_plain_layer():
    g, _, _, head = with_head()
    with pytest.raises(GraphError, match="not a block"):
        freeze_block(g, head[0], True)


def test_classifier_head_shapes_and_choices():
    g, block, base, head = with_head()
    types = [g.nodes[n].type for n in head]
    assert types == ["GlobalAveragePooling2D", "Dropout", "Dense"]
    dense = g.nodes[head[-1]]
    assert dense.params["units"] == 5 and dense.params["activation"] == "softmax"
    assert g.nodes[head[1]].params["rate"] == 0.5
    assert g.inference.result(head[-1]).outputs == [(None, 5)]
    binary = classifier_head(g, base, 1)
    assert (binary[-1].params["units"], binary[-1].params["activation"]) == (1, "sigmoid")
    after_vector = classifier_head(g, head[0], 3, dropout=0.0)
    assert [s.type for s in after_vector] == ["Dense"]
    with pytest.raises(GraphError, match="number of classes"):
        classifier_head(g, base, 0)
    lonely = g.add_node("Dense", {"units": 3})
    with pytest.raises(GraphError, match="no output shape yet"):
        classifier_head(g, lonely.id, 3)


def test_known_classes_from_the_project_data(tmp_path):
    assert known_classes({"data": "mnist"}) == 10
    assert known_classes({"data": {"source": "shapes", "options": {"num_classes": 4}}}) == 4
    assert known_classes({"data": "shapes"}) == 3
    assert known_classes({}) is None
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
    assert known_classes({"data": str(tmp_path)}) == 2
    assert known_classes({"data": str(tmp_path / "missing")}) is None


def test_two_stage_settings_and_suggested_layer():
    assert two_stage_settings("block5_conv1") == {
        "fine_tune_from": "block5_conv1", "fine_tune_epochs": 10,
        "fine_tune_learning_rate": 1e-5}
    with pytest.raises(GraphError):
        two_stage_settings("x", epochs=0)
    with pytest.raises(GraphError):
        two_stage_settings("x", learning_rate=0)
    assert suggested_fine_tune_layer(tiny_base()) in {n.name for n in inner_layers(tiny_base())}


def test_project_files_keep_the_application_and_its_flags(tmp_path):
    g, block, base, _ = with_head()
    fine_tune_from(block, "block2_conv1", g)
    path = tmp_path / "p.nbproj"
    project_io.save(Project(g), path)
    data = json.loads(path.read_text())
    assert data["blocks"][0]["application"] == APP
    loaded = project_io.load(path)
    assert loaded.graph.blocks["tiny"].application == APP
    assert totals(loaded.graph) == totals(g)
    assert fine_tune_layer(loaded.graph.blocks["tiny"]) == "block2_conv1"

    # files without Applications keep loading (and are written without the key)
    data["blocks"][0].pop("application")
    plain = project_io.loads(json.dumps(data))
    assert plain.graph.blocks["tiny"].application is None
    assert "application" not in project_io.dumps(plain)

    data["blocks"][0]["application"] = "VGG16"
    with pytest.raises(ProjectError, match="application"):
        project_io.loads(json.dumps(data))
    data["blocks"][0]["application"] = {"weights": None}
    with pytest.raises(ProjectError, match="application"):
        project_io.loads(json.dumps(data))


def test_an_application_block_is_a_model_block():
    sub = tiny_base().graph
    inp = sub.inputs()[0].id
    out = sub.node_by_name("block2_conv2").id
    with pytest.raises(GraphError, match="Application"):
        Block("x", sub, [inp], [(out, 0)], kind="function", application=dict(APP))


def test_exported_code_calls_the_constructor_and_sets_the_flags_like_the_notes():
    from netbuilder.core.codegen import generate_code

    g, block, base, _ = with_head()
    code = generate_code(Project(g, name="tl"))
    assert "    base = keras.applications.Tiny(\n" in code or \
        "base = keras.applications.Tiny(include_top=False" in code
    assert 'input_shape=(32, 32, 3), name=name' in code
    assert "x = tiny(inputs)\n" in code  # all trainable: a plain call
    assert "block1_conv" not in code  # its layers come from the constructor

    fine_tune_from(block, "block2_conv1", g)
    code = generate_code(Project(g, name="tl"))
    assert 'if layer.name == "block2_conv1":' in code
    assert "layer.trainable = set_trainable and not isinstance(" in code
    assert "x = tiny(inputs, training=False)" in code

    freeze_block(g, block, True)  # every layer inside
    code = generate_code(Project(g, name="tl"))
    assert "    base.trainable = False\n" in code and "set_trainable" not in code

    freeze_block(g, block, False)
    g2_block = g.blocks["tiny"]
    g2_block.graph.set_trainable(g2_block.graph.node_by_name("block2_conv2").id, False)
    code = generate_code(Project(g, name="tl"))
    assert 'for layer_name in ["block2_conv2"]:' in code
    assert "base.get_layer(layer_name).trainable = False" in code

    freeze_block(g, base, True)  # the instance: frozen after it is made
    code = generate_code(Project(g, name="tl"))
    assert "    tiny.trainable = False\n" in code
    compile(code, "exported.py", "exec")
