"""Search marks: which layer parameters and training settings a hyperparameter search varies,
and over what values. Pure Python (no Optuna here: ``runtime/search.py`` turns a space into
Optuna's ``suggest_*`` calls).

A dimension names its target by a path: ``LAYER.PARAM`` (``dense.units``, ``dropout.rate``, an
exposed parameter of a block instance ``unit4.filters``) or ``training.SETTING``
(``training.learning_rate``). It is an integer or float range (optionally on a log scale,
optionally stepped) or a list of choices::

    dense.units=16..128            an integer range (the parameter takes integers)
    training.learning_rate=1e-4..1e-2:log
    dense.units=16..128:step=16
    training.optimizer=adam,sgd    choices

Saved in the project file (format version 4, ``"search"``) as
``{"dense.units": {"type": "int", "low": 16, "high": 128, "log": true}, ...}``.

``check_space`` validates a space against a graph and the training settings (the catalog says
what a parameter allows: units <= 0 or a dropout rate >= 1 are refused before any trial runs),
``apply_values`` sets one trial's values on a graph and settings, and ``graph_problem`` says,
without TensorFlow, whether the graph those values make is still a model.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from netbuilder.core.blocks import REPEAT, REPEAT_PARAM
from netbuilder.core.catalog import get as get_spec
from netbuilder.core.catalog.base import Param, ParamError
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError

TRAINING = "training"
"""The first part of a path that names a training setting (``training.learning_rate``)."""
KINDS = ("int", "float", "categorical")
PROJECT_KEY = "search"
_RANGE = re.compile(r"^\s*(?P<low>[^.:\s][^:\s]*?)\s*\.\.\s*(?P<high>[^:\s]+)\s*"
                    r"(?P<opts>(:\s*(log|step\s*=\s*[^:]+)\s*)*)$")


class SearchError(Exception):
    """A search space that cannot be used; ``str(err)`` is one line for the user."""


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: ``kind`` int or float (``low``..``high``, ``log``, ``step``) or
    categorical (``choices``)."""

    path: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def target(self) -> tuple[str, str]:
        """(layer name or ``training``, parameter or setting name)."""
        owner, _, name = self.path.rpartition(".")
        return owner, name

    @property
    def is_training(self) -> bool:
        return self.target[0] == TRAINING

    def to_plain(self) -> dict[str, Any]:
        """The project-file form (only what differs from the defaults)."""
        if self.kind == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out

    def text(self) -> str:
        """The command-line form: ``dense.units=16..128:log``."""
        if self.kind == "categorical":
            return f"{self.path}={','.join(_value_text(c) for c in self.choices)}"
        opts = (":log" if self.log else "") + (
            f":step={_value_text(self.step)}" if self.step is not None else "")
        return f"{self.path}={_value_text(self.low)}..{_value_text(self.high)}{opts}"


@dataclass(frozen=True)
class TrainingRules:
    """What the training settings allow, given by the layer that owns them (core does not know
    them): ``kinds`` maps each setting to int, float, bool or str; ``check(name, value)`` returns
    why the value is refused, or None."""

    kinds: Mapping[str, str]
    check: Callable[[str, Any], str | None]


# --- reading and writing -----------------------------------------------------------------------


def _number(text: str, where: str) -> int | float:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise SearchError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SearchError(f"{where}: {text!r} is not a finite number")
    return value


def _choice(text: str) -> Any:
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check_path(path: str, where: str) -> str:
    path = path.strip()
    owner, dot, name = path.rpartition(".")
    if not dot or not owner or not name:
        raise SearchError(f"{where}: {path!r} is not a path; write LAYER.PARAM (dense.units) or "
                          "training.SETTING (training.learning_rate)")
    return path


def parse_dimension(text: str) -> Dimension:
    """A dimension from its command-line form, ``PATH=LOW..HIGH[:log][:step=N]`` or
    ``PATH=A,B,C``; whether a range is of integers or floats follows its numbers here and the
    parameter in ``check_space``."""
    usage = ("write PATH=LOW..HIGH[:log] or PATH=A,B,C, e.g. dense.units=16..128 or "
             "training.optimizer=adam,sgd")
    path, eq, values = text.partition("=")
    if not eq or not values.strip():
        raise SearchError(f"--space {text!r}: {usage}")
    where = f"--space {text!r}"
    path = _check_path(path, where)
    if ".." in values:
        match = _RANGE.match(values)
        if not match:
            raise SearchError(f"{where}: {usage}")
        low, high = _number(match["low"], where), _number(match["high"], where)
        log, step = False, None
        for opt in (o.strip() for o in match["opts"].split(":") if o.strip()):
            if opt == "log":
                log = True
            else:
                step = _number(opt.partition("=")[2], where)
        kind = "int" if all(isinstance(v, int) for v in (low, high, step or 1)) else "float"
        return _checked(Dimension(path, kind, low, high, log, step), where)
    choices = [c for c in values.split(",")]
    if any(not c.strip() for c in choices):
        raise SearchError(f"{where}: an empty choice; {usage}")
    return _checked(Dimension(path, "categorical", choices=tuple(_choice(c) for c in choices)),
                    where)


