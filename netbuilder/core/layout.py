"""Automatic layout of a graph: a readable top-to-bottom layered drawing.

``layered_layout(graph)`` gives every node a position, in the classic Sugiyama style:

1. **Layers** (rows): longest path from the inputs, so every edge points downward; a node without
   inputs (an Input layer) sits right above its first consumer, so a second input that joins late
   is drawn where it joins.
2. **Long edges** (a skip connection over several rows) get invisible helper points on the rows
   they cross, so they take part in the ordering and run beside the layers they skip, not
   through them.
3. **Order within a row**: barycentre sweeps down and up to reduce edge crossings; the order with
   the fewest crossings wins. Ties keep the order in which the layers were added, so branches
   stay side by side in the order they were built (helper points go after real nodes).
4. **Coordinates**: row by row, each node moves towards the median of its neighbours in the
   row above (then below), keeping the row's order and at least ``h_spacing`` between nodes
   (isotonic regression, pool-adjacent-violators), so chains are vertical and branches fan out
   symmetrically. A long edge's helper points sit on the straight line between its ends, so a
   skip connection drawn as a straight line passes at least ``h_spacing / 2`` from the centres
   of the nodes beside it (for the usual shapes: residual units, U-Nets, inception cells; a
   tangle of crossing long edges cannot always be kept clear).

Pure Python: no Qt, no Keras. Positions are node centres, in scene pixels; rows are
``v_spacing`` apart, the top row at y = 0 and the leftmost node at x = 0. The result depends only
on the graph's nodes and edges (and the order they were added), not on current positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netbuilder.core.graph import Graph

H_SPACING = 220.0
"""Minimum horizontal distance between the centres of two nodes in one row."""
V_SPACING = 110.0
"""Vertical distance between rows."""

_DUMMY_WEIGHT = 1e-3  # helper points give way to real nodes in the ordering
_CLEARANCE = 0.5  # a long edge passes this many h_spacings from the nodes beside it
_LINE_WEIGHT = 50.0  # how firmly a long edge stays straight
_DUMMIES_PER_NODE = 4  # beyond this many helper points, long edges are laid out as short ones


def layered_layout(graph: Graph, h_spacing: float = H_SPACING,
                   v_spacing: float = V_SPACING) -> dict[str, tuple[float, float]]:
    """A position ``(x, y)`` for every node of ``graph``, keyed by node id."""
    order = graph.topological_order()
    if not order:
        return {}
    index = {nid: i for i, nid in enumerate(order)}
    n_real = len(order)
    preds: list[list[int]] = [[] for _ in range(n_real)]
    succs: list[list[int]] = [[] for _ in range(n_real)]
    for nid in order:
        v = index[nid]
        for e in graph.in_edges(nid):
            u = index[e.src]
            if u not in preds[v]:
                preds[v].append(u)
                succs[u].append(v)

    rank = _layers(preds, succs)
    ranks, up, down, weight = _with_dummies(rank, preds, succs)
    rows = _order_rows(ranks, up, down, n_real)
    xs = _coordinates(rows, up, down, weight, n_real, h_spacing)

    left = min(xs[v] for v in range(n_real))
    return {nid: (round(xs[index[nid]] - left, 1), float(rank[index[nid]] * v_spacing))
            for nid in graph.nodes}


# --- 1. layers -----------------------------------------------------------------------------------


def _layers(preds: list[list[int]], succs: list[list[int]]) -> list[int]:
    """Longest path from the sources (nodes come in topological order); sources then move down
    to just above their highest consumer."""
    rank = [0] * len(preds)
    for v, ps in enumerate(preds):
        if ps:
            rank[v] = max(rank[u] for u in ps) + 1
    for v, ps in enumerate(preds):
        if not ps and succs[v]:
            rank[v] = max(0, min(rank[s] for s in succs[v]) - 1)
    return rank


# --- 2. helper points on long edges --------------------------------------------------------------


def _with_dummies(rank: list[int], preds: list[list[int]], succs: list[list[int]]
                  ) -> tuple[list[int], list[list[int]], list[list[int]], list[float]]:
    """Split every edge spanning several rows into one-row steps through helper points (ids after
    the real nodes). Returns per-point row, upper neighbours, lower neighbours and weight."""
    n = len(rank)
    ranks = list(rank)
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    weight = [1.0] * n
    budget = _DUMMIES_PER_NODE * n + 500
    for u in range(n):
        for v in succs[u]:
            span = rank[v] - rank[u]
            if span <= 1 or span - 1 > budget:
                up[v].append(u)
                down[u].append(v)
                continue
            budget -= span - 1
            prev = u
            for r in range(rank[u] + 1, rank[v]):
                d = len(ranks)
                ranks.append(r)
                up.append([prev])
                down.append([])
                weight.append(_DUMMY_WEIGHT)
                down[prev].append(d)
                prev = d
            down[prev].append(v)
            up[v].append(prev)
    # keep each node's neighbour lists in the order the edges were made (ports, build order)
    return ranks, up, down, weight


# --- 3. order within each row --------------------------------------------------------------------


def _order_rows(ranks: list[int], up: list[list[int]], down: list[list[int]],
                n_real: int) -> list[list[int]]:
    height = max(ranks) + 1
    rows: list[list[int]] = [[] for _ in range(height)]
    # first order: real nodes in build order, each helper point after the real nodes
    for v in range(len(ranks)):
        rows[ranks[v]].append(v)
    pos = [0.0] * len(ranks)

    def number(row: list[int]) -> None:
        for i, v in enumerate(row):
            pos[v] = float(i)

    for row in rows:
        number(row)

    def sweep(downward: bool) -> None:
        indices = range(1, height) if downward else range(height - 2, -1, -1)
        for r in indices:
            row = rows[r]
            keys = []
            for i, v in enumerate(row):
                neighbours = up[v] if downward else down[v]
                bary = (sum(pos[u] for u in neighbours) / len(neighbours)) if neighbours else pos[v]
                keys.append((bary, v >= n_real, i))
            row[:] = [v for _, v in sorted(zip(keys, row), key=lambda kv: kv[0])]
            number(row)

    # one downward pass sets a first order from the inputs' order
    sweep(True)
    best = [list(row) for row in rows]
    best_crossings = _crossings(rows, down, pos)
    sweeps = 12 if len(ranks) <= 2000 else 4
    for i in range(sweeps):
        if best_crossings == 0:
            break
        sweep(i % 2 == 1)
        crossings = _crossings(rows, down, pos)
        if crossings < best_crossings:
            best, best_crossings = [list(row) for row in rows], crossings
    return best


def _crossings(rows: list[list[int]], down: list[list[int]], pos: list[float]) -> int:
    """Edge crossings between consecutive rows (inversions of lower ends, upper ends sorted)."""
    total = 0
    for row in rows[:-1]:
        ends = sorted((pos[u], pos[v]) for u in row for v in down[u])
        total += _inversions([int(b) for _, b in ends])
    return total


def _inversions(values: list[int]) -> int:
    """Pairs i < j with values[i] > values[j] (Fenwick tree)."""
    if len(values) < 2:
        return 0
    size = max(values) + 2
    tree = [0] * (size + 1)
    count = 0
    for seen, value in enumerate(values):
        # how many earlier values are <= value
        i, le = value + 1, 0
        while i > 0:
            le += tree[i]
            i -= i & -i
        count += seen - le
        i = value + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


# --- 4. coordinates ------------------------------------------------------------------------------


def _coordinates(rows: list[list[int]], up: list[list[int]], down: list[list[int]],
                 weight: list[float], n_real: int, h_spacing: float) -> list[float]:
    """Horizontal positions, row by row, keeping each row's order and spacing.

    A first smooth placement puts each node under the mean of its neighbours; then sweeps down
    and up straighten it: each node moves to the median of its inputs (of its outputs on the way
    up), so chains are vertical and branches fan out symmetrically; every long edge is a straight
    line that passes beside the rows it skips (its helper points lie on the line); where a node
    joins a short branch and a long edge, it lines up with the long edge (a skip connection
    stays straight). The last sweeps go down.
    """
    x = [0.0] * len(up)
    n = len(up)

    # real neighbours above and below each real node, with whether the edge is long; and the
    # long edge each helper point belongs to, with where it lies between the edge's ends
    ends: dict[int, tuple[int, int, float]] = {}
    above: list[list[tuple[int, bool]]] = [[] for _ in range(n_real)]
    below: list[list[tuple[int, bool]]] = [[] for _ in range(n_real)]
    for u in range(n_real):
        for first in down[u]:
            chain = []
            v = first
            while v >= n_real:
                chain.append(v)
                v = down[v][0]
            below[u].append((v, bool(chain)))
            above[v].append((u, bool(chain)))
            for i, d in enumerate(chain):
                ends[d] = (u, v, (i + 1) / (len(chain) + 1))

    def gaps(row: list[int]) -> list[float]:
        # a helper point needs less room than a node, so two nodes are never closer than
        # h_spacing, and a long edge passes at least _CLEARANCE * h_spacing from a node
        out = []
        for a, b in zip(row, row[1:]):
            real = (a < n_real) + (b < n_real)
            out.append(h_spacing * (0.25, _CLEARANCE, 1.0)[real])
        return out

    row_gaps = [gaps(row) for row in rows]
    for row, g in zip(rows, row_gaps):  # each row centred on 0
        offsets = [0.0]
        for step in g:
            offsets.append(offsets[-1] + step)
        for v, o in zip(row, offsets):
            x[v] = o - offsets[-1] / 2

    height = len(rows)

    def smooth_row(r: int, downward: bool) -> None:
        row = rows[r]
        desired = []
        for v in row:
            near = up[v] if downward else down[v]
            desired.append(sum(x[u] for u in near) / len(near) if near else x[v])
        for v, value in zip(row, _place(desired, [weight[v] for v in row], row_gaps[r])):
            x[v] = value

    for i in range(7 if n <= 1500 else 3):
        downward = i % 2 == 0
        for r in (range(1, height) if downward else range(height - 2, -1, -1)):
            smooth_row(r, downward)

    def side_median(near: list[tuple[int, bool]]) -> float:
        values = sorted((x[u], is_long) for u, is_long in near)
        k = len(values)
        if k % 2:
            return values[k // 2][0]
        lo, hi = values[k // 2 - 1][0], values[k // 2][0]
        # skip connections (long edges) all on one side: lean that way, so the skip stays
        # straight, or passes beside the branches instead of through them
        longs = [value for value, is_long in values if is_long]
        if longs and all(value <= lo for value in longs):
            return lo
        if longs and all(value >= hi for value in longs):
            return hi
        return (lo + hi) / 2

    def straighten_row(r: int, downward: bool) -> None:
        row = rows[r]
        targets = []
        for v in row:
            if v >= n_real:
                a, b, t = ends[v]
                targets.append([(x[a] + t * (x[b] - x[a]), _LINE_WEIGHT)])
                continue
            leading, trailing = (above[v], below[v]) if downward else (below[v], above[v])
            if not leading:  # a source on the way down (a sink on the way up) stays
                targets.append([(x[v], 1.0)])
                continue
            item = [(side_median(leading), 1.0)]
            if trailing:
                item.append((side_median(trailing), 0.5))
            targets.append(item)
        for v, value in zip(row, _place_median(targets, row_gaps[r])):
            x[v] = value

    # alternate, then settle with a few sweeps down (from the inputs, which stay where they are)
    rounds = 20 if n <= 1500 else 6
    for i in range(rounds + 8):
        downward = i % 2 == 0 or i >= rounds
        for r in (range(height) if downward else range(height - 1, -1, -1)):
            straighten_row(r, downward)

    # last, a node that is the only output of the node above it (and its only input) goes
    # right under it where the row leaves room: chains end straight
    where = [0] * n
    for row in rows:
        for i, v in enumerate(row):
            where[v] = i
    for r in range(1, height):
        row, g = rows[r], row_gaps[r]
        for i, v in enumerate(row):
            if v >= n_real or len(above[v]) != 1:
                continue
            u, is_long = above[v][0]
            if is_long or len(below[u]) != 1:
                continue
            target = x[u]
            if i > 0 and target < x[row[i - 1]] + g[i - 1] - 1e-6:
                continue
            if i + 1 < len(row) and target > x[row[i + 1]] - g[i] + 1e-6:
                continue
            x[v] = target
    return x


def _place_median(targets: list[list[tuple[float, float]]], gaps: list[float]) -> list[float]:
    """Positions in the given order, ``gaps[i]`` at least between item i and i+1, minimising
    the weighted sum of distances to each item's targets; where several positions are equally
    good, the one nearest the targets' mean (pool-adjacent-violators with weighted medians)."""
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    # blocks of items sharing one shifted value: [targets, count, value]
    blocks: list[list[Any]] = []
    for item, o in zip(targets, offsets):
        pairs = [(t - o, w) for t, w in item]
        blocks.append([pairs, 1, _median(pairs)])
        while len(blocks) > 1 and blocks[-2][2] > blocks[-1][2] + 1e-9:
            top = blocks.pop()
            prev = blocks[-1]
            prev[0] = prev[0] + top[0]
            prev[1] += top[1]
            prev[2] = _median(prev[0])
    out = []
    i = 0
    for _pairs, count, value in blocks:
        for _ in range(count):
            out.append(value + offsets[i])
            i += 1
    return out


