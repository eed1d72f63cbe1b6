"""Hyperparameter search in the editor: ⚲ marks in the Inspector and the Training dock (one undo
step each, following renames and deletions, shown on the node cards), Train ▸ Search… running a
real small search on the digits MLP in the Search dock, Apply Best as one undo step, a
trial whose values break the graph failed with the inference error, a study of an earlier
session listed again when its project is reopened and resumed with the settings it kept, and
Train ▸ Open Search Study…: a study in another storage (an SQLite or journal file, as
``netbuilder search --storage`` makes on several machines) shown, switched, resumed in its
storage and remembered for the project, a bad storage one line in the dock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QToolButton

from netbuilder.core import project as proj
from netbuilder.ui.dialogs.search import OpenStudyDialog, storage_url_for_file
from netbuilder.ui.panels.search.feature import remembered_study
from netbuilder.ui.panels.search.marks import SEARCH_ICON
from netbuilder.ui.panels.search.panel import NO_SEARCH

MLP = Path(__file__).parents[2] / "resources" / "examples" / "mlp.nbproj"


def _mlp_searching_units(make_window, tmp_path):
    """A window on the digits MLP saved in ``tmp_path``, dense.units marked 8..32."""
    project = proj.load(MLP)
    project.search = {"dense.units": {"type": "int", "low": 8, "high": 32}}
    path = tmp_path / "mlp.nbproj"
    proj.save(project, path)
    window = make_window()
    window.open_file(path)
    window.training_panel.form.data_combo.set_source("digits")
    return window


def _node(window, name):
    return window.graph.node_by_name(name)


def test_mark_set_undone_renamed_and_dropped_with_its_layer(make_window):
    window = make_window()
    document = window.document
    conv = _node(window, "conv2d")
    window.scene.select_node(conv.id)
    toggles = [b for b in window.parameter_editor.findChildren(QToolButton)
               if b.text() == SEARCH_ICON]
    assert toggles, "a ⚲ toggle beside the numeric and choice fields"
    assert document.set_search_mark("conv2d.filters", {"type": "int", "low": 8,
                                                       "high": 64}) is None
    assert document.project.search == {"conv2d.filters": {"type": "int", "low": 8, "high": 64}}
    assert window.scene.node_notes[conv.id] == f"{SEARCH_ICON} filters"
    # a range the parameter refuses is one clear line, nothing recorded
    steps = document.undo_stack.count()
    error = document.set_search_mark("conv2d.filters", {"type": "int", "low": 0, "high": 4})
    assert error and "conv2d.filters" in error
    assert document.undo_stack.count() == steps
    # renamed with the layer (one undo step), then undone
    assert document.rename(conv.id, "features") is None
    assert "features.filters" in document.project.search
    assert window.scene.node_notes[conv.id] == f"{SEARCH_ICON} filters"
    document.undo_stack.undo()
    assert "conv2d.filters" in document.project.search
    # deleted with the layer, back with the undo
    document.delete([conv.id], [])
    assert document.project.search == {}
    document.undo_stack.undo()
    assert "conv2d.filters" in document.project.search
    document.undo_stack.undo()        # the mark itself
    assert document.project.search == {}
    assert conv.id not in window.scene.node_notes


def test_inspector_toggle_marks_and_training_setting_button(make_window, qtbot):
    window = make_window()
    document = window.document
    dense = _node(window, "dense")
    window.scene.select_node(dense.id)
    marks = [m for m in window.parameter_editor.findChildren(QToolButton)
             if m.text() == SEARCH_ICON]
    units_toggle = marks[0]            # units is the first key parameter of Dense
    units_toggle.click()
    assert document.project.search["dense.units"]["type"] == "int"
    button = window.training_panel.form.search_buttons["learning_rate"]
    button.popup.mark.toggle.click()   # (the popup itself is not shown offscreen)
    assert document.project.search["training.learning_rate"]["log"] is True
    document.undo_stack.undo()
    assert "training.learning_rate" not in document.project.search
    assert document.project.search.get("dense.units")


def test_apply_best_is_one_undo_step(make_window):
    window = make_window()
    document = window.document
    steps = document.undo_stack.count()
    error = document.apply_search_values({"conv2d.filters": 16, "dense.units": 10,
                                          "training.learning_rate": 0.01}, "Apply best")
    assert error is None
    assert _node(window, "conv2d").params["filters"] == 16
    assert document.project.settings["training"]["learning_rate"] == 0.01
    assert document.undo_stack.count() == steps + 1
    document.undo_stack.undo()
    assert _node(window, "conv2d").params["filters"] == 32
    assert "learning_rate" not in (document.project.settings.get("training") or {})


@pytest.mark.slow
def test_dialog_runs_a_small_real_search_and_apply_best(make_window, qtbot, tmp_path):
    window = _mlp_searching_units(make_window, tmp_path)
    feature = window.search_feature
    dialog = feature.open_dialog(start=False)
    dialog.trials.setValue(2)
    dialog.epochs.setValue(1)
    assert dialog.start_button.isEnabled()
    dialog.accept()
    panel = feature.panel
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=120_000)
    assert panel.table.rowCount() == 2, panel.status.text()
    states = [panel.table.item(r, 1).text() for r in range(2)]
    assert states == ["complete", "complete"], panel.status.text()
    # the trials are runs in the project's runs folder, which the Runs tab lists
    runs = tmp_path / "mlp-runs"
    assert len([p for p in runs.iterdir() if (p / "run.json").is_file()]) == 2
    assert (runs / "search" / "study.db").is_file()
    steps = window.document.undo_stack.count()
    assert panel.apply_best()
    assert window.document.undo_stack.count() == steps + 1
    best = panel.best_values()
    assert _node(window, "dense").params["units"] == best["dense.units"]
    # reopened in a new window: the dock reads the study (a search worker) and offers Resume
    # with the settings the study kept
    again = make_window()
    again.open_file(tmp_path / "mlp.nbproj")
    other = again.search_feature.panel
    qtbot.waitUntil(lambda: other.table.rowCount() == 2, timeout=30_000)
    qtbot.waitUntil(lambda: other.reader is None, timeout=30_000)
    assert other.resume_button.isEnabled(), other.status.text()
    assert other.config["trials"] == 2 and other.config["epochs"] == 1
    assert "Resume runs 2 more trials" in other.status.text()


@pytest.mark.slow
def test_a_trial_that_breaks_the_graph_fails_with_the_inference_error(make_window, qtbot,
                                                                      tmp_path):
    window = make_window()     # small CNN: a 28x28 input, pooled; a kernel of 40 cannot fit
    document = window.document
    document.set_search_mark("conv2d.kernel_size", {"type": "categorical", "choices": [40]})
    document.mark_saved(tmp_path / "cnn.nbproj")
    feature = window.search_feature
    assert feature.start({"trials": 1, "epochs": 1, "sampler": "random"})
    panel = feature.panel
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=60_000)
    assert panel.table.item(0, 1).text() == "failed"
    reason = panel.table.item(0, panel.table.columnCount() - 1).text()
    assert "the graph is invalid" in reason and "conv2d" in reason


def test_dialog_trials_at_once_and_the_gpus_each_worker_takes(qtbot):
    from netbuilder.ui.dialogs.search import SearchDialog

    cpu = SearchDialog(["dense.units=8..32"], None, 1)
    qtbot.addWidget(cpu)
    assert cpu.at_once.isEnabled() and cpu.at_once.value() == 1
    assert "share this machine's CPU cores" in cpu.at_once_note.text()
    cpu.at_once.setValue(2)
    assert cpu.config()["at_once"] == 2 and cpu.config()["gpus"] == [None, None]
    gpus = SearchDialog(["dense.units=8..32"], None, 1, gpus=[0, 1])
    qtbot.addWidget(gpus)
    gpus.at_once.setValue(3)
    assert gpus.config()["gpus"] == [0, 1, 0]            # worker k on GPU k mod count
    assert "2 on gpu:1" in gpus.at_once_note.text()
    again = SearchDialog([], None, 1, previous=gpus.config(), gpus=[0, 1])
    qtbot.addWidget(again)
    assert again.at_once.value() == 3


class _FakeWorker:
    def __init__(self, jobs):
        self.jobs, self.sent, self.alive = jobs, [], False

    def start(self, job):
        self.jobs.append(job)
        self.alive = True

    def running(self):
        return self.alive

    def send(self, line):
        self.sent.append(line)

    def close(self, _ms=0):
        self.alive = False

    def deleteLater(self):
        pass


def test_dock_starts_one_worker_per_trial_at_once_merges_them_and_stops_all(make_window,
                                                                           tmp_path):
    window = make_window()
    window.document.mark_saved(tmp_path / "cnn.nbproj")
    panel = window.search_feature.panel
    jobs, workers = [], []
    panel._new_worker = lambda: workers.append(_FakeWorker(jobs)) or workers[-1]
    assert panel.start({"trials": 5, "epochs": 3, "at_once": 2, "gpus": [0, 1]})
    assert len(jobs) == 1            # the second joins once the first has made the study
    panel.handle_event({"event": "study", "name": "cnn", "direction": "minimize",
                        "objective": "val_loss", "paths": ["conv2d.filters"], "trials": []})
    assert [j["config"]["trials"] for j in jobs] == [3, 2]
    assert [j["gpu"] for j in jobs] == [0, 1]
    assert all("at_once" not in j["config"] and "gpus" not in j["config"] for j in jobs)
    assert jobs[0]["out_dir"] == jobs[1]["out_dir"]                  # one study
    # both workers' trials in one table; a running one shows its epoch as it trains
    panel.handle_event({"event": "trial_begin", "number": 0, "params": {"conv2d.filters": 8}})
    panel.handle_event({"event": "trial_begin", "number": 1, "params": {"conv2d.filters": 16}})
    panel.handle_event({"event": "trial_epoch", "number": 1, "epoch": 2, "epochs": 3,
                        "logs": {"loss": 0.5, "val_loss": 0.41}})
    assert panel.table.item(1, 1).text() == "running · epoch 2/3 · val_loss 0.41"
    assert panel.table.item(0, 1).text() == "running"
    panel.handle_event({"event": "trial", "number": 1, "state": "complete", "value": 0.3,
                        "params": {"conv2d.filters": 16}, "duration_s": 2.0})
    assert panel.table.item(1, 1).text() == "complete"
    assert panel.best["best_number"] == 1
    panel.stop()
    assert [w.sent for w in workers] == [["stop"], ["stop"]]
    workers[1].alive = False
    panel.handle_event({"event": "finished", "reason": "stopped"})
    assert panel.is_running()                      # the other worker's trial is still going
    workers[0].alive = False
    panel._worker_ended()
    assert not panel.is_running()
    assert panel.status.text().startswith("Search stopped")


def test_epochs_can_be_marked_for_search_in_the_training_dock(make_window):
    window = make_window()
    button = window.training_panel.form.search_buttons["epochs"]
    assert button.text() == SEARCH_ICON
    button.popup.mark.toggle.click()
    assert window.document.project.search["training.epochs"]["type"] == "int"


@pytest.mark.slow
def test_two_trials_at_once_run_in_two_workers_on_one_study(make_window, qtbot, tmp_path):
    window = _mlp_searching_units(make_window, tmp_path)
    panel = window.search_feature.panel
    epochs_seen = []                 # the running trials' epoch events, as the dock shows them
    epoch_text = panel._epoch_text
    panel._epoch_text = lambda e: epochs_seen.append(e["number"]) or epoch_text(e)
    assert window.search_feature.start({"trials": 2, "epochs": 1, "at_once": 2,
                                        "gpus": [None, None]})
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=180_000)
    assert panel.table.rowCount() == 2, panel.status.text()
    numbers = sorted(panel.trials)
    assert numbers == [0, 1]
    assert [panel.table.item(r, 1).text() for r in range(2)] == ["complete", "complete"], \
        panel.status.text()
    assert len(panel.workers) == 2
    assert sorted(epochs_seen) == [0, 1]
    assert panel.status.text().startswith("Search finished"), panel.status.text()


class _ReadingWorker(_FakeWorker):
    """A stand-in search process: a ``read`` job runs the real worker's code in this process
    (Optuna reads the study), a search job is only recorded."""

    def __init__(self, jobs, panel):
        super().__init__(jobs)
        self.panel = panel

    def start(self, job):
        super().start(job)
        if job.get("read"):
            from netbuilder.runtime.workers import search as worker

            worker.run(job, self.panel._read_event, threading.Event())
            self.alive = False


def _study_in(url, name, settings=None, values=((12, 0.6), (24, 0.4))):
    """A study in the Optuna storage ``url`` as a search left it: complete trials with
    ``values`` ((units, objective)…), and the editor's ``settings`` if given."""
    import optuna

    from netbuilder.runtime.search import open_storage
    from netbuilder.runtime.workers import search as worker

    study = optuna.create_study(storage=open_storage(url), study_name=name,
                                direction="minimize")
    units = optuna.distributions.IntDistribution(8, 32)
    for n, value in values:
        study.add_trial(optuna.trial.create_trial(
            params={"dense.units": n}, distributions={"dense.units": units}, value=value,
            user_attrs={"output_dir": f"run-{n}"}))
    if settings is not None:
        worker.save_settings(study, settings, 0)


