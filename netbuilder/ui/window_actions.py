"""The main window's actions (with their shortcuts) and its menu bar: File (with Open Recent and
Open Example), Edit, View and Train."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from netbuilder.ui.dialogs import export_files
from netbuilder.ui.user_files import app_settings, example_paths, forget_recent, recent_files

if TYPE_CHECKING:
    from netbuilder.ui.main_window import MainWindow


def _open_deployment(window: MainWindow) -> None:
    from netbuilder.ui.dialogs.deployment import open_deployment_dialog

    window.deployment_dialog = open_deployment_dialog(window)  # type: ignore[attr-defined]


def _action(window: MainWindow, text: str, slot, shortcut=None,  # type: ignore[no-untyped-def]
            tip: str = "", on_canvas: bool = False) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(lambda _checked=False: slot())
    if on_canvas:
        # single-key shortcuts act on the canvas only, never while typing in a field
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.view.addAction(action)
    return action


def make_actions(window: MainWindow) -> None:
    """The window's actions (``window.new_action``…), shortcuts included."""
    K = QKeySequence.StandardKey
    window.new_action = _action(window, "&New", window.new_project, K.New, "Start an empty model")
    window.open_action = _action(window, "&Open…", window.open_dialog, K.Open,
                                 "Open a project file")
    window.save_action = _action(window, "&Save", window.save, K.Save, "Save the project")
    window.save_as_action = _action(window, "Save &As…", window.save_as, K.SaveAs,
                                    "Save the project under a new name")
    window.quit_action = _action(window, "&Quit", window.close, K.Quit, "Close NetBuilder")
    window.undo_action = window.undo_stack.createUndoAction(window, "&Undo")
    window.undo_action.setShortcuts(QKeySequence.keyBindings(K.Undo))
    window.redo_action = window.undo_stack.createRedoAction(window, "&Redo")
    window.redo_action.setShortcuts(QKeySequence.keyBindings(K.Redo))
    window.delete_action = _action(
        window, "&Delete", window.delete_selection,
        [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)],
        "Delete the selected layers and connections", on_canvas=True)
    window.select_all_action = _action(window, "Select &All", window.select_all, K.SelectAll,
                                       "Select every layer", on_canvas=True)
    window.cut_action = _action(window, "Cu&t", window.cut, K.Cut,
                                "Copy the selected layers and delete them", on_canvas=True)
    window.copy_action = _action(window, "&Copy", window.copy, K.Copy,
                                 "Copy the selected layers and the connections among "
                                 "them", on_canvas=True)
    window.paste_action = _action(window, "&Paste", window.paste, K.Paste,
                                  "Paste copied layers beside the originals",
                                  on_canvas=True)
    window.duplicate_action = _action(window, "D&uplicate", window.duplicate, "Ctrl+D",
                                      "Copy the selected layers in one step",
                                      on_canvas=True)
    window.rename_action = _action(window, "Re&name Layer…", window.rename, "F2",
                                   "Give the selected layer a new name", on_canvas=True)
    window.freeze_action = _action(window, "&Freeze Selected Layers",
                                   lambda: window.set_trainable(False),
                                   tip="Keep their weights as they are during training")
    window.unfreeze_action = _action(window, "U&nfreeze Selected Layers",
                                     lambda: window.set_trainable(True),
                                     tip="Train their weights again")
    window.recover_action = None
    window.export_png_action = _action(
        window, "Picture as &PNG…", lambda: export_files.export_png(window),
        tip="Save a picture of the model (PNG)")
    window.export_svg_action = _action(
        window, "Picture as &SVG…", lambda: export_files.export_svg(window),
        tip="Save a vector drawing of the model (SVG)")
    window.export_code_action = _action(
        window, "&Keras Code…", lambda: export_files.export_code(window), "Ctrl+Shift+E",
        "Save the model as a standalone Keras script")
    window.export_keras_action = _action(
        window, "Keras &Model (.keras)…", lambda: export_files.export_keras_model(window), None,
        "Build the model and save it as a .keras file (with the project's weights, if any)")
    window.export_deployment_action = _action(
        window, "For &Deployment…", lambda: _open_deployment(window), None,
        "SavedModel, ONNX or TFLite (float16, int8), each checked against Keras")
    window.import_action = _action(window, "Keras &Model…", window.import_dialog,
                                   "Ctrl+I", "Open a Keras model file or a Keras "
                                   "Application as a new project")
    window.overview_action = QAction("&Overview", window)
    window.overview_action.setCheckable(True)
    window.overview_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
    window.overview_action.setStatusTip("When the model does not fit in the canvas, show all "
                                      "of it in the corner; click there to go")
    shown = app_settings().value("view/overview", True)
    window.overview_action.setChecked(shown not in (False, "false", "0"))
    window.overview_action.toggled.connect(window.show_overview)
    window.overview.set_enabled(window.overview_action.isChecked())
    window.fit_action = _action(window, "&Fit to View", window.fit_to_view,
                                QKeySequence(Qt.Key.Key_F), "Show the whole model",
                                on_canvas=True)
    window.zoom_in_action = _action(window, "Zoom &In", lambda: window.view.zoom_by(1.25),
                                    K.ZoomIn)
    window.zoom_out_action = _action(window, "Zoom &Out", lambda: window.view.zoom_by(0.8),
                                     K.ZoomOut)
    window.zoom_reset_action = _action(window, "&Actual Size", window._zoom_reset, "Ctrl+0")
    window.train_action = _action(window, "&Train", window.train, "F5",
                                  "Train the model from fresh weights, watching it learn")
    window.stop_training_action = _action(window, "&Stop Training", window.stop_training,
                                          "Shift+F5", "Stop after the current batch; "
                                          "the weights are kept")
    window.continue_training_action = _action(
        window, "&Continue Training", lambda: window.train(resume=True), "Ctrl+F5",
        "Train more epochs from the last run's weights")
    window.arrange_action = _action(window, "A&rrange Layers", window.arrange, "Ctrl+L",
                                    "Lay the model out top to bottom, branches side by "
                                    "side")
    window.inspect_action = _action(
        window, "&Inspect Selected Layer", lambda: window.inspect_layer(), "Ctrl+Shift+I",
        "Show what the selected layer computes: feature maps, filters, predictions, "
        "Grad-CAM")


