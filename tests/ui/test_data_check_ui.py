"""The project's data against its output, in the editor: the cats-vs-dogs CNN (one sigmoid
unit) on the 10-class digits is an error at its output with the repair as a quick fix (one undo
step); an explicit loss, or data whose classes fit, clears it."""

from __future__ import annotations

from pathlib import Path

from netbuilder.core.project import load

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
FIX = "Set units to 10 and activation to softmax"


def test_one_sigmoid_unit_on_digits_is_red_with_its_fix_and_undo(make_window):
    graph = load(EXAMPLES / "cats_vs_dogs_cnn.nbproj").graph
    window = make_window(graph)
    scene, document = window.scene, window.document
    out = graph.outputs()[0]
    item = scene.node_items[out.id]
    assert not item.error
    document.set_training_settings("digits", key="data")
    assert item.error and [f.label for f in item.fixes] == [FIX]
    assert "regression (mean squared error)" in item.toolTip()
    assert item.count == f"Fix: {FIX}"

    scene.select_node(out.id)
    editor = window.parameter_editor
    assert "10 classes" in editor.status.text()
    (button,) = [b for b in editor.fix_buttons if FIX in b.text()]
    steps = window.undo_stack.count()
    button.click()
    assert window.undo_stack.count() == steps + 1  # one step for both parameters
    assert out.params["units"] == 10 and out.params["activation"] == "softmax"
    assert not item.error and not document.data_check.problems
    assert "fits the data now" in window.statusBar().currentMessage()
    assert "Problem" not in editor.status.text()

    window.undo_stack.undo()
    assert out.params["units"] == 1 and out.params["activation"] == "sigmoid"
    assert item.error and out.id in document.data_check.problems

    menu = scene.node_menu(out.id)
    actions = {a.text(): a for a in menu.actions() if a.text()}
    actions[FIX].trigger()  # the context menu offers it too
    assert not item.error
    window.undo_stack.undo()

    # a loss chosen on purpose: a regression on class numbers is allowed
    document.set_training_settings({"loss": "mean_squared_error"})
    assert not item.error
    window.undo_stack.undo()
    assert item.error
    document.set_training_settings({"source": "shapes", "options": {"num_classes": 2}},
                                   key="data")
    assert not item.error  # two classes: one sigmoid unit fits


def test_a_class_count_found_by_the_data_preview_counts(make_window):
    graph = load(EXAMPLES / "cats_vs_dogs_cnn.nbproj").graph
    window = make_window(graph)
    check = window.document.data_check
    data = {"source": "/data/flowers", "options": {}}
    window.document.set_training_settings(data, key="data")
    assert not check.problems  # a folder's classes are not known before it is read
    check.preview_seen(data, {"event": "data", "class_names": ["a", "b", "c", "d", "e"]})
    (problem,) = check.problems.values()
    assert "5 classes" in problem.message
    assert window.scene.node_items[problem.node_id].error
