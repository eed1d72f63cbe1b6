"""Shared layers (a layer called several times) against Keras: imported as linked call nodes,
summarized as Keras lists ``model.layers`` (once, weights counted once), built back and exported
as one layer called several times; the round trip import -> summary -> export -> build holds."""

from __future__ import annotations

import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.core.codegen import generate_code  # noqa: E402
from netbuilder.core.project import Project, dumps, loads  # noqa: E402
from netbuilder.core.summary import format_text, summarize, to_json  # noqa: E402
from netbuilder.runtime.keras_build import build_model  # noqa: E402
from netbuilder.runtime.keras_to_graph import graph_from_keras  # noqa: E402

pytestmark = pytest.mark.slow


def _size(variables) -> int:
    return sum(int(np.prod(v.shape)) for v in variables)


def siamese():
    """Two images through one tower (a Conv2D and a Dense shared, a Flatten shared too) and a
    Dense head shared by both orders of the pair."""
    a = keras.Input((8, 8, 1), name="left")
    b = keras.Input((8, 8, 1), name="right")
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="tower_conv")
    flat = keras.layers.Flatten(name="tower_flat")
    dense = keras.layers.Dense(8, activation="relu", name="tower_dense")
    ta, tb = dense(flat(conv(a))), dense(flat(conv(b)))
    head = keras.layers.Dense(1, activation="sigmoid", name="head")
    ab = head(keras.layers.Concatenate(name="ab")([ta, tb]))
    ba = head(keras.layers.Concatenate(name="ba")([tb, ta]))
    out = keras.layers.Average(name="score")([ab, ba])
    return keras.Model([a, b], out, name="siamese")


def shared_embedding():
    text_a = keras.Input(shape=(None,), dtype="int32", name="text_a")
    text_b = keras.Input(shape=(None,), dtype="int32", name="text_b")
    embed = keras.layers.Embedding(100, 8, name="shared_embedding")
    pool = keras.layers.GlobalAveragePooling1D
    merged = keras.layers.concatenate([pool()(embed(text_a)), pool()(embed(text_b))])
    score = keras.layers.Dense(1, activation="sigmoid")(merged)
    return keras.Model([text_a, text_b], score, name="pair")


def shared_lstm(frozen: bool = False):
    a = keras.Input((5, 3), name="seq_a")
    b = keras.Input((5, 3), name="seq_b")
    lstm = keras.layers.LSTM(6, name="encoder")
    lstm.trainable = not frozen
    norm = keras.layers.BatchNormalization(name="norm")
    out = keras.layers.Dense(2, name="out")(keras.layers.Subtract()([norm(lstm(a)),
                                                                     norm(lstm(b))]))
    return keras.Model([a, b], out, name="lstm_pair")


def keras_rows(model) -> list[dict]:
    """Keras' layers as ``summary --json`` lists them (a shared layer once)."""
    return [{"name": layer.name, "params": layer.count_params(),
             "trainable_params": _size(layer.trainable_weights),
             "output_shape": list(layer._inbound_nodes[0].outputs[0].shape)}
            for layer in model.layers]


def connections(model) -> dict[str, list[list[str]]]:
    """Layer name -> for each call, the names of the layers its inputs come from."""
    out = {}
    for layer in model.layers:
        out[layer.name] = [[t._keras_history.operation.name for t in node.input_tensors]
                           for node in layer._inbound_nodes]
    return out


def assert_same_model(a, b) -> None:
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    for la, lb in zip(a.layers, b.layers):
        assert type(la) is type(lb), la.name
        ca, cb = la.get_config(), lb.get_config()
        assert ca == cb, la.name
    assert a.count_params() == b.count_params()
    assert _size(a.trainable_weights) == _size(b.trainable_weights)
    assert len(a.weights) == len(b.weights)
    assert connections(a) == connections(b)


def assert_round_trip(model) -> dict:
    graph = graph_from_keras(model)
    doc = to_json(summarize(graph, model.name))
    assert doc["errors"] == []
    ours = [{k: row[k] for k in ("name", "params", "trainable_params", "output_shape")}
            for row in doc["layers"]]
    assert ours == keras_rows(model)
    assert doc["total_params"] == model.count_params()
    assert doc["trainable_params"] == _size(model.trainable_weights)
    assert doc["non_trainable_params"] == _size(model.non_trainable_weights)
    # built back: one layer called several times
    assert_same_model(model, build_model(graph, model.name))
    # exported: one variable called several times, the code runs and builds the same model
    code = generate_code(Project(graph, model.name))
    namespace: dict = {"__name__": "exported"}
    exec(compile(code, "exported.py", "exec"), namespace)
    exported = namespace["build_model"]()
    assert_same_model(model, exported)
    # saved and loaded: the same summary
    project = loads(dumps(Project(graph, model.name)))
    assert to_json(summarize(project.graph, model.name)) == doc
    return {"graph": graph, "code": code, "doc": doc}


