"""The augmentation saved in a project (``settings["data"]["options"]``, as the editor's data
dialog keeps it) is used by `netbuilder train` (with `--data-option` over it key by key) and by
the code of `netbuilder export --with-training`, which trains with the same random Keras layers
as NetBuilder's worker (Keras is the oracle: the layers' classes and configs)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from training_helpers import chain_project, digits_cnn, digits_mlp, two_class_images

from netbuilder.cli.data_source import data_options, saved_data_options
from netbuilder.core import project as proj
from netbuilder.core.codegen import generate_code
from netbuilder.runtime import data as data_mod
from netbuilder.runtime.data import DataError
from netbuilder.runtime.training.code import TrainingCodeError, with_training
from netbuilder.runtime.training.engine import run_job
from netbuilder.runtime.workers import client as engine_client

ROOT = Path(__file__).resolve().parents[2]
AUG = {"flip": "horizontal", "rotation": 0.1}
EVERY = {"flip": "horizontal_and_vertical", "rotation": 0.1, "zoom": 0.15, "shift": 0.1,
         "contrast": 0.2, "brightness": 0.25}


def _netbuilder(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=engine_client.worker_environment())


def _saved(tmp_path, options, source="shapes", name="cnn.nbproj", project=None):
    """A digits CNN whose data settings (saved with ``source``) hold ``options``."""
    project = project or digits_cnn(settings={"training": {"epochs": 1, "batch_size": 64}})
    project.settings["data"] = {"source": source, "options": options}
    proj.save(project, tmp_path / name)
    return name


# --- netbuilder train --------------------------------------------------------------------------


def test_the_command_lines_options_go_over_the_saved_ones_key_by_key():
    project = digits_cnn()
    assert saved_data_options(project) == {}
    project.settings["data"] = "digits"                     # a bare source: no options
    assert saved_data_options(project) == {}
    project.settings["data"] = {"source": "digits", "options": {"augmentation": AUG,
                                                                "validation_split": 0.3}}
    saved = saved_data_options(project)
    assert data_options(saved, {}) == {"augmentation": AUG, "validation_split": 0.3}
    assert data_options(saved, {"augmentation": None, "max_samples": 50}) == {
        "augmentation": None, "validation_split": 0.3, "max_samples": 50}
    assert data_options(saved, {"augmentation": {"zoom": 0.2}})["augmentation"] == {"zoom": 0.2}
    with pytest.raises(DataError, match="^unknown data option 'nope'"):
        data_options(saved, {"nope": 1})
    with pytest.raises(DataError, match="the data options saved in the project: unknown "
                                        "augmentation 'spin'.*--data-option KEY=VALUE"):
        data_options({"augmentation": {"spin": 0.1}}, {})
    assert data_options({"augmentation": {"spin": 0.1}}, {"augmentation": None}) == {
        "augmentation": None}


@pytest.mark.slow
def test_train_applies_the_saved_augmentation_and_records_it(tmp_path):
    # saved with another source: the options (augmentation, splits) apply to --data as well
    name = _saved(tmp_path, {"augmentation": AUG, "validation_split": 0.25})
    result = _netbuilder("train", name, "--data", "digits", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[1] == ("  augmentation of the training data: flip horizontal, rotation 0.1 "
                        "(saved in the project)"), result.stdout
    assert lines[2] == "  data options saved in the project: validation_split 0.25"
    # the worker says it augmented, and held out a quarter
    assert "    - augmentation on the training data only: flip horizontal, rotation 0.1" in lines
    assert "1347 train, 450 validation samples" in result.stdout
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["data"]["source"] == "digits"
    assert record["data"]["options"] == {"augmentation": AUG, "validation_split": 0.25}


@pytest.mark.slow
def test_data_option_overrides_the_saved_augmentation(tmp_path):
    name = _saved(tmp_path, {"augmentation": AUG})
    zoom = _netbuilder("train", name, "--data", "digits", "--out", "zoom", "--data-option",
                       'augmentation={"zoom": 0.2}', cwd=tmp_path)
    assert zoom.returncode == 0, zoom.stderr[-2000:]
    assert "  augmentation of the training data: zoom 0.2 (--data-option)" in zoom.stdout
    assert "    - augmentation on the training data only: zoom 0.2" in zoom.stdout
    record = json.loads((tmp_path / "zoom" / "run.json").read_text())
    assert record["data"]["options"]["augmentation"] == {"zoom": 0.2}

    off = _netbuilder("train", name, "--data", "digits", "--out", "off", "--data-option",
                      "augmentation=null", cwd=tmp_path)
    assert off.returncode == 0, off.stderr[-2000:]
    assert ("  augmentation of the training data: none (--data-option over the project's "
            "flip horizontal, rotation 0.1)") in off.stdout
    assert "augmentation on the training data only" not in off.stdout
    record = json.loads((tmp_path / "off" / "run.json").read_text())
    assert record["data"]["options"]["augmentation"] is None


@pytest.mark.slow
def test_quiet_training_does_not_print_it_and_tta_uses_the_saved_augmentation(tmp_path):
    name = _saved(tmp_path, {"augmentation": {"flip": "horizontal"}})
    result = _netbuilder("train", name, "--data", "digits", "--out", "run", "--quiet",
                         "--tta", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "augmentation" not in result.stdout
    assert "with TTA ×2" in result.stdout       # not refused: the project has augmentation
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["data"]["options"]["augmentation"] == {"flip": "horizontal"}


def test_bad_saved_options_are_one_line_before_anything_starts(tmp_path):
    name = _saved(tmp_path, {"augmentation": {"spin": 0.1}})
    result = _netbuilder("train", name, "--data", "digits", "--out", "run", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the data options saved in the project: unknown augmentation " \
        "'spin'" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


# --- export --with-training: the same layers, in the same place --------------------------------


def _engines_augmentation(tmp_path, monkeypatch, project, aug, source="digits"):
    """The augmentation model NetBuilder's worker trains with for ``aug`` (a real job, run in
    this process, one epoch on a few samples)."""
    made = []
    real = data_mod.augmentation_model

    def recording(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(data_mod, "augmentation_model", recording)
    proj.save(project, tmp_path / "engine.nbproj")
    events = []
    job = {"project": str(tmp_path / "engine.nbproj"), "output_dir": str(tmp_path / "engine"),
           "data": {"source": source, "options": {"augmentation": aug, "max_samples": 100}},
           "settings": {"epochs": 1}}
    assert run_job(job, events.append, threading.Event()) == 0, events[-1]
    assert len(made) == 1
    return made[0]


def _exported(code):
    """The exported script's module namespace (its main block not run)."""
    namespace = {"__name__": "exported_training"}
    exec(compile(code, "train.py", "exec"), namespace)
    return namespace


