"""One graph replaced by another, keeping what the person arranged (the code view's Apply).

``replacement(old, new)`` is the state ``old`` should be put in (``block_edits.restore``): the
layers, connections and block definitions of ``new``; a layer whose name is in both keeps its
node id and its position in ``old``; a new layer goes where ``new``'s own layout puts it relative
to a neighbour that kept its place (the first it reaches: an input, else an output), moved right
while it would cover another layer. Pure Python, like the rest of core.
"""

from __future__ import annotations

from collections.abc import Callable

from netbuilder.core.block_edits import Snapshot
from netbuilder.core.graph import Edge, Graph

Position = tuple[float, float]


def _ids(old: Graph, new: Graph) -> dict[str, str]:
    """New node id -> the id it gets: the old layer's of the same name, else one ``old`` has
    never used (an old id would make ``restore`` take an unrelated layer for it)."""
    by_name = {node.name: node.id for node in old.nodes.values()}
    ids = {nid: by_name[node.name] for nid, node in new.nodes.items() if node.name in by_name}
    taken = set(old.nodes) | set(ids.values())
    counter = 1
    for nid in new.nodes:
        if nid in ids:
            continue
        if nid in taken:
            while f"n{counter}" in taken:
                counter += 1
            ids[nid] = f"n{counter}"
        else:
            ids[nid] = nid
        taken.add(ids[nid])
    return ids


def _anchor(new: Graph, nid: str, placed: dict[str, Position]) -> str | None:
    for edge in new.in_edges(nid):
        if edge.src in placed:
            return edge.src
    for edge in new.out_edges(nid):
        if edge.dst in placed:
            return edge.dst
    return None


def _positions(old: Graph, new: Graph, free: Callable[[Position, list[Position]], Position]
               ) -> dict[str, Position]:
    """New node id -> its position."""
    old_by_name = {node.name: node for node in old.nodes.values()}
    placed = {nid: old_by_name[node.name].position for nid, node in new.nodes.items()
              if node.name in old_by_name}
    if not placed:
        return {nid: node.position for nid, node in new.nodes.items()}
    waiting = [nid for nid in new.topological_order() if nid not in placed]
    while waiting:
        later = []
        for nid in waiting:
            anchor = _anchor(new, nid, placed)
            if anchor is None:
                later.append(nid)
                continue
            (ax, ay), (lx, ly) = placed[anchor], new.nodes[anchor].position
            x, y = new.nodes[nid].position
            placed[nid] = free((ax + x - lx, ay + y - ly), list(placed.values()))
        if len(later) == len(waiting):  # not connected to anything placed: the layout's spot
            for nid in later:
                placed[nid] = free(new.nodes[nid].position, list(placed.values()))
            break
        waiting = later
    return placed


def replacement(old: Graph, new: Graph,
                free: Callable[[Position, list[Position]], Position] = lambda p, _: p
                ) -> Snapshot:
    """What ``old`` becomes to be ``new`` with ``old``'s ids and positions where names match;
    ``free(wanted, taken)`` moves a new layer off the ones placed already."""
    ids = _ids(old, new)
    positions = _positions(old, new, free)
    nodes = [(ids[nid], node.type, node.name, dict(node.params), node.trainable,
              positions[nid]) for nid, node in new.nodes.items()]
    edges = [Edge(ids[edge.src], ids[edge.dst], edge.src_port, edge.dst_port)
             for edge in new.edges]
    return Snapshot(nodes, edges, dict(new.blocks), {},
                    {ids[call]: ids[owner] for call, owner in new.sharing.items()})
