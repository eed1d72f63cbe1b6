"""Freezing a nested model (a Keras Application) for transfer learning, as the course notes do.

- ``freeze_block(graph, node, True)`` is ``conv_base.trainable = False``: the instance is frozen,
  every weight inside counts as non-trainable. ``freeze_block(graph, node, False)`` is
  ``conv_base.trainable = True``: the instance and every layer inside train again.
- ``fine_tune_from(block, "block5_conv1")`` is the notes' fine-tuning loop: the layers before
  ``block5_conv1`` are frozen, it and the layers after it train. **BatchNormalization layers stay
  frozen** (their gamma and beta too), as the Keras transfer-learning guide recommends: their
  moving statistics must not be destroyed by the first batches of a small data set, and a
  (partly) frozen base is called with ``training=False`` so that they run in inference mode.

Inner trainable flags live in the block's subgraph (one definition shared by its instances); the
instance's own flag is ``Node.trainable``. After changing inner flags the outer graph's cached
block results are refreshed (``Graph.add_block``), so the summary counts follow.

Pure Python: nothing here imports Qt or Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

from netbuilder.core.blocks import Block
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError, Node

KEPT_FROZEN = ("BatchNormalization",)
"""Layer types that ``fine_tune_from`` keeps frozen."""
FROZEN = "frozen"
"""What ``describe`` says of a frozen Application (its canvas card shows a badge instead)."""


@dataclass(frozen=True)
class FreezeState:
    """The trainable flags of a block instance and of every layer inside its block (undo)."""

    node_trainable: bool
    inner: tuple[tuple[str, bool], ...]


def block_of(graph: Graph, node: Node | str) -> Block:
    """The block a block-instance node calls; ``GraphError`` for any other node."""
    if isinstance(node, str):
        node = graph.node(node)
    if node.type != BLOCK_TYPE:
        raise GraphError(f"{node.name} is a {node.type} layer, not a block or a nested model")
    return graph.blocks[node.params["block"]]


def inner_layers(block: Block) -> list[Node]:
    """The block's layers in Keras' order (``model.layers``), without its Input layers."""
    sub = block.graph
    return [sub.nodes[n] for n in sub.topological_order() if sub.nodes[n].type != "Input"]


def _refresh(graph: Graph | None, block: Block) -> None:
    if graph is not None and graph.blocks.get(block.name) is block:
        graph.add_block(block)  # forgets the cached block results: instances re-infer


def set_inner_trainable(block: Block, flags: dict[str, bool], graph: Graph | None = None
                        ) -> None:
    """Set inner layers' flags (node id -> trainable) in one go; ``graph`` is refreshed."""
    sub = block.graph
    with sub.batch():
        for nid, on in flags.items():
            sub.set_trainable(nid, on)
    _refresh(graph, block)


def freeze_block(graph: Graph, target: Node | Block | str, frozen: bool) -> None:
    """Freeze or unfreeze a nested model.

    ``target`` a block instance (node or node id): ``base.trainable = not frozen`` on that
    instance; unfreezing also makes every layer inside trainable again, as Keras does.
    ``target`` a Block: every layer inside it, for every instance (the notes' ``for layer in
    conv_base.layers: layer.trainable = False``).
    """
    if isinstance(target, Block):
        set_inner_trainable(target, {n.id: not frozen for n in inner_layers(target)}, graph)
        return
    node = graph.node(target) if isinstance(target, str) else target
    block = block_of(graph, node)
    with graph.batch():
        graph.set_trainable(node.id, not frozen)
        if not frozen:
            set_inner_trainable(block, {n.id: True for n in inner_layers(block)}, graph)


def fine_tune_from(block: Block, layer_name: str, graph: Graph | None = None) -> list[str]:
    """Layers from ``layer_name`` on trainable, the earlier ones frozen; BatchNormalization
    layers stay frozen (see the module's docstring). Returns the names of the layers from
    ``layer_name`` on that stay frozen for that reason. ``graph`` (the graph holding the block)
    is refreshed so its summary counts follow; unfreeze the instance itself with
    ``freeze_block`` or ``Graph.set_trainable``."""
    layers = inner_layers(block)
    names = [n.name for n in layers]
    if layer_name not in names:
        raise GraphError(f"{block.name} has no layer named {layer_name!r}")
    start = names.index(layer_name)
    flags: dict[str, bool] = {}
    kept: list[str] = []
    for i, node in enumerate(layers):
        on = i >= start
        if on and node.type in KEPT_FROZEN:
            on = False
            kept.append(node.name)
        flags[node.id] = on
    set_inner_trainable(block, flags, graph)
    return kept


def fine_tune_layer(block: Block) -> str | None:
    """The layer the block is fine-tuned from, when its flags are exactly what
    ``fine_tune_from`` sets for some layer (None: all trainable, all frozen, or another
    pattern)."""
    layers = inner_layers(block)
    flags = [n.trainable for n in layers]
    if all(flags) or not any(flags):
        return None
    start = flags.index(True)
    for i, node in enumerate(layers):
        want = i >= start and node.type not in KEPT_FROZEN
        if node.trainable != want:
            return None
    # the first trainable layer; a BatchNormalization just before it may be the real start,
    # but the flags are the same either way
    return layers[start].name


def state(graph: Graph, node_id: str) -> FreezeState:
    node = graph.node(node_id)
    block = block_of(graph, node)
    return FreezeState(node.trainable, tuple((n.id, n.trainable) for n in inner_layers(block)))


def restore(graph: Graph, node_id: str, saved: FreezeState) -> None:
    """Put back flags saved by ``state`` (undo)."""
    block = block_of(graph, node_id)
    with graph.batch():
        graph.set_trainable(node_id, saved.node_trainable)
        set_inner_trainable(block, dict(saved.inner), graph)


def describe(graph: Graph, node_id: str) -> str:
    """``FROZEN``, "fine-tuned from block5_conv1", "partly frozen" or "trainable"."""
    node = graph.node(node_id)
    block = block_of(graph, node)
    if not node.trainable:
        return FROZEN
    layer = fine_tune_layer(block)
    if layer is not None:
        return f"fine-tuned from {layer}"
    layers = inner_layers(block)
    if layers and not any(n.trainable for n in layers):
        return FROZEN
    if any(not n.trainable for n in layers):
        return "partly frozen"
    return "trainable"