def _median(pairs: list[tuple[float, float]]) -> float:
    """The point of the weighted median interval of ``pairs`` nearest their weighted mean."""
    if len(pairs) == 1:
        return pairs[0][0]
    pairs = sorted(pairs)
    total = 0.0
    for _, w in pairs:
        total += w
    half = total / 2
    acc = 0.0
    for i, (t, w) in enumerate(pairs):
        acc += w
        if acc > half + 1e-9:
            return t
        if acc >= half - 1e-9:
            hi = pairs[i + 1][0] if i + 1 < len(pairs) else t
            mean = sum(t * w for t, w in pairs) / total
            return min(max(mean, t), hi)
    return pairs[-1][0]


def _place(desired: list[float], weights: list[float], gaps: list[float]) -> list[float]:
    """Positions in the given order, ``gaps[i]`` at least between item i and i+1, minimising the
    weighted squared distance to ``desired`` (pool-adjacent-violators on shifted targets)."""
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    # blocks of items sharing one shifted value: [weighted sum, weight, count]
    blocks: list[list[float]] = []
    for d, w, o in zip(desired, weights, offsets):
        blocks.append([w * (d - o), w, 1])
        while len(blocks) > 1 and (blocks[-2][0] / blocks[-2][1]
                                   > blocks[-1][0] / blocks[-1][1]):
            s, w2, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += w2
            blocks[-1][2] += c
    out = []
    i = 0
    for s, w, c in blocks:
        value = s / w
        for _ in range(int(c)):
            out.append(value + offsets[i])
            i += 1
    return out


