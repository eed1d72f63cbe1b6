"""``prepare(dataset, model)``: a dataset fitted to a Keras model. Inputs are adapted to the
model's input (channel axis, grayscale <-> RGB, resize, flatten, 0..1 scaling; or, for a model
whose Input feeds a Keras Application, 0-255 pixels through that Application's
``preprocess_input``), labels are matched to each output and a loss is chosen for it."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from netbuilder.runtime.applications import preprocess_function, preprocess_note
from netbuilder.runtime.data.dataset import DataError, Dataset, Split
from netbuilder.runtime.data.loss import (
    LossChoice,
    OutputInfo,
    forced_loss,
    model_outputs,
    shape_text,
    suggest_loss,
    units_text,
)
from netbuilder.runtime.data.options import DEFAULT_OPTIONS


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
                choice, conv = forced_loss(out, y, chosen)
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
                     f"{out.name!r} ({units_text(out)}): {c.reason}")
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
        f"the data's samples have shape {shape_text(shape)}"
        f"{' (images)' if image else ''} but the model's input {input_name!r} takes "
        f"{shape_text(target)}; they cannot be adapted: change the Input layer's shape to "
        f"{shape_text(shape if len(shape) != 2 or not image else shape + (1,))} or use other data")
    current = shape
    if image and len(current) == 2 and len(target) in (1, 3):
        steps.append(("add_channel", None))
        current = current + (1,)
        if len(target) == 3:
            notes.append(f"added a channel axis: {shape_text(shape)} -> {shape_text(current)}")
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
