"""Small projects built with the Graph API, and data files written by the tests."""

from __future__ import annotations

import numpy as np

from netbuilder.core.graph import Graph
from netbuilder.core.project import Project


def chain_project(*layers, name="test_model", settings=None) -> Project:
    """A project whose graph is ``layers`` ((type, params) pairs) connected in a chain."""
    graph = Graph()
    previous = None
    for layer_type, params in layers:
        node = graph.add_node(layer_type, params)
        if previous is not None:
            graph.connect(previous.id, node.id)
        previous = node
    return Project(graph, name=name, settings=dict(settings or {}))


def digits_cnn(**kwargs) -> Project:
    """A small CNN for the 8x8 digits."""
    return chain_project(
        ("Input", {"shape": [8, 8, 1]}),
        ("Conv2D", {"filters": 16, "kernel_size": [3, 3], "activation": "relu",
                    "padding": "same"}),
        ("MaxPooling2D", {}),
        ("Flatten", {}),
        ("Dense", {"units": 32, "activation": "relu"}),
        ("Dense", {"units": 10, "activation": "softmax"}),
        name="digits_cnn", **kwargs)


def digits_mlp(**kwargs) -> Project:
    return chain_project(
        ("Input", {"shape": [64]}),
        ("Dense", {"units": 32, "activation": "relu"}),
        ("Dense", {"units": 10, "activation": "softmax"}),
        name="digits_mlp", **kwargs)


def two_class_images(n=40, size=12, seed=0):
    """Bright and dark uint8 RGB images: an easy two-class problem."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    x[y == 1] += 180
    return x, y


def two_heads() -> Project:
    """12x12x3 images -> Flatten -> two outputs: ``cls`` (2-class softmax) and ``box`` (4)."""
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [12, 12, 3]})
    flat = graph.add_node("Flatten", {})
    cls = graph.add_node("Dense", {"units": 2, "activation": "softmax"}, name="cls")
    box = graph.add_node("Dense", {"units": 4}, name="box")
    graph.connect(inp.id, flat.id)
    graph.connect(flat.id, cls.id)
    graph.connect(flat.id, box.id)
    return Project(graph, "two_heads")
