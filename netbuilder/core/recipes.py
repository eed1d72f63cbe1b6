"""Recipes: the transfer-learning steps of the course notes, one click away.

- ``classifier_head``: GlobalAveragePooling2D → Dropout(0.5) → Dense(classes, softmax) after a
  node (a sigmoid unit for ``classes == 1``, a binary problem; no pooling when the node already
  gives a vector, e.g. an Application with ``pooling="avg"``).
- ``two_stage_settings``: train the head with the base frozen, then unfreeze the base's top
  layers from ``fine_tune_from`` and train ``fine_tune_epochs`` more with the lower
  ``fine_tune_learning_rate`` (the training settings' fields of the same names).

Pure Python: the plans are lists of layers to add, so that the editor applies them as undoable
commands and tests apply them with ``add_classifier_head``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netbuilder.core.blocks import Block
from netbuilder.core.freezing import inner_layers
from netbuilder.core.graph import Graph, GraphError, Node

DEFAULT_DROPOUT = 0.5
DEFAULT_FINE_TUNE_LEARNING_RATE = 1e-5
DEFAULT_FINE_TUNE_EPOCHS = 10
V_SPACING = 110.0

_CLASSES_OF = {"digits": 10, "mnist": 10, "fashion_mnist": 10, "cifar10": 10}


@dataclass
class LayerStep:
    """One layer a recipe adds: its type, parameters and place."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)


def classifier_head(graph: Graph, after: str, classes: int,
                    dropout: float = DEFAULT_DROPOUT) -> list[LayerStep]:
    """The layers of a classifier head after node ``after``, each fed by the one before it
    (the first by ``after``). ``GraphError`` when ``after`` has no valid output yet or
    ``classes`` is not a positive whole number."""
    node = graph.node(after)
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise GraphError(f"a classifier head needs a number of classes (1 or more), got "
                         f"{classes!r}")
    if not 0 <= dropout < 1:
        raise GraphError(f"dropout must be from 0 to 1 (not included), got {dropout}")
    result = graph.inference.results.get(after)
    if result is None or not result.ok or not result.outputs:
        raise GraphError(f"{node.name} has no output shape yet; connect it (and fix its "
                         "errors) before adding a classifier head")
    rank = len(result.outputs[0])
    steps: list[LayerStep] = []
    if rank == 4:
        steps.append(LayerStep("GlobalAveragePooling2D"))
    elif rank == 3:
        steps.append(LayerStep("GlobalAveragePooling1D"))
    elif rank != 2:
        steps.append(LayerStep("Flatten"))
    if dropout:
        steps.append(LayerStep("Dropout", {"rate": dropout}))
    if classes == 1:
        steps.append(LayerStep("Dense", {"units": 1, "activation": "sigmoid"}))
    else:
        steps.append(LayerStep("Dense", {"units": classes, "activation": "softmax"}))
    x, y = node.position
    for i, step in enumerate(steps, 1):
        step.position = (x, y + i * V_SPACING)
    return steps


def add_classifier_head(graph: Graph, after: str, classes: int,
                        dropout: float = DEFAULT_DROPOUT) -> list[str]:
    """Add ``classifier_head`` to ``graph``; returns the new node ids in order."""
    steps = classifier_head(graph, after, classes, dropout)
    ids: list[str] = []
    with graph.batch():
        previous = after
        for step in steps:
            node = graph.add_node(step.type, step.params, position=step.position)
            graph.connect(previous, node.id)
            ids.append(node.id)
            previous = node.id
    return ids


def known_classes(settings: Mapping[str, Any]) -> int | None:
    """The number of classes of the project's data when it is known without loading it: the
    built-in sources, the shapes' ``num_classes``, an image folder's sub-folders."""
    data = settings.get("data")
    options: Mapping[str, Any] = {}
    if isinstance(data, Mapping):
        options = data.get("options") or {}
        data = data.get("source")
    if not isinstance(data, str) or not data:
        return None
    if data in _CLASSES_OF:
        return _CLASSES_OF[data]
    if data == "shapes":
        value = options.get("num_classes", 3)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    folder = Path(data).expanduser()
    try:
        if folder.is_dir():
            subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
            for split in ("train", "training"):  # a folder with train/ and validation/
                if any(p.name == split for p in subs):
                    subs = [p for p in (folder / split).iterdir()
                            if p.is_dir() and not p.name.startswith(".")]
            return len(subs) or None
    except OSError:
        return None
    return None


def suggested_fine_tune_layer(block: Block) -> str | None:
    """Where fine-tuning usually starts: the first layer of the base's last stage
    (``block5_conv1`` in VGG16, ``conv5_block1_1_conv`` in ResNet50), found from the layers'
    names; else the layer at three quarters of the depth. None for a block without layers."""
    layers = [n for n in inner_layers(block)]
    if not layers:
        return None

    def stage(name: str) -> str:
        parts = name.split("_")
        if any(ch.isdigit() for ch in parts[0]) or len(parts) == 1:
            return parts[0]
        return "_".join(parts[:2])

    members: dict[str, list[Node]] = {}
    for node in layers:
        members.setdefault(stage(node.name), []).append(node)
    # the last stage with convolutions that is a real stage (several layers, not the whole
    # model, not a lone top convolution such as MobileNetV2's Conv_1)
    for node in reversed(layers):
        if "conv" not in node.type.lower():
            continue
        group = members[stage(node.name)]
        if len(group) >= 4 and group[0] is not layers[0] and len(group) < len(layers) // 2:
            return group[0].name
    return layers[(len(layers) * 3) // 4].name


def two_stage_settings(layer: str, epochs: int = DEFAULT_FINE_TUNE_EPOCHS,
                       learning_rate: float = DEFAULT_FINE_TUNE_LEARNING_RATE
                       ) -> dict[str, Any]:
    """The training settings' fields of two-stage fine-tuning."""
    if not layer:
        raise GraphError("choose the layer fine-tuning starts from")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise GraphError(f"fine-tuning epochs must be 1 or more, got {epochs!r}")
    if not learning_rate > 0:
        raise GraphError(f"the fine-tuning learning rate must be above 0, got {learning_rate}")
    return {"fine_tune_from": layer, "fine_tune_epochs": epochs,
            "fine_tune_learning_rate": float(learning_rate)}
