"""Shared layers in the editor: Call Again (a node's context menu) adds a call sharing the
layer's weights beside it, Unshare gives a call weights of its own; each is one undo step, the
cards say who shares with whom, and the summary counts the weights once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from netbuilder.core.graph import Graph
from netbuilder.core.project import Project, project_to_dict


def two_inputs() -> Graph:
    g = Graph()
    a = g.add_node("Input", {"shape": [8]}, name="a", position=(0, 0))
    g.add_node("Input", {"shape": [8]}, name="b", position=(300, 0))
    d = g.add_node("Dense", {"units": 4}, name="twin", position=(0, 110))
    g.connect(a.id, d.id)
    return g


@pytest.fixture
def make_window(qtbot):
    """A document and its canvas (the MainWindow's parts that these edits go through)."""
    from netbuilder.ui.canvas.scene import GraphScene
    from netbuilder.ui.document import Document

    def make(graph: Graph) -> SimpleNamespace:
        document = Document(Project(graph, "shared"))
        scene = GraphScene(document)
        return SimpleNamespace(document=document, scene=scene, graph=document.graph,
                               undo_stack=document.undo_stack, project=document.project)
    return make


def trigger(scene, node_id: str, text: str | None = None) -> list[str]:
    """The texts of a layer's context menu; with ``text``, that entry triggered."""
    menu = scene.node_menu(node_id)
    found = {a.text(): a for a in menu.actions() if a.text()}
    if text is not None:
        found[text].trigger()
    return list(found)


def test_call_again_and_unshare_each_one_undo_step(make_window):
    window = make_window(two_inputs())
    graph, scene, stack = window.graph, window.scene, window.undo_stack
    twin = graph.node_by_name("twin").id
    before = project_to_dict(window.project)

    assert "Unshare (weights of its own)" not in trigger(scene, twin)
    trigger(scene, twin, "Call Again (share its weights)")
    (call,) = graph.sharing
    assert graph.sharing == {call: twin} and graph.nodes[call].name == "twin_call"
    assert graph.nodes[call].position[1] == graph.nodes[twin].position[1]  # beside it
    assert graph.nodes[call].position[0] > graph.nodes[twin].position[0]
    assert scene.selected_node_ids() == [call]
    assert stack.undoText() == "Call twin Again"
    assert scene.node_items[call].type_text == "Dense ⇄ shares twin"
    assert scene.node_items[twin].type_text == "Dense ⇄ shared ×2"

    # connected to the other input: one layer, counted once
    window.document.connect(graph.node_by_name("b").id, call)
    assert graph.inference.errors() == []
    assert graph.inference.totals().params == 36
    # the inspector's edit of the call edits the layer
    window.document.set_param(call, "units", 6)
    assert graph.nodes[twin].params["units"] == 6
    stack.undo()
    assert graph.nodes[twin].params["units"] == 4

    shared_state = project_to_dict(window.project)
    trigger(scene, call, "Unshare (weights of its own)")
    assert graph.sharing == {} and stack.undoText() == "Unshare twin_call"
    assert scene.node_items[call].type_text == "Dense"
    assert graph.inference.totals().params == 72
    window.document.set_param(call, "units", 2)
    assert graph.nodes[twin].params["units"] == 4
    stack.undo()  # the units
    stack.undo()  # Unshare
    assert project_to_dict(window.project) == shared_state
    assert scene.node_items[call].type_text == "Dense ⇄ shares twin"
    stack.redo()
    assert graph.sharing == {}
    stack.undo()
    stack.undo()  # the connection
    stack.undo()  # Call Again
    assert project_to_dict(window.project) == before
    assert call not in scene.node_items


def test_deleting_the_owner_hands_the_layer_over_and_undo_puts_it_back(make_window):
    window = make_window(two_inputs())
    graph, stack = window.graph, window.undo_stack
    twin = graph.node_by_name("twin").id
    call = window.document.call_again(twin)
    again = window.document.call_again(call)  # a call of a call shares the owner's layer
    assert graph.sharing == {call: twin, again: twin}
    edges = set(graph.edges)
    window.document.delete([twin], [])
    assert graph.sharing == {again: call}
    stack.undo()
    assert graph.sharing == {call: twin, again: twin} and set(graph.edges) == edges
    assert graph.nodes[call].params is graph.nodes[twin].params
    # an Input cannot be called again
    assert window.document.call_again(graph.node_by_name("a").id) is None
