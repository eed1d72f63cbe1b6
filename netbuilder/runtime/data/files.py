"""Data files: ``.npz`` arrays (``x``/``y`` or ``x_train``/``y_train``/``x_test``/``y_test``,
labels per output) and ``.csv`` tables (the label column named in the options, else the last
one)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from netbuilder.runtime.data.dataset import DataError, Parts, class_indices, value_range_of


def load_npz(path: Path) -> Parts:
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
    parts = Parts(path.stem, str(path), x, y, [], _image_range(x))
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
        return value_range_of(x)
    if x.dtype == np.uint8:
        return "0-255"
    return None


def _infer_class_names(y: np.ndarray | None) -> list[str]:
    classes = class_indices(y)
    if classes is None:
        return []
    if y is not None and y.ndim == 2 and y.shape[1] > 1:
        return [str(i) for i in range(y.shape[1])]
    return [str(i) for i in range(int(classes.max()) + 1)]


def load_csv(path: Path, opts: dict[str, Any]) -> Parts:
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
    return Parts(path.stem, str(path), features, y, class_names, None, notes=notes)