# --- automatic layout with a maintained library --------------------------------------------------

LAYOUT_ENGINES = ("dot", "grandalf", "layered")
"""``auto_layout``'s engines, in the order it tries them."""

_NODE_GAP = 24.0  # free space between two node boxes side by side, in scene pixels


def auto_layout(graph: Graph, engine: str = "auto", h_spacing: float = H_SPACING,
                v_spacing: float = V_SPACING) -> dict[str, tuple[float, float]]:
    """A layered top-to-bottom layout of ``graph``, as ``layered_layout`` returns it (node
    centres, rows ``v_spacing`` apart from y = 0, the leftmost node at x = 0, at least
    ``h_spacing`` between the centres of two nodes in one row).

    ``engine="auto"`` uses Graphviz' ``dot`` through pygraphviz (the wheel bundles Graphviz),
    then grandalf's Sugiyama layout (pure Python) if pygraphviz is missing or fails, and this
    module's ``layered_layout`` last. Name one of ``LAYOUT_ENGINES`` to use only that one.
    Both libraries are imported only here.
    """
    if engine not in ("auto",) + LAYOUT_ENGINES:
        raise ValueError(f"unknown layout engine {engine!r}; use auto or one of "
                         f"{', '.join(LAYOUT_ENGINES)}")
    if not graph.nodes:
        return {}
    engines = LAYOUT_ENGINES if engine == "auto" else (engine,)
    for name in engines:
        try:
            if name == "dot":
                return _dot_layout(graph, h_spacing, v_spacing)
            if name == "grandalf":
                return _grandalf_layout(graph, h_spacing, v_spacing)
        except ImportError:
            if engine != "auto":
                raise
            continue
        except Exception:  # a library failing on some graph: fall back to the next one
            if engine != "auto":
                raise
            import logging

            logging.getLogger(__name__).warning("%s layout failed", name, exc_info=True)
            continue
    return layered_layout(graph, h_spacing, v_spacing)


