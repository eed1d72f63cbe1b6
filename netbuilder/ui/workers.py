"""One client for every worker process the window starts (training, the data preview,
inspection): a ``QProcess`` with the workers' environment, its stdout decoded into protocol
messages (``runtime/workers/protocol.py``, the module the workers write with), its stderr kept
for the reason it may end with. The editor never waits for a worker: everything arrives as
signals."""

from __future__ import annotations

import collections
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from PySide6.QtCore import QByteArray, QObject, QProcess, QProcessEnvironment, QTimer, Signal
from shiboken6 import isValid

from netbuilder.runtime.workers.client import (
    ENGINE_ROLES,
    describe_exit,
    last_words,
    worker_command,
    worker_environment,
)
from netbuilder.runtime.workers.protocol import decode_message, encode_message, request


class EngineSource(Protocol):
    def take(self) -> tuple[QProcess, bytes] | None:
        """A started engine process and the start of a line it wrote, or None."""


def sets_devices(job: Mapping[str, Any] | None) -> bool:
    """Whether a training job chooses its devices (``cpu:2``, ``gpu:0,1``): TensorFlow takes
    them only before it starts, and a warm engine has started it, so such a job needs a fresh
    process."""
    if not job:
        return False
    project = job.get("project")
    training = (project.get("settings", {}).get("training", {})
                if isinstance(project, Mapping) else {})
    for settings in (job.get("settings"), training):
        if isinstance(settings, Mapping) and settings.get("devices") not in (None, "", "auto"):
            return True
    return False


def crash_message(name: str) -> str:
    """How a worker's unexpected end begins: "the training process ended unexpectedly"."""
    return f"the {name} ended unexpectedly"


