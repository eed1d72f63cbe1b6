"""`netbuilder export PROJECT --cluster -o job.py` (issue 15): a training job for several
processes on Keras 3's JAX backend with keras.distribution data parallelism, run here as two
processes on localhost with JAX's gloo CPU collectives: one stage, two-stage fine-tuning (Keras
is the oracle for the trainable count), and a process killed mid-training (the other says which
one it lost, exits non-zero and writes no model)."""

from __future__ import annotations

import ast
import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from training_helpers import digits_cnn, digits_mlp, two_heads

from netbuilder.core.codegen import generate_code
from netbuilder.core.graph import Graph
from netbuilder.core.project import Project, save
from netbuilder.runtime.cluster_job import cluster_job
from netbuilder.runtime.training.code import TrainingCodeError

ROOT = Path(__file__).resolve().parents[2]


def test_the_job_sets_its_backend_before_keras_and_refuses_what_it_cannot_do():
    project = digits_mlp()
    code = cluster_job(generate_code(project), project.graph, {"epochs": 1}, "digits")
    ast.parse(code)
    assert code.index('os.environ["KERAS_BACKEND"] = "jax"') < code.index("import keras")
    assert code.index("jax_cpu_collectives_implementation") < code.index("import keras")
    assert "DataParallel(devices=devices, auto_shard_dataset=False)" in code
    assert "unfreeze_from" not in code and "Stage 2" not in code
    with pytest.raises(TrainingCodeError, match="this model has 2 inputs; the data sources give "
                                                "one input array"):
        cluster_job(generate_code(two_inputs()), two_inputs().graph, {}, "digits")
    heads = two_heads()
    with pytest.raises(TrainingCodeError, match="one output; this one has 2"):
        cluster_job(generate_code(heads), heads.graph, {}, "digits")


FLIP = {"flip": "horizontal", "rotation": 0.1}


def test_the_augmented_job_feeds_augmented_batches_from_random_layers_of_its_own():
    project = digits_cnn()
    settings = {"epochs": 2, "fine_tune_from": "dense", "fine_tune_epochs": 1}
    code = cluster_job(generate_code(project), project.graph, settings, "digits",
                       augmentation=FLIP)
    ast.parse(code)
    black = pytest.importorskip("black")
    assert black.format_str(code, mode=black.Mode(line_length=99)) == code
    assert "class AugmentedBatches(keras.utils.PyDataset):" in code
    assert "keras.layers.RandomFlip(" in code and "keras.layers.RandomRotation(" in code
    train = code[code.index("def train(args, process, processes):"):]
    # the random layers are made before the distribution, seeded per process
    assert (train.index("keras.utils.set_random_seed(SEED + 1 + process)")
            < train.index("augment = augmentation()")
            < train.index("keras.utils.set_random_seed(SEED)")
            < train.index("keras.distribution.set_distribution("))
    assert "AugmentedBatches(x, y, BATCH_SIZE // processes, augment, SEED + process)" in train
    # both stages fit the augmented batches
    assert train.count("        train_batches,\n") == 2 and "        x,\n        y,\n" not in train
    plain = cluster_job(generate_code(project), project.graph, settings, "digits")
    assert "AugmentedBatches" not in plain and "augmentation()" not in plain
    mlp = digits_mlp()
    with pytest.raises(TrainingCodeError, match="augmentation works on images"):
        cluster_job(generate_code(mlp), mlp.graph, {}, "digits", augmentation=FLIP)


