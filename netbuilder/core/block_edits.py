"""Edits of blocks in a graph: "Make block", "Expand" and "Collapse", and the snapshots that
undo them.

``make_block`` turns a selection into a definition plus one instance wired in its place,
``expand_block`` puts an instance's layers on the canvas (remembering the group) and
``collapse_block`` puts the instance back. ``snapshot``/``restore`` record a graph's whole state
for undo of those structural edits. What a block is and what its instances evaluate to is in
``netbuilder.core.blocks``.
"""

from __future__ import annotations

import json
import keyword
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from netbuilder.core.blocks import Block
from netbuilder.core.graph import BLOCK_TYPE, Edge, Graph, GraphError
from netbuilder.core.layout import auto_layout

# --- copying and snapshots -------------------------------------------------------------------


@dataclass
class Snapshot:
    """A graph's whole state: nodes, edges, block definitions (for undoing structural edits)."""

    nodes: list[tuple[str, str, str, dict[str, Any], bool, tuple[float, float]]]
    edges: list[Edge]
    blocks: dict[str, Block]
    groups: dict[str, ExpandedGroup] = field(default_factory=dict)
    sharing: dict[str, str] = field(default_factory=dict)
    """Shared layers: call id -> owner id (``Graph.sharing``)."""


def snapshot(graph: Graph) -> Snapshot:
    nodes = [(n.id, n.type, n.name, dict(n.params), n.trainable, n.position)
             for n in graph.nodes.values()]
    return Snapshot(nodes, list(graph.edges), dict(graph.blocks), dict(groups(graph)),
                    graph.sharing)


def restore(graph: Graph, snap: Snapshot) -> None:
    """Put ``graph`` back to ``snap``, touching only what differs (views see the changes)."""
    wanted = {n[0]: n for n in snap.nodes}
    with graph.batch():
        for edge in list(graph.edges):
            if edge not in snap.edges or edge.src not in wanted or edge.dst not in wanted:
                graph.disconnect(edge)
        for nid, node in list(graph.nodes.items()):
            want = wanted.get(nid)
            if want is None or want[1] != node.type or (
                    node.type == BLOCK_TYPE and want[3].get("block") != node.params.get("block")):
                graph.remove_node(nid)
        graph.restore_sharing(snap.sharing)  # unshared first: params below are a node's own
        for name in [b for b in graph.blocks if b not in snap.blocks]:
            del graph.blocks[name]
            graph.inference.forget_block(name)
        for name, block in snap.blocks.items():
            if graph.blocks.get(name) is not block:
                graph.add_block(block)
        for nid, layer_type, name, params, trainable, position in snap.nodes:
            if nid not in graph.nodes:
                if graph.node_by_name(name) is not None:
                    graph.rename(graph.node_by_name(name).id, graph.unique_name(name + "_tmp"))
                graph.add_node(layer_type, params, name=name, node_id=nid, position=position,
                               trainable=trainable)
                continue
            node = graph.nodes[nid]
            if node.name != name:
                clash = graph.node_by_name(name)
                if clash is not None:
                    graph.rename(clash.id, graph.unique_name(name + "_tmp"))
                graph.rename(nid, name)
            for key, value in params.items():
                if key != "block" and node.params.get(key) != value:
                    graph.set_param(nid, key, value)
            graph.set_trainable(nid, trainable)
            graph.move(nid, position)
        for edge in snap.edges:
            if edge not in graph.edges:
                graph.connect(edge.src, edge.dst, edge.src_port, edge.dst_port)
        graph.restore_sharing(snap.sharing)
        order = [n[0] for n in snap.nodes]
        if list(graph.nodes) != order:  # insertion order breaks ties in topological order
            graph.reorder(order)
            graph.inference.update(order)
    _groups[graph] = dict(snap.groups)


def copy_graph(graph: Graph, node_ids: Iterable[str] | None = None) -> Graph:
    """A new graph with the same nodes (ids, names, params) and the edges among them."""
    keep = set(graph.nodes if node_ids is None else node_ids)
    g = Graph()
    g.blocks.update(graph.blocks)
    with g.batch():
        for nid in graph.topological_order():
            if nid in keep:
                n = graph.nodes[nid]
                g.add_node(n.type, n.params, name=n.name, node_id=nid, position=n.position,
                           trainable=n.trainable)
        for e in graph.edges:
            if e.src in keep and e.dst in keep:
                g.connect(e.src, e.dst, e.src_port, e.dst_port)
    return g


# --- make block --------------------------------------------------------------------------------


