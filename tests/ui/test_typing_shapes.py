"""Typing shapes in the parameter editor as people write them."""

from __future__ import annotations

from PySide6.QtCore import Qt


def test_typing_784_as_the_input_shape(window, qtbot):
    window.scene.select_node("n1")
    editor = window.parameter_editor.editors["shape"]
    field = editor.widget
    field.clear()
    qtbot.keyClicks(field, "784")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert window.graph.nodes["n1"].params["shape"] == (784,)
    assert window.graph.inference.result("n1").outputs == [(None, 784)]
    assert editor.error.isHidden()
    assert field.text() == "784"

    field.clear()
    qtbot.keyClicks(field, "28×28×1")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert window.graph.inference.result("n1").outputs == [(None, 28, 28, 1)]
    assert field.text() == "28, 28, 1"

    field.clear()
    qtbot.keyClicks(field, "28, -5")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert editor.error.text() == ("`shape`: -5 in [28, -5] is not an integer >= 0 (or None), "
                                   "e.g. [28, 28, 1]")
    assert window.graph.inference.result("n1").outputs == [(None, 28, 28, 1)]
