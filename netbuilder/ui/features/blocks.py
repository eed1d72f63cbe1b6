"""Blocks in the editor: "Make Block…" (Ctrl+B), Expand / Collapse, placing built-in and library
blocks from the palette, "Save Block to Library", and the block definition editor (double-click a
block): its own canvas, palette and inspector on a copy of the definition; accepting it updates
every instance, in one undo step.

The edits themselves are the ``Document``'s (``make_block``, ``expand_block``…: structural edits
that undo and redo put the graph back as a whole). ``BlockActions`` plugs blocks into the editor:
its palette section, its placer for palette keys ``block:…``, its canvas menu entries and
double-click.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from netbuilder.core import blocks_library as bl
from netbuilder.core.block_edits import copy_graph, group_of
from netbuilder.core.blocks import Block, exposable_params
from netbuilder.core.catalog.base import to_plain
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError
from netbuilder.core.project import Project
from netbuilder.ui import theme
from netbuilder.ui.canvas.hooks import CanvasHooks
from netbuilder.ui.canvas.scene import GraphScene
from netbuilder.ui.canvas.view import GraphView
from netbuilder.ui.dialogs.common import ok_cancel_buttons
from netbuilder.ui.document import Document, Position
from netbuilder.ui.panels.palette import LayerPalette, PaletteEntry
from netbuilder.ui.panels.parameters import ParameterEditor

BLOCK_KEY_PREFIX = "block:"
"""Palette keys of blocks: ``block:builtin:residual_unit``, ``block:library:my_block``."""


# --- placing blocks ------------------------------------------------------------------------------


def block_for_key(key: str) -> Block | None:
    """The block a palette key names (a fresh copy), or None."""
    if not key.startswith(BLOCK_KEY_PREFIX):
        return None
    source, _, name = key[len(BLOCK_KEY_PREFIX):].partition(":")
    if source == "builtin" and name in bl.BUILTIN:
        return bl.builtin(name)
    if source == "library":
        return bl.load_library().blocks.get(name)
    return None


def block_icon(size: int = 16) -> QIcon:
    """A block's icon: two filled layer boxes joined, in the Blocks colour (not a checkbox)."""
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


# --- Make Block… ---------------------------------------------------------------------------------


