"""Hyperparameter search with Optuna: trials as runs, pruning, failed trials, the command line and
a study shared by two processes."""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import chain_project, digits_mlp

from netbuilder.cli import main
from netbuilder.core import project as proj
from netbuilder.core.search_space import dimensions_to_plain, parse_dimension
from netbuilder.runtime import search as search_mod
from netbuilder.runtime.search import Search, SearchConfig, SearchError, space_for


def _config(tmp_path, **kw):
    kw.setdefault("trials", 2)
    kw.setdefault("epochs", 1)
    return SearchConfig(data={"source": "digits"}, out_dir=tmp_path / "out", seed=0, **kw)


def _rows(path):
    return list(csv.DictReader(path.read_text().splitlines()))


def _small_cnn():
    return chain_project(("Input", {"shape": [8, 8, 1]}),
                         ("Conv2D", {"filters": 4, "kernel_size": 3}),
                         ("Flatten", {}), ("Dense", {"units": 10, "activation": "softmax"}),
                         name="cnn")


def _fake_training(losses_by_trial):
    """A stand-in for training: epoch events with the given val_loss per epoch."""
    calls = []

    def train(job, emit, stop):
        calls.append(job)
        losses = losses_by_trial[len(calls) - 1]
        history = {"val_loss": []}
        Path(job["output_dir"]).mkdir(parents=True, exist_ok=True)
        for epoch, loss in enumerate(losses, start=1):
            if stop.is_set():
                break
            history["val_loss"].append(loss)
            emit({"event": "epoch", "epoch": epoch, "logs": {"val_loss": loss}})
        emit({"event": "finished", "reason": "stopped" if stop.is_set() else "completed",
              "history": history, "epochs_run": len(history["val_loss"])})
    return train, calls


@pytest.mark.slow
def test_trials_train_are_kept_as_runs_with_csv_and_best(tmp_path):
    project = digits_mlp()
    dims = space_for(project, [parse_dimension("dense.units=4..16"),
                               parse_dimension("training.learning_rate=1e-3..1e-2:log")])
    search = Search(project, dims, _config(tmp_path))
    outcomes = list(search.run())
    assert [o.state for o in outcomes] == ["complete", "complete"]
    assert [o.number for o in outcomes] == [0, 1]
    out = tmp_path / "out"
    for o in outcomes:
        run = out / "trials" / f"{o.number:03d}"
        assert {"run.json", "history.json", "model.keras", "trial.json"} <= {
            p.name for p in run.iterdir()}
        record = json.loads((run / "run.json").read_text())
        node = next(n for n in record["project"]["graph"]["nodes"] if n["name"] == "dense")
        assert node["params"]["units"] == o.params["dense.units"]        # the trial's graph
        assert record["settings"]["learning_rate"] == o.params["training.learning_rate"]
        assert record["settings"]["epochs"] == 1
        assert json.loads((run / "trial.json").read_text())["value"] == o.value
    rows = _rows(out / "trials.csv")
    assert [r["state"] for r in rows] == ["complete", "complete"]
    assert set(rows[0]) >= {"number", "state", "objective", "dense.units",
                            "training.learning_rate"}
    best = min(outcomes, key=lambda o: o.value)
    saved = proj.load(out / "best.nbproj")
    assert saved.graph.node_by_name("dense").params["units"] == best.params["dense.units"]
    assert saved.settings["training"]["learning_rate"] == best.params["training.learning_rate"]


def test_an_invalid_graph_fails_its_trial_without_training(tmp_path, monkeypatch):
    def never(*args):
        raise AssertionError("an invalid graph must not be trained")

    monkeypatch.setattr(search_mod, "_train_here", never)
    project = _small_cnn()
    dims = space_for(project, [parse_dimension("conv2d.kernel_size=9")])   # 9x9 on 8x8
    search = Search(project, dims, _config(tmp_path, trials=1))
    [outcome] = search.run()
    assert outcome.state == "failed"
    assert "graph is invalid" in outcome.reason and "conv2d" in outcome.reason
    [row] = _rows(tmp_path / "out" / "trials.csv")
    assert row["state"] == "failed" and "conv2d" in row["reason"]
    assert not (tmp_path / "out" / "best.nbproj").exists()


