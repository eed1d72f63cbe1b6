"""Whether training data fits the model's outputs, before anything trains.

``check(graph, data)`` compares each model output with a description of the labels (how many
classes, one class per sample or other numbers) and returns the problems, each at its output node
with repairs. It agrees with the loss the trainer would choose (``runtime.data.loss``): one unit
with class numbers beyond 0/1 would silently become a regression (mean squared error), a sigmoid
on several units would be read as logits of a softmax, a softmax over one unit is always 1.
A loss chosen explicitly (``--loss``, the settings' ``loss``) skips the check: a regression on
class numbers stays possible on purpose. Pure Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netbuilder.core.catalog.base import fmt_shape
from netbuilder.core.graph import Graph, Node

KNOWN_CLASSES = {"digits": 10, "mnist": 10, "fashion_mnist": 10, "cifar10": 10}
"""Class counts of the built-in sources whose count is fixed ("shapes" follows the model)."""

SAMPLE_SHAPES = {"digits": (8, 8), "mnist": (28, 28), "fashion_mnist": (28, 28),
                 "cifar10": (32, 32, 3)}
"""One image of each built-in source whose size is fixed, as training reads it (height, width and
channels; a grayscale source has no channel axis)."""

LABEL_KINDS = ("classes", "one_hot", "numbers")


@dataclass(frozen=True)
class DataDescription:
    """What the labels are: ``classes`` (one class number per sample, ``num_classes`` of them
    when known), ``one_hot`` (rows of ``num_classes``) or ``numbers`` (anything else: nothing
    to check)."""

    num_classes: int | None
    labels: str = "classes"
    sample_shape: tuple[int, ...] | None = None
    """One image's shape where it is known before loading (the built-in sources): the model's
    Input must be one training can adapt it to."""

    @classmethod
    def for_source(cls, source: str) -> DataDescription | None:
        """The description of a built-in source whose classes are known, else None."""
        key = source.strip().lower().replace("-", "_")
        classes = KNOWN_CLASSES.get(key)
        return cls(classes, sample_shape=SAMPLE_SHAPES.get(key)) if classes is not None else None

    @classmethod
    def for_settings(cls, data: Any, classes: int | None = None) -> DataDescription | None:
        """The description of a project's ``settings["data"]`` (a source name or
        ``{"source", "options"}``): a built-in source's known count, the shapes' chosen
        ``num_classes``, else ``classes`` (counted by a preview), else None (not known)."""
        source, options = data, {}
        if isinstance(data, Mapping):
            source, options = data.get("source"), data.get("options") or {}
        if not isinstance(source, str) or not source:
            return None
        known = cls.for_source(source)
        chosen = options.get("num_classes") if isinstance(options, Mapping) else None
        if known is None and source.strip().lower() == "shapes" and isinstance(chosen, int) \
                and chosen > 0:
            known = cls(chosen)
        if known is None and classes:
            known = cls(classes)
        return known


@dataclass(frozen=True)
class DataFix:
    """Set parameters ``values`` of node ``node_id`` (one undo step in the editor)."""

    label: str
    node_id: str
    values: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class DataProblem:
    node_id: str
    message: str                      # names the output node
    fixes: tuple[DataFix, ...] = ()

    def text(self) -> str:
        """One line: the problem and the first repair."""
        return self.message + (f"; fix: {self.fixes[0].label.lower()}" if self.fixes else "")


def output_activation(graph: Graph, node: Node) -> str:
    """The activation a node's output ends with (``linear`` when it has none)."""
    if node.type == "Softmax":
        return "softmax"
    value = node.params.get("activation")
    return value if isinstance(value, str) else "linear"


def check(graph: Graph, data: DataDescription) -> list[DataProblem]:
    """The problems of training ``graph``'s outputs on ``data``'s labels and, where the data's
    sample shape is known, of feeding its one Input (empty: it fits)."""
    inputs = graph.inputs()
    problems = []
    if data.sample_shape is not None and len(inputs) == 1:
        problem = _check_input(inputs[0], data.sample_shape)
        if problem is not None:
            problems.append(problem)
    if data.labels not in ("classes", "one_hot"):
        return problems
    for node in graph.outputs():
        result = graph.inference.results.get(node.id)
        if result is None or not result.outputs:
            continue
        problem = _check_output(node, result.outputs[0], output_activation(graph, node), data)
        if problem is not None:
            problems.append(problem)
    return problems


