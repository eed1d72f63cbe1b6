"""Feeding ``model.fit``: prepared splits as arrays or ``tf.data`` pipelines, augmentation
(random Keras layers) and its previews."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from netbuilder.runtime.data.dataset import DataError, to_uint8
from netbuilder.runtime.data.fitting import Prepared, PreparedSplit
from netbuilder.runtime.data.options import AUGMENTATIONS, check_augmentation


def augmentation_layers(aug: Mapping[str, Any] | None, value_range: str | None
                        ) -> list[tuple[str, dict[str, Any]]]:
    """The random Keras layers of the augmentation, as (class name, keyword arguments), in
    the order they apply: ``augmentation_model`` builds them, exported code writes them."""
    check_augmentation(aug)
    if not aug:
        return []
    vr = (0, 255) if value_range == "0-255" else (0, 1)
    layers: list[tuple[str, dict[str, Any]]] = []
    flip = aug.get("flip")
    if flip:
        layers.append(("RandomFlip", {"mode": "horizontal" if flip is True else flip}))
    if aug.get("rotation"):
        layers.append(("RandomRotation", {"factor": aug["rotation"]}))
    if aug.get("zoom"):
        layers.append(("RandomZoom", {"height_factor": aug["zoom"]}))
    if aug.get("shift"):
        layers.append(("RandomTranslation", {"height_factor": aug["shift"],
                                             "width_factor": aug["shift"]}))
    if aug.get("contrast"):
        layers.append(("RandomContrast", {"factor": aug["contrast"], "value_range": vr}))
    if aug.get("brightness"):
        layers.append(("RandomBrightness", {"factor": aug["brightness"], "value_range": vr}))
    return layers


def augmentation_model(aug: Mapping[str, Any] | None, value_range: str | None,
                       seed: int | None = None) -> Any:
    """A ``keras.Sequential`` of random augmentation layers, or None when none is on."""
    layers = augmentation_layers(aug, value_range)
    if not layers:
        return None
    import keras

    return keras.Sequential([getattr(keras.layers, name)(**kwargs, seed=seed)
                             for name, kwargs in layers], name="augmentation")


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
