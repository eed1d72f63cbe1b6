"""What features add to the canvas. The canvas imports no feature: blocks and Keras
Applications register their context-menu entries, their double-click and how their nodes are
drawn here (``main_window`` does, when it sets them up)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtWidgets import QMenu

from netbuilder.core.graph import Graph

NodeMenuHook = Callable[[QMenu, str, list[str]], None]
"""Adds entries to a layer's context menu: ``hook(menu, node id, selected node ids)``."""
DoubleClickHook = Callable[[str], bool]
"""A layer was double-clicked: True if the hook took it (``hook(node id)``)."""
NodeLookHook = Callable[[Graph, str], "tuple[str, str, str] | None"]
"""How a block node is drawn: ``(family, type text, detail)``, or None to leave it as a block."""


@dataclass
class CanvasHooks:
    node_menus: list[NodeMenuHook] = field(default_factory=list)
    double_clicks: list[DoubleClickHook] = field(default_factory=list)
    node_looks: list[NodeLookHook] = field(default_factory=list)
