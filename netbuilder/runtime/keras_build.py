"""Build a ``keras.Model`` (functional API) from a graph: layer names are node names, parameters
and trainable flags exactly as set; several inputs and outputs; a "model" block becomes a nested
``keras.Model`` and a "sequential" block a nested ``keras.Sequential`` (one row in the summary),
a "function" block's layers are called inline (a repeated instance: once per call, the
layers of call k named ``<instance>_r<k+1>_<layer>``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.blocks import Block
from netbuilder.core.catalog import opaque
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError
from netbuilder.runtime import applications
from netbuilder.runtime.keras_layers import call_opaque, make_layer


class BuildError(Exception):
    """The graph cannot be built; ``str(err)`` lists the problems, each naming its layer."""


def ensure_recursion_limit(layers: int) -> None:
    """Keras walks functional graphs recursively: deep models need a deeper stack."""
    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000 + 20 * layers))


def build_model(graph: Graph, name: str = "model",
                weights_path: str | os.PathLike[str] | None = None) -> Any:
    """A functional ``keras.Model`` equal to ``graph``; raises ``BuildError`` if it is invalid.

    With ``weights_path`` (a ``.weights.h5`` file, e.g. the one an import saved beside its
    project: ``Project.weights``) the model gets those weights; a missing file or weights that do
    not fit raise ``BuildError``.
    """
    import keras

    problems = graph.inference.errors()
    if problems:
        raise BuildError("; ".join(problems))
    ensure_recursion_limit(len(graph.nodes))
    inputs, tensors = _run(graph, None, {})
    outputs = [tensors[n.id][0] for n in graph.outputs()]
    model = keras.Model(inputs=inputs, outputs=outputs, name=name)
    if weights_path is not None:
        load_weights(model, weights_path)
    return model


def load_weights(model: Any, weights_path: str | os.PathLike[str]) -> None:
    """Load a ``.weights.h5`` file into ``model``; ``BuildError`` names the file and the
    problem."""
    path = Path(weights_path)
    if not path.is_file():
        raise BuildError(f"weights file {path} not found")
    if not path.name.endswith(".weights.h5"):
        raise BuildError(f"weights file {path}: expected a Keras .weights.h5 file")
    try:
        model.load_weights(str(path))
    except Exception as err:  # noqa: BLE001 - Keras raises ValueError, OSError, KeyError...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BuildError(f"cannot load weights from {path}: {first}") from None


def built_layer_name(graph: Graph, node_id: str, prefix: str = "") -> str | None:
    """The name of the Keras layer whose output is node ``node_id``'s output in the built model:
    the node's own name, or for a function block instance its output layer's inlined name
    (``<instance>_<layer>``, nested blocks recursively). None when a block passes an input
    straight through (no layer of its own)."""
    node = graph.nodes[node_id]
    if node.type == "Input":
        return None if prefix else node.name
    if node.type != BLOCK_TYPE:
        return prefix + node.name
    block = graph.blocks.get(node.params["block"])
    if block is None or block.kind != "function":
        return prefix + node.name                   # a nested model is one layer
    block = block.for_instance(node.params)
    last = block.call_name(node.name, block.repeat - 1)
    return built_layer_name(block.graph, block.outputs[0][0], f"{prefix}{last}_")


def _run(graph: Graph, feeds: dict[str, Any] | None, models: dict[str, Any],
         prefix: str = "", frozen: bool = False) -> tuple[list[Any], dict[str, list[Any]]]:
    """Call every layer of ``graph`` in topological order; returns the new ``keras.Input``s
    and every node's output tensors. With ``feeds`` (input node id -> tensor) the Input nodes
    take those tensors instead (a function block called on its arguments); its layers are then
    named ``{prefix}{layer name}`` so that every call of the block has unique names."""
    import keras

    tensors: dict[str, list[Any]] = {}
    new_inputs: list[Any] = []
    shared: dict[str, Any] = {}  # owner id -> the Keras layer every call of it calls
    for nid in graph.topological_order():
        node = graph.nodes[nid]
        args = [tensors[e.src][e.src_port] for e in graph.in_edges(nid)]
        if node.type == "Input":
            if feeds is not None:
                out: Any = feeds[nid]
            else:
                p = node.params
                out = keras.Input(shape=tuple(p["shape"]), batch_size=p["batch_size"],
                                  dtype=p["dtype"], name=node.name)
                new_inputs.append(out)
        elif node.type == BLOCK_TYPE:
            block = graph.blocks[node.params["block"]].for_instance(node.params)
            out = args
            for k in range(block.repeat):  # a repeated block: each call takes the last output
                out = _call_block(block, block.call_name(prefix + node.name, k),
                                  node.trainable and not frozen, out, models)
        else:
            spec = catalog.get(node.type)
            owner = graph.owner_of(nid)
            layer = shared.get(owner)
            if layer is None:  # a shared layer is made once, named after its owner
                layer = make_layer(node.type, node.params, prefix + graph.nodes[owner].name)
                if hasattr(layer, "trainable"):  # a Keras operation kept as imported has none
                    layer.trainable = node.trainable and not frozen
                shared[owner] = layer
            if node.type == opaque.TYPE:
                out = call_opaque(node.params, layer, args)
            elif spec.input_names:
                out = layer(**dict(zip(spec.input_names, args)))
            elif spec.max_inputs == 1:
                out = layer(args[0])
            else:
                out = layer(args)
        tensors[nid] = list(out) if isinstance(out, (list, tuple)) else [out]
    return new_inputs, tensors


def _call_block(block: Block, name: str, trainable: bool, args: list[Any],
                models: dict[str, Any]) -> Any:
    if block.kind == "function":
        # a frozen instance freezes every layer of that call, as inference counts it
        _, tensors = _run(block.graph, dict(zip(block.inputs, args)), models, f"{name}_",
                          frozen=not trainable)
        return [tensors[nid][port] for nid, port in block.outputs]
    model = _block_model(block, name, trainable, models)
    if block.application is not None:
        if not trainable or applications.partly_frozen(block):
            # a (partly) frozen base runs its BatchNormalization in inference mode, as the
            # Keras transfer-learning guide says: base_model(inputs, training=False)
            return model(args if len(args) > 1 else args[0], training=False)
    return model(args if len(args) > 1 else args[0])


def _block_model(block: Block, name: str, trainable: bool, models: dict[str, Any]) -> Any:
    """The nested ``keras.Model`` (or ``keras.Sequential``) of a model block, made once per
    block and shared by its instances; a frozen instance freezes it."""
    import keras

    model = models.get(block.name)
    if model is None:
        if block.application is not None:
            try:
                model = applications.build_model(block, name)
            except applications.ApplicationError as err:
                raise BuildError(str(err)) from None
        elif block.kind == "sequential":
            model = _sequential(block, name, models)
        else:
            inputs, tensors = _run(block.graph, None, models)
            by_id = dict(zip((n.id for n in block.graph.inputs()), inputs))
            model = keras.Model([by_id[i] for i in block.inputs],
                                [tensors[nid][port] for nid, port in block.outputs], name=name)
        models[block.name] = model
    if not trainable:  # setting True would also unfreeze the layers frozen inside the block
        model.trainable = False
    return model


def _sequential(block: Block, name: str, models: dict[str, Any]) -> Any:
    """``keras.Sequential([keras.Input(...), layer, ...], name=name)`` of a Sequential block."""
    import keras

    try:
        chain = block.sequence()
    except GraphError as err:
        raise BuildError(str(err)) from None
    items: list[Any] = []
    for nid in chain:
        node = block.graph.nodes[nid]
        if node.type == "Input":
            p = node.params
            items.append(keras.Input(shape=tuple(p["shape"]), batch_size=p["batch_size"],
                                     dtype=p["dtype"], name=node.name))
            continue
        if node.type == BLOCK_TYPE:
            inner = block.graph.blocks[node.params["block"]]
            if inner.kind == "function":
                raise BuildError(f"Sequential block {block.name!r}: {node.name!r} calls the "
                                 f"function block {inner.name!r}; a Sequential model holds "
                                 "layers and models only")
            items.append(_block_model(inner, node.name, node.trainable, models))
            continue
        layer = make_layer(node.type, node.params, node.name)
        if not isinstance(layer, keras.layers.Layer) or (
                node.type == opaque.TYPE and node.params.get("call", "single") != "single"):
            raise BuildError(f"Sequential block {block.name!r}: {node.name!r} is not a layer "
                             "called on one tensor; a Sequential model cannot hold it")
        layer.trainable = node.trainable
        items.append(layer)
    return keras.Sequential(items, name=name)
