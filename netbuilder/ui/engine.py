"""The warm engine: one spare worker process (``runtime/workers/engine.py``) that has imported
TensorFlow before anyone asks, so that F5, Data Preview and Inspect answer at once.

``EnginePool`` starts the spare a few seconds after the window is first shown, at low CPU
priority. Every ``WorkerClient`` of the training or inspection worker takes it when it starts
(``WorkerClient.engines``), and the pool prepares the next spare. A spare that dies is replaced,
after a back-off that grows with each failure in a row (a broken install does not loop). The
status bar says what it does. While the editor is idle the spare also prepares the training job
F5 would start (``follow``: the model built and compiled, the data fitted, the train step
traced; ``runtime/training/prepared.py``), sent again one second after the graph, the data or
the training settings last changed; F5 with that job starts ``fit`` at once, any other job is
built afresh. ``engine/warm`` in the settings (View ▸ Warm TensorFlow Engine)
and ``NETBUILDER_WARM_ENGINE=0`` in the environment (the tests) turn it off. No network port:
the spare is a child process spoken to over its pipes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow

from netbuilder.runtime.training.prepared import job_key
from netbuilder.runtime.workers.client import ENGINE_WORKER
from netbuilder.runtime.workers.protocol import prepare_message
from netbuilder.ui.user_files import app_settings
from netbuilder.ui.workers import WorkerClient, sets_devices

SETTING = "engine/warm"
ENV_SWITCH = "NETBUILDER_WARM_ENGINE"
IDLE_DELAY_MS = 3000          # after the window is first shown
NEXT_DELAY_MS = 5000          # after a spare was taken (the request it serves goes first)
RETRY_MS = (5_000, 20_000, 60_000, 180_000)   # after 1, 2, 3, 4 failures in a row
MAX_FAILURES = len(RETRY_MS) + 1
OFF = ("0", "false", "no", "off")
PREPARE_DELAY_MS = 1000       # after the last change of the graph, data or settings


def warm_engine_enabled() -> bool:
    """Whether a spare engine should wait: the environment (``NETBUILDER_WARM_ENGINE=0``)
    and the setting (``engine/warm``, on unless turned off)."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in OFF:
        return False
    return setting_enabled()


def setting_enabled() -> bool:
    """The setting alone (what View ▸ Warm TensorFlow Engine shows)."""
    return str(app_settings().value(SETTING, True)).lower() not in OFF


def training_job(panel: Any) -> dict[str, Any] | None:
    """The job F5 would start in the Training dock ``panel`` now, without its output folder;
    None when it could not start or needs a fresh process (chosen devices)."""
    if panel.is_running() or panel.problem() is not None:
        return None
    job = panel.job(Path())
    job.pop("output_dir", None)
    return None if sets_devices(job) else job


def import_plotting() -> None:
    """Import pyqtgraph in the editor while it is idle: the first F5 draws its curves with it
    (the import alone takes ~0.4 s)."""
    import pyqtgraph  # noqa: F401


