"""Recurrent layers: SimpleRNN, LSTM, GRU, ConvLSTM1D/2D/3D and the Bidirectional wrapper.

A recurrent layer reads a sequence ``(batch, timesteps, features)`` one step at a time, carrying a
state from step to step. It returns the last output ``(batch, units)``, or every step's output
``(batch, timesteps, units)`` with ``return_sequences``; ``return_state`` adds its final states as
extra outputs (one for SimpleRNN and GRU, two, ``h`` and ``c``, for LSTM and ConvLSTM).
"""

from __future__ import annotations

from typing import Any

from netbuilder.core.catalog.base import (
    Inferred,
    LayerError,
    LayerSpec,
    Param,
    Shape,
    fmt_shape,
    register,
    registry,
)
from netbuilder.core.catalog.conv_arithmetic import conv_length
from netbuilder.core.catalog.shared_params import (
    ACTIVITY_REGULARIZER,
    DATA_FORMAT,
    PADDING,
    SEED,
    activation_param,
    use_bias_param,
    weight_params,
)

FAMILY = "Recurrent"

# --- parameters shared by every recurrent layer -----------------------------------------------


def _recurrent_activation() -> Param:
    return Param("recurrent_activation", "activation", "sigmoid",
                 "Function of the gates (how much to forget, update, output); usually sigmoid.")


def _dropout_params() -> tuple[Param, ...]:
    # Keras clamps both rates into [0, 1] instead of refusing other numbers, so no bounds here.
    return (
        Param("dropout", "float", 0.0,
              "During training, fraction of the inputs dropped at each step (0 to 1)."),
        Param("recurrent_dropout", "float", 0.0,
              "During training, fraction of the carried state dropped at each step (0 to 1)."),
    )


def _sequence_params(unroll: bool = True) -> tuple[Param, ...]:
    params = (
        Param("return_sequences", "bool", False,
              "Output every time step (batch, timesteps, units) instead of only the last one; "
              "needed to stack another recurrent layer on top."),
        Param("return_state", "bool", False,
              "Also output the final state(s), e.g. to start a decoder from them."),
        Param("go_backwards", "bool", False,
              "Read the sequence from its end to its start (and return it reversed)."),
        Param("stateful", "bool", False,
              "Carry the last state of each sample over to the same sample of the next batch; "
              "needs a fixed batch size on the Input."),
    )
    if unroll:
        params += (Param("unroll", "bool", False,
                         "Unroll the loop into a copy per step: faster for short sequences, more "
                         "memory; needs a fixed number of timesteps."),)
    return params


USE_CUDNN = Param("use_cudnn", "choice", "auto",
                  "Use the fast cuDNN kernel on a GPU: 'auto' when possible, True to insist "
                  "(fails if it cannot be used), False never.", choices=("auto", True, False))

UNIT_FORGET_BIAS = Param("unit_forget_bias", "bool", True,
                         "Start the forget gate's bias at 1 so the cell remembers by default "
                         "(recommended).")


def _units_param() -> Param:
    return Param("units", "int", 32, "Size of the output and of the state (number of units).",
                 minimum=1, required=True)


# --- shared inference -------------------------------------------------------------------------

# Weight sets per recurrent type: SimpleRNN one, GRU three (update, reset, candidate), LSTM four
# (input, forget, cell, output).
_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}
_STATES = {"SimpleRNN": 1, "GRU": 1, "LSTM": 2}


def _clamp_notes(p: dict[str, Any]) -> list[str]:
    notes = []
    for name in ("dropout", "recurrent_dropout"):
        value = p[name]
        if value < 0.0 or value > 1.0:
            notes.append(f"Keras clamps `{name}` into 0..1: {value:g} acts as "
                         f"{min(1.0, max(0.0, value)):g}")
    return notes


def _check_stateful(layer: str, p: dict[str, Any], shape: Shape) -> None:
    if p["stateful"] and shape[0] is None:
        raise LayerError(
            f"{layer} with stateful=True needs a fixed batch size, got {fmt_shape(shape)}",
            "set batch_size on the Input, or turn stateful off")


