"""Attention layers: MultiHeadAttention, Attention (dot-product) and AdditiveAttention.

MultiHeadAttention takes named inputs (query, value and an optional key); Attention and
AdditiveAttention take a list [query, value] or [query, value, key], in that order. Keras builds
them from shapes alone (their ``compute_output_spec`` does not trace the computation), so a few
combinations that fail only when the model runs are accepted here too, with a note.
"""

from __future__ import annotations

import math
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
from netbuilder.core.catalog.shared_params import (
    ACTIVITY_REGULARIZER,
    SEED,
    use_bias_param,
    weight_params,
)

FAMILY = "Attention"


def _prod(dims: Any) -> int:
    return math.prod(d if d is not None else 1 for d in dims)


def _last(layer: str, role: str, shape: Shape) -> int:
    """The known last axis of ``shape`` (the features a projection reads)."""
    dim = shape[-1]
    if dim is None:
        raise LayerError(
            f"{layer} needs a known last dimension (features) of its {role}, got "
            f"{fmt_shape(shape)}",
            "give the input a fixed feature size (e.g. with Dense or Embedding before it)"
            if len(shape) > 1 else "insert Reshape to add a feature axis")
    return dim


# --- MultiHeadAttention ----------------------------------------------------------------------


def _projection(input_shape: list[Any], free: int, bound: int, known: list[Any],
                use_bias: bool) -> tuple[list[Any], int]:
    """One of MultiHeadAttention's EinsumDense projections, as Keras builds it.

    Mirrors ``_build_proj_equation``/``_get_output_shape`` in multi_head_attention.py and
    ``_analyze_split_string`` in einsum_dense.py: returns the projection's full output shape
    and its weight count. Raises ``LayerError`` where Keras cannot create the weights (a size
    that is unknown); the oddities of rank-1 inputs (the batch axis read as features) follow.
    """
    letters = "abcdefghijklmnopqrstuvwxyz"
    out_count = len(known)
    input_spec = letters[:free + bound]
    weight_spec = letters[free:free + bound + out_count]
    output_spec = letters[:free] + letters[free + bound:free + bound + out_count]
    partial = [None] * (free + out_count - 1 - len(known)) + list(known)
    elided = len(input_shape) - len(input_spec)
    output_shape = [input_shape[0]] + partial
    if elided > 0:
        output_shape += input_shape[len(input_shape) - elided:]
    if elided < 0 or len(output_shape) < len(output_spec):
        raise LayerError(f"MultiHeadAttention cannot project an input of shape "
                         f"{fmt_shape(tuple(input_shape))}", "give it a batch and feature axis")
    in_map = {d: i for i, d in enumerate(input_spec)}
    out_map = {d: i for i, d in enumerate(output_spec)}
    for d in input_spec:
        if d in out_map and output_shape[out_map[d]] not in (None, input_shape[in_map[d]]):
            raise LayerError(f"MultiHeadAttention cannot project an input of shape "
                             f"{fmt_shape(tuple(input_shape))}", "give it a batch and feature axis")
    kernel = [output_shape[out_map[d]] if d in out_map else input_shape[in_map[d]]
              for d in weight_spec]
    weights = [kernel]
    if use_bias:
        bias = [output_shape[out_map[d]] for d in output_spec[free:]] + [1] * max(elided, 0)
        weights.append(bias)
    count = 0
    for w in weights:
        if any(d is None for d in w):
            raise LayerError(
                f"MultiHeadAttention needs known sizes to create its weights; an input of shape "
                f"{fmt_shape(tuple(input_shape))} gives weights of shape "
                f"{fmt_shape(tuple(w))}",
                "give the inputs a fixed feature size (e.g. with Dense or Embedding before it)")
        count += math.prod(w)
    return output_shape, count


