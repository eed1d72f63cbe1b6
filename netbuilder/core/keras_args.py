"""A layer's constructor arguments as Keras users write them: the leading required ones
positionally (``layers.Conv2D(32, 3, activation="relu")``), then only the keywords that differ
from Keras' defaults; initializers, regularizers and constraints by name when a name means the
same object.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.catalog import opaque
from netbuilder.core.catalog.base import LayerSpec, Param, snake_case
from netbuilder.core.code_format import call, kw, literal, str_literal

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
        return call(f"keras.{module}.get", [literal(dict(value))])
    return call(f"keras.{module}.{cls}", [kw(k, literal(v)) for k, v in config.items()])


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


def param_expr(p: Param, value: Any) -> list[Any]:
    if p.kind == "ints" and p.length and isinstance(value, (list, tuple)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and v == value[0] for v in value):
        return [str(value[0])]  # kernel_size=(3, 3) is written 3, as Keras users do
    if p.kind in _KERAS_MODULES and value is not None:
        obj = _keras_object(p.kind, value)
        return [str_literal(obj)] if isinstance(obj, str) else obj
    if p.kind == "layer":
        inner = catalog.get(value["type"])
        resolved = inner.resolve(value.get("params"))
        name = value.get("name")
        args = layer_args(inner, resolved)
        if name is not None:
            args.append(kw("name", [str_literal(name)]))
        return call(f"layers.{inner.class_name}", args)
    return literal(value)


def layer_args(spec: LayerSpec, params: Mapping[str, Any],
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
        rendered = [exprs[p.name]] if p.name in exprs else param_expr(p, value)
        if p.name in positional and in_order:
            args.append(rendered)
        else:
            keywords.append(kw(p.name, rendered))
    return args + keywords
