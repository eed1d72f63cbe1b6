"""A model whose output cannot train on the data's classes is refused before training, with the
output node and the repair (core.data_fit); a loss chosen on purpose still trains: the engine,
`netbuilder train` (exit 1, one line on stderr; --loss) and exported training code."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from training_helpers import chain_project

from netbuilder import cli
from netbuilder.core.project import save
from netbuilder.runtime.training.engine import run_job
from netbuilder.runtime.workers import client as engine_client

ROOT = Path(__file__).resolve().parents[2]
CATS_VS_DOGS = ROOT / "resources" / "examples" / "cats_vs_dogs_cnn.nbproj"
SIGMOID_UNIT = (("Input", {"shape": [64]}), ("Dense", {"units": 1, "activation": "sigmoid"}))


def run(tmp_path, settings=None):
    project = chain_project(*SIGMOID_UNIT)
    save(project, tmp_path / "p.nbproj")
    events = []
    run_job({"project": str(tmp_path / "p.nbproj"), "data": "digits", "output_dir":
             str(tmp_path / "out"), "settings": {"epochs": 1, **(settings or {})}},
            events.append, threading.Event())
    return events


@pytest.mark.slow
def test_the_engine_refuses_one_sigmoid_unit_on_ten_classes(tmp_path):
    error = run(tmp_path)[-1]
    assert error["event"] == "error" and error["kind"] == "data"
    assert "regression (mean squared error)" in error["message"]
    assert "set units to 10 and activation to softmax" in error["message"]


@pytest.mark.slow
def test_a_chosen_loss_trains_a_regression_on_purpose(tmp_path):
    events = run(tmp_path, {"loss": "mean_squared_error"})
    assert events[-1]["event"] == "finished"


@pytest.mark.slow
def test_cli_train_refuses_with_one_line(tmp_path):
    save(chain_project(*SIGMOID_UNIT), tmp_path / "p.nbproj")
    result = subprocess.run([sys.executable, "-m", "netbuilder", "train", "p.nbproj", "--data",
                             "digits", "--epochs", "1"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=engine_client.worker_environment())
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "set units to 10 and activation to softmax" in lines[0]
    assert "Traceback" not in result.stderr


def test_export_with_training_refuses_the_same_way(tmp_path, capsys):
    code = cli.main(["export", str(CATS_VS_DOGS), "--with-training", "--data", "digits",
                     "-o", str(tmp_path / "m.py")])
    assert code == 1
    err = capsys.readouterr().err
    assert "set units to 10 and activation to softmax" in err
    assert not (tmp_path / "m.py").exists()


SAMPLES = [(8, 8), (28, 28), (32, 32, 3), (32, 32, 4), (5, 5, 2), (6, 6, 1)]
TARGETS = [(28, 28, 1), (28, 28, 3), (32, 32, 3), (None, None, 3), (None, None, 1), (8, 8),
           (28, 28), (64,), (784,), (3072,), (1024,), (100,), (10,), (None,), (8, 8, 2),
           (8, 8, 1, 1), (36,), (72,), (75,)]


def test_the_input_rule_agrees_with_what_training_adapts():
    """core.data_fit.adaptable says yes exactly where runtime fitting plans the steps."""
    from netbuilder.core.data_fit import adaptable
    from netbuilder.runtime.data.dataset import DataError
    from netbuilder.runtime.data.fitting import plan_inputs

    disagree = []
    for sample in SAMPLES:
        for target in TARGETS:
            try:
                plan_inputs(sample, target, "0-1")
                planned = True
            except DataError:
                planned = False
            if adaptable(sample, target) != planned:
                disagree.append((sample, target, planned))
    assert disagree == []


def test_the_known_sample_shapes_are_what_the_sources_give():
    from netbuilder.core.data_fit import DataDescription
    from netbuilder.runtime.data import sources

    dataset = sources.load("digits")
    assert DataDescription.for_source("digits").sample_shape == dataset.train.x.shape[1:]