def test_siamese_tower_and_head_round_trip_exactly():
    model = siamese()
    result = assert_round_trip(model)
    graph, code = result["graph"], result["code"]
    calls = {n.name: graph.nodes[n.shares].name for n in graph.nodes.values() if n.shares}
    assert calls == {"tower_conv_call2": "tower_conv", "tower_flat_call2": "tower_flat",
                     "tower_dense_call2": "tower_dense", "head_call2": "head"}
    assert code.count('name="tower_conv"') == 1 and code.count("tower_conv(") == 2
    assert code.count('name="head"') == 1 and code.count("head(") == 2
    # the same weights give the same predictions
    rebuilt = build_model(graph, model.name)
    rebuilt.set_weights(model.get_weights())
    x = [np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32) for _ in range(2)]
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5)


def test_shared_embedding_over_two_inputs():
    result = assert_round_trip(shared_embedding())
    assert result["doc"]["total_params"] == 100 * 8 + 17


@pytest.mark.parametrize("frozen", [False, True])
def test_shared_lstm_over_two_inputs(frozen):
    result = assert_round_trip(shared_lstm(frozen))
    rows = {row["name"]: row for row in result["doc"]["layers"]}
    assert rows["encoder"]["trainable_params"] == (0 if frozen else rows["encoder"]["params"])


def test_an_output_of_every_call_keeps_the_outputs_order():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    twin = keras.layers.Dense(2, name="twin")
    model = keras.Model([a, b], [twin(b), twin(a)], name="twins")
    graph = graph_from_keras(model)
    outputs = [[e.src for e in graph.in_edges(n.id)] for n in graph.outputs()]
    assert [graph.nodes[o[0]].name for o in outputs] == ["b", "a"]
    rebuilt = build_model(graph, model.name)
    assert rebuilt.count_params() == model.count_params() == 10
    rebuilt.set_weights(model.get_weights())
    x = [np.ones((1, 4), np.float32), np.zeros((1, 4), np.float32)]
    for mine, theirs in zip(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_a_nested_model_called_twice_is_one_shared_block():
    inner_in = keras.Input((4,))
    encoder = keras.Model(inner_in, keras.layers.Dense(3)(inner_in), name="encoder")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], keras.layers.Add()([encoder(a), encoder(b)]), name="outer")
    graph = graph_from_keras(model)
    doc = to_json(summarize(graph, model.name))
    assert [row["name"] for row in doc["layers"]] == [layer.name for layer in model.layers]
    assert doc["total_params"] == model.count_params() == 15
    assert build_model(graph).count_params() == 15


# -- the text summary against what Keras prints ---------------------------------------------------


def keras_printed(model, monkeypatch) -> list[tuple[str, ...]]:
    """The rows of the table ``model.summary()`` prints (layer (type), output shape, params,
    connected to), wide enough that no cell wraps."""
    monkeypatch.setenv("COLUMNS", "440")
    out: list[str] = []
    model.summary(line_length=420, print_fn=lambda text, line_break=True: out.append(text))
    return [tuple(cell.strip() for cell in line.strip().strip("│").split("│"))
            for line in "".join(out).splitlines() if line.startswith("│")]


def our_printed(graph, name: str) -> list[tuple[str, ...]]:
    """The rows of ``netbuilder summary``'s table, its columns split where two spaces are."""
    text = format_text(summarize(graph, name))
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"="}]
    return [tuple(re.split(r"\s{2,}", line.strip())) for line in lines[rules[0] + 1:rules[1]]
            if not line.startswith("   ! ")]


def assert_prints_as_keras(graph, name: str, monkeypatch, model=None) -> list[tuple[str, ...]]:
    built = build_model(graph, name)
    ours = our_printed(graph, name)
    assert ours == keras_printed(built, monkeypatch)
    if model is not None:  # the model the graph was imported from prints the same
        assert ours == keras_printed(model, monkeypatch)
    return ours


