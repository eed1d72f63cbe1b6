"""Make Keras layer objects from catalog specs and parameter values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.catalog import opaque
from netbuilder.core.catalog.base import to_plain as thaw


def make_layer(layer_type: str, params: Mapping[str, Any] | None = None,
               name: str | None = None) -> Any:
    """A ``keras.layers.Layer`` for ``layer_type`` with ``params`` (validated by the catalog).

    Raises ``catalog.ParamError`` for values the catalog refuses, and whatever Keras raises for
    values that Keras refuses.
    """
    import keras

    spec = catalog.get(layer_type)
    if layer_type == opaque.TYPE:
        return make_opaque_layer(spec.resolve(params), name)
    kwargs = spec.kwargs(spec.resolve(params))
    for p in spec.params:
        value = kwargs.get(p.name)
        if p.kind == "layer" and value is not None:
            kwargs[p.name] = make_layer(value["type"], value.get("params"), value.get("name"))
    cls = getattr(keras.layers, spec.class_name)
    return cls(name=name, **kwargs)


def opaque_class(class_name: str, module: str) -> Any:
    """The Keras layer (or operation) class ``module.class_name``; only Keras' own modules are
    looked in, and layers that run code stored with them are refused (``catalog.LayerError``)."""
    import importlib

    from keras.src.ops.operation import Operation

    opaque.check_reference(class_name, module)
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise catalog.LayerError(
            f"KerasLayer {class_name}: this Keras has no module {module!r}",
            "use the Keras version the model was made with") from None
    cls = getattr(mod, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Operation)):
        raise catalog.LayerError(f"KerasLayer: {module}.{class_name} is not a Keras layer class",
                                 "import the model again")
    for base in cls.__mro__:  # a subclass of Lambda runs code just the same
        if base.__name__ in opaque.CODE_LAYERS:
            opaque.check_reference(base.__name__, module)
    return cls


def make_opaque_layer(params: Mapping[str, Any], name: str | None = None) -> Any:
    """Build a ``KerasLayer`` node's layer again from its class and config, in Keras' safe mode
    (nothing in the config can run code)."""
    from keras.src.saving import serialization_lib

    cls = opaque_class(params["class_name"], params["module"])
    config = thaw(params["config"])
    if not isinstance(config, dict):
        raise catalog.LayerError(f"KerasLayer {params['class_name']}: config must be an object",
                                 "import the model again")
    config.pop("trainable", None)
    config["name"] = name if name is not None else config.get("name")
    if config["name"] is None:
        del config["name"]
    with serialization_lib.SafeModeScope(True):
        return cls.from_config(config)


def call_opaque(params: Mapping[str, Any], layer: Any, args: Sequence[Any]) -> Any:
    """Call a ``KerasLayer`` node's layer on its input tensors the way it was called in Keras;
    several outputs come back as a flat list (Keras' order)."""
    import keras

    out = _call_opaque(params, layer, args)
    return out if keras.backend.is_keras_tensor(out) else keras.tree.flatten(out)


def _call_opaque(params: Mapping[str, Any], layer: Any, args: Sequence[Any]) -> Any:
    call = params.get("call", "single")
    if call == "single":
        if len(args) != 1:
            raise catalog.LayerError(
                f"KerasLayer {params['class_name']} is called on one tensor, got {len(args)}")
        return layer(args[0])
    if call == "list":
        return layer(list(args))
    if isinstance(call, Mapping) and set(call) <= {"args", "kwargs"}:
        tensors = list(args)
        positional = [_unslot(v, tensors) for v in call.get("args", [])]
        named = {str(k): _unslot(v, tensors) for k, v in dict(call.get("kwargs", {})).items()}
        return layer(*positional, **named)
    if isinstance(call, (list, tuple)) and all(isinstance(n, str) for n in call):
        if len(call) != len(args):
            raise catalog.LayerError(
                f"KerasLayer {params['class_name']} takes tensors {', '.join(call)}, got "
                f"{len(args)}")
        return layer(**dict(zip(call, args)))
    raise catalog.LayerError(f"KerasLayer {params['class_name']}: unknown call form {call!r}",
                             "import the model again")


def _unslot(slot: Any, tensors: list[Any]) -> Any:
    """A call argument from its JSON form (``keras_import``'s slots): ``{"tensor": i}``,
    ``{"list": [...]}``, ``{"dict": {...}}`` or ``{"value": v}``."""
    if isinstance(slot, Mapping) and len(slot) == 1:
        (kind, value), = slot.items()
        if kind == "tensor" and isinstance(value, int) and 0 <= value < len(tensors):
            return tensors[value]
        if kind == "list" and isinstance(value, (list, tuple)):
            return [_unslot(v, tensors) for v in value]
        if kind == "dict" and isinstance(value, Mapping):
            return {k: _unslot(v, tensors) for k, v in value.items()}
        if kind == "value":
            return thaw(value)
    raise catalog.LayerError(f"KerasLayer: invalid call argument {slot!r}",
                             "import the model again")
