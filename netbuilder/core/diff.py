"""Compare two networks: which layers one has that the other lacks, which changed (their
parameters, output shapes, parameter counts, trainable flags, the layers they take their inputs
from), and the totals' deltas. ``netbuilder diff A B`` prints it and File ▸ Compare With… shows it
on the canvas.

Layers are matched by name. A layer of A whose name B lacks is then matched, as renamed, with a
layer of B whose name A lacks when both have the same type and take their inputs from the same
(matched) layers; layers are visited producers first, so a renamed chain is followed layer by
layer. Anything still unmatched is removed (in A only) or added (in B only). A block instance is
one layer (as a nested model is one row of the summary); a change inside its block shows as
``layers`` changed.

Shapes and counts come from the graphs' own inference (``core.inference``), never from Keras.
Sources: a project file, a run folder (or its ``run.json``: the project as it was trained);
Keras model files are read by the caller (``runtime.keras_import``) and passed in as projects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.catalog.base import Shape, fmt_shape, to_plain, value_text
from netbuilder.core.graph import BLOCK_TYPE, Graph, Node
from netbuilder.core.project import FORMAT, Project, ProjectError, load, loads
from netbuilder.core.summary import type_label

RUN_FILE = "run.json"
"""The record in a run folder holding the project as it was trained (``ui.panels.training.runs``
writes it)."""
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
"""Keras model files: the caller imports them (a ``.json`` file may be a project, a run record or
a Keras architecture: ``source_kind`` looks inside)."""


@dataclass(frozen=True)
class Layer:
    """One layer as compared: what inference says about it, inputs by layer name."""

    node_id: str
    name: str
    type: str
    params: dict[str, Any]
    outputs: list[Shape] | None
    count: int
    trainable_count: int
    trainable: bool
    inputs: tuple[str, ...]
    definition: str | None = None
    """For a block instance: its block's layers, as one comparable string."""


@dataclass
class Change:
    """A layer in both networks, and what differs: each entry is ``(old, new)``."""

    old: Layer
    new: Layer
    params: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """``type``, ``output_shape``, ``params`` (the count), ``trainable_params``, ``trainable``,
    ``inputs``, ``layers`` (a block's), each only where it differs."""

    @property
    def renamed(self) -> bool:
        return self.old.name != self.new.name

    @property
    def changed(self) -> bool:
        return self.renamed or bool(self.params or self.differences)


@dataclass
class Totals:
    params: int
    trainable: int
    non_trainable: int


@dataclass
class GraphDiff:
    """The differences from network ``a`` (old) to network ``b`` (new)."""

    a_label: str
    b_label: str
    added: list[Layer] = field(default_factory=list)
    removed: list[Layer] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unchanged: int = 0
    a_totals: Totals = field(default_factory=lambda: Totals(0, 0, 0))
    b_totals: Totals = field(default_factory=lambda: Totals(0, 0, 0))
    a_errors: list[str] = field(default_factory=list)
    b_errors: list[str] = field(default_factory=list)
    b_order: list[str] = field(default_factory=list)
    """The node ids of ``b``, producers first (the report's order)."""

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed) and \
            self.a_totals == self.b_totals


class DiffSourceError(Exception):
    """A source that cannot be compared; ``str(err)`` is one line for the user."""


# --- comparing ---------------------------------------------------------------------------------


def _definition(graph: Graph, node: Node) -> str | None:
    block = graph.blocks.get(node.params.get("block")) if node.type == BLOCK_TYPE else None
    if block is None:
        return None
    sub = block.graph
    layers = [[n.name, n.type, _plain_params(sub, n), n.trainable, _input_names(sub, n.id)]
              for n in (sub.nodes[nid] for nid in sub.topological_order())]
    return json.dumps({"kind": block.kind, "layers": layers}, sort_keys=True, default=str)


def _plain_params(graph: Graph, node: Node) -> dict[str, Any]:
    if node.type == BLOCK_TYPE:
        return {k: to_plain(v) for k, v in node.params.items()}
    return catalog.get(node.type).non_default(node.params)


def _input_names(graph: Graph, node_id: str) -> tuple[str, ...]:
    names = []
    for e in graph.in_edges(node_id):
        src = graph.nodes[e.src].name
        names.append(src if e.src_port == 0 else f"{src}[{e.src_port}]")
    return tuple(names)