def test_the_text_summary_reads_as_keras_prints_the_siamese(monkeypatch):
    model = siamese()
    rows = {row[0]: row for row in assert_prints_as_keras(graph_from_keras(model), model.name,
                                                          monkeypatch, model)}
    assert rows["score (Average)"][3] == "head[0][0], head[1][0]"
    assert rows["ba (Concatenate)"][3] == "tower_dense[1][0], tower_dense[0][0]"
    assert rows["tower_conv (Conv2D)"][2:] == ("40", "left[0][0], right[0][0]")
    assert not any("_call" in cell for row in rows.values() for cell in row)


@pytest.mark.parametrize("make", [shared_embedding, shared_lstm])
def test_the_text_summary_reads_as_keras_prints_imported_pairs(make, monkeypatch):
    model = make()
    assert_prints_as_keras(graph_from_keras(model), model.name, monkeypatch, model)


def test_a_nested_model_placed_twice_prints_as_keras(monkeypatch):
    inner_in = keras.Input((4,))
    encoder = keras.Model(inner_in, keras.layers.Dense(3)(inner_in), name="encoder")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], keras.layers.Add()([encoder(a), encoder(b)]), name="outer")
    rows = assert_prints_as_keras(graph_from_keras(model), model.name, monkeypatch, model)
    assert rows[-1][3] == "encoder[0][0], encoder[1][0]"


def generated_shared_graph(seed: int):
    """Dense layers of one width on random earlier tensors (two inputs, one of them a
    sequence, so a shared layer's calls can differ in shape), some of them later calls of
    another layer's weights: an owner may come after its call in the build's order."""
    from netbuilder.core.graph import Graph

    rng = np.random.default_rng(seed)
    g = Graph()
    tensors = [g.add_node("Input", {"shape": [6]}, name="vec").id,
               g.add_node("Input", {"shape": [3, 6]}, name="seq").id]
    rank = dict(zip(tensors, (2, 3)))
    dense = []
    for i in range(int(rng.integers(5, 9))):
        node = g.add_node("Dense", {"units": 6, "activation": "relu"}, name=f"d{i}")
        source = tensors[int(rng.integers(len(tensors)))]
        g.connect(source, node.id)
        rank[node.id] = rank[source]
        tensors.append(node.id)
        dense.append(node.id)
    owners = [nid for nid in dense if rng.random() < 0.4] or [dense[-1]]
    for nid in dense:
        if nid not in owners and rng.random() < 0.6:
            g.share(nid, owners[int(rng.integers(len(owners)))])
    for out in g.outputs():  # a sequence is pooled to one vector per sample at the end
        if rank.get(out.id) == 3:
            g.connect(out.id, g.add_node("GlobalAveragePooling1D", {}).id)
    assert g.inference.errors() == []
    return g


@pytest.mark.parametrize("seed", range(6))
def test_generated_shared_layers_print_as_keras(seed, monkeypatch):
    graph = generated_shared_graph(seed)
    assert_prints_as_keras(graph, f"generated_{seed}", monkeypatch)
    doc = to_json(summarize(graph))
    assert doc["total_params"] == build_model(graph).count_params()


def test_a_call_built_before_its_owner_is_call_0(monkeypatch):
    """The call that the build makes first is Keras' node 0, whichever node owns the layer; the
    shape printed is the last call's, as Keras prints it."""
    from tests.core.helpers import late_owner

    g, early, owner = late_owner()
    assert g.topological_order().index(early.id) < g.topological_order().index(owner.id)
    rows = {row[0]: row for row in assert_prints_as_keras(g, "late_owner", monkeypatch)}
    assert rows["twin (Dense)"][1:] == ("(None, 3, 4)", "28", "vec[0][0], deep[0][0]")


@pytest.mark.parametrize("name", ["inception_cell", "residual_mlp", "se_block", "two_headed"])
def test_example_projects_print_as_keras(name, monkeypatch):
    """Branches, merges and blocks: the rows in Keras' order, each connection as Keras names it
    (a model Keras takes for a plain stack prints without the "Connected to" column)."""
    from pathlib import Path

    from netbuilder.core.project import load

    project = load(Path(__file__).resolve().parents[2] / "resources" / "examples"
                   / f"{name}.nbproj")
    ours = our_printed(project.graph, project.name)
    theirs = keras_printed(build_model(project.graph, project.name), monkeypatch)
    if theirs and len(theirs[0]) == 3:
        ours = [row[:3] for row in ours]
    assert ours == theirs


