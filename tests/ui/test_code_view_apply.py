"""The Code tab edits the graph: Apply runs the edited code through the code importer and makes its
model the graph in one undo step (positions kept where names match), errors point at the line,
Revert brings the generated code back."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from netbuilder.core.codegen import generate_code
from netbuilder.core.graph import Graph
from netbuilder.core.graph_replace import replacement
from netbuilder.core.project import Project, load, project_to_dict
from netbuilder.runtime.training.settings import TrainingSettings
from netbuilder.ui.panels import code as code_panel
from netbuilder.ui.user_files import examples_dir

# mnist_cnn: Flatten gives 3·3·64 = 576 features; Dense 64 -> 128 adds 576·64 + 64 weights,
# and dense_1 (10 units) gains 64·10 of its own: 93,322 + 36,928 + 640 = 130,890
TOTAL_64 = "93,322"
TRAINING_DEFAULTS = TrainingSettings().to_dict()
TOTAL_128 = "130,890"


@pytest.fixture
def mnist(make_window):
    project = load(examples_dir() / "mnist_cnn.nbproj")
    window = make_window(project.graph, "mnist_cnn")
    window.code_dock.show()
    window.code_dock.raise_()
    view = window.code_view
    view.refresh()
    view.consented = True
    return window, view


class FakeImport(QObject):
    """The code-import process, answered here: the job's code -> the project ``answers`` gives
    for it (a function of the code), sent back as the worker would."""

    event = Signal(dict)
    crashed = Signal(str)
    finished = Signal()
    answers = None
    jobs: list[dict] = []

    def __init__(self, name, module, parent=None, **_options):
        super().__init__(parent)

    def start(self, first):
        FakeImport.jobs.append(first)
        project = FakeImport.answers(first["code"])
        message = {"event": "finished", "project": json.loads(json.dumps(project_to_dict(project))),
                   "chosen": "build_model()", "candidates": [], "notes": []}
        QTimer.singleShot(0, self, lambda: self.event.emit(message))

    def close(self, timeout_ms=0):
        pass

    def running(self):
        return False


@pytest.fixture
def fake_import(monkeypatch):
    monkeypatch.setattr(code_panel, "WorkerClient", FakeImport)
    FakeImport.jobs = []
    return FakeImport


def edit(view, old, new):
    text = view.editor.toPlainText()
    assert old in text
    view.editor.setPlainText(text.replace(old, new, 1))


def imported_with_units(window, units):
    """What the importer makes of the code with Dense(units): the graph laid out anew (as the
    importer does), other node ids."""
    project = Project(Graph(), "mnist_cnn")
    for i, node in enumerate(window.graph.nodes.values()):
        params = dict(node.params, units=units) if node.name == "dense" else node.params
        project.graph.add_node(node.type, params, name=node.name, node_id=f"m{i}",
                               position=(500.0, 90.0 * i))
    old_to_new = {nid: f"m{i}" for i, nid in enumerate(window.graph.nodes)}
    for e in window.graph.edges:
        project.graph.connect(old_to_new[e.src], old_to_new[e.dst], e.src_port, e.dst_port)
    return project


def test_apply_makes_the_code_the_graph_in_one_undo_step(mnist, fake_import, qtbot):
    window, view = mnist
    FakeImport.answers = lambda code: imported_with_units(window, 128)
    positions = {n.id: n.position for n in window.graph.nodes.values()}
    steps = window.undo_stack.count()
    assert TOTAL_64 in window.summary.totals.text()

    edit(view, "layers.Dense(64,", "layers.Dense(128,")
    assert view.edited and view.apply_button.isEnabled() and view.revert_button.isEnabled()
    assert "Edited — Apply or Revert" in view.info.text()
    view.apply_button.click()
    qtbot.waitUntil(lambda: not view.edited, timeout=3000)

    dense = window.graph.node_by_name("dense")
    assert dense.params["units"] == 128
    assert {n.id: n.position for n in window.graph.nodes.values()} == positions  # ids too
    assert window.undo_stack.count() == steps + 1
    assert FakeImport.jobs[0]["filename"] == code_panel.FILENAME
    qtbot.waitUntil(lambda: TOTAL_128 in window.summary.totals.text(), timeout=3000)
    qtbot.waitUntil(lambda: "layers.Dense(128," in view.editor.toPlainText(), timeout=3000)
    assert not view.error_label.isVisible()

    window.undo_stack.undo()
    assert window.graph.node_by_name("dense").params["units"] == 64
    qtbot.waitUntil(lambda: TOTAL_64 in window.summary.totals.text(), timeout=3000)
    qtbot.waitUntil(lambda: "layers.Dense(64," in view.editor.toPlainText(), timeout=3000)
    window.undo_stack.redo()
    assert window.graph.node_by_name("dense").params["units"] == 128


def test_compile_settings_come_in_the_same_undo_step(mnist, fake_import, qtbot):
    window, view = mnist
    window.document.set_training_settings({"epochs": 3, "batch_size": 64})
    steps = window.undo_stack.count()

    def compiled(code):
        project = imported_with_units(window, 64)
        project.settings["training"] = dict(  # the importer's form: every setting
            TRAINING_DEFAULTS, optimizer="sgd", learning_rate=0.01, loss="categorical_crossentropy",
            metrics=["accuracy"])
        return project

    FakeImport.answers = compiled
    edit(view, "    return keras.Model(", '    model = keras.Model(')
    edit(view, 'name="mnist_cnn")', 'name="mnist_cnn")\n    model.compile("sgd")\n    return model')
    view.apply_button.click()
    qtbot.waitUntil(lambda: not view.edited, timeout=3000)
    training = window.project.settings["training"]
    assert training["optimizer"] == "sgd" and training["learning_rate"] == 0.01
    assert training["loss"] == "categorical_crossentropy" and training["metrics"] == ["accuracy"]
    assert training["epochs"] == 3 and training["batch_size"] == 64  # not in the code: kept
    assert window.undo_stack.count() == steps + 1
    window.undo_stack.undo()
    assert window.project.settings["training"] == {"epochs": 3, "batch_size": 64}


def test_a_syntax_error_points_at_the_line_and_leaves_the_graph(mnist, fake_import):
    window, view = mnist
    before = project_to_dict(window.project)
    steps = window.undo_stack.count()
    edit(view, 'layers.Dense(64, activation="relu", name="dense")',
         'layers.Dense(64 activation="relu", name="dense")')
    line = next(i for i, text in enumerate(view.editor.toPlainText().splitlines(), 1)
                if "Dense(64 activation" in text)
    view.apply_button.click()

    assert not FakeImport.jobs  # a syntax error answers at once, nothing runs
    assert view.error_label.isVisibleTo(view)
    assert f"code, line {line}, column " in view.error and "syntax error" in view.error
    assert "forgot a comma" in view.error
    assert view.error_line() == line
    assert view.editor.textCursor().blockNumber() + 1 == line
    assert project_to_dict(window.project) == before
    assert window.undo_stack.count() == steps
    assert view.edited  # the edits stay, to be fixed


def test_edits_are_kept_while_the_model_changes_and_revert_brings_the_code_back(mnist, qtbot):
    window, view = mnist
    edit(view, "layers.Dense(64,", "layers.Dense(100,")
    edited = view.editor.toPlainText()
    window.scene.select_node(window.graph.node_by_name("conv2d").id)
    window.parameter_editor.editors["filters"].widget.setValue(40)
    qtbot.waitUntil(lambda: "layers.Conv2D(40, 3" in view.code, timeout=3000)
    assert view.editor.toPlainText() == edited  # not overwritten
    assert "Edited — Apply or Revert" in view.info.text()

    view.copy_button.click()
    assert QApplication.clipboard().text() == edited  # Copy copies what is shown

    view.revert_button.click()
    assert not view.edited and not view.revert_button.isEnabled()
    assert view.editor.toPlainText() == generate_code(window.project) == view.code
    assert "layers.Conv2D(40, 3" in view.editor.toPlainText()
    assert "Keras code of this model" in view.info.text()


def test_apply_asks_once_before_running_code(mnist, fake_import, qtbot, monkeypatch):
    window, view = mnist
    view.consented = False
    FakeImport.answers = lambda code: imported_with_units(window, 32)
    asked = []

    def answer(choice):
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return choice
        return question

    edit(view, "layers.Dense(64,", "layers.Dense(32,")
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    view.apply_button.click()
    assert len(asked) == 1 and "separate process, without network" in asked[0]
    assert not FakeImport.jobs and view.edited

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    view.apply_button.click()
    qtbot.waitUntil(lambda: not view.edited, timeout=3000)
    assert window.graph.node_by_name("dense").params["units"] == 32

    edit(view, "layers.Dense(32,", "layers.Dense(48,")
    FakeImport.answers = lambda code: imported_with_units(window, 48)
    view.apply_button.click()  # asked once per session
    qtbot.waitUntil(lambda: not view.edited, timeout=3000)
    assert len(asked) == 2 and window.graph.node_by_name("dense").params["units"] == 48


def test_an_import_error_with_a_line_is_shown_there(mnist, qtbot):
    window, view = mnist
    edit(view, "layers.Dense(64,", "layers.Dense(64,")  # unchanged text: not edited
    assert not view.edited
    view._fail("code, line 16: ValueError: bad (before any Keras model was made)")
    assert view.error_line() == 16
    assert view.editor.textCursor().blockNumber() == 15


def test_new_layers_sit_beside_a_kept_neighbour_without_covering_one():
    old = Graph()
    a = old.add_node("Input", {"shape": [4]}, name="inp", position=(300, 0))
    b = old.add_node("Dense", {"units": 3}, name="out", position=(300, 110))
    old.connect(a.id, b.id)
    new = Graph()
    x = new.add_node("Input", {"shape": [4]}, name="inp", position=(0, 0))
    y = new.add_node("Dense", {"units": 8}, name="hidden", position=(0, 110))
    z = new.add_node("Dense", {"units": 3}, name="out", position=(0, 220))
    new.connect(x.id, y.id)
    new.connect(y.id, z.id)

    def free(wanted, taken):
        while wanted in taken:
            wanted = (wanted[0] + 200, wanted[1])
        return wanted

    snap = replacement(old, new, free)
    nodes = {n[2]: (n[0], n[5]) for n in snap.nodes}
    assert nodes["inp"] == (a.id, (300, 0)) and nodes["out"] == (b.id, (300, 110))
    assert nodes["hidden"][1] == (500, 110)  # below inp, moved off out
    assert nodes["hidden"][0] not in old.nodes
    assert {(e.src, e.dst) for e in snap.edges} == {(a.id, nodes["hidden"][0]),
                                                   (nodes["hidden"][0], b.id)}


@pytest.mark.slow
def test_apply_runs_the_real_importer(mnist, qtbot):
    window, view = mnist
    positions = {n.name: n.position for n in window.graph.nodes.values()}
    edit(view, "layers.Dense(64,", "layers.Dense(128,")
    view.apply_button.click()
    qtbot.waitUntil(lambda: not view.edited or bool(view.error), timeout=90_000)
    qtbot.waitUntil(lambda: not view.workers_running(), timeout=10_000)
    assert not view.error
    assert window.graph.node_by_name("dense").params["units"] == 128
    assert {n.name: n.position for n in window.graph.nodes.values()} == positions
    qtbot.waitUntil(lambda: TOTAL_128 in window.summary.totals.text(), timeout=3000)
    window.undo_stack.undo()
    assert window.graph.node_by_name("dense").params["units"] == 64


SHARED = '''
import keras
from keras import layers

inputs = keras.Input(shape=(8,))
shared = layers.Dense(4, name="shared")
outputs = layers.Add()([shared(inputs), shared(inputs)])
model = keras.Model(inputs, outputs)
'''


@pytest.mark.slow
def test_a_shared_layer_applies_as_one_layer_called_twice(mnist, qtbot):
    window, view = mnist
    view.editor.setPlainText(SHARED)
    view.apply_button.click()
    qtbot.waitUntil(lambda: not view.edited or bool(view.error), timeout=90_000)
    qtbot.waitUntil(lambda: not view.workers_running(), timeout=10_000)
    assert not view.error
    graph = window.graph
    assert {graph.nodes[c].name: graph.nodes[o].name for c, o in graph.sharing.items()} == {
        "shared_call2": "shared"}
    window.undo_stack.undo()
    assert graph.sharing == {}
