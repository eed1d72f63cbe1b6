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
  sit under ``if strides != 1:``, their outputs being their inputs otherwise. A model block becomes
  ``def build_block()`` returning a nested ``keras.Model`` that is called like a layer; a
  Sequential block's ``build_block()`` returns ``keras.Sequential([keras.Input(...), layers...])``;
  like ``netbuilder.runtime.keras_build``, every instance of a model block shares one model.
- A Keras Application block becomes ``def build_vgg16(name="vgg16")`` calling its
  ``keras.applications`` constructor, then setting its inner trainable flags as the course
  notes do (``base.trainable = False``, or the "fine-tune from block5_conv1" loop); a (partly)
  frozen one is called with ``training=False``.
- A Keras operation kept as imported (``x + y`` in a functional model: ``keras.src.ops``'
  ``Add``) is written as that operation, named: ``Add(name="add")(x, y)``.
- Lines are at most 99 characters, wrapped the way black wraps them. The same project always
  gives the same text.

Pure Python: nothing here imports Keras.
"""

from __future__ import annotations

import json
import keyword
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.blocks import Block
from netbuilder.core.catalog import opaque
from netbuilder.core.catalog.base import LayerSpec, Param, snake_case
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError, Node

LINE_LENGTH = 99
INDENT = "    "


class CodegenError(Exception):
    """The project cannot be written as code; ``str(err)`` says why, naming the layers."""


def model_name(name: str) -> str:
    """A Keras model name for a project name (letters, digits, ``_ . -``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", name.strip())
    return cleaned or "model"


def generate_code(project: Any) -> str:
    """Standalone Keras 3 code for ``project`` (a ``netbuilder.core.project.Project``).

    Raises ``CodegenError`` listing the problems if the graph is not a valid model.
    """
    graph: Graph = project.graph
    problems = graph.inference.errors()
    if problems:
        raise CodegenError("; ".join(problems))
    return _Module(graph, project.name, getattr(project, "description", "")).render()


# --- expressions and black-style wrapping ---------------------------------------------------
#
# An expression is a list of pieces: plain text, or a bracket group whose items are themselves
# lists of pieces. Wrapping follows black (line length 99): a line that is too long is split
# at its last bracket (right-hand split), trailing brackets are left on the closing line when
# the opening line then fits, the contents go on one line when they fit and one item per line
# with a trailing comma otherwise; a split list, tuple or dict display always gets one item per
# line.


@dataclass
class _Group:
    open: str
    items: list[list[Any]]
    close: str
    literal: bool = False  # a list, tuple or dict display (not call arguments)
    one_tuple: bool = False


def _flat(pieces: Iterable[Any]) -> str:
    out = []
    for p in pieces:
        if isinstance(p, _Group):
            inner = ", ".join(_flat(item) for item in p.items)
            out.append(p.open + inner + ("," if p.one_tuple else "") + p.close)
        else:
            out.append(p)
    return "".join(out)


def _fits(depth: int, text: str) -> bool:
    return len(INDENT) * depth + len(text) <= LINE_LENGTH


def _format(pieces: list[Any], depth: int) -> list[str]:
    text = _flat(pieces)
    if _fits(depth, text):
        return [INDENT * depth + text]
    return _split_right(pieces, depth)


def _split_right(pieces: list[Any], depth: int) -> list[str]:
    groups = [i for i, p in enumerate(pieces) if isinstance(p, _Group)]
    if not groups:
        return [INDENT * depth + _flat(pieces)]
    candidates = [groups[-1]]
    for j in reversed(groups[:-1]):  # black omits trailers that fit on the closing line
        if len(INDENT) * depth + 1 + len(_flat(pieces[j + 1:])) > LINE_LENGTH:
            break
        candidates.append(j)
    for j in candidates:
        if _fits(depth, _flat(pieces[:j]) + pieces[j].open):
            return _split_at(pieces, j, depth)
    return _split_at(pieces, groups[-1], depth)


def _split_at(pieces: list[Any], j: int, depth: int) -> list[str]:
    group: _Group = pieces[j]
    head = pieces[:j] + [group.open]
    tail = [group.close] + pieces[j + 1:]
    return _format(head, depth) + _body(group, depth + 1) + _format(tail, depth)


def _body(group: _Group, depth: int) -> list[str]:
    items = group.items
    text = ", ".join(_flat(item) for item in items) + ("," if group.one_tuple else "")
    if not (group.literal and len(items) > 1) and _fits(depth, text):
        return [INDENT * depth + text]
    if len(items) > 1:
        lines = []
        for item in items:
            lines += _format(item + [","], depth)
        return lines
    return _format(items[0] + ([","] if group.one_tuple else []), depth)


def _call(func: str | list[Any], args: list[list[Any]]) -> list[Any]:
    head = [func] if isinstance(func, str) else list(func)
    if not args:
        return head + ["()"]
    return head + [_Group("(", args, ")")]


def _kw(name: str, value: list[Any]) -> list[Any]:
    return [f"{name}="] + value


def _tuple(items: list[list[Any]]) -> list[Any]:
    if not items:
        return ["()"]
    return [_Group("(", items, ")", literal=True, one_tuple=len(items) == 1)]


def _list(items: list[list[Any]]) -> list[Any]:
    if not items:
        return ["[]"]
    return [_Group("[", items, "]", literal=True)]


def _dict(pairs: list[tuple[str, list[Any]]]) -> list[Any]:
    if not pairs:
        return ["{}"]
    return [_Group("{", [[_str(k) + ": "] + v for k, v in pairs], "}", literal=True)]


# --- literals --------------------------------------------------------------------------------


def _str(value: str) -> str:
    """A string literal as black writes it: double quotes unless that needs more escapes."""
    if '"' in value and "'" not in value:
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _float(value: float) -> str:
    text = repr(value)
    if 0 < value < 1 and len(text) > 8:  # 0.00392156862745098 reads better as 1 / 255
        inverse = 1 / value
        if inverse > 100_000:
            return text
        for candidate in (str(round(inverse)), str(round(inverse, 1))):
            if float(candidate) > 0 and 1 / float(candidate) == value:
                return f"1 / {candidate}"
    return text


def _literal(value: Any) -> list[Any]:
    """A plain value (a parameter in its JSON or normalized form) as a Python literal."""
    if value is None or isinstance(value, bool):
        return [repr(value)]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, float):
        return [_float(value)]
    if isinstance(value, str):
        return [_str(value)]
    if isinstance(value, (list, tuple)):
        return _tuple([_literal(v) for v in value])
    if isinstance(value, Mapping):
        return _dict([(str(k), _literal(v)) for k, v in value.items()])
    raise CodegenError(f"cannot write {value!r} as Python")


