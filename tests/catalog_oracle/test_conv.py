"""Convolution layers against Keras: shapes, parameter counts and refusals over generated cases.

Input shapes are drawn independently of ``data_format``, so the channel axis (last or first) takes
every kind of size: known, 0, unknown, divisible by ``groups`` or not. Ranks are sometimes wrong and
spatial sizes sometimes smaller than the kernel window.
"""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy

from netbuilder.core import catalog

# A spatial or channel size: mostly small known sizes, sometimes 0 or unknown.
dim = st.integers(-3, 10).map(lambda d: None if d < 0 else d)
# A spatial size that a small window fits in most of the time, sometimes unknown.
fitting_dim = st.integers(3, 12).map(lambda d: None if d == 12 else d)


def input_shapes(rank: int, wild: bool) -> st.SearchStrategy[tuple]:
    """Shapes for a layer with ``rank`` spatial axes.

    Wild: mostly the right rank, sometimes not; any axis may be 0 or unknown. Tame: the right
    rank, a known channel count (last or first axis, so channels_first also meets one).
    """
    right = rank + 2
    if not wild:
        channels = st.integers(1, 8)
        return st.one_of(
            st.tuples(st.just(None), *[fitting_dim] * rank, channels),
            st.tuples(st.just(None), channels, *[fitting_dim] * rank))
    return st.sampled_from([right, right, right, right, right - 1, right + 1, 2]).flatmap(
        lambda n: st.tuples(st.just(None), *[dim] * (n - 1)))


def per_axis(rank: int, lo: int, hi: int, invalid: int | None = None) -> st.SearchStrategy:
    """An int or a tuple with one value per axis; sometimes a value Keras refuses."""
    options = [st.integers(lo, hi), st.tuples(*[st.integers(lo, hi)] * rank)]
    if invalid is not None:
        options.append(st.just(invalid))
    return st.one_of(*options)


def common(rank: int, wild: bool) -> dict[str, st.SearchStrategy]:
    if not wild:
        return {
            "filters": st.integers(1, 8),
            "kernel_size": per_axis(rank, 1, 3),
            "strides": per_axis(rank, 1, 2),
            "dilation_rate": per_axis(rank, 1, 2),
            "depth_multiplier": st.integers(1, 3),
            "groups": st.sampled_from([1, 1, 2]),
            "lora_rank": st.none() | st.integers(1, 2),
            "lora_alpha": st.none() | st.floats(0.5, 8),
            "output_padding": st.none() | per_axis(rank, 0, 1),
        }
    return {
        "filters": st.integers(-1, 8),
        "kernel_size": per_axis(rank, 1, 4, invalid=0)
        | st.tuples(*[st.integers(1, 3)] * (rank + 1)),
        "strides": per_axis(rank, 1, 3, invalid=0),
        "dilation_rate": per_axis(rank, 1, 3, invalid=0),
        "depth_multiplier": st.integers(0, 3),
        "groups": st.integers(0, 4),
        "lora_rank": st.none() | st.integers(-1, 3),
        "lora_alpha": st.none() | st.floats(-2, 8),
        "output_padding": st.none() | per_axis(rank, 0, 2, invalid=-1),
    }


def case(layer_type: str, rank: int, data: st.DataObject) -> tuple[dict, tuple]:
    """Parameters over all of the spec's params, and an input shape; both tame or both wild."""
    wild = data.draw(st.booleans(), label="wild")
    spec = catalog.get(layer_type)
    overrides = {k: v for k, v in common(rank, wild).items() if spec.has_param(k)}
    params = data.draw(params_strategy(spec, overrides, invalid=wild), label="params")
    return params, data.draw(input_shapes(rank, wild), label="shape")


def run(layer_type: str, rank: int, data: st.DataObject) -> None:
    params, shape = case(layer_type, rank, data)
    outcome = check_layer(layer_type, params, [shape])
    event("accepted" if outcome.ok else "refused")


@pytest.mark.parametrize("rank", [1, 2, 3])
@given(data=st.data())
def test_conv(rank, data):
    run(f"Conv{rank}D", rank, data)


@pytest.mark.parametrize("rank", [1, 2, 3])
@given(data=st.data())
def test_conv_transpose(rank, data):
    run(f"Conv{rank}DTranspose", rank, data)


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_separable_conv(rank, data):
    run(f"SeparableConv{rank}D", rank, data)


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_depthwise_conv(rank, data):
    run(f"DepthwiseConv{rank}D", rank, data)


# --- fixed cases: Keras' corners, and what the user reads -------------------------------------


