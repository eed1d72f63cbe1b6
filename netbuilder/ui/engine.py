"""The warm engine: one spare worker process (``runtime/workers/engine.py``) that has imported
TensorFlow before anyone asks, so that F5, Data Preview and Inspect answer at once.

``EnginePool`` starts the spare a few seconds after the window is first shown, at low CPU
priority. Every ``WorkerClient`` of the training or inspection worker takes it when it starts
(``WorkerClient.engines``), and the pool prepares the next spare. A spare that dies is replaced,
after a back-off that grows with each failure in a row (a broken install does not loop). The
status bar says what it does. ``engine/warm`` in the settings (View ▸ Warm TensorFlow Engine)
and ``NETBUILDER_WARM_ENGINE=0`` in the environment (the tests) turn it off. No network port:
the spare is a child process spoken to over its pipes.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QObject, QProcess, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow

from netbuilder.runtime.workers.client import ENGINE_WORKER
from netbuilder.ui.user_files import app_settings
from netbuilder.ui.workers import WorkerClient

SETTING = "engine/warm"
ENV_SWITCH = "NETBUILDER_WARM_ENGINE"
IDLE_DELAY_MS = 3000          # after the window is first shown
NEXT_DELAY_MS = 5000          # after a spare was taken (the request it serves goes first)
RETRY_MS = (5_000, 20_000, 60_000, 180_000)   # after 1, 2, 3, 4 failures in a row
MAX_FAILURES = len(RETRY_MS) + 1
OFF = ("0", "false", "no", "off")


def warm_engine_enabled() -> bool:
    """Whether a spare engine should wait: the environment (``NETBUILDER_WARM_ENGINE=0``)
    and the setting (``engine/warm``, on unless turned off)."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in OFF:
        return False
    return setting_enabled()


def setting_enabled() -> bool:
    """The setting alone (what View ▸ Warm TensorFlow Engine shows)."""
    return str(app_settings().value(SETTING, True)).lower() not in OFF


class EnginePool(QObject):
    """At most one spare engine. ``state`` is "off", "waiting" (for the window to be idle),
    "preparing", "ready" or "failed"; ``message`` says it for a person."""

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
        self._say("preparing", "Preparing TensorFlow…")
        client.start()

    def take(self) -> tuple[QProcess, bytes] | None:
        """The spare's process for a request (ready, or still importing: either is ahead of a
        fresh start); the next spare is prepared shortly. None when there is none."""
        spare = self.spare
        if spare is None or not spare.running():
            return None
        taken = spare.hand_over()
        self.spare = None
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
        elif state == "failed":
            self.last_error = str(event.get("message") or "")

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
