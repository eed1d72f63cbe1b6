"""The workers' wire format, imported by both ends: JSON lines over the process's pipes, numpy
arrays as base64. No network port.

Every message is one JSON object on one line (``encode_message``). A worker writes them on its
stdout (``ProtocolWriter``: anything else printed goes to stderr); a client reads them back with
``decode_message``.

The training worker (``python -m netbuilder.runtime.workers.training``, its job and events
described there) reads one job on its first stdin line, then ``stop`` lines; it answers with
events, ``{"event": "status", "message": ...}``, ``{"event": "epoch", ...}``..., the last one
``finished`` or ``error``. Images travel as uint8 arrays (``encode_images``). A warm engine
(``workers/engine.py``) may first read ``{"prepare": job}`` lines (``prepare_message``): it
prepares that job and answers ``{"event": "engine", "state": "prepared" | "unprepared"}``.

The inspection worker (``python -m netbuilder.runtime.workers.inspection``) reads one request per
line on stdin and writes one reply per line on stdout. Every request has an integer ``"id"``
that its reply echoes::

    {"id": 3, "action": "activations", "layers": ["conv2d"], "input": {...}}
    {"id": 3, "ok": true, "result": {...}}
    {"id": 4, "ok": false, "error": {"kind": "layer", "message": "..."}}

Lines without an id are events: ``{"event": "status", "message": ...}`` and, once at start,
``{"event": "ready", "pid": n}``. Arrays travel as ``{"dtype": "float32" | "uint8", "shape":
[...], "data": base64}``.

The editor imports this module on its way to the first window: it imports neither Keras,
TensorFlow nor Qt, and numpy only once an array is encoded or decoded.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ACTIONS = ("load", "reload_weights", "activations", "filters", "predict", "gradcam", "stats",
           "ping")
ERROR_KINDS = ("build", "weights", "input", "layer", "request", "internal")
DTYPES = ("float32", "uint8")
INPUT_KINDS = ("dataset", "file", "sample_image", "array")
SAMPLE_IMAGES = ("china.jpg", "flower.jpg")
STOP = "stop"                    # a line asking the training worker to stop after this batch
PREPARE = "prepare"              # {"prepare": job}: the warm engine prepares that training job


class ProtocolError(ValueError):
    """A message that does not follow the protocol; ``str(err)`` says what is wrong."""


# --- arrays ----------------------------------------------------------------------------------


def encode_array(a: Any) -> dict[str, Any]:
    """``{"dtype", "shape", "data"}`` for a numpy array: uint8 stays uint8, anything else is
    sent as float32 (little-endian, C order)."""
    import numpy as np

    arr = np.asarray(a)
    dtype = np.dtype("<u1") if arr.dtype == np.uint8 else np.dtype("<f4")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    return {"dtype": "uint8" if dtype.kind == "u" else "float32", "shape": list(arr.shape),
            "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def decode_array(d: Mapping[str, Any]) -> np.ndarray:
    """The numpy array of an encoded array; ``ProtocolError`` when it is malformed."""
    import numpy as np

    if not isinstance(d, Mapping):
        raise ProtocolError("an array must be an object with dtype, shape and data")
    dtype = d.get("dtype")
    if dtype not in DTYPES:
        raise ProtocolError(f"array dtype must be one of {', '.join(DTYPES)}, found {dtype!r}")
    shape = d.get("shape")
    if not isinstance(shape, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape):
        raise ProtocolError(f"array shape must be a list of sizes, found {shape!r}")
    data = d.get("data")
    if not isinstance(data, str):
        raise ProtocolError("array data must be a base64 string")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ProtocolError("array data is not valid base64") from None
    np_dtype = np.dtype("<u1") if dtype == "uint8" else np.dtype("<f4")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(raw) != count * np_dtype.itemsize:
        raise ProtocolError(f"array data has {len(raw)} bytes but shape {list(shape)} of "
                            f"{dtype} needs {count * np_dtype.itemsize}")
    return np.frombuffer(raw, dtype=np_dtype).reshape(shape).astype(np_dtype.newbyteorder("="))


def encode_images(images: Any) -> dict[str, Any] | None:
    """Images (sample grids, misclassified samples) as a uint8 array; None stays None."""
    import numpy as np

    return None if images is None else encode_array(np.asarray(images, dtype=np.uint8))


def decode_images(payload: Mapping[str, Any] | None) -> np.ndarray | None:
    """The uint8 images of ``encode_images`` (None for none); ``ProtocolError`` when
    malformed."""
    return decode_array(payload) if payload else None


# --- messages --------------------------------------------------------------------------------


def encode_message(message: Mapping[str, Any]) -> str:
    """One message as a JSON line (ending in a newline); what JSON cannot hold becomes its
    ``str``."""
    return json.dumps(message, separators=(",", ":"), default=str) + "\n"


def request(action: str, id: int, **fields: Any) -> str:  # noqa: A002 - the protocol's name
    """One inspection request as a JSON line."""
    return encode_message({"id": int(id), "action": action, **fields})


def ok_reply(id: int, result: Mapping[str, Any]) -> dict[str, Any]:  # noqa: A002
    return {"id": id, "ok": True, "result": dict(result)}


def error_reply(id: int | str | None, kind: str, message: str) -> dict[str, Any]:  # noqa: A002
    if kind not in ERROR_KINDS:
        kind = "internal"
    return {"id": id, "ok": False, "error": {"kind": kind, "message": message}}


def prepare_message(job: Mapping[str, Any]) -> dict[str, Any]:
    """A line for a waiting engine (``workers/engine.py``): prepare this training job."""
    return {PREPARE: dict(job)}


def prepared_job(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The job of a ``prepare_message``; None for any other message."""
    job = message.get(PREPARE) if len(message) == 1 else None
    return job if isinstance(job, dict) else None


