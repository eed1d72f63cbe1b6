"""Looking inside a Keras model: layer outputs (feature maps), kernels, predictions, Grad-CAM
and activation statistics, as plain functions on a built ``keras.Model``.

Inputs are prepared the way training prepares data (``data.plan_inputs``: channel axis,
grayscale <-> RGB, resize, flatten, 0..1 scaling, or a Keras Application's ``preprocess_input``
when the Input feeds one), from a dataset sample, an image file, one of
scikit-learn's bundled sample images or an array; ``PreparedInput.notes`` says what was done.
Every failure the user can cause raises ``InspectError`` with a ``kind`` (the inspection
protocol's error kinds: input, layer, request...) and one clear sentence.

The inspection worker (``workers/inspection.py``) runs these in its own process; they can be called
in any process that has the model. Keras is imported inside the functions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netbuilder.runtime import data as data_mod
from netbuilder.runtime.training.tta import NO_AUGMENTATION
from netbuilder.runtime.workers.protocol import SAMPLE_IMAGES, ProtocolError, decode_array

RELU_NAMES = ("relu", "relu6")
IMAGENET_NOTE = ("ImageNet class names need keras' imagenet_class_index.json in "
                 "~/.keras/models (offline)")
SPLITS = ("train", "validation", "test")


class InspectError(Exception):
    """An inspection request that cannot be answered; ``kind`` is one of the protocol's error
    kinds, ``str(err)`` is for the user."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# --- the model's layers ----------------------------------------------------------------------


def _shape(tensor: Any) -> list[int | None]:
    return [None if v is None else int(v) for v in tensor.shape]


def layer_outputs(layer: Any, call: int = 0) -> list[Any]:
    """The symbolic output tensors (a list, also for one output) of the layer's call ``call``
    (from 0): a shared layer, called several times, has one output per call (one of Keras'
    inbound nodes each; ``layer.output`` is the first call's)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    out = nodes[call].output_tensors if call < len(nodes) else layer.output
    return list(out) if isinstance(out, (list, tuple)) else [out]


def call_names(graph: Any) -> dict[str, tuple[str, int]]:
    """For a graph built by ``keras_build.build_model``: the name of every node that calls a
    shared layer or a nested model placed several times (the first node included) -> (the
    Keras layer's name, the node's call index). The build calls the layers in the graph's
    topological order and names a shared layer after its owner, a nested model after its first
    instance; so a call node (``tower_conv_call2``), which is no layer of the model, and the
    owner, whose call need not be the first, each name their own call's output."""
    order = {nid: i for i, nid in enumerate(graph.topological_order())}
    groups: dict[str, list[str]] = {}
    for nid, key in graph.inference.shared_instances().items():
        groups.setdefault(key, []).append(nid)
    names: dict[str, tuple[str, int]] = {}
    for key, group in groups.items():
        group.sort(key=order.__getitem__)
        layer = graph.nodes[graph.owner_of(group[0])].name if key.startswith("layer:") else (
            graph.nodes[group[0]].name)
        if len(group) > 1:
            for k, nid in enumerate(group):
                names[graph.nodes[nid].name] = (layer, k)
    return names


def _model_inputs(model: Any) -> Any:
    """The model's inputs as a sub-model takes them: the tensor itself for a single input (so
    that calling it on one array matches its structure)."""
    return model.inputs[0] if len(model.inputs) == 1 else list(model.inputs)


def feed(model: Any, x: Any) -> Any:
    """``x`` in the structure ``model`` takes: a list of one for a model built with a list of
    one input; for a model with several inputs (of one shape, see ``_input_shape``) the same
    batch on each, unless ``x`` is a list already."""
    if len(model.inputs) > 1:
        return list(x) if isinstance(x, (list, tuple)) else [x] * len(model.inputs)
    struct = getattr(model, "_inputs_struct", None)
    return [x] if isinstance(struct, (list, tuple)) and not isinstance(x, list) else x


def call_model(model: Any, x: Any) -> Any:
    """``model(x, training=False)``, with ``x`` in the structure the model takes (``feed``)."""
    return model(feed(model, x), training=False)


def layer_kernel(layer: Any) -> Any:
    """The layer's kernel variable (a depthwise kernel for depthwise/separable convolutions), or
    None when it has none."""
    for attr in ("kernel", "depthwise_kernel"):
        try:
            value = getattr(layer, attr, None)
        except (AttributeError, ValueError):
            value = None
        if value is not None and hasattr(value, "shape"):
            return value
    return None


def is_conv(layer: Any) -> bool:
    return "Conv" in type(layer).__name__


Calls = dict[str, tuple[str, int]]
"""Names of the calls of shared layers -> (layer name, call index): see ``call_names``."""


