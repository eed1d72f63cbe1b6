"""Quick fixes in one click: offered in the tooltip, the context menu and the inspector; applying
one is one undo step that undo takes back completely."""

from __future__ import annotations

from netbuilder.core.graph import Graph


def flat_input_into_conv() -> Graph:
    """Input (784,) → Conv2D: invalid (Conv2D wants an image); → Flatten → Dense."""
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [784]}, position=(0, 0))
    conv = graph.add_node("Conv2D", {"filters": 8, "kernel_size": 3}, position=(0, 110))
    flat = graph.add_node("Flatten", position=(0, 220))
    dense = graph.add_node("Dense", {"units": 10}, position=(0, 330))
    graph.connect(inp.id, conv.id)
    graph.connect(conv.id, flat.id)
    graph.connect(flat.id, dense.id)
    return graph


def snapshot(graph: Graph):
    return ({n.id: (n.type, n.name, n.position, dict(n.params)) for n in graph.nodes.values()},
            set(graph.edges),
            {nid: (r.outputs, r.params, r.error) for nid, r in graph.inference.results.items()})


def menu_actions(menu):
    return {a.text(): a for a in menu.actions() if a.text() and not a.isSeparator()}


def test_quick_fix_from_the_context_menu_then_undo_and_redo(make_window):
    graph = flat_input_into_conv()
    window = make_window(graph)
    scene = window.scene
    before = snapshot(graph)
    conv = scene.node_items["n2"]
    assert conv.error
    assert [f.label for f in conv.fixes] == ["Reshape to (28, 28, 1) before it"]
    assert "Quick fixes" in conv.toolTip() and "Reshape to (28, 28, 1) before it" in \
        conv.toolTip()

    menu = scene.node_menu("n2")
    actions = menu_actions(menu)
    assert list(actions)[0] == "Reshape to (28, 28, 1) before it"
    actions["Reshape to (28, 28, 1) before it"].trigger()

    assert window.undo_stack.count() == 1  # one step, whatever it took
    assert window.undo_stack.undoText().startswith("Quick fix for conv2d")
    (new_id,) = set(graph.nodes) - set(before[0])
    new = graph.nodes[new_id]
    assert new.type == "Reshape" and new.params["target_shape"] == (28, 28, 1)
    assert [(e.src, e.dst) for e in graph.in_edges(new_id)] == [("n1", new_id)]
    assert [(e.src, e.dst) for e in graph.in_edges("n2")] == [(new_id, "n2")]
    assert graph.inference.errors() == []
    assert not scene.node_items["n2"].error and new_id in scene.node_items
    assert scene.node_items["n4"].shape_line == "(None, 10)"
    # room was made: the inserted layer does not sit on top of its neighbours
    ys = sorted(n.position[1] for n in graph.nodes.values())
    assert all(b - a >= 100 for a, b in zip(ys, ys[1:]))
    assert "valid now" in window.statusBar().currentMessage()
    after = snapshot(graph)

    window.undo_stack.undo()
    assert snapshot(graph) == before  # node gone, edge back on its ports, positions, shapes
    assert new_id not in scene.node_items and scene.node_items["n2"].error
    assert set(scene.edge_items) == before[1]

    window.undo_stack.redo()
    assert snapshot(graph) == after  # the same layer, same id and name, same place
    assert set(scene.edge_items) == after[1]
    assert graph.inference.errors() == []


def test_quick_fix_keeps_the_port_of_a_merge_input(make_window):
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [8, 8, 3]}, position=(0, 0))
    a = graph.add_node("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"},
                       position=(-120, 110))
    b = graph.add_node("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same"},
                       position=(120, 110))
    add = graph.add_node("Add", position=(0, 220))
    for n in (a, b):
        graph.connect(inp.id, n.id)
        graph.connect(n.id, add.id)
    window = make_window(graph)
    before = snapshot(graph)
    (fix,) = window.scene.quick_fixes(add.id)
    assert "1×1 Conv2D" in fix.label
    new_id = window.apply_quick_fix(fix)
    assert graph.inference.result(add.id).outputs == [(None, 8, 8, 16)]
    assert [(e.src, e.dst_port) for e in graph.in_edges(add.id)] == [(a.id, 0), (new_id, 1)]
    window.undo_stack.undo()
    assert snapshot(graph) == before
    assert [(e.src, e.dst_port) for e in graph.in_edges(add.id)] == [(a.id, 0), (b.id, 1)]


