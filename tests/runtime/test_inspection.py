"""Inspection: layer outputs equal Keras' own intermediate outputs, kernels, predictions with
class names, Grad-CAM on a model whose answer is known, activation statistics against numpy,
inputs prepared as training prepares them, and clear errors for bad requests."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.core.blocks import Block  # noqa: E402
from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.project import Project, project_to_dict  # noqa: E402
from netbuilder.runtime import data as data_mod  # noqa: E402
from netbuilder.runtime import inspection as insp  # noqa: E402
from netbuilder.runtime.inspection import InspectError  # noqa: E402
from netbuilder.runtime.keras_build import build_model  # noqa: E402
from netbuilder.runtime.workers.inspection import Session, reply_for  # noqa: E402
from netbuilder.runtime.workers.protocol import (  # noqa: E402
    ProtocolError,
    decode_array,
    encode_array,
    request,
)


def chain(graph, specs, start=None):
    """Add ``(type, params[, name])`` layers in a chain after ``start``; returns the nodes."""
    nodes = []
    prev = start
    for spec in specs:
        kind, params = spec[0], spec[1]
        node = graph.add_node(kind, params, name=spec[2] if len(spec) > 2 else None)
        if prev is not None:
            graph.connect(prev.id, node.id)
        nodes.append(node)
        prev = node
    return nodes


def conv_graph(shape=(12, 12, 3), classes=5, activation="softmax"):
    g = Graph()
    chain(g, [("Input", {"shape": list(shape)}),
              ("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
              ("MaxPooling2D", {}),
              ("BatchNormalization", {}),
              ("Conv2D", {"filters": 6, "kernel_size": 3}),
              ("GlobalAveragePooling2D", {}),
              ("Dense", {"units": classes, "activation": activation})])
    return g


def dense_graph():
    g = Graph()
    chain(g, [("Input", {"shape": [20]}),
              ("Dense", {"units": 16, "activation": "relu"}),
              ("Dropout", {"rate": 0.5}),
              ("Dense", {"units": 8, "activation": "tanh"}),
              ("Dense", {"units": 3})])
    return g


def block_graph():
    """A residual function block used twice: its layers appear as ``<instance>_<layer>``."""
    sub = Graph()
    x = sub.add_node("Input", {"shape": [10, 10, 4]})
    c1, c2 = chain(sub, [("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same",
                                     "activation": "relu"}, "conv_a"),
                         ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"},
                          "conv_b")], start=x)
    add = sub.add_node("Add", name="add")
    sub.connect(x.id, add.id)
    sub.connect(c2.id, add.id)
    relu = chain(sub, [("ReLU", {}, "out")], start=add)[0]
    g = Graph()
    g.add_block(Block("res", sub, [x.id], [(relu.id, 0)]))
    inp, stem = chain(g, [("Input", {"shape": [10, 10, 3]}),
                          ("Conv2D", {"filters": 4, "kernel_size": 1}, "stem")])
    chain(g, [("Block", {"block": "res"}, "res1"), ("Block", {"block": "res"}, "res2"),
              ("Flatten", {}), ("Dense", {"units": 2, "activation": "softmax"})], start=stem)
    return g


def randomize(model, seed=0):
    """Weights drawn at random (BatchNormalization statistics included), so no layer is an
    identity by accident."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") if "variance" not in
                       v.path else rng.uniform(0.5, 2.0, w.shape).astype("float32")
                       for v, w in zip(model.weights, model.get_weights())])
    return model


def rand_x(model, n=3, seed=1):
    shape = tuple(int(v) for v in model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0, 1, (n,) + shape).astype("float32")


# --- the wire format -------------------------------------------------------------------------


def test_arrays_round_trip_and_bad_arrays_are_refused():
    a = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float64)
    back = decode_array(json.loads(json.dumps(encode_array(a))))
    assert back.dtype == np.float32 and back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, a.astype(np.float32))
    img = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert decode_array(encode_array(img)).dtype == np.uint8
    np.testing.assert_array_equal(decode_array(encode_array(img)), img)
    bad = encode_array(img)
    with pytest.raises(ProtocolError, match="bytes"):
        decode_array({**bad, "shape": [2, 4, 4]})
    with pytest.raises(ProtocolError, match="dtype"):
        decode_array({**bad, "dtype": "int64"})
    line = request("ping", 7)
    assert line.endswith("\n") and json.loads(line) == {"id": 7, "action": "ping"}


