"""Runs kept with the project, read back from their folders (plain Python: no Qt needed)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from netbuilder.core.graph import Graph
from netbuilder.core.project import Project, project_to_dict
from netbuilder.ui.panels.training.runs import (
    delete_run,
    graph_signature,
    list_runs,
    pick_metric,
    read_run,
    runs_beside,
)


def small_cnn() -> Graph:
    graph = Graph()
    previous = None
    for layer_type, params in (("Input", {"shape": [28, 28, 1]}),
                               ("Conv2D", {"filters": 4, "kernel_size": 3}),
                               ("Flatten", {}), ("Dense", {"units": 10})):
        node = graph.add_node(layer_type, params)
        if previous is not None:
            graph.connect(previous.id, node.id)
        previous = node
    return graph


def write_run(base: Path, stamp: str, project: Project | None = None, *,
              history: dict | None = None, reason: str | None = "completed",
              initial_epoch: int = 0, model: bool = True) -> Path:
    """A run folder as the worker leaves it (run.json with the project, settings, data and,
    once finished, the result and history)."""
    folder = base / stamp
    folder.mkdir(parents=True)
    record = {"project": project_to_dict(project or Project(small_cnn(), "m")),
              "settings": {"epochs": 3}, "data": {"source": "digits", "options": {}},
              "initial_weights": None, "initial_epoch": initial_epoch}
    if reason is not None:
        record["result"] = {"reason": reason, "epochs_run": len((history or {}).get("loss", []))}
        record["history"] = history or {}
    (folder / "run.json").write_text(json.dumps(record))
    if model:
        (folder / "model.keras").write_text("weights")
    return folder


HISTORY = {"loss": [1.0, 0.6, 0.5], "accuracy": [0.5, 0.7, 0.8],
           "val_loss": [1.1, 0.7, 0.75], "val_accuracy": [0.45, 0.8, 0.78]}


def test_runs_are_listed_newest_first_with_their_best_validation_value(tmp_path):
    base = runs_beside(tmp_path / "m.nbproj")
    assert base == tmp_path / "m-runs"
    assert list_runs(base) == []
    write_run(base, "2026-03-04_05-06-07", history=HISTORY)
    write_run(base, "2026-03-05_09-00-00", history={"loss": [0.9], "val_loss": [0.95]},
              reason="stopped", initial_epoch=3)
    write_run(base, "2026-03-06_10-00-00", reason=None)          # killed before it ended
    (base / "not-a-run").mkdir()                                 # ignored: no run.json
    runs = list_runs(base)
    assert [r.name for r in runs] == ["2026-03-06_10-00-00", "2026-03-05_09-00-00",
                                      "2026-03-04_05-06-07"]
    unfinished, stopped, first = runs
    assert first.started == datetime.datetime(2026, 3, 4, 5, 6, 7)
    assert first.epochs == 3 and first.reason == "completed"
    assert first.metric == "accuracy"
    assert first.best() == ("val_accuracy", pytest.approx(0.8), 2)   # the highest accuracy
    assert "3 epochs · completed" in first.describe()
    assert "best val_accuracy 0.8000 (epoch 2)" in first.describe()
    assert stopped.best() == ("val_loss", pytest.approx(0.95), 4)    # numbered after epoch 3
    assert stopped.epoch_numbers() == [4.0]
    assert "stopped" in stopped.describe()
    assert unfinished.epochs == 0 and "did not finish" in unfinished.describe()
    assert "no epoch finished" in unfinished.describe()


def test_history_falls_back_to_history_json_and_bad_files_are_described(tmp_path):
    folder = write_run(tmp_path, "2026-01-01_00-00-00", reason=None)
    (folder / "history.json").write_text(json.dumps({"loss": [2.0, None], "mae": [1.0, 0.5]}))
    run = read_run(folder)
    assert run.history["mae"] == [1.0, 0.5]
    assert run.history["loss"][1] != run.history["loss"][1]          # None became NaN
    assert run.metric == "mae" and run.best() == ("loss", 2.0, 1)
    broken = tmp_path / "2026-01-02_00-00-00"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    bad = read_run(broken)
    assert bad.problem and "cannot be read" in bad.describe()
    assert read_run(tmp_path / "nothing") is None


def test_the_graph_signature_ignores_positions_but_not_layers_or_parameters():
    project = Project(small_cnn(), "m")
    before = graph_signature(project_to_dict(project))
    node = next(n for n in project.graph.nodes.values() if n.type == "Conv2D")
    project.graph.move(node.id, (300.0, 50.0))
    assert graph_signature(project_to_dict(project)) == before
    project.graph.set_param(node.id, "filters", 8)
    assert graph_signature(project_to_dict(project)) != before
    assert graph_signature(None) is None
    assert pick_metric(["loss", "val_loss", "mae", "learning_rate"]) == "mae"


def test_delete_run_removes_only_a_run_folder_of_this_project(tmp_path):
    base = tmp_path / "m-runs"
    folder = write_run(base, "2026-03-04_05-06-07", history=HISTORY)
    run = read_run(folder)
    with pytest.raises(OSError):
        delete_run(run, tmp_path / "other-runs")
    assert folder.is_dir()
    delete_run(run, base)
    assert not folder.exists() and base.is_dir()


def test_an_unsaved_projects_runs_have_a_folder_of_their_own_that_moves_on_first_save(
        tmp_path, monkeypatch):
    import tempfile

    from netbuilder.ui.panels.training.runs import RunsHome

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    home, other = RunsHome(), RunsHome()
    assert home.base(None) is None                       # nothing made before a run
    temp = home.base(None, create=True)
    assert temp.is_dir() and temp.parent == tmp_path and "netbuilder-runs" in temp.name
    assert other.base(None, create=True) != temp         # another project: another folder
    other.release()
    assert other.base(None) is None

    write_run(temp, "2026-03-04_05-06-07", history=HISTORY)
    write_run(temp, "2026-03-05_05-06-07", history=HISTORY)
    project = tmp_path / "saved" / "m.nbproj"
    project.parent.mkdir()
    write_run(runs_beside(project), "2026-03-04_05-06-07", history=HISTORY)   # merged into
    assert home.adopt(project) == runs_beside(project)
    assert not temp.exists() and home.base(None) is None
    names = sorted(r.name for r in list_runs(runs_beside(project)))
    assert names == ["2026-03-04_05-06-07", "2026-03-04_05-06-07-2", "2026-03-05_05-06-07"]
    assert all(r.history == HISTORY for r in list_runs(runs_beside(project)))


def test_a_closed_projects_temporary_runs_folder_goes_only_when_empty(tmp_path, monkeypatch):
    import tempfile

    from netbuilder.ui.panels.training.runs import RunsHome

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    home = RunsHome()
    empty = home.base(None, create=True)
    home.release()
    assert not empty.exists()
    kept = home.base(None, create=True)
    write_run(kept, "2026-03-04_05-06-07", history=HISTORY)
    home.release()
    assert kept.is_dir() and home.base(None) is None
