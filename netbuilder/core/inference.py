"""Shape and parameter inference over a graph, incremental: after an edit only the nodes
downstream of the change are recomputed, and propagation stops where output shapes do not change.

Pure arithmetic through the catalog's specs; no TensorFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, Any, NamedTuple

from netbuilder.core.catalog.base import (
    CatalogError,
    InferFn,
    Inferred,
    LayerError,
    Shape,
    fmt_shape,
    numel,
    registry,
)

if TYPE_CHECKING:
    from netbuilder.core.graph import Graph, Node

log = logging.getLogger(__name__)

BYTES_PER_VALUE = 4  # activations estimated as float32

_specs = registry()


NodeResult = Inferred
"""What inference knows about one node: a spec's ``Inferred``, completed by the engine (memory,
frozen weights), or an error / blocked result (``catalog.base.Inferred`` says which fields)."""


@dataclass
class Totals:
    trainable: int = 0
    non_trainable: int = 0
    flops: int = 0
    memory: int = 0

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


class InferenceEngine:
    """Keeps a ``NodeResult`` for every node of a graph up to date."""

    raise_internal_errors = False
    """Tests set this so that a bug in a spec fails loudly instead of marking the node."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.model_outputs = True
        """Whether the graph's outputs are a model's outputs (checked against what training
        expects); a block's subgraph is not a model: its outputs feed the caller's layers."""
        self.results: dict[str, NodeResult] = {}
        self._block_cache: dict[tuple[Any, ...], NodeResult] = {}
        self._order_seen: list[str] | None = None
        self._index: dict[str, int] = {}
        self._plan: list[Step] = []
        """One ``Step`` per position in the topological order, made again whenever the graph's
        structure changes (a new topological order)."""

    # -- incremental updates (called by Graph) ------------------------------------------------

    def update(self, dirty: Iterable[str]) -> set[str]:
        """Recompute ``dirty`` nodes and whatever downstream depends on them; returns the ids
        whose results changed."""
        graph = self.graph
        order = graph.topological_order()
        if order is not self._order_seen:
            self._relink(order)
        index = self._index
        plan = self._plan
        # positions in the topological order still to compute, scanned in order: every
        # consumer sits after its producer, so one pass from the first to the last marked does
        marked = bytearray(len(order))
        first = last = -1
        for nid in dirty:
            position = index.get(nid)
            if position is not None:
                marked[position] = 1
                if first < 0 or position < first:
                    first = position
                if position > last:
                    last = position
        changed: set[str] = set()
        if first < 0:
            return changed
        results = self.results
        get = results.get
        compute, complete, output_bytes = self._compute, self._complete, _output_bytes
        # a layer that keeps its input's shape (an activation, a normalization, a sum) returns
        # the very tuple it was given: its bytes are those worked out for that tuple just before
        last_shape: Shape | None = None
        last_bytes = 0
        position = first - 1
        while position < last:
            position += 1
            if not marked[position]:
                continue
            nid, node, sources, downstream, infer = plan[position]
            # the inputs' shapes; any doubt (an input without a result or without that
            # output) goes the whole way through _compute, which says what is wrong
            shapes: list[Shape] | None = []
            for src, port in sources:
                upstream = get(src)
                if upstream is None or (outs := upstream.outputs) is None or port >= len(outs):
                    shapes = None
                    break
                shapes.append(outs[port])
            if shapes is None:
                new = compute(graph, node, results)
            elif infer is None or node.shares is not None or not node.trainable:
                new = complete(graph, node, shapes, results)
            else:  # the usual layer: _complete's work, inline (the loop's cost is per node)
                try:
                    new = infer(node.params, shapes)
                    outs = new.outputs
                    if len(outs) != 1:
                        new.memory = output_bytes(outs)
                    elif (out := outs[0]) is last_shape:    # the same tuple: the same bytes
                        new.memory = last_bytes
                    else:
                        try:
                            new.memory = last_bytes = prod(out[1:]) * BYTES_PER_VALUE
                        except TypeError:                   # an unknown dim: counts 1
                            new.memory = last_bytes = output_bytes(outs)
                        last_shape = out
                except Exception:  # _complete says it, with the node's name and the fix
                    new = complete(graph, node, shapes, results)
            old = get(nid)
            results[nid] = new
            if old is not None and old.outputs == new.outputs:
                if not _same_result(old, new):
                    changed.add(nid)
                continue  # consumers see the same shapes: stop here
            changed.add(nid)
            if downstream:
                for c in downstream:
                    marked[c] = 1
                if downstream[-1] > last:
                    last = downstream[-1]
        return changed

    def _relink(self, order: list[str]) -> None:
        """Index a new topological order and make its plan (``_plan``)."""
        graph = self.graph
        self._order_seen = order
        self._index = index = {nid: i for i, nid in enumerate(order)}
        plan = self._plan = []
        for nid in order:
            node = graph.nodes[nid]
            sources = tuple((e.src, e.src_port) for e in graph._in[nid])
            consumers = tuple(sorted({index[e.dst] for e in graph._out[nid]}))
            spec = _specs.get(node.type)
            usual = (spec is not None and len(sources) >= spec.min_inputs
                     and (spec.max_inputs is None or len(sources) <= spec.max_inputs)
                     and not (node.type == "Dense" and not consumers))   # a model's output?
            plan.append(Step(nid, node, sources, consumers, spec.infer if usual else None))

    def not_a_model(self) -> None:
        """The graph is a block's subgraph: its outputs are not checked as a model's."""
        if self.model_outputs:
            self.model_outputs = False
            self.update(n.id for n in self.graph.outputs())

    def forget(self, node_id: str) -> None:
        self.results.pop(node_id, None)

    def forget_block(self, name: str) -> None:
        self._block_cache = {k: v for k, v in self._block_cache.items() if k[0] != name}

    def rename(self, node_id: str) -> None:
        """Error texts carry the node's name: recompute the node after a rename."""
        self.results[node_id] = self._compute(self.graph, self.graph.nodes[node_id], self.results)

    # -- queries ------------------------------------------------------------------------------

    def result(self, node_id: str) -> NodeResult:
        return self.results[node_id]

    def totals(self) -> Totals:
        """Sums over the nodes. A nested model placed several times is one shared Keras model:
        its weights count once (frozen if any of its instances is), its work once per call."""
        t = Totals()
        shared = self.shared_instances()
        weights: dict[str, tuple[int, int]] = {}
        for nid, r in self.results.items():
            t.flops += r.flops
            t.memory += r.memory
            block = shared.get(nid)
            if block is None:
                t.trainable += r.trainable
                t.non_trainable += r.non_trainable
            elif block not in weights or r.trainable < weights[block][0]:
                weights[block] = (r.trainable, r.non_trainable)
        for trainable, non_trainable in weights.values():
            t.trainable += trainable
            t.non_trainable += non_trainable
        return t

    def shared_instances(self) -> dict[str, str]:
        """Node id -> block name, for every instance of a nested model (model or Sequential
        block): the build shares one Keras model between a block's instances; and node id ->
        ``"layer:<owner id>"`` for every call of a shared layer (owner included)."""
        graph = self.graph
        out = {}
        for nid, node in graph.nodes.items():
            if node.shares is not None:
                out[nid] = out[node.shares] = f"layer:{node.shares}"
            elif node.type == "Block":
                block = graph.blocks.get(node.params.get("block"))
                if block is not None and block.is_model:
                    out[nid] = block.name
        return out

    def errors(self) -> list[str]:
        """Every problem that stops the graph from being a model, each naming its node."""
        graph = self.graph
        problems = []
        for nid in graph.topological_order():
            r = self.results[nid]
            if r.error:
                problems.append(r.error + (f"; {r.fix}" if r.fix else ""))
        if graph.nodes and not graph.inputs():
            problems.append("the model has no Input layer; add one where the data enters")
        if not graph.nodes:
            problems.append("the model is empty; add an Input layer and some layers")
        return problems

    def results_for(self, inputs: Mapping[str, Shape]) -> dict[str, NodeResult]:
        """Every node's result with the Input nodes in ``inputs`` given those shapes, computed
        apart from the live ``results`` (a block's layers as one of its instances calls them)."""
        graph = self.graph
        results: dict[str, NodeResult] = {}
        for nid in graph.topological_order():
            results[nid] = self._compute(graph, graph.nodes[nid], results, inputs)
        return results

    def full_recompute(self) -> None:
        self.results.clear()
        self._block_cache.clear()
        self.update(self.graph.nodes)

    # -- computing one node -------------------------------------------------------------------

    def _compute(self, graph: Graph, node: Node, results: Mapping[str, NodeResult],
                 overrides: Mapping[str, Shape] | None = None) -> NodeResult:
        if overrides and node.id in overrides:
            shape = overrides[node.id]
            return NodeResult([shape], memory=numel(shape) * BYTES_PER_VALUE)
        shapes: list[Shape] = []
        for edge in graph._in[node.id]:  # in_edges, without the call
            upstream = results.get(edge.src)
            if upstream is None or (outs := upstream.outputs) is None:
                return NodeResult(blocked_by=edge.src)
            port = edge.src_port
            if port >= len(outs):
                src = graph.nodes[edge.src]
                count = len(outs)
                return NodeResult(
                    error=f"{node.name}: {src.name} has {count} output"
                          f"{'s' if count != 1 else ''}; its output {port} does not exist",
                    fix=f"connect one of the outputs 0..{count - 1}")
            shapes.append(outs[port])
        return self._complete(graph, node, shapes, results)

    def _complete(self, graph: Graph, node: Node, shapes: list[Shape],
                  results: Mapping[str, NodeResult]) -> NodeResult:
        """``node``'s result from its inputs' shapes (every input has one)."""
        kind = node.type
        try:
            if kind == "Block":
                result = self._compute_block(graph, node, shapes)
            else:
                spec = _specs[kind]
                count = len(shapes)
                if count < spec.min_inputs or (spec.max_inputs is not None
                                               and count > spec.max_inputs):
                    spec.check_arity(count)
                result = spec.infer(node.params, shapes)     # a new object: completed here
                result.memory = _output_bytes(result.outputs)
                if kind == "Dense" and self.model_outputs and not graph.out_edges(node.id):
                    _check_dense_output(graph, node, shapes[0])
        except LayerError as err:
            return NodeResult(error=f"{node.name}: {err.message}", fix=err.fix)
        except CatalogError as err:
            return NodeResult(error=f"{node.name}: {err}")
        except Exception as err:  # a bug in a spec must not take the editor down
            if self.raise_internal_errors:
                raise
            log.exception("inference failed for %s", node.name)
            return NodeResult(error=f"{node.name}: could not infer its shape (internal error: "
                                    f"{type(err).__name__}: {err})")
        if node.shares is not None and (owner := results.get(node.shares)) is not None:
            mismatch = _shared_mismatch(graph, node, owner, result)
            if mismatch is not None:
                return mismatch
        if not node.trainable:
            result.non_trainable += result.trainable
            result.trainable = 0
        return result

    def _compute_block(self, graph: Graph, node: Node, shapes: list[Shape]) -> NodeResult:
        block = graph.blocks.get(node.params["block"])
        if block is None:
            raise LayerError(f"block {node.params['block']!r} is not defined in this project")
        if len(shapes) != len(block.inputs):
            raise LayerError(
                f"block {block.name} takes {len(block.inputs)} input"
                f"{'s' if len(block.inputs) != 1 else ''}, got {len(shapes)}",
                "connect one tensor to each of its inputs")
        if block.is_model:
            for input_id, shape in zip(block.inputs, shapes):
                declared = block.graph.inference.results[input_id].outputs
                assert declared is not None
                if not _compatible(declared[0], shape):
                    raise LayerError(
                        f"model {block.name} expects input {fmt_shape(declared[0])}, got "
                        f"{fmt_shape(shape)}", "resize the input or change the model's input")
        key: tuple[Any, ...] = (block.name, tuple(shapes))
        if block.exposed or block.optional or "repeat" in node.params:  # instance values count
            key += block.instance_values(node.params)
            block = block.for_instance(node.params)
        cached = self._block_cache.get(key)
        if cached is None:
            cached = block.evaluate(shapes)
            self._block_cache[key] = cached
        return NodeResult(list(cached.outputs or []), cached.trainable, cached.non_trainable,
                          cached.flops, memory=cached.memory)


