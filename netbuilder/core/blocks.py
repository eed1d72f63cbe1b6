"""What a block is: a named subgraph used as one node, its validation, the parameters its
instances set, and what one instance evaluates to.

A function block may *expose* parameters: ``Block.exposed`` maps a name (``filters``) to the
(inner node id, parameter) pairs it sets. Its default is the first target's value in the block's
own graph, so editing the definition edits the default. An instance node carries the values in
its params: ``{"block": "residual_unit", "filters": 128, "strides": [2, 2]}`` (every exposed
parameter, as plain JSON values, normalized like the layer's own parameter).

``Block.optional`` marks layers an instance may leave out: ``{node id: (parameter, value)}``; an
instance whose parameter has that value passes the layer's one input straight through. That is
how one residual unit serves ResNet-34: its 1x1 projection (a Conv2D and a BatchNormalization on
the skip connection) is there only when ``strides`` is not 1.

An instance of a function block may also be *repeated*: ``"repeat": 3`` applies the block three
times in a row, each call taking the previous one's output (Neural Network Console's Repeat: the
number of layers as a parameter). The calls are named ``<instance>_r1`` ... ``<instance>_r3``
(``call_name``); a repeat of 1 (the default, never written) is one call named after the instance.
Only a block with one input and one output repeats, and only when its output is acceptable as
its input again (inference says why not, at the instance).

``Block.for_instance(params)`` is the concrete block an instance calls (exposed values set,
absent layers removed, ``repeat`` set): inference, the summary, the Keras build, code export and
"Expand" all use it, so they agree. Edits of blocks in a graph (make, expand, collapse) are in
``netbuilder.core.block_edits``.
"""

from __future__ import annotations

import keyword
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.catalog.base import LayerError, Param, ParamError, Shape, fmt_shape, to_plain
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError
from netbuilder.core.inference import NodeResult

BLOCK_KINDS = ("function", "model", "sequential")

REPEAT = "repeat"
"""The instance parameter that applies a function block several times in a row."""

REPEAT_PARAM = Param(REPEAT, "int", 1, "How many times the block is applied in a row, each time "
                     "to the previous one's output (the number of layers).", minimum=1)

RESERVED = frozenset({"block", "name", "x", "trainable", "inputs", "outputs", "keras", "layers",
                      REPEAT})
"""Names an exposed parameter cannot take: they mean something else in an instance or in the
exported function's signature."""

USUAL_EXPOSED = frozenset({"filters", "units", "strides", "rate", "kernel_size", "pool_size"})
"""Parameters offered for exposure on every layer that has them (besides its key parameters)."""


