"""Instant feedback (issue 13): how long the editor takes to answer F5, Data Preview and Inspect
with the warm engine and without it, against plain Keras scripts; ``netbuilder train`` against a
plain script doing the same; re-inference after an edit that reshapes every layer against
``keras.models.model_from_json``; the idle warm engine's memory. All sides in one run, medians.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_feedback.py [--repeat 5]

Editor figures run a real MainWindow (offscreen) on resources/examples/lenet5.nbproj with the
digits: the clock starts when F5 / Preview / the layer's selection is given and stops when the
first batch's point is on the loss curve / the samples are shown / the feature maps are drawn.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["NETBUILDER_WARM_ENGINE"] = "1"
LENET = ROOT / "resources" / "examples" / "lenet5.nbproj"
WAIT_S = 300


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- plain Keras scripts ------------------------------------------------------------------------

PLAIN = """
import sys, time
t0 = float(sys.argv[1])
import numpy as np, keras
from sklearn.datasets import load_digits
sys.path.insert(0, {folder!r})
from lenet5_model import build_model
model = build_model()
d = load_digits()
size = model.input_shape[1:3]
x = keras.ops.convert_to_numpy(keras.ops.image.resize(
    (d.images / 16.0).astype("float32")[..., None], size))
y = d.target
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
class First(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0 and {first}:
            print("FIRST", time.time() - t0, flush=True)
            sys.exit(0)
model.fit(x, y, batch_size=32, epochs=1, validation_split=0.2, verbose=0, callbacks=[First()])
model.save({out!r})
"""


def plain_script(folder: Path, first: bool) -> Path:
    script = folder / ("plain_first.py" if first else "plain_whole.py")
    script.write_text(textwrap.dedent(PLAIN.format(folder=str(folder), first=first,
                                                   out=str(folder / "plain.keras"))))
    return script


def run_timed(command: list[str]) -> tuple[float, str]:
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return time.time() - start, done.stdout


def plain_first_batch(folder: Path) -> float:
    _, out = run_timed([sys.executable, str(plain_script(folder, True)), repr(time.time())])
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("FIRST")))


# --- the editor -------------------------------------------------------------------------------


class Editor:
    def __init__(self) -> None:
        from PySide6.QtWidgets import QApplication

        from netbuilder.core.project import load
        from netbuilder.ui.main_window import MainWindow

        self.app = QApplication.instance() or QApplication([])
        self.window = MainWindow(load(LENET), None)
        from PySide6.QtWidgets import QMessageBox

        self.window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Discard
        self.window.resize(1400, 850)
        self.window.show()
        self.pool = self.window.engines
        self.panel = self.window.training_panel
        self.panel.form.data_combo.set_source("digits")
        self.panel.form.epochs_spin.setValue(20)
        self.job_source = self.pool.job_source      # what F5 would start, for the spare

    def follow_events(self) -> tuple[list[tuple[float, str]], object]:
        """(time, what) of the training worker's events from now on, for the profile, and
        the slot to disconnect."""
        seen: list[tuple[float, str]] = []

        def note(e: dict) -> None:
            status = f": {e.get('message')}" if e.get("event") == "status" else ""
            seen.append((time.perf_counter(), f"{e.get('event')}{status}"))

        self.panel.client.event.connect(note)
        return seen, note

    def wait(self, condition, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not condition():
            self.app.processEvents()
            time.sleep(0.002)
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")

    def spare(self, warm: bool, prepared: bool = False) -> None:
        """A ready spare (``warm``) that has prepared F5's job (``prepared``), or none."""
        from netbuilder.ui.workers import WorkerClient

        if warm:
            WorkerClient.engines = self.pool
            self.pool.job_source = self.job_source if prepared else None
            self.pool.prepare()
            self.wait(lambda: self.pool.state == "ready", "a ready engine")
            if prepared:
                self.wait(lambda: self.pool.job_state in ("prepared", "unprepared"),
                          "the job prepared")
                assert self.pool.job_state == "prepared", self.pool.last_error
            self.pool.timer.stop()          # no second spare competing while we measure
        else:
            self.pool.shutdown()            # no spare, none prepared meanwhile
            WorkerClient.engines = None

    def f5_first_point(self, warm: bool, prepared: bool = False,
                       profile: list[list[tuple[float, str]]] | None = None) -> float:
        self.spare(warm, prepared)
        panel = self.panel
        seen, note = self.follow_events()
        start = time.perf_counter()
        assert self.window.train()
        # the panel's own redraw (its timer), as the user sees it: the curve has the point
        self.wait(lambda: bool(panel.curve_data("batch_loss")[1]), "a point on the loss curve")
        self.app.processEvents()
        took = time.perf_counter() - start
        panel.client.event.disconnect(note)
        if profile is not None:
            profile.append([(t - start, what) for t, what in seen] + [(took, "point drawn")])
        panel.kill()
        self.wait(lambda: not panel.is_running(), "the run to end")
        return took

    def preview(self, warm: bool) -> float:
        self.spare(warm, prepared=warm)     # the window idle: the spare prepared F5's job
        dialog = self.panel.form.open_data_dialog(modal=False)
        start = time.perf_counter()
        assert dialog.preview()
        self.wait(lambda: bool(dialog.preview_event or dialog.preview_error), "the preview")
        self.app.processEvents()
        took = time.perf_counter() - start
        assert dialog.preview_event is not None, dialog.preview_error
        dialog.stop_preview()
        dialog.reject()
        return took

    def inspect(self, warm: bool, layer: str = "conv2d") -> float:
        self.spare(warm, prepared=warm)
        panel = self.window.inspect_panel
        panel.client.close()
        panel.model = None
        panel.model_dirty = True
        drawn: list[str] = []
        panel.drawn.connect(drawn.append)
        start = time.perf_counter()
        self.window.inspect_dock.show()
        self.window.inspect_dock.raise_()
        self.window.select_node(self.window.graph.node_by_name(layer).id)
        panel.request_refresh()
        self.wait(lambda: "maps" in drawn, "the feature maps")
        took = time.perf_counter() - start
        panel.drawn.disconnect(drawn.append)
        return took

    def close(self) -> None:
        self.window.inspect_panel.client.close()
        self.pool.shutdown()
        self.window.close()


# --- the command line and inference ---------------------------------------------------------


def train_whole(folder: Path) -> tuple[float, float]:
    ours, _ = run_timed([sys.executable, "-m", "netbuilder", "train", str(LENET), "--data",
                         "digits", "--epochs", "1", "--batch-size", "32", "--out",
                         str(folder / "run"), "--quiet"])
    plain, _ = run_timed([sys.executable, str(plain_script(folder, False)), repr(time.time())])
    return ours, plain


def reinference(repeat: int) -> tuple[float, float, float, int]:
    from bench_inference import WORST_EDITS, KerasRebuilds, per_call, residual_cnn

    g, marks = residual_cnn(1000)
    keras_side = KerasRebuilds(1000)      # in a process of its own, as the editor has it
    # paired rounds: one Keras rebuild, then a median of our edits right after it, so that both
    # sides of each round's ratio meet the same machine speed (a shared one drifts)
    rounds = []
    for r in range(repeat):
        keras_s = keras_side.time()
        ours = per_call(lambda i, r=r: g.set_param(marks["input"], "shape",
                                                   [32 + (i + r + 1) % 2 * 8, 32, 16]),
                        WORST_EDITS)
        rounds.append((ours, keras_s, keras_s / ours))
    keras_side.close()
    return (median([o for o, _, _ in rounds]), median([k for _, k, _ in rounds]),
            median([q for _, _, q in rounds]), len(g.nodes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.repeat
    folder = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
    run_timed([sys.executable, "-m", "netbuilder", "export", str(LENET), "-o",
               str(folder / "lenet5_model.py")])

    rows: list[tuple[str, str, str, str]] = []

    def row(measure: str, value: str, goal: str, verdict: bool | None) -> None:
        mark = "" if verdict is None else ("met" if verdict else "NOT met")
        rows.append((measure, value, goal, mark))
        print(f"{measure:<58} {value:>22}  goal {goal:<26} {mark}", flush=True)

    editor = Editor()
    profiles: list[list[tuple[float, str]]] = []
    warm_f5 = median([editor.f5_first_point(True, True, profiles) for _ in range(n)])
    prepare_s = editor.pool.prepare_s
    unprepared_f5 = median([editor.f5_first_point(True) for _ in range(n)])
    cold_f5 = median([editor.f5_first_point(False) for _ in range(n)])
    plain_f5 = median([plain_first_batch(folder) for _ in range(n)])
    row("F5 -> first batch point drawn, warm engine, job prepared", f"{warm_f5:.2f} s",
        "<= 1.0 s", warm_f5 <= 1.0)
    row("  (the spare's preparation, while idle)", f"{prepare_s} s", "", None)
    row("F5 -> first batch point drawn, warm engine, not prepared", f"{unprepared_f5:.2f} s",
        "", None)
    row("F5 -> first batch point drawn, cold (no engine)", f"{cold_f5:.2f} s", "", None)
    row("plain Keras script start -> first batch", f"{plain_f5:.2f} s", "", None)
    row("  plain script / warm F5", f"{plain_f5 / warm_f5:.1f}x", ">= 4x",
        plain_f5 / warm_f5 >= 4)
    row("  cold F5 / warm F5", f"{cold_f5 / warm_f5:.1f}x", "", None)
    middle = sorted(profiles, key=lambda p: p[-1][0])[len(profiles) // 2]
    print("  the median prepared F5, event by event (s after the key):", flush=True)
    for t, what in middle:
        print(f"    {t:6.3f}  {what}", flush=True)
    warm_preview = median([editor.preview(True) for _ in range(n)])
    cold_preview = median([editor.preview(False) for _ in range(n)])
    row("Data Preview -> samples drawn (digits), warm", f"{warm_preview:.2f} s", "<= 1.0 s",
        warm_preview <= 1.0)
    row("Data Preview -> samples drawn (digits), cold", f"{cold_preview:.2f} s", "", None)
    warm_inspect = median([editor.inspect(True) for _ in range(n)])
    cold_inspect = median([editor.inspect(False) for _ in range(n)])
    row("Inspect a layer of a new graph -> maps drawn, warm", f"{warm_inspect:.2f} s",
        "<= 1.0 s", warm_inspect <= 1.0)
    row("Inspect a layer of a new graph -> maps drawn, cold", f"{cold_inspect:.2f} s", "",
        None)
    rss, prepared_rss = editor.pool.rss_mib, editor.pool.prepared_rss_mib
    editor.close()
    row("memory of the idle warm engine (RSS)", f"{rss} MiB", "measured", None)
    row("  ... with LeNet-5's job prepared (RSS)", f"{prepared_rss} MiB", "measured", None)

    whole = [train_whole(folder) for _ in range(n)]
    ours, plain = median([w[0] for w in whole]), median([w[1] for w in whole])
    row("netbuilder train, cold, whole command (1 epoch)", f"{ours:.2f} s", "", None)
    row("plain Keras script doing the same, whole command", f"{plain:.2f} s", "", None)
    row("  netbuilder train / plain script", f"{ours / plain:.2f}x", "<= 1.05x",
        ours / plain <= 1.05)

    ours_s, keras_s, ratio, layers = reinference(n)
    row(f"re-inference, every layer reshaped, {layers} layers", f"{ours_s * 1e3:.2f} ms", "",
        None)
    row("keras.models.model_from_json, same graph", f"{keras_s * 1e3:.0f} ms", "", None)
    row("  model_from_json / re-inference (median of paired rounds)", f"{ratio:.0f}x",
        ">= 1000x", ratio >= 1000)


if __name__ == "__main__":
    main()
