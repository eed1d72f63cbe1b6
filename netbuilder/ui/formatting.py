"""Text shown for shapes, counts and parameter values (what the user types is read by
core.param_text).

No Qt here: the canvas, the inspector and the summary panel share these, and the tests call them
directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from netbuilder.core.catalog import LayerSpec, fmt_shape
from netbuilder.core.catalog.base import to_plain

# Key parameters shown without their name on a node: the value says what it is ("32 · 3×3").
_BARE = {"filters", "units", "kernel_size", "pool_size", "activation", "padding", "size",
         "interpolation", "mode", "target_shape", "dims", "shape", "merge_mode"}
# Non-key parameters worth showing on the node when they differ from the default.
_EXTRA = ("strides", "padding", "dilation_rate", "activation", "interpolation")


def shape_text(shape: Sequence[int | None]) -> str:
    """Keras' form: ``(None, 26, 26, 32)``."""
    return fmt_shape(shape)


def outputs_text(outputs: Sequence[Sequence[int | None]] | None) -> str:
    if outputs is None:
        return "?"
    return ", ".join(shape_text(s) for s in outputs)


def compact_shape(shape: Sequence[int | None]) -> str:
    """A short form for edge labels, batch dimension left out: ``26×26×32``."""
    dims = ["?" if d is None else str(d) for d in shape[1:]]
    return "×".join(dims) if dims else "scalar"


def number_text(value: Any, missing: str = "nan") -> str:
    """A metric or statistic: four decimals, or two significant digits in exponent form when
    tiny (``1.23e-05``); ``missing`` for None; what is not a float as it is."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def dims_text(shape: Sequence[Any]) -> str:
    """Sizes joined by ×, None as ?: ``26×26×32``."""
    return "×".join("?" if v is None else str(v) for v in shape)


def params_text(n: int) -> str:
    return "no params" if n == 0 else f"{n:,} param{'s' if n != 1 else ''}"


def _tuple_text(value: Sequence[Any]) -> str:
    items = ["None" if v is None else str(v) for v in value]
    return "×".join(items)


def _is_neutral(name: str, value: Any) -> bool:
    """Values not worth a place on a node: off, none, one step, no activation."""
    if value is None or value is False:
        return True
    if name in ("strides", "dilation_rate", "size", "depth_multiplier") and (
            value == 1 or (isinstance(value, tuple) and all(v == 1 for v in value))):
        return True
    return name == "activation" and value == "linear"


def _value_text(name: str, value: Any) -> str:
    if value is True:
        return name
    if isinstance(value, tuple):
        if value and all(isinstance(v, (int, type(None))) for v in value):
            text = _tuple_text(value)
            if name in ("strides",):
                text = f"stride {value[0]}" if len(set(value)) == 1 else f"stride {text}"
            elif name == "dilation_rate":
                text = f"dilation {value[0]}" if len(set(value)) == 1 else f"dilation {text}"
        else:
            text = json.dumps(to_plain(value))
    elif isinstance(value, Mapping):
        text = str(value.get("type") or value.get("class_name") or "…")
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    if name in _BARE or name in ("strides", "dilation_rate"):
        return text
    return f"{name} {text}"


def key_params_text(spec: LayerSpec, params: Mapping[str, Any]) -> str:
    """The one-line digest of a layer's configuration: ``32 · 3×3 · same · relu``."""
    names = list(spec.key_params)
    for extra in _EXTRA:
        if extra not in names and spec.has_param(extra):
            param = spec.param(extra)
            if params.get(extra) != param.normalize(param.default):
                names.append(extra)
    # order: what the layer computes, then how (stride, padding), then the activation
    names.sort(key=lambda n: (n == "activation", n in ("strides", "dilation_rate", "padding")))
    parts = []
    for name in names:
        if name not in params or _is_neutral(name, params[name]):
            continue
        parts.append(_value_text(name, params[name]))
    return " · ".join(parts)