def _checked(dim: Dimension, where: str) -> Dimension:
    """``dim`` when its range or choices make sense on their own (any parameter aside)."""
    if dim.kind not in KINDS:
        raise SearchError(f"{where}: type must be one of {', '.join(KINDS)}, found {dim.kind!r}")
    if dim.kind == "categorical":
        if not dim.choices:
            raise SearchError(f"{where}: no choices")
        for c in dim.choices:
            if c is not None and not isinstance(c, (bool, int, float, str)):
                raise SearchError(f"{where}: choice {c!r} must be a number, a string, true/false"
                                  " or none")
        if len(set(map(repr, dim.choices))) != len(dim.choices):
            raise SearchError(f"{where}: a choice is listed twice")
        return dim
    for name in ("low", "high"):
        value = getattr(dim, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(
                value):
            raise SearchError(f"{where}: {name} must be a number, found {value!r}")
    assert dim.low is not None and dim.high is not None
    if dim.low > dim.high:
        raise SearchError(f"{where}: the range {_value_text(dim.low)}..{_value_text(dim.high)} "
                          "is empty; write the lower end first")
    if dim.log and dim.low <= 0:
        raise SearchError(f"{where}: a log scale needs a lower end above 0, found "
                          f"{_value_text(dim.low)}")
    if dim.step is not None:
        if (not isinstance(dim.step, (int, float)) or isinstance(dim.step, bool)
                or not dim.step > 0):
            raise SearchError(f"{where}: step must be a number above 0, found {dim.step!r}")
        if dim.log:
            raise SearchError(f"{where}: a range takes a log scale or a step, not both")
    return dim


def dimensions_from_plain(data: Any) -> list[Dimension]:
    """The dimensions of a project file's ``"search"`` object (structure only; ``check_space``
    checks them against the graph). Raises ``SearchError``."""
    if not isinstance(data, Mapping):
        raise SearchError("\"search\" must be an object mapping paths to ranges or choices")
    dims = []
    for path, spec in data.items():
        where = f"\"search\" {path!r}"
        _check_path(str(path), where)
        if not isinstance(spec, Mapping):
            raise SearchError(f"{where}: expected an object, found {spec!r}")
        unknown = sorted(set(spec) - {"type", "low", "high", "log", "step", "choices"})
        if unknown:
            raise SearchError(f"{where}: unknown key {unknown[0]!r}")
        kind = spec.get("type")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list):
                raise SearchError(f"{where}: \"choices\" must be a list")
            dim = Dimension(path, kind, choices=tuple(choices))
        else:
            log = spec.get("log", False)
            if not isinstance(log, bool):
                raise SearchError(f"{where}: \"log\" must be true or false")
            dim = Dimension(path, str(kind), spec.get("low"), spec.get("high"), log,
                            spec.get("step"))
        dims.append(_checked(dim, where))
    return dims


def dimensions_to_plain(dims: Iterable[Dimension]) -> dict[str, Any]:
    return {d.path: d.to_plain() for d in dims}


def merge(base: Iterable[Dimension], more: Iterable[Dimension]) -> list[Dimension]:
    """``base`` with the dimensions of ``more`` added, replacing those with the same path."""
    out = {d.path: d for d in base}
    out.update((d.path, d) for d in more)
    return list(out.values())


# --- checking against a graph ----------------------------------------------------------------


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _layer_param(graph: Graph, dim: Dimension) -> tuple[str, Param]:
    layer, name = dim.target
    node = graph.node_by_name(layer)
    if node is None:
        names = [n.name for n in graph.nodes.values()]
        raise SearchError(f"{dim.path}: no layer named {layer!r}{_suggest(layer, names)}; "
                          f"the layers are {', '.join(names)}, and training.SETTING names a "
                          "training setting")
    if node.type == BLOCK_TYPE:
        block = graph.blocks[node.params["block"]]
        if name == REPEAT:  # how many times the instance applies its block: the depth
            why = block.can_repeat()
            if why is not None:
                raise SearchError(f"{dim.path}: {layer} cannot repeat: {why}")
            return node.id, REPEAT_PARAM
        if name not in block.exposed:
            offered = ", ".join(block.exposed) or "none"
            raise SearchError(f"{dim.path}: block instance {layer} ({block.name}) has no "
                              f"parameter {name!r}{_suggest(name, block.exposed)}; it exposes: "
                              f"{offered}")
        return node.id, block.exposure_param(name)
    spec = get_spec(node.type)
    if not spec.has_param(name):
        names = [p.name for p in spec.params]
        raise SearchError(f"{dim.path}: {layer} ({node.type}) has no parameter "
                          f"{name!r}{_suggest(name, names)}")
    return node.id, spec.param(name)


