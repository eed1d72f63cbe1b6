"""The code-import child process: ``python -m netbuilder.runtime.code_import.worker``.

It reads one job on its first stdin line, ``{"code": "...", "filename": "...", "model": NAME or
null}``, runs the code with the sandbox's guards (``sandbox.py``) and answers on stdout, in the
workers' protocol (``runtime/workers/protocol.py``): ``status`` events, then ``{"event":
"finished", "project": <project document>, "chosen", "candidates", "notes"}`` or ``{"event":
"error", "message": ...}``. Whatever the code prints goes to stderr.
"""

from __future__ import annotations

import os
import sys
import warnings

from netbuilder.runtime.code_import.source import CodeImportError
from netbuilder.runtime.messages import first_line
from netbuilder.runtime.workers.protocol import ProtocolError, ProtocolWriter, event, parse_line


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    protocol = ProtocolWriter()
    line = sys.stdin.readline()
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the code's input() reads nothing
    try:
        job = parse_line(line)
    except ProtocolError as err:
        protocol.emit(event("error", message=f"the job is not valid: {err}"))
        return 1
    warnings.simplefilter("ignore")
    from netbuilder.runtime.code_import.sandbox import run_code

    try:
        result = run_code(job, lambda text: protocol.emit(event("status", message=text)))
    except CodeImportError as err:
        protocol.emit(event("error", message=str(err)))
        return 1
    except Exception as err:  # noqa: BLE001 - one message, never a traceback
        protocol.emit(event("error", message=f"the import failed: {type(err).__name__}: "
                                             f"{first_line(err)}"))
        return 1
    protocol.emit(event("finished", **result))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # threads the code may have started do not keep the process alive