def _earlier_study(folder, name, settings):
    """A study as an earlier session's search left it in the runs folder: two complete trials,
    the settings."""
    folder.mkdir(parents=True)
    _study_in(f"sqlite:///{folder / 'study.db'}", name, settings)


def test_a_study_of_an_earlier_session_is_listed_and_resumed_with_its_settings(make_window,
                                                                               qtbot, tmp_path):
    project = proj.load(MLP)
    project.search = {"dense.units": {"type": "int", "low": 8, "high": 32}}
    proj.save(project, tmp_path / "mlp.nbproj")
    _earlier_study(tmp_path / "mlp-runs" / "search", "mlp",
                   {"objective": "val_loss", "direction": None, "trials": 5, "epochs": 2,
                    "timeout": None, "sampler": "random", "pruner": "none", "at_once": 1})
    window = make_window()
    panel = window.search_feature.panel
    jobs = []
    panel._new_worker = lambda reader=False: _ReadingWorker(jobs, panel)
    window.open_file(tmp_path / "mlp.nbproj")      # the dock reads its runs folder's study
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2)
    assert jobs[-1]["read"] is True
    assert [panel.table.item(r, 2).text() for r in range(2)] == ["0.6000", "0.4000"]
    assert panel.best["best_number"] == 1 and panel.apply_button.isEnabled()
    assert panel.resume_button.isEnabled()
    assert "Resume runs the 3 trials left with its settings" in panel.status.text()
    panel.resume_button.click()
    job = jobs[-1]
    assert job["config"] == {"objective": "val_loss", "direction": None, "trials": 3,
                             "epochs": 2, "timeout": None, "sampler": "random",
                             "pruner": "none", "study": "mlp"}
    assert job["saved"]["begun"] == 0 and job["saved"]["trials"] == 5   # kept again
    assert job["out_dir"] == str(tmp_path / "mlp-runs" / "search")
    # all five run: Resume runs as many again, counted from then
    panel.workers[0].alive = False
    for n in range(2, 5):
        panel.handle_event({"event": "trial", "number": n, "state": "complete", "value": 0.5,
                            "params": {"dense.units": 16}, "duration_s": 1.0})
    panel._worker_ended()
    assert panel.trials_left() == 0 and panel.resume_button.isEnabled()
    assert panel.resume()
    assert jobs[-1]["config"]["trials"] == 5 and jobs[-1]["saved"]["begun"] == 5


