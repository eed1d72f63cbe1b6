"""Opening a big imported model in the editor, and panning and zooming it.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_canvas.py [--model EfficientNetB7]

First imports the Keras Application (weights=None) into a project file (not timed: that is
Keras building the model, see bench_import.py). Then, in this process, times the editor opening
that project: reading the file, inferring every shape, making the window and its canvas items,
and the first paint (budget: <= 2 s). Then pans and zooms the canvas step by step, forcing a
repaint each time, and prints the median and 95th-percentile frame times (smooth: under ~33 ms).
Last, edits through the editor's document (undoable, as the Inspector makes them), each timed
until the window has painted its answer (canvas, summary, overview): a Dropout's rate (nothing
else changes) and the Input's size (every layer reshaped); medians of --edits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_project(model: str, folder: Path) -> Path:
    from netbuilder.core.project import save
    from netbuilder.runtime.keras_import import import_source

    path = folder / f"{model}.nbproj"
    save(import_source(f"app:{model}"), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="EfficientNetB7")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--edits", type=int, default=9)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = make_project(args.model, Path(tmp))
        from PySide6.QtWidgets import QApplication

        from netbuilder.core.project import load
        from netbuilder.ui.main_window import MainWindow

        app = QApplication.instance() or QApplication([])
        start = time.perf_counter()
        project = load(path)
        loaded = time.perf_counter()
        window = MainWindow()
        window.resize(1400, 850)
        window.set_project(project, path)
        window.show()
        app.processEvents()
        window.grab()  # the first paint, done for real
        painted = time.perf_counter()
        layers = len(project.graph.nodes)
        print(f"{args.model}: {layers} layers")
        print(f"  open: read + infer {loaded - start:.2f} s, window + items + first paint "
              f"{painted - loaded:.2f} s, total {painted - start:.2f} s (budget 2 s)")

        view = window.view
        viewport = view.viewport()
        frames: dict[str, list[float]] = {"pan": [], "zoom": []}
        for i in range(args.frames):
            t = time.perf_counter()
            bar = view.verticalScrollBar()
            bar.setValue(bar.value() + (40 if (i // 20) % 2 == 0 else -40))
            viewport.repaint()
            app.processEvents()
            frames["pan"].append(time.perf_counter() - t)
        for i in range(args.frames):
            t = time.perf_counter()
            factor = 1.15 if (i // 10) % 2 == 0 else 1 / 1.15
            view.scale(factor, factor)
            viewport.repaint()
            app.processEvents()
            frames["zoom"].append(time.perf_counter() - t)
        for kind, times in frames.items():
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print(f"  {kind}: median {statistics.median(times) * 1e3:.1f} ms, "
                  f"95th percentile {p95 * 1e3:.1f} ms per frame ({len(times)} frames)")
        edit_latency(app, window, args.edits)
        window.document.undo_stack.setClean()   # no "save changes?" on closing
        window.close()


def edit_latency(app, window, count: int) -> None:
    """Median seconds from an edit to the window painted after it, for two edits."""
    graph = window.document.graph
    source = graph.inputs()[0]
    shape = list(source.params["shape"])
    dropout = next((n for n in graph.nodes.values() if n.type == "Dropout"), None)
    edits = {"one layer (a Dropout's rate)": None if dropout is None else (
                 lambda i: window.document.set_param(dropout.id, "rate", 0.2 + 0.1 * (i % 2))),
             "every layer reshaped (the Input's size)": lambda i: window.document.set_param(
                 source.id, "shape", [shape[0] + 32 * ((i + 1) % 2), *shape[1:]])}
    for name, edit in edits.items():
        if edit is None:
            continue
        times = []
        for i in range(count):
            t = time.perf_counter()
            problem = edit(i)
            if problem:
                raise SystemExit(f"the edit was refused: {problem}")
            app.processEvents()
            window.grab()     # everything the window shows, painted
            times.append(time.perf_counter() - t)
        print(f"  edit -> painted, {name}: median {statistics.median(times) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
