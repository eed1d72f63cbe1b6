"""Re-inference after one edit on 500- and 1,000-layer graphs, against Keras rebuilding the same
architecture with ``keras.models.model_from_json`` (DESIGN.md's baseline), in one run.

    .venv/bin/python bench/bench_inference.py [--repeat N]

Graphs: residual CNNs (Conv2D-BN-ReLU-Conv2D-BN-Add-ReLU units, 7 layers each). Three edits:
  typical   change one mid-graph Conv2D's filters (its consumers' parameter counts change)
  local     change one mid-graph activation (nothing downstream changes)
  worst     change the Input's shape (every layer's shape changes)
Prints milliseconds per edit and the ratio Keras / NetBuilder (target >= 1000x).
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


def per_call(fn, repeat: int) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` timed calls."""
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keras-repeat", type=int, default=3)
    args = parser.parse_args()

    import keras

    from netbuilder.runtime.keras_build import build_model, ensure_recursion_limit

    ensure_recursion_limit(1100)

    print(f"{'layers':>6} {'edit':>8} {'NetBuilder ms':>14} {'Keras ms':>10} {'ratio':>9}")
    for target in (500, 1000):
        g, marks = residual_cnn(target)
        n = len(g.nodes)
        spec = build_model(g).to_json()
        keras.models.model_from_json(spec)  # warm up
        keras_s = per_call(lambda i, spec=spec: keras.models.model_from_json(spec),
                           args.keras_repeat)
        edits = {
            "typical": lambda i, g=g, m=marks: g.set_param(
                m["conv"], "filters", 16 + i % 2 * 8),
            "local": lambda i, g=g, m=marks: g.set_param(
                m["act"], "activation", ("relu", "gelu")[i % 2]),
            "worst": lambda i, g=g, m=marks: g.set_param(
                m["input"], "shape", [32 + i % 2 * 8, 32, 16]),
        }
        for name, edit in edits.items():
            ours = per_call(edit, args.repeat if name != "worst" else max(10, args.repeat // 10))
            print(f"{n:>6} {name:>8} {ours * 1e3:>14.3f} {keras_s * 1e3:>10.0f} "
                  f"{keras_s / ours:>8.0f}x")
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