class EnginePool(QObject):
    """At most one spare engine. ``state`` is "off", "waiting" (for the window to be idle),
    "preparing", "ready" or "failed"; ``message`` says it for a person. ``job_state`` is
    about the job the spare prepares: "" (none), "preparing", "prepared" or "unprepared"."""

    message = Signal(str)        # for the status bar
    ready = Signal(int)          # a spare is ready: its pid

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spare: WorkerClient | None = None
        self.state = "off"
        self.failures = 0
        self.last_error = ""
        self.rss_mib: float | None = None       # the last ready spare's resident memory
        self.taken = 0                          # spares handed to a request so far
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.prepare)
        self.action: QAction | None = None
        self.command: list[str] | None = None   # tests put another engine here
        self.job_source: Callable[[], Mapping[str, Any] | None] | None = None
        self.job_state = ""
        self.sent_key: str | None = None        # the job the spare was told to prepare
        self.prepare_s: float | None = None     # how long the last preparation took
        self.prepared_rss_mib: float | None = None   # the spare's memory with a job prepared
        self.job_timer = QTimer(self)
        self.job_timer.setSingleShot(True)
        self.job_timer.setInterval(PREPARE_DELAY_MS)
        self.job_timer.timeout.connect(self.send_job)

    # -- the window ------------------------------------------------------------------------------

    def install(self, window: QMainWindow, view_menu: Any = None) -> None:
        """Serve the window's workers: a label in its status bar, a checkbox in ``view_menu``;
        the spare starts after ``start_when_idle``."""
        WorkerClient.engines = self
        label = QLabel()
        label.setObjectName("engineStatus")
        window.statusBar().addPermanentWidget(label)
        self.message.connect(label.setText)
        if view_menu is not None:
            self.action = QAction("Warm TensorFlow &Engine", window)
            self.action.setCheckable(True)
            self.action.setChecked(setting_enabled())
            self.action.setToolTip("Keep a process with TensorFlow loaded in the background so "
                                   "that training, data preview and inspection start at once "
                                   "(costs memory)")
            self.action.toggled.connect(self.set_enabled)
            view_menu.addSeparator()
            view_menu.addAction(self.action)
        panel = getattr(window, "training_panel", None)
        document = getattr(window, "document", None)
        if panel is not None and document is not None:
            self.follow(document, lambda: training_job(panel), panel.running_changed)

    def follow(self, document: Any, job: Callable[[], Mapping[str, Any] | None],
               *changes: Any) -> None:
        """Have the spare prepare ``job()`` (what F5 would start), again after each change of
        the ``document``'s graph or settings (and each of the signals ``changes``: a run
        ending, after which F5 can start again)."""
        self.job_source = job
        for signal in (document.edited, document.settings_changed, document.project_replaced,
                       *changes):
            signal.connect(self.job_changed)

    def job_changed(self, *_: Any) -> None:
        if self.spare is not None and self.job_source is not None:
            self.job_timer.start()

    def send_job(self) -> None:
        """Tell the spare the job to prepare, unless it knows it already."""
        spare = self.spare
        if spare is None or not spare.running() or self.job_source is None:
            return
        job = self.job_source()
        if job is None:
            return
        key = job_key(job)
        if key == self.sent_key:
            return
        spare.send(prepare_message(job))
        self.sent_key = key
        self._say_job("preparing")

    def start_when_idle(self, delay_ms: int = IDLE_DELAY_MS) -> None:
        if warm_engine_enabled() and self.spare is None and not self.timer.isActive():
            self.state = "waiting"
            self.timer.start(delay_ms)

    def set_enabled(self, on: bool) -> None:
        """Turn the warm engine on or off (remembered)."""
        app_settings().setValue(SETTING, bool(on))
        if on:
            self.failures = 0
            self.start_when_idle(0)
        else:
            self.shutdown()
            self._say("off", "")

    def shutdown(self) -> None:
        """Close the spare; no more are prepared until ``start_when_idle``."""
        self.timer.stop()
        self.job_timer.stop()
        spare, self.spare = self.spare, None
        if spare is not None:
            spare.close(timeout_ms=1000)
            spare.deleteLater()
        if WorkerClient.engines is self:
            WorkerClient.engines = None
        self.state = "off"

    # -- the spare -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Start a spare unless one runs (or the setting is off)."""
        if self.spare is not None or not warm_engine_enabled():
            return
        client = WorkerClient("TensorFlow engine", ENGINE_WORKER, self)
        client.command = self.command or [*client.command, "--warm"]
        client.event.connect(self._event)
        client.crashed.connect(self._crashed)
        self.spare = client
        self.sent_key = None
        self.job_state = ""
        self._say("preparing", "Preparing TensorFlow…")
        client.start()
        if self.job_source is not None:      # read by the engine once TensorFlow is in
            self.job_timer.start(0)
            QTimer.singleShot(0, import_plotting)

    def take(self) -> tuple[QProcess, bytes] | None:
        """The spare's process for a request (ready, or still importing: either is ahead of a
        fresh start); the next spare is prepared shortly. None when there is none."""
        spare = self.spare
        if spare is None or not spare.running():
            return None
        taken = spare.hand_over()
        self.spare = None
        self.sent_key = None
        self.job_state = ""
        self.job_timer.stop()
        spare.deleteLater()
        if taken is None:
            return None
        self.taken += 1
        self._say("busy", "TensorFlow engine in use")
        self.timer.start(NEXT_DELAY_MS)
        return taken

    def spare_pid(self) -> int | None:
        return None if self.spare is None else self.spare.pid()

    def _event(self, event: dict[str, Any]) -> None:
        if event.get("event") != "engine":
            return
        state = event.get("state")
        if state == "ready":
            self.failures = 0
            self.last_error = ""
            self.rss_mib = event.get("rss_mib")
            self._say("ready", "TensorFlow ready")
            self.ready.emit(int(event.get("pid") or 0))
            self.job_changed()            # a job that could not start earlier may now
        elif state == "failed":
            self.last_error = str(event.get("message") or "")
        elif state in ("prepared", "unprepared"):
            self.prepare_s = event.get("prepare_s")
            self.prepared_rss_mib = event.get("rss_mib")
            self._say_job(str(state))

    def _say_job(self, state: str) -> None:
        self.job_state = state
        if self.state == "ready":
            self.message.emit({"preparing": "TensorFlow ready; preparing training…",
                               "prepared": "TensorFlow ready; training prepared (F5)"}.get(
                                   state, "TensorFlow ready"))

    def _crashed(self, reason: str) -> None:
        spare, self.spare = self.spare, None
        if spare is not None:
            self.last_error = self.last_error or reason
            spare.deleteLater()
        self.failures += 1
        if self.failures >= MAX_FAILURES or not warm_engine_enabled():
            self._say("failed", "TensorFlow engine off: it failed "
                      f"{self.failures} times" + (f" ({self.last_error})" if self.last_error
                                                  else ""))
            return
        self._say("waiting", "TensorFlow engine ended; restarting soon")
        self.timer.start(RETRY_MS[min(self.failures, len(RETRY_MS)) - 1])

    def _say(self, state: str, text: str) -> None:
        self.state = state
        self.message.emit(text)