def test_the_worker_keeps_the_settings_in_the_study_and_reads_them_back(tmp_path):
    from netbuilder.runtime.workers import search as worker

    folder = tmp_path / "search"
    _earlier_study(folder, "other", {"trials": 4, "sampler": "tpe", "gpus": [0]})
    events = []
    assert worker.run({"read": True, "out_dir": str(folder), "config": {"study": "gone"}},
                      events.append, threading.Event()) == 0
    study, finished = events[0], events[-1]
    assert study["name"] == "other"                  # the one there, whatever its name
    assert study["settings"] == {"trials": 4, "sampler": "tpe", "begun": 0, "study": "other"}
    assert [t["number"] for t in study["trials"]] == [0, 1]
    assert study["paths"] == ["dense.units"] and study["objective"] == "val_loss"
    assert finished == {"event": "finished", "reason": "read", "ran": 0}
    missing = []
    worker.run({"read": True, "out_dir": str(tmp_path / "none")}, missing.append,
               threading.Event())
    assert missing[0]["event"] == "error" and "no study" in missing[0]["message"]


def test_epochs_per_trial_is_greyed_out_when_training_epochs_is_searched(make_window):
    window = make_window()
    feature = window.search_feature
    dialog = feature.open_dialog(start=False)
    assert dialog.epochs.isEnabled() and dialog.epochs_note.isHidden()
    dialog.close()
    window.training_panel.form.search_buttons["epochs"].popup.mark.toggle.click()
    dialog = feature.open_dialog(start=False)
    assert not dialog.epochs.isEnabled() and not dialog.epochs_note.isHidden()
    assert "training.epochs" in dialog.epochs_note.text()
    dialog.close()


