"""Issue 12's layout and text defects: the canvas' cards and hint, the palette's ranking, the
window's default layout on a laptop screen, and what the window says after Save As and Undo."""

from __future__ import annotations

from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QApplication

from netbuilder.core.freezing import FROZEN
from netbuilder.ui.canvas.items import FROZEN_BADGE, elide_words, fonts
from netbuilder.ui.panels.palette import TYPE_ROLE

# -- the canvas -------------------------------------------------------------------------------


def test_card_fonts_are_the_applications_font(qtbot):
    """Fonts made before the QApplication have no family: their metrics are not what the
    painter draws, and "MaxPooling2D" ran into "2×2"."""
    app_family = QApplication.font().family()
    assert app_family
    assert all(font.family() == app_family for font in fonts())


def test_a_frozen_application_says_frozen_once(window):
    item = window.scene.node_items["n2"]
    item.frozen, item.detail = True, FROZEN
    assert item.shown_detail() == ""  # the badge says it
    assert FROZEN_BADGE.endswith(FROZEN)
    item.detail = "fine-tuned from block5_conv1"
    assert item.shown_detail() == "fine-tuned from block5_conv1"
    item.frozen, item.detail = False, FROZEN  # trainable node, every inner layer frozen
    assert item.shown_detail() == FROZEN


def test_an_error_is_cut_at_a_word_with_an_ellipsis(window):
    fm = QFontMetricsF(fonts().detail)
    text = "⚠ Conv2D expects input of rank 4 (batch, height, width, channels), got rank 2"
    cut = elide_words(fm, text, 150)
    assert cut.endswith(" …") and fm.horizontalAdvance(cut) <= 150
    assert text.startswith(cut[:-2]) and text[len(cut) - 2] in " ,"
    assert elide_words(fm, "short", 150) == "short"

    flat = window.graph.add_node("Input", {"shape": [784]}, position=(300, 0))
    bad = window.graph.add_node("Conv2D", {"filters": 8, "kernel_size": 3}, position=(300, 110))
    window.graph.connect(flat.id, bad.id)
    item = window.scene.node_items[bad.id]
    assert item.error
    assert item.elided(fm, item.shape_line, 120).endswith(" …")
    assert "Error:" in item.toolTip()


def test_the_empty_canvas_hint_goes_when_layers_come(window, qtbot):
    window.new_project()
    qtbot.waitUntil(lambda: window.view.showing_hint is True)
    window.append_layer("Input")
    qtbot.waitUntil(lambda: window.view.showing_hint is False)
    window.undo_stack.undo()
    qtbot.waitUntil(lambda: window.view.showing_hint is True)


# -- the palette ------------------------------------------------------------------------------


def test_search_ranks_across_sections_and_enter_adds_the_best(window, qtbot):
    palette = window.palette
    palette.search.setText("skip")
    ranked = palette.ranked_matches()
    assert ranked[0] == "block:builtin:residual_unit"
    assert palette.tree.currentItem().data(0, TYPE_ROLE) == "block:builtin:residual_unit"
    palette.search.setText("dense")
    assert palette.ranked_matches()[0] == "Dense"
    added = []
    palette.layer_activated.connect(added.append)
    palette.search.setText("maxpool")
    palette.search.returnPressed.emit()
    assert added == [palette.ranked_matches()[0]] and added[0].startswith("MaxPooling")
