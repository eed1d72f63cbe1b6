"""Test-time augmentation: predictions averaged over augmented copies (training's random Keras
layers), the metrics with and without it from the engine, `netbuilder train --tta N` and the
exported training code."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from training_helpers import chain_project, digits_cnn

from netbuilder.core import project as proj
from netbuilder.core.codegen import generate_code
from netbuilder.runtime import data as data_mod
from netbuilder.runtime.data.fitting import PreparedSplit
from netbuilder.runtime.training.code import TrainingCodeError, with_training
from netbuilder.runtime.training.engine import run_job
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings
from netbuilder.runtime.training.tta import comparison, evaluate_averaged, predict_averaged
from netbuilder.runtime.workers import client as engine_client

ROOT = Path(__file__).resolve().parents[2]
FLIP = {"flip": "horizontal"}


def _images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6, 6, 1)).astype("float32"), rng.integers(0, 3, n)


def _split(x, y):
    return PreparedSplit(x=x, y=y, size=len(x))


def test_tta_setting_is_saved_and_checked():
    assert TrainingSettings().tta == 0
    assert TrainingSettings.from_dict({"tta": 8}).to_dict()["tta"] == 8
    with pytest.raises(SettingsError, match="tta must be at least 0"):
        TrainingSettings.from_dict({"tta": -1})


def test_averaged_predictions_of_a_flip_invariant_model_are_its_predictions():
    # global average pooling forgets where a pixel was: flips change nothing (Keras says so)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    x, y = _images()
    aug = data_mod.augmentation_model(FLIP, "0-1", seed=1)
    averaged = predict_averaged(model, _split(x, y), 8, aug, 4)
    np.testing.assert_allclose(averaged, model.predict(x, verbose=0), atol=1e-6)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    plain = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    tta, _ = evaluate_averaged(model, _split(x, y), 8, aug, 4, lambda m: m.compile(
        loss="sparse_categorical_crossentropy", metrics=["accuracy"]))
    assert set(tta) == set(plain)
    for name in plain:
        assert tta[name] == pytest.approx(plain[name], abs=1e-5)


def test_averaged_predictions_are_the_mean_of_the_copies():
    # a horizontal flip gives each copy either p(x) or p(flipped x): the mean of N copies is
    # p(x) + k/N (p(flipped x) - p(x)) for a whole k from 0 to N, per sample
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    x, y = _images()
    copies = 5
    aug = data_mod.augmentation_model(FLIP, "0-1", seed=3)
    averaged = predict_averaged(model, _split(x, y), 8, aug, copies)
    p = model.predict(x, verbose=0).astype(np.float64)
    q = model.predict(x[:, :, ::-1], verbose=0).astype(np.float64)
    k = (averaged[:, 0] - p[:, 0]) / (q[:, 0] - p[:, 0]) * copies
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    assert np.all((np.round(k) >= 0) & (np.round(k) <= copies))
    assert 0 < np.round(k).sum() < copies * len(x)      # both kinds of copy were drawn
    expected = p + np.round(k)[:, None] / copies * (q - p)
    np.testing.assert_allclose(averaged, expected, atol=1e-5)


def test_comparison_text():
    text = comparison({"loss": 0.3, "accuracy": 0.9192}, {"accuracy": 0.9304, "loss": 0.25}, 8,
                      lambda v: f"{v:.4f}")
    assert text == "loss 0.3000 → 0.2500  accuracy 0.9192 → 0.9304 with TTA ×8"


def _run(project, tmp_path, options, settings):
    path = tmp_path / "p.nbproj"
    proj.save(project, path)
    events: list[dict] = []
    run_job({"project": str(path), "data": {"source": "digits", "options": options},
             "output_dir": str(tmp_path / "out"), "settings": settings}, events.append,
            threading.Event())
    return events


@pytest.mark.slow
def test_the_engine_reports_the_metrics_with_and_without_tta(tmp_path):
    events = _run(digits_cnn(), tmp_path, {"augmentation": {"flip": "horizontal",
                                                            "rotation": 0.05}},
                  {"epochs": 1, "tta": 3, "seed": 0})
    assert events[-1]["event"] == "finished", events[-1]
    evaluation = [e for e in events if e["event"] == "evaluation"][0]
    assert evaluation["tta"]["copies"] == 3
    assert set(evaluation["tta"]["metrics"]) == set(evaluation["metrics"]) == {"loss",
                                                                              "accuracy"}
    assert evaluation["tta"]["metrics"] != evaluation["metrics"]
    assert events[-1]["evaluation"]["tta"] == evaluation["tta"]      # kept in run.json too
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["result"]["evaluation"]["tta"]["copies"] == 3


@pytest.mark.slow
def test_tta_without_augmentation_is_skipped_with_a_note(tmp_path):
    events = _run(digits_cnn(), tmp_path, {}, {"epochs": 1, "tta": 3})
    evaluation = [e for e in events if e["event"] == "evaluation"][0]
    assert "tta" not in evaluation
    notes = [e for e in events if e["event"] == "data"][0]["notes"]
    assert any("needs augmentation" in n for n in notes)


def _netbuilder(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=engine_client.worker_environment())


@pytest.mark.slow
def test_cli_tta_prints_both_metrics(tmp_path):
    proj.save(digits_cnn(), tmp_path / "cnn.nbproj")
    result = _netbuilder("train", "cnn.nbproj", "--data", "digits", "--epochs", "1",
                         "--data-option", 'augmentation={"flip": "horizontal"}',
                         "--tta", "4", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = [ln for ln in result.stdout.splitlines() if "with TTA ×4" in ln]
    assert len(line) == 1 and "validation data: " in line[0]
    assert "accuracy" in line[0] and line[0].count("→") == 2


@pytest.mark.slow
def test_cli_tta_without_augmentation_is_one_line_and_exit_1(tmp_path):
    proj.save(digits_cnn(), tmp_path / "cnn.nbproj")
    result = _netbuilder("train", "cnn.nbproj", "--data", "digits", "--tta", "4", "--out", "run",
                         cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--tta 4 needs augmentation" in lines[0], result.stderr
    assert not (tmp_path / "run").exists() and result.stdout == ""


def test_exported_code_with_tta_needs_augmentation():
    project = digits_cnn()
    with pytest.raises(TrainingCodeError, match="needs augmentation"):
        with_training(generate_code(project), project.graph, {"tta": 2}, "digits")
    code = with_training(generate_code(project), project.graph, {"tta": 2}, "digits", FLIP)
    compile(code, "train.py", "exec")
    assert "TTA_COPIES = 2" in code and 'keras.layers.RandomFlip(mode="horizontal")' in code
    plain = with_training(generate_code(project), project.graph, {}, "digits", FLIP)
    assert "TTA" not in plain


def test_exported_tta_code_is_black_formatted():
    black = pytest.importorskip("black")
    project = chain_project(("Input", {"shape": [8, 8, 1]}), ("Flatten", {}),
                            ("Dense", {"units": 10, "activation": "softmax"}))
    aug = {"flip": "horizontal_and_vertical", "rotation": 0.1, "zoom": 0.1, "shift": 0.1,
           "contrast": 0.2, "brightness": 0.2}
    for settings in ({"tta": 3}, {"tta": 3, "fine_tune_from": "dense", "fine_tune_epochs": 1}):
        code = with_training(generate_code(project), project.graph, settings, "digits", aug)
        assert black.format_str(code, mode=black.Mode(line_length=99)) == code


@pytest.mark.slow
def test_exported_script_with_tta_trains_and_prints_both_metrics(tmp_path):
    project = digits_cnn(settings={"training": {"epochs": 1, "tta": 3}})
    project.settings["data"] = {"source": "digits", "options": {"augmentation": FLIP}}
    proj.save(project, tmp_path / "cnn.nbproj")
    export = _netbuilder("export", "cnn.nbproj", "-o", "train_cnn.py", "--with-training",
                         cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    run = subprocess.run([sys.executable, "train_cnn.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={**engine_client.worker_environment(),
                                                      "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-2000:]
    line = [ln for ln in run.stdout.splitlines() if "with TTA ×3" in ln]
    assert len(line) == 1 and "accuracy" in line[0] and "loss" in line[0], run.stdout[-1000:]
    assert (tmp_path / "model.keras").is_file()


# --- the Inspect dock's predictions ----------------------------------------------------------


def _session(model):
    from netbuilder.runtime import inspection as insp
    from netbuilder.runtime.workers.inspection import Session

    session = Session()
    session.model, session.submodels = model, insp.SubModels(model)
    return session


def test_inspect_predictions_with_tta_average_the_augmented_copies():
    from netbuilder.runtime import inspection as insp

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    session = _session(model)
    inp = {"kind": "dataset", "source": "digits", "index": 3}
    tta = {"copies": 6, "augmentation": FLIP, "seed": 2}
    reply = session.handle({"action": "predict", "input": inp, "top": 10, "tta": tta})
    plain = session.handle({"action": "predict", "input": inp, "top": 10})
    assert reply["top"] == plain["top"]                        # without TTA: unchanged
    assert reply["tta"]["copies"] == 6 and len(reply["tta"]["top"]) == 10
    # the same copies (same seed, a fresh augmentation) through Keras, averaged
    x = insp.prepare_input(model, inp).x
    copies = np.asarray(data_mod.augmentation_model(FLIP, "0-1", 2)(
        np.repeat(x[:1], 6, axis=0), training=True))
    want = model.predict(copies, verbose=0).mean(axis=0)
    got = {t["index"]: t["probability"] for t in reply["tta"]["top"]}
    np.testing.assert_allclose([got[i] for i in range(10)], want, rtol=1e-4, atol=1e-6)
    flipped = model.predict(x[:, :, ::-1], verbose=0)[0]
    p = model.predict(x[:1], verbose=0)[0]
    k = (want[0] - p[0]) / (flipped[0] - p[0]) * 6             # the mean of flipped or not
    assert abs(k - round(k)) < 1e-3


@pytest.mark.parametrize("tta, words", [
    ({"copies": 4, "augmentation": {}}, "needs augmentation"),
    ({"copies": 0, "augmentation": FLIP}, "whole number from 1"),
    ("yes", "must be an object"),
])
def test_inspect_tta_requests_that_cannot_work(tta, words):
    from netbuilder.runtime.inspection import InspectError

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(InspectError, match=words):
        _session(model).handle({"action": "predict", "top": 3, "tta": tta,
                                "input": {"kind": "dataset", "source": "digits"}})
