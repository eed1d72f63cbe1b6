"""Undo commands over the Graph API."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QUndoStack

from netbuilder.core.graph import Graph, GraphError
from netbuilder.ui.commands import (
    AddNode,
    Connect,
    Disconnect,
    Move,
    RemoveNode,
    Rename,
    SetParam,
    SetTrainable,
    push,
)


@pytest.fixture
def stack(qapp):
    return QUndoStack()


def test_add_connect_and_undo_all(stack):
    graph = Graph()
    add_input = push(stack, AddNode(graph, "Input", {"shape": [4]}))
    add_dense = push(stack, AddNode(graph, "Dense", {"units": 2}, position=(0, 110)))
    push(stack, Connect(graph, add_input.node_id, add_dense.node_id))
    assert graph.inference.result(add_dense.node_id).params == 10
    while stack.canUndo():
        stack.undo()
    assert graph.nodes == {}
    while stack.canRedo():
        stack.redo()
    assert [(e.src, e.dst) for e in graph.edges] == [(add_input.node_id, add_dense.node_id)]
    assert graph.nodes[add_dense.node_id].name == "dense"


def test_refused_edit_is_not_recorded_and_keeps_redo(stack):
    graph = Graph()
    a = graph.add_node("Input", {"shape": [4]})
    b = graph.add_node("Dense", {"units": 2})
    push(stack, SetParam(graph, b.id, "units", 3))
    stack.undo()
    with pytest.raises(GraphError):
        push(stack, Connect(graph, b.id, a.id))
    assert stack.canRedo() and stack.count() == 1
    with pytest.raises(GraphError):
        push(stack, SetParam(graph, b.id, "units", 0))
    assert stack.count() == 1


def test_set_param_merges_and_cancels_out(stack):
    graph = Graph()
    b = graph.add_node("Dense", {"units": 2})
    push(stack, SetParam(graph, b.id, "units", 3))
    push(stack, SetParam(graph, b.id, "units", 4))
    assert stack.count() == 1
    push(stack, SetParam(graph, b.id, "activation", "relu"))
    assert stack.count() == 2
    stack.undo()
    stack.undo()
    assert graph.nodes[b.id].params["units"] == 2
    stack.redo()
    assert graph.nodes[b.id].params["units"] == 4
    push(stack, SetParam(graph, b.id, "units", 7))
    push(stack, SetParam(graph, b.id, "units", 4))  # back to where this edit started
    assert graph.nodes[b.id].params["units"] == 4


def test_remove_node_restores_its_edges_and_ports(stack):
    graph = Graph()
    a = graph.add_node("Input", {"shape": [4]})
    b = graph.add_node("Input", {"shape": [4]})
    c = graph.add_node("Concatenate")
    graph.connect(a.id, c.id)
    graph.connect(b.id, c.id)
    edges = set(graph.edges)
    push(stack, RemoveNode(graph, a.id))
    assert [e.dst_port for e in graph.in_edges(c.id)] == [1]
    stack.undo()
    assert set(graph.edges) == edges
    assert graph.inference.result(c.id).outputs == [(None, 8)]


def test_disconnect_rename_freeze_move(stack):
    graph = Graph()
    a = graph.add_node("Input", {"shape": [4]})
    b = graph.add_node("Dense", {"units": 2})
    edge = graph.connect(a.id, b.id)
    push(stack, Disconnect(graph, edge))
    push(stack, Rename(graph, b.id, "head"))
    push(stack, SetTrainable(graph, b.id, False))
    push(stack, Move(graph, {b.id: ((0.0, 0.0), (10.0, 20.0))}))
    assert graph.edges == [] and graph.nodes[b.id].name == "head"
    assert not graph.nodes[b.id].trainable and graph.nodes[b.id].position == (10.0, 20.0)
    for _ in range(4):
        stack.undo()
    assert graph.edges == [edge] and graph.nodes[b.id].name == "dense"
    assert graph.nodes[b.id].trainable and graph.nodes[b.id].position == (0.0, 0.0)