def _sequence_outputs(p: dict[str, Any], batch: Any, steps: Any, step_shape: Shape,
                      states: int) -> list[Shape]:
    """Outputs in Keras' order: the output (last step or every step), then each final state."""
    out = (batch, steps) + step_shape if p["return_sequences"] else (batch,) + step_shape
    outputs = [out]
    if p["return_state"]:
        outputs += [(batch,) + step_shape] * states
    return outputs


def _infer_rnn(layer: str, p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    (shape,) = inputs
    if len(shape) != 3:
        fix = ("insert Reshape to (timesteps, features) before it" if len(shape) == 2
               else "insert Reshape (or TimeDistributed(Flatten)) to get (timesteps, features)")
        raise LayerError(
            f"{layer} expects a sequence of rank 3 (batch, timesteps, features), got "
            f"{fmt_shape(shape)}", fix)
    batch, steps, features = shape
    if features is None:
        raise LayerError(
            f"{layer} needs a known number of features (last axis), got {fmt_shape(shape)}",
            "give the input a fixed last dimension")
    _check_stateful(layer, p, shape)
    units = p["units"]
    gates = _GATES[layer]
    weights = gates * (features * units + units * units)
    if p["use_bias"]:
        doubled = layer == "GRU" and p["reset_after"]
        weights += gates * units * (2 if doubled else 1)
    step_flops = 2 * gates * units * (features + units) + 4 * gates * units
    notes = _clamp_notes(p)
    if p["unroll"] and steps is None:
        notes.append(f"unroll=True needs a known number of timesteps; {layer} will fail when "
                     f"run on {fmt_shape(shape)}")
    if p.get("use_cudnn") is True:
        notes.append("use_cudnn=True fails unless a GPU is present and the layer is cuDNN-"
                     "compatible (tanh/sigmoid activations, bias, no recurrent_dropout, no "
                     "unroll); 'auto' falls back silently")
    return Inferred(_sequence_outputs(p, batch, steps, (units,), _STATES[layer]),
                    trainable=weights, flops=step_flops * (steps or 1), notes=notes)


# --- SimpleRNN, LSTM, GRU ---------------------------------------------------------------------

_RNN_KEYWORDS = ("recurrent", "rnn", "sequence", "time series", "text", "memory", "temporal")

register(LayerSpec(
    type="SimpleRNN", family=FAMILY,
    help="Basic recurrent layer: each step mixes the input with the previous output (short "
         "memory).",
    params=(
        _units_param(),
        activation_param("tanh"),
        use_bias_param(),
        *weight_params("kernel", "glorot_uniform", "input weight matrix"),
        *weight_params("recurrent", "orthogonal", "recurrent (state) weight matrix"),
        *weight_params("bias", "zeros", "bias"),
        ACTIVITY_REGULARIZER,
        *_dropout_params(),
        *_sequence_params(),
        SEED,
    ),
    infer=lambda p, inputs: _infer_rnn("SimpleRNN", p, inputs),
    keywords=_RNN_KEYWORDS + ("elman",),
    key_params=("units", "return_sequences"),
))

register(LayerSpec(
    type="LSTM", family=FAMILY,
    help="Long short-term memory: a recurrent layer with gates that keep information over long "
         "sequences.",
    params=(
        _units_param(),
        activation_param("tanh"),
        _recurrent_activation(),
        use_bias_param(),
        *weight_params("kernel", "glorot_uniform", "input weight matrix"),
        *weight_params("recurrent", "orthogonal", "recurrent (state) weight matrix"),
        *weight_params("bias", "zeros", "bias"),
        UNIT_FORGET_BIAS,
        ACTIVITY_REGULARIZER,
        *_dropout_params(),
        SEED,
        *_sequence_params(),
        USE_CUDNN,
    ),
    infer=lambda p, inputs: _infer_rnn("LSTM", p, inputs),
    keywords=_RNN_KEYWORDS + ("long short-term memory", "gates", "language"),
    key_params=("units", "return_sequences"),
))

register(LayerSpec(
    type="GRU", family=FAMILY,
    help="Gated recurrent unit: a lighter LSTM (two gates, one state) for sequences.",
    params=(
        _units_param(),
        activation_param("tanh"),
        _recurrent_activation(),
        use_bias_param(),
        *weight_params("kernel", "glorot_uniform", "input weight matrix"),
        *weight_params("recurrent", "orthogonal", "recurrent (state) weight matrix"),
        *weight_params("bias", "zeros", "bias"),
        ACTIVITY_REGULARIZER,
        *_dropout_params(),
        SEED,
        *_sequence_params(),
        Param("reset_after", "bool", True,
              "Apply the reset gate after the recurrent product (Keras' and cuDNN's default; "
              "uses two bias vectors) instead of before it."),
        USE_CUDNN,
    ),
    infer=lambda p, inputs: _infer_rnn("GRU", p, inputs),
    keywords=_RNN_KEYWORDS + ("gated recurrent unit", "gates", "language"),
    key_params=("units", "return_sequences"),
))


# --- ConvLSTM1D/2D/3D -------------------------------------------------------------------------

_AXES = {1: "width", 2: "height, width", 3: "depth, height, width"}


def _make_infer_conv_lstm(rank: int) -> Any:
    layer = f"ConvLSTM{rank}D"

    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        channels_first = p["data_format"] == "channels_first"
        axes = _AXES[rank]
        if len(shape) != rank + 3:
            want = (f"(batch, time, channels, {axes})" if channels_first
                    else f"(batch, time, {axes}, channels)")
            raise LayerError(
                f"{layer} expects input of rank {rank + 3} {want}, got {fmt_shape(shape)}",
                "insert Reshape (or TimeDistributed) to get one image per time step")
        batch, steps = shape[0], shape[1]
        step = shape[2:]
        spatial, channels = (step[1:], step[0]) if channels_first else (step[:-1], step[-1])
        if any(d is None for d in spatial):
            raise LayerError(
                f"{layer} needs known spatial sizes ({axes}), got {fmt_shape(shape)}",
                "give the input fixed spatial dimensions")
        if channels is None:
            raise LayerError(
                f"{layer} needs a known number of channels, got {fmt_shape(shape)}",
                "give the input a fixed channel dimension")
        kernel, strides, dilation = p["kernel_size"], p["strides"], p["dilation_rate"]
        if max(strides) > 1 and max(dilation) > 1:
            raise LayerError(
                f"{layer}: strides {fmt_shape(strides)} > 1 cannot be combined with "
                f"dilation_rate {fmt_shape(dilation)} > 1",
                "set strides to 1 or dilation_rate to 1")
        out_spatial = tuple(
            conv_length(n, k, p["padding"], s, d)
            for n, k, s, d in zip(spatial, kernel, strides, dilation))
        if p["padding"] == "valid" and any(n is not None and n <= 0 for n in out_spatial):
            raise LayerError(
                f"{layer}: kernel {fmt_shape(kernel)} (dilation {fmt_shape(dilation)}) does "
                f"not fit in the input {fmt_shape(shape)}: output size would be "
                f"{fmt_shape(out_spatial)}",
                "use padding='same', a smaller kernel_size, or a larger input")
        _check_stateful(layer, p, shape)
        filters = p["filters"]
        window = 1
        for k in kernel:
            window *= k
        weights = window * (channels + filters) * 4 * filters + (4 * filters if p["use_bias"]
                                                                  else 0)
        positions = 1
        for n in out_spatial:
            positions *= n or 1
        step_flops = positions * (2 * window * (channels + filters) * 4 * filters + 12 * filters)
        step_shape = (filters,) + out_spatial if channels_first else out_spatial + (filters,)
        return Inferred(_sequence_outputs(p, batch, steps, step_shape, 2), trainable=weights,
                        flops=step_flops * (steps or 1), notes=_clamp_notes(p))

    return infer


def _conv_lstm_spec(rank: int) -> LayerSpec:
    default_kernel = 3
    return LayerSpec(
        type=f"ConvLSTM{rank}D", family=FAMILY,
        help=("LSTM whose gates are convolutions: reads a sequence of "
              + {1: "1D signals", 2: "images", 3: "volumes"}[rank]
              + " (e.g. video frames) and keeps a spatial memory."),
        params=(
            Param("filters", "int", 16, "Number of output channels (feature maps).", minimum=0,
                  required=True),
            Param("kernel_size", "ints", (default_kernel,) * rank,
                  "Size of the convolution window.", length=rank, minimum=1, required=True),
            Param("strides", "ints", (1,) * rank, "Step of the window over the input.",
                  length=rank, minimum=1),
            PADDING,
            DATA_FORMAT,
            Param("dilation_rate", "ints", (1,) * rank,
                  "Spacing between kernel elements (> 1: a wider view, same weight count).",
                  length=rank, minimum=1),
            activation_param("tanh"),
            _recurrent_activation(),
            use_bias_param(),
            *weight_params("kernel", "glorot_uniform", "input kernel"),
            *weight_params("recurrent", "orthogonal", "recurrent (state) kernel"),
            *weight_params("bias", "zeros", "bias"),
            UNIT_FORGET_BIAS,
            ACTIVITY_REGULARIZER,
            *_dropout_params(),
            SEED,
            *_sequence_params(unroll=False),
        ),
        infer=_make_infer_conv_lstm(rank),
        keywords=("recurrent", "convolution", "video", "frames", "sequence", "spatiotemporal",
                  "lstm", "memory"),
        key_params=("filters", "kernel_size", "return_sequences"),
    )


for _rank in (1, 2, 3):
    register(_conv_lstm_spec(_rank))


# --- Bidirectional ----------------------------------------------------------------------------

WRAPPABLE = ("SimpleRNN", "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


def _infer_bidirectional(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    inner = p["layer"]
    kind = inner["type"]
    if kind not in WRAPPABLE:
        raise LayerError(
            f"Bidirectional wraps a recurrent layer ({', '.join(WRAPPABLE)}), got {kind}",
            "set layer to e.g. {'type': 'LSTM', 'params': {'units': 32}}")
    spec = registry()[kind]  # a wrappable layer, registered by this module
    resolved = spec.resolve(inner.get("params") or {})
    if resolved["go_backwards"]:
        raise LayerError(
            f"Bidirectional makes the backward copy itself; its inner {kind} must have "
            "go_backwards=False", "turn go_backwards off in the wrapped layer")
    result = spec.infer(resolved, inputs)
    if resolved["stateful"] and resolved["return_state"]:
        # Keras 3 fails here (Bidirectional.compute_mask multiplies a generator).
        raise LayerError(
            f"Keras cannot build Bidirectional around a {kind} with both stateful=True and "
            "return_state=True", "turn off stateful or return_state in the wrapped layer")
    out, states = result.outputs[0], result.outputs[1:]
    merge = p["merge_mode"]
    if merge is None:
        outputs = [out, out]
    elif merge == "concat":
        last = out[-1]
        outputs = [out[:-1] + (None if last is None else 2 * last,)]
    else:
        outputs = [out]
    outputs += states + states
    size = 1
    for d in out[1:]:
        size *= d or 1
    notes = [f"inner {kind}: {n}" for n in result.notes]
    if merge == "concat" and kind.startswith("ConvLSTM") and resolved["data_format"] == \
            "channels_first":
        notes.append("merge_mode='concat' joins the two directions on the last axis, which "
                     "with channels_first is the width, not the channels")
    return Inferred(outputs, trainable=2 * result.trainable,
                    non_trainable=2 * result.non_trainable,
                    flops=2 * result.flops + (size if merge is not None else 0), notes=notes)


register(LayerSpec(
    type="Bidirectional", family=FAMILY,
    help="Runs a recurrent layer over the sequence both forwards and backwards and merges the "
         "two results.",
    params=(
        Param("layer", "layer", {"type": "LSTM", "params": {"units": 32}},
              "The recurrent layer to run in both directions (a backward copy is made from it).",
              required=True),
        Param("merge_mode", "choice", "concat",
              "How to combine the two directions: 'concat' (twice the features), 'sum', 'mul', "
              "'ave', or None (return both separately).",
              choices=("concat", "sum", "mul", "ave", None)),
    ),
    infer=_infer_bidirectional,
    keywords=("bidirectional", "birnn", "bilstm", "recurrent", "sequence", "both directions",
              "text", "wrapper"),
    key_params=("layer", "merge_mode"),
))
