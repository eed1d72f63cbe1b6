"""The deployment worker: ``python -m netbuilder.runtime.workers.deployment``.

It runs one export job (``runtime/deployment.py`` describes the job and its events) in its own
process, so that TensorFlow and the converters, with everything they print, stay out of the
editor and off the terminal. The first stdin line is the job; stdout carries the events as JSON
lines (``workers/protocol.py``), the last one ``finished`` or ``error``; everything the libraries
print goes to stderr. The exit status is 0 after ``finished`` and 1 after ``error``.
"""

from __future__ import annotations

import os
import sys

from netbuilder.runtime.workers.protocol import (
    ProtocolError,
    ProtocolWriter,
    end_process,
    parse_line,
)


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    protocol = ProtocolWriter()
    protocol.emit({"event": "status", "message": "export engine started", "pid": os.getpid()})
    line = sys.stdin.readline()
    try:
        job = parse_line(line) if line.strip() else None
    except ProtocolError as err:
        protocol.emit({"event": "error", "kind": "job", "message": f"the job is not valid: {err}"})
        return 1
    if job is None:
        protocol.emit({"event": "error", "kind": "job",
                       "message": "no job: write one JSON object on the first line of stdin"})
        return 1
    from netbuilder.runtime.deployment import run_job

    return run_job(job, protocol.emit)


if __name__ == "__main__":
    end_process(main())
