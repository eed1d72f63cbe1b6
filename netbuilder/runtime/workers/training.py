"""The training worker: ``python -m netbuilder.runtime.workers.training``.

It runs one job in its own process, so the editor (through ``QProcess``) and the command line
(through ``workers/client.py``) stay alive and responsive whatever happens to training. No network
port: the protocol is JSON lines over the process's pipes (``workers/protocol.py``).

**stdin**: the first line is the job, one JSON object::

    {"project": {...project file contents...} | "path/to/project.nbproj",
     "data": "digits" | {"source": "shapes", "options": {"num_classes": 4, ...}},
     "settings": {...},            # training settings over project.settings["training"]
     "output_dir": "DIR",          # history.json, model.keras, best.keras, run.json
     "initial_weights": "DIR/model.keras",   # optional: continue from these weights
     "initial_epoch": 0,           # optional: epoch numbers continue from here
     "action": "train" | "preview",          # preview: load and describe the data only
     "send_samples": false,        # include sample images in the "data" event
     "latest_weights": false,      # write OUT/latest.weights.h5 after every epoch
     "batch_interval": 0.25}       # seconds between "batch" events (default: 4 a second)

Afterwards a line ``stop`` stops training after the current batch; the weights are kept
(``model.keras``). SIGINT does the same. Closing stdin changes nothing.

**stdout**: one JSON object per line, each with an ``"event"``:

* ``status``: ``{"message": "loading data: digits"}`` (what the worker is doing now); in a
  warm engine that prepared a job, one with ``"prepared": true`` (this job, started at once) or
  ``false`` (another: built afresh);
* ``model``: name, params, input and output shapes;
* ``data``: name, class_names, sizes and counts per split, notes (what was done to fit the data
  to the model), losses, optionally base64 ``samples``;
* ``train_begin``: epochs (the last epoch number, fine-tuning included), stage1_epochs,
  fine_tune_epochs, steps_per_epoch, batch_size (the global batch), samples, strategy
  (MirroredStrategy on several devices, else default) and replicas;
* ``batch``: epoch, batch, steps, logs, progress (0..1), eta_s, elapsed_s; at most four a
  second (``batch_interval``), and always the last batch of an epoch;
* ``epoch``: epoch, logs (val_ metrics and learning_rate included), progress, eta_s, epoch_s;
* ``checkpoint``: a new best model was written (path, monitor, value);
* ``weights``: with ``"latest_weights": true``, the weights at the end of epoch ``epoch`` are in
  ``path`` (OUT/latest.weights.h5, replaced atomically after each epoch);
* ``stage``: stage 2 (fine-tuning) begins: stage, layer, learning_rate, trainable_params,
  initial_epoch, epochs and a message ("fine-tuning from block5_conv1 at lr 1e-05: 1,234
  trainable params"); its epochs continue the numbering of stage 1;
* ``warning``: something the user should know that does not stop training (message);
* ``evaluation``: metrics on the test (else validation) split; for one classification output
  also confusion_matrix, class_names, misclassified (the first 100 indices), misclassified_count,
  misclassified_true, misclassified_pred (class indices), misclassified_confidence (the predicted
  class's probability) and, for image inputs, misclassified_images (base64 uint8 N x H x W x C,
  like ``samples``);
* ``finished``: reason (completed, stopped, early_stopping, preview), history (as Keras'
  ``History.history``), paths, train_s, train_cpu_s, samples_per_s — the last line;
* ``error``: kind (project, build, devices, data, settings, weights, nan, memory, output,
  internal) and a message for the user — the last line.

``OUT/history.json`` grows as each epoch ends (``EpochHistory``), so that a run killed midway
keeps the history of its finished epochs; the engine writes the whole history when it ends.

Anything else the libraries print goes to stderr, never into the protocol. The exit status is 0
after ``finished`` and 1 after ``error``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netbuilder.core.atomic_write import write_text_atomically
from netbuilder.runtime.workers.protocol import (
    STOP,
    ProtocolError,
    ProtocolWriter,
    end_process,
    parse_line,
)

if TYPE_CHECKING:
    from netbuilder.runtime.training.prepared import PreparedJob


class EpochHistory:
    """Passes every event on to ``emit``; as each ``epoch`` event goes by, its logs join the
    history (as Keras' ``History.history``: one list per key, None where an epoch lacks the
    key) written to ``output_dir/history.json``."""

    def __init__(self, output_dir: Any, emit: Callable[[dict[str, Any]], None]) -> None:
        self.path = Path(output_dir) / "history.json" if isinstance(output_dir, str) else None
        self.emit = emit
        self.history: dict[str, list[float | None]] = {}
        self.epochs = 0

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") == "epoch" and self.path is not None:
            self.add(event.get("logs") or {})
            try:
                write_text_atomically(self.path, json.dumps(self.history, indent=2) + "\n")
            except OSError:
                pass      # the engine reports an output folder it cannot write
        self.emit(event)

    def add(self, logs: dict[str, Any]) -> None:
        for key in logs:
            self.history.setdefault(key, [None] * self.epochs)
        for key, series in self.history.items():
            value = logs.get(key)
            finite = isinstance(value, (int, float)) and math.isfinite(value)
            series.append(float(value) if finite else None)
        self.epochs += 1


def _watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip().lower() == STOP:
            stop.set()


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return serve(ProtocolWriter())


def serve(protocol: ProtocolWriter, line: str | None = None,
          prepared: PreparedJob | None = None) -> int:
    """Run the job on ``line`` (read from stdin when None) and follow ``stop`` lines; the exit
    status. The warm engine (``workers/engine.py``) calls this with the line it read and what
    it prepared (used when it is this job, ``training/prepared.py``)."""
    stop = threading.Event()
    protocol.on_broken = stop.set
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    protocol.emit({"event": "status", "message": "training engine started", "pid": os.getpid()})
    if line is None:
        line = sys.stdin.readline()
    if not line.strip():
        protocol.emit({"event": "error", "kind": "job",
                       "message": "no job: write one JSON object on the first line of stdin"})
        return 1
    try:
        job = parse_line(line)
    except ProtocolError as err:
        protocol.emit({"event": "error", "kind": "job", "message": f"the job is not valid: {err}"})
        return 1
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True,
                     name="stdin-watch").start()
    from netbuilder.runtime.training.engine import run_job

    if prepared is not None and prepared.ready is not None:
        used = prepared.matches(job)
        protocol.emit({"event": "status", "prepared": used, "message": (
            "starting the prepared job" if used else
            "the job changed since it was prepared: building it afresh")})
    code = run_job(job, EpochHistory(job.get("output_dir"), protocol.emit), stop, prepared)
    if protocol.broken:
        os._exit(code)
    return code


if __name__ == "__main__":
    end_process(main())
