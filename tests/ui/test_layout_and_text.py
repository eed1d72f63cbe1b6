"""Issue 12's layout and text defects: the canvas' cards and hint, the palette's ranking, the
window's default layout on a laptop screen, and what the window says after Save As and Undo."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QApplication

from netbuilder.core.freezing import FROZEN
from netbuilder.core.graph import Graph
from netbuilder.ui.canvas.items import FROZEN_BADGE, elide_words, fonts
from netbuilder.ui.canvas.view import OPEN_MIN_ZOOM
from netbuilder.ui.main_window import default_geometry
from netbuilder.ui.panels.palette import TYPE_ROLE
from netbuilder.ui.user_files import app_settings, examples_dir, remember_dir

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


# -- the window's layout ------------------------------------------------------------------------


def test_the_first_window_fits_the_screen():
    laptop = QRect(0, 0, 1366, 738)
    rect, maximise = default_geometry(laptop)
    assert laptop.contains(rect) and maximise
    desktop = QRect(0, 0, 1920, 1050)
    rect, maximise = default_geometry(desktop)
    assert rect.size() == QSize(1600, 1000) and rect.center() == desktop.center()
    assert not maximise
    rect, _ = default_geometry(QRect(0, 0, 1024, 600))
    assert rect.width() <= 1024 and rect.height() <= 600


def laptop_window(make_window, qtbot, width=1366, height=738):
    """The window as on a 1366×768 laptop (maximised: the task bar takes 30 px)."""
    window = make_window()
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.size() == QSize(width, height))
    window.default_docks()
    QApplication.processEvents()
    return window


def fields_inside(window) -> list[str]:
    """The parameter editor's fields cut off at the side (beyond its viewport's or the
    window's right edge); a long form scrolls down, that is not cut."""
    viewport = window.parameter_editor.viewport()
    cut = []
    for name, field in window.parameter_editor.editors.items():
        widget = field.widget
        in_view = widget.mapTo(viewport, widget.rect().topLeft()).x()
        in_window = widget.mapTo(window, widget.rect().topLeft()).x()
        if in_view < 0 or in_view + widget.width() > viewport.width() or \
                in_window + widget.width() > window.width():
            cut.append(name)
    return cut


def settle(qtbot, ms=150):
    qtbot.wait(ms)
    QApplication.processEvents()


def test_on_a_laptop_the_side_docks_and_the_fields_keep_their_room(make_window, qtbot):
    window = laptop_window(make_window, qtbot)
    window.select_node("n2")  # Conv2D: many fields, long labels, combo boxes
    settle(qtbot)
    assert window.palette_dock.width() >= 215 and window.parameters_dock.width() >= 300
    assert fields_inside(window) == []
    assert window.summary_dock.height() >= 0.25 * window.height()  # more than five rows
    for dock in (window.training_dock, window.inspect_dock, window.summary_dock):
        dock.raise_()
        settle(qtbot)
        assert window.width() == 1366  # no bottom panel pushes the window wider
        assert window.palette_dock.width() >= 215, dock.objectName()
        assert window.parameters_dock.width() >= 300, dock.objectName()
        assert fields_inside(window) == [], dock.objectName()
        if dock is not window.summary_dock:
            assert dock.height() >= 0.35 * window.height()  # room for plots
    window.training_dock.raise_()
    window.resize(1200, 700)  # narrower than the laptop (the least is about 1130 px)
    settle(qtbot)
    assert window.width() == 1200
    assert fields_inside(window) == []
    assert window.palette_dock.width() >= 215


def test_the_window_and_its_docks_are_remembered(make_window, qtbot):
    window = laptop_window(make_window, qtbot)
    window.resizeDocks([window.parameters_dock], [420], Qt.Orientation.Horizontal)
    settle(qtbot)
    width = window.parameters_dock.width()
    window.close()
    settings = app_settings()
    assert settings.value("window/geometry") and settings.value("window/state")
    again = make_window()
    assert again.layout_restored
    again.resize(1366, 738)
    settle(qtbot)
    assert abs(again.parameters_dock.width() - width) <= 2


def example_on_a_laptop(make_window, qtbot, name: str):
    example = examples_dir() / f"{name}.nbproj"
    if not example.is_file():
        pytest.skip("the example projects are not there")
    window = laptop_window(make_window, qtbot)
    assert window.open_example(example)
    settle(qtbot)
    return window


def outside_view(window) -> list[str]:
    """The layers not wholly in the canvas' view."""
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    return [item.name for item in window.scene.node_items.values()
            if not visible.contains(item.sceneBoundingRect())]


