"""``netbuilder export PROJECT --with-search``: a standalone Optuna + Keras search script."""

import re
import subprocess
import sys

import pytest

from netbuilder.cli import main
from netbuilder.core import blocks_library as bl
from netbuilder.core import project as proj
from netbuilder.core.graph import Graph
from netbuilder.core.project import Project
from netbuilder.core.search_space import dimensions_to_plain, parse_dimension

MARKS = ["body.repeat=1..3", "dense.units=8..64:step=8", "body.rate=0.1..0.5",
         "training.learning_rate=1e-4..1e-2:log", "training.optimizer=adam,sgd",
         "training.batch_size=16,32"]


def _searched_project(marks=MARKS) -> Project:
    g = Graph()
    bl.add_to_graph(g, bl.dense_dropout())
    x = g.add_node("Input", {"shape": [64]})
    body = g.add_node("Block", {"block": "dense_dropout", "units": 16}, name="body")
    dense = g.add_node("Dense", {"units": 32, "activation": "relu"})
    head = g.add_node("Dense", {"units": 10, "activation": "softmax"})
    for a, b in [(x, body), (body, dense), (dense, head)]:
        g.connect(a.id, b.id)
    project = Project(g, name="deep mlp", settings={"training": {"epochs": 1}})
    project.search = dimensions_to_plain([parse_dimension(t) for t in marks])
    return project


def _export(tmp_path, project, *extra):
    path = tmp_path / "deep.nbproj"
    proj.save(project, path)
    out = tmp_path / "search.py"
    code = main(["export", str(path), "--with-search", "-o", str(out), *extra])
    return code, out


def test_script_is_black_formatted_and_suggests_each_mark(tmp_path):
    code, out = _export(tmp_path, _searched_project(), "--data", "digits")
    assert code == 0
    text = out.read_text()
    black = pytest.importorskip("black")
    assert black.format_str(text, mode=black.Mode(line_length=99)) == text
    flat = re.sub(r",?\s+\)", ")", re.sub(r"\(\s+", "(", " ".join(text.split())))  # unwrapped
    for line in ['"body.repeat": trial.suggest_int("body.repeat", 1, 3)',
                 '"dense.units": trial.suggest_int("dense.units", 8, 64, step=8)',
                 '"body.rate": trial.suggest_float("body.rate", 0.1, 0.5)',
                 'trial.suggest_float("training.learning_rate", 0.0001, 0.01, log=True)',
                 'trial.suggest_categorical("training.optimizer", ["adam", "sgd"])',
                 'for i in range(params["body.repeat"]):',
                 'layers.Dense(params["dense.units"], activation="relu", name="dense")',
                 "batch_size=params[\"training.batch_size\"]",
                 "def build_model(params):", "def objective(trial):"]:
        assert line in flat, line
    assert "netbuilder" not in text.replace("NetBuilder", "")


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    code, out = _export(tmp_path, _searched_project([]), "--data", "digits")
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing to search" in err[0]
    code, out = _export(tmp_path, _searched_project(["training.patience=1..3"]),
                        "--data", "digits")
    assert code == 1 and not out.exists()
    assert "training.patience" in capsys.readouterr().err


@pytest.mark.slow
def test_script_runs_two_trials_on_the_digits_and_prints_the_best(tmp_path):
    code, out = _export(tmp_path, _searched_project(), "--data", "digits")
    assert code == 0
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    run = subprocess.run([sys.executable, str(out), "--trials", "2", "--storage", storage,
                          "--study", "s"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300, env={"TF_CPP_MIN_LOG_LEVEL": "3",
                                           "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "best val_loss: " in run.stdout
    value = float(run.stdout.split("best val_loss: ")[1].split()[0])
    assert 0 < value < 10
    optuna = pytest.importorskip("optuna")
    study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 2
    assert {t.params["body.repeat"] for t in study.trials} <= {1, 2, 3}
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    # another objective: its direction follows from its name, as in netbuilder search
    run = subprocess.run([sys.executable, str(out), "--trials", "1", "--storage", storage,
                          "--study", "acc", "--objective", "val_accuracy"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "best val_accuracy: " in run.stdout
    accuracy = optuna.load_study(study_name="acc", storage=storage)
    assert accuracy.direction == optuna.study.StudyDirection.MAXIMIZE
    assert 0 <= accuracy.best_value <= 1
