"""The building blocks of the layer catalog: parameters, layer specs, inference results.

A spec describes one Keras layer type declaratively: its parameters (kind, default, allowed values,
one line of help), how many inputs it takes, and a pure function that infers its output shapes and
parameter counts from its input shapes. Nothing here imports Qt, TensorFlow or Keras.

Shapes are tuples that include the batch dimension, as Keras prints them: ``(None, 28, 28, 1)``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Dim = int | None
Shape = tuple[Dim, ...]


class CatalogError(Exception):
    """Base class of the catalog's errors; ``str(err)`` is a message for the user."""


class ParamError(CatalogError):
    """A parameter value that Keras would refuse (raised while resolving parameters)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class LayerError(CatalogError):
    """A layer that cannot be applied to the shapes it receives.

    ``fix`` is a short suggestion for the user ("insert Flatten before it").
    """

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}" if self.fix else self.message


@dataclass(slots=True, init=False)
class Inferred:
    """What a layer produces for given inputs: output shapes and weight counts; also what the
    inference engine knows about a node (``core.inference.NodeResult`` is this class: a spec's
    result becomes the node's result without a copy, one object per node and edit).

    ``trainable`` and ``non_trainable`` count the weights as Keras does for a trainable layer;
    the inference engine moves them all to non-trainable when the node is frozen.
    ``flops`` estimates floating-point operations for one sample (a multiply-add counts 2).
    ``notes`` are hints that are not errors (Keras accepts the layer, but it is rarely meant).

    The engine fills in the rest: a node is either valid (``outputs`` set), invalid itself
    (``error`` names the node, the shapes and a ``fix``), or blocked by an invalid node upstream
    (``blocked_by`` is that node's id); ``memory`` is the bytes of its outputs for one sample.
    A spec returns a new object on every call (the engine completes it in place).
    """

    outputs: list[Shape] | None = None
    trainable: int = 0
    non_trainable: int = 0
    flops: int = 0
    notes: list[str] = field(default_factory=list)
    memory: int = 0
    error: str | None = None
    fix: str | None = None
    blocked_by: str | None = None

    def __init__(self, outputs: list[Shape] | None = None, trainable: int = 0,
                 non_trainable: int = 0, flops: int = 0, notes: list[str] | None = None,
                 memory: int = 0, error: str | None = None, fix: str | None = None,
                 blocked_by: str | None = None) -> None:
        # by hand: the dataclass's own __init__ takes a third longer, once per node and edit
        self.outputs = outputs
        self.trainable = trainable
        self.non_trainable = non_trainable
        self.flops = flops
        self.notes = [] if notes is None else notes
        self.memory = memory
        self.error = error
        self.fix = fix
        self.blocked_by = blocked_by

    @property
    def ok(self) -> bool:
        return self.outputs is not None

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


# --- parameter kinds -------------------------------------------------------------------------

ACTIVATIONS: tuple[str, ...] = (
    "linear", "relu", "sigmoid", "softmax", "tanh", "elu", "selu", "softplus", "softsign",
    "swish", "silu", "gelu", "exponential", "hard_sigmoid", "hard_silu", "hard_swish",
    "leaky_relu", "relu6", "mish", "log_softmax", "celu", "glu", "log_sigmoid", "sparse_plus",
    "squareplus", "tanh_shrink", "hard_tanh", "soft_shrink", "hard_shrink", "sparsemax",
    "sparse_sigmoid", "threshold",
)

INITIALIZERS: tuple[str, ...] = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
    "lecun_normal", "zeros", "ones", "random_uniform", "random_normal", "truncated_normal",
    "orthogonal", "identity", "variance_scaling", "uniform", "normal",
)

REGULARIZERS: tuple[str, ...] = ("l1", "l2", "l1l2", "orthogonal_regularizer")
CONSTRAINTS: tuple[str, ...] = ("max_norm", "min_max_norm", "non_neg", "unit_norm")

# Kinds understood by ``Param``; the UI picks an editor per kind.
PARAM_KINDS = (
    "int",          # an integer within [minimum, maximum]
    "float",        # a number within [minimum, maximum]
    "bool",
    "choice",       # one of ``choices`` (strings, or None)
    "ints",         # a tuple of ``length`` ints (an int is expanded); length None = any length
    "axes",         # an int, or a tuple of ints (axes of a tensor)
    "factor",       # a number, or a pair of numbers (lower, upper)
    "str",
    "activation",   # a Keras activation name
    "initializer",  # a Keras initializer name, or a serialized {"class_name", "config"} dict
    "regularizer",  # None, a name, or a serialized dict
    "constraint",   # None, a name, or a serialized dict
    "layer",        # a nested layer: {"type": ..., "params": {...}} (Bidirectional)
    "json",         # any JSON value, passed through to Keras as it is
)


def snake_case(name: str) -> str:
    """Keras' snake case of a class name: Conv2D -> conv2d, GlorotUniform -> glorot_uniform."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Param:
    """One argument of a Keras layer, as the user sets it.

    ``nullable`` allows None (Keras' "not set"). ``minimum``/``maximum`` bound numbers and the
    items of int tuples. ``allow`` lists extra values accepted in int tuples (e.g. -1, None).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    length: int | None = None
    nullable: bool = False
    allow: tuple[Any, ...] = ()
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    required: bool = False  # Keras has no default: always written out (Dense's units)

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r} for {self.name!r}")

    # -- validation ---------------------------------------------------------------------------

    def _fail(self, expected: str, value: Any, reason: str | None = None,
              subject: str | None = None) -> ParamError:
        """A refusal a person can act on: what was given, what is expected, an example, e.g.
        "`shape`: 784 is one number; expected a list of integers >= 0 (or None), e.g. [784]
        or [28, 28, 1]". ``reason`` says what the value is instead ("one number"); ``subject``
        names the offending part of it ("-5 in [28, -5]")."""
        told = subject or value_text(value)
        told += f" is {reason}; expected {expected}" if reason else f" is not {expected}"
        example = self.example(value)
        return ParamError(self.name, f"`{self.name}`: {told}" + (
            f", e.g. {example}" if example else ""))

    def example(self, value: Any = None) -> str | None:
        """Values this parameter takes, as a person would write them in a project file
        (``3 or [3, 3]``); None when the expected text says enough. ``value`` is what was given:
        a single size given for a list of sizes comes back as its one-item list."""
        default = tuple(self.default) if isinstance(self.default, list) else self.default
        if self.kind == "ints":
            if self.length:
                k = default[0] if isinstance(default, tuple) else default
                k = k if _is_int(k) else 2
                return f"{k} or {value_text((k,) * self.length)}"
            forms = [value_text([value])] if _is_int(value) else []
            usual = value_text(default) if isinstance(default, tuple) else "[4, 4]"
            return " or ".join(forms + [usual] if usual not in forms else forms)
        if self.kind == "axes":
            return "-1 or [1, 2]"
        if self.kind == "factor":
            if isinstance(default, tuple):
                return value_text(default)
            k = default if _is_number(default) else 0.1
            return f"{k:g} or [{-k:g}, {k:g}]"
        return None

    def _bounds_text(self) -> str:
        lo = ("" if self.minimum is None
              else (">" if self.exclusive_minimum else ">=") + f" {self.minimum:g}")
        hi = ("" if self.maximum is None
              else ("<" if self.exclusive_maximum else "<=") + f" {self.maximum:g}")
        return " and ".join(t for t in (lo, hi) if t)

    def _in_bounds(self, number: float) -> bool:
        if self.minimum is not None:
            if number < self.minimum or (self.exclusive_minimum and number == self.minimum):
                return False
        if self.maximum is not None:
            if number > self.maximum or (self.exclusive_maximum and number == self.maximum):
                return False
        return True

    def normalize(self, value: Any) -> Any:
        """Return the canonical form of ``value`` or raise ``ParamError``."""
        if value is None:
            if self.nullable or (self.kind == "choice" and self.choices and None in self.choices):
                return None
            if self.kind in ("regularizer", "constraint", "json"):
                return None
            example = self.example()
            raise ParamError(self.name, f"`{self.name}` needs a value (None is not one)" + (
                f", e.g. {example}" if example else ""))
        kind = self.kind
        bounds = self._bounds_text()
        if kind == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not _is_int(value) or not self._in_bounds(value):
                raise self._fail("an integer" + (f" {bounds}" if bounds else ""), value)
            return value
        if kind == "float":
            if not _is_number(value) or not self._in_bounds(value):
                raise self._fail("a number" + (f" {bounds}" if bounds else ""), value)
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise self._fail("true or false", value)
            return value
        if kind == "choice":
            assert self.choices is not None
            if value not in self.choices:
                names = ", ".join(repr(c) for c in self.choices)
                raise self._fail(f"one of {names}", value)
            return value
        if kind == "ints":
            return self._normalize_ints(value, bounds)
        if kind == "axes":
            if _is_int(value):
                return value
            if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
                return tuple(value)
            raise self._fail("an axis (integer) or a list of axes", value)
        if kind == "factor":
            if _is_number(value):
                if not self._in_bounds(value):
                    raise self._fail(f"a number {bounds}", value)
                return float(value)
            if (isinstance(value, (list, tuple)) and len(value) == 2
                    and all(_is_number(v) for v in value)):
                if not all(self._in_bounds(v) for v in value):
                    raise self._fail(f"numbers {bounds}", value)
                return (float(value[0]), float(value[1]))
            raise self._fail("a number or a pair of numbers (lower, upper)", value)
        if kind == "str":
            if not isinstance(value, str):
                raise self._fail("a string", value)
            return value
        if kind == "activation":
            if value not in ACTIVATIONS:
                raise self._fail("the name of a Keras activation such as 'relu'", value)
            return value
        if kind in ("initializer", "regularizer", "constraint"):
            names = {"initializer": INITIALIZERS, "regularizer": REGULARIZERS,
                     "constraint": CONSTRAINTS}[kind]
            if isinstance(value, str):
                if value not in names and snake_case(value) in names:
                    value = snake_case(value)  # Keras also takes class names: "GlorotUniform"
                if value not in names:
                    raise self._fail(f"a Keras {kind} name ({', '.join(names)})", value)
                return value
            if (isinstance(value, Mapping) and isinstance(value.get("class_name"), str)
                    and isinstance(value.get("config", {}), Mapping)):
                return _freeze(value)
            raise self._fail(f"a {kind} name or a {{'class_name', 'config'}} object", value)
        if kind == "layer":
            if (isinstance(value, Mapping) and isinstance(value.get("type"), str)
                    and isinstance(value.get("params", {}), Mapping)):
                return _freeze(value)
            raise self._fail("a layer {'type': ..., 'params': {...}}", value)
        if kind == "json":
            return _freeze(value)
        raise AssertionError(kind)

    def _normalize_ints(self, value: Any, bounds: str) -> tuple[Any, ...]:
        n = self.length
        limits = (f" {bounds}" if bounds else "") + (
            f" (or {', '.join(value_text(v) for v in self.allow)})" if self.allow else "")
        what = (f"a list of integers{limits}" if not n else f"an integer{limits} or a list of one"
                if n == 1 else f"an integer or {n} integers{limits}")
        given = value
        if _is_int(value) and n:
            value = (value,) * n
        if not isinstance(value, (list, tuple)):
            reason = "one number" if _is_number(value) else None
            raise self._fail(what, given, reason)
        if n is not None and len(value) != n:
            raise self._fail(what, given, f"{len(value)} number{'s' if len(value) != 1 else ''}")
        items = []
        for v in value:
            if v in self.allow and (v is None or _is_int(v)):
                items.append(v)
                continue
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not _is_int(v) or not self._in_bounds(v):
                subject = value_text(v) + ("" if _is_int(given) else f" in {value_text(given)}")
                raise self._fail(f"an integer{limits}", given, subject=subject)
            items.append(v)
        return tuple(items)

    def to_json(self, value: Any) -> Any:
        """The plain-JSON form of a normalized value (tuples become lists)."""
        return to_plain(value)


class _FrozenDict(dict):  # type: ignore[type-arg]
    """A dict that can live inside frozen parameter values (hashable, read-only by convention)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, _hashable(v)) for k, v in self.items())))


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _FrozenDict((str(k), _freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def value_text(value: Any) -> str:
    """A parameter value as a person reads it in a message: ``[28, 28, 1]``, ``None``,
    ``'same'``, ``0.5``; long values cut with …."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k!r}: {value_text(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(value_text(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def to_plain(value: Any) -> Any:
    """A parameter value as plain JSON data: tuples become lists, frozen dicts plain dicts."""
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


# --- layer specs -----------------------------------------------------------------------------

InferFn = Callable[[dict[str, Any], list[Shape]], Inferred]
KwargsFn = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class LayerSpec:
    """Everything NetBuilder knows about one Keras layer type.

    ``min_inputs``/``max_inputs`` give how many tensors it takes (``max_inputs=None``: any number,
    as merge layers). ``input_names`` names the inputs of layers whose inputs differ in role
    (MultiHeadAttention's query, value, key). ``keras_kwargs`` maps resolved parameters to the
    constructor's keyword arguments when they differ from the parameters themselves.
    """

    type: str
    family: str
    help: str
    params: tuple[Param, ...]
    infer: InferFn
    min_inputs: int = 1
    max_inputs: int | None = 1
    input_names: tuple[str, ...] = ()
    keras_class: str | None = None
    keywords: tuple[str, ...] = ()
    key_params: tuple[str, ...] = ()
    keras_kwargs: KwargsFn | None = None
    _by_name: dict[str, Param] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for p in self.params:
            self._by_name[p.name] = p
        if len(self._by_name) != len(self.params):
            raise ValueError(f"{self.type}: duplicate parameter names")

    @property
    def class_name(self) -> str:
        """The Keras class that implements this layer."""
        return self.keras_class or self.type

    def param(self, name: str) -> Param:
        return self._by_name[name]

    def has_param(self, name: str) -> bool:
        return name in self._by_name

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.normalize(p.default) for p in self.params}

    def resolve(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``values``, each validated and normalized.

        Raises ``ParamError`` for an unknown name (suggesting the closest one) or a bad value.
        """
        values = values or {}
        resolved = {}
        for name in values:
            if name not in self._by_name:
                close = difflib.get_close_matches(name, list(self._by_name), n=1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                raise ParamError(name, f"{self.type} has no parameter `{name}`{hint}")
        for p in self.params:
            resolved[p.name] = p.normalize(values[p.name] if p.name in values else p.default)
        return resolved

    def non_default(self, resolved: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters that differ from their defaults (and the required ones), as plain JSON
        values."""
        out = {}
        for p in self.params:
            value = resolved.get(p.name, p.default)
            if p.required or value != p.normalize(p.default):
                out[p.name] = p.to_json(value)
        return out

    def kwargs(self, resolved: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the Keras constructor, as plain JSON values."""
        mapped = self.keras_kwargs(dict(resolved)) if self.keras_kwargs else dict(resolved)
        return {k: to_plain(v) for k, v in mapped.items()}

    def check_arity(self, count: int) -> None:
        """Raise ``LayerError`` unless the layer can take ``count`` input tensors."""
        lo, hi = self.min_inputs, self.max_inputs
        if count < lo or (hi is not None and count > hi):
            if hi == lo:
                want = f"exactly {lo} input{'s' if lo != 1 else ''}"
            elif hi is None:
                want = f"at least {lo} inputs"
            else:
                want = f"{lo} to {hi} inputs"
            fix = "connect its input" if count < lo else "remove the extra connections"
            raise LayerError(f"{self.type} takes {want}, got {count}", fix)


# --- the registry ----------------------------------------------------------------------------

_REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    if spec.type in _REGISTRY:
        raise ValueError(f"layer type {spec.type!r} registered twice")
    _REGISTRY[spec.type] = spec
    return spec


def registry() -> dict[str, LayerSpec]:
    return _REGISTRY


# --- small shared helpers for infer functions ------------------------------------------------


_prod = math.prod  # one global lookup, not two: numel runs for most nodes of an edit


def numel(shape: Sequence[Dim]) -> int:
    """Elements of one sample (batch dimension excluded); unknown dims count as 1."""
    try:
        return _prod(shape[1:])
    except TypeError:  # an unknown dim
        return known_product(shape[1:])


def known_product(dims: Sequence[Dim]) -> int:
    """The product of ``dims``; unknown dims (None) count as 1."""
    try:
        return math.prod(dims)
    except TypeError:  # an unknown dim
        return math.prod(d if d is not None else 1 for d in dims)


def fmt_shape(shape: Sequence[Dim]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")")


def require_rank(layer: str, shape: Shape, ranks: Sequence[int], fix: str | None = None) -> None:
    """Raise unless ``shape`` (batch included) has one of the given ranks."""
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise LayerError(
            f"{layer} expects input of rank {want} (batch included), got {fmt_shape(shape)}", fix)
