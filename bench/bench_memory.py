"""The summary's training-memory estimate (core.summary.estimate_memory) against the memory one
training step really takes, on a few models.

    .venv/bin/python bench/bench_memory.py [--repeat 2]

Each model is measured in a fresh process: it builds the Keras model (CPU, float32), compiles it
with Adam, makes one random batch and runs one prediction on it (TensorFlow's start-up, the
weights and the batch are then in memory), reads the peak resident set size
(``resource.getrusage``: ru_maxrss), runs one ``train_on_batch`` and reads the peak again. The
growth is what the step added: the activations kept for the backward pass, the gradients, Adam's
two slots per weight, and TensorFlow's own work buffers and the traced step function. The
estimate compared is the training estimate less the weights (allocated before the first reading).
The smallest of the repeats is kept (the least disturbed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.project import load  # noqa: E402
from netbuilder.core.summary import estimate_memory, human_bytes  # noqa: E402

EXAMPLES = ROOT / "resources" / "examples"


def vgg_like() -> Graph:
    graph = Graph()
    layers = [("Input", {"shape": [128, 128, 3]})]
    for filters in (32, 64, 128):
        layers += [("Conv2D", {"filters": filters, "kernel_size": 3, "padding": "same",
                               "activation": "relu"}),
                   ("Conv2D", {"filters": filters, "kernel_size": 3, "padding": "same",
                               "activation": "relu"}),
                   ("MaxPooling2D", {})]
    layers += [("Flatten", {}), ("Dense", {"units": 10, "activation": "softmax"})]
    previous = None
    for kind, params in layers:
        node = graph.add_node(kind, params)
        if previous is not None:
            graph.connect(previous.id, node.id)
        previous = node
    return graph


MODELS = {  # name -> (graph, batch size)
    "mlp": (lambda: load(EXAMPLES / "mlp.nbproj").graph, 1024),
    "mnist_cnn": (lambda: load(EXAMPLES / "mnist_cnn.nbproj").graph, 512),
    "cats_vs_dogs_cnn": (lambda: load(EXAMPLES / "cats_vs_dogs_cnn.nbproj").graph, 64),
    "vgg_like_128": (vgg_like, 32),
}

CHILD = r"""
import json, resource, sys
import numpy as np
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bench.bench_memory import MODELS
from netbuilder.runtime.keras_build import build_model
import keras

graph = MODELS[sys.argv[1]][0]()
batch = int(sys.argv[2])
model = build_model(graph)
model.compile(optimizer="adam", loss="mean_squared_error")
x = np.random.rand(batch, *model.inputs[0].shape[1:]).astype("float32")
y = np.random.rand(batch, *model.outputs[0].shape[1:]).astype("float32")
model.predict_on_batch(x)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
model.train_on_batch(x, y)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"growth": after - before}))
"""


def measure(name: str, batch: int) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, name, str(batch), str(ROOT)],
                         capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
                              "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])["growth"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"{'model':18} {'batch':>5} {'estimate':>11} {'measured':>11} {'error':>7}")
    for name, (make, batch) in MODELS.items():
        m = estimate_memory(make(), {"batch_size": batch, "optimizer": "adam"})
        estimate = m.training - m.weights
        measured = min(measure(name, batch) for _ in range(args.repeat))
        error = (estimate - measured) / measured * 100 if measured else float("nan")
        print(f"{name:18} {batch:5} {human_bytes(estimate):>11} {human_bytes(measured):>11} "
              f"{error:+6.0f}%", flush=True)


if __name__ == "__main__":
    main()
