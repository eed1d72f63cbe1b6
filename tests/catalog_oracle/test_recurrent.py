"""Recurrent layers against Keras: shapes (with return_state's extra outputs), parameter counts and
refusals over generated cases."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy

from netbuilder.core import catalog

RNNS = ("SimpleRNN", "LSTM", "GRU")



def mostly(common, rare, odds=5):
    """``common`` about ``odds`` times as often as ``rare``."""
    return st.sampled_from([False] * odds + [True]).flatmap(lambda r: rare if r else common)


batch = mostly(st.none(), st.integers(1, 4), odds=2)
dim = mostly(st.integers(1, 7), st.none())


def sequence_shapes(odd_ranks=(2, 4)):
    """Mostly (batch, timesteps, features), sometimes another rank; batch sometimes fixed (for
    stateful), any dim sometimes unknown."""
    return mostly(st.just(3), st.sampled_from(odd_ranks)).flatmap(
        lambda r: st.tuples(batch, *[dim] * (r - 1)))


def rnn_params(layer_type, invalid=True):
    overrides = {
        "units": mostly(st.integers(1, 9), st.integers(-1, 0)) if invalid else st.integers(1, 9),
        "dropout": st.floats(-0.5, 1.5),
        "recurrent_dropout": st.floats(-0.5, 1.5),
        "seed": st.none() | st.integers(-5, 100),
    }
    spec = catalog.get(layer_type)
    return params_strategy(spec, overrides, invalid=invalid)


@pytest.mark.parametrize("layer_type", RNNS)
@given(data=st.data())
def test_rnn(layer_type, data):
    params = data.draw(rnn_params(layer_type), label="params")
    shape = data.draw(sequence_shapes(), label="shape")
    check_layer(layer_type, params, [shape])


def conv_lstm_shapes(rank):
    """Mostly rank + 3 (batch, time, spatial..., channels), sometimes one rank off."""
    spatial = mostly(st.integers(1, 9), st.none(), odds=12)
    return mostly(st.just(rank + 3), st.sampled_from((rank + 2, rank + 4)), odds=8).flatmap(
        lambda r: st.tuples(batch, st.integers(1, 3) | st.none(),
                            *[spatial] * (r - 3), mostly(st.integers(1, 3), st.none())))


@pytest.mark.parametrize("rank", (1, 2, 3))
@given(data=st.data())
def test_conv_lstm(rank, data):
    small = st.integers(1, 4)
    stride = st.integers(1, 3)
    spec = catalog.get(f"ConvLSTM{rank}D")
    params = data.draw(params_strategy(spec, {
        "filters": mostly(st.integers(0, 4), st.just(-1)),
        "kernel_size": mostly(small | st.tuples(*[small] * rank), st.just(0)),
        "strides": mostly(stride | st.tuples(*[stride] * rank), st.just(0)),
        "dilation_rate": mostly(st.just(1), st.integers(1, 2) | st.tuples(
            *[st.integers(1, 2)] * rank), odds=2),
        "dropout": st.floats(-0.5, 1.5),
        "recurrent_dropout": st.floats(-0.5, 1.5),
    }), label="params")
    shape = data.draw(conv_lstm_shapes(rank), label="shape")
    check_layer(f"ConvLSTM{rank}D", params, [shape])


def inner_layers():
    """A wrapped layer: mostly a valid RNN, sometimes go_backwards, a ConvLSTM, a non-RNN."""
    rnn = st.sampled_from(RNNS).flatmap(
        lambda t: rnn_params(t, invalid=False).map(lambda p: {"type": t, "params": p}))
    conv = st.just({"type": "ConvLSTM1D", "params": {"filters": 2, "kernel_size": 2}})
    other = st.sampled_from([{"type": "Dense", "params": {"units": 3}},
                             {"type": "LSTM", "params": {"units": 0}}])
    return st.one_of(rnn, rnn, rnn, conv, other)


@given(inner_layers(), st.sampled_from(("concat", "sum", "mul", "ave", None)),
       sequence_shapes((4,)))
def test_bidirectional(layer, merge_mode, shape):
    check_layer("Bidirectional", {"layer": layer, "merge_mode": merge_mode}, [shape])


# Named cases that the generated ones must not miss.
CASES = [
    ("LSTM", {"units": 4, "return_state": True}, (None, 5, 3)),
    ("LSTM", {"units": 4, "return_state": True, "return_sequences": True}, (None, None, 3)),
    ("GRU", {"units": 4, "reset_after": False}, (None, 5, 3)),
    ("GRU", {"units": 4, "reset_after": True, "return_state": True}, (None, 5, 3)),
    ("SimpleRNN", {"units": 4, "stateful": True}, (None, 5, 3)),
    ("SimpleRNN", {"units": 4, "stateful": True, "return_state": True}, (2, 5, 3)),
    ("LSTM", {"units": 4}, (None, 5, None)),
    ("LSTM", {"units": 4}, (None, 5)),
    ("LSTM", {"units": 4, "unroll": True}, (None, None, 3)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "return_state": True}, (None, 4, 8, 8, 3)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "data_format": "channels_first",
                    "return_sequences": True}, (None, None, 3, 8, 8)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 9}, (None, 4, 8, 8, 3)),
    ("ConvLSTM2D", {"filters": 2}, (None, 4, 8, None, 3)),
    ("ConvLSTM1D", {"filters": 2, "strides": 2, "dilation_rate": 2}, (None, 4, 8, 3)),
    ("Bidirectional", {"layer": {"type": "LSTM", "params": {"units": 4, "return_state": True}},
                       "merge_mode": None}, (None, 5, 3)),
    ("Bidirectional", {"layer": {"type": "GRU", "params": {"units": 4, "return_state": True,
                                                             "return_sequences": True}}},
     (None, 5, 3)),
    ("Bidirectional", {"layer": {"type": "LSTM", "params": {"units": 4, "go_backwards": True}}},
     (None, 5, 3)),
    ("Bidirectional", {"layer": {"type": "LSTM", "params": {"units": 4, "stateful": True}}},
     (None, 5, 3)),
    ("Bidirectional", {"layer": {"type": "ConvLSTM2D", "params": {
        "filters": 2, "data_format": "channels_first", "return_sequences": True}}},
     (None, 2, 3, 8, 8)),
    ("Bidirectional", {"layer": {"type": "Dense", "params": {"units": 4}}}, (None, 5, 3)),
    ("Bidirectional", {"layer": {"type": "GRU", "params": {"units": 4, "stateful": True}}},
     (2, 5, 3)),
    ("Bidirectional", {"layer": {"type": "GRU", "params": {
        "units": 4, "stateful": True, "return_state": True}}}, (2, 5, 3)),
]


@pytest.mark.parametrize("layer_type, params, shape", CASES)
def test_named_cases(layer_type, params, shape):
    check_layer(layer_type, params, [shape])


def test_outputs_follow_keras_order():
    lstm = catalog.get("LSTM")
    out = lstm.infer(lstm.resolve({"units": 4, "return_state": True,
                                   "return_sequences": True}), [(None, 7, 3)])
    assert out.outputs == [(None, 7, 4), (None, 4), (None, 4)]
    bi = catalog.get("Bidirectional")
    out = bi.infer(bi.resolve({"layer": {"type": "GRU", "params": {
        "units": 4, "return_state": True}}, "merge_mode": None}), [(None, 7, 3)])
    assert out.outputs == [(None, 4), (None, 4), (None, 4), (None, 4)]
    gru = catalog.get("GRU")
    assert gru.infer(gru.resolve({"units": 4}), [(None, 7, 3)]).trainable == 3 * (
        3 * 4 + 4 * 4) + 2 * 3 * 4
