"""Shared layers in the graph: a node that calls another node's layer again (``Node.shares``)
has the owner's parameters and trainable flag, its weights count once, and it survives the
project file (format version 5; files without shared layers keep their version)."""

from __future__ import annotations

import json

import pytest
from helpers import late_owner

from netbuilder.core.graph import Graph, GraphError
from netbuilder.core.project import Project, dumps, loads
from netbuilder.core.summary import format_text, summarize, to_json


def twin_graph() -> tuple[Graph, str, str]:
    g = Graph()
    a = g.add_node("Input", {"shape": [8]}, name="a")
    b = g.add_node("Input", {"shape": [8]}, name="b")
    d = g.add_node("Dense", {"units": 4}, name="twin")
    d2 = g.add_node("Dense", name="twin_call2", shares=d.id)
    add = g.add_node("Add", {}, name="add")
    g.connect(a.id, d.id)
    g.connect(b.id, d2.id)
    g.connect(d.id, add.id)
    g.connect(d2.id, add.id)
    return g, d.id, d2.id


def test_a_call_has_the_owners_parameters_and_counts_once():
    g, owner, call = twin_graph()
    assert g.nodes[call].params is g.nodes[owner].params
    assert g.sharing == {call: owner} and g.sharing_group(call) == [owner, call]
    assert g.inference.totals().params == 36
    doc = to_json(summarize(g))
    assert [row["name"] for row in doc["layers"]] == ["a", "b", "twin", "add"]
    assert [row["params"] for row in doc["layers"]] == [0, 0, 36, 0]
    rows = {row.name: row for row in summarize(g).rows}
    assert rows["twin_call2"].shares == "twin" and rows["twin_call2"].params == 0


def test_editing_one_call_edits_every_call():
    g, owner, call = twin_graph()
    events = []
    g.subscribe(lambda e: events.append((e.kind, e.node.id if e.node else None)))
    g.set_param(call, "units", 6)
    assert g.nodes[owner].params["units"] == 6
    assert ("param_changed", owner) in events and ("param_changed", call) in events
    assert g.inference.result(call).outputs == [(None, 6)]
    g.set_trainable(owner, False)
    assert not g.nodes[call].trainable
    assert g.inference.totals().non_trainable == 54


def test_a_call_whose_input_needs_other_weights_is_an_error():
    g, owner, call = twin_graph()
    c = g.add_node("Input", {"shape": [3]}, name="c")
    g.disconnect(g.in_edges(call)[0])
    g.connect(c.id, call)
    error = g.inference.result(call).error
    assert error == ("twin_call2: calls twin's layer again, but its input needs 16 weights "
                     "where twin has 36")


def test_a_call_whose_input_shape_changes_to_need_other_weights_is_an_error():
    g, owner, call = twin_graph()
    g.set_param(g.node_by_name("b").id, "shape", [3])  # no new connection: the same plan
    assert g.inference.result(call).error == (
        "twin_call2: calls twin's layer again, but its input needs 16 weights where twin has 36")
    g.set_param(g.node_by_name("b").id, "shape", [8])
    assert g.inference.result(call).error is None


def test_unshare_and_removing_the_owner_hand_the_layer_over():
    g, owner, call = twin_graph()
    third = g.add_node("Dense", name="twin_call3", shares=call).id  # shares the owner's layer
    assert g.nodes[third].shares == owner
    g.unshare(call)
    assert g.nodes[call].shares is None and g.nodes[call].params is not g.nodes[owner].params
    assert g.sharing == {third: owner}
    g.share(call, third)
    assert g.sharing == {third: owner, call: owner}
    g.remove_node(owner)
    assert g.sharing == {call: third} or g.sharing == {third: call}
    with pytest.raises(GraphError, match="a shared layer has one type"):
        g.add_node("Conv2D", {"filters": 2, "kernel_size": 3}, shares=third)
    with pytest.raises(GraphError, match="only a layer can be called again"):
        g.add_node("Input", shares=g.node_by_name("a").id)
    before = g.sharing
    g.restore_sharing({})
    assert g.sharing == {}
    g.restore_sharing(before)
    assert g.sharing == before


def test_the_project_file_keeps_the_sharing_in_version_5_and_older_files_stay():
    g, owner, call = twin_graph()
    text = dumps(Project(g, "twins"))
    data = json.loads(text)
    assert data["version"] == 5
    entry = next(n for n in data["graph"]["nodes"] if n["id"] == call)
    assert entry["shares"] == owner and "params" not in entry
    loaded = loads(text).graph
    assert loaded.sharing == {call: owner} and list(loaded.nodes) == list(g.nodes)
    assert to_json(summarize(loaded)) == to_json(summarize(g))
    g.unshare(call)
    assert json.loads(dumps(Project(g, "twins")))["version"] == 1
    # a call listed before its owner loads too
    data["graph"]["nodes"].sort(key=lambda n: "shares" not in n)
    assert loads(json.dumps(data)).graph.sharing == {call: owner}
    data["graph"]["nodes"][0]["shares"] = "nope"
    with pytest.raises(Exception, match="\"shares\" names 'nope'"):
        loads(json.dumps(data))


def table(g: Graph) -> dict[str, list[str]]:
    """The text summary's rows: "name (type)" -> [output shape, params, connected to]."""
    import re

    lines = format_text(summarize(g)).splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"="}]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[rules[0] + 1:rules[1]]]
    return {row[0]: row[1:] for row in rows}


def test_the_text_summary_names_a_call_as_keras_does():
    """Keras' summary lists a shared layer once, connected to the inputs of every call, and
    names a call's output ``layer[call][tensor]``: never a call node's own name."""
    g, _, _ = twin_graph()
    rows = table(g)
    assert list(rows) == ["a (InputLayer)", "b (InputLayer)", "twin (Dense)", "add (Add)"]
    assert rows["twin (Dense)"] == ["(None, 4)", "36", "a[0][0], b[0][0]"]
    assert rows["add (Add)"] == ["(None, 4)", "0", "twin[0][0], twin[1][0]"]
    assert "twin_call2" not in format_text(summarize(g))


def test_the_call_built_first_is_call_0_and_the_last_calls_shape_shows():
    """The build calls the layers in topological order: a call reached before its owner is
    Keras' node 0; the deepest call sets the row's place (Keras' ``map_graph``); the shape is
    the last call's (what ``model.summary()`` prints for this model, checked against Keras in
    tests/runtime/test_shared_layers_keras.py)."""
    g, _, _ = late_owner()
    rows = table(g)
    # Keras' order: deepest first; a call takes its layer's depth, which lifts vec above deep
    assert list(rows) == ["seq (InputLayer)", "vec (InputLayer)", "deep (Dense)",
                          "twin (Dense)", "pool (GlobalAveragePooling1D)"]
    assert rows["twin (Dense)"] == ["(None, 3, 4)", "28", "vec[0][0], deep[0][0]"]
    assert rows["pool (GlobalAveragePooling1D)"][2] == "twin[1][0]"
    assert summarize(g).total_params == 28 + 42
