"""The inspector: editors generated from the spec; edits are undoable and re-infer at once."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from netbuilder.core.graph import Graph
from netbuilder.ui.panels.parameters import ParameterEditor


def editor_on(document, qtbot, node_id: str) -> ParameterEditor:
    """A parameter editor on ``document`` with ``node_id`` selected, as the canvas selects it."""
    editor = ParameterEditor(document)
    qtbot.addWidget(editor)
    document.set_selection([node_id])
    return editor


def test_editor_per_parameter_kind(document, qtbot):
    inspector = editor_on(document, qtbot, "n2")
    assert inspector.node_id == "n2"
    editors = inspector.editors
    assert isinstance(editors["filters"].widget, QSpinBox)
    assert editors["filters"].widget.value() == 32
    assert isinstance(editors["kernel_size"].widget, QLineEdit)
    assert editors["kernel_size"].widget.text() == "3, 3"
    assert isinstance(editors["use_bias"].widget, QCheckBox)
    assert isinstance(editors["padding"].widget, QComboBox)
    assert editors["activation"].widget.currentText() == "relu"
    assert isinstance(editors["kernel_initializer"].widget, QComboBox)
    assert isinstance(editors["lora_alpha"].widget, QDoubleSpinBox)
    assert editors["lora_rank"].widget.text() == "none"
    assert editors["filters"].widget.toolTip().startswith("Number of filters")
    assert inspector.name_edit.text() == "conv2d"
    assert inspector.trainable_box.isChecked()
    assert "(None, 26, 26, 32)" in inspector.status.text()


def test_spin_box_edit_updates_downstream_shapes_at_once(window, qtbot):
    graph = window.graph
    window.scene.select_node("n2")
    spin = window.parameter_editor.editors["filters"].widget
    spin.setValue(64)
    assert graph.nodes["n2"].params["filters"] == 64
    assert graph.inference.result("n3").outputs == [(None, 13, 13, 64)]
    assert graph.inference.result("n5").params == 13 * 13 * 64 * 10 + 10
    assert window.scene.node_items["n4"].shape_line == "(None, 10816)"
    assert "(None, 26, 26, 64)" in window.parameter_editor.status.text()
    qtbot.waitUntil(lambda: window.summary.table.item(3, 1).text() == "(None, 10816)")

    spin.setValue(65)
    spin.setValue(66)
    assert window.undo_stack.count() == 1  # consecutive edits of one parameter merge
    window.undo_stack.undo()
    assert graph.nodes["n2"].params["filters"] == 32
    assert spin.value() == 32  # the editor follows the graph
    assert graph.inference.result("n3").outputs == [(None, 13, 13, 32)]


def test_typed_tuple_and_choice_edits(window):
    graph = window.graph
    window.scene.select_node("n2")
    editors = window.parameter_editor.editors
    kernel = editors["kernel_size"].widget
    kernel.setText("5")
    kernel.editingFinished.emit()
    assert graph.nodes["n2"].params["kernel_size"] == (5, 5)
    assert kernel.text() == "5, 5"
    assert graph.inference.result("n2").outputs == [(None, 24, 24, 32)]

    padding = editors["padding"].widget
    padding.setCurrentIndex(padding.findData("same"))
    padding.activated.emit(padding.currentIndex())
    assert graph.nodes["n2"].params["padding"] == "same"
    assert graph.inference.result("n2").outputs == [(None, 28, 28, 32)]
    assert window.scene.node_items["n2"].detail == "32 · 5×5 · same · relu"

    bias = editors["use_bias"].widget
    bias.setChecked(False)
    assert graph.inference.result("n2").params == 5 * 5 * 32
    assert window.undo_stack.count() == 3


def test_invalid_value_is_shown_inline_and_not_applied(document, qtbot):
    graph = document.graph
    editor = editor_on(document, qtbot, "n2").editors["kernel_size"]
    editor.widget.setText("0, 3")
    editor.widget.editingFinished.emit()
    assert graph.nodes["n2"].params["kernel_size"] == (3, 3)
    assert not editor.error.isHidden()
    assert "kernel_size" in editor.error.text()
    assert document.undo_stack.count() == 0

    editor.widget.setText("3, x")
    editor.widget.editingFinished.emit()
    assert "not a number" in editor.error.text()

    editor.widget.setText("4, 4")
    editor.widget.editingFinished.emit()
    assert editor.error.isHidden()
    assert graph.nodes["n2"].params["kernel_size"] == (4, 4)


def test_rename_and_freeze(window):
    graph = window.graph
    window.scene.select_node("n2")
    inspector = window.parameter_editor
    inspector.name_edit.setText("features")
    inspector.name_edit.editingFinished.emit()
    assert graph.nodes["n2"].name == "features"
    assert window.scene.node_items["n2"].name == "features"

    inspector.name_edit.setText("dense")  # taken
    inspector.name_edit.editingFinished.emit()
    assert graph.nodes["n2"].name == "features"
    assert "exists already" in inspector.name_error.text()

    inspector.trainable_box.setChecked(False)
    result = graph.inference.result("n2")
    assert (result.trainable, result.non_trainable) == (0, 320)
    assert window.scene.node_items["n2"].frozen
    window.undo_stack.undo()
    assert graph.nodes["n2"].trainable and inspector.trainable_box.isChecked()


def test_nullable_and_float_editors(make_document, qtbot):
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [16]})
    drop = graph.add_node("Dropout", {"rate": 0.5}, position=(0, 110))
    graph.connect(inp.id, drop.id)
    editors = editor_on(make_document(graph), qtbot, drop.id).editors
    rate = editors["rate"].widget
    assert rate.text() == "0.5"
    rate.setValue(0.25)
    assert graph.nodes[drop.id].params["rate"] == 0.25
    seed = editors["seed"].widget
    seed.setValue(7)
    assert graph.nodes[drop.id].params["seed"] == 7
    seed.setValue(seed.minimum())
    assert graph.nodes[drop.id].params["seed"] is None


def test_selection_follows_the_canvas(window):
    inspector = window.parameter_editor
    window.scene.select_node("n5")
    assert inspector.node_id == "n5"
    window.scene.node_items["n4"].setSelected(True)
    assert inspector.node_id is None
    window.scene.clearSelection()
    assert inspector.node_id is None
    window.scene.select_node("n5")
    window.scene.select_node(None)
    assert inspector.node_id is None
    window.scene.select_node("n5")
    window.delete_action.trigger()
    assert inspector.node_id is None


def test_wheel_over_an_unfocused_spin_box_does_not_change_it(document, qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    spin = editor_on(document, qtbot, "n2").editors["filters"].widget
    assert not spin.hasFocus()
    event = QWheelEvent(QPointF(5, 5), QPointF(5, 5), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    spin.wheelEvent(event)
    assert spin.value() == 32


def test_changing_the_input_shape_reshapes_the_whole_model(window):
    window.scene.select_node("n1")
    inspector = window.parameter_editor
    assert inspector.trainable_box is None  # an Input has no weights to freeze
    shape = inspector.editors["shape"].widget
    assert shape.text() == "28, 28, 1"
    shape.setText("32, 32, 3")
    shape.editingFinished.emit()
    graph = window.graph
    assert graph.inference.result("n2").params == 3 * 3 * 3 * 32 + 32
    assert graph.inference.result("n4").outputs == [(None, 15 * 15 * 32)]
    assert window.scene.node_items["n5"].count == f"{15 * 15 * 32 * 10 + 10:,} params"


def test_appending_without_a_selection_continues_the_model(window):
    window.scene.clearSelection()
    new_id = window.append_layer("Dropout")
    assert [e.src for e in window.graph.in_edges(new_id)] == ["n5"]
    window.scene.clearSelection()
    input_id = window.append_layer("Input")
    assert window.graph.in_edges(input_id) == []
