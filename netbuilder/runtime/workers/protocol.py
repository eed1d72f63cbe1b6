"""The inspection protocol's wire format: JSON lines, numpy arrays as base64.

The inspection worker (``python -m netbuilder.runtime.workers.inspection``) reads one request per line
on stdin and writes one reply per line on stdout. Every request has an integer ``"id"`` that its
reply echoes::

    {"id": 3, "action": "activations", "layers": ["conv2d"], "input": {...}}
    {"id": 3, "ok": true, "result": {...}}
    {"id": 4, "ok": false, "error": {"kind": "layer", "message": "..."}}

Lines without an id are events: ``{"event": "status", "message": ...}`` and, once at start,
``{"event": "ready", "pid": n}``. Arrays travel as ``{"dtype": "float32" | "uint8", "shape":
[...], "data": base64}``.

This module imports numpy only (never Keras or TensorFlow): the editor imports it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

ACTIONS = ("load", "reload_weights", "activations", "filters", "predict", "gradcam", "stats",
           "ping")
ERROR_KINDS = ("build", "weights", "input", "layer", "request", "internal")
DTYPES = ("float32", "uint8")
INPUT_KINDS = ("dataset", "file", "sample_image", "array")
SAMPLE_IMAGES = ("china.jpg", "flower.jpg")


class ProtocolError(ValueError):
    """A message that does not follow the protocol; ``str(err)`` says what is wrong."""


def encode_array(a: Any) -> dict[str, Any]:
    """``{"dtype", "shape", "data"}`` for a numpy array: uint8 stays uint8, anything else is
    sent as float32 (little-endian, C order)."""
    arr = np.asarray(a)
    dtype = np.dtype("<u1") if arr.dtype == np.uint8 else np.dtype("<f4")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    return {"dtype": "uint8" if dtype.kind == "u" else "float32", "shape": list(arr.shape),
            "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def decode_array(d: Mapping[str, Any]) -> np.ndarray:
    """The numpy array of an encoded array; ``ProtocolError`` when it is malformed."""
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


def request(action: str, id: int, **fields: Any) -> str:  # noqa: A002 - the protocol's name
    """One request as a JSON line (ending in a newline)."""
    return json.dumps({"id": int(id), "action": action, **fields},
                      separators=(",", ":")) + "\n"


def ok_reply(id: int, result: Mapping[str, Any]) -> str:  # noqa: A002
    return json.dumps({"id": id, "ok": True, "result": dict(result)},
                      separators=(",", ":")) + "\n"


def error_reply(id: int | None, kind: str, message: str) -> str:  # noqa: A002
    if kind not in ERROR_KINDS:
        kind = "internal"
    return json.dumps({"id": id, "ok": False, "error": {"kind": kind, "message": message}},
                      separators=(",", ":")) + "\n"


def event(name: str, **fields: Any) -> str:
    return json.dumps({"event": name, **fields}, separators=(",", ":")) + "\n"


def parse_line(line: str | bytes) -> dict[str, Any]:
    """A reply or event line as a dict; ``ProtocolError`` when it is not a JSON object."""
    try:
        msg = json.loads(line)
    except ValueError as err:
        raise ProtocolError(f"not a JSON line: {err}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("a message must be a JSON object")
    return msg
