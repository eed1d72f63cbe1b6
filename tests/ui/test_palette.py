"""The layer palette: families, search by purpose, drag data, double-click to append."""

from __future__ import annotations

from PySide6.QtCore import Qt

from netbuilder.core import catalog
from netbuilder.ui.canvas.interactions import LAYER_MIME
from netbuilder.ui.panels.palette import LayerPalette


def test_every_layer_is_listed_under_its_family(qtbot):
    palette = LayerPalette()
    qtbot.addWidget(palette)
    assert palette.visible_layers() == [s.type for s in catalog.all_specs()]
    assert list(palette.family_items) == catalog.families()
    dense = palette.items["Dense"]
    assert dense.parent() is palette.family_items["Core"]
    assert catalog.get("Dense").help in dense.toolTip(0)


def test_search_by_purpose(qtbot):
    palette = LayerPalette()
    qtbot.addWidget(palette)
    qtbot.keyClicks(palette.search, "pool")
    shown = palette.visible_layers()
    assert "MaxPooling2D" in shown and "GlobalAveragePooling2D" in shown
    assert "Dense" not in shown
    assert not palette.family_items["Pooling"].isHidden()
    assert palette.family_items["Core"].isHidden()

    palette.search.setText("normalize")
    shown = palette.visible_layers()
    assert {"BatchNormalization", "LayerNormalization"} <= set(shown)
    assert "Conv2D" not in shown

    palette.search.setText("skip")
    assert "Add" in palette.visible_layers()

    palette.search.setText("no such layer at all")
    assert palette.visible_layers() == []

    palette.search.clear()
    assert len(palette.visible_layers()) == len(catalog.all_specs())


def test_drag_data_names_the_layer_type(qtbot):
    palette = LayerPalette()
    qtbot.addWidget(palette)
    mime = palette.mime_data_for("Conv2D")
    assert palette.tree.mimeTypes() == [LAYER_MIME]
    assert bytes(mime.data(LAYER_MIME).data()).decode() == "Conv2D"
    family_mime = palette.tree.mimeData([palette.family_items["Core"]])
    assert not family_mime.hasFormat(LAYER_MIME)


def test_double_click_appends_after_the_selected_layer(window, qtbot):
    graph, scene = window.graph, window.scene
    scene.select_node("n3")
    tree = window.palette.tree
    item = window.palette.items["Dropout"]
    tree.scrollToItem(item)
    point = tree.visualItemRect(item).center()
    with qtbot.waitSignal(window.palette.layer_activated, timeout=1000):
        # a real double click: press, release, then the double-click event
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=point)
        qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=point)
    (new,) = [n for n in graph.nodes.values() if n.type == "Dropout"]
    assert [e.src for e in graph.in_edges(new.id)] == ["n3"]
    assert new.position[1] > graph.nodes["n3"].position[1]
    assert scene.selected_node_ids() == [new.id]
    assert window.undo_stack.count() == 1  # add + connect: one step
    window.undo_stack.undo()
    assert new.id not in graph.nodes


def test_enter_in_the_search_box_adds_the_first_match(window, qtbot):
    window.scene.select_node("n5")
    window.palette.search.setText("dropout")
    qtbot.keyClick(window.palette.search, Qt.Key.Key_Return)
    new = [n for n in window.graph.nodes.values() if n.type == "Dropout"]
    assert len(new) == 1
    assert [e.src for e in window.graph.in_edges(new[0].id)] == ["n5"]


def test_every_layer_has_an_icon(qtbot):
    from netbuilder.ui.panels.palette import LayerPalette

    palette = LayerPalette()
    qtbot.addWidget(palette)
    assert palette.items and all(not item.icon(0).isNull() for item in palette.items.values())
