"""What the Inspect dock's captions say about a worker's reply: the layer and its shape above the
feature maps, the kernels above the filters, the top prediction, the Grad-CAM class and the
statistics, and which weights the model has. Plain text (no Qt): the panel puts it in its labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netbuilder.ui.formatting import dims_text

GRADCAM_TIP = ("Grad-CAM: the layer's maps weighted by how much they raise the class score; "
               "bright regions pushed the model towards the class")
UNTRAINED_TIP = "Freshly initialised weights: train the model to see what it learns"
NAME_SOURCES = {"dataset": "Class names from the dataset.",
                "imagenet": "ImageNet class names (Keras' cached class index).",
                "indices": "Classes by index."}


def maps_caption(layer: str, layer_type: str, shape: Sequence[int], array: Any) -> tuple[str, str]:
    """For feature maps (``array``: H x W x C): the caption and its tooltip, which explains
    channels that stayed all zero for this input."""
    n = shape[-1]
    flat = array.reshape(-1, array.shape[-1])
    zero = int(((flat.max(axis=0) == 0) & (flat.min(axis=0) == 0)).sum())
    dead = f" · {zero} all zero for this input" if zero else ""
    tip = ("A channel that is all zero did not respond to this input (with ReLU, it may be dead "
           "for every input: see Statistics)" if zero else "")
    return (f"{layer}{layer_type} · {dims_text(shape)} · {n} channel{'s' if n != 1 else ''}"
            f"{dead}", tip)


def vector_caption(layer: str, layer_type: str, size: int) -> str:
    return f"{layer}{layer_type} · {size} value{'s' if size != 1 else ''}"


def filters_caption(layer: str, shape: Sequence[int], cin: int) -> str:
    """``shape``: the kernels' (kh, kw, in, out)."""
    return (f"{layer} · {shape[-1]} kernels of {dims_text(shape[:-2])} over {cin} input "
            f"channel{'s' if cin != 1 else ''}")


def predict_note(result: dict[str, Any]) -> str:
    """Where the class names come from, and the worker's notes about names and softmax."""
    notes = [n for n in result.get("notes") or [] if "class name" in n.lower()
             or "softmax" in n.lower()]
    return " ".join([NAME_SOURCES.get(str(result.get("source_of_names")), "")] + notes).strip()


def predict_caption(top: Sequence[dict[str, Any]], tta: dict[str, Any] | None = None) -> str:
    """The top class; with ``tta`` (the predictions averaged over augmented copies) the top
    class without and with it: ``Predicted: 7 (80.0%) → 7 (85.0%) with TTA ×8``."""
    if not top:
        return "No prediction"

    def best(top: Sequence[dict[str, Any]]) -> str:
        return f"{top[0].get('name')} ({float(top[0].get('probability') or 0) * 100:.1f}%)"

    if tta and tta.get("top"):
        return f"Predicted: {best(top)} → {best(tta['top'])} with TTA ×{tta.get('copies')}"
    return f"Predicted: {best(top)}"


def gradcam_caption(result: dict[str, Any]) -> str:
    p = result.get("probability")
    probability = f" (p = {float(p):.2f})" if isinstance(p, (int, float)) else ""
    return (f"Where the model sees class {result.get('class_name', result.get('class_index'))}"
            f"{probability} · layer {result.get('layer')}")


def stats_caption(layers: Sequence[dict[str, Any]], samples: int) -> str:
    dead = [e for e in layers if isinstance(e.get("dead_fraction"), (int, float))
            and e["dead_fraction"] >= 0.5]
    text = f"{len(layers)} layers over {samples} samples"
    if dead:
        text += f" · {len(dead)} with half or more dead ReLUs"
    return text


def weights_caption(run: str | None, project_weights: bool, run_failed: bool) -> str:
    """Which weights the model has: a run's (``run``: "from run x", "live (epoch 3)"), the
    project's weights file, or none; ``run_failed``: the run's did not fit the edited model."""
    text = run or ("from the project's weights file" if project_weights else "untrained")
    if run_failed:
        text += " (the run's weights don't fit the edited model)"
    return f"Weights: <b>{text}</b>"
