"""The layer palette: every catalog layer, grouped by family, searchable by name and by purpose,
and the sections features add (``set_section``: blocks, Keras Applications).

Drag a layer onto the canvas (mime type ``canvas.interactions.LAYER_MIME``, data = the type name
or the entry's key) or double-click it to append it after the selected layer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core import catalog
from netbuilder.core.catalog import LayerSpec
from netbuilder.ui import theme
from netbuilder.ui.canvas.interactions import LAYER_MIME

TYPE_ROLE = Qt.ItemDataRole.UserRole
KEYWORDS_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class PaletteEntry:
    """An entry of a feature's section: ``key`` is what a drag carries and ``layer_activated``
    says (the document's placers know it); ``keywords`` is what a search looks in."""

    key: str
    label: str
    tooltip: str
    icon: QIcon
    keywords: str
    draggable: bool = True


def haystack(spec: LayerSpec) -> str:
    """What a search looks in for a layer: its name, family and keywords."""
    return " ".join((spec.type, spec.family, " ".join(spec.keywords))).lower()


def matches(spec: LayerSpec, query: str) -> bool:
    """Whether ``spec`` answers ``query``: every word must appear in the layer's name, family
    or keywords ("pool", "normalize", "skip connection")."""
    words = query.lower().split()
    return all(word in haystack(spec) for word in words)


def relevance(name: str, keywords: str, query: str) -> int:
    """How well an entry answers ``query`` (lower is better): 0 it is the name, 1 the name
    starts with it, 2 the name holds it, 3 every word is a whole word of the keywords, 4 the
    words are only parts of keywords."""
    name, query = name.lower(), query.lower().strip()
    if name == query:
        return 0
    if name.startswith(query):
        return 1
    if query in name:
        return 2
    words = set(re.findall(r"[a-z0-9]+", keywords.lower()))
    return 3 if all(word in words for word in query.split()) else 4


class LayerTree(QTreeWidget):
    """The tree itself; it hands out the layer type as drag data."""

    layer_chosen = Signal(str)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        item = self.currentItem()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and item is not None and \
                item.data(0, TYPE_ROLE):
            self.layer_chosen.emit(item.data(0, TYPE_ROLE))
            return
        super().keyPressEvent(event)

    def mimeTypes(self) -> list[str]:
        return [LAYER_MIME]

    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData:  # type: ignore[override]
        mime = QMimeData()
        for item in items:
            layer_type = item.data(0, TYPE_ROLE)
            if layer_type:
                mime.setData(LAYER_MIME, layer_type.encode("utf-8"))
                mime.setText(layer_type)
                break
        return mime


class LayerPalette(QWidget):
    layer_activated = Signal(str)
    """A layer was double-clicked (or Enter pressed on it): append it to the model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search, e.g. pool, normalize, skip")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Find layers by name or by what they are for: 'pool', "
                               "'normalize', 'skip', 'augment', 'flatten'…")
        self.tree = LayerTree()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setIndentation(14)
        self.tree.setUniformRowHeights(True)
        self.help = QLabel("Drag a layer onto the canvas, or double-click it to add it after "
                           "the selected layer.")
        self.help.setWordWrap(True)
        self.help.setObjectName("paletteHelp")
        self.help.setStyleSheet("color: #5f6873; padding: 2px;")
        self.help.setMinimumHeight(48)
        self.help.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.help)

        self.items: dict[str, QTreeWidgetItem] = {}
        self.family_items: dict[str, QTreeWidgetItem] = {}
        self.sections: dict[str, QTreeWidgetItem] = {}
        self._populate()
        self.search.textChanged.connect(self.filter)
        self.tree.itemDoubleClicked.connect(self._activated)
        self.tree.layer_chosen.connect(self.layer_activated)
        self.search.returnPressed.connect(self._add_first_match)
        self.tree.currentItemChanged.connect(self._show_help)

    @staticmethod
    def _heading(title: str) -> QTreeWidgetItem:
        """A family's (or a section's) row: bold, with its colour swatch."""
        item = QTreeWidgetItem([title])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setIcon(0, theme.swatch_icon(title))
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        return item

    def _populate(self) -> None:
        for family in catalog.families():
            family_item = self._heading(family)
            self.tree.addTopLevelItem(family_item)
            self.family_items[family] = family_item
        icons: dict[str, QIcon] = {}
        for spec in catalog.all_specs():
            item = QTreeWidgetItem([spec.type])
            item.setData(0, TYPE_ROLE, spec.type)
            item.setIcon(0, icons.setdefault(spec.family, theme.layer_icon(spec.family)))
            item.setToolTip(0, f"<b>{spec.type}</b><br>{spec.help}")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                          | Qt.ItemFlag.ItemIsDragEnabled)
            self.family_items[spec.family].addChild(item)
            self.items[spec.type] = item
        for family in ("Core", "Convolution", "Pooling"):
            if family in self.family_items:
                self.family_items[family].setExpanded(True)

    def set_section(self, title: str, entries: Sequence[PaletteEntry], *, first: bool = False,
                    tooltip: str = "") -> QTreeWidgetItem:
        """Add (or fill again) a section of entries that are not catalog layers: a feature's
        (the blocks, the Keras Applications). ``first``: above the layer families."""
        section = self.sections.get(title)
        if section is None:
            section = self._heading(title)
            if first:
                self.tree.insertTopLevelItem(0, section)
            else:
                self.tree.addTopLevelItem(section)
            self.sections[title] = section
        for i in range(section.childCount()):
            del self.items[section.child(i).data(0, TYPE_ROLE)]
        section.takeChildren()
        for entry in entries:
            item = QTreeWidgetItem([entry.label])
            item.setData(0, TYPE_ROLE, entry.key)
            item.setData(0, KEYWORDS_ROLE, entry.keywords.lower())
            item.setIcon(0, entry.icon)
            item.setToolTip(0, entry.tooltip)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if entry.draggable:
                flags |= Qt.ItemFlag.ItemIsDragEnabled
            item.setFlags(flags)
            section.addChild(item)
            self.items[entry.key] = item
        section.setToolTip(0, tooltip)
        return section

    def visible_entries(self, title: str) -> list[str]:
        """The keys of the entries a section shows now."""
        section = self.sections.get(title)
        if section is None or section.isHidden():
            return []
        return [section.child(i).data(0, TYPE_ROLE) for i in range(section.childCount())
                if not section.child(i).isHidden()]

    def _filter_sections(self, query: str) -> None:
        words = query.lower().split()
        for section in self.sections.values():
            shown = 0
            for i in range(section.childCount()):
                child = section.child(i)
                hide = not all(word in child.data(0, KEYWORDS_ROLE) for word in words)
                child.setHidden(hide)
                shown += not hide
            section.setHidden(shown == 0)
            if query:
                section.setExpanded(shown > 0)

    def filter(self, query: str) -> None:
        """Show only the layers that match ``query``; families with a match open up."""
        query = query.strip()
        self._filter_sections(query)
        for family_item in self.family_items.values():
            shown = 0
            for i in range(family_item.childCount()):
                child = family_item.child(i)
                spec = catalog.get(child.data(0, TYPE_ROLE))
                hide = not matches(spec, query)
                child.setHidden(hide)
                shown += not hide
            family_item.setHidden(shown == 0)
            if query:
                family_item.setExpanded(shown > 0)
        if query:
            ranked = self.ranked_matches()
            if ranked:
                self.tree.setCurrentItem(self.items[ranked[0]])

    def ranked_matches(self) -> list[str]:
        """The keys of every entry shown (layers and the sections' entries), the best match for
        the search first; ties keep the tree's order (Blocks first)."""
        query = self.search.text()
        found = []
        for top in range(self.tree.topLevelItemCount()):
            heading = self.tree.topLevelItem(top)
            if heading.isHidden():
                continue
            for i in range(heading.childCount()):
                child = heading.child(i)
                if child.isHidden():
                    continue
                key = child.data(0, TYPE_ROLE)
                keywords = child.data(0, KEYWORDS_ROLE) or haystack(catalog.get(key))
                found.append((relevance(child.text(0), keywords, query), len(found), key))
        return [key for *_rank, key in sorted(found)]

    def visible_layers(self) -> list[str]:
        """The layer types the palette shows now, in order."""
        shown = []
        for family_item in self.family_items.values():
            if family_item.isHidden():
                continue
            for i in range(family_item.childCount()):
                child = family_item.child(i)
                if not child.isHidden():
                    shown.append(child.data(0, TYPE_ROLE))
        return shown

    def mime_data_for(self, layer_type: str) -> QMimeData:
        """The drag data the palette hands out for ``layer_type``."""
        return self.tree.mimeData([self.items[layer_type]])

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        layer_type = item.data(0, TYPE_ROLE)
        if layer_type:
            self.layer_activated.emit(layer_type)

    def _add_first_match(self) -> None:
        shown = self.ranked_matches()
        if self.search.text().strip() and shown:
            current = self.tree.currentItem()
            layer_type = current.data(0, TYPE_ROLE) if current is not None else None
            self.layer_activated.emit(layer_type if layer_type in shown else shown[0])

    def _show_help(self, item: QTreeWidgetItem | None, _previous: object = None) -> None:
        layer_type = item.data(0, TYPE_ROLE) if item is not None else None
        if layer_type and not catalog.has(layer_type):  # a feature's entry
            self.help.setText(item.toolTip(0))
        elif layer_type:
            spec = catalog.get(layer_type)
            self.help.setText(f"<b>{spec.type}</b>: {spec.help}")
