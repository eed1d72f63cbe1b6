"""Keras code from a project: one standalone Python file that builds the same model with the
functional API, written the way a person would write it.

- ``import keras`` and ``from keras import layers``; ``build_model()`` returns the model and
  running the file prints its summary.
- Only the arguments that differ from Keras' defaults are written, the required ones positionally
  where Keras users write them so (``layers.Conv2D(32, 3, activation="relu")``); every layer keeps
  its name, so the model equals the graph layer for layer; ``trainable=False`` where set.
- ``x`` holds a tensor that only the next line uses; a tensor needed anywhere else gets a variable
  named after its layer. Layers with several outputs are unpacked.
- A function block becomes ``def block(x, name)``, called once per instance; its layers are named
  ``f"{name}_{layer}"`` so that every call has unique names. Its exposed parameters are keyword
  arguments with their defaults (``def residual_unit(x, name, filters=64, strides=1)``), passed
  by every call (``residual_unit(x, name="unit4", filters=128, strides=2)``); its optional layers
  sit under ``if strides != 1:``, their outputs being their inputs otherwise. A repeated instance
  is a loop, each call named after its number (``Block.call_name``)::

      for i in range(3):
          x = residual_unit(x, name=f"unit4_r{i + 1}", filters=128)

  A model block becomes
  ``def build_block()`` returning a nested ``keras.Model`` that is called like a layer; a
  Sequential block's ``build_block()`` returns ``keras.Sequential([keras.Input(...), layers...])``;
  like ``netbuilder.runtime.keras_build``, every instance of a model block shares one model.
- A Keras Application block becomes ``def build_vgg16(name="vgg16")`` calling its
  ``keras.applications`` constructor, then setting its inner trainable flags as the course
  notes do (``base.trainable = False``, or the "fine-tune from block5_conv1" loop); a (partly)
  frozen one is called with ``training=False``.
- A shared layer (a layer called several times: a node and the nodes that share it) is one
  variable named after it, made before its first call and called once per node
  (``t1 = layers.Dense(8, name="t1")``, ``x = t1(a)``, ``y = t1(b)``).
- A Keras operation kept as imported (``x + y`` in a functional model: ``keras.src.ops``'
  ``Add``) is written as that operation, named: ``Add(name="add")(x, y)``.
- ``lookups`` (``generate_code(project, lookups={"dense.units": 'params["dense.units"]'})``)
  writes chosen parameters of the model's own layers and block instances (``LAYER.PARAM``, an
  instance's ``repeat`` too) as those expressions instead of their values, and
  ``build_model(params)`` takes them: the model of a hyperparameter search script.
- Lines are at most 99 characters, wrapped the way black wraps them (``core.code_format``); a
  layer's arguments are written by ``core.keras_args``. The same project always gives the same
  text.

Pure Python: nothing here imports Keras.
"""

from __future__ import annotations

import keyword
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.blocks import REPEAT, Block, repeat_count
from netbuilder.core.catalog import opaque
from netbuilder.core.code_format import (
    INDENT,
    LINE_LENGTH,
    UnwritableValue,
    call,
    def_lines,
    dict_of,
    flat,
    kw,
    list_of,
    literal,
    str_literal,
    wrap,
)
from netbuilder.core.freezing import fine_tune_layer, inner_layers
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError, Node
from netbuilder.core.keras_args import layer_args, param_expr

_FLOAT32 = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}  # the default dtype policy, as a layer config holds it


class CodegenError(Exception):
    """The project cannot be written as code; ``str(err)`` says why, naming the layers."""


def model_name(name: str) -> str:
    """A Keras model name for a project name (letters, digits, ``_ . -``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", name.strip())
    return cleaned or "model"


def generate_code(project: Any, lookups: Mapping[str, str] | None = None) -> str:
    """Standalone Keras 3 code for ``project`` (a ``netbuilder.core.project.Project``).

    ``lookups`` maps ``LAYER.PARAM`` paths of the model's own layers and block instances to the
    expressions written in their place (then ``build_model(params)`` takes ``params``).
    Raises ``CodegenError`` listing the problems if the graph is not a valid model, or a lookup
    that names no layer or parameter.
    """
    graph: Graph = project.graph
    problems = graph.inference.errors()
    if problems:
        raise CodegenError("; ".join(problems))
    try:
        return _Module(graph, project.name, getattr(project, "description", ""),
                       lookups).render()
    except UnwritableValue as err:
        raise CodegenError(str(err)) from None


def _identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name, flags=re.ASCII)
    if not ident or ident[0].isdigit():
        ident = "layer_" + ident
    if keyword.iskeyword(ident):
        ident += "_"
    return ident


class _Names:
    """Identifiers in use in one scope; ``claim`` returns a free one based on ``base``."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)

    def claim(self, base: str) -> str:
        name = base
        if name in self.taken:
            name = f"{base}_out"
            k = 2
            while name in self.taken:
                name = f"{base}_out_{k}"
                k += 1
        self.taken.add(name)
        return name


