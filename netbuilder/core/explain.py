"""How a layer's output size and parameter count come about, with the actual numbers.

For learners: hovering a Conv2D shows ``height: out = floor((28 − 3 + 2·0) / 1) + 1 = 26`` and
``params = 3·3·1·32 + 32 = 320``. ``explain(graph, node_id)`` gives those lines;
``derivations(graph, node_id)`` gives the same numbers as data (what each line computes, and which
dimension or count of the inference result it must equal), so that tests can check every line the
user reads against the inference engine.

The arithmetic is written the way the course notes write it: ``·`` multiplies, ``−`` subtracts,
``floor``/``ceil`` round, ``max`` picks the larger. Pure Python, no Qt, no Keras.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.catalog.base import CatalogError, Shape
from netbuilder.core.graph import BLOCK_TYPE, Graph, Node

_AXES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


@dataclass(frozen=True)
class Derivation:
    """One computed number: ``lhs = arithmetic = value``.

    ``target`` says what it must equal in the inference result: ``("dim", output, axis)`` (a
    dimension of an output shape, batch axis = 0), ``("params",)`` (the layer's parameter
    count), or ``("part",)`` (an intermediate number, e.g. the depthwise weights).
    """

    label: str
    lhs: str
    arithmetic: str
    value: int
    target: tuple[Any, ...]
    note: str = ""

    def text(self) -> str:
        head = f"{self.label}: " if self.label else ""
        value = f"{self.value:,}"
        body = f"{self.lhs} = {value}" if self.arithmetic == str(self.value) else (
            f"{self.lhs} = {self.arithmetic} = {value}")
        return head + body + (f" ({self.note})" if self.note else "")


@dataclass
class _Explanation:
    lines: list[str | Derivation]

    def say(self, text: str) -> None:
        self.lines.append(text)

    def add(self, label: str, lhs: str, arithmetic: str, value: int, target: tuple[Any, ...],
            note: str = "") -> None:
        self.lines.append(Derivation(label, lhs, arithmetic, value, target, note))


def _num(value: Any) -> str:
    return str(int(value))


def _product(values: Sequence[int]) -> str:
    return "·".join(_num(v) for v in values)


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


# --- the explainers, one per kind of layer ----------------------------------------------------


def _spatial(p: dict[str, Any], shape: Shape, rank: int) -> tuple[list[int], int]:
    """(indices of the spatial axes in ``shape``, index of the channels axis)."""
    if p.get("data_format") == "channels_first":
        return list(range(2, 2 + rank)), 1
    return list(range(1, 1 + rank)), len(shape) - 1


def _kernel_text(k: int, d: int) -> tuple[str, int]:
    """The window's span as arithmetic: ``3``, or ``(2·(3 − 1) + 1)`` with dilation 2."""
    if d == 1:
        return _num(k), k
    return f"({d}·({k} − 1) + 1)", d * (k - 1) + 1


def _known_axes(ex: _Explanation, shape: Shape, rank: int,
                axes: Sequence[int]) -> Iterator[tuple[int, str, int, int]]:
    """Each spatial axis of a fixed size: its position among the spatial axes, its name, its
    index in the shape and its size; an axis of unknown size is said to stay unknown."""
    for i, axis in enumerate(axes):
        name = _AXES[rank][i]
        size = shape[axis]
        if size is None:
            ex.say(f"{name}: out = ? (the input's {name} is not fixed)")
            continue
        yield i, name, axis, size


