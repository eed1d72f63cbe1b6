"""Keras Applications' own input preprocessing in the data pipeline: a model whose Input feeds an
Application gets 0-255 pixels through ``keras.applications.<module>.preprocess_input`` (Keras is
the oracle), augmentation works on the pixels before it, and every picture shown is the pixels,
not the preprocessed values. Models are built with ``weights=None``; nothing is downloaded."""

import ast

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from training_helpers import chain_project, digits_cnn, two_class_images  # noqa: E402

from netbuilder.core.codegen import generate_code  # noqa: E402
from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.project import Project, save  # noqa: E402
from netbuilder.runtime import applications as apps  # noqa: E402
from netbuilder.runtime import data as data_mod  # noqa: E402
from netbuilder.runtime import inspection as insp  # noqa: E402
from netbuilder.runtime.keras_build import build_model  # noqa: E402
from netbuilder.runtime.keras_to_graph import application_block  # noqa: E402
from netbuilder.runtime.training import engine as training  # noqa: E402
from netbuilder.runtime.training.code import with_training  # noqa: E402
from netbuilder.runtime.workers.protocol import decode_images, encode_array  # noqa: E402

KERAS_FN = {"VGG16": keras.applications.vgg16.preprocess_input,
            "MobileNetV2": keras.applications.mobilenet_v2.preprocess_input}
NOTES = {
    "VGG16": "pixels prepared with keras.applications.vgg16.preprocess_input, as VGG16 was "
             "trained (caffe: RGB converted to BGR, ImageNet mean subtracted)",
    "MobileNetV2": "pixels prepared with keras.applications.mobilenet_v2.preprocess_input, as "
                   "MobileNetV2 was trained (tf: pixels scaled to -1…1)",
}


@pytest.fixture(scope="module")
def blocks():
    return {name: application_block({"name": name, "include_top": False, "weights": None,
                                   "input_shape": [32, 32, 3]}) for name in KERAS_FN}


def app_graph(block, between=()):
    """Input(32×32×3) -> [between layers] -> the Application -> pooling -> Dense(2, softmax)."""
    g = Graph()
    previous = g.add_node("Input", {"shape": [32, 32, 3]}).id
    for layer_type, params in between:
        node = g.add_node(layer_type, params).id
        g.connect(previous, node)
        previous = node
    base = apps.add_to_graph(g, block)
    pool = g.add_node("GlobalAveragePooling2D").id
    head = g.add_node("Dense", {"units": 2, "activation": "softmax"}).id
    for a, b in ((previous, base), (base, pool), (pool, head)):
        g.connect(a, b)
    return g


def keras_preprocessed(name, raw):
    """What Keras' own preprocess_input gives for the raw 0-255 pixels (on a copy)."""
    return np.asarray(KERAS_FN[name](np.array(raw, dtype=np.float32, copy=True)))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """uint8 RGB 32×32 images in an .npz file with a test split."""
    x, y = two_class_images(n=32, size=32)
    xt, yt = two_class_images(n=12, size=32, seed=1)
    path = tmp_path_factory.mktemp("data") / "images.npz"
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt)
    return path, x, xt


# --- finding the Application ------------------------------------------------------------------


def test_the_application_fed_by_the_input_is_found(blocks):
    vgg = blocks["VGG16"]
    assert apps.preprocessing_for(app_graph(vgg)) == "VGG16"
    resized = app_graph(vgg, [("Resizing", {"height": 32, "width": 32}),
                              ("RandomFlip", {})])
    assert apps.preprocessing_for(resized) == "VGG16"
    rescaled = app_graph(vgg, [("Rescaling", {"scale": 1 / 255})])
    assert apps.preprocessing_for(rescaled) is None
    assert apps.preprocessing_for(digits_cnn().graph) is None
    assert apps.preprocessing_for_model(build_model(resized)) == "VGG16"
    assert apps.preprocessing_for_model(build_model(rescaled)) is None
    assert apps.preprocessing_for_model(build_model(digits_cnn().graph)) is None
    assert apps.preprocess_module("VGG16") == "vgg16"
    assert apps.preprocess_module("MobileNetV2") == "mobilenet_v2"
    assert apps.preprocess_module("ResNet50") == "resnet50"
    assert apps.preprocess_function("DenseNet121") is keras.applications.densenet.preprocess_input
    assert apps.preprocess_function("NoSuchNet") is None
    assert apps.preprocess_mode("DenseNet121") == "torch"
    assert apps.preprocess_mode("EfficientNetB0") == "none"


