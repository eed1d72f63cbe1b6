"""What the editor asks about Keras Applications: a model's description, the Application block a
node calls, how its node reads on the canvas."""

from __future__ import annotations

from netbuilder.core import freezing
from netbuilder.core.blocks import Block
from netbuilder.core.graph import BLOCK_TYPE, Graph
from netbuilder.runtime.applications import input_sizes

FAMILY = "Pretrained"
"""The palette section and the canvas colour of Keras Applications."""

_FAMILIES = (("VGG", "VGG: plain stacks of 3×3 convolutions (the course's VGG16)"),
             ("ResNet", "ResNet: residual blocks"), ("Inception", "Inception"),
             ("Xception", "Xception: depthwise separable convolutions"),
             ("MobileNet", "MobileNet: small and fast"), ("DenseNet", "DenseNet"),
             ("NASNet", "NASNet"), ("EfficientNet", "EfficientNet: scaled for accuracy"),
             ("ConvNeXt", "ConvNeXt: modern convolutions"))


def describe_application(name: str) -> str:
    default, minimum = input_sizes(name)
    family = next((text for prefix, text in _FAMILIES if name.startswith(prefix)), name)
    return (f"{family}. Default input {default}×{default}×3; at least {minimum}×{minimum} "
            "pixels.")


def application_of(graph: Graph, node_id: str | None) -> Block | None:
    """The Application block a node calls, or None."""
    if node_id is None or node_id not in graph.nodes:
        return None
    node = graph.nodes[node_id]
    if node.type != BLOCK_TYPE:
        return None
    block = graph.blocks.get(node.params.get("block"))
    return block if block is not None and block.application else None


def node_look(graph: Graph, node_id: str) -> tuple[str, str, str] | None:
    """How an Application's node reads on the canvas (a ``CanvasHooks.node_looks`` hook): its
    family, type and detail: ("Pretrained", "VGG16", "frozen"), (…, "fine-tuned from
    block5_conv1"); None for other nodes."""
    block = application_of(graph, node_id)
    if block is None or block.application is None:
        return None
    return FAMILY, block.application["name"], freezing.describe(graph, node_id)
