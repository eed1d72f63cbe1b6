"""Quick fixes: one-click repairs for a layer whose inputs do not fit it.

Each candidate repair inserts one layer on one of the node's incoming edges (Flatten or global
pooling before Dense, a 1×1 convolution to match channels before Add, a Reshape to an image...).
For a block instance, a repair sets one of its exposed parameters to the channels of its input
(an SE block's ``channels``, a unit's ``filters``). A candidate is offered only if inference says
it works: the inserted layer accepts the tensor on that edge, or the block infers with the new
value, and the node becomes valid. No fix is offered on faith.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.catalog.base import CatalogError, Shape
from netbuilder.core.data_fit import DataFix
from netbuilder.core.graph import BLOCK_TYPE, Edge, Graph, GraphError


@dataclass(frozen=True)
class QuickFix:
    """Insert ``layer_type(params)`` on ``edge`` (between its source and the broken node)."""

    label: str
    edge: Edge
    layer_type: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ParamFix:
    """Set parameter ``name`` of node ``node_id`` to ``value`` (a block instance's exposed
    parameter)."""

    label: str
    node_id: str
    name: str
    value: Any = field(hash=False)


def _block_fixes(graph: Graph, node_id: str, shapes: list[Shape]) -> list[ParamFix]:
    """Exposed integer parameters of a block instance set to its inputs' channels, where the
    block then infers without an error."""
    node = graph.node(node_id)
    block = graph.blocks.get(node.params.get("block", ""))
    if block is None or not block.exposed or len(shapes) != len(block.inputs):
        return []
    channels = sorted({s[-1] for s in shapes if len(s) > 1 and s[-1] is not None})
    fixes: list[ParamFix] = []
    for name in block.exposed:
        current = node.params.get(name)
        if not isinstance(current, int) or isinstance(current, bool):
            continue
        for value in channels:
            if value == current:
                continue
            try:
                block.for_instance({**node.params, name: value}).evaluate(shapes)
            except (CatalogError, GraphError):
                continue
            fixes.append(ParamFix(f"Set {name} to {value}, the channels of its input", node_id,
                                  name, value))
    return fixes


def _infer(layer_type: str, params: dict[str, Any], shapes: list[Shape]) -> list[Shape] | None:
    """Output shapes of a layer on ``shapes``, or None if it refuses them (or has notes)."""
    spec = catalog.get(layer_type)
    try:
        resolved = spec.resolve(params)
        spec.check_arity(len(shapes))
        result = spec.infer(resolved, shapes)
    except CatalogError:
        return None
    return None if result.notes else result.outputs


def _candidates(shape: Shape, wanted: Shape | None) -> list[tuple[str, str, dict[str, Any]]]:
    """Layers that might turn ``shape`` into something the node accepts; ``wanted`` is the shape
    the other inputs of a merge have (None for single-input nodes)."""
    rank = len(shape)
    out: list[tuple[str, str, dict[str, Any]]] = []
    if rank >= 3:
        out.append(("Flatten", "Insert Flatten before it", {}))
        spatial = rank - 2
        if spatial in (1, 2, 3):
            name = f"GlobalAveragePooling{spatial}D"
            out.append((name, f"Insert {name} before it", {}))
    if rank == 2 and shape[1] is not None:
        size = shape[1]
        side = math.isqrt(size)
        if side * side == size and side > 1:
            out.append(("Reshape", f"Reshape to ({side}, {side}, 1) before it",
                        {"target_shape": [side, side, 1]}))
        for channels in (3,):
            side = math.isqrt(size // channels) if size % channels == 0 else 0
            if side > 1 and side * side * channels == size:
                out.append(("Reshape", f"Reshape to ({side}, {side}, {channels}) before it",
                            {"target_shape": [side, side, channels]}))
        out.append(("Reshape", f"Reshape to ({size}, 1) before it (a sequence)",
                    {"target_shape": [size, 1]}))
    if wanted is not None and wanted[-1] is not None and len(wanted) == rank:
        channels = wanted[-1]
        spatial = rank - 2
        if spatial in (1, 2, 3) and shape[-1] != channels:
            name = f"Conv{spatial}D"
            k = "×".join(["1"] * spatial)
            out.append((name, f"Insert a {k} {name} with {channels} filters to match channels",
                        {"filters": channels, "kernel_size": [1] * spatial}))
        if rank == 2 and shape[-1] != channels:
            out.append(("Dense", f"Insert Dense({channels}) to match sizes",
                        {"units": channels}))
    if wanted is not None and len(wanted) != rank and None not in wanted[1:]:
        target = list(wanted[1:])
        out.append(("Reshape", f"Reshape to {tuple(target)} before it",
                    {"target_shape": target}))
    return out


def suggest_fixes(graph: Graph, node_id: str) -> list[QuickFix | ParamFix]:
    """Repairs that make ``node_id`` valid (or silence its notes), checked by inference."""
    node = graph.node(node_id)
    result = graph.inference.result(node_id)
    if result.blocked_by is not None or (result.ok and not result.notes):
        return []
    edges = graph.in_edges(node_id)
    shapes: list[Shape] = []
    for e in edges:
        upstream = graph.inference.result(e.src)
        if upstream.outputs is None or e.src_port >= len(upstream.outputs):
            return []
        shapes.append(upstream.outputs[e.src_port])
    if not edges:
        return []
    if node.type == BLOCK_TYPE:
        return list(_block_fixes(graph, node_id, shapes)) if result.error else []
    wanted = _majority(shapes) if len(shapes) > 1 else None
    fixes: list[QuickFix | ParamFix] = []
    seen: set[tuple[str, str]] = set()
    for i, (edge, shape) in enumerate(zip(edges, shapes)):
        if wanted is not None and shape == wanted:
            continue
        for layer_type, label, params in _candidates(shape, wanted):
            inserted = _infer(layer_type, params, [shape])
            if inserted is None or len(inserted) != 1:
                continue
            trial = shapes[:i] + [inserted[0]] + shapes[i + 1:]
            if _infer(node.type, node.params, trial) is None:
                continue
            key = (label, edge.src)
            if key in seen:
                continue
            seen.add(key)
            if len(edges) > 1:
                label += f" (on the input from {graph.nodes[edge.src].name})"
            fixes.append(QuickFix(label, edge, layer_type, params))
    return fixes


def _majority(shapes: list[Shape]) -> Shape:
    """The shape most inputs share (the first one on a tie): the one to match."""
    counts: dict[Shape, int] = {}
    for s in shapes:
        counts[s] = counts.get(s, 0) + 1
    return max(counts, key=lambda s: (counts[s], -shapes.index(s)))


def describe_fix(graph: Graph, fix: QuickFix | ParamFix | DataFix) -> str:
    """What applying ``fix`` does, in a sentence (for tooltips)."""
    if isinstance(fix, DataFix):  # the output fitted to the data (core.data_fit)
        node = graph.node(fix.node_id)
        return f"{fix.label} of {node.name}, so that it fits the training data's classes"
    if isinstance(fix, ParamFix):
        node = graph.node(fix.node_id)
        return (f"Set {node.name}'s {fix.name} from {node.params.get(fix.name)} to "
                f"{fix.value}")
    return (f"Insert a {fix.layer_type} layer on the connection from "
            f"{graph.node(fix.edge.src).name}")


def apply_fix(graph: Graph, fix: QuickFix | ParamFix) -> str:
    """Insert the fix's layer on its edge (returns the new node's id), or set the parameter
    (returns the node's id)."""
    if isinstance(fix, ParamFix):
        graph.set_param(fix.node_id, fix.name, fix.value)
        return fix.node_id
    edge = fix.edge
    src = graph.nodes[edge.src]
    dst = graph.nodes[edge.dst]
    position = ((src.position[0] + dst.position[0]) / 2, (src.position[1] + dst.position[1]) / 2)
    with graph.batch():
        graph.disconnect(edge)
        new = graph.add_node(fix.layer_type, fix.params, position=position)
        graph.connect(edge.src, new.id, edge.src_port, 0)
        graph.connect(new.id, edge.dst, 0, edge.dst_port)
    return new.id
