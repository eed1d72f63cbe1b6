"""Feature maps on request: time from request to decoded array, MNIST CNN, every conv layer.

    .venv/bin/python bench/bench_inspect.py [--repeats 30] [--data digits]

Starts the real inspection worker (``python -m netbuilder.runtime.workers.inspection``), loads the
MNIST CNN example (``resources/examples/mnist_cnn.nbproj``), warms it up, then times, for each
conv layer and for all conv layers in one request, "request written -> reply read -> arrays
decoded" (the median of ``--repeats``), with the input a dataset sample that the worker prepares
(``--data``: digits is bundled; mnist when it is in Keras' cache). Budget: <= 100 ms once the
model is built. Then the same computation in this process without the pipes (sub-model call
only), to show what the transport costs. The rendering is measured by the UI's own bench.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BUDGET_MS = 100.0
PROJECT = ROOT / "resources" / "examples" / "mnist_cnn.nbproj"


class Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netbuilder.runtime.workers.inspection"], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)
        self.next_id = 0

    def ask(self, action: str, **fields: object) -> dict:
        from netbuilder.runtime.workers.protocol import request

        self.next_id += 1
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(request(action, self.next_id, **fields))
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            msg = json.loads(line)
            if msg.get("id") == self.next_id:
                if not msg["ok"]:
                    raise SystemExit(f"{action} failed: {msg['error']['message']}")
                return msg["result"]
        raise SystemExit("the worker ended: " + str(self.proc.wait()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def timed_request(worker: Worker, layers: list[str], inp: dict) -> tuple[float, float]:
    """(ms from request to decoded arrays, ms the worker spent computing)."""
    from netbuilder.runtime.workers.protocol import decode_array

    start = time.perf_counter()
    result = worker.ask("activations", layers=layers, input=inp)
    arrays = [decode_array(result["layers"][n]["array"]) for n in layers]
    elapsed = (time.perf_counter() - start) * 1000.0
    assert all(a.ndim == 3 for a in arrays)
    return elapsed, float(result["ms"])


def line(label: str, samples: list[float], extra: str = "") -> None:
    med = statistics.median(samples)
    print(f"  {label:<24} {med:8.2f} ms  ({med / BUDGET_MS:5.2f}× the {BUDGET_MS:.0f} ms "
          f"budget){extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--data", default="digits", help="dataset source for the input sample")
    args = parser.parse_args()

    project = json.loads(PROJECT.read_text())
    inp = {"kind": "dataset", "source": args.data, "index": 0}

    t0 = time.perf_counter()
    worker = Worker()
    info = worker.ask("load", project=project, weights=None)
    built = time.perf_counter()
    convs = [r["name"] for r in info["layers"] if r["conv"]]
    print(f"MNIST CNN: {len(info['layers'])} layers, {info['params']:,} params, conv layers "
          f"{', '.join(convs)}; worker started and model built in {built - t0:.1f} s")
    requests = [[n] for n in convs] + [convs]
    for layers in requests:
        for _ in range(args.warmup):
            timed_request(worker, layers, inp)

    print(f"request -> decoded array through the worker process (median of {args.repeats}, "
          f"input: {args.data} sample 0):")
    worst = 0.0
    for layers in requests:
        totals, computes = [], []
        for _ in range(args.repeats):
            total, compute = timed_request(worker, layers, inp)
            totals.append(total)
            computes.append(compute)
        label = layers[0] if len(layers) == 1 else f"all {len(layers)} conv layers"
        line(label, totals, f"  of which compute {statistics.median(computes):.2f} ms")
        worst = max(worst, statistics.median(totals))
    worker.close()

    from netbuilder.runtime.keras_loader import import_keras_quietly

    import_keras_quietly()
    import numpy as np

    from netbuilder.core.project import load
    from netbuilder.runtime import inspection
    from netbuilder.runtime.keras_build import build_model

    model = build_model(load(PROJECT).graph)
    subs = inspection.SubModels(model)
    x = inspection.prepare_input(model, inp).x
    print(f"in this process, sub-model call only (median of {args.repeats}):")
    for layers in requests:
        for _ in range(args.warmup):
            inspection.activations(model, layers, x, subs)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = inspection.activations(model, layers, x, subs)
            np.asarray(out[layers[-1]])
            times.append((time.perf_counter() - start) * 1000.0)
        label = layers[0] if len(layers) == 1 else f"all {len(layers)} conv layers"
        line(label, times)
    verdict = "within" if worst <= BUDGET_MS else "OVER"
    print(f"slowest request through the worker: {worst:.2f} ms, {verdict} the "
          f"{BUDGET_MS:.0f} ms budget ({worst / BUDGET_MS:.2f}×)")


if __name__ == "__main__":
    main()
