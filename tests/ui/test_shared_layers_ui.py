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


# -- copy, paste and duplicate of shared layers -------------------------------------------------


def twins() -> Graph:
    """a -> twin, b -> twin_call2 (the same Dense layer), both into an Add."""
    g = two_inputs()
    twin = g.node_by_name("twin")
    call = g.add_node("Dense", name="twin_call2", shares=twin.id, position=(300, 110))
    g.connect(g.node_by_name("b").id, call.id)
    add = g.add_node("Add", {}, name="add", position=(150, 220))
    g.connect(twin.id, add.id)
    g.connect(call.id, add.id)
    return g


def pasted(document, text_before: dict, data: dict, what: str = "Paste") -> list[str]:
    """Paste ``data``; check it is one undo step that undo takes back exactly and redo
    repeats; return the new ids."""
    stack = document.undo_stack
    count = stack.count()
    new = document.paste(data, what)
    assert stack.count() == count + 1
    after = project_to_dict(document.project)
    stack.undo()
    assert project_to_dict(document.project) == text_before
    stack.redo()
    assert project_to_dict(document.project) == after
    return new


def test_a_layer_copied_with_its_call_pastes_as_a_new_shared_pair(make_document):
    from netbuilder.ui.canvas.clipboard import data_from_mime, data_to_mime, nodes_to_data

    document = make_document(twins())
    graph = document.graph
    twin, call = graph.node_by_name("twin").id, graph.node_by_name("twin_call2").id
    ids = [graph.node_by_name(n).id for n in ("a", "b", "twin", "twin_call2", "add")]
    data = data_from_mime(data_to_mime(nodes_to_data(graph, ids)))  # through the clipboard
    before = project_to_dict(document.project)
    new = pasted(document, before, data)
    names = {graph.nodes[n].name: n for n in new}
    assert set(names) == {"a_1", "b_1", "twin_1", "twin_1_call", "add_1"}
    assert graph.nodes[names["twin_1_call"]].shares == names["twin_1"]
    assert graph.sharing == {call: twin, names["twin_1_call"]: names["twin_1"]}
    assert document.undo_stack.undoText() == "Paste 5 layers"
    # its own layer: editing the copy leaves the original alone, and the weights count twice
    document.set_param(names["twin_1_call"], "units", 6)
    assert graph.nodes[names["twin_1"]].params["units"] == 6
    assert graph.nodes[twin].params["units"] == 4
    assert graph.inference.errors() == []
    assert graph.inference.totals().params == 36 + 54


def test_duplicating_a_call_calls_the_same_layer_again(make_document):
    from netbuilder.ui.canvas.clipboard import nodes_to_data

    document = make_document(twins())
    graph = document.graph
    twin, call = graph.node_by_name("twin").id, graph.node_by_name("twin_call2").id
    reports: list[str] = []
    document.reported.connect(reports.append)
    before = project_to_dict(document.project)
    (again,) = pasted(document, before, nodes_to_data(graph, [call]), "Duplicate")
    assert graph.nodes[again].shares == twin and graph.nodes[again].name == "twin_call"
    assert graph.nodes[again].params is graph.nodes[twin].params
    assert document.undo_stack.undoText() == "Duplicate twin_call2"
    assert reports == []                                 # nothing to warn about
    document.connect(graph.node_by_name("a").id, again)  # a third input of the same layer
    assert graph.inference.errors() == []
    assert graph.inference.totals().params == 36       # still one layer's weights
    # a frozen layer's new call is frozen with it (one flag per layer)
    document.set_trainable([twin], False)
    (frozen,) = document.paste(nodes_to_data(graph, [call]), "Duplicate")
    assert graph.nodes[frozen].shares == twin and not graph.nodes[frozen].trainable


def test_a_call_pasted_into_another_project_gets_weights_of_its_own(make_document):
    from netbuilder.ui.canvas.clipboard import nodes_to_data

    source = make_document(twins())
    third = source.call_again(source.graph.node_by_name("twin").id)
    data = nodes_to_data(source.graph, [source.graph.node_by_name("twin_call2").id, third])
    target = make_document(two_inputs(), "other")   # it has a "twin" too, but not that layer
    reports: list[str] = []
    target.reported.connect(reports.append)
    graph = target.graph
    before = project_to_dict(target.project)
    new = pasted(target, before, data)
    names = {graph.nodes[n].name: n for n in new}
    assert set(names) == {"twin_call2", "twin_call2_call"}
    # the first is a layer of its own; the other, a call of the same layer, calls it
    assert graph.nodes[names["twin_call2"]].shares is None
    assert graph.sharing == {names["twin_call2_call"]: names["twin_call2"]}
    assert graph.nodes[names["twin_call2"]].params["units"] == 4
    assert reports == ["Pasted twin_call2 with weights of its own: twin_call2 calls twin, "
                       "which is not in this project (copy the layer with its calls to keep "
                       "them shared)"]
    # the source's own layer was not touched
    assert len(source.graph.sharing) == 2
