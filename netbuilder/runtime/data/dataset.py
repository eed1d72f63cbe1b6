"""A loaded dataset: its splits, class names, sample pictures and notes, and what the loaders
share (the error, the parts a loader finds, class labels, pictures for display)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class DataError(Exception):
    """Data that cannot be loaded or cannot feed the model; ``str(err)`` is for the user."""


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
            labels = class_indices(split.y) if split.y is not None else None
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


@dataclass
class Parts:
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


def class_indices(y: np.ndarray | None) -> np.ndarray | None:
    """Integer class per sample from integer or one-hot labels; None for other labels."""
    if y is None or len(y) == 0:
        return None
    if y.ndim == 2 and y.shape[1] > 1:
        if is_one_hot(y):
            return np.argmax(y, axis=1)
        return None
    flat = y.reshape(len(y), -1)
    if flat.shape[1] != 1 or not is_integral(flat):
        return None
    flat = flat[:, 0].astype(np.int64)
    return flat if flat.min() >= 0 else None


def is_integral(y: np.ndarray) -> bool:
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        return True
    if not np.issubdtype(y.dtype, np.floating):
        return False
    return bool(np.all(np.isfinite(y)) and np.all(np.round(y) == y))


def is_one_hot(y: np.ndarray) -> bool:
    if y.ndim < 2 or y.shape[-1] < 2 or not is_integral(y):
        return False
    return bool(np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=-1) == 1))


def to_uint8(images: np.ndarray, value_range: str | None) -> np.ndarray:
    """Images for display: uint8 0..255."""
    if images.dtype == np.uint8:
        return images.copy()
    arr = np.asarray(images, dtype=np.float32)
    if value_range == "0-1":
        arr = arr * 255.0
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)


def value_range_of(x: np.ndarray) -> str:
    if x.dtype == np.uint8:
        return "0-255"
    if x.size and float(np.nanmax(x)) > 1.5:
        return "0-255"
    return "0-1"
