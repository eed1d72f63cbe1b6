import json

import pytest
from helpers import chain, mlp

from netbuilder.core import project as proj
from netbuilder.core.blocks import Block
from netbuilder.core.project import Project, ProjectError


def _saved(tmp_path, graph=None, **kw):
    graph = graph or mlp()[0]
    path = tmp_path / "p.nbproj"
    proj.save(Project(graph, name="mlp", **kw), path)
    return path


def test_round_trip_keeps_everything(tmp_path):
    g, (inp, a, b, c) = mlp()
    g.set_trainable(a.id, False)
    g.move(b.id, (12.5, -3))
    path = _saved(tmp_path, g, description="an MLP", settings={"epochs": 3})
    loaded = proj.load(path)
    assert loaded.name == "mlp" and loaded.description == "an MLP"
    assert loaded.settings == {"epochs": 3}
    h = loaded.graph
    assert [(n.id, n.type, n.name, n.params, n.trainable, n.position) for n in h.nodes.values()] \
        == [(n.id, n.type, n.name, n.params, n.trainable, n.position) for n in g.nodes.values()]
    assert h.edges == g.edges
    assert h.inference.totals() == g.inference.totals()
    assert proj.dumps(loaded) == path.read_text()


def test_file_is_readable_and_stable(tmp_path):
    text = _saved(tmp_path).read_text()
    data = json.loads(text)
    assert list(data) == ["format", "version", "name", "description", "graph"]
    dense = data["graph"]["nodes"][1]
    # only what differs from Keras' defaults, keys in a fixed order
    assert dense == {"id": "n2", "type": "Dense", "name": "dense",
                     "params": {"units": 64, "activation": "relu"}, "position": [0.0, 0.0]}
    assert data["graph"]["edges"][0] == {"from": ["n1", 0], "to": ["n2", 0]}
    assert text == _saved(tmp_path).read_text()


def test_blocks_round_trip(tmp_path):
    sub, (x, d) = chain(("Input", {"shape": [6]}), ("Dense", {"units": 2}))
    g = chain(("Input", {"shape": [6]}))[0]
    g.add_block(Block("base", sub, [x.id], [(d.id, 0)], kind="model"))
    node = g.add_node("Block", {"block": "base"}, trainable=False)
    g.connect("n1", node.id)
    loaded = proj.load(_saved(tmp_path, g)).graph
    assert loaded.blocks["base"].kind == "model"
    assert loaded.inference.result(node.id).non_trainable == 14


def test_sequential_blocks_round_trip(tmp_path):
    sub, (x, d, a) = chain(("Input", {"shape": [6]}), ("Dense", {"units": 2}),
                           ("Activation", {"activation": "relu"}))
    g = chain(("Input", {"shape": [6]}))[0]
    g.add_block(Block("stem", sub, [x.id], [(a.id, 0)], kind="sequential"))
    node = g.add_node("Block", {"block": "stem"})
    g.connect("n1", node.id)
    path = _saved(tmp_path, g)
    assert json.loads(path.read_text())["blocks"][0]["kind"] == "sequential"
    loaded = proj.load(path).graph
    assert loaded.blocks["stem"].kind == "sequential"
    assert loaded.blocks["stem"].sequence() == [x.id, d.id, a.id]
    assert loaded.inference.result(node.id).trainable == 14
    # inference checks a Sequential's input like a model's
    g2 = chain(("Input", {"shape": [5]}))[0]
    g2.add_block(loaded.blocks["stem"])
    bad = g2.add_node("Block", {"block": "stem"})
    g2.connect("n1", bad.id)
    assert "model stem expects input" in g2.inference.result(bad.id).error


