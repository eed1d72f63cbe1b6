"""``load(source, options)``: a built-in name or a path to a ``Dataset``, split into train,
validation and test as the options say. The sources themselves are in ``shapes``,
``keras_datasets``, ``files`` and ``folders``; scikit-learn's digits are here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from netbuilder.runtime.data.dataset import (
    DataError,
    Dataset,
    Parts,
    Split,
    class_indices,
    to_uint8,
)
from netbuilder.runtime.data.files import load_csv, load_npz
from netbuilder.runtime.data.folders import load_folder
from netbuilder.runtime.data.keras_datasets import KERAS_DATASETS, load_keras_dataset
from netbuilder.runtime.data.options import resolve_options
from netbuilder.runtime.data.shapes import SHAPE_NAMES, load_shapes

BUILTIN_SOURCES = ("digits", "shapes") + KERAS_DATASETS


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
        parts = load_shapes(opts, input_shape)
        if matched:
            parts.notes.append(f"{classes} kinds of shapes, to match the model's output")
    elif key in KERAS_DATASETS:
        parts = load_keras_dataset(key, opts)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            return _finish(load_folder(path, opts, input_shape), opts)
        if not path.exists():
            raise DataError(f"no such data source: {source} (not a file or folder; built-in "
                            f"sources: {', '.join(BUILTIN_SOURCES)})")
        suffix = path.suffix.lower()
        if suffix == ".npz":
            parts = load_npz(path)
        elif suffix in (".csv", ".tsv", ".txt"):
            parts = load_csv(path, opts)
        else:
            raise DataError(f"{path}: unknown data file type {suffix or '(no extension)'!r}; "
                            "use a folder of class sub-folders, a .npz or a .csv file")
    return _finish(parts, opts)


def _finish(parts: Parts, opts: dict[str, Any]) -> Dataset:
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
    classes = class_indices(y)
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
    classes = class_indices(y)
    if classes is not None and class_names:
        idx = [i for c in range(len(class_names)) for i in np.flatnonzero(classes == c)[:per_class]]
    else:
        idx = list(range(min(len(x), limit)))
    idx = idx[:limit]
    return to_uint8(x[idx], value_range), (None if classes is None else classes[idx])


def _load_digits() -> Parts:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    return Parts("digits", "digits", x, y, [str(int(c)) for c in bunch.target_names], "0-1",
                  notes=["scikit-learn's 8×8 digits: pixel values 0–16 scaled to 0–1"])
