"""Convolution layers: Conv1D/2D/3D, their transposes, SeparableConv1D/2D, DepthwiseConv1D/2D.

One factory per kind of convolution, parametrised by the number of spatial axes (``rank``), builds
the specs; the shape arithmetic is Keras 3's (``compute_conv_output_shape`` and
``compute_conv_transpose_output_shape``) and the refusals are the ones Keras makes in the layers'
constructors, ``build`` and ``compute_output_shape``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from netbuilder.core.catalog.base import (
    Dim,
    Inferred,
    LayerError,
    LayerSpec,
    Param,
    Shape,
    fmt_shape,
    known_product,
    register,
)
from netbuilder.core.catalog.conv_arithmetic import deconv_length
from netbuilder.core.catalog.shared_params import (
    ACTIVITY_REGULARIZER,
    DATA_FORMAT,
    activation_param,
    use_bias_param,
    weight_params,
)

FAMILY = "Convolution"

_SPATIAL_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_RANK_WORDS = {1: "sequences", 2: "images", 3: "volumes or videos"}


# --- parameters ------------------------------------------------------------------------------


def _tuple_param(name: str, rank: int, default: int, help_text: str, minimum: int = 1,
                 nullable: bool = False, required: bool = False) -> Param:
    """An int-or-tuple argument with one value per spatial axis (kernel_size, strides, ...)."""
    return Param(name, "ints", None if nullable else (default,) * rank, help_text, length=rank,
                 minimum=minimum, nullable=nullable, required=required)


def _filters(help_text: str = "Number of filters, i.e. of output channels.") -> Param:
    return Param("filters", "int", 32, help_text, minimum=1, required=True)


def _kernel_size(rank: int) -> Param:
    axes = " × ".join(_SPATIAL_NAMES[rank])
    return _tuple_param("kernel_size", rank, 3,
                        f"Size of the sliding window ({axes}); one number for all axes.",
                        required=True)


def _strides(rank: int, transpose: bool = False) -> Param:
    if transpose:
        text = ("How much the output grows per input step (upsampling factor); cannot be combined "
                "with dilation_rate > 1.")
    else:
        text = ("Step of the window along each axis; > 1 downsamples. Conv layers cannot combine "
                "it with dilation_rate > 1.")
    return _tuple_param("strides", rank, 1, text)


def _dilation(rank: int) -> Param:
    return _tuple_param("dilation_rate", rank, 1,
                        "Spacing between kernel taps (> 1: a wider view with the same weights, "
                        "'atrous' convolution).")


def _padding(causal: bool = False, transpose: bool = False) -> Param:
    if transpose:
        return Param("padding", "choice", "valid",
                     "'valid': output = input × strides + max(kernel − strides, 0); 'same': "
                     "output = input × strides.", choices=("valid", "same"))
    if causal:
        return Param("padding", "choice", "valid",
                     "'valid': no padding, the output shrinks; 'same': output = ceil(input / "
                     "strides); 'causal': pad on the left only, so step t never sees later steps.",
                     choices=("valid", "same", "causal"))
    return Param("padding", "choice", "valid",
                 "'valid': no padding, the output shrinks; 'same': pad so that output = "
                 "ceil(input / strides).", choices=("valid", "same"))


GROUPS = Param("groups", "int", 1,
               "Split the input channels into this many groups, each convolved separately "
               "(channels and filters must both divide by it).", minimum=1)

DEPTH_MULTIPLIER = Param("depth_multiplier", "int", 1,
                         "How many output channels each input channel gets in the depthwise step.",
                         minimum=1)

LORA_RANK = Param("lora_rank", "int", None,
                  "Fine-tuning with LoRA: freeze the kernel and train a low-rank update of this "
                  "rank instead (none or 0: off).", nullable=True, minimum=0)

LORA_ALPHA = Param("lora_alpha", "float", None,
                   "LoRA scaling: the update is multiplied by lora_alpha / lora_rank (none: "
                   "lora_rank).", nullable=True)


def _output_padding(rank: int) -> Param:
    return _tuple_param("output_padding", rank, 0,
                        "Extra rows/columns added on one side of the output, each < strides "
                        "(none: inferred).", minimum=0, nullable=True)


# --- shared inference helpers ----------------------------------------------------------------


def _layout(rank: int, channels_first: bool) -> str:
    axes = ("batch",) + (("channels",) + _SPATIAL_NAMES[rank] if channels_first
                         else _SPATIAL_NAMES[rank] + ("channels",))
    return "(" + ", ".join(axes) + ")"


def _rank_fix(layer: str, rank: int, shape: Shape, channels_first: bool,
              variants: Callable[[int], str | None]) -> str:
    """What the user can do about an input of the wrong rank."""
    have, want = len(shape), rank + 2
    if have > want:
        other = variants(have - 2)
        if other:
            return f"use {other} for inputs of rank {have} ({_RANK_WORDS[have - 2]})"
        if have == want + 1:
            return f"wrap {layer} in TimeDistributed to apply it to each step, or Reshape the input"
        return f"insert Reshape to rank {want} {_layout(rank, channels_first)} before it"
    sample = shape[1:]

    def with_channel(dims: tuple[int, ...]) -> str:
        target = (1,) + dims if channels_first else dims + (1,)
        return f"insert Reshape to {fmt_shape(target)} before it (one channel)"

    if sample and all(d is not None for d in sample):
        dims: tuple[int, ...] = tuple(d for d in sample if d is not None)
        if have == want - 1:
            return with_channel(dims)
        if have == 2 and rank > 1:
            side = round(dims[0] ** (1 / rank))
            if side > 0 and side ** rank == dims[0]:
                return with_channel((side,) * rank)
    layout = _layout(rank, channels_first).replace("(batch, ", "(")
    return f"insert Reshape to {layout} before it"


def _split(layer: str, rank: int, p: dict[str, Any], shape: Shape,
           variants: Callable[[int], str | None]) -> tuple[Shape, int, bool]:
    """Check the input's rank and channels; return (spatial dims, channels, channels_first)."""
    channels_first = p["data_format"] == "channels_first"
    if len(shape) != rank + 2:
        raise LayerError(
            f"{layer} expects input of rank {rank + 2} {_layout(rank, channels_first)}, "
            f"got {fmt_shape(shape)}",
            _rank_fix(layer, rank, shape, channels_first, variants))
    if channels_first:
        channels, spatial = shape[1], shape[2:]
    else:
        channels, spatial = shape[-1], shape[1:-1]
    if channels is None:
        where = "axis 1, channels_first" if channels_first else "last axis"
        raise LayerError(
            f"{layer} needs a known number of channels ({where}), got {fmt_shape(shape)}",
            "give the input a fixed number of channels")
    return spatial, channels, channels_first


