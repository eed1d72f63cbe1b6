"""The network as a graph: nodes (a layer type, its parameters, a name, a position) and edges
(an output port of one node to an input port of another).

Every edit goes through ``Graph``'s methods. They refuse what can never be valid (an unknown layer
type, a bad parameter value, a cycle, a second edge into a single-input port) with ``GraphError``,
keep shapes and parameter counts up to date incrementally, and tell subscribers what changed.
Views observe; they never mutate nodes behind the graph's back.
"""

from __future__ import annotations

import copy
import heapq
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netbuilder.core import catalog
from netbuilder.core.catalog.base import CatalogError, ParamError, snake_case
from netbuilder.core.inference import InferenceEngine

if TYPE_CHECKING:
    from netbuilder.core.blocks import Block

BLOCK_TYPE = "Block"
"""Node type of a block instance: a reusable subgraph or a nested model (``params["block"]``)."""


class GraphError(Exception):
    """An edit that can never be valid; ``str(err)`` says why."""


@dataclass(frozen=True)
class Edge:
    """A tensor from output ``src_port`` of node ``src`` to input ``dst_port`` of node ``dst``."""

    src: str
    dst: str
    src_port: int = 0
    dst_port: int = 0


@dataclass
class Node:
    """One layer (or block instance). ``params`` holds every parameter, resolved and validated;
    change them through ``Graph.set_param``."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    trainable: bool = True
    position: tuple[float, float] = (0.0, 0.0)
    shares: str | None = None
    """A later call of a shared layer: the id of the node that owns the layer (its first
    call). Keras makes one layer and calls it once per node: ``params`` is the owner's own dict
    and ``trainable`` the owner's flag, and the weights count once."""


@dataclass(frozen=True)
class Event:
    """A change to the graph. ``kind`` is past tense: node_added, node_removed, edge_added,
    edge_removed, param_changed, node_renamed, node_moved, trainable_changed, block_changed,
    sharing_changed (``new``: the owner's id, or None when the node is on its own again),
    shapes_changed."""

    kind: str
    node: Node | None = None
    edge: Edge | None = None
    name: str | None = None
    old: Any = None
    new: Any = None
    nodes: frozenset[str] = frozenset()


_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")

Listener = Callable[[Event], None]


