"""Training throughput through `netbuilder train` (CLI -> worker process -> model.fit with
NetBuilder's callbacks and progress stream) and through the editor (the Training panel's Train
action -> the same worker, driven by QProcess, its events streamed into the live plots) against a
plain `model.fit` script, on the same model and the same data, in one run (DESIGN.md: >= 0.97x).

    .venv/bin/python bench/bench_training.py [--samples 6000] [--epochs 3] [--batch-size 64]
                                             [--repeat 3]

Model: the MNIST CNN of resources/examples/mnist_cnn.nbproj (93,322 parameters); the baseline
script writes the same network with plain keras.layers. Data: a generated 28x28 grayscale
10-class dataset (scikit-learn's digits, upscaled, shifted and noised) in a .npz file; both sides
hold out the same 20% for validation and scale pixels to 0..1.

The CPU time each training process spent in model.fit (all its threads) is printed too: on a
machine shared with other work the samples/s vary by tens of percent from run to run, the CPU
seconds far less, so they show what the worker's own overhead costs.

Throughput = training samples x epochs / seconds spent in model.fit (validation included on all
sides; TensorFlow's start-up and data loading excluded on all sides). For the CLI and the editor
it is the samples_per_s the worker reports in its "finished" event (the CLI column reads it from
run.json, the editor column from the event the panel received). The editor column runs in its own
process (Qt offscreen, no TensorFlow in it): it opens a copy of the project with
netbuilder.ui.app.create_window, sets the Training panel's data, epochs and batch size, triggers
the window's Train action and waits for the panel's finished signal and the worker's exit. The
three run in rotating order, each in a fresh process; the best of the repeats (the least disturbed
by other work on the machine) is compared, and the median is printed too. The wall time of the
whole CLI command (process start, TensorFlow import, data, fit, saving) and of the editor's run
(Train pressed -> worker finished) is printed too, and the CPU time the editor's own process
spent meanwhile (receiving events, redrawing the curves): on a small machine that is CPU the
worker's training does not get.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "resources" / "examples" / "mnist_cnn.nbproj"

BASELINE = r'''
import json, sys, time
import numpy as np
import keras

path, epochs, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with np.load(path) as f:
    x, y = f["x"], f["y"]
x = x[..., None].astype("float32") / 255.0
n_val = int(round(len(x) * 0.2))
x_val, y_val, x_train, y_train = x[:n_val], y[:n_val], x[n_val:], y[n_val:]

model = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Conv2D(32, 3, activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(64, 3, activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(64, 3, activation="relu"),
    keras.layers.Flatten(),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
t0, cpu0 = time.perf_counter(), time.process_time()
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                    validation_data=(x_val, y_val), verbose=0)
seconds = time.perf_counter() - t0
cpu = time.process_time() - cpu0
print(json.dumps({"params": model.count_params(), "train": len(x_train), "seconds": seconds,
                  "cpu": cpu,
                  "samples_per_s": len(x_train) * epochs / seconds,
                  "val_accuracy": history.history["val_accuracy"][-1]}))
'''


EDITOR = r'''
import json, os, resource, shutil, sys, time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
project_src, data, epochs, batch_size, work = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                               int(sys.argv[4]), Path(sys.argv[5]))
work.mkdir(parents=True, exist_ok=True)
project = work / Path(project_src).name      # a copy: the run folder goes beside it
shutil.copyfile(project_src, project)

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

# recent files and recovery files go to the bench's folder, never the user's
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
from netbuilder.ui import autosave
autosave.recovery_dir = lambda: work / "recovery"

app = QApplication([sys.argv[0]])
from netbuilder.ui.app import create_window

window, problem = create_window(project)
if problem:
    raise SystemExit(f"cannot open {project}: {problem}")
window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Discard
window.show()
panel = window.training_panel
panel.form.data_combo.set_source(data)
panel.form.epochs_spin.setValue(epochs)
panel.form.batch_spin.setValue(batch_size)

got = {}

def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)      # this (the editor's) process only
    return usage.ru_utime + usage.ru_stime

def finished(event):
    got["event"] = event
    got["t"] = time.perf_counter()
    got["cpu"] = cpu_seconds() - got["cpu0"]

def running(on):
    if not on:
        app.quit()

panel.finished.connect(finished)
panel.running_changed.connect(running)
timed_out = []
QTimer.singleShot(900_000, lambda: (timed_out.append(1), panel.kill(), app.quit()))

def start():
    got["t0"] = time.perf_counter()
    got["cpu0"] = cpu_seconds()
    window.train_action.trigger()
    if not panel.is_running():
        print(json.dumps({"error": panel.status_label.text()}))
        app.quit()

QTimer.singleShot(0, start)
app.exec()
event = got.get("event") or {}
if timed_out or event.get("event") != "finished" or event.get("reason") != "completed":
    tail = "\n".join(panel.stderr_tail)
    raise SystemExit(f"editor training did not complete: {panel.status_label.text()}\n{tail}")
sizes = next((e.get("sizes") for e in panel.events if e.get("event") == "data"), {}) or {}
print(json.dumps({"seconds": event["train_s"], "samples_per_s": event["samples_per_s"],
                  "cpu": event["train_cpu_s"],
                  "wall": got["t"] - got["t0"], "gui_cpu": got["cpu"],
                  "val_accuracy": event["history"]["val_accuracy"][-1],
                  "train": sizes.get("train"),
                  "epochs_plotted": len(panel.epoch_x),
                  "batches_plotted": len(panel.batch_x)}))
window.close()
'''


def make_data(path: Path, samples: int, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(digits.images), samples)
    x = np.empty((samples, 28, 28), dtype=np.uint8)
    for i, j in enumerate(idx):
        img = Image.fromarray((digits.images[j] * 255 / 16).astype(np.uint8)).resize(
            (20, 20), Image.BILINEAR)
        canvas = np.zeros((28, 28), dtype=np.float32)
        dy, dx = rng.integers(0, 9, 2)
        canvas[dy:dy + 20, dx:dx + 20] = np.asarray(img, dtype=np.float32)
        canvas += rng.normal(0, 12, canvas.shape)
        x[i] = np.clip(canvas, 0, 255).astype(np.uint8)
    np.savez(path, x=x, y=digits.target[idx].astype(np.int64))


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in e.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return e


def run_baseline(data: Path, epochs: int, batch: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", BASELINE, str(data), str(epochs), str(batch)],
                         capture_output=True, text=True, env=env(), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cli(data: Path, epochs: int, batch: int, work: Path, i: int) -> dict[str, float]:
    out_dir = work / f"cli-{i}"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "netbuilder", "train", str(PROJECT), "--data",
                           str(data), "--epochs", str(epochs), "--batch-size", str(batch),
                           "--out", str(out_dir), "--quiet"],
                          capture_output=True, text=True, env=env())
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"netbuilder train failed:\n{proc.stdout}\n{proc.stderr}")
    run = json.loads((out_dir / "run.json").read_text())
    result = run["result"]
    history = run["history"]
    return {"seconds": result["train_s"], "samples_per_s": result["samples_per_s"],
            "cpu": result["train_cpu_s"], "wall": wall, "val_accuracy": history["val_accuracy"][-1],
            "train": run["data"]["summary"]["sizes"]["train"]}


def run_editor(data: Path, epochs: int, batch: int, work: Path, i: int) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", EDITOR, str(PROJECT), str(data), str(epochs),
                           str(batch), str(work / f"editor-{i}")],
                          capture_output=True, text=True, env=env())
    if proc.returncode != 0:
        raise SystemExit(f"editor training failed:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in result:
        raise SystemExit(f"editor training did not start: {result['error']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "digits28.npz"
        make_data(data, args.samples)
        print(f"data: {args.samples} generated 28x28 grayscale images, 10 classes; "
              f"{args.epochs} epochs, batch size {args.batch_size}; MNIST CNN (93,322 params)")
        base, cli, editor = [], [], []
        kinds = ("plain", "cli", "editor")
        for i in range(args.repeat):
            got: dict[str, dict[str, float]] = {}
            for kind in kinds[i % 3:] + kinds[:i % 3]:   # rotate which goes first
                if kind == "plain":
                    got[kind] = run_baseline(data, args.epochs, args.batch_size)
                elif kind == "cli":
                    got[kind] = run_cli(data, args.epochs, args.batch_size, work, i)
                else:
                    got[kind] = run_editor(data, args.epochs, args.batch_size, work, i)
            b, c, e = got["plain"], got["cli"], got["editor"]
            assert b["params"] == 93_322, b
            assert abs(b["train"] - c["train"]) <= 10 and abs(b["train"] - e["train"]) <= 10, \
                (b, c, e)
            assert e["epochs_plotted"] == args.epochs, e
            base.append(b)
            cli.append(c)
            editor.append(e)
            print(f"  run {i + 1}: plain model.fit {b['samples_per_s']:7.0f} samples/s "
                  f"({b['seconds']:.2f}s in fit, {b['cpu']:.2f}s CPU, "
                  f"val_acc {b['val_accuracy']:.3f})")
            print(f"         netbuilder train {c['samples_per_s']:7.0f} samples/s "
                  f"({c['seconds']:.2f}s in fit, {c['cpu']:.2f}s CPU, {c['wall']:.1f}s wall, "
                  f"val_acc {c['val_accuracy']:.3f})")
            print(f"         editor (Train)   {e['samples_per_s']:7.0f} samples/s "
                  f"({e['seconds']:.2f}s in fit, {e['cpu']:.2f}s CPU, {e['wall']:.1f}s wall, "
                  f"val_acc {e['val_accuracy']:.3f}, {e['batches_plotted']} batch points "
                  f"plotted, editor process {e['gui_cpu']:.1f}s CPU)")

        def best(rows: list[dict[str, float]]) -> float:
            return max(r["samples_per_s"] for r in rows)

        def median(rows: list[dict[str, float]]) -> float:
            return statistics.median(r["samples_per_s"] for r in rows)

        def pairs(rows: list[dict[str, float]]) -> str:
            return ", ".join(f"{r['samples_per_s'] / b['samples_per_s']:.3f}"
                             for b, r in zip(base, rows))

        b_best, c_best, e_best = best(base), best(cli), best(editor)
        b_med, c_med, e_med = median(base), median(cli), median(editor)
        print()
        print(f"{'samples/s':<12}{'plain model.fit':>17}{'netbuilder train':>18}"
              f"{'editor':>10}{'CLI/plain':>11}{'editor/plain':>14}")
        print(f"{'best of ' + str(args.repeat):<12}{b_best:>17.0f}{c_best:>18.0f}{e_best:>10.0f}"
              f"{c_best / b_best:>10.3f}x{e_best / b_best:>13.3f}x")
        print(f"{'median':<12}{b_med:>17.0f}{c_med:>18.0f}{e_med:>10.0f}"
              f"{c_med / b_med:>10.3f}x{e_med / b_med:>13.3f}x")
        print(f"target >= 0.97x. Per pair: CLI/plain {pairs(cli)}; editor/plain {pairs(editor)}")
        cpu = {k: statistics.median(r["cpu"] for r in rows)
               for k, rows in (("plain", base), ("cli", cli), ("editor", editor))}
        print(f"CPU seconds in fit (training process, all threads), median: plain "
              f"{cpu['plain']:.2f}, netbuilder train {cpu['cli']:.2f} "
              f"({cpu['cli'] / cpu['plain']:.3f}x), editor's worker {cpu['editor']:.2f} "
              f"({cpu['editor'] / cpu['plain']:.3f}x) + editor process "
              f"{statistics.median(r['gui_cpu'] for r in editor):.2f}")
        print(f"wall time per run, median: netbuilder train (start-up, TensorFlow import, data, "
              f"fit, saving) {statistics.median(r['wall'] for r in cli):.1f}s; editor (Train "
              f"pressed -> worker finished) {statistics.median(r['wall'] for r in editor):.1f}s")

if __name__ == "__main__":
    main()
