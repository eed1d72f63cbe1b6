"""The model summary: a layer table like Keras' ``model.summary()``, with totals, in text and in
the JSON form of the command-line contract.

A nested model (a "model" or "sequential" block) is one row, as in Keras. A function block is
inlined by Keras, so the text table and ``--json`` list its layers instead, named as the build
names them (``<instance>_<layer>``); ``Summary.rows`` keeps one row per node (the editor's
table), each function block's layers in ``SummaryRow.inner``. Totals are the same either way."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.blocks import Block
from netbuilder.core.catalog.base import Shape, fmt_shape
from netbuilder.core.catalog.opaque import TYPE as OPAQUE_TYPE
from netbuilder.core.graph import BLOCK_TYPE, Graph
from netbuilder.core.inference import BYTES_PER_VALUE


@dataclass
class SummaryRow:
    name: str
    type: str
    outputs: list[Shape] | None
    params: int
    trainable_params: int
    connected_to: list[str]
    flops: int
    memory: int
    problem: str | None = None
    inner: list[SummaryRow] = field(default_factory=list)
    shares: str | None = None
    """For a later instance of a nested model: the first instance's name; for a later call of a
    shared layer: its owner's name. Keras builds one model (one layer) for all of them, so its
    weights are counted there (this row's params are 0) and the command line's table lists it
    once, connected to the inputs of every call."""
    """A function block's layers, as Keras inlines and names them (``<instance>_<layer>``):
    the command line's table and ``--json`` show these rows instead of the block's."""


@dataclass
class Summary:
    name: str
    rows: list[SummaryRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    flops: int = 0
    memory: int = 0
    errors: list[str] = field(default_factory=list)
    memory_estimate: MemoryEstimate | None = None
    """What one training batch needs (None while the graph has errors)."""
    graph: Graph | None = field(default=None, repr=False, compare=False)
    """The graph summarized: the text table reads Keras' calls from it (``keras_calls``)."""

    @property
    def ok(self) -> bool:
        return not self.errors


OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "nadam": 2, "adamax": 2, "rmsprop": 1, "adagrad": 1,
                   "sgd": 1}
"""Values an optimizer keeps per weight: Adam its two moment averages, RMSprop its mean square,
SGD its momentum (none without momentum)."""

DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one batch needs (float32). ``inference``: the weights and the largest layer with
    its inputs (earlier activations are freed); ``training``: every activation (kept for the
    backward pass), the weights, their gradients and the optimizer's ``slots`` per weight."""

    batch_size: int
    optimizer: str
    slots: int
    weights: int
    activations: int
    inference: int
    training: int

    def text(self) -> str:
        name = OPTIMIZER_NAMES.get(self.optimizer, self.optimizer)
        return (f"Memory at batch {self.batch_size}: inference {human_bytes(self.inference)}, "
                f"training {human_bytes(self.training)} ({name})")


OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}


def estimate_memory(graph: Graph, training: Mapping[str, Any] | None = None) -> MemoryEstimate:
    """The memory of one batch with ``training`` settings (the project's ``"training"``
    settings: ``batch_size``, ``optimizer``, ``momentum``; Keras' defaults where absent)."""
    training = training or {}
    batch = int(training.get("batch_size") or DEFAULT_BATCH_SIZE)
    optimizer = str(training.get("optimizer") or "adam").lower()
    slots = OPTIMIZER_SLOTS.get(optimizer, 2)
    if optimizer == "sgd" and not training.get("momentum", 0.9):
        slots = 0
    engine = graph.inference
    totals = engine.totals()
    weights = totals.params * BYTES_PER_VALUE
    largest = 0
    for nid in graph.nodes:
        r = engine.results.get(nid)
        if r is None or not r.ok:
            continue
        inputs = sum(engine.results[e.src].memory for e in graph.in_edges(nid)
                     if e.src in engine.results)
        largest = max(largest, inputs + r.memory)
    trainable = totals.trainable * BYTES_PER_VALUE
    return MemoryEstimate(batch, optimizer, slots, weights, batch * totals.memory,
                          weights + batch * largest,
                          weights + batch * totals.memory + trainable * (1 + slots))


