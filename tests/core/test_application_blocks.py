"""Expanding a Keras Application on the canvas and collapsing it back, without TensorFlow: a small
Application-like block made by hand (a ``kind="model"`` block with an ``application`` record).

Collapsing an unchanged expansion gives back the very same Application (record, trainable
flags, node name, id, wiring and the positions of what moved to make room); changed flags come
back inside the Application; changed layers make a plain nested model without ``application``.
"""

import pytest

from netbuilder.core import freezing
from netbuilder.core import project as project_io
from netbuilder.core.block_edits import (
    collapse_block,
    expand_block,
    group_of,
    restore,
    snapshot,
)
from netbuilder.core.blocks import Block
from netbuilder.core.graph import BLOCK_TYPE, Graph

APP = {"name": "VGG16", "include_top": False, "pooling": None, "weights": "imagenet",
       "input_shape": [16, 16, 3], "classes": 1000}
LAYERS = ["block1_conv1", "block1_bn", "block1_pool", "block2_conv1", "block2_conv2"]


def tiny_application(name: str = "tiny") -> Block:
    """Input 16x16x3 -> Conv2D -> BatchNormalization -> MaxPooling2D -> Conv2D -> Conv2D, laid
    out top-down as ``applications.make_block`` lays out a real one."""
    sub = Graph()
    sub.add_node("Input", {"shape": [16, 16, 3]}, node_id="i", name="input_layer",
                 position=(0, 0))
    sub.add_node("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}, node_id="c1",
                 name="block1_conv1", position=(0, 110))
    sub.add_node("BatchNormalization", node_id="bn", name="block1_bn", position=(0, 220))
    sub.add_node("MaxPooling2D", node_id="p1", name="block1_pool", position=(0, 330))
    sub.add_node("Conv2D", {"filters": 8, "kernel_size": 3}, node_id="c2", name="block2_conv1",
                 position=(0, 440))
    sub.add_node("Conv2D", {"filters": 8, "kernel_size": 3}, node_id="c3", name="block2_conv2",
                 position=(0, 550))
    for a, b in (("i", "c1"), ("c1", "bn"), ("bn", "p1"), ("p1", "c2"), ("c2", "c3")):
        sub.connect(a, b)
    return Block(name, sub, ["i"], [("c3", 0)], "model", application=dict(APP))


def with_head():
    """Input -> tiny (the Application) -> Flatten -> Dense(3), one row apart, and a Dense on the
    side, above the Application's row (it must not move)."""
    g = Graph()
    block = tiny_application()
    g.add_block(block)
    inp = g.add_node("Input", {"shape": [16, 16, 3]}, position=(0, 0))
    base = g.add_node(BLOCK_TYPE, {"block": "tiny"}, position=(0, 110))
    flat = g.add_node("Flatten", position=(0, 220))
    dense = g.add_node("Dense", {"units": 3, "activation": "softmax"}, position=(0, 330))
    for a, b in ((inp, base), (base, flat), (flat, dense)):
        g.connect(a.id, b.id)
    return g, block, base.id


def dump(g: Graph) -> str:
    return project_io.dumps(project_io.Project(g))


def counts(g: Graph) -> tuple[int, int]:
    totals = g.inference.totals()
    return totals.trainable, totals.non_trainable


def test_expand_puts_the_layers_top_down_where_it_was_and_makes_room():
    g, _block, base = with_head()
    before = counts(g)
    flat = g.node_by_name("flatten")
    ids = expand_block(g, base)
    assert [g.nodes[n].name for n in ids] == [f"tiny_{name}" for name in LAYERS]
    assert [g.nodes[n].type for n in ids] == ["Conv2D", "BatchNormalization", "MaxPooling2D",
                                             "Conv2D", "Conv2D"]
    assert g.inference.errors() == [] and counts(g) == before
    ys = [g.nodes[n].position[1] for n in ids]
    assert ys[0] == 110.0 and ys == sorted(ys) and len(set(ys)) == len(ys)
    # what was below the Application moved down, below its last layer, one row apart
    assert flat.position[1] == ys[-1] + 110.0
    assert g.node_by_name("dense").position[1] == flat.position[1] + 110.0
    assert g.node_by_name("input_layer").position == (0.0, 0.0)
    positions = [n.position for n in g.nodes.values()]
    assert len(set(positions)) == len(positions)  # no two layers on top of each other
    # wired in place of the instance
    assert [g.nodes[e.src].name for e in g.in_edges(ids[0])] == ["input_layer"]
    assert [g.nodes[e.dst].name for e in g.out_edges(ids[-1])] == ["flatten"]
    assert group_of(g, ids[2]).block == "tiny"


