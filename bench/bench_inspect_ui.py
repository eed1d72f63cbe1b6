"""Feature maps in the editor: from the request to the picture, for every conv layer.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_inspect_ui.py [--project P] [--repeats N]

Opens the Inspect panel (offscreen) on ``resources/examples/mnist_cnn.nbproj`` with the real
inspection worker (``python -m netbuilder.runtime.workers.inspection``) and waits until the model is
built (not timed: that is TensorFlow starting). Then, for every conv layer, asks for its feature
maps on a different dataset sample each time and times request → reply (the worker's compute, the
pipe, base64) → decoded, tiled, coloured and painted in the dock. Prints the medians per layer and
overall, and the ratio to the 100 ms budget (DESIGN.md: feature maps of every conv layer for one
sample <= 100 ms).
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
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BUDGET_MS = 100.0
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=str(ROOT / "resources/examples/mnist_cnn.nbproj"))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--data", default="digits")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from netbuilder.core.project import load
    from netbuilder.ui.panels.inspect.panel import InspectPanel

    _app = QApplication.instance() or QApplication([])  # noqa: F841 - kept alive
    project = load(args.project)
    panel = InspectPanel(lambda: project, data_source=lambda: args.data)
    panel.resize(1100, 420)
    panel.set_project()
    panel.show()

    def wait_drawn(timeout_s: float) -> bool:
        loop = QEventLoop()
        done: list[str] = []

        def drawn(view: str) -> None:
            done.append(view)
            loop.quit()

        panel.drawn.connect(drawn)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        panel.drawn.disconnect(drawn)
        return bool(done)

    start = time.perf_counter()
    if not wait_drawn(300):
        sys.exit(f"the model did not build: {panel.status_label.text()}")
    print(f"{project.name}: worker started and model built in {time.perf_counter() - start:.1f} s "
          "(not timed below)")
    convs = [e["name"] for e in panel.model["layers"] if e.get("type") in
             ("Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D",
              "Conv2DTranspose")]
    if not convs:
        sys.exit("the model has no conv layer")

    worker_ms: dict[str, list[float]] = {name: [] for name in convs}
    total_ms: dict[str, list[float]] = {name: [] for name in convs}
    last: dict = {}
    original = panel._draw_maps

    def spy(result, layer):  # the worker's own compute time, for the split
        last["ms"] = result.get("ms")
        return original(result, layer)

    panel._draw_maps = spy
    sample = 0
    for name in convs:            # one untimed round: the worker builds its sub-models once
        panel.request_maps(name)
        wait_drawn(120)
    for _ in range(args.repeats):
        for name in convs:
            sample += 1
            panel.inputs.index_spin.blockSignals(True)
            panel.inputs.index_spin.setValue(sample)
            panel.inputs.index_spin.blockSignals(False)
            t = time.perf_counter()
            panel.request_maps(name)
            if not wait_drawn(60):
                sys.exit(f"no picture for {name}: {panel.status_label.text()}")
            panel.maps.repaint()              # painted, not only scheduled
            total_ms[name].append((time.perf_counter() - t) * 1000)
            if isinstance(last.get("ms"), (int, float)):
                worker_ms[name].append(float(last["ms"]))
    print(f"request -> picture, median of {args.repeats} samples per layer (budget "
          f"{BUDGET_MS:.0f} ms):")
    for name in convs:
        shape = panel.layer_info(name)["output_shape"]
        med = statistics.median(total_ms[name])
        compute = statistics.median(worker_ms[name]) if worker_ms[name] else float("nan")
        print(f"  {name:<12} {str(shape[1:]):<14} {med:6.1f} ms  (worker compute "
              f"{compute:5.1f} ms, pipe + decode + draw {med - compute:5.1f} ms)  "
              f"ratio {med / BUDGET_MS:.2f}")
    everything = [t for times in total_ms.values() for t in times]
    overall = statistics.median(everything)
    print(f"  all conv layers: median {overall:.1f} ms, 95th percentile "
          f"{sorted(everything)[int(0.95 * (len(everything) - 1))]:.1f} ms, ratio to budget "
          f"{overall / BUDGET_MS:.2f} ({'within' if overall <= BUDGET_MS else 'OVER'} budget)")
    panel.shutdown()


if __name__ == "__main__":
    main()
