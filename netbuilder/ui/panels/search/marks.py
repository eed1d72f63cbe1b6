"""Search marks where parameters are edited: a small ⚲ toggle beside a parameter's field (the
Inspector's layer and block parameters, the Training dock's learning rate, batch size…) that
opens an inline range editor: low, high, log and step for numbers, or a list of choices.

Every change is one ``Document.set_search_mark`` call (one undo step); the editor follows
``Document.search_changed`` (undo, redo, a layer renamed). The canvas marks searched layers
through ``marked_layers`` (``feature.py`` puts them on the node cards).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core.catalog import Param
from netbuilder.core.catalog.base import ACTIVATIONS
from netbuilder.core.graph import Graph
from netbuilder.ui.document import Document

SEARCH_ICON = "⚲"
RANGE_KINDS = ("int", "float")
CHOICE_KINDS = ("choice", "activation", "bool")
_MUTED = "color: #5f6873;"


def searchable(param: Param) -> bool:
    """Whether a parameter can be searched: a number (a range) or a choice (a list)."""
    return param.kind in RANGE_KINDS + CHOICE_KINDS


def marked_layers(graph: Graph, marks: dict[str, Any]) -> dict[str, str]:
    """node id -> "⚲ units, rate" for every layer with a searched parameter."""
    names: dict[str, list[str]] = {}
    for path in marks:
        owner, _, name = path.rpartition(".")
        names.setdefault(owner, []).append(name)
    out = {}
    for owner, params in names.items():
        node = graph.node_by_name(owner)
        if node is not None:
            out[node.id] = f"{SEARCH_ICON} {', '.join(params)}"
    return out


def default_spec(kind: str, value: Any, choices: Sequence[Any] = (),
                 maximum: float | None = None) -> dict[str, Any]:
    """A first range around ``value`` (or every choice) when a parameter is first marked."""
    if kind == "int":
        v = int(value) if isinstance(value, (int, float)) and value else 1
        return {"type": "int", "low": max(1, v // 2), "high": max(2, v * 2)}
    if kind == "float":
        v = float(value) if isinstance(value, (int, float)) else 0.0
        if v <= 0:
            return {"type": "float", "low": 0.0, "high": min(0.5, maximum or 1.0)}
        high = v * 10 if maximum is None else min(v * 10, maximum * 0.9)
        return {"type": "float", "low": v / 10, "high": max(high, v), "log": True}
    return {"type": "categorical", "choices": list(choices) or [value]}


def _choice_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_choice(text: str, choices: Sequence[Any]) -> Any:
    """A typed choice: one of ``choices`` by its text, else a number, true/false or a word."""
    text = text.strip()
    for c in choices:
        if _choice_text(c) == text:
            return c
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "none":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float)) else text


def _number(text: str, what: str) -> float | int:
    try:
        value = json.loads(text.strip())
    except ValueError:
        value = None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{what}: {text.strip()!r} is not a number")
    return value


class SearchMark(QWidget):
    """The inline range editor of one searchable value, and the ⚲ toggle that shows it.

    ``path()`` names the value now (a layer's name can change); ``kind`` is int, float or
    categorical; ``current()`` the value in the field (a first range is made around it)."""

    def __init__(self, document: Document, path: Callable[[], str], kind: str,
                 current: Callable[[], Any], choices: Sequence[Any] = (),
                 maximum: float | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.path = path
        self.kind = kind
        self.current = current
        self.choices = list(choices)
        self.maximum = maximum
        self.toggle = QToolButton()
        self.toggle.setText(SEARCH_ICON)
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolTip("Search this value: try a range of values in Train ▸ Search…")
        self.toggle.toggled.connect(self._toggled)
        self.setObjectName("searchMark")
        self.setStyleSheet("#searchMark { background: #f3eefc; border-radius: 4px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        self.title = QLabel()
        self.title.setStyleSheet("color: #6a3fb5; font-weight: bold;")
        layout.addWidget(self.title)
        row = QHBoxLayout()
        row.setSpacing(4)
        self.low = QLineEdit()
        self.high = QLineEdit()
        self.step = QLineEdit()
        self.log = QCheckBox("log")
        self.choices_edit = QLineEdit()
        self.low.setPlaceholderText("low")
        self.high.setPlaceholderText("high")
        self.step.setPlaceholderText("step")
        self.choices_edit.setPlaceholderText("a, b, c")
        self.log.setToolTip("Sample on a log scale (learning rates, regularisation strengths)")
        self.step.setToolTip("Only multiples of this step from low (optional)")
        if kind in RANGE_KINDS:
            for w in (self.low, QLabel(".."), self.high):
                row.addWidget(w)
            layout.addLayout(row)
            row2 = QHBoxLayout()
            row2.setSpacing(4)
            row2.addWidget(self.log)
            row2.addWidget(QLabel("step"))
            row2.addWidget(self.step)
            layout.addLayout(row2)
        else:
            row.addWidget(QLabel("choices"))
            row.addWidget(self.choices_edit)
            layout.addLayout(row)
        for w in (self.low, self.high, self.step, self.choices_edit):
            w.setMinimumWidth(40)
            w.editingFinished.connect(self._edited)
        self.log.toggled.connect(lambda _on: self._edited())
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d93025;")
        self.error.hide()
        layout.addWidget(self.error)
        self._editing = False
        document.search_changed.connect(self.refresh)
        self.refresh()

    # -- the document -> the editor ------------------------------------------------------------

    def mark(self) -> dict[str, Any] | None:
        return self.document.project.search.get(self.path())

    def refresh(self) -> None:
        if not self.path():          # its layer was deleted: the Inspector drops it next
            return
        mark = self.mark()
        self.toggle.blockSignals(True)
        self.toggle.setChecked(mark is not None or self._editing)
        self.toggle.blockSignals(False)
        self.toggle.setStyleSheet("background: #e4d8fa; border-radius: 3px;" if mark else "")
        self.setVisible(mark is not None or self._editing)
        if mark is None:
            self.title.setText(f"Search {self.path()}: give a range")
            return
        self.title.setText(f"{SEARCH_ICON} Searched in Train ▸ Search…")
        if mark.get("type") == "categorical":
            self.choices_edit.setText(", ".join(_choice_text(c) for c in mark["choices"]))
        else:
            self.low.setText(_choice_text(mark.get("low")))
            self.high.setText(_choice_text(mark.get("high")))
            self.step.setText("" if mark.get("step") is None else _choice_text(mark["step"]))
            self.log.blockSignals(True)
            self.log.setChecked(bool(mark.get("log")))
            self.log.blockSignals(False)
        self.show_error(None)

    # -- the editor -> the document ------------------------------------------------------------

    def _toggled(self, on: bool) -> None:
        if not on:
            self._editing = False
            self.show_error(None)
            self.document.set_search_mark(self.path(), None)
            self.refresh()
            return
        self._editing = True
        spec = default_spec(self.kind, self.current(), self.choices, self.maximum)
        error = self.document.set_search_mark(self.path(), spec)
        self.refresh()
        self.show_error(error)
        if not error:
            self._editing = False
        (self.choices_edit if self.kind not in RANGE_KINDS else self.low).setFocus()

    def spec(self) -> dict[str, Any]:
        """The range or choices typed in the editor (``ValueError`` when one is no number)."""
        if self.kind not in RANGE_KINDS:
            parts = [p for p in self.choices_edit.text().split(",") if p.strip()]
            return {"type": "categorical",
                    "choices": [_parse_choice(p, self.choices) for p in parts]}
        spec: dict[str, Any] = {"type": self.kind, "low": _number(self.low.text(), "low"),
                                "high": _number(self.high.text(), "high")}
        if self.log.isChecked():
            spec["log"] = True
        if self.step.text().strip():
            spec["step"] = _number(self.step.text(), "step")
        return spec

    def _edited(self) -> None:
        if not self.toggle.isChecked():
            return
        try:
            spec = self.spec()
        except ValueError as err:
            self.show_error(str(err))
            return
        if spec == self.mark():
            self.show_error(None)
            return
        self.show_error(self.document.set_search_mark(self.path(), spec))

    def show_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))


def param_mark(document: Document, node_id: str, param: Param) -> SearchMark | None:
    """The search mark of a layer's (or block instance's) parameter; None when it is neither a
    number nor a choice."""
    if not searchable(param):
        return None
    graph = document.graph
    kind = param.kind if param.kind in RANGE_KINDS else "categorical"
    if param.kind == "bool":
        choices: Sequence[Any] = (False, True)
    elif param.kind == "activation":
        choices = [a for a in ACTIVATIONS if a is not None]
    else:
        choices = [c for c in (param.choices or ()) if c is not None]
    maximum = param.maximum if param.maximum is not None else None

    def path() -> str:
        node = graph.nodes.get(node_id)
        return f"{node.name}.{param.name}" if node is not None else ""   # "": deleted

    return SearchMark(document, path, kind,
                      lambda: graph.node(node_id).params.get(param.name, param.default),
                      choices, maximum)


def with_mark(field: QWidget, mark: SearchMark) -> QWidget:
    """``field`` with the mark's ⚲ toggle at its right and the range editor under both."""
    box = QWidget()
    outer = QVBoxLayout(box)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.setSpacing(2)
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(2)
    row.addWidget(field, 1)
    row.addWidget(mark.toggle, 0, Qt.AlignmentFlag.AlignTop)
    outer.addLayout(row)
    outer.addWidget(mark)
    return box