def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path, monkeypatch):
    calls = []

    def train(job, emit, stop):
        calls.append(job)
        if len(calls) == 1:
            emit({"event": "error", "kind": "memory", "message": "ran out of memory while "
                  "training with batch size 32"})
            return
        emit({"event": "finished", "reason": "completed", "history": {"val_loss": [0.5]},
              "epochs_run": 1})

    monkeypatch.setattr(search_mod, "_train_here", train)
    project = digits_mlp()
    search = Search(project, space_for(project, [parse_dimension("dense.units=4..16")]),
                    _config(tmp_path))
    first, second = search.run()
    assert (first.state, second.state) == ("failed", "complete")
    assert "ran out of memory" in first.reason
    assert search.best_trial().number == 1


def test_weak_trials_are_pruned_after_an_epoch(tmp_path, monkeypatch):
    train, calls = _fake_training([[0.5, 0.4, 0.3], [0.6, 0.5, 0.4], [0.9, 0.9, 0.9]])
    monkeypatch.setattr(search_mod, "_train_here", train)
    project = digits_mlp()
    search = Search(project, space_for(project, [parse_dimension("dense.units=4..16")]),
                    _config(tmp_path, trials=3, pruner="median"))
    outcomes = list(search.run())
    assert [o.state for o in outcomes] == ["complete", "complete", "pruned"]
    assert outcomes[2].epochs_run == 1 and outcomes[2].value == 0.9
    assert outcomes[0].value == 0.3


def test_a_missing_objective_stops_the_search(tmp_path, monkeypatch):
    train, _ = _fake_training([[0.5]])
    monkeypatch.setattr(search_mod, "_train_here", train)
    project = digits_mlp()
    search = Search(project, space_for(project, [parse_dimension("dense.units=4..16")]),
                    _config(tmp_path, objective="val_acc"))
    with pytest.raises(SearchError, match="no metric 'val_acc'.*val_loss"):
        list(search.run())


def test_grid_sampler_runs_each_point_once(tmp_path, monkeypatch):
    train, calls = _fake_training([[0.1]] * 4)
    monkeypatch.setattr(search_mod, "_train_here", train)
    project = digits_mlp()
    dims = space_for(project, [parse_dimension("dense.units=4,8"),
                               parse_dimension("training.optimizer=adam,sgd")])
    search = Search(project, dims, _config(tmp_path, trials=None, sampler="grid"))
    outcomes = list(search.run())
    assert sorted((o.params["dense.units"], o.params["training.optimizer"])
                  for o in outcomes) == [(4, "adam"), (4, "sgd"), (8, "adam"), (8, "sgd")]


def test_marks_saved_in_the_project_are_searched(tmp_path):
    project = digits_mlp()
    project.search = dimensions_to_plain([parse_dimension("dense.units=4..8")])
    assert [d.text() for d in space_for(project)] == ["dense.units=4..8"]
    assert [d.text() for d in space_for(project, [parse_dimension("dense.units=2..3")])] == [
        "dense.units=2..3"]


