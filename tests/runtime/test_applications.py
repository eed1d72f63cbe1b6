"""Keras Applications as blocks: counts of a frozen and a fine-tuned base against Keras building
the same thing, BatchNormalization in inference mode, the constructors' input rules, weights from
Keras' cache only, code export. Every model here is built with ``weights=None``."""

import inspect
import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.core import project as project_io  # noqa: E402
from netbuilder.core.codegen import generate_code  # noqa: E402
from netbuilder.core.freezing import fine_tune_from, freeze_block  # noqa: E402
from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.project import Project  # noqa: E402
from netbuilder.core.recipes import add_classifier_head  # noqa: E402
from netbuilder.core.summary import summarize  # noqa: E402
from netbuilder.runtime import applications as apps  # noqa: E402
from netbuilder.runtime.keras_build import BuildError, build_model  # noqa: E402
from netbuilder.runtime.keras_to_graph import application_block  # noqa: E402

VGG = {"name": "VGG16", "include_top": False, "weights": None, "input_shape": [150, 150, 3]}


def counts(model):
    size = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    return size(model.trainable_weights), size(model.non_trainable_weights)


def ours(graph):
    totals = graph.inference.totals()
    return totals.trainable, totals.non_trainable


def vgg_with_head(block):
    """The course's model: conv_base, Flatten, Dense(256, relu), Dense(1, sigmoid)."""
    g = Graph()
    inp = g.add_node("Input", {"shape": [150, 150, 3]})
    base = apps.add_to_graph(g, block)
    flat = g.add_node("Flatten")
    d1 = g.add_node("Dense", {"units": 256, "activation": "relu"})
    d2 = g.add_node("Dense", {"units": 1, "activation": "sigmoid"})
    for a, b in ((inp.id, base), (base, flat.id), (flat.id, d1.id), (d1.id, d2.id)):
        g.connect(a, b)
    return g, base


@pytest.fixture(scope="module")
def vgg_block():
    return application_block(VGG)