def describe_layers(model: Any, calls: Calls | None = None) -> list[dict[str, Any]]:
    """One row per layer of ``model`` (in Keras' order): name, type, output shape (a list of
    shapes for a layer with several outputs), whether it is a convolution and has a kernel.
    A layer called several times also gives a row per named call in ``calls`` (after its own
    row), each with that call's output shape, the ``layer`` and the ``call`` index (from 0)."""
    calls = calls or {}
    by_layer: dict[str, list[tuple[str, int]]] = {}
    for name, (layer_name, k) in calls.items():
        by_layer.setdefault(layer_name, []).append((name, k))
    rows = []
    for layer in model.layers:
        named = sorted(by_layer.get(layer.name, []), key=lambda item: item[1])
        if layer.name not in calls:
            named.insert(0, (layer.name, 0))
        for name, k in named:
            outs = layer_outputs(layer, k)
            shape: Any = _shape(outs[0]) if len(outs) == 1 else [_shape(t) for t in outs]
            row = {"name": name, "type": type(layer).__name__, "output_shape": shape,
                   "conv": is_conv(layer), "has_kernel": layer_kernel(layer) is not None}
            if len(getattr(layer, "_inbound_nodes", [])) > 1 and name in calls:
                row.update(layer=layer.name, call=k, calls=len(layer._inbound_nodes))
            rows.append(row)
    return rows


def model_summary(model: Any, calls: Calls | None = None) -> dict[str, Any]:
    return {"name": model.name, "layers": describe_layers(model, calls),
            "inputs": [_shape(t) for t in model.inputs],
            "outputs": [_shape(t) for t in model.outputs],
            "params": int(model.count_params())}


def get_layer(model: Any, name: Any, calls: Calls | None = None) -> Any:
    """The layer ``name`` names: a layer of the model, or (with ``calls``) a call of one."""
    return resolve(model, name, calls)[0]


def resolve(model: Any, name: Any, calls: Calls | None = None) -> tuple[Any, int]:
    """The layer ``name`` names and which of its calls (from 0): a call of a shared layer by
    its node's name (``calls``), else a layer of the model by its name (its first call)."""
    if not isinstance(name, str) or not name:
        raise InspectError("request", f"a layer must be named by a string, found {name!r}")
    layer_name, call = (calls or {}).get(name, (name, 0))
    for layer in model.layers:
        if layer.name == layer_name:
            if call >= len(getattr(layer, "_inbound_nodes", None) or [None]):
                raise InspectError("layer", f"{name!r} is call {call + 1} of layer "
                                            f"{layer_name!r}, which the model calls "
                                            f"{len(layer._inbound_nodes)} times")
            return layer, call
    names = [layer.name for layer in model.layers]
    shown = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
    raise InspectError("layer", f"the model has no layer named {name!r} (its layers: {shown})")


def output_of(model: Any, name: str, calls: Calls | None = None) -> Any:
    """The (first) symbolic output of what ``name`` names (``resolve``): for a call of a
    shared layer, that call's output."""
    layer, call = resolve(model, name, calls)
    return layer_outputs(layer, call)[0]


# layers after a convolution that keep its feature maps (Grad-CAM's default layer may be one)
FEATURE_MAP_LAYERS = ("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "BatchNormalization",
                      "Add", "Concatenate", "Functional", "Sequential")


def conv_like_layers(model: Any) -> list[Any]:
    """Layers whose (single) output is 4-D: a batch of feature maps."""
    return [layer for layer in model.layers
            if len(layer_outputs(layer)) == 1 and len(layer_outputs(layer)[0].shape) == 4
            and type(layer).__name__ != "InputLayer"]


def default_gradcam_layer(model: Any) -> Any:
    """The last convolution with a 4-D output (or a layer that passes a convolution's maps on:
    an activation, normalization, merge or nested model), else the last 4-D output; None when
    the model has no feature maps."""
    maps = conv_like_layers(model)
    for layer in reversed(maps):
        if is_conv(layer) or type(layer).__name__ in FEATURE_MAP_LAYERS:
            return layer
    return maps[-1] if maps else None


# --- inputs ----------------------------------------------------------------------------------


@dataclass
class PreparedInput:
    """Model-ready inputs (a float32 batch), what the model sees as a uint8 image, the label(s)
    and class names when known, and notes saying what was done."""

    x: np.ndarray
    image: np.ndarray | None
    label: int | None
    class_names: list[str] | None
    notes: list[str] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)
    # (augmentation options, copies, seed) -> that many augmented copies of the first sample,
    # model-ready (test-time augmentation); None when the input is not an image
    augmented: Callable[[Mapping[str, Any], int, int | None], np.ndarray] | None = None


