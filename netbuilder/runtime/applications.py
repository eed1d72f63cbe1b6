"""Keras Applications as blocks: a pretrained architecture placed as one node.

An Application is a ``Block(kind="model")`` whose ``application`` records the arguments of its
``keras.applications`` constructor (``{"name": "VGG16", "include_top": False, "pooling": None,
"weights": None | "imagenet" | "/path.h5", "input_shape": [150, 150, 3], "classes": 1000}``).
Its subgraph is imported from Keras with ``weights=None`` (``keras_to_graph.application_block``),
so that inference,
the summary and the list of inner layers (for "fine-tune from layer X") work offline and without
Keras; the Keras build (``keras_build``) calls the constructor itself, so ImageNet weights come
from Keras' cache (never downloaded: a missing file is a clear error naming the file expected),
then applies the inner layers' trainable flags.

``check_arguments`` knows each constructor's input-shape rules (minimum size, 3 channels with
ImageNet weights, the fixed size of the ImageNet classifier) without importing Keras, so that
the editor can say what is wrong at once. Everything else imports Keras lazily.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from netbuilder.core.blocks import Block
from netbuilder.core.graph import Graph
from netbuilder.runtime.keras_loader import load_keras

POOLINGS = (None, "avg", "max")

# (default size, minimum size) of each constructor's input, as keras.applications checks them
_EFFICIENTNET = {"B0": 224, "B1": 240, "B2": 260, "B3": 300, "B4": 380, "B5": 456, "B6": 528,
                 "B7": 600}
_EFFICIENTNET_V2 = {"B0": 224, "B1": 240, "B2": 260, "B3": 300, "S": 384, "M": 480, "L": 480}
_SPECIAL = {"Xception": (299, 71), "InceptionV3": (299, 75), "InceptionResNetV2": (299, 75),
            "NASNetLarge": (331, 32)}
# the ImageNet classifier of these takes several sizes (a weights file per size)
_FLEXIBLE_TOP = {"MobileNet": (128, 160, 192, 224), "MobileNetV2": (96, 128, 160, 192, 224)}
_ANY_TOP = ("MobileNetV3Small", "MobileNetV3Large")  # global pooling before the classifier


class ApplicationError(Exception):
    """A Keras Application that cannot be made or built; ``str(err)`` is for the user."""


def application_names() -> list[str]:
    """Every model constructor in ``keras.applications`` (ResNet50, EfficientNetB7...; imports
    Keras)."""
    keras = load_keras()
    return sorted(n for n in dir(keras.applications)
                  if n[:1].isupper() and callable(getattr(keras.applications, n)))


def application_name(name: str) -> str:
    """``name`` as Keras spells the constructor (any case); ``ApplicationError`` suggesting the
    closest names when there is none."""
    names = application_names()
    if name in names:
        return name
    folded = {n.lower(): n for n in names}
    if name.lower() in folded:
        return folded[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(folded), n=3, cutoff=0.6)
    hint = (f"; did you mean {', '.join('app:' + folded[c] for c in close)}?" if close else
            f"; available: {', '.join(names)}")
    raise ApplicationError(f"unknown Keras application {name!r}{hint}")


def input_sizes(name: str) -> tuple[int, int]:
    """(default size, minimum size) of the input of the constructor ``name``."""
    if name in _SPECIAL:
        return _SPECIAL[name]
    if name.startswith("EfficientNetV2"):
        return _EFFICIENTNET_V2.get(name[len("EfficientNetV2"):], 224), 32
    if name.startswith("EfficientNet"):
        return _EFFICIENTNET.get(name[len("EfficientNet"):], 224), 32
    return 224, 32


def default_arguments(name: str) -> dict[str, Any]:
    """The arguments an Application starts with in the editor: no classifier, no weights, the
    constructor's default input size."""
    size = input_sizes(name)[0]
    return {"name": name, "include_top": False, "pooling": None, "weights": None,
            "input_shape": [size, size, 3], "classes": 1000}


