"""Check catalog specs against Keras itself: same output shapes, same parameter counts, and an
error exactly where Keras refuses.

Family tests call ``check_layer(layer_type, params, input_shapes)`` from hypothesis tests whose
parameters come from ``params_strategy(spec, ...)`` and whose input shapes they draw themselves.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hypothesis import strategies as st  # noqa: E402

from netbuilder.core import catalog  # noqa: E402
from netbuilder.core.catalog.base import (  # noqa: E402
    ACTIVATIONS,
    CONSTRAINTS,
    INITIALIZERS,
    REGULARIZERS,
    CatalogError,
    LayerSpec,
    Param,
)


@dataclass
class Outcome:
    outputs: list[tuple[Any, ...]] = field(default_factory=list)
    trainable: int = 0
    non_trainable: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def ours(layer_type: str, params: dict[str, Any], input_shapes: list[tuple[Any, ...]]) -> Outcome:
    spec = catalog.get(layer_type)
    try:
        resolved = spec.resolve(params)
        spec.check_arity(len(input_shapes))
        result = spec.infer(resolved, [tuple(s) for s in input_shapes])
    except CatalogError as err:
        return Outcome(error=str(err))
    return Outcome([tuple(s) for s in result.outputs], result.trainable, result.non_trainable)


def call_layer(spec: LayerSpec, layer: Any, tensors: list[Any]) -> Any:
    """Call a Keras layer the way its spec's inputs are wired."""
    if spec.input_names:
        if len(tensors) > len(spec.input_names):
            raise ValueError(f"{spec.type} takes at most {len(spec.input_names)} inputs")
        return layer(**dict(zip(spec.input_names, tensors)))
    if spec.max_inputs == 1:
        return layer(tensors[0])
    return layer(tensors)


def theirs(layer_type: str, params: dict[str, Any], input_shapes: list[tuple[Any, ...]],
           dtype: str = "float32") -> Outcome:
    import keras
    import numpy as np

    from netbuilder.runtime.keras_layers import make_layer

    spec = catalog.get(layer_type)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = make_layer(layer_type, params)
            tensors = [keras.Input(batch_shape=tuple(s), dtype=dtype) for s in input_shapes]
            out = call_layer(spec, layer, tensors)
    except CatalogError as err:  # the catalog refused the parameters before Keras saw them
        return Outcome(error=f"(catalog) {err}")
    except Exception as err:  # noqa: BLE001 - any Keras refusal counts as an error
        return Outcome(error=f"{type(err).__name__}: {err}")
    outs = out if isinstance(out, (list, tuple)) else [out]
    count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    return Outcome([tuple(o.shape) for o in outs], count(layer.trainable_weights),
                   count(layer.non_trainable_weights))


CHECKED: dict[str, set[bool]] = {}
"""Layer type -> the outcomes seen (True: accepted, False: refused), for the coverage test."""


def check_layer(layer_type: str, params: dict[str, Any], input_shapes: list[tuple[Any, ...]],
                dtype: str = "float32") -> Outcome:
    """Assert that the catalog and Keras agree on ``layer_type(params)(inputs)``."""
    outcome = _check_layer(layer_type, params, input_shapes, dtype)
    CHECKED.setdefault(layer_type, set()).add(outcome.ok)
    return outcome


def _check_layer(layer_type: str, params: dict[str, Any], input_shapes: list[tuple[Any, ...]],
                 dtype: str) -> Outcome:
    mine = ours(layer_type, params, input_shapes)
    keras_side = theirs(layer_type, params, input_shapes, dtype)
    case = f"{layer_type}({params}) on {input_shapes}"
    if keras_side.error and keras_side.error.startswith("(catalog)"):
        # The catalog refused the parameters itself; Keras must refuse them too.
        keras_side = _keras_raw(layer_type, params, input_shapes, dtype)
        assert not keras_side.ok, f"{case}: catalog refused ({mine.error}) but Keras accepts it"
        return mine
    assert mine.ok == keras_side.ok, (
        f"{case}: catalog says {mine.error or mine.outputs}, Keras says "
        f"{keras_side.error or keras_side.outputs}")
    if mine.ok:
        assert mine.outputs == keras_side.outputs, (
            f"{case}: shapes {mine.outputs} != Keras {keras_side.outputs}")
        assert (mine.trainable, mine.non_trainable) == (
            keras_side.trainable, keras_side.non_trainable), (
            f"{case}: params (trainable, non-trainable) {(mine.trainable, mine.non_trainable)} "
            f"!= Keras {(keras_side.trainable, keras_side.non_trainable)}")
    return mine


