from netbuilder.core.graph import Graph


def chain(*layers, graph=None):
    """A graph of layers connected one after another; each layer is (type, params)."""
    graph = graph or Graph()
    previous = None
    nodes = []
    for layer_type, params in layers:
        node = graph.add_node(layer_type, params)
        if previous is not None:
            graph.connect(previous.id, node.id)
        previous = node
        nodes.append(node)
    return graph, nodes


def mlp():
    return chain(("Input", {"shape": [784]}), ("Dense", {"units": 64, "activation": "relu"}),
                 ("Dense", {"units": 64, "activation": "relu"}),
                 ("Dense", {"units": 10, "activation": "softmax"}))
