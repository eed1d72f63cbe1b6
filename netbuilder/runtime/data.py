"""Training data: load a source, split it, describe it, and fit it to a model.

Sources (``load(source, options)``):

* ``"digits"``: scikit-learn's bundled 8x8 digits (1,797 images, no download);
* ``"shapes"``: generated coloured shapes (circle, square, triangle...), chosen image size and
  number of classes, deterministic for a seed;
* ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``: read from Keras' cache (``$KERAS_HOME`` or
  ``~/.keras``, ``datasets/``) in the files ``keras.datasets`` downloads; when they are missing,
  ``keras.datasets`` is asked to download them, and offline that gives a message naming the file;
* a folder of images with one sub-folder per class (optionally ``train/`` and ``test/`` folders
  holding those), read with ``keras.utils.image_dataset_from_directory``;
* a ``.npz`` file (``x``/``y`` or ``x_train``/``y_train``/``x_test``/``y_test`` arrays);
* a ``.csv`` table (the label column named in the options, else the last one).

``load`` gives a ``Dataset``: train / validation / test splits (by default 20% of the training
data is held out for validation), class names, counts, a few sample images and notes saying what
was done. ``prepare(dataset, model)`` then fits it to a ``keras.Model``: inputs are adapted to the
model's input (channel axis, grayscale <-> RGB, resize, flatten, 0..1 scaling; or, for a model
whose Input feeds a Keras Application, 0-255 pixels through that Application's
``preprocess_input``, with augmentation on the pixels before it), labels are matched
to each output and a loss is chosen to match (sparse / categorical / binary cross-entropy, or a
regression loss). Anything that cannot work raises ``DataError`` with one message naming the
problem. Keras and TensorFlow are imported only where they are needed.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import pickle
import socket
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class DataError(Exception):
    """Data that cannot be loaded or cannot feed the model; ``str(err)`` is for the user."""


KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")
BUILTIN_SOURCES = ("digits", "shapes") + KERAS_DATASETS
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
SHAPE_NAMES = ("circle", "square", "triangle", "diamond", "cross", "ring", "hexagon", "star",
               "bar", "crescent")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
AUGMENTATIONS = ("flip", "rotation", "zoom", "shift", "contrast", "brightness")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")

DEFAULT_OPTIONS: dict[str, Any] = {
    "validation_split": 0.2,   # fraction of the training data held out for validation
    "test_split": 0.0,         # fraction held out for testing when the source has no test set
    "seed": 0,
    "max_samples": None,       # keep at most this many training samples (quick experiments)
    "image_size": None,        # [h, w] for folders and shapes; else the model's input size
    "num_classes": 3,          # shapes
    "samples": 1500,           # shapes: how many images in all
    "label_column": None,      # CSV: name or 0-based index; default the last column
    "download": True,          # keras.datasets: try to download when not cached
    "max_memory_mb": 2048,     # larger prepared arrays are adapted batch by batch instead
    "augmentation": None,      # {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, ...}
}


# --- the dataset -----------------------------------------------------------------------------


@dataclass
class Split:
    """One split. ``x`` holds the inputs as loaded (``None`` when they stream from disk),
    ``y`` the labels (``None`` when every output has its own, in ``outputs``), ``outputs`` labels
    per model output name (from ``.npz`` keys such as ``y_train_box_output``)."""

    x: np.ndarray | None
    y: np.ndarray | None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    stream: Any = None          # unbatched tf.data.Dataset of (image, label) read from disk

    def __len__(self) -> int:
        if self.x is not None:
            return len(self.x)
        labels = self.y if self.y is not None else next(iter(self.outputs.values()))
        return len(labels)


@dataclass
class Dataset:
    name: str
    source: str
    train: Split
    validation: Split | None
    test: Split | None
    class_names: list[str]
    sample_shape: tuple[int, ...]          # one input as loaded, e.g. (28, 28) or (8, 8)
    value_range: str | None                # "0-255", "0-1" or None (tabular features)
    notes: list[str] = field(default_factory=list)
    samples: np.ndarray | None = None      # a few training images, uint8, for previews
    sample_labels: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_image(self) -> bool:
        return self.value_range is not None

    def splits(self) -> dict[str, Split]:
        out = {"train": self.train}
        if self.validation is not None and len(self.validation):
            out["validation"] = self.validation
        if self.test is not None and len(self.test):
            out["test"] = self.test
        return out

    def counts(self) -> dict[str, list[int]]:
        """Samples per class in each split (empty lists when the labels are not classes)."""
        result: dict[str, list[int]] = {}
        for name, split in self.splits().items():
            labels = _class_indices(split.y) if split.y is not None else None
            if labels is None or not self.class_names:
                result[name] = []
            else:
                result[name] = np.bincount(labels, minlength=len(self.class_names)).tolist()
        return result

    def describe(self) -> str:
        sizes = ", ".join(f"{len(s)} {n}" for n, s in self.splits().items())
        what = f"{len(self.class_names)} classes" if self.class_names else "no classes"
        text = f"{self.name}: {sizes} samples of shape {self.sample_shape}, {what}"
        return "; ".join([text] + self.notes)

    def summary(self) -> dict[str, Any]:
        """A JSON-able description for previews and run records."""
        return {
            "name": self.name,
            "source": self.source,
            "sample_shape": list(self.sample_shape),
            "class_names": list(self.class_names),
            "sizes": {n: len(s) for n, s in self.splits().items()},
            "counts": self.counts(),
            "value_range": self.value_range,
            "notes": list(self.notes),
            "description": self.describe(),
        }


def _class_indices(y: np.ndarray | None) -> np.ndarray | None:
    """Integer class per sample from integer or one-hot labels; None for other labels."""
    if y is None or len(y) == 0:
        return None
    if y.ndim == 2 and y.shape[1] > 1:
        if _is_one_hot(y):
            return np.argmax(y, axis=1)
        return None
    flat = y.reshape(len(y), -1)
    if flat.shape[1] != 1 or not _is_integral(flat):
        return None
    flat = flat[:, 0].astype(np.int64)
    return flat if flat.min() >= 0 else None


def _is_integral(y: np.ndarray) -> bool:
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        return True
    if not np.issubdtype(y.dtype, np.floating):
        return False
    return bool(np.all(np.isfinite(y)) and np.all(np.round(y) == y))


def _is_one_hot(y: np.ndarray) -> bool:
    if y.ndim < 2 or y.shape[-1] < 2 or not _is_integral(y):
        return False
    return bool(np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=-1) == 1))


# --- options ---------------------------------------------------------------------------------


def resolve_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise DataError(f"unknown data option {unknown[0]!r} (known: "
                        f"{', '.join(sorted(DEFAULT_OPTIONS))})")
    merged = {**DEFAULT_OPTIONS, **{k: v for k, v in options.items() if v is not None}}
    for key in ("validation_split", "test_split"):
        value = merged[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
            raise DataError(f"{key} must be a fraction from 0 to below 1, found {value!r}")
    if merged["validation_split"] + merged["test_split"] >= 1:
        raise DataError("validation_split and test_split together leave no training data")
    for key in ("num_classes", "samples", "max_samples", "max_memory_mb"):
        value = merged[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 0):
            raise DataError(f"{key} must be a whole number, found {value!r}")
    size = merged["image_size"]
    if size is not None:
        if isinstance(size, int) and not isinstance(size, bool):
            size = [size, size]
        if (not isinstance(size, (list, tuple)) or len(size) != 2
                or not all(isinstance(v, int) and v > 0 for v in size)):
            raise DataError(f"image_size must be [height, width], found {merged['image_size']!r}")
        merged["image_size"] = [int(size[0]), int(size[1])]
    check_augmentation(merged["augmentation"])
    return merged


def check_augmentation(aug: Mapping[str, Any] | None) -> None:
    if not aug:
        return
    if not isinstance(aug, Mapping):
        raise DataError(f"augmentation must be an object such as {{\"flip\": \"horizontal\"}}, "
                        f"found {aug!r}")
    for key, value in aug.items():
        if key not in AUGMENTATIONS:
            raise DataError(f"unknown augmentation {key!r} (known: {', '.join(AUGMENTATIONS)})")
        if key == "flip":
            if value not in (None, False, True) and value not in FLIP_MODES:
                raise DataError(f"flip must be one of {', '.join(FLIP_MODES)}, found {value!r}")
        elif value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                    or not 0 <= value < 1):
            raise DataError(f"augmentation {key} must be a fraction from 0 to below 1, "
                            f"found {value!r}")


# --- loading ---------------------------------------------------------------------------------


def load(source: str, options: Mapping[str, Any] | None = None, *,
         input_shape: tuple[int | None, ...] | None = None,
         classes: int | None = None) -> Dataset:
    """Load ``source`` (a built-in name or a path). ``input_shape`` (the model's input, without
    the batch axis) sizes images read from folders and generated shapes; ``classes`` (what the
    model's output can tell apart) sets how many kinds of generated shapes there are, unless the
    options say."""
    opts = resolve_options(options)
    source = str(source)
    key = source.strip().lower().replace("-", "_")
    if key == "digits":
        parts = _load_digits()
    elif key == "shapes":
        matched = False
        if (options or {}).get("num_classes") is None and classes is not None and (
                2 <= classes <= len(SHAPE_NAMES)):
            opts["num_classes"] = classes
            matched = True
        parts = _load_shapes(opts, input_shape)
        if matched:
            parts.notes.append(f"{classes} kinds of shapes, to match the model's output")
    elif key in KERAS_DATASETS:
        parts = _load_keras_dataset(key, opts)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            return _finish(_load_folder(path, opts, input_shape), opts)
        if not path.exists():
            raise DataError(f"no such data source: {source} (not a file or folder; built-in "
                            f"sources: {', '.join(BUILTIN_SOURCES)})")
        suffix = path.suffix.lower()
        if suffix == ".npz":
            parts = _load_npz(path)
        elif suffix in (".csv", ".tsv", ".txt"):
            parts = _load_csv(path, opts)
        else:
            raise DataError(f"{path}: unknown data file type {suffix or '(no extension)'!r}; "
                            "use a folder of class sub-folders, a .npz or a .csv file")
    return _finish(parts, opts)


@dataclass
class _Parts:
    """What a loader found, before splitting."""

    name: str
    source: str
    x: np.ndarray | None
    y: np.ndarray | None
    class_names: list[str]
    value_range: str | None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # split -> name -> y
    notes: list[str] = field(default_factory=list)
    streams: dict[str, Split] | None = None   # a folder too large for memory: ready splits
    sample_shape: tuple[int, ...] = ()


def _finish(parts: _Parts, opts: dict[str, Any]) -> Dataset:
    notes = list(parts.notes)
    if parts.streams is not None:
        splits = parts.streams
        train = splits["train"]
        validation, test = splits.get("validation"), splits.get("test")
        samples = sample_labels = None
        sample_shape = parts.sample_shape
        ds = Dataset(parts.name, parts.source, train, validation, test, parts.class_names,
                     sample_shape, parts.value_range, notes, None, None, opts)
        return ds
    x, y = parts.x, parts.y
    assert x is not None
    _check_lengths(x, y, parts.outputs.get("train", {}), "training")
    rng = np.random.default_rng(opts["seed"])
    train_out = dict(parts.outputs.get("train", {}))
    test_split: Split | None = None
    if parts.x_test is not None:
        _check_lengths(parts.x_test, parts.y_test, parts.outputs.get("test", {}), "test")
        test_split = Split(parts.x_test, parts.y_test, dict(parts.outputs.get("test", {})))
    elif opts["test_split"] > 0:
        keep, held = _split_indices(y, len(x), opts["test_split"], rng)
        test_split = _take(x, y, train_out, held)
        x, y, train_out = _subset(x, y, train_out, keep)
        notes.append(f"held out {len(held)} samples ({opts['test_split']:.0%}) for testing")
    if opts["max_samples"] and len(x) > opts["max_samples"]:
        keep, _ = _split_indices(y, len(x), 1 - opts["max_samples"] / len(x), rng)
        keep = keep[: opts["max_samples"]]
        x, y, train_out = _subset(x, y, train_out, np.sort(keep))
        notes.append(f"kept {len(x)} training samples (max_samples)")
    validation: Split | None = None
    if parts.x_val is not None:
        _check_lengths(parts.x_val, parts.y_val, parts.outputs.get("validation", {}),
                       "validation")
        validation = Split(parts.x_val, parts.y_val, dict(parts.outputs.get("validation", {})))
    elif opts["validation_split"] > 0:
        keep, held = _split_indices(y, len(x), opts["validation_split"], rng)
        if len(keep) == 0 or len(held) == 0:
            raise DataError(f"{parts.name}: {len(x)} samples are too few to hold out "
                            f"{opts['validation_split']:.0%} for validation")
        validation = _take(x, y, train_out, held)
        x, y, train_out = _subset(x, y, train_out, keep)
        notes.append(f"held out {len(held)} training samples ({opts['validation_split']:.0%}) "
                     "for validation")
    train = Split(x, y, train_out)
    if len(train) == 0:
        raise DataError(f"{parts.name}: no training samples")
    samples, sample_labels = _pick_samples(x, y, parts.value_range, parts.class_names)
    return Dataset(parts.name, parts.source, train, validation, test_split, parts.class_names,
                   tuple(int(v) for v in x.shape[1:]), parts.value_range, notes, samples,
                   sample_labels, opts)


def _check_lengths(x: np.ndarray, y: np.ndarray | None, outputs: Mapping[str, np.ndarray],
                   what: str) -> None:
    if y is None and not outputs:
        raise DataError(f"the {what} data has inputs but no labels")
    if y is not None and len(y) != len(x):
        raise DataError(f"the {what} data has {len(x)} inputs but {len(y)} labels; "
                        "x and y must have the same length")
    for name, arr in outputs.items():
        if len(arr) != len(x):
            raise DataError(f"the {what} data has {len(x)} inputs but {len(arr)} labels for "
                            f"output {name!r}")
    if len(x) == 0:
        raise DataError(f"the {what} data is empty")


def _split_indices(y: np.ndarray | None, n: int, fraction: float, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) indices; stratified by class when the labels are classes."""
    classes = _class_indices(y)
    held: list[np.ndarray] = []
    if classes is not None:
        for c in np.unique(classes):
            idx = np.flatnonzero(classes == c)
            idx = rng.permutation(idx)
            take = int(round(len(idx) * fraction))
            held.append(idx[:take])
        held_idx = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    else:
        perm = rng.permutation(n)
        held_idx = np.sort(perm[: int(round(n * fraction))])
    mask = np.ones(n, dtype=bool)
    mask[held_idx] = False
    kept = np.flatnonzero(mask)
    return rng.permutation(kept), held_idx


def _subset(x: np.ndarray, y: np.ndarray | None, outputs: dict[str, np.ndarray],
            idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    return (x[idx], None if y is None else y[idx], {k: v[idx] for k, v in outputs.items()})


def _take(x: np.ndarray, y: np.ndarray | None, outputs: dict[str, np.ndarray],
          idx: np.ndarray) -> Split:
    xs, ys, outs = _subset(x, y, outputs, idx)
    return Split(xs, ys, outs)


def _pick_samples(x: np.ndarray, y: np.ndarray | None, value_range: str | None,
                  class_names: list[str], per_class: int = 4, limit: int = 40
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    if value_range is None or x.ndim not in (3, 4):
        return None, None
    classes = _class_indices(y)
    if classes is not None and class_names:
        idx = [i for c in range(len(class_names)) for i in np.flatnonzero(classes == c)[:per_class]]
    else:
        idx = list(range(min(len(x), limit)))
    idx = idx[:limit]
    return to_uint8(x[idx], value_range), (None if classes is None else classes[idx])


def to_uint8(images: np.ndarray, value_range: str | None) -> np.ndarray:
    """Images for display: uint8 0..255."""
    if images.dtype == np.uint8:
        return images.copy()
    arr = np.asarray(images, dtype=np.float32)
    if value_range == "0-1":
        arr = arr * 255.0
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)


def _value_range(x: np.ndarray) -> str:
    if x.dtype == np.uint8:
        return "0-255"
    if x.size and float(np.nanmax(x)) > 1.5:
        return "0-255"
    return "0-1"


# --- built-in sources ------------------------------------------------------------------------


def _load_digits() -> _Parts:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    return _Parts("digits", "digits", x, y, [str(int(c)) for c in bunch.target_names], "0-1",
                  notes=["scikit-learn's 8×8 digits: pixel values 0–16 scaled to 0–1"])


def _load_shapes(opts: dict[str, Any], input_shape: tuple[int | None, ...] | None) -> _Parts:
    size = opts["image_size"]
    if size is None and input_shape and len(input_shape) == 3 and None not in input_shape[:2]:
        size = list(input_shape[:2])
    size = size or [32, 32]
    classes = opts["num_classes"]
    if not 2 <= classes <= len(SHAPE_NAMES):
        raise DataError(f"shapes: num_classes must be from 2 to {len(SHAPE_NAMES)}, "
                        f"found {classes}")
    n = opts["samples"]
    if n < 2 * classes:
        raise DataError(f"shapes: {n} samples are too few for {classes} classes")
    x, y = generate_shapes(n, size[0], size[1], classes, opts["seed"])
    return _Parts("shapes", "shapes", x, y, list(SHAPE_NAMES[:classes]), "0-255",
                  notes=[f"generated {n} {size[0]}×{size[1]} RGB images of {classes} shapes "
                         f"(seed {opts['seed']})"])


def generate_shapes(n: int, height: int, width: int, classes: int, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 RGB images (n, height, width, 3) of simple filled shapes in random colours,
    sizes and places on a random plain background, with their class (an index into
    ``SHAPE_NAMES``), balanced over ``classes`` classes. The same seed gives the same images."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    rng.shuffle(y)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy = (yy + 0.5) / height
    xx = (xx + 0.5) / width
    images = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        background = rng.uniform(0, 90, 3) if rng.random() < 0.5 else rng.uniform(165, 255, 3)
        colour = (255 - background) * rng.uniform(0.6, 1.0, 3) + rng.uniform(-30, 30, 3)
        r = rng.uniform(0.2, 0.34)
        cy, cx = rng.uniform(r + 0.04, 1 - r - 0.04, 2)
        angle = rng.uniform(0, 2 * np.pi)
        mask = _shape_mask(SHAPE_NAMES[y[i]], yy - cy, xx - cx, r, angle)
        img = np.empty((height, width, 3), dtype=np.float32)
        img[:] = background
        img[mask] = colour
        img += rng.normal(0, 6, img.shape)
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images, y.astype(np.int64)


def _shape_mask(kind: str, dy: np.ndarray, dx: np.ndarray, r: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy       # rotated coordinates
    if kind == "circle":
        return dx * dx + dy * dy <= r * r
    if kind == "ring":
        d2 = dx * dx + dy * dy
        return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    if kind == "square":
        h = r * 0.8   # upright: a tilted square would be a diamond
        return (np.abs(dx) <= h) & (np.abs(dy) <= h)
    if kind == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if kind == "cross":
        w = r * 0.33
        return ((np.abs(u) <= r) & (np.abs(v) <= w)) | ((np.abs(v) <= r) & (np.abs(u) <= w))
    if kind == "bar":
        return (np.abs(u) <= r) & (np.abs(v) <= 0.3 * r)
    if kind == "crescent":
        d2 = dx * dx + dy * dy
        ox, oy = 0.45 * r * c, 0.45 * r * s
        return (d2 <= r * r) & ((dx - ox) ** 2 + (dy - oy) ** 2 > (0.8 * r) ** 2)
    if kind == "star":
        theta = (np.arctan2(dy, dx) - angle) % (2 * np.pi / 5)
        tip = np.abs(theta - np.pi / 5) / (np.pi / 5)          # 1 at a tip, 0 between tips
        reach = r * (0.42 + 0.58 * tip ** 1.5)
        return dx * dx + dy * dy <= reach * reach
    sides = 3 if kind == "triangle" else 6
    inside = np.ones(dx.shape, dtype=bool)
    for k in range(sides):
        a = angle + 2 * np.pi * k / sides
        inside &= np.cos(a) * dx + np.sin(a) * dy <= r * (0.5 if sides == 3 else 0.87)
    return inside


# --- keras.datasets --------------------------------------------------------------------------


def keras_cache_dirs() -> list[Path]:
    """Where Keras keeps downloaded datasets, as ``keras.utils.get_file`` chooses it:
    ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``), or ``/tmp/.keras/datasets`` when
    that home is not writable."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(home, os.W_OK):
        home = "/tmp/.keras"
    return [Path(home) / "datasets"]


_FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                  "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")


def _cached(name: str) -> tuple[Path | None, Path]:
    """(the cached file or folder if present, the main path looked for)."""
    dirs = keras_cache_dirs()
    candidates: list[Path]
    if name == "mnist":
        candidates = [d / "mnist.npz" for d in dirs]
    elif name == "fashion_mnist":
        candidates = [d / "fashion-mnist" for d in dirs]
        for c in candidates:
            if all((c / f).is_file() for f in _FASHION_FILES):
                return c, candidates[0]
        return None, candidates[0] / _FASHION_FILES[1]
    else:
        candidates = []
        for d in dirs:
            candidates += [d / "cifar-10-batches-py-target" / "cifar-10-batches-py",
                           d / "cifar-10-batches-py",
                           d / "cifar-10-batches-py-target_archive",
                           d / "cifar-10-batches-py.tar.gz",
                           d / "cifar-10-python.tar.gz"]
        for c in candidates:
            if (c.is_dir() and (c / "data_batch_1").is_file()) or c.is_file():
                return c, candidates[1]
        return None, candidates[1]
    for c in candidates:
        if c.is_file():
            return c, candidates[0]
    return None, candidates[0]


def _load_keras_dataset(name: str, opts: dict[str, Any]) -> _Parts:
    found, looked_for = _cached(name)
    if found is not None:
        try:
            (x, y), (xt, yt) = _read_cached(name, found)
        except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError,
                tarfile.TarError, gzip.BadGzipFile) as err:
            raise DataError(f"{name}: the cached file {found} is damaged or not what Keras "
                            f"downloads ({err}); delete it and try again") from None
        note = f"{name} from Keras' cache ({found})"
    else:
        offline = os.environ.get("NETBUILDER_OFFLINE", "").strip() not in ("", "0")
        if not opts["download"] or offline:
            raise DataError(f"{name} is not in Keras' cache: looked for {looked_for}; "
                            "downloads are turned off. Put the file there, or train on 'digits' "
                            "or 'shapes', which need no download")
        (x, y), (xt, yt) = _download(name, looked_for)
        note = f"{name} downloaded into Keras' cache"
    classes = {"mnist": [str(i) for i in range(10)], "fashion_mnist": list(FASHION_CLASSES),
               "cifar10": list(CIFAR10_CLASSES)}[name]
    y = np.asarray(y).reshape(-1).astype(np.int64)
    yt = np.asarray(yt).reshape(-1).astype(np.int64)
    return _Parts(name, name, np.asarray(x), y, classes, "0-255", x_test=np.asarray(xt),
                  y_test=yt, notes=[note])


def _download(name: str, looked_for: Path) -> Any:
    import keras

    loader = getattr(keras.datasets, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        return loader.load_data()
    except Exception as err:  # noqa: BLE001 - any failure means: not available
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{name} is not in Keras' cache (looked for {looked_for}) and "
                        f"downloading it failed: {reason}. Put the file there, or train on "
                        "'digits' or 'shapes', which need no download") from None
    finally:
        socket.setdefaulttimeout(previous)


def _read_cached(name: str, path: Path) -> Any:
    if name == "mnist":
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    if name == "fashion_mnist":
        def read(fname: str, offset: int) -> np.ndarray:
            with gzip.open(path / fname, "rb") as f:
                return np.frombuffer(f.read(), np.uint8, offset=offset)

        y, yt = read(_FASHION_FILES[0], 8), read(_FASHION_FILES[2], 8)
        x = read(_FASHION_FILES[1], 16).reshape(len(y), 28, 28)
        xt = read(_FASHION_FILES[3], 16).reshape(len(yt), 28, 28)
        return (x, y), (xt, yt)
    return _read_cifar(path)


def _read_cifar(path: Path) -> Any:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    raw: dict[str, bytes] = {}
    if path.is_dir():
        for n in names:
            raw[n] = (path / n).read_bytes()
    else:
        with tarfile.open(path, "r:*") as tar:
            for member in tar.getmembers():
                base = member.name.rsplit("/", 1)[-1]
                if base in names and member.isfile():
                    f = tar.extractfile(member)
                    assert f is not None
                    raw[base] = f.read()
        missing = [n for n in names if n not in raw]
        if missing:
            raise ValueError(f"the archive has no {missing[0]}")
    xs, ys = [], []
    for n in names:
        d = _SafeUnpickler(io.BytesIO(raw[n]), encoding="bytes").load()
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        data = np.asarray(d["data"], dtype=np.uint8)
        xs.append(data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(d["labels"], dtype=np.int64))
    return (np.concatenate(xs[:5]), np.concatenate(ys[:5])), (xs[5], ys[5])


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only; never runs code from the file."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in (
                "_reconstruct", "scalar"):
            from numpy._core import multiarray  # type: ignore[attr-defined]

            return getattr(multiarray, name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):   # bytes in protocol-2 pickles
            import codecs

            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


# --- files -----------------------------------------------------------------------------------


def _load_npz(path: Path) -> _Parts:
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None
    with f:
        keys = list(f.files)
        try:
            arrays = {k: f[k] for k in keys}
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: cannot read its arrays ({err})") from None
    if "x_train" in arrays:
        prefixes = {"train": "train", "test": "test", "validation": "val"}
        xkey = "x_train"
    elif "x" in arrays:
        prefixes = {"train": "", "test": "test", "validation": "val"}
        xkey = "x"
    else:
        raise DataError(f"{path}: no input arrays: expected keys x and y, or x_train, y_train "
                        f"(and x_test, y_test); the file has {', '.join(keys) or 'no arrays'}")

    def labels(split: str) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        p = prefixes[split]
        main = f"y_{p}" if p else "y"
        alt = "y_validation" if split == "validation" else None
        y = arrays.get(main, arrays.get(alt) if alt else None)
        start = f"{main}_"
        reserved = {"y_train", "y_test", "y_val", "y_validation"}
        outs = {k[len(start):]: v for k, v in arrays.items()
                if k.startswith(start) and k not in reserved
                and not (split == "train" and not p and k.startswith(("y_test", "y_val")))}
        return y, outs

    def x_of(split: str) -> np.ndarray | None:
        p = prefixes[split]
        if split == "validation":
            return arrays.get("x_val", arrays.get("x_validation"))
        return arrays.get(f"x_{p}" if p else "x")

    x = arrays[xkey]
    y, outs = labels("train")
    if y is None and not outs:
        raise DataError(f"{path}: {xkey} has no labels: add "
                        f"{'y_train' if xkey == 'x_train' else 'y'}")
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise DataError(f"{path}: {xkey} holds {x.dtype} values, not numbers")
    parts = _Parts(path.stem, str(path), x, y, [], _image_range(x))
    parts.outputs["train"] = outs
    for split in ("test", "validation"):
        xs = x_of(split)
        if xs is None:
            continue
        ys, o = labels(split)
        if split == "test":
            parts.x_test, parts.y_test = xs, ys
        else:
            parts.x_val, parts.y_val = xs, ys
        parts.outputs[split] = o
    if "class_names" in arrays:
        parts.class_names = [str(v) for v in np.asarray(arrays["class_names"]).reshape(-1)]
    else:
        parts.class_names = _infer_class_names(y)
    return parts


def _image_range(x: np.ndarray) -> str | None:
    """The value range of image-like arrays (None for tabular features)."""
    if x.ndim >= 3:
        return _value_range(x)
    if x.dtype == np.uint8:
        return "0-255"
    return None


def _infer_class_names(y: np.ndarray | None) -> list[str]:
    classes = _class_indices(y)
    if classes is None:
        return []
    if y is not None and y.ndim == 2 and y.shape[1] > 1:
        return [str(i) for i in range(y.shape[1])]
    return [str(i) for i in range(int(classes.max()) + 1)]


def _load_csv(path: Path, opts: dict[str, Any]) -> _Parts:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it as text ({err})") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"{path}: the file is empty")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    width = len(rows[0])
    if width < 2:
        raise DataError(f"{path}: needs at least two columns (features and a label)")

    def numeric(v: str) -> bool:
        try:
            float(v)
            return True
        except ValueError:
            return False

    header = not all(numeric(v) for v in rows[0]) and len(rows) > 1 and any(
        numeric(v) for v in rows[1])
    names = [h.strip() for h in rows[0]] if header else [f"column {i + 1}" for i in range(width)]
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path}: no data rows")
    label = opts["label_column"]
    if label is None:
        col = width - 1
    elif isinstance(label, int) and not isinstance(label, bool):
        if not -width <= label < width:
            raise DataError(f"{path}: label column {label} does not exist ({width} columns)")
        col = label % width
    elif str(label) in names:
        col = names.index(str(label))
    else:
        raise DataError(f"{path}: no column named {label!r} (columns: {', '.join(names)})")
    features = np.empty((len(body), width - 1), dtype=np.float32)
    raw_labels: list[str] = []
    for r, row in enumerate(body):
        line = r + (2 if header else 1)
        if len(row) != width:
            raise DataError(f"{path}: line {line} has {len(row)} values, expected {width}")
        j = 0
        for c, value in enumerate(row):
            if c == col:
                raw_labels.append(value.strip())
                continue
            try:
                features[r, j] = float(value)
            except ValueError:
                raise DataError(f"{path}: line {line}, column {names[c]!r}: {value!r} is not a "
                                "number") from None
            j += 1
    notes = [f"{len(body)} rows, {width - 1} feature columns, label column {names[col]!r}"]
    if all(numeric(v) for v in raw_labels):
        values = np.array([float(v) for v in raw_labels])
        if np.all(np.round(values) == values) and values.min() >= 0:
            y = values.astype(np.int64)
            class_names = [str(i) for i in range(int(y.max()) + 1)]
        else:
            y = values.astype(np.float32)
            class_names = []
            notes.append("the labels are numbers, not classes: a regression target")
    else:
        class_names = sorted(set(raw_labels))
        lookup = {n: i for i, n in enumerate(class_names)}
        y = np.array([lookup[v] for v in raw_labels], dtype=np.int64)
        notes.append(f"class names from the label column: {', '.join(class_names[:10])}"
                     + (" ..." if len(class_names) > 10 else ""))
    return _Parts(path.stem, str(path), features, y, class_names, None, notes=notes)


def _load_folder(root: Path, opts: dict[str, Any],
                 input_shape: tuple[int | None, ...] | None) -> _Parts:
    """A folder with one sub-folder per class, or train/ (+ test/, validation/) folders that
    each hold the class sub-folders."""
    subdirs = _subfolders(root)
    layout: dict[str, Path] = {}
    lowered = {p.name.lower(): p for p in subdirs}
    if "train" in lowered and _subfolders(lowered["train"]):
        layout["train"] = lowered["train"]
        for split, names in (("test", ("test",)), ("validation", ("validation", "val"))):
            for n in names:
                if n in lowered:
                    layout[split] = lowered[n]
                    break
    else:
        layout["train"] = root
    class_names: list[str] | None = None
    files: dict[str, int] = {}
    for split, folder in layout.items():
        classes = _subfolders(folder)
        if not classes:
            raise DataError(f"{folder}: no class sub-folders; put the images of each class in "
                            "a sub-folder named after the class")
        names = sorted(p.name for p in classes)
        if class_names is None:
            class_names = names
        elif names != class_names:
            raise DataError(f"{folder}: its class folders ({', '.join(names)}) differ from the "
                            f"training folder's ({', '.join(class_names)})")
        total = 0
        for cls in sorted(classes, key=lambda p: p.name):
            count = _count_images(cls)
            if count == 0:
                raise DataError(f"class folder {cls} has no images (looked for "
                                f"{', '.join(IMAGE_EXTENSIONS)} files)")
            total += count
        files[split] = total
    assert class_names is not None
    if len(class_names) < 2:
        raise DataError(f"{layout['train']}: only one class folder ({class_names[0]}); "
                        "classification needs at least two")
    size = opts["image_size"]
    channels = 3
    if input_shape is not None and len(input_shape) == 3:
        if size is None and None not in input_shape[:2]:
            size = [int(input_shape[0]), int(input_shape[1])]   # type: ignore[arg-type]
        if input_shape[2] in (1, 3, 4):
            channels = int(input_shape[2])   # type: ignore[arg-type]
    size = size or [256, 256]
    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[channels]
    notes = [f"read {sum(files.values())} images from {root}, resized to "
             f"{size[0]}×{size[1]} {color_mode.upper() if channels > 1 else 'grayscale'}"]
    needed_mb = sum(files.values()) * size[0] * size[1] * channels / 2**20
    parts = _Parts(root.name, str(root), None, None, list(class_names), "0-255", notes=notes,
                   sample_shape=(size[0], size[1], channels))
    in_memory = needed_mb <= opts["max_memory_mb"]
    if in_memory:
        parts.x, parts.y = _read_folder(layout["train"], class_names, size, color_mode)
        if "test" in layout:
            parts.x_test, parts.y_test = _read_folder(layout["test"], class_names, size,
                                                      color_mode)
        if "validation" in layout:
            parts.x_val, parts.y_val = _read_folder(layout["validation"], class_names, size,
                                                    color_mode)
        return parts
    parts.notes.append(f"the images ({needed_mb:.0f} MB) stream from disk while training")
    parts.streams = _stream_folder(layout, class_names, size, color_mode, opts)
    return parts


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as err:
        raise DataError(f"{folder}: cannot list it ({err.strerror or err})") from None


def _count_images(folder: Path) -> int:
    count = 0
    for _dirpath, _dirs, names in os.walk(folder):
        count += sum(1 for n in names if n.lower().endswith(IMAGE_EXTENSIONS))
    return count


def _image_loader(folder: Path, class_names: list[str], size: list[int], color_mode: str,
                  **kwargs: Any) -> Any:
    import keras

    try:
        return keras.utils.image_dataset_from_directory(
            str(folder), labels="inferred", label_mode="int", class_names=class_names,
            color_mode=color_mode, image_size=tuple(size), verbose=False, **kwargs)
    except (ValueError, OSError) as err:
        raise DataError(f"{folder}: {err}") from None


def _read_folder(folder: Path, class_names: list[str], size: list[int], color_mode: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    ds = _image_loader(folder, class_names, size, color_mode, batch_size=None, shuffle=False)
    xs, ys = [], []
    try:
        for xb, yb in ds.batch(256).as_numpy_iterator():
            xs.append(np.clip(np.round(xb), 0, 255).astype(np.uint8))
            ys.append(yb.astype(np.int64))
    except tf.errors.OpError as err:
        raise DataError(f"{folder}: an image cannot be read ({tf_message(err)})") from None
    return np.concatenate(xs), np.concatenate(ys)


def tf_message(err: Exception) -> str:
    text = getattr(err, "message", None) or str(err)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


def _stream_folder(layout: dict[str, Path], class_names: list[str], size: list[int],
                   color_mode: str, opts: dict[str, Any]) -> dict[str, Split]:
    splits: dict[str, Split] = {}
    lookup = {n: i for i, n in enumerate(class_names)}

    def labels_of(ds: Any, folder: Path) -> np.ndarray:
        return np.array([lookup[Path(p).relative_to(folder).parts[0]] for p in ds.file_paths],
                        dtype=np.int64)

    common = dict(batch_size=None, seed=opts["seed"])
    if "validation" in layout or not opts["validation_split"]:
        train = _image_loader(layout["train"], class_names, size, color_mode, shuffle=True,
                              **common)
        splits["train"] = Split(None, labels_of(train, layout["train"]), stream=train)
        if "validation" in layout:
            val = _image_loader(layout["validation"], class_names, size, color_mode,
                                shuffle=False, **common)
            splits["validation"] = Split(None, labels_of(val, layout["validation"]), stream=val)
    else:
        train, val = _image_loader(layout["train"], class_names, size, color_mode, shuffle=True,
                                   validation_split=opts["validation_split"], subset="both",
                                   **common)
        splits["train"] = Split(None, labels_of(train, layout["train"]), stream=train)
        splits["validation"] = Split(None, labels_of(val, layout["train"]), stream=val)
    if "test" in layout:
        test = _image_loader(layout["test"], class_names, size, color_mode, shuffle=False,
                             **common)
        splits["test"] = Split(None, labels_of(test, layout["test"]), stream=test)
    return splits


# --- fitting data to a model -----------------------------------------------------------------


@dataclass
class LossChoice:
    """The loss for one output: a Keras loss name, whether the output gives logits, and why."""

    output: str
    loss: str
    from_logits: bool = False
    reason: str = ""
    classification: bool = True

    def keras_loss(self) -> Any:
        import keras

        classes = {"sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
                   "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
                   "binary_crossentropy": keras.losses.BinaryCrossentropy}
        if self.loss in classes:
            return classes[self.loss](from_logits=self.from_logits)
        return keras.losses.get(self.loss)


@dataclass
class OutputInfo:
    name: str
    shape: tuple[int | None, ...]      # without the batch axis
    activation: str


def output_classes(model: Any) -> int | None:
    """How many classes the model's (first) output tells apart: its units, or 2 for a single
    sigmoid unit; None when that is not a classifier's output."""
    outs = model_outputs(model)
    if not outs or not outs[0].shape or outs[0].shape[-1] is None:
        return None
    units = int(outs[0].shape[-1])
    if units == 1:
        return 2 if outs[0].activation == "sigmoid" else None
    return units


def model_outputs(model: Any) -> list[OutputInfo]:
    """Name, shape and final activation of each output of a Keras model."""
    names = list(getattr(model, "output_names", None) or [])
    infos = []
    for i, tensor in enumerate(model.outputs):
        layer = tensor._keras_history[0]
        activation = "linear"
        cls = type(layer).__name__
        if cls == "Softmax":
            activation = "softmax"
        elif hasattr(layer, "activation") and layer.activation is not None:
            activation = getattr(layer.activation, "__name__", str(layer.activation))
        name = names[i] if i < len(names) else layer.name
        infos.append(OutputInfo(name, tuple(tensor.shape[1:]), activation))
    return infos


LOSS_NAMES = ("sparse_categorical_crossentropy", "categorical_crossentropy",
              "binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber",
              "mse", "mae", "categorical_hinge", "hinge", "kl_divergence", "log_cosh",
              "poisson")


def suggest_loss(out: OutputInfo, y: np.ndarray, num_classes: int | None = None
                 ) -> tuple[LossChoice, Callable[[np.ndarray], np.ndarray]]:
    """The loss that matches output ``out`` and labels ``y`` (of ``num_classes`` classes when
    known), and how to reshape the labels. Raises ``DataError`` when the labels cannot fit the
    output."""
    shape = tuple(out.shape)
    ys = tuple(y.shape[1:])
    units = shape[-1] if shape else 1
    act = out.activation
    integral = _is_integral(y)
    where = f"output {out.name!r} ({_shape_text(shape)}, {act} activation)"
    if units == 1 and ys in ((), (1,)) and len(shape) == 1:
        if integral and y.size and set(np.unique(y).tolist()) <= {0, 1}:
            return (LossChoice(out.name, "binary_crossentropy", act != "sigmoid",
                               "0/1 labels and one output unit"),
                    lambda a: a.reshape(len(a), 1).astype(np.float32))
        return (LossChoice(out.name, "mean_squared_error", False,
                           "number labels and one output unit", classification=False),
                lambda a: a.reshape(len(a), 1).astype(np.float32))
    if ys == shape:
        if units > 1 and _is_one_hot(y):
            return (LossChoice(out.name, "categorical_crossentropy", act != "softmax",
                               f"one-hot labels of {units} classes"),
                    lambda a: a.astype(np.float32))
        if act == "sigmoid" and integral and set(np.unique(y).tolist()) <= {0, 1}:
            return (LossChoice(out.name, "binary_crossentropy", False,
                               "0/1 labels for each output unit"),
                    lambda a: a.astype(np.float32))
        return (LossChoice(out.name, "mean_squared_error", False,
                           "number labels of the output's shape",
                           classification=False), lambda a: a.astype(np.float32))
    if shape and (ys == shape[:-1] or ys == shape[:-1] + (1,)):
        if not integral or (y.size and y.min() < 0):
            raise DataError(f"the labels are not class numbers (whole numbers from 0), so they "
                            f"cannot train {where}")
        top = int(y.max()) if y.size else 0
        if top >= units:
            raise DataError(f"the labels go up to {top} ({top + 1} classes) but {where} has "
                            f"{units} units: set its units to {top + 1}")
        if units == 1:
            raise DataError(f"{where} has one unit: use a sigmoid activation for two classes, "
                            "or one unit per class with softmax")
        if num_classes and units != num_classes:
            raise DataError(f"the data has {num_classes} classes but {where} has {units} "
                            f"units: set its units to {num_classes}")
        return (LossChoice(out.name, "sparse_categorical_crossentropy", act != "softmax",
                           f"class numbers as labels, {units} classes"),
                lambda a: a.reshape((len(a),) + shape[:-1]).astype(np.int64))
    raise DataError(f"labels of shape {_shape_text(ys)} don't fit {where}: give one class "
                    f"number per sample, one-hot rows of {units}, or labels of shape "
                    f"{_shape_text(shape)}")


def _forced_loss(out: OutputInfo, y: np.ndarray, loss: str
                 ) -> tuple[LossChoice, Callable[[np.ndarray], np.ndarray]]:
    """A loss the user chose: labels converted to match it where that is possible."""
    units = out.shape[-1] if out.shape else 1
    logits = {"softmax": False, "sigmoid": False}.get(out.activation, True)
    choice = LossChoice(out.name, loss, False, "chosen in the settings")
    if loss == "categorical_crossentropy":
        choice.from_logits = out.activation != "softmax" and logits
        if _is_one_hot(y):
            return choice, lambda a: a.astype(np.float32)
        classes = _class_indices(y)
        if classes is None or classes.max() >= units:
            raise DataError(f"categorical_crossentropy needs one-hot labels or class numbers "
                            f"below {units} for output {out.name!r}")
        choice.reason = "chosen in the settings (class numbers converted to one-hot)"
        return choice, lambda a: np.eye(units, dtype=np.float32)[_class_indices(a)]
    if loss == "sparse_categorical_crossentropy":
        choice.from_logits = out.activation != "softmax" and logits
        if _is_one_hot(y):
            choice.reason = "chosen in the settings (one-hot labels converted to class numbers)"
            return choice, lambda a: np.argmax(a, axis=-1).astype(np.int64)
        return choice, lambda a: a.astype(np.int64)
    if loss == "binary_crossentropy":
        choice.from_logits = out.activation != "sigmoid" and logits
    choice.classification = loss in ("binary_crossentropy", "categorical_hinge", "hinge")
    if len(out.shape) == 1 and out.shape[0] == 1 and y.ndim == 1:
        return choice, lambda a: a.reshape(len(a), 1).astype(np.float32)
    return choice, lambda a: a.astype(np.float32)


def _units_text(out: OutputInfo) -> str:
    units = out.shape[-1] if out.shape else 1
    return f"{units} unit{'s' if units != 1 else ''}, {out.activation}"


def _shape_text(shape: tuple[Any, ...]) -> str:
    return "(" + ", ".join("None" if v is None else str(v) for v in shape) + (
        ",)" if len(shape) == 1 else ")")


@dataclass
class PreparedSplit:
    """Inputs and labels ready for ``model.fit``; with ``transform`` the inputs are adapted
    batch by batch (too large to adapt all at once)."""

    x: np.ndarray | None
    y: Any                        # an array, or a dict of arrays by output name
    size: int
    transform: Callable[[Any], Any] | None = None
    stream: Any = None            # unbatched tf.data.Dataset of (image, int label)
    label_fn: Callable[[Any], Any] | None = None   # for streams: tf labels -> targets
    # with a Keras Application's preprocess_input (the last step): the samples as loaded,
    # the steps before it (to 0-255 pixels of the model's size) and the step itself, so that
    # augmentation and pictures work on pixels, not on preprocessed values
    source: np.ndarray | None = None
    pixels: Callable[[Any], Any] | None = None
    preprocess: Callable[[Any], Any] | None = None


@dataclass
class Prepared:
    dataset: Dataset
    train: PreparedSplit
    validation: PreparedSplit | None
    test: PreparedSplit | None
    losses: dict[str, LossChoice]
    notes: list[str]
    input_shape: tuple[int | None, ...]
    value_range: str | None            # of the prepared inputs ("0-1", "0-255" or None)
    preprocess: str | None = None      # the Application whose preprocess_input ends the steps;
    # value_range is then that of the pixels before it (0-255), which augmentation works on

    @property
    def classification(self) -> bool:
        return all(c.classification for c in self.losses.values())


def prepare(dataset: Dataset, model: Any, losses: Mapping[str, str | None] | None = None,
            preprocess: str | None = None) -> Prepared:
    """Fit ``dataset`` to ``model``: inputs adapted, labels matched to each output, a loss per
    output (``losses`` maps output names to a chosen loss, None to suggest one). With
    ``preprocess`` (a Keras Application's name, see ``applications.preprocessing_for``) images
    end with that Application's ``preprocess_input`` on 0-255 pixels."""
    if len(model.inputs) != 1:
        raise DataError(f"this model has {len(model.inputs)} inputs; the data sources give one "
                        "input array (build a model with one Input layer)")
    target = tuple(None if v is None else int(v) for v in model.inputs[0].shape[1:])
    input_name = model.inputs[0]._keras_history[0].name
    rescales = model_rescales(model)
    steps, notes = plan_inputs(dataset.sample_shape, target, dataset.value_range, rescales,
                               input_name, preprocess)
    preprocessed = preprocess_name(steps)
    outputs = model_outputs(model)
    losses = dict(losses or {})
    choices: dict[str, LossChoice] = {}
    converters: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    train = dataset.train
    for out in outputs:
        y = train.outputs.get(out.name, train.y)
        if y is None:
            raise DataError(f"the data has no labels for output {out.name!r}: give them as "
                            f"y_train_{out.name} (or y_{out.name}) in the .npz file")
        chosen = losses.get(out.name)
        try:
            if chosen:
                choice, conv = _forced_loss(out, y, chosen)
            else:
                classes = len(dataset.class_names) if out.name not in train.outputs else None
                choice, conv = suggest_loss(out, y, classes)
        except DataError as err:
            if len(outputs) > 1 and out.name not in train.outputs:
                raise DataError(f"{err} (the same labels feed every output of this model; give "
                                f"output {out.name!r} its own as y_train_{out.name} in a .npz "
                                "file)") from None
            raise
        choices[out.name] = choice
        converters[out.name] = conv
        if out.name not in train.outputs and len(outputs) > 1:
            notes.append(f"the labels feed output {out.name!r}")
    for out in outputs:
        c = choices[out.name]
        notes.append(f"loss {c.loss}{' (from logits)' if c.from_logits else ''} for output "
                     f"{out.name!r} ({_units_text(out)}): {c.reason}")
    final_range = dataset.value_range
    if preprocessed is not None:
        final_range = "0-255"
    elif dataset.value_range == "0-255" and not rescales:
        final_range = "0-1"
    limit = dataset.options.get("max_memory_mb", DEFAULT_OPTIONS["max_memory_mb"]) * 2**20
    prepared: dict[str, PreparedSplit | None] = {}
    for name in ("train", "validation", "test"):
        split = getattr(dataset, name)
        if split is None or len(split) == 0:
            prepared[name] = None
            continue
        prepared[name] = _prepare_split(split, outputs, converters, steps, target, limit)
    return Prepared(dataset, prepared["train"], prepared["validation"],  # type: ignore[arg-type]
                    prepared["test"], choices, notes, target, final_range, preprocessed)


def preprocess_name(steps: list[tuple[str, Any]]) -> str | None:
    """The Application whose ``preprocess_input`` is the last of ``steps``, else None."""
    return steps[-1][1] if steps and steps[-1][0] == "preprocess" else None


def _labels_for(split: Split, outputs: list[OutputInfo],
                converters: Mapping[str, Callable[[np.ndarray], np.ndarray]]) -> Any:
    ys = {}
    for out in outputs:
        y = split.outputs.get(out.name, split.y)
        if y is None:
            raise DataError(f"a split of the data has no labels for output {out.name!r}")
        ys[out.name] = converters[out.name](np.asarray(y))
    if len(outputs) == 1:
        return ys[outputs[0].name]
    return ys


def _prepare_split(split: Split, outputs: list[OutputInfo],
                   converters: Mapping[str, Callable[[np.ndarray], np.ndarray]],
                   steps: list[tuple[str, Any]], target: tuple[int | None, ...],
                   limit: float) -> PreparedSplit:
    prepared = _prepare_split_steps(split, outputs, converters, steps, limit)
    if preprocess_name(steps) is not None:
        prepared.source = split.x
        prepared.pixels = make_transform(steps[:-1])
        prepared.preprocess = make_transform(steps[-1:])
    return prepared


def _prepare_split_steps(split: Split, outputs: list[OutputInfo],
                         converters: Mapping[str, Callable[[np.ndarray], np.ndarray]],
                         steps: list[tuple[str, Any]], limit: float) -> PreparedSplit:
    if split.stream is not None:
        return _prepare_stream(split, outputs, converters, steps)
    assert split.x is not None
    y = _labels_for(split, outputs, converters)
    x = split.x
    if not steps:
        return PreparedSplit(x if x.dtype == np.float32 else x.astype(np.float32), y, len(x))
    transform = make_transform(steps)
    out_elems = math.prod(v if v is not None else 1 for v in _shape_after(steps, x.shape[1:]))
    if len(x) * out_elems * 4 > limit:
        return PreparedSplit(x, y, len(x), transform=transform)
    return PreparedSplit(apply_transform(transform, x), y, len(x))


def _prepare_stream(split: Split, outputs: list[OutputInfo],
                    converters: Mapping[str, Callable[[np.ndarray], np.ndarray]],
                    steps: list[tuple[str, Any]]) -> PreparedSplit:
    import tensorflow as tf

    assert split.y is not None
    labels = _labels_for(split, outputs, converters)
    # stream labels are class numbers: map them to each output's targets with a lookup table
    tables = {}
    ref = split.y
    for out in outputs:
        arr = labels[out.name] if isinstance(labels, dict) else labels
        classes = int(ref.max()) + 1
        table = np.zeros((classes,) + arr.shape[1:], dtype=arr.dtype)
        table[ref] = arr
        tables[out.name] = tf.constant(table)

    def label_fn(yb: Any) -> Any:
        mapped = {n: tf.gather(t, yb) for n, t in tables.items()}
        return mapped if len(outputs) > 1 else mapped[outputs[0].name]

    return PreparedSplit(None, labels, len(split), transform=make_transform(steps),
                         stream=split.stream, label_fn=label_fn)


def model_rescales(model: Any) -> bool:
    """Whether the model scales its own pixels (a Rescaling layer near its input)."""
    for layer in model.layers[:4]:
        if type(layer).__name__ == "Rescaling":
            return True
    return False


def plan_inputs(shape: tuple[int, ...], target: tuple[int | None, ...], value_range: str | None,
                rescales: bool = False, input_name: str = "input",
                preprocess: str | None = None) -> tuple[list[tuple[str, Any]], list[str]]:
    """The steps that turn one sample of ``shape`` into the model's ``target`` shape, and notes
    saying what they do. With ``preprocess`` (the name of the Keras Application the input
    feeds) images become 0-255 pixels and the last step is ``("preprocess", name)``: that
    Application's ``keras.applications.<module>.preprocess_input``. Raises ``DataError`` when
    no sensible adaptation exists."""
    shape = tuple(int(v) for v in shape)
    steps: list[tuple[str, Any]] = []
    notes: list[str] = []
    image = value_range is not None and len(shape) in (2, 3)
    fail = DataError(
        f"the data's samples have shape {_shape_text(shape)}"
        f"{' (images)' if image else ''} but the model's input {input_name!r} takes "
        f"{_shape_text(target)}; they cannot be adapted: change the Input layer's shape to "
        f"{_shape_text(shape if len(shape) != 2 or not image else shape + (1,))} or use other data")
    current = shape
    if image and len(current) == 2 and len(target) in (1, 3):
        steps.append(("add_channel", None))
        current = current + (1,)
        if len(target) == 3:
            notes.append(f"added a channel axis: {_shape_text(shape)} -> {_shape_text(current)}")
    if image and len(current) == 3 and len(target) == 3:
        c, want = current[2], target[2]
        if want is not None and c != want:
            if c == 1 and want == 3:
                steps.append(("gray_to_rgb", None))
                notes.append("grayscale converted to RGB (channel repeated 3 times)")
            elif c in (3, 4) and want == 1:
                if c == 4:
                    steps.append(("drop_alpha", None))
                steps.append(("rgb_to_gray", None))
                notes.append("RGB converted to grayscale")
            elif c == 4 and want == 3:
                steps.append(("drop_alpha", None))
                notes.append("alpha channel dropped (RGBA -> RGB)")
            else:
                raise fail
            current = current[:2] + (want,)
        h, w = target[0], target[1]
        if (h is not None and h != current[0]) or (w is not None and w != current[1]):
            size = (h or current[0], w or current[1])
            steps.append(("resize", size))
            notes.append(f"images resized from {current[0]}×{current[1]} to {size[0]}×{size[1]}")
            current = size + current[2:]
    elif image and len(current) == 3 and len(target) == 1:
        f = target[0]
        h, w, c = current
        if f is None:
            raise fail
        if h * w * c == f:
            steps.append(("flatten", f))
            notes.append(f"images flattened: {h}×{w}×{c} -> {f} values")
        elif c in (3, 4) and h * w == f:
            steps += [("drop_alpha", None)] * (c == 4) + [("rgb_to_gray", None), ("flatten", f)]
            notes.append(f"images converted to grayscale and flattened to {f} values")
        else:
            side = math.isqrt(f)
            side3 = math.isqrt(f // 3) if f % 3 == 0 else 0
            if c == 3 and side3 and side3 * side3 * 3 == f:
                steps += [("resize", (side3, side3)), ("flatten", f)]
                notes.append(f"images resized to {side3}×{side3} and flattened to {f} values")
            elif side * side == f:
                if c in (3, 4):
                    steps += [("drop_alpha", None)] * (c == 4) + [("rgb_to_gray", None)]
                steps += [("resize", (side, side)), ("flatten", f)]
                notes.append(f"images resized to {side}×{side}"
                             f"{' grayscale' if c != 1 else ''} and flattened to {f} values")
            else:
                raise fail
        current = (f,)
    elif len(current) == 1 and len(target) == 3 and None not in target:
        h, w, c = target   # type: ignore[misc]
        if current[0] != h * w * c:
            raise fail
        steps.append(("unflatten", (h, w, c)))
        notes.append(f"rows of {current[0]} values reshaped to {h}×{w}×{c}")
        current = (h, w, c)
    else:
        if len(current) != len(target) or any(
                t is not None and t != s for s, t in zip(current, target)):
            raise fail
    if preprocess is not None and image and len(current) == 3 and current[2] == 3:
        from netbuilder.runtime.applications import preprocess_function, preprocess_note

        if preprocess_function(preprocess) is not None:
            if value_range == "0-1":
                steps.insert(0, ("scale", 255.0))
                notes.append("pixel values scaled from 0–1 to 0–255")
            steps.append(("preprocess", preprocess))
            notes.append(preprocess_note(preprocess))
            return steps, notes
    if value_range == "0-255":
        if rescales:
            notes.append("pixel values kept at 0–255: the model's Rescaling layer scales them")
        else:
            steps.insert(0, ("scale", 1 / 255.0))
            notes.append("pixel values scaled from 0–255 to 0–1")
    elif not steps:
        pass
    return steps, notes


def _shape_after(steps: list[tuple[str, Any]], shape: tuple[int, ...]) -> tuple[int, ...]:
    current = tuple(shape)
    for op, arg in steps:
        if op == "add_channel":
            current = current + (1,)
        elif op == "gray_to_rgb":
            current = current[:-1] + (3,)
        elif op == "rgb_to_gray":
            current = current[:-1] + (1,)
        elif op == "drop_alpha":
            current = current[:-1] + (3,)
        elif op == "resize":
            current = tuple(arg) + current[2:]
        elif op == "flatten":
            current = (arg,)
        elif op == "unflatten":
            current = tuple(arg)
    return current


def make_transform(steps: list[tuple[str, Any]]) -> Callable[[Any], Any] | None:
    """A function that adapts a batch (a tensor of samples) with TensorFlow ops."""
    if not steps:
        return None
    functions = {}
    for op, arg in steps:
        if op == "preprocess":
            from netbuilder.runtime.applications import preprocess_function

            functions[arg] = preprocess_function(arg)
            if functions[arg] is None:
                raise DataError(f"Keras has no preprocess_input for {arg}")

    def transform(xb: Any) -> Any:
        import tensorflow as tf

        xb = tf.cast(xb, tf.float32)
        for op, arg in steps:
            if op == "preprocess":
                xb = functions[arg](xb)
            elif op == "scale":
                xb = xb * arg
            elif op == "add_channel":
                xb = tf.expand_dims(xb, -1)
            elif op == "gray_to_rgb":
                xb = tf.image.grayscale_to_rgb(xb)
            elif op == "rgb_to_gray":
                xb = tf.image.rgb_to_grayscale(xb)
            elif op == "drop_alpha":
                xb = xb[..., :3]
            elif op == "resize":
                xb = tf.image.resize(xb, arg, antialias=True)
            elif op == "flatten":
                xb = tf.reshape(xb, (-1, arg))
            elif op == "unflatten":
                xb = tf.reshape(xb, (-1,) + tuple(arg))
        return xb

    return transform


def apply_transform(transform: Callable[[Any], Any] | None, x: np.ndarray,
                    chunk: int = 2048) -> np.ndarray:
    if transform is None:
        return x.astype(np.float32, copy=False)
    parts = [np.asarray(transform(x[i:i + chunk])) for i in range(0, len(x), chunk)]
    return np.concatenate(parts).astype(np.float32, copy=False)


# --- feeding model.fit -----------------------------------------------------------------------


def augmentation_model(aug: Mapping[str, Any] | None, value_range: str | None,
                       seed: int | None = None) -> Any:
    """A ``keras.Sequential`` of random augmentation layers, or None when none is on."""
    check_augmentation(aug)
    if not aug or not any(aug.values()):
        return None
    import keras

    vr = (0, 255) if value_range == "0-255" else (0, 1)
    layers = []
    flip = aug.get("flip")
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal" if flip is True else flip, seed=seed))
    if aug.get("rotation"):
        layers.append(keras.layers.RandomRotation(aug["rotation"], seed=seed))
    if aug.get("zoom"):
        layers.append(keras.layers.RandomZoom(aug["zoom"], seed=seed))
    if aug.get("shift"):
        layers.append(keras.layers.RandomTranslation(aug["shift"], aug["shift"], seed=seed))
    if aug.get("contrast"):
        layers.append(keras.layers.RandomContrast(aug["contrast"], value_range=vr, seed=seed))
    if aug.get("brightness"):
        layers.append(keras.layers.RandomBrightness(aug["brightness"], value_range=vr,
                                                    seed=seed))
    return keras.Sequential(layers, name="augmentation")


def describe_augmentation(aug: Mapping[str, Any] | None) -> str:
    if not aug:
        return "none"
    parts = []
    for key in AUGMENTATIONS:
        value = aug.get(key)
        if not value:
            continue
        parts.append(f"flip {('horizontal' if value is True else value)}" if key == "flip"
                     else f"{key} {value:g}")
    return ", ".join(parts) or "none"


def fit_inputs(split: PreparedSplit, batch_size: int, *, shuffle: bool = False,
               augmentation: Any = None, seed: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``model.fit``/``evaluate``: ``x``, ``y`` (absent for a
    tf.data dataset) and ``batch_size`` (absent for a dataset). Plain arrays go to Keras as
    they are, exactly as a ``model.fit(x, y)`` script would pass them."""
    if split.stream is None and split.transform is None and augmentation is None:
        return {"x": split.x, "y": split.y, "batch_size": batch_size}
    import tensorflow as tf

    x, transform, after = split.x, split.transform, None
    if augmentation is not None and split.preprocess is not None:
        # augment the 0-255 pixels, then preprocess them as the Application expects
        x, transform, after = split.source, split.pixels, split.preprocess
    if split.stream is not None:
        ds = split.stream
        if shuffle:
            ds = ds.shuffle(min(split.size, 2048), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size)
        label_fn = split.label_fn
        ds = ds.map(lambda xb, yb: (xb, label_fn(yb)), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, split.y))
        if shuffle:
            ds = ds.shuffle(min(split.size, 50_000), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size)
    if transform is not None:
        ds = ds.map(lambda xb, yb: (transform(xb), yb), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda xb, yb: (tf.cast(xb, tf.float32), yb))
    if augmentation is not None:
        ds = ds.map(lambda xb, yb: (augmentation(xb, training=True), yb),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if after is not None:
        ds = ds.map(lambda xb, yb: (after(xb), yb), num_parallel_calls=tf.data.AUTOTUNE)
    return {"x": ds.prefetch(tf.data.AUTOTUNE)}


def augmented_preview(prepared: Prepared, augmentation: Mapping[str, Any] | None, count: int = 9,
                      index: int = 0, seed: int | None = None) -> np.ndarray:
    """``count`` augmented versions of training sample ``index`` (uint8 images), for a grid;
    with an Application's preprocessing, the pixels before it."""
    model = augmentation_model(augmentation, prepared.value_range, seed)
    split = prepared.train
    pixels = split.preprocess is not None
    if split.stream is not None:
        xb = next(iter(split.stream.take(1)))[0][None]
    else:
        source = split.source if pixels else split.x
        assert source is not None
        xb = source[index:index + 1]
    transform = split.pixels if pixels else split.transform
    if transform is not None:
        xb = transform(xb)
    batch = np.repeat(np.asarray(xb, dtype=np.float32), count, axis=0)
    if batch.ndim != 4:
        raise DataError("augmentation works on images; this model's input is not an image")
    if model is not None:
        batch = np.asarray(model(batch, training=True))
    return to_uint8(batch, prepared.value_range)


def augmented_images(image: np.ndarray, augmentation: Mapping[str, Any] | None,
                     count: int = 9, seed: int | None = None) -> np.ndarray:
    """``count`` augmented draws of one uint8 image (H×W or H×W×C) as it was loaded, before
    any fitting to a model (the preview while the model cannot be built)."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3:
        raise DataError("augmentation works on images; these samples are not images")
    batch = np.repeat(img[None], count, axis=0)
    model = augmentation_model(augmentation, "0-255", seed)
    if model is not None:
        batch = np.asarray(model(batch, training=True))
    out = to_uint8(batch, "0-255")
    return out[..., 0] if np.asarray(image).ndim == 2 else out