def _keras_raw(layer_type: str, params: dict[str, Any], input_shapes: list[tuple[Any, ...]],
               dtype: str) -> Outcome:
    """Build the Keras layer straight from ``params`` (the catalog did not accept them)."""
    import keras

    spec = catalog.get(layer_type)
    kwargs = dict(params)
    if layer_type == "Input":
        kwargs.pop("name", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for p in spec.params:
                if p.kind == "layer" and isinstance(kwargs.get(p.name), dict):
                    inner = kwargs[p.name]
                    from netbuilder.runtime.keras_layers import make_layer

                    kwargs[p.name] = make_layer(inner["type"], inner.get("params"))
            layer = getattr(keras.layers, spec.class_name)(**kwargs)
            tensors = [keras.Input(batch_shape=tuple(s), dtype=dtype) for s in input_shapes]
            call_layer(spec, layer, tensors)
    except Exception as err:  # noqa: BLE001
        return Outcome(error=str(err))
    return Outcome()


# --- strategies ------------------------------------------------------------------------------


def value_strategy(p: Param, invalid: bool = True) -> st.SearchStrategy[Any]:
    """Values for one parameter: mostly valid ones, sometimes a value just out of range."""
    lo = p.minimum
    hi = p.maximum
    kind = p.kind
    options: list[st.SearchStrategy[Any]] = []
    if kind == "int":
        a = int(lo) if lo is not None else -2
        b = int(hi) if hi is not None else a + 8
        options.append(st.integers(a, b))
        if invalid and lo is not None:
            options.append(st.just(int(lo) - 1))
    elif kind == "float" or kind == "factor":
        a = lo if lo is not None else -1.0
        b = hi if hi is not None else a + 2.0
        options.append(st.floats(a, b, allow_nan=False))
        if invalid and lo is not None:
            options.append(st.just(lo - 0.5))
    elif kind == "bool":
        options.append(st.booleans())
    elif kind == "choice":
        assert p.choices is not None
        options.append(st.sampled_from(p.choices))
    elif kind == "ints" and p.length:
        a = int(lo) if lo is not None else 1
        b = int(hi) if hi is not None else a + 4
        options.append(st.integers(a, b))
        options.append(st.tuples(*[st.integers(a, b)] * p.length))
        if invalid and lo is not None:
            options.append(st.just(int(lo) - 1))
    elif kind == "activation":
        options.append(st.sampled_from(("linear", "relu", "softmax", "tanh", "gelu")))
    elif kind == "initializer":
        options.append(st.sampled_from(INITIALIZERS[:6]))
    elif kind == "regularizer":
        options.append(st.sampled_from((None,) + REGULARIZERS[:3]))
    elif kind == "constraint":
        options.append(st.sampled_from((None,) + CONSTRAINTS))
    if p.nullable:
        options.append(st.none())
    if not options:
        return st.just(p.default)
    return st.one_of(*options)


def params_strategy(spec: LayerSpec, overrides: dict[str, st.SearchStrategy[Any]] | None = None,
                    skip: tuple[str, ...] = (), invalid: bool = True
                    ) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of some of ``spec``'s parameters (the rest keep their defaults)."""
    overrides = overrides or {}
    fields = {}
    for p in spec.params:
        if p.name in skip:
            continue
        strategy = overrides[p.name] if p.name in overrides else value_strategy(p, invalid)
        fields[p.name] = st.one_of(st.just(_MISSING), strategy)
    return st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not _MISSING})


_MISSING = object()


def shapes(rank: int, lo: int = 1, hi: int = 12, unknown: bool = True
           ) -> st.SearchStrategy[tuple[Any, ...]]:
    """Shapes with a None batch dimension and ``rank - 1`` other dimensions."""
    dim = st.integers(lo, hi) | st.none() if unknown else st.integers(lo, hi)
    return st.tuples(st.just(None), *[dim] * (rank - 1))


__all__ = ["ACTIVATIONS", "Outcome", "check_layer", "params_strategy", "shapes", "value_strategy"]
