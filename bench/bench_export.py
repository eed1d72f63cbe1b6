"""Deployment export of the MNIST CNN trained briefly on the digits: for each format, the file
size, the export time (``model.export`` and the converter), the largest difference from Keras on
32 validation samples, and int8's validation accuracy beside float32's.

    .venv/bin/python bench/bench_export.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netbuilder.core.project import load, save  # noqa: E402
from netbuilder.runtime import deployment  # noqa: E402

RUNS = (("savedmodel", None), ("onnx", None), ("tflite", None), ("tflite", "float16"),
        ("tflite", "int8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    import keras

    from netbuilder.runtime import data as data_mod
    from netbuilder.runtime.keras_build import build_model

    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    project = load(ROOT / "resources" / "examples" / "mnist_cnn.nbproj")
    keras.utils.set_random_seed(0)
    model = build_model(project.graph, name="mnist_cnn")
    prepared = data_mod.prepare(data_mod.load("digits"), model)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(prepared.train.x, prepared.train.y, epochs=args.epochs, batch_size=32, verbose=0)
    model.save_weights(folder / "mnist_cnn.weights.h5")
    project.weights = "mnist_cnn.weights.h5"
    save(project, folder / "mnist_cnn.nbproj")
    _, accuracy = model.evaluate(prepared.validation.x, prepared.validation.y, verbose=0)
    print(f"MNIST CNN trained {args.epochs} epochs on the digits: validation accuracy "
          f"{accuracy:.4f} (Keras, float32)\n")
    print(f"{'format':<18}{'size':>12}{'export':>10}{'max |diff|':>13}  check")
    for fmt, quantize in RUNS:
        suffix = {"savedmodel": "", "onnx": ".onnx", "tflite": ".tflite"}[fmt]
        out = folder / f"mnist_cnn-{quantize or 'float32'}{suffix}"
        result = deployment.export({"project": str(folder / "mnist_cnn.nbproj"), "format": fmt,
                                    "quantize": quantize, "data": "digits",
                                    "output": str(out)}, lambda e: None)
        check = result["check"]
        if "agreement" in check:
            acc = check["accuracy"]
            note = (f"top-1 agreement {check['agreement']:.1%}; accuracy int8 "
                    f"{acc['int8']:.4f} vs float32 {acc['float32']:.4f} ({acc['samples']})")
        else:
            note = f"tolerance {check['tolerance']:.0e}"
        name = deployment.FORMAT_NAMES[fmt] + (f" {quantize}" if quantize else "")
        print(f"{name:<18}{deployment.format_size(result['size']):>12}"
              f"{result['export_s']:>9.2f}s{check['max_diff']:>13.2e}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