def available_memory() -> int | None:
    """Bytes of RAM free now (None where the system does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


MEMORY_ADVICE = "a stride or pooling early to shrink the feature maps, or fewer layers"
"""What else shrinks training's memory than the batch size (memory_warning, out-of-memory ends)."""
OUT_OF_MEMORY_ADVICE = f"To need less memory: a smaller batch size, {MEMORY_ADVICE}."


def memory_warning(estimate: MemoryEstimate, available_bytes: int | None) -> str | None:
    """Advice when training one batch needs more than ``available_bytes``, else None."""
    if available_bytes is None or estimate.training <= available_bytes:
        return None
    per_sample = estimate.activations / max(estimate.batch_size, 1)
    room = available_bytes - (estimate.training - estimate.activations)  # less the weights' part
    fits = int(room // per_sample) if per_sample > 0 and room > 0 else 0
    batch = (f"a batch size of {fits} or less" if fits >= 1 else "a smaller batch size (even "
             "batch 1 does not fit)")
    return (f"training at batch {estimate.batch_size} needs about "
            f"{human_bytes(estimate.training)} but {human_bytes(available_bytes)} is free: use "
            f"{batch}, {MEMORY_ADVICE}")


def training_memory_warning(graph: Graph, training: Mapping[str, Any] | None) -> str | None:
    """``memory_warning`` for training ``graph`` with ``training`` settings in the RAM free now
    (None: it fits, the graph is not valid or the system does not say)."""
    if graph.inference.errors():
        return None
    return memory_warning(estimate_memory(graph, training), available_memory())


def type_label(graph: Graph, node_type: str, params: dict[str, Any]) -> str:
    """The class name Keras shows in the summary's "(type)" column."""
    if node_type == BLOCK_TYPE:
        block = graph.blocks.get(params["block"])
        if block is None or block.kind == "model":
            return "Functional"
        return "Sequential" if block.kind == "sequential" else params["block"]
    if node_type == OPAQUE_TYPE:  # a Keras layer kept as imported: its own class
        return str(params.get("class_name") or node_type)
    return catalog.get(node_type).class_name


def summarize(graph: Graph, name: str = "model",
              training: Mapping[str, Any] | None = None) -> Summary:
    """The summary; ``training`` (the project's training settings) sets the batch size and
    optimizer of the memory estimate."""
    engine = graph.inference
    summary = Summary(name, graph=graph)
    shared = engine.shared_instances()
    first: dict[str, str] = {}          # block name -> the name of its first instance
    for nid in graph.topological_order():
        node = graph.nodes[nid]
        r = engine.result(nid)
        connected = []
        for e in graph.in_edges(nid):
            src = graph.nodes[e.src].name
            connected.append(src if e.src_port == 0 else f"{src}[{e.src_port}]")
        problem = r.error
        if r.blocked_by is not None:
            problem = f"waits for {graph.nodes[r.blocked_by].name}"
        shares = None
        if nid in shared:
            shares = first.setdefault(shared[nid], graph.nodes[graph.owner_of(nid)].name)
            shares = shares if shares != node.name else None
        summary.rows.append(SummaryRow(
            node.name, type_label(graph, node.type, node.params), r.outputs,
            0 if shares else r.params, 0 if shares else r.trainable, connected, r.flops,
            r.memory, problem,
            _inline_rows(graph, nid, connected) if r.ok and node.type == BLOCK_TYPE else [],
            shares))
    totals = engine.totals()
    summary.total_params = totals.params
    summary.trainable_params = totals.trainable
    summary.non_trainable_params = totals.non_trainable
    summary.flops = totals.flops
    summary.memory = totals.memory
    summary.errors = engine.errors()
    if summary.ok:
        summary.memory_estimate = estimate_memory(graph, training)
    return summary


def _inline_rows(graph: Graph, node_id: str, connected: list[str]) -> list[SummaryRow]:
    """The rows of a function block instance's layers (nested function blocks inlined too)."""
    node = graph.nodes[node_id]
    block = graph.blocks[node.params["block"]]
    if block.kind != "function":
        return []
    block = block.for_instance(node.params)
    results = graph.inference.results
    shapes = []
    for e in graph.in_edges(node_id):
        outs = results[e.src].outputs
        if outs is None:
            return []
        shapes.append(outs[e.src_port])
    return _repeated_rows(block, shapes, connected, node.name, not node.trainable)


def _repeated_rows(block: Block, shapes: list[Shape], connected: list[str], name: str,
                   frozen: bool) -> list[SummaryRow]:
    """The rows of every call of a (maybe repeated) function block, each call's layers named
    after it (``Block.call_name``) and connected to the previous call's output."""
    rows: list[SummaryRow] = []
    for k, call_shapes in enumerate(block.call_shapes(shapes)):
        called = _block_rows(block, call_shapes, connected, f"{block.call_name(name, k)}_",
                             frozen)
        rows += called
        connected = [called[-1].name] if called else connected
    return rows


def _block_rows(block: Block, shapes: list[Shape], connected: list[str], prefix: str,
                frozen: bool) -> list[SummaryRow]:
    sub = block.graph
    results = block.inner_results(shapes)
    names = {nid: connected[i] if i < len(connected) else "?"
             for i, nid in enumerate(block.inputs)}
    rows: list[SummaryRow] = []
    for nid in sub.topological_order():
        if nid in block.inputs:
            continue
        node = sub.nodes[nid]
        r = results[nid]
        names[nid] = prefix + node.name
        sources = []
        for e in sub.in_edges(nid):
            src = names[e.src]
            sources.append(src if e.src_port == 0 else f"{src}[{e.src_port}]")
        inner_block = sub.blocks.get(node.params.get("block")) if node.type == BLOCK_TYPE else None
        if inner_block is not None and inner_block.kind == "function" and r.ok:
            inner = inner_block.for_instance(node.params)
            in_shapes = [results[e.src].outputs[e.src_port] for e in sub.in_edges(nid)]
            rows += _repeated_rows(inner, in_shapes, sources, f"{prefix}{node.name}",
                                   frozen or not node.trainable)
            continue
        trainable = 0 if frozen or not node.trainable else r.trainable
        rows.append(SummaryRow(prefix + node.name, type_label(sub, node.type, node.params),
                               r.outputs, r.params, trainable, sources, r.flops, r.memory,
                               r.error))
    return rows


def _flat_rows(summary: Summary) -> list[SummaryRow]:
    """The rows as Keras lists its layers: a function block's layers instead of the block, a
    nested model placed several times or a shared layer once, where its first call is (its row
    connected to the inputs of every call)."""
    first: dict[str, int] = {}  # a shared layer's row where its first call (by order) is
    for i, row in enumerate(summary.rows):
        first.setdefault(row.shares or row.name, i)
    ordered = sorted(summary.rows, key=lambda r: (first[r.shares or r.name], r.shares is not None))
    rows: list[SummaryRow] = []
    at: dict[str, int] = {}  # layer name -> its index in rows
    for row in ordered:
        if row.shares is not None and row.shares in at:
            owner = rows[at[row.shares]]
            rows[at[row.shares]] = SummaryRow(**{**vars(owner), "connected_to":
                                                 owner.connected_to + row.connected_to})
            continue
        for flat in row.inner or [row]:
            at[flat.name] = len(rows)
            rows.append(flat)
    return rows


@dataclass
class LayerCall:
    """One call of a Keras layer in the built model (one of its ``_inbound_nodes``)."""

    inputs: list[str]
    """Its input tensors as Keras' summary names them: ``layer[call][tensor]``."""
    outputs: list[Shape] | None
    parents: list[tuple[str, int]] = field(default_factory=list)
    """The calls (layer name, call index) that made its inputs."""
    in_model: bool = False
    """Whether the model's outputs depend on it (Keras' summary lists only such calls)."""


_Ref = tuple[str, int, int]
"""A tensor of the built model: (layer name, call index, output index)."""


def keras_calls(graph: Graph) -> dict[str, list[LayerCall]]:
    """Every layer ``keras_build.build_model`` makes, by name, in the order of the built
    model's ``layers`` -> its calls in the order the build makes them, which is the order of
    Keras' node indices: ``layer[1][0]`` is the first output of the layer's second call. A
    shared layer is named after its owner, a nested model after its first instance, a function
    block's layers ``<call>_<layer>``."""
    calls: dict[str, list[LayerCall]] = {}
    made = _walk(graph, graph.inference.results, None, "", calls, {})
    outputs = [_tensor(made, graph, n.id, 0)[:2] for n in graph.outputs()]
    order = _keras_order(calls, outputs, [n.name for n in graph.inputs()])
    return {name: calls[name] for name in order}


def _keras_order(calls: dict[str, list[LayerCall]], outputs: list[tuple[str, int]],
                 inputs: list[str]) -> list[str]:
    """The layers in the order Keras' functional model lists them (``ops.function.map_graph``):
    deepest first (a layer's depth: its calls' greatest distance from an output), ties in the
    order a depth-first walk from the outputs first meets them. Marks the calls it meets
    ``in_model``."""
    index: dict[str, int] = {}
    post: list[tuple[str, int]] = []  # calls, inputs first
    started: set[tuple[str, int]] = set()
    stack: list[tuple[tuple[str, int], bool]] = [(o, False) for o in reversed(outputs)]
    while stack:
        node, done = stack.pop()
        if done:
            post.append(node)
            continue
        if node in started:
            continue
        started.add(node)
        index.setdefault(node[0], len(index))
        stack.append((node, True))
        stack.extend((p, False) for p in reversed(calls[node[0]][node[1]].parents))
    node_depth: dict[tuple[str, int], int] = {}
    depth: dict[str, int] = {}
    for node in reversed(post):
        calls[node[0]][node[1]].in_model = True
        d = max(node_depth.setdefault(node, 0), depth.get(node[0], 0))
        depth[node[0]] = node_depth[node] = d
        for parent in calls[node[0]][node[1]].parents:
            node_depth[parent] = max(d + 1, node_depth.get(parent, 0))
    for name in inputs:  # an Input nothing uses is still the model's
        if name not in depth and name in calls:
            depth[name], index[name] = 0, -1
            calls[name][0].in_model = True
    return sorted(depth, key=lambda name: (-depth[name], index[name]))


def _walk(graph: Graph, results: Mapping[str, Any], feeds: dict[str, list[_Ref]] | None,
          prefix: str, calls: dict[str, list[LayerCall]],
          models: dict[str, str]) -> dict[str, list[_Ref] | tuple[str, int]]:
    """Call every node of ``graph`` as ``keras_build._run`` does (in topological order, a
    function block inlined on its arguments: ``feeds``, input id -> tensor); record each layer
    call in ``calls``. Returns each node's outputs: a (layer, call) pair or a list of tensors."""
    made: dict[str, list[_Ref] | tuple[str, int]] = {}
    layers: dict[str, str] = {}  # owner id -> the name of its (shared) layer

    def call(name: str, args: list[_Ref], outputs: list[Shape] | None) -> tuple[str, int]:
        done = calls.setdefault(name, [])
        done.append(LayerCall([f"{n}[{k}][{t}]" for n, k, t in args], outputs,
                              [(n, k) for n, k, _ in args]))
        return (name, len(done) - 1)

    for nid in graph.topological_order():
        node = graph.nodes[nid]
        r = results.get(nid)
        outputs = r.outputs if r is not None else None
        args = [_tensor(made, graph, e.src, e.src_port) for e in graph.in_edges(nid)]
        block = graph.blocks.get(node.params.get("block")) if node.type == BLOCK_TYPE else None
        if node.type == "Input" and feeds is not None:
            made[nid] = feeds.get(nid, [(node.name, 0, 0)])
        elif block is not None and block.kind == "function" and outputs is not None:
            shapes = [results[e.src].outputs[e.src_port] for e in graph.in_edges(nid)]
            made[nid] = _walk_calls(block.for_instance(node.params), shapes, args,
                                    prefix + node.name, calls, models)
        elif block is not None and block.is_model:  # one Keras model for every instance
            made[nid] = call(models.setdefault(block.name, prefix + node.name), args, outputs)
        else:
            owner = graph.owner_of(nid)
            name = layers.setdefault(owner, prefix + graph.nodes[owner].name)
            made[nid] = call(name, args, outputs)
    return made


def _tensor(made: Mapping[str, list[_Ref] | tuple[str, int]], graph: Graph, nid: str,
            port: int) -> _Ref:
    """Output ``port`` of node ``nid`` as a tensor of the built model."""
    out = made[nid]
    if isinstance(out, tuple):
        return (out[0], out[1], port)
    return out[port] if port < len(out) else (graph.nodes[nid].name, 0, port)


def _walk_calls(block: Block, shapes: list[Shape], args: list[_Ref], name: str,
                calls: dict[str, list[LayerCall]], models: dict[str, str]) -> list[_Ref]:
    """The calls of a (maybe repeated) function block instance ``name``, inlined as the build
    inlines them, each call on the previous one's outputs; the last call's output tensors."""
    out = args
    for k, call_shapes in enumerate(block.call_shapes(shapes)):
        made = _walk(block.graph, block.inner_results(call_shapes),
                     dict(zip(block.inputs, ([t] for t in out))),
                     f"{block.call_name(name, k)}_", calls, models)
        out = [_tensor(made, block.graph, oid, port) for oid, port in block.outputs]
    return out


def _shape_json(shape: Shape) -> list[int | None]:
    return list(shape)


def to_json(summary: Summary) -> dict[str, Any]:
    """The ``summary --json`` document of the command-line contract."""
    layers = []
    for row in _flat_rows(summary):
        if row.outputs is None:
            shape: Any = None
        elif len(row.outputs) == 1:
            shape = _shape_json(row.outputs[0])
        else:
            shape = [_shape_json(s) for s in row.outputs]
        layers.append({"name": row.name, "type": row.type, "output_shape": shape,
                       "params": row.params, "trainable_params": row.trainable_params})
    return {
        "layers": layers,
        "total_params": summary.total_params,
        "trainable_params": summary.trainable_params,
        "non_trainable_params": summary.non_trainable_params,
        "errors": list(summary.errors),
    }


def human_count(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (SI prefixes), for FLOPs and bytes."""
    for prefix, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {prefix}{unit}"
    return f"{n:g} {unit}".rstrip()


def human_bytes(n: int) -> str:
    for prefix, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {prefix}"
    return f"{n} B"


def format_text(summary: Summary) -> str:
    """The summary as a table, like Keras prints it (a layer once, "Connected to" naming each
    input tensor ``layer[call][tensor]``, the last call's output shape); totals in the
    contract's exact form."""
    header = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    table = []
    calls = keras_calls(summary.graph) if summary.graph is not None else {}
    order = {name: i for i, name in enumerate(calls)}
    rows = sorted(_flat_rows(summary), key=lambda row: order.get(row.name, len(order)))
    for row in rows:
        outputs, connected = row.outputs, row.connected_to
        if calls.get(row.name):  # as Keras prints it: every call's inputs, the last call's shape
            layer_calls = calls[row.name]
            connected = [t for c in layer_calls if c.in_model for t in c.inputs]
            outputs = layer_calls[-1].outputs if row.outputs is not None else None
        if outputs is None:
            shape = "?"
        elif len(outputs) == 1:
            shape = fmt_shape(outputs[0])
        else:
            shape = ", ".join(fmt_shape(s) for s in outputs)
        table.append((f"{row.name} ({row.type})", shape, f"{row.params:,}",
                      ", ".join(connected) or "-"))
    widths = [max([len(header[i])] + [len(r[i]) for r in table]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return " " + "  ".join(
            c.rjust(widths[i]) if i == 2 else c.ljust(widths[i])
            for i, c in enumerate(cells)).rstrip()

    rule_width = sum(widths) + 2 * 3 + 1
    out = [f'Model: "{summary.name}"', "_" * rule_width, line(header), "=" * rule_width]
    for cells, row in zip(table, rows):
        out.append(line(cells))
        if row.problem:
            out.append("   ! " + row.problem)
    out.append("=" * rule_width)
    out.append(f"Total params: {summary.total_params}")
    out.append(f"Trainable params: {summary.trainable_params}")
    out.append(f"Non-trainable params: {summary.non_trainable_params}")
    out.append(f"Weights size: {human_bytes(4 * summary.total_params)} (float32)")
    out.append(f"Estimated FLOPs per sample: {human_count(summary.flops)}")
    out.append(f"Activation memory per sample: {human_bytes(summary.memory)} (float32)")
    if summary.memory_estimate is not None:
        out.append(summary.memory_estimate.text())
    return "\n".join(out) + "\n"
