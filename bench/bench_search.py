"""Trials per hour of `netbuilder search` against a plain Optuna + Keras script running the same
search, side by side (DESIGN.md: >= 0.9x).

    .venv/bin/python bench/bench_search.py [--trials 6] [--epochs 3] [--samples 4000]
                                           [--repeat 1]

The search: the MNIST CNN of resources/examples/mnist_cnn.nbproj on a generated 28x28 10-class
dataset (bench_training.make_data: scikit-learn's digits upscaled, shifted and noised) in a .npz
file, 20% held out for validation, batch size 32, over the width of the hidden Dense layer
(32..128) and the learning rate (1e-4..1e-2, log), minimising val_loss, TPE (both sides start
with random trials, so the costs match without the same draws). The plain script writes the same
network with keras.layers and runs `study.optimize` with an in-memory study; NetBuilder keeps
every trial as a run (run.json, history.json, model.keras, best.keras), writes trials.csv and
best.nbproj after each trial and keeps the study in SQLite.

Trials per hour = trials x 3600 / wall seconds of the whole command (process start, TensorFlow
import and data included on both sides). The two run one after the other, in fresh processes,
alternating first; the best of the repeats is compared.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import PROJECT, ROOT, env, make_data  # noqa: E402

BASELINE = r'''
import sys
import numpy as np
import keras
import optuna

path, trials, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
optuna.logging.set_verbosity(optuna.logging.ERROR)
with np.load(path) as f:
    x, y = f["x"], f["y"]
x = x[..., None].astype("float32") / 255.0
n_val = int(round(len(x) * 0.2))
x_val, y_val, x_train, y_train = x[:n_val], y[:n_val], x[n_val:], y[n_val:]


def objective(trial):
    units = trial.suggest_int("units", 32, 128)
    learning_rate = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    keras.backend.clear_session()
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs,
                        validation_data=(x_val, y_val), verbose=0)
    return history.history["val_loss"][-1]


study = optuna.create_study(direction="minimize")
study.optimize(objective, n_trials=trials)
print("best", study.best_value)
'''


def run_baseline(data: Path, trials: int, epochs: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", BASELINE, str(data), str(trials), str(epochs)],
                   capture_output=True, text=True, env=env(), check=True)
    return time.perf_counter() - t0


def run_cli(data: Path, trials: int, epochs: int, out: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "netbuilder", "search", str(PROJECT), "--data", str(data),
         "--trials", str(trials), "--epochs", str(epochs), "--space", "dense.units=32..128",
         "--space", "training.learning_rate=1e-4..1e-2:log", "--out", str(out)],
        capture_output=True, text=True, env=env(), cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"netbuilder search failed: {proc.stderr.strip()}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("Trial ")]
    if len(lines) != trials:
        raise SystemExit(f"netbuilder search ran {len(lines)} trials, not {trials}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        work = Path(tmp)
        data = work / "digits28.npz"
        make_data(data, args.samples)
        cli, plain = [], []
        for i in range(args.repeat):
            order = (("cli", "plain") if i % 2 == 0 else ("plain", "cli"))
            for side in order:
                if side == "cli":
                    cli.append(run_cli(data, args.trials, args.epochs, work / f"search-{i}"))
                else:
                    plain.append(run_baseline(data, args.trials, args.epochs))
                print(f"  run {i + 1} {side:5s} {(cli if side == 'cli' else plain)[-1]:7.1f} s",
                      flush=True)
    per_hour = {name: args.trials * 3600 / min(times)
                for name, times in (("netbuilder search", cli), ("Optuna + Keras", plain))}
    print(f"{args.trials} trials x {args.epochs} epochs, mnist_cnn on {args.samples} "
          f"generated 28x28 digits")
    for name, value in per_hour.items():
        print(f"  {name:18s} {value:8.1f} trials/hour")
    ratio = per_hour["netbuilder search"] / per_hour["Optuna + Keras"]
    print(f"  ratio {ratio:.2f}x (goal >= 0.9x)")


if __name__ == "__main__":
    main()
