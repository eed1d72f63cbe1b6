"""The warm engine: ``python -m netbuilder.runtime.workers.engine [--warm]``.

A worker started before anyone needs it. It imports TensorFlow, Keras and the runtime (and,
with ``--warm``, in a thread of low CPU priority, then runs one tiny ``fit`` so that
TensorFlow's lazy first-use work is done), says so, then waits for its first stdin line, which
decides what it becomes:

* a request with an integer ``"id"`` (``{"id": 1, "action": "load", ...}``): the inspection
  worker (``workers/inspection.py``), answering that request and every later one;
* ``{"prepare": job}`` (``protocol.prepare_message``): prepare that training job while waiting
  (``training/prepared.py``: the model built and compiled, the data loaded and fitted, the
  train step traced, at low CPU priority), say ``{"event": "engine", "state": "prepared",
  "prepare_s": s}`` (or ``"unprepared"`` with a ``message``), and read the next line; a later
  prepare line replaces it, one still waiting behind a newer line is skipped;
* anything else: a training job (``workers/training.py``: a training run or a data preview),
  which uses what was prepared when it is the prepared job (else it builds afresh).

Before that line it writes ``{"event": "engine", "state": "preparing", "pid": n}`` and, once
everything is imported, ``{"event": "engine", "state": "ready", "pid": n, "rss_mib": m,
"warm_s": s}`` (or ``"state": "failed"`` with a ``message``, exit status 1). EOF before the first
line ends it with status 0. No network port: JSON lines over its pipes
(``workers/protocol.py``).
"""

from __future__ import annotations

import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from netbuilder.runtime.workers.protocol import (
    ProtocolError,
    ProtocolWriter,
    end_process,
    event,
    parse_line,
    prepared_job,
)

if TYPE_CHECKING:
    from netbuilder.runtime.training.prepared import PreparedJob

WARM_NICE = 10          # how much lower the warm engine's CPU priority is than the editor's


def role(line: str) -> str:
    """``"inspection"`` for a request line (an integer ``"id"``), else ``"training"``."""
    try:
        message = parse_line(line)
    except ProtocolError:
        return "training"          # the training worker says what is wrong with it
    rid = message.get("id")
    return "inspection" if isinstance(rid, int) and not isinstance(rid, bool) else "training"


