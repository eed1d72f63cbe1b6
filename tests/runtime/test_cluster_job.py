"""`netbuilder export PROJECT --cluster -o job.py` (issue 15): a training job for several
processes on Keras 3's JAX backend with keras.distribution data parallelism, run here as two
processes on localhost with JAX's gloo CPU collectives."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import digits_mlp

from netbuilder.core.codegen import generate_code
from netbuilder.core.project import save
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
    with pytest.raises(TrainingCodeError, match="two-stage fine-tuning"):
        cluster_job(generate_code(project), project.graph,
                    {"fine_tune_from": "dense", "fine_tune_epochs": 1}, "digits")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(job, cwd, process, processes, port, timeout=60):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("KERAS_BACKEND", None)
    return subprocess.Popen(
        [sys.executable, str(job), "--coordinator", f"127.0.0.1:{port}", "--num-processes",
         str(processes), "--process-id", str(process), "--out", "out", "--timeout",
         str(timeout)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)


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
