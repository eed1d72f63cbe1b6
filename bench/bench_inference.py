"""Re-inference after one edit on 500- and 1,000-layer graphs, against Keras rebuilding the same
architecture with ``keras.models.model_from_json`` (DESIGN.md's baseline), in one run.

    .venv/bin/python bench/bench_inference.py [--repeat N]

Graphs: residual CNNs (Conv2D-BN-ReLU-Conv2D-BN-Add-ReLU units, 7 layers each). Three edits:
  typical   change one mid-graph Conv2D's filters (its consumers' parameter counts change)
  local     change one mid-graph activation (nothing downstream changes)
  worst     change the Input's shape (every layer's shape changes)
Prints milliseconds per edit and the ratio Keras / NetBuilder (target >= 1000x): the median
over --keras-repeat paired rounds, each one Keras rebuild followed by every edit's median
(--repeat runs; WORST_EDITS for the worst).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from netbuilder.core.graph import Graph  # noqa: E402


def residual_cnn(layers: int, size: int = 32, channels: int = 16) -> tuple[Graph, dict[str, str]]:
    g = Graph()
    marks: dict[str, str] = {}
    with g.batch():
        x = g.add_node("Input", {"shape": [size, size, channels]}).id
        marks["input"] = x
        units = max(1, (layers - 1) // 7)
        for u in range(units):
            skip = x
            a = g.add_node("Conv2D", {"filters": channels, "kernel_size": 3, "padding": "same"})
            b = g.add_node("BatchNormalization")
            c = g.add_node("Activation", {"activation": "relu"})
            d = g.add_node("Conv2D", {"filters": channels, "kernel_size": 3, "padding": "same"})
            e = g.add_node("BatchNormalization")
            f = g.add_node("Add")
            h = g.add_node("Activation", {"activation": "relu"})
            for src, dst in ((x, a.id), (a.id, b.id), (b.id, c.id), (c.id, d.id), (d.id, e.id),
                             (e.id, f.id), (skip, f.id), (f.id, h.id)):
                g.connect(src, dst)
            x = h.id
            if u == units // 2:
                marks["conv"] = a.id
                marks["act"] = c.id
    return g, marks


WORST_EDITS = 201
"""Worst edits timed per round (bench_feedback's too): a few hundred ms of them. A median over
20 (30 ms) met the shared machine's short slow spells, which Keras' 2 s rebuild averages out
(measured: 1.3 ms, then 2.1 ms a second later). Odd: each round's first edit reshapes again."""


def per_call(fn, repeat: int) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` timed calls."""
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


KERAS_CHILD = """
import gc, sys, time
sys.path.insert(0, sys.argv[1])
sys.setrecursionlimit(10000)
import keras
from bench_inference import residual_cnn
from netbuilder.runtime.keras_build import build_model
spec = build_model(residual_cnn(int(sys.argv[2]))[0]).to_json()
keras.models.model_from_json(spec)                 # warm up
print("ready", flush=True)
for _ in sys.stdin:
    gc.collect()           # no clear_session: Keras rebuilds faster without it (2.0 s vs 3.3 s)
    t = time.perf_counter()
    keras.models.model_from_json(spec)
    print(time.perf_counter() - t, flush=True)
"""


class KerasRebuilds:
    """``keras.models.model_from_json`` of ``residual_cnn(layers)``'s model, timed in a process
    of its own: the editor's process never holds Keras, and Keras' objects and garbage would
    slow the engine's edits timed beside them (measured: 2.1 ms becomes 4-5 ms after a few
    rebuilds in the same process). ``time()`` asks for one rebuild and returns its seconds, so
    rounds can alternate between the two sides."""

    def __init__(self, layers: int) -> None:
        import subprocess

        here = str(Path(__file__).resolve().parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(here).parent), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen([sys.executable, "-c", KERAS_CHILD, here, str(layers)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the Keras rebuild process did not start")

    def time(self) -> float:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keras-repeat", type=int, default=5)
    args = parser.parse_args()

    print(f"{'layers':>6} {'edit':>8} {'NetBuilder ms':>14} {'Keras ms':>10} {'ratio':>9}")
    for target in (500, 1000):
        g, marks = residual_cnn(target)
        n = len(g.nodes)
        keras_side = KerasRebuilds(target)
        edits = {
            "typical": lambda i, g=g, m=marks: g.set_param(
                m["conv"], "filters", 16 + i % 2 * 8),
            "local": lambda i, g=g, m=marks: g.set_param(
                m["act"], "activation", ("relu", "gelu")[i % 2]),
            "worst": lambda i, g=g, m=marks: g.set_param(
                m["input"], "shape", [32 + (i + 1) % 2 * 8, 32, 16]),
        }
        # paired rounds: one Keras rebuild, then each edit's median right after it, so that
        # both sides of a round's ratio meet the same machine speed (a shared one drifts)
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in edits}
        for _ in range(args.keras_repeat):
            keras_s = keras_side.time()
            for name, edit in edits.items():
                count = args.repeat if name != "worst" else WORST_EDITS
                rounds[name].append((per_call(edit, count), keras_s))
        keras_side.close()
        for name, pairs in rounds.items():
            ours = statistics.median(o for o, _ in pairs)
            keras_s = statistics.median(k for _, k in pairs)
            ratio = statistics.median(k / o for o, k in pairs)
            print(f"{n:>6} {name:>8} {ours * 1e3:>14.3f} {keras_s * 1e3:>10.0f} "
                  f"{ratio:>8.0f}x")


if __name__ == "__main__":
    main()
