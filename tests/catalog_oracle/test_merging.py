"""Merging layers against Keras: shapes, parameter counts and refusals over generated input
lists (matching, broadcastable, different ranks, mismatched sizes, fixed batch sizes)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from oracle import check_layer, ours, params_strategy

from netbuilder.core import catalog
from netbuilder.core.catalog.base import LayerError

DIM = st.sampled_from([1, 2, 3, 4, 6, None])
BATCH = st.sampled_from([None, None, None, None, 2, 3])


def _variant(base: tuple[Any, ...]) -> st.SearchStrategy[tuple[Any, ...]]:
    """A shape related to ``base``: equal, broadcastable, lower rank, other channels, or
    unrelated."""
    rest = base[1:]
    same = st.just(base)
    ones = st.lists(st.booleans(), min_size=len(rest), max_size=len(rest)).map(
        lambda mask: (base[0],) + tuple(1 if m else d for m, d in zip(mask, rest)))
    unknown = st.lists(st.booleans(), min_size=len(rest), max_size=len(rest)).map(
        lambda mask: (base[0],) + tuple(None if m else d for m, d in zip(mask, rest)))
    lower = st.integers(0, len(rest)).map(lambda k: (base[0],) + rest[k:])
    higher = st.lists(DIM, min_size=1, max_size=2).map(lambda extra: (base[0],) + tuple(extra)
                                                        + rest)
    channels = DIM.map(lambda c: base[:-1] + (c,) if rest else base)
    batch = BATCH.map(lambda b: (b,) + rest)
    other = st.integers(1, 5).flatmap(
        lambda r: st.tuples(BATCH, *[DIM] * (r - 1)))
    return st.one_of(same, ones, unknown, lower, higher, channels, batch, other)


def shape_lists(min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[list[tuple]]:
    """Lists of related input shapes, ranks 1 to 5 (batch included)."""
    base = st.integers(1, 5).flatmap(lambda r: st.tuples(BATCH, *[DIM] * (r - 1)))
    return base.flatmap(lambda b: st.lists(_variant(b), min_size=min_size - 1,
                                           max_size=max_size - 1).map(lambda v: [b] + v))


ELEMENTWISE = ["Add", "Multiply", "Average", "Maximum", "Minimum"]


@pytest.mark.parametrize("layer", ELEMENTWISE)
@given(shapes=shape_lists())
@example(shapes=[(None, 4), (None, 4)])  # always reach an accepted and a refused case
@example(shapes=[(None, 8, 8, 4), (None, 8, 8, 3)])
def test_elementwise(layer, shapes):
    check_layer(layer, {}, shapes)


@given(shapes=shape_lists(2, 2) | shape_lists(1, 3))
@example(shapes=[(None, 4), (None, 4)])
@example(shapes=[(None, 4), (None, 3)])
def test_subtract(shapes):
    check_layer("Subtract", {}, shapes)


@given(params_strategy(catalog.get("Concatenate"), {"axis": st.integers(-6, 6)}),
       shape_lists())
def test_concatenate(params, shapes):
    check_layer("Concatenate", params, shapes)


@given(params_strategy(catalog.get("Dot"), {
    "axes": st.sampled_from([-1, 1, 2, -2, (1, 2), (2, 1), (-1, -2)]) | st.integers(-4, 4)
    | st.tuples(st.integers(-4, 4), st.integers(-4, 4))
    | st.lists(st.integers(1, 3), min_size=1, max_size=3)}),
    st.lists(st.integers(1, 4).flatmap(
        lambda r: st.tuples(st.just(None), *[st.sampled_from([3, 3, 3, 2, None])] * (r - 1))),
        min_size=2, max_size=2) | shape_lists(2, 2) | shape_lists(1, 3))
def test_dot(params, shapes):
    check_layer("Dot", params, shapes)


# --- messages ----------------------------------------------------------------------------------


def _error(layer: str, params: dict, shapes: list[tuple]) -> LayerError:
    spec = catalog.get(layer)
    with pytest.raises(LayerError) as info:
        spec.infer(spec.resolve(params), shapes)
    return info.value


def test_add_mismatch_names_both_shapes_and_suggests_a_fix():
    err = _error("Add", {}, [(None, 64), (None, 32)])
    assert "(None, 64)" in err.message and "(None, 32)" in err.message
    assert "Concatenate" in err.fix and "Dense(64)" in err.fix


def test_add_channel_mismatch_suggests_1x1_conv():
    err = _error("Add", {}, [(None, 8, 8, 64), (None, 8, 8, 32)])
    assert "1×1 Conv2D" in err.fix and "64 filters" in err.fix
    assert "(None, 8, 8, 32) branch" in err.fix


def test_add_spatial_mismatch_names_the_clashing_inputs():
    err = _error("Add", {}, [(None, 8, 8, 3), (None, 8, 8, 3), (None, 4, 4, 3)])
    assert "(None, 8, 8, 3) and (None, 4, 4, 3)" in err.message
    assert "Concatenate" in err.fix


def test_concatenate_mismatch_message():
    err = _error("Concatenate", {}, [(None, 8, 8, 3), (None, 4, 4, 5)])
    assert "(None, 8, 8, 3)" in err.message and "(None, 4, 4, 5)" in err.message
    assert err.fix


def test_broadcasting_and_single_input_notes():
    spec = catalog.get("Add")
    out = spec.infer({}, [(None, 4), (None, 3, 1)])
    assert out.outputs == [(None, 3, 4)] and out.notes
    assert spec.infer({}, [(None, 4)]).notes
    assert ours("Subtract", {}, [(None, 4)]).error


def test_dot_shapes():
    spec = catalog.get("Dot")
    assert spec.infer(spec.resolve({"axes": (1, 2)}), [(None, 3, 5), (None, 4, 3)]).outputs == [
        (None, 5, 4)]
    assert spec.infer(spec.resolve({}), [(None, 3), (None, 3)]).outputs == [(None, 1)]
