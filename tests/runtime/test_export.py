"""The exported code run against Keras: for the examples, generated graphs and blocks, executing
the code and calling ``build_model()`` gives the model that ``keras_build.build_model(graph)``
gives (same layer names, classes, configs, connections, trainable flags and weights); the file
runs on its own; ``netbuilder export --format keras`` writes the built model; and a Keras
Application imported and exported again is the Application."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from random_graphs import graphs

keras = pytest.importorskip("keras")

from netbuilder import cli  # noqa: E402
from netbuilder.core.blocks import Block  # noqa: E402
from netbuilder.core.codegen import generate_code, model_name  # noqa: E402
from netbuilder.core.graph import BLOCK_TYPE, Graph  # noqa: E402
from netbuilder.core.project import Project, load, save  # noqa: E402
from netbuilder.runtime.keras_build import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "resources" / "examples").glob("*.nbproj"))


# --- comparing two Keras models --------------------------------------------------------------


def exported_model(project: Project) -> Any:
    """Run the exported code and call its ``build_model()``."""
    code = generate_code(project)
    namespace: dict[str, Any] = {"__name__": "exported"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, f"<{project.name}.py>", "exec"), namespace)
        return namespace["build_model"]()


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def _refs(value: Any) -> list[Any]:
    """A functional config's input or output layers as a flat list of [name, node, index]
    (``Model(x, y)`` and ``Model([x], [y])`` differ only there)."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    return [ref for v in value or [] for ref in _refs(v)]


def _normalized(config: dict[str, Any], unseeded: set[str]) -> dict[str, Any]:
    config["input_layers"] = _refs(config["input_layers"])
    config["output_layers"] = _refs(config["output_layers"])
    by_name = {}
    for layer in config["layers"]:
        inner = layer["config"]
        if layer["class_name"] in ("Functional", "Model"):
            layer["config"] = _normalized(inner, unseeded)
        elif layer["class_name"] == "Sequential":  # its layers in order, models inside too
            for item in inner["layers"]:
                if item["class_name"] in ("Functional", "Model"):
                    item["config"] = _normalized(item["config"], unseeded)
        elif layer["name"] in unseeded:
            inner.pop("seed", None)  # Keras draws one when none is given
        if layer["class_name"] == "Bidirectional":  # wrapped layers named by a global counter
            for key in ("layer", "backward_layer"):
                if isinstance(inner.get(key), dict):
                    inner[key]["config"].pop("name", None)
        by_name[layer["name"]] = layer
    config["layers"] = by_name
    return config


def model_config(model: Any, unseeded: set[str] = frozenset()) -> dict[str, Any]:
    """``model.get_config()`` with layers by name: class, config, connections (inbound layer
    names, node and tensor indices, the call's structure), nested models likewise."""
    return _normalized(_plain(model.get_config()), set(unseeded))


def weights(model: Any) -> dict[str, Any]:
    """Per layer: class, trainable flag, trainable and non-trainable weight counts."""
    size = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    out = {}
    for layer in model.layers:
        entry: tuple[Any, ...] = (type(layer).__name__, layer.trainable,
                                  size(layer.trainable_weights),
                                  size(layer.non_trainable_weights))
        if type(layer).__name__ == "Functional":
            entry += (weights(layer),)
        out[layer.name] = entry
    return out


def unseeded_layers(graph: Graph, prefix: str = "") -> set[str]:
    names = set()
    for node in graph.nodes.values():
        if node.type == BLOCK_TYPE:
            block = graph.blocks[node.params["block"]]
            inner = f"{prefix}{node.name}_" if block.kind == "function" else ""
            names |= unseeded_layers(block.graph, inner)
        elif node.params.get("seed", 0) is None:
            names.add(prefix + node.name)
    return names


def assert_same_model(exported: Any, reference: Any, unseeded: set[str] = frozenset()) -> None:
    a, b = model_config(exported, unseeded), model_config(reference, unseeded)
    assert sorted(a["layers"]) == sorted(b["layers"])
    for name, layer in b["layers"].items():
        assert a["layers"][name] == layer, name
    assert a == b
    assert weights(exported) == weights(reference)
    assert exported.count_params() == reference.count_params()


def assert_exports_faithfully(project: Project) -> None:
    exported = exported_model(project)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = build_model(project.graph, name=model_name(project.name))
    assert_same_model(exported, reference, unseeded_layers(project.graph))


# --- the examples, generated graphs and blocks -----------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples(path):
    assert_exports_faithfully(load(path))


@settings(max_examples=25)
@given(graphs())
def test_generated_graphs(graph):
    assert_exports_faithfully(Project(graph, "generated"))