# -- Inspect: each call of a shared layer shows its own output ------------------------------------


def siamese_graph(owner_first: bool = True):
    """Two 8×8 images through one shared Conv2D ("tower"), the right one doubled first (so the
    two calls differ even on the same image), pooled, subtracted, one sigmoid unit. With
    ``owner_first=False`` the node that owns the layer is the one the build calls second."""
    from netbuilder.core.graph import Graph

    g = Graph()
    left = g.add_node("Input", {"shape": [8, 8, 1]}, name="left")
    right = g.add_node("Input", {"shape": [8, 8, 1]}, name="right")
    double = g.add_node("Rescaling", {"scale": 2.0}, name="double")
    g.connect(right.id, double.id)
    conv = {"filters": 3, "kernel_size": 3, "activation": "relu"}
    if owner_first:
        tower = g.add_node("Conv2D", conv, name="tower")
        call = g.add_node("Conv2D", name="tower_call2", shares=tower.id)
        g.connect(left.id, tower.id)
        g.connect(double.id, call.id)
    else:  # the owner takes the doubled image: the build reaches it after the plain call
        tower = g.add_node("Conv2D", conv, name="tower")
        call = g.add_node("Conv2D", name="tower_call2", shares=tower.id)
        g.connect(double.id, tower.id)
        g.connect(left.id, call.id)
        g.reorder([left.id, right.id, call.id, double.id, tower.id])
    pools = []
    for node in (tower, call):
        pool = g.add_node("GlobalAveragePooling2D", {}, name=f"pool_{node.name}")
        g.connect(node.id, pool.id)
        pools.append(pool)
    diff = g.add_node("Subtract", {}, name="diff")
    for pool in pools:
        g.connect(pool.id, diff.id)
    g.connect(diff.id, g.add_node("Dense", {"units": 1, "activation": "sigmoid"},
                                  name="same").id)
    assert g.inference.errors() == []
    return g


def random_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