def _layers(model):
    return [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
            for layer in model.layers]


@pytest.mark.parametrize("aug", [AUG, EVERY, {"flip": True, "contrast": 0.3}])
def test_exported_augmentation_is_the_engines_own_layers(tmp_path, monkeypatch, aug):
    project = digits_cnn()
    engine = _engines_augmentation(tmp_path, monkeypatch, project, aug)
    exported = _exported(with_training(generate_code(project), project.graph, {}, "digits", aug))
    ours = exported["augmentation"]()
    assert _layers(ours) == _layers(engine)
    assert len(ours.layers) == sum(1 for v in aug.values() if v)


def test_the_exported_training_data_is_augmented_and_the_validation_data_is_not(tmp_path,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)      # train() writes best.keras where it runs
    project = digits_cnn()
    code = with_training(generate_code(project), project.graph, {"shuffle": False, "epochs": 1},
                         "digits", {"flip": "horizontal"})
    assert code.count("augment(xb, training=True)") == 1
    assert "train_batches,\n" in code and "validation_data=validation," in code
    assert "validation_split=" not in code
    ns = _exported(code)
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, 64)
    batches = list(ns["augmented_batches"](x, y).as_numpy_iterator())
    assert [len(xb) for xb, _ in batches] == [32, 32]          # BATCH_SIZE
    got = np.concatenate([xb for xb, _ in batches])
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    mirrored = np.array([np.allclose(g, s[:, ::-1]) for g, s in zip(got, x)])
    same = np.array([np.allclose(g, s) for g, s in zip(got, x)])
    assert (mirrored | same).all() and mirrored.any() and same.any()

    # train() fits on those batches: the random layers run while Keras trains
    built = []
    real = ns["augmentation"]

    def augmentation():
        built.append(real())
        return built[-1]

    ns["augmentation"] = augmentation
    model = ns["build_model"]()
    history = ns["train"](model)
    assert len(built) == 1 and built[0].built
    assert len(history.epoch) == 1 and "val_accuracy" in history.history


