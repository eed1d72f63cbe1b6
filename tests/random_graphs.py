"""Random valid graphs for round-trip tests: chains, branches and merges of catalog layers with
parameters drawn from the oracle's strategies. A drawn layer that inference refuses for the shape
it receives is dropped again, so every graph that comes out is a valid model."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from oracle import params_strategy

from netbuilder.core import catalog
from netbuilder.core.catalog import opaque
from netbuilder.core.graph import Graph, GraphError

MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
          "Attention", "AdditiveAttention", "MultiHeadAttention")
SINGLE = tuple(sorted(
    s.type for s in catalog.all_specs()
    if s.type not in ("Input", opaque.TYPE) and s.max_inputs == 1 and s.min_inputs == 1))
# Layers that make a graph valid for any input: the first layer of every graph.
SAFE_FIRST = ("Activation", "Dropout", "GaussianNoise", "LayerNormalization", "BatchNormalization")

# Keep the tensors small and the strategies quick.
_OVERRIDES: dict[str, Any] = {
    "units": st.integers(1, 6), "filters": st.integers(1, 6), "num_heads": st.integers(1, 2),
    "key_dim": st.integers(1, 4), "input_dim": st.integers(2, 20),
    "output_dim": st.integers(1, 6), "n": st.integers(1, 3),
    "kernel_size": st.integers(1, 3), "groups": st.just(1),
}


def _accepted_ranks(layer_type: str) -> set[int]:
    spec = catalog.get(layer_type)
    ranks = set()
    for rank in range(2, 7):
        try:
            spec.infer(spec.defaults(), [(None,) + (8,) * (rank - 1)])
        except catalog.CatalogError:
            continue
        ranks.add(rank)
    return ranks


BY_RANK = {rank: tuple(t for t in SINGLE if rank in _accepted_ranks(t)) for rank in range(2, 7)}


def _valid(graph: Graph, node_id: str) -> bool:
    result = graph.inference.result(node_id)
    return result.ok and result.outputs is not None and result.blocked_by is None


@st.composite
def graphs(draw: st.DrawFn, max_layers: int = 8) -> Graph:
    """A valid graph: one or two inputs, then layers and merges on earlier tensors."""
    graph = Graph()
    rank = draw(st.sampled_from([2, 3, 3, 4, 4, 5, 6]))
    dims = draw(st.lists(st.integers(2, 9), min_size=rank - 1, max_size=rank - 1))
    tensors: list[tuple[str, int]] = []
    first = graph.add_node("Input", {"shape": dims})
    if draw(st.booleans()):  # a second input of the same shape
        other = graph.add_node("Input", {"shape": dims}, name="second_input")
        merge = graph.add_node(draw(st.sampled_from(("Add", "Concatenate", "Multiply"))))
        graph.connect(first.id, merge.id)
        graph.connect(other.id, merge.id)
        tensors.append((merge.id, 0))
    else:
        start = graph.add_node(draw(st.sampled_from(SAFE_FIRST)))
        graph.connect(first.id, start.id)
        tensors.append((start.id, 0))
    for _ in range(draw(st.integers(0, max_layers))):
        if draw(st.integers(0, 4)) == 0:
            layer_type = draw(st.sampled_from(MERGES))
            sources = draw(st.lists(st.sampled_from(tensors), min_size=2, max_size=3))
        else:
            source = draw(st.sampled_from(tensors))
            shape = graph.inference.result(source[0]).outputs[source[1]]
            layer_type = draw(st.sampled_from(BY_RANK.get(len(shape)) or SINGLE))
            sources = [source]
        spec = catalog.get(layer_type)
        overrides = {k: v for k, v in _OVERRIDES.items() if spec.has_param(k)}
        params = draw(params_strategy(spec, overrides, invalid=False))
        try:
            node = graph.add_node(layer_type, params)
        except GraphError:
            continue
        try:
            for src, port in sources:
                graph.connect(src, node.id, port)
        except GraphError:
            graph.remove_node(node.id)
            continue
        if not _valid(graph, node.id):
            graph.remove_node(node.id)
            continue
        outputs = graph.inference.result(node.id).outputs or []
        tensors += [(node.id, port) for port in range(len(outputs))]
    return graph