# --- prepared data ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["VGG16", "MobileNetV2"])
def test_prepared_inputs_are_keras_preprocess_input_of_the_pixels(blocks, images, name):
    path, x, xt = images
    model = build_model(app_graph(blocks[name]))
    dataset = data_mod.load(str(path), {"validation_split": 0.25})
    prepared = data_mod.prepare(dataset, model, preprocess=name)
    assert prepared.preprocess == name and prepared.value_range == "0-255"
    np.testing.assert_allclose(prepared.train.x, keras_preprocessed(name, dataset.train.x),
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(prepared.test.x, keras_preprocessed(name, xt), rtol=1e-6,
                               atol=1e-4)
    assert NOTES[name] in prepared.notes
    assert not any("0–1" in n for n in prepared.notes)
    # batch by batch (too large to adapt at once) gives the same values
    small = data_mod.load(str(path), {"validation_split": 0.25, "max_memory_mb": 0})
    batched = data_mod.prepare(small, model, preprocess=name)
    assert batched.train.transform is not None
    feed = data_mod.fit_inputs(batched.train, 5)
    got = np.concatenate([np.asarray(xb) for xb, _ in feed["x"]])
    np.testing.assert_allclose(got, prepared.train.x, rtol=1e-6, atol=1e-4)


def test_zero_to_one_images_are_scaled_up_to_pixels_never_down(blocks, tmp_path):
    rng = np.random.default_rng(3)
    gray = rng.random((10, 16, 16)).astype(np.float32)          # 0-1 grayscale, 16×16
    path = tmp_path / "gray.npz"
    np.savez(path, x=gray, y=np.arange(10) % 2)
    dataset = data_mod.load(str(path), {"validation_split": 0.0})
    assert dataset.value_range == "0-1"
    model = build_model(app_graph(blocks["VGG16"]))
    prepared = data_mod.prepare(dataset, model, preprocess="VGG16")
    import tensorflow as tf

    rgb = tf.image.grayscale_to_rgb(tf.constant(dataset.train.x[..., None] * 255.0))
    pixels = tf.image.resize(rgb, (32, 32), antialias=True)
    np.testing.assert_allclose(prepared.train.x, keras_preprocessed("VGG16", pixels),
                               rtol=1e-5, atol=1e-3)
    assert "pixel values scaled from 0–1 to 0–255" in prepared.notes
    assert NOTES["VGG16"] in prepared.notes


def test_a_model_without_an_application_is_prepared_as_before(images):
    path, x, _ = images
    project = chain_project(("Input", {"shape": [32, 32, 3]}), ("Flatten", {}),
                            ("Dense", {"units": 2, "activation": "softmax"}))
    model = build_model(project.graph)
    dataset = data_mod.load(str(path))
    assert apps.preprocessing_for(project.graph) is None
    prepared = data_mod.prepare(dataset, model, preprocess=None)
    assert prepared.preprocess is None and prepared.value_range == "0-1"
    np.testing.assert_allclose(prepared.train.x, dataset.train.x / 255.0, atol=1e-6)
    assert "pixel values scaled from 0–255 to 0–1" in prepared.notes
    assert prepared.train.source is None and prepared.train.preprocess is None
    # a flattened input is no Application's: no preprocessing step is planned
    steps, _ = data_mod.plan_inputs((32, 32, 3), (3072,), "0-255", preprocess="VGG16")
    assert data_mod.preprocess_name(steps) is None and steps[0] == ("scale", 1 / 255.0)
    # nor for an Application given one channel (weights=None): its preprocessing wants RGB
    steps, _ = data_mod.plan_inputs((32, 32), (32, 32, 1), "0-255", preprocess="VGG16")
    assert data_mod.preprocess_name(steps) is None


# --- augmentation and pictures ------------------------------------------------------------------


def test_augmentation_works_on_the_pixels_before_preprocessing(blocks, images):
    path, _, _ = images
    model = build_model(app_graph(blocks["VGG16"]))
    for options in ({}, {"max_memory_mb": 0}):
        dataset = data_mod.load(str(path), {"validation_split": 0.25, **options})
        prepared = data_mod.prepare(dataset, model, preprocess="VGG16")
        raw = dataset.train.x.astype(np.float32)

        def darker_and_flipped(xb, training=False):
            return xb[:, :, ::-1, :] * 0.5     # only right on 0-255 pixels

        feed = data_mod.fit_inputs(prepared.train, 7, augmentation=darker_and_flipped)
        got = np.concatenate([np.asarray(xb) for xb, _ in feed["x"]])
        np.testing.assert_allclose(got, keras_preprocessed("VGG16", raw[:, :, ::-1, :] * 0.5),
                                   rtol=1e-6, atol=1e-4)
    # the preview grid shows pictures: the sample itself, or it flipped
    picture = dataset.train.x[2]
    same = data_mod.augmented_preview(prepared, None, count=2, index=2)
    assert same.dtype == np.uint8
    np.testing.assert_array_equal(same, np.stack([picture, picture]))
    flips = data_mod.augmented_preview(prepared, {"flip": "horizontal"}, count=9, index=2,
                                       seed=1)
    assert flips.dtype == np.uint8 and flips.shape == (9, 32, 32, 3)
    for image in flips:
        assert np.array_equal(image, picture) or np.array_equal(image, picture[:, ::-1])


def test_misclassified_images_are_the_pictures(blocks, images):
    path, _, xt = images
    model = build_model(app_graph(blocks["MobileNetV2"]))
    prepared = data_mod.prepare(data_mod.load(str(path)), model, preprocess="MobileNetV2")
    shown = training._images_of(prepared, "test", np.array([0, 3, 7]))
    assert shown.dtype == np.uint8
    np.testing.assert_array_equal(shown, xt[[0, 3, 7]])


def test_training_run_feeds_preprocessed_pixels_and_shows_pictures(blocks, images, tmp_path):
    path, _, xt = images
    settings = {"training": {"epochs": 1, "batch_size": 8, "checkpoint": False}}
    project = Project(app_graph(blocks["VGG16"]), name="vgg_small", settings=settings)
    project_path = tmp_path / "vgg_small.nbproj"
    save(project, project_path)
    data = {"source": str(path), "options": {"augmentation": {"flip": "horizontal",
                                                              "brightness": 0.1}}}
    job = {"project": str(project_path), "data": data, "output_dir": str(tmp_path / "out")}
    preview = []
    assert training.run_job({**job, "action": "preview"}, preview.append) == 0
    info = [e for e in preview if e["event"] == "data"][0]
    assert NOTES["VGG16"] in info["notes"]
    assert any("before preprocess_input" in n for n in info["notes"])
    grid = decode_images(info["augmented"])
    assert grid.dtype == np.uint8 and grid.shape == (9, 32, 32, 3)
    events = []
    assert training.run_job(job, events.append) == 0, events[-3:]
    assert events[-1]["event"] == "finished"
    ev = [e for e in events if e["event"] == "evaluation"][0]
    if ev["misclassified"]:
        shown = decode_images(ev["misclassified_images"])
        np.testing.assert_array_equal(shown, xt[ev["misclassified"]])
    # the saved model, fed Keras' preprocessing of the test pictures, gives the same predictions
    saved = keras.models.load_model(tmp_path / "out" / "model.keras")
    pred = saved.predict(keras_preprocessed("VGG16", xt), verbose=0).argmax(axis=1)
    wrong = np.flatnonzero(pred != np.asarray([0, 1] * 6))
    assert ev["misclassified"] == wrong.tolist()


# --- inspection and export --------------------------------------------------------------------


def test_inspection_inputs_are_preprocessed_and_shown_as_pictures(blocks, images):
    path, x, _ = images
    model = build_model(app_graph(blocks["VGG16"]))
    image = x[5]
    got = insp.prepare_input(model, {"kind": "array", "array": encode_array(image)})
    np.testing.assert_allclose(got.x, keras_preprocessed("VGG16", image[None]), rtol=1e-6,
                               atol=1e-4)
    np.testing.assert_array_equal(got.image, image)
    assert NOTES["VGG16"] in got.notes
    cache = insp.DatasetCache()
    batch = insp.prepare_input(model, {"kind": "dataset", "source": str(path), "index": 2,
                                       "count": 4, "split": "test"}, cache, batch=True)
    dataset = data_mod.load(str(path))
    np.testing.assert_allclose(batch.x, keras_preprocessed("VGG16", dataset.test.x[2:6]),
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(batch.image, dataset.test.x[2])


def test_exported_training_script_applies_preprocess_input(blocks):
    project = Project(app_graph(blocks["MobileNetV2"]), name="mobile_small")
    # two units on cifar10's ten classes is refused unless the loss is chosen by hand
    settings = {"loss": "sparse_categorical_crossentropy"}
    code = with_training(generate_code(project), project.graph, settings, "cifar10")
    ast.parse(code)
    line = "x = keras.applications.mobilenet_v2.preprocess_input(x * 255.0)"
    assert code.count(line) == 1
    assert code.index("x = fit_to_model(") < code.index(line) < code.index("model.fit(")
    black = pytest.importorskip("black")
    assert black.format_str(code, mode=black.Mode(line_length=99)) == code
    plain = digits_cnn()
    assert "preprocess_input" not in with_training(generate_code(plain), plain.graph, {},
                                                   "digits")