@pytest.mark.slow
def test_the_exported_script_trains_with_the_saved_augmentation(tmp_path):
    """Run on its own, offline, on generated images, on two CPU devices."""
    x, y = two_class_images(n=48, size=12)
    np.savez(tmp_path / "images.npz", x=x, y=y)
    project = chain_project(
        ("Input", {"shape": [12, 12, 3]}),
        ("Conv2D", {"filters": 4, "kernel_size": [3, 3], "activation": "relu"}),
        ("GlobalAveragePooling2D", {}),
        ("Dense", {"units": 2, "activation": "softmax"}),
        name="small_cnn", settings={"training": {"epochs": 1, "batch_size": 8, "tta": 2}})
    _saved(tmp_path, {"augmentation": EVERY}, source=str(tmp_path / "images.npz"),
           project=project)
    export = _netbuilder("export", "cnn.nbproj", "-o", "train_cnn.py", "--with-training",
                         cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    code = (tmp_path / "train_cnn.py").read_text()
    assert "keras.layers.RandomBrightness(factor=0.25, value_range=(0, 1))" in code
    run = subprocess.run([sys.executable, "train_cnn.py", "--devices", "cpu:2"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300,
                         env={**engine_client.worker_environment(), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "on 2 devices (MirroredStrategy)" in run.stdout
    assert "val_accuracy" in run.stdout and "with TTA ×2" in run.stdout, run.stdout[-1500:]
    assert "shuffle=True` was passed" not in run.stderr
    saved = keras.models.load_model(tmp_path / "model.keras")
    assert saved.count_params() == 4 * 3 * 3 * 3 + 4 + 4 * 2 + 2


def test_augmentation_of_a_model_that_takes_no_images_is_refused():
    project = digits_mlp()
    with pytest.raises(TrainingCodeError, match=r"augmentation works on images; this model's "
                                                r"input is \[64\]"):
        with_training(generate_code(project), project.graph, {}, "digits", AUG)
    plain = with_training(generate_code(project), project.graph, {}, "digits", {"flip": None})
    assert "augment" not in plain and "validation_split=VALIDATION_SPLIT" in plain


@pytest.mark.slow
def test_an_applications_pixels_are_augmented_then_prepared():
    """As the worker does: augmentation on the 0-1 pixels, then preprocess_input, batch by batch;
    the validation data (and TTA's plain evaluation) prepared without augmentation."""
    from netbuilder.core.graph import Graph
    from netbuilder.core.project import Project
    from netbuilder.runtime import applications as apps
    from netbuilder.runtime.keras_to_graph import application_block

    block = application_block({"name": "MobileNetV2", "include_top": False, "weights": None,
                               "input_shape": [32, 32, 3]})
    graph = Graph()
    previous = graph.add_node("Input", {"shape": [32, 32, 3]}).id
    for node in (apps.add_to_graph(graph, block), graph.add_node("GlobalAveragePooling2D").id,
                 graph.add_node("Dense", {"units": 10, "activation": "softmax"}).id):
        graph.connect(previous, node)
        previous = node
    project = Project(graph, name="mobile_small")
    code = with_training(generate_code(project), graph, {"tta": 2}, "cifar10", AUG)
    black = pytest.importorskip("black")
    assert black.format_str(code, mode=black.Mode(line_length=99)) == code
    assert "return keras.applications.mobilenet_v2.preprocess_input(pixels * 255.0)" in code
    assert "x = keras.applications" not in code       # not on the arrays before augmentation
    pipeline = code[code.index("def augmented_batches("):]
    assert (pipeline.index("augment(xb, training=True)")
            < pipeline.index("batches.map(lambda xb, yb: (prepare(xb), yb))"))
    assert "validation = (prepare(x[held_out:]), y[held_out:])" in code
    assert "evaluate_with_tta(model, x[held_out:], y[held_out:], TTA_COPIES, prepare=prepare)" \
        in code
    ns = _exported(code)
    pixels = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        ns["prepare"](pixels),
        keras.applications.mobilenet_v2.preprocess_input(pixels * 255.0), rtol=1e-6)


# --- netbuilder search -------------------------------------------------------------------------


def test_search_trials_train_with_the_projects_saved_data_options(tmp_path, monkeypatch, capsys):
    from netbuilder.cli import main
    from netbuilder.runtime import search as search_mod

    jobs = []

    def train(job, emit, stop):          # a stand-in for training: what each trial is given
        jobs.append(job)
        Path(job["output_dir"]).mkdir(parents=True, exist_ok=True)
        emit({"event": "epoch", "epoch": 1, "logs": {"val_loss": 0.5}})
        emit({"event": "finished", "reason": "completed", "history": {"val_loss": [0.5]},
              "epochs_run": 1})

    monkeypatch.setattr(search_mod, "_train_here", train)
    name = _saved(tmp_path, {"augmentation": AUG, "validation_split": 0.3})
    code = main(["search", str(tmp_path / name), "--data", "digits", "--trials", "1",
                 "--epochs", "1", "--space", "training.learning_rate=0.001..0.01:log",
                 "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(jobs) == 1
    assert jobs[0]["data"]["options"] == {"augmentation": AUG, "validation_split": 0.3}
    assert "data options saved in the project: augmentation" in out
    # a bad saved option: one line, nothing run
    bad = _saved(tmp_path, {"augmentation": {"flip": "sideways"}}, name="bad.nbproj")
    assert main(["search", str(tmp_path / bad), "--data", "digits", "--space",
                 "training.learning_rate=0.001..0.01:log", "--out", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "saved in the project" in err
    assert len(jobs) == 1 and not (tmp_path / "o2").exists()
