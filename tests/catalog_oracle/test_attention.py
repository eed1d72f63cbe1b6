"""Attention layers against Keras: shapes, parameter counts and refusals over generated query /
value / key shapes and parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy

from netbuilder.core import catalog
from netbuilder.core.catalog.base import LayerError

DIM = st.sampled_from([1, 2, 3, 5, None])
FEATURES = st.sampled_from([2, 3, 4, 6, None])
BATCH = st.sampled_from([None, None, None, None, 3])


def _seq(rank: int, steps: tuple | None = None) -> st.SearchStrategy[tuple]:
    """(batch, *steps, features) with ``rank`` axes in all; ``steps`` fixed when given."""
    if rank == 1:
        return st.tuples(st.sampled_from([None, 2, 3]))
    middle = st.just(steps) if steps is not None else st.tuples(*[DIM] * (rank - 2))
    return st.tuples(BATCH, middle, FEATURES).map(lambda t: (t[0], *t[1], t[2]))


def qvk_shapes(four: bool = True) -> st.SearchStrategy[list[tuple]]:
    """[query, value] or [query, value, key]: key mostly shaped like value except features,
    sometimes with other steps or rank; ranks 1 to 5; now and then 1 input, or 4 when ``four``
    (MultiHeadAttention takes named inputs, which cannot express a fourth)."""
    def for_value(value: tuple) -> st.SearchStrategy[list[tuple]]:
        rank = len(value)
        key_like = _seq(rank, tuple(value[1:-1])) if rank > 1 else st.just(value)
        key = st.one_of(key_like, key_like, st.integers(1, 4).flatmap(_seq))
        query = st.one_of(st.integers(2, 4).flatmap(_seq), _seq(rank) if rank > 1 else _seq(2),
                          st.integers(1, 5).flatmap(_seq))
        return st.one_of(
            st.tuples(query).map(lambda q: [q[0], value]),
            st.tuples(query, key).map(lambda qk: [qk[0], value, qk[1]]),
            st.tuples(query, key).map(lambda qk: [qk[0], value, qk[1], value])
            if four else st.tuples(query).map(lambda q: [q[0], value]),
            st.just([value]),
        )
    value = st.one_of(_seq(3), st.integers(1, 5).flatmap(_seq))
    return value.flatmap(for_value)


MHA = catalog.get("MultiHeadAttention")


@given(params_strategy(MHA, {
    "num_heads": st.sampled_from([1, 2, 3, 4, 0]),
    "key_dim": st.sampled_from([1, 2, 3, 5, 0]),
    "value_dim": st.sampled_from([None, 1, 2, 4, 0]),
    "dropout": st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0, 1.5, -0.5]),
    "output_shape": st.sampled_from([None, (), (3,), (2, 3), (0,), (4,), (-1,)]),
    "attention_axes": st.none() | st.integers(-9, 5)
    | st.lists(st.integers(-4, 4), min_size=1, max_size=2),
    "sliding_window": st.sampled_from([None, 1, 3, 0]),
    "flash_attention": st.sampled_from([None, None, False, True]),
    "seed": st.none() | st.integers(0, 9),
}), qvk_shapes(four=False))
def test_multi_head_attention(params, shapes):
    check_layer("MultiHeadAttention", params, shapes)


@given(params_strategy(catalog.get("Attention"), {
    "score_mode": st.sampled_from(["dot", "dot", "concat", "concat", "general"]),
    "dropout": st.floats(-0.5, 1.5),
    "seed": st.none() | st.integers(0, 9),
}), qvk_shapes())
def test_attention(params, shapes):
    check_layer("Attention", params, shapes)


@given(params_strategy(catalog.get("AdditiveAttention"), {
    "dropout": st.floats(-0.5, 1.5),
    "seed": st.none() | st.integers(0, 9),
}), qvk_shapes())
def test_additive_attention(params, shapes):
    check_layer("AdditiveAttention", params, shapes)


# --- worked examples and messages ----------------------------------------------------------------


def test_mha_counts_like_a_transformer_block():
    spec = catalog.get("MultiHeadAttention")
    out = spec.infer(spec.resolve({"num_heads": 8, "key_dim": 64}), [(None, 196, 512)] * 2)
    # Q, K, V: 512 -> 8 × 64 each with bias; output: 8 × 64 -> 512 with bias.
    assert out.outputs == [(None, 196, 512)]
    assert out.trainable == 3 * (512 * 512 + 512) + 512 * 512 + 512


def test_mha_key_value_mismatch_message():
    spec = catalog.get("MultiHeadAttention")
    with pytest.raises(LayerError) as info:
        spec.infer(spec.resolve({}), [(None, 5, 8), (None, 6, 8), (None, 7, 8)])
    assert "(None, 6, 8)" in info.value.message and "(None, 7, 8)" in info.value.message
    assert info.value.fix


def test_attention_roles_and_output():
    spec = catalog.get("Attention")
    out = spec.infer(spec.resolve({"use_scale": True}), [(None, 4, 8), (None, 9, 16)])
    assert out.outputs == [(None, 4, 16)] and out.trainable == 1
    assert spec.infer(spec.resolve({}), [(None, 4, 8), (None, 9, 16)]).notes
