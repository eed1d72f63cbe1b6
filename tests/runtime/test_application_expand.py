"""VGG16 expanded on the canvas and collapsed back, checked against Keras: the expanded graph
builds as plain layers with the same parameter counts (and, given the same weights, the same
outputs) as the Application; the collapsed one is built by the ``keras.applications``
constructor again. ``weights=None``: nothing is downloaded."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.core.block_edits import collapse_block, expand_block  # noqa: E402
from netbuilder.core.freezing import fine_tune_from  # noqa: E402
from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.runtime import applications as apps  # noqa: E402
from netbuilder.runtime.keras_build import build_model  # noqa: E402
from netbuilder.runtime.keras_to_graph import application_block  # noqa: E402

VGG = {"name": "VGG16", "include_top": False, "weights": None, "input_shape": [64, 64, 3]}


def counts(model):
    size = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    return size(model.trainable_weights), size(model.non_trainable_weights)


@pytest.fixture(scope="module")
def vgg_block():
    return application_block(VGG)


def with_head(block):
    g = Graph()
    inp = g.add_node("Input", {"shape": [64, 64, 3]}, position=(0, 0))
    base = apps.add_to_graph(g, block, (0, 110))
    flat = g.add_node("Flatten", position=(0, 220))
    dense = g.add_node("Dense", {"units": 2, "activation": "softmax"}, position=(0, 330))
    for a, b in ((inp.id, base), (base, flat.id), (flat.id, dense.id)):
        g.connect(a, b)
    return g, base


@pytest.fixture
def constructor_calls(monkeypatch):
    """Every call of keras.applications.VGG16 (the build's, the oracle's)."""
    calls = []
    real = keras.applications.VGG16

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG16", spy)
    return calls


def keras_oracle():
    """What the course notes build: conv_base fine-tuned from block5_conv1, then the head."""
    conv_base = keras.applications.VGG16(weights=None, include_top=False,
                                         input_shape=(64, 64, 3))
    conv_base.trainable = True
    on = False
    for layer in conv_base.layers:
        on = on or layer.name == "block5_conv1"
        layer.trainable = on
    x = keras.layers.Flatten()(conv_base.output)
    out = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(conv_base.input, out)


def test_expand_builds_plain_layers_and_collapse_builds_the_constructor_again(
        vgg_block, constructor_calls):
    g, base = with_head(vgg_block)
    fine_tune_from(g.blocks[g.nodes[base].params["block"]], "block5_conv1", g)
    oracle = counts(keras_oracle())
    assert oracle[1] > 0
    constructor_calls.clear()

    collapsed = build_model(g)
    assert len(constructor_calls) == 1 and constructor_calls[0]["weights"] is None
    assert isinstance(collapsed.get_layer("vgg16"), keras.Model)
    assert counts(collapsed) == oracle

    ids = expand_block(g, base)
    assert len(ids) == len(vgg_block.graph.nodes) - 1  # every layer but its Input
    expanded = build_model(g)
    assert len(constructor_calls) == 1  # plain layers: no constructor
    assert not any(isinstance(layer, keras.Model) for layer in expanded.layers)
    assert counts(expanded) == oracle
    assert len(expanded.layers) == len(collapsed.get_layer("vgg16").layers) + 2

    # the same network: with the Application's weights, the same outputs
    inner = collapsed.get_layer("vgg16")
    for layer in inner.layers:
        if layer.weights:
            expanded.get_layer(f"vgg16_{layer.name}").set_weights(layer.get_weights())
    for name in ("flatten", "dense"):
        expanded.get_layer(name).set_weights(collapsed.get_layer(name).get_weights())
    x = np.random.default_rng(0).random((2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(expanded.predict(x, verbose=0), collapsed.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)

    back = collapse_block(g, ids[0])
    assert g.nodes[back].name == "vgg16"
    block = g.blocks[g.nodes[back].params["block"]]
    assert block.application == apps.check_arguments(VGG)
    rebuilt = build_model(g)
    assert len(constructor_calls) == 2  # the constructor again (imagenet weights would load)
    assert counts(rebuilt) == oracle


def test_changed_layers_build_as_a_plain_nested_model(vgg_block, constructor_calls):
    g, base = with_head(vgg_block)
    ids = expand_block(g, base)
    last_conv = next(n for n in reversed(ids) if g.nodes[n].type == "Conv2D")
    g.set_param(last_conv, "filters", 64)
    expected = counts(build_model(g))
    back = collapse_block(g, ids[0])
    block = g.blocks[g.nodes[back].params["block"]]
    assert block.application is None and block.kind == "model"
    constructor_calls.clear()
    model = build_model(g)
    assert constructor_calls == []  # its layers, not VGG16's constructor
    nested = model.get_layer("vgg16")
    assert isinstance(nested, keras.Model)
    assert nested.get_layer("block5_conv3").filters == 64
    assert counts(model) == expected