def _layer_dimension(graph: Graph, dim: Dimension) -> Dimension:
    _, param = _layer_param(graph, dim)
    name = param.name
    if dim.kind == "categorical":
        values = dim.choices
    else:
        numeric = {"int": "int", "ints": "int", "float": "float", "factor": "float"}
        kind = numeric.get(param.kind)
        if kind is None or (param.kind == "ints" and not param.length):
            raise SearchError(f"{dim.path}: `{name}` takes {param.kind} values, not a range; "
                              f"list the choices instead, e.g. {dim.path}=A,B")
        if kind == "int" and not all(float(v).is_integer() for v in
                                     (dim.low, dim.high, dim.step or 1)):
            raise SearchError(f"{dim.path}: `{name}` takes whole numbers; write the range with "
                              f"integers, e.g. {dim.path}=16..128")
        dim = _typed(dim, kind)
        values = (dim.low, dim.high)
    for value in values:
        try:
            param.normalize(value)
        except ParamError as err:
            raise SearchError(f"{dim.path}: {err}") from None
        if (name == "rate" and param.maximum == 1.0 and isinstance(value, (int, float))
                and value >= 1):
            raise SearchError(f"{dim.path}: a rate of {_value_text(value)} drops every unit; "
                              "keep the range below 1, e.g. 0.1..0.5")
    return dim


def _typed(dim: Dimension, kind: str) -> Dimension:
    assert dim.low is not None and dim.high is not None
    cast: Callable[[float], float] = int if kind == "int" else float
    return replace(dim, kind=kind, low=cast(dim.low), high=cast(dim.high),
                   step=None if dim.step is None else cast(dim.step))


def _training_dimension(dim: Dimension, rules: TrainingRules) -> Dimension:
    name = dim.target[1]
    kind = rules.kinds.get(name)
    if kind is None:
        raise SearchError(f"{dim.path}: no training setting {name!r}"
                          f"{_suggest(name, rules.kinds)}; the settings are "
                          f"{', '.join(rules.kinds)}")
    if dim.kind == "categorical":
        values = dim.choices
    else:
        if kind not in ("int", "float"):
            raise SearchError(f"{dim.path}: {name} takes {kind} values, not a range; list the "
                              f"choices instead, e.g. {dim.path}=A,B")
        if kind == "int" and not all(float(v).is_integer() for v in
                                     (dim.low, dim.high, dim.step or 1)):
            raise SearchError(f"{dim.path}: {name} takes whole numbers")
        dim = _typed(dim, kind)
        values = (dim.low, dim.high)
    for value in values:
        problem = rules.check(name, value)
        if problem:
            raise SearchError(f"{dim.path}: {problem}")
    return dim


def check_space(dims: Iterable[Dimension], graph: Graph,
                training: TrainingRules | None = None) -> list[Dimension]:
    """The dimensions checked against ``graph`` and the training settings, ranges typed as their
    parameters (a float parameter's ``1..2`` becomes 1.0..2.0). Raises ``SearchError`` naming
    the first path that names nothing, or a range or choice the parameter does not allow."""
    out = []
    for dim in dims:
        _checked(dim, dim.path)
        if dim.is_training:
            if training is None:
                raise SearchError(f"{dim.path}: training settings cannot be searched here")
            out.append(_training_dimension(dim, training))
        else:
            out.append(_layer_dimension(graph, dim))
    if not out:
        raise SearchError("nothing to search: mark parameters for search, or give --space "
                          "PATH=LOW..HIGH or --space PATH=A,B,C")
    return out


# --- one trial -------------------------------------------------------------------------------


def apply_values(graph: Graph, settings: dict[str, Any], values: Mapping[str, Any]) -> None:
    """Set one trial's ``values`` (path -> value) on ``graph`` and ``settings`` (the project's
    settings dict: training values go to ``settings["training"]``), in place: give copies.
    Raises ``SearchError`` for a value a layer refuses."""
    with graph.batch():
        for path, value in values.items():
            owner, _, name = path.rpartition(".")
            if owner == TRAINING:
                training = dict(settings.get(TRAINING) or {})
                training[name] = value
                settings[TRAINING] = training
                continue
            node = graph.node_by_name(owner)
            if node is None:
                raise SearchError(f"{path}: no layer named {owner!r}")
            try:
                graph.set_param(node.id, name, value)
            except GraphError as err:
                raise SearchError(f"{path}={_value_text(value)}: {err}") from None


def graph_problem(graph: Graph) -> str | None:
    """Why ``graph`` is not a model (the first inference error, naming its node), else None."""
    errors = graph.inference.errors()
    return errors[0] if errors else None


def grid(dims: Iterable[Dimension]) -> dict[str, list[Any]]:
    """Every value of each dimension, for a grid search: choices, integers (by their step), or
    a stepped float range. Raises ``SearchError`` for a float range without a step."""
    out: dict[str, list[Any]] = {}
    for dim in dims:
        if dim.kind == "categorical":
            out[dim.path] = list(dim.choices)
            continue
        assert dim.low is not None and dim.high is not None
        if dim.kind == "float" and dim.step is None:
            raise SearchError(f"{dim.path}: a grid search needs a step for a float range "
                              f"({dim.path}=LOW..HIGH:step=S) or a list of choices")
        step = dim.step if dim.step is not None else 1
        count = int(math.floor((dim.high - dim.low) / step + 1e-9)) + 1
        values = [dim.low + i * step for i in range(count)]
        out[dim.path] = ([int(v) for v in values] if dim.kind == "int"
                         else [round(v, 12) for v in values])
    return out
