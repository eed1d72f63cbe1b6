"""A Keras layer the catalog has no spec for, kept exactly as it was imported.

When a model is imported, a layer whose class the catalog lacks (ConvNeXt's ``LayerScale``,
Inception-ResNet's ``CustomScaleLayer``...) or whose configuration a spec cannot hold becomes a
``KerasLayer`` node instead of being dropped: it keeps the Keras class name, the module that
defines it and its full configuration, so that Keras can build it again, and it remembers the
input and output shapes and the weight counts Keras gave at import. Inference returns those as
long as the layer receives the shapes it was imported with; for other shapes NetBuilder cannot
know what the layer does, and says so.

Only classes from Keras' own modules are ever built again (``netbuilder.runtime.keras_layers``):
a project file never names code to run.
"""

from __future__ import annotations

import re
from typing import Any

from netbuilder.core.catalog.base import (
    Inferred,
    LayerError,
    LayerSpec,
    Param,
    Shape,
    fmt_shape,
    register,
)

FAMILY = "Other"
TYPE = "KerasLayer"

_MODULE_RE = re.compile(r"^keras(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_CLASS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Keras layers that run code given to them (a Python function, a SavedModel, a JAX or PyTorch
# module): a project never rebuilds them.
CODE_LAYERS = frozenset({"Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper"})


def is_keras_module(module: str) -> bool:
    """Whether ``module`` names one of Keras' own modules (``keras``, ``keras.src....``)."""
    return isinstance(module, str) and bool(_MODULE_RE.match(module))


def _shapes(p: dict[str, Any], key: str) -> list[Shape]:
    raw = p[key]
    ok = isinstance(raw, (list, tuple)) and all(
        isinstance(s, (list, tuple)) and all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in s)
        for s in raw)
    if not ok:
        raise LayerError(f"KerasLayer: `{key}` must be a list of shapes (lists of sizes or "
                         f"None), got {raw!r}", "import the model again")
    return [tuple(s) for s in raw]


def check_reference(class_name: Any, module: Any) -> None:
    """Raise ``LayerError`` unless ``module.class_name`` is a Keras class a project may name."""
    if not isinstance(class_name, str) or not _CLASS_RE.match(class_name):
        raise LayerError(f"KerasLayer: invalid Keras class name {class_name!r}",
                         "import the model again")
    if not is_keras_module(module):
        raise LayerError(
            f"KerasLayer {class_name}: module {module!r} is not one of Keras' own modules; "
            "NetBuilder only rebuilds layers that Keras itself defines",
            "replace it with a layer from the catalog")
    if class_name in CODE_LAYERS:
        raise LayerError(f"KerasLayer {class_name}: this layer runs code stored with it, which "
                         "NetBuilder never does", "replace it with layers from the catalog")


def _infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    name = p["class_name"]
    check_reference(name, p["module"])
    expected = _shapes(p, "input_shapes")
    outputs = _shapes(p, "output_shapes")
    if not outputs:
        raise LayerError(f"KerasLayer {name}: no output shapes recorded", "import the model again")
    got = [tuple(s) for s in inputs]
    n = len(expected)
    if len(got) != n:
        raise LayerError(
            f"{name} (a Keras layer kept as imported) takes {n} input{'s' if n != 1 else ''}, "
            f"got {len(got)}", "connect exactly the inputs it was imported with")
    if got != expected:
        want = ", ".join(fmt_shape(s) for s in expected)
        have = ", ".join(fmt_shape(s) for s in got)
        raise LayerError(
            f"{name} (a Keras layer kept as imported) was imported for input {want} and "
            f"NetBuilder cannot infer it for other shapes; got {have}",
            "give it the input shape it was imported with, or replace it with a layer from "
            "the catalog")
    return Inferred(outputs, trainable=p["trainable_weights"],
                    non_trainable=p["non_trainable_weights"])


def _kwargs(p: dict[str, Any]) -> dict[str, Any]:
    """The Keras config the layer is rebuilt from (``class_name.from_config``)."""
    return dict(p["config"])


SPEC = register(LayerSpec(
    type=TYPE, family=FAMILY,
    help="A Keras layer the catalog has no spec for, kept as imported: Keras builds it from its "
         "class and config; its shapes are the ones it was imported with.",
    params=(
        Param("class_name", "str", "Identity", "The Keras class of the layer.", required=True),
        Param("module", "str", "keras.layers",
              "The Keras module that defines the class (only Keras' own modules).",
              required=True),
        Param("config", "json", {}, "The layer's Keras configuration (get_config()), without "
                                    "its name and trainable flag."),
        Param("call", "json", "single",
              "How the layer is called: 'single' (one tensor), 'list' (a list of tensors) or "
              "the names of its tensor arguments in order."),
        Param("input_shapes", "json", [[None, 8]],
              "The input shapes it was imported with (batch included).", required=True),
        Param("output_shapes", "json", [[None, 8]],
              "The output shapes Keras gave it at import.", required=True),
        Param("trainable_weights", "int", 0,
              "How many weights it trains when trainable (as Keras counted at import).",
              minimum=0),
        Param("non_trainable_weights", "int", 0,
              "How many weights it has that are never trained (as Keras counted at import).",
              minimum=0),
    ),
    infer=_infer, min_inputs=1, max_inputs=None,
    keywords=("keras", "custom", "imported", "other", "opaque"),
    key_params=("class_name",),
    keras_kwargs=_kwargs,
))