@pytest.mark.slow
def test_two_processes_train_on_the_projects_augmentation_in_step(tmp_path):
    """``export --cluster`` takes the augmentation saved in the project's data options: both
    processes report the same losses, and they differ from the same job without it."""
    pytest.importorskip("jax")
    training = {"epochs": 2, "batch_size": 64}
    project = digits_cnn(settings={"training": training, "data": {
        "source": "digits", "options": {"augmentation": FLIP}}})
    save(project, tmp_path / "cnn.nbproj")
    export = subprocess.run([sys.executable, "-m", "netbuilder", "export", "cnn.nbproj",
                             "--cluster", "-o", "job.py"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "job.py").write_text(
        cluster_job(generate_code(project), project.graph, training, "digits"))
    lines = {}
    for folder in (tmp_path, tmp_path / "plain"):
        port = free_port()
        procs = [start(folder / "job.py", folder, i, 2, port) for i in range(2)]
        outputs = [p.communicate(timeout=400) for p in procs]
        for p, (_, err) in zip(procs, outputs):
            assert p.returncode == 0, err[-3000:]
        assert epoch_lines(outputs[0][0]) == epoch_lines(outputs[1][0])
        assert (folder / "out" / "model.keras").is_file()
        lines[folder] = epoch_lines(outputs[0][0])
    assert len(lines[tmp_path]) == 2 and lines[tmp_path] != lines[tmp_path / "plain"]


def two_inputs() -> Project:
    graph = Graph()
    a, b = graph.add_node("Input", {"shape": [64]}), graph.add_node("Input", {"shape": [64]})
    add, out = graph.add_node("Add", {}), graph.add_node("Dense", {"units": 10,
                                                                  "activation": "softmax"})
    graph.connect(a.id, add.id)
    graph.connect(b.id, add.id)
    graph.connect(add.id, out.id)
    return Project(graph, name="two_inputs")


def test_the_fine_tuning_stage_is_the_exported_one_in_step_and_black_formatted():
    project = digits_mlp()
    settings = {"epochs": 2, "fine_tune_from": "dense_1", "fine_tune_epochs": 3,
                "schedule": "step", "csv_log": True}
    code = cluster_job(generate_code(project), project.graph, settings, "digits")
    ast.parse(code)
    black = pytest.importorskip("black")
    assert black.format_str(code, mode=black.Mode(line_length=99)) == code
    assert "def unfreeze_from(model, name):" in code and 'FINE_TUNE_FROM = "dense_1"' in code
    stage2 = code[code.index("    # stage 2: fine-tuning"):code.index('    model.save(')]
    assert "Stage 2: fine-tuning from {FINE_TUNE_FROM} at lr {rate:g}" in stage2
    assert "learning_rate=FINE_TUNE_LEARNING_RATE" in stage2  # no schedule in stage 2
    assert "not isinstance(c, keras.callbacks.LearningRateScheduler)" in stage2
    assert "initial_epoch=done" in stage2 and "batch_size=BATCH_SIZE // processes" in stage2
    assert "validation_data=(x_val, y_val)" in stage2 and "verbose=0" in stage2
    # the CSV log goes where the process writes (--out for process 0), one file for both stages
    assert 'CSVLogger(os.path.join(out, "training.csv"))' in code
    assert "callback.append = True" in stage2


def test_the_stderr_guard_puts_our_line_before_jax_report(tmp_path):
    """What JAX 0.10 wrote when process 0 lost process 1 (heartbeats) and when process 1 lost
    the coordinator: the guard in the job passes everything through, ours first."""
    project = digits_mlp()
    code = cluster_job(generate_code(project), project.graph, {}, "digits")
    guard = next(ast.literal_eval(node.value) for node in ast.parse(code).body
                 if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], "id", None) == "STDERR_GUARD")
    before = "[Gloo] Rank 0 is connected\nTraceback (most recent call last):\n"
    unhealthy = (
        "E1204 18:36:47.652490    8625 coordination_service.cc:1549] Use error polling to "
        "propagate the following error to all tasks: UNAVAILABLE: The following tasks are "
        "unhealthy (stopped sending heartbeats):\n1\nThe tasks have crashed.\n"
        "F1204 18:36:47.653030    8636 client.h:80] Terminating process because the JAX "
        "distributed service detected fatal errors. This most likely indicates that another "
        "task died\n*** Check failure stack trace: ***\n")

    def guarded(text, process):
        run = subprocess.run([sys.executable, "-c", guard, str(process), "2", "10.0.0.1:1234"],
                             input=text, capture_output=True, text=True, timeout=60)
        return run.stderr

    assert guarded(before, 0) == before  # nothing held back from a job that does not fail
    out = guarded(before + unhealthy, 0)
    ours = "process 0 of 2: lost contact with process 1 of 2: it stopped answering"
    assert out.startswith(before + ours) and out.endswith(unhealthy)
    lost_coordinator = ("F1204 18:43:05.951521   16381 client.h:80] Terminating process because "
                        "the JAX distributed service detected fatal errors.\nAdditional GRPC "
                        "error information from remote target coordination_service while "
                        "calling /xla.coordination.CoordinationService/PollForError:\n")
    out = guarded(lost_coordinator, 1)
    assert out.startswith("process 1 of 2: lost contact with process 0 of 2 (the coordinator, "
                          "10.0.0.1:1234)") and out.endswith(lost_coordinator)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(job, cwd, process, processes, port, timeout=60, stdout=subprocess.PIPE):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("KERAS_BACKEND", None)
    return subprocess.Popen(
        [sys.executable, str(job), "--coordinator", f"127.0.0.1:{port}", "--num-processes",
         str(processes), "--process-id", str(process), "--out", "out", "--timeout",
         str(timeout)], cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True,
        env=env)


