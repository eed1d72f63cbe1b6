"""The caller's side of a code import: the code is parsed here (a syntax error answers at once;
parsing runs nothing), then run in the child process (``worker.py``) with a time limit, and the
project it sends back is read with ``core.project``. This process never runs the user's code
and never imports TensorFlow for it.

    result = import_code(path.read_text(), filename=str(path), model=None, timeout=60)
    result.project, result.chosen, result.candidates, result.notes
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core.project import Project, ProjectError, loads
from netbuilder.runtime.code_import.source import CodeImportError, prepare
from netbuilder.runtime.workers.client import (
    describe_exit,
    last_words,
    own_process_group,
    worker_command,
    worker_environment,
)
from netbuilder.runtime.workers.protocol import decode_message, encode_message

WORKER = "netbuilder.runtime.code_import.worker"
DEFAULT_TIMEOUT = 60.0
CONSENT = "Importing code runs it, in a separate process, without network."


@dataclass
class CodeImport:
    """What an import brought: the project, the model taken (``"model"``, ``"build_model()"``),
    every Keras model the code made (``{"name", "class", "params"}``) and the notes."""

    project: Project
    chosen: str
    candidates: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def others(self) -> list[str]:
        """The candidates not taken."""
        return [c["name"] for c in self.candidates if c.get("name") != self.chosen]


def job(code: str, filename: str, model: str | None = None) -> dict[str, Any]:
    """The child's job (after checking the syntax here: ``CodeImportError``)."""
    prepare(code, filename)
    return {"code": code, "filename": filename, "model": model or None}


def result_of(message: Mapping[str, Any]) -> CodeImport:
    """The ``finished`` or ``error`` event of the child as a ``CodeImport``;
    ``CodeImportError`` for an error."""
    if message.get("event") == "error":
        raise CodeImportError(str(message.get("message") or "the import failed"))
    try:
        project = loads(json.dumps(message["project"]), "<imported code>")
    except (KeyError, TypeError, ProjectError) as err:
        raise CodeImportError(f"the code import sent back no usable project ({err})") from None
    return CodeImport(project, str(message.get("chosen", "model")),
                      list(message.get("candidates") or []), list(message.get("notes") or []))


def import_code(code: str, *, filename: str = "<pasted code>", model: str | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> CodeImport:
    """Run ``code`` in the child process and bring back its model as a project;
    ``CodeImportError`` with a message for a person."""
    if not timeout or timeout <= 0:
        raise CodeImportError(f"--timeout must be a number of seconds above 0, got {timeout}")
    line = encode_message(job(code, filename, model))
    try:
        done = subprocess.run(worker_command(WORKER), input=line.encode("utf-8"),
                              capture_output=True, timeout=timeout, env=worker_environment(),
                              check=False, **own_process_group())
    except subprocess.TimeoutExpired:
        raise CodeImportError(
            f"{filename}: the code ran longer than {timeout:g} s and was stopped (a loop that "
            "trains or waits?); give it more time with --timeout, or leave that part out") from None
    except OSError as err:
        raise CodeImportError(f"cannot start the code import process: {err}") from None
    for raw in reversed(done.stdout.decode("utf-8", "replace").splitlines()):
        message = decode_message(raw)
        if message and message.get("event") in ("finished", "error"):
            return result_of(message)
    why = last_words(done.stderr.decode("utf-8", "replace").splitlines())
    raise CodeImportError(f"the code import process ended unexpectedly "
                          f"({describe_exit(done.returncode)})" + (f": {why}" if why else ""))
