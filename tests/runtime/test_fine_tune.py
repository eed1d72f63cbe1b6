"""Two-stage fine-tuning (issue 7): a frozen nested "base" (a tiny VGG-like functional or
Sequential model, as a Keras Application would be) under a new head; stage 1 trains the head,
stage 2 unfreezes from a layer and goes on at a lower rate. Keras is the oracle for the
trainable counts: the same model set up by hand as in Keras' transfer-learning guide."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from training_helpers import digits_cnn

from netbuilder.cli.train import _Printer
from netbuilder.core.codegen import generate_code
from netbuilder.core.project import Project, save
from netbuilder.runtime.keras_to_graph import graph_from_keras
from netbuilder.runtime.training import fine_tune
from netbuilder.runtime.training.code import with_training
from netbuilder.runtime.training.engine import run_job
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings

ROOT = Path(__file__).resolve().parents[2]


def vgg_like(kind: str) -> keras.Model:
    """image -> features (frozen: two conv blocks with BatchNormalization) -> pool -> head."""
    layers = [
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1"),
        keras.layers.BatchNormalization(name="block1_bn"),
        keras.layers.MaxPooling2D(name="block1_pool"),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="block2_conv1"),
        keras.layers.BatchNormalization(name="block2_bn"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block2_conv2"),
    ]
    if kind == "sequential":
        base = keras.Sequential([keras.Input((8, 8, 1), name="base_in"), *layers],
                                name="features")
    else:
        base_in = keras.Input((8, 8, 1), name="base_in")
        x = base_in
        for layer in layers:
            x = layer(x)
        base = keras.Model(base_in, x, name="features")
    base.trainable = False
    image = keras.Input((8, 8, 1), name="image")
    x = base(image)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(10, activation="softmax", name="head")(x)
    return keras.Model(image, out, name="transfer")


def guide_unfreeze(model: keras.Model, name: str) -> int:
    """Keras' guide by hand: the base trainable from ``name`` on, BatchNormalization frozen (or,
    for a top-level layer, the top-level layers from it on)."""
    names = [layer.name for layer in model.layers]
    if name in names:
        for i, layer in enumerate(model.layers):
            layer.trainable = i >= names.index(name)
    else:
        base = model.get_layer("features")
        base.trainable = True
        index = [layer.name for layer in base.layers].index(name)
        for i, layer in enumerate(base.layers):
            layer.trainable = i >= index and not isinstance(
                layer, keras.layers.BatchNormalization)
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def size(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


def transfer_job(tmp_path, kind, settings, **extra):
    model = vgg_like(kind)
    project = Project(graph_from_keras(model), name="transfer",
                      settings={"training": settings})
    path = tmp_path / "transfer.nbproj"
    save(project, path)
    init = tmp_path / "init.weights.h5"
    model.save_weights(init)
    return model, {"project": str(path), "data": "digits", "output_dir": str(tmp_path / "out"),
                   "initial_weights": str(init), **extra}


def run_here(job):
    events = []
    code = run_job(job, events.append, threading.Event())
    assert code == (0 if events[-1]["event"] == "finished" else 1), events[-1]
    return events


def of(events, kind):
    return [e for e in events if e["event"] == kind]


# --- settings --------------------------------------------------------------------------------


def test_fine_tune_settings_defaults_validation_and_old_projects():
    s = TrainingSettings()
    assert (s.fine_tune_from, s.fine_tune_epochs, s.fine_tune_learning_rate) == (None, 0, 1e-5)
    assert not s.fine_tuning
    old = TrainingSettings.from_dict({"optimizer": "adam", "epochs": 3})  # saved before issue 7
    assert old.fine_tune_from is None and old.fine_tune_epochs == 0
    s = s.updated({"fine_tune_from": "block5_conv1", "fine_tune_epochs": 4,
                   "fine_tune_learning_rate": 2e-5})
    assert s.fine_tuning and TrainingSettings.from_dict(s.to_dict()) == s
    assert s.to_dict()["fine_tune_from"] == "block5_conv1"
    assert TrainingSettings().updated({"fine_tune_from": "  "}).fine_tune_from is None
    assert not TrainingSettings().updated({"fine_tune_from": "x"}).fine_tuning  # no epochs
    for changes, message in [({"fine_tune_epochs": -1}, "fine_tune_epochs must be at least 0"),
                             ({"fine_tune_epochs": 1.5}, "fine_tune_epochs must be a whole"),
                             ({"fine_tune_learning_rate": 0},
                              "fine_tune_learning_rate must be above 0"),
                             ({"fine_tune_from": 3}, "fine_tune_from must name a layer")]:
        with pytest.raises(SettingsError, match=message):
            TrainingSettings().updated(changes)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_find_layer_path_searches_nested_models(kind):
    model = vgg_like(kind)
    models, index = fine_tune.find_layer_path(model, "block2_conv1")
    assert [m.name for m in models] == ["transfer", "features"]
    assert models[1].layers[index].name == "block2_conv1"
    models, index = fine_tune.find_layer_path(model, "head")
    assert models == [model] and model.layers[index].name == "head"
    assert fine_tune.find_layer_path(model, "block9_conv1") is None


@pytest.mark.parametrize("kind, name", [("functional", "block2_conv1"),
                                        ("sequential", "block1_pool"),
                                        ("functional", "head")])
def test_unfreeze_from_matches_keras_guide(kind, name):
    model, oracle = vgg_like(kind), vgg_like(kind)
    before = size(model.trainable_weights)
    assert before == size(model.get_layer("head").trainable_weights)  # the base is frozen
    count = fine_tune.unfreeze_from(model, name)
    assert count == guide_unfreeze(oracle, name) == size(model.trainable_weights)
    for layer, expected in zip(model.get_layer("features").layers,
                               oracle.get_layer("features").layers):
        assert size(layer.trainable_weights) == size(expected.trainable_weights), layer.name
    assert model.get_layer("head").trainable
    if name != "head":
        base = model.get_layer("features")
        assert not base.get_layer("block2_bn").trainable   # BatchNormalization stays frozen
        assert not base.get_layer("block1_conv1").trainable
        assert base.get_layer("block2_conv2").trainable


# --- the job ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_two_stages_train_the_head_then_the_top_of_the_base(tmp_path, kind):
    settings = {"epochs": 2, "batch_size": 64, "fine_tune_from": "block2_conv1",
                "fine_tune_epochs": 2, "fine_tune_learning_rate": 1e-4, "csv_log": True}
    model, job = transfer_job(tmp_path, kind, settings)
    events = run_here(job)
    names = [e["event"] for e in events]
    begin = of(events, "train_begin")[0]
    assert (begin["epochs"], begin["stage1_epochs"], begin["fine_tune_epochs"]) == (4, 2, 2)
    stage = of(events, "stage")[0]
    epochs = of(events, "epoch")
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert all(e["epochs"] == 4 for e in epochs)
    assert names.index("stage") > names.index("epoch") + 1    # after epoch 2, before epoch 3
    assert [e["epoch"] for e in events[names.index("stage"):] if e["event"] == "epoch"] == [3, 4]
    oracle = vgg_like(kind)
    expected = guide_unfreeze(oracle, "block2_conv1")
    assert stage["stage"] == 2 and stage["trainable_params"] == expected
    assert stage["initial_epoch"] == 2 and stage["epochs"] == 4
    assert stage["message"] == (f"fine-tuning from block2_conv1 at lr 0.0001: {expected:,} "
                                "trainable params")
    assert epochs[-1]["progress"] == 1.0
    assert epochs[2]["logs"]["learning_rate"] == pytest.approx(1e-4)
    assert epochs[1]["logs"]["learning_rate"] == pytest.approx(1e-3)

    out = tmp_path / "out"
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_accuracy"]) == 4
    finished = events[-1]
    assert finished["epochs_run"] == 4 and finished["reason"] == "completed"
    assert len((out / "training.csv").read_text().strip().splitlines()) == 1 + 4
    trained = keras.models.load_model(out / "model.keras")
    assert size(trained.trainable_weights) == expected
    # frozen in both stages: block1_conv1 and the BatchNormalization statistics (inference
    # mode) are exactly the initial weights; the unfrozen block2_conv1 has learned
    base, start = trained.get_layer("features"), model.get_layer("features")
    for name in ("block1_conv1", "block1_bn", "block2_bn"):
        for got, want in zip(base.get_layer(name).get_weights(),
                             start.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want, err_msg=name)
    assert not np.allclose(base.get_layer("block2_conv1").get_weights()[0],
                           start.get_layer("block2_conv1").get_weights()[0])


def test_an_unknown_fine_tune_layer_stops_before_training(tmp_path):
    _, job = transfer_job(tmp_path, "functional", {"epochs": 1, "fine_tune_from": "block9_conv1",
                                                    "fine_tune_epochs": 1})
    events = run_here(job)
    error = events[-1]
    assert error["event"] == "error" and error["kind"] == "settings"
    assert "'block9_conv1'" in error["message"] and "features" in error["message"]
    assert not of(events, "train_begin") and not of(events, "epoch")


def test_fine_tune_epochs_without_a_layer_is_a_note(tmp_path):
    project = digits_cnn(settings={"training": {"epochs": 1, "fine_tune_epochs": 3}})
    save(project, tmp_path / "p.nbproj")
    events = run_here({"project": str(tmp_path / "p.nbproj"), "data": "digits",
                       "output_dir": str(tmp_path / "out")})
    assert not of(events, "stage") and events[-1]["epochs_run"] == 1
    assert any("no fine-tuning" in n for n in of(events, "train_begin")[0]["notes"])


def test_cli_prints_the_stage_line(tmp_path):
    _, job = transfer_job(tmp_path, "functional", {"batch_size": 128})
    out = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", job["project"], "--data", "digits",
         "--epochs", "1", "--fine-tune-from", "block2_conv2", "--fine-tune-epochs", "1",
         "--out", str(tmp_path / "cli"), "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "1 epoch + 1 fine-tuning epoch from block2_conv2" in lines[0]
    stage = [i for i, line in enumerate(lines) if line.startswith("Stage 2: fine-tuning from "
                                                                     "block2_conv2 at lr 1e-05")]
    assert len(stage) == 1
    assert lines[stage[0] - 1].startswith("Epoch 1/2") and lines[stage[0] + 1].startswith(
        "Epoch 2/2")
    assert len(json.loads((tmp_path / "cli" / "history.json").read_text())["loss"]) == 2


def test_printer_shows_the_stage_event():
    import io

    buffer = io.StringIO()
    _Printer(buffer, quiet=True, tty=False).show(
        {"event": "stage", "stage": 2, "message": "fine-tuning from c at lr 1e-05: 5 "
                                                  "trainable params"})
    assert buffer.getvalue() == "Stage 2: fine-tuning from c at lr 1e-05: 5 trainable params\n"


# --- exported code ---------------------------------------------------------------------------


def test_exported_code_fine_tunes_too(tmp_path):
    model = vgg_like("functional")
    project = Project(graph_from_keras(model), name="transfer")
    settings = {"epochs": 1, "batch_size": 128, "fine_tune_from": "block2_conv1",
                "fine_tune_epochs": 1, "fine_tune_learning_rate": 1e-4, "schedule": "step",
                "csv_log": True}
    code = with_training(generate_code(project), project.graph, settings, "digits")
    ast.parse(code)
    black = pytest.importorskip("black")
    assert black.format_str(code, mode=black.Mode(line_length=99)) == code
    assert "def unfreeze_from(model, name):" in code and "initial_epoch=" in code
    assert 'FINE_TUNE_FROM = "block2_conv1"' in code
    script = tmp_path / "train_transfer.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={**__import__("os").environ,
                                                      "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-3000:]
    expected = guide_unfreeze(vgg_like("functional"), "block2_conv1")
    assert f"fine-tuning from block2_conv1 at lr 0.0001: {expected:,} trainable params" in (
        run.stdout)
    assert "Epoch 2/2" in run.stdout
    assert len((tmp_path / "training.csv").read_text().strip().splitlines()) == 1 + 2
    trained = keras.models.load_model(tmp_path / "model.keras")
    assert size(trained.trainable_weights) == expected
