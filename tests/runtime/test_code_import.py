"""Importing Keras code (``runtime/code_import``, ``netbuilder import FILE.py --allow-code``): the
course notes' snippets and keras.io-style code become projects whose totals and trainable counts
equal Keras' for the same code (built here, in the test's process, as the oracle); compile's
settings are read; training and downloads do not happen; refusals say why and what to do.

The code samples in ``code_samples/`` are quoted from the course notes (``../shared/seeds/``) as
they are. Every import but the syntax checks starts the child process (Keras' start-up, seconds).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from netbuilder.core.project import load
from netbuilder.core.summary import summarize
from netbuilder.runtime.code_import.runner import import_code
from netbuilder.runtime.code_import.source import CodeImportError, prepare

SAMPLES = Path(__file__).parent / "code_samples"
# what the oracle leaves out: training, data, plots and compile (Keras 3 refuses lr=)
_NOT_THE_MODEL = ("load_data", ".fit", "flow_from_directory", "evaluate", ".save(", "compile(",
                  "history", "plt.", "matplotlib", "to_categorical", "_images", "_labels",
                  "test_acc", "len(acc)", "ImageDataGenerator", "_datagen")


def sample(name: str) -> str:
    return (SAMPLES / f"{name}.txt").read_text(encoding="utf-8")


def keras_model(code: str, name: str = "model", *, whole: bool = False):
    """The oracle: the same code's model built by Keras here, statement by statement, leaving
    out what is not the model (``whole``: nothing to leave out)."""
    ns: dict = {}
    code = code.replace("weights='imagenet'", "weights=None")
    for statement in ast.parse(code).body:
        text = ast.get_source_segment(code, statement) or ""
        if not whole and any(word in text for word in _NOT_THE_MODEL):
            continue
        with warnings.catch_warnings():   # Keras 3 warns about input_shape=, as it should
            warnings.simplefilter("ignore")
            exec(compile(ast.Module([statement], []), "<oracle>", "exec"), ns)  # noqa: S102
    value = ns[name]
    return value() if callable(value) and not hasattr(value, "layers") else value


def keras_counts(model) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return int(model.count_params()), trainable


def project_counts(project) -> tuple[int, int]:
    s = summarize(project.graph, project.name)
    return s.total_params, s.trainable_params


def run_import(code: str, filename: str = "snippet.py", **kwargs):
    return import_code(code, filename=filename, **kwargs)


# --- the course notes -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name, total, trainable", [
    ("mnist_cnn", 93_322, 93_322),
    ("cats_vs_dogs", 3_453_121, 3_453_121),
    ("cats_vs_dogs_dropout", 3_453_121, 3_453_121),
    ("functional_mlp", 55_050, 55_050),
    ("vgg16_transfer", 16_812_353, 2_097_665),
])
def test_course_snippets_import_with_keras_counts(name, total, trainable):
    code = sample(name)
    result = run_import(code, f"{name}.py")
    assert result.chosen == "model"
    assert project_counts(result.project) == keras_counts(keras_model(code)) == (total, trainable)
    oracle = keras_model(code)
    assert len(result.project.graph.nodes) == len(oracle.layers) + (
        0 if name == "functional_mlp" else 1)  # a Sequential's Input is a node of its own
    assert not result.project.weights


@pytest.mark.slow
def test_the_mnist_cell_reads_compile_and_fit_and_skips_the_download_and_training():
    result = run_import(sample("mnist_cnn"), "mnist_cnn.py")
    training = result.project.settings["training"]
    assert (training["optimizer"], training["learning_rate"]) == ("rmsprop", 0.001)
    assert training["loss"] == "categorical_crossentropy"
    assert training["metrics"] == ["accuracy"]
    assert (training["epochs"], training["batch_size"]) == (5, 64)
    notes = "\n".join(result.notes)
    assert "line 22: mnist.load_data() not run (no download)" in notes
    assert "line 33: fit(...) not run" in notes
    assert "line 34: evaluate(...) not run" in notes
    # the blank stand-in has fewer samples than the reshape expects: noted, the model kept
    assert "line 23 failed (ValueError" in notes
    assert "the model made before it is imported" in notes


@pytest.mark.slow
def test_cats_vs_dogs_lr_is_taken_as_learning_rate_and_the_missing_folders_are_noted():
    result = run_import(sample("cats_vs_dogs"), "cats_vs_dogs.py")
    training = result.project.settings["training"]
    assert training["optimizer"] == "rmsprop"
    assert training["learning_rate"] == pytest.approx(1e-4)
    assert (training["loss"], training["metrics"]) == ("binary_crossentropy", ["acc"])
    notes = "\n".join(result.notes)
    assert "line 22: RMSprop(lr=...) is Keras 2's spelling; taken as learning_rate" in notes
    # train_dir was a folder of the notebook: the line that names it fails after the model
    assert "line 28 failed (NameError: name 'train_dir' is not defined)" in notes
    assert "line 24 failed" not in notes    # Keras 2's home of ImageDataGenerator works
    # what follows from it (the generators, history, plt without matplotlib) is one note
    assert sum("failed" in n for n in result.notes) <= 4
    assert "save(...) not run (writes a file" in notes
    assert not Path("cats_and_dogs_small_1.h5").exists()


@pytest.mark.slow
def test_vgg16_with_imagenet_weights_is_built_with_none_and_says_so():
    result = run_import(sample("vgg16_transfer"), "vgg16_transfer.py")
    assert any("VGG16(weights='imagenet') built with weights=None" in n for n in result.notes)
    assert [c["name"] for c in result.candidates] == ["conv_base", "model"]
    assert result.others() == ["conv_base"]


def test_the_fashion_mnist_snippet_without_a_comma_names_the_line_and_the_hint():
    with pytest.raises(CodeImportError) as err:
        prepare(sample("fashion_mnist_missing_comma"), "fashion.py")
    message = str(err.value)
    first, shown, caret = message.splitlines()
    assert first == ("fashion.py, line 9, column 5: syntax error: invalid syntax. Perhaps you "
                     "forgot a comma? (at the end of line 9, before line 10)")
    assert shown == '    9 |     Conv2D(256, 3, activation="relu", padding="same")'
    assert caret == " " * 12 + "^"


def test_notebook_commands_are_skipped_not_syntax_errors():
    prepared = prepare("%matplotlib inline\n!pip install keras\nimport keras\n")
    assert prepared.notes == ["line 1: %matplotlib inline is a notebook command: skipped",
                              "line 2: !pip install keras is a notebook command: skipped"]


# --- keras.io-style code ----------------------------------------------------------------------


@pytest.mark.slow
def test_functions_loops_and_two_outputs_through_build_model():
    code = sample("keras_io_functions")
    result = run_import(code, "keras_io.py")
    assert result.chosen == "build_model()"
    assert result.others() == ["probe"]
    oracle = keras_model(code, "build_model", whole=True)
    assert project_counts(result.project) == keras_counts(oracle)
    training = result.project.settings["training"]
    assert (training["optimizer"], training["learning_rate"], training["momentum"]) == (
        "sgd", 0.01, 0.9)
    assert training["output_losses"] == {
        "class_output": {"loss": "sparse_categorical_crossentropy", "weight": 1.0},
        "box_output": {"loss": "mse", "weight": 0.5}}
    # --model chooses another one
    probe = run_import(code, "keras_io.py", model="probe")
    assert probe.chosen == "probe"
    assert project_counts(probe.project) == (18, 18)


@pytest.mark.slow
def test_a_shared_embedding_is_one_layer_called_twice():
    code = sample("keras_io_shared_embedding")
    result = run_import(code, "shared.py")
    assert project_counts(result.project) == keras_counts(keras_model(code, "model"))
    assert list(result.project.graph.sharing.values()) == [
        result.project.graph.node_by_name("shared_embedding").id]


# --- refusals ---------------------------------------------------------------------------------

SUBCLASSED = """\
import keras
from keras import layers

