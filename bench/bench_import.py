"""Import and layout time of big Keras Applications (weights=None): NASNetLarge (1,041 layers)
and EfficientNetB7 (816 layers), in one run.

    .venv/bin/python bench/bench_import.py [--repeat N] [--apps NAME ...]

For each model it times, each the median of N runs:
  keras build     Keras making the application (keras.applications.NAME(weights=None))
  load .keras     keras.saving.load_model of the same model saved as a .keras file
  graph           graph_from_keras: layers, configs and connections -> Graph (with inference)
  layout dot      auto_layout with Graphviz' dot (pygraphviz), the default engine
  layout grandalf auto_layout with grandalf (the pure-Python fallback)
  layout layered  layered_layout (the hand-written last resort)
  import total    import_source("app:NAME") end to end: Keras build + graph + dot layout
DESIGN.md's budget is "import + layout + first paint of EfficientNetB7 <= 2 s"; the Keras build
(or load) is Keras' own time, the rest is NetBuilder's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--apps", nargs="+", default=["EfficientNetB7", "NASNetLarge"])
    args = parser.parse_args()

    import keras

    print(f"median of {args.repeat} runs, seconds")
    header = ("model", "layers", "keras build", "load .keras", "graph", "layout dot",
              "layout grandalf", "layout layered", "import total")
    print(" | ".join(header))
    for name in args.apps:
        print(" | ".join(bench(name, args.repeat)), flush=True)
        keras.backend.clear_session()


def bench(name: str, repeat: int) -> list[str]:
    import keras

    from netbuilder.core.layout import auto_layout, layered_layout
    from netbuilder.runtime.keras_import import import_source
    from netbuilder.runtime.keras_to_graph import graph_from_keras

    make = getattr(keras.applications, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_build, model = timed(lambda: make(weights=None), repeat)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.keras"
            model.save(path)
            t_load, _ = timed(lambda: keras.saving.load_model(path, compile=False), repeat)
    t_graph, graph = timed(lambda: graph_from_keras(model), repeat)
    t_dot, _ = timed(lambda: auto_layout(graph, "dot"), repeat)
    t_grandalf, _ = timed(lambda: auto_layout(graph, "grandalf"), repeat)
    t_layered, _ = timed(lambda: layered_layout(graph), repeat)
    t_total, _ = timed(lambda: import_source(f"app:{name}"), repeat)
    return [name, f"{len(graph.nodes)}"] + [f"{t:.2f}" for t in (
        t_build, t_load, t_graph, t_dot, t_grandalf, t_layered, t_total)]

if __name__ == "__main__":
    main()