def _mlp_project(tmp_path):
    project = proj.load(MLP)
    project.search = {"dense.units": {"type": "int", "low": 8, "high": 32}}
    path = tmp_path / "mlp.nbproj"
    proj.save(project, path)
    return path


def _reading_window(make_window, path=None):
    """A window whose search processes are ``_ReadingWorker``s (their jobs in ``jobs``)."""
    window = make_window()
    panel = window.search_feature.panel
    jobs = []
    panel._new_worker = lambda reader=False: _ReadingWorker(jobs, panel)
    if path is not None:
        window.open_file(path)
    return window, panel, jobs


SETTINGS = {"objective": "val_loss", "direction": None, "trials": 4, "epochs": 2,
            "timeout": None, "sampler": "tpe", "pruner": "median", "at_once": 1}


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_study_in_another_storage_is_shown_resumed_there_and_remembered(
        make_window, qtbot, tmp_path, monkeypatch, kind):
    from PySide6.QtWidgets import QFileDialog

    path = _mlp_project(tmp_path)
    (tmp_path / "shared").mkdir()
    file = tmp_path / "shared" / ("search.db" if kind == "sqlite" else "search.log")
    url = f"sqlite:///{file.resolve()}" if kind == "sqlite" else f"journal:{file.resolve()}"
    _study_in(url, "cluster", SETTINGS)
    window, panel, jobs = _reading_window(make_window, path)
    feature = window.search_feature
    assert jobs == [] and panel.status.text() == NO_SEARCH     # no study in the runs folder
    # Train ▸ Open Search Study…, Browse… for the file: its URL
    action = feature.open_study_action
    assert action in window.train_menu.actions() and action.isEnabled()
    dialog = feature.open_study_dialog(start=False)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(file), ""))
    dialog.browse_button.click()
    assert dialog.storage() == url and dialog.study() == ""
    dialog.accept()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2)
    assert jobs[-1] == {"read": True, "storage": url, "config": {"study": None}}
    assert [panel.table.item(r, 2).text() for r in range(2)] == ["0.6000", "0.4000"]
    assert panel.paths == ["dense.units"] and panel.study_name == "cluster"
    assert panel.best["best_number"] == 1 and panel.apply_button.isEnabled()
    assert panel.status.text().startswith(f"Study 'cluster' in {kind}:…/{file.name}: 2 trials")
    assert url in panel.status.toolTip()
    assert "Resume runs the 2 trials left with its settings" in panel.status.text()
    assert not panel.study_combo.isVisibleTo(panel)           # one study: nothing to choose
    # the plots and importances are drawn as for the runs folder's study
    assert panel.tabs.count() == 3
    # Resume continues it in its storage; the runs go to the project's runs folder
    panel.resume_button.click()
    job = jobs[-1]
    runs = tmp_path / "mlp-runs"
    assert job["storage"] == url and job["config"]["study"] == "cluster"
    assert job["config"]["trials"] == 2 and job["config"]["epochs"] == 2
    assert job["runs_dir"] == str(runs)
    assert job["out_dir"] == str(runs / "search" / "shared" / "cluster")
    assert not (runs / "search" / "study.db").exists()
    # Apply Best sets trial 1's units, one undo step
    panel.workers[0].alive = False
    panel._worker_ended()
    assert panel.apply_best()
    assert _node(window, "dense").params["units"] == 24
    # remembered for this project (the editor's settings, not the project file): reopening
    # it shows that study again
    assert remembered_study(path) == (url, "")
    assert "shared" not in path.read_text()
    again, other, other_jobs = _reading_window(make_window, path)
    qtbot.waitUntil(lambda: other.table.rowCount() == 2)
    assert other_jobs[0]["storage"] == url and other.storage == url
    # no storage: back to the runs folder's study (none), forgotten
    dialog = again.search_feature.open_study_dialog(start=False)
    assert dialog.storage() == url
    dialog.restore_defaults()
    dialog.accept()
    assert other.storage is None and other.table.rowCount() == 0
    assert other.status.text() == NO_SEARCH and remembered_study(path) is None