def residual_block() -> Block:
    sub = Graph()
    x = sub.add_node("Input", {"shape": [16]})
    d1 = sub.add_node("Dense", {"units": 16, "activation": "relu"}, name="dense_a")
    bn = sub.add_node("BatchNormalization", name="bn", trainable=False)
    add = sub.add_node("Add", name="add")
    for src, dst in ((x, d1), (d1, bn), (x, add), (bn, add)):
        sub.connect(src.id, dst.id)
    return Block("residual_unit", sub, [x.id], [(add.id, 0)])


def base_block() -> Block:
    sub = Graph()
    x = sub.add_node("Input", {"shape": [16]})
    d = sub.add_node("Dense", {"units": 8, "activation": "relu"}, name="base_dense")
    bn = sub.add_node("BatchNormalization", name="base_bn", trainable=False)
    sub.connect(x.id, d.id)
    sub.connect(d.id, bn.id)
    return Block("base", sub, [x.id], [(bn.id, 0)], kind="model")


def block_graph(frozen_function: bool = False, frozen_model: bool = True,
                model_in_function: bool = False) -> Graph:
    g = Graph()
    g.add_block(base_block())
    unit = residual_block()
    if model_in_function:
        sub = unit.graph
        sub.blocks["base"] = g.blocks["base"]
        base = sub.add_node("Block", {"block": "base"})
        up = sub.add_node("Dense", {"units": 16}, name="up")
        sub.connect(sub.node_by_name("add").id, base.id)
        sub.connect(base.id, up.id)
        unit = Block("residual_unit", sub, unit.inputs, [(up.id, 0)])
    g.add_block(unit)
    i = g.add_node("Input", {"shape": [16]})
    r1 = g.add_node("Block", {"block": "residual_unit"}, trainable=not frozen_function)
    r2 = g.add_node("Block", {"block": "residual_unit"})
    m = g.add_node("Block", {"block": "base"}, trainable=not frozen_model)
    out = g.add_node("Dense", {"units": 3, "activation": "softmax"})
    for src, dst in ((i, r1), (r1, r2), (r2, m), (m, out)):
        g.connect(src.id, dst.id)
    return g


@pytest.mark.parametrize("options", [
    {}, {"frozen_function": True}, {"frozen_model": False}, {"model_in_function": True},
], ids=["plain", "frozen-function-call", "trainable-model", "model-inside-function"])
def test_blocks(options):
    graph = block_graph(**options)
    project = Project(graph, "blocks")
    assert_exports_faithfully(project)
    code = generate_code(project)
    assert code.count("def residual_unit(") == 1
    assert code.count("residual_unit(") == 3  # defined once, called twice
    model = exported_model(project)
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if options.get("model_in_function"):
        assert [m.name for m in nested] == ["residual_unit_base"]  # one model, shared
    else:
        assert [m.name for m in nested] == ["base"]
        assert nested[0].trainable is not options.get("frozen_model", True)
    assert [layer.name for layer in model.layers if layer.name.startswith("residual")][:3] == [
        "residual_unit_dense_a", "residual_unit_bn", "residual_unit_add"]


def test_sequential_block_builds_and_exports_a_sequential():
    g = Graph()
    g.add_block(base_block())
    sub = Graph()
    x = sub.add_node("Input", {"shape": [16]})
    d = sub.add_node("Dense", {"units": 16, "activation": "relu"}, name="stem_dense")
    bn = sub.add_node("BatchNormalization", name="stem_bn", trainable=False)
    sub.blocks["base"] = g.blocks["base"]
    base = sub.add_node("Block", {"block": "base"})  # a model inside the Sequential
    for src, dst in ((x, d), (d, bn), (bn, base)):
        sub.connect(src.id, dst.id)
    g.add_block(Block("stem", sub, [x.id], [(base.id, 0)], kind="sequential"))
    i = g.add_node("Input", {"shape": [16]})
    s = g.add_node("Block", {"block": "stem"}, trainable=False)
    out = g.add_node("Dense", {"units": 3})
    g.connect(i.id, s.id)
    g.connect(s.id, out.id)
    project = Project(g, "sequential")
    assert_exports_faithfully(project)
    built = build_model(g, name="sequential")
    stem = built.get_layer("stem")
    assert type(stem) is keras.Sequential and stem.trainable is False
    assert [layer.name for layer in stem.layers] == ["stem_dense", "stem_bn", "base"]
    assert type(stem.get_layer("base")).__name__ == "Functional"
    assert built.count_params() == exported_model(project).count_params()