def normalized(app: Mapping[str, Any]) -> dict[str, Any]:
    """``app`` with every key present, in plain JSON values; ``ApplicationError`` when a value
    has the wrong type."""
    name = app.get("name")
    if not isinstance(name, str) or not name:
        raise ApplicationError("choose a Keras Application (e.g. VGG16)")
    out = default_arguments(name)
    out["input_shape"] = None
    for key in ("include_top", "pooling", "weights", "input_shape", "classes"):
        if key in app:
            out[key] = app[key]
    if not isinstance(out["include_top"], bool):
        raise ApplicationError(f"{name}: include_top must be true or false")
    if out["pooling"] not in POOLINGS:
        raise ApplicationError(f"{name}: pooling must be none, 'avg' or 'max', got "
                               f"{out['pooling']!r}")
    weights = out["weights"]
    if isinstance(weights, str) and weights.lower() == "none":
        weights = None
    if weights is not None and not (isinstance(weights, str) and weights.strip()):
        raise ApplicationError(f"{name}: weights must be none, 'imagenet' or a weights file")
    out["weights"] = weights
    shape = out["input_shape"]
    if shape is not None:
        if (not isinstance(shape, Sequence) or isinstance(shape, str) or len(shape) != 3
                or not all(d is None or (isinstance(d, int) and not isinstance(d, bool)
                                         and d > 0) for d in shape)):
            raise ApplicationError(f"{name}: the input shape must be three sizes (height, "
                                   f"width, channels), e.g. 224, 224, 3; got {shape!r}")
        out["input_shape"] = list(shape)
    classes = out["classes"]
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ApplicationError(f"{name}: classes must be a positive whole number")
    return out


def check_arguments(app: Mapping[str, Any], names: Sequence[str] | None = None
                    ) -> dict[str, Any]:
    """The normalized arguments, or ``ApplicationError`` saying what the constructor would
    refuse: an unknown name (when ``names`` is given), an input smaller than the model's
    minimum, not 3 channels with ImageNet weights, an input other than the classifier's size
    with ``include_top`` and ImageNet weights, ``classes`` other than 1000 with the ImageNet
    classifier, a missing weights file. Pure Python: Keras is not imported."""
    app = normalized(app)
    name = app["name"]
    if names is not None and name not in names:
        raise ApplicationError(f"unknown Keras Application {name!r}; choose one of "
                               f"{', '.join(names)}")
    default, minimum = input_sizes(name)
    shape = app["input_shape"]
    weights = app["weights"]
    imagenet = weights == "imagenet"
    if shape is not None:
        height, width, channels = shape
        if (height is not None and height < minimum) or (width is not None and width < minimum):
            raise ApplicationError(
                f"{name} needs an input of at least {minimum}×{minimum} pixels; "
                f"{_fmt(shape)} is too small. Resize the images (a Resizing layer) or choose "
                "another model")
        if imagenet and channels != 3:
            raise ApplicationError(
                f"{name} with ImageNet weights needs 3 colour channels; the input "
                f"{_fmt(shape)} has {channels}. Use RGB images, or weights=None")
    if app["include_top"] and imagenet:
        if app["classes"] != 1000:
            raise ApplicationError(
                f"{name}'s ImageNet classifier (include_top) has 1000 classes, not "
                f"{app['classes']}; untick include_top and add your own classifier head")
        if shape is not None and name not in _ANY_TOP:
            sizes = _FLEXIBLE_TOP.get(name, (default,))
            if shape[0] != shape[1] or shape[0] not in sizes or shape[2] != 3:
                allowed = " or ".join(f"{s}×{s}×3" for s in sizes)
                raise ApplicationError(
                    f"{name} with its ImageNet classifier (include_top) takes {allowed} "
                    f"images, not {_fmt(shape)}; untick include_top to use another size")
    if weights not in (None, "imagenet"):
        path = Path(os.path.expanduser(str(weights)))
        if not path.is_file():
            raise ApplicationError(f"{name}: weights file {weights} not found (use none, "
                                   "imagenet or an existing weights file)")
    return app


def _fmt(shape: Sequence[Any]) -> str:
    return "×".join("?" if d is None else str(d) for d in shape)


# --- Keras ------------------------------------------------------------------------------------


