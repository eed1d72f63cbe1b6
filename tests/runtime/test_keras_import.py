"""Importing Keras models: every Keras Application's summary equals Keras' layer by layer;
nested models become one block row; several inputs and outputs, trainable flags, weights, .h5
and .json sources survive; Lambda layers, shared layers and damaged files are refused with one
clear message; the `netbuilder import` command end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.core import catalog  # noqa: E402
from netbuilder.core.catalog import opaque  # noqa: E402
from netbuilder.core.graph import BLOCK_TYPE  # noqa: E402
from netbuilder.core.project import load  # noqa: E402
from netbuilder.core.summary import summarize, to_json  # noqa: E402
from netbuilder.runtime.applications import application_names  # noqa: E402
from netbuilder.runtime.keras_build import BuildError, build_model  # noqa: E402
from netbuilder.runtime.keras_import import (  # noqa: E402
    import_source,
    import_to_file,
    parse_input_shape,
)
from netbuilder.runtime.keras_to_graph import KerasImportError, graph_from_keras  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APPS = application_names()


# --- comparing with Keras -----------------------------------------------------------------------


def _size(variables) -> int:
    return sum(int(np.prod(v.shape)) for v in variables)


def keras_rows(model) -> list[dict]:
    """Keras' summary of ``model``, one row per operation (layers and ``x + y``), as
    ``summary --json`` writes rows."""
    nodes = {id(n.operation): n for depth in model._nodes_by_depth.values() for n in depth}
    rows = []
    for op in model.operations:
        shapes = [list(t.shape) for t in nodes[id(op)].outputs]
        is_layer = isinstance(op, keras.layers.Layer)
        rows.append({
            "name": op.name,
            "output_shape": shapes[0] if len(shapes) == 1 else shapes,
            "params": op.count_params() if is_layer else 0,
            "trainable_params": _size(op.trainable_weights) if is_layer else 0,
        })
    return rows


def assert_same_summary(model, graph) -> dict:
    doc = to_json(summarize(graph, model.name))
    assert doc["errors"] == []
    ours = [{k: row[k] for k in ("name", "output_shape", "params", "trainable_params")}
            for row in doc["layers"]]
    theirs = keras_rows(model)
    assert [r["name"] for r in ours] == [r["name"] for r in theirs]
    for mine, keras_row in zip(ours, theirs):
        assert mine == keras_row, mine["name"]
    assert doc["total_params"] == model.count_params()
    assert doc["trainable_params"] == _size(model.trainable_weights)
    assert doc["non_trainable_params"] == _size(model.non_trainable_weights)
    return doc


def assert_types(model, graph) -> None:
    """The type column shows Keras' classes (a nested model's own class aside)."""
    types = {row.name: row.type for row in summarize(graph).rows}
    for op in model.operations:
        if not isinstance(op, keras.Model):
            assert types[op.name] == type(op).__name__, op.name


def same_config(a: dict, b: dict) -> bool:
    drop = ("name",)
    return ({k: v for k, v in a.items() if k not in drop}
            == {k: v for k, v in b.items() if k not in drop})


# --- every Keras Application --------------------------------------------------------------------

# Layers the catalog has no spec for, and Keras operations applied to constants (MobileNetV3's
# hard sigmoid, x + 3 and x / 6): kept as KerasLayer nodes, each with a note.
KEPT_AS_KERAS = {"LayerScale", "CustomScaleLayer", "Add", "Multiply"}


def test_every_application_is_swept():
    assert len(APPS) >= 40
    assert {"NASNetLarge", "EfficientNetB7", "ConvNeXtXLarge", "MobileNetV3Small"} <= set(APPS)


@pytest.mark.parametrize("name", APPS)
def test_application_summary_equals_keras(name):
    keras.backend.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(keras.applications, name)(weights=None)
    notes: list[str] = []
    graph = graph_from_keras(model, notes)
    assert_same_summary(model, graph)
    assert_types(model, graph)
    for note in notes:
        assert any(f"kept as a Keras layer ({c})" in note or f"kept as a Keras operation ({c})"
                   in note for c in KEPT_AS_KERAS), note
    kept = [n for n in graph.nodes.values() if n.type == opaque.TYPE]
    assert len(kept) == len(notes)
    assert [n.name for n in graph.inputs()] == [t._keras_history.operation.name
                                               for t in model.inputs]


@pytest.mark.parametrize("name", ["MobileNetV3Small", "ConvNeXtTiny", "InceptionResNetV2",
                                  "EfficientNetV2B0"])
def test_rebuilt_application_has_the_same_layers(name):
    """Keras builds the imported graph again with the very same configurations: the mapping from
    get_config() onto our parameters loses nothing (KerasLayer nodes included)."""
    keras.backend.clear_session()
    model = getattr(keras.applications, name)(weights=None)
    graph = graph_from_keras(model)
    built = build_model(graph, name=model.name)
    assert_same_summary(built, graph)
    originals = {op.name: op for op in model.operations}
    for op in built.operations:
        original = originals[op.name]
        assert type(op) is type(original), op.name  # Sequential, x + y's Add operation too
        if isinstance(op, keras.Model):
            for inner in op.layers:
                if isinstance(inner, keras.layers.InputLayer):
                    continue  # a Sequential hides its own
                twin = original.get_layer(inner.name)
                assert same_config(inner.get_config(), twin.get_config()), inner.name
        else:
            assert same_config(op.get_config(), original.get_config()), op.name


# --- nested models, several inputs and outputs, trainable flags --------------------------------


def transfer_model():
    """A frozen Sequential feature extractor inside a functional model."""
    base = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
    ], name="features")
    inp = keras.Input((16, 16, 3), name="image")
    x = base(inp)
    out = keras.layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inp, out, name="transfer"), base


def test_a_sequential_inside_a_functional_model_is_one_block_row():
    model, base = transfer_model()
    graph = graph_from_keras(model)
    doc = assert_same_summary(model, graph)
    assert [r["name"] for r in doc["layers"]] == ["image", "features", "head"]
    node = graph.node_by_name("features")
    assert node.type == BLOCK_TYPE
    block = graph.blocks[node.params["block"]]
    assert block.kind == "sequential" and block.name == "features"
    assert [n.name for n in block.graph.nodes.values()][1:] == ["c1", "bn", "gap"]
    assert block.graph.node_by_name("c1").params["activation"] == "relu"
    assert summarize(graph).rows[1].type == "Sequential"
    built = build_model(graph, name=model.name)
    rebuilt = built.get_layer("features")
    assert type(rebuilt) is keras.Sequential
    assert [layer.name for layer in rebuilt.layers] == ["c1", "bn", "gap"]
    assert rebuilt.get_config() == base.get_config()


def test_tensor_operations_stay_operations():
    """x + y and x * y in a functional model are Keras operations, not layers: they come back
    as the same operations (KerasLayer nodes), with one row each in the summary as in Keras."""
    inp = keras.Input((8,), name="x")
    a = keras.layers.Dense(8, name="a")(inp)
    b = keras.layers.Dense(8, name="b")(inp)
    out = keras.layers.Dense(2, name="head")((a + b) * a)
    model = keras.Model(inp, out, name="ops")
    notes: list[str] = []
    graph = graph_from_keras(model, notes)
    assert_same_summary(model, graph)
    assert_types(model, graph)
    ops = [n for n in graph.nodes.values() if n.type == opaque.TYPE]
    assert [n.params["class_name"] for n in ops] == ["Add", "Multiply"]
    assert all(n.params["module"] == "keras.src.ops.numpy" for n in ops)
    assert len(notes) == 2 and all("kept as a Keras operation" in n for n in notes)
    built = build_model(graph, name="ops")
    originals = {op.name: op for op in model.operations}
    for op in built.operations:
        assert type(op) is type(originals[op.name]), op.name
    assert built.get_config()["layers"] == model.get_config()["layers"]


def test_trainable_flags_survive_in_nested_models():
    model, base = transfer_model()
    base.trainable = True
    base.get_layer("c1").trainable = False  # fine-tuning: the first layer stays frozen
    model.get_layer("head").trainable = False
    graph = graph_from_keras(model)
    assert_same_summary(model, graph)
    block = graph.blocks["features"]
    assert block.graph.node_by_name("c1").trainable is False
    assert block.graph.node_by_name("bn").trainable is True
    assert graph.node_by_name("head").trainable is False
    built = build_model(graph)
    assert built.get_layer("features").get_layer("c1").trainable is False
    assert built.get_layer("features").get_layer("bn").trainable is True
    assert _size(built.trainable_weights) == _size(model.trainable_weights)

    base.trainable = False
    frozen = graph_from_keras(model)
    assert frozen.node_by_name("features").trainable is False
    assert_same_summary(model, frozen)


def two_in_two_out():
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((5,), name="meta")
    x = keras.layers.Conv2D(2, 3, name="conv")(image)
    x = keras.layers.Flatten(name="flat")(x)
    m = keras.layers.Dense(4, name="meta_dense")(meta)
    joined = keras.layers.Concatenate(name="join")([m, x])  # call order: meta first
    box = keras.layers.Dense(4, name="box")(joined)
    label = keras.layers.Dense(3, activation="softmax", name="label")(joined)
    return keras.Model([image, meta], [label, box], name="two_heads")


def test_two_inputs_and_two_outputs_keep_their_order():
    model = two_in_two_out()
    graph = graph_from_keras(model)
    assert_same_summary(model, graph)
    assert [n.name for n in graph.inputs()] == ["image", "meta"]
    assert [n.name for n in graph.outputs()] == ["label", "box"]
    join = graph.node_by_name("join")
    assert [graph.nodes[e.src].name for e in graph.in_edges(join.id)] == ["meta_dense", "flat"]
    built = build_model(graph)
    assert built.output_names == ["label", "box"]
    assert [t.name for t in built.inputs] == ["image", "meta"]


def test_multi_head_attention_query_value_key():
    q = keras.Input((4, 8), name="q")
    v = keras.Input((6, 8), name="v")
    k = keras.Input((6, 8), name="k")
    out = keras.layers.MultiHeadAttention(2, 4, name="mha")(q, v, key=k)
    model = keras.Model([q, v, k], out)
    graph = graph_from_keras(model)
    assert_same_summary(model, graph)
    mha = graph.node_by_name("mha")
    assert mha.type == "MultiHeadAttention"
    assert [graph.nodes[e.src].name for e in graph.in_edges(mha.id)] == ["q", "v", "k"]


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
def test_layer_outside_the_catalog_and_settings_a_spec_lacks_are_kept():
    inp = keras.Input((4, 6), name="x")
    x = keras.layers.LayerNormalization(rms_scaling=True, name="rms")(inp)
    x = keras.layers.Identity(name="same")(x)
    model = keras.Model(inp, x)
    notes: list[str] = []
    graph = graph_from_keras(model, notes)
    assert_same_summary(model, graph)
    assert_types(model, graph)
    rms = graph.node_by_name("rms")
    assert rms.type == opaque.TYPE and rms.params["config"]["rms_scaling"] is True
    assert any("rms_scaling" in n and n.startswith("rms:") for n in notes)
    assert any(n.startswith("same:") and "no Identity layer" in n for n in notes)
    built = build_model(graph)
    assert built.get_layer("rms").get_config()["rms_scaling"] is True


def test_initializers_by_name_and_by_config():
    inp = keras.Input((3,))
    x = keras.layers.Dense(2, kernel_initializer="he_normal", name="named")(inp)
    x = keras.layers.Dense(2, kernel_initializer=keras.initializers.HeNormal(seed=3),
                           kernel_regularizer=keras.regularizers.L2(0.5), name="seeded")(x)
    graph = graph_from_keras(keras.Model(inp, x))
    assert graph.node_by_name("named").params["kernel_initializer"] == "he_normal"
    seeded = graph.node_by_name("seeded").params
    assert seeded["kernel_initializer"]["class_name"] == "HeNormal"
    assert seeded["kernel_initializer"]["config"]["seed"] == 3
    assert seeded["kernel_regularizer"]["config"] == {"l2": 0.5}


# --- refusals -----------------------------------------------------------------------------------


def test_a_shared_layer_is_one_layer_with_two_calls():
    a = keras.Input((4,))
    b = keras.Input((4,))
    shared = keras.layers.Dense(2, name="twin")
    model = keras.Model([a, b], keras.layers.Add()([shared(a), shared(b)]))
    graph = graph_from_keras(model)
    assert_same_summary(model, graph)
    assert {graph.nodes[c].name: graph.nodes[o].name for c, o in graph.sharing.items()} == {
        "twin_call2": "twin"}


def lambda_model():
    inp = keras.Input((3,))
    x = keras.layers.Lambda(lambda t: t * 2, name="double")(inp)
    return keras.Model(inp, keras.layers.Dense(1)(x))


def test_lambda_is_refused_in_memory_and_in_every_file_format(tmp_path):
    model = lambda_model()
    with pytest.raises(KerasImportError, match="layer 'double' is a Lambda layer"):
        graph_from_keras(model)
    model.save(tmp_path / "m.keras")
    (tmp_path / "m.json").write_text(model.to_json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "m.h5")
    for suffix in ("keras", "json", "h5"):
        with pytest.raises(KerasImportError, match="'double' is a Lambda layer.*never imports"):
            import_source(str(tmp_path / f"m.{suffix}"))


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04 broken", "not a valid .keras file"),
    (b"", "not a valid .keras file"),
])
def test_damaged_keras_files(tmp_path, content, message):
    path = tmp_path / "broken.keras"
    path.write_bytes(content)
    with pytest.raises(KerasImportError, match=message):
        import_source(str(path))


def test_truncated_keras_file(tmp_path):
    model, _ = transfer_model()
    model.save(tmp_path / "good.keras")
    data = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(KerasImportError, match="cut.keras"):
        import_source(str(tmp_path / "cut.keras"))
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    with pytest.raises(KerasImportError, match="no config.json"):
        import_source(str(tmp_path / "empty.keras"))


@pytest.mark.parametrize("name, text, message", [
    ("bad.json", "{not json", "not valid JSON"),
    ("list.json", "[1, 2]", "not a Keras model"),
    ("bad.h5", "not hdf5 at all", "not a valid HDF5 model file"),
    ("model.onnx", "x", "unsupported file type .onnx"),
])
def test_files_that_are_not_models(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(KerasImportError, match=message):
        import_source(str(tmp_path / name))


def test_missing_file_and_unknown_application(tmp_path):
    with pytest.raises(KerasImportError, match="no such file"):
        import_source(str(tmp_path / "nothing.keras"))
    with pytest.raises(KerasImportError, match="did you mean app:ResNet50"):
        import_source("app:ResNet05")
    with pytest.raises(KerasImportError, match="unknown Keras application"):
        import_source("app:Zebra")
    with pytest.raises(KerasImportError, match="apply to app:NAME sources only"):
        import_source(str(tmp_path / "x.keras"), pooling="avg")


def test_weights_only_h5_file(tmp_path):
    model, _ = transfer_model()
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(KerasImportError, match="no model inside"):
        import_source(str(tmp_path / "w.weights.h5"))


def test_imagenet_weights_offline_gives_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with pytest.raises(KerasImportError, match="not in Keras' cache.*--weights none"):
        import_source("app:MobileNet", weights="imagenet", input_shape=(128, 128, 3))


def test_application_options(tmp_path):
    project = import_source("app:MobileNet", include_top=False, input_shape=(96, 96, 3),
                            pooling="avg")
    graph = project.graph
    assert graph.inputs()[0].params["shape"] == (96, 96, 3)
    (out,) = graph.outputs()
    assert graph.inference.result(out.id).outputs == [(None, 1024)]
    with pytest.raises(KerasImportError, match="app:MobileNet"):
        import_source("app:MobileNet", input_shape=(8, 8, 3))  # Keras refuses: too small
    assert parse_input_shape("224, 224,3") == (224, 224, 3)
    with pytest.raises(KerasImportError, match="--input-shape"):
        parse_input_shape("224x224")


# --- weights and sources ------------------------------------------------------------------------


def test_weights_survive_a_keras_file(tmp_path):
    model, _ = transfer_model()
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    model.get_layer("head").set_weights([np.full((4, 3), 0.3, "float32"),
                                         np.array([0.1, -0.2, 0.3], "float32")])
    model.get_layer("features").get_layer("bn").set_weights(
        [np.full((4,), v, "float32") for v in (1.5, 0.2, 0.1, 2.0)])
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "trained.keras")

    target = tmp_path / "out dir" / "imported.nbproj"
    target.parent.mkdir()
    import_to_file(str(tmp_path / "trained.keras"), target)
    project = load(target)
    assert project.weights == "imported.weights.h5"
    weights = project.weights_path(target)
    assert weights == target.parent / "imported.weights.h5" and weights.is_file()
    built = build_model(project.graph, name=project.name, weights_path=weights)
    np.testing.assert_array_equal(built.predict(x, verbose=0), expected)

    # without the weights the model is freshly initialised; with a wrong file, a clear error
    fresh = build_model(project.graph)
    assert not np.array_equal(fresh.predict(x, verbose=0), expected)
    with pytest.raises(BuildError, match="not found"):
        build_model(project.graph, weights_path=tmp_path / "none.weights.h5")
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(BuildError, match="cannot load weights"):
        build_model(project.graph, weights_path=tmp_path / "other.weights.h5")


def test_a_keras_application_inside_a_model_keeps_its_weights(tmp_path):
    """Transfer learning as in the course notes: a frozen application called with
    training=False under a new head; one block row, its weights kept."""
    base = keras.applications.MobileNetV3Small(include_top=False, weights=None,
                                               input_shape=(64, 64, 3), include_preprocessing=True)
    base.trainable = False
    inp = keras.Input((64, 64, 3), name="image")
    x = base(inp, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(2, activation="softmax", name="head")(x)
    model = keras.Model(inp, out, name="transfer")
    model.save(tmp_path / "transfer.keras")

    project = import_to_file(str(tmp_path / "transfer.keras"), tmp_path / "t.nbproj")
    doc = assert_same_summary(model, project.graph)
    assert [r["name"] for r in doc["layers"]] == ["image", base.name, "pool", "head"]
    assert doc["layers"][1]["trainable_params"] == 0
    notes = project.settings["imported"]["notes"]
    assert any(n.startswith(f"{base.name}: called with training=False") for n in notes)
    block = project.graph.blocks[base.name]
    assert block.kind == "model" and len(block.graph.nodes) == len(base.operations)
    x = np.random.default_rng(1).random((2, 64, 64, 3)).astype("float32")
    built = build_model(load(tmp_path / "t.nbproj").graph,
                        weights_path=tmp_path / "t.weights.h5")
    np.testing.assert_allclose(built.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=0, atol=1e-6)


def test_application_weights_from_a_file(tmp_path):
    options = {"include_top": False, "input_shape": (32, 32, 3)}
    source = keras.applications.MobileNet(weights=None, **options)
    rng = np.random.default_rng(2)
    source.set_weights([(rng.normal(size=w.shape) * 0.1).astype("float32")
                        for w in source.get_weights()])
    source.save_weights(tmp_path / "mine.weights.h5")
    project = import_to_file("app:MobileNet", tmp_path / "m.nbproj",
                             weights=str(tmp_path / "mine.weights.h5"), **options)
    assert project.weights == "m.weights.h5"
    x = rng.random((2, 32, 32, 3)).astype("float32")
    built = build_model(project.graph, weights_path=tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(built.predict(x, verbose=0), source.predict(x, verbose=0))

    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(KerasImportError, match="app:MobileNet"):
        import_source("app:MobileNet", weights=str(tmp_path / "other.weights.h5"), **options)
    with pytest.raises(KerasImportError, match="weights file .* not found"):
        import_source("app:MobileNet", weights=str(tmp_path / "nope.h5"))


def test_h5_and_json_sources(tmp_path):
    model = two_in_two_out()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "legacy.h5")
    (tmp_path / "arch.json").write_text(model.to_json())

    from_h5 = import_source(str(tmp_path / "legacy.h5"), project_path=tmp_path / "a.nbproj")
    assert_same_summary(model, from_h5.graph)
    assert from_h5.weights == "a.weights.h5"
    x = [np.ones((1, 8, 8, 1), "float32"), np.ones((1, 5), "float32")]
    built = build_model(from_h5.graph, weights_path=tmp_path / "a.weights.h5")
    for got, want in zip(built.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)

    from_json = import_source(str(tmp_path / "arch.json"), project_path=tmp_path / "b.nbproj")
    assert_same_summary(model, from_json.graph)
    assert from_json.weights is None  # an architecture has no weights
    assert not (tmp_path / "b.weights.h5").exists()


def test_imported_project_has_a_layout_and_loads_back(tmp_path):
    target = tmp_path / "resnet"  # no extension: the path is used exactly as given
    project = import_to_file("app:ResNet50", target, include_top=False,
                             input_shape=(64, 64, 3))
    assert target.is_file() and project.weights is None
    loaded = load(target)
    positions = {n.position for n in loaded.graph.nodes.values()}
    assert len(positions) == len(loaded.graph.nodes)  # every layer has its own place
    for e in loaded.graph.edges:
        assert loaded.graph.nodes[e.dst].position[1] > loaded.graph.nodes[e.src].position[1]
    assert loaded.settings["imported"]["source"] == "app:ResNet50"
    assert to_json(summarize(loaded.graph)) == to_json(summarize(project.graph))


# --- the command line ---------------------------------------------------------------------------


def run_cli(*args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "netbuilder", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def test_cli_import_end_to_end(tmp_path):
    model, _ = transfer_model()
    model.save(tmp_path / "m.keras")
    done = run_cli("import", "m.keras", "-o", "out.project", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "out.project" in done.stdout and "Traceback" not in done.stderr
    assert (tmp_path / "out.project").is_file()
    assert (tmp_path / "out.weights.h5").is_file()
    summary = run_cli("summary", "out.project", "--json", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)["total_params"] == model.count_params()

    app = run_cli("import", "app:MobileNetV3Small", "-o", "small.nbproj", "--no-top",
                  "--input-shape", "96,96,3", "--pooling", "max", "--weights", "none",
                  cwd=tmp_path)
    assert app.returncode == 0, app.stderr
    assert "note:" in app.stderr  # MobileNetV3's x + 3 kept as Keras operations
    assert "Traceback" not in app.stderr


@pytest.mark.parametrize("args, message", [
    (["missing.keras"], "missing.keras: no such file"),
    (["app:ResNet5O"], "did you mean app:ResNet50"),
    (["app:MobileNet", "--input-shape", "a,b"], "--input-shape"),
    (["m.keras", "--classes", "3"], "apply to app:NAME sources only"),
])
def test_cli_import_errors_are_one_line(tmp_path, args, message):
    done = run_cli("import", *args, "-o", "out.nbproj", cwd=tmp_path)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "out.nbproj").exists()


def test_cli_import_refuses_lambda(tmp_path):
    lambda_model().save(tmp_path / "lam.keras")
    done = run_cli("import", "lam.keras", "-o", "out.nbproj", cwd=tmp_path)
    assert done.returncode == 1
    assert "Lambda" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_catalog_specs_map_their_keras_config_back():
    """For every catalog layer with default settings, get_config() maps back onto the same
    parameters (the import's mapping agrees with the build's)."""
    from netbuilder.runtime.keras_layers import make_layer
    from netbuilder.runtime.keras_to_graph import _Importer

    importer = _Importer()
    for spec in catalog.all_specs():
        if spec.type in ("Input", opaque.TYPE):
            continue
        params = {p.name: p.default for p in spec.params if p.required}
        layer = make_layer(spec.type, params)
        mapped = importer._map_config(spec, layer.get_config(), layer)
        resolved = spec.resolve(mapped)
        assert make_layer(spec.type, resolved, layer.name).get_config() == layer.get_config(), (
            spec.type)