def epoch_lines(out):
    """The epoch lines without their times (the same losses in every process)."""
    return [line.split("  ", 1)[0] + "  " + line.split("s  ", 1)[1]
            for line in out.splitlines() if line.startswith("Epoch ")]


@pytest.mark.slow
def test_two_processes_train_in_step_and_write_the_model_once(tmp_path):
    pytest.importorskip("jax")
    save(digits_mlp(settings={"training": {"epochs": 1, "batch_size": 64}}),
         tmp_path / "mlp.nbproj")
    export = subprocess.run([sys.executable, "-m", "netbuilder", "export", "mlp.nbproj",
                             "--cluster", "--data", "digits", "-o", "job.py"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    port = free_port()
    procs = [start(tmp_path / "job.py", tmp_path, i, 2, port) for i in range(2)]
    outputs = [p.communicate(timeout=400) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    epochs = [[line for line in out.splitlines() if line.startswith("Epoch 1/1")]
              for out, _ in outputs]
    assert len(epochs[0]) == 1
    # the same losses in both processes (the time may differ in its last digit)
    assert epochs[0][0].split("s  ", 1)[1] == epochs[1][0].split("s  ", 1)[1]
    assert "process 0 of 2 on 2 devices (DataParallel), global batch 64" in outputs[0][0]
    assert "Wrote out/model.keras" in outputs[0][0] and "Wrote" not in outputs[1][0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "best.keras", "history.json", "model.keras"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.py", "mlp.nbproj", "out"]
    assert len(json.loads((tmp_path / "out" / "history.json").read_text())["loss"]) == 1
    count = subprocess.run(
        [sys.executable, "-c", "import keras, sys; "
         "print(keras.models.load_model(sys.argv[1]).count_params())", "out/model.keras"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    summary = subprocess.run([sys.executable, "-m", "netbuilder", "summary", "mlp.nbproj",
                              "--json"], cwd=tmp_path, capture_output=True, text=True)
    assert int(count.stdout) == json.loads(summary.stdout)["total_params"] == 2410


@pytest.mark.slow
def test_a_process_without_its_peers_says_so_and_exits(tmp_path):
    pytest.importorskip("jax")
    project = digits_mlp()
    job = tmp_path / "job.py"
    job.write_text(cluster_job(generate_code(project), project.graph, {"epochs": 1}, "digits"))
    alone = start(job, tmp_path, 0, 2, free_port(), timeout=5)
    out, err = alone.communicate(timeout=300)
    assert alone.returncode != 0
    assert "process 0 of 2: could not join the others at 127.0.0.1:" in err, err[-3000:]
    assert not (tmp_path / "out").exists()


def transfer() -> tuple[Project, int]:
    """A frozen nested base (convolutions and BatchNormalization, as a Keras Application) under
    a new head, and what Keras' transfer-learning guide leaves trainable when fine-tuning from
    the base's ``conv2`` (the oracle, set up by hand in Keras)."""
    keras = pytest.importorskip("keras")
    from netbuilder.runtime.keras_to_graph import graph_from_keras

    def model():
        base_in = keras.Input((8, 8, 1), name="base_in")
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(base_in)
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
        x = keras.layers.BatchNormalization(name="bn2")(x)
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv3")(x)
        base = keras.Model(base_in, x, name="features")
        base.trainable = False
        image = keras.Input((8, 8, 1), name="image")
        x = keras.layers.GlobalAveragePooling2D(name="pool")(base(image))
        return keras.Model(image, keras.layers.Dense(10, activation="softmax", name="head")(x))

    project = Project(graph_from_keras(model()), name="transfer")
    guide = model()
    base = guide.get_layer("features")
    base.trainable = True
    names = [layer.name for layer in base.layers]
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= names.index("conv2") and not isinstance(
            layer, keras.layers.BatchNormalization)
    return project, sum(math.prod(w.shape) for w in guide.trainable_weights)


@pytest.mark.slow
def test_two_processes_fine_tune_in_step(tmp_path):
    pytest.importorskip("jax")
    keras = pytest.importorskip("keras")
    project, expected = transfer()
    settings = {"epochs": 1, "batch_size": 64, "fine_tune_from": "conv2", "fine_tune_epochs": 1,
                "fine_tune_learning_rate": 1e-4}
    job = tmp_path / "job.py"
    job.write_text(cluster_job(generate_code(project), project.graph, settings, "digits"))
    port = free_port()
    procs = [start(job, tmp_path, i, 2, port) for i in range(2)]
    outputs = [p.communicate(timeout=400) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    stage = f"Stage 2: fine-tuning from conv2 at lr 0.0001: {expected:,} trainable params"
    for out, _ in outputs:
        lines = out.splitlines()
        assert [line[:10] for line in lines if line.startswith(("Epoch", "Stage"))] == [
            "Epoch 1/2 ", stage[:10], "Epoch 2/2 "]
        assert stage in lines
    assert epoch_lines(outputs[0][0]) == epoch_lines(outputs[1][0])
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert len(history["loss"]) == 2
    trained = keras.models.load_model(tmp_path / "out" / "model.keras")
    assert sum(math.prod(w.shape) for w in trained.trainable_weights) == expected


def kill_mid_training(tmp_path, victim, timeout=8):
    """Two processes of a long job; ``victim`` killed (SIGKILL) after its first epoch line.
    Returns the survivor's exit code, stderr and the seconds it took after the kill."""
    project = digits_mlp()
    job = tmp_path / "job.py"
    job.write_text(cluster_job(generate_code(project), project.graph,
                               {"epochs": 500, "batch_size": 64}, "digits"))
    port = free_port()
    logs = [tmp_path / f"process{i}.txt" for i in range(2)]
    procs = []
    for i, log in enumerate(logs):
        with open(log, "w") as f:
            procs.append(start(job, tmp_path, i, 2, port, timeout=timeout, stdout=f))
    survivor = procs[1 - victim]
    try:
        deadline = time.monotonic() + 300
        while "Epoch 1/500" not in logs[victim].read_text():
            assert procs[victim].poll() is None, procs[victim].communicate()[1][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.1)
        procs[victim].kill()
        killed = time.monotonic()
        _, err = survivor.communicate(timeout=4 * timeout + 60)
        return survivor.returncode, err, time.monotonic() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()


@pytest.mark.slow
def test_a_process_that_loses_its_peer_mid_training_says_which_and_exits(tmp_path):
    pytest.importorskip("jax")
    code, err, seconds = kill_mid_training(tmp_path, victim=1)
    assert code != 0
    ours = "process 0 of 2: lost contact with process 1 of 2: "
    assert ours in err, err[-3000:]
    jax_report = err.find("Terminating process because the JAX distributed service")
    assert jax_report == -1 or err.index(ours) < jax_report
    assert seconds < 8 + 30  # --timeout 8; JAX's own heartbeat check would end it later
    assert not (tmp_path / "out" / "model.keras").exists()
    assert not (tmp_path / "out" / "history.json").exists()


@pytest.mark.slow
def test_a_process_that_loses_the_coordinator_says_so_first(tmp_path):
    pytest.importorskip("jax")
    code, err, seconds = kill_mid_training(tmp_path, victim=0)
    assert code != 0
    ours = "process 1 of 2: lost contact with process 0 of 2 (the coordinator, 127.0.0.1:"
    assert ours in err, err[-3000:]
    jax_report = err.find("Terminating process because the JAX distributed service")
    assert jax_report == -1 or err.index(ours) < jax_report
    assert seconds < 8 + 30
