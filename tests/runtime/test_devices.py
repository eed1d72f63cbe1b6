"""Training on several devices (issue 15): ``--devices auto|all|gpu:0,1|cpu:N``. The CPU split
into two logical devices (``cpu:2``) runs the MirroredStrategy path on any machine; each
multi-device run is its own process, since TensorFlow fixes its devices once per process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from training_helpers import chain_project, digits_cnn, digits_mlp, two_class_images, two_heads

from netbuilder.core.project import save
from netbuilder.runtime.devices import DeviceError, DeviceRequest, Placement, parse_devices
from netbuilder.runtime.training.engine import run_job
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings
from netbuilder.runtime.workers import client as engine_client

ROOT = Path(__file__).resolve().parents[2]


# --- the request -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, request_", [
    ("auto", DeviceRequest("auto")), (" ALL ", DeviceRequest("all")),
    ("gpu:0", DeviceRequest("gpu", gpus=(0,))), ("gpu:0, 1", DeviceRequest("gpu", gpus=(0, 1))),
    ("cpu:2", DeviceRequest("cpu", cpus=2)), ("cpu:1", DeviceRequest("cpu", cpus=1)),
])
def test_parse_devices(text, request_):
    assert parse_devices(text) == request_
    assert parse_devices(request_.text) == request_


@pytest.mark.parametrize("text, message", [
    ("cpu:0", "cpu:N needs at least one device"),
    ("cpu:x", "cpu:N needs a number of devices"),
    ("gpu:", "gpu: needs GPU numbers"),
    ("gpu:1,1", "names a GPU twice"),
    ("tpu", "devices must be auto, all, gpu:0,1"),
    (2, "devices must be auto, all"),
])
def test_bad_device_requests(text, message):
    with pytest.raises(DeviceError, match=message):
        parse_devices(text)
    with pytest.raises(SettingsError, match=message):
        TrainingSettings.from_dict({"devices": text})


def test_settings_keep_the_devices_as_written():
    assert TrainingSettings().devices == "auto"
    assert TrainingSettings.from_dict({"devices": "GPU:0,1"}).devices == "gpu:0,1"


def test_the_placement_says_where_and_how_big_the_batch_is():
    one = Placement(DeviceRequest("auto"), ["/device:CPU:0"])
    assert one.describe(32) == "on 1 device (CPU:0), batch 32"
    assert one.record(32)["strategy"] == "default" and one.replicas == 1
    two = Placement(DeviceRequest("cpu", cpus=2), ["/device:CPU:0", "/device:CPU:1"],
                    strategy=type("MirroredStrategy", (), {})())
    assert two.describe(64) == "on 2 devices (MirroredStrategy), global batch 64 (32 per device)"
    assert two.describe(5) == "on 2 devices (MirroredStrategy), global batch 5 (2-3 per device)"
    assert two.record(64) == {"requested": "cpu:2", "strategy": "MirroredStrategy",
                              "replicas": 2, "devices": ["/device:CPU:0", "/device:CPU:1"],
                              "global_batch": 64}
    with pytest.raises(DeviceError, match="batch size 1 is smaller than the 2 devices"):
        two.check_batch(1)


# --- cpu:2 in a process of its own -----------------------------------------------------------

# runs the jobs of a JSON file one after the other in one process (TensorFlow starts once) and
# prints their events, without the bulky ones
RUN_JOBS = """
import json, sys, threading
from netbuilder.runtime.training.engine import run_job
for job in json.load(open(sys.argv[1])):
    events = []
    run_job(job, events.append, threading.Event())
    for e in events:
        e.pop("samples", None); e.pop("misclassified_images", None)
        if e["event"] == "evaluation": e.clear(); e["event"] = "evaluation"
    print(json.dumps(events), flush=True)