def test_two_inputs_two_outputs_and_a_layer_with_several_outputs():
    g = Graph()
    seq = g.add_node("Input", {"shape": [10, 8]}, name="sequence")
    meta = g.add_node("Input", {"shape": [4]}, name="meta")
    lstm = g.add_node("LSTM", {"units": 4, "return_state": True})
    cat = g.add_node("Concatenate")
    head = g.add_node("Dense", {"units": 3, "activation": "softmax"}, name="class_output")
    aux = g.add_node("Dense", {"units": 1}, name="aux_output")
    g.connect(seq.id, lstm.id)
    g.connect(lstm.id, cat.id, 0)
    g.connect(lstm.id, cat.id, 2)
    g.connect(meta.id, cat.id)
    g.connect(cat.id, head.id)
    g.connect(lstm.id, aux.id, 1)
    project = Project(g, "two_ways")
    assert_exports_faithfully(project)
    model = exported_model(project)
    assert [t.name for t in model.inputs] == ["sequence", "meta"]
    assert model.output_names == ["class_output", "aux_output"]


def test_the_file_runs_on_its_own_and_prints_the_summary(tmp_path):
    out = tmp_path / "mnist_cnn.py"
    assert cli.main(["export", str(ROOT / "resources" / "examples" / "mnist_cnn.nbproj"),
                     "-o", str(out)]) == 0
    result = subprocess.run([sys.executable, str(out)], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    assert 'Model: "mnist_cnn"' in result.stdout
    assert "Total params: 93,322" in result.stdout
    assert "conv2d_2 (Conv2D)" in result.stdout


# --- netbuilder export --format keras --------------------------------------------------------


def test_export_keras_format_writes_the_built_model(tmp_path, capsys):
    out = tmp_path / "model.bin"  # the path is used as given, whatever its extension
    project_file = ROOT / "resources" / "examples" / "two_headed.nbproj"
    assert cli.main(["export", str(project_file), "-o", str(out), "--format", "keras"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]
    copy = tmp_path / "copy.keras"
    copy.write_bytes(out.read_bytes())
    loaded = keras.saving.load_model(copy, compile=False)
    project = load(project_file)
    assert_same_model(loaded, build_model(project.graph, name=model_name(project.name)))
    assert "Wrote the Keras model two_headed" in capsys.readouterr().out


def test_export_keras_format_carries_the_projects_weights(tmp_path):
    project = load(ROOT / "resources" / "examples" / "mlp.nbproj")
    if not hasattr(project, "weights"):
        pytest.skip("projects have no weights in this version")
    trained = build_model(project.graph, name=model_name(project.name))
    trained.set_weights([np.full(w.shape, 0.5, "float32") for w in trained.get_weights()])
    trained.save_weights(tmp_path / "mlp.weights.h5")
    project.weights = "mlp.weights.h5"
    save(project, tmp_path / "mlp.nbproj")
    out = tmp_path / "mlp_model.keras"
    assert cli.main(["export", str(tmp_path / "mlp.nbproj"), "-o", str(out),
                     "--format", "keras"]) == 0
    loaded = keras.saving.load_model(out, compile=False)
    for a, b in zip(loaded.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_export_keras_format_refuses_an_invalid_graph(tmp_path, capsys):
    g = Graph()
    x = g.add_node("Input", {"shape": [784]})
    conv = g.add_node("Conv2D", {"filters": 4, "kernel_size": 3})
    g.connect(x.id, conv.id)
    save(Project(g, "bad"), tmp_path / "bad.nbproj")
    out = tmp_path / "bad.keras"
    assert cli.main(["export", str(tmp_path / "bad.nbproj"), "-o", str(out),
                     "--format", "keras"]) == 1
    err = capsys.readouterr().err
    assert "error: conv2d: Conv2D expects input of rank 4" in err
    assert "Traceback" not in err and not out.exists()


# --- Keras Applications: import, export, build ----------------------------------------------

try:
    from netbuilder.runtime import applications, keras_to_graph
except ImportError:  # the import side is not there yet
    keras_to_graph = None

APPLICATIONS = (applications.application_names() if keras_to_graph is not None else
                sorted(n for n in dir(keras.applications) if n[:1].isupper()))
# The biggest ones take 10-30 s each: the first of each family runs by default, all of them
# with NETBUILDER_ALL_APPS=1.
QUICK = {"ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "InceptionResNetV2",
         "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Small",
         "ResNet50", "ResNet50V2", "VGG16", "Xception"}


def _application_params():
    every = os.environ.get("NETBUILDER_ALL_APPS") == "1"
    for name in APPLICATIONS:
        marks = []
        if not every and name not in QUICK:
            marks.append(pytest.mark.skip(reason="a big Application: NETBUILDER_ALL_APPS=1 "
                                                 "runs it"))
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.skipif(keras_to_graph is None, reason="the Keras import (runtime/keras_to_graph.py) "
                                                  "is not there yet")
@pytest.mark.parametrize("name", list(_application_params()))
def test_application_round_trip(name):
    """Keras Application -> import -> export -> build_model(): the same layers, classes,
    configs, connections, trainable flags and weights as the Application itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = getattr(keras.applications, name)(weights=None)
    # the imported graph of this very model: auto-named layers keep their names
    project = Project(keras_to_graph.graph_from_keras(original), name=original.name)
    assert_same_model(exported_model(project), original)
