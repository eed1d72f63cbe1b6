"""Import a Keras model into a NetBuilder graph and project.

``graph_from_keras(model)`` turns a functional or Sequential ``keras.Model`` into a ``Graph``:

- every layer becomes a node named as in Keras, its ``get_config()`` mapped onto the catalog
  spec's parameters (initializers, regularizers and constraints by name where they are Keras'
  defaults), its trainable flag kept; ``name``, ``dtype`` and ``trainable`` are not parameters;
- connections come from the functional graph, in call order (merge layers' lists,
  MultiHeadAttention's query/value/key); several inputs and outputs keep their order;
- a nested model becomes a block with its name, one row in the summary, as in Keras: a
  functional one (a Keras Application used as a layer) a ``Block(kind="model")``, a
  ``keras.Sequential`` a ``Block(kind="sequential")`` that builds a Sequential again;
- a Keras operation applied to tensors in the functional graph (``x + y``, ``x * 0.5``: a
  ``keras.src.ops`` Operation, not a layer) stays that operation: a ``KerasLayer`` node with its
  class, config and call, replayed as it was called (never turned into a merge layer);
- nothing is dropped silently. A layer the catalog lacks, or whose configuration a spec cannot
  hold (a config key the spec does not have, a value it refuses, shapes or weight counts that
  would differ from Keras'), becomes a ``KerasLayer`` node (``core/catalog/opaque.py``) that
  keeps its Keras class, module and config, and the reason is recorded in ``notes``;
- what NetBuilder cannot represent is refused with ``KerasImportError`` and a message naming the
  layer: Lambda layers (Python code), a layer called several times (shared weights), subclassed
  models, tensors passed as extra call arguments.

``import_source(source)`` reads ``.keras`` and ``.h5`` model files (``keras.saving.load_model``
with ``compile=False, safe_mode=True``), architecture-only ``.json`` files (``model.to_json()``)
and ``app:NAME`` (any constructor in ``keras.applications``), and returns a ``Project`` with an
automatic layout. Model files are checked for Lambda layers before Keras reads them. Where the
source has weights, ``project_path=`` saves them beside the project as
``<project stem>.weights.h5`` and records them in ``Project.weights``; ``build_model(graph,
weights_path=...)`` loads them back.

Every failure raises ``KerasImportError`` with a message for the user.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.atomic_write import write_atomically
from netbuilder.core.catalog import opaque
from netbuilder.core.catalog.base import (
    CONSTRAINTS,
    INITIALIZERS,
    REGULARIZERS,
    CatalogError,
    LayerSpec,
    Param,
    fmt_shape,
    snake_case,
    to_plain,
)
from netbuilder.core.catalog.core_layers import DTYPES
from netbuilder.core.graph import BLOCK_TYPE, Block, Graph, GraphError
from netbuilder.core.project import Project

APP_PREFIX = "app:"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".json")


class KerasImportError(Exception):
    """A model that cannot be imported; ``str(err)`` is a message for the user."""


class _Unrepresentable(Exception):
    """A layer whose configuration no catalog spec can hold: it is kept as a KerasLayer."""


# --- the functional graph ---------------------------------------------------------------------


def _keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return keras


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "_keras_history") and hasattr(value, "shape")


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _functional(model: Any) -> Any:
    """The functional graph of ``model`` (a Sequential's inner functional model)."""
    keras = _keras()
    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise KerasImportError(
                f"the Sequential model {model.name!r} has no input shape yet (it was never "
                "built or called); give it a keras.Input first")
        return fn
    if not hasattr(model, "_nodes_by_depth") or not hasattr(model, "operations"):
        raise KerasImportError(
            f"{model.name!r} is a subclassed Keras model ({type(model).__name__}); NetBuilder "
            "imports functional and Sequential models only")
    return model


def _weight_counts(layer: Any) -> tuple[int, int]:
    """(trainable, non-trainable) weights of ``layer`` as Keras counts them when the layer is
    trainable: whether a weight trains is fixed when it is made; freezing moves them all."""
    trainable = non_trainable = 0
    seen: set[int] = set()
    if not hasattr(layer, "_flatten_layers"):  # a Keras operation (x + y) has no weights
        return 0, 0
    for sub in layer._flatten_layers(include_self=True, recursive=True):
        for variables, is_trainable in ((sub._trainable_variables, True),
                                        (sub._non_trainable_variables, False)):
            for v in variables:
                if id(v) in seen:
                    continue
                seen.add(id(v))
                size = 1
                for d in v.shape:
                    size *= int(d)
                if is_trainable:
                    trainable += size
                else:
                    non_trainable += size
    return trainable, non_trainable


def _code_layer(layer: Any) -> str | None:
    for cls in type(layer).__mro__:
        if cls.__name__ in opaque.CODE_LAYERS:
            return cls.__name__
    return None


def _refuse_code_layer(name: str, class_name: str) -> KerasImportError:
    return KerasImportError(
        f"layer {name!r} is a {class_name} layer: it runs Python code stored in the model, "
        "which NetBuilder never imports (safe mode); rebuild it from standard layers (e.g. "
        "Rescaling, Activation, Reshape, Add) and import again")


_MISSING = object()


class _Importer:
    """Turns Keras models into graphs; collects notes on what was kept as a KerasLayer."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.block_names: set[str] = set()
        self._by_class = {s.class_name: s for s in catalog.all_specs() if s.type != opaque.TYPE}
        self._default_configs: dict[str, dict[str, Any]] = {}
        self._object_configs: dict[tuple[str, str], Any] = {}
        self._calls: dict[int, _Call] = {}
        self._noted: set[int] = set()

    # -- models -----------------------------------------------------------------------------

    def model_graph(self, model: Any, top: bool = True
                    ) -> tuple[Graph, list[str], list[tuple[str, int]]]:
        """The graph of ``model``, its input node ids and its output (node id, port)s."""
        keras = _keras()
        fn = _functional(model)
        where = f" in model {model.name!r}" if not top else ""
        nodes_of: dict[int, list[Any]] = {}
        for depth_nodes in fn._nodes_by_depth.values():
            for n in depth_nodes:
                nodes_of.setdefault(id(n.operation), []).append(n)
        ops = list(fn.operations)
        for op in ops:
            count = len(nodes_of.get(id(op), []))
            if count > 1:
                raise KerasImportError(
                    f"layer {op.name!r}{where} is called {count} times (it shares its weights "
                    "between calls); NetBuilder cannot represent a shared layer yet: give each "
                    "call its own layer")
        input_ops = []
        for i, t in enumerate(fn.inputs):
            op = t._keras_history.operation
            if not isinstance(op, keras.layers.InputLayer):
                raise KerasImportError(
                    f"input {i + 1} of {model.name!r} is not an Input layer; NetBuilder "
                    "imports models whose inputs are keras.Input tensors")
            input_ops.append(op)
        outputs = [(t._keras_history.operation, t._keras_history.tensor_index)
                   for t in fn.outputs]

        # which ops consume which: the sinks must come in the order of the model's outputs
        consumed: set[int] = set()
        for op in ops:
            for n in nodes_of.get(id(op), []):
                for t in n.input_tensors:
                    consumed.add(id(t._keras_history.operation))
        order = _reordered(ops, lambda op: isinstance(op, keras.layers.InputLayer), input_ops)
        sink_outputs = list(dict.fromkeys(op for op, _ in outputs if id(op) not in consumed))
        order = _reordered(order, lambda op: id(op) not in consumed
                           and not isinstance(op, keras.layers.InputLayer), sink_outputs)

        graph = Graph()
        ids: dict[int, str] = {}
        with graph.batch():
            for op in order:
                node = nodes_of[id(op)][0]
                ids[id(op)] = self._add(graph, op, node, where)
            for op in order:
                node = nodes_of[id(op)][0]
                self._connect(graph, op, node, ids, where)
        problems = graph.inference.errors()
        if problems:
            raise KerasImportError(f"importing {model.name!r} went wrong: {problems[0]}")
        input_ids = [ids[id(op)] for op in input_ops]
        output_ports = [(ids[id(op)], port) for op, port in outputs]
        if top:
            self._check_outputs(model, graph, output_ports)
        return graph, input_ids, output_ports

    def _check_outputs(self, model: Any, graph: Graph, outputs: list[tuple[str, int]]) -> None:
        sinks = [n.id for n in graph.outputs()]
        for i, (nid, port) in enumerate(outputs):
            name = graph.nodes[nid].name
            if port != 0:
                raise KerasImportError(
                    f"output {i + 1} of {model.name!r} is output {port} of layer {name!r}; "
                    "NetBuilder takes each output from a layer's first output")
            if nid not in sinks:
                raise KerasImportError(
                    f"output {i + 1} of {model.name!r} ({name!r}) also feeds other layers; "
                    "NetBuilder takes the layers that nothing consumes as the outputs")
        if [nid for nid, _ in outputs] != sinks:
            raise KerasImportError(f"the outputs of {model.name!r} cannot be kept in their order "
                                   "(one layer is output twice)")

    # -- nodes ------------------------------------------------------------------------------

    def _add(self, graph: Graph, layer: Any, node: Any, where: str) -> str:
        keras = _keras()
        try:
            if isinstance(layer, keras.layers.InputLayer):
                return graph.add_node("Input", self._input_params(layer), name=layer.name).id
            if isinstance(layer, keras.Model):
                sub, inputs, outputs = self.model_graph(layer, top=False)
                block_name = self._block_name(layer.name)
                kind = "sequential" if isinstance(layer, keras.Sequential) else "model"
                graph.add_block(Block(block_name, sub, inputs, outputs, kind=kind))
                return graph.add_node(BLOCK_TYPE, {"block": block_name}, name=layer.name,
                                      trainable=bool(getattr(layer, "trainable", True))).id
            code = _code_layer(layer)
            if code is not None:
                raise _refuse_code_layer(layer.name, code)
            try:
                if not isinstance(layer, keras.layers.Layer):
                    raise _Unrepresentable("a tensor operation, not a layer")
                layer_type, params = self._layer_params(layer, node, where)
            except _Unrepresentable as why:
                what = "layer" if isinstance(layer, keras.layers.Layer) else "operation"
                self.notes.append(f"{layer.name}{where}: {why}; kept as a Keras {what} "
                                  f"({type(layer).__name__}) with its full configuration")
                layer_type, params = opaque.TYPE, self._opaque_params(layer, node, where)
            return graph.add_node(layer_type, params, name=layer.name,
                                  trainable=bool(getattr(layer, "trainable", True))).id
        except GraphError as err:
            raise KerasImportError(f"layer {layer.name!r}{where}: {err}") from None

    def _block_name(self, name: str) -> str:
        block_name, i = name, 1
        while block_name in self.block_names:
            block_name = f"{name}_{i}"
            i += 1
        self.block_names.add(block_name)
        return block_name

    def _input_params(self, layer: Any) -> dict[str, Any]:
        cfg = layer.get_config()
        for flag in ("sparse", "ragged", "optional"):
            if cfg.get(flag):
                raise KerasImportError(f"input {layer.name!r} is {flag}; NetBuilder's inputs are "
                                       "dense tensors")
        dtype = cfg.get("dtype", "float32")
        if isinstance(dtype, Mapping):
            dtype = dtype.get("config", {}).get("name", "float32")
        if dtype not in DTYPES:
            raise KerasImportError(f"input {layer.name!r} has dtype {dtype}; NetBuilder's "
                                   f"inputs take {', '.join(DTYPES)}")
        batch_shape = cfg.get("batch_shape") or _shape(layer.output)
        return {"shape": list(batch_shape[1:]), "batch_size": batch_shape[0], "dtype": dtype}

    def _layer_params(self, layer: Any, node: Any, where: str) -> tuple[str, dict[str, Any]]:
        """The catalog type and parameters of ``layer``; ``_Unrepresentable`` says why not."""
        keras = _keras()
        cls = type(layer)
        spec = self._by_class.get(cls.__name__)
        if spec is None or getattr(keras.layers, spec.class_name, None) is not cls:
            raise _Unrepresentable(f"the catalog has no {cls.__name__} layer")
        tensors = self._spec_inputs(spec, layer, node, where)
        params = self._map_config(spec, layer.get_config(), layer)
        try:
            resolved = spec.resolve(params)
            json.dumps(spec.non_default(resolved))
        except CatalogError as err:
            raise _Unrepresentable(f"NetBuilder's {spec.type} does not take this setting: "
                                   f"{err}") from None
        except (TypeError, ValueError):
            raise _Unrepresentable("its configuration is not plain JSON") from None
        # the spec must agree with what Keras built, or the summary would lie
        shapes = [_shape(t) for t in tensors]
        want = [_shape(t) for t in node.outputs]
        counts = _weight_counts(layer)
        try:
            spec.check_arity(len(shapes))
            got = spec.infer(resolved, shapes)
        except CatalogError as err:
            raise _Unrepresentable(f"NetBuilder's {spec.type} refuses inputs "
                                   f"{', '.join(fmt_shape(s) for s in shapes)} that Keras "
                                   f"accepts ({err})") from None
        if [tuple(s) for s in got.outputs] != want or (got.trainable, got.non_trainable) != counts:
            raise _Unrepresentable(
                f"NetBuilder's {spec.type} gives {', '.join(fmt_shape(s) for s in got.outputs)} "
                f"with {got.trainable}/{got.non_trainable} weights where Keras gives "
                f"{', '.join(fmt_shape(s) for s in want)} with {counts[0]}/{counts[1]}")
        return spec.type, params

    def _map_config(self, spec: LayerSpec, cfg: Mapping[str, Any], layer: Any | None
                    ) -> dict[str, Any]:
        """Keras' config -> the spec's parameters (in their forms)."""
        params: dict[str, Any] = {}
        leftover: dict[str, Any] = {}
        for key, value in cfg.items():
            if key in ("name", "trainable"):
                continue
            if key == "dtype":
                policy = value.get("config", {}).get("name") if isinstance(value, Mapping) \
                    else value
                if policy not in (None, "float32"):
                    raise _Unrepresentable(f"its dtype policy is {policy!r} (NetBuilder builds "
                                           "float32 layers)")
                continue
            if spec.has_param(key):
                params[key] = self._param_value(spec.param(key), value)
                continue
            default = self._default_config(spec).get(key, _MISSING)
            if default is not _MISSING and _same(value, default):
                continue
            leftover[key] = value
        if leftover:
            self._check_leftover(spec, params, leftover, layer)
        return params

    def _check_leftover(self, spec: LayerSpec, params: dict[str, Any],
                        leftover: dict[str, Any], layer: Any | None) -> None:
        """Config keys the spec has no parameter for: fine where the layer the spec builds has
        the same value anyway (Bidirectional's backward layer), else unrepresentable."""
        from netbuilder.runtime.keras_layers import make_layer

        rebuilt: Mapping[str, Any] = {}
        try:
            rebuilt = make_layer(spec.type, params,
                                 None if layer is None else layer.name).get_config()
        except Exception:  # noqa: BLE001 - Keras refuses the values: not representable
            pass
        for key, value in leftover.items():  # inner layers' names are Keras' business
            if key not in rebuilt or not _same(_unnamed(rebuilt[key]), _unnamed(value)):
                raise _Unrepresentable(
                    f"NetBuilder's {spec.type} has no parameter for the Keras setting "
                    f"`{key}`={_short(value)}")

    def _default_config(self, spec: LayerSpec) -> dict[str, Any]:
        config = self._default_configs.get(spec.type)
        if config is None:
            from netbuilder.runtime.keras_layers import make_layer

            try:
                config = make_layer(spec.type, {p.name: p.default for p in spec.params
                                                 if p.required}).get_config()
            except Exception:  # noqa: BLE001 - no layer without settings: compare nothing
                config = {}
            self._default_configs[spec.type] = config
        return config

    def _param_value(self, param: Param, value: Any) -> Any:
        if param.kind in ("initializer", "regularizer", "constraint"):
            return self._keras_object(param.kind, value)
        if param.kind == "layer" and isinstance(value, Mapping) and "class_name" in value:
            inner = self._by_class.get(value["class_name"])
            if inner is None:
                raise _Unrepresentable(f"it wraps a {value['class_name']} layer, which the "
                                       "catalog lacks")
            inner_cfg = value.get("config") or {}
            out = {"type": inner.type, "params": self._map_config(inner, inner_cfg, None)}
            name = inner_cfg.get("name")
            if isinstance(name, str):  # Bidirectional names its copy "forward_" + the name
                out["name"] = name[len("forward_"):] if name.startswith("forward_") else name
            return out
        return value

    def _keras_object(self, kind: str, value: Any) -> Any:
        """A serialized initializer/regularizer/constraint, by name where it is the named one
        with Keras' default settings."""
        if not isinstance(value, Mapping) or not isinstance(value.get("class_name"), str):
            return value
        class_name = value["class_name"]
        config = dict(value.get("config") or {})
        names = {"initializer": INITIALIZERS, "regularizer": REGULARIZERS,
                 "constraint": CONSTRAINTS}[kind]
        name = snake_case(class_name)
        if name in names and _same(config, self._object_config(kind, name)):
            return name
        return {"class_name": class_name, "config": config}

    def _object_config(self, kind: str, name: str) -> Any:
        key = (kind, name)
        if key not in self._object_configs:
            keras = _keras()
            module = {"initializer": keras.initializers, "regularizer": keras.regularizers,
                      "constraint": keras.constraints}[kind]
            try:
                self._object_configs[key] = module.get(name).get_config()
            except Exception:  # noqa: BLE001
                self._object_configs[key] = _MISSING
        return self._object_configs[key]

    def _opaque_params(self, layer: Any, node: Any, where: str) -> dict[str, Any]:
        cls = type(layer)
        if not opaque.is_keras_module(cls.__module__):
            raise KerasImportError(
                f"layer {layer.name!r}{where} is a custom class {cls.__module__}."
                f"{cls.__name__}; NetBuilder imports Keras' own layers only (it never runs "
                "code from elsewhere)")
        try:
            config = {k: v for k, v in layer.get_config().items()
                      if k not in ("name", "trainable")}
            json.dumps(config)
        except (TypeError, ValueError, NotImplementedError):
            raise KerasImportError(f"{layer.name!r}{where} ({cls.__name__}) has a "
                                   "configuration that is not plain JSON") from None
        call, tensors = self._opaque_call(layer, node)
        trainable, non_trainable = _weight_counts(layer)
        return {"class_name": cls.__name__, "module": cls.__module__, "config": config,
                "call": call, "input_shapes": [list(_shape(t)) for t in tensors],
                "output_shapes": [list(_shape(t)) for t in node.outputs],
                "trainable_weights": trainable, "non_trainable_weights": non_trainable}

    # -- connections --------------------------------------------------------------------------

    def _call(self, layer: Any, node: Any) -> _Call:
        """How ``layer`` was called at ``node`` (cached per node)."""
        call = self._calls.get(id(node))
        if call is None:
            call = self._calls[id(node)] = _Call.of(layer, node)
        return call

    def _note_training(self, layer: Any, call: _Call, where: str) -> None:
        if "training" in call.plain and id(call) not in self._noted:
            self._noted.add(id(call))
            self.notes.append(
                f"{layer.name}{where}: called with training={call.plain['training']}; NetBuilder "
                "does not keep call arguments (a frozen BatchNormalization runs in inference "
                "mode anyway)")

    def _spec_inputs(self, spec: LayerSpec, layer: Any, node: Any, where: str) -> list[Any]:
        """The input tensors of a catalog layer in port order; ``_Unrepresentable`` when the
        call does not fit the spec (extra tensor or plain arguments)."""
        call = self._call(layer, node)
        other = {k: v for k, v in call.plain.items() if k != "training"}
        if other:
            raise _Unrepresentable("it is called with " + ", ".join(
                f"{k}={_short(v)}" for k, v in other.items()))
        arguments = call.tensors
        if spec.input_names:
            named = dict(arguments)
            given = [n for n in spec.input_names if n in named]
            if (set(named) != set(given) or given != list(spec.input_names[:len(given)])
                    or not all(_is_tensor(named[n]) for n in given)):
                raise _Unrepresentable(f"it is called with tensors for {', '.join(named)}")
            tensors = [named[n] for n in given]
        else:
            if len(arguments) != 1:
                raise _Unrepresentable(
                    f"it is called with tensors for {', '.join(k for k, _ in arguments)}")
            value = arguments[0][1]
            if spec.max_inputs == 1:
                if not _is_tensor(value):
                    raise _Unrepresentable("it is called on several tensors")
                tensors = [value]
            elif _is_tensor(value) or not isinstance(value, (list, tuple)) or not all(
                    _is_tensor(t) for t in value):
                raise _Unrepresentable("it is not called on a list of tensors")
            else:
                tensors = list(value)
        self._note_training(layer, call, where)
        return tensors

    def _opaque_call(self, layer: Any, node: Any) -> tuple[Any, list[Any]]:
        """The ``call`` parameter of a KerasLayer node and its input tensors in port order."""
        keras = _keras()
        call = self._call(layer, node)
        arguments = call.tensors
        if not isinstance(layer, keras.layers.Layer):  # x + y: replayed exactly as called
            arguments = []
        if not call.plain and len(arguments) == 1 and call.first == arguments[0][0]:
            value = arguments[0][1]
            if _is_tensor(value):
                return "single", [value]
            if isinstance(value, (list, tuple)) and all(_is_tensor(t) for t in value):
                return "list", list(value)
        if not call.plain and arguments and all(_is_tensor(v) for _, v in arguments) and (
                call.named):
            return [k for k, _ in arguments], [v for _, v in arguments]
        # anything else is replayed as it was: positional and keyword arguments, with the
        # tensors as slots and the plain values as they are
        tensors: list[Any] = []
        template = {"args": [_slot(a, tensors) for a in node.arguments.args],
                    "kwargs": {k: _slot(v, tensors) for k, v in node.arguments.kwargs.items()}}
        try:
            json.dumps(template)
        except (TypeError, ValueError):
            raise KerasImportError(
                f"{layer.name!r} ({type(layer).__name__}) is called with arguments that are not "
                "plain values") from None
        return template, tensors

    def _inputs(self, layer: Any, node: Any, graph: Graph, nid: str, where: str) -> list[Any]:
        keras = _keras()
        node_type = graph.nodes[nid].type
        if node_type == "Input":
            return []
        if node_type == opaque.TYPE:
            return self._opaque_call(layer, node)[1]
        if node_type == BLOCK_TYPE:
            call = self._call(layer, node)
            other = {k: v for k, v in call.plain.items() if k != "training"}
            if other or len(call.tensors) != 1:
                what = [f"{k}={_short(v)}" for k, v in other.items()] + [
                    f"tensors for {k}" for k, _ in call.tensors[1:]]
                raise KerasImportError(
                    f"model {layer.name!r}{where} is called with {', '.join(what)}; NetBuilder "
                    "passes a nested model its inputs only")
            self._note_training(layer, call, where)
            value = call.tensors[0][1]
            if isinstance(value, Mapping):
                names = [t._keras_history.operation.name for t in _functional(layer).inputs]
                if set(value) != set(names):
                    raise KerasImportError(f"model {layer.name!r}{where} is called with inputs "
                                           f"{sorted(value)}, expected {names}")
                return [value[n] for n in names]
            return keras.tree.flatten(value)
        return self._spec_inputs(catalog.get(node_type), layer, node, where)

    def _connect(self, graph: Graph, layer: Any, node: Any, ids: dict[int, str],
                 where: str) -> None:
        nid = ids[id(layer)]
        for port, tensor in enumerate(self._inputs(layer, node, graph, nid, where)):
            history = tensor._keras_history
            src = ids.get(id(history.operation))
            if src is None:
                raise KerasImportError(f"layer {layer.name!r}{where} takes a tensor from "
                                       "outside the model")
            try:
                graph.connect(src, nid, history.tensor_index, port)
            except GraphError as err:
                raise KerasImportError(f"layer {layer.name!r}{where}: {err}") from None


class _Call:
    """A call of a layer in the functional graph, by parameter name in the order of ``call``'s
    signature: ``tensors`` the arguments that hold tensors, ``plain`` the other arguments whose
    values differ from the signature's defaults (Keras fills in ``training`` and ``mask``
    itself); ``first`` the name of the first parameter; ``named`` whether every argument can be
    passed by keyword."""

    def __init__(self, tensors: list[tuple[str, Any]], plain: dict[str, Any], first: str,
                 named: bool) -> None:
        self.tensors = tensors
        self.plain = plain
        self.first = first
        self.named = named

    @classmethod
    def of(cls, layer: Any, node: Any) -> _Call:
        args, kwargs = node.arguments.args, node.arguments.kwargs
        try:
            sig = inspect.signature(layer.call)
            bound = sig.bind(*args, **kwargs)
        except (TypeError, ValueError):
            items = [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
            return cls([(k, v) for k, v in items if _has_tensor(v)],
                       {k: v for k, v in items if not _has_tensor(v) and v is not None},
                       "arg0", False)
        tensors: list[tuple[str, Any]] = []
        plain: dict[str, Any] = {}
        named = True
        for name, value in bound.arguments.items():
            param = sig.parameters[name]
            if param.kind is param.VAR_KEYWORD:
                items: list[tuple[str, Any]] = list(value.items())
            elif param.kind is param.VAR_POSITIONAL:
                items = [(name, v) for v in value]
                named = named and not value
            else:
                items = [(name, value)]
                named = named and param.kind is not param.POSITIONAL_ONLY
            for key, v in items:
                if _has_tensor(v):
                    tensors.append((key, v))
                    continue
                default = sig.parameters[key].default if key in sig.parameters else None
                if v is None or (default is not inspect.Parameter.empty and _same(v, default)):
                    continue
                plain[key] = v
        return cls(tensors, plain, next(iter(sig.parameters), "inputs"), named)


def _slot(value: Any, tensors: list[Any]) -> Any:
    """A call argument as JSON: tensors become ``{"tensor": index}`` (appended to
    ``tensors``), lists ``{"list": [...]}``, dicts ``{"dict": {...}}``, the rest
    ``{"value": v}``."""
    if _is_tensor(value):
        tensors.append(value)
        return {"tensor": len(tensors) - 1}
    if isinstance(value, (list, tuple)):
        return {"list": [_slot(v, tensors) for v in value]}
    if isinstance(value, Mapping):
        return {"dict": {str(k): _slot(v, tensors) for k, v in value.items()}}
    return {"value": value}


def _reordered(items: list[Any], selected: Any, wanted: Sequence[Any]) -> list[Any]:
    """``items`` with the places of the selected ones refilled in the order of ``wanted``
    (those of them that are selected), the rest after them."""
    ids = {id(w) for w in wanted}
    picked = [w for w in wanted if any(w is i for i in items)]
    rest = [i for i in items if selected(i) and id(i) not in ids]
    queue = iter(picked + rest)
    return [next(queue) if selected(i) else i for i in items]


def _has_tensor(value: Any) -> bool:
    if _is_tensor(value):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_tensor(v) for v in value)
    if isinstance(value, Mapping):
        return any(_has_tensor(v) for v in value.values())
    return False


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (tuples and lists alike)."""
    try:
        return to_plain(a) == to_plain(b)
    except Exception:  # noqa: BLE001 - e.g. numpy arrays: not equal to a default
        return False


def _unnamed(value: Any) -> Any:
    """``value`` without the names of the layers serialized inside it."""
    if isinstance(value, Mapping):
        return {k: _unnamed(v) for k, v in value.items() if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_unnamed(v) for v in value]
    return value


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def graph_from_keras(model: Any, notes: list[str] | None = None) -> Graph:
    """The graph of a functional or Sequential Keras model (see the module's docstring).

    Layers kept as ``KerasLayer`` nodes are explained in ``notes`` (appended to, when given).
    Raises ``KerasImportError`` for what NetBuilder cannot represent.
    """
    from netbuilder.runtime.keras_build import ensure_recursion_limit

    importer = _Importer()
    ensure_recursion_limit(len(getattr(model, "layers", [])))
    graph, _, _ = importer.model_graph(model)
    if notes is not None:
        notes.extend(importer.notes)
    return graph


# --- sources ----------------------------------------------------------------------------------


def application_names() -> list[str]:
    """Every model constructor in ``keras.applications`` (ResNet50, EfficientNetB7...)."""
    keras = _keras()
    return sorted(n for n in dir(keras.applications)
                  if n[:1].isupper() and callable(getattr(keras.applications, n)))


def _application_name(name: str) -> str:
    names = application_names()
    if name in names:
        return name
    folded = {n.lower(): n for n in names}
    if name.lower() in folded:
        return folded[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(folded), n=3, cutoff=0.6)
    hint = (f"; did you mean {', '.join('app:' + folded[c] for c in close)}?" if close else
            f"; available: {', '.join(names)}")
    raise KerasImportError(f"unknown Keras application {name!r}{hint}")


def _config_layers(config: Any) -> Iterator[tuple[str, str]]:
    """(class name, layer name) of every layer in a serialized model config, nested ones too."""
    if isinstance(config, Mapping):
        if isinstance(config.get("class_name"), str):
            inner = config.get("config")
            name = inner.get("name") if isinstance(inner, Mapping) else None
            yield config["class_name"], name if isinstance(name, str) else "?"
        for value in config.values():
            yield from _config_layers(value)
    elif isinstance(config, list):
        for value in config:
            yield from _config_layers(value)


def _refuse_code_in_config(config: Any) -> None:
    for class_name, name in _config_layers(config):
        if class_name in opaque.CODE_LAYERS:
            raise _refuse_code_layer(name, class_name)


def _file_config(path: Path) -> Any:
    """The model config stored in a .keras/.h5/.json file (None when there is none), read
    without Keras; ``KerasImportError`` when the file is damaged."""
    suffix = path.suffix.lower()
    if suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    raise KerasImportError(f"{path}: not a Keras model (no config.json inside)")
                return json.loads(archive.read("config.json").decode("utf-8"))
        except (zipfile.BadZipFile, EOFError):
            raise KerasImportError(f"{path}: not a valid .keras file (the archive is damaged "
                                   "or it is not a Keras model)") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise KerasImportError(f"{path}: its model config is damaged") from None
        except (OSError, zipfile.LargeZipFile) as err:
            raise KerasImportError(f"{path}: cannot read it: {err}") from None
    if suffix in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
                if raw is None:
                    keys = set(f.keys())
                    what = (" (it holds weights only; import the model file or its .json "
                            "architecture)" if keys else "")
                    raise KerasImportError(f"{path}: no model inside{what}")
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8")
                return json.loads(raw)
        except KerasImportError:
            raise
        except (OSError, ValueError) as err:
            raise KerasImportError(f"{path}: not a valid HDF5 model file (damaged, or not a "
                                   f"Keras model): {str(err).splitlines()[0]}") from None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KerasImportError(f"{path}: not a JSON text file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise KerasImportError(f"{path}: not valid JSON (line {err.lineno}, column "
                               f"{err.colno}: {err.msg}); expected model.to_json()") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _load_file(path: Path) -> tuple[Any, bool]:
    """(model, whether the file holds weights)."""
    if not path.exists():
        raise KerasImportError(f"{path}: no such file")
    if path.is_dir():
        raise KerasImportError(f"{path}: is a folder; expected a .keras, .h5 or .json model "
                               "file (a TensorFlow SavedModel folder cannot be imported)")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise KerasImportError(f"{path}: unsupported file type {path.suffix or '(none)'}; "
                               "expected a .keras, .h5 or .json model file, or app:NAME")
    config = _file_config(path)
    if not isinstance(config, Mapping) or not isinstance(config.get("class_name"), str):
        raise KerasImportError(f"{path}: not a Keras model (no model config)")
    _refuse_code_in_config(config)
    keras = _keras()
    try:
        if suffix == ".json":
            from keras.src.saving import serialization_lib

            with serialization_lib.SafeModeScope(True):
                model = serialization_lib.deserialize_keras_object(dict(config), safe_mode=True)
        else:
            model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except KerasImportError:
        raise
    except Exception as err:  # noqa: BLE001 - Keras raises many kinds
        raise KerasImportError(f"{path}: Keras cannot load this model: {_first_line(err)}"
                               ) from None
    if not isinstance(model, keras.Model):
        raise KerasImportError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    return model, suffix != ".json"


@contextmanager
def _offline_weights() -> Iterator[None]:
    """Let Keras Applications use weights from Keras' cache only: a file not in the cache is a
    clear error instead of a download attempt."""
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def cached_only(fname: Any = None, origin: Any = None, *args: Any, **kwargs: Any) -> Any:
        cache_dir = kwargs.get("cache_dir")
        subdir = kwargs.get("cache_subdir", "datasets")
        if cache_dir is None:
            from keras.src.backend.config import keras_home

            cache_dir = keras_home()
        name = fname or (os.path.basename(origin) if origin else "")
        path = Path(cache_dir).expanduser() / subdir / name
        if not path.is_file():
            raise KerasImportError(
                f"the ImageNet weights are not in Keras' cache ({path} is missing) and "
                "NetBuilder does not download them; copy that file there, pass a weights file "
                "(--weights FILE), or use --weights none")
        return original(fname, origin, *args, **kwargs)

    file_utils.get_file = cached_only
    try:
        yield
    finally:
        file_utils.get_file = original


def _load_application(name: str, *, include_top: bool, input_shape: Sequence[int] | None,
                      pooling: str | None, weights: str | None, classes: int | None
                      ) -> tuple[Any, bool]:
    keras = _keras()
    app = _application_name(name)
    kwargs: dict[str, Any] = {"include_top": include_top}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    if pooling is not None:
        if pooling not in ("avg", "max"):
            raise KerasImportError(f"pooling must be 'avg' or 'max', got {pooling!r}")
        kwargs["pooling"] = pooling
    if classes is not None:
        kwargs["classes"] = classes
    if weights is None or str(weights).lower() == "none":
        kwargs["weights"] = None
    elif weights == "imagenet":
        kwargs["weights"] = "imagenet"
    else:
        path = Path(weights)
        if not path.is_file():
            raise KerasImportError(f"weights file {weights} not found (use none, imagenet or "
                                   "a weights file)")
        kwargs["weights"] = str(path)
    try:
        with _offline_weights():
            model = getattr(keras.applications, app)(**kwargs)
    except KerasImportError:
        raise
    except Exception as err:  # noqa: BLE001 - Keras' ValueErrors explain bad combinations
        raise KerasImportError(f"app:{app}: {_first_line(err)}") from None
    return model, kwargs["weights"] is not None


# --- weights ----------------------------------------------------------------------------------


def weights_file_for(project_path: str | os.PathLike[str]) -> Path:
    """``<project stem>.weights.h5`` beside the project file."""
    path = Path(project_path)
    return path.with_name(f"{path.stem}.weights.h5")


def _copy_weights(source: Any, target: Any) -> None:
    """Give every layer of ``target`` the weights of the layer of the same name in ``source``
    (nested models recursively)."""
    keras = _keras()
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        original = by_name.get(layer.name)
        if original is None:
            if layer.weights:
                raise KerasImportError(f"layer {layer.name!r} has no weights in the source")
            continue
        if isinstance(layer, keras.Model) and isinstance(original, keras.Model):
            _copy_weights(original, layer)
            continue
        values = original.get_weights()
        if len(values) != len(layer.weights):
            raise KerasImportError(f"layer {layer.name!r}: {len(values)} weight arrays in the "
                                   f"source, {len(layer.weights)} in the rebuilt model")
        layer.set_weights(values)


def save_weights(graph: Graph, model: Any, path: str | os.PathLike[str],
                 name: str = "model") -> None:
    """Save ``model``'s weights as a ``.weights.h5`` file that ``build_model(graph,
    weights_path=path)`` loads: the weights go into the model built from ``graph`` and are saved
    from there, so the file's layout is the build's (atomically: a failure leaves no file)."""
    from netbuilder.runtime.keras_build import BuildError, build_model

    path = Path(path)
    try:
        built = build_model(graph, name=name)
    except BuildError as err:
        raise KerasImportError(f"cannot rebuild the model to save its weights: {err}") from None
    _copy_weights(model, built)
    try:
        write_atomically(path, lambda tmp: built.save_weights(str(tmp)), suffix=".weights.h5")
    except Exception as err:  # noqa: BLE001
        raise KerasImportError(f"cannot save the weights to {path}: {_first_line(err)}"
                               ) from None


# --- the whole import -------------------------------------------------------------------------


def import_source(source: str, *, include_top: bool = True,
                  input_shape: Sequence[int] | None = None, pooling: str | None = None,
                  weights: str | None = None, classes: int | None = None,
                  project_path: str | os.PathLike[str] | None = None) -> Project:
    """A project from a Keras model file (.keras, .h5, .json) or ``app:NAME``.

    ``include_top``, ``input_shape``, ``pooling``, ``weights`` (None/"none", "imagenet" from
    Keras' cache only, or a weights file) and ``classes`` are the Keras Applications' arguments.
    With ``project_path``, the source's weights (a model file's, or an application's when
    ``weights`` is set) are saved beside it as ``<stem>.weights.h5`` and recorded in
    ``Project.weights``; the project itself is not written (``core.project.save``).
    Raises ``KerasImportError``.
    """
    source = str(source)
    is_app = source.startswith(APP_PREFIX)
    if not is_app:
        options = {"include_top": not include_top, "input_shape": input_shape is not None,
                   "pooling": pooling is not None, "weights": weights is not None,
                   "classes": classes is not None}
        used = [k for k, v in options.items() if v]
        if used:
            raise KerasImportError(f"{', '.join(used)} apply to app:NAME sources only")
        model, has_weights = _load_file(Path(source))
    else:
        model, has_weights = _load_application(
            source[len(APP_PREFIX):], include_top=include_top, input_shape=input_shape,
            pooling=pooling, weights=weights, classes=classes)
    notes: list[str] = []
    graph = graph_from_keras(model, notes)
    apply_layout(graph)
    kind = "Keras application" if is_app else "Keras model"
    project = Project(graph, name=model.name,
                      description=f"Imported from the {kind} {source}.")
    imported: dict[str, Any] = {"source": source}
    if notes:
        imported["notes"] = notes
    project.settings["imported"] = imported
    if project_path is not None and has_weights:
        target = weights_file_for(project_path)
        save_weights(graph, model, target, name=model.name)
        project.weights = target.name
    return project


def apply_layout(graph: Graph) -> None:
    """Give ``graph`` and every block inside it an automatic layout."""
    from netbuilder.core.layout import auto_layout

    seen: set[int] = set()

    def visit(g: Graph) -> None:
        if id(g) in seen:
            return
        seen.add(id(g))
        for nid, position in auto_layout(g).items():
            g.move(nid, position)
        for block in g.blocks.values():
            visit(block.graph)

    visit(graph)


def import_to_file(source: str, project_path: str | os.PathLike[str], **options: Any
                   ) -> Project:
    """Import ``source`` and write the project to ``project_path`` (exactly that path), with
    its weights beside it where the source has them."""
    from netbuilder.core.project import ProjectError, save

    folder = Path(project_path).parent
    if not folder.is_dir():
        raise KerasImportError(f"cannot write {project_path}: the folder {folder} does not "
                               "exist")
    project = import_source(source, project_path=project_path, **options)
    try:
        save(project, project_path)
    except ProjectError as err:
        raise KerasImportError(str(err)) from None
    return project


_SHAPE_RE = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*,?\s*$")


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"224,224,3"`` -> ``(224, 224, 3)``; ``KerasImportError`` for anything else."""
    if not _SHAPE_RE.match(text):
        raise KerasImportError(f"--input-shape must be sizes separated by commas, e.g. "
                               f"224,224,3; got {text!r}")
    return tuple(int(part) for part in text.split(",") if part.strip())
