"""The layer catalog: one declarative spec per Keras layer type, grouped by family.

Every module in this package except the helpers registers its specs on import; adding a layer is
adding one spec to its family's module.
"""

from __future__ import annotations

import importlib
import pkgutil

from netbuilder.core.catalog.base import (
    CatalogError,
    Inferred,
    LayerError,
    LayerSpec,
    Param,
    ParamError,
    Shape,
    fmt_shape,
    registry,
)

_HELPER_MODULES = {"base", "shared_params", "conv_arithmetic"}

# Palette order of the families; families not listed come after, alphabetically.
FAMILY_ORDER = (
    "Core", "Convolution", "Pooling", "Normalization", "Regularization", "Reshaping",
    "Merging", "Activation", "Recurrent", "Attention", "Preprocessing", "Augmentation", "Other",
)

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name not in _HELPER_MODULES:
        importlib.import_module(f"{__name__}.{_info.name}")


def get(layer_type: str) -> LayerSpec:
    """The spec of ``layer_type``; raises ``CatalogError`` naming the unknown type."""
    try:
        return registry()[layer_type]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(layer_type, list(registry()), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise CatalogError(f"unknown layer type {layer_type!r}{hint}") from None


def has(layer_type: str) -> bool:
    return layer_type in registry()


def all_specs() -> list[LayerSpec]:
    """Every spec, in palette order (family, then registration order)."""
    rank = {f: i for i, f in enumerate(FAMILY_ORDER)}
    specs = list(registry().values())
    return sorted(specs, key=lambda s: (rank.get(s.family, len(rank)), s.family))


def families() -> list[str]:
    seen: list[str] = []
    for spec in all_specs():
        if spec.family not in seen:
            seen.append(spec.family)
    return seen


__all__ = [
    "CatalogError", "Inferred", "LayerError", "LayerSpec", "Param", "ParamError", "Shape",
    "all_specs", "families", "fmt_shape", "get", "has",
]