def test_collapsing_an_unchanged_expansion_gives_back_the_same_application():
    g, block, base = with_head()
    saved = dump(g)
    ids = expand_block(g, base)
    back = collapse_block(g, ids[3])
    assert back == base and g.nodes[back].name == "tiny"
    assert g.blocks["tiny"] is block and block.application == APP
    assert dump(g) == saved  # record, flags, name, wiring and positions, all as before
    assert group_of(g, back) is None


@pytest.mark.parametrize("how", ["frozen", "fine-tuned"])
def test_frozen_and_fine_tuned_flags_survive_both_ways(how):
    g, block, base = with_head()
    if how == "frozen":
        freezing.freeze_block(g, base, True)
        expected = [False] * 5
    else:
        freezing.fine_tune_from(block, "block2_conv1", g)
        expected = [False, False, False, True, True]
    described = freezing.describe(g, base)
    before, saved = counts(g), dump(g)
    assert before[1] > 0
    ids = expand_block(g, base)
    assert [g.nodes[n].trainable for n in ids] == expected
    assert counts(g) == before  # the same weights are frozen on the canvas
    back = collapse_block(g, ids[0])
    assert freezing.describe(g, back) == described
    assert counts(g) == before and dump(g) == saved


def test_flags_changed_on_the_canvas_come_back_inside_the_application():
    g, block, base = with_head()
    ids = expand_block(g, base)
    for nid in ids[:3]:  # freeze the first block's layers on the canvas
        g.set_trainable(nid, False)
    expanded = counts(g)
    back = collapse_block(g, ids[0])
    new = g.blocks["tiny"]
    assert new is not block and new.application == APP  # still built by the constructor
    assert [n.trainable for n in freezing.inner_layers(new)] == [False] * 3 + [True] * 2
    assert g.nodes[back].trainable and g.nodes[back].name == "tiny"
    assert freezing.describe(g, back) == "fine-tuned from block2_conv1"
    assert counts(g) == expanded
    # the old definition was not changed in place: undo can give it back
    assert all(n.trainable for n in freezing.inner_layers(block))


def test_changed_layers_collapse_into_a_plain_model_without_application():
    g, block, base = with_head()
    freezing.fine_tune_from(block, "block2_conv1", g)
    ids = expand_block(g, base)
    g.set_param(ids[3], "filters", 16)  # no longer VGG16's layers
    expanded = counts(g)
    back = collapse_block(g, ids[0])
    node = g.nodes[back]
    assert node.name == "tiny" and node.type == BLOCK_TYPE
    new = g.blocks[node.params["block"]]
    assert new.name == "tiny" and set(g.blocks) == {"tiny"}  # in place of the Application
    assert new.kind == "model" and new.application is None
    assert [n.name for n in freezing.inner_layers(new)] == LAYERS  # named as in the model
    assert [n.trainable for n in freezing.inner_layers(new)] == [False] * 3 + [True] * 2
    assert counts(g) == expanded and g.inference.errors() == []
    assert [g.nodes[e.src].name for e in g.in_edges(back)] == ["input_layer"]
    assert [g.nodes[e.dst].name for e in g.out_edges(back)] == ["flatten"]
    assert g.node_by_name("flatten").position == (0.0, 220.0)  # moved back up
    loaded = project_io.loads(dump(g))  # and it saves as a plain nested model
    assert loaded.graph.blocks["tiny"].application is None


def test_changed_layers_leave_the_application_of_other_instances_alone():
    g, block, base = with_head()
    other_in = g.add_node("Input", {"shape": [16, 16, 3]}, position=(400, 0))
    other = g.add_node(BLOCK_TYPE, {"block": "tiny"}, position=(400, 110))
    g.connect(other_in.id, other.id)
    ids = expand_block(g, base)
    g.set_param(ids[0], "filters", 6)
    back = collapse_block(g, ids[0])
    assert g.nodes[back].params["block"] == "tiny_1"
    assert g.blocks["tiny_1"].application is None and g.blocks["tiny"] is block
    assert g.nodes[other.id].params["block"] == "tiny" and block.application == APP