@pytest.mark.parametrize("owner_first", [True, False])
def test_inspecting_each_call_gives_that_calls_output(owner_first):
    from netbuilder.runtime import inspection as insp

    graph = siamese_graph(owner_first)
    model = random_weights(build_model(graph, "pair"))
    tower = model.get_layer("tower")
    assert len(tower._inbound_nodes) == 2
    calls = insp.call_names(graph)
    owner_call = 0 if owner_first else 1
    assert calls == {"tower": ("tower", owner_call), "tower_call2": ("tower", 1 - owner_call)}
    rng = np.random.default_rng(3)
    xl, xr = (rng.uniform(0, 1, (2, 8, 8, 1)).astype("float32") for _ in range(2))
    got = insp.activations(model, ["tower", "tower_call2"], [xl, xr], calls=calls)
    # the oracle: a Keras sub-model to each call's output tensor, and the layer applied by hand
    for name in ("tower", "tower_call2"):
        _, k = calls[name]
        sub = keras.Model(model.inputs, tower._inbound_nodes[k].output_tensors[0])
        np.testing.assert_allclose(got[name], sub.predict([xl, xr], verbose=0), rtol=1e-5,
                                   atol=1e-6, err_msg=name)
    left_node = "tower" if owner_first else "tower_call2"
    right_node = "tower_call2" if owner_first else "tower"
    np.testing.assert_allclose(got[left_node], np.asarray(tower(xl)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[right_node], np.asarray(tower(2 * xr)), rtol=1e-5,
                               atol=1e-6)
    # the layer's kernel is the same for each call
    np.testing.assert_array_equal(insp.filters(model, "tower_call2", calls)[0],
                                  insp.filters(model, "tower", calls)[0])
    with pytest.raises(insp.InspectError, match="no layer named 'tower_call2'"):
        insp.activations(model, ["tower_call2"], [xl, xr])   # without the graph's call names


@pytest.mark.parametrize("owner_first", [True, False])
def test_statistics_have_a_row_per_call_of_a_shared_layer(owner_first):
    from netbuilder.runtime import inspection as insp

    graph = siamese_graph(owner_first)
    model = random_weights(build_model(graph, "pair"))
    calls = insp.call_names(graph)
    x = np.random.default_rng(4).uniform(0, 1, (9, 8, 8, 1)).astype("float32")
    rows = insp.stats(model, x, insp.SubModels(model, calls=calls), chunk=4)
    names = [r["name"] for r in rows]
    assert names.index("tower_call2") == names.index("tower") + 1   # after the layer's row
    tower = model.get_layer("tower")
    for name in ("tower", "tower_call2"):   # the oracle: a sub-model to that call's tensor
        sub = keras.Model(model.inputs, tower._inbound_nodes[calls[name][1]].output_tensors[0])
        out = sub.predict([x, x], verbose=0).astype(np.float64)
        row = rows[names.index(name)]
        assert row["mean"] == pytest.approx(out.mean(), rel=1e-5), name
        assert row["std"] == pytest.approx(out.std(), rel=1e-5), name
    means = {r["name"]: r["mean"] for r in rows}
    assert means["tower"] != pytest.approx(means["tower_call2"])   # the calls differ
    assert len(rows) == len(set(names)) == len(model.layers) - 2 + 1   # inputs out, a call in


def test_the_inspect_worker_shows_each_calls_maps():
    """The Inspect dock's worker: the model it describes lists each call (what the canvas
    selects by the node's name), one image goes to both Inputs, and each call's maps are that
    call's: equal to a Keras sub-model to that call's tensor."""
    from netbuilder.core.project import project_to_dict
    from netbuilder.runtime.workers.inspection import Session
    from netbuilder.runtime.workers.protocol import decode_array, encode_array

    session = Session()
    info = session.handle({"action": "load", "project": project_to_dict(
        Project(siamese_graph(), "pair")), "weights": None})
    rows = {row["name"]: row for row in info["layers"]}
    assert rows["tower_call2"]["output_shape"] == [None, 6, 6, 3]
    assert (rows["tower_call2"]["layer"], rows["tower_call2"]["call"]) == ("tower", 1)
    assert rows["tower"]["call"] == 0 and rows["tower_call2"]["conv"]
    model = random_weights(session.model, 5)
    image = np.random.default_rng(4).uniform(0, 1, (8, 8, 1)).astype("float32")
    reply = session.handle({"action": "activations", "layers": ["tower", "tower_call2"],
                            "input": {"kind": "array", "array": encode_array(image)}})
    assert any("2 inputs (left, right): each gets this input" in n for n in reply["notes"])
    assert any("'tower_call2' is call 2 of 2 of the shared layer 'tower'" in n
               for n in reply["notes"])
    tower = model.get_layer("tower")
    maps = {}
    for k, name in enumerate(("tower", "tower_call2")):
        entry = reply["layers"][name]
        sub = keras.Model(model.inputs, tower._inbound_nodes[k].output_tensors[0])
        want = sub.predict([image[None], image[None]], verbose=0)[0]
        assert entry["kind"] == "maps" and entry["shape"] == [6, 6, 3]
        maps[name] = decode_array(entry["array"])
        np.testing.assert_allclose(maps[name], want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(maps["tower"], maps["tower_call2"])  # the right image is doubled
    # Grad-CAM on a call, and predictions, take the pair too
    cam = session.handle({"action": "gradcam", "layer": "tower_call2",
                          "input": {"kind": "array", "array": encode_array(image)}})
    assert cam["layer"] == "tower_call2" and decode_array(cam["heatmap"]).shape == (8, 8)
    pred = session.handle({"action": "predict", "top": 2,
                           "input": {"kind": "array", "array": encode_array(image)}})
    want = float(model.predict([image[None], image[None]], verbose=0)[0, 0])
    assert {t["index"]: t["probability"] for t in pred["top"]}[1] == pytest.approx(want,
                                                                                 rel=1e-5)


def test_each_instance_of_a_nested_model_placed_twice_is_inspected():
    from netbuilder.runtime import inspection as insp

    inner_in = keras.Input((4,))
    encoder = keras.Model(inner_in, keras.layers.Dense(3)(inner_in), name="encoder")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], keras.layers.Subtract()([encoder(a), encoder(b)]),
                        name="outer")
    graph = graph_from_keras(model)
    calls = insp.call_names(graph)
    second = next(name for name, (layer, k) in calls.items() if k == 1)
    assert calls["encoder"] == ("encoder", 0) and calls[second] == ("encoder", 1)
    built = build_model(graph, "outer")
    built.set_weights(model.get_weights())
    xa, xb = np.ones((1, 4), "float32"), np.arange(4, dtype="float32")[None]
    got = insp.activations(built, ["encoder", second], [xa, xb], calls=calls)
    np.testing.assert_allclose(got["encoder"], encoder.predict(xa, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(got[second], encoder.predict(xb, verbose=0), rtol=1e-6)
