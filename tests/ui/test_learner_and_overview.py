"""For learners: how a layer's numbers come about, on hover and in the inspector; and the overview
of big models in the canvas' corner."""

from __future__ import annotations

from html import unescape

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtTest import QTest

from netbuilder.core.graph import Graph


def plain(html: str) -> str:
    return unescape(html.replace("&nbsp;", " "))


def test_hovering_a_conv_shows_how_its_numbers_are_computed(window):
    tip = plain(window.scene.node_items["n2"].toolTip())
    assert "How these numbers are computed" in tip
    assert "height: out = floor((28 − 3 + 2·0)/1) + 1 = 26" in tip
    assert "params = 3·3·1·32 + 32 = 320 (kernel + bias)" in tip
    pool = plain(window.scene.node_items["n3"].toolTip())
    assert "height: out = floor((26 − 2)/2) + 1 = 13" in pool
    dense = plain(window.scene.node_items["n5"].toolTip())
    assert "params = 5408·10 + 10 = 54,090 (weights + bias)" in dense


def test_the_explanation_follows_edits(window):
    window.graph.set_param("n2", "padding", "same")
    window.graph.set_param("n2", "strides", 2)
    tip = plain(window.scene.node_items["n2"].toolTip())
    assert "height: out = ceil(28/2) = 14" in tip


def test_the_inspector_explains_on_demand(window):
    window.scene.select_node("n2")
    inspector = window.parameter_editor
    assert inspector.explanation.isHidden()  # closed at first: the settings come first
    assert inspector.explain_button.text() == "How are these numbers computed?"
    inspector.explain_button.click()
    label = inspector.explanation
    assert not label.isHidden()
    assert "params = 3·3·1·32 + 32 = 320" in plain(label.text())
    window.parameter_editor.editors["filters"].widget.setValue(64)
    assert "params = 3·3·1·64 + 64 = 640" in plain(label.text())
    window.scene.select_node("n5")  # it stays open from layer to layer
    assert not inspector.explanation.isHidden()
    assert "params = 10816·10 + 10 = 108,170" in plain(inspector.explanation.text())
    window.scene.select_node("n1")  # an Input: nothing to explain
    assert inspector.explanation.isHidden() and inspector.explain_button.isHidden()


def big_chain(layers: int = 60) -> Graph:
    graph = Graph()
    previous = graph.add_node("Input", {"shape": [64]}, position=(0, 0))
    for i in range(1, layers):
        node = graph.add_node("Dense", {"units": 64}, position=(0, 110.0 * i))
        graph.connect(previous.id, node.id)
        previous = node
    return graph


def test_overview_shows_the_whole_model_and_the_visible_part(make_window, qtbot):
    window = make_window(big_chain())
    overview = window.overview
    assert window.overview_action.isChecked() and overview.isVisible()
    overview.refit()
    model = overview.model_rect()
    shown = QRectF(overview.to_scene(QPointF(0, 0)),
                   overview.to_scene(QPointF(overview.width(), overview.height())))
    assert shown.contains(model.adjusted(1, 1, -1, -1))
    picture = overview.grab().toImage()  # the model is drawn, and the visible part on it
    centre = overview.from_scene(window.scene.node_items["n30"].scenePos())
    assert picture.pixelColor(int(centre.x()), int(centre.y())).name() != "#fafbfc"
    # it sits in the canvas' bottom-right corner
    area = window.view.viewport().geometry()
    assert area.contains(overview.geometry())
    assert overview.geometry().right() > area.center().x()
    assert overview.geometry().bottom() > area.center().y()


