"""The parameter editor: the selected layer's name, trainable flag and parameters, with one field
per parameter generated from the layer's spec.

A value the layer can never take is shown as an error under its field and not applied; every
applied change is one call to the ``Document`` (one undo command), so the canvas and the summary
re-infer at once. Features add their own controls for some layers (``control_hooks``: a Keras
Application's Frozen / Fine-tune from layer).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core import catalog
from netbuilder.core.block_edits import group_of
from netbuilder.core.catalog import Param, ParamError
from netbuilder.core.catalog.base import (
    ACTIVATIONS,
    CONSTRAINTS,
    INITIALIZERS,
    REGULARIZERS,
    to_plain,
)
from netbuilder.core.data_fit import DataFix
from netbuilder.core.explain import derivations, explain
from netbuilder.core.graph import BLOCK_TYPE, Event, Graph
from netbuilder.core.param_text import text_to_value, value_to_text
from netbuilder.core.quick_fixes import ParamFix, QuickFix, describe_fix, suggest_fixes
from netbuilder.ui.document import Document
from netbuilder.ui.formatting import outputs_text
from netbuilder.ui.panels.search.marks import param_mark, with_mark

_INT_LIMIT = 2**31 - 1
_ERROR_STYLE = "color: #d93025;"


FIELD_MIN_WIDTH = 60  # px: spin boxes and text fields shrink to this, never clipped


class _NoWheelUnlessFocused:
    """Scrolling the inspector must not change the value under the mouse by accident."""

    def wheelEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()


class IntSpin(_NoWheelUnlessFocused, QSpinBox):
    pass


class FloatSpin(_NoWheelUnlessFocused, QDoubleSpinBox):
    """A double spin box that shows ``0.001`` and ``1e-06`` as such, not ``0.00``."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(10)

    def textFromValue(self, value: float) -> str:
        if self.specialValueText() and value == self.minimum():
            return self.specialValueText()
        return f"{value:.8g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.minimum()

    def validate(self, text: str, pos: int):  # type: ignore[no-untyped-def]
        from PySide6.QtGui import QValidator

        stripped = text.strip()
        if stripped in ("", "-", "+", ".", "-.", "e", "E") or stripped.lower().endswith(
                ("e", "e-", "e+")):
            return QValidator.State.Intermediate, text, pos
        if self.specialValueText() and stripped == self.specialValueText():
            return QValidator.State.Acceptable, text, pos
        try:
            value = float(stripped)
        except ValueError:
            return QValidator.State.Invalid, text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos


class Combo(_NoWheelUnlessFocused, QComboBox):
    pass