class WorkerClient(QObject):
    """One worker process at a time, started on demand. ``name`` ("training process") is how
    messages call it; ``module`` the worker it runs (``command`` replaces that: tests put a fake
    worker there). The worker's end is expected after one of ``last_events`` (e.g. "finished",
    "error") or after ``close``; any other end is a crash."""

    event = Signal(dict)      # one message from the worker: an event, or a reply to a request
    finished = Signal()       # the worker ended after its last event
    crashed = Signal(str)     # it could not start, or ended unexpectedly: why, for a person

    # where started engines wait (ui/engine.EnginePool sets itself here while its window
    # lives): a client of a worker the engine can become takes one rather than starting afresh
    engines: ClassVar[EngineSource | None] = None

    def __init__(self, name: str, module: str, parent: QObject | None = None, *,
                 last_events: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self.name = name
        self.module = module
        self.command: Sequence[str] = worker_command(module)
        self.last_events = tuple(last_events)
        self.process: QProcess | None = None
        self.exit_code: int | None = None      # of the last worker (None: it did not start;
                                                # -N: killed by signal N)
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self.next_id = 1
        self._buffer = b""
        self._said_last = False
        self._closing = False

    def running(self) -> bool:
        return self.process is not None

    def start(self, first: Mapping[str, Any] | None = None) -> None:
        """Start the worker unless it runs; ``first`` (a job) is its first stdin line."""
        if self.process is not None:
            return
        taken = None if sets_devices(first) else self._take_engine()
        process = taken[0] if taken is not None else QProcess(self)
        if taken is None:
            env = QProcessEnvironment()
            for key, value in worker_environment().items():
                env.insert(key, value)
            process.setProcessEnvironment(env)
            process.setWorkingDirectory(str(Path.cwd()))
        self._attach(process, taken[1] if taken is not None else b"")
        if taken is None:
            command = list(self.command)
            process.start(command[0], command[1:])
        else:                                   # what it said while waiting
            QTimer.singleShot(0, self, lambda: self._read_stdout(process))
        if first is not None:
            self.send(first)

    def pid(self) -> int | None:
        """The worker's process id (None when none runs)."""
        return None if self.process is None else int(self.process.processId()) or None

    def _take_engine(self) -> tuple[QProcess, bytes] | None:
        """A started engine for this worker, when one waits and the command is ours."""
        engines = WorkerClient.engines
        if engines is None or self.module not in ENGINE_ROLES:
            return None
        if list(self.command) != worker_command(self.module):
            return None                         # a test's fake worker
        try:
            taken = engines.take()
        except RuntimeError:                    # its window has gone
            WorkerClient.engines = None
            return None
        if taken is not None:
            taken[0].setParent(self)
        return taken

    def _attach(self, process: QProcess, buffer: bytes) -> None:
        def while_alive(slot: Any) -> Any:
            # the process can outlive this client (its window closed while the worker ends):
            # then there is nobody left to tell, and Qt must not be asked to emit for it
            return lambda *args: slot(process, *args) if isValid(self) else None

        process.readyReadStandardOutput.connect(while_alive(self._read_stdout))
        process.readyReadStandardError.connect(while_alive(self._read_stderr))
        process.finished.connect(while_alive(self._finished))
        process.errorOccurred.connect(while_alive(self._error))
        self.process = process
        self.exit_code = None
        self.stderr_tail.clear()
        self._buffer = buffer
        self._said_last = self._closing = False

    def hand_over(self) -> tuple[QProcess, bytes] | None:
        """Give the running process (and what it wrote of an unfinished line) away to another
        client (``_take_engine``); this client is left without one, and says nothing."""
        process = self.process
        if process is None:
            return None
        for signal in (process.readyReadStandardOutput, process.readyReadStandardError,
                       process.finished, process.errorOccurred):
            signal.disconnect()
        self.process = None
        buffer, self._buffer = self._buffer, b""
        return process, buffer

    def send(self, message: Mapping[str, Any] | str) -> None:
        """Write one line to the worker: a message, or a plain line such as ``STOP``."""
        if self.process is None:
            return
        line = message + "\n" if isinstance(message, str) else encode_message(message)
        self.process.write(QByteArray(line.encode("utf-8")))

    def request(self, action: str, **fields: Any) -> int:
        """Send a request (starting the worker if needed); its id, which the reply echoes."""
        self.start()
        rid = self.next_id
        self.next_id += 1
        if self.process is not None:
            self.process.write(QByteArray(request(action, rid, **fields).encode("utf-8")))
        return rid

    def close_input(self) -> None:
        """Close the worker's stdin (it has all it needs)."""
        if self.process is not None:
            self.process.closeWriteChannel()

    def kill(self) -> None:
        """Kill the worker; its end is reported like any crash."""
        if self.process is not None:
            self.process.kill()

    def close(self, timeout_ms: int = 3000) -> None:
        """End the worker on purpose, without a signal: close its stdin, give it ``timeout_ms``
        to exit, then kill it."""
        process = self.process
        if process is None:
            return
        self._closing = True
        process.closeWriteChannel()
        if not process.waitForFinished(timeout_ms):
            process.kill()
            process.waitForFinished(2000)
        self._drop()

    # -- what the process says ---------------------------------------------------------------

    def _drop(self) -> None:
        process = self.process
        self.process = None
        if process is not None:
            process.deleteLater()

    def _read_stdout(self, process: QProcess, final: bool = False) -> None:
        if process is not self.process:
            return
        self._buffer += bytes(process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        if final and self._buffer.strip():       # the last line of a worker that ended
            lines.append(self._buffer)
            self._buffer = b""
        for raw in lines:
            message = decode_message(raw)
            if message is None:
                continue
            if message.get("event") == "log":    # not the protocol: keep it for the reason
                self.stderr_tail.append(str(message.get("message")))
            if message.get("event") in self.last_events:
                self._said_last = True
            self.event.emit(message)
            if process is not self.process:     # the owner closed it meanwhile
                return

    def _read_stderr(self, process: QProcess) -> None:
        if process is not self.process:
            return
        text = bytes(process.readAllStandardError().data()).decode("utf-8", "replace")
        self.stderr_tail.extend(line for line in text.splitlines() if line.strip())

    def _error(self, process: QProcess, error: QProcess.ProcessError) -> None:
        if process is self.process and error == QProcess.ProcessError.FailedToStart:
            why = process.errorString()
            self._drop()
            self.crashed.emit(f"cannot start the {self.name}: {why}")

    def _finished(self, process: QProcess, code: int, status: QProcess.ExitStatus) -> None:
        if process is not self.process:
            return
        self._read_stdout(process, final=True)
        if process is not self.process:
            return
        self._read_stderr(process)
        crashed = status == QProcess.ExitStatus.CrashExit
        # as subprocess has it: -N for a worker killed by signal N (QProcess gives N on POSIX)
        self.exit_code = -code if crashed and os.name == "posix" else code
        closing, said_last = self._closing, self._said_last
        self._drop()
        if closing:
            return
        if said_last:
            self.finished.emit()
            return
        if crashed and os.name != "posix":
            how = "it crashed or was killed"
        else:
            how = describe_exit(self.exit_code)
        last = last_words(self.stderr_tail)
        self.crashed.emit(f"{crash_message(self.name)} ({how})"
                          + (f": {last[:200]}" if last else ""))