def event(name: str, **fields: Any) -> dict[str, Any]:
    return {"event": name, **fields}


def is_reply(message: Mapping[str, Any]) -> bool:
    return "id" in message and "ok" in message


def parse_line(line: str | bytes) -> dict[str, Any]:
    """A request, reply or event line as a dict; ``ProtocolError`` ("not valid JSON: ...",
    "not a JSON object") when it is not a JSON object."""
    try:
        msg = json.loads(line)
    except ValueError as err:
        raise ProtocolError(f"not valid JSON: {err}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("not a JSON object")
    return msg


def decode_message(raw: str | bytes) -> dict[str, Any] | None:
    """One line of a worker's stdout as a message (an event or a reply); None for a blank
    line. A line that is not a message (something a library printed) becomes a ``log``
    event."""
    text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
    if not text:
        return None
    try:
        msg = parse_line(text)
    except ProtocolError:
        return event("log", message=text)
    return msg if "event" in msg or is_reply(msg) else event("log", message=text)


# --- the worker's end ------------------------------------------------------------------------


class ProtocolWriter:
    """A worker's stdout, for messages only: created first thing, it points file descriptor 1
    (C libraries, ``print``) at stderr and keeps the real stdout for ``emit``. When nobody
    reads any more, ``broken`` is set and ``on_broken`` called."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self.fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self.lock = threading.Lock()
        self.broken = False
        self.on_broken: Callable[[], None] | None = None

    def emit(self, message: Mapping[str, Any]) -> None:
        if self.broken:
            return
        line = encode_message(message).encode("utf-8")
        with self.lock:
            try:
                view = memoryview(line)
                while view:
                    written = os.write(self.fd, view)
                    view = view[written:]
            except (BrokenPipeError, OSError):
                # whoever started us is gone: stop and end quietly
                self.broken = True
                if self.on_broken is not None:
                    self.on_broken()


def end_process(code: int) -> None:
    """End a worker that has finished its job with exit status ``code``, without tearing
    Python down. With TensorFlow loaded, the interpreter's teardown (its thread pools, the
    modules' finalisers) takes about 1.5 s on a 2-core machine, and the one who started the
    worker waits for the exit. Nothing is lost: every message went out unbuffered
    (``ProtocolWriter.emit``), every file the job wrote was closed (written atomically), and the
    standard streams are flushed here."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