def layers_of(graph: Graph) -> list[Layer]:
    """Every layer of ``graph`` as compared, producers first."""
    engine = graph.inference
    layers = []
    for nid in graph.topological_order():
        node = graph.nodes[nid]
        r = engine.results.get(nid)
        layers.append(Layer(
            nid, node.name, type_label(graph, node.type, node.params),
            {k: to_plain(v) for k, v in node.params.items()},
            list(r.outputs) if r is not None and r.outputs is not None else None,
            r.params if r is not None else 0, r.trainable if r is not None else 0,
            node.trainable, _input_names(graph, nid), _definition(graph, node)))
    return layers


def _totals(graph: Graph) -> Totals:
    t = graph.inference.totals()
    return Totals(t.params, t.trainable, t.non_trainable)


def _compare(old: Layer, new: Layer, renames: Mapping[str, str], a: Graph, b: Graph) -> Change:
    change = Change(old, new)
    if old.type != new.type:
        change.differences["type"] = (old.type, new.type)
        # different layer types share few parameters: compare what each sets
        old_params = _plain_params(a, a.nodes[old.node_id])
        new_params = _plain_params(b, b.nodes[new.node_id])
    else:
        old_params, new_params = old.params, new.params
    old_same, new_same = _effective(old_params), _effective(new_params)
    for key in list(old_params) + [k for k in new_params if k not in old_params]:
        if old_same.get(key) != new_same.get(key):
            change.params[key] = (old_params.get(key), new_params.get(key))
    if old.outputs != new.outputs:
        change.differences["output_shape"] = (old.outputs, new.outputs)
    if old.count != new.count:
        change.differences["params"] = (old.count, new.count)
    if old.trainable_count != new.trainable_count:
        change.differences["trainable_params"] = (old.trainable_count, new.trainable_count)
    if old.trainable != new.trainable:
        change.differences["trainable"] = (old.trainable, new.trainable)
    if tuple(_renamed_input(n, renames) for n in old.inputs) != new.inputs:
        change.differences["inputs"] = (list(old.inputs), list(new.inputs))
    if old.definition != new.definition:
        change.differences["layers"] = ("", "")
    return change