def constructor_arguments(app: Mapping[str, Any], weights: Any = "same",
                          name: str | None = None) -> dict[str, Any]:
    """The keyword arguments of the ``keras.applications`` call (``weights="same"`` keeps the
    recorded weights)."""
    app = normalized(app)
    kwargs: dict[str, Any] = {"include_top": app["include_top"],
                              "weights": app["weights"] if weights == "same" else weights}
    if app["input_shape"] is not None:
        kwargs["input_shape"] = tuple(app["input_shape"])
    if app["pooling"] is not None:
        kwargs["pooling"] = app["pooling"]
    if app["include_top"]:
        kwargs["classes"] = app["classes"]
    if isinstance(kwargs["weights"], str) and kwargs["weights"] != "imagenet":
        kwargs["weights"] = os.path.expanduser(kwargs["weights"])
    if name is not None:
        kwargs["name"] = name
    return kwargs


def make_model(app: Mapping[str, Any], weights: Any = "same", name: str | None = None) -> Any:
    """Call the ``keras.applications`` constructor. ImageNet weights come from Keras' cache
    only: when the file is not there, ``ApplicationError`` names the file expected."""
    app = check_arguments(app)
    return construct(application_name(app["name"]), constructor_arguments(app, weights, name),
                     refused=f"{app['name']}: Keras refuses these settings: ")


EDITOR_WEIGHTS_HINT = "choose a weights file, or use weights=None"


def construct(name: str, kwargs: Mapping[str, Any], refused: str,
              weights_hint: str = EDITOR_WEIGHTS_HINT) -> Any:
    """``keras.applications.<name>(**kwargs)`` (``name`` as Keras spells it) with ImageNet
    weights from Keras' cache only. ``ApplicationError`` when the weights file is not there
    (naming it, then saying ``weights_hint``), and when Keras refuses the arguments
    (``refused`` followed by Keras' reason)."""
    ctor = getattr(load_keras().applications, name)
    try:
        with _weights_mode("cache", weights_hint):
            return ctor(**kwargs)
    except ApplicationError:
        raise
    except Exception as err:  # noqa: BLE001 - Keras' ValueErrors explain bad combinations
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        raise ApplicationError(f"{refused}{first}") from None