class Graph:
    """Nodes and edges of one network, with live shape and parameter inference."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.blocks: dict[str, Block] = {}
        self._in: dict[str, list[Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self._listeners: list[Listener] = []
        self._next_id = 1
        self._order: list[str] | None = None
        self._batch_depth = 0
        self._pending: set[str] = set()
        self._calls: dict[str, list[str]] = {}
        """Owner id -> the ids of the nodes that call its layer again (shared layers)."""
        self.inference = InferenceEngine(self)

    # -- observing ----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _reinfer(self, dirty: Iterable[str]) -> None:
        if self._calls:  # a shared layer's calls check their weights against each other
            dirty = {m for nid in dirty for m in self.sharing_group(nid)}
        if self._batch_depth:
            self._pending.update(dirty)
            return
        changed = self.inference.update(dirty)
        if changed:
            self._emit(Event("shapes_changed", nodes=frozenset(changed)))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many edits: inference runs once, when the outermost batch ends."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if not self._batch_depth:
                pending, self._pending = self._pending, set()
                self._reinfer(n for n in pending if n in self.nodes)

    # -- queries ------------------------------------------------------------------------------

    @property
    def edges(self) -> list[Edge]:
        return [e for node_id in self.nodes for e in self._in[node_id]]

    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise GraphError(f"no node with id {node_id!r}") from None

    def node_by_name(self, name: str) -> Node | None:
        for node in self.nodes.values():
            if node.name == name:
                return node
        return None

    def in_edges(self, node_id: str) -> list[Edge]:
        """Edges into ``node_id``, in input-port order."""
        return self._in[node_id]

    def out_edges(self, node_id: str) -> list[Edge]:
        return self._out[node_id]

    def inputs(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.type == "Input"]

    def outputs(self) -> list[Node]:
        """Nodes whose outputs nothing consumes: the model's outputs, in order."""
        return [n for n in self.nodes.values() if not self._out[n.id] and n.type != "Input"]

    def topological_order(self) -> list[str]:
        """Node ids, producers before consumers; ties keep insertion order."""
        if self._order is None:
            indegree = {nid: len({e.src for e in self._in[nid]}) for nid in self.nodes}
            position = {nid: i for i, nid in enumerate(self.nodes)}
            ready = [(position[n], n) for n, d in indegree.items() if d == 0]
            heapq.heapify(ready)
            order: list[str] = []
            while ready:
                _, nid = heapq.heappop(ready)
                order.append(nid)
                for dst in dict.fromkeys(e.dst for e in self._out[nid]):
                    indegree[dst] -= 1
                    if indegree[dst] == 0:
                        heapq.heappush(ready, (position[dst], dst))
            self._order = order
        return self._order

    def _reaches(self, start: str, target: str) -> bool:
        stack, seen = [start], {start}
        while stack:
            nid = stack.pop()
            if nid == target:
                return True
            for e in self._out[nid]:
                if e.dst not in seen:
                    seen.add(e.dst)
                    stack.append(e.dst)
        return False

    # -- shared layers ------------------------------------------------------------------------

    def owner_of(self, node_id: str) -> str:
        """The node that owns ``node_id``'s layer: itself unless it calls a shared layer."""
        node = self.nodes.get(node_id)
        return node.shares or node_id if node is not None else node_id

    def sharing_group(self, node_id: str) -> list[str]:
        """Every call of ``node_id``'s layer, the owner first ([node_id] when not shared)."""
        owner = self.owner_of(node_id)
        calls = self._calls.get(owner)
        return [owner, *calls] if calls else [node_id]

    @property
    def sharing(self) -> dict[str, str]:
        """Call id -> owner id, for every later call of a shared layer (for undo)."""
        return {c: owner for owner, calls in self._calls.items() for c in calls}

    def _check_sharable(self, node: Node) -> None:
        if node.type in ("Input", BLOCK_TYPE):
            what = "an Input" if node.type == "Input" else "a block instance"
            raise GraphError(f"{node.name} is {what}: only a layer can be called again (a "
                             "nested model placed twice is shared already)")

    def share(self, node_id: str, owner_id: str) -> None:
        """Make ``node_id`` a later call of ``owner_id``'s layer (same type): it takes the
        owner's parameters and trainable flag and shares its weights."""
        node, owner = self.node(node_id), self.node(self.owner_of(self.node(owner_id).id))
        self._check_sharable(owner)
        if node.type != owner.type:
            raise GraphError(f"{node.name} ({node.type}) cannot share the weights of "
                             f"{owner.name} ({owner.type}): a shared layer has one type")
        if node.id == owner.id or node.shares == owner.id:
            return
        if self._calls.get(node.id):
            raise GraphError(f"{node.name} owns a shared layer; unshare its calls first")
        if node.shares is not None:
            self._drop_call(node)
        node.shares, node.params, node.trainable = owner.id, owner.params, owner.trainable
        self._calls.setdefault(owner.id, []).append(node.id)
        self._emit(Event("sharing_changed", node=node, new=owner.id))
        self._reinfer([node.id, owner.id])

    def unshare(self, node_id: str) -> None:
        """Give ``node_id`` a layer of its own (a copy of the parameters, new weights). The
        owner unshared hands the layer to its first other call."""
        node = self.node(node_id)
        group = self.sharing_group(node_id)
        if len(group) == 1:
            return
        if node.shares is None:
            self._hand_over(node)
        else:
            self._drop_call(node)
        node.params = copy.deepcopy(node.params)
        self._emit(Event("sharing_changed", node=node, new=None))
        self._reinfer(group)

    def restore_sharing(self, sharing: Mapping[str, str]) -> None:
        """Put the shared layers back as ``sharing`` (a ``sharing`` value) says."""
        with self.batch():
            for call, owner in self.sharing.items():
                if sharing.get(call) != owner:
                    self.unshare(call)
            for call, owner in sharing.items():
                if call in self.nodes and owner in self.nodes:
                    self.share(call, owner)

    def _drop_call(self, node: Node) -> None:
        assert node.shares is not None
        calls = self._calls[node.shares]
        calls.remove(node.id)
        if not calls:
            del self._calls[node.shares]
        node.shares = None

    def _hand_over(self, owner: Node) -> None:
        """``owner`` leaves its group: its first call owns the layer from now on."""
        calls = self._calls.pop(owner.id)
        heir = self.nodes[calls[0]]
        heir.shares = None
        if calls[1:]:
            self._calls[heir.id] = calls[1:]
        for nid in calls[1:]:
            self.nodes[nid].shares = heir.id
        self._emit(Event("sharing_changed", node=heir, new=None))

    def unique_name(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``... whichever is free (Keras' naming)."""
        taken = {n.name for n in self.nodes.values()}
        if base not in taken:
            return base
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    # -- edits --------------------------------------------------------------------------------

    def _spec_params(self, layer_type: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        if layer_type == BLOCK_TYPE:
            block = (params or {}).get("block")
            if block not in self.blocks:
                raise GraphError(f"no block named {block!r} in this project")
            return self.blocks[block].resolve_instance_params(params or {})
        try:
            return catalog.get(layer_type).resolve(params)
        except CatalogError as err:
            raise GraphError(str(err)) from None

    def add_node(self, layer_type: str, params: Mapping[str, Any] | None = None, *,
                 name: str | None = None, position: tuple[float, float] = (0.0, 0.0),
                 trainable: bool = True, node_id: str | None = None,
                 shares: str | None = None) -> Node:
        """Add a layer; ``name`` defaults to Keras' (``conv2d``, ``conv2d_1``...). With
        ``shares`` (a node id) the new node is another call of that node's layer: its type,
        parameters and trainable flag are the owner's (``params`` is ignored)."""
        owner = None
        if shares is not None:
            owner = self.node(self.owner_of(self.node(shares).id))
            self._check_sharable(owner)
            if layer_type != owner.type:
                raise GraphError(f"a {layer_type} cannot share the weights of {owner.name} "
                                 f"({owner.type}): a shared layer has one type")
            resolved, trainable = owner.params, owner.trainable
        else:
            resolved = self._spec_params(layer_type, params)
        if name is None:
            base = resolved["block"] if layer_type == BLOCK_TYPE else (
                "input_layer" if layer_type == "Input" else snake_case(layer_type))
            name = self.unique_name(base)
        self._check_name(name)
        if node_id is None:
            while f"n{self._next_id}" in self.nodes:
                self._next_id += 1
            node_id = f"n{self._next_id}"
            self._next_id += 1
        elif node_id in self.nodes:
            raise GraphError(f"a node with id {node_id!r} exists already")
        node = Node(node_id, layer_type, name, resolved, trainable,
                    (float(position[0]), float(position[1])))
        self.nodes[node_id] = node
        if owner is not None:
            node.shares = owner.id
            self._calls.setdefault(owner.id, []).append(node_id)
        self._in[node_id] = []
        self._out[node_id] = []
        self._order = None
        self._emit(Event("node_added", node=node))
        if owner is not None:
            self._emit(Event("sharing_changed", node=node, new=owner.id))
        self._reinfer([node_id])
        return node

    def remove_node(self, node_id: str) -> list[Edge]:
        """Remove a node and its edges; returns the removed edges (for undo)."""
        node = self.node(node_id)
        group = self.sharing_group(node_id)
        if node.shares is not None:
            self._drop_call(node)
        elif len(group) > 1:
            self._hand_over(node)
        removed = list(self._in[node_id]) + list(self._out[node_id])
        for edge in removed:
            self._detach(edge)
            self._emit(Event("edge_removed", edge=edge))
        del self.nodes[node_id], self._in[node_id], self._out[node_id]
        self._order = None
        self.inference.forget(node_id)
        self._emit(Event("node_removed", node=node))
        if len(group) > 1:
            self._emit(Event("sharing_changed", node=node, new=None))
        self._reinfer({e.dst for e in removed if e.dst != node_id}  # and the sources that
                      | {e.src for e in removed if e.src != node_id}  # may be outputs now
                      | {n for n in group if n != node_id})
        return removed

    def connect(self, src: str, dst: str, src_port: int = 0, dst_port: int | None = None) -> Edge:
        """Connect output ``src_port`` of ``src`` to an input of ``dst`` (the next free input
        port when ``dst_port`` is None)."""
        self.node(src)
        target = self.node(dst)
        if src == dst:
            raise GraphError(f"{target.name} cannot take its own output (that would be a cycle)")
        max_inputs = self._max_inputs(target)
        if max_inputs == 0:
            raise GraphError(f"{target.name} ({target.type}) takes no inputs")
        if self._reaches(dst, src):
            raise GraphError(
                f"connecting {self.nodes[src].name} to {target.name} would make a cycle: "
                f"{target.name} already feeds {self.nodes[src].name}")
        used = {e.dst_port for e in self._in[dst]}
        if dst_port is None:
            dst_port = next(i for i in range(len(used) + 1) if i not in used)
        if dst_port in used or (max_inputs is not None and dst_port >= max_inputs):
            if max_inputs == 1:
                raise GraphError(
                    f"{target.name} ({target.type}) takes one input and it is connected "
                    "already; remove that connection first, or join the branches with a merge "
                    "layer (Add, Concatenate)")
            if dst_port in used:
                raise GraphError(f"input {dst_port} of {target.name} is connected already")
            raise GraphError(f"{target.name} ({target.type}) takes at most {max_inputs} inputs")
        if dst_port < 0:
            raise GraphError(f"{target.name} has no input port {dst_port}")
        if src_port < 0:
            raise GraphError(f"{self.nodes[src].name} has no output port {src_port}")
        edge = Edge(src, dst, src_port, dst_port)
        self._in[dst].append(edge)
        self._in[dst].sort(key=lambda e: e.dst_port)
        self._out[src].append(edge)
        self._order = None
        self._emit(Event("edge_added", edge=edge))
        self._reinfer([src, dst])  # the source may have been an output until now
        return edge

    def disconnect(self, edge: Edge) -> None:
        if edge not in self._in.get(edge.dst, []):
            raise GraphError(f"no such connection: {edge}")
        self._detach(edge)
        self._order = None
        self._emit(Event("edge_removed", edge=edge))
        self._reinfer([edge.src, edge.dst])  # the source may be an output now

    def _detach(self, edge: Edge) -> None:
        self._in[edge.dst].remove(edge)
        self._out[edge.src].remove(edge)

    def _max_inputs(self, node: Node) -> int | None:
        if node.type == BLOCK_TYPE:
            return len(self.blocks[node.params["block"]].inputs)
        return catalog.get(node.type).max_inputs

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """Set one parameter; refuses values the layer can never take (``GraphError``)."""
        node = self.node(node_id)
        if node.type == BLOCK_TYPE:
            if name != "block":
                new = self.blocks[node.params["block"]].instance_param_value(name, value,
                                                                             node.name)
            elif value not in self.blocks:
                raise GraphError(f"{node.name}: no block named {value!r}")
            else:
                new = value
        else:
            spec = catalog.get(node.type)
            if not spec.has_param(name):
                try:
                    spec.resolve({name: value})
                except ParamError as err:
                    raise GraphError(f"{node.name}: {err}") from None
            try:
                new = spec.param(name).normalize(value)
            except ParamError as err:
                raise GraphError(f"{node.name}: {err}") from None
        old = node.params.get(name)
        if old == new:
            return
        node.params[name] = new  # a shared layer's calls hold the same dict: all of them change
        group = self.sharing_group(node_id)
        for nid in group:
            self._emit(Event("param_changed", node=self.nodes[nid], name=name, old=old,
                             new=new))
        self._reinfer(group)

    def rename(self, node_id: str, name: str) -> None:
        node = self.node(node_id)
        if node.name == name:
            return
        self._check_name(name)
        old, node.name = node.name, name
        self.inference.rename(node_id)  # error texts carry the name: views see the new ones
        self._emit(Event("node_renamed", node=node, old=old, new=name))

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise GraphError(f"invalid layer name {name!r}: use letters, digits, '_', '.' or '-'")
        if self.node_by_name(name) is not None:
            raise GraphError(f"a layer named {name!r} exists already; layer names are unique")

    def move(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        position = (float(position[0]), float(position[1]))
        if node.position != position:
            old, node.position = node.position, position
            self._emit(Event("node_moved", node=node, old=old, new=position))

    def reorder(self, node_ids: Iterable[str]) -> None:
        """Put the nodes in the order ``node_ids`` (every node id once): ties in the
        topological order follow it (structural undo puts a graph's layer order back)."""
        reordered = {nid: self.nodes[nid] for nid in node_ids}
        self.nodes.clear()
        self.nodes.update(reordered)
        self._order = None

    def set_trainable(self, node_id: str, trainable: bool) -> None:
        """Freeze or unfreeze a layer (every call of a shared layer: it has one flag)."""
        node = self.node(node_id)
        if node.trainable != trainable:
            group = self.sharing_group(node_id)
            for nid in group:
                member = self.nodes[nid]
                member.trainable = trainable
                self._emit(Event("trainable_changed", node=member, old=not trainable,
                                 new=trainable))
            self._reinfer(group)

    def add_block(self, block: Block) -> None:
        """Add or replace a block definition; every instance keeps the values of its exposed
        parameters that still fit (see ``Block.refreshed_instance_params``) and is
        re-inferred."""
        self.blocks[block.name] = block
        self.inference.forget_block(block.name)
        for node in self.nodes.values():
            if node.type == BLOCK_TYPE and node.params.get("block") == block.name:
                node.params = block.refreshed_instance_params(node.params, node.name)
        self._emit(Event("block_changed", name=block.name))
        self._reinfer(n.id for n in self.nodes.values()
                      if n.type == BLOCK_TYPE and n.params["block"] == block.name)