class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(10)

    def call(self, x):
        return self.dense(x)

model = Classifier()
"""


@pytest.mark.slow
def test_a_subclassed_model_is_refused_with_why_and_what_to_do():
    with pytest.raises(CodeImportError) as err:
        run_import(SUBCLASSED, "sub.py")
    message = str(err.value)
    assert "model is a subclassed model (Classifier, with its own call())" in message
    assert "there is no graph to draw" in message
    assert "functional API" in message and "build_model()" in message


@pytest.mark.slow
def test_no_model_an_error_before_the_model_and_one_after_it():
    with pytest.raises(CodeImportError) as err:
        run_import("import keras\nx = 1\n", "none.py")
    assert str(err.value) == ("none.py: the code makes no Keras model; assign it to a variable "
                              "(model = ...) or define build_model() returning it")
    before = "import keras\nsize = int('28x28')\nmodel = keras.Sequential()\n"
    with pytest.raises(CodeImportError) as err:
        run_import(before, "before.py")
    assert str(err.value).splitlines() == [
        "before.py, line 2: ValueError: invalid literal for int() with base 10: '28x28' (before "
        "any Keras model was made)",
        "    2 | size = int('28x28')"]
    after = ("import keras, urllib.request\n"
             "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])\n"
             "rows = open('data/labels.csv').read()\n"
             "urllib.request.urlopen('http://example.com')\n")
    result = run_import(after, "after.py")
    assert project_counts(result.project) == (15, 15)
    assert result.notes[0].startswith("line 3 failed (FileNotFoundError:")
    assert result.notes[1].startswith("line 4 failed (URLError:")
    assert "no network while importing code" in result.notes[1]


@pytest.mark.slow
def test_code_that_runs_too_long_is_stopped():
    with pytest.raises(CodeImportError, match=r"ran longer than 8 s and was stopped"):
        run_import("import time\nwhile True:\n    time.sleep(1)\n", "loop.py", timeout=8)


# --- the command line -------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "netbuilder", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_needs_allow_code_then_imports(tmp_path):
    source = tmp_path / "mlp.py"
    source.write_text(sample("functional_mlp"), encoding="utf-8")
    target = tmp_path / "mlp.nbproj"
    refused = _cli("import", str(source), "-o", str(target), cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"netbuilder: {source} is Python code, and importing code runs it: pass --allow-code to "
        "run it in a separate process without network (for up to --timeout seconds), or import "
        "a saved model (.keras, .h5, .json) instead")
    assert not target.exists()
    done = _cli("import", str(source), "--allow-code", "-o", str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("4 layers, 55,050 params (55,050 trainable); fresh "
                                        "weights, as the code makes them")
    assert "note: line 16: compile(...) read, not run: rmsprop at learning rate 0.001" in \
        done.stderr
    assert project_counts(load(target)) == (55_050, 55_050)


def test_cli_syntax_error_is_one_message_with_the_line(tmp_path):
    source = tmp_path / "fashion.py"
    source.write_text(sample("fashion_mnist_missing_comma"), encoding="utf-8")
    target = tmp_path / "f.nbproj"
    done = _cli("import", str(source), "--allow-code", "-o", str(target), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"netbuilder: {source}, line 9, column 5: syntax error: "
                                  "invalid syntax. Perhaps you forgot a comma?")
    assert "Traceback" not in done.stderr
    assert not target.exists()