class _Probe(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


_guard_lock = threading.Lock()
_local = threading.local()


def _cache_path(fname: Any, origin: Any, kwargs: Mapping[str, Any]) -> Path:
    """Where ``keras.utils.get_file`` keeps ``fname`` (as it computes it)."""
    cache_dir = kwargs.get("cache_dir")
    subdir = kwargs.get("cache_subdir", "datasets")
    if cache_dir is None:
        from keras.src.backend.config import keras_home

        cache_dir = keras_home()
    name = fname or (os.path.basename(origin) if origin else "")
    return Path(cache_dir).expanduser() / subdir / name


@contextmanager
def _weights_mode(mode: str, hint: str = EDITOR_WEIGHTS_HINT) -> Iterator[None]:
    """While Keras makes an Application in this thread, its weights come from Keras' cache
    only (``mode="cache"``: a missing file is an ``ApplicationError`` naming it, then saying
    ``hint``) or are only located (``mode="probe"``: ``_Probe`` with the path). Nothing is ever
    downloaded. The guard
    on ``keras.utils.get_file`` is per thread, so a look-up in the dialog's background job
    cannot let another thread's constructor through."""
    from keras.src.utils import file_utils

    with _guard_lock:
        current = file_utils.get_file
        if not getattr(current, "_netbuilder_guard", False):
            def guarded(fname: Any = None, origin: Any = None, *args: Any, **kwargs: Any
                        ) -> Any:
                how = getattr(_local, "mode", None)
                if how is None:
                    return current(fname, origin, *args, **kwargs)
                path = _cache_path(fname, origin, kwargs)
                if how == "probe":
                    raise _Probe(path)
                if not path.is_file():
                    raise ApplicationError(
                        f"the ImageNet weights are not in Keras' cache ({path} is missing) and "
                        f"NetBuilder does not download them; copy that file there, "
                        f"{_local.hint}")
                return current(fname, origin, *args, **kwargs)

            guarded._netbuilder_guard = True  # type: ignore[attr-defined]
            file_utils.get_file = guarded
    previous = getattr(_local, "mode", None), getattr(_local, "hint", None)
    _local.mode, _local.hint = mode, hint
    try:
        yield
    finally:
        _local.mode, _local.hint = previous


def expected_weights_file(app: Mapping[str, Any]) -> Path:
    """Where Keras' cache keeps the ImageNet weights of ``app`` (found by letting the
    constructor ask for them; nothing is downloaded)."""
    app = normalized(app)
    keras = load_keras()
    try:
        with _weights_mode("probe"):
            getattr(keras.applications, app["name"])(**constructor_arguments(app, "imagenet"))
    except _Probe as found:
        return found.path
    except Exception as err:  # noqa: BLE001
        raise ApplicationError(f"{app['name']}: {err}") from None
    raise ApplicationError(f"{app['name']} has no ImageNet weights")


def weights_cached(app: Mapping[str, Any]) -> tuple[bool, Path]:
    """(whether Keras' cache holds the ImageNet weights of ``app``, where they belong)."""
    path = expected_weights_file(app)
    return path.is_file(), path


def add_to_graph(graph: Graph, block: Block, position: tuple[float, float] = (0.0, 0.0)
                 ) -> str:
    """Add ``block`` and one instance of it to ``graph``; returns the instance's node id."""
    from netbuilder.core.graph import BLOCK_TYPE

    graph.add_block(block)
    return graph.add_node(BLOCK_TYPE, {"block": block.name}, position=position).id


def build_model(block: Block, name: str) -> Any:
    """The Keras model of an Application block (``keras_build``): the constructor with the
    recorded arguments (ImageNet weights from Keras' cache), named ``name``, with the inner
    layers' trainable flags of the block."""
    assert block.application is not None
    model = make_model(block.application, name=name)
    apply_trainable_flags(block, model)
    model._netbuilder_application = block.application["name"]  # see preprocessing_for_model
    return model


def apply_trainable_flags(block: Block, model: Any) -> None:
    """Give each layer of ``model`` the trainable flag of its node in ``block``: by name, and
    by order among the layers of the same class where Keras numbered a name differently (a
    second model made in one session: ``rescaling_1``)."""
    by_name = {layer.name: layer for layer in model.layers}
    graph = block.graph
    unmatched_nodes: dict[str, list[bool]] = {}
    matched: set[int] = set()
    for nid in graph.topological_order():
        node = graph.nodes[nid]
        if node.type == "Input":
            continue
        layer = by_name.get(node.name)
        if layer is not None:
            matched.add(id(layer))
            layer.trainable = node.trainable
        else:
            unmatched_nodes.setdefault(_class_of(node), []).append(node.trainable)
    if not unmatched_nodes:
        return
    for layer in model.layers:
        flags = unmatched_nodes.get(type(layer).__name__)
        if id(layer) not in matched and flags:
            layer.trainable = flags.pop(0)


def _class_of(node: Any) -> str:
    if node.type == "KerasLayer":
        return str(node.params.get("class_name"))
    from netbuilder.core import catalog

    return catalog.get(node.type).class_name


def partly_frozen(block: Block) -> bool:
    """Whether some layer inside the Application is frozen (so it runs with
    ``training=False``)."""
    return any(not n.trainable for n in block.graph.nodes.values() if n.type != "Input")


# --- input preprocessing ----------------------------------------------------------------------

# layers between the Input and an Application that leave the pixels' meaning as it is
_GEOMETRIC = ("Resizing", "CenterCrop")
_MODES = {"caffe": "caffe: RGB converted to BGR, ImageNet mean subtracted",
          "tf": "tf: pixels scaled to -1…1",
          "torch": "torch: pixels scaled to 0–1, ImageNet mean and deviation normalized",
          "none": "a pass-through: the model preprocesses its input itself"}


def preprocess_module(name: str) -> str | None:
    """The ``keras.applications`` submodule (e.g. ``"vgg16"``) that defines the constructor
    ``name`` and its ``preprocess_input``, found by looking through the submodules Keras has;
    None when there is none."""
    import inspect

    apps = load_keras().applications
    found = []
    for attr in sorted(dir(apps)):
        module = getattr(apps, attr, None)
        if (inspect.ismodule(module) and callable(getattr(module, name, None))
                and callable(getattr(module, "preprocess_input", None))):
            found.append(attr)
    if not found:
        return None
    return name.lower() if name.lower() in found else found[0]


def preprocess_function(name: str) -> Any:
    """``keras.applications.<module>.preprocess_input`` for the constructor ``name``, or None
    when Keras has none for it."""
    module = preprocess_module(name)
    if module is None:
        return None
    return getattr(load_keras().applications, module).preprocess_input


def preprocess_mode(name: str) -> str | None:
    """What ``name``'s ``preprocess_input`` does, told by running it on black and white pixels:
    ``"caffe"``, ``"tf"``, ``"torch"``, ``"none"`` (a pass-through), ``"other"``; None when
    there is no such function."""
    import numpy as np

    fn = preprocess_function(name)
    if fn is None:
        return None
    probe = np.array([[[[0.0, 0.0, 0.0], [255.0, 255.0, 255.0]]]], dtype=np.float32)
    out = np.asarray(fn(probe.copy()), dtype=np.float64).reshape(2, 3)
    if np.allclose(out, probe.reshape(2, 3)):
        return "none"
    if np.allclose(out, [[-1, -1, -1], [1, 1, 1]], atol=1e-4):
        return "tf"
    if np.allclose(out[0], [-103.939, -116.779, -123.68], atol=1e-3):
        return "caffe"
    torch = -np.array([0.485, 0.456, 0.406]) / np.array([0.229, 0.224, 0.225])
    if np.allclose(out[0], torch, atol=1e-3):
        return "torch"
    return "other"


def preprocess_note(name: str) -> str:
    """The data note for pixels prepared for the Application ``name``."""
    module = preprocess_module(name)
    mode = preprocess_mode(name)
    how = _MODES.get(mode or "", "its own scaling")
    return (f"pixels prepared with keras.applications.{module}.preprocess_input, as {name} was "
            f"trained ({how})")


def _layer_class(node: Any) -> str:
    if node.type == "KerasLayer":
        return str(node.params.get("class_name"))
    return str(node.type)


def _keeps_pixels(class_name: str) -> bool:
    return class_name in _GEOMETRIC or class_name.startswith("Random")


def preprocessing_for(graph: Graph) -> str | None:
    """The Application's name (e.g. ``"VGG16"``) when the model's one Input feeds an
    Application block directly, or through layers that keep the pixels' values as they are
    (Resizing, CenterCrop, Random* augmentation); else None. Pure Python."""
    from netbuilder.core.graph import BLOCK_TYPE

    inputs = graph.inputs()
    if len(inputs) != 1:
        return None
    node = inputs[0]
    for _ in range(len(graph.nodes)):
        consumers = {e.dst for e in graph.out_edges(node.id)}
        if len(consumers) != 1:
            return None
        node = graph.nodes[consumers.pop()]
        if node.type == BLOCK_TYPE:
            block = graph.blocks.get(node.params.get("block"))
            app = block.application if block is not None else None
            return app.get("name") if app else None
        if not _keeps_pixels(_layer_class(node)):
            return None
    return None


def preprocessing_for_model(model: Any) -> str | None:
    """``preprocessing_for`` on a built Keras model: the Application's name when its Input
    feeds an Application (built by ``build_model``, which marks it) directly or through
    Resizing/CenterCrop/Random* layers; else None."""
    if len(getattr(model, "inputs", []) or []) != 1:
        return None
    layer = model.inputs[0]._keras_history[0]
    in_model = {id(lay) for lay in model.layers}
    for _ in range(len(model.layers) + 1):
        consumers = {id(node.operation): node.operation
                     for node in getattr(layer, "_outbound_nodes", [])
                     if id(getattr(node, "operation", None)) in in_model}
        if len(consumers) != 1:
            return None
        layer = next(iter(consumers.values()))
        name = getattr(layer, "_netbuilder_application", None)
        if isinstance(name, str):
            return name
        if not _keeps_pixels(type(layer).__name__):
            return None
    return None
