"""Parameter values as people type them in a text field, and back.

Shapes and tuples are read in every form people write them: ``784``, ``28, 28, 1``, ``28x28x1``,
``28×28×1``, ``28 28 1``, ``(28, 28, 1)``, ``[28, 28, 1]``, ``(8,)``, ``None, 8`` or ``?×8``, and
nested pairs such as ``(1, 2), (3, 4)``. A list of sizes (``ints`` without a fixed length, such as
Input's ``shape``) typed as one number becomes a list of one; a fixed-length tuple typed as one
number stays one number, which the parameter expands (``3`` → ``(3, 3)``) as Keras does.
``json`` parameters take JSON first. A refusal is a ``ValueError`` whose text says what was typed,
what is expected and gives an example. The value is then validated by the parameter itself.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from netbuilder.core.catalog.base import Param, to_plain

_TEXT_KINDS = ("ints", "axes", "factor", "json", "layer")
_NONE_WORDS = ("none", "null", "?")
_TOKEN = re.compile(r"\s*(?:(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                    r"|(?P<open>[(\[])|(?P<close>[)\]])|(?P<sep>[,×*])"
                    r"|(?P<word>[A-Za-z_]+|\?)|(?P<other>\S))")
_PAIRS = {"(": ")", "[": "]"}


def value_to_text(param: Param, value: Any) -> str:
    """How a value appears in a text field: int tuples as ``3, 3``, other values as JSON."""
    if value is None:
        return ""
    if param.kind == "str":
        return str(value)
    if param.kind in ("ints", "axes", "factor") and isinstance(value, (tuple, list)):
        return ", ".join("None" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
                         for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(to_plain(value))


def text_to_value(param: Param, text: str) -> Any:
    """Read what was typed for ``param`` (see the module's docstring); empty text means None
    (Keras' "not set"). Raises ``ValueError`` with a message for the user."""
    text = text.strip()
    if param.kind not in _TEXT_KINDS:
        return text
    if not text or text.lower() in ("none", "null"):
        return None
    if param.kind in ("json", "layer"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    value = _read_numbers(param, text)
    if param.kind == "ints":
        if param.length is None and not isinstance(value, list):
            return [value]  # "784" is a shape of one size
        if param.length and isinstance(value, list) and len(value) == 1:
            return value[0]  # "[3]" or "(3,)" for a kernel: 3, expanded to (3, 3)
    return value


def example_text(param: Param) -> str:
    """``param.example()`` as it would be typed: ``3 or 3, 3``, ``784 or 28, 28, 1``,
    ``1 or 1, 1 or (1, 2), (1, 2)``."""
    default = param.default
    one = None  # a shape's one-size form: 784 for 28, 28, 1
    if (param.kind == "ints" and param.name.endswith("shape") and isinstance(default, tuple)
            and len(default) > 1 and all(isinstance(d, int) and d > 0 for d in default)):
        one = math.prod(default)
    example = param.example(one) or "1 or [1, 2] or [[1, 2], [3, 4]]"
    forms = [_unbracketed(form) for form in example.split(" or ")]
    return " or ".join(dict.fromkeys(forms))  # "3 or [3]" types as 3 only


def _unbracketed(form: str) -> str:
    """``[1, 2]`` as typed: ``1, 2``; ``[[1, 2], [3, 4]]``: ``(1, 2), (3, 4)``."""
    if not form.startswith("["):
        return form
    return form[1:-1].replace("[", "(").replace("]", ")")


def _expected_text(param: Param) -> str:
    if param.kind == "ints" and param.length:
        return f"one whole number or {param.length} separated by commas"
    if param.kind == "ints":
        return "whole numbers separated by commas" + (
            " (None for any size)" if None in param.allow else "")
    if param.kind == "axes":
        return "an axis, or axes separated by commas"
    if param.kind == "factor":
        return "a number, or two (lower, upper) separated by a comma"
    return "numbers separated by commas, or JSON (text in \"quotes\")"


def _refuse(param: Param, problem: str) -> ValueError:
    return ValueError(f"`{param.name}`: {problem}; type {_expected_text(param)}, "
                      f"e.g. {example_text(param)}")


def _tokens(param: Param, text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        token = match.group(kind)  # type: ignore[arg-type]
        if kind == "number":
            number = float(token)
            is_int = re.fullmatch(r"[-+]?\d+", token) is not None
            tokens.append(("atom", int(token) if is_int else number))
        elif kind == "word" and token.lower() in _NONE_WORDS:
            tokens.append(("atom", None))
        elif kind == "word" and token in "xX":
            tokens.append(("sep", token))
        elif kind in ("open", "close", "sep"):
            tokens.append((kind, token))
        else:
            shown = text if len(text) <= 30 else text[:29] + "…"
            where = "" if token == text else f" in {shown!r}"
            raise _refuse(param, f"{token!r}{where} is not a number")
    return tokens


def _read_numbers(param: Param, text: str) -> Any:
    """Numbers, None and nested brackets: a number alone, or a list of the items."""
    tokens = _tokens(param, text)
    unmatched = _refuse(param, f"the brackets in {text!r} do not match")
    pos = 0

    def sequence(close: str | None) -> tuple[list[Any], bool]:
        """Items up to ``close`` (None: the end); whether a separator was seen."""
        nonlocal pos
        items: list[Any] = []
        separated = False
        expect_item = True
        while pos < len(tokens):
            kind, token = tokens[pos]
            if kind == "close":
                if token != close:
                    raise unmatched
                pos += 1
                return items, separated
            pos += 1
            if kind == "sep":
                if expect_item:
                    raise _refuse(param, f"{token!r} in {text!r} is not a number")
                separated, expect_item = True, True
                continue
            if not expect_item:  # "28 28 1" and "(1, 2) (3, 4)": spaces separate too
                separated = True
            if kind == "atom":
                items.append(token)
            else:
                inner, inner_separated = sequence(_PAIRS[token])
                if token == "(" and len(inner) == 1 and not inner_separated:
                    items.append(inner[0])  # "(3)" is 3, as in Python
                else:
                    items.append(inner)
            expect_item = False
        if close is not None:
            raise unmatched
        return items, separated

    items, separated = sequence(None)
    if not items:
        raise _refuse(param, f"{text!r} has no number")
    return items if separated or len(items) > 1 else items[0]