# --- the module ------------------------------------------------------------------------------


@dataclass
class _ModelPlan:
    """The one shared model of a model block: its Keras name, its variable, whether frozen."""

    block: str
    name: str
    var: str = ""
    frozen: bool = False


@dataclass
class _Function:
    block: Block
    name: str
    needs_trainable: bool = False
    models: list[str] = field(default_factory=list)  # model blocks it is given, in order


class _Module:
    def __init__(self, graph: Graph, project_name: str, description: str,
                 lookups: Mapping[str, str] | None = None) -> None:
        self.graph = graph
        self.lookups = _node_lookups(graph, lookups or {})
        self.project_name = project_name
        self.description = description
        self.imports: dict[tuple[str, str], str] = {}  # (module, class) -> local name
        self.functions: dict[str, _Function] = {}  # block name -> its function, in use order
        self.models: dict[str, _ModelPlan] = {}  # block name -> its model, creation order
        self.triggers: dict[str, list[str]] = {}  # top-level node id -> models created there
        self.results: dict[int, dict[str, Any]] = {}  # id(graph) -> node results
        self._plan()

    # -- planning -----------------------------------------------------------------------------

    def _plan(self) -> None:
        """Walk the graph as the Keras build does: which blocks are used, which model is made
        where (and named after which instance), which are frozen; names of functions and of
        model variables; classes to import for layers kept as imported."""
        self.results[id(self.graph)] = self.graph.inference.results
        self._walk(self.graph, "", False, None)
        module_names = _Names({"keras", "layers", "build_model", "x", "_", "name", "trainable",
                               "params"})
        for (module, cls) in sorted(self.imports):
            self.imports[(module, cls)] = module_names.claim(cls)
        for fn in self.functions.values():
            base = _identifier(fn.block.name)
            fn.name = module_names.claim(base if fn.block.kind == "function" else f"build_{base}")
        for plan in self.models.values():
            plan.var = module_names.claim(_identifier(plan.name))
        self.module_names = module_names
        changed = True
        while changed:  # a frozen call passes trainable=False on to the blocks it calls
            changed = False
            for fn in self.functions.values():
                if fn.block.kind != "function" or fn.needs_trainable:
                    continue
                if any(self._frozen_call(g, node) for g, node in self._instances(fn.block.name)):
                    fn.needs_trainable = changed = True
        for fn in self.functions.values():
            fn.models = self._models_needed(fn.block.graph)

    def _walk(self, graph: Graph, prefix: str, frozen: bool, top: str | None) -> None:
        for nid in graph.topological_order():
            node = graph.nodes[nid]
            if node.type == opaque.TYPE:
                p = node.params
                if p["module"] not in ("keras", "keras.layers"):
                    self.imports.setdefault((p["module"], p["class_name"]), "")
            if node.type != BLOCK_TYPE:
                continue
            block = graph.blocks[node.params["block"]]
            here = top or nid
            now_frozen = frozen or not node.trainable
            if block.name not in self.functions:
                self.functions[block.name] = _Function(block, "")
            if block.kind == "function":
                shapes = self._input_shapes(graph, nid)
                key = id(block.graph)
                if key not in self.results:  # (as the first instance calls it)
                    self.results[key] = block.for_instance(node.params).inner_results(shapes)
                self._walk(block.graph, f"{prefix}{node.name}_", now_frozen, here)
                continue
            if block.name not in self.models:
                self.results[id(block.graph)] = block.graph.inference.results
                plan = _ModelPlan(block.name, prefix + node.name)
                if block.application is None:  # an Application: its call
                    self._walk(block.graph, "", False, here)
                self.models[block.name] = plan
                self.triggers.setdefault(here, []).append(block.name)
            if now_frozen:
                self.models[block.name].frozen = True
        # functions are defined before the functions that call them
        for name in list(self.functions):
            if self.functions[name].block.graph is graph:
                self.functions[name] = self.functions.pop(name)

    def _input_shapes(self, graph: Graph, nid: str) -> list[Any]:
        results = self.results[id(graph)]
        return [results[e.src].outputs[e.src_port] for e in graph.in_edges(nid)]

    def _instances(self, block_name: str) -> Iterable[tuple[Graph, Node]]:
        graphs = [self.graph] + [fn.block.graph for fn in self.functions.values()]
        for g in graphs:
            for node in g.nodes.values():
                if node.type == BLOCK_TYPE and node.params["block"] == block_name:
                    yield g, node

    def _frozen_call(self, graph: Graph, node: Node) -> bool:
        if not node.trainable:
            return True
        owner = self._owner(graph)
        return owner is not None and owner.block.kind == "function" and owner.needs_trainable

    def _owner(self, graph: Graph) -> _Function | None:
        for fn in self.functions.values():
            if fn.block.graph is graph:
                return fn
        return None

    def _models_needed(self, graph: Graph) -> list[str]:
        """Model blocks a function is given: those its body calls, and those the function
        blocks it calls need."""
        needed: list[str] = []
        for nid in graph.topological_order():
            node = graph.nodes[nid]
            if node.type != BLOCK_TYPE:
                continue
            block = graph.blocks[node.params["block"]]
            more = [block.name] if block.is_model else self._models_needed(block.graph)
            needed += [m for m in more if m not in needed]
        return needed

    # -- rendering ----------------------------------------------------------------------------

    def render(self) -> str:
        parts = [self._docstring(), self._import_lines()]
        for fn in self.functions.values():
            parts.append("\n".join(self._function(fn)))
        parts.append("\n".join(self._build_model()))
        parts.append('if __name__ == "__main__":\n    build_model().summary()')
        docstring, imports, *defs = parts
        return docstring + "\n\n" + imports + "\n\n\n" + "\n\n\n".join(defs) + "\n"

    def _docstring(self) -> str:
        title = f'The "{model_name(self.project_name)}" model, exported from NetBuilder.'
        lines = [title]
        description = " ".join(self.description.split())
        if description:
            lines += [""] + textwrap.wrap(description, LINE_LENGTH)
        lines += ["", "build_model() returns the Keras model; running this file prints its "
                      "summary."]
        text = "\n".join(lines).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        if text.endswith('"'):
            text = text[:-1] + '\\"'
        return '"""' + text + '\n"""'

    def _import_lines(self) -> str:
        lines = ["import keras", "from keras import layers"]
        for (module, cls), local in sorted(self.imports.items()):
            alias = "" if local == cls else f" as {local}"
            lines.append(f"from {module} import {cls}{alias}")
        return "\n".join(lines)

    def _function(self, fn: _Function) -> list[str]:
        block = fn.block
        if block.application is not None:
            return _application_function(fn.name, block, self.models[block.name].name)
        names = self._scope()
        if block.kind == "function":
            if len(block.inputs) == 1:
                params = {block.inputs[0]: "x"}
            else:
                params = {nid: names.claim(_identifier(block.graph.nodes[nid].name))
                          for nid in block.inputs}
            signature = list(params.values()) + ["name"] + [
                self.models[m].var for m in fn.models]
            if fn.needs_trainable:
                signature.append("trainable=True")
            signature += _exposed_signature(block, names)
            body = _Body(self, block.graph, "function", names, params=params,
                         returns=list(block.outputs), fn=fn)
        else:
            signature = [self.models[m].var for m in fn.models]
            signature.append(f"name={str_literal(self.models[block.name].name)}")
            kind = "sequential" if block.kind == "sequential" else "model"
            body = _Body(self, block.graph, kind, names, returns=list(block.outputs),
                         input_order=list(block.inputs))
        lines = def_lines(fn.name, signature)
        return lines + body.render(1)

    def _build_model(self) -> list[str]:
        names = self._scope()
        for plan in self.models.values():
            names.taken.add(plan.var)
        outputs = [(n.id, 0) for n in self.graph.outputs()]
        body = _Body(self, self.graph, "main", names, returns=outputs,
                     input_order=[n.id for n in self.graph.inputs()])
        return [f"def build_model({'params' if self.lookups else ''}):"] + body.render(1)

    def _scope(self) -> _Names:
        return _Names(self.module_names.taken)

    def sequence_of(self, graph: Graph) -> list[str]:
        """The chain of the Sequential block whose subgraph is ``graph``."""
        fn = next(f for f in self.functions.values() if f.block.graph is graph)
        try:
            return fn.block.sequence()
        except GraphError as err:
            raise CodegenError(str(err)) from None

    def model_creation(self, block_name: str, depth: int) -> list[str]:
        plan = self.models[block_name]
        fn = self.functions[block_name]
        args = [kw(self.models[m].var, [self.models[m].var]) for m in fn.models]
        lines = wrap([f"{plan.var} = "] + call(fn.name, args), depth)
        if plan.frozen:
            lines.append(f"{INDENT * depth}{plan.var}.trainable = False")
        return lines


