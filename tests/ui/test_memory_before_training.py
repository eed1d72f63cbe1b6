"""Before training: when one batch needs more than the RAM free now, Train (F5) warns with the
advice and lets the user go on or cancel; `netbuilder train` warns on stderr and goes on; an
out-of-memory end gives the same advice."""

from __future__ import annotations

import sys
import textwrap

import pytest
from PySide6.QtWidgets import QMessageBox

from netbuilder import cli
from netbuilder.core import summary
from netbuilder.core.project import Project, save

FINISHED = ('{"event": "finished", "reason": "completed", "epochs_run": 0, "history": {}, '
            '"train_s": 0.1, "samples_per_s": 1.0, "output_dir": "x", "model_path": "x"}')


@pytest.fixture
def little_ram(monkeypatch):
    monkeypatch.setattr(summary, "available_memory", lambda: 1000)


def test_train_warns_and_cancel_starts_nothing(window, little_ram, monkeypatch,
                                               no_modal_dialogs):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: (
        no_modal_dialogs.append(("warning", a[1], a[2])), QMessageBox.StandardButton.Cancel)[1])
    assert not window.train()
    assert not window.training_panel.is_running()
    ((kind, title, text),) = no_modal_dialogs
    assert title == "Training may run out of memory"
    assert "needs about" in text and "is free" in text and summary.MEMORY_ADVICE in text


@pytest.mark.slow
def test_train_warns_and_goes_on_when_asked(window, little_ram, no_modal_dialogs, qtbot):
    panel = window.training_panel
    panel.worker_command = [sys.executable, "-c", textwrap.dedent(f"""
        import sys
        sys.stdin.readline()
        print({FINISHED!r}, flush=True)""")]
    assert window.train()                      # the fixture answers Ok: train anyway
    assert [d[1] for d in no_modal_dialogs] == ["Training may run out of memory"]
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=20000)


def test_no_warning_when_it_fits(window, monkeypatch, no_modal_dialogs):
    monkeypatch.setattr(summary, "available_memory", lambda: 1 << 40)
    assert summary.training_memory_warning(window.document.graph, {}) is None
    monkeypatch.setattr(summary, "available_memory", lambda: None)  # the system does not say
    assert summary.training_memory_warning(window.document.graph, {}) is None


def test_the_out_of_memory_end_gives_the_same_advice():
    assert summary.MEMORY_ADVICE in summary.OUT_OF_MEMORY_ADVICE


class FinishedProcess:
    def __init__(self, job):
        self.job = job

    def start(self):
        return self

    def events(self):
        yield {"event": "finished", "reason": "completed", "epochs_run": 0, "history": {},
               "train_s": 0.1, "samples_per_s": 1.0, "output_dir": "x", "model_path": "x"}

    def close(self):
        pass


def test_cli_train_warns_on_stderr_and_goes_on(tmp_path, little_ram, monkeypatch, capsys):
    from conftest import small_cnn

    from netbuilder.runtime.workers import client

    save(Project(small_cnn(), "p"), tmp_path / "p.nbproj")
    monkeypatch.setattr(client, "TrainingProcess", FinishedProcess)
    code = cli.main(["train", str(tmp_path / "p.nbproj"), "--data", "digits", "--out",
                     str(tmp_path / "out"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 0
    (line,) = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert "training at batch 32 needs about" in line and summary.MEMORY_ADVICE in line
