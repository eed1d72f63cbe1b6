"""Training throughput on one device and on several: a plain `model.fit` script, `netbuilder
train` without and with `--devices cpu:1` (the device path with one device: DESIGN.md allows
it 5% overhead) and `--devices cpu:2` (MirroredStrategy over the CPU split into two logical
devices), side by side.

    .venv/bin/python bench/bench_devices.py [--samples 3000] [--epochs 2] [--batch-size 64]
                                            [--repeat 5]

Model and data as in bench_training.py (its plain script is the baseline): the MNIST CNN of
resources/examples/mnist_cnn.nbproj on generated 28x28 digits. Throughput = training samples x
epochs / seconds in model.fit (validation included, start-up excluded), each run in a fresh
process, every side once per repeat in rotating order. Printed: the best and the median of the
repeats, the paired ratio (the median over repeats of each side against that repeat's model.fit,
run just before or after it: a shared machine's speed drifts between repeats) and the CPU
seconds per 1,000 samples (the work done, which other load barely moves). cpu:2 splits the
same cores into two devices, so it is not expected to be faster on a CPU: it shows what
MirroredStrategy costs there, and that the multi-device path runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import PROJECT, env, make_data, run_baseline  # noqa: E402


def run_devices(devices: str, data: Path, epochs: int, batch: int, out_dir: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "netbuilder", "train", str(PROJECT), "--data",
                           str(data), "--epochs", str(epochs), "--batch-size", str(batch),
                           "--devices", devices, "--out", str(out_dir), "--quiet"],
                          capture_output=True, text=True, env=env())
    if proc.returncode != 0:
        raise SystemExit(f"netbuilder train --devices {devices} failed:\n{proc.stderr}")
    run = json.loads((out_dir / "run.json").read_text())
    assert run["devices"]["requested"] == devices
    return {"samples_per_s": run["result"]["samples_per_s"], "seconds": run["result"]["train_s"],
            "cpu": run["result"]["train_cpu_s"], "replicas": run["devices"]["replicas"],
            "strategy": run["devices"]["strategy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-devices-"))
    data = work / "digits28.npz"
    make_data(data, args.samples)
    runs: dict[str, list[dict]] = {"model.fit": [], "auto": [], "cpu:1": [], "cpu:2": []}
    order = list(runs)
    for i in range(args.repeat):
        for name in order[i % len(order):] + order[:i % len(order)]:
            if name == "model.fit":
                result = run_baseline(data, args.epochs, args.batch_size)
            else:
                result = run_devices(name, data, args.epochs, args.batch_size,
                                     work / f"{name.replace(':', '')}-{i}")
            runs[name].append(result)
            print(f"  run {i + 1} {name:9s} {result['samples_per_s']:8,.0f} samples/s",
                  flush=True)
    best = {n: max(r["samples_per_s"] for r in rs) for n, rs in runs.items()}
    median = {n: statistics.median(r["samples_per_s"] for r in rs) for n, rs in runs.items()}
    # paired: each repeat runs every side back to back, so a ratio within one repeat is
    # measured under the same conditions (a shared machine's speed drifts between repeats)
    paired = {n: statistics.median(r["samples_per_s"] / f["samples_per_s"]
                                   for r, f in zip(rs, runs["model.fit"]))
              for n, rs in runs.items()}
    # the work done: CPU seconds per 1,000 samples, which another machine's load barely moves
    cpu = {n: statistics.median(1000 * r["cpu"] / (r["samples_per_s"] * r["seconds"])
                                for r in rs) for n, rs in runs.items()}
    print(f"\nMNIST CNN, {args.samples} samples (80% trained), {args.epochs} epochs, global "
          f"batch {args.batch_size}, {args.repeat} repeats:")
    print(f"{'':28s}{'best':>8s}{'median':>8s}{'paired ratio':>14s}{'CPU s/1k':>10s}")
    labels = {"model.fit": "plain model.fit", "auto": "netbuilder train (auto)",
              "cpu:1": "--devices cpu:1",
              "cpu:2": "--devices cpu:2 (Mirrored)"}
    for name, label in labels.items():
        print(f"{label:28s}{best[name]:8,.0f}{median[name]:8,.0f}{paired[name]:13.2f}x"
              f"{cpu[name]:10.2f}")
    print(f"\none-device path (cpu:1) vs model.fit: paired {paired['cpu:1']:.2f}x, CPU per "
          f"sample {cpu['cpu:1'] / cpu['model.fit']:.2f}x (budget: overhead at most 5%); "
          f"cpu:1 vs netbuilder train without --devices: paired "
          f"{paired['cpu:1'] / paired['auto']:.2f}x")


if __name__ == "__main__":
    main()