def check_settings(graph: Graph, settings: Mapping[str, Any],
                   classes: int | None = None) -> list[DataProblem]:
    """The problems of training ``graph`` as a project's ``settings`` say (its ``"data"``;
    outputs whose loss ``"training"`` chooses are skipped). ``classes``: the data's class count
    where a preview counted it. Empty when the data's classes are not known."""
    data = DataDescription.for_settings(settings.get("data"), classes)
    if data is None:
        return []
    training = settings.get("training")
    training = training if isinstance(training, Mapping) else {}
    chosen = training.get("output_losses")
    chosen = chosen if isinstance(chosen, Mapping) else {}

    def loss_chosen(node: Node) -> bool:
        if node.type == "Input":  # the samples' shape: no loss changes it
            return False
        own = chosen.get(node.name)
        return bool(training.get("loss")) or isinstance(own, Mapping) and bool(own.get("loss"))

    return [p for p in check(graph, data) if not loss_chosen(graph.nodes[p.node_id])]


def adaptable(sample: tuple[int, ...], target: tuple[int | None, ...]) -> bool:
    """Whether training adapts images of ``sample`` shape (height, width and maybe channels) to
    an Input of ``target`` shape: a channel axis added, grayscale <-> RGB, alpha dropped, resized,
    flattened (converted to grayscale or resized to a square first where that makes the size).
    The same rules as ``runtime.data.fitting.plan_inputs`` (a test holds them together)."""
    current = tuple(sample)
    if len(current) == 2 and len(target) in (1, 3):
        current += (1,)
    if len(current) == 3 and len(target) == 3:
        c, want = current[2], target[2]
        return want is None or c == want or (c, want) in ((1, 3), (3, 1), (4, 1), (4, 3))
    if len(current) == 3 and len(target) == 1:
        f = target[0]
        if f is None:
            return False
        h, w, c = current
        side, side3 = math.isqrt(f), math.isqrt(f // 3) if f % 3 == 0 else 0
        return (h * w * c == f or (c in (3, 4) and h * w == f)
                or (c == 3 and side3 > 0 and side3 * side3 * 3 == f) or side * side == f)
    return len(current) == len(target) and all(
        t is None or t == s for s, t in zip(current, target))


def _check_input(node: Node, sample: tuple[int, ...]) -> DataProblem | None:
    shape = node.params.get("shape")
    if not isinstance(shape, (list, tuple)):
        return None
    target = tuple(v if isinstance(v, int) else None for v in shape)
    if adaptable(sample, target):
        return None
    image = tuple(sample) + (1,) * (len(sample) == 2)
    wanted = [math.prod(image)] if len(target) == 1 else list(image)
    text = "×".join(str(v) for v in wanted)
    return DataProblem(
        node.id, f"{node.name}: the data's images are {'×'.join(map(str, sample))} but the "
                 f"input takes {fmt_shape((None, *target))}; training cannot adapt them: change "
                 f"the Input's shape to {text} or use other data",
        (DataFix(f"Set shape to {text}", node.id, {"shape": wanted}),))


def _check_output(node: Node, shape: tuple[int | None, ...], activation: str,
                  data: DataDescription) -> DataProblem | None:
    n = data.num_classes
    where = f"{node.name}: the output {fmt_shape(shape)} ({activation})"
    if len(shape) > 2:
        return DataProblem(node.id, f"{where} is not one vector per sample, but the labels are "
                                    "one class per sample; insert Flatten or global pooling "
                                    "before the output layer")
    units = shape[-1]
    if units is None:
        return None
    settable = "units" in node.params and "activation" in node.params

    def fix(label: str, **values: Any) -> tuple[DataFix, ...]:
        return (DataFix(label, node.id, values),) if settable else ()

    many = n is None or n > 2
    classes = f"{n} classes" if n is not None else "class numbers"
    if units == 1 and many and data.labels == "classes":
        return DataProblem(
            node.id, f"{where} has one unit but the data has {classes}: it would train a "
                     "regression (mean squared error) on the class numbers",
            fix(f"Set units to {n} and activation to softmax", units=n, activation="softmax")
            if n is not None else ())
    if units == 1 and activation == "softmax":
        return DataProblem(node.id, f"{where}: a softmax over one unit is always 1, so it "
                                    "learns nothing", fix("Set activation to sigmoid",
                                                          activation="sigmoid"))
    if n is not None and units != n and not (units == 1 and n == 2):
        values: dict[str, Any] = {"units": n}
        if activation == "sigmoid":
            values["activation"] = "softmax"
        label = f"Set units to {n}" + (" and activation to softmax" if len(values) > 1 else "")
        return DataProblem(node.id, f"{where} has {units} units but the data has {n} classes",
                           fix(label, **values))
    if units > 1 and activation == "sigmoid":
        return DataProblem(
            node.id, f"{where}: sigmoid gives {units} independent yes/no answers, but each "
                     f"sample has one class of {units}; softmax makes them one choice",
            fix("Set activation to softmax", activation="softmax"))
    return None


def apply_fix(graph: Graph, fix: DataFix) -> None:
    with graph.batch():
        for name, value in fix.values.items():
            graph.set_param(fix.node_id, name, value)