class Step(NamedTuple):
    """One node's place in ``InferenceEngine.update``'s pass over the topological order."""

    id: str
    node: Node
    sources: tuple[tuple[str, int], ...]
    """Its inputs in port order: (source id, the source's output port)."""
    consumers: tuple[int, ...]
    """The positions of the nodes it feeds, sorted."""
    infer: InferFn | None
    """Its spec's ``infer`` where nothing but the spec has a say (a layer of the catalog with
    an allowed number of inputs, not a Dense ending the model); None: ``_complete`` decides."""


def _output_bytes(outputs: list[Shape]) -> int:
    """Bytes of one sample's outputs (unknown dims count 1)."""
    return sum(map(numel, outputs)) * BYTES_PER_VALUE


def _shared_mismatch(graph: Graph, node: Node, owner: NodeResult,
                     result: NodeResult) -> NodeResult | None:
    """An error result when a later call of a shared layer needs other weights than the
    owner's call made (a Dense called on 8 features, then on 16): Keras refuses that call."""
    if not owner.ok or owner.params == result.params:
        return None
    name = graph.nodes[node.shares].name if node.shares in graph.nodes else node.shares
    return NodeResult(
        error=f"{node.name}: calls {name}'s layer again, but its input needs "
              f"{result.params:,} weights where {name} has {owner.params:,}",
        fix=f"give it an input shaped like {name}'s, or Unshare it")