# --- activations -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [conv_graph, dense_graph, block_graph])
def test_activations_equal_keras_submodel_outputs(make):
    model = randomize(build_model(make()))
    x = rand_x(model)
    names = [layer.name for layer in model.layers]
    if make is block_graph:
        assert {"res1_conv_a", "res2_conv_b", "res2_add", "res2_out"} <= set(names)
    subs = insp.SubModels(model)
    got = insp.activations(model, names, x, subs)
    assert list(got) == names
    for name in names:
        oracle = keras.Model(model.inputs, model.get_layer(name).output)
        want = oracle.predict(x, verbose=0)
        assert got[name].shape == want.shape, name
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5, err_msg=name)
    # the sub-model for a set of layers is built once and reused
    assert subs.get(names) is subs.get(list(names))


def test_worker_session_sends_the_same_activations_as_keras():
    graph = block_graph()
    model_graph = Project(graph, "blocks")
    session = Session()
    info = session.handle({"action": "load", "project": project_to_dict(model_graph),
                           "weights": None})
    assert info["weights"] == "untrained" and info["inputs"] == [[None, 10, 10, 3]]
    rows = {r["name"]: r for r in info["layers"]}
    assert rows["stem"]["conv"] and rows["stem"]["has_kernel"]
    assert rows["res1_conv_a"]["output_shape"] == [None, 10, 10, 4]
    assert rows["flatten"]["has_kernel"] is False and rows["dense"]["has_kernel"]
    assert info["params"] == session.model.count_params()
    randomize(session.model)
    x = rand_x(session.model, 1)
    reply = session.handle({"action": "activations", "layers": ["res2_add", "dense"],
                            "input": {"kind": "array", "array": encode_array(x[0])}})
    for name, kind in (("res2_add", "maps"), ("dense", "vector")):
        entry = reply["layers"][name]
        want = keras.Model(session.model.inputs,
                           session.model.get_layer(name).output).predict(x, verbose=0)[0]
        assert entry["kind"] == kind and entry["shape"] == list(want.shape)
        np.testing.assert_allclose(decode_array(entry["array"]), want, rtol=1e-5, atol=1e-5)
    assert decode_array(reply["input_image"]).shape == (10, 10, 3)
    assert reply["label"] is None and reply["ms"] >= 0


# --- inputs ----------------------------------------------------------------------------------


def test_dataset_input_is_fitted_as_training_fits_it():
    g = Graph()
    chain(g, [("Input", {"shape": [16, 16, 1]}), ("Conv2D", {"filters": 2, "kernel_size": 3}),
              ("Flatten", {}), ("Dense", {"units": 10, "activation": "softmax"})])
    model = build_model(g)
    cache = insp.DatasetCache()
    got = insp.prepare_input(model, {"kind": "dataset", "source": "digits", "index": 5,
                                     "split": "validation"}, cache)
    dataset = data_mod.load("digits", {}, input_shape=(16, 16, 1), classes=10)
    prepared = data_mod.prepare(dataset, model)
    np.testing.assert_allclose(got.x[0], prepared.validation.x[5], atol=1e-6)
    assert got.label == int(dataset.validation.y[5])
    assert got.class_names == [str(i) for i in range(10)]
    assert any("resized from 8×8 to 16×16" in n for n in got.notes)
    assert got.image.dtype == np.uint8 and got.image.shape == (16, 16, 1)
    batch = insp.prepare_input(model, {"kind": "dataset", "source": "digits", "index": 10,
                                       "count": 20}, cache, batch=True)
    np.testing.assert_allclose(batch.x, prepared.train.x[10:30], atol=1e-6)
    assert batch.labels == [int(v) for v in dataset.train.y[10:30]]