def _infer_mha(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    if len(inputs) > 2 and value[1:-1] != key[1:-1]:
        raise LayerError(
            "MultiHeadAttention: value and key must match in every axis but the last; got "
            f"value {fmt_shape(value)} and key {fmt_shape(key)}",
            "feed key and value from the same sequence (same length), or leave key "
            "unconnected to use value as key")
    heads, kd = p["num_heads"], p["key_dim"]
    vd = p["value_dim"] or kd
    q_in = _last("MultiHeadAttention", "query", query)
    k_in = _last("MultiHeadAttention", "key", key)
    v_in = _last("MultiHeadAttention", "value", value)
    out_dims = tuple(p["output_shape"]) if p["output_shape"] else (q_in,)
    if p["flash_attention"] and p["dropout"] > 0:
        raise LayerError(
            "MultiHeadAttention cannot use dropout with flash_attention",
            "set dropout to 0 or turn flash_attention off")
    bias = p["use_bias"]
    q_out, q_count = _projection(list(query), len(query) - 1, 1, [heads, kd], bias)
    _, k_count = _projection(list(key), len(key) - 1, 1, [heads, kd], bias)
    _, v_count = _projection(list(value), len(value) - 1, 1, [heads, vd], bias)
    g_count = (_projection(list(query), len(query) - 1, 1, [heads, vd], bias)[1]
               if p["use_gate"] else 0)
    # Attention axes index the projected value (its rank + 1, heads inserted before the last
    # axis); Keras shifts a negative axis by that rank - 1 and indexes with NumPy.
    rank = len(value) + 1
    axes = p["attention_axes"]
    if axes is not None:
        for axis in (axes,) if isinstance(axes, int) else axes:
            norm = axis if axis >= 0 else rank - 1 + axis
            if not -rank <= norm < rank:
                raise LayerError(
                    f"MultiHeadAttention attention_axes={axes} is out of range for value "
                    f"{fmt_shape(value)}",
                    f"use axes between 1 and {len(value) - 2} (the sequence axes), or none "
                    "for all of them")
    o_in = q_out[:-1] + [vd]
    _, o_count = _projection(o_in, len(query) - 1, 2, list(out_dims), bias)
    trainable = q_count + k_count + v_count + g_count + o_count
    shape = tuple(query[:-1]) + out_dims
    t = _prod(query[1:-1])
    s = _prod(value[1:-1])
    out_size = _prod(out_dims)
    flops = 2 * heads * (t * q_in * kd + s * k_in * kd + s * v_in * vd + t * s * (kd + vd)
                         + t * vd * out_size + (t * q_in * vd if p["use_gate"] else 0))
    notes = []
    if len(query) != len(value) or len(query) < 3:
        notes.append(f"query {fmt_shape(query)} and value {fmt_shape(value)}: attention expects "
                     "(batch, steps..., features) inputs of the same rank; Keras builds this "
                     "layer but it may fail when the model runs")
    return Inferred([shape], trainable=trainable, flops=flops, notes=notes)


register(LayerSpec(
    type="MultiHeadAttention", family=FAMILY,
    help="Multi-head attention (as in Transformers): each query position gathers information "
         "from the value sequence; connect the same tensor to query and value for "
         "self-attention.",
    params=(
        Param("num_heads", "int", 4, "Number of attention heads.", minimum=1, required=True),
        Param("key_dim", "int", 32, "Size of each head's query and key projections.",
              minimum=1, required=True),
        Param("value_dim", "int", None,
              "Size of each head's value projection (none: same as key_dim).",
              nullable=True, minimum=1),
        Param("dropout", "float", 0.0,
              "Fraction of attention weights dropped during training (0 to 1).",
              minimum=0.0, maximum=1.0),
        use_bias_param(),
        Param("output_shape", "ints", None,
              "Size(s) of the output's last axes (none: the query's last dimension).",
              length=None, nullable=True, minimum=0),
        Param("attention_axes", "axes", None,
              "Axes over which attention is applied, e.g. 1 for a sequence, (1, 2) for an "
              "image (none: all axes but batch, heads and features).", nullable=True),
        Param("sliding_window", "int", None,
              "Let each position attend only to positions fewer than this many steps away "
              "(none: attend everywhere).", nullable=True, minimum=1),
        Param("flash_attention", "choice", None,
              "Use the fused flash-attention kernel (none: Keras' global setting; it does "
              "not allow dropout).", choices=(None, True, False)),
        *weight_params("kernel", "glorot_uniform", "projection weights"),
        *weight_params("bias", "zeros", "projection biases"),
        ACTIVITY_REGULARIZER,
        Param("use_gate", "bool", False,
              "Multiply the attention output by a learned sigmoid gate of the query."),
        SEED,
    ),
    infer=_infer_mha, min_inputs=2, max_inputs=3, input_names=("query", "value", "key"),
    keywords=("transformer", "self-attention", "attention", "heads", "cross-attention",
              "sequence", "vit", "qkv"),
    key_params=("num_heads", "key_dim"),
))


# --- Attention / AdditiveAttention -----------------------------------------------------------


def _dropout_notes(rate: float) -> list[str]:
    if 0.0 <= rate <= 1.0:
        return []
    return [f"dropout={rate:g} is outside 0–1: Keras builds the layer but training fails"]


def _attention_shape(inputs: list[Shape]) -> Shape:
    """Keras' ``compute_output_shape``: the query's shape with the value's last axis."""
    query, value = inputs[0], inputs[1]
    return tuple(query[:-1]) + (value[-1],)


def _attention_notes(layer: str, inputs: list[Shape], dropout: float) -> list[str]:
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    notes = _dropout_notes(dropout)
    if len(query) < 3 or len(value) < 3 or len(key) < 3:
        notes.append(f"{layer} expects (batch, steps, features) inputs; Keras builds it on "
                     f"{', '.join(fmt_shape(s) for s in inputs)} but it may fail when the "
                     "model runs")
    elif query[-1] is not None and key[-1] is not None and query[-1] != key[-1]:
        notes.append(f"query {fmt_shape(query)} and key {fmt_shape(key)} have different "
                     "feature sizes: the scores cannot be computed when the model runs; "
                     "add Dense on one branch to match them")
    return notes


def _attention_flops(inputs: list[Shape], extra: int) -> int:
    query, value = inputs[0], inputs[1]
    t = _prod(query[1:-1])
    s = _prod(value[1:-1])
    dim = query[-1] if query[-1] is not None else 1
    vd = value[-1] if value[-1] is not None else 1
    return 2 * t * s * (dim * extra + vd)


def _infer_attention(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    shape = _attention_shape(inputs)
    trainable = int(p["use_scale"]) + int(p["score_mode"] == "concat")
    return Inferred([shape], trainable=trainable,
                    flops=_attention_flops(inputs, 2 if p["score_mode"] == "concat" else 1),
                    notes=_attention_notes("Attention", inputs, p["dropout"]))


register(LayerSpec(
    type="Attention", family=FAMILY,
    help="Dot-product (Luong) attention: inputs in order query, value and an optional key; "
         "each query step takes a softmax-weighted sum of the value steps.",
    params=(
        Param("use_scale", "bool", False, "Learn a scalar that scales the attention scores."),
        Param("score_mode", "choice", "dot",
              "How scores are computed: 'dot' (query·key) or 'concat' (tanh of query + key).",
              choices=("dot", "concat")),
        Param("dropout", "float", 0.0,
              "Fraction of attention weights dropped during training (0 to 1)."),
        SEED,
    ),
    infer=_infer_attention, min_inputs=2, max_inputs=3,
    keywords=("luong", "dot-product attention", "attention", "sequence", "seq2seq",
              "encoder decoder"),
    key_params=("score_mode",),
))


def _infer_additive(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    shape = _attention_shape(inputs)
    trainable = 0
    if p["use_scale"]:
        trainable = _last("AdditiveAttention", "query", inputs[0])
    return Inferred([shape], trainable=trainable, flops=_attention_flops(inputs, 3),
                    notes=_attention_notes("AdditiveAttention", inputs, p["dropout"]))


register(LayerSpec(
    type="AdditiveAttention", family=FAMILY,
    help="Additive (Bahdanau) attention: inputs in order query, value and an optional key; "
         "scores are a sum of tanh(query + key).",
    params=(
        Param("use_scale", "bool", True,
              "Learn one scale per feature applied to the scores (adds query-features "
              "weights)."),
        Param("dropout", "float", 0.0,
              "Fraction of attention weights dropped during training (0 to 1)."),
        SEED,
    ),
    infer=_infer_additive, min_inputs=2, max_inputs=3,
    keywords=("bahdanau", "additive attention", "attention", "sequence", "seq2seq",
              "encoder decoder"),
    key_params=("use_scale",),
))