def _same_result(old: NodeResult, new: NodeResult) -> bool:
    """``old == new`` for two results with the same outputs, field by field (the dataclass's
    ``__eq__`` builds a tuple of every field first)."""
    return (old.trainable == new.trainable and old.non_trainable == new.non_trainable
            and old.error == new.error and old.blocked_by == new.blocked_by
            and old.flops == new.flops and old.memory == new.memory and old.fix == new.fix
            and old.notes == new.notes)


def _compatible(declared: Shape, actual: Shape) -> bool:
    return len(declared) == len(actual) and all(
        d is None or a is None or d == a for d, a in zip(declared, actual))


SEQUENCE_FAMILIES = ("Recurrent", "Attention")


def _check_dense_output(graph: Graph, node: Node, shape: Shape) -> None:
    """``LayerError`` when the model ends in a Dense layer applied to a tensor of rank > 2:
    Keras applies it to the last axis only, so each sample gets a grid of outputs where a
    classifier's labels need one vector. A per-step output of a sequence model (rank 3, made by
    an Embedding, recurrent or attention layer upstream) is legitimate; so is a per-pixel output
    made by a convolution (segmentation), which is not a Dense."""
    if len(shape) <= 2 or (len(shape) == 3 and _after_sequence_layer(graph, node.id)):
        return
    grid = "×".join("?" if d is None else str(d) for d in shape[1:-1])
    axes = len(shape) - 2
    pooling = f"GlobalAveragePooling{axes}D" if axes in (1, 2, 3) else "global pooling"
    per_item = "per-pixel outputs: a 1×1 Conv2D" if axes == 2 else "one output per position: a " \
        "convolution with kernel size 1"
    raise LayerError(
        f"the model's output would be {fmt_shape(shape[:-1] + (node.params['units'],))}, a "
        f"{grid} grid of {node.params['units']} outputs per sample: Dense acts on the last axis "
        f"of {fmt_shape(shape)} only, and class labels need one vector per sample",
        f"insert Flatten or {pooling} before it (for {per_item})")


def _after_sequence_layer(graph: Graph, node_id: str) -> bool:
    """Whether an Embedding, recurrent or attention layer lies upstream of ``node_id``."""
    seen = set()
    stack = [e.src for e in graph.in_edges(node_id)]
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        kind = graph.nodes[nid].type
        spec = _specs.get(kind)
        if kind == "Embedding" or (spec is not None and spec.family in SEQUENCE_FAMILIES):
            return True
        stack.extend(e.src for e in graph.in_edges(nid))
    return False
