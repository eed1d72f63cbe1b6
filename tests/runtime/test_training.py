"""The training engine: settings, model.fit with Keras callbacks, the worker process and its
protocol, stop and continue, a killed worker, NaN, data that does not fit, and `netbuilder
train` end to end. Small models, few epochs; the worker runs are the slow part (TensorFlow
starts in each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from training_helpers import chain_project, digits_cnn, digits_mlp, two_class_images

from netbuilder.core.project import load, save
from netbuilder.runtime.training import callbacks
from netbuilder.runtime.training import engine as training
from netbuilder.runtime.training import settings as training_settings
from netbuilder.runtime.training.engine import run_job
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings
from netbuilder.runtime.workers import client as engine_client
from netbuilder.runtime.workers.client import TrainingProcess
from netbuilder.runtime.workers.protocol import decode_images

ROOT = Path(__file__).resolve().parents[2]


def run_here(job):
    """Run a job in this process; returns its events."""
    events = []
    code = run_job(job, events.append, threading.Event())
    assert code == (0 if events[-1]["event"] == "finished" else 1)
    return events


def project_job(project, tmp_path, data="digits", **extra):
    path = tmp_path / f"{project.name}.nbproj"
    save(project, path)
    return {"project": str(path), "data": data, "output_dir": str(tmp_path / "out"), **extra}


def of(events, kind):
    return [e for e in events if e["event"] == kind]


# --- settings --------------------------------------------------------------------------------


def test_settings_defaults_round_trip_through_the_project_file(tmp_path):
    project = digits_mlp()
    settings = training_settings.load_settings(project)
    assert settings == TrainingSettings()
    assert (settings.optimizer, settings.batch_size, settings.checkpoint) == ("adam", 32, True)
    settings = settings.updated({"optimizer": "SGD", "learning_rate": 0.05, "schedule": "cosine",
                                 "early_stopping": True, "patience": 2, "clipnorm": 1.0})
    assert settings.optimizer == "sgd"
    training_settings.store_settings(project, settings)
    save(project, tmp_path / "p.nbproj")
    again = training_settings.load_settings(load(tmp_path / "p.nbproj"))
    assert again == settings


@pytest.mark.parametrize("changes, message", [
    ({"optimizer": "adagrad"}, "optimizer must be one of sgd, rmsprop, adam, adamw"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"epochs": 2.5}, "epochs must be a whole number"),
    ({"learning_rate": 0}, "learning_rate must be above 0"),
    ({"schedule": "exp"}, "schedule must be one of"),
    ({"early_stopping": "yes"}, "early_stopping must be true or false"),
    ({"colour": 1}, "unknown training setting 'colour'"),
    ({"output_losses": {"a": {"loss": "mse", "weight": -1}}}, "weight must be a number >= 0"),
    ({"metrics": "accuracy"}, "metrics must be a list"),
])
def test_bad_settings(changes, message):
    with pytest.raises(SettingsError, match=message):
        TrainingSettings().updated(changes)


@pytest.mark.parametrize("name, cls", [("sgd", "SGD"), ("rmsprop", "RMSprop"), ("adam", "Adam"),
                                       ("adamw", "AdamW")])
def test_optimizers(name, cls):
    settings = TrainingSettings(optimizer=name, learning_rate=0.01, clipnorm=2.0)
    opt = training.make_optimizer(settings, steps_per_epoch=10, total_epochs=3)
    assert type(opt).__name__ == cls and opt.clipnorm == 2.0
    if name == "sgd":
        assert opt.momentum == 0.9
    cosine = training.make_optimizer(TrainingSettings(schedule="cosine"), 10, 3)
    assert type(cosine.learning_rate).__name__ != "float"


# --- in-process runs -------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["step", "cosine", "plateau"])
def test_schedules_change_the_learning_rate(tmp_path, schedule):
    settings = {"epochs": 3, "schedule": schedule, "step_epochs": 1, "step_factor": 0.5,
                "plateau_patience": 0, "plateau_factor": 0.5, "learning_rate": 0.01,
                "optimizer": "sgd", "checkpoint": False}
    if schedule == "plateau":
        settings.update(learning_rate=1e-8, min_learning_rate=1e-12)   # val_loss stalls
    events = run_here(project_job(digits_mlp(), tmp_path, settings=settings))
    rates = of(events, "finished")[0]["history"]["learning_rate"]
    assert len(rates) == 3 and rates[-1] < rates[0]


def test_callbacks_checkpoint_early_stopping_and_logs(tmp_path):
    settings = {"epochs": 40, "early_stopping": True, "patience": 1, "min_delta": 0.5,
                "early_stopping_monitor": "val_accuracy", "checkpoint_monitor": "val_accuracy",
                "csv_log": True, "tensorboard": callbacks.tensorboard_available(),
                "batch_size": 64}
    events = run_here(project_job(digits_mlp(), tmp_path, settings=settings))
    done = of(events, "finished")[0]
    assert done["reason"] == "early_stopping" and done["epochs_run"] < 40
    out = tmp_path / "out"
    assert (out / "training.csv").read_text().startswith("epoch,")
    assert (out / "tensorboard").is_dir() == callbacks.tensorboard_available()
    checkpoints = of(events, "checkpoint")
    assert checkpoints and checkpoints[0]["monitor"] == "val_accuracy"
    # the best epoch is on disk by the end, however few writes the throttle allowed
    assert checkpoints[-1]["value"] == pytest.approx(max(done["history"]["val_accuracy"]))
    best = keras.models.load_model(out / "best.keras")
    final = keras.models.load_model(out / "model.keras")
    assert [layer.name for layer in best.layers] == [layer.name for layer in final.layers] == [
        "input_layer", "dense", "dense_1"]
    assert best.count_params() == 2410
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["early_stopping"] is True and run["result"]["reason"] == (
        "early_stopping")
    assert run["project"]["graph"]["nodes"][0]["type"] == "Input"
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.skipif(callbacks.tensorboard_available(), reason="tensorboard is installed")
def test_tensorboard_logs_without_tensorboard(tmp_path):
    events = run_here(project_job(digits_mlp(), tmp_path, settings={"tensorboard": True}))
    assert events[-1]["kind"] == "settings"
    assert "pip install tensorboard" in events[-1]["message"]


def test_events_describe_the_run(tmp_path):
    events = run_here(project_job(digits_mlp(), tmp_path, settings={"epochs": 2}))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "status" and kinds[-1] == "finished"
    statuses = [e["message"] for e in of(events, "status")]
    assert statuses[:3] == ["reading the project", "loading TensorFlow", "building the model"]
    assert of(events, "model")[0]["params"] == 2410
    info = of(events, "data")[0]
    assert info["sizes"] == {"train": 1438, "validation": 359}
    assert any("rows of 64" in n or "flattened" in n for n in info["notes"])
    assert info["losses"]["dense_1"]["loss"] == "sparse_categorical_crossentropy"
    epochs = of(events, "epoch")
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert set(epochs[0]["logs"]) >= {"loss", "accuracy", "val_loss", "val_accuracy",
                                      "learning_rate"}
    assert epochs[-1]["progress"] == 1.0
    batches = of(events, "batch")
    assert batches and all(0 < b["progress"] <= 1 for b in batches)
    assert batches[-1]["batch"] == batches[-1]["steps"] == 45
    done = events[-1]
    assert set(done["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert done["samples_per_s"] > 0 and done["evaluation"]["split"] == "validation"
    matrix = np.array(done["evaluation"]["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 359
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert history == done["history"]


def test_the_final_validation_metrics_are_those_keras_evaluates_on_the_saved_model(tmp_path):
    # a completed run reports the last epoch's validation metrics instead of evaluating the
    # split again: Keras' evaluate of the written model is the oracle
    from netbuilder.runtime import data as data_mod

    settings = {"epochs": 2, "checkpoint": False}
    events = run_here(project_job(digits_mlp(), tmp_path, settings=settings))
    ev = of(events, "evaluation")[0]
    assert ev["split"] == "validation"
    assert ev["metrics"] == {k[4:]: v[-1] for k, v in events[-1]["history"].items()
                             if k.startswith("val_")}
    model = keras.models.load_model(tmp_path / "out" / "model.keras")
    val = data_mod.load("digits").validation
    again = model.evaluate(val.x.reshape(len(val.x), -1), val.y, verbose=0, return_dict=True)
    assert set(again) == set(ev["metrics"])
    for name, value in again.items():
        assert ev["metrics"][name] == pytest.approx(value, rel=1e-4, abs=1e-5)


def test_the_last_epochs_validation_metrics_are_used_only_when_all_are_numbers():
    hist = {"loss": [0.5, 0.4], "val_loss": [0.3, None], "val_accuracy": [0.9, 0.8]}
    assert training._last_validation(hist) is None
    assert training._last_validation({"loss": [0.5], "accuracy": [0.7]}) is None
    assert training._last_validation({"val_loss": [0.3, 0.2], "val_out_mae": [1.0, 2.0]}) == {
        "loss": 0.2, "out_mae": 2.0}


def test_misclassified_samples_come_with_images_labels_and_confidence(tmp_path):
    from netbuilder.runtime import data as data_mod

    settings = {"epochs": 1, "learning_rate": 3e-4, "batch_size": 64, "checkpoint": False}
    events = run_here(project_job(digits_cnn(), tmp_path, settings=settings))
    ev = of(events, "evaluation")[0]
    assert ev == {k: v for k, v in events[-1]["evaluation"].items()} | {"event": "evaluation"}
    idx = ev["misclassified"]
    assert 0 < len(idx) <= 100 and ev["misclassified_count"] >= len(idx)
    assert len(ev["misclassified_true"]) == len(ev["misclassified_pred"]) == len(
        ev["misclassified_confidence"]) == len(idx)
    # Keras and the data as the data module loads it are the oracles
    val = data_mod.load("digits").validation
    images = decode_images(ev["misclassified_images"])
    assert images.dtype == np.uint8 and images.shape == (len(idx), 8, 8, 1)
    np.testing.assert_array_equal(images[..., 0], data_mod.to_uint8(val.x[idx], "0-1"))
    assert ev["misclassified_true"] == val.y[idx].tolist()
    model = keras.models.load_model(tmp_path / "out" / "model.keras")
    probs = model.predict(val.x[idx][..., None], verbose=0)
    assert ev["misclassified_pred"] == probs.argmax(axis=1).tolist()
    np.testing.assert_allclose(ev["misclassified_confidence"], probs.max(axis=1), atol=2e-4)
    assert all(t != p for t, p in zip(ev["misclassified_true"], ev["misclassified_pred"]))
    matrix = np.array(ev["confusion_matrix"])
    assert matrix.sum() - np.trace(matrix) == ev["misclassified_count"]


def test_misclassified_images_of_flattened_and_tabular_inputs(tmp_path):
    from netbuilder.runtime import data as data_mod

    settings = {"epochs": 1, "learning_rate": 1e-4, "checkpoint": False}
    ev = of(run_here(project_job(digits_mlp(), tmp_path, settings=settings)), "evaluation")[0]
    images = decode_images(ev["misclassified_images"])      # the 8x8 images loaded
    val = data_mod.load("digits").validation
    np.testing.assert_array_equal(images[..., 0],
                                  data_mod.to_uint8(val.x[ev["misclassified"]], "0-1"))
    rng = np.random.default_rng(0)
    rows = ["a,b,c,label"] + [f"{u:.3f},{v:.3f},{w:.3f},{int(u + v > 1)}"
                              for u, v, w in rng.random((120, 3))]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    tabular = chain_project(("Input", {"shape": [3]}),
                            ("Dense", {"units": 2, "activation": "softmax"}))
    ev = of(run_here(project_job(tabular, tmp_path, data=str(tmp_path / "t.csv"),
                                 settings={"epochs": 1, "checkpoint": False})), "evaluation")[0]
    assert "misclassified_images" not in ev
    assert len(ev["misclassified_true"]) == len(ev["misclassified"]) == len(
        ev["misclassified_confidence"])
    assert all(0.5 <= c <= 1 for c in ev["misclassified_confidence"])


def test_latest_weights_are_written_after_every_epoch(tmp_path, monkeypatch):
    writes = []
    real = callbacks.write_atomically

    def spy(path, write, **kwargs):
        writes.append(Path(path).name)
        return real(path, write, **kwargs)

    monkeypatch.setattr(callbacks, "write_atomically", spy)
    job = project_job(digits_cnn(), tmp_path, settings={"epochs": 3, "checkpoint": False},
                      latest_weights=True)
    events = run_here(job)
    kinds = [e["event"] for e in events]
    weights = of(events, "weights")
    path = tmp_path / "out" / "latest.weights.h5"
    assert [w["epoch"] for w in weights] == [1, 2, 3]
    assert all(w["path"] == str(path) for w in weights)
    for w in weights:        # each right after its epoch event
        i = events.index(w)
        assert kinds[i - 1] == "epoch" and events[i - 1]["epoch"] == w["epoch"]
    assert writes.count("latest.weights.h5") == 3            # through the atomic helper
    model = keras.models.load_model(tmp_path / "out" / "model.keras")
    fresh = keras.models.clone_model(model)
    fresh.load_weights(path)          # the last epoch's weights: those of the final model
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    (tmp_path / "off").mkdir()
    off = run_here(project_job(digits_mlp(), tmp_path / "off", settings={"epochs": 1}))
    assert not of(off, "weights") and not (tmp_path / "off" / "out" / "latest.weights.h5"
                                          ).exists()


def test_batch_events_are_throttled_and_the_interval_can_be_chosen(tmp_path):
    every = run_here(project_job(digits_mlp(), tmp_path, settings={"epochs": 1},
                                 batch_interval=0))
    numbers = [b["batch"] for b in of(every, "batch")]
    # Keras runs the batch hooks on helper threads: one may overtake another (rarely), and
    # then the older one is not sent, so that the numbers only ever go up
    assert len(numbers) >= 40 and numbers == sorted(set(numbers)) and numbers[-1] == 45
    assert callbacks.BATCH_INTERVAL == 0.25                  # at most four lines a second
    slow = run_here(project_job(digits_mlp(), tmp_path, settings={"epochs": 2},
                                batch_interval=3600))
    batches = [(b["epoch"], b["batch"]) for b in of(slow, "batch")]
    assert len(batches) == 3 and batches[0][0] == 1 and batches[1:] == [(1, 45), (2, 45)]
    bad = run_here(project_job(digits_mlp(), tmp_path, batch_interval="often"))
    assert bad[-1]["kind"] == "settings" and "batch_interval" in bad[-1]["message"]


def test_preview_sends_samples_and_augmented_images(tmp_path):
    project = chain_project(("Input", {"shape": [16, 16, 3]}), ("Flatten", {}),
                            ("Dense", {"units": 3, "activation": "softmax"}))
    data = {"source": "shapes", "options": {"samples": 30, "augmentation": {"flip": True,
                                                                           "rotation": 0.1}}}
    events = run_here(project_job(project, tmp_path, data=data, action="preview"))
    info = of(events, "data")[0]
    samples = decode_images(info["samples"])
    assert samples.shape[1:] == (16, 16, 3) and len(info["sample_labels"]) == len(samples)
    assert decode_images(info["augmented"]).shape == (9, 16, 16, 3)
    assert events[-1] == {"event": "finished", "reason": "preview", "history": {}}


def test_preview_shows_the_data_as_loaded_when_the_model_cannot_be_built(tmp_path):
    project = chain_project(("Input", {"shape": [8]}), ("Conv2D", {"filters": 4,
                                                                  "kernel_size": 3}))
    data = {"source": "shapes", "options": {"samples": 30, "image_size": [20, 20],
                                            "augmentation": {"brightness": 0.5}}}
    events = run_here(project_job(project, tmp_path, data=data, action="preview"))
    info = of(events, "data")[0]
    assert info["fitted"] is False and "input_shape" not in info and "losses" not in info
    assert info["notes"][0].startswith("shown as loaded, not fitted to the model: it cannot "
                                       "be built yet")
    samples = decode_images(info["samples"])
    assert samples.shape[1:] == (20, 20, 3)
    augmented = decode_images(info["augmented"])
    assert augmented.shape == (9, 20, 20, 3)
    assert not (augmented == samples[0]).all(axis=(1, 2, 3)).all()  # brightness changed
    assert events[-1] == {"event": "finished", "reason": "preview", "history": {}}
    trained = run_here(project_job(project, tmp_path, data=data))
    assert trained[-1]["event"] == "error" and trained[-1]["kind"] == "build"


def test_two_outputs_with_a_loss_and_weight_each(tmp_path):
    from training_helpers import two_heads

    x, y = two_class_images(40)
    np.savez(tmp_path / "d.npz", x=x, y_cls=y, y_box=np.random.default_rng(0).random((40, 4)))
    settings = {"epochs": 2, "output_losses": {"box": {"loss": "huber", "weight": 0.5}}}
    events = run_here(project_job(two_heads(), tmp_path,
                                  data=str(tmp_path / "d.npz"), settings=settings))
    history = events[-1]["history"]
    assert {"cls_accuracy", "box_mae", "val_cls_loss", "val_box_loss"} <= set(history)
    assert of(events, "data")[0]["losses"]["box"]["loss"] == "huber"


def test_nan_loss_stops_with_a_message(tmp_path):
    settings = {"optimizer": "sgd", "learning_rate": 1e12, "momentum": 0.0, "epochs": 5}
    events = run_here(project_job(digits_mlp(), tmp_path, settings=settings))
    error = events[-1]
    assert error["event"] == "error" and error["kind"] == "nan"
    assert "the loss became NaN at epoch 1" in error["message"]
    assert "Lower the learning rate" in error["message"]
    assert not (tmp_path / "out" / "model.keras").exists()    # NaN weights are not kept
    assert len(of(events, "epoch")) == 1


def test_an_example_project_on_generated_shapes(tmp_path):
    project = load(ROOT / "resources" / "examples" / "fashion_mnist_cnn.nbproj")
    data = {"source": "shapes", "options": {"samples": 200}}
    events = run_here(project_job(project, tmp_path, data=data,
                                  settings={"epochs": 1, "checkpoint_monitor": "val_auc"}))
    info = of(events, "data")[0]
    assert len(info["class_names"]) == 10            # as many shapes as the output has units
    assert any("RGB converted to grayscale" in n for n in info["notes"])
    assert any("val_auc" in w["message"] for w in of(events, "warning"))
    assert events[-1]["event"] == "finished"


def test_running_out_of_memory_is_reported(tmp_path, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 40.0 GiB")

    monkeypatch.setattr(keras.Model, "fit", no_memory)
    events = run_here(project_job(digits_mlp(), tmp_path, settings={"batch_size": 4096}))
    assert events[-1]["kind"] == "memory"
    assert "ran out of memory while training with batch size 4096" in events[-1]["message"]


def test_data_that_does_not_fit_the_model(tmp_path):
    project = chain_project(("Input", {"shape": [5]}),
                            ("Dense", {"units": 10, "activation": "softmax"}))
    events = run_here(project_job(project, tmp_path))
    error = events[-1]
    assert error["event"] == "error" and error["kind"] == "data"
    assert "(8, 8)" in error["message"] and "(5,)" in error["message"]


def test_a_graph_that_cannot_be_built(tmp_path):
    project = chain_project(("Input", {"shape": [784]}), ("Conv2D", {"filters": 4,
                                                                     "kernel_size": [3, 3]}))
    events = run_here(project_job(project, tmp_path))
    assert events[-1]["kind"] == "build"
    assert events[-1]["message"].startswith("the graph cannot be built: conv2d:")


@pytest.mark.parametrize("job, kind, message", [
    ({"project": "/no/such.nbproj", "data": "digits"}, "project", "no such file"),
    ({"data": "digits", "settings": {"batch_size": -1}}, "settings", "batch_size"),
    ({"data": "/no/such/folder"}, "data", "no such data source"),
    ({"data": {"source": "digits", "options": {"zoom": 1}}}, "data", "unknown data option"),
    ({"data": "digits", "initial_weights": "/no/w.keras"}, "weights", "no weights file"),
])
def test_job_errors(tmp_path, job, kind, message):
    full = project_job(digits_mlp(), tmp_path)
    full.update(job)
    events = run_here(full)
    assert events[-1]["event"] == "error" and events[-1]["kind"] == kind
    assert message in events[-1]["message"]


def test_weights_that_do_not_fit(tmp_path):
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.save(tmp_path / "other.keras")
    events = run_here(project_job(digits_mlp(), tmp_path,
                                  initial_weights=str(tmp_path / "other.keras")))
    assert events[-1]["kind"] == "weights" and "don't fit this model" in events[-1]["message"]


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    target = tmp_path / "best.keras"
    callbacks.atomic_save_model(model, target)
    before = target.read_bytes()

    def crash(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(type(model), "save", crash)
    with pytest.raises(OSError):
        callbacks.atomic_save_model(model, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]


# --- the worker process ----------------------------------------------------------------------


def worker_run(job, on_event=None, timeout=240):
    events = []
    with TrainingProcess(job) as proc:
        deadline = time.monotonic() + timeout
        for event in proc.events(timeout=timeout):
            events.append(event)
            if on_event is not None:
                on_event(proc, event)
            assert time.monotonic() < deadline
    return events


def test_worker_digits_cnn_learns_stops_and_continues(tmp_path):
    project = digits_cnn(settings={"training": {"learning_rate": 0.003}})
    first = tmp_path / "first"
    job = project_job(project, tmp_path, settings={"epochs": 5}, output_dir=str(first))
    events = worker_run(job)
    done = events[-1]
    assert done["event"] == "finished", done
    assert done["reason"] == "completed" and done["epochs_run"] == 5
    assert max(done["history"]["val_accuracy"]) >= 0.9
    # batch messages are throttled: at most about ten a second
    batches = of(events, "batch")
    span = max(done["train_s"], 0.1)
    assert len(batches) <= 10 * span + 5 * 2 + 3
    assert (first / "history.json").exists() and (first / "model.keras").exists()

    # stop: a "stop" line ends training after the current batch and keeps the weights
    stopped_dir = tmp_path / "stopped"

    def stop_after_first_epoch(proc, event):
        if event["event"] == "epoch" and event["epoch"] == 1:
            proc.stop()

    job = project_job(project, tmp_path, settings={"epochs": 200, "batch_size": 16},
                      output_dir=str(stopped_dir), initial_weights=str(first / "model.keras"))
    events = worker_run(job, stop_after_first_epoch)
    done = events[-1]
    assert done["event"] == "finished" and done["reason"] == "stopped"
    assert 1 <= done["epochs_run"] <= 3
    stopped_acc = done["history"]["val_accuracy"][-1]
    assert stopped_acc >= 0.85          # it started from the first run's weights

    # continue from the stopped run's weights: with a tiny learning rate nothing changes
    job = project_job(project, tmp_path, settings={"epochs": 1, "learning_rate": 1e-12,
                                                   "optimizer": "sgd"},
                      output_dir=str(tmp_path / "continued"),
                      initial_weights=str(stopped_dir / "model.keras"), initial_epoch=3)
    events = worker_run(job)
    done = events[-1]
    assert done["event"] == "finished" and done["reason"] == "completed"
    assert abs(done["history"]["val_accuracy"][0] - stopped_acc) < 0.01
    assert of(events, "epoch")[0]["epoch"] == 4


def test_a_killed_worker_is_reported_and_its_checkpoint_survives(tmp_path):
    job = project_job(digits_mlp(), tmp_path, settings={"epochs": 500, "batch_size": 8})

    def kill_after_a_checkpoint(proc, event):
        if event["event"] == "checkpoint":
            os.kill(proc.pid, signal.SIGKILL)

    events = worker_run(job, kill_after_a_checkpoint)
    error = events[-1]
    assert error["event"] == "error" and error["kind"] == "crashed"
    assert error["message"].startswith(
        "the training process ended unexpectedly (killed by signal 9)")
    best = keras.models.load_model(tmp_path / "out" / "best.keras")
    assert best.count_params() == 2410
    finished = [e for e in events if e["event"] == "epoch"]
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert finished and len(history["loss"]) == len(finished)   # written as epochs end


def test_a_crashing_worker_command_is_reported(tmp_path):
    script = ("import sys; sys.stdin.readline(); "
              "print('{\"event\": \"status\", \"message\": \"starting\"}', flush=True); "
              "print('something broke', file=sys.stderr); sys.exit(3)")
    events = engine_client.run({"x": 1}, command=[sys.executable, "-c", script])
    assert [e["event"] for e in events] == ["status", "error"]
    assert events[-1]["message"] == ("the training process ended unexpectedly (exit status 3): "
                                     "something broke")


def test_worker_rejects_a_bad_job_line():
    result = subprocess.run([sys.executable, "-m", "netbuilder.runtime.workers.training"],
                            input="this is not json\n", capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=engine_client.worker_environment())
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1
    assert lines[-1]["event"] == "error" and "the job is not valid" in lines[-1]["message"]


# --- the command line ------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")
def test_the_worker_has_its_own_process_group_in_the_callers_session():
    """Ctrl-C in a terminal goes to the foreground process group: the caller's, not the
    worker's (the caller then asks it to stop). Not a new session: Linux would schedule it as a
    group of its own (autogroup), which trained measurably slower."""
    sleeper = [sys.executable, "-c", "import sys, time; sys.stdin.readline(); time.sleep(60)"]
    proc = TrainingProcess({}, command=sleeper).start()
    try:
        assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
        assert os.getsid(proc.pid) == os.getsid(0)
    finally:
        proc.kill()
        proc.close()


# The command runs where TensorFlow and Keras cannot load: only its worker process imports them.
BLOCKER = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "PySide6", "sklearn"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Blocker())
from netbuilder.cli import main
sys.exit(main(sys.argv[1:]))
"""


