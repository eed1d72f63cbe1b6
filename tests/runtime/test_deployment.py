"""Deployment export: every example (and MobileNetV2) to SavedModel, ONNX and TFLite, each
artifact loaded here in its own runtime and compared with Keras; int8 on a model trained on the
digits; a layer a format cannot hold refused with its name; the command line's bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.cli import main as cli_main  # noqa: E402
from netbuilder.core.project import load, save  # noqa: E402
from netbuilder.runtime import deployment  # noqa: E402
from netbuilder.runtime.keras_build import build_model  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "resources" / "examples"
MODELS = ("mlp", "mnist_cnn", "cats_vs_dogs_cnn", "two_headed", "fcn_segmentation",
          "MobileNetV2")
FORMATS = deployment.FORMATS


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """name -> (project file, Keras model with the weights saved beside the project)."""
    folder = tmp_path_factory.mktemp("projects")
    cache: dict[str, tuple[Path, object]] = {}

    def get(name: str):
        if name not in cache:
            path = folder / f"{name}.nbproj"
            if name == "MobileNetV2":
                from netbuilder.runtime.keras_import import import_source

                project = import_source("app:MobileNetV2", input_shape=(96, 96, 3),
                                        weights="none")
            else:
                project = load(EXAMPLES / f"{name}.nbproj")
            keras.utils.set_random_seed(1)
            model = build_model(project.graph, name=name)
            weights = folder / f"{name}.weights.h5"
            model.save_weights(weights)
            project.weights = weights.name
            save(project, path)
            cache[name] = (path, model)
        return cache[name]

    return get


def _inputs(model, batch: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {t.name: rng.uniform(0, 1, (batch,) + tuple(t.shape[1:])).astype("float32")
            for t in model.inputs}


def _keras_outputs(model, inputs):
    out = model([inputs[t.name] for t in model.inputs], training=False)
    out = out if isinstance(out, (list, tuple)) else [out]
    return {name: np.asarray(y) for name, y in zip(model.output_names, out)}


def _run_artifact(fmt: str, path: Path, inputs) -> dict[str, np.ndarray]:
    """The artifact run here with its runtime's own API, not NetBuilder's."""
    if fmt == "savedmodel":
        import tensorflow as tf

        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        return {k: v.numpy() for k, v in serve(**inputs).items()}
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs)))
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    return {k: np.asarray(v) for k, v in runner(**inputs).items()}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", MODELS)
def test_every_format_agrees_with_keras(projects, tmp_path, name, fmt):
    project_file, model = projects(name)
    out = tmp_path / f"{name}.{fmt}"
    events: list[dict] = []
    result = deployment.export({"project": str(project_file), "format": fmt,
                                "output": str(out)}, events.append)
    assert out.exists() and result["path"] == str(out)
    assert not [e for e in events if e["event"] == "warning"]   # the project's weights
    assert result["check"]["max_diff"] <= result["check"]["tolerance"]
    assert [i["name"] for i in result["inputs"]] == [t.name for t in model.inputs]
    assert sorted(o["name"] for o in result["outputs"]) == sorted(model.output_names)
    assert str(out) in result["line"] and "largest difference" in result["line"]
    assert [p.name for p in tmp_path.iterdir()] == [out.name]      # no temporary left
    inputs = _inputs(model)
    expected = _keras_outputs(model, inputs)
    got = _run_artifact(fmt, out, inputs)
    assert set(got) == set(expected)          # the output names survive
    for key, value in expected.items():
        scale = max(1.0, float(np.abs(value).max()))
        np.testing.assert_allclose(got[key], value, atol=1e-4 * scale, rtol=0)


@pytest.fixture(scope="module")
def trained_digits_cnn(tmp_path_factory):
    """The MNIST CNN trained for a few epochs on the digits, its weights beside it."""
    from netbuilder.runtime import data as data_mod

    folder = tmp_path_factory.mktemp("trained")
    project = load(EXAMPLES / "mnist_cnn.nbproj")
    keras.utils.set_random_seed(0)
    model = build_model(project.graph, name="mnist_cnn")
    prepared = data_mod.prepare(data_mod.load("digits"), model)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(prepared.train.x, prepared.train.y, epochs=4, batch_size=32, verbose=0)
    model.save_weights(folder / "mnist_cnn.weights.h5")
    project.weights = "mnist_cnn.weights.h5"
    path = folder / "mnist_cnn.nbproj"
    save(project, path)
    return path


@pytest.mark.parametrize("quantize", deployment.QUANTIZATIONS)
def test_quantized_tflite_of_a_trained_model(trained_digits_cnn, tmp_path, quantize):
    out = tmp_path / "digits.tflite"
    result = deployment.export({"project": str(trained_digits_cnn), "format": "tflite",
                                "quantize": quantize, "data": "digits", "output": str(out)},
                               lambda e: None)
    check = result["check"]
    plain = tmp_path / "plain.tflite"
    deployment.export({"project": str(trained_digits_cnn), "format": "tflite",
                       "output": str(plain)}, lambda e: None)
    assert out.stat().st_size < plain.stat().st_size * (0.6 if quantize == "float16" else 0.35)
    if quantize == "float16":
        assert check["max_diff"] <= check["tolerance"]
        return
    assert check["agreement"] >= 0.9
    accuracy = check["accuracy"]
    assert accuracy["samples"] == 359 and accuracy["float32"] > 0.8
    assert abs(accuracy["int8"] - accuracy["float32"]) < 0.05
    assert result["inputs"][0]["dtype"] == "int8"
    assert "validation accuracy int8" in result["line"]


def test_int8_needs_data(projects, tmp_path):
    project_file, _ = projects("mlp")
    with pytest.raises(deployment.DeploymentError, match="int8 quantization needs data"):
        deployment.export({"project": str(project_file), "format": "tflite", "quantize": "int8",
                           "output": str(tmp_path / "x.tflite")}, lambda e: None)


class _Svd(keras.layers.Layer):
    def call(self, x):
        return keras.ops.svd(keras.ops.reshape(x, (-1, 4, 4)), compute_uv=False)


@pytest.mark.parametrize("fmt", ("onnx", "tflite"))
def test_an_unsupported_layer_is_refused_with_its_name(tmp_path, fmt):
    x = keras.Input((16,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="head")(_Svd(name="my_svd")(x)))
    named = deployment.named_model(model)
    samples = deployment.random_samples(named)
    named(samples.inputs)
    with pytest.raises(deployment.DeploymentError) as err:
        deployment.convert(named, fmt, None, samples, tmp_path / f"m.{fmt}")
    message = str(err.value)
    assert "'my_svd'" in message and "Svd" in message and "\n" not in message


def test_a_disagreement_is_an_error_and_leaves_nothing(projects, tmp_path, monkeypatch):
    project_file, _ = projects("mlp")
    out = tmp_path / "mlp.onnx"
    out.write_bytes(b"the earlier file")
    monkeypatch.setitem(deployment.TOLERANCE, None, -1.0)
    events: list[dict] = []
    code = deployment.run_job({"project": str(project_file), "format": "onnx",
                               "output": str(out)}, events.append)
    assert code == 1 and events[-1]["event"] == "error" and events[-1]["kind"] == "verify"
    assert "disagrees with Keras" in events[-1]["message"]
    assert out.read_bytes() == b"the earlier file"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def _cli(args, capsys):
    code = cli_main(["export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args, message", [
    (["--format", "pdf"], "unknown format 'pdf'"),
    (["--format", "tflite", "--quantize", "int8"], "--quantize int8 needs data"),
    (["--format", "tflite", "--quantize", "int4"], "unknown quantization 'int4'"),
    (["--format", "onnx", "--quantize", "float16"], "is for --format tflite"),
    (["--format", "onnx", "--weights", "missing/model.keras"], "no weights file"),
    (["--format", "onnx", "--data", "no/such/folder"], "no such data source"),
    (["--quantize", "float16"], "--quantize is for the deployment formats"),
])
def test_cli_bad_input_is_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    code, _, err = _cli([str(EXAMPLES / "mlp.nbproj"), *args, "-o", str(out)], capsys)
    assert code == 1 and message in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_exports_through_the_worker(tmp_path):
    out = tmp_path / "mlp_model"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "export",
                           str(EXAMPLES / "mlp.nbproj"), "--format", "savedmodel", "-o",
                           str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Exporting mlp to SavedModel")
    assert any("warning: the model is UNTRAINED" in line for line in lines)
    assert lines[-1].startswith(f"Wrote {out} (SavedModel") and "inputs " in lines[-1]
    assert proc.stderr == ""
    assert (out / "saved_model.pb").is_file()