def rss_mib() -> float | None:
    """This process's resident memory in MiB (None where /proc cannot tell)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def lower_priority() -> None:
    """Leave the CPU to the editor and everything else: the calling thread only (Linux keeps a
    nice value per thread; an unprivileged process could never raise it back, and the request
    it serves later must run at the editor's priority)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WARM_NICE)
    except (AttributeError, OSError):
        pass


def in_low_priority_thread(work: Callable[[], None], name: str) -> None:
    """Run ``work`` in a thread of low CPU priority and wait for it (its exception raised
    here)."""
    failed: list[BaseException] = []

    def run() -> None:
        lower_priority()
        try:
            work()
        except BaseException as err:  # noqa: BLE001 - raised again in the caller
            failed.append(err)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def warm_up_quietly(exercise: bool) -> None:
    """``warm_up`` with the imports in a thread of low priority; the tiny ``fit`` (which makes
    TensorFlow's thread pools) in this thread, at normal priority, afterwards."""
    in_low_priority_thread(lambda: warm_up(exercise=False), "warm-imports")
    if exercise:
        _exercise()


def warm_up(exercise: bool = True) -> None:
    """Import what a request will need; ``exercise``: build, fit and run a tiny model once so
    that TensorFlow's first-use work (tracing machinery, kernels) is behind us."""
    from netbuilder.runtime.keras_loader import import_keras_quietly

    import_keras_quietly()
    import netbuilder.runtime.data.sources  # noqa: F401
    import netbuilder.runtime.inspection  # noqa: F401
    import netbuilder.runtime.keras_build  # noqa: F401
    import netbuilder.runtime.training.engine  # noqa: F401

    try:
        import sklearn.datasets  # noqa: F401 - the digits, the default data
    except ImportError:
        pass
    if exercise:
        _exercise()


def _exercise() -> None:
    import keras
    import numpy as np

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x_train = np.zeros((8, 8, 8, 1), "float32")
    y_train = np.zeros((8,), "int32")
    model.fit(x_train, y_train, batch_size=4, epochs=1, verbose=0,
              validation_data=(x_train, y_train))
    model.predict(x_train, verbose=0)
    keras.backend.clear_session()


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warm = "--warm" in sys.argv[1:]
    protocol = ProtocolWriter()
    pid = os.getpid()
    protocol.emit(event("engine", state="preparing", pid=pid))
    started = time.perf_counter()
    try:
        if warm:
            warm_up_quietly(exercise=True)
        else:
            warm_up(exercise=False)
    except Exception as err:  # noqa: BLE001 - a broken install: say so and end
        from netbuilder.runtime.messages import first_line

        protocol.emit(event("engine", state="failed", pid=pid,
                            message=f"TensorFlow could not be prepared: {first_line(err)}"))
        return 1
    protocol.emit(event("engine", state="ready", pid=pid, rss_mib=rss_mib(),
                        warm_s=round(time.perf_counter() - started, 2)))
    line, prepared = wait_for_work(protocol)
    if not line.strip():
        return 0
    if role(line) == "inspection":
        from netbuilder.runtime.workers import inspection

        return inspection.serve(protocol, line)
    from netbuilder.runtime.workers import training

    return training.serve(protocol, line, prepared)


def wait_for_work(protocol: ProtocolWriter) -> tuple[str, PreparedJob | None]:
    """Prepare every ``{"prepare": job}`` line that is the newest one waiting; the first other
    line ("" at EOF) and the last job prepared."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:              # until the line that is not a prepare line
        while True:
            line = sys.stdin.readline()
            lines.put(line)
            if _prepare_job(line) is None:
                return

    threading.Thread(target=read, name="engine-stdin", daemon=True).start()
    prepared: PreparedJob | None = None
    while True:
        line = lines.get()
        job = _prepare_job(line)
        if job is None:
            return line, prepared
        if lines.empty():            # else a newer line waits: this one is out of date
            prepared = prepare(protocol, job)


def _prepare_job(line: str) -> dict[str, Any] | None:
    try:
        return prepared_job(parse_line(line)) if line.strip() else None
    except ProtocolError:
        return None


def prepare(protocol: ProtocolWriter, job: dict[str, Any]) -> PreparedJob:
    """Prepare ``job`` (``training/prepared.py``) at low CPU priority in a fresh Keras session
    (what an earlier preparation kept is dropped); say how it went."""
    import keras

    from netbuilder.runtime.training.engine import run_job
    from netbuilder.runtime.training.prepared import PreparedJob

    keras.backend.clear_session()
    warm = PreparedJob(job)
    errors: list[str] = []

    def keep_errors(message: dict[str, Any]) -> None:
        if message.get("event") == "error":
            errors.append(str(message.get("message") or ""))

    out = tempfile.mkdtemp(prefix="netbuilder-prepare-")
    started = time.perf_counter()
    try:
        in_low_priority_thread(lambda: run_job({**job, "output_dir": out}, keep_errors,
                                               threading.Event(), warm), "engine-prepare")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    warm.prepare_s = round(time.perf_counter() - started, 2)
    pid = os.getpid()
    if warm.ready is not None:
        protocol.emit(event("engine", state="prepared", pid=pid, prepare_s=warm.prepare_s,
                            rss_mib=rss_mib()))
    else:
        protocol.emit(event("engine", state="unprepared", pid=pid,
                            message=errors[0] if errors else "nothing to prepare"))
    return warm


if __name__ == "__main__":
    end_process(main())