def keras_vgg_course(fine_tune=None):
    """Keras building the same thing as the course notes do."""
    conv_base = keras.applications.VGG16(weights=None, include_top=False,
                                         input_shape=(150, 150, 3))
    model = keras.Sequential([keras.Input((150, 150, 3)), conv_base, keras.layers.Flatten(),
                              keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    if fine_tune is None:
        conv_base.trainable = False
    else:
        conv_base.trainable = True
        set_trainable = False
        for layer in conv_base.layers:
            if layer.name == fine_tune:
                set_trainable = True
            layer.trainable = set_trainable
    return model


def test_every_constructor_in_keras_applications_is_offered():
    public = sorted(name for name, obj in vars(keras.applications).items()
                    if inspect.isfunction(obj) and "include_top" in
                    inspect.signature(obj).parameters)
    assert len(public) >= 30
    assert apps.application_names() == public
    for name in public:  # every one has input rules and starting arguments that pass them
        default, minimum = apps.input_sizes(name)
        assert minimum <= default
        assert apps.check_arguments(apps.default_arguments(name), public)["name"] == name


def test_frozen_vgg16_with_head_matches_the_course_and_keras(vgg_block):
    g, base = vgg_with_head(vgg_block)
    freeze_block(g, base, True)
    summary = summarize(g)
    assert summary.total_params == 16_812_353
    assert summary.trainable_params == 2_097_665
    row = next(r for r in summary.rows if r.name == "vgg16")
    assert row.outputs == [(None, 4, 4, 512)] and row.params == 14_714_688
    assert ours(g) == counts(keras_vgg_course())
    model = build_model(g)
    assert counts(model) == ours(g)
    assert model.get_layer("vgg16").trainable is False


def test_fine_tune_from_block5_conv1_matches_keras(vgg_block):
    g, base = vgg_with_head(vgg_block)
    freeze_block(g, base, True)
    fine_tune_from(vgg_block, "block5_conv1", g)
    freeze_block(g, base, False)  # unfreezing the instance makes everything trainable again
    assert ours(g) == (16_812_353, 0)
    kept = fine_tune_from(vgg_block, "block5_conv1", g)
    assert kept == []  # VGG16 has no BatchNormalization
    expected = counts(keras_vgg_course("block5_conv1"))
    assert ours(g) == expected
    model = build_model(g)
    assert counts(model) == expected
    inner = model.get_layer("vgg16")
    assert [layer.name for layer in inner.layers[1:] if layer.trainable] == [
        "block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"]


def test_mobilenetv2_fine_tuning_keeps_batchnorm_frozen_and_in_inference_mode():
    app = {"name": "MobileNetV2", "include_top": False, "weights": None,
           "input_shape": [64, 64, 3], "pooling": "avg"}
    block = application_block(app)
    g = Graph()
    inp = g.add_node("Input", {"shape": [64, 64, 3]})
    base = apps.add_to_graph(g, block)
    g.connect(inp.id, base)
    head = add_classifier_head(g, base, 3)
    # pooling="avg" gives a vector: the head has no GlobalAveragePooling2D of its own
    assert [g.nodes[n].type for n in head] == ["Dropout", "Dense"]
    kept = fine_tune_from(block, "block_13_expand", g)
    assert kept and all(block.graph.node_by_name(n).type == "BatchNormalization" for n in kept)

    # Keras, told the same: layers from block_13_expand on train, BatchNormalization stays frozen
    ref = keras.applications.MobileNetV2(weights=None, include_top=False,
                                         input_shape=(64, 64, 3), pooling="avg")
    names = [layer.name for layer in ref.layers]
    start = names.index("block_13_expand")
    for i, layer in enumerate(ref.layers):
        layer.trainable = i >= start and not isinstance(layer, keras.layers.BatchNormalization)
    x = keras.Input((64, 64, 3))
    y = keras.layers.Dense(3, activation="softmax")(keras.layers.Dropout(0.5)(ref(x)))
    assert ours(g) == counts(keras.Model(x, y))

    model = build_model(g)
    assert counts(model) == ours(g)
    # the base is called with training=False, as the Keras guide says; under Keras 3 an outer
    # training=True reaches it anyway, so what keeps BatchNormalization in inference mode during
    # fit is that it stays frozen: the base gives the same features in training mode
    inner = model.get_layer(g.nodes[base].name)
    assert inner._inbound_nodes[-1].arguments.kwargs.get("training") is False
    probe = keras.Model(model.inputs[0], model.get_layer(g.nodes[head[0]].name).input)
    data = np.random.default_rng(0).normal(size=(4, 64, 64, 3)).astype("float32")
    in_inference = np.asarray(probe(data, training=False))
    assert np.allclose(np.asarray(probe(data, training=True)), in_inference, rtol=1e-4, atol=0)
    for layer in inner.layers:  # the check can fail: trainable BatchNormalization differs
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = True
    assert not np.allclose(np.asarray(probe(data, training=True)), in_inference, rtol=1e-3,
                           atol=0)


def test_resnet50_frozen_counts_every_weight_as_non_trainable():
    block = application_block({"name": "ResNet50", "include_top": False, "weights": None,
                             "input_shape": [64, 64, 3]})
    g = Graph()
    inp = g.add_node("Input", {"shape": [64, 64, 3]})
    base = apps.add_to_graph(g, block)
    g.connect(inp.id, base)
    ref = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    assert ours(g) == counts(ref)  # BatchNormalization's moving statistics: non-trainable
    freeze_block(g, base, True)
    ref.trainable = False
    assert ours(g) == counts(ref) == (0, ref.count_params())


@pytest.mark.parametrize("app", [
    {"name": "VGG16", "input_shape": [16, 16, 3]},
    {"name": "InceptionV3", "input_shape": [74, 74, 3]},
    {"name": "Xception", "input_shape": [70, 70, 3]},
    {"name": "ResNet50", "input_shape": [64, 64, 1], "weights": "imagenet"},
    {"name": "NASNetLarge", "input_shape": [224, 224, 3], "include_top": True,
     "weights": "imagenet"},
    {"name": "VGG19", "include_top": True, "weights": "imagenet", "classes": 10},
])
def test_input_rules_refuse_what_keras_refuses(app):
    with pytest.raises(apps.ApplicationError) as err:
        apps.check_arguments(app)
    assert app["name"] in str(err.value)
    kwargs = apps.constructor_arguments(app)
    with pytest.raises(ValueError):
        getattr(keras.applications, app["name"])(**kwargs)


def test_input_rules_accept_the_edges():
    for app in ({"name": "VGG16", "input_shape": [32, 32, 3]},
                {"name": "InceptionV3", "input_shape": [75, 75, 3]},
                {"name": "NASNetLarge", "input_shape": [331, 331, 3], "include_top": True,
                 "weights": "imagenet"},
                {"name": "MobileNetV2", "input_shape": [96, 96, 3], "include_top": True,
                 "weights": "imagenet"}):
        assert apps.check_arguments(app)["name"] == app["name"]


def test_imagenet_weights_come_from_keras_cache_only(tmp_path, monkeypatch):
    from keras.src.backend import config

    monkeypatch.setattr(config, "keras_home", lambda: str(tmp_path))
    app = {**VGG, "weights": "imagenet"}
    cached, path = apps.weights_cached(app)
    assert not cached
    assert path == tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with pytest.raises(apps.ApplicationError) as err:
        apps.make_model(app)
    assert str(path) in str(err.value)


def test_a_missing_imagenet_file_is_a_build_error_naming_it(vgg_block, tmp_path, monkeypatch):
    from keras.src.backend import config

    monkeypatch.setattr(config, "keras_home", lambda: str(tmp_path))
    g, base = vgg_with_head(vgg_block)
    saved = vgg_block.application
    vgg_block.application = {**saved, "weights": "imagenet"}
    try:
        with pytest.raises(BuildError) as err:
            build_model(g)
        assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in str(err.value)
    finally:
        vgg_block.application = saved


def test_project_round_trip_and_exported_code_match_keras(vgg_block, tmp_path):
    g, base = vgg_with_head(vgg_block)
    freeze_block(g, base, False)
    fine_tune_from(vgg_block, "block5_conv1", g)
    path = tmp_path / "tl.nbproj"
    project_io.save(Project(g, name="transfer"), path)
    data = json.loads(path.read_text())
    assert data["blocks"][0]["application"]["name"] == "VGG16"
    loaded = project_io.load(path)
    assert loaded.graph.blocks["vgg16"].application == vgg_block.application
    assert ours(loaded.graph) == ours(g)

    code = generate_code(loaded)
    assert "keras.applications.VGG16(" in code
    assert 'if layer.name == "block5_conv1":' in code
    assert "training=False" in code
    namespace: dict = {}
    exec(compile(code, "exported.py", "exec"), namespace)
    model = namespace["build_model"]()
    assert counts(model) == ours(g)

    freeze_block(loaded.graph, loaded.graph.node_by_name("vgg16"), True)
    code = generate_code(loaded)
    assert "vgg16.trainable = False" in code
    namespace = {}
    exec(compile(code, "exported.py", "exec"), namespace)
    assert counts(namespace["build_model"]()) == (2_097_665, 14_714_688)
