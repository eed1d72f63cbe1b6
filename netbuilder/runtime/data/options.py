"""The data options (``project.settings["training"]["data"]["options"]``): defaults and
checks, augmentation included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netbuilder.runtime.data.dataset import DataError

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