def _conv_axes(ex: _Explanation, p: dict[str, Any], shape: Shape, rank: int) -> None:
    """Output length along each spatial axis of a forward convolution."""
    axes, _ = _spatial(p, shape, rank)
    padding = p["padding"]
    dilated = any(d > 1 for d in p["dilation_rate"])
    if padding == "valid":
        ex.say("Output size per axis: out = floor((I − K + 2·P)/S) + 1, with input size I, "
               "window K, stride S and padding P = 0 ('valid': no zeros are added)")
        if dilated:
            ex.say("With dilation d the window spans K = d·(k − 1) + 1 inputs")
    else:
        where = "on the left only, so a step never sees later steps" if padding == "causal" \
            else "around the input"
        ex.say(f"Output size per axis: out = ceil(I/S) (padding '{padding}': zeros are added "
               f"{where}, so only the stride S shrinks it)")
    for i, name, axis, size in _known_axes(ex, shape, rank, axes):
        k, s, d = p["kernel_size"][i], p["strides"][i], p["dilation_rate"][i]
        if padding == "valid":
            k_text, span = _kernel_text(k, d)
            value = (size - span) // s + 1
            ex.add(name, "out", f"floor(({size} − {k_text} + 2·0)/{s}) + 1", value,
                   ("dim", 0, axis))
        else:
            ex.add(name, "out", f"ceil({size}/{s})", -(-size // s), ("dim", 0, axis))


def _weights_lines(ex: _Explanation, p: dict[str, Any], kernel: tuple[str, int],
                   lora: tuple[str, int] | None, bias: int, what: str) -> None:
    """The params line: kernel (+ LoRA factors) + bias, each as arithmetic."""
    kernel_text, kernel_value = kernel
    bias_text = f" + {bias}" if bias else ""
    if lora is None:
        ex.add("", "params", f"{kernel_text}{bias_text}", kernel_value + bias, ("params",),
               what if bias else what.split(" + ")[0])
        return
    lora_text, lora_value = lora
    ex.add("", f"frozen {what.split(' + ')[0]}", kernel_text, kernel_value, ("part",),
           "not trained with LoRA")
    ex.add("", "LoRA factors", lora_text, lora_value, ("part",), "trained")
    ex.add("", "params", f"{kernel_value} + {lora_value}{bias_text}",
           kernel_value + lora_value + bias, ("params",))


def _explain_conv(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    rank = int(node.type[4])
    (shape,) = shapes
    _conv_axes(ex, p, shape, rank)
    _, ch_axis = _spatial(p, shape, rank)
    channels = shape[ch_axis]
    filters, groups = p["filters"], p["groups"]
    ex.add("channels", "out", _num(filters), filters, ("dim", 0, ch_axis), "one per filter")
    window = list(p["kernel_size"])
    bias = filters if p["use_bias"] else 0
    assert channels is not None
    c_text = f"({channels}/{groups})" if groups > 1 else _num(channels)
    c_value = channels // groups
    per_group = f" (input channels / groups = {channels}/{groups})" if groups > 1 else ""
    ex.say(f"Parameters: each of the {filters} filters has a "
           f"{'×'.join(str(k) for k in window)}×{c_value} kernel{per_group}"
           + (", plus one bias" if bias else ""))
    kernel = (f"{_product(window)}·{c_text}·{filters}", _prod(window) * c_value * filters)
    lora = None
    if p["lora_rank"]:
        r = p["lora_rank"]
        lora = (f"{_product(window)}·{c_text}·{r} + {r}·{filters}",
                _prod(window) * c_value * r + r * filters)
    _weights_lines(ex, p, kernel, lora, bias, "kernel + bias")


def _explain_transpose(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    rank = int(node.type[4])
    (shape,) = shapes
    axes, ch_axis = _spatial(p, shape, rank)
    padding = p["padding"]
    pads = p["output_padding"]
    dilated = any(d > 1 for d in p["dilation_rate"])
    if pads is None:
        if padding == "valid":
            ex.say("Output size per axis: out = I·S + max(K − S, 0), with input size I, stride "
                   "S and window K (padding 'valid')")
        else:
            ex.say("Output size per axis: out = I·S (padding 'same': the stride S upsamples)")
    else:
        ex.say("Output size per axis: out = (I − 1)·S + K − 2·P + output_padding, with P = "
               + ("floor(K / 2)" if padding == "same" else "0") + f" (padding '{padding}')")
    if dilated:
        ex.say("With dilation d the window spans K = k + (k − 1)·(d − 1) inputs")
    for i, name, axis, size in _known_axes(ex, shape, rank, axes):
        k, s, d = p["kernel_size"][i], p["strides"][i], p["dilation_rate"][i]
        span = k + (k - 1) * (d - 1)
        k_text = _num(k) if d == 1 else f"({k} + ({k} − 1)·({d} − 1))"
        if pads is None:
            if padding == "valid":
                ex.add(name, "out", f"{size}·{s} + max({k_text} − {s}, 0)",
                       size * s + max(span - s, 0), ("dim", 0, axis))
            else:
                ex.add(name, "out", f"{size}·{s}", size * s, ("dim", 0, axis))
        else:
            pad = span // 2 if padding == "same" else 0
            ex.add(name, "out", f"({size} − 1)·{s} + {k_text} − 2·{pad} + {pads[i]}",
                   (size - 1) * s + span - 2 * pad + pads[i], ("dim", 0, axis))
    filters = p["filters"]
    ex.add("channels", "out", _num(filters), filters, ("dim", 0, ch_axis), "one per filter")
    channels = shape[ch_axis]
    assert channels is not None
    window = list(p["kernel_size"])
    bias = filters if p["use_bias"] else 0
    ex.say(f"Parameters: each of the {filters} filters has a "
           f"{'×'.join(str(k) for k in window)}×{channels} kernel"
           + (", plus one bias" if bias else ""))
    _weights_lines(ex, p, (f"{_product(window)}·{channels}·{filters}",
                           _prod(window) * channels * filters), None, bias, "kernel + bias")


def _depthwise_axes(ex: _Explanation, node: Node, shapes: list[Shape],
                    rank: int) -> tuple[int, int]:
    """Explain a depthwise or separable convolution's spatial axes; returns its channel axis
    and its number of input channels."""
    (shape,) = shapes
    _conv_axes(ex, node.params, shape, rank)
    _, ch_axis = _spatial(node.params, shape, rank)
    channels = shape[ch_axis]
    assert channels is not None
    return ch_axis, channels


def _explain_separable(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    ch_axis, channels = _depthwise_axes(ex, node, shapes, int(node.type[len("SeparableConv")]))
    filters, m = p["filters"], p["depth_multiplier"]
    ex.add("channels", "out", _num(filters), filters, ("dim", 0, ch_axis), "one per filter")
    window = list(p["kernel_size"])
    bias = filters if p["use_bias"] else 0
    ex.say(f"Parameters: a {'×'.join(str(k) for k in window)} depthwise window per input "
           f"channel (× depth_multiplier {m}), then a 1×1 pointwise kernel mixing the "
           f"{channels * m} channels into {filters}" + (", plus one bias per filter" if bias
                                                       else ""))
    depthwise = _prod(window) * channels * m
    pointwise = channels * m * filters
    ex.add("", "depthwise", f"{_product(window)}·{channels}·{m}", depthwise, ("part",))
    ex.add("", "pointwise", f"{channels}·{m}·{filters}", pointwise, ("part",))
    bias_text = f" + {bias}" if bias else ""
    ex.add("", "params", f"{depthwise} + {pointwise}{bias_text}", depthwise + pointwise + bias,
           ("params",))


def _explain_depthwise(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    ch_axis, channels = _depthwise_axes(ex, node, shapes, int(node.type[len("DepthwiseConv")]))
    m = p["depth_multiplier"]
    out_channels = channels * m
    ex.add("channels", "out", f"{channels}·{m}", out_channels, ("dim", 0, ch_axis),
           "input channels × depth_multiplier")
    window = list(p["kernel_size"])
    bias = out_channels if p["use_bias"] else 0
    ex.say(f"Parameters: each of the {out_channels} output channels has its own "
           f"{'×'.join(str(k) for k in window)} window" + (", plus one bias" if bias else "")
           + "; channels are not mixed")
    bias_text = f" + {channels}·{m}" if bias else ""
    ex.add("", "params", f"{_product(window)}·{channels}·{m}{bias_text}",
           _prod(window) * out_channels + bias, ("params",))


def _explain_pooling(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    rank = int(node.type[-2])
    (shape,) = shapes
    axes, ch_axis = _spatial(p, shape, rank)
    pool = list(p["pool_size"])
    strides = pool if p["strides"] is None else list(p["strides"])
    what = "largest value" if node.type.startswith("Max") else "average"
    if p["padding"] == "valid":
        ex.say("Output size per axis: out = floor((I − pool)/S) + 1, with input size I and "
               "stride S" + (" (strides not set: S = pool_size)" if p["strides"] is None else ""))
    else:
        ex.say("Output size per axis: out = ceil(I/S) (padding 'same')"
               + (" (strides not set: S = pool_size)" if p["strides"] is None else ""))
    for i, name, axis, size in _known_axes(ex, shape, rank, axes):
        k, s = pool[i], strides[i]
        if p["padding"] == "valid":
            ex.add(name, "out", f"floor(({size} − {k})/{s}) + 1", (size - k) // s + 1,
                   ("dim", 0, axis))
        else:
            ex.add(name, "out", f"ceil({size}/{s})", -(-size // s), ("dim", 0, axis))
    channels = shape[ch_axis]
    if channels is not None:
        ex.add("channels", "out", _num(channels), channels, ("dim", 0, ch_axis), "unchanged")
    ex.add("", "params", "0", 0, ("params",), f"no weights: it keeps the {what} of each window")


def _explain_global_pooling(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    rank = int(node.type[-2])
    (shape,) = shapes
    axes, ch_axis = _spatial(p, shape, rank)
    what = "maximum" if "Max" in node.type else "average"
    dims = " × ".join("?" if shape[a] is None else str(shape[a]) for a in axes)
    ex.say(f"Takes the {what} over all {dims} positions of each channel: one number per channel")
    channels = shape[ch_axis]
    if channels is not None:
        out_axis = 1 if p["data_format"] == "channels_first" or not p["keepdims"] else 1 + rank
        ex.add("channels", "out", _num(channels), channels, ("dim", 0, out_axis), "unchanged")
    ex.add("", "params", "0", 0, ("params",), "no weights")


def _explain_dense(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    (shape,) = shapes
    features = shape[-1]
    assert features is not None
    units = p["units"]
    last = len(shape) - 1
    ex.add("last axis", "out", _num(units), units, ("dim", 0, last), "units")
    bias = units if p["use_bias"] else 0
    ex.say(f"Parameters: a {features}×{units} weight matrix (inputs × units)"
           + (", plus one bias per unit" if bias else ""))
    kernel = (f"{features}·{units}", features * units)
    lora = None
    if p["lora_rank"]:
        r = p["lora_rank"]
        lora = (f"{r}·({features} + {units})", r * (features + units))
    _weights_lines(ex, p, kernel, lora, bias, "weights + bias")


def _explain_flatten(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    (shape,) = shapes
    rest = shape[1:]
    if not rest or any(d is None for d in rest):
        return
    dims = [d for d in rest if d is not None]
    ex.say("Lays each sample out as one vector: out = the product of its dimensions")
    ex.add("vector", "out", _product(dims), _prod(dims), ("dim", 0, 1))
    ex.add("", "params", "0", 0, ("params",), "no weights")


def _explain_batch_norm(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    (shape,) = shapes
    axis = p["axis"] % len(shape)
    size = shape[axis]
    assert size is not None
    ex.say(f"Output: the same shape as the input; each of the {size} features on axis "
           f"{p['axis']} is normalized on its own")
    learned = int(p["scale"]) + int(p["center"])
    names = [n for n, on in (("γ (scale)", p["scale"]), ("β (offset)", p["center"])) if on]
    if learned:
        ex.add("", " and ".join(names), f"{learned}·{size}", learned * size, ("part",),
               "trained")
    stats = 5 if p["renorm"] else 2
    what = ("moving mean, variance and 3 renorm vectors" if p["renorm"]
            else "moving mean and variance")
    ex.add("", what, f"{stats}·{size}", stats * size, ("part",), "not trained")
    if learned:
        ex.add("", "params", f"{learned * size} + {stats * size}", (learned + stats) * size,
               ("params",))
    else:
        ex.add("", "params", f"{stats}·{size}", stats * size, ("params",))


def _explain_embedding(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    (shape,) = shapes
    vocab, dim = p["input_dim"], p["output_dim"]
    ex.say("Each integer index becomes a row of a table: out = the input shape + (output_dim,)")
    ex.add("last axis", "out", _num(dim), dim, ("dim", 0, len(shape)), "output_dim")
    ex.say(f"Parameters: a table with one row of {dim} numbers per index (input_dim = {vocab})")
    kernel = (f"{vocab}·{dim}", vocab * dim)
    lora = None
    if p["lora_rank"]:
        r = p["lora_rank"]
        lora = (f"{r}·({vocab} + {dim})", r * (vocab + dim))
    _weights_lines(ex, p, kernel, lora, 0, "table")


_GATES = {"SimpleRNN": (1, ""), "GRU": (3, " (update, reset, candidate)"),
          "LSTM": (4, " (input, forget, cell, output)")}


def _explain_rnn(ex: _Explanation, node: Node, shapes: list[Shape]) -> None:
    p = node.params
    (shape,) = shapes
    features = shape[2]
    assert features is not None
    units = p["units"]
    gates, names = _GATES[node.type]
    if p["return_sequences"]:
        ex.say("return_sequences: one output per time step, out = (timesteps, units)")
        if shape[1] is not None:
            ex.add("timesteps", "out", _num(shape[1]), shape[1], ("dim", 0, 1), "unchanged")
        ex.add("last axis", "out", _num(units), units, ("dim", 0, 2), "units")
    else:
        ex.say("Only the last step's output: out = (units,)")
        ex.add("", "out", _num(units), units, ("dim", 0, 1), "units")
    doubled = node.type == "GRU" and p["reset_after"] and p["use_bias"]
    bias_text = ""
    if p["use_bias"]:
        bias_text = f" + 2·{units}" if doubled else f" + {units}"
    what = f"{gates} weight set{'s' if gates > 1 else ''}{names}"
    ex.say(f"Parameters: {what}, each with an input matrix F×U ({features}×{units}), a "
           f"recurrent matrix U×U ({units}×{units})"
           + (", and two biases (reset_after)" if doubled else ", and a bias"
              if p["use_bias"] else ""))
    per_gate = features * units + units * units + (units * (2 if doubled else 1)
                                                   if p["use_bias"] else 0)
    ex.add("", "params", f"{gates}·({features}·{units} + {units}·{units}{bias_text})",
           gates * per_gate, ("params",))


def _explainer(layer_type: str) -> Callable[[_Explanation, Node, list[Shape]], None] | None:
    if layer_type in ("Conv1D", "Conv2D", "Conv3D"):
        return _explain_conv
    if layer_type in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        return _explain_transpose
    if layer_type in ("SeparableConv1D", "SeparableConv2D"):
        return _explain_separable
    if layer_type in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return _explain_depthwise
    if layer_type[:-2] in ("MaxPooling", "AveragePooling"):
        return _explain_pooling
    if layer_type[:-2] in ("GlobalMaxPooling", "GlobalAveragePooling"):
        return _explain_global_pooling
    return {"Dense": _explain_dense, "Flatten": _explain_flatten,
            "BatchNormalization": _explain_batch_norm, "Embedding": _explain_embedding,
            "LSTM": _explain_rnn, "GRU": _explain_rnn, "SimpleRNN": _explain_rnn,
            }.get(layer_type)


def explains(layer_type: str) -> bool:
    """Whether ``explain`` has something to say about layers of this type."""
    return _explainer(layer_type) is not None


def _explanation(graph: Graph, node_id: str) -> _Explanation | None:
    node = graph.node(node_id)
    if node.type == BLOCK_TYPE:
        return None
    explainer = _explainer(node.type)
    result = graph.inference.results.get(node_id)
    if explainer is None or result is None or not result.ok:
        return None
    shapes: list[Shape] = []
    for edge in graph.in_edges(node_id):
        upstream = graph.inference.results.get(edge.src)
        if upstream is None or upstream.outputs is None or edge.src_port >= len(upstream.outputs):
            return None
        shapes.append(upstream.outputs[edge.src_port])
    if len(shapes) != 1:  # every layer explained here takes one tensor
        return None
    try:  # mid-batch the node's result can be stale: explain only what the layer accepts now
        catalog.get(node.type).infer(node.params, shapes)
    except CatalogError:
        return None
    ex = _Explanation([])
    explainer(ex, node, shapes)
    return ex


def derivations(graph: Graph, node_id: str) -> list[Derivation]:
    """The numbers ``explain`` shows for ``node_id``, as data."""
    ex = _explanation(graph, node_id)
    return [line for line in ex.lines if isinstance(line, Derivation)] if ex else []


def explain(graph: Graph, node_id: str) -> list[str]:
    """How ``node_id``'s output size and parameter count were computed, line by line, with the
    actual numbers; empty for layers it does not cover and for invalid or blocked layers."""
    ex = _explanation(graph, node_id)
    if ex is None:
        return []
    return [line.text() if isinstance(line, Derivation) else line for line in ex.lines]