def _exposed_signature(block: Block, names: _Names) -> list[str]:
    """``filters=64, strides=1``: a function block's exposed parameters with their defaults."""
    out = []
    for name in block.exposed:
        if name in names.taken:
            raise CodegenError(f"block {block.name}: its parameter {name!r} has the name of "
                               "something else in the exported code; rename the parameter")
        names.taken.add(name)
        p = block.exposure_param(name)
        out.append(f"{name}={flat(param_expr(p, p.normalize(block.exposure_default(name))))}")
    return out


def _exposed_call_args(block: Block, params: Mapping[str, Any],
                       lookups: Mapping[str, str]) -> list[list[Any]]:
    """``filters=128, strides=2``: an instance's exposed values as keyword arguments (or the
    expressions ``lookups`` gives for some of them)."""
    args = []
    for name in block.exposed:
        if name in lookups:
            args.append(kw(name, [lookups[name]]))
            continue
        p = block.exposure_param(name)
        value = params.get(name, block.exposure_default(name))
        args.append(kw(name, param_expr(p, p.normalize(value))))
    return args


def _node_lookups(graph: Graph, lookups: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``{"dense.units": expr}`` as node id -> {parameter: expr}; ``CodegenError`` for a path
    that names no layer of ``graph`` or no parameter of it."""
    out: dict[str, dict[str, str]] = {}
    for path, expr in lookups.items():
        layer, _, param = path.rpartition(".")
        node = graph.node_by_name(layer)
        if node is None:
            raise CodegenError(f"{path}: no layer named {layer!r} in the model")
        if node.type == BLOCK_TYPE:
            block = graph.blocks[node.params["block"]]
            known = param in block.exposed or (param == REPEAT and block.can_repeat() is None)
        else:
            known = node.type != "Input" and catalog.get(node.type).has_param(param)
        if not known:
            raise CodegenError(f"{path}: {layer} has no parameter {param!r} to search")
        out.setdefault(node.id, {})[param] = expr
    return out


def _application_function(fn_name: str, block: Block, model: str) -> list[str]:
    """``def build_vgg16(name="vgg16")``: the ``keras.applications`` constructor with the
    block's arguments, then its inner trainable flags the way the course notes set them."""
    app = dict(block.application or {})
    args = [kw("include_top", literal(bool(app.get("include_top", False)))),
            kw("weights", literal(app.get("weights")))]
    if app.get("input_shape") is not None:
        args.append(kw("input_shape", literal(tuple(app["input_shape"]))))
    if app.get("pooling") is not None:
        args.append(kw("pooling", literal(app["pooling"])))
    if app.get("include_top") and app.get("classes", 1000) != 1000:
        args.append(kw("classes", literal(app["classes"])))
    args.append(kw("name", ["name"]))
    lines = def_lines(fn_name, [f"name={str_literal(model)}"])
    lines += wrap(["base = "] + call(f"keras.applications.{app['name']}", args), 1)
    layers = inner_layers(block)
    frozen = [n.name for n in layers if not n.trainable]
    start = fine_tune_layer(block)
    if layers and len(frozen) == len(layers):
        lines.append(f"{INDENT}base.trainable = False")
    elif start is not None:
        keep_bn = any(n.type == "BatchNormalization" for n in layers)
        lines += [f"{INDENT}# fine-tune from {start}: the layers before it stay frozen"
                  + (", and so do the BatchNormalization layers" if keep_bn else ""),
                  f"{INDENT}set_trainable = False",
                  f"{INDENT}for layer in base.layers:",
                  f"{INDENT * 2}if layer.name == {str_literal(start)}:",
                  f"{INDENT * 3}set_trainable = True"]
        if keep_bn:
            lines += [f"{INDENT * 2}layer.trainable = set_trainable and not isinstance(",
                      f"{INDENT * 3}layer, layers.BatchNormalization",
                      f"{INDENT * 2})"]
        else:
            lines.append(f"{INDENT * 2}layer.trainable = set_trainable")
    elif frozen:
        names = list_of([[str_literal(n)] for n in frozen])
        lines += wrap(["for layer_name in "] + names + [":"], 1)
        lines.append(f"{INDENT * 2}base.get_layer(layer_name).trainable = False")
    lines.append(f"{INDENT}return base")
    return lines


def _runs_in_inference(block: Block, frozen: bool) -> bool:
    """A (partly) frozen Application is called with ``training=False``, as Keras' transfer
    learning guide says, so that its BatchNormalization runs in inference mode."""
    if block.application is None:
        return False
    return frozen or any(not n.trainable for n in block.graph.nodes.values()
                         if n.type != "Input")


def _slot(slot: Any, tensors: list[str]) -> list[Any]:
    """A call argument of a layer kept as imported (``{"tensor": i}``, ``{"list": [...]}``,
    ``{"dict": {...}}`` or ``{"value": v}``), as the pieces of a Python expression."""
    if isinstance(slot, Mapping) and len(slot) == 1:
        ((kind, value),) = slot.items()
        if kind == "tensor" and isinstance(value, int) and 0 <= value < len(tensors):
            return [tensors[value]]
        if kind == "list" and isinstance(value, (list, tuple)):
            return list_of([_slot(v, tensors) for v in value])
        if kind == "dict" and isinstance(value, Mapping):
            return dict_of([(str(k), _slot(v, tensors)) for k, v in value.items()])
        if kind == "value":
            return literal(value)
    raise CodegenError(f"invalid call argument {slot!r} of a layer kept as imported")


class _Body:
    """The statements of one function: ``build_model``, a function block or a model block."""

    def __init__(self, module: _Module, graph: Graph, kind: str, names: _Names, *,
                 returns: list[tuple[str, int]], params: dict[str, str] | None = None,
                 input_order: list[str] | None = None, fn: _Function | None = None) -> None:
        self.module = module
        self.graph = graph
        self.kind = kind  # "main", "model", "sequential" or "function"
        self.names = names
        self.returns = returns
        self.params = params or {}
        self.input_order = input_order or []
        self.fn = fn
        self.results = module.results[id(graph)]
        self.vars: dict[tuple[str, int], str] = {}
        for nid, var in self.params.items():
            self.vars[(nid, 0)] = var
        self.layer_vars: dict[str, str] = {}
        """Owner id -> the variable holding a shared layer; made before its first call."""
        self.made: set[str] = set()

    # -- variables ----------------------------------------------------------------------------

    def _plan_vars(self) -> None:
        graph = self.graph
        self.statements = [nid for nid in graph.topological_order()
                           if not (self.kind == "function" and nid in self.params)]
        position = {nid: i for i, nid in enumerate(self.statements)}
        self.consumers: dict[tuple[str, int], list[str]] = {}
        for nid in graph.topological_order():
            for e in graph.in_edges(nid):
                self.consumers.setdefault((e.src, e.src_port), []).append(nid)
        # the parameter x may only be overwritten after its last use
        x_busy_until = -1
        for nid, var in self.params.items():
            if var == "x":
                uses = [position[c] for c in self.consumers.get((nid, 0), [])]
                x_busy_until = max(uses, default=-1)
                if (nid, 0) in self.returns:
                    x_busy_until = len(self.statements)
        returned = set(self.returns)
        for nid in self.statements:  # a shared layer's variable is named after the layer
            owner = graph.owner_of(nid)
            if len(graph.sharing_group(nid)) > 1 and owner not in self.layer_vars:
                self.layer_vars[owner] = self.names.claim(_identifier(graph.nodes[owner].name))
        if self.kind != "function":  # inputs and outputs keep the names Keras users expect
            if len(self.input_order) == 1:
                self.vars[(self.input_order[0], 0)] = self.names.claim("inputs")
            if len(self.returns) == 1 and self.returns[0] not in self.vars:
                self.vars[self.returns[0]] = self.names.claim("outputs")
        for i, nid in enumerate(self.statements):
            node = graph.nodes[nid]
            count = self._output_count(node)
            if count == 1:
                key = (nid, 0)
                if key in self.vars:
                    continue
                if self._is_temp(nid, i, returned) and i >= x_busy_until:
                    self.vars[key] = "x"
                else:
                    self.vars[key] = self.names.claim(_identifier(node.name))
                continue
            base = _identifier(node.name)
            for port in range(count):
                key = (nid, port)
                if key in self.vars:
                    continue
                used = key in returned or self.consumers.get(key)
                self.vars[key] = self.names.claim(f"{base}_out{port}") if used else "_"

    def _is_temp(self, nid: str, i: int, returned: set[tuple[str, int]]) -> bool:
        node = self.graph.nodes[nid]
        if node.type == "Input" or self._optional_condition(nid) is not None:
            return False
        users = self.consumers.get((nid, 0), [])
        if (nid, 0) in returned:
            # the one tensor a function block returns, made by its last line: return x
            return (self.kind == "function" and not users and self.returns == [(nid, 0)]
                    and i == len(self.statements) - 1)
        return bool(users) and i + 1 < len(self.statements) and all(
            u == self.statements[i + 1] for u in users)

    def _output_count(self, node: Node) -> int:
        if node.type == BLOCK_TYPE:
            return len(self.graph.blocks[node.params["block"]].outputs)
        result = self.results.get(node.id)
        if result is not None and result.outputs is not None:
            return len(result.outputs)
        return 1

    # -- statements ---------------------------------------------------------------------------

    def render(self, depth: int) -> list[str]:
        if self.kind == "sequential":
            return self._sequential(depth)
        self._plan_vars()
        lines: list[str] = []
        i = 0
        while i < len(self.statements):
            nid = self.statements[i]
            condition = self._optional_condition(nid)
            if condition is not None:  # a run of optional layers: one if/else
                group = [nid]
                while (i + len(group) < len(self.statements) and self._optional_condition(
                        self.statements[i + len(group)]) == condition):
                    group.append(self.statements[i + len(group)])
                lines += self._optional_group(group, condition, depth)
                i += len(group)
                continue
            if self.kind == "main":
                for block_name in self.module.triggers.get(nid, []):
                    lines += self.module.model_creation(block_name, depth)
            lines += self._statement(self.graph.nodes[nid], depth)
            i += 1
        lines += self._return(depth)
        return lines

    # -- exposed parameters and optional layers of a function block ------------------------

    def _exposed_exprs(self, node: Node) -> dict[str, str]:
        """Parameters of ``node`` set by an exposed parameter of the block being written."""
        if self.kind != "function" or self.fn is None:
            return {}
        return {param: name for name, targets in self.fn.block.exposed.items()
                for nid, param in targets if nid == node.id}

    def _optional_condition(self, nid: str) -> str | None:
        """``strides != 1`` for a layer present only when ``strides`` is not 1."""
        if self.kind != "function" or self.fn is None or nid not in self.fn.block.optional:
            return None
        param, value = self.fn.block.optional[nid]
        p = self.fn.block.exposure_param(param)
        return f"{param} != {flat(param_expr(p, p.normalize(value)))}"

    def _optional_group(self, group: list[str], condition: str, depth: int) -> list[str]:
        """``if strides != 1: <the layers>`` ``else:`` their outputs are their inputs."""
        lines = [f"{INDENT * depth}if {condition}:"]
        for nid in group:
            lines += self._statement(self.graph.nodes[nid], depth + 1)
        passthrough: dict[str, str] = {}
        for nid in group:
            e = self.graph.in_edges(nid)[0]
            passthrough[nid] = passthrough[e.src] if e.src in passthrough else self.vars[
                (e.src, e.src_port)]
        needed = [nid for nid in group if (nid, 0) in self.returns or any(
            c not in group for c in self.consumers.get((nid, 0), []))]
        if needed:
            lines.append(f"{INDENT * depth}else:")
            lines += [f"{INDENT * (depth + 1)}{self.vars[(nid, 0)]} = {passthrough[nid]}"
                      for nid in needed]
        return lines

    def _targets(self, node: Node) -> str:
        count = self._output_count(node)
        return ", ".join(self.vars[(node.id, port)] for port in range(count)) + " = "

    def _layer_name(self, node: Node) -> list[Any]:
        if self.kind == "function":
            return [f'f"{{name}}_{node.name}"']
        return [str_literal(node.name)]

    def _trainable(self, node: Node) -> list[list[Any]]:
        if not node.trainable:
            return [kw("trainable", ["False"])]
        if self.fn is not None and self.fn.needs_trainable:
            return [kw("trainable", ["trainable"])]
        return []

    def _sequential(self, depth: int) -> list[str]:
        """``return keras.Sequential([keras.Input(...), layers..., nested models], name=name)``"""
        items: list[list[Any]] = []
        for nid in self.module.sequence_of(self.graph):
            node = self.graph.nodes[nid]
            if node.type == "Input":
                items.append(self._input_expr(node))
            elif node.type == BLOCK_TYPE:
                inner = self.graph.blocks[node.params["block"]]
                if not inner.is_model:
                    raise CodegenError(f"{node.name}: a Sequential model cannot call the "
                                       f"function block {inner.name}")
                items.append([self.module.models[inner.name].var])
            elif node.type == opaque.TYPE:
                if node.params.get("call", "single") != "single":
                    raise CodegenError(f"{node.name}: a Sequential model holds layers called "
                                       "on one tensor only")
                items.append(self._opaque_expr(node))
            else:
                items.append(self._layer_expr(node))
        model = call("keras.Sequential", [list_of(items), kw("name", ["name"])])
        return wrap(["return "] + model, depth)

    def _input_expr(self, node: Node) -> list[Any]:
        spec = catalog.get("Input")
        p = node.params
        ctor = [kw("shape", literal(tuple(p["shape"])))]
        for name in ("batch_size", "dtype"):
            if p[name] != spec.param(name).normalize(spec.param(name).default):
                ctor.append(kw(name, literal(p[name])))
        ctor.append(kw("name", self._layer_name(node)))
        return call("keras.Input", ctor)

    def _lookups(self, node: Node) -> Mapping[str, str]:
        """Parameters of ``node`` written as a lookup (``params["dense.units"]``)."""
        return self.module.lookups.get(node.id, {}) if self.kind == "main" else {}

    def _layer_expr(self, node: Node) -> list[Any]:
        spec = catalog.get(node.type)
        ctor = layer_args(spec, node.params, {**self._exposed_exprs(node), **self._lookups(node)})
        ctor.append(kw("name", self._layer_name(node)))
        ctor += self._trainable(node)
        return call(f"layers.{spec.class_name}", ctor)

    def _statement(self, node: Node, depth: int) -> list[str]:
        graph = self.graph
        args = [self.vars[(e.src, e.src_port)] for e in graph.in_edges(node.id)]
        if node.type == "Input":
            return wrap([self._targets(node)] + self._input_expr(node), depth)
        if node.type == BLOCK_TYPE:
            return self._block_statement(node, args, depth)
        spec = catalog.get(node.type)
        if node.type == opaque.TYPE:
            return self._opaque_statement(node, args, depth)
        made, layer = self._shared_layer(node, self._layer_expr, depth)
        if spec.input_names:
            expr = call(layer, [kw(k, [v]) for k, v in zip(spec.input_names, args)])
        elif spec.max_inputs == 1:
            expr = call(layer, [[args[0]]])
        else:
            expr = call(layer, [list_of([[a] for a in args])])
        return made + wrap([self._targets(node)] + expr, depth)

    def _shared_layer(self, node: Node, make: Any, depth: int) -> tuple[list[str], list[Any]]:
        """The layer ``node`` calls, as an expression (``make(node)``), or for a shared layer
        its variable, with the line that makes it before its first call."""
        owner = self.graph.owner_of(node.id)
        var = self.layer_vars.get(owner)
        if var is None:
            return [], make(node)
        made: list[str] = []
        if owner not in self.made:
            self.made.add(owner)
            made = wrap([f"{var} = "] + make(self.graph.nodes[owner]), depth)
        return made, [var]

    def _opaque_expr(self, node: Node) -> list[Any]:
        """The layer (or operation) of a ``KerasLayer`` node, made from its class and config."""
        p = node.params
        module, cls = p["module"], p["class_name"]
        if module == "keras.layers":
            callee = f"layers.{cls}"
        elif module == "keras":
            callee = f"keras.{cls}"
        else:
            callee = self.module.imports[(module, cls)]
        config = {k: v for k, v in dict(p["config"]).items()
                  if k not in ("name", "trainable") and not (k == "dtype" and v == _FLOAT32)}
        operation = module.startswith("keras.src.ops")
        if operation and not config:  # Operation.from_config({"name": n}) is Op(name=n)
            return call(callee, [kw("name", self._layer_name(node))])
        pairs = [(k, literal(v)) for k, v in config.items()]
        pairs.append(("name", self._layer_name(node)))
        trainable = self._trainable(node)
        if trainable and not operation:  # operations have no weights
            pairs.append(("trainable", trainable[0][1:]))
        return call(f"{callee}.from_config", [dict_of(pairs)])

    def _opaque_statement(self, node: Node, args: list[str], depth: int) -> list[str]:
        p = node.params
        made, layer = self._shared_layer(node, self._opaque_expr, depth)
        call_form = p["call"]
        if call_form == "single":
            expr = call(layer, [[args[0]]])
        elif call_form == "list":
            expr = call(layer, [list_of([[a] for a in args])])
        elif isinstance(call_form, Mapping):
            positional = [_slot(v, args) for v in call_form.get("args", [])]
            named = [kw(str(k), _slot(v, args))
                     for k, v in dict(call_form.get("kwargs", {})).items()]
            expr = call(layer, positional + named)
        else:
            expr = call(layer, [kw(k, [v]) for k, v in zip(call_form, args)])
        if self._output_count(node) > 1:
            expr = call("keras.tree.flatten", [expr])
        return made + wrap([self._targets(node)] + expr, depth)

    def _block_statement(self, node: Node, args: list[str], depth: int) -> list[str]:
        block = self.graph.blocks[node.params["block"]]
        fn = self.module.functions[block.name]
        if block.is_model:
            var = self.module.models[block.name].var
            call_args = [list_of([[a] for a in args])] if len(args) > 1 else [[args[0]]]
            if _runs_in_inference(block, self.module.models[block.name].frozen):
                call_args.append(kw("training", ["False"]))
            return wrap([self._targets(node)] + call(var, call_args), depth)
        lookups = self._lookups(node)
        count = repeat_count(node.params)
        repeat = lookups.get(REPEAT, str(count) if count > 1 else None)
        loop = ("i" if "i" not in self.names.taken else self.names.claim("i")) if repeat else None
        call_args = [[a] for a in args] + [kw("name", self._instance_name(node, loop))]
        call_args += [kw(self.module.models[m].var, [self.module.models[m].var])
                      for m in fn.models]
        if fn.needs_trainable:
            call_args += self._trainable(node)
        call_args += _exposed_call_args(block, node.params, lookups)
        if loop is None:
            return wrap([self._targets(node)] + call(fn.name, call_args), depth)
        # a repeated instance: for i in range(3): x = residual_unit(x, name=f"unit4_r{i + 1}")
        target = self.vars[(node.id, 0)]
        lines = [] if args[0] == target else [f"{INDENT * depth}{target} = {args[0]}"]
        lines.append(f"{INDENT * depth}for {loop} in range({repeat}):")
        call_args[0] = [target]
        return lines + wrap([f"{target} = "] + call(fn.name, call_args), depth + 1)

    def _instance_name(self, node: Node, loop: str | None = None) -> list[Any]:
        if loop is not None:
            prefix = "{name}_" if self.kind == "function" else ""
            return [f'f"{prefix}{node.name}_r{{{loop} + 1}}"']
        if self.kind == "function":
            return [f'f"{{name}}_{node.name}"']
        return [str_literal(node.name)]

    def _return(self, depth: int) -> list[str]:
        outs = [self.vars[key] for key in self.returns]
        if self.kind == "function":
            return [f"{INDENT * depth}return {', '.join(outs)}"]
        inputs = [self.vars[(nid, 0)] for nid in self.input_order]
        in_expr = [inputs[0]] if len(inputs) == 1 else list_of([[v] for v in inputs])
        out_expr = [outs[0]] if len(outs) == 1 else list_of([[v] for v in outs])
        if self.kind == "main":
            name = [str_literal(model_name(self.module.project_name))]
        else:
            name = ["name"]
        model = call("keras.Model", [kw("inputs", in_expr), kw("outputs", out_expr),
                                      kw("name", name)])
        return wrap(["return "] + model, depth)