def test_a_storage_with_several_studies_offers_them(make_window, qtbot, tmp_path):
    path = _mlp_project(tmp_path)
    url = f"journal:{tmp_path / 'search.log'}"
    _study_in(url, "first", values=((8, 0.7),))
    _study_in(url, "second")                       # made later: the newest
    window, panel, jobs = _reading_window(make_window, path)
    feature = window.search_feature
    assert feature.open_study(url)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2)
    assert panel.study_name == "second"
    combo = panel.study_combo
    assert combo.isVisibleTo(panel) and panel.study_label.isVisibleTo(panel)
    assert [combo.itemText(i) for i in range(combo.count())] == ["first", "second"]
    assert combo.currentText() == "second"
    # settings not kept (a study made by netbuilder search): Search… continues it
    assert not panel.resume_button.isEnabled()
    assert "Train ▸ Search… continues it" in panel.status.text()
    combo.activated.emit(0)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1)
    assert jobs[-1]["config"] == {"study": "first"} and panel.study_name == "first"
    assert combo.currentText() == "first" and combo.isVisibleTo(panel)
    assert remembered_study(path) == (url, "first")
    # the dialog offers the storage's studies; Search… says where it goes and goes there
    dialog = feature.open_study_dialog(start=False)
    names = [dialog.study_combo.itemText(i) for i in range(dialog.study_combo.count())]
    assert names == ["first", "second"] and dialog.study() == "first"
    dialog.close()
    search = feature.open_dialog(start=False)
    target = search.findChild(type(panel.status), "searchTarget")
    assert target is not None and "'first'" in target.text() and url in target.text()
    search.trials.setValue(3)
    search.accept()
    assert jobs[-1]["storage"] == url and jobs[-1]["config"]["study"] == "first"
    assert jobs[-1]["config"]["trials"] == 3