def netbuilder(*args, cwd):
    return subprocess.run([sys.executable, "-c", BLOCKER, *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=engine_client.worker_environment())


def test_cli_train_end_to_end(tmp_path):
    project = digits_cnn()
    save(project, tmp_path / "cnn.nbproj")
    result = netbuilder("train", "cnn.nbproj", "--data", "digits", "--epochs", "2",
                        "--batch-size", "64", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Epoch 1/2" in result.stdout and "Epoch 2/2" in result.stdout
    assert "val_accuracy" in result.stdout and "Wrote run/history.json" in result.stdout
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert all(len(v) == 2 for v in history.values())
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.count_params() == 8714
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--data", "/no/such/data"], "no such data source: /no/such/data"),
    (["--data", "digits", "--epochs", "0"], "epochs must be at least 1"),
    (["--data", "digits", "--data-option", "nonsense"], "--data-option needs KEY=VALUE"),
])
def test_cli_train_errors_before_starting(tmp_path, args, message):
    save(digits_mlp(), tmp_path / "p.nbproj")
    result = netbuilder("train", "p.nbproj", *args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_train_error_from_the_worker(tmp_path):
    (tmp_path / "pets" / "cats").mkdir(parents=True)
    (tmp_path / "pets" / "dogs").mkdir(parents=True)
    save(digits_mlp(), tmp_path / "p.nbproj")
    result = netbuilder("train", "p.nbproj", "--data", "pets", cwd=tmp_path)
    assert result.returncode == 1
    assert "has no images" in result.stderr and "Traceback" not in result.stderr
    missing = netbuilder("train", "nothing.nbproj", "--data", "digits", cwd=tmp_path)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_the_worker_writes_the_history_as_each_epoch_ends(tmp_path):
    from netbuilder.runtime.workers.training import EpochHistory

    sent = []
    history = EpochHistory(str(tmp_path), sent.append)
    history({"event": "batch", "logs": {"loss": 3.0}})
    assert not (tmp_path / "history.json").exists()
    history({"event": "epoch", "epoch": 1, "logs": {"loss": 2.0, "accuracy": 0.5}})
    history({"event": "epoch", "epoch": 2, "logs": {"loss": float("nan"), "val_loss": 1.5}})
    assert json.loads((tmp_path / "history.json").read_text()) == {
        "loss": [2.0, None], "accuracy": [0.5, None], "val_loss": [None, 1.5]}
    assert [e["event"] for e in sent] == ["batch", "epoch", "epoch"]
    EpochHistory(None, sent.append)({"event": "epoch", "logs": {"loss": 1.0}})   # no folder


def test_tensorflow_chatter_is_never_the_reason_and_memory_trouble_is_recognised():
    chatter = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1717000000.123456   42 cuda_executor.cc:1015] successful NUMA node read",
        "W0000 00:00:12.5   42 gpu_device.cc:2344] Cannot dlopen some GPU libraries.",
        "2024-05-01 12:00:00.123456: I tensorflow/core/platform/cpu_feature_guard.cc:210] "
        "This TensorFlow binary is optimized to use available CPU instructions",
    ]
    assert engine_client.last_words(chatter) == ""
    assert engine_client.last_words(["something broke"] + chatter) == "something broke"
    assert engine_client.out_of_memory(-signal.SIGKILL, [])
    assert engine_client.out_of_memory(1, ["ResourceExhaustedError: OOM when allocating"])
    assert not engine_client.out_of_memory(3, chatter)