def test_save_is_atomic(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    before = path.read_text()
    g = mlp()[0]

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(proj.os, "replace", broken_replace)
    with pytest.raises(ProjectError, match="No space left"):
        proj.save(Project(g, name="changed"), path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.nbproj"]  # no temp file left behind


def _mutated(tmp_path, mutate):
    data = json.loads(_saved(tmp_path).read_text())
    mutate(data)
    path = tmp_path / "bad.nbproj"
    path.write_text(json.dumps(data))
    return path


BAD_DOCUMENTS = [
    (lambda d: d.update(version=99), "newer NetBuilder .*format version 99"),
    (lambda d: d.update(version="1"), "\"version\" must be a positive integer"),
    (lambda d: d.pop("format"), "not a NetBuilder project"),
    (lambda d: d.pop("graph"), "missing \"graph\""),
    (lambda d: d.update(extra=1), "unknown key \"extra\""),
    (lambda d: d["graph"]["nodes"][1].update(type="Dens"),
     "unknown layer type 'Dens'; did you mean Dense"),
    (lambda d: d["graph"]["nodes"][1]["params"].update(units=-4), "layer 'dense'.*units.*-4"),
    (lambda d: d["graph"]["nodes"][1]["params"].update(unitz=4), "did you mean `units`"),
    (lambda d: d["graph"]["nodes"][1].update(params=[1]), "\"params\" must be an object"),
    (lambda d: d["graph"]["nodes"][1].update(trainable="no"), "\"trainable\" must be true/false"),
    (lambda d: d["graph"]["nodes"][1].update(position=[1]), "\"position\" must be \\[x, y\\]"),
    (lambda d: d["graph"]["nodes"][2].update(name="dense"), "named 'dense' exists already"),
    (lambda d: d["graph"]["nodes"][2].update(id="n2"), "id 'n2' exists already"),
    (lambda d: d["graph"]["nodes"][2].pop("name"), "node 3: missing \"name\""),
    (lambda d: d["graph"]["edges"].append({"from": ["n9", 0], "to": ["n2", 0]}),
     "edge 4: no node with id 'n9'"),
    (lambda d: d["graph"]["edges"].append({"from": ["n4", 0], "to": ["n2", 1]}), "edge 4: .*"),
    (lambda d: d["graph"]["edges"].append({"from": ["n4", 0], "to": ["n1", 0]}), "takes no inputs"),
    (lambda d: d["graph"]["edges"].append({"from": "n4", "to": ["n1", 0]}), "expected \\[node id"),
    (lambda d: d["graph"]["nodes"].append("dense"), "node 5: expected an object, found a string"),
    (lambda d: d["graph"]["nodes"][1].update(type="Block", params={"block": "x"}),
     "no block named"),
    (lambda d: d.update(blocks=[{"name": "b"}]), "block 1: missing \"inputs\""),
]


@pytest.mark.parametrize("mutate, message", BAD_DOCUMENTS)
def test_damaged_files_give_clear_errors(tmp_path, mutate, message):
    path = _mutated(tmp_path, mutate)
    with pytest.raises(ProjectError, match=message) as info:
        proj.load(path)
    assert str(info.value).startswith(str(path))


def test_cycle_in_file_is_refused(tmp_path):
    def add_cycle(d):
        d["graph"]["edges"][0] = {"from": ["n4", 0], "to": ["n2", 0]}
        d["graph"]["edges"].append({"from": ["n1", 0], "to": ["n3", 1]})
    # n2 -> n3 -> n4 -> n2 closes a loop
    with pytest.raises(ProjectError, match="cycle"):
        proj.load(_mutated(tmp_path, add_cycle))


@pytest.mark.parametrize("content, message", [
    ("", "not valid JSON at line 1, column 1.*truncated"),
    ('{"format": "netbuilder-project", "version": 1, "graph": {"nodes": [',
     "not valid JSON.*truncated"),
    ("[1, 2]", "not a NetBuilder project"),
    ("{\"a\": NaN", "not valid JSON"),
    ("[" * 100000, "nested too deeply|not valid JSON"),
])
def test_broken_json(tmp_path, content, message):
    path = tmp_path / "x.nbproj"
    path.write_text(content)
    with pytest.raises(ProjectError, match=message):
        proj.load(path)


def test_every_truncation_of_a_real_file_is_a_clear_error(tmp_path):
    text = _saved(tmp_path).read_text()
    path = tmp_path / "cut.nbproj"
    for cut in range(0, len(text) - 2, 7):
        path.write_text(text[:cut])
        with pytest.raises(ProjectError):
            proj.load(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(ProjectError, match="no such file"):
        proj.load(tmp_path / "missing.nbproj")
    with pytest.raises(ProjectError, match="is a folder"):
        proj.load(tmp_path)
    binary = tmp_path / "b.nbproj"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ProjectError, match="not a text file"):
        proj.load(binary)


# --- the weights file of an imported project -------------------------------------------------


def test_weights_key_round_trips_and_is_written_only_when_set(tmp_path):
    path = _saved(tmp_path, weights="p.weights.h5")
    data = json.loads(path.read_text())
    assert list(data) == ["format", "version", "name", "description", "graph", "weights"]
    assert data["weights"] == "p.weights.h5"
    loaded = proj.load(path)
    assert loaded.weights == "p.weights.h5"
    assert loaded.weights_path(path) == tmp_path / "p.weights.h5"
    assert proj.dumps(loaded) == path.read_text()
    plain = proj.load(_saved(tmp_path))
    assert plain.weights is None and plain.weights_path(path) is None
    assert "weights" not in json.loads(proj.dumps(plain))


def test_weights_path_is_relative_to_the_project_file(tmp_path):
    path = _saved(tmp_path, weights="../shared/model.weights.h5")
    assert proj.load(path).weights_path(path) == tmp_path / "../shared/model.weights.h5"


@pytest.mark.parametrize("value, message", [
    (3, "\"weights\" must be a string, found a number"),
    ("", "\"weights\" must name a weights file"),
    ("/abs/model.weights.h5", "must be a path relative to the project file"),
    ("C:\\models\\m.weights.h5", "must be a path relative to the project file"),
    (["a"], "\"weights\" must be a string"),
])
def test_bad_weights_key(tmp_path, value, message):
    path = _mutated(tmp_path, lambda d: d.update(weights=value))
    with pytest.raises(ProjectError, match=message) as info:
        proj.load(path)
    assert str(info.value).startswith(str(path))


def test_a_keras_layer_kept_as_imported_round_trips(tmp_path):
    g, (inp, a, b, c) = mlp()
    g.disconnect(g.in_edges(b.id)[0])
    node = g.add_node("KerasLayer", {
        "class_name": "LayerScale", "module": "keras.src.applications.convnext",
        "config": {"init_values": 1e-6, "projection_dim": 64}, "call": "single",
        "input_shapes": [[None, 64]], "output_shapes": [[None, 64]], "trainable_weights": 64},
        name="scale")
    g.connect(a.id, node.id)
    g.connect(node.id, b.id)
    loaded = proj.load(_saved(tmp_path, g))
    kept = loaded.graph.node_by_name("scale")
    assert kept.params == node.params
    assert loaded.graph.inference.result(kept.id).trainable == 64
    from netbuilder.core.summary import summarize

    assert [r.type for r in summarize(loaded.graph).rows][2] == "LayerScale"
