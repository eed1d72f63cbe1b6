"""Starting a NetBuilder worker process from the window (training, the data preview, inspection)
and reading what it writes: a ``QProcess`` with the workers' environment, its stdout cut into
whole lines, its stderr into non-empty lines. The callers keep their own protocol handling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment


def new_worker_process(parent: QObject, *, stdout: Callable[[], None],
                       stderr: Callable[[], None], finished: Callable[..., None],
                       error: Callable[..., None]) -> QProcess:
    """A QProcess set up for a worker (not started): environment, working folder, signals."""
    from netbuilder.runtime.workers.client import worker_environment

    process = QProcess(parent)
    env = QProcessEnvironment()
    for key, value in worker_environment().items():
        env.insert(key, value)
    process.setProcessEnvironment(env)
    process.setWorkingDirectory(str(Path.cwd()))
    process.readyReadStandardOutput.connect(stdout)
    process.readyReadStandardError.connect(stderr)
    process.finished.connect(finished)
    process.errorOccurred.connect(error)
    return process


def read_stdout_lines(process: QProcess, pending: bytes, final: bool = False
                      ) -> tuple[list[bytes], bytes]:
    """The whole lines now available on ``process``'s stdout after ``pending`` (the unfinished
    line of the previous read), and the new unfinished line. ``final`` (the process has ended):
    an unfinished last line counts as a line too."""
    pending += bytes(process.readAllStandardOutput().data())
    *lines, rest = pending.split(b"\n")
    if final and rest.strip():
        lines.append(rest)
        rest = b""
    return lines, rest


def read_stderr_lines(process: QProcess) -> list[str]:
    """The non-empty lines now available on ``process``'s stderr."""
    text = bytes(process.readAllStandardError().data()).decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]