@pytest.mark.parametrize("make_url, words", [
    (lambda tmp: f"sqlite:///{tmp / 'missing.db'}", "there is no file"),
    (lambda tmp: f"journal:{tmp / 'notes.txt'}", "is not an Optuna journal file"),
    (lambda tmp: f"sqlite:///{tmp / 'notes.txt'}", "is not an SQLite database"),
    (lambda tmp: "postgresql://me:secret@localhost/db", "is not installed; install it with: "
                                                        "pip install"),   # its driver
])
def test_a_storage_that_cannot_be_read_is_one_line_in_the_dock(make_window, qtbot, tmp_path,
                                                               make_url, words):
    (tmp_path / "notes.txt").write_text("not a study\n")
    window, panel, jobs = _reading_window(make_window, _mlp_project(tmp_path))
    url = make_url(tmp_path)
    assert window.search_feature.open_study(url)
    qtbot.waitUntil(lambda: panel.status.text().startswith("Could not"))
    text = panel.status.text()
    assert text.startswith("Could not open the search study: ") and words in text, text
    assert "\n" not in text and "Traceback" not in text and "secret" not in text
    assert panel.table.rowCount() == 0 and not panel.resume_button.isEnabled()
    assert not (tmp_path / "missing.db").exists()


def test_no_such_study_in_the_storage_names_those_there(make_window, qtbot, tmp_path):
    url = f"sqlite:///{tmp_path / 'search.db'}"
    _study_in(url, "cluster")
    window, panel, _jobs = _reading_window(make_window, _mlp_project(tmp_path))
    assert window.search_feature.open_study(url, "clusterr")
    qtbot.waitUntil(lambda: panel.status.text().startswith("Could not"))
    assert panel.status.text() == (f"Could not open the search study: no study 'clusterr' in "
                                   f"{url}: it has 'cluster'")


