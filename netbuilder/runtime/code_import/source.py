"""Keras code as people paste it, read without running it: pure Python (``ast``), no Keras.

``prepare(code, filename)`` parses the code for the child process that runs it: IPython lines
(``%matplotlib inline``, ``!pip install ...``) become ``pass``, Keras 2's ``lr=`` on an optimizer
becomes ``learning_rate=`` (with a note), and a syntax error becomes a ``CodeImportError`` that
names the line and column, shows the line and keeps Python's hint ("Perhaps you forgot a
comma?"). The parent parses too, before starting the child: a typo answers at once, and parsing
never runs anything.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

# Keras' optimizer classes: Keras 2 code passes them lr=, which Keras 3 refuses
OPTIMIZER_CLASSES = frozenset((
    "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl",
    "Lion", "Lamb", "Adafactor", "LossScaleOptimizer"))
_MAGIC = re.compile(r"^(\s*)[%!](?!=)")


class CodeImportError(Exception):
    """Code that cannot be imported; ``str(err)`` is for a person (it may span a few lines: the
    message, then the line of code it is about)."""


@dataclass
class Prepared:
    """Parsed code, ready to run statement by statement."""

    tree: ast.Module
    lines: list[str]
    notes: list[str] = field(default_factory=list)


def show_line(lines: list[str], lineno: int | None, column: int | None = None) -> str:
    """``    7 | the line`` (and a caret under ``column``, counted from 1), or "" when there
    is no such line."""
    if lineno is None or not 1 <= lineno <= len(lines):
        return ""
    text = lines[lineno - 1].rstrip().expandtabs(4)
    shown = f"{lineno:5d} | {text}"
    if column is not None and column >= 1:
        raw = lines[lineno - 1][:column - 1].expandtabs(4)
        shown += "\n" + " " * (8 + len(raw)) + "^"
    return shown


def syntax_error(err: SyntaxError, filename: str, lines: list[str]) -> CodeImportError:
    """The person's message for a syntax error: where, Python's words (with its hint), the
    line."""
    where = f"{filename}, line {err.lineno}"
    if err.offset:
        where += f", column {err.offset}"
    message = (err.msg or "invalid syntax").strip()
    if "forgot a comma" in message and err.end_lineno and err.lineno and \
            err.end_lineno > err.lineno:
        message += f" (at the end of line {err.lineno}, before line {err.end_lineno})"
    shown = show_line(lines, err.lineno, err.offset)
    return CodeImportError(f"{where}: syntax error: {message}" + (f"\n{shown}" if shown else ""))


def _without_magics(code: str) -> tuple[str, list[str]]:
    """IPython's ``%magic`` and ``!shell`` lines as ``pass`` (same indentation, same line
    numbers)."""
    notes: list[str] = []
    out = []
    for i, line in enumerate(code.splitlines(), 1):
        match = _MAGIC.match(line)
        if match:
            out.append(f"{match.group(1)}pass")
            notes.append(f"line {i}: {line.strip()[:60]} is a notebook command: skipped")
        else:
            out.append(line)
    return "\n".join(out) + "\n", notes


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


class _KerasTwoNames(ast.NodeTransformer):
    """``RMSprop(lr=1e-4)`` -> ``RMSprop(learning_rate=1e-4)``, noted."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        name = _called_name(node)
        words = {k.arg for k in node.keywords}
        if name in OPTIMIZER_CLASSES and "lr" in words and "learning_rate" not in words:
            for keyword in node.keywords:
                if keyword.arg == "lr":
                    keyword.arg = "learning_rate"
            self.notes.append(f"line {node.lineno}: {name}(lr=...) is Keras 2's spelling; "
                              "taken as learning_rate")
        return node


def prepare(code: str, filename: str = "<pasted code>") -> Prepared:
    """Parse ``code``; ``CodeImportError`` for a syntax error or code with nothing in it."""
    text, notes = _without_magics(code.replace("\r\n", "\n"))
    lines = text.splitlines()
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as err:
        raise syntax_error(err, filename, lines) from None
    except ValueError as err:  # a NUL byte
        raise CodeImportError(f"{filename}: not Python code ({err})") from None
    if not tree.body:
        raise CodeImportError(f"{filename}: there is no code in it; paste or open the code that "
                              "makes the Keras model")
    fixer = _KerasTwoNames()
    tree = ast.fix_missing_locations(fixer.visit(tree))
    return Prepared(tree, lines, notes + fixer.notes)