def test_image_files_and_bundled_sample_images(tmp_path):
    from PIL import Image

    g = Graph()
    chain(g, [("Input", {"shape": [28, 28, 1]}), ("Flatten", {}), ("Dense", {"units": 3})])
    gray_model = build_model(g)
    pixels = np.random.default_rng(3).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "digit.png")
    got = insp.prepare_input(gray_model, {"kind": "file", "path": str(tmp_path / "digit.png")})
    np.testing.assert_allclose(got.x[0, ..., 0], pixels / 255.0, atol=1e-6)
    np.testing.assert_array_equal(got.image[..., 0], pixels)
    rgba = np.random.default_rng(4).integers(0, 256, (30, 40, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "photo.png")
    got = insp.prepare_input(gray_model, {"kind": "file", "path": str(tmp_path / "photo.png")})
    assert got.x.shape == (1, 28, 28, 1)
    assert any("grayscale" in n for n in got.notes) and any("resized" in n for n in got.notes)

    g = Graph()
    chain(g, [("Input", {"shape": [32, 32, 3]}), ("Conv2D", {"filters": 2, "kernel_size": 3})])
    rgb_model = build_model(g)
    for name in ("china.jpg", "flower.jpg"):   # bundled with scikit-learn: works offline
        got = insp.prepare_input(rgb_model, {"kind": "sample_image", "name": name})
        assert got.x.shape == (1, 32, 32, 3) and 0 <= got.x.min() and got.x.max() <= 1
        assert got.image.shape == (32, 32, 3) and got.image.dtype == np.uint8
        assert any("427×640 to 32×32" in n for n in got.notes)


@pytest.mark.parametrize("spec, kind, words", [
    ({"kind": "file", "path": "/no/such/picture.png"}, "input", "no such image file"),
    ({"kind": "sample_image", "name": "moon.jpg"}, "input", "china.jpg and flower.jpg"),
    ({"kind": "dataset", "source": "digits", "index": 5000}, "input", "out of range"),
    ({"kind": "dataset", "source": "digits", "split": "test"}, "input", "no test split"),
    ({"kind": "dataset", "source": "/no/such/data"}, "input", "no such data source"),
    ({"kind": "array", "array": encode_array(np.zeros((5, 7, 2), np.float32))}, "input",
     "cannot be adapted"),
    ({"kind": "array", "array": {"dtype": "float32", "shape": [2], "data": "@@"}}, "request",
     "base64"),
    ({"kind": "webcam"}, "request", "unknown input kind"),
    (None, "request", "needs an \"input\""),
])
def test_bad_inputs_give_clear_errors(spec, kind, words):
    model = build_model(conv_graph())
    with pytest.raises(InspectError, match=words) as info:
        insp.prepare_input(model, spec)
    assert info.value.kind == kind


def test_a_file_that_is_not_an_image(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(InspectError, match="cannot be read as an image") as info:
        insp.prepare_input(build_model(conv_graph()), {"kind": "file", "path": str(bad)})
    assert info.value.kind == "input"


# --- filters ---------------------------------------------------------------------------------


def test_filters_are_the_kernels_with_the_rgb_flag():
    model = randomize(build_model(conv_graph()))
    first, second = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    kernel, rgb = insp.filters(model, first.name)
    assert kernel.shape == (3, 3, 3, 4) and rgb is True
    np.testing.assert_array_equal(kernel, first.kernel.numpy())
    kernel, rgb = insp.filters(model, second.name)
    assert kernel.shape == (3, 3, 4, 6) and rgb is False
    kernel, rgb = insp.filters(model, "dense")
    assert kernel.shape == (6, 5) and rgb is False
    with pytest.raises(InspectError, match="has no kernel") as info:
        insp.filters(model, "max_pooling2d")
    assert info.value.kind == "layer"
    with pytest.raises(InspectError, match="no layer named 'conv9'") as info:
        insp.filters(model, "conv9")
    assert info.value.kind == "layer"


# --- predictions -----------------------------------------------------------------------------


def test_predict_uses_dataset_names_and_says_when_it_applies_softmax():
    g = Graph()
    chain(g, [("Input", {"shape": [8, 8, 1]}), ("Flatten", {}),
              ("Dense", {"units": 10, "activation": "softmax"})])
    model = randomize(build_model(g))
    session = Session()
    session.model, session.submodels = model, insp.SubModels(model)
    inp = {"kind": "dataset", "source": "digits", "index": 0}
    reply = session.handle({"action": "predict", "input": inp, "top": 3})
    x = insp.prepare_input(model, inp).x
    want = model.predict(x, verbose=0)[0]
    order = np.argsort(-want)[:3]
    assert [t["index"] for t in reply["top"]] == order.tolist()
    assert [t["name"] for t in reply["top"]] == [str(i) for i in order]
    np.testing.assert_allclose([t["probability"] for t in reply["top"]], want[order], rtol=1e-5)
    dataset = data_mod.load("digits", {}, input_shape=(8, 8, 1), classes=10)
    assert reply["source_of_names"] == "dataset"
    assert reply["label"] == int(dataset.train.y[0])
    assert reply["class_names"] == [str(i) for i in range(10)]
    assert not any("softmax" in n for n in reply["notes"])

    g = Graph()
    chain(g, [("Input", {"shape": [8, 8, 1]}), ("Flatten", {}), ("Dense", {"units": 10})])
    logits_model = randomize(build_model(g))
    result = insp.predict(logits_model, x, top=10, names=[f"c{i}" for i in range(10)])
    raw = logits_model.predict(x, verbose=0)[0].astype(np.float64)
    soft = np.exp(raw - raw.max()) / np.exp(raw - raw.max()).sum()
    got = {t["index"]: t["probability"] for t in result["top"]}
    np.testing.assert_allclose([got[i] for i in range(10)], soft, rtol=1e-5)
    assert any("no softmax" in n and "softmax applied" in n for n in result["notes"])
    assert result["top"][0]["name"] == f"c{int(np.argmax(raw))}"


def test_imagenet_names_from_keras_cache_or_a_clear_note(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    g = Graph()
    chain(g, [("Input", {"shape": [4]}), ("Dense", {"units": 1000, "activation": "softmax"})])
    model = build_model(g)
    x = np.ones((1, 4), np.float32)
    result = insp.predict(model, x, top=2)
    assert result["source_of_names"] == "indices"
    assert insp.IMAGENET_NOTE in result["notes"]
    (tmp_path / "models").mkdir()
    index = {str(i): [f"n{i:08d}", f"thing_{i}"] for i in range(1000)}
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    result = insp.predict(model, x, top=2)
    assert result["source_of_names"] == "imagenet"
    assert result["top"][0]["name"] == f"thing_{result['top'][0]['index']}"


# --- Grad-CAM --------------------------------------------------------------------------------


def two_colour_model(head):
    """Conv 1×1 with two filters that pass the red and the green channel; each class's score is
    the mean of one of those maps. On an image red on the left and green on the right, class 0
    ('red') can only come from the left half and class 1 ('green') from the right half."""
    g = Graph()
    specs = [("Input", {"shape": [16, 16, 3]}),
             ("Conv2D", {"filters": 2, "kernel_size": 1, "use_bias": False}, "colours"),
             ("GlobalAveragePooling2D", {})]
    if head == "softmax_dense":
        specs.append(("Dense", {"units": 2, "activation": "softmax"}, "head"))
    elif head == "softmax_layer":
        specs += [("Dense", {"units": 2}, "head"), ("Softmax", {})]
    else:
        specs.append(("Dense", {"units": 2}, "head"))
    chain(g, specs)
    model = build_model(g)
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, 0, 0] = 1.0      # red -> map 0
    kernel[0, 0, 1, 1] = 1.0      # green -> map 1
    model.get_layer("colours").set_weights([kernel])
    model.get_layer("head").set_weights([np.eye(2, dtype=np.float32) * 4,
                                         np.zeros(2, np.float32)])
    return model


def two_colour_image(seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((1, 16, 16, 3), np.float32)
    img[0, :, :8, 0] = rng.uniform(0.5, 1.0, (16, 8))      # red texture on the left
    img[0, :, 8:, 1] = rng.uniform(0.2, 0.6, (16, 8))      # dimmer green on the right
    img[0, :, :, 2] = rng.uniform(0, 1, (16, 16))          # blue everywhere, ignored
    return img


@pytest.mark.parametrize("head", ["softmax_dense", "softmax_layer", "linear"])
def test_gradcam_finds_the_half_that_decides_the_class(head):
    model = two_colour_model(head)
    x = two_colour_image()
    top = insp.gradcam(model, x, None, None, names=["red", "green"])
    assert top["class_index"] == 0 and top["class_name"] == "red"   # red is brighter
    assert top["layer"] == "colours"
    for k, side in ((0, "left"), (1, "right")):
        result = insp.gradcam(model, x, k, "colours")
        heat = result["heatmap"]
        assert heat.shape == (16, 16) and heat.dtype == np.float32
        assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
        left, right = heat[:, :8].sum(), heat[:, 8:].sum()
        share = left / (left + right) if side == "left" else right / (left + right)
        assert share > 0.9, (head, k, share)
    probs = model.predict(x, verbose=0)[0]
    if head != "linear":
        assert result["probability"] == pytest.approx(float(probs[1]), rel=1e-5)
        assert any("before the softmax" in n for n in result["notes"])


def test_gradcam_default_layer_is_the_last_convolution_or_what_passes_its_maps_on():
    assert insp.default_gradcam_layer(build_model(conv_graph())).name == "conv2d_1"
    g = Graph()
    chain(g, [("Input", {"shape": [12, 12, 1]}), ("Conv2D", {"filters": 2, "kernel_size": 3}),
              ("ReLU", {}, "act"), ("MaxPooling2D", {}), ("Flatten", {}),
              ("Dense", {"units": 2})])
    model = build_model(g)
    assert insp.default_gradcam_layer(model).name == "act"
    assert insp.gradcam(model, rand_x(model, 1))["layer"] == "act"
    assert insp.default_gradcam_layer(build_model(dense_graph())) is None


def test_gradcam_refuses_models_and_layers_without_feature_maps():
    model = build_model(dense_graph())
    with pytest.raises(InspectError, match="no.*convolution|has none") as info:
        insp.gradcam(model, rand_x(model, 1))
    assert info.value.kind == "layer"
    model = build_model(conv_graph())
    with pytest.raises(InspectError, match="'dense' gives") as info:
        insp.gradcam(model, rand_x(model, 1), None, "dense")
    assert info.value.kind == "layer"
    with pytest.raises(InspectError, match="class_index") as info:
        insp.gradcam(model, rand_x(model, 1), 7)
    assert info.value.kind == "request"


# --- statistics ------------------------------------------------------------------------------


def test_stats_equal_numpy_over_the_batch():
    model = randomize(build_model(conv_graph()))
    x = rand_x(model, 37, seed=5)
    rows = {r["name"]: r for r in insp.stats(model, x, chunk=16)}
    # a tight memory budget computes the same numbers one sample at a time
    for row in insp.stats(model, x, memory_mb=0.001):
        same = rows[row["name"]]
        assert row["mean"] == pytest.approx(same["mean"], rel=1e-6, abs=1e-9)
        assert row["std"] == pytest.approx(same["std"], rel=1e-6, abs=1e-9)
        assert row["dead_fraction"] == same["dead_fraction"]
    assert "input_layer" not in rows
    for layer in model.layers[1:]:
        out = keras.Model(model.inputs, layer.output).predict(x, verbose=0).astype(np.float64)
        row = rows[layer.name]
        assert row["mean"] == pytest.approx(out.mean(), rel=1e-4, abs=1e-6), layer.name
        assert row["std"] == pytest.approx(out.std(), rel=1e-4, abs=1e-6), layer.name
    assert rows["conv2d"]["dead_fraction"] is not None
    assert rows["max_pooling2d"]["dead_fraction"] is None
    assert rows["dense"]["dead_fraction"] is None                # softmax output


def test_dead_relu_fraction_with_biases_that_kill_units():
    g = Graph()
    chain(g, [("Input", {"shape": [6, 6, 2]}),
              ("Conv2D", {"filters": 4, "kernel_size": 3}, "conv"),
              ("ReLU", {}, "relu"),
              ("Flatten", {}),
              ("Dense", {"units": 8, "activation": "relu"}, "hidden"),
              ("Dense", {"units": 2}, "out")])
    model = randomize(build_model(g))
    conv = model.get_layer("conv")
    kernel, bias = conv.get_weights()
    bias[[1, 3]] = -1000.0                       # channels 1 and 3 never fire
    bias[[0, 2]] = 1000.0
    conv.set_weights([kernel, bias])
    hidden = model.get_layer("hidden")
    kernel, bias = hidden.get_weights()
    bias[:] = 1e6
    bias[[2, 5, 6]] = -1e6                       # three of eight units never fire
    hidden.set_weights([kernel, bias])
    rows = {r["name"]: r for r in insp.stats(model, rand_x(model, 20))}
    assert rows["conv"]["dead_fraction"] == pytest.approx(0.5)   # followed by a ReLU layer
    assert rows["relu"]["dead_fraction"] == pytest.approx(0.5)
    assert rows["hidden"]["dead_fraction"] == pytest.approx(3 / 8)
    assert rows["out"]["dead_fraction"] is None and rows["flatten"]["dead_fraction"] is None


# --- the session (the worker's handlers, in this process) ------------------------------------


def test_session_errors_and_weights(tmp_path):
    session = Session()
    assert session.handle({"action": "ping"}) == {"pong": True}
    with pytest.raises(InspectError, match="send a \"load\" request") as info:
        session.handle({"action": "filters", "layer": "x"})
    assert info.value.kind == "request"
    g = Graph()
    chain(g, [("Input", {"shape": [784]}), ("Conv2D", {"filters": 4, "kernel_size": 3})])
    with pytest.raises(InspectError, match="cannot be built") as info:
        session.handle({"action": "load", "project": project_to_dict(Project(g))})
    assert info.value.kind == "build"
    project = project_to_dict(Project(conv_graph(), "cnn"))
    with pytest.raises(InspectError, match="no weights file") as info:
        session.handle({"action": "load", "project": project,
                        "weights": str(tmp_path / "none.weights.h5")})
    assert info.value.kind == "weights"

    trained = randomize(build_model(conv_graph()), seed=9)
    path = tmp_path / "latest.weights.h5"
    trained.save_weights(str(path))
    session.handle({"action": "load", "project": project, "weights": None})
    inp = {"kind": "array", "array": encode_array(rand_x(trained, 1)[0])}
    before = session.handle({"action": "activations", "layers": ["conv2d_1"], "input": inp})
    assert session.handle({"action": "reload_weights", "weights": str(path)}) == {
        "weights": str(path)}
    after = session.handle({"action": "activations", "layers": ["conv2d_1"], "input": inp})
    want = keras.Model(trained.inputs, trained.get_layer("conv2d_1").output).predict(
        decode_array(inp["array"])[None], verbose=0)[0]
    got = decode_array(after["layers"]["conv2d_1"]["array"])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(decode_array(before["layers"]["conv2d_1"]["array"]), want)
    loaded = session.handle({"action": "load", "project": project, "weights": str(path)})
    assert loaded["weights"] == str(path)

    other = tmp_path / "other.weights.h5"
    build_model(dense_graph()).save_weights(str(other))
    with pytest.raises(InspectError, match="don't fit") as info:
        session.handle({"action": "reload_weights", "weights": str(other)})
    assert info.value.kind == "weights"

    reply = reply_for(session, "{not json\n")
    assert reply["ok"] is False and reply["error"]["kind"] == "request" and reply["id"] is None
    reply = reply_for(session, json.dumps({"id": 4, "action": "dance"}))
    assert reply == {"id": 4, "ok": False, "error": {
        "kind": "request", "message": reply["error"]["message"]}}
    assert "unknown action 'dance'" in reply["error"]["message"]
    reply = reply_for(session, request("activations", 5, layers=["nope"], input=inp))
    assert reply["error"]["kind"] == "layer" and "'nope'" in reply["error"]["message"]
    assert reply_for(session, "   \n") is None
