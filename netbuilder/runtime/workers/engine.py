"""The warm engine: ``python -m netbuilder.runtime.workers.engine [--warm]``.

A worker started before anyone needs it. It imports TensorFlow, Keras and the runtime (and,
with ``--warm``, in a thread of low CPU priority, then runs one tiny ``fit`` so that
TensorFlow's lazy first-use work is done), says so, then waits for its first stdin line, which
decides what it becomes:

* a request with an integer ``"id"`` (``{"id": 1, "action": "load", ...}``): the inspection
  worker (``workers/inspection.py``), answering that request and every later one;
* anything else: a training job (``workers/training.py``: a training run or a data preview).

Before that line it writes ``{"event": "engine", "state": "preparing", "pid": n}`` and, once
everything is imported, ``{"event": "engine", "state": "ready", "pid": n, "rss_mib": m,
"warm_s": s}`` (or ``"state": "failed"`` with a ``message``, exit status 1). EOF before the first
line ends it with status 0. No network port: JSON lines over its pipes
(``workers/protocol.py``).
"""

from __future__ import annotations

import os
import sys
import threading
import time

from netbuilder.runtime.workers.protocol import ProtocolError, ProtocolWriter, event, parse_line

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


def warm_up_quietly(exercise: bool) -> None:
    """``warm_up`` with the imports in a thread of low priority; the tiny ``fit`` (which makes
    TensorFlow's thread pools) in this thread, at normal priority, afterwards."""
    failed: list[BaseException] = []

    def imports() -> None:
        lower_priority()
        try:
            warm_up(exercise=False)
        except BaseException as err:  # noqa: BLE001 - raised again in the caller
            failed.append(err)

    thread = threading.Thread(target=imports, name="warm-imports", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
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
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    if role(line) == "inspection":
        from netbuilder.runtime.workers import inspection

        return inspection.serve(protocol, line)
    from netbuilder.runtime.workers import training

    return training.serve(protocol, line)


if __name__ == "__main__":
    sys.exit(main())