def test_the_overview_is_drawn_again_only_when_its_picture_changes(make_window, qtbot):
    window = make_window(big_chain())
    overview = window.overview
    qtbot.wait(300)                                 # the window laid out: the box's size
    overview.grab()
    picture = overview._picture
    assert picture is not None
    window.document.set_param("n1", "shape", [32])   # every layer reshaped, nothing moved
    qtbot.wait(200)                                 # past the redraw delay
    overview.grab()
    assert overview._picture is picture
    last = list(window.graph.nodes)[-1]
    window.document.delete([last], [])              # one layer fewer
    qtbot.waitUntil(lambda: overview._picture is not picture)
    overview.grab()
    picture = overview._picture
    old = window.graph.nodes["n30"].position
    window.document.move({"n30": (old, (old[0] + 400.0, old[1]))})
    qtbot.waitUntil(lambda: overview._picture is not picture)


def test_clicking_the_overview_moves_the_canvas_there(make_window, qtbot):
    window = make_window(big_chain())
    window.view.zoom_by(1.0 / window.view.zoom())
    overview = window.overview
    overview.refit()
    target = QPointF(0, 110.0 * 50)  # layer 50, far below what the canvas shows
    assert not overview.visible_rect().contains(target)
    QTest.mouseClick(overview, Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, overview.from_scene(target).toPoint())
    visible = overview.visible_rect()
    assert visible.contains(target)
    assert abs(visible.center().y() - target.y()) < 60
    # dragging keeps following the mouse
    other = QPointF(0, 110.0 * 20)
    QTest.mousePress(overview, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     overview.from_scene(target).toPoint())
    QTest.mouseMove(overview, overview.from_scene(other).toPoint())
    QTest.mouseRelease(overview, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       overview.from_scene(other).toPoint())
    assert abs(overview.visible_rect().center().y() - other.y()) < 60
    assert window.undo_stack.count() == 0


def test_overview_toggles_from_the_view_menu_and_is_remembered(make_window):
    from netbuilder.ui.user_files import app_settings

    window = make_window(big_chain())
    assert window.overview_action in window.view_menu.actions()
    assert window.overview.isVisible()
    window.overview_action.trigger()
    assert not window.overview.isVisible()
    assert app_settings().value("view/overview") in (False, "false")
    second = make_window(big_chain())
    assert not second.overview_action.isChecked() and not second.overview.isVisible()
    second.overview_action.trigger()
    assert second.overview.isVisible()


def test_overview_hides_while_the_whole_model_fits(make_window):
    window = make_window()  # five layers: all in view
    window.fit_to_view()
    assert window.overview_action.isChecked() and not window.overview.isVisible()
    window.view.zoom_by(3.0)  # now it does not fit
    assert window.overview.isVisible()
    window.fit_to_view()
    assert not window.overview.isVisible()


def test_a_tall_model_gets_a_tall_overview(make_window):
    window = make_window(big_chain(120))
    geometry = window.overview.geometry()
    assert geometry.height() > 1.5 * geometry.width()


def test_overview_follows_the_model(make_window, qtbot):
    window = make_window(big_chain())
    overview = window.overview
    before = overview.model_rect()
    window.graph.add_node("Dense", {"units": 3}, position=(2000.0, 2000.0))
    qtbot.waitUntil(lambda: overview.model_rect().contains(QPointF(2000, 2000)))
    assert overview.model_rect().contains(before)


def test_zoomed_out_nodes_are_drawn_as_plain_boxes(make_window):
    """Big models stay fast: below a zoom level a node is a box in its family's colour, without
    text (the overview always draws them so)."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QImage, QPainter

    from netbuilder.ui import theme

    window = make_window(big_chain(3))
    item = window.scene.node_items["n2"]
    window.scene.clearSelection()

    def centre_colour(width: int) -> str:
        rect = item.sceneBoundingRect()
        height = round(width * rect.height() / rect.width())
        image = QImage(width, height, QImage.Format.Format_ARGB32)
        image.fill(0xFFFFFFFF)
        painter = QPainter(image)
        window.scene.render(painter, QRectF(0, 0, width, height), rect)
        painter.end()
        return image.pixelColor(width // 2, height // 2).name()

    assert centre_colour(40) == theme.family_color("Core").lighter(170).name()
    assert centre_colour(400) != theme.family_color("Core").lighter(170).name()
