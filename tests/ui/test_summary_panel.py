"""The summary panel: the model.summary() table, live, and row clicks selecting layers."""

from __future__ import annotations

from PySide6.QtCore import Qt

from netbuilder.ui.panels.summary import SummaryPanel


def summary_of(document, qtbot) -> SummaryPanel:
    """A summary panel showing ``document``'s model, as the window sets it up."""
    panel = SummaryPanel()
    qtbot.addWidget(panel)
    project = document.project
    panel.set_graph(project.graph, project.name, project.settings)
    return panel


def test_table_like_model_summary(document, qtbot):
    summary = summary_of(document, qtbot)
    summary.refresh()
    table = summary.table
    assert table.rowCount() == 5
    assert [table.horizontalHeaderItem(i).text() for i in range(4)] == [
        "Layer (type)", "Output shape", "Param #", "Connected to"]
    assert table.item(0, 0).text() == "input_layer (InputLayer)"
    assert table.item(1, 0).text() == "conv2d (Conv2D)"
    assert table.item(1, 1).text() == "(None, 26, 26, 32)"
    assert table.item(1, 2).text() == "320"
    assert table.item(1, 3).text() == "input_layer"
    total = 320 + 13 * 13 * 32 * 10 + 10
    text = summary.totals.text()
    assert f"{total:,}" in text and "Trainable" in text and "Non-trainable" in text
    assert "FLOPs" in text and "activation memory" in text


def test_table_follows_edits(document, qtbot):
    summary = summary_of(document, qtbot)
    document.graph.set_trainable("n2", False)
    qtbot.waitUntil(lambda: "Non-trainable:</b> 320" in summary.totals.text())
    document.delete(["n3"], [])
    qtbot.waitUntil(lambda: summary.table.rowCount() == 4)
    flatten_row = summary.row_of("n4")
    item = summary.table.item(flatten_row, 0)
    assert item.foreground().color().name() == "#d93025"
    assert "Flatten" in item.toolTip()
    assert "problem" in summary.totals.text()


def test_cells_kept_across_edits_take_each_edits_text_colour_and_tip(document, qtbot):
    summary = summary_of(document, qtbot)
    table = summary.table
    kept = table.item(1, 2)                         # conv2d's parameter count
    default = kept.foreground().color().name()
    document.graph.set_trainable("n2", False)
    summary.refresh()
    assert table.item(1, 2) is kept                 # the cell is kept, its look follows
    assert kept.foreground().color().name() == "#1565c0" and kept.toolTip() == (
        "frozen: not trained")
    document.graph.set_param("n1", "shape", [784])  # conv2d cannot take it: red, with why
    summary.refresh()
    assert table.item(1, 1).text() == "?" and "Conv2D expects" in table.item(1, 0).toolTip()
    assert table.item(1, 0).foreground().color().name() == "#d93025"
    document.graph.set_param("n1", "shape", [28, 28, 1])
    document.graph.set_trainable("n2", True)
    summary.refresh()
    for col in range(4):                            # all back to the table's own look
        item = table.item(1, col)
        assert item.foreground().color().name() == default and item.toolTip() == "", col
    assert table.item(1, 1).text() == "(None, 26, 26, 32)"
    document.delete(["n3"], [])                     # rows move up: each cell its new layer's
    summary.refresh()
    assert [table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(4)] == [
        "n1", "n2", "n4", "n5"]


def test_clicking_a_row_selects_the_layer(window, qtbot):
    window.summary.refresh()
    table = window.summary.table
    row = window.summary.row_of("n4")
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.scene.selected_node_ids() == ["n4"]
    assert window.parameter_editor.node_id == "n4"

    window.scene.select_node("n2")
    assert window.summary.selected_node_id() == "n2"


def test_a_nested_model_placed_twice_shows_its_weights_once(make_document, qtbot):
    from netbuilder.core.blocks import Block
    from netbuilder.core.graph import Graph

    inner = Graph()
    i = inner.add_node("Input", {"shape": [8]})
    d = inner.add_node("Dense", {"units": 4})
    inner.connect(i.id, d.id)
    graph = Graph()
    graph.add_block(Block("enc", inner, [i.id], [(d.id, 0)], kind="model"))
    a = graph.add_node("Input", {"shape": [8]}, name="a")
    b = graph.add_node("Input", {"shape": [8]}, name="b", position=(200, 0))
    e1 = graph.add_node("Block", {"block": "enc"}, name="enc_a", position=(0, 110))
    e2 = graph.add_node("Block", {"block": "enc"}, name="enc_b", position=(200, 110))
    graph.connect(a.id, e1.id)
    graph.connect(b.id, e2.id)
    summary = summary_of(make_document(graph), qtbot)
    table = summary.table
    cells = {table.item(r, 0).text().split(" ")[0]: table.item(r, 2).text()
             for r in range(table.rowCount())}
    assert cells["enc_a"] == "36" and cells["enc_b"] == "shared (enc_a)"
    assert "Total params:</b> 36 " in summary.totals.text()
