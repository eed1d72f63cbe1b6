"""Start a training worker process and follow it: plain Python (subprocess and threads), no Qt
and no TensorFlow in the caller. The command line uses it; the editor speaks the same protocol
through ``QProcess`` (``ui/workers.py``); both read and write it with ``workers/protocol.py``
(see ``workers/training.py`` for the job and the events).

    with TrainingProcess(job) as proc:
        for event in proc.events():
            ...                       # status, batch, epoch, checkpoint, finished or error
        # proc.stop() from another thread (or a signal handler) ends after the current batch

A worker that dies without saying "finished" or "error" (killed, crashed, out of memory) still
ends the stream with an ``error`` event: "the training process ended unexpectedly (killed by
signal 9)".
"""

from __future__ import annotations

import collections
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from netbuilder.core.summary import OUT_OF_MEMORY_ADVICE
from netbuilder.runtime.workers.protocol import STOP, decode_message, encode_message

TERMINAL_EVENTS = ("finished", "error")
TRAINING_WORKER = "netbuilder.runtime.workers.training"
INSPECTION_WORKER = "netbuilder.runtime.workers.inspection"
ENGINE_WORKER = "netbuilder.runtime.workers.engine"      # becomes either (workers/engine.py)
ENGINE_ROLES = (TRAINING_WORKER, INSPECTION_WORKER)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
# what TensorFlow, XLA and absl print as they start, whatever went wrong: never the reason
_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"     # I0000 00:00:1717000000.1  42 x.cc:9]
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] \S+:\d+\]"       # 2024-05-01 12:00:00.1: I x.cc:9]
    r"|.*(This TensorFlow binary is optimized|To enable the following instructions"
    r"|rebuild TensorFlow with the appropriate compiler flags|oneDNN custom operations are on"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning|Could not find cuda drivers))")


def worker_command(module: str = TRAINING_WORKER, python: str | None = None) -> list[str]:
    """The command line that starts the worker ``module``."""
    return [python or sys.executable, "-m", module]


def worker_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a worker: this NetBuilder importable, Python unbuffered, TensorFlow's
    C++ chatter reduced."""
    env = dict(os.environ if base is None else base)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if _PACKAGE_ROOT not in paths:
        env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT] + paths)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def own_process_group() -> dict[str, Any]:
    """``Popen`` arguments that put the worker in a process group of its own, so that Ctrl-C in
    a terminal reaches the caller only (which then asks the worker to stop after the current
    batch). Not a session of its own: Linux schedules each session as one group (autogroup),
    and a worker alone in its group trained about 6% slower than one in its caller's session
    (bench/bench_training.py, same CPU seconds, less parallelism)."""
    if os.name != "posix":
        return {}
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}   # Python 3.10


_OOM = re.compile(r"ResourceExhausted|\bOOM\b|out of memory|MemoryError", re.IGNORECASE)


def describe_exit(returncode: int) -> str:
    """``killed by signal 9`` / ``exit status 3``."""
    if returncode < 0:
        return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def out_of_memory(returncode: int | None, stderr: Iterable[str]) -> bool:
    """Whether a worker that ended this way probably ran out of memory: killed by SIGKILL (the
    kernel's out-of-memory killer), or its stderr speaks of ResourceExhausted, OOM or running
    out of memory."""
    if os.name == "posix" and returncode == -signal.SIGKILL:
        return True
    return any(_OOM.search(line) for line in stderr)


def last_words(stderr: Iterable[str]) -> str:
    """The last line a worker wrote on stderr that may say why it ended: not blank, not
    TensorFlow's or absl's start-up chatter ("" when there is none)."""
    lines = [line.strip() for line in stderr]
    return next((ln for ln in reversed(lines) if ln and not _CHATTER.match(ln)), "")


class TrainingProcess:
    """One worker process running one job."""

    def __init__(self, job: Mapping[str, Any], *, command: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None, cwd: str | None = None,
                 stderr_lines: int = 200) -> None:
        self.job = dict(job)
        self.command = list(command or worker_command())
        self.env = worker_environment(env)
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=stderr_lines)
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stdin_lock = threading.Lock()
        self.terminal: dict[str, Any] | None = None
        self.stop_requested = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> TrainingProcess:
        if self.process is not None:
            raise RuntimeError("this training process was started already")
        try:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=self.env, cwd=self.cwd, **own_process_group())
        except OSError as err:
            raise RuntimeError(f"cannot start the training process: {err}") from None
        self._send(encode_message(self.job))
        for target, name in ((self._read_stdout, "worker-stdout"),
                             (self._read_stderr, "worker-stderr")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __enter__(self) -> TrainingProcess:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Ask the worker to stop after the current batch (it keeps the weights)."""
        self.stop_requested = True
        self._send(STOP + "\n")

    def kill(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.kill()

    def wait(self, timeout: float | None = None) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker if it still runs (a stop request, then a kill) and release it."""
        if self.process is None:
            return
        if self.running():
            self.stop()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    # -- events -----------------------------------------------------------------------------

    def events(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """The worker's events in order, ending with ``finished`` or ``error``. A worker that
        ends without either gives an ``error`` event of kind ``crashed``. ``timeout`` bounds the
        wait for each event (``queue.Empty`` is raised when it passes)."""
        if self.process is None:
            self.start()
        while True:
            event = self._events.get(timeout=timeout)
            if event is None:
                break
            if event.get("event") in TERMINAL_EVENTS and self.terminal is None:
                self.terminal = event
            yield event
        assert self.process is not None
        code = self.process.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.terminal is None:
            self.terminal = self.crash_event(code)
            yield self.terminal

    def crash_event(self, code: int) -> dict[str, Any]:
        message = f"the training process ended unexpectedly ({describe_exit(code)})"
        if code == -signal.SIGKILL:
            message += ("; it was killed, possibly by the system running out of memory. "
                        "Checkpoints written so far are intact")
        else:
            last = last_words(self.stderr_tail)
            if last:
                message += f": {last}"
        if out_of_memory(code, self.stderr_tail):
            message += f". {OUT_OF_MEMORY_ADVICE}"
        return {"event": "error", "kind": "crashed", "message": message, "returncode": code,
                "stderr": "\n".join(self.stderr_tail)}

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, text: str) -> None:
        if self.process is None or self.process.stdin is None:
            return
        with self._stdin_lock:
            try:
                self.process.stdin.write(text.encode("utf-8"))
                self.process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass   # the worker has ended; events() reports how

    def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        try:
            for raw in self.process.stdout:
                event = decode_message(raw)
                if event is not None:
                    self._events.put(event)
        finally:
            self._events.put(None)

    def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for raw in self.process.stderr:
            self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\n"))


def run(job: Mapping[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """Run a job to its end and return all its events (the last is finished or error)."""
    with TrainingProcess(job, **kwargs) as proc:
        return list(proc.events())