class ParamField:
    """One parameter's editor widget, with ways to show a value and report a new one."""

    def __init__(self, param: Param, on_value: Callable[[str, Any], None]) -> None:
        self.param = param
        self.on_value = on_value
        self.widget = self._make()
        self.widget.setToolTip(param.help)
        if isinstance(self.widget, QComboBox):  # as narrow as 8 characters, not its longest item
            self.widget.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.widget.setMinimumContentsLength(8)
        elif not isinstance(self.widget, QCheckBox):
            self.widget.setMinimumWidth(FIELD_MIN_WIDTH)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(_ERROR_STYLE)
        self.error.hide()

    # -- building ----------------------------------------------------------------------------

    def _make(self) -> QWidget:
        p = self.param
        kind = p.kind
        if kind == "int":
            spin = IntSpin()
            spin.setKeyboardTracking(False)
            lo = int(p.minimum) if p.minimum is not None else -_INT_LIMIT + 1
            if p.exclusive_minimum:
                lo += 1
            hi = int(p.maximum) if p.maximum is not None else _INT_LIMIT
            if p.exclusive_maximum:
                hi -= 1
            if p.nullable:
                lo -= 1
                spin.setSpecialValueText("none")
            spin.setRange(lo, hi)
            spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            spin.valueChanged.connect(self._emit_spin)
            return spin
        if kind == "float":
            fspin = FloatSpin()
            fspin.setKeyboardTracking(False)
            lo_f = p.minimum if p.minimum is not None else -1e12
            hi_f = p.maximum if p.maximum is not None else 1e12
            step = 0.1 if (p.maximum is not None and p.maximum <= 1) or (
                p.default is not None and abs(p.default) <= 1) else 1.0
            if p.nullable:
                lo_f -= step
                fspin.setSpecialValueText("none")
            fspin.setRange(lo_f, hi_f)
            fspin.setSingleStep(step)
            fspin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            fspin.valueChanged.connect(self._emit_spin)
            return fspin
        if kind == "bool":
            box = QCheckBox()
            box.toggled.connect(lambda on: self.on_value(p.name, bool(on)))
            return box
        if kind in ("choice", "activation"):
            combo = Combo()
            combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            values = p.choices if kind == "choice" else ACTIVATIONS
            assert values is not None
            for value in values:
                combo.addItem("default" if value is None else str(value), value)
            combo.activated.connect(lambda i: self.on_value(p.name, combo.itemData(i)))
            return combo
        if kind in ("initializer", "regularizer", "constraint"):
            combo = Combo()
            combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            combo.setEditable(True)
            combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            names = {"initializer": INITIALIZERS, "regularizer": REGULARIZERS,
                     "constraint": CONSTRAINTS}[kind]
            if kind != "initializer":
                combo.addItem("none")
            for name in names:
                combo.addItem(name)
            combo.activated.connect(lambda i: self._emit_named(combo.itemText(i)))
            line = combo.lineEdit()
            assert line is not None
            line.editingFinished.connect(lambda: self._emit_named(combo.currentText()))
            return combo
        edit = QLineEdit()
        if p.nullable or kind in ("json", "regularizer"):
            edit.setPlaceholderText("none")
        elif kind == "ints" and p.length:
            edit.setPlaceholderText(", ".join(["n"] * p.length))
        edit.editingFinished.connect(self._emit_text)
        return edit

    # -- value <-> widget ---------------------------------------------------------------------

    def show_value(self, value: Any) -> None:
        w = self.widget
        w.blockSignals(True)
        try:
            if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                w.setValue(w.minimum() if value is None else value)
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QComboBox) and not w.isEditable():
                index = w.findData(value)
                w.setCurrentIndex(index)
            elif isinstance(w, QComboBox):
                if value is None:
                    text = "none"
                elif isinstance(value, str):
                    text = value
                else:
                    text = json.dumps(to_plain(value))
                w.setCurrentText(text)
            elif isinstance(w, QLineEdit):
                w.setText(value_to_text(self.param, value))
                w.setCursorPosition(0)
        finally:
            w.blockSignals(False)

    def _emit_spin(self, value: float) -> None:
        w = self.widget
        assert isinstance(w, (QSpinBox, QDoubleSpinBox))
        if self.param.nullable and value == w.minimum():
            self.on_value(self.param.name, None)
        else:
            self.on_value(self.param.name, value)

    def _emit_named(self, text: str) -> None:
        text = text.strip()
        if text.lower() in ("", "none", "null"):
            self.on_value(self.param.name, None)
            return
        if text.startswith("{"):
            try:
                self.on_value(self.param.name, json.loads(text))
            except json.JSONDecodeError as err:
                self.show_error(f"not valid JSON: {err.msg}")
            return
        self.on_value(self.param.name, text)

    def _emit_text(self) -> None:
        w = self.widget
        assert isinstance(w, QLineEdit)
        try:
            value = text_to_value(self.param, w.text())
        except ValueError as err:
            self.show_error(str(err))
            return
        self.on_value(self.param.name, value)

    def show_error(self, message: str | None) -> None:
        if message:
            self.error.setText(message)
            self.error.show()
            self.widget.setProperty("invalid", True)
            self.widget.setStyleSheet("border: 1px solid #d93025;" if isinstance(
                self.widget, QLineEdit) else "")
        else:
            self.error.hide()
            self.error.clear()
            self.widget.setStyleSheet("")


ControlsHook = Callable[[Document, str], "NodeControls | None"]
"""A feature's controls for a layer (``hook(document, node id)``), or None for other layers."""


class NodeControls(QWidget):
    """Controls a feature shows for some layers instead of the "trainable" box."""

    def refresh(self) -> None:
        """Show the layer as it is now (after an edit, an undo)."""


