"""Data sources, splits, label/loss matching, input adaptation and augmentation, on small data
the tests make themselves. Nothing here downloads anything."""

from __future__ import annotations

import gzip
import pickle
import tarfile

import keras
import numpy as np
import pytest
from PIL import Image
from training_helpers import two_class_images

from netbuilder.runtime import data
from netbuilder.runtime.data import DataError


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test may download: Keras' cache is an empty folder and downloads are off."""
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv("NETBUILDER_OFFLINE", "1")
    return home


def classifier(input_shape, units=10, activation="softmax", rescaling=False):
    layers = [keras.Input(input_shape)]
    if rescaling:
        layers.append(keras.layers.Rescaling(1 / 255))
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten())
    layers.append(keras.layers.Dense(units, activation=activation, name="out"))
    return keras.Sequential(layers)


# --- built-in sources ------------------------------------------------------------------------


def test_digits_default_split_and_description():
    ds = data.load("digits")
    assert (len(ds.train), len(ds.validation)) == (1438, 359)   # 20% held out, stratified
    assert ds.test is None
    assert ds.class_names == [str(i) for i in range(10)]
    assert ds.sample_shape == (8, 8) and ds.value_range == "0-1"
    counts = ds.counts()
    assert sum(counts["train"]) == 1438 and sum(counts["validation"]) == 359
    assert min(counts["validation"]) >= 35          # every class is in the validation split
    assert any("20%" in n for n in ds.notes)
    assert ds.samples.dtype == np.uint8 and ds.samples.shape[1:] == (8, 8)
    assert len(ds.samples) == 40 and set(ds.sample_labels.tolist()) == set(range(10))
    summary = ds.summary()
    assert summary["sizes"] == {"train": 1438, "validation": 359}
    assert "1438 train" in summary["description"]


def test_split_options():
    ds = data.load("digits", {"validation_split": 0.1, "test_split": 0.25, "seed": 3})
    total = len(ds.train) + len(ds.validation) + len(ds.test)
    assert total == 1797
    assert abs(len(ds.test) - 0.25 * 1797) < 10
    assert abs(len(ds.validation) - 0.1 * (1797 - len(ds.test))) < 10
    none = data.load("digits", {"validation_split": 0})
    assert none.validation is None and len(none.train) == 1797
    small = data.load("digits", {"max_samples": 100})
    assert len(small.train) <= 100


@pytest.mark.parametrize("options, message", [
    ({"validation_split": 1.5}, "validation_split"),
    ({"validation_split": 0.6, "test_split": 0.5}, "no training data"),
    ({"colour": 1}, "unknown data option 'colour'"),
    ({"augmentation": {"spin": 0.1}}, "unknown augmentation 'spin'"),
    ({"augmentation": {"flip": "sideways"}}, "flip must be one of"),
    ({"image_size": [0, 5]}, "image_size"),
])
def test_bad_options(options, message):
    with pytest.raises(DataError, match=message):
        data.load("digits", options)


def test_shapes_are_deterministic_and_configurable():
    opts = {"num_classes": 4, "samples": 80, "image_size": [20, 24], "seed": 7}
    a, b = data.load("shapes", opts), data.load("shapes", opts)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.train.y, b.train.y)
    assert a.train.x.shape[1:] == (20, 24, 3) and a.train.x.dtype == np.uint8
    assert a.class_names == ["circle", "square", "triangle", "diamond"]
    assert len(a.train) + len(a.validation) == 80
    assert sum(a.counts()["train"]) == len(a.train) and all(c > 10 for c in a.counts()["train"])
    other = data.load("shapes", {**opts, "seed": 8})
    assert not np.array_equal(a.train.x, other.train.x)
    # the images are varied, not blank
    assert a.train.x.std() > 30


