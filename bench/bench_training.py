"""Training throughput through `netbuilder train` (CLI -> worker process -> model.fit with
NetBuilder's callbacks and progress stream) against a plain `model.fit` script, on the same model
and the same data, in one run (DESIGN.md: >= 0.97x).

    .venv/bin/python bench/bench_training.py [--samples 6000] [--epochs 3] [--batch-size 64]
                                             [--repeat 3]

Model: the MNIST CNN of resources/examples/mnist_cnn.nbproj (93,322 parameters); the baseline
script writes the same network with plain keras.layers. Data: a generated 28x28 grayscale
10-class dataset (scikit-learn's digits, upscaled, shifted and noised) in a .npz file; both sides
hold out the same 20% for validation and scale pixels to 0..1.

Throughput = training samples x epochs / seconds spent in model.fit (validation included on both
sides; TensorFlow's start-up and data loading excluded on both sides). The two run alternately,
each in a fresh process; the best of the repeats (the least disturbed by other work on the
machine) is compared, and the median is printed too. The wall time of the whole CLI command
(process start, TensorFlow import, data, fit, saving) is printed too.
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
t0 = time.perf_counter()
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                    validation_data=(x_val, y_val), verbose=0)
seconds = time.perf_counter() - t0
print(json.dumps({"params": model.count_params(), "train": len(x_train), "seconds": seconds,
                  "samples_per_s": len(x_train) * epochs / seconds,
                  "val_accuracy": history.history["val_accuracy"][-1]}))
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
            "wall": wall, "val_accuracy": history["val_accuracy"][-1],
            "train": run["data"]["summary"]["sizes"]["train"]}


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
        base, cli = [], []
        for i in range(args.repeat):
            if i % 2 == 0:   # alternate which goes first
                b = run_baseline(data, args.epochs, args.batch_size)
                c = run_cli(data, args.epochs, args.batch_size, work, i)
            else:
                c = run_cli(data, args.epochs, args.batch_size, work, i)
                b = run_baseline(data, args.epochs, args.batch_size)
            assert b["params"] == 93_322 and abs(b["train"] - c["train"]) <= 10, (b, c)
            base.append(b)
            cli.append(c)
            print(f"  run {i + 1}: plain model.fit {b['samples_per_s']:7.0f} samples/s "
                  f"({b['seconds']:.2f}s, val_acc {b['val_accuracy']:.3f})   netbuilder train "
                  f"{c['samples_per_s']:7.0f} samples/s ({c['seconds']:.2f}s in fit, "
                  f"{c['wall']:.1f}s wall, val_acc {c['val_accuracy']:.3f})")
        b_best = max(r["samples_per_s"] for r in base)
        c_best = max(r["samples_per_s"] for r in cli)
        b_med = statistics.median(r["samples_per_s"] for r in base)
        c_med = statistics.median(r["samples_per_s"] for r in cli)
        ratios = [c["samples_per_s"] / b["samples_per_s"] for b, c in zip(base, cli)]
        print(f"best of {args.repeat}: plain model.fit {b_best:.0f} samples/s, netbuilder train "
              f"{c_best:.0f} samples/s -> ratio {c_best / b_best:.3f}x (target >= 0.97x)")
        print(f"median: plain {b_med:.0f}, netbuilder {c_med:.0f} -> ratio {c_med / b_med:.3f}x;"
              f" per pair: {', '.join(f'{r:.3f}' for r in ratios)}")
        print(f"netbuilder train wall time per run (start-up, TensorFlow import, data, fit, "
              f"saving): {statistics.median(r['wall'] for r in cli):.1f}s")


if __name__ == "__main__":
    main()