# Keras' serialized initializers, regularizers and constraints: class -> (the name that means the
# same object, the defaults of its config). A config that holds only defaults is written as that
# name; otherwise only the arguments that differ are written.
_KERAS_OBJECTS: dict[str, dict[str, tuple[str | None, dict[str, Any]]]] = {
    "initializer": {
        **{cls: (snake_case(cls), {"seed": None, "input_axes": None, "output_axes": None})
           for cls in ("GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
                       "LecunNormal")},
        "Zeros": ("zeros", {}),
        "Ones": ("ones", {}),
        "RandomUniform": ("random_uniform", {"seed": None, "minval": -0.05, "maxval": 0.05}),
        "RandomNormal": ("random_normal", {"seed": None, "mean": 0.0, "stddev": 0.05}),
        "TruncatedNormal": ("truncated_normal", {"seed": None, "mean": 0.0, "stddev": 0.05}),
        "Orthogonal": ("orthogonal", {"seed": None, "gain": 1.0}),
        "Identity": ("identity", {"gain": 1.0}),
        "VarianceScaling": ("variance_scaling", {
            "seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
            "input_axes": None, "output_axes": None}),
        "Constant": (None, {"value": 0.0}),
    },
    "regularizer": {
        "L1": ("l1", {"l1": 0.009999999776482582}),
        "L2": ("l2", {"l2": 0.01}),
        "L1L2": ("l1l2", {"l1": 0.0, "l2": 0.0}),
        "OrthogonalRegularizer": ("orthogonal_regularizer",
                                  {"factor": 0.009999999776482582, "mode": "rows"}),
    },
    "constraint": {
        "MaxNorm": ("max_norm", {"max_value": 2, "axis": 0}),
        "MinMaxNorm": ("min_max_norm",
                       {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}),
        "NonNeg": ("non_neg", {}),
        "UnitNorm": ("unit_norm", {"axis": 0}),
    },
}
_FLOAT32 = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}  # the default dtype policy, as a layer config holds it
_KERAS_MODULES = {"initializer": "initializers", "regularizer": "regularizers",
                  "constraint": "constraints"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _keras_object(kind: str, value: Any) -> str | list[Any]:
    """An initializer, regularizer or constraint: its name (a str) when that means the same
    object, else the pieces of ``keras.initializers.HeNormal(seed=1)`` and the like."""
    if isinstance(value, str):
        return value
    cls = value.get("class_name")
    config = dict(value.get("config") or {})
    module = _KERAS_MODULES[kind]
    known = _KERAS_OBJECTS[kind].get(cls)
    if known is not None:
        alias, defaults = known
        extra = {k: v for k, v in config.items() if k not in defaults or defaults[k] != v}
        if not extra and alias is not None:
            return alias
        config = extra
    elif not (isinstance(cls, str) and _IDENT.match(cls)
              and str(value.get("module", "keras")).startswith("keras")
              and value.get("registered_name") in (None, cls)
              and all(isinstance(k, str) and _IDENT.match(k) and not keyword.iskeyword(k)
                      for k in config)):
        return _call(f"keras.{module}.get", [_literal(dict(value))])
    return _call(f"keras.{module}.{cls}", [_kw(k, _literal(v)) for k, v in config.items()])


# --- layer arguments -------------------------------------------------------------------------

# Layers whose arguments Keras users write as keywords even when required.
_KEYWORD_ONLY = frozenset({"Input", "MultiHeadAttention", "Dot", opaque.TYPE})
# Optional first arguments written positionally when given: MaxPooling2D(3), UpSampling2D(2),
# RandomFlip("horizontal").
_POSITIONAL_FIRST = frozenset({"pool_size", "size", "mode"})


def positional_params(spec: LayerSpec) -> list[str]:
    """The parameters written positionally (when given), in order: the leading required ones,
    or the layer's main argument (``pool_size``, ``size``, ``mode``)."""
    if spec.type in _KEYWORD_ONLY:
        return []
    names = []
    for i, p in enumerate(spec.params):
        if p.required or (i == 0 and p.name in _POSITIONAL_FIRST):
            names.append(p.name)
        else:
            break
    return names


def _is_default(p: Param, value: Any) -> bool:
    default = p.normalize(p.default)
    if value == default:
        return True
    if p.name == "data_format" and default is None and value == "channels_last":
        return True  # None means Keras' image_data_format(), channels_last unless configured
    if p.kind in _KERAS_MODULES and isinstance(value, Mapping):
        return _keras_object(p.kind, value) == default
    return False


def _param_value(p: Param, value: Any) -> list[Any]:
    if p.kind == "ints" and p.length and isinstance(value, (list, tuple)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and v == value[0] for v in value):
        return [str(value[0])]  # kernel_size=(3, 3) is written 3, as Keras users do
    if p.kind in _KERAS_MODULES and value is not None:
        obj = _keras_object(p.kind, value)
        return [_str(obj)] if isinstance(obj, str) else obj
    if p.kind == "layer":
        inner = catalog.get(value["type"])
        resolved = inner.resolve(value.get("params"))
        name = value.get("name")
        args = _layer_args(inner, resolved)
        if name is not None:
            args.append(_kw("name", [_str(name)]))
        return _call(f"layers.{inner.class_name}", args)
    return _literal(value)


def _layer_args(spec: LayerSpec, params: Mapping[str, Any],
                exprs: Mapping[str, str] | None = None) -> list[list[Any]]:
    """Constructor arguments: positional ones first, then the non-default keywords.
    ``exprs`` gives parameters written as a variable (a block's exposed parameter), always."""
    positional = positional_params(spec)
    args: list[list[Any]] = []
    keywords: list[list[Any]] = []
    in_order = True
    exprs = exprs or {}
    for p in spec.params:
        value = params.get(p.name, p.normalize(p.default))
        if p.name not in exprs and not p.required and _is_default(p, value):
            if p.name in positional:
                in_order = False
            continue
        rendered = [exprs[p.name]] if p.name in exprs else _param_value(p, value)
        if p.name in positional and in_order:
            args.append(rendered)
        else:
            keywords.append(_kw(p.name, rendered))
    return args + keywords


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
    def __init__(self, graph: Graph, project_name: str, description: str) -> None:
        self.graph = graph
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
        module_names = _Names({"keras", "layers", "build_model", "x", "_", "name", "trainable"})
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
            signature.append(f"name={_str(self.models[block.name].name)}")
            kind = "sequential" if block.kind == "sequential" else "model"
            body = _Body(self, block.graph, kind, names, returns=list(block.outputs),
                         input_order=list(block.inputs))
        lines = _def_lines(fn.name, signature)
        return lines + body.render(1)

    def _build_model(self) -> list[str]:
        names = self._scope()
        for plan in self.models.values():
            names.taken.add(plan.var)
        outputs = [(n.id, 0) for n in self.graph.outputs()]
        body = _Body(self, self.graph, "main", names, returns=outputs,
                     input_order=[n.id for n in self.graph.inputs()])
        return ["def build_model():"] + body.render(1)

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
        args = [_kw(self.models[m].var, [self.models[m].var]) for m in fn.models]
        lines = _format([f"{plan.var} = "] + _call(fn.name, args), depth)
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
        out.append(f"{name}={_flat(_param_value(p, p.normalize(block.exposure_default(name))))}")
    return out


def _exposed_call_args(block: Block, params: Mapping[str, Any]) -> list[list[Any]]:
    """``filters=128, strides=2``: an instance's exposed values as keyword arguments."""
    args = []
    for name in block.exposed:
        p = block.exposure_param(name)
        value = params.get(name, block.exposure_default(name))
        args.append(_kw(name, _param_value(p, p.normalize(value))))
    return args


def _application_function(fn_name: str, block: Block, model: str) -> list[str]:
    """``def build_vgg16(name="vgg16")``: the ``keras.applications`` constructor with the
    block's arguments, then its inner trainable flags the way the course notes set them."""
    from netbuilder.core.freezing import fine_tune_layer, inner_layers

    app = dict(block.application or {})
    args = [_kw("include_top", _literal(bool(app.get("include_top", False)))),
            _kw("weights", _literal(app.get("weights")))]
    if app.get("input_shape") is not None:
        args.append(_kw("input_shape", _literal(tuple(app["input_shape"]))))
    if app.get("pooling") is not None:
        args.append(_kw("pooling", _literal(app["pooling"])))
    if app.get("include_top") and app.get("classes", 1000) != 1000:
        args.append(_kw("classes", _literal(app["classes"])))
    args.append(_kw("name", ["name"]))
    lines = _def_lines(fn_name, [f"name={_str(model)}"])
    lines += _format(["base = "] + _call(f"keras.applications.{app['name']}", args), 1)
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
                  f"{INDENT * 2}if layer.name == {_str(start)}:",
                  f"{INDENT * 3}set_trainable = True"]
        if keep_bn:
            lines += [f"{INDENT * 2}layer.trainable = set_trainable and not isinstance(",
                      f"{INDENT * 3}layer, layers.BatchNormalization",
                      f"{INDENT * 2})"]
        else:
            lines.append(f"{INDENT * 2}layer.trainable = set_trainable")
    elif frozen:
        lines += _format(["for layer_name in "] + _list([[_str(n)] for n in frozen]) + [":"], 1)
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
            return _list([_slot(v, tensors) for v in value])
        if kind == "dict" and isinstance(value, Mapping):
            return _dict([(str(k), _slot(v, tensors)) for k, v in value.items()])
        if kind == "value":
            return _literal(value)
    raise CodegenError(f"invalid call argument {slot!r} of a layer kept as imported")


