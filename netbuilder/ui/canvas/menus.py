"""The canvas' context menus: a layer's (its quick fixes, then the usual edits, then what the
features registered in ``CanvasHooks.node_menus``), a connection's, and the empty canvas'."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMenu

from netbuilder.core.graph import Edge
from netbuilder.core.quick_fixes import describe_fix
from netbuilder.ui.canvas.clipboard import data_from_mime

if TYPE_CHECKING:
    from netbuilder.ui.canvas.scene import GraphScene


def node_menu(scene: GraphScene, node_id: str) -> QMenu:
    """The right-click menu of a layer (acting on the whole selection when it is part of it)."""
    if node_id not in scene.selected_node_ids():
        scene.select_node(node_id)
    ids = scene.selected_node_ids()
    graph = scene.graph
    menu = QMenu()
    fixes = scene.quick_fixes(node_id) if len(ids) == 1 else []
    if fixes:
        menu.addSection("Quick fixes")
        for fix in fixes:
            action = menu.addAction(fix.label)
            action.setToolTip(describe_fix(graph, fix))
            action.triggered.connect(
                lambda _c=False, f=fix: scene.document.apply_quick_fix(f))
        menu.addSeparator()

    def add(text: str, slot: Callable[[], object], shortcut: str | None = None,
            enabled: bool = True) -> QAction:
        action = menu.addAction(text)
        if shortcut:
            action.setShortcut(shortcut)
            action.setShortcutVisibleInContextMenu(True)
        action.setEnabled(enabled)
        action.triggered.connect(lambda _c=False: slot())
        return action

    add("Duplicate", scene.duplicate_selection, "Ctrl+D")
    add("Copy", scene.copy_to_clipboard, "Ctrl+C")
    add("Rename…", lambda: scene.rename_node(node_id), "F2", enabled=len(ids) == 1)
    add("Inspect Layer", lambda: scene.inspect_requested.emit(node_id), "Ctrl+Shift+I",
        enabled=len(ids) == 1)
    freezable = [n for n in ids if graph.node(n).type != "Input"]
    if freezable:
        if all(not graph.node(n).trainable for n in freezable):
            add("Unfreeze (train its weights)",
                lambda: scene.document.set_trainable(ids, True))
        else:
            add("Freeze (keep its weights as they are)",
                lambda: scene.document.set_trainable(ids, False))
    if len(ids) == 1 and graph.node(node_id).type not in ("Input", "Block"):
        add("Call Again (share its weights)", lambda: scene.document.call_again(node_id))
        if len(graph.sharing_group(node_id)) > 1:
            add("Unshare (weights of its own)", lambda: scene.document.unshare(node_id))
    for hook in scene.hooks.node_menus:
        hook(menu, node_id, ids)
    menu.addSeparator()
    add("Delete", scene.delete_selection, "Del")
    return menu


def edge_menu(scene: GraphScene, edge: Edge) -> QMenu:
    scene.clearSelection()
    scene.edge_items[edge].setSelected(True)
    menu = QMenu()
    action = menu.addAction("Delete connection")
    action.triggered.connect(lambda _c=False: scene.delete_selection())
    return menu


def canvas_menu(scene: GraphScene) -> QMenu:
    menu = QMenu()
    paste = menu.addAction("Paste")
    paste.setShortcut("Ctrl+V")
    paste.setShortcutVisibleInContextMenu(True)
    paste.setEnabled(data_from_mime(QApplication.clipboard().mimeData()) is not None)
    paste.triggered.connect(lambda _c=False: scene.paste_mime(
        QApplication.clipboard().mimeData()))
    select_all = menu.addAction("Select All")
    select_all.triggered.connect(lambda _c=False: scene.select_all())
    return menu