@dataclass
class Block:
    """A named subgraph used as one node: a reusable block (``kind="function"``: its inputs take
    whatever shapes arrive) or a nested Keras model (``kind="model"``: a functional
    ``keras.Model``; ``kind="sequential"``: a ``keras.Sequential``, one Input and a straight
    chain of layers, see ``sequence()``). A nested model's inputs must be compatible with its
    Input layers, and it is one row in the summary, as in Keras.

    ``inputs`` are the ids of the subgraph's Input nodes in call order; ``outputs`` the
    (node id, port) pairs it returns.
    """

    name: str
    graph: Graph
    inputs: list[str]
    outputs: list[tuple[str, int]]
    kind: str = "function"
    exposed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Parameters an instance sets (a function block only): name -> the (inner node id,
    parameter) pairs it sets; its default is the first target's value in ``graph``."""
    optional: dict[str, tuple[str, Any]] = field(default_factory=dict)
    """Optional layers: inner node id -> (exposed parameter, value): an instance whose
    parameter has that value leaves the layer out and passes its one input through (the
    residual unit's 1x1 projection, absent when ``strides`` is 1)."""
    application: dict[str, Any] | None = None
    """A Keras Application (a ``kind="model"`` block only): the arguments of its
    ``keras.applications`` constructor, ``{"name": "VGG16", "include_top": False, "pooling":
    None, "weights": None | "imagenet" | "/path.h5", "input_shape": [150, 150, 3], "classes":
    1000}``. ``graph`` holds its layers (imported with ``weights=None``) for inference, the
    summary and the trainable flags; the Keras build calls the constructor. See
    ``netbuilder.runtime.applications``."""
    repeat: int = 1
    """How many times an instance applies the block in a row (a concrete block only: see
    ``for_instance``)."""
    _concrete: dict[tuple[Any, ...], Block] = field(default_factory=dict, init=False,
                                                    repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise GraphError(f"block {self.name!r}: kind must be 'function', 'model' or "
                             "'sequential'")
        if self.application is not None and (
                self.kind != "model" or not isinstance(self.application, Mapping)
                or not isinstance(self.application.get("name"), str)):
            raise GraphError(f"block {self.name!r}: a Keras Application is a 'model' block "
                             "with the constructor's name and arguments")
        for node_id in self.inputs:
            node = self.graph.nodes.get(node_id)
            if node is None or node.type != "Input":
                raise GraphError(f"block {self.name!r}: input {node_id!r} is not an Input node")
        for node_id, _port in self.outputs:
            if node_id not in self.graph.nodes:
                raise GraphError(f"block {self.name!r}: output node {node_id!r} does not exist")
        if not self.outputs:
            raise GraphError(f"block {self.name!r} has no outputs")
        if self.kind == "sequential":
            self.sequence()
        if self.exposed or self.optional:
            self._check_exposures()
        self.graph.inference.not_a_model()

    @property
    def is_model(self) -> bool:
        """Whether the block is a nested Keras model (functional or Sequential)."""
        return self.kind != "function"

    def sequence(self) -> list[str]:
        """A Sequential block's node ids in order, its Input first: the straight chain from its
        one Input to its one output. ``GraphError`` when the subgraph is not such a chain."""
        graph = self.graph

        def fail(why: str) -> GraphError:
            return GraphError(f"Sequential block {self.name!r}: {why}; a Sequential model is a "
                              "straight chain of layers from one Input to one output")

        if len(self.inputs) != 1 or len(graph.inputs()) != 1:
            raise fail("it needs exactly one Input")
        if len(self.outputs) != 1 or self.outputs[0][1] != 0:
            raise fail("it needs exactly one output, a layer's first")
        chain = [self.inputs[0]]
        while True:
            edges = graph.out_edges(chain[-1])
            if not edges:
                break
            if len(edges) != 1 or edges[0].src_port != 0:
                raise fail(f"{graph.nodes[chain[-1]].name!r} feeds several layers")
            nxt = edges[0].dst
            if len(graph.in_edges(nxt)) != 1:
                raise fail(f"{graph.nodes[nxt].name!r} takes several inputs")
            if nxt in chain:
                raise fail("its layers form a cycle")
            chain.append(nxt)
        if len(chain) != len(graph.nodes):
            raise fail("some layers are not on the chain from its Input")
        if chain[-1] != self.outputs[0][0]:
            raise fail("its output is not the last layer of the chain")
        return chain

    # -- exposed parameters -------------------------------------------------------------------

    def _target_param(self, node_id: str, param: str) -> Param:
        node = self.graph.nodes.get(node_id)
        if node is None:
            raise GraphError(f"block {self.name!r}: exposes a parameter of {node_id!r}, which "
                             "is not one of its layers")
        if node.type in (BLOCK_TYPE, "Input"):
            raise GraphError(f"block {self.name!r}: cannot expose {param!r} of {node.name!r} "
                             f"({node.type}); expose parameters of its layers")
        spec = catalog.get(node.type)
        if not spec.has_param(param):
            raise GraphError(f"block {self.name!r}: {node.name} ({node.type}) has no parameter "
                             f"{param!r}")
        return spec.param(param)

    def exposure_param(self, name: str) -> Param:
        """The layer parameter that validates exposed parameter ``name`` (its first target's)."""
        node_id, param = self.exposed[name][0]
        return self._target_param(node_id, param)

    def exposure_default(self, name: str) -> Any:
        """The default of exposed parameter ``name``: its first target's value, plain JSON."""
        node_id, param = self.exposed[name][0]
        return to_plain(self.graph.nodes[node_id].params[param])

    def _check_exposures(self) -> None:
        """Refuse exposures and optional layers that can never work (``GraphError``)."""
        if self.is_model:
            raise GraphError(f"block {self.name!r} is a nested model: its instances share one "
                             "model, so it cannot expose parameters or have optional layers")
        for name, targets in self.exposed.items():
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                raise GraphError(f"block {self.name!r}: exposed parameter name {name!r} must "
                                 "be a Python identifier")
            if name in RESERVED:
                raise GraphError(f"block {self.name!r}: {name!r} cannot be an exposed parameter "
                                 f"name (reserved: {', '.join(sorted(RESERVED))})")
            if not targets:
                raise GraphError(f"block {self.name!r}: exposed parameter {name!r} sets nothing")
            seen = set()
            first = None
            for node_id, param in targets:
                p = self._target_param(node_id, param)
                if (node_id, param) in seen:
                    raise GraphError(f"block {self.name!r}: {name!r} sets "
                                     f"{self.graph.nodes[node_id].name}.{param} twice")
                seen.add((node_id, param))
                if first is None:
                    first = p
                elif p.kind != first.kind:
                    raise GraphError(f"block {self.name!r}: {name!r} sets parameters of "
                                     f"different kinds ({first.name}: {first.kind}, {param}: "
                                     f"{p.kind})")
        owners: dict[tuple[str, str], str] = {}
        for name, targets in self.exposed.items():
            for target in targets:
                if target in owners:
                    raise GraphError(f"block {self.name!r}: {owners[target]!r} and {name!r} "
                                     f"both set {self.graph.nodes[target[0]].name}.{target[1]}")
                owners[target] = name
        for node_id, condition in self.optional.items():
            node = self.graph.nodes.get(node_id)
            if node is None:
                raise GraphError(f"block {self.name!r}: optional layer {node_id!r} does not "
                                 "exist")
            if (not isinstance(condition, (tuple, list)) or len(condition) != 2
                    or condition[0] not in self.exposed):
                raise GraphError(f"block {self.name!r}: optional layer {node.name} must name "
                                 "one of the exposed parameters and the value that leaves it "
                                 "out")
            if node.type == "Input" or len(self.graph.in_edges(node_id)) != 1:
                raise GraphError(f"block {self.name!r}: optional layer {node.name} must take "
                                 "exactly one input (it is replaced by that input when left "
                                 "out)")
            try:
                self.exposure_param(condition[0]).normalize(condition[1])
            except ParamError as err:
                raise GraphError(f"block {self.name!r}: optional layer {node.name}: "
                                 f"{err}") from None

    # -- instances ----------------------------------------------------------------------------

    def can_repeat(self) -> str | None:
        """Why an instance of this block cannot be repeated, or None when it can."""
        if self.is_model:
            return (f"block {self.name} is a nested model, one model shared by its instances; "
                    "only a function block can be repeated")
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            return (f"block {self.name} takes {len(self.inputs)} input"
                    f"{'s' if len(self.inputs) != 1 else ''} and returns {len(self.outputs)} "
                    f"output{'s' if len(self.outputs) != 1 else ''}; only a block with one input "
                    "and one output can be applied in a row")
        return None

    def instance_params(self) -> list[Param]:
        """The parameters an instance sets, named as the instance names them: each exposed
        parameter (validated like its first target), then ``repeat`` when the block can
        repeat."""
        out = []
        for name, targets in self.exposed.items():
            inner = self.exposure_param(name)
            where = ", ".join(f"{self.graph.nodes[n].name}.{p}" for n, p in targets)
            out.append(replace(inner, name=name, help=f"Sets {where}. {inner.help}"))
        if self.can_repeat() is None:
            out.append(REPEAT_PARAM)
        return out

    def instance_param_value(self, name: str, value: Any, node_name: str) -> Any:
        """``value`` for exposed parameter ``name`` of an instance (or its ``repeat``),
        validated, as plain JSON."""
        if name == REPEAT:
            why = self.can_repeat()
            try:  # None (an undo back to no repeat) is the default, once
                count = REPEAT_PARAM.normalize(1 if value is None else value)
            except ParamError as err:
                raise GraphError(f"{node_name}: {err}") from None
            if why is not None and count != 1:
                raise GraphError(f"{node_name}: cannot repeat: {why}")
            return count
        if name not in self.exposed:
            offered = ", ".join(self.exposed) or "none"
            raise GraphError(f"{node_name}: block {self.name} has no parameter {name!r} "
                             f"(it exposes: {offered})")
        try:
            return to_plain(self.exposure_param(name).normalize(value))
        except ParamError as err:
            raise GraphError(f"{node_name}: {err}") from None

    def resolve_instance_params(self, params: Mapping[str, Any],
                                node_name: str | None = None) -> dict[str, Any]:
        """An instance's params: ``block`` and every exposed parameter (given, else its
        default)."""
        who = node_name or self.name
        resolved: dict[str, Any] = {"block": self.name}
        for key in params:
            if key not in ("block", REPEAT) and key not in self.exposed:
                offered = ", ".join(self.exposed) or "none"
                raise GraphError(f"{who}: block {self.name} has no parameter {key!r} (it "
                                 f"exposes: {offered})")
        for name in self.exposed:
            value = params[name] if name in params else self.exposure_default(name)
            resolved[name] = self.instance_param_value(name, value, who)
        if REPEAT in params:
            count = self.instance_param_value(REPEAT, params[REPEAT], who)
            if count != 1:
                resolved[REPEAT] = count
        return resolved

    def refreshed_instance_params(self, params: Mapping[str, Any],
                                  node_name: str) -> dict[str, Any]:
        """An instance's params after the definition changed: the values that still fit are
        kept, parameters no longer exposed dropped, new ones take their defaults."""
        kept = {}
        for name in self.exposed:
            if name in params:
                try:
                    kept[name] = self.instance_param_value(name, params[name], node_name)
                except GraphError:
                    pass
        if REPEAT in params and self.can_repeat() is None:
            kept[REPEAT] = params[REPEAT]
        return self.resolve_instance_params(kept, node_name)

    def _absent(self, node_id: str, values: Mapping[str, Any]) -> bool:
        name, value = self.optional[node_id]
        p = self.exposure_param(name)
        return p.normalize(values[name]) == p.normalize(value)

    def for_instance(self, params: Mapping[str, Any]) -> Block:
        """The block an instance with ``params`` calls: exposed values set, the optional layers
        it leaves out removed (each replaced by its input). The block itself when nothing
        changes."""
        count = repeat_count(params)
        if not self.exposed and not self.optional and count == 1:
            return self
        values = self.resolve_instance_params({k: v for k, v in params.items()
                                               if k in self.exposed or k == REPEAT})
        key = tuple(sorted((k, repr(v)) for k, v in values.items()))
        cached = self._concrete.get(key)
        if cached is not None:
            return cached
        if not self.exposed and not self.optional:  # only repeated: the same layers
            concrete = Block(self.name, self.graph, list(self.inputs), list(self.outputs),
                             self.kind, repeat=count)
            self._concrete[key] = concrete
            return concrete
        sub = self.graph
        settings: dict[str, dict[str, Any]] = {}
        for name, targets in self.exposed.items():
            for node_id, param in targets:
                settings.setdefault(node_id, {})[param] = values[name]
        absent = {nid for nid in self.optional if self._absent(nid, values)}

        def source(nid: str, port: int) -> tuple[str, int]:
            while nid in absent:  # an absent layer passes its one input through
                edge = sub.in_edges(nid)[0]
                nid, port = edge.src, edge.src_port
            return nid, port

        g = Graph()
        g.blocks.update(sub.blocks)
        with g.batch():
            for nid in sub.topological_order():
                if nid in absent:
                    continue
                node = sub.nodes[nid]
                params_now = dict(node.params)
                params_now.update(settings.get(nid, {}))
                g.add_node(node.type, params_now, name=node.name, node_id=nid,
                           position=node.position, trainable=node.trainable)
            for nid in sub.topological_order():
                if nid in absent:
                    continue
                for e in sub.in_edges(nid):
                    src, port = source(e.src, e.src_port)
                    g.connect(src, nid, port, e.dst_port)
        outputs = [source(nid, port) for nid, port in self.outputs]
        concrete = Block(self.name, g, list(self.inputs), outputs, self.kind, repeat=count)
        self._concrete[key] = concrete
        return concrete

    def instance_values(self, params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
        """The exposed values of an instance and its repeat, hashable (for caches keyed by
        instance)."""
        return tuple((k, repr(params.get(k))) for k in self.exposed) + (
            (REPEAT, repeat_count(params)),)

    def call_name(self, instance: str, k: int) -> str:
        """The name of call ``k`` (from 0) of a (concrete) block for instance ``instance``: the
        instance's name, or ``<instance>_r<k+1>`` when it repeats."""
        return instance if self.repeat == 1 else f"{instance}_r{k + 1}"

    # -- evaluation ---------------------------------------------------------------------------

    def inner_results(self, shapes: list[Shape]) -> dict[str, NodeResult]:
        """Every node's result inside the block called on ``shapes`` (its Input nodes take
        them), computed apart from the block's own live results."""
        return self.graph.inference.results_for(dict(zip(self.inputs, shapes)))

    def call_shapes(self, shapes: list[Shape]) -> list[list[Shape]]:
        """The input shapes of each call of a (concrete, maybe repeated) block called on
        ``shapes``. ``LayerError`` when a layer inside refuses, or a call's output is not
        acceptable as the next call's input."""
        return [shapes for shapes, _ in self._calls(shapes)]

    def _calls(self, shapes: list[Shape]) -> list[tuple[list[Shape], NodeResult]]:
        calls = []
        for k in range(self.repeat):
            if k == 0:
                calls.append((shapes, self._evaluate_once(shapes)))
                continue
            previous = calls[-1][1].outputs or []
            try:
                calls.append((previous, self._evaluate_once(previous)))
            except LayerError as err:
                got = ", ".join(fmt_shape(s) for s in previous)
                raise LayerError(
                    f"repeat {self.repeat}: call {k + 1} of block {self.name} cannot take call "
                    f"{k}'s output {got} ({err.message})",
                    "set repeat to 1, or change the block so that its output fits its input "
                    "again (the same channels, strides 1)") from None
        return calls

    def evaluate(self, shapes: list[Shape]) -> NodeResult:
        """The block called on ``shapes`` (``repeat`` times in a row): its outputs, and the sums
        over its layers and calls. ``LayerError`` when a layer inside refuses."""
        if self.repeat != 1:
            why = self.can_repeat()
            if why is not None:
                raise LayerError(f"cannot repeat: {why}", "set repeat to 1")
        calls = self._calls(shapes)
        total = NodeResult(list(calls[-1][1].outputs or []))
        for _, r in calls:
            total.trainable += r.trainable
            total.non_trainable += r.non_trainable
            total.flops += r.flops
            total.memory += r.memory
        return total

    def _evaluate_once(self, shapes: list[Shape]) -> NodeResult:
        sub = self.graph
        engine = sub.inference
        if all(engine.results.get(i) is not None and engine.results[i].outputs == [s]
               for i, s in zip(self.inputs, shapes)):
            results = engine.results  # the declared shapes: reuse the block's own live results
        else:
            results = self.inner_results(shapes)
        total = NodeResult([])
        for nid in sub.topological_order():
            r = results[nid]
            if r.error:
                raise LayerError(f"inside block {self.name}, {r.error}", r.fix)
            total.trainable += r.trainable
            total.non_trainable += r.non_trainable
            total.flops += r.flops
            if nid not in self.inputs:  # the block's inputs are its caller's tensors
                total.memory += r.memory
        outputs = []
        for nid, port in self.outputs:
            r = results[nid]
            if not r.ok or r.outputs is None or port >= len(r.outputs):
                raise LayerError(f"block {self.name}: its output {sub.nodes[nid].name}:{port} "
                                 "has no shape")
            outputs.append(r.outputs[port])
        total.outputs = outputs
        return total


def exposable_params(graph: Graph, node_ids: Collection[str],
                     keep: Collection[tuple[str, str]] = ()) -> list[tuple[str, Param]]:
    """(node id, parameter) for each parameter that a block made of the layers ``node_ids`` of
    ``graph`` offers to expose, in layer order: the usual ones (``USUAL_EXPOSED``), each layer's
    key parameters, and the (node id, parameter) pairs in ``keep`` (those exposed already).
    Never a parameter that holds a structure (a layer or JSON), nor one of an Input or a block
    instance."""
    found = []
    for nid in graph.topological_order():
        if nid not in node_ids:
            continue
        node = graph.nodes[nid]
        if node.type in ("Input", BLOCK_TYPE):
            continue
        spec = catalog.get(node.type)
        for p in spec.params:
            if p.kind in ("json", "layer") or not (
                    (nid, p.name) in keep or p.name in USUAL_EXPOSED
                    or p.name in spec.key_params):
                continue
            found.append((nid, p))
    return found


def repeat_count(params: Mapping[str, Any]) -> int:
    """How many times a block instance with ``params`` applies its block in a row."""
    count = params.get(REPEAT, 1)
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