class ExposureTree(QTreeWidget):
    """The parameters of some layers, with a tick for each one a block instance should set.
    The first column is the name the instances use (editable: double-click it); ticked rows
    with the same name become one parameter (conv1.filters and conv2.filters: ``filters``)."""

    def __init__(self, graph: Graph, node_ids: list[str],
                 exposed: dict[str, list[tuple[str, str]]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Instance parameter", "Layer", "Sets", "Value"])
        self.setRootIsDecorated(False)
        self.setToolTip("Tick what each instance sets; double-click a name to rename it")
        named = {tuple(t): name for name, targets in (exposed or {}).items() for t in targets}
        for nid, p in exposable_params(graph, node_ids, named):
            node = graph.nodes[nid]
            chosen = (nid, p.name) in named
            item = QTreeWidgetItem([named.get((nid, p.name), p.name), node.name, p.name,
                                    _short(node.params[p.name])])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable
                          | Qt.ItemFlag.ItemIsEditable)
            ticked = chosen if exposed is not None else p.name in ("filters", "units")
            item.setCheckState(0, Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            item.setData(0, Qt.ItemDataRole.UserRole, (nid, p.name))
            item.setToolTip(0, p.help)
            self.addTopLevelItem(item)
        for i in range(4):
            self.resizeColumnToContents(i)

    def edit(self, index, trigger, event):  # type: ignore[no-untyped-def, override]
        if index.column() != 0:  # only the instance parameter's name is editable
            return False
        return super().edit(index, trigger, event)

    def exposed(self) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {}
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.checkState(0) == Qt.CheckState.Checked:
                nid, param = item.data(0, Qt.ItemDataRole.UserRole)
                found.setdefault(item.text(0).strip(), []).append((nid, param))
        return found


class MakeBlockDialog(QDialog):
    """Name the block and tick the parameters its instances set."""

    def __init__(self, graph: Graph, node_ids: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Make Block")
        self.graph = graph
        self.node_ids = node_ids
        layout = QVBoxLayout(self)
        intro = QLabel(f"Make a reusable block of the {len(node_ids)} selected layers. "
                       "Connections entering the selection become its inputs, those leaving "
                       "it its outputs.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        row = QHBoxLayout()
        row.addWidget(QLabel("Block name:"))
        self.name_edit = QLineEdit(self._free_name())
        row.addWidget(self.name_edit, 1)
        layout.addLayout(row)
        layout.addWidget(QLabel("Parameters each instance sets (ticked rows with the same name "
                                "become one parameter; double-click a name to change it):"))
        self.tree = ExposureTree(graph, node_ids)
        layout.addWidget(self.tree, 1)
        self.error = QLabel()
        self.error.setStyleSheet("color: #d93025;")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        buttons = ok_cancel_buttons(self)
        layout.addWidget(buttons)
        self.resize(560, 420)

    def _free_name(self) -> str:
        name, i = "my_block", 1
        while name in self.graph.blocks:
            name = f"my_block_{i}"
            i += 1
        return name

    def exposed(self) -> dict[str, list[tuple[str, str]]]:
        return self.tree.exposed()

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()


# --- the definition editor ---------------------------------------------------------------------


class BlockEditorDialog(QDialog):
    """Edit a block definition on its own canvas; ``new_block()`` is the edited definition."""

    def __init__(self, graph: Graph, block_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.block = graph.blocks[block_name]
        self.setWindowTitle(f"Edit block “{block_name}”")
        self.sub = copy_graph(self.block.graph)
        self.exposed = {k: list(v) for k, v in self.block.exposed.items()}
        self.optional = dict(self.block.optional)
        self.document = Document(Project(self.sub), parent=self)
        self.undo_stack = self.document.undo_stack
        self.scene = GraphScene(self.document, parent=self)
        self.view = GraphView(self)
        self.view.setScene(self.scene)
        self.palette = LayerPalette()
        self.palette.layer_activated.connect(
            lambda t: self.document.append_layer(t, (0.0, 0.0)))
        self.parameter_editor = ParameterEditor(self.document)

        count = sum(1 for n in graph.nodes.values()
                    if n.type == BLOCK_TYPE and n.params["block"] == block_name)
        header = QLabel(f"<b>{block_name}</b> — used {count} time{'s' if count != 1 else ''} "
                        "in this model. Accepting updates every instance; Edit ▸ Undo reverts "
                        "it in one step.")
        header.setWordWrap(True)
        self.exposed_label = QLabel()
        self.exposed_label.setWordWrap(True)
        self.exposed_label.setTextFormat(Qt.TextFormat.RichText)
        self.exposed_label.setStyleSheet("background: #f6f8fa; border-radius: 4px; padding: 6px;")
        self.error = QLabel()
        self.error.setStyleSheet("color: #d93025;")
        self.error.setWordWrap(True)
        self.error.hide()

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.parameter_editor, 1)
        right_layout.addWidget(self.exposed_label)
        choose = QPushButton("Choose Instance Parameters…")
        choose.setToolTip("Which parameters of these layers each instance sets")
        choose.clicked.connect(self.choose_parameters)
        right_layout.addWidget(choose)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.palette)
        splitter.addWidget(self.view)
        splitter.addWidget(right)
        splitter.setSizes([190, 560, 340])
        splitter.setStretchFactor(1, 1)

        undo = QAction("Undo", self)
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        undo.triggered.connect(self.undo_stack.undo)
        redo = QAction("Redo", self)
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        redo.triggered.connect(self.undo_stack.redo)
        self.addActions([undo, redo])

        buttons = ok_cancel_buttons(self, "Update all instances", self._accept)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(1100, 680)
        self._refresh_exposed()
        self.undo_stack.indexChanged.connect(lambda _i: self._refresh_exposed())
        self.result_block: Block | None = None

    def done(self, result: int) -> None:
        if isValid(self.scene):
            self.scene.detach()
            self.parameter_editor.detach()
        super().done(result)

    def ask_parameters(self, dialog: QDialog) -> bool:
        """Show the parameter chooser (tests replace this)."""
        return dialog.exec() == QDialog.DialogCode.Accepted

    def choose_parameters(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle(f"Parameters of {self.block.name} instances")
        layout = QVBoxLayout(dialog)
        layout.addWidget(QLabel("Tick the parameters each instance sets; rows with the same "
                                "name become one parameter (double-click a name to change "
                                "it)."))
        tree = ExposureTree(self.sub, list(self.sub.nodes), self.exposed)
        layout.addWidget(tree, 1)
        buttons = ok_cancel_buttons(dialog)
        layout.addWidget(buttons)
        dialog.resize(560, 460)
        dialog.tree = tree  # type: ignore[attr-defined]
        if self.ask_parameters(dialog):
            self.exposed = tree.exposed()
            self._refresh_exposed()

    def _refresh_exposed(self) -> None:
        lines = ["<b>Parameters each instance sets</b>"]
        if not self.exposed:
            lines.append("none")
        for name, targets in self.exposed.items():
            where = ", ".join(f"{self.sub.nodes[n].name}.{p}" for n, p in targets
                              if n in self.sub.nodes) or "(its layers were removed)"
            default = ""
            if targets and targets[0][0] in self.sub.nodes:
                value = self.sub.nodes[targets[0][0]].params[targets[0][1]]
                default = f" = {_short(value)}"
            lines.append(f"<code>{name}</code>{default} → {where}")
        notes = {}
        for nid, (param, value) in self.optional.items():
            if nid in self.sub.nodes and param in self.exposed:
                lines.append(f"<i>{self.sub.nodes[nid].name}</i> is left out when "
                             f"<code>{param}</code> = {_short(value)}")
                notes[nid] = f"only if {param} ≠ {_short(value)}"
        self.exposed_label.setText("<br>".join(lines))
        self.scene.set_node_notes(notes, source="optional")  # the optional layers, marked

    def new_block(self) -> Block:
        """The edited definition; ``GraphError`` says why it cannot be one."""
        sub, block = self.sub, self.block
        problems = sub.inference.errors()
        if problems:
            raise GraphError("the block has errors: " + "; ".join(problems))
        inputs = [i for i in block.inputs if i in sub.nodes]
        inputs += [n.id for n in sub.inputs() if n.id not in inputs]
        outputs = [(n, p) for n, p in block.outputs if n in sub.nodes and not sub.out_edges(n)]
        if len(outputs) != len(block.outputs):
            outputs = [(n.id, 0) for n in sub.outputs()]
        if len(inputs) != len(block.inputs) or len(outputs) != len(block.outputs):
            raise GraphError(f"the block must keep {len(block.inputs)} input(s) and "
                             f"{len(block.outputs)} output(s): its instances are wired so")
        exposed = {}
        for name, targets in self.exposed.items():
            kept = [t for t in targets if t[0] in sub.nodes]
            if kept:
                exposed[name] = kept
        optional = {n: c for n, c in self.optional.items()
                    if n in sub.nodes and c[0] in exposed and len(sub.in_edges(n)) == 1}
        return Block(block.name, sub, inputs, outputs, block.kind, exposed=exposed,
                     optional=optional)

    def _accept(self) -> None:
        try:
            self.result_block = self.new_block()
        except GraphError as err:
            self.error.setText(str(err))
            self.error.show()
            return
        self.accept()


# --- the window's actions ----------------------------------------------------------------------


class BlockActions(QObject):
    """Blocks in the editor: Edit ▸ Make Block… / Expand Block / Collapse Block / Edit Block
    Definition… / Save Block to Library, the same in a layer's context menu, double-click to edit
    a definition, and the palette's "Blocks" section (placed through the document's placer for
    ``block:`` keys)."""

    def __init__(self, document: Document, parent: QWidget, palette: LayerPalette) -> None:
        super().__init__(parent)
        self.document = document
        self.parent_widget = parent
        self.palette = palette
        self.library_problems: list[str] = []

        def action(text: str, slot: Callable[[], object], shortcut: str | None = None,
                   tip: str = "") -> QAction:
            act = QAction(text, parent)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.triggered.connect(lambda _c=False: slot())
            return act

        self.make_action = action("Make &Block…", self.make_block, "Ctrl+B",
                                  "Turn the selected layers into a reusable block")
        self.expand_action = action("E&xpand Block", self.expand, None,
                                    "Put the selected block's layers on the canvas")
        self.collapse_action = action("C&ollapse Block", self.collapse, None,
                                      "Put an expanded block back together")
        self.edit_action = action("Edit Block &Definition…", self.edit, None,
                                  "Edit the selected block's definition (every instance "
                                  "changes)")
        self.save_action = action("Save Block to &Library", self.save_to_library, None,
                                  "Keep the selected block for other projects")
        document.placers[BLOCK_KEY_PREFIX] = self.place
        self.refresh_palette()

    def add_to_menu(self, menu: QMenu) -> None:
        menu.addSeparator()
        for act in (self.make_action, self.expand_action, self.collapse_action,
                    self.edit_action, self.save_action):
            menu.addAction(act)
        menu.aboutToShow.connect(self.update_enabled)

    def register(self, hooks: CanvasHooks) -> None:
        """A layer's menu entries and the double-click on a block, on every canvas."""
        hooks.node_menus.append(self._menu_items)
        hooks.double_clicks.append(self._double_clicked)

    # -- the palette -------------------------------------------------------------------------

    def refresh_palette(self) -> None:
        """The palette's "Blocks" section: the built-in blocks, then the library (re-read)."""
        icon = block_icon()
        library = bl.load_library()
        entries = [(f"{BLOCK_KEY_PREFIX}builtin:{name}", name, bl.DESCRIPTIONS.get(name, ""))
                   for name in bl.BUILTIN]
        entries += [(f"{BLOCK_KEY_PREFIX}library:{name}", name, "from your block library")
                    for name in library.blocks]
        items = []
        for key, name, description in entries:
            tooltip = f"<b>{name}</b> (block): {description}"
            items.append(PaletteEntry(key, name, tooltip, icon, f"{key} block {tooltip}"))
        self.library_problems = library.problems
        problems = ("Some library files could not be read:<br>" + "<br>".join(library.problems)
                    if library.problems else "")
        self.palette.set_section("Blocks", items, first=True, tooltip=problems)

    def place(self, key: str, position: Position | None, after: str | None) -> str | None:
        """Place the block a palette key names (the document's placer for ``block:`` keys)."""
        block = block_for_key(key)
        if block is None:
            self._status(f"No block {key[len(BLOCK_KEY_PREFIX):]!r} to place")
            return None
        return self.document.place_block(block, position, after)

    # -- the canvas --------------------------------------------------------------------------

    def _menu_items(self, menu: QMenu, node_id: str, ids: list[str]) -> None:
        """Make Block… / Expand / Edit Definition… / Save to Library / Collapse."""
        graph = self.document.graph
        node = graph.node(node_id)
        menu.addSeparator()
        items: list[tuple[str, Callable[[str], object]]] = []
        if node.type == BLOCK_TYPE and len(ids) == 1:
            items.append(("Expand Block", self.expand))
            if not graph.blocks[node.params["block"]].is_model:
                items += [("Edit Block Definition…", self.edit),
                          ("Save Block to Library", self.save_to_library)]
        if group_of(graph, node_id) is not None:
            items.append(("Collapse Block", self.collapse))
        if node.type != "Input":
            items.append(("Make Block…", self.make_block))
        for text, slot in items:
            action = menu.addAction(text)
            if slot == self.make_block:
                action.setShortcut("Ctrl+B")
                action.setShortcutVisibleInContextMenu(True)
            action.triggered.connect(lambda _c=False, s=slot: s(node_id))

    def _double_clicked(self, node_id: str) -> bool:
        if self.document.graph.node(node_id).type != BLOCK_TYPE:
            return False
        self.edit(node_id)  # open its definition
        return True

    # -- state ------------------------------------------------------------------------------

    def _block_node(self, node_id: str | None) -> str | None:
        ids = [node_id] if node_id else self.document.selection
        graph = self.document.graph
        if len(ids) == 1 and ids[0] in graph.nodes and graph.nodes[ids[0]].type == BLOCK_TYPE:
            return ids[0]
        return None

    def _chosen_block(self, node_id: str | None, purpose: str) -> tuple[str, Block] | None:
        """The block instance to act on and its block; None (and a hint saying what to select
        ``purpose``) when there is none."""
        block_node = self._block_node(node_id)
        if block_node is None:
            self._status(f"Select one block {purpose}")
            return None
        graph = self.document.graph
        return block_node, graph.blocks[graph.nodes[block_node].params["block"]]

    def update_enabled(self) -> None:
        graph = self.document.graph
        ids = self.document.selection
        block = self._block_node(None)
        self.make_action.setEnabled(bool(ids))
        self.expand_action.setEnabled(block is not None)
        model = block is not None and graph.blocks[graph.nodes[block].params["block"]].is_model
        # a nested model's "definition" is its layers: Edit explains and offers to expand it
        self.edit_action.setEnabled(block is not None)
        self.save_action.setEnabled(block is not None and not model)
        self.collapse_action.setEnabled(len(ids) >= 1 and group_of(graph, ids[0]) is not None)

    def _status(self, text: str) -> None:
        self.document.report(text)

    # -- the actions --------------------------------------------------------------------------

    def ask_make_block(self, dialog: MakeBlockDialog) -> bool:
        """Show the dialog (tests replace this)."""
        return dialog.exec() == QDialog.DialogCode.Accepted

    def make_block(self, _node_id: str | None = None) -> str | None:
        ids = list(self.document.selection)
        if not ids:
            self._status("Select the layers to make a block of first")
            return None
        dialog = MakeBlockDialog(self.document.graph, ids, self.parent_widget)
        while self.ask_make_block(dialog):
            name = dialog.name_edit.text().strip()
            try:
                node_id = self.document.make_block(ids, name, dialog.exposed())
            except GraphError as err:
                dialog.show_error(str(err))
                continue
            self._status(f"Made block {name}: double-click it to edit its definition")
            return node_id
        return None

    def expand(self, node_id: str | None = None) -> list[str] | None:
        block = self._block_node(node_id)
        if block is None:
            self._status("Select one block to expand")
            return None
        graph = self.document.graph
        name = graph.nodes[block].name
        app = graph.blocks[graph.nodes[block].params["block"]].application
        ids = self.document.expand_block(block)
        if ids:
            if app:
                weights = app.get("weights")
                self._status(
                    f"Expanded {app['name']} ({name}) into {len(ids)} layers"
                    + (f": plain layers now, without the {weights} weights" if weights else "")
                    + ". Edit ▸ Collapse Block gives the Keras Application back (if you change "
                    "its layers: a plain model instead)")
            else:
                self._status(f"Expanded {name} into {len(ids)} layers; Edit ▸ Collapse Block "
                             "puts it back")
        return ids

    def collapse(self, node_id: str | None = None) -> str | None:
        ids = [node_id] if node_id else self.document.selection
        graph = self.document.graph
        group = group_of(graph, ids[0]) if ids and ids[0] in graph.nodes else None
        if group is None:
            self._status("Select a layer of an expanded block to collapse it")
            return None
        before = graph.blocks.get(group.block)
        app = before.application if before is not None else None
        new = self.document.collapse_block(ids[0], group.instance_name)
        if new is not None:
            node = graph.nodes[new]
            after = graph.blocks[node.params["block"]]
            if app and after.application:
                weights = after.application.get("weights")
                self._status(f"Collapsed {node.name}: the Keras Application {app['name']} again "
                             f"(built by keras.applications.{app['name']}"
                             + (f", with its {weights} weights)" if weights else ")"))
            elif app:
                self._status(f"Collapsed {node.name} into a plain model: its layers were "
                             "changed, so it no longer comes from keras.applications (no "
                             f"{app['name']} constructor or weights). Undo gives the "
                             "Application back")
            else:
                self._status(f"Collapsed {node.name} (block {after.name})")
        return new

    def ask_edit(self, dialog: BlockEditorDialog) -> bool:
        """Show the editor (tests replace this)."""
        return dialog.exec() == QDialog.DialogCode.Accepted

    def ask_expand_model(self, block: Block) -> bool:
        """Editing a nested model (a Keras Application): say why its definition cannot be
        edited and offer to expand it instead (tests replace this)."""
        box = QMessageBox(self.parent_widget)
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("Edit Block Definition")
        box.setText(expand_model_text(block))
        box.setInformativeText("Expand it now? (Undo puts it back.)")
        expand = box.addButton("Expand on Canvas", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(expand)
        box.exec()
        return box.clickedButton() is expand

    def edit(self, node_id: str | None = None) -> bool:
        chosen = self._chosen_block(node_id, "to edit its definition")
        if chosen is None:
            return False
        block_node, block = chosen
        graph = self.document.graph
        if block.is_model:  # built as one model: its layers are changed on the canvas
            if self.ask_expand_model(block):
                self.expand(block_node)
            return False
        dialog = BlockEditorDialog(graph, block.name, self.parent_widget)
        if not self.ask_edit(dialog) or dialog.result_block is None:
            return False
        return self.document.set_block_definition(dialog.result_block)

    def save_to_library(self, node_id: str | None = None) -> bool:
        chosen = self._chosen_block(node_id, "to save it to the library")
        if chosen is None:
            return False
        _node, block = chosen
        try:
            path = bl.save_to_library(block)
        except GraphError as err:
            QMessageBox.warning(self.parent_widget, "Save Block to Library", str(err))
            return False
        self.refresh_palette()
        self._status(f"Saved block {block.name} to {path}")
        return True


def _short(value: Any) -> str:
    """``(1, 1)`` as ``1``, as the exported code writes it."""
    value = to_plain(value)
    if isinstance(value, list) and value and value.count(value[0]) == len(value):
        value = value[0]
    return escape(str(value))


def expand_model_text(block: Block) -> str:
    """Why a nested model's definition is not edited in the block editor, and what to do."""
    app = block.application
    if app:
        return (f"{app['name']} comes from keras.applications: it is built by its constructor "
                f"(with its weights), so it has no definition to edit. Expand it to change its "
                f"layers on the canvas — once changed, it collapses into a plain model (no "
                f"longer {app['name']}'s constructor or weights).")
    return (f"{block.name} is a nested Keras model: its layers are edited on the canvas. "
            "Expand it, change its layers, then Collapse Block makes it one model again.")


def default_values_text(block: Block) -> str:
    """``filters=64, strides=1`` (for tooltips)."""
    return ", ".join(f"{k}={block.exposure_default(k)}" for k in block.exposed)


__all__ = ["BlockActions", "BlockEditorDialog", "MakeBlockDialog", "block_for_key",
           "default_values_text", "expand_model_text"]