@pytest.mark.parametrize("layer_type, params, shape", [
    # causal padding keeps the length even when the window is longer than the input
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
     (None, 3, 2)),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, (None, 8, 3)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, (None, 8, 8, 3)),
    ("Conv2D", {"filters": 4, "data_format": "channels_first"}, (None, 3, 8, 8)),
    ("Conv2D", {"filters": 4, "data_format": "channels_first"}, (None, None, 8, 8)),
    ("Conv2D", {"filters": 6, "groups": 3}, (None, 8, 8, 6)),
    ("Conv2D", {"filters": 6, "groups": 4}, (None, 8, 8, 6)),
    ("Conv2D", {"filters": 4, "groups": 2}, (None, 8, 8, 6)),
    ("Conv2D", {"filters": 4, "strides": 2, "dilation_rate": 2}, (None, 8, 8, 3)),
    ("Conv2D", {"filters": 4}, (None, 8, 8, 0)),
    ("Conv2D", {"filters": 4, "lora_rank": 2}, (None, 8, 8, 3)),
    ("Conv2D", {"filters": 4, "lora_rank": 0, "kernel_constraint": "max_norm"}, (None, 8, 8, 3)),
    ("Conv2D", {"filters": 4, "lora_rank": 2, "kernel_constraint": "max_norm"}, (None, 8, 8, 3)),
    ("Conv3D", {"filters": 2}, (None, 8, 8, 3)),
    # transposed convolutions may output size 0 (even kernel, 'same', output_padding=0)
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 2, "padding": "same",
                         "output_padding": 0}, (None, 1, 1, 3)),
    ("Conv2DTranspose", {"filters": 4, "strides": 2, "output_padding": 2}, (None, 8, 8, 3)),
    ("Conv2DTranspose", {"filters": 4, "strides": 2, "dilation_rate": 2}, (None, 8, 8, 3)),
    ("Conv2DTranspose", {"filters": 4, "dilation_rate": 2, "padding": "same"}, (None, 8, 8, 3)),
    ("Conv1DTranspose", {"filters": 4}, (None, 8, 8, 3)),
    ("Conv3DTranspose", {"filters": 4, "kernel_size": 4, "strides": 3, "output_padding": 2,
                         "padding": "same"}, (None, 3, 4, 5, 2)),
    # depthwise and separable convolutions accept strides > 1 with dilation > 1
    ("DepthwiseConv2D", {"strides": 2, "dilation_rate": 2}, (None, 8, 8, 3)),
    ("SeparableConv2D", {"filters": 4, "strides": 2, "dilation_rate": 2}, (None, 8, 8, 3)),
    ("DepthwiseConv2D", {"depth_multiplier": 2, "data_format": "channels_first"},
     (None, 3, 8, 8)),
    ("SeparableConv1D", {"filters": 4, "padding": "causal"}, (None, 8, 3)),
    ("DepthwiseConv1D", {}, (None, 8, None)),
])
def test_fixed_cases(layer_type, params, shape):
    check_layer(layer_type, params, [shape])


def _infer(layer_type: str, params: dict, shape: tuple):
    spec = catalog.get(layer_type)
    return spec.infer(spec.resolve(params), [shape])


def _error(layer_type: str, params: dict, shape: tuple) -> str:
    with pytest.raises(catalog.CatalogError) as info:
        _infer(layer_type, params, shape)
    return str(info.value)


def test_messages_name_shapes_and_fixes():
    assert _error("Conv2D", {}, (None, 784)) == (
        "Conv2D expects input of rank 4 (batch, height, width, channels), got (None, 784); "
        "insert Reshape to (28, 28, 1) before it (one channel)")
    assert "use Conv3D" in _error("Conv2D", {}, (None, 4, 8, 8, 3))
    assert "Reshape to (100, 1)" in _error("Conv1D", {}, (None, 100))
    message = _error("Conv2D", {}, (None, 2, 2, 3))
    assert "(None, 2, 2, 3)" in message and "padding='same'" in message
    assert "known number of channels" in _error("Conv2D", {}, (None, 8, 8, None))
    assert "groups among 1, 2, 3, 6" in _error("Conv2D", {"filters": 8, "groups": 4},
                                               (None, 8, 8, 6))


def test_flops_and_notes():
    # 2·K·Cin/groups·Cout per output position, plus the bias
    result = _infer("Conv2D", {"filters": 8, "groups": 2}, (None, 10, 10, 4))
    assert result.outputs == [(None, 8, 8, 8)]
    assert result.flops == (2 * 9 * 2 * 8 + 8) * 64
    result = _infer("DepthwiseConv2D", {"use_bias": False}, (None, 5, 5, 3))
    assert result.flops == 2 * 9 * 3 * 9
    result = _infer("SeparableConv1D", {"filters": 4, "use_bias": False}, (None, 5, 3))
    assert result.flops == (2 * 3 * 3 + 2 * 3 * 4) * 3
    result = _infer("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "use_bias": False},
                    (None, 4, 3))
    assert result.outputs == [(None, 6, 2)] and result.flops == 2 * 3 * 3 * 2 * 4
    empty = _infer("Conv2DTranspose", {"kernel_size": 2, "padding": "same", "output_padding": 0},
                   (None, 1, 1, 3))
    assert empty.outputs == [(None, 0, 0, 32)] and empty.notes
    assert _infer("Conv2D", {"kernel_size": 1, "strides": 2}, (None, 8, 8, 3)).notes


def test_every_spec_is_complete():
    for name in ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
                 "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
                 "DepthwiseConv2D"):
        spec = catalog.get(name)
        assert spec.family == "Convolution"
        assert spec.keywords and 1 <= len(spec.key_params) <= 4
        assert all(spec.has_param(k) for k in spec.key_params)
        assert all(p.help for p in spec.params)
