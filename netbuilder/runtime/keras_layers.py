"""Make Keras layer objects from catalog specs and parameter values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core import catalog


def make_layer(layer_type: str, params: Mapping[str, Any] | None = None,
               name: str | None = None) -> Any:
    """A ``keras.layers.Layer`` for ``layer_type`` with ``params`` (validated by the catalog).

    Raises ``catalog.ParamError`` for values the catalog refuses, and whatever Keras raises for
    values that Keras refuses.
    """
    import keras

    spec = catalog.get(layer_type)
    kwargs = spec.kwargs(spec.resolve(params))
    for p in spec.params:
        value = kwargs.get(p.name)
        if p.kind == "layer" and value is not None:
            kwargs[p.name] = make_layer(value["type"], value.get("params"), value.get("name"))
    cls = getattr(keras.layers, spec.class_name)
    return cls(name=name, **kwargs)