def _normalized(graph: Graph, xs: dict[str, float], rows: dict[str, int], h_spacing: float,
                v_spacing: float) -> dict[str, tuple[float, float]]:
    """Rows from the top (0, 1, ...), x shifted so the leftmost centre is at 0; every row's
    order kept and spread to at least ``h_spacing`` between centres."""
    top = min(rows.values())
    by_row: dict[int, list[str]] = {}
    for nid in graph.nodes:
        by_row.setdefault(rows[nid] - top, []).append(nid)
    x = dict(xs)
    for members in by_row.values():
        members.sort(key=lambda n: x[n])
        for a, b in zip(members, members[1:]):
            if x[b] - x[a] < h_spacing:
                x[b] = x[a] + h_spacing
    left = min(x.values())
    return {nid: (round(x[nid] - left, 1), float((rows[nid] - top) * v_spacing))
            for nid in graph.nodes}


def _dot_layout(graph: Graph, h_spacing: float, v_spacing: float
                ) -> dict[str, tuple[float, float]]:
    import pygraphviz  # optional, and slow to load: only when laying out

    points = 72.0  # Graphviz sizes nodes in inches; positions come in points (1/72 inch)
    height = max(v_spacing / 2, 10.0)
    g = pygraphviz.AGraph(directed=True, strict=False)
    g.graph_attr.update(rankdir="TB", splines="false", nodesep=str(_NODE_GAP / points),
                        ranksep=str((v_spacing - height) / points), ordering="in")
    g.node_attr.update(shape="box", fixedsize="true", label="",
                       width=str((h_spacing - _NODE_GAP) / points), height=str(height / points))
    order = graph.topological_order()
    for nid in order:
        g.add_node(nid)
    for nid in order:
        for e in graph.in_edges(nid):
            g.add_edge(e.src, nid)
    g.layout(prog="dot")
    xs: dict[str, float] = {}
    ys: dict[str, float] = {}
    for nid in order:
        x, y = g.get_node(nid).attr["pos"].split(",")
        xs[nid], ys[nid] = float(x), float(y)
    top = max(ys.values())
    rows = {nid: round((top - y) / v_spacing) for nid, y in ys.items()}
    return _normalized(graph, xs, rows, h_spacing, v_spacing)