def make_menus(window: MainWindow) -> None:
    """File, Edit, View and Train (blocks add theirs to Edit)."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(window.new_action)
    file_menu.addAction(window.open_action)
    window.recent_menu = file_menu.addMenu("Open &Recent")
    window.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(window))
    fill_recent_menu(window)
    window.examples_menu = file_menu.addMenu("Open &Example")
    for path in example_paths():
        action = window.examples_menu.addAction(path.stem.replace("_", " "))
        action.triggered.connect(lambda _c=False, p=path: window.open_example(p))
    window.examples_menu.setEnabled(bool(window.examples_menu.actions()))
    file_menu.addSeparator()
    file_menu.addAction(window.save_action)
    file_menu.addAction(window.save_as_action)
    file_menu.addSeparator()
    window.file_menu = file_menu
    window.import_menu = file_menu.addMenu("&Import")
    window.import_menu.addAction(window.import_action)
    from netbuilder.ui.dialogs import import_code

    window.import_code_action = _action(
        window, "From &Python Code…", lambda: import_code.import_from_code(window), None,
        "Run Keras code (a .py file or a pasted cell) in a separate process, without network, "
        "and open its model")
    window.import_menu.addAction(window.import_code_action)
    window.export_menu = file_menu.addMenu("&Export")
    add_actions(window.export_menu, [window.export_code_action, window.export_keras_action,
                                     window.export_deployment_action, None,
                                     window.export_png_action, window.export_svg_action])
    from netbuilder.ui.dialogs import compare

    window.compare_action = _action(
        window, "Co&mpare With…", lambda: compare.compare_with(window), None,
        "Show how this project differs from another project, a training run or a Keras model")
    file_menu.addAction(window.compare_action)
    file_menu.addSeparator()
    file_menu.addAction(window.quit_action)

    edit_menu = bar.addMenu("&Edit")
    add_actions(edit_menu, [window.undo_action, window.redo_action, None,
                            window.cut_action, window.copy_action, window.paste_action,
                            window.duplicate_action, window.delete_action, None,
                            window.select_all_action, None,
                            window.rename_action, window.freeze_action, window.unfreeze_action])
    window.block_actions.add_to_menu(edit_menu)

    view_menu = bar.addMenu("&View")
    add_actions(view_menu, [window.fit_action, window.zoom_in_action, window.zoom_out_action,
                            window.zoom_reset_action, None, window.arrange_action, None,
                            window.overview_action, window.inspect_action])
    window.view_menu = view_menu
    for dock in (window.palette_dock, window.parameters_dock, window.summary_dock,
                 window.code_dock, window.training_dock, window.inspect_dock):
        view_menu.addAction(dock.toggleViewAction())

    train_menu = bar.addMenu("&Train")
    train_menu.addAction(window.train_action)
    train_menu.addAction(window.stop_training_action)
    train_menu.addAction(window.continue_training_action)
    train_menu.addSeparator()
    window.data_action = train_menu.addAction("&Data…")
    window.data_action.setStatusTip("The training data: source, splits, augmentation, preview")
    window.data_action.triggered.connect(
        lambda _c=False: window.training_panel.form.open_data_dialog())
    window.training_settings_action = train_menu.addAction("&Settings…")
    window.training_settings_action.setStatusTip(
        "Every training setting: optimizer and schedule, loss and metrics, callbacks, "
        "fine-tuning")
    window.training_settings_action.triggered.connect(
        lambda _c=False: window.training_panel.form.open_settings())
    window.train_menu = train_menu
    window.training_panel.running_changed.connect(window._training_running)
    window._training_running(False)


def add_actions(menu: QMenu, actions: list[QAction | None]) -> None:
    """``actions`` in order; None is a separator."""
    for action in actions:
        if action is None:
            menu.addSeparator()
        else:
            menu.addAction(action)


def fill_recent_menu(window: MainWindow) -> None:
    menu = window.recent_menu
    menu.clear()
    files = recent_files()
    for i, name in enumerate(files):
        path = Path(name)
        label = f"&{i + 1} {path.name}" if i < 9 else path.name
        action = menu.addAction(f"{label}  —  {path.parent}")
        action.setData(name)
        action.setStatusTip(name)
        action.triggered.connect(lambda _c=False, p=name: window.open_recent(p))
    if files:
        menu.addSeparator()
        clear = menu.addAction("Clear Recent Files")
        clear.triggered.connect(lambda _c=False: (forget_recent(), fill_recent_menu(window)))
    else:
        empty = menu.addAction("No recent files")
        empty.setEnabled(False)
