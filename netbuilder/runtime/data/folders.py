"""A folder of images with one sub-folder per class (optionally ``train/``, ``test/`` and
``validation/`` folders holding those), read with ``keras.utils.image_dataset_from_directory``:
into memory, or streamed from disk while training when too large."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from netbuilder.runtime.data.dataset import DataError, Parts, Split

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def load_folder(root: Path, opts: dict[str, Any],
                 input_shape: tuple[int | None, ...] | None) -> Parts:
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
    parts = Parts(root.name, str(root), None, None, list(class_names), "0-255", notes=notes,
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