def _grandalf_layout(graph: Graph, h_spacing: float, v_spacing: float
                     ) -> dict[str, tuple[float, float]]:
    from grandalf.graphs import Edge as GEdge
    from grandalf.graphs import Graph as GGraph
    from grandalf.graphs import Vertex
    from grandalf.layouts import SugiyamaLayout

    class _View:
        w = h_spacing - _NODE_GAP
        h = v_spacing / 2
        xy = (0.0, 0.0)

    order = graph.topological_order()
    vertices = {nid: Vertex(nid) for nid in order}
    for v in vertices.values():
        v.view = _View()
    edges = [GEdge(vertices[e.src], vertices[nid]) for nid in order
             for e in graph.in_edges(nid)]
    g = GGraph(list(vertices.values()), edges)
    xs: dict[str, float] = {}
    rows: dict[str, int] = {}
    offset = 0.0
    for component in g.C:
        sug = SugiyamaLayout(component)
        sug.xspace = _NODE_GAP
        sug.yspace = v_spacing / 2
        sug.init_all()
        sug.draw()
        members = [v for v in component.sV]
        left = min(v.view.xy[0] for v in members)
        right = max(v.view.xy[0] for v in members)
        for v in members:
            xs[v.data] = v.view.xy[0] - left + offset
            rows[v.data] = sug.grx[v].rank
        offset += right - left + h_spacing
    return _normalized(graph, xs, rows, h_spacing, v_spacing)
