"""`netbuilder export --with-training`: the exported script loads its data, compiles with the
project's settings, trains, and is formatted as black would leave it."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from netbuilder.core import project as proj
from netbuilder.core.codegen import generate_code
from netbuilder.runtime.training.code import TrainingCodeError, with_training

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "resources" / "examples"

SETTINGS = [
    {},
    {"optimizer": "sgd", "momentum": 0.8, "nesterov": True, "clipnorm": 1.0},
    {"optimizer": "adamw", "schedule": "cosine", "early_stopping": True, "csv_log": True},
    {"optimizer": "rmsprop", "schedule": "step", "loss": "categorical_crossentropy"},
    {"schedule": "plateau", "checkpoint": False, "terminate_on_nan": False,
     "metrics": ["accuracy", "mae"]},
    {"schedule": "cosine", "csv_log": True, "fine_tune_from": "conv2d_1", "fine_tune_epochs": 2,
     "fine_tune_learning_rate": 3e-5},
    {"optimizer": "sgd", "schedule": "step", "fine_tune_from": "dense", "fine_tune_epochs": 1},
]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("data", ["digits", "mnist", "cifar10", "images/", "arrays.npz"])
def test_code_is_valid_and_black_formatted(settings, data):
    project = proj.load(EXAMPLES / "mnist_cnn.nbproj")
    code = with_training(generate_code(project), project.graph, settings, data)
    ast.parse(code)
    assert max(len(line) for line in code.splitlines()) <= 99
    black = pytest.importorskip("black")
    assert black.format_str(code, mode=black.Mode(line_length=99)) == code
    assert code.count("import numpy as np") == 1
    assert "model.fit(" in code and 'model.save("model.keras")' in code
    fine_tune = bool(settings.get("fine_tune_epochs"))
    assert ("unfreeze_from(model, FINE_TUNE_FROM)" in code) == fine_tune
    assert code.count("model.fit(") == 1 + fine_tune


@pytest.mark.parametrize("settings", SETTINGS + [{"shuffle": False, "tta": 2}])
def test_code_with_augmentation_trains_on_augmented_batches(settings):
    """The project's augmentation (its data options) trains as the worker trains: a tf.data
    pipeline through the random layers; validation on the held-out part as it is."""
    project = proj.load(EXAMPLES / "mnist_cnn.nbproj")
    aug = {"flip": "horizontal", "zoom": 0.1, "brightness": 0.2}
    code = with_training(generate_code(project), project.graph, settings, "mnist", aug)
    ast.parse(code)
    black = pytest.importorskip("black")
    assert black.format_str(code, mode=black.Mode(line_length=99)) == code
    assert "keras.layers.RandomZoom(height_factor=0.1)" in code
    assert code.count("augment(xb, training=True)") == 1
    assert "validation_split=" not in code and "held_out = int(len(x) * (1 - " in code
    fits = code.count("model.fit(")
    assert fits == 1 + bool(settings.get("fine_tune_epochs"))
    assert code.count("        train_batches,\n") == fits
    assert code.count("        validation_data=validation,\n") == fits
    shuffled = settings.get("shuffle", True)
    assert ("batches.shuffle(len(x)" in code) == shuffled
    assert code.count("shuffle=False,  # augmented_batches shuffled them") == fits * shuffled
    assert ("steps = int(np.ceil(held_out / BATCH_SIZE)) * EPOCHS" in code) == (
        settings.get("schedule") == "cosine")


def test_what_cannot_be_exported_is_refused_clearly():
    project = proj.load(EXAMPLES / "two_headed.nbproj")
    with pytest.raises(TrainingCodeError, match="one output; this one has 2"):
        with_training(generate_code(project), project.graph, {}, "digits")
    mnist = proj.load(EXAMPLES / "mnist_cnn.nbproj")
    with pytest.raises(TrainingCodeError, match="'shapes' data lives inside NetBuilder"):
        with_training(generate_code(mnist), mnist.graph, {}, "shapes")
    with pytest.raises(TrainingCodeError, match="unknown training setting 'epoch'"):
        with_training(generate_code(mnist), mnist.graph, {"epoch": 3}, "digits")


def test_exported_script_trains_on_digits(tmp_path):
    project = proj.load(EXAMPLES / "lenet5.nbproj")
    project.settings["training"] = {"epochs": 2, "schedule": "cosine", "early_stopping": True}
    project.settings["data"] = {"source": "digits", "options": {}}
    path = tmp_path / "lenet.nbproj"
    proj.save(project, path)
    script = tmp_path / "train_lenet.py"
    export = subprocess.run([sys.executable, str(ROOT / "main.py"), "export", str(path), "-o",
                             str(script), "--with-training"], capture_output=True, text=True,
                            timeout=120)
    assert export.returncode == 0, export.stderr
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={**__import__("os").environ,
                                                      "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Epoch 2/2" in run.stdout
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "best.keras").is_file()


def test_cli_needs_a_data_source_and_the_python_format(tmp_path):
    out = tmp_path / "x.py"
    base = [sys.executable, str(ROOT / "main.py"), "export", str(EXAMPLES / "mlp.nbproj"),
            "-o", str(out), "--with-training"]
    missing = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "needs --data SOURCE" in missing.stderr
    keras_format = subprocess.run(base + ["--data", "digits", "--format", "keras"],
                                  capture_output=True, text=True, timeout=120)
    assert keras_format.returncode == 1 and "needs --format python" in keras_format.stderr
    assert not out.exists()
