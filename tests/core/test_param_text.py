"""Values typed in a text field: every form people write shapes and tuples in, over every
tuple-like parameter of the catalog, and refusals that say what was typed and what is expected."""

from __future__ import annotations

from typing import Any

import pytest

from netbuilder.core import catalog
from netbuilder.core.catalog import Param, ParamError
from netbuilder.core.catalog.base import value_text
from netbuilder.core.catalog.reshaping import PerAxisParam
from netbuilder.core.param_text import example_text, text_to_value, value_to_text

_TUPLE_KINDS = ("ints", "axes", "factor")


def _params(kinds: tuple[str, ...] = _TUPLE_KINDS) -> list[tuple[str, Param]]:
    out = []
    for spec in catalog.all_specs():
        for param in spec.params:
            if param.kind in kinds and (param.kind != "json" or isinstance(param, PerAxisParam)):
                out.append((spec.type, param))
    return out


def _ids(cases: list[tuple[str, Param]]) -> list[str]:
    return [f"{t}.{p.name}" for t, p in cases]


INTS = _params(("ints",))
TUPLES = _params((*_TUPLE_KINDS, "json"))


def _sizes(param: Param) -> tuple[int, ...]:
    """Valid items for a list of ``param``: its default, or sizes within its bounds."""
    default = param.normalize(param.default) if param.default is not None else None
    if isinstance(default, tuple) and len(default) > 1 and all(
            isinstance(v, int) and v > 0 for v in default):
        return default
    k = max(2, int(param.minimum or 0))
    return (k,) * (param.length or 3)


def _forms(items: tuple[Any, ...]) -> list[str]:
    parts = [str(v) for v in items]
    return [", ".join(parts), ",".join(parts), "x".join(parts), "×".join(parts),
            " x ".join(parts), " × ".join(parts), " ".join(parts), f"({', '.join(parts)})",
            f"[{', '.join(parts)}]", f"  ( {' , '.join(parts)} )  ", f"{', '.join(parts)},"]


def test_the_catalog_has_tuple_parameters_of_every_kind():
    assert all(p.kind == "ints" for _, p in INTS)
    kinds = {p.kind for _, p in TUPLES}
    assert kinds == {"ints", "axes", "factor", "json"}
    assert {"Input.shape", "Conv2D.kernel_size", "MaxPooling2D.pool_size",
            "Reshape.target_shape", "ZeroPadding2D.padding",
            "Cropping3D.cropping"} <= set(_ids(TUPLES))


@pytest.mark.parametrize("layer_type, param", INTS, ids=_ids(INTS))
def test_every_way_of_typing_a_tuple_of_ints(layer_type, param):
    items = _sizes(param)
    for text in _forms(items):
        assert param.normalize(text_to_value(param, text)) == items, text
    # one number: a list of one size, or a tuple of equal sizes that Keras expands
    one = items[0]
    expected = (one,) * param.length if param.length else (one,)
    for text in (str(one), f"({one})", f"({one},)", f"[{one}]", f" {one} "):
        assert param.normalize(text_to_value(param, text)) == expected, text
    # what the field shows reads back as the same value
    assert param.normalize(text_to_value(param, value_to_text(param, items))) == items


def test_shapes_as_people_type_them():
    shape = catalog.get("Input").param("shape")
    for text in ("784", "784,", "(784)", "[784]", " 784 "):
        assert shape.normalize(text_to_value(shape, text)) == (784,)
    for text in ("28,28,1", "28, 28, 1", "28x28x1", "28X28X1", "28×28×1", "28 x 28 x 1",
                 "(28, 28, 1)", "[28, 28, 1]", "28 28 1", "(28,28,1,)"):
        assert shape.normalize(text_to_value(shape, text)) == (28, 28, 1), text
    for text in ("None, 8", "?x8", "?×8", "(None, 8)", "null, 8"):
        assert shape.normalize(text_to_value(shape, text)) == (None, 8), text
    target = catalog.get("Reshape").param("target_shape")
    assert target.normalize(text_to_value(target, "-1")) == (-1,)
    assert target.normalize(text_to_value(target, "7x7x-1")) == (7, 7, -1)
    assert target.normalize(text_to_value(target, "(-1, 7, 7)")) == (-1, 7, 7)
    assert text_to_value(shape, "") is None and text_to_value(shape, "none") is None