def _def_lines(name: str, params: list[str]) -> list[str]:
    line = f"def {name}({', '.join(params)}):"
    if _fits(0, line):
        return [line]
    inner = ", ".join(params)
    if _fits(1, inner):
        return [f"def {name}(", INDENT + inner, "):"]
    return [f"def {name}("] + [INDENT + p + "," for p in params] + ["):"]


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
        return f"{param} != {_flat(_param_value(p, p.normalize(value)))}"

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
        return [_str(node.name)]

    def _trainable(self, node: Node) -> list[list[Any]]:
        if not node.trainable:
            return [_kw("trainable", ["False"])]
        if self.fn is not None and self.fn.needs_trainable:
            return [_kw("trainable", ["trainable"])]
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
        model = _call("keras.Sequential", [_list(items), _kw("name", ["name"])])
        return _format(["return "] + model, depth)

    def _input_expr(self, node: Node) -> list[Any]:
        spec = catalog.get("Input")
        p = node.params
        ctor = [_kw("shape", _literal(tuple(p["shape"])))]
        for name in ("batch_size", "dtype"):
            if p[name] != spec.param(name).normalize(spec.param(name).default):
                ctor.append(_kw(name, _literal(p[name])))
        ctor.append(_kw("name", self._layer_name(node)))
        return _call("keras.Input", ctor)

    def _layer_expr(self, node: Node) -> list[Any]:
        spec = catalog.get(node.type)
        ctor = _layer_args(spec, node.params, self._exposed_exprs(node))
        ctor.append(_kw("name", self._layer_name(node)))
        ctor += self._trainable(node)
        return _call(f"layers.{spec.class_name}", ctor)

    def _statement(self, node: Node, depth: int) -> list[str]:
        graph = self.graph
        args = [self.vars[(e.src, e.src_port)] for e in graph.in_edges(node.id)]
        if node.type == "Input":
            return _format([self._targets(node)] + self._input_expr(node), depth)
        if node.type == BLOCK_TYPE:
            return self._block_statement(node, args, depth)
        spec = catalog.get(node.type)
        if node.type == opaque.TYPE:
            return self._opaque_statement(node, args, depth)
        layer = self._layer_expr(node)
        if spec.input_names:
            call = _call(layer, [_kw(k, [v]) for k, v in zip(spec.input_names, args)])
        elif spec.max_inputs == 1:
            call = _call(layer, [[args[0]]])
        else:
            call = _call(layer, [_list([[a] for a in args])])
        return _format([self._targets(node)] + call, depth)

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
            return _call(callee, [_kw("name", self._layer_name(node))])
        pairs = [(k, _literal(v)) for k, v in config.items()]
        pairs.append(("name", self._layer_name(node)))
        trainable = self._trainable(node)
        if trainable and not operation:  # operations have no weights
            pairs.append(("trainable", trainable[0][1:]))
        return _call(f"{callee}.from_config", [_dict(pairs)])

    def _opaque_statement(self, node: Node, args: list[str], depth: int) -> list[str]:
        p = node.params
        layer = self._opaque_expr(node)
        call_form = p["call"]
        if call_form == "single":
            call = _call(layer, [[args[0]]])
        elif call_form == "list":
            call = _call(layer, [_list([[a] for a in args])])
        elif isinstance(call_form, Mapping):
            positional = [_slot(v, args) for v in call_form.get("args", [])]
            named = [_kw(str(k), _slot(v, args))
                     for k, v in dict(call_form.get("kwargs", {})).items()]
            call = _call(layer, positional + named)
        else:
            call = _call(layer, [_kw(k, [v]) for k, v in zip(call_form, args)])
        if self._output_count(node) > 1:
            call = _call("keras.tree.flatten", [call])
        return _format([self._targets(node)] + call, depth)

    def _block_statement(self, node: Node, args: list[str], depth: int) -> list[str]:
        block = self.graph.blocks[node.params["block"]]
        fn = self.module.functions[block.name]
        if block.is_model:
            var = self.module.models[block.name].var
            call_args = [_list([[a] for a in args])] if len(args) > 1 else [[args[0]]]
            if _runs_in_inference(block, self.module.models[block.name].frozen):
                call_args.append(_kw("training", ["False"]))
            return _format([self._targets(node)] + _call(var, call_args), depth)
        call_args = [[a] for a in args] + [_kw("name", self._instance_name(node))]
        call_args += [_kw(self.module.models[m].var, [self.module.models[m].var])
                      for m in fn.models]
        if fn.needs_trainable:
            call_args += self._trainable(node)
        call_args += _exposed_call_args(block, node.params)
        return _format([self._targets(node)] + _call(fn.name, call_args), depth)

    def _instance_name(self, node: Node) -> list[Any]:
        if self.kind == "function":
            return [f'f"{{name}}_{node.name}"']
        return [_str(node.name)]

    def _return(self, depth: int) -> list[str]:
        outs = [self.vars[key] for key in self.returns]
        if self.kind == "function":
            return [f"{INDENT * depth}return {', '.join(outs)}"]
        inputs = [self.vars[(nid, 0)] for nid in self.input_order]
        in_expr = [inputs[0]] if len(inputs) == 1 else _list([[v] for v in inputs])
        out_expr = [outs[0]] if len(outs) == 1 else _list([[v] for v in outs])
        if self.kind == "main":
            name = [_str(model_name(self.module.project_name))]
        else:
            name = ["name"]
        model = _call("keras.Model", [_kw("inputs", in_expr), _kw("outputs", out_expr),
                                      _kw("name", name)])
        return _format(["return "] + model, depth)
