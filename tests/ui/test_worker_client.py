"""ui/workers.WorkerClient: a worker process that outlives its client (the window that owned
the client closed while the worker was still ending) ends without an error."""

from __future__ import annotations

import sys

import shiboken6

from netbuilder.ui.workers import WorkerClient

ENDING_WORKER = ("import time; print('{\"event\": \"status\", \"message\": \"ending\"}', "
                 "flush=True); time.sleep(0.3); print('{\"event\": \"finished\"}', flush=True)")


def test_a_worker_that_outlives_its_client_ends_quietly(qtbot, monkeypatch):
    errors: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, err, tb: errors.append(err))
    client = WorkerClient("test process", "x", None, last_events=("finished",))
    client.command = [sys.executable, "-c", ENDING_WORKER]
    client.start()
    process = client.process
    assert process is not None and process.waitForStarted(10_000)
    process.setParent(None)                       # as when the process was handed over
    shiboken6.delete(client)                      # the client's window is gone
    qtbot.waitUntil(lambda: process.state() == process.ProcessState.NotRunning, timeout=10_000)
    qtbot.wait(100)
    assert errors == []
    process.deleteLater()
