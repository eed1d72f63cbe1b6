"""A stand-in for ``python -m netbuilder.runtime.workers.inspection`` in the Inspect dock's tests:
it speaks the inspection protocol (through ``workers/protocol.py``, like the real worker) with
canned arrays (no TensorFlow), so that the tests exercise the dock's process handling, request
ids and drawing.

    python fake_inspect_worker.py LOG [crash-on=ACTION] [delay=SECONDS] [build-error]
                                      [weights-error] [imagenet-missing] [bad-array]

Every request is appended to LOG (one JSON line each). ``crash-on=activations`` exits with status
3 on the first such request (only once: the marker file LOG.crashed remembers it);
``delay=0.3`` waits before each activations reply; ``build-error`` refuses every load;
``weights-error`` refuses loads that name a weights file; ``imagenet-missing`` answers predictions
without class names, with the worker's note; ``bad-array`` sends feature maps whose data does not
match their shape.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from netbuilder.runtime.workers.protocol import (  # noqa: E402
    encode_array,
    encode_message,
    error_reply,
    event,
    ok_reply,
    parse_line,
)

CLASS_NAMES = [str(i) for i in range(10)]


def layers_of(project: dict) -> list[dict]:
    out = []
    for node in project["graph"]["nodes"]:
        kind = node["type"]
        conv = kind.startswith("Conv") or kind.startswith("MaxPool")
        out.append({"name": node["name"], "type": kind,
                    "output_shape": [None, 26, 26, 4] if conv else [None, 10],
                    "conv": conv, "has_kernel": kind.startswith("Conv") or kind == "Dense"})
    return out


def input_fields(spec: dict) -> dict:
    image = (np.arange(28 * 28, dtype=np.int64).reshape(28, 28, 1) % 256).astype(np.uint8)
    label = 7 if spec.get("kind") == "dataset" else None
    return {"input_image": encode_array(image), "label": label, "class_names": CLASS_NAMES,
            "notes": [f"fake input {spec.get('kind')} {spec.get('index', '')}".strip()]}


def main() -> int:
    log = Path(sys.argv[1])
    options = dict(a.split("=", 1) if "=" in a else (a, "1") for a in sys.argv[2:])
    out = sys.stdout

    def send(message: dict) -> None:
        out.write(encode_message(message))

    send(event("status", message="loading TensorFlow"))
    send(event("ready", pid=os.getpid()))
    out.flush()
    layers: list[dict] = []
    for line in sys.stdin:
        if not line.strip():
            continue
        req = parse_line(line)
        with log.open("a") as f:
            f.write(json.dumps(req) + "\n")
        rid, action = req.get("id"), req.get("action")
        crashed = Path(f"{log}.crashed")
        if options.get("crash-on") == action and not crashed.exists():
            crashed.write_text("1")
            print("fake worker: crashing on purpose", file=sys.stderr, flush=True)
            return 3
        if action == "load":
            if "build-error" in options:
                send(error_reply(rid, "build", "conv2d: Conv2D expects an image"))
            elif "weights-error" in options and req.get("weights"):
                send(error_reply(rid, "weights", "the weights don't fit this model"))
            else:
                layers = layers_of(req["project"])
                send(ok_reply(rid, {"layers": layers, "inputs": [[None, 28, 28, 1]],
                                         "outputs": [[None, 10]], "params": 1234,
                                         "weights": req.get("weights") or "untrained"}))
        elif action == "activations":
            time.sleep(float(options.get("delay", 0)))
            result = {"layers": {}, "ms": 1.5, **input_fields(req["input"])}
            for name in req["layers"]:
                info = next((x for x in layers if x["name"] == name), None)
                if info is None:
                    send(error_reply(rid, "layer", f"no layer named {name}"))
                    break
                if "bad-array" in options:
                    result["layers"][name] = {"shape": [26, 26, 4], "kind": "maps",
                                              "array": {"dtype": "float32", "shape": [26, 26, 4],
                                                        "data": "AAAA"}}
                elif info["conv"]:
                    array = np.arange(26 * 26 * 4, dtype=np.float32).reshape(26, 26, 4)
                    result["layers"][name] = {"shape": [26, 26, 4], "kind": "maps",
                                              "array": encode_array(array)}
                else:
                    array = np.linspace(-1, 1, 10, dtype=np.float32)
                    result["layers"][name] = {"shape": [10], "kind": "vector",
                                              "array": encode_array(array)}
            else:
                send(ok_reply(rid, result))
        elif action == "filters":
            info = next((x for x in layers if x["name"] == req["layer"]), None)
            if info is None or not info["has_kernel"]:
                send(error_reply(rid, "layer", f"{req['layer']} has no kernel"))
            else:
                kernels = np.random.default_rng(0).normal(size=(3, 3, 1, 4)).astype(np.float32)
                send(ok_reply(rid, {"shape": [3, 3, 1, 4], "array": encode_array(kernels),
                                         "rgb": False}))
        elif action == "predict":
            top = [{"index": i, "name": CLASS_NAMES[i], "probability": p}
                   for i, p in ((7, 0.8), (1, 0.15), (3, 0.05))][:req.get("top", 5)]
            fields = input_fields(req["input"])
            source = "dataset"
            if "imagenet-missing" in options:
                source = "indices"
                fields["notes"].append("ImageNet class names need keras' "
                                       "imagenet_class_index.json in ~/.keras/models (offline)")
            tta = {}
            if req.get("tta"):       # test-time augmentation: the averaged top classes
                tta = {"tta": {"copies": req["tta"]["copies"], "top": [
                    {"index": 7, "name": "7", "probability": 0.9},
                    {"index": 1, "name": "1", "probability": 0.1}]}}
            send(ok_reply(rid, {"top": top, "source_of_names": source, **fields, **tta}))
        elif action == "gradcam":
            heat = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(28, 28)
            k = req.get("class_index")
            k = 7 if k is None else k
            send(ok_reply(rid, {"heatmap": encode_array(heat), "layer": "conv2d",
                                     "class_index": k, "class_name": CLASS_NAMES[k],
                                     "probability": 0.8, **input_fields(req["input"])}))
        elif action == "stats":
            rows = [{"name": x["name"], "mean": 0.5, "std": 0.25,
                     "dead_fraction": 0.75 if x["conv"] else None} for x in layers]
            send(ok_reply(rid, {"layers": rows, "ms": 3.0}))
        elif action == "reload_weights":
            send(ok_reply(rid, {"weights": req.get("weights")}))
        elif action == "ping":
            send(ok_reply(rid, {"pong": True}))
        else:
            send(error_reply(rid, "request", f"unknown action {action!r}"))
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