def test_snapshots_undo_and_redo_expand_and_collapse():
    g, _block, base = with_head()
    saved = dump(g)
    before = snapshot(g)
    ids = expand_block(g, base)
    expanded_text = dump(g)
    after = snapshot(g)
    restore(g, before)
    assert dump(g) == saved and g.blocks["tiny"].application == APP
    restore(g, after)
    assert dump(g) == expanded_text and group_of(g, ids[0]) is not None
    collapse_block(g, ids[0])
    assert dump(g) == saved


def test_a_big_application_expands_without_overlaps():
    """A ResNet-sized model (175 layers with skip connections) lays out in rows, no overlap."""
    sub = Graph()
    with sub.batch():
        prev = sub.add_node("Input", {"shape": [32, 32, 8]}, node_id="i").id
        for _ in range(35):
            a = sub.add_node("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}).id
            b = sub.add_node("BatchNormalization").id
            c = sub.add_node("Activation", {"activation": "relu"}).id
            d = sub.add_node("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}).id
            add = sub.add_node("Add").id
            for x, y in ((prev, a), (a, b), (b, c), (c, d), (d, add), (prev, add)):
                sub.connect(x, y)
            prev = add
    g = Graph()
    g.add_block(Block("big", sub, ["i"], [(prev, 0)], "model",
                      application={"name": "ResNet50"}))
    inp = g.add_node("Input", {"shape": [32, 32, 8]}, position=(0, 0))
    base = g.add_node(BLOCK_TYPE, {"block": "big"}, position=(0, 110))
    flat = g.add_node("Flatten", position=(0, 220))
    g.connect(inp.id, base.id)
    g.connect(base.id, flat.id)
    total = counts(g)
    ids = expand_block(g, base.id)
    assert len(ids) == 175 and counts(g) == total
    boxes = [g.nodes[n].position for n in g.nodes]
    for i, (x1, y1) in enumerate(boxes):  # node boxes are about 190 x 70
        for x2, y2 in boxes[i + 1:]:
            assert abs(x1 - x2) >= 190 or abs(y1 - y2) >= 70
    collapse_block(g, ids[-1])
    assert g.blocks["big"].application == {"name": "ResNet50"}


def test_an_expansion_saved_and_reopened_still_collapses_into_the_application(tmp_path):
    g, _block, base = with_head()
    saved = dump(g)
    freezing.freeze_block(g, base, True)
    frozen = dump(g)
    ids = expand_block(g, base)
    path = tmp_path / "expanded.nbproj"
    project_io.save(project_io.Project(g, "expanded"), path)
    text = path.read_text()
    assert '"version": 3' in text and '"expanded"' in text
    reopened = project_io.load(path).graph
    names = [reopened.nodes[n].name for n in ids]
    assert names == [f"tiny_{name}" for name in LAYERS]
    assert group_of(reopened, ids[1]).block == "tiny"
    back = collapse_block(reopened, ids[1])
    assert reopened.nodes[back].name == "tiny" and reopened.blocks["tiny"].application == APP
    assert dump(reopened) == frozen != saved        # the Application again, still frozen
    assert '"expanded"' not in dump(reopened) and '"version": 1' in dump(reopened)


def test_an_edited_reopened_expansion_collapses_into_a_plain_model(tmp_path):
    g, _block, base = with_head()
    ids = expand_block(g, base)
    g.set_param(ids[0], "filters", 6)
    path = tmp_path / "edited.nbproj"
    project_io.save(project_io.Project(g, "edited"), path)
    reopened = project_io.load(path).graph
    back = collapse_block(reopened, ids[0])
    block = reopened.blocks[reopened.nodes[back].params["block"]]
    assert block.application is None and block.kind == "model"


@pytest.mark.parametrize("damage, message", [
    (lambda d: d["expanded"][0].pop("fingerprint"), "needs exactly the keys"),
    (lambda d: d["expanded"][0].update(node_ids=["nope"]), "not in the graph"),
    (lambda d: d["expanded"][0].update(block="gone"), "no block named 'gone'"),
    (lambda d: d["expanded"][0].update(index="x"), "expanded block 1"),
    (lambda d: d.update(expanded={}), "\"expanded\""),
])
def test_a_damaged_expansion_record_is_a_clear_error(tmp_path, damage, message):
    import json

    g, _block, base = with_head()
    expand_block(g, base)
    data = json.loads(dump(g))
    damage(data)
    with pytest.raises(project_io.ProjectError, match=message):
        project_io.loads(json.dumps(data), "damaged.nbproj")