def _effective(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as Keras reads them, where two spellings mean the same layer (a model
    imported from Keras spells out what a project leaves as None): ``data_format`` None is
    channels_last, a pooling layer's ``strides`` None is its ``pool_size``."""
    out = dict(params)
    if "data_format" in out and out["data_format"] is None:
        out["data_format"] = "channels_last"
    if "strides" in out and out["strides"] is None and "pool_size" in out:
        out["strides"] = out["pool_size"]
    return out


def _renamed_input(name: str, renames: Mapping[str, str]) -> str:
    base, _, port = name.partition("[")
    return renames.get(base, base) + (f"[{port}" if port else "")


def diff_graphs(a: Graph, b: Graph, a_label: str = "a", b_label: str = "b", *,
                match_renamed: bool = True) -> GraphDiff:
    """The differences from ``a`` (old) to ``b`` (new); ``match_renamed=False`` matches layers
    by name only (a renamed layer is then removed and added)."""
    old_layers, new_layers = layers_of(a), layers_of(b)
    old_by_name = {layer.name: layer for layer in old_layers}
    new_names = {layer.name for layer in new_layers}
    renames: dict[str, str] = {}   # old name -> new name, for every matched layer
    matched: dict[str, Layer] = {}  # new name -> its old layer
    for layer in new_layers:
        if layer.name in old_by_name:
            renames[layer.name] = layer.name
            matched[layer.name] = old_by_name[layer.name]
    if match_renamed:
        spare = [o for o in old_layers if o.name not in new_names]
        for layer in new_layers:
            if layer.name in matched:
                continue
            for o in spare:
                if o.type == layer.type and \
                        tuple(_renamed_input(n, renames) for n in o.inputs) == layer.inputs:
                    spare.remove(o)
                    renames[o.name] = layer.name
                    matched[layer.name] = o
                    break
    result = GraphDiff(a_label, b_label, a_totals=_totals(a), b_totals=_totals(b),
                       a_errors=a.inference.errors(), b_errors=b.inference.errors(),
                       b_order=[layer.node_id for layer in new_layers])
    for layer in new_layers:
        old = matched.get(layer.name)
        if old is None:
            result.added.append(layer)
            continue
        change = _compare(old, layer, renames, a, b)
        if change.changed:
            result.changed.append(change)
        else:
            result.unchanged += 1
    result.removed = [o for o in old_layers if o.name not in renames]
    return result


def diff_projects(a: Project, b: Project, a_label: str | None = None,
                  b_label: str | None = None) -> GraphDiff:
    return diff_graphs(a.graph, b.graph, a_label or a.name, b_label or b.name)


# --- sources -----------------------------------------------------------------------------------


def source_kind(path: str | os.PathLike[str]) -> str:
    """What ``path`` holds: ``"project"``, ``"run"`` (a run folder or its run.json) or
    ``"keras"`` (a Keras model file, or a ``model.to_json()`` architecture). Raises
    ``DiffSourceError`` for a path that is none of them."""
    p = Path(path)
    if p.is_dir():
        if (p / RUN_FILE).is_file():
            return "run"
        raise DiffSourceError(f"{p}: a folder without a {RUN_FILE}; give a project file, a "
                              "run folder or a Keras model file")
    if not p.exists():
        raise DiffSourceError(f"{p}: no such file")
    if p.suffix.lower() in MODEL_SUFFIXES:
        return "keras"
    if p.name == RUN_FILE:
        return "run"
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return "project"  # load() names what is wrong with it
        if isinstance(data, dict):
            if data.get("format") == FORMAT:
                return "project"
            if "project" in data:
                return "run"
            if "class_name" in data and "config" in data:
                return "keras"
    return "project"


def load_run(path: str | os.PathLike[str]) -> Project:
    """The project a run trained: from a run folder or its ``run.json``."""
    p = Path(path)
    record_path = p / RUN_FILE if p.is_dir() else p
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DiffSourceError(f"{record_path}: cannot read it: {err.strerror or err}") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise DiffSourceError(f"{record_path}: not a valid run record: {err}") from None
    project = record.get("project") if isinstance(record, dict) else None
    if not isinstance(project, dict):
        raise DiffSourceError(f"{record_path}: this run record holds no project")
    try:
        return loads(json.dumps(project), f"{record_path} (its project)")
    except ProjectError as err:
        raise DiffSourceError(str(err)) from None


def load_source(path: str | os.PathLike[str]) -> Project:
    """A project file or a run's project (``DiffSourceError`` otherwise; a Keras model file is
    the caller's to import: ``source_kind`` says ``"keras"``)."""
    kind = source_kind(path)
    if kind == "run":
        return load_run(path)
    if kind == "keras":
        raise DiffSourceError(f"{path}: a Keras model file; import it first (netbuilder import)")
    try:
        return load(path)
    except ProjectError as err:
        raise DiffSourceError(str(err)) from None


# --- text and JSON -----------------------------------------------------------------------------


def outputs_text(outputs: list[Shape] | None) -> str:
    if outputs is None:
        return "?"
    return ", ".join(fmt_shape(s) for s in outputs)


def count_text(n: int) -> str:
    return f"{n:,} param{'s' if n != 1 else ''}"


def delta_text(old: int, new: int) -> str:
    """``93,322 → 112,010 (+18,688)``, or ``93,322 (no change)``."""
    if old == new:
        return f"{old:,} (no change)"
    return f"{old:,} → {new:,} ({new - old:+,})"


def layer_line(layer: Layer, sign: str) -> str:
    """``+ dense_2 (Dense) (None, 10) 650 params``."""
    inputs = f", from {', '.join(layer.inputs)}" if layer.inputs else ""
    frozen = ", frozen" if not layer.trainable else ""
    return (f"{sign} {layer.name} ({layer.type}) {outputs_text(layer.outputs)} "
            f"{count_text(layer.count)}{frozen}{inputs}")


def change_parts(change: Change) -> list[str]:
    """What changed in one layer, one phrase each: ``filters 32 → 64``."""
    parts = []
    if change.renamed:
        parts.append(f"renamed from {change.old.name}")
    d = change.differences
    if "type" in d:
        parts.append(f"type {d['type'][0]} → {d['type'][1]}")
    for key, (before, after) in change.params.items():
        parts.append(f"{key} {value_text(before)} → {value_text(after)}")
    if "layers" in d:
        parts.append("its block's layers changed")
    if "trainable" in d:
        parts.append("frozen" if d["trainable"][0] else "unfrozen")
    if "inputs" in d:
        before, after = d["inputs"]
        parts.append(f"inputs {', '.join(before) or '-'} → {', '.join(after) or '-'}")
    if "output_shape" in d:
        parts.append(f"output {outputs_text(d['output_shape'][0])} → "
                     f"{outputs_text(d['output_shape'][1])}")
    if "params" in d:
        parts.append(f"params {d['params'][0]:,} → {d['params'][1]:,}")
    if "trainable_params" in d and _delta(d["trainable_params"]) != _delta(
            d.get("params", (0, 0))):  # (said already by params, unless the frozen part moved)
        parts.append(f"trainable params {d['trainable_params'][0]:,} → "
                     f"{d['trainable_params'][1]:,}")
    return parts


def _delta(pair: tuple[int, int]) -> int:
    return pair[1] - pair[0]


def change_line(change: Change) -> str:
    """``~ conv2d (Conv2D): filters 32 → 64; output … → …; params 320 → 640``."""
    return f"~ {change.new.name} ({change.new.type}): {'; '.join(change_parts(change))}"


def totals_lines(diff: GraphDiff) -> list[str]:
    a, b = diff.a_totals, diff.b_totals
    return [f"Total params: {delta_text(a.params, b.params)}",
            f"Trainable params: {delta_text(a.trainable, b.trainable)}",
            f"Non-trainable params: {delta_text(a.non_trainable, b.non_trainable)}"]


def counts_line(diff: GraphDiff) -> str:
    return (f"Layers: {len(diff.changed)} changed, {len(diff.added)} added, "
            f"{len(diff.removed)} removed, {diff.unchanged} unchanged")


def format_text(diff: GraphDiff) -> str:
    """The report: one line per layer added (+), changed (~) or removed (-), then the totals."""
    out = [f"--- {diff.a_label}", f"+++ {diff.b_label}"]
    for layer in _new_order(diff):
        out.append(layer_line(layer, "+") if isinstance(layer, Layer) else change_line(layer))
    out += [layer_line(layer, "-") for layer in diff.removed]
    if not (diff.added or diff.removed or diff.changed):
        out.append("No layer differs.")
    out.append(counts_line(diff))
    out += totals_lines(diff)
    for side, errors in (("a", diff.a_errors), ("b", diff.b_errors)):
        label = diff.a_label if side == "a" else diff.b_label
        out += [f"! {label}: {e}" for e in errors]
    return "\n".join(out) + "\n"


def _new_order(diff: GraphDiff) -> list[Layer | Change]:
    """Added and changed layers in the new network's order (producers first)."""
    position = {nid: i for i, nid in enumerate(diff.b_order)}
    items: list[Layer | Change] = [*diff.added, *diff.changed]
    return sorted(items, key=lambda x: position.get(
        x.node_id if isinstance(x, Layer) else x.new.node_id, len(position)))


def _shape_json(outputs: list[Shape] | None) -> Any:
    if outputs is None:
        return None
    if len(outputs) == 1:
        return list(outputs[0])
    return [list(s) for s in outputs]


def _layer_json(layer: Layer) -> dict[str, Any]:
    return {"name": layer.name, "type": layer.type, "output_shape": _shape_json(layer.outputs),
            "params": layer.count, "trainable_params": layer.trainable_count,
            "trainable": layer.trainable, "inputs": list(layer.inputs)}


def _old_new(before: Any, after: Any) -> dict[str, Any]:
    return {"old": before, "new": after}


def to_json(diff: GraphDiff) -> dict[str, Any]:
    """The ``diff --json`` document (see ``cli/diff.py`` for its keys)."""
    changed = []
    for c in diff.changed:
        entry: dict[str, Any] = {"name": c.new.name, "old_name": c.old.name, "type": c.new.type}
        changes: dict[str, Any] = {}
        if c.params:
            changes["config"] = {k: _old_new(v[0], v[1]) for k, v in c.params.items()}
        for key, (before, after) in c.differences.items():
            if key == "output_shape":
                before, after = _shape_json(before), _shape_json(after)
            if key == "layers":
                changes[key] = True
                continue
            changes[key] = _old_new(before, after)
        entry["changes"] = changes
        changed.append(entry)
    a, b = diff.a_totals, diff.b_totals
    return {
        "a": diff.a_label,
        "b": diff.b_label,
        "identical": diff.identical,
        "added": [_layer_json(layer) for layer in diff.added],
        "removed": [_layer_json(layer) for layer in diff.removed],
        "changed": changed,
        "unchanged": diff.unchanged,
        "totals": {key: {"old": old, "new": new, "delta": new - old}
                   for key, old, new in (("total_params", a.params, b.params),
                                         ("trainable_params", a.trainable, b.trainable),
                                         ("non_trainable_params", a.non_trainable,
                                          b.non_trainable))},
        "errors": {"a": list(diff.a_errors), "b": list(diff.b_errors)},
    }