class ParameterEditor(QScrollArea):
    """Shows and edits the selected layer."""

    fix_requested = Signal(object)
    """A quick-fix button was clicked: the ``core.quick_fixes.QuickFix`` to apply."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.graph: Graph | None = None
        self.node_id: str | None = None
        self.editors: dict[str, ParamField] = {}
        self.control_hooks: list[ControlsHook] = []
        self.node_controls: NodeControls | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # a field is never clipped: the form fits FIELD_MIN_WIDTH-wide fields, else it scrolls
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self._body: QWidget | None = None
        self.name_edit: QLineEdit | None = None
        self.name_error: QLabel | None = None
        self.trainable_box: QCheckBox | None = None
        self.status: QLabel | None = None
        self.title: QLabel | None = None
        self.fix_box: QWidget | None = None
        self.fix_buttons: list[QPushButton] = []
        self.explanation: QLabel | None = None
        self.explain_button: QToolButton | None = None
        self.explain_open = False
        self.project_text = ""
        self._show_placeholder()
        self.set_graph(document.graph)
        document.project_replaced.connect(lambda: self.set_graph(document.graph))
        document.selection_changed.connect(self.set_selection)
        document.data_check.changed.connect(
            lambda ids: self._refresh_status() if self.node_id in ids else None)

    def set_project_info(self, name: str, description: str) -> None:
        """What the inspector says about the model while no layer is selected."""
        text = f"<b>{escape(name)}</b>"
        if description:
            text += f"<br>{escape(description)}"
        self.project_text = text
        if self.node_id is None:
            self._show_placeholder()

    def set_graph(self, graph: Graph | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.graph = graph
        if graph is not None:
            self._unsubscribe = graph.subscribe(self._on_graph_event)
        self.set_node(None)

    def detach(self) -> None:
        self.set_graph(None)

    # -- building the form ---------------------------------------------------------------------

    def _show_placeholder(self, text: str | None = None) -> None:
        self.editors = {}
        self.node_controls = None
        self.name_edit = self.name_error = self.trainable_box = self.status = self.title = None
        self.fix_box = self.explanation = self.explain_button = None
        self.fix_buttons = []
        if text is None:
            text = "Select a layer on the canvas to see and change its settings."
            if self.project_text:
                text = (f"<p style='color:#1f2328'>{self.project_text}</p><p>{text}</p>")
        label = QLabel(text)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        label.setStyleSheet("color: #5f6873; padding: 8px;")
        self._set_body(label)

    def _set_body(self, widget: QWidget) -> None:
        old = self.takeWidget()
        if old is not None:
            old.deleteLater()
        self._body = widget
        self.setWidget(widget)

    def set_selection(self, node_ids: list[str]) -> None:
        if len(node_ids) == 1:
            self.set_node(node_ids[0])
        elif node_ids:
            self.node_id = None
            self._show_placeholder(f"{len(node_ids)} layers selected. Select one layer to "
                                   "edit its settings.")
        else:
            self.set_node(None)

    def set_node(self, node_id: str | None) -> None:
        graph = self.graph
        if node_id is not None and node_id == self.node_id and self.title is not None:
            return  # already shown; the graph's events keep it current
        if graph is None or node_id is None or node_id not in graph.nodes:
            self.node_id = None
            self._show_placeholder()
            return
        self.node_id = node_id
        node = graph.nodes[node_id]
        body = QWidget()
        outer = QVBoxLayout(body)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.setSpacing(6)

        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)  # a long name (mobilenetv2_1.00_224) must not widen it
        outer.addWidget(self.title)
        spec = catalog.get(node.type) if node.type != BLOCK_TYPE else None
        if spec is not None:
            help_label = QLabel(spec.help)
            help_label.setWordWrap(True)
            help_label.setStyleSheet("color: #5f6873;")
            outer.addWidget(help_label)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.status)
        self.fix_box = QWidget()
        fix_layout = QVBoxLayout(self.fix_box)
        fix_layout.setContentsMargins(0, 0, 0, 0)
        fix_layout.setSpacing(3)
        outer.addWidget(self.fix_box)
        self.explanation = QLabel()
        self.explanation.setObjectName("explanation")
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        self.explanation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.explanation.setStyleSheet("background: #f6f8fa; border-radius: 4px; padding: 6px;")
        # for learners, on demand: one click opens it (and it stays open from layer to layer)
        self.explain_button = QToolButton()
        self.explain_button.setCheckable(True)
        self.explain_button.setChecked(self.explain_open)
        self.explain_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.explain_button.setArrowType(Qt.ArrowType.DownArrow if self.explain_open
                                         else Qt.ArrowType.RightArrow)
        self.explain_button.setText("How are these numbers computed?")
        self.explain_button.setAutoRaise(True)
        self.explain_button.setStyleSheet("color: #1a73e8;")
        self.explain_button.toggled.connect(self._toggle_explanation)
        outer.addWidget(self.explain_button)
        outer.addWidget(self.explanation)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # long labels go above
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(5)
        self.name_edit = QLineEdit(node.name)
        self.name_edit.setToolTip("The layer's name: unique in the model; Keras uses it too.")
        self.name_edit.editingFinished.connect(self._rename)
        self.name_error = QLabel()
        self.name_error.setWordWrap(True)
        self.name_error.setStyleSheet(_ERROR_STYLE)
        self.name_error.hide()
        form.addRow("name", self._with_error(self.name_edit, self.name_error))
        if node.type != "Input":
            self.trainable_box = QCheckBox("trainable")
            self.trainable_box.setToolTip("Unticked: the layer is frozen; its weights keep their "
                                          "values during training (transfer learning).")
            self.trainable_box.setChecked(node.trainable)
            self.trainable_box.toggled.connect(self._set_trainable)
            form.addRow("", self.trainable_box)
        self._add_node_controls(form, node.id)
        self._add_group_note(form, node.id)

        self.editors = {}
        if node.type == BLOCK_TYPE:
            self._add_block_params(form, node.params["block"])
        if spec is not None:
            key = [p for p in spec.params if p.name in spec.key_params]
            key.sort(key=lambda p: spec.key_params.index(p.name))
            rest = [p for p in spec.params if p.name not in spec.key_params]
            self._add_params(form, key)
            if rest:
                if key:
                    more = QLabel("More settings")
                    more.setStyleSheet("color: #5f6873; font-weight: bold; padding-top: 6px;")
                    form.addRow(more)
                self._add_params(form, rest)
        outer.addLayout(form)
        outer.addStretch(1)
        self._set_body(body)
        self._refresh_header()
        self._refresh_status()

    def _with_error(self, editor: QWidget, error: QLabel) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor)
        layout.addWidget(error)
        return box

    def _add_params(self, form: QFormLayout, params: list[Param]) -> None:
        assert self.graph is not None and self.node_id is not None
        node = self.graph.nodes[self.node_id]
        for param in params:
            editor = ParamField(param, self._apply)
            editor.show_value(node.params.get(param.name))
            label = QLabel(param.name)
            label.setToolTip(param.help)
            field = self._with_error(editor.widget, editor.error)
            mark = param_mark(self.document, self.node_id, param)   # 🔍: search this value
            form.addRow(label, field if mark is None else with_mark(field, mark))
            self.editors[param.name] = editor

    def _add_block_params(self, form: QFormLayout, block_name: str) -> None:
        """A block instance: the parameters its block exposes, each editable (undoable)."""
        assert self.graph is not None
        block = self.graph.blocks.get(block_name)
        if block is None:
            return
        if not block.instance_params():
            if block.application:  # keras.applications builds it: its layers are not edited
                hint = (f"{block.application['name']} comes from keras.applications: its "
                        "constructor builds it, with its weights. To change its layers, expand "
                        "it (double-click, or Edit ▸ Expand Block); once changed, they collapse "
                        "into a plain model.")
            elif block.is_model:
                hint = ("A nested model: double-click it (or Edit ▸ Expand Block) to put its "
                        "layers on the canvas; Edit ▸ Collapse Block makes it one model again.")
            else:
                hint = ("This block exposes no parameters; double-click it on the canvas to "
                        "edit its definition.")
            note = QLabel(hint)
            note.setWordWrap(True)
            note.setStyleSheet("color: #5f6873;")
            form.addRow(note)
            return
        note = QLabel("Block parameters (double-click the block to edit its definition):")
        note.setWordWrap(True)
        note.setStyleSheet("color: #5f6873; font-weight: bold; padding-top: 6px;")
        form.addRow(note)
        self._add_params(form, block.instance_params())  # exposed ones, then repeat

    def _refresh_header(self) -> None:
        if self.graph is None or self.node_id is None or self.title is None:
            return
        node = self.graph.nodes[self.node_id]
        type_text = node.params["block"] if node.type == BLOCK_TYPE else node.type
        self.title.setText(f"<span style='font-size: 12pt'><b>{escape(node.name)}</b></span>"
                           f"&nbsp;&nbsp;<span style='color:#5f6873'>{escape(type_text)}</span>")

    def _add_group_note(self, form: QFormLayout, node_id: str) -> None:
        """A layer of an expanded block: which one, and how to put it back."""
        assert self.graph is not None
        group = group_of(self.graph, node_id)
        if group is None:
            return
        block = self.graph.blocks.get(group.block)
        app = block.application if block is not None else None
        if app:
            text = (f"Part of <b>{escape(group.instance_name)}</b>, the Keras Application "
                    f"{escape(app['name'])} expanded. Edit ▸ Collapse Block gives it back; "
                    "once its layers are changed, it collapses into a plain model instead.")
        else:
            text = (f"Part of <b>{escape(group.instance_name)}</b>, block "
                    f"{escape(group.block)} expanded. Edit ▸ Collapse Block puts it back.")
        note = QLabel(text)
        note.setObjectName("group_note")
        note.setWordWrap(True)
        note.setStyleSheet("color: #5f6873;")
        form.addRow(note)

    def _add_node_controls(self, form: QFormLayout, node_id: str) -> None:
        """A feature's controls for this layer (a Keras Application: "Frozen" and "Fine-tune
        from layer"), instead of "trainable"."""
        self.node_controls = next((found for hook in self.control_hooks
                                   if (found := hook(self.document, node_id)) is not None), None)
        if self.node_controls is None:
            return
        if self.trainable_box is not None:
            form.setRowVisible(self.trainable_box, False)
        form.addRow(self.node_controls)

    def _refresh_status(self) -> None:
        if self.graph is None or self.node_id is None or self.status is None:
            return
        if self.node_controls is not None:
            self.node_controls.refresh()
        result = self.graph.inference.results.get(self.node_id)
        self._refresh_fixes()
        self._refresh_explanation()
        if result is None:
            self.status.setText("")
            return
        problem = self.document.data_check.problems.get(self.node_id)  # against the data
        if result.ok and problem is None:
            parts = [f"<b>Output</b> {escape(outputs_text(result.outputs))}",
                     f"<b>Parameters</b> {result.params:,}"
                     + (f" ({result.non_trainable:,} frozen or non-trainable)"
                        if result.non_trainable else "")]
            parts += [f"<i>Note:</i> {escape(n)}" for n in result.notes]
            self.status.setStyleSheet("background: #eef3fb; border-radius: 4px; padding: 6px;")
            self.status.setText("<br>".join(parts))
        elif result.error or problem is not None:
            text = f"<b>Problem:</b> {escape(result.error or problem.message)}"
            fix = result.fix if result.error else (problem.fixes[0].label if problem.fixes
                                                   else None)
            if fix:
                text += f"<br><b>Fix:</b> {escape(fix)}"
            self.status.setStyleSheet("background: #fdeceb; color: #a3140b; border-radius: 4px;"
                                      " padding: 6px;")
            self.status.setText(text)
        else:
            upstream = self.graph.nodes.get(result.blocked_by or "")
            name = upstream.name if upstream is not None else "a layer above"
            self.status.setStyleSheet("background: #f1f3f4; border-radius: 4px; padding: 6px;")
            self.status.setText(f"Its shape is unknown until {escape(name)} is valid.")

    def _refresh_fixes(self) -> None:
        """One button per quick fix of the layer (invalid, or with a note)."""
        if self.fix_box is None or self.graph is None or self.node_id is None:
            return
        layout = self.fix_box.layout()
        for button in self.fix_buttons:
            layout.removeWidget(button)
            button.deleteLater()
        self.fix_buttons = []
        fixes: list[QuickFix | ParamFix | DataFix] = []
        node = self.graph.nodes.get(self.node_id)
        if node is not None:
            try:
                fixes = list(suggest_fixes(self.graph, self.node_id))
            except Exception:  # a hint must never take an edit down with it
                fixes = []
            problem = self.document.data_check.problems.get(self.node_id)
            fixes[:0] = problem.fixes if problem is not None else ()
        for fix in fixes:
            button = QPushButton(f"Fix: {fix.label}")
            button.setToolTip(f"{describe_fix(self.graph, fix)}; Ctrl+Z undoes it")
            button.setStyleSheet("text-align: left; padding: 4px 8px;")
            button.clicked.connect(lambda _c=False, f=fix: self.fix_requested.emit(f))
            layout.addWidget(button)
            self.fix_buttons.append(button)
        self.fix_box.setVisible(bool(fixes))

    def _refresh_explanation(self) -> None:
        """How the output size and parameter count come about, with the numbers."""
        if self.explanation is None or self.graph is None or self.node_id is None:
            return
        try:
            computed = {d.text() for d in derivations(self.graph, self.node_id)}
            lines = explain(self.graph, self.node_id)
        except Exception:
            lines, computed = [], set()
        if self.explain_button is not None:
            self.explain_button.setVisible(bool(lines))
        if not lines:
            self.explanation.hide()
            self.explanation.clear()
            return
        html = []
        for line in lines:
            html.append(f"&nbsp;&nbsp;{escape(line)}" if line in computed else
                        f"<span style='color:#5f6873'>{escape(line)}</span>")
        self.explanation.setText("<br>".join(html))
        self.explanation.setVisible(self.explain_open)

    def _toggle_explanation(self, on: bool) -> None:
        self.explain_open = on
        if self.explain_button is not None:
            self.explain_button.setArrowType(Qt.ArrowType.DownArrow if on
                                             else Qt.ArrowType.RightArrow)
        self._refresh_explanation()

    # -- applying edits ----------------------------------------------------------------------

    def _apply(self, name: str, value: Any) -> None:
        if self.graph is None or self.node_id is None:
            return
        node = self.graph.nodes[self.node_id]
        editor = self.editors[name]
        try:
            if node.type == BLOCK_TYPE:  # an exposed parameter of a block instance
                normalized = editor.param.normalize(value)
                normalized = to_plain(normalized)
            else:
                normalized = catalog.get(node.type).param(name).normalize(value)
        except ParamError as err:
            editor.show_error(str(err))
            return
        if normalized == node.params.get(name):
            editor.show_error(None)
            editor.show_value(normalized)  # canonical form: "3" becomes "3, 3"
            return
        error = self.document.set_param(self.node_id, name, value)
        editor.show_error(error)

    def _rename(self) -> None:
        if self.graph is None or self.node_id is None or self.name_edit is None:
            return
        new = self.name_edit.text().strip()
        if new == self.graph.nodes[self.node_id].name:
            self._show_name_error(None)
            return
        self._show_name_error(self.document.rename(self.node_id, new))

    def _show_name_error(self, message: str | None) -> None:
        if self.name_error is None or self.name_edit is None:
            return
        self.name_error.setText(message or "")
        self.name_error.setVisible(bool(message))
        self.name_edit.setStyleSheet("border: 1px solid #d93025;" if message else "")

    def _set_trainable(self, on: bool) -> None:
        if self.graph is None or self.node_id is None:
            return
        self.document.set_trainable([self.node_id], on)

    # -- following the graph ----------------------------------------------------------------

    def _on_graph_event(self, event: Event) -> None:
        if self.node_id is None or self.graph is None:
            return
        node = event.node
        if event.kind == "node_removed" and node is not None and node.id == self.node_id:
            self.set_node(None)
        elif event.kind == "param_changed" and node is not None and node.id == self.node_id:
            editor = self.editors.get(event.name or "")
            if editor is not None:
                editor.show_value(event.new)
                editor.show_error(None)
        elif event.kind == "node_renamed" and node is not None and node.id == self.node_id:
            if self.name_edit is not None:
                self.name_edit.setText(node.name)
            self._show_name_error(None)
            self._refresh_header()
            # the graph re-infers the node (its error text names it) after telling us
            QTimer.singleShot(0, self, self._refresh_status)
        elif event.kind == "trainable_changed" and node is not None and node.id == self.node_id:
            if self.trainable_box is not None:
                self.trainable_box.blockSignals(True)
                self.trainable_box.setChecked(node.trainable)
                self.trainable_box.blockSignals(False)
            self._refresh_status()
        elif event.kind == "shapes_changed" and self.node_id in event.nodes:
            self._refresh_status()
        elif event.kind == "block_changed" and self.graph.nodes[self.node_id].type == BLOCK_TYPE \
                and self.graph.nodes[self.node_id].params.get("block") == event.name:
            node_id, self.title = self.node_id, None  # its exposed parameters may differ
            self.set_node(node_id)