def _join(batch: Dim, spatial: Sequence[Dim], channels: int, channels_first: bool) -> Shape:
    if channels_first:
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def _strided_dilation(p: dict[str, Any]) -> bool:
    return max(p["strides"]) > 1 and max(p["dilation_rate"]) > 1


def _no_strided_dilation(layer: str, p: dict[str, Any]) -> None:
    if _strided_dilation(p):
        raise LayerError(
            f"{layer} cannot combine strides > 1 with dilation_rate > 1 (strides="
            f"{fmt_shape(p['strides'])}, dilation_rate={fmt_shape(p['dilation_rate'])})",
            "set strides to 1 or dilation_rate to 1 (add a pooling layer to downsample)")


class _Window:
    """What a forward convolution's window parameters imply, whatever its input: worked out once
    per parameter values (``_window``), not on every inference."""

    __slots__ = ("size", "spans", "reach", "strided_dilation", "stride_note")

    def __init__(self, kernel_size: tuple[int, ...], strides: tuple[int, ...],
                 dilation_rate: tuple[int, ...], padding: str) -> None:
        self.size = math.prod(kernel_size)
        """Positions in the window (its weights per input and output channel)."""
        self.spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation_rate))
        """The dilated window's length on each axis."""
        self.reach = self.spans if padding == "valid" else (1,) * len(self.spans)
        """Input length each output position consumes on each axis: output length =
        floor((L - reach) / S) + 1, Keras' ``compute_conv_output_shape`` ('same' and 'causal'
        pad the rest: reach 1)."""
        self.strided_dilation = max(strides) > 1 and max(dilation_rate) > 1
        self.stride_note = (
            f"strides {fmt_shape(strides)} are larger than the window "
            f"{fmt_shape(self.spans)}: some input positions are never looked at"
            if any(s > w for s, w in zip(strides, self.spans)) else None)


@lru_cache(maxsize=1024)
def _window_of(kernel_size: tuple[int, ...], strides: tuple[int, ...],
               dilation_rate: tuple[int, ...], padding: str) -> _Window:
    return _Window(kernel_size, strides, dilation_rate, padding)


def _window(p: dict[str, Any]) -> _Window:
    args = p["kernel_size"], p["strides"], p["dilation_rate"], p["padding"]
    try:
        return _window_of(*args)
    except TypeError:  # a value that cannot be a cache key (a list): work it out afresh
        return _Window(*args)