@pytest.mark.parametrize("args, words", [
    (["--space", "dense.units"], "PATH=LOW..HIGH"),
    (["--space", "nolayer.units=1..4"], "no layer named 'nolayer'"),
    (["--space", "dense.units=0..4"], "0 is not an integer >= 1"),
    (["--space", "dense.units=1..4", "--storage", "sqlite:////no/such/folder/s.db"],
     "cannot open the storage"),
    pytest.param(["--space", "dense.units=1..4", "--storage", "mysql+pymysql://me@localhost/db"],
                 "the Python module pymysql, is not installed; install it with: pip install "
                 "PyMySQL", marks=pytest.mark.skipif(importlib.util.find_spec("pymysql")
                                                     is not None, reason="PyMySQL is here")),
    ([], "nothing to search"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, words):
    path = tmp_path / "p.nbproj"
    proj.save(digits_mlp(), path)
    out = tmp_path / "out"
    assert main(["search", str(path), "--data", "digits", "--out", str(out), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow
def test_two_processes_share_one_study(tmp_path):
    path = tmp_path / "p.nbproj"
    proj.save(digits_mlp(), path)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = [sys.executable, "-m", "netbuilder", "search", str(path), "--data", "digits",
               "--trials", "2", "--epochs", "1", "--space", "dense.units=4..32",
               "--storage", storage, "--study", "shared"]
    procs = [subprocess.Popen(command + ["--out", str(tmp_path / f"out{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr
        assert "Traceback" not in stderr and "I0000" not in stderr
    mine = [[int(line.split()[1]) for line in out.splitlines() if line.startswith("Trial ")]
            for out, _ in results]
    assert sorted(mine[0] + mine[1]) == [0, 1, 2, 3]          # distinct numbers, one study
    import optuna

    study = optuna.load_study(study_name="shared", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    best = study.best_trial
    # the process that ended last saw every trial: its best is the study's one best
    units = {proj.load(tmp_path / f"out{i}" / "best.nbproj").graph.node_by_name("dense")
             .params["units"] for i in range(2)}
    assert best.params["dense.units"] in units
    for out, _ in results:
        assert out.splitlines()[-2].startswith("Best: trial ")


@pytest.mark.slow
def test_a_trial_in_its_own_worker_process(tmp_path):
    project = digits_mlp()
    search = Search(project, space_for(project, [parse_dimension("dense.units=4..8")]),
                    _config(tmp_path, trials=1, isolate=True))
    [outcome] = search.run()
    assert outcome.state == "complete" and outcome.value > 0
    assert (Path(outcome.output_dir) / "model.keras").exists()


def test_each_epoch_of_a_running_trial_reaches_the_hook(tmp_path, monkeypatch):
    train, _ = _fake_training([[0.5, 0.4, 0.3], [0.6, 0.5, 0.4]])
    monkeypatch.setattr(search_mod, "_train_here", train)
    project = digits_mlp()
    seen = []
    search = Search(project, space_for(project, [parse_dimension("dense.units=4..16")]),
                    _config(tmp_path), on_epoch=lambda n, e: seen.append((n, e["epoch"],
                                                                          e["logs"])))
    list(search.run())
    assert [(n, epoch) for n, epoch, _ in seen] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2),
                                                    (1, 3)]
    assert seen[1][2] == {"val_loss": 0.4}


def test_a_searched_epochs_setting_wins_over_the_epochs_per_trial(tmp_path, monkeypatch):
    train, calls = _fake_training([[0.5], [0.4]])
    monkeypatch.setattr(search_mod, "_train_here", train)
    project = digits_mlp()
    dims = space_for(project, [parse_dimension("training.epochs=2,3")])
    list(Search(project, dims, _config(tmp_path, epochs=1, sampler="grid")).run())
    assert sorted(job["project"]["settings"]["training"]["epochs"] for job in calls) == [2, 3]
    assert all("epochs" not in job["settings"] for job in calls)
    plain = Search(project, space_for(project, [parse_dimension("dense.units=4..16")]),
                   _config(tmp_path / "b", epochs=1))
    assert plain.settings_for({"dense.units": 8}) == {"epochs": 1}


def test_trials_are_shared_among_parallel_workers():
    assert search_mod.share_trials(10, 3) == [4, 3, 3]
    assert search_mod.share_trials(2, 2) == [1, 1]
    assert search_mod.share_trials(2, 5) == [1, 1]       # no worker without a trial
    assert search_mod.share_trials(4, 1) == [4]


def test_parallel_workers_take_turns_on_the_gpus_and_get_their_environment():
    worker_gpus, env_for = search_mod.worker_gpus, search_mod.gpu_environment
    assert worker_gpus(4, [0, 1]) == [0, 1, 0, 1]           # worker k on GPU k mod count
    assert worker_gpus(3, [0, 1, 2, 3]) == [0, 1, 2]
    assert worker_gpus(2, [2, 5]) == [2, 5]                  # devices gpu:2,5
    assert worker_gpus(3, [0]) == [None, None, None]         # one GPU: all share it
    assert worker_gpus(2, []) == [None, None]                # CPU only: the cores are shared
    assert worker_gpus(1, [0, 1]) == [None]                  # one worker: its devices setting
    assert env_for(None, {}) == {}
    assert env_for(1, {}) == {"CUDA_VISIBLE_DEVICES": "1"}
    # the editor itself limited to cards 4 and 6: TensorFlow's gpu:1 is card 6
    assert env_for(1, {"CUDA_VISIBLE_DEVICES": "4,6"}) == {"CUDA_VISIBLE_DEVICES": "6"}


def test_the_gpus_are_found_without_tensorflow_and_follow_the_devices_setting():
    detected, gpus = search_mod.detected_gpus, search_mod.search_gpus
    listing = "GPU 0: NVIDIA H200 (UUID: GPU-1)\nGPU 1: NVIDIA H200 (UUID: GPU-2)\n"
    assert detected({}, lambda: listing) == [0, 1]
    assert detected({}, lambda: None) == []                  # no nvidia-smi: no GPU
    assert detected({"CUDA_VISIBLE_DEVICES": "3,5,7"}, lambda: listing) == [0, 1, 2]
    assert detected({"CUDA_VISIBLE_DEVICES": ""}, lambda: listing) == []
    assert detected({"CUDA_VISIBLE_DEVICES": "-1"}, lambda: listing) == []
    assert gpus("auto", lambda: [0, 1, 2]) == [0, 1, 2]
    assert gpus(None, lambda: [0, 1]) == [0, 1]
    assert gpus("gpu:1,3", lambda: [0, 1, 2, 3]) == [1, 3]
    assert gpus("cpu:2", lambda: [0, 1]) == []


def test_the_search_worker_puts_itself_on_its_gpu(monkeypatch):
    from netbuilder.runtime.workers import search as worker

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")      # restored after the test
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert worker.use_gpu({"gpu": None}) is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert worker.use_gpu({"gpu": 1}) == "this worker trains on gpu:1"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    with pytest.raises(ValueError, match="gpu must be a GPU number"):
        worker.use_gpu({"gpu": "first"})
    event = worker.epoch_event(4, {"event": "epoch", "epoch": 2, "epochs": 3,
                                   "logs": {"val_loss": 0.41}, "eta_s": 1.0})
    assert event == {"event": "trial_epoch", "number": 4, "epoch": 2, "epochs": 3,
                     "logs": {"val_loss": 0.41}}


def test_the_search_worker_runs_and_reads_a_study_in_another_storage(tmp_path, monkeypatch):
    """The editor's search worker given a storage URL (a journal file, as on a shared disk):
    its trials go to that study (none in out_dir), a read job reads it back with its objective,
    and a storage that is not there is one line, with no file made."""
    import threading

    from netbuilder.runtime.workers import search as worker

    train, calls = _fake_training([[0.5], [0.3]])
    monkeypatch.setattr(search_mod, "_train_here", train)
    project = digits_mlp()
    project.search = dimensions_to_plain([parse_dimension("dense.units=4..16")])
    (tmp_path / "shared").mkdir()
    url = f"journal:{tmp_path / 'shared' / 'search.log'}"
    job = {"project": proj.project_to_dict(project), "data": {"source": "digits"},
           "out_dir": str(tmp_path / "out"), "runs_dir": str(tmp_path / "runs"),
           "storage": url, "config": {"trials": 2, "epochs": 1, "study": "together",
                                      "objective": "val_loss", "seed": 0}}
    events = []
    assert worker.run(job, events.append, threading.Event()) == 0, events
    assert events[-1]["event"] == "finished" and len(calls) == 2
    assert not (tmp_path / "out" / "study.db").exists()
    assert len(_rows(tmp_path / "out" / "trials.csv")) == 2
    assert len(list((tmp_path / "runs").iterdir())) == 2        # the runs folder, as usual
    read = []
    assert worker.run({"read": True, "storage": url, "config": {"study": None}}, read.append,
                      threading.Event()) == 0
    study = read[0]
    assert study["name"] == "together" and study["storage"] == url
    assert study["studies"] == ["together"] and study["objective"] == "val_loss"
    assert [t["value"] for t in study["trials"]] == [0.5, 0.3]
    missing = tmp_path / "nowhere.db"
    for bad, words in ((f"sqlite:///{missing}", "there is no file"),
                       (url, "no study 'other'")):
        errors = []
        assert worker.run({"read": True, "storage": bad, "config": {"study": "other"}},
                          errors.append, threading.Event()) == 1
        [error] = errors
        assert error["event"] == "error" and words in error["message"]
        assert "\n" not in error["message"]
    assert not missing.exists()
    # a study made by netbuilder search keeps its objective: the editor shows it by that
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    Search(project, space_for(project), _config(tmp_path, objective="val_accuracy",
                                                storage=db, study="cli")).open()
    read = []
    worker.run({"read": True, "storage": db}, read.append, threading.Event())
    assert read[0]["objective"] == "val_accuracy" and read[0]["direction"] == "maximize"
