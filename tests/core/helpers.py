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


def late_owner():
    """A shared Dense whose layer node ("twin", after Input seq and Dense deep) is built after
    its other call ("early", on Input vec), then pooled: the graph, early and the owner."""
    g = Graph()
    vec = g.add_node("Input", {"shape": [6]}, name="vec")
    seq = g.add_node("Input", {"shape": [3, 6]}, name="seq")
    early = g.add_node("Dense", {"units": 4}, name="early")
    deep = g.add_node("Dense", {"units": 6}, name="deep")
    owner = g.add_node("Dense", {"units": 4}, name="twin")
    g.connect(vec.id, early.id)
    g.connect(seq.id, deep.id)
    g.connect(deep.id, owner.id)
    g.share(early.id, owner.id)
    g.connect(owner.id, g.add_node("GlobalAveragePooling1D", {}, name="pool").id)
    return g, early, owner