"""


def run_elsewhere(jobs, tmp_path):
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(jobs))
    result = subprocess.run([sys.executable, "-c", RUN_JOBS, str(path)], capture_output=True,
                            text=True, timeout=600, env=engine_client.worker_environment())
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def of(events, kind):
    return [e for e in events if e["event"] == kind]


@pytest.mark.slow
def test_cpu2_trains_like_one_device_and_keeps_every_feature(tmp_path):
    """On cpu:2: the same losses as on one device (the batch is the global batch), and
    checkpoints, continuing from weights, two-stage fine-tuning and two outputs all work."""
    settings = {"epochs": 2, "batch_size": 64, "seed": 3, "shuffle": False}
    save(digits_mlp(settings={"training": settings}), tmp_path / "mlp.nbproj")
    save(digits_cnn(settings={"training": {"epochs": 1, "batch_size": 32,
                                           "fine_tune_from": "dense", "fine_tune_epochs": 1}}),
         tmp_path / "cnn.nbproj")
    save(two_heads(), tmp_path / "heads.nbproj")
    x, y = two_class_images(40)
    np.savez(tmp_path / "d.npz", x=x, y_cls=y, y_box=np.random.default_rng(0).random((40, 4)))
    cpu2 = {"devices": "cpu:2"}
    jobs = [
        {"project": str(tmp_path / "mlp.nbproj"), "data": "digits", "settings": cpu2,
         "output_dir": str(tmp_path / "mlp2"), "latest_weights": True},
        {"project": str(tmp_path / "mlp.nbproj"), "data": "digits",
         "settings": {**cpu2, "epochs": 1}, "output_dir": str(tmp_path / "more"),
         "initial_weights": str(tmp_path / "mlp2" / "model.keras"), "initial_epoch": 2},
        {"project": str(tmp_path / "cnn.nbproj"), "data": "digits", "settings": cpu2,
         "output_dir": str(tmp_path / "cnn")},
        {"project": str(tmp_path / "heads.nbproj"), "data": str(tmp_path / "d.npz"),
         "settings": {**cpu2, "epochs": 1, "batch_size": 8,
                      "output_losses": {"box": {"loss": "huber", "weight": 0.5}}},
         "output_dir": str(tmp_path / "heads")},
    ]
    first, more, cnn, heads = run_elsewhere(jobs, tmp_path)
    for events in (first, more, cnn, heads):
        assert events[-1]["event"] == "finished", events[-1]
        begin = of(events, "train_begin")[0]
        assert (begin["strategy"], begin["replicas"]) == ("MirroredStrategy", 2)

    # the oracle: the same job on this process's one CPU device
    one: list[dict] = []
    run_job({**jobs[0], "settings": {}, "output_dir": str(tmp_path / "mlp1")}, one.append,
            threading.Event())
    assert of(one, "train_begin")[0]["replicas"] == 1
    np.testing.assert_allclose(first[-1]["history"]["loss"], one[-1]["history"]["loss"],
                               rtol=1e-4)
    assert "training on 2 devices (MirroredStrategy), global batch 64 (32 per device)" in [
        e["message"] for e in of(first, "status")]
    run = json.loads((tmp_path / "mlp2" / "run.json").read_text())
    assert run["devices"]["strategy"] == "MirroredStrategy" and run["devices"]["replicas"] == 2
    assert run["settings"]["devices"] == "cpu:2"
    out = tmp_path / "mlp2"
    assert (out / "best.keras").exists() and (out / "latest.weights.h5").exists()
    assert len(of(first, "weights")) == 2 and of(first, "checkpoint")
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 2
    trained = keras.models.load_model(out / "model.keras")
    assert trained.count_params() == keras.models.load_model(out / "best.keras").count_params()
    assert len(of(first, "batch")) >= 2          # live progress

    # continued from the first run's weights: it starts where that run ended
    assert [e["epoch"] for e in of(more, "epoch")] == [3]
    assert of(more, "epoch")[0]["logs"]["loss"] < first[-1]["history"]["loss"][0]

    stage = of(cnn, "stage")[0]
    assert stage["stage"] == 2 and [e["epoch"] for e in of(cnn, "epoch")] == [1, 2]
    assert {"cls_accuracy", "box_mae", "val_box_loss"} <= set(heads[-1]["history"])


def netbuilder(*args, cwd):
    return subprocess.run([sys.executable, "-m", "netbuilder", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=engine_client.worker_environment())


@pytest.mark.slow
def test_cli_says_where_it_trains(tmp_path):
    save(chain_project(("Input", {"shape": [64]}),
                       ("Dense", {"units": 10, "activation": "softmax"}), name="tiny"),
         tmp_path / "p.nbproj")
    result = netbuilder("train", "p.nbproj", "--data", "digits", "--epochs", "1",
                        "--devices", "cpu:2", "--batch-size", "64", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  training on 2 devices (MirroredStrategy), global batch 64 (32 per device)\n" in (
        result.stdout)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["devices"]["replicas"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--devices", "cpu:0"], "cpu:N needs at least one device"),
    (["--devices", "gpu:3"], "there is no gpu:3; this machine has"),
    (["--devices", "cpu:2", "--batch-size", "1"],
     "batch size 1 is smaller than the 2 devices it is split among: use --batch-size 2"),
])
def test_devices_that_cannot_be_used(tmp_path, args, message):
    save(digits_mlp(), tmp_path / "p.nbproj")
    result = netbuilder("train", "p.nbproj", "--data", "digits", "--out", "run", *args,
                        cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "run").exists()          # nothing written


@pytest.mark.slow
def test_exported_training_code_takes_devices_too(tmp_path):
    from netbuilder.core.codegen import generate_code
    from netbuilder.runtime.training.code import with_training

    project = digits_mlp()
    script = tmp_path / "train.py"
    script.write_text(with_training(generate_code(project), project.graph,
                                    {"epochs": 1, "batch_size": 64, "devices": "cpu:2"},
                                    "digits"))
    env = {**engine_client.worker_environment(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "on 2 devices (MirroredStrategy), global batch 64" in run.stdout
    assert keras.models.load_model(tmp_path / "model.keras").count_params() == 2410
    bad = subprocess.run([sys.executable, str(script), "--devices", "cpu:0"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "expected auto, all, gpu:0,1 or cpu:N" in bad.stderr