def test_axes_factors_and_per_axis_pairs():
    axis = catalog.get("LayerNormalization").param("axis")
    assert axis.normalize(text_to_value(axis, "-1")) == -1
    assert axis.normalize(text_to_value(axis, "1, 2")) == (1, 2)
    assert axis.normalize(text_to_value(axis, "(1, 2)")) == (1, 2)
    factor = catalog.get("RandomRotation").param("factor")
    assert factor.normalize(text_to_value(factor, "0.2")) == 0.2
    assert factor.normalize(text_to_value(factor, "-0.2, 0.3")) == (-0.2, 0.3)
    assert factor.normalize(text_to_value(factor, "(-0.2, 0.3)")) == (-0.2, 0.3)
    value_range = catalog.get("AutoContrast").param("value_range")
    assert value_range.normalize(text_to_value(value_range, "0, 1")) == (0.0, 1.0)
    for layer_type in ("ZeroPadding2D", "Cropping2D"):
        name = "padding" if layer_type.startswith("Zero") else "cropping"
        pad = catalog.get(layer_type).param(name)
        assert pad.normalize(text_to_value(pad, "1")) == ((1, 1), (1, 1))
        assert pad.normalize(text_to_value(pad, "1, 2")) == ((1, 1), (2, 2))
        for text in ("(1, 2), (3, 4)", "[[1, 2], [3, 4]]", "((1, 2), (3, 4))", "(1,2) (3,4)"):
            assert pad.normalize(text_to_value(pad, text)) == ((1, 2), (3, 4)), text
    pad1 = catalog.get("ZeroPadding1D").param("padding")
    assert pad1.normalize(text_to_value(pad1, "1x2")) == (1, 2)
    noise = catalog.get("Dropout").param("noise_shape")
    assert noise.normalize(text_to_value(noise, "None, 1, 64")) == (None, 1, 64)
    assert text_to_value(noise, "[null, 1, 64]") == [None, 1, 64]  # JSON first


@pytest.mark.parametrize("layer_type, param", TUPLES, ids=_ids(TUPLES))
def test_every_refusal_of_typed_text_says_what_was_typed_and_what_is_expected(layer_type,
                                                                              param):
    for text, shown in (("abc", "'abc' is not a number"),
                        ("3, abc", "'abc' in '3, abc' is not a number"),
                        ("3,,4", "',' in '3,,4' is not a number"),
                        ("(3, 4", "the brackets in '(3, 4' do not match"),
                        ("3, 4]", "the brackets in '3, 4]' do not match")):
        if param.kind == "json":
            text = text.replace("abc", "@")  # a bare word could be JSON's true or null
            shown = shown.replace("abc", "@")
        with pytest.raises(ValueError) as info:
            text_to_value(param, text)
        message = str(info.value)
        assert message.startswith(f"`{param.name}`: {shown}; type "), message
        assert message.endswith(f", e.g. {example_text(param)}")
        assert "Received" not in message


@pytest.mark.parametrize("layer_type, param", INTS, ids=_ids(INTS))
def test_every_catalog_refusal_of_a_tuple_reads_for_a_person(layer_type, param):
    items = _sizes(param)
    n = param.length
    wrong = items + (items[0],) if n else None
    if wrong is not None:
        with pytest.raises(ParamError) as info:
            param.normalize(wrong)
        expected = "integer >= " if n == 1 else f"integer or {n} integers"
        assert str(info.value).startswith(
            f"`{param.name}`: {value_text(wrong)} is {n + 1} numbers; expected an {expected}")
    else:
        with pytest.raises(ParamError) as info:
            param.normalize(items[0])
        assert str(info.value).startswith(
            f"`{param.name}`: {items[0]} is one number; expected a list of integers")
        assert f"e.g. [{items[0]}]" in str(info.value)
    with pytest.raises(ParamError) as info:
        param.normalize([*items[:-1], 2.5])
    assert f"2.5 in {value_text([*items[:-1], 2.5])} is not an integer" in str(info.value)
    assert ", e.g. " in str(info.value)


def test_the_input_shape_refusals_name_the_value_and_an_example():
    shape = catalog.get("Input").param("shape")
    with pytest.raises(ParamError, match=r"^`shape`: 784 is one number; expected a list of "
                                         r"integers >= 0 \(or None\), e.g. \[784\] or "
                                         r"\[28, 28, 1\]$"):
        shape.normalize(784)
    with pytest.raises(ParamError, match=r"^`shape`: -5 in \[28, -5\] is not an integer >= 0"):
        shape.normalize(text_to_value(shape, "28, -5"))
    assert example_text(shape) == "784 or 28, 28, 1"
    assert example_text(catalog.get("Conv2D").param("kernel_size")) == "3 or 3, 3"


@pytest.mark.parametrize("spec", catalog.all_specs(), ids=lambda spec: spec.type)
def test_no_refusal_shows_keras_raw_text(spec):
    for param in spec.params:
        for bad in ("@", -10**9, [1.5, "a"], {"x": 1}, True):
            try:
                param.normalize(bad)
            except ParamError as err:
                message = str(err)
                assert "Received" not in message, message
                assert message.startswith(f"`{param.name}`"), message