def _block_name_ok(graph: Graph, name: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise GraphError(f"block name {name!r}: use letters, digits and '_' (a Python name, "
                         "since export writes it as a function)")


def make_block(graph: Graph, node_ids: Iterable[str], name: str, *,
               exposed: Mapping[str, Iterable[tuple[str, str]]] | None = None,
               optional: Mapping[str, tuple[str, Any]] | None = None,
               instance_name: str | None = None, replace: bool = False) -> str:
    """Turn the selected nodes into block ``name`` and one instance wired in their place;
    returns the instance's id.

    Edges entering the selection become the block's inputs (one per distinct source tensor,
    in the order of the layers they feed), edges leaving it its outputs. ``exposed`` maps a
    parameter name to (selected node id, parameter) pairs. ``replace`` allows an existing
    definition of that name to be replaced (every instance then changes)."""
    selection = [nid for nid in graph.topological_order() if nid in set(node_ids)]
    if not selection:
        raise GraphError("select the layers to make a block of")
    _block_name_ok(graph, name)
    if name in graph.blocks and not replace:
        raise GraphError(f"a block named {name!r} exists already; choose another name")
    chosen = set(selection)
    for nid in selection:
        node = graph.nodes[nid]
        if node.type == "Input":
            raise GraphError(f"{node.name} is an Input layer: a block's inputs are the "
                             "connections entering the selection; leave Input layers out")
    # the selection must be convex: no path leaves it and comes back
    outside_from_inside = set()
    stack = [e.dst for nid in selection for e in graph.out_edges(nid) if e.dst not in chosen]
    while stack:
        nid = stack.pop()
        if nid in outside_from_inside:
            continue
        outside_from_inside.add(nid)
        for e in graph.out_edges(nid):
            if e.dst in chosen:
                raise GraphError(f"the selection cannot be one block: {graph.nodes[nid].name} "
                                 "is outside it but between selected layers; add it to the "
                                 "selection")
            stack.append(e.dst)
    in_sources: list[tuple[str, int]] = []
    for nid in selection:
        for e in graph.in_edges(nid):
            if e.src not in chosen and (e.src, e.src_port) not in in_sources:
                in_sources.append((e.src, e.src_port))
    out_ports: list[tuple[str, int]] = []
    for nid in selection:
        for e in graph.out_edges(nid):
            if e.dst not in chosen and (nid, e.src_port) not in out_ports:
                out_ports.append((nid, e.src_port))
    if not out_ports:  # nothing consumes the selection: its last layers are the outputs
        out_ports = [(nid, 0) for nid in selection
                     if not any(e.dst in chosen for e in graph.out_edges(nid))]
    if not in_sources:
        raise GraphError("the selection takes no input: a block needs at least one connection "
                         "entering it")
    results = graph.inference.results
    sub = copy_graph(graph, selection)
    input_ids = []
    with sub.batch():
        for i, (src, port) in enumerate(in_sources):
            r = results.get(src)
            if r is None or r.outputs is None or port >= len(r.outputs):
                raise GraphError(f"{graph.nodes[src].name} has no known shape yet: fix the "
                                 "layers before the selection first")
            shape = list(r.outputs[port][1:])
            label = "inputs" if len(in_sources) == 1 else f"inputs_{i + 1}"
            inp = sub.add_node("Input", {"shape": shape}, name=sub.unique_name(label))
            input_ids.append(inp.id)
        for nid in selection:
            for e in graph.in_edges(nid):
                if e.src not in chosen:
                    k = in_sources.index((e.src, e.src_port))
                    sub.connect(input_ids[k], nid, 0, e.dst_port)
    block = Block(name, sub, input_ids, list(out_ports), "function",
                  exposed={k: [tuple(t) for t in v] for k, v in (exposed or {}).items()},
                  optional=dict(optional or {}))
    xs = [graph.nodes[n].position[0] for n in selection]
    ys = [graph.nodes[n].position[1] for n in selection]
    position = (sum(xs) / len(xs), sum(ys) / len(ys))
    external_out = [(e, out_ports.index((e.src, e.src_port)))
                    for nid in selection for e in graph.out_edges(nid) if e.dst not in chosen]
    with graph.batch():
        for nid in selection:
            graph.remove_node(nid)
        graph.add_block(block)
        inst = graph.add_node(BLOCK_TYPE, {"block": name},
                              name=instance_name or graph.unique_name(name), position=position)
        for k, (src, port) in enumerate(in_sources):
            graph.connect(src, inst.id, port, k)
        for e, k in external_out:
            graph.connect(inst.id, e.dst, k, e.dst_port)
    return inst.id


# --- expand and collapse -----------------------------------------------------------------------


@dataclass
class ExpandedGroup:
    """An expanded instance: what "Collapse" needs to put it back."""

    block: str
    instance_id: str
    instance_name: str
    params: dict[str, Any]
    trainable: bool
    position: tuple[float, float]
    node_ids: list[str]  # the expanded layers, in the block's order
    fingerprint: tuple[Any, ...]
    inputs: list[tuple[str, int]]  # outside sources feeding the block's inputs, in order
    outputs: list[list[tuple[str, int]]]  # per block output: the outside (node, port) it fed
    output_nodes: list[tuple[str, int]]  # per block output: the expanded (node, port)
    model: bool = False  # a nested model (a Keras Application too): its flags may change
    inner: list[str] = field(default_factory=list)  # the block's node ids behind ``node_ids``
    flags: tuple[bool, ...] = ()  # the expanded layers' trainable flags, as expanded
    shifted: dict[str, float] = field(default_factory=dict)  # nodes moved down to make room
    index: int = -1  # the instance's place among the graph's nodes (ties in the layer order)


_groups: weakref.WeakKeyDictionary[Graph, dict[str, ExpandedGroup]] = weakref.WeakKeyDictionary()


def groups(graph: Graph) -> dict[str, ExpandedGroup]:
    """Expanded instances of ``graph`` that can be collapsed: instance name -> group."""
    found = _groups.get(graph, {})
    return {k: g for k, g in found.items() if all(n in graph.nodes for n in g.node_ids)}


def _tuples(value: Any) -> Any:
    """JSON's lists back to the tuples a group holds (fingerprints compare as tuples)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def groups_to_plain(graph: Graph) -> list[dict[str, Any]]:
    """The expanded groups of ``graph`` as JSON-able dicts (saved with the project, so that
    Collapse still works after it is reopened)."""
    out = []
    for group in groups(graph).values():
        entry = {f.name: getattr(group, f.name) for f in fields(ExpandedGroup)}
        out.append(json.loads(json.dumps(entry)))   # tuples -> lists, plain values only
    return out


def restore_groups(graph: Graph, entries: list[Any]) -> None:
    """Give ``graph`` the expanded groups ``groups_to_plain`` wrote; ``GraphError`` naming the
    problem when an entry does not fit the graph."""
    restored: dict[str, ExpandedGroup] = {}
    names = {f.name for f in fields(ExpandedGroup)}
    for i, entry in enumerate(entries):
        where = f"expanded block {i + 1}"
        if not isinstance(entry, dict) or set(entry) != names:
            raise GraphError(f"{where}: needs exactly the keys {', '.join(sorted(names))}")
        try:
            group = ExpandedGroup(
                block=str(entry["block"]), instance_id=str(entry["instance_id"]),
                instance_name=str(entry["instance_name"]), params=dict(entry["params"]),
                trainable=bool(entry["trainable"]), position=_tuples(entry["position"]),
                node_ids=[str(n) for n in entry["node_ids"]],
                fingerprint=_tuples(entry["fingerprint"]),
                inputs=[_tuples(p) for p in entry["inputs"]],
                outputs=[[_tuples(p) for p in ports] for ports in entry["outputs"]],
                output_nodes=[_tuples(p) for p in entry["output_nodes"]],
                model=bool(entry["model"]), inner=[str(n) for n in entry["inner"]],
                flags=_tuples(entry["flags"]),
                shifted={str(k): float(v) for k, v in dict(entry["shifted"]).items()},
                index=int(entry["index"]))
        except (TypeError, ValueError) as err:
            raise GraphError(f"{where}: {err}") from None
        missing = [n for n in group.node_ids if n not in graph.nodes]
        if missing:
            raise GraphError(f"{where} ({group.instance_name}): its layers {missing[:3]} are "
                             "not in the graph")
        if group.block not in graph.blocks:
            raise GraphError(f"{where} ({group.instance_name}): no block named {group.block!r}")
        restored[group.instance_name] = group
    if restored:
        _groups[graph] = restored


def group_of(graph: Graph, node_id: str) -> ExpandedGroup | None:
    """The expanded group ``node_id`` belongs to, if any."""
    for group in groups(graph).values():
        if node_id in group.node_ids:
            return group
    return None


def _fingerprint(graph: Graph, node_ids: list[str], flags: bool = True) -> tuple[Any, ...]:
    """What the expanded layers are: types, parameters, connections (and trainable flags)."""
    keep = set(node_ids)
    nodes = tuple((graph.nodes[n].type, repr(sorted(graph.nodes[n].params.items())),
                   graph.nodes[n].trainable if flags else None) for n in node_ids)
    edges = tuple(sorted((node_ids.index(e.src), node_ids.index(e.dst), e.src_port, e.dst_port)
                         for n in node_ids for e in graph.in_edges(n) if e.src in keep))
    return nodes, edges


def expand_block(graph: Graph, node_id: str) -> list[str]:
    """Replace a block instance by its layers (named ``<instance>_<layer>``, as the Keras build
    names them; a repeated instance's calls one below the other, ``<instance>_r2_<layer>``...),
    spread around where it was; returns the new node ids. Works for model blocks
    too (their layers then become plain layers of this graph, with the trainable flags they
    have in the model): a nested model's layers (a Keras Application's: VGG16's 19, ResNet50's
    175) are laid out top-down from where the instance was, in the block's own layout
    (``core.layout``), and the nodes below it move down to make room (collapse moves them back).
    """
    node = graph.node(node_id)
    if node.type != BLOCK_TYPE:
        raise GraphError(f"{node.name} is not a block")
    index = list(graph.nodes).index(node_id)
    block = graph.blocks[node.params["block"]].for_instance(node.params)
    sub = block.graph
    inner = [nid for nid in sub.topological_order() if nid not in block.inputs]
    if not inner:
        raise GraphError(f"block {block.name} has no layers to expand")
    in_edges = list(graph.in_edges(node_id))
    sources = [(e.src, e.src_port) for e in sorted(in_edges, key=lambda e: e.dst_port)]
    out_edges = list(graph.out_edges(node_id))
    # where the block's layers go: their own layout, centred on the instance
    where = {n: sub.nodes[n].position for n in inner}
    xs = [p[0] for p in where.values()]
    ys = [p[1] for p in where.values()]
    if max(max(xs) - min(xs), max(ys) - min(ys)) < 1.0:  # no layout inside: make one
        where = auto_layout(sub)
        xs = [where[n][0] for n in inner]
        ys = [where[n][1] for n in inner]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    shifted: dict[str, float] = {}
    if block.is_model:  # top row where the instance was; what was below it moves down
        cy = min(ys)
        height = max(ys) - min(ys)
        if height > 0:
            shifted = {n.id: height for n in graph.nodes.values()
                       if n.id != node_id and n.position[1] > node.position[1] + 1.0}
    mapping: dict[str, str] = {}
    ids: list[str] = []
    step = max(ys) - min(ys) + 80.0  # a repeated block: each call below the previous one
    with graph.batch():
        graph.remove_node(node_id)
        for nid, dy in shifted.items():
            x, y = graph.nodes[nid].position
            graph.move(nid, (x, y + dy))

        feeds = list(sources)  # what the current call takes

        def outer(src: str, port: int) -> tuple[str, int]:
            if src in block.inputs:
                return feeds[block.inputs.index(src)]
            return mapping[src], port

        for k in range(block.repeat):
            if k:  # this call takes the previous call's output
                feeds = [outer(nid, port) for nid, port in block.outputs]
                mapping = {}
            call = block.call_name(node.name, k)
            dy = k * step - (block.repeat - 1) * step / 2
            for nid in inner:
                n = sub.nodes[nid]
                pos = (node.position[0] + where[nid][0] - cx,
                       node.position[1] + where[nid][1] - cy + dy)
                if n.type == BLOCK_TYPE and n.params["block"] not in graph.blocks:
                    graph.add_block(sub.blocks[n.params["block"]])  # a block the block uses
                new = graph.add_node(n.type, n.params, name=graph.unique_name(f"{call}_{n.name}"),
                                     position=pos, trainable=n.trainable and node.trainable)
                mapping[nid] = new.id
                ids.append(new.id)
            for nid in inner:
                for e in sub.in_edges(nid):
                    src, port = outer(e.src, e.src_port)
                    graph.connect(src, mapping[nid], port, e.dst_port)
        outputs: list[list[tuple[str, int]]] = [[] for _ in block.outputs]
        for e in out_edges:
            src, port = outer(*block.outputs[e.src_port])
            graph.connect(src, e.dst, port, e.dst_port)
            outputs[e.src_port].append((e.dst, e.dst_port))
    _groups.setdefault(graph, {})[node.name] = ExpandedGroup(
        block.name, node_id, node.name, dict(node.params), node.trainable, node.position, ids,
        _fingerprint(graph, ids, flags=not block.is_model), sources, outputs,
        [outer(nid, port) for nid, port in block.outputs], block.is_model,
        list(inner) * block.repeat,
        tuple(graph.nodes[n].trainable for n in ids), shifted, index)
    return ids


def collapse_block(graph: Graph, node_id: str) -> str:
    """Put an expanded instance back (``node_id``: any of its layers); returns the instance's id.

    When its layers are as expanded, the instance comes back with its definition and values.
    When they were edited, the edited layers become a new definition (``<block>_1``...) so that
    the other instances of the original block do not change behind the user's back.

    A nested model (a Keras Application too) whose layers only had their trainable flags
    changed comes back with its definition (its ``application`` record: the build calls the
    constructor again) carrying the new flags. With other edits it becomes a plain nested model
    (``kind="model"``, no ``application``: its layers no longer match the constructor), in place
    of the definition when no other instance uses it, its layers named as in the model
    (``block1_conv1``, not ``vgg16_block1_conv1``). Nodes moved down by the expansion move
    back."""
    group = group_of(graph, node_id)
    if group is None:
        raise GraphError(f"{graph.node(node_id).name} is not part of an expanded block")
    ids = group.node_ids
    block = graph.blocks.get(group.block)
    with graph.batch():
        if (_fingerprint(graph, ids, flags=not group.model) != group.fingerprint
                or block is None):
            new_id = _collapse_edited(graph, group, block)
        else:
            new_id = _collapse_unchanged(graph, group, block)
        for nid, dy in group.shifted.items():
            if nid in graph.nodes:
                x, y = graph.nodes[nid].position
                graph.move(nid, (x, y - dy))
    _groups[graph].pop(group.instance_name, None)
    return new_id


def _collapse_edited(graph: Graph, group: ExpandedGroup, block: Block | None) -> str:
    ids = group.node_ids
    base = group.block
    others = any(n.type == BLOCK_TYPE and n.params.get("block") == base
                 for n in graph.nodes.values())
    if group.model and block is not None and not others:
        name = base  # the old definition is used nowhere else: this one takes its place
    else:
        name, i = base, 1
        while name in graph.blocks:
            name = f"{base}_{i}"
            i += 1
    free = graph.node_by_name(group.instance_name) is None
    new_id = make_block(graph, ids, name, replace=True,
                        instance_name=group.instance_name if free else None)
    if group.model:
        made = graph.blocks[name]
        sub = made.graph
        prefix = f"{group.instance_name}_"
        for nid in list(sub.nodes):
            old = sub.nodes[nid].name
            short = old[len(prefix):] if old.startswith(prefix) else old
            if short != old and short and sub.node_by_name(short) is None:
                sub.rename(nid, short)
        graph.add_block(Block(name, sub, list(made.inputs), list(made.outputs), "model"))
    return new_id


def _collapse_unchanged(graph: Graph, group: ExpandedGroup, block: Block) -> str:
    ids = group.node_ids
    trainable = group.trainable
    flags = tuple(graph.nodes[n].trainable for n in ids)
    if group.model and flags != group.flags:
        # the flags were changed on the canvas: the definition comes back with them
        sub = copy_graph(block.graph)
        with sub.batch():
            for inner_id, on in zip(group.inner, flags, strict=True):
                sub.set_trainable(inner_id, on)
        graph.add_block(Block(block.name, sub, list(block.inputs), list(block.outputs),
                              block.kind, application=None if block.application is None
                              else dict(block.application)))
        trainable = any(flags)
    consumers = [(e.dst, e.dst_port, e.src, e.src_port) for n in ids
                 for e in graph.out_edges(n) if e.dst not in set(ids)]
    for nid in ids:
        graph.remove_node(nid)
    name = group.instance_name if graph.node_by_name(group.instance_name) is None else None
    inst = graph.add_node(BLOCK_TYPE, group.params, name=name, position=group.position,
                          trainable=trainable,
                          node_id=group.instance_id if group.instance_id not in graph.nodes
                          else None)
    for k, (src, port) in enumerate(group.inputs):
        if src in graph.nodes:
            graph.connect(src, inst.id, port, k)
    for dst, dst_port, src, src_port in consumers:
        if (src, src_port) in group.output_nodes:
            k = group.output_nodes.index((src, src_port))
            graph.connect(inst.id, dst, k, dst_port)
    order = [n for n in graph.nodes if n != inst.id]
    if 0 <= group.index < len(order):  # back in its place: the layer order is as before
        order.insert(group.index, inst.id)
        graph.reorder(order)
    return inst.id