def test_inspector_offers_the_fixes_as_buttons(make_window, qtbot):
    graph = flat_input_into_conv()
    window = make_window(graph)
    window.scene.select_node("n2")
    inspector = window.parameter_editor
    assert [b.text() for b in inspector.fix_buttons] == ["Fix: Reshape to (28, 28, 1) before it"]
    assert not inspector.fix_box.isHidden()
    inspector.fix_buttons[0].click()
    assert graph.inference.errors() == []
    assert window.undo_stack.count() == 1
    # the new layer is selected; back on the conv, no fix is offered any more
    window.scene.select_node("n2")
    assert inspector.fix_buttons == [] and inspector.fix_box.isHidden()


def test_a_noted_layer_offers_fixes_too(make_window):
    """Dense right after a convolution is valid Keras but rarely meant: a hint, with fixes."""
    graph = Graph()
    inp = graph.add_node("Input", {"shape": [28, 28, 1]})
    conv = graph.add_node("Conv2D", {"filters": 8, "kernel_size": 3}, position=(0, 110))
    dense = graph.add_node("Dense", {"units": 10}, position=(0, 220))
    graph.connect(inp.id, conv.id)
    graph.connect(conv.id, dense.id)
    graph.connect(dense.id, graph.add_node("Flatten", position=(0, 330)).id)  # not the output
    window = make_window(graph)
    item = window.scene.node_items[dense.id]
    assert item.noted and not item.error
    assert [f.label for f in item.fixes] == ["Insert Flatten before it",
                                             "Insert GlobalAveragePooling2D before it"]
    menu = window.scene.node_menu(dense.id)
    menu_actions(menu)["Insert GlobalAveragePooling2D before it"].trigger()
    assert graph.inference.result(dense.id).outputs == [(None, 10)]
    assert graph.inference.result(dense.id).params == 8 * 10 + 10
    assert not window.scene.node_items[dense.id].noted


def test_valid_layers_offer_no_fixes(window):
    menu = window.scene.node_menu("n2")
    assert "Quick fixes" not in [a.text() for a in menu.actions()]
    assert window.scene.node_items["n2"].fixes == []


def test_a_block_instance_parameter_fix_from_the_menu_and_the_inspector(make_window):
    from netbuilder.core import blocks_library as bl

    graph = Graph()
    bl.add_to_graph(graph, bl.se_block())
    x = graph.add_node("Input", {"shape": [8, 8, 3]}, position=(0, 0))
    conv = graph.add_node("Conv2D", {"filters": 16, "kernel_size": 3}, position=(0, 110))
    se = graph.add_node("Block", {"block": "se_block"}, name="se", position=(0, 220))
    graph.connect(x.id, conv.id)
    graph.connect(conv.id, se.id)
    window = make_window(graph)
    scene = window.scene
    assert scene.node_items[se.id].error
    label = "Set channels to 16, the channels of its input"
    assert [f.label for f in scene.node_items[se.id].fixes] == [label]
    window.select_node(se.id)
    buttons = [b.text() for b in window.parameter_editor.fix_buttons]
    assert buttons == [f"Fix: {label}"]
    menu = scene.node_menu(se.id)
    actions = menu_actions(menu)
    assert list(actions)[0] == label
    actions[label].trigger()
    assert graph.nodes[se.id].params["channels"] == 16
    assert not scene.node_items[se.id].error and graph.inference.errors() == []
    assert window.undo_stack.count() == 1
    window.undo_stack.undo()
    assert graph.nodes[se.id].params["channels"] == 64 and scene.node_items[se.id].error
    window.undo_stack.redo()
    assert graph.nodes[se.id].params["channels"] == 16