def test_shapes_take_the_model_input_size_and_refuse_bad_class_counts():
    ds = data.load("shapes", {"samples": 30}, input_shape=(40, 40, 3))
    assert ds.sample_shape == (40, 40, 3)
    with pytest.raises(DataError, match="num_classes must be from 2 to 10"):
        data.load("shapes", {"num_classes": 11})
    matched = data.load("shapes", {"samples": 60}, classes=10)
    assert matched.class_names[-3:] == ["star", "bar", "crescent"]
    assert any("to match the model's output" in n for n in matched.notes)
    chosen = data.load("shapes", {"samples": 60, "num_classes": 3}, classes=10)
    assert len(chosen.class_names) == 3


# --- keras.datasets from the cache -----------------------------------------------------------


def _idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_from_the_cache(offline):
    rng = np.random.default_rng(0)
    cache = offline / "datasets"
    cache.mkdir()
    np.savez(cache / "mnist.npz", x_train=rng.integers(0, 255, (50, 28, 28), dtype=np.uint8),
             y_train=np.arange(50) % 10, x_test=rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
             y_test=np.arange(20) % 10)
    ds = data.load("mnist")
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (40, 10, 20)
    assert ds.sample_shape == (28, 28) and ds.value_range == "0-255"
    assert ds.class_names == [str(i) for i in range(10)]
    assert any("Keras' cache" in n for n in ds.notes)


def test_fashion_mnist_from_the_cache(offline):
    folder = offline / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    _idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (30, 28, 28)), 2051)
    _idx(folder / "train-labels-idx1-ubyte.gz", np.arange(30) % 10, 2049)
    _idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (10, 28, 28)), 2051)
    _idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(10) % 10, 2049)
    ds = data.load("fashion_mnist", {"validation_split": 0})
    assert ds.train.x.shape == (30, 28, 28) and len(ds.test) == 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    np.testing.assert_array_equal(ds.train.y, np.arange(30) % 10)


def _cifar_batches(folder, n=10):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                 b"labels": list(np.arange(n) % 10)}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)


@pytest.mark.parametrize("layout", ["keras3", "keras2", "archive"])
def test_cifar10_from_the_cache(offline, tmp_path, layout):
    cache = offline / "datasets"
    if layout == "keras3":
        _cifar_batches(cache / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    elif layout == "keras2":
        _cifar_batches(cache / "cifar-10-batches-py")
    else:
        _cifar_batches(tmp_path / "src" / "cifar-10-batches-py")
        cache.mkdir()
        with tarfile.open(cache / "cifar-10-python.tar.gz", "w:gz") as tar:
            tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    ds = data.load("cifar10", {"validation_split": 0.2})
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (40, 10, 10)
    assert ds.sample_shape == (32, 32, 3) and ds.class_names[3] == "cat"


def test_a_pickle_that_would_run_code_is_refused(offline):
    folder = offline / "datasets" / "cifar-10-batches-py"
    _cifar_batches(folder)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [0]}, f)
    with pytest.raises(DataError, match="damaged.*refusing to load builtins.print"):
        data.load("cifar10")


@pytest.mark.parametrize("name, filename", [("mnist", "mnist.npz"),
                                            ("fashion_mnist", "train-images-idx3-ubyte.gz"),
                                            ("cifar10", "cifar-10-batches-py")])
def test_offline_without_the_cache_names_the_file(offline, name, filename):
    with pytest.raises(DataError) as err:
        data.load(name)
    text = str(err.value)
    assert f"{name} is not in Keras' cache" in text
    assert str(offline / "datasets") in text and filename in text
    assert "digits" in text   # what works instead


def test_download_option_off(offline, monkeypatch):
    monkeypatch.delenv("NETBUILDER_OFFLINE")
    with pytest.raises(DataError, match="downloads are turned off"):
        data.load("mnist", {"download": False})


def test_a_damaged_cache_file(offline):
    (offline / "datasets").mkdir()
    (offline / "datasets" / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="mnist: the cached file .*mnist.npz is damaged"):
        data.load("mnist")


