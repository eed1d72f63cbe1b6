"""Python source as black writes it: an expression is a list of pieces, plain text or a bracket
group (``Group``) whose items are themselves lists of pieces; ``wrap`` lays it out in lines of at
most ``LINE_LENGTH`` characters. Plain values become Python literals (``literal``).

Used by ``netbuilder.core.codegen``; knows nothing of Keras.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LINE_LENGTH = 99
INDENT = "    "


class UnwritableValue(ValueError):
    """A value that has no Python literal; ``str(err)`` names it."""


# --- expressions and black-style wrapping ---------------------------------------------------
#
# An expression is a list of pieces: plain text, or a bracket group whose items are themselves
# lists of pieces. Wrapping follows black (line length 99): a line that is too long is split
# at its last bracket (right-hand split), trailing brackets are left on the closing line when
# the opening line then fits, the contents go on one line when they fit and one item per line
# with a trailing comma otherwise; a split list, tuple or dict display always gets one item per
# line.


@dataclass
class Group:
    open: str
    items: list[list[Any]]
    close: str
    literal: bool = False  # a list, tuple or dict display (not call arguments)
    one_tuple: bool = False


def flat(pieces: Iterable[Any]) -> str:
    out = []
    for p in pieces:
        if isinstance(p, Group):
            inner = ", ".join(flat(item) for item in p.items)
            out.append(p.open + inner + ("," if p.one_tuple else "") + p.close)
        else:
            out.append(p)
    return "".join(out)


def fits(depth: int, text: str) -> bool:
    return len(INDENT) * depth + len(text) <= LINE_LENGTH


def wrap(pieces: list[Any], depth: int) -> list[str]:
    text = flat(pieces)
    if fits(depth, text):
        return [INDENT * depth + text]
    return _split_right(pieces, depth)


def _split_right(pieces: list[Any], depth: int) -> list[str]:
    groups = [i for i, p in enumerate(pieces) if isinstance(p, Group)]
    if not groups:
        return [INDENT * depth + flat(pieces)]
    candidates = [groups[-1]]
    for j in reversed(groups[:-1]):  # black omits trailers that fit on the closing line
        if len(INDENT) * depth + 1 + len(flat(pieces[j + 1:])) > LINE_LENGTH:
            break
        candidates.append(j)
    for j in candidates:
        if fits(depth, flat(pieces[:j]) + pieces[j].open):
            return _split_at(pieces, j, depth)
    return _split_at(pieces, groups[-1], depth)


def _split_at(pieces: list[Any], j: int, depth: int) -> list[str]:
    group: Group = pieces[j]
    head = pieces[:j] + [group.open]
    tail = [group.close] + pieces[j + 1:]
    return wrap(head, depth) + _body(group, depth + 1) + wrap(tail, depth)


def _body(group: Group, depth: int) -> list[str]:
    items = group.items
    text = ", ".join(flat(item) for item in items) + ("," if group.one_tuple else "")
    if not (group.literal and len(items) > 1) and fits(depth, text):
        return [INDENT * depth + text]
    if len(items) > 1:
        lines = []
        for item in items:
            lines += wrap(item + [","], depth)
        return lines
    return wrap(items[0] + ([","] if group.one_tuple else []), depth)


def call(func: str | list[Any], args: list[list[Any]]) -> list[Any]:
    head = [func] if isinstance(func, str) else list(func)
    if not args:
        return head + ["()"]
    return head + [Group("(", args, ")")]


def kw(name: str, value: list[Any]) -> list[Any]:
    return [f"{name}="] + value


def tuple_of(items: list[list[Any]]) -> list[Any]:
    if not items:
        return ["()"]
    return [Group("(", items, ")", literal=True, one_tuple=len(items) == 1)]


def list_of(items: list[list[Any]]) -> list[Any]:
    if not items:
        return ["[]"]
    return [Group("[", items, "]", literal=True)]


def dict_of(pairs: list[tuple[str, list[Any]]]) -> list[Any]:
    if not pairs:
        return ["{}"]
    return [Group("{", [[str_literal(k) + ": "] + v for k, v in pairs], "}", literal=True)]


# --- literals --------------------------------------------------------------------------------


def str_literal(value: str) -> str:
    """A string literal as black writes it: double quotes unless that needs more escapes."""
    if '"' in value and "'" not in value:
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _float(value: float) -> str:
    text = repr(value)
    if 0 < value < 1 and len(text) > 8:  # 0.00392156862745098 reads better as 1 / 255
        inverse = 1 / value
        if inverse > 100_000:
            return text
        for candidate in (str(round(inverse)), str(round(inverse, 1))):
            if float(candidate) > 0 and 1 / float(candidate) == value:
                return f"1 / {candidate}"
    return text


def literal(value: Any) -> list[Any]:
    """A plain value (a parameter in its JSON or normalized form) as a Python literal."""
    if value is None or isinstance(value, bool):
        return [repr(value)]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, float):
        return [_float(value)]
    if isinstance(value, str):
        return [str_literal(value)]
    if isinstance(value, (list, tuple)):
        return tuple_of([literal(v) for v in value])
    if isinstance(value, Mapping):
        return dict_of([(str(k), literal(v)) for k, v in value.items()])
    raise UnwritableValue(f"cannot write {value!r} as Python")


def def_lines(name: str, params: list[str]) -> list[str]:
    line = f"def {name}({', '.join(params)}):"
    if fits(0, line):
        return [line]
    inner = ", ".join(params)
    if fits(1, inner):
        return [f"def {name}(", INDENT + inner, "):"]
    return [f"def {name}("] + [INDENT + p + "," for p in params] + ["):"]