class DatasetCache:
    """Loaded datasets by (source, options), so that browsing samples loads each once; also
    remembers the class names of the last dataset used (for inputs from files)."""

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self._items: dict[str, Any] = {}
        self.last_class_names: list[str] | None = None

    def get(self, source: str, options: Mapping[str, Any], model: Any) -> Any:
        key = json.dumps([source, options, _input_shape(model)], sort_keys=True, default=str)
        dataset = self._items.pop(key, None)
        if dataset is None:
            try:
                dataset = data_mod.load(source, options, input_shape=_input_shape(model),
                                        classes=data_mod.output_classes(model))
            except data_mod.DataError as err:
                raise InspectError("input", str(err)) from None
            while len(self._items) >= self.limit:
                self._items.pop(next(iter(self._items)))
        self._items[key] = dataset
        self.last_class_names = list(dataset.class_names) or None
        return dataset


def _input_shape(model: Any) -> tuple[int | None, ...]:
    """The shape of one sample of the model's input; a model with several inputs (a Siamese
    pair) takes the same input on each, so they must have one shape (``feed``)."""
    shapes = {tuple(None if v is None else int(v) for v in t.shape[1:]) for t in model.inputs}
    if len(shapes) != 1:
        raise InspectError("input", f"this model has {len(model.inputs)} inputs of different "
                                    "shapes; inspection feeds one input (to every Input when "
                                    "they take the same shape)")
    return shapes.pop()


def _value_range(x: np.ndarray) -> str:
    if x.dtype == np.uint8:
        return "0-255"
    return "0-255" if x.size and float(np.nanmax(x)) > 1.5 else "0-1"


def _fit_input(model: Any, samples: np.ndarray, sample_shape: tuple[int, ...],
               value_range: str | None, **fields: Any) -> PreparedInput:
    """A ``PreparedInput`` of ``samples`` (see ``_fit``) with ``fields`` (image, label,
    class_names, notes, labels); its ``augmented`` copies are augmented as training augments:
    the model's inputs, or the pixels before a Keras Application's preprocess_input."""
    x, shown, notes = _fit(model, samples, sample_shape, value_range)
    fields["notes"] = list(fields.get("notes") or []) + notes
    prepared = PreparedInput(x, shown, **fields)
    if value_range is None or x.ndim != 4:
        return prepared
    from netbuilder.runtime.applications import preprocessing_for_model

    rescales = data_mod.model_rescales(model)
    name = model.inputs[0]._keras_history[0].name
    steps, _ = data_mod.plan_inputs(sample_shape, _input_shape(model), value_range, rescales,
                                    name, preprocessing_for_model(model))
    preprocessed = data_mod.preprocess_name(steps) is not None

    def augmented(aug: Mapping[str, Any], copies: int, seed: int | None) -> np.ndarray:
        if preprocessed:     # augment the 0-255 pixels, then preprocess them
            base = data_mod.apply_transform(data_mod.make_transform(steps[:-1]), samples[:1])
            pixel_range = "0-255"
        else:
            base, pixel_range = x[:1], (value_range if (value_range != "0-255" or rescales)
                                        else "0-1")
        try:
            layers = data_mod.augmentation_model(aug, pixel_range, seed)
        except data_mod.DataError as err:
            raise InspectError("request", str(err)) from None
        if layers is None:
            raise InspectError("request", NO_AUGMENTATION)
        batch = np.asarray(layers(np.repeat(np.asarray(base, np.float32), copies, axis=0),
                                  training=True), dtype=np.float32)
        if preprocessed:
            batch = data_mod.apply_transform(data_mod.make_transform(steps[-1:]), batch)
        return np.asarray(batch, dtype=np.float32)

    prepared.augmented = augmented
    return prepared