class MarkPopup(QFrame):
    """A search mark in a small popup under a ⚲ button (the Training dock's compact form)."""

    def __init__(self, mark: SearchMark, button: QToolButton) -> None:
        super().__init__(button, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.mark = mark
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        hint = QLabel("Tick to search this setting; untick to stop.")
        hint.setStyleSheet(_MUTED)
        layout.addWidget(hint)
        layout.addWidget(mark.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        mark.toggle.setText(f"{SEARCH_ICON} Search")
        mark.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        layout.addWidget(mark)
        self.setMinimumWidth(240)


class SettingSearchButton(QToolButton):
    """A ⚲ button for a training setting (``training.SETTING``) that opens its mark in a
    popup; highlighted while the setting is searched."""

    def __init__(self, document: Document, setting: str, kind: str,
                 current: Callable[[], Any], choices: Sequence[Any] = ()) -> None:
        super().__init__()
        self.document = document
        self.path = f"training.{setting}"
        self.setText(SEARCH_ICON)
        self.setAutoRaise(True)
        self.setObjectName(f"search_{setting}")
        self.setToolTip(f"Search {setting}: try a range of values in Train ▸ Search…")
        self.mark = SearchMark(document, lambda: self.path, kind, current, choices)
        self.popup = MarkPopup(self.mark, self)
        self.clicked.connect(self.open_popup)
        document.search_changed.connect(self.refresh)
        document.project_replaced.connect(self.refresh)
        document.project_replaced.connect(self.mark.refresh)
        self.refresh()

    def open_popup(self) -> None:
        self.popup.move(self.mapToGlobal(QPoint(0, self.height())))
        self.popup.show()

    def refresh(self) -> None:
        on = self.path in self.document.project.search
        self.setStyleSheet("background: #e4d8fa; border-radius: 3px;" if on else "")