def _conv_spatial(layer: str, shape: Shape, spatial: Sequence[Dim], rank: int,
                  p: dict[str, Any], window: _Window) -> list[Dim]:
    """Output lengths of a forward convolution; refuses empty outputs of 'valid' padding."""
    reach, strides = window.reach, p["strides"]
    if len(spatial) == 2 == len(reach) == len(strides):   # images: without a comprehension
        (n0, n1), (r0, r1), (s0, s1) = spatial, reach, strides
        out = [None if n0 is None else (n0 - r0) // s0 + 1,
               None if n1 is None else (n1 - r1) // s1 + 1]
    else:
        out = [None if n is None else (n - r) // s + 1 for n, r, s in zip(spatial, reach, strides)]
    if p["padding"] == "valid":
        for axis, (n, o) in enumerate(zip(spatial, out)):
            if o is not None and o <= 0:
                span = window.spans[axis]
                raise LayerError(
                    f"{layer} output would be empty: {_SPATIAL_NAMES[rank][axis]} {n} of "
                    f"{fmt_shape(shape)} is smaller than the window ({span} with kernel_size "
                    f"{fmt_shape(p['kernel_size'])} and dilation_rate "
                    f"{fmt_shape(p['dilation_rate'])}), giving {o} with 'valid' padding",
                    "use padding='same', a smaller kernel_size or dilation_rate, or a larger "
                    "input")
    return out


_positions = known_product
"""Positions in one sample's feature map; unknown lengths count as 1."""


def _notes(layer: str, out: Shape, window: _Window | None = None) -> list[str]:
    notes = []
    if 0 in out[1:]:
        notes.append(f"{layer} output {fmt_shape(out)} has a dimension of size 0: it carries no "
                     "data")
    if window is not None and window.stride_note:
        notes.append(window.stride_note)
    return notes


def _conv_name(rank: int) -> str | None:
    return f"Conv{rank}D" if rank in (1, 2, 3) else None


def _transpose_name(rank: int) -> str | None:
    return f"Conv{rank}DTranspose" if rank in (1, 2, 3) else None


def _separable_name(rank: int) -> str | None:
    return f"SeparableConv{rank}D" if rank in (1, 2) else None


def _depthwise_name(rank: int) -> str | None:
    return f"DepthwiseConv{rank}D" if rank in (1, 2) else None


_KEYWORDS = {
    1: ("sequence", "time series", "signal", "audio", "text", "temporal", "1d"),
    2: ("image", "cnn", "vision", "feature map", "2d"),
    3: ("video", "volume", "3d", "medical", "voxel"),
}


# --- Conv1D / Conv2D / Conv3D ----------------------------------------------------------------


def _conv_infer(rank: int) -> Callable[[dict[str, Any], list[Shape]], Inferred]:
    layer = f"Conv{rank}D"

    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        filters, groups = p["filters"], p["groups"]
        if filters % groups:
            raise LayerError(f"{layer}: filters={filters} is not divisible by groups={groups}",
                             f"choose filters that is a multiple of {groups}, or change groups")
        window = _window(p)
        if window.strided_dilation:
            _no_strided_dilation(layer, p)
        if p["lora_rank"] and p["kernel_constraint"] is not None:
            raise LayerError(f"{layer}: LoRA (lora_rank={p['lora_rank']}) cannot be used with a "
                             "kernel_constraint", "remove kernel_constraint or lora_rank")
        if (rank == 2 and len(shape) == 4 and shape[3] and p["data_format"] != "channels_first"
                and not p["lora_rank"]):
            # images, channels last: the usual case, worked out without the general path's
            # calls and slices (an edit of the input infers every such layer of a model)
            batch, n0, n1, channels = shape
            (r0, r1), (s0, s1) = window.reach, p["strides"]
            o0 = None if n0 is None else (n0 - r0) // s0 + 1
            o1 = None if n1 is None else (n1 - r1) // s1 + 1
            if (o0 is None or o0 > 0) and (o1 is None or o1 > 0) and not channels % groups:
                kernel = window.size * (channels // groups) * filters
                bias = filters if p["use_bias"] else 0
                out = (batch, o0, o1, filters)
                positions = (1 if o0 is None else o0) * (1 if o1 is None else o1)
                notes = ([] if window.stride_note is None and filters
                         else _notes(layer, out, window))
                return Inferred([out], kernel + bias, 0, (2 * kernel + bias) * positions, notes)
            # else an empty output or a groups mismatch: the general path says which
        if len(shape) == rank + 2 and p["data_format"] != "channels_first" and shape[-1]:
            spatial, channels, channels_first = shape[1:-1], shape[-1], False   # the usual
        else:
            spatial, channels, channels_first = _split(layer, rank, p, shape, _conv_name)
        if channels % groups:
            divisors = [g for g in range(1, channels + 1) if channels % g == 0][:6]
            raise LayerError(
                f"{layer} with groups={groups} needs input channels divisible by {groups}, got "
                f"{channels} channels in {fmt_shape(shape)}",
                f"choose groups among {', '.join(map(str, divisors))}")
        out_spatial = _conv_spatial(layer, shape, spatial, rank, p, window)
        size = window.size
        kernel = size * (channels // groups) * filters
        bias = filters if p["use_bias"] else 0
        trainable, frozen = kernel + bias, 0
        if p["lora_rank"]:
            r = p["lora_rank"]
            trainable = size * (channels // groups) * r + r * filters + bias
            frozen = kernel
        out = (shape[0], filters, *out_spatial) if channels_first else (
            shape[0], *out_spatial, filters)
        flops = (2 * kernel + bias) * _positions(out_spatial)
        notes = ([] if window.stride_note is None and filters and 0 not in out_spatial
                 else _notes(layer, out, window))    # the usual case, without building them
        return Inferred([out], trainable, frozen, flops, notes)

    return infer


def _make_conv(rank: int) -> LayerSpec:
    return LayerSpec(
        type=f"Conv{rank}D", family=FAMILY,
        help=(f"{rank}-D convolution: slides learned filters over {_RANK_WORDS[rank]}; each "
              "filter gives one output channel."),
        params=(
            _filters(),
            _kernel_size(rank),
            _strides(rank),
            _padding(causal=rank == 1),
            DATA_FORMAT,
            _dilation(rank),
            GROUPS,
            activation_param(),
            use_bias_param(),
            *weight_params("kernel", "glorot_uniform", "kernel (filters)"),
            *weight_params("bias", "zeros", "bias"),
            ACTIVITY_REGULARIZER,
            LORA_RANK,
            LORA_ALPHA,
        ),
        infer=_conv_infer(rank),
        keywords=("convolution", "conv", "filter", "kernel", "feature", "detector")
        + _KEYWORDS[rank],
        key_params=("filters", "kernel_size", "strides", "activation"),
    )


# --- Conv1DTranspose / Conv2DTranspose / Conv3DTranspose -------------------------------------


def _transpose_infer(rank: int) -> Callable[[dict[str, Any], list[Shape]], Inferred]:
    layer = f"Conv{rank}DTranspose"

    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        _no_strided_dilation(layer, p)
        output_padding = p["output_padding"]
        if output_padding is not None and any(
                o >= s for o, s in zip(output_padding, p["strides"])):
            raise LayerError(
                f"{layer}: output_padding {fmt_shape(output_padding)} must be smaller than "
                f"strides {fmt_shape(p['strides'])} on every axis",
                "lower output_padding (or leave it unset)")
        spatial, channels, channels_first = _split(layer, rank, p, shape, _transpose_name)
        pads = output_padding if output_padding is not None else (None,) * rank
        out_spatial = [deconv_length(n, k, p["padding"], s, o, d) for n, k, s, o, d in
                       zip(spatial, p["kernel_size"], p["strides"], pads, p["dilation_rate"])]
        if any(o is not None and o < 0 for o in out_spatial):   # from an empty input
            raise LayerError(
                f"{layer} output would have a negative size: {fmt_shape(out_spatial)} from "
                f"input {fmt_shape(shape)}", "give the layer an input that is not empty")
        filters = p["filters"]
        window = math.prod(p["kernel_size"])
        bias = filters if p["use_bias"] else 0
        out = _join(shape[0], out_spatial, filters, channels_first)
        # Each input position scatters window × filters multiply-adds per input channel.
        flops = (2 * window * channels * filters * _positions(spatial)
                 + bias * _positions(out_spatial))
        return Inferred([out], trainable=window * filters * channels + bias, flops=flops,
                        notes=_notes(layer, out))

    return infer


def _make_transpose(rank: int) -> LayerSpec:
    return LayerSpec(
        type=f"Conv{rank}DTranspose", family=FAMILY,
        help=(f"Transposed {rank}-D convolution ('deconvolution'): learned upsampling of "
              f"{_RANK_WORDS[rank]}, e.g. in decoders and generators."),
        params=(
            _filters(),
            _kernel_size(rank),
            _strides(rank, transpose=True),
            _padding(transpose=True),
            _output_padding(rank),
            DATA_FORMAT,
            _dilation(rank),
            activation_param(),
            use_bias_param(),
            *weight_params("kernel", "glorot_uniform", "kernel (filters)"),
            *weight_params("bias", "zeros", "bias"),
            ACTIVITY_REGULARIZER,
        ),
        infer=_transpose_infer(rank),
        keywords=("deconvolution", "transposed", "upsample", "upsampling", "decoder",
                  "autoencoder", "generator", "gan", "segmentation", "u-net") + _KEYWORDS[rank],
        key_params=("filters", "kernel_size", "strides", "activation"),
    )


# --- SeparableConv1D / SeparableConv2D -------------------------------------------------------


def _separable_infer(rank: int) -> Callable[[dict[str, Any], list[Shape]], Inferred]:
    layer = f"SeparableConv{rank}D"

    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        spatial, channels, channels_first = _split(layer, rank, p, shape, _separable_name)
        window = _window(p)
        out_spatial = _conv_spatial(layer, shape, spatial, rank, p, window)
        filters, multiplier = p["filters"], p["depth_multiplier"]
        depthwise = window.size * channels * multiplier
        pointwise = channels * multiplier * filters
        bias = filters if p["use_bias"] else 0
        out = _join(shape[0], out_spatial, filters, channels_first)
        flops = (2 * depthwise + 2 * pointwise + bias) * _positions(out_spatial)
        return Inferred([out], trainable=depthwise + pointwise + bias, flops=flops,
                        notes=_notes(layer, out, window))

    return infer


def _make_separable(rank: int) -> LayerSpec:
    return LayerSpec(
        type=f"SeparableConv{rank}D", family=FAMILY,
        help=("Depthwise-separable convolution: filters each channel on its own, then mixes "
              "channels with a 1×1 convolution; far fewer weights than a full convolution."),
        params=(
            _filters(),
            _kernel_size(rank),
            _strides(rank),
            _padding(),
            DATA_FORMAT,
            _dilation(rank),
            DEPTH_MULTIPLIER,
            activation_param(),
            use_bias_param(),
            *weight_params("depthwise", "glorot_uniform", "depthwise (per-channel) kernel"),
            *weight_params("pointwise", "glorot_uniform", "pointwise (1×1) kernel"),
            *weight_params("bias", "zeros", "bias"),
            ACTIVITY_REGULARIZER,
        ),
        infer=_separable_infer(rank),
        keywords=("separable", "depthwise", "pointwise", "efficient", "mobile", "xception",
                  "lightweight", "convolution") + _KEYWORDS[rank],
        key_params=("filters", "kernel_size", "strides", "activation"),
    )


# --- DepthwiseConv1D / DepthwiseConv2D -------------------------------------------------------


def _depthwise_infer(rank: int) -> Callable[[dict[str, Any], list[Shape]], Inferred]:
    layer = f"DepthwiseConv{rank}D"

    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        spatial, channels, channels_first = _split(layer, rank, p, shape, _depthwise_name)
        window = _window(p)
        out_spatial = _conv_spatial(layer, shape, spatial, rank, p, window)
        out_channels = channels * p["depth_multiplier"]
        bias = out_channels if p["use_bias"] else 0
        out = _join(shape[0], out_spatial, out_channels, channels_first)
        flops = (2 * window.size * out_channels + bias) * _positions(out_spatial)
        return Inferred([out], trainable=window.size * out_channels + bias, flops=flops,
                        notes=_notes(layer, out, window))

    return infer


def _make_depthwise(rank: int) -> LayerSpec:
    return LayerSpec(
        type=f"DepthwiseConv{rank}D", family=FAMILY,
        help=("Depthwise convolution: filters each input channel on its own (no mixing between "
              "channels); output channels = input channels × depth_multiplier."),
        params=(
            _kernel_size(rank),
            _strides(rank),
            _padding(),
            DEPTH_MULTIPLIER,
            DATA_FORMAT,
            _dilation(rank),
            activation_param(),
            use_bias_param(),
            *weight_params("depthwise", "glorot_uniform", "depthwise (per-channel) kernel"),
            *weight_params("bias", "zeros", "bias"),
            ACTIVITY_REGULARIZER,
        ),
        infer=_depthwise_infer(rank),
        keywords=("depthwise", "per-channel", "channelwise", "mobilenet", "efficient",
                  "lightweight", "convolution") + _KEYWORDS[rank],
        key_params=("kernel_size", "strides", "depth_multiplier", "activation"),
    )


for _rank in (1, 2, 3):
    register(_make_conv(_rank))
for _rank in (1, 2, 3):
    register(_make_transpose(_rank))
for _rank in (1, 2):
    register(_make_separable(_rank))
for _rank in (1, 2):
    register(_make_depthwise(_rank))