def test_the_search_worker_process_reads_a_journal_study(make_window, qtbot, tmp_path):
    """The real search worker (a process), as the editor starts it."""
    url = f"journal:{tmp_path / 'search.log'}"
    _study_in(url, "cluster", SETTINGS)
    window = make_window()
    window.open_file(_mlp_project(tmp_path))
    panel = window.search_feature.panel
    assert window.search_feature.open_study(url)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2 and panel.reader is None,
                    timeout=60_000)
    assert panel.resume_button.isEnabled(), panel.status.text()
    assert panel.status.text().startswith("Study 'cluster' in journal:…/search.log: 2 trials")


def test_the_open_study_dialog_turns_files_into_urls_and_refuses_what_is_not_one(qtbot,
                                                                                tmp_path):
    db = tmp_path / "a.db"
    _study_in(f"sqlite:///{db}", "s")
    journal = tmp_path / "a.log"
    _study_in(f"journal:{journal}", "s")
    assert storage_url_for_file(db) == f"sqlite:///{db.resolve()}"
    assert storage_url_for_file(journal) == f"journal:{journal.resolve()}"
    dialog = OpenStudyDialog()
    qtbot.addWidget(dialog)
    assert dialog.storage_edit.placeholderText().startswith("empty: the study in this project")
    for bad, words in (("nonsense", "is not a storage URL"),
                       (f"sqlite:///{tmp_path / 'gone.db'}", "there is no file")):
        dialog.storage_edit.setText(bad)
        dialog.accept()
        assert dialog.result() == 0 and words in dialog.error_label.text()
        assert dialog.error_label.isVisibleTo(dialog)
    dialog.storage_edit.setText(str(journal))        # a path pasted: its URL
    dialog.accept()
    assert dialog.result() == 1 and dialog.storage() == f"journal:{journal.resolve()}"
    assert not dialog.error_label.isVisibleTo(dialog)