# --- image folders ---------------------------------------------------------------------------


def _image_folder(root, classes=("cats", "dogs"), per_class=6, size=(20, 14), mode="RGB"):
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            value = 40 if c == 0 else 210
            img = Image.new(mode, size, (value, value // 2, 255 - value) if mode == "RGB"
                            else value)
            img.save(folder / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def test_folder_of_class_folders(tmp_path):
    root = _image_folder(tmp_path / "pets")
    ds = data.load(str(root), {"validation_split": 0.25}, input_shape=(16, 16, 3))
    assert ds.class_names == ["cats", "dogs"]
    assert ds.train.x.shape[1:] == (16, 16, 3) and ds.train.x.dtype == np.uint8
    assert (len(ds.train), len(ds.validation)) == (8, 4)
    assert ds.counts() == {"train": [4, 4], "validation": [2, 2]}
    assert any("resized to 16×16" in n for n in ds.notes)
    # each class keeps its colour
    cats = ds.train.x[ds.train.y == 0]
    assert cats[..., 0].mean() < 60 and ds.train.x[ds.train.y == 1][..., 0].mean() > 190


def test_folder_reads_grayscale_for_a_one_channel_model(tmp_path):
    root = _image_folder(tmp_path / "pets")
    ds = data.load(str(root), input_shape=(10, 10, 1))
    assert ds.train.x.shape[1:] == (10, 10, 1)


def test_folder_with_train_and_test_folders(tmp_path):
    root = tmp_path / "split"
    _image_folder(root / "train", per_class=5)
    _image_folder(root / "test", per_class=2)
    ds = data.load(str(root), {"validation_split": 0.2}, input_shape=(8, 8, 3))
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (8, 2, 4)


def test_folder_that_streams_from_disk(tmp_path):
    root = _image_folder(tmp_path / "pets", per_class=8)
    ds = data.load(str(root), {"max_memory_mb": 0, "validation_split": 0.25},
                   input_shape=(12, 12, 3))
    assert ds.train.stream is not None and ds.train.x is None
    assert len(ds.train) + len(ds.validation) == 16
    assert sum(ds.counts()["train"]) == len(ds.train)
    prepared = data.prepare(ds, classifier((12, 12, 3), units=2))
    feed = data.fit_inputs(prepared.train, 4, shuffle=True)
    xb, yb = next(iter(feed["x"]))
    assert tuple(xb.shape) == (4, 12, 12, 3) and float(np.max(xb)) <= 1.0
    assert set(np.asarray(yb).tolist()) <= {0, 1}


@pytest.mark.parametrize("problem, message", [
    ("missing", "no such data source"),
    ("empty_class", "class folder .*dogs has no images"),
    ("no_classes", "no class sub-folders"),
    ("one_class", "only one class folder"),
])
def test_bad_folders(tmp_path, problem, message):
    root = tmp_path / "pets"
    if problem == "missing":
        pass
    elif problem == "empty_class":
        _image_folder(root, classes=("cats",))
        (root / "dogs").mkdir()
        (root / "dogs" / "notes.txt").write_text("no images here")
    elif problem == "no_classes":
        root.mkdir()
        Image.new("RGB", (4, 4)).save(root / "a.png")
    else:
        _image_folder(root, classes=("cats",))
    with pytest.raises(DataError, match=message):
        data.load(str(root))


# --- files -----------------------------------------------------------------------------------


def test_npz_with_x_and_y(tmp_path):
    x, y = two_class_images(30)
    np.savez(tmp_path / "d.npz", x=x, y=y, class_names=np.array(["dark", "bright"]))
    ds = data.load(str(tmp_path / "d.npz"))
    assert ds.class_names == ["dark", "bright"]
    assert len(ds.train) + len(ds.validation) == 30 and ds.value_range == "0-255"


def test_npz_with_train_and_test_arrays(tmp_path):
    x, y = two_class_images(30)
    np.savez(tmp_path / "d.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    ds = data.load(str(tmp_path / "d.npz"))
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (16, 4, 10)
    assert ds.class_names == ["0", "1"]


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((10, 4)), "y": np.zeros(9)}, "10 inputs but 9 labels"),
    ({"x_train": np.zeros((10, 4)), "y_train": np.zeros(10), "x_test": np.zeros((3, 4)),
      "y_test": np.zeros(4)}, "test data has 3 inputs but 4 labels"),
    ({"images": np.zeros((10, 4))}, "expected keys x and y.*the file has images"),
    ({"x": np.zeros((10, 4))}, "x has no labels"),
])
def test_bad_npz(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        data.load(str(tmp_path / "bad.npz"))


def test_not_a_data_file(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(DataError, match="unknown data file type '.h5'"):
        data.load(str(tmp_path / "model.h5"))
    (tmp_path / "broken.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable .npz file"):
        data.load(str(tmp_path / "broken.npz"))


def test_csv_with_header_and_named_classes(tmp_path):
    rows = ["sepal,petal,species"] + [f"{i % 7}.5,{i % 3},{'setosa' if i % 2 else 'virginica'}"
                                      for i in range(20)]
    (tmp_path / "iris.csv").write_text("\n".join(rows) + "\n")
    ds = data.load(str(tmp_path / "iris.csv"))
    assert ds.class_names == ["setosa", "virginica"]
    assert ds.sample_shape == (2,) and ds.value_range is None and ds.samples is None
    assert len(ds.train) + len(ds.validation) == 20
    prepared = data.prepare(ds, classifier((2,), units=2))
    assert prepared.losses["out"].loss == "sparse_categorical_crossentropy"


def test_csv_label_column_by_name_and_regression(tmp_path):
    rows = ["price,rooms,area"] + [f"{100 + i * 1.5},{i % 4},{30 + i}" for i in range(12)]
    (tmp_path / "houses.csv").write_text("\n".join(rows))
    ds = data.load(str(tmp_path / "houses.csv"), {"label_column": "price"})
    assert ds.class_names == [] and ds.sample_shape == (2,)
    assert any("regression" in n for n in ds.notes)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
    prepared = data.prepare(ds, model)
    assert prepared.losses["out"].loss == "mean_squared_error"
    assert not prepared.classification


@pytest.mark.parametrize("text, options, message", [
    ("a,b,label\n1,x,0\n", {}, "line 2, column 'b': 'x' is not a number"),
    ("a,b\n1,2\n3\n", {}, "line 3 has 1 values, expected 2"),
    ("a,b\n1,2\n", {"label_column": "c"}, "no column named 'c'"),
    ("", {}, "empty"),
])
def test_bad_csv(tmp_path, text, options, message):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        data.load(str(tmp_path / "t.csv"), options)


# --- labels and losses -----------------------------------------------------------------------


def _npz_dataset(tmp_path, x, y, **extra):
    np.savez(tmp_path / "d.npz", x=x, y=y, **extra)
    return data.load(str(tmp_path / "d.npz"))


def test_integer_labels_choose_sparse_crossentropy(tmp_path):
    x, y = two_class_images(20)
    ds = _npz_dataset(tmp_path, x, y)
    prepared = data.prepare(ds, classifier((12, 12, 3), units=2))
    choice = prepared.losses["out"]
    assert (choice.loss, choice.from_logits) == ("sparse_categorical_crossentropy", False)
    assert any("sparse_categorical_crossentropy" in n for n in prepared.notes)


def test_one_hot_labels_choose_categorical_crossentropy(tmp_path):
    x, y = two_class_images(20)
    ds = _npz_dataset(tmp_path, x, np.eye(2)[y])
    assert ds.class_names == ["0", "1"] and ds.counts()["train"] == [8, 8]
    prepared = data.prepare(ds, classifier((12, 12, 3), units=2))
    assert prepared.losses["out"].loss == "categorical_crossentropy"
    assert prepared.train.y.shape == (16, 2)


def test_binary_labels_and_logits(tmp_path):
    x, y = two_class_images(20)
    ds = _npz_dataset(tmp_path, x, y)
    sigmoid = data.prepare(ds, classifier((12, 12, 3), units=1, activation="sigmoid"))
    assert (sigmoid.losses["out"].loss, sigmoid.losses["out"].from_logits) == (
        "binary_crossentropy", False)
    assert sigmoid.train.y.shape == (16, 1)
    logits = data.prepare(ds, classifier((12, 12, 3), units=2, activation=None))
    assert logits.losses["out"].from_logits


def test_labels_that_do_not_fit_the_output(tmp_path):
    ds = data.load("digits")
    with pytest.raises(DataError, match=r"labels go up to 9 \(10 classes\).*3 units: set its "
                                        "units to 10"):
        data.prepare(ds, classifier((8, 8), units=3))


def test_a_chosen_loss_converts_the_labels():
    ds = data.load("digits")
    prepared = data.prepare(ds, classifier((8, 8)), {"out": "categorical_crossentropy"})
    assert prepared.train.y.shape == (1438, 10)
    np.testing.assert_array_equal(prepared.train.y.argmax(1), ds.train.y)


def test_labels_per_output_of_a_two_headed_model(tmp_path):
    x, y = two_class_images(20)
    boxes = np.random.default_rng(0).random((20, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y_cls=y, y_box=boxes)
    ds = data.load(str(tmp_path / "d.npz"))
    inp = keras.Input((12, 12, 3))
    flat = keras.layers.Flatten()(inp)
    model = keras.Model(inp, [keras.layers.Dense(2, activation="softmax", name="cls")(flat),
                              keras.layers.Dense(4, name="box")(flat)])
    prepared = data.prepare(ds, model)
    assert prepared.losses["cls"].loss == "sparse_categorical_crossentropy"
    assert prepared.losses["box"].loss == "mean_squared_error"
    assert set(prepared.train.y) == {"cls", "box"} and prepared.train.y["box"].shape == (16, 4)
    one_label = _npz_dataset(tmp_path, x, y)
    with pytest.raises(DataError, match="the data has 2 classes but output 'box' .*4 units"):
        data.prepare(one_label, model)


# --- adapting inputs -------------------------------------------------------------------------


def test_add_channel_and_resize():
    ds = data.load("digits")
    prepared = data.prepare(ds, classifier((16, 16, 1)))
    assert prepared.train.x.shape == (1438, 16, 16, 1) and prepared.train.x.dtype == np.float32
    assert any("added a channel axis" in n for n in prepared.notes)
    assert any("resized from 8×8 to 16×16" in n for n in prepared.notes)


def test_grayscale_to_rgb_like_mnist_for_inception():
    ds = data.load("digits", {"max_samples": 50})
    prepared = data.prepare(ds, classifier((20, 20, 3)))
    x = prepared.train.x
    assert x.shape[1:] == (20, 20, 3)
    np.testing.assert_allclose(x[..., 0], x[..., 2])
    assert any("grayscale converted to RGB" in n for n in prepared.notes)


def test_rgb_to_grayscale_and_scaling(tmp_path):
    x, y = two_class_images(20)
    ds = _npz_dataset(tmp_path, x, y)
    prepared = data.prepare(ds, classifier((12, 12, 1), units=2))
    assert prepared.train.x.shape[1:] == (12, 12, 1) and prepared.train.x.max() <= 1.0
    assert any("RGB converted to grayscale" in n for n in prepared.notes)
    assert any("scaled from 0–255 to 0–1" in n for n in prepared.notes)


def test_a_rescaling_layer_keeps_pixel_values(tmp_path):
    x, y = two_class_images(20)
    ds = _npz_dataset(tmp_path, x, y)
    prepared = data.prepare(ds, classifier((12, 12, 3), units=2, rescaling=True))
    assert prepared.train.x.max() > 100
    assert any("Rescaling layer" in n for n in prepared.notes)


def test_flatten_for_an_mlp_and_unflatten_for_a_cnn(tmp_path):
    ds = data.load("digits")
    flat = data.prepare(ds, classifier((64,)))
    assert flat.train.x.shape == (1438, 64)
    resized = data.prepare(ds, classifier((256,)))
    assert resized.train.x.shape == (1438, 256)
    assert any("resized to 16×16" in n for n in resized.notes)
    rows = np.random.default_rng(0).random((20, 64)).astype(np.float32)
    table = _npz_dataset(tmp_path, rows, np.arange(20) % 2)
    image = data.prepare(table, classifier((8, 8, 1), units=2))
    assert image.train.x.shape[1:] == (8, 8, 1)


def test_large_data_is_adapted_batch_by_batch():
    ds = data.load("digits", {"max_memory_mb": 0})
    prepared = data.prepare(ds, classifier((16, 16, 3)))
    assert prepared.train.transform is not None and prepared.train.x.shape[1:] == (8, 8)
    feed = data.fit_inputs(prepared.train, 32)
    xb, _ = next(iter(feed["x"]))
    assert tuple(xb.shape) == (32, 16, 16, 3)


def test_a_shape_that_cannot_be_adapted():
    ds = data.load("digits")
    with pytest.raises(DataError) as err:
        data.prepare(ds, classifier((5,)))
    text = str(err.value)
    assert "(8, 8) (images)" in text and "'input_layer" in text and "(5,)" in text


def test_a_model_with_two_inputs_is_refused():
    a, b = keras.Input((8, 8)), keras.Input((8, 8))
    merged = keras.layers.Flatten()(keras.layers.Add()([a, b]))
    model = keras.Model([a, b], keras.layers.Dense(10, activation="softmax")(merged))
    with pytest.raises(DataError, match="2 inputs"):
        data.prepare(data.load("digits"), model)


# --- augmentation ----------------------------------------------------------------------------


def test_augmentation_applies_to_the_training_data_only():
    ds = data.load("shapes", {"samples": 40, "image_size": 16})
    prepared = data.prepare(ds, classifier((16, 16, 3), units=3))
    aug = {"flip": "horizontal", "rotation": 0.2, "zoom": 0.2, "shift": 0.1, "contrast": 0.3,
           "brightness": 0.2}
    model = data.augmentation_model(aug, prepared.value_range, seed=1)
    assert [type(layer).__name__ for layer in model.layers] == [
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
        "RandomBrightness"]
    train = data.fit_inputs(prepared.train, 8, augmentation=model)
    xb, _ = next(iter(train["x"]))
    assert tuple(xb.shape) == (8, 16, 16, 3)
    assert not np.allclose(np.asarray(xb), prepared.train.x[:8], atol=1e-3)
    assert 0.0 <= float(np.min(xb)) and float(np.max(xb)) <= 1.0
    validation = data.fit_inputs(prepared.validation, 8)
    assert validation["x"] is prepared.validation.x      # untouched arrays
    grid = data.augmented_preview(prepared, aug, 6, seed=2)
    assert grid.shape == (6, 16, 16, 3) and grid.dtype == np.uint8
    assert len({g.tobytes() for g in grid}) > 1
    assert data.describe_augmentation(aug).startswith("flip horizontal, rotation 0.2")


def test_no_augmentation_means_plain_arrays():
    ds = data.load("digits")
    prepared = data.prepare(ds, classifier((8, 8)))
    assert data.augmentation_model({"flip": None}, "0-1") is None
    feed = data.fit_inputs(prepared.train, 32)
    assert feed["x"] is prepared.train.x and feed["batch_size"] == 32
