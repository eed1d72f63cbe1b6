"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
Embedding."""

from __future__ import annotations

from typing import Any

from netbuilder.core.catalog.base import (
    Inferred,
    LayerError,
    LayerSpec,
    Param,
    Shape,
    fmt_shape,
    numel,
    register,
    require_rank,
)
from netbuilder.core.catalog.shared_params import (
    ACTIVITY_REGULARIZER,
    DATA_FORMAT,
    SEED,
    activation_param,
    rate_param,
    use_bias_param,
    weight_params,
)

FAMILY = "Core"

DTYPES = ("float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8", "bool")


def _infer_input(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    shape = (p["batch_size"],) + tuple(p["shape"])
    return Inferred([shape])


def _input_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    return {"shape": p["shape"], "batch_size": p["batch_size"], "dtype": p["dtype"]}


register(LayerSpec(
    type="Input", family=FAMILY, keras_class="InputLayer",
    help="Where data enters the model: the shape of one sample, without the batch dimension.",
    params=(
        Param("shape", "ints", (28, 28, 1),
              "Shape of one sample, e.g. 28, 28, 1 for a grayscale 28×28 image; None for a "
              "dimension of any size.", length=None, minimum=0, allow=(None,), required=True),
        Param("batch_size", "int", None, "Fixed batch size, or none for any.", nullable=True,
              minimum=1),
        Param("dtype", "choice", "float32", "Data type of the input.", choices=DTYPES),
    ),
    infer=_infer_input, min_inputs=0, max_inputs=0,
    keywords=("input", "data", "image", "start", "placeholder"), key_params=("shape",),
    keras_kwargs=_input_kwargs,
))


def _infer_dense(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    if len(shape) < 2:
        raise LayerError(f"Dense expects input of rank >= 2, got {fmt_shape(shape)}",
                         "insert Reshape to add a feature axis")
    units = p["units"]
    features = shape[-1]
    if features is None:
        raise LayerError(
            f"Dense needs a known last dimension, got {fmt_shape(shape)}",
            "give the input a fixed last dimension")
    kernel, lora = _lora_split("Dense", p, features, units)
    bias = units if p["use_bias"] else 0
    positions = numel(shape) // features
    notes = []
    if len(shape) > 2:
        notes.append(
            f"Dense acts on the last axis only: {fmt_shape(shape)} becomes "
            f"{fmt_shape(shape[:-1] + (units,))}; insert Flatten or GlobalAveragePooling2D "
            "before it for one vector per sample")
    return Inferred([shape[:-1] + (units,)], trainable=lora + bias + (0 if lora else kernel),
                    non_trainable=kernel if lora else 0,
                    flops=2 * features * units * positions, notes=notes)


LORA_PARAMS = (
    Param("lora_rank", "int", None,
          "Fine-tune with LoRA: freeze the weight matrix and learn a low-rank update of this "
          "rank instead (none: off).", nullable=True, minimum=0),
    Param("lora_alpha", "float", None,
          "Scale of the LoRA update (alpha / rank); none: the rank.", nullable=True),
)


def _lora_split(layer: str, p: dict[str, Any], rows: int, cols: int) -> tuple[int, int]:
    """(weights of the rows x cols matrix, trainable LoRA weights): with ``lora_rank`` set, Keras
    freezes the matrix and adds two trainable factors (rows x r) and (r x cols)."""
    rank = p["lora_rank"]
    if not rank:
        return rows * cols, 0
    constraint = "kernel_constraint" if layer == "Dense" else "embeddings_constraint"
    if p[constraint] is not None:
        raise LayerError(f"{layer}: LoRA cannot be used together with `{constraint}`",
                         f"remove `{constraint}` or turn LoRA off (lora_rank none)")
    return rows * cols, rank * (rows + cols)


register(LayerSpec(
    type="Dense", family=FAMILY,
    help="Fully connected layer: every output is a weighted sum of all inputs (last axis).",
    params=(
        Param("units", "int", 64, "Number of outputs (neurons).", minimum=1, required=True),
        activation_param(),
        use_bias_param(),
        *weight_params("kernel", "glorot_uniform", "weight matrix"),
        *weight_params("bias", "zeros", "bias"),
        ACTIVITY_REGULARIZER,
        *LORA_PARAMS,
    ),
    infer=_infer_dense,
    keywords=("fully connected", "linear", "classifier", "head", "mlp", "perceptron",
              "neurons", "output"),
    key_params=("units", "activation"),
))


def _same_shape(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    return Inferred([shape], 0, 0, numel(shape), [])


register(LayerSpec(
    type="Activation", family=FAMILY,
    help="Applies an activation function element by element.",
    params=(Param("activation", "activation", "relu",
                  "Function applied to each value ('linear' = none).", required=True),),
    infer=_same_shape, keywords=("nonlinearity", "relu", "sigmoid", "softmax"),
    key_params=("activation",),
))


register(LayerSpec(
    type="Dropout", family=FAMILY,
    help="During training, sets a random fraction of inputs to 0 (regularization).",
    params=(
        rate_param("Fraction of inputs to drop during training (0 to 1)."),
        Param("noise_shape", "json", None,
              "Shape of the dropout mask, to drop whole features (e.g. [None, 1, 64]); "
              "none for independent units.", nullable=True),
        SEED,
    ),
    infer=lambda p, inputs: Inferred([inputs[0]]),
    keywords=("regularize", "regularization", "overfitting", "drop"),
    key_params=("rate",),
))


def _infer_flatten(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    rest = shape[1:]
    if not rest:
        return Inferred([(shape[0], 1)])
    if any(d is None for d in rest):
        return Inferred([(shape[0], None)])
    size = 1
    for d in rest:
        size *= d  # type: ignore[operator]
    return Inferred([(shape[0], size)])


register(LayerSpec(
    type="Flatten", family=FAMILY,
    help="Flattens each sample into one vector (e.g. before Dense).",
    params=(DATA_FORMAT,),
    infer=_infer_flatten, keywords=("vector", "reshape", "flat", "classifier"),
))


def _infer_reshape(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    target = tuple(p["target_shape"])
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1:
        raise LayerError(
            f"Reshape: only one dimension of target_shape can be -1, got {fmt_shape(target)}",
            "set all but one dimension")
    rest = shape[1:]
    if any(d is None for d in rest):
        out = tuple(None if d == -1 else d for d in target)
        return Inferred([(shape[0],) + out])
    size = numel(shape)
    known = 1
    for d in target:
        if d != -1:
            known *= d
    if unknown:
        if known == 0 or size % known:
            raise LayerError(
                f"Reshape cannot fit {size} values per sample ({fmt_shape(shape)}) into "
                f"{fmt_shape(target)}", "choose a target whose known sizes divide the input size")
        out = tuple(size // known if d == -1 else d for d in target)
    else:
        if known != size:
            raise LayerError(
                f"Reshape: target {fmt_shape(target)} holds {known} values but the input "
                f"{fmt_shape(shape)} has {size} per sample",
                "make the product of target_shape equal the input size, or use -1 for one "
                "dimension")
        out = target
    return Inferred([(shape[0],) + out])


register(LayerSpec(
    type="Reshape", family=FAMILY,
    help="Gives each sample a new shape with the same number of values (-1: inferred).",
    params=(
        Param("target_shape", "ints", (-1,), "New shape of one sample; one dimension may be -1.",
              length=None, minimum=1, allow=(-1,), required=True),
    ),
    infer=_infer_reshape, keywords=("reshape", "view", "shape"), key_params=("target_shape",),
))


def _infer_permute(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    dims = tuple(p["dims"])
    rank = len(shape) - 1
    if sorted(dims) != list(range(1, len(dims) + 1)):
        raise LayerError(
            f"Permute: dims must be a permutation of 1..{len(dims)}, got {fmt_shape(dims)}",
            "list every axis once, counting from 1")
    if len(dims) != rank:
        raise LayerError(
            f"Permute: dims {fmt_shape(dims)} name {len(dims)} axes but the input "
            f"{fmt_shape(shape)} has {rank}", f"give {rank} axes")
    return Inferred([(shape[0],) + tuple(shape[d] for d in dims)])


register(LayerSpec(
    type="Permute", family=FAMILY,
    help="Reorders the axes of each sample (axes counted from 1; the batch axis stays).",
    params=(Param("dims", "ints", (2, 1), "New order of the axes, e.g. 2, 1 swaps two axes.",
                  length=None, minimum=1, required=True),),
    infer=_infer_permute, keywords=("transpose", "axes", "swap"), key_params=("dims",),
))


def _infer_repeat(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    require_rank("RepeatVector", shape, (2,), "insert Flatten before it")
    return Inferred([(shape[0], p["n"], shape[1])])


register(LayerSpec(
    type="RepeatVector", family=FAMILY,
    help="Repeats a vector n times, making a sequence (e.g. for a decoder).",
    params=(Param("n", "int", 3, "How many times to repeat.", minimum=1, required=True),),
    infer=_infer_repeat, keywords=("repeat", "sequence", "tile"), key_params=("n",),
))


def _infer_embedding(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    out = shape + (p["output_dim"],)
    table, lora = _lora_split("Embedding", p, p["input_dim"], p["output_dim"])
    return Inferred([out], trainable=lora if lora else table, non_trainable=table if lora else 0)


register(LayerSpec(
    type="Embedding", family=FAMILY,
    help="Turns integer indices (e.g. word ids) into dense vectors of a fixed size.",
    params=(
        Param("input_dim", "int", 1000, "Size of the vocabulary (largest index + 1).", minimum=1,
              required=True),
        Param("output_dim", "int", 64, "Size of each embedding vector.", minimum=1,
              required=True),
        *weight_params("embeddings", "uniform", "embedding matrix"),
        Param("mask_zero", "bool", False, "Treat index 0 as padding and mask it downstream."),
        ACTIVITY_REGULARIZER,
        *LORA_PARAMS,
    ),
    infer=_infer_embedding, keywords=("embedding", "words", "tokens", "text", "lookup"),
    key_params=("input_dim", "output_dim"),
))
