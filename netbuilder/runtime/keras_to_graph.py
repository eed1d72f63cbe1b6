"""A Keras model as a NetBuilder graph.

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

``application_block(app)`` is a Keras Application as a block: its layers, imported the same way.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.blocks import Block
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
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError
from netbuilder.core.layout import auto_layout
from netbuilder.runtime import applications
from netbuilder.runtime.keras_build import ensure_recursion_limit
from netbuilder.runtime.keras_layers import make_layer
from netbuilder.runtime.keras_loader import load_keras


class KerasImportError(Exception):
    """A model that cannot be imported; ``str(err)`` is a message for the user."""


class _Unrepresentable(Exception):
    """A layer whose configuration no catalog spec can hold: it is kept as a KerasLayer."""


# --- the functional graph ---------------------------------------------------------------------


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "_keras_history") and hasattr(value, "shape")


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _functional(model: Any) -> Any:
    """The functional graph of ``model`` (a Sequential's inner functional model)."""
    keras = load_keras()
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


def code_layer_error(name: str, class_name: str) -> KerasImportError:
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
        keras = load_keras()
        fn = _functional(model)
        where = f" in model {model.name!r}" if not top else ""
        # every call of every operation: a layer called several times (a shared layer) is one
        # node per call, the later calls sharing the first one's layer
        in_model = {id(n) for depth in fn._nodes_by_depth.values() for n in depth}
        ops = list(fn.operations)
        sites: dict[tuple[int, int], _Site] = {}
        for op in ops:
            again = False
            for index, n in enumerate(getattr(op, "_inbound_nodes", [])):
                if id(n) in in_model:
                    sites[(id(op), index)] = _Site(op, index, n, again)
                    again = True
        input_sites = []
        for i, t in enumerate(fn.inputs):
            history = t._keras_history
            if not isinstance(history.operation, keras.layers.InputLayer):
                raise KerasImportError(
                    f"input {i + 1} of {model.name!r} is not an Input layer; NetBuilder "
                    "imports models whose inputs are keras.Input tensors")
            input_sites.append(sites[(id(history.operation), history.node_index)])
        outputs = [(sites[(id(h.operation), h.node_index)], h.tensor_index)
                   for h in (t._keras_history for t in fn.outputs)]

        # which calls consume which: the sinks must come in the order of the model's outputs
        consumed: set[tuple[int, int]] = set()
        for site in sites.values():
            for t in site.node.input_tensors:
                consumed.add((id(t._keras_history.operation), t._keras_history.node_index))
        order = _reordered(list(sites.values()), lambda s: s.is_input(keras), input_sites)
        sink_outputs = list({id(s): s for s, _ in outputs if s.key not in consumed}.values())
        order = _reordered(order, lambda s: s.key not in consumed and not s.is_input(keras),
                           sink_outputs)

        graph = Graph()
        ids: dict[tuple[int, int], str] = {}
        owners: dict[int, str] = {}
        with graph.batch():
            for site in order:
                if not site.again:
                    ids[site.key] = owners[id(site.op)] = self._add(graph, site.op, site.node,
                                                                    where)
            for site in order:  # later calls after every layer: their names never clash
                if site.again:
                    ids[site.key] = self._add_call(graph, site, owners[id(site.op)], where)
            for site in order:
                self._connect(graph, site, ids, where)
        problems = graph.inference.errors()
        if problems:
            raise KerasImportError(f"importing {model.name!r} went wrong: {problems[0]}")
        input_ids = [ids[site.key] for site in input_sites]
        output_ports = [(ids[site.key], port) for site, port in outputs]
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
        keras = load_keras()
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
                raise code_layer_error(layer.name, code)
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

    def _add_call(self, graph: Graph, site: _Site, owner: str, where: str) -> str:
        """A later call of a shared layer (or of a nested model: another instance of its
        block, which the build shares): a node sharing ``owner``'s layer."""
        first = graph.nodes[owner]
        name = graph.unique_name(f"{first.name}_call{site.index + 1}")
        try:
            if first.type == BLOCK_TYPE:
                return graph.add_node(BLOCK_TYPE, first.params, name=name,
                                      trainable=first.trainable).id
            return graph.add_node(first.type, name=name, shares=owner).id
        except GraphError as err:
            raise KerasImportError(f"layer {site.op.name!r}{where}: {err}") from None

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
        keras = load_keras()
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
            keras = load_keras()
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
        keras = load_keras()
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
        keras = load_keras()
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

    def _connect(self, graph: Graph, site: _Site, ids: dict[tuple[int, int], str],
                 where: str) -> None:
        layer, nid = site.op, ids[site.key]
        try:
            inputs = self._inputs(layer, site.node, graph, nid, where)
        except _Unrepresentable as why:  # a later call of a shared layer called otherwise
            raise KerasImportError(f"layer {layer.name!r}{where}: call {site.index + 1} does "
                                   f"not fit its first call ({why})") from None
        for port, tensor in enumerate(inputs):
            history = tensor._keras_history
            src = ids.get((id(history.operation), history.node_index))
            if src is None:
                raise KerasImportError(f"layer {layer.name!r}{where} takes a tensor from "
                                       "outside the model")
            try:
                graph.connect(src, nid, history.tensor_index, port)
            except GraphError as err:
                raise KerasImportError(f"layer {layer.name!r}{where}: {err}") from None


class _Site:
    """One call of an operation in a functional graph: ``node`` is the Keras node, ``index`` its
    place in the operation's ``_inbound_nodes``; ``again`` for a later call of a layer called
    before (a shared layer)."""

    def __init__(self, op: Any, index: int, node: Any, again: bool) -> None:
        self.op, self.index, self.node, self.again = op, index, node, again
        self.key = (id(op), index)

    def is_input(self, keras: Any) -> bool:
        return isinstance(self.op, keras.layers.InputLayer)


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
    importer = _Importer()
    ensure_recursion_limit(len(getattr(model, "layers", [])))
    graph, _, _ = importer.model_graph(model)
    if notes is not None:
        notes.extend(importer.notes)
    return graph


def application_block(app: Mapping[str, Any], taken: Sequence[str] = ()) -> Block:
    """A Block for the Keras Application ``app``: its layers imported from Keras (built with
    ``weights=None``: nothing is read or downloaded), named after the model (``vgg16``, or
    ``vgg16_1`` when ``taken`` has that name). ``applications.ApplicationError`` says what is
    wrong."""
    app = applications.check_arguments(app)
    model = applications.make_model(app, weights=None)
    ensure_recursion_limit(len(model.layers))
    importer = _Importer()
    try:
        sub, inputs, outputs = importer.model_graph(model, top=False)
    except KerasImportError as err:
        raise applications.ApplicationError(f"{app['name']}: {err}") from None
    for nid, position in auto_layout(sub).items():
        sub.move(nid, position)
    name, i = model.name, 1
    while name in taken:
        name = f"{model.name}_{i}"
        i += 1
    return Block(name, sub, inputs, outputs, kind="model", application=app)