def test_an_example_opens_readable_from_its_top_with_the_overview(make_window, qtbot):
    """mnist_cnn's 9 layers do not fit a laptop's canvas at a zoom whose card text can be
    read: it opens at that zoom from its first layer, and the overview shows the rest."""
    window = example_on_a_laptop(make_window, qtbot, "mnist_cnn")
    assert len(window.graph.nodes) == 9
    assert window.view.zoom() >= OPEN_MIN_ZOOM >= 0.7
    hidden = outside_view(window)
    assert "input_layer" not in hidden and "conv2d" not in hidden
    assert hidden and window.overview.isVisible()


def test_the_model_is_fitted_again_when_a_bottom_dock_grows(make_window, qtbot):
    """Raising Training shortens the canvas: a model seen whole stays whole (last layer
    included); once the user zooms, a resize leaves the view alone."""
    window = example_on_a_laptop(make_window, qtbot, "mlp")
    assert outside_view(window) == [] and window.view.fitted is not None
    before = window.view.height()
    window.training_dock.raise_()
    settle(qtbot)
    assert window.view.height() < before - 40
    assert outside_view(window) == []
    window.summary_dock.raise_()
    settle(qtbot)
    window.view.zoom_by(1.5)                  # the user zooms: no more refits
    zoom = window.view.zoom()
    window.training_dock.raise_()
    settle(qtbot)
    assert window.view.fitted is None and window.view.zoom() == pytest.approx(zoom)


def test_the_training_plots_legends_lie_above_their_data(make_window, qtbot):
    """The legends sit in a row of their own over each plot, never over the curves; the epoch
    axis has whole-number ticks."""
    from netbuilder.ui.panels.training.curves import epoch_step
    from tests.ui.test_training_panel import feed, recorded_events

    window = laptop_window(make_window, qtbot)
    window.training_dock.raise_()
    panel = window.training_panel
    panel.ensure_plots()
    feed(panel, recorded_events())
    settle(qtbot)
    plots = panel.plots
    assert plots.loss_plot.width() >= 200 and plots.metric_plot.width() >= 200
    for plot in (plots.loss_plot, plots.metric_plot):
        item = plot.plotItem
        assert item.legend is not None and len(item.legend.items) >= 2
        legend = item.legend.sceneBoundingRect()
        data = item.vb.sceneBoundingRect()
        assert legend.height() > 0 and legend.bottom() <= data.top() + 1, (legend, data)
    assert epoch_step(6, 300) == 1 and epoch_step(100, 300) == 20
    assert epoch_step(0.8, 120) == 1          # a first epoch's batches: no 0.2 0.4 ticks


# -- what the window says ---------------------------------------------------------------------


def test_after_save_as_nothing_says_untitled(make_window, qtbot, tmp_path):
    window = make_window(name="untitled")
    window.code_dock.raise_()
    settle(qtbot)
    window.ask_save_path = lambda: str(tmp_path / "mynet.nbproj")
    assert window.save_as()
    assert window.project.name == "mynet"
    assert "mynet" in window.parameter_editor.project_text
    assert "untitled" not in window.parameter_editor.project_text
    settle(qtbot, 400)
    assert "mynet" in window.code_view.code and "untitled" not in window.code_view.code
    assert window.summary.model_name == "mynet"
    assert window.windowTitle().startswith("mynet")


def test_undo_takes_the_edits_report_off_the_status_bar(make_window, qtbot):
    graph = Graph()
    flat = graph.add_node("Input", {"shape": [784]}, position=(0, 0))
    conv = graph.add_node("Conv2D", {"filters": 8, "kernel_size": 3}, position=(0, 110))
    graph.connect(flat.id, conv.id)
    window = make_window(graph)
    fix = window.scene.quick_fixes(conv.id)[0]
    window.apply_quick_fix(fix)
    assert "Ctrl+Z undoes it" in window.statusBar().currentMessage()
    window.undo_stack.undo()
    assert "Ctrl+Z undoes it" not in window.statusBar().currentMessage()


def test_file_dialogs_open_in_the_last_folder_used(make_window, tmp_path):
    window = make_window()
    assert window.start_dir("project") == Path.home()  # never saved, no folder used yet
    folder = tmp_path / "projects"
    folder.mkdir()
    window.ask_save_path = lambda: str(folder / "a.nbproj")
    assert window.save_as()
    assert window.start_dir("project") == folder
    assert make_window().start_dir("project") == folder  # another window, another day
    assert window.start_dir("export") == folder  # the project's folder, until an export
    exports = tmp_path / "exports"
    exports.mkdir()
    remember_dir("export", exports / "model.py")
    assert window.start_dir("export") == exports and window.start_dir("project") == folder


def test_train_menu_opens_the_training_settings(window, monkeypatch):
    opened = []
    monkeypatch.setattr(window.training_panel.form, "open_settings", lambda: opened.append(1))
    assert window.training_settings_action in window.train_menu.actions()
    window.training_settings_action.trigger()
    assert opened == [1]
