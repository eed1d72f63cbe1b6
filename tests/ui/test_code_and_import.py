"""The code view (the model's Keras code, live, copyable), File ▸ Export ▸ Keras Code, and
File ▸ Import Keras Model run in the background."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QApplication

from netbuilder.core.codegen import generate_code
from netbuilder.core.graph import Graph
from netbuilder.core.project import Project
from netbuilder.ui.dialogs import export_files
from netbuilder.ui.dialogs import import_model as import_dialog
from netbuilder.ui.panels.code import CodeView


def show_code(document, qtbot) -> CodeView:
    """A shown code view on ``document``'s project, as the window's Code dock has it."""
    view = CodeView(document)
    qtbot.addWidget(view)
    view.set_project(document.project)
    view.show()
    qtbot.waitExposed(view)
    view.refresh()
    return view


def test_the_code_dock_shows_the_generated_code(document, qtbot):
    view = show_code(document, qtbot)
    assert view.editor.toPlainText() == generate_code(document.project)
    assert not view.editor.isReadOnly()  # editable: Apply (test_code_view_apply.py)
    assert 'layers.Conv2D(32, 3, activation="relu", name="conv2d")' in view.code
    assert "Keras code of this model" in view.info.text()


def test_the_code_follows_edits_debounced(document, qtbot):
    view = show_code(document, qtbot)
    for value in (40, 48, 56):
        document.set_param("n2", "filters", value)
    assert "layers.Conv2D(32," in view.editor.toPlainText()  # not yet: one refresh per burst
    qtbot.waitUntil(lambda: "layers.Conv2D(56, 3" in view.editor.toPlainText(), timeout=3000)
    document.undo_stack.undo()
    qtbot.waitUntil(lambda: "layers.Conv2D(32, 3" in view.editor.toPlainText(), timeout=3000)


def test_the_code_behind_another_tab_is_written_when_its_tab_comes_to_front(
        make_window, qtbot, monkeypatch):
    from netbuilder.ui.panels import code as code_module

    window = make_window()
    window.summary_dock.raise_()
    qtbot.waitUntil(lambda: window.code_view.seen is False)
    writes = []
    real = code_module.generate_code
    monkeypatch.setattr(code_module, "generate_code",
                        lambda project: writes.append(1) or real(project))
    conv = next(n for n in window.graph.nodes.values() if n.type == "Conv2D")
    window.document.set_param(conv.id, "filters", 40)
    qtbot.wait(700)                    # past the refresh delay: a big model's code is not
    assert writes == []                # written after every edit behind another tab
    window.code_dock.raise_()
    qtbot.waitUntil(lambda: "Conv2D(40," in window.code_view.editor.toPlainText(), timeout=3000)
    assert writes == [1]


def test_an_invalid_model_says_so_and_keeps_the_last_valid_code(document, qtbot):
    view = show_code(document, qtbot)
    valid = view.code
    document.graph.set_param("n1", "shape", [784])  # Conv2D cannot take it
    qtbot.waitUntil(lambda: "has a problem" in view.info.text(), timeout=3000)
    assert "conv2d: Conv2D expects input of rank 4" in view.info.text()
    assert view.editor.toPlainText() == valid and view.problem
    document.graph.set_param("n1", "shape", [28, 28, 1])
    qtbot.waitUntil(lambda: not view.problem, timeout=3000)


def test_copy_button(document, qtbot):
    view = show_code(document, qtbot)
    view.copy_button.click()
    assert QApplication.clipboard().text() == view.code
    assert view.copy_button.text() == "Copied"


def test_a_hidden_code_view_catches_up_when_shown(qtbot):
    view = CodeView()
    qtbot.addWidget(view)
    graph = Graph()
    graph.add_node("Input", {"shape": [4]})
    project = Project(graph, "tiny")
    view.set_project(project)
    d = graph.add_node("Dense", {"units": 2})
    graph.connect("n1", d.id)
    assert "Dense" not in view.editor.toPlainText()  # hidden: nothing regenerated
    view.show()
    qtbot.waitExposed(view)
    assert "layers.Dense(2" in view.editor.toPlainText()


def test_export_keras_code(window, tmp_path, no_modal_dialogs):
    target = tmp_path / "model.py"
    assert export_files.export_code(window, str(target))
    assert target.read_text() == generate_code(window.project)
    window.graph.set_param("n1", "shape", [784])
    assert not export_files.export_code(window, str(tmp_path / "bad.py"))
    assert no_modal_dialogs[-1][1] == "Cannot export the code"
    assert not (tmp_path / "bad.py").exists()


def imported_project() -> Project:
    graph = Graph()
    a = graph.add_node("Input", {"shape": [8]})
    b = graph.add_node("Dense", {"units": 3}, position=(0, 110))
    graph.connect(a.id, b.id)
    project = Project(graph, "imported_model")
    project.settings["imported"] = {"source": "app:Tiny"}
    return project


def test_import_runs_in_the_background_and_opens_the_project(window, qtbot, monkeypatch):
    calls = []
    release = threading.Event()

    def fake_import(source, options, workdir=None):
        calls.append((source, options, threading.current_thread() is threading.main_thread()))
        release.wait(5)
        return imported_project()

    monkeypatch.setattr(import_dialog, "run_import", fake_import)
    window.ask_import = lambda: ("app:Tiny", {"include_top": False})
    window.import_action.trigger()
    qtbot.waitUntil(lambda: bool(calls), timeout=3000)
    assert calls[0][:2] == ("app:Tiny", {"include_top": False})
    assert calls[0][2] is False  # not on the GUI thread
    # meanwhile the window works: edits go on
    window.scene.select_node("n2")
    window.parameter_editor.editors["filters"].widget.setValue(8)
    assert "Importing app:Tiny" in window.statusBar().currentMessage()
    assert not window.start_import("app:Other")  # one at a time
    release.set()
    qtbot.waitUntil(lambda: window.project.name == "imported_model", timeout=5000)
    assert set(window.scene.node_items) == {"n1", "n2"}
    assert window.scene.node_items["n2"].shape_line == "(None, 3)"
    assert window.is_modified() and window.path is None  # not saved anywhere yet
    assert "Imported app:Tiny: 2 layers" in window.statusBar().currentMessage()
    assert window.import_job is None


def test_a_failed_import_is_reported(window, qtbot, monkeypatch, no_modal_dialogs):
    class KerasImportError(Exception):
        pass

    def failing(source, options, workdir=None):
        raise KerasImportError("layer 'lambda' is a Lambda layer (Python code)")

    monkeypatch.setattr(import_dialog, "run_import", failing)
    nodes = set(window.graph.nodes)
    assert window.start_import("/tmp/model.keras")
    qtbot.waitUntil(lambda: bool(no_modal_dialogs), timeout=3000)
    kind, title, text = no_modal_dialogs[-1]
    assert title == "Cannot import the model" and "Lambda layer" in text
    assert set(window.graph.nodes) == nodes


def test_the_import_dialog(qtbot, tmp_path):
    dialog = import_dialog.ImportDialog(None, str(tmp_path))
    qtbot.addWidget(dialog)
    assert dialog.file_button.isChecked()
    dialog._accept()
    assert dialog.error.text() == "Choose a model file."
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    dialog.path_edit.setText(str(model))
    assert dialog.request() == (str(model), {})

    dialog.app_button.setChecked(True)
    assert "EfficientNetB7" in [dialog.app_combo.itemText(i)
                                for i in range(dialog.app_combo.count())]
    dialog.app_combo.setCurrentText("MobileNetV2")
    dialog.include_top.setChecked(False)
    dialog.input_shape.setText("96, 96, 3")
    assert dialog.request() == ("app:MobileNetV2", {"include_top": False,
                                                    "input_shape": (96, 96, 3)})
    dialog.set_application_names(["MobileNetV2", "ResNet50"])
    assert dialog.app_combo.currentText() == "MobileNetV2" and dialog.app_combo.count() == 2
    dialog.input_shape.setText("big")
    dialog._accept()
    assert "Input shape" in dialog.error.text()


def test_weights_of_an_imported_model_follow_the_project(window, tmp_path):
    weights = tmp_path / "work" / "imported.weights.h5"
    weights.parent.mkdir()
    weights.write_bytes(b"weights")
    project = imported_project()
    project.weights = "imported.weights.h5"
    window.set_project(project, None)
    window.weights_file = weights
    target = tmp_path / "mine.nbproj"
    assert window.save_to(target)
    assert (tmp_path / "mine.weights.h5").read_bytes() == b"weights"
    assert window.project.weights == "mine.weights.h5"
    from netbuilder.core.project import load

    assert load(target).weights == "mine.weights.h5"