def _fit(model: Any, samples: np.ndarray, sample_shape: tuple[int, ...],
         value_range: str | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """``samples`` (a batch as loaded) adapted to the model's input as training adapts them
    (ending with the Keras Application's ``preprocess_input`` when the Input feeds one);
    returns the batch, the first sample as a uint8 image when it is one (the pixels before
    such preprocessing), and the notes."""
    from netbuilder.runtime.applications import preprocessing_for_model

    target = _input_shape(model)
    rescales = data_mod.model_rescales(model)
    name = model.inputs[0]._keras_history[0].name
    try:
        steps, notes = data_mod.plan_inputs(sample_shape, target, value_range, rescales, name,
                                            preprocessing_for_model(model))
        x = data_mod.apply_transform(data_mod.make_transform(steps), samples)
    except data_mod.DataError as err:
        raise InspectError("input", str(err)) from None
    if len(model.inputs) > 1:
        names = ", ".join(t._keras_history[0].name for t in model.inputs)
        notes = [*notes, f"the model has {len(model.inputs)} inputs ({names}): each gets this "
                         "input"]
    if value_range is None:
        return x, None, notes
    shown_range = value_range if (value_range != "0-255" or rescales) else "0-1"
    if data_mod.preprocess_name(steps) is not None:
        pixels = data_mod.apply_transform(data_mod.make_transform(steps[:-1]), samples[:1])
        return x, data_mod.to_uint8(pixels[0], "0-255"), notes
    if x.ndim == 4:
        image = data_mod.to_uint8(x[0], shown_range)
    elif x.ndim == 3 and len(target) == 2:       # (h, w) inputs: show as one channel
        image = data_mod.to_uint8(x[0][..., None], shown_range)
    elif samples.ndim in (3, 4):                 # flattened for the model: show the source
        raw = samples[0] if samples.ndim == 4 else samples[0][..., None]
        image = data_mod.to_uint8(raw, value_range)
    else:
        image = None
    return x, image, notes


def _class_of(y: Any) -> int | None:
    arr = np.asarray(y)
    if arr.ndim == 0 or arr.size == 1:
        value = arr.reshape(-1)[0]
        if np.issubdtype(arr.dtype, np.integer) or (
                np.issubdtype(arr.dtype, np.floating) and float(value).is_integer()):
            return int(value) if value >= 0 else None
        return None
    if arr.ndim == 1 and np.all((arr == 0) | (arr == 1)) and arr.sum() == 1:
        return int(np.argmax(arr))
    return None


def prepare_input(model: Any, spec: Any, datasets: DatasetCache | None = None,
                  batch: bool = False) -> PreparedInput:
    """The protocol's ``"input"`` object fitted to ``model``. With ``batch`` a dataset input
    gives ``spec["count"]`` samples (default 64) from ``spec["index"]`` on."""
    if not isinstance(spec, Mapping):
        raise InspectError("request", "the request needs an \"input\" object (kind: dataset, "
                                      "file, sample_image or array)")
    kind = spec.get("kind")
    datasets = datasets if datasets is not None else DatasetCache()
    if kind == "dataset":
        return _dataset_input(model, spec, datasets, batch)
    if kind == "file":
        path = spec.get("path")
        if not isinstance(path, str) or not path:
            raise InspectError("request", "a file input needs a \"path\"")
        image = read_image(path)
        notes = [f"read {Path(path).name}: {image.shape[1]}×{image.shape[0]} pixels"]
    elif kind == "sample_image":
        image = sample_image(spec.get("name"))
        notes = [f"scikit-learn's sample image {spec.get('name')}: "
                 f"{image.shape[1]}×{image.shape[0]} pixels"]
    elif kind == "array":
        try:
            image = decode_array(spec.get("array"))
        except ProtocolError as err:
            raise InspectError("request", f"the input array is not valid: {err}") from None
        if image.size == 0 or (image.dtype != np.uint8 and not np.all(np.isfinite(image))):
            raise InspectError("input", "the input array is empty or holds NaN/infinite values")
        notes = [f"an array of shape {tuple(image.shape)}"]
    else:
        raise InspectError("request", f"unknown input kind {kind!r} (dataset, file, "
                                      "sample_image or array)")
    value_range: str | None = _value_range(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        value_range = None if image.dtype != np.uint8 else value_range
    return _fit_input(model, image[None], tuple(image.shape), value_range, label=None,
                      class_names=datasets.last_class_names, notes=notes, labels=[None])


def _dataset_input(model: Any, spec: Mapping[str, Any], datasets: DatasetCache,
                   batch: bool) -> PreparedInput:
    source = spec.get("source")
    if not isinstance(source, str) or not source:
        raise InspectError("request", "a dataset input needs a \"source\" (e.g. digits, "
                                      "shapes, mnist or a path)")
    options = spec.get("options") or {}
    if not isinstance(options, Mapping):
        raise InspectError("request", "the dataset \"options\" must be an object")
    split_name = spec.get("split") or "train"
    index = spec.get("index", 0)
    count = spec.get("count", 64) if batch else 1
    for key, value, low in (("index", index, 0), ("count", count, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise InspectError("request", f"the dataset input's \"{key}\" must be a whole number "
                                          f"from {low}, found {value!r}")
    if split_name not in SPLITS:
        raise InspectError("request", f"unknown split {split_name!r} (train, validation or "
                                      "test)")
    dataset = datasets.get(source, dict(options), model)
    split = dataset.splits().get(split_name)
    if split is None:
        raise InspectError("input", f"{dataset.name} has no {split_name} split (it has "
                                    f"{', '.join(dataset.splits())})")
    size = len(split)
    if index >= size:
        raise InspectError("input", f"sample {index} is out of range: the {split_name} split "
                                    f"of {dataset.name} has {size} samples (0 to {size - 1})")
    stop = min(size, index + count)
    if split.x is not None:
        samples = split.x[index:stop]
    else:   # streamed from disk
        import tensorflow as tf

        try:
            samples = np.stack([np.asarray(img) for img, _ in split.stream.skip(index)
                                .take(stop - index).as_numpy_iterator()])
        except tf.errors.OpError as err:
            raise InspectError("input", f"an image of {dataset.name} cannot be read: "
                                        f"{data_mod.tf_message(err)}") from None
    labels_src = split.y if split.y is not None else None
    labels = ([None] * (stop - index) if labels_src is None
              else [_class_of(v) for v in labels_src[index:stop]])
    where = f"{dataset.name}, {split_name} sample {index}"
    if stop - index > 1:
        where = f"{dataset.name}, {split_name} samples {index} to {stop - 1}"
    return _fit_input(model, samples, tuple(dataset.sample_shape), dataset.value_range,
                      label=labels[0], class_names=list(dataset.class_names) or None,
                      notes=[where], labels=labels)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as a uint8 array (H×W gray, H×W×3 RGB or H×W×4 RGBA)."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path).expanduser()
    if not p.is_file():
        raise InspectError("input", f"no such image file: {p}")
    try:
        with Image.open(p) as img:
            img.load()
            if img.mode in ("1", "L", "I", "I;16", "F"):
                arr = np.asarray(img.convert("L"))
            elif img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                arr = np.asarray(img.convert("RGBA"))
            else:
                arr = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InspectError("input", f"{p} cannot be read as an image ({err})") from None
    return np.ascontiguousarray(arr, dtype=np.uint8)


def sample_image(name: Any) -> np.ndarray:
    """One of scikit-learn's bundled sample images (no download)."""
    if name not in SAMPLE_IMAGES:
        raise InspectError("input", f"unknown sample image {name!r} (scikit-learn bundles "
                                    f"{' and '.join(SAMPLE_IMAGES)})")
    from sklearn.datasets import load_sample_image

    return np.ascontiguousarray(load_sample_image(name), dtype=np.uint8)


# --- activations -----------------------------------------------------------------------------


class SubModels:
    """``keras.Model(model.inputs, [layer.output, ...])`` per set of layers, built once; a
    name in ``calls`` (a call of a shared layer) stands for that call's output."""

    def __init__(self, model: Any, limit: int = 32, calls: Calls | None = None) -> None:
        self.model = model
        self.limit = limit
        self.calls = dict(calls or {})
        self._cache: dict[tuple[str, ...], Any] = {}

    def get(self, names: Sequence[str]) -> Any:
        key = tuple(names)
        sub = self._cache.get(key)
        if sub is None:
            import keras

            tensors = [output_of(self.model, n, self.calls) for n in key]
            sub = keras.Model(_model_inputs(self.model), tensors,
                              name="inspect_" + str(len(self._cache)))
            if len(self._cache) >= self.limit:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = sub
        return sub

    def run(self, names: Sequence[str], x: np.ndarray) -> list[np.ndarray]:
        sub = self.get(names)
        out = call_model(sub, x)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        return [np.asarray(o) for o in out]


def output_kind(shape: Sequence[int]) -> str:
    """How a layer's output (one sample) is shown: feature maps, a vector, or otherwise."""
    if len(shape) == 3:
        return "maps"
    if len(shape) == 1:
        return "vector"
    return "other"


def activations(model: Any, layers: Sequence[str], x: Any,
                submodels: SubModels | None = None,
                calls: Calls | None = None) -> dict[str, np.ndarray]:
    """Each named layer's output for the batch ``x`` (batch axis kept), equal to Keras' own
    intermediate output (a sub-model of the model's inputs and those layers' outputs). A name
    in ``calls`` (or the sub-models' ``calls``) is one call of a shared layer: that call's
    output. ``x``: one batch (fed to every input) or a list, one batch per input."""
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise InspectError("request", "\"layers\" must be a non-empty list of layer names")
    names = list(dict.fromkeys(layers))
    if submodels is None or submodels.model is not model or (
            calls is not None and calls != submodels.calls):
        submodels = SubModels(model, calls=calls if calls is not None else (
            submodels.calls if submodels is not None and submodels.model is model else None))
    for n in names:
        resolve(model, n, submodels.calls)
    arrays = submodels.run(names, x)
    return dict(zip(names, arrays))


# --- filters ---------------------------------------------------------------------------------


def filters(model: Any, name: str, calls: Calls | None = None) -> tuple[np.ndarray, bool]:
    """The layer's kernel as a float32 array (for convolutions ``[kh, kw, cin, cout]``) and
    whether to show it as colour images (three input channels); every call of a shared layer
    has the same."""
    layer = get_layer(model, name, calls)
    kernel = layer_kernel(layer)
    if kernel is None:
        raise InspectError("layer", f"layer {name!r} ({type(layer).__name__}) has no kernel: "
                                    "filters exist for convolution and Dense layers")
    arr = np.asarray(kernel.numpy() if hasattr(kernel, "numpy") else kernel, dtype=np.float32)
    return arr, bool(arr.ndim == 4 and arr.shape[2] == 3)


# --- predictions -----------------------------------------------------------------------------


def imagenet_class_names() -> list[str] | None:
    """The 1,000 ImageNet class names from Keras' cached ``imagenet_class_index.json``, or
    None when it is not cached (nothing is downloaded)."""
    for cache in data_mod.keras_cache_dirs():
        path = cache.parent / "models" / "imagenet_class_index.json"
        if not path.is_file():
            continue
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            names = [str(index[str(i)][1]) for i in range(1000)]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue
        return names
    return None


def _output_activation(model: Any) -> str:
    infos = data_mod.model_outputs(model)
    return infos[0].activation if infos else "linear"


def probabilities(model: Any, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Class probabilities for the batch ``x`` from the model's (first) output, and notes
    (softmax applied to an output without one, one sigmoid unit read as two classes...)."""
    out = call_model(model, x)
    out = out[0] if isinstance(out, (list, tuple)) else out
    raw = np.asarray(out, dtype=np.float64)
    notes: list[str] = []
    if len(model.outputs) > 1:
        notes.append(f"the model has {len(model.outputs)} outputs: predictions are from the "
                     "first")
    if raw.ndim != 2:
        raise InspectError("request", f"the model's output has shape {list(raw.shape[1:])} per "
                                      "sample; predictions need one score per class")
    act = _output_activation(model)
    if raw.shape[1] == 1:
        p = raw[:, 0] if act == "sigmoid" else 1 / (1 + np.exp(-raw[:, 0]))
        if act != "sigmoid":
            notes.append("the output has no sigmoid: the sigmoid was applied to its one unit")
        notes.append("one output unit read as two classes: probability of class 1 = output")
        return np.stack([1 - p, p], axis=1), notes
    if act == "softmax":
        return raw, notes
    if act == "sigmoid":
        notes.append("the output has sigmoid units: each probability stands on its own "
                     "(they need not sum to 1)")
        return raw, notes
    shifted = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    notes.append(f"the output layer has no softmax ({act} activation): softmax applied to its "
                 "outputs")
    return e / e.sum(axis=1, keepdims=True), notes


def class_names_for(count: int, names: Sequence[str] | None) -> tuple[list[str], str, list[str]]:
    """Names for ``count`` classes: the dataset's when they fit, ImageNet's for 1,000 classes
    when cached, else the indices; and the source ("dataset", "imagenet", "indices")."""
    if names and len(names) == count:
        return list(names), "dataset", []
    if count == 1000:
        imagenet = imagenet_class_names()
        if imagenet is not None:
            return imagenet, "imagenet", []
        return [str(i) for i in range(count)], "indices", [IMAGENET_NOTE]
    notes = []
    if names:
        notes.append(f"the dataset's {len(names)} class names don't match the model's {count} "
                     "outputs: classes shown by index")
    return [str(i) for i in range(count)], "indices", notes


def predict(model: Any, x: np.ndarray, top: int = 5, names: Sequence[str] | None = None,
            copies: np.ndarray | None = None) -> dict[str, Any]:
    """The ``top`` classes (index, name, probability) for the first sample of ``x``; with
    ``copies`` (augmented copies of that sample) also ``"tta"``: the top classes of the
    probabilities averaged over them (test-time augmentation)."""
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise InspectError("request", f"\"top\" must be a whole number from 1, found {top!r}")
    probs, notes = probabilities(model, x[:1])
    p = probs[0]
    all_names, source, name_notes = class_names_for(len(p), names)

    def best(p: np.ndarray) -> list[dict[str, Any]]:
        order = np.argsort(-p, kind="stable")[:top]
        return [{"index": int(i), "name": all_names[i], "probability": float(p[i])}
                for i in order]

    result = {"top": best(p), "notes": notes + name_notes, "source_of_names": source}
    if copies is not None:
        result["tta"] = {"copies": len(copies),
                         "top": best(probabilities(model, copies)[0].mean(axis=0))}
    return result


def tta_request(spec: Any) -> tuple[dict[str, Any], int, int | None] | None:
    """A predict request's ``"tta"`` object (``{"copies": N, "augmentation": {...}, "seed"}``)
    as (augmentation, copies, seed); None when there is none."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise InspectError("request", "\"tta\" must be an object: {\"copies\": N, "
                                      "\"augmentation\": {...}}")
    copies, aug, seed = spec.get("copies"), spec.get("augmentation"), spec.get("seed")
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= 256:
        raise InspectError("request", f"the TTA \"copies\" must be a whole number from 1 to "
                                      f"256, found {copies!r}")
    if not isinstance(aug, Mapping) or not any(aug.values()):
        raise InspectError("request", NO_AUGMENTATION)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise InspectError("request", f"the TTA \"seed\" must be a whole number, found {seed!r}")
    return dict(aug), copies, seed


# --- Grad-CAM --------------------------------------------------------------------------------


def _score_tensor(model: Any) -> tuple[Any, Any, str | None]:
    """The tensor whose class entries Grad-CAM differentiates: the logits before a final
    softmax where they can be read (a Softmax layer's input, or a Dense layer's pre-activation),
    else the model's output. Returns (symbolic tensor, how to turn it into scores, note)."""
    out = model.outputs[0]
    layer = out._keras_history[0]
    cls = type(layer).__name__
    if cls == "Softmax":
        return layer.input, None, "class scores taken before the softmax"
    if cls == "Dense" and _output_activation(model) == "softmax":
        return layer.input, layer, "class scores taken before the softmax"
    return out, None, None


def gradcam(model: Any, x: np.ndarray, class_index: int | None = None,
            layer_name: str | None = None, names: Sequence[str] | None = None,
            cache: dict[Any, Any] | None = None,
            calls: Calls | None = None) -> dict[str, Any]:
    """Grad-CAM (Selvaraju et al.) for the first sample of ``x``: the chosen layer's feature
    maps weighted by the spatial mean of the class score's gradient, ReLU, scaled to 0..1 and
    resized to the input's height and width. ``heatmap`` is float32 H×W."""
    import keras
    import tensorflow as tf

    convs = conv_like_layers(model)
    call = 0
    if layer_name is None:
        layer = default_gradcam_layer(model)
        if layer is None:
            raise InspectError("layer", "Grad-CAM needs a convolution layer with 2-D feature "
                                        "maps (a 4-D output); this model has none")
    else:
        layer, call = resolve(model, layer_name, calls)
        if layer not in convs:
            shapes = [_shape(t)[1:] for t in layer_outputs(layer, call)]
            gives = shapes[0] if len(shapes) == 1 else shapes
            raise InspectError("layer", f"Grad-CAM needs a layer with 2-D feature maps (a 4-D "
                                        f"output); {layer_name!r} gives {gives} per sample")
    if len(x.shape) != 4:
        raise InspectError("input", "Grad-CAM shows a heat map over an image; this model's "
                                    f"input has shape {list(x.shape[1:])}")
    probs, notes = probabilities(model, x[:1])
    p = probs[0]
    count = len(p)
    if class_index is None:
        class_index = int(np.argmax(p))
    elif not isinstance(class_index, int) or isinstance(class_index, bool) or not (
            0 <= class_index < count):
        raise InspectError("request", f"class_index must be a class from 0 to {count - 1}, "
                                      f"found {class_index!r}")
    score_tensor, dense, note = _score_tensor(model)
    key = ("gradcam", layer.name, call)
    grad_model = cache.get(key) if cache is not None else None
    if grad_model is None:
        grad_model = keras.Model(_model_inputs(model),
                                 [layer_outputs(layer, call)[0], score_tensor])
        if cache is not None:
            cache[key] = grad_model
    xt = tf.convert_to_tensor(x[:1], dtype=tf.float32)
    with tf.GradientTape() as tape:
        maps, scores = grad_model(feed(grad_model, xt), training=False)
        tape.watch(maps)
        if dense is not None:
            scores = tf.matmul(scores, dense.kernel)
            if dense.bias is not None:
                scores = scores + dense.bias
        if scores.shape[-1] == 1 and count == 2:    # one sigmoid unit: class 0 is its negative
            score = scores[:, 0] if class_index == 1 else -scores[:, 0]
        else:
            score = scores[:, class_index]
    grads = tape.gradient(score, maps)
    if note:
        notes.append(note)
    if grads is None:
        raise InspectError("layer", f"the class score does not depend on layer {layer.name!r}")
    weights = tf.reduce_mean(grads, axis=(1, 2))                  # (1, channels)
    cam = tf.nn.relu(tf.reduce_sum(maps * weights[:, None, None, :], axis=-1))[0]
    cam_np = np.asarray(cam, dtype=np.float32)
    peak = float(cam_np.max()) if cam_np.size else 0.0
    if peak > 0:
        cam_np = cam_np / peak
    else:
        notes.append(f"no part of {layer.name!r}'s output raises this class's score: the heat "
                     "map is empty")
    h, w = int(x.shape[1]), int(x.shape[2])
    resized = tf.image.resize(cam_np[..., None], (h, w), method="bilinear")[..., 0]
    heat = np.clip(np.asarray(resized, dtype=np.float32), 0.0, None)
    if heat.size and float(heat.max()) > 0:       # resizing smooths the peak: 1 again
        heat = np.clip(heat / float(heat.max()), 0.0, 1.0)
    all_names, _source, name_notes = class_names_for(count, names)
    return {"heatmap": heat, "layer": layer_name or layer.name, "class_index": int(class_index),
            "class_name": all_names[class_index], "probability": float(p[class_index]),
            "notes": notes + name_notes}


# --- statistics ------------------------------------------------------------------------------


def _is_relu(layer: Any) -> bool:
    cls = type(layer).__name__
    if cls == "ReLU":
        slope = float(getattr(layer, "negative_slope", 0.0) or 0.0)
        threshold = float(getattr(layer, "threshold", 0.0) or 0.0)
        return slope == 0.0 and threshold == 0.0
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None) if act is not None else None
    return name in RELU_NAMES


def _consumers(model: Any, layer: Any) -> list[Any]:
    in_model = {id(lay) for lay in model.layers}
    found = []
    for node in getattr(layer, "_outbound_nodes", []):
        op = getattr(node, "operation", None)
        if op is not None and id(op) in in_model:
            found.append(op)
    return found


def relu_layers(model: Any) -> set[str]:
    """Names of the layers that have a ReLU activation or whose every consumer is a ReLU."""
    names = set()
    for layer in model.layers:
        if _is_relu(layer):
            names.add(layer.name)
            continue
        consumers = _consumers(model, layer)
        if consumers and all(_is_relu(c) and type(c).__name__ in ("ReLU", "Activation")
                             for c in consumers):
            names.add(layer.name)
    return names


def stats(model: Any, x: np.ndarray, submodels: SubModels | None = None,
          chunk: int | None = None, memory_mb: float = 256) -> list[dict[str, Any]]:
    """Per layer (inputs excepted): mean and standard deviation of its output over the batch
    ``x``, and for ReLU layers (or layers feeding only ReLUs) the fraction of units (channels
    for feature maps) whose output is ≤ 0 for every sample and position. A shared layer's
    other calls named in the sub-models' ``calls`` get a row each, after the layer's own (the
    layer's name is the call its owner node makes)."""
    submodels = submodels if submodels is not None and submodels.model is model else (
        SubModels(model))
    calls = submodels.calls
    layers = [lay for lay in model.layers if type(lay).__name__ != "InputLayer"
              and len(layer_outputs(lay)) == 1]
    if not layers:
        return []
    names: list[str] = []
    outputs: list[Any] = []   # each name's symbolic output (for the chunk size)
    of_layer: dict[str, str] = {}
    for lay in layers:
        mine = [lay.name] + [n for n, (owner, _) in calls.items()
                             if owner == lay.name and n != lay.name]
        for name in mine:
            names.append(name)
            outputs.append(output_of(model, name, calls))
            of_layer[name] = lay.name
    if chunk is None:   # samples per pass: every output of a pass within memory_mb
        per_sample = sum(math.prod(v or 1 for v in out.shape[1:]) for out in outputs)
        chunk = int(max(1, min(64, memory_mb * 2**20 // max(1, per_sample * 4))))
    relu_named = relu_layers(model)
    relu = {name for name in names if of_layer[name] in relu_named}
    count = np.zeros(len(names))
    sums = np.zeros(len(names))
    squares = np.zeros(len(names))
    alive: list[np.ndarray | None] = [None] * len(names)
    for start in range(0, len(x), chunk):
        outs = submodels.run(names, x[start:start + chunk])
        for i, arr in enumerate(outs):
            a = np.asarray(arr, dtype=np.float64)
            count[i] += a.size
            sums[i] += a.sum()
            squares[i] += np.square(a).sum()
            if names[i] in relu and a.ndim >= 2:
                positive = (a > 0).reshape(-1, a.shape[-1]).any(axis=0)
                alive[i] = positive if alive[i] is None else (alive[i] | positive)
    rows = []
    for i, name in enumerate(names):
        mean = sums[i] / count[i] if count[i] else 0.0
        var = max(squares[i] / count[i] - mean * mean, 0.0) if count[i] else 0.0
        dead = None
        if alive[i] is not None:
            dead = float(1.0 - alive[i].mean())
        rows.append({"name": name, "mean": float(mean), "std": float(math.sqrt(var)),
                     "dead_fraction": dead})
    return rows


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` and the milliseconds it took."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000.0
