"""The layer palette: every catalog layer, grouped by family, searchable by name and by purpose.

Drag a layer onto the canvas (mime type ``canvas.LAYER_MIME``, data = the type name) or
double-click it to append it after the selected layer.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from netbuilder.ui.canvas.scene import LAYER_MIME

TYPE_ROLE = Qt.ItemDataRole.UserRole
BLOCK_PREFIX = "block:"  # palette keys of blocks: block:builtin:NAME, block:library:NAME
APPLICATION_KEY = "@application"  # "Keras Application…": opens a dialog (ui.application_dialog)


def matches(spec: LayerSpec, query: str) -> bool:
    """Whether ``spec`` answers ``query``: every word must appear in the layer's name, family
    or keywords ("pool", "normalize", "skip connection")."""
    words = query.lower().split()
    if not words:
        return True
    haystack = " ".join((spec.type, spec.family, " ".join(spec.keywords))).lower()
    return all(word in haystack for word in words)


def _block_icon(size: int = 16) -> QIcon:
    """A block's icon: two filled layer boxes joined, in the Blocks colour (not a checkbox)."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QColor, QPainter, QPen, QPixmap

    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = theme.family_color("Blocks")
    pen = QPen(color)
    pen.setWidthF(1.4)
    painter.setPen(pen)
    painter.drawLine(int(size * 0.5), int(size * 0.4), int(size * 0.5), int(size * 0.6))
    painter.setBrush(color)
    painter.drawRoundedRect(QRectF(size * 0.1, size * 0.05, size * 0.8, size * 0.35), 2, 2)
    painter.drawRoundedRect(QRectF(size * 0.1, size * 0.6, size * 0.8, size * 0.35), 2, 2)
    painter.end()
    return QIcon(pixmap)


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

    def __init__(self, parent: QWidget | None = None, with_blocks: bool = True) -> None:
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
        self._populate()
        self.blocks_item: QTreeWidgetItem | None = None
        self.block_problems: list[str] = []
        if with_blocks:
            self.refresh_blocks()
        self.pretrained_item = self._add_pretrained()
        self.search.textChanged.connect(self.filter)
        self.tree.itemDoubleClicked.connect(self._activated)
        self.tree.layer_chosen.connect(self.layer_activated)
        self.search.returnPressed.connect(self._add_first_match)
        self.tree.currentItemChanged.connect(self._show_help)

    def _populate(self) -> None:
        for family in catalog.families():
            family_item = QTreeWidgetItem([family])
            family_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            family_item.setIcon(0, theme.swatch_icon(family))
            font = family_item.font(0)
            font.setBold(True)
            family_item.setFont(0, font)
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

    def refresh_blocks(self) -> None:
        """The "Blocks" section: the built-in blocks, then the user's library (re-read)."""
        from netbuilder.core import blocks_library as bl

        family_item = self.blocks_item
        if family_item is None:
            family_item = QTreeWidgetItem(["Blocks"])
            family_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            family_item.setIcon(0, theme.swatch_icon("Blocks"))
            font = family_item.font(0)
            font.setBold(True)
            family_item.setFont(0, font)
            self.tree.insertTopLevelItem(0, family_item)  # first: easy to find
            self.blocks_item = family_item
        for key in [k for k in self.items if k.startswith(BLOCK_PREFIX)]:
            del self.items[key]
        family_item.takeChildren()
        icon = _block_icon()
        library = bl.load_library()
        entries = [(f"{BLOCK_PREFIX}builtin:{name}", name, bl.DESCRIPTIONS.get(name, ""))
                   for name in bl.BUILTIN]
        entries += [(f"{BLOCK_PREFIX}library:{name}", name, "from your block library")
                    for name in library.blocks]
        for key, name, description in entries:
            item = QTreeWidgetItem([name])
            item.setData(0, TYPE_ROLE, key)
            item.setIcon(0, icon)
            item.setToolTip(0, f"<b>{name}</b> (block): {description}")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                          | Qt.ItemFlag.ItemIsDragEnabled)
            family_item.addChild(item)
            self.items[key] = item
        self.block_problems = library.problems
        if library.problems:
            family_item.setToolTip(0, "Some library files could not be read:<br>"
                                   + "<br>".join(library.problems))

    def visible_blocks(self) -> list[str]:
        """The palette keys of the blocks shown now (``block:builtin:NAME``...)."""
        item = self.blocks_item
        if item is None or item.isHidden():
            return []
        return [item.child(i).data(0, TYPE_ROLE) for i in range(item.childCount())
                if not item.child(i).isHidden()]

    def _filter_blocks(self, query: str) -> None:
        item = self.blocks_item
        if item is None:
            return
        words = query.lower().split()
        shown = 0
        for i in range(item.childCount()):
            child = item.child(i)
            text = (child.data(0, TYPE_ROLE) + " block " + child.toolTip(0)).lower()
            hide = not all(word in text for word in words)
            child.setHidden(hide)
            shown += not hide
        item.setHidden(shown == 0)
        if query:
            item.setExpanded(shown > 0)

    def filter(self, query: str) -> None:
        """Show only the layers that match ``query``; families with a match open up."""
        query = query.strip()
        self._filter_blocks(query)
        self._filter_pretrained(query)
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
            first = next((item for item in self.visible_layers()), None)
            if first is not None:
                self.tree.setCurrentItem(self.items[first])

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
        shown = self.visible_layers()
        if self.search.text().strip() and shown:
            current = self.tree.currentItem()
            layer_type = current.data(0, TYPE_ROLE) if current is not None else None
            self.layer_activated.emit(layer_type if layer_type in shown else shown[0])

    def _show_help(self, item: QTreeWidgetItem | None, _previous: object = None) -> None:
        layer_type = item.data(0, TYPE_ROLE) if item is not None else None
        if layer_type and (layer_type.startswith(BLOCK_PREFIX) or layer_type == APPLICATION_KEY):
            self.help.setText(item.toolTip(0))
        elif layer_type:
            spec = catalog.get(layer_type)
            self.help.setText(f"<b>{spec.type}</b>: {spec.help}")

    # -- "Pretrained": Keras Applications ------------------------------------------------------

    def _add_pretrained(self) -> QTreeWidgetItem:
        """The "Pretrained" section: "Keras Application…" (VGG16, ResNet50… as one block). It
        opens a dialog (double-click or Enter: ``layer_activated(APPLICATION_KEY)``); it is not
        dragged."""
        family_item = QTreeWidgetItem(["Pretrained"])
        family_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        family_item.setIcon(0, theme.swatch_icon("Pretrained"))
        font = family_item.font(0)
        font.setBold(True)
        family_item.setFont(0, font)
        self.tree.addTopLevelItem(family_item)
        item = QTreeWidgetItem(["Keras Application…"])
        item.setData(0, TYPE_ROLE, APPLICATION_KEY)
        item.setIcon(0, theme.layer_icon("Pretrained"))
        item.setToolTip(0, "<b>Keras Application</b>: a pretrained model (VGG16, ResNet50, "
                           "MobileNetV2…) as one block: choose its input, classifier and weights, "
                           "then freeze it or fine-tune it. Double-click to choose.")
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        family_item.addChild(item)
        family_item.setExpanded(True)
        self.items[APPLICATION_KEY] = item
        return family_item

    def _filter_pretrained(self, query: str) -> None:
        words = ("keras application pretrained transfer learning imagenet base model vgg16 "
                 "vgg19 resnet mobilenet efficientnet inception xception densenet nasnet "
                 "convnext")
        shown = all(word in words for word in query.lower().split())
        self.pretrained_item.setHidden(not shown)
        self.pretrained_item.child(0).setHidden(not shown)
