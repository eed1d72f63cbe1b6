"""Blocks in the editor: "Make Block…" (Ctrl+B), Expand / Collapse, placing built-in and library
blocks from the palette, "Save Block to Library", and the block definition editor (double-click a
block): its own canvas, palette and inspector on a copy of the definition; accepting it updates
every instance, in one undo step.

Structural edits (make, expand, collapse, a new definition) are ``StructuralEdit`` commands: the
edit runs once through ``netbuilder.core.block_edits``; undo and redo put the graph back to the
state before or after it.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
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
from netbuilder.core.block_edits import (
    collapse_block,
    copy_graph,
    expand_block,
    group_of,
    make_block,
    restore,
    snapshot,
)
from netbuilder.core.blocks import Block, exposable_params
from netbuilder.core.catalog.base import to_plain
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError
from netbuilder.ui.commands import GraphCommand, push

if TYPE_CHECKING:
    from netbuilder.ui.canvas.scene import GraphScene
    from netbuilder.ui.main_window import MainWindow

BLOCK_KEY_PREFIX = "block:"
"""Palette keys of blocks: ``block:builtin:residual_unit``, ``block:library:my_block``."""


class StructuralEdit(GraphCommand):
    """An edit of the graph's structure done by ``action`` (make/expand/collapse a block, a new
    definition); undo and redo restore the whole graph as it was before / after."""

    def __init__(self, graph: Graph, text: str, action: Callable[[], Any]) -> None:
        super().__init__(graph, text)
        self.action = action
        self.before = None
        self.after = None
        self.result: Any = None

    def apply(self) -> None:
        if self.after is not None:
            restore(self.graph, self.after)
            return
        self.before = snapshot(self.graph)
        try:
            with self.graph.batch():
                self.result = self.action()
        except Exception:
            restore(self.graph, self.before)  # a refused edit leaves the graph as it was
            raise
        self.after = snapshot(self.graph)

    def revert(self) -> None:
        assert self.before is not None
        restore(self.graph, self.before)


def run_structural(stack: QUndoStack, graph: Graph, text: str, action: Callable[[], Any]) -> Any:
    """Do ``action`` as one undoable step; ``GraphError`` propagates, nothing recorded."""
    command = StructuralEdit(graph, text, action)
    push(stack, command)
    return command.result


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


def place_block(scene: GraphScene, key: str, position: QPointF | None,
                after: str | None = None) -> str | None:
    """Add an instance of the block ``key`` names (its definition too, unless the project has
    one of that name) at ``position``, connected after node ``after`` if given: one undo step."""
    block = block_for_key(key)
    if block is None:
        scene.status_message.emit(f"No block {key[len(BLOCK_KEY_PREFIX):]!r} to place")
        return None
    graph = scene.graph

    def action() -> str:
        bl.add_to_graph(graph, block)
        if after is not None:
            x, y = graph.node(after).position
            where = (x, y + 110.0)
        else:
            where = (position.x(), position.y()) if position is not None else (0.0, 0.0)
        node = graph.add_node(BLOCK_TYPE, {"block": block.name}, position=where)
        if after is not None and len(graph.blocks[block.name].inputs) == 1:
            graph.connect(after, node.id)
        return node.id

    try:
        node_id = run_structural(scene.undo_stack, graph, f"Add block {block.name}", action)
    except GraphError as err:
        scene.status_message.emit(str(err))
        return None
    scene.select_node(node_id)
    return node_id


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
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
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
        from netbuilder.ui.canvas.scene import GraphScene, GraphView
        from netbuilder.ui.panels.palette import LayerPalette
        from netbuilder.ui.panels.parameters import Inspector

        super().__init__(parent)
        self.block = graph.blocks[block_name]
        self.setWindowTitle(f"Edit block “{block_name}”")
        self.sub = copy_graph(self.block.graph)
        self.exposed = {k: list(v) for k, v in self.block.exposed.items()}
        self.optional = dict(self.block.optional)
        self.undo_stack = QUndoStack(self)
        self.scene = GraphScene(self.sub, self.undo_stack, self)
        self.view = GraphView(self)
        self.view.setScene(self.scene)
        self.palette = LayerPalette(with_blocks=False)
        self.palette.layer_activated.connect(
            lambda t: self.scene.append_layer(t, QPointF(0, 0)))
        self.inspector = Inspector(self.undo_stack)
        self.inspector.set_graph(self.sub)
        self.scene.selectionChanged.connect(self._selection_changed)

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
        right_layout.addWidget(self.inspector, 1)
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

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Update all instances")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(1100, 680)
        self._refresh_exposed()
        self.undo_stack.indexChanged.connect(lambda _i: self._refresh_exposed())
        self.result_block: Block | None = None

    def _selection_changed(self) -> None:
        if isValid(self.scene) and isValid(self.inspector):
            self.inspector.set_selection(self.scene.selected_node_ids())

    def done(self, result: int) -> None:
        if isValid(self.scene):
            self.scene.selectionChanged.disconnect(self._selection_changed)
            self.scene.detach()
            self.inspector.detach()
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
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
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
        self.scene.set_node_notes(notes)     # the optional layers, marked on the canvas

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
    """Edit ▸ Make Block… / Expand Block / Collapse Block / Edit Block Definition… / Save Block
    to Library, the same in a block's context menu, and double-click to edit a definition."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

        def action(text: str, slot: Callable[[], object], shortcut: str | None = None,
                   tip: str = "") -> QAction:
            act = QAction(text, window)
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

    def add_to_menu(self, menu: QMenu) -> None:
        menu.addSeparator()
        for act in (self.make_action, self.expand_action, self.collapse_action,
                    self.edit_action, self.save_action):
            menu.addAction(act)
        menu.aboutToShow.connect(self.update_enabled)

    def attach(self, scene: GraphScene) -> None:
        scene.block_requested.connect(self._requested)

    def _requested(self, what: str, node_id: str) -> None:
        {"expand": self.expand, "collapse": self.collapse, "edit": self.edit,
         "save": self.save_to_library, "make": self.make_block}[what](node_id)

    # -- state ------------------------------------------------------------------------------

    def _selection(self) -> list[str]:
        scene = self.window.scene
        return scene.selected_node_ids() if scene is not None else []

    def _block_node(self, node_id: str | None) -> str | None:
        ids = [node_id] if node_id else self._selection()
        graph = self.window.graph
        if len(ids) == 1 and ids[0] in graph.nodes and graph.nodes[ids[0]].type == BLOCK_TYPE:
            return ids[0]
        return None

    def update_enabled(self) -> None:
        graph = self.window.graph
        ids = self._selection()
        block = self._block_node(None)
        self.make_action.setEnabled(bool(ids))
        self.expand_action.setEnabled(block is not None)
        model = block is not None and graph.blocks[graph.nodes[block].params["block"]].is_model
        # a nested model's "definition" is its layers: Edit explains and offers to expand it
        self.edit_action.setEnabled(block is not None)
        self.save_action.setEnabled(block is not None and not model)
        self.collapse_action.setEnabled(len(ids) >= 1 and group_of(graph, ids[0]) is not None)

    def _status(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 6000)

    def _run(self, text: str, action: Callable[[], Any]) -> Any:
        try:
            return run_structural(self.window.undo_stack, self.window.graph, text, action)
        except GraphError as err:
            self._status(str(err))
            return None

    # -- the actions --------------------------------------------------------------------------

    def ask_make_block(self, dialog: MakeBlockDialog) -> bool:
        """Show the dialog (tests replace this)."""
        return dialog.exec() == QDialog.DialogCode.Accepted

    def make_block(self, _node_id: str | None = None) -> str | None:
        ids = self._selection()
        if not ids:
            self._status("Select the layers to make a block of first")
            return None
        graph = self.window.graph
        dialog = MakeBlockDialog(graph, ids, self.window)
        while self.ask_make_block(dialog):
            name = dialog.name_edit.text().strip()
            exposed = dialog.exposed()
            try:
                node_id = run_structural(
                    self.window.undo_stack, graph, f"Make block {name}",
                    lambda n=name, e=exposed: make_block(graph, ids, n, exposed=e))
            except GraphError as err:
                dialog.show_error(str(err))
                continue
            self._select(node_id)
            self._status(f"Made block {name}: double-click it to edit its definition")
            return node_id
        return None

    def expand(self, node_id: str | None = None) -> list[str] | None:
        block = self._block_node(node_id)
        if block is None:
            self._status("Select one block to expand")
            return None
        graph = self.window.graph
        name = graph.nodes[block].name
        app = graph.blocks[graph.nodes[block].params["block"]].application
        ids = self._run(f"Expand {name}", lambda: expand_block(graph, block))
        if ids:
            scene = self.window.scene
            if scene is not None:
                scene.clearSelection()
                for nid in ids:
                    scene.node_items[nid].setSelected(True)
                view = getattr(self.window, "view", None)
                if view is not None:  # the expansion starts where the block was
                    view.ensureVisible(scene.node_items[ids[0]], 40, 40)
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
        ids = [node_id] if node_id else self._selection()
        graph = self.window.graph
        group = group_of(graph, ids[0]) if ids and ids[0] in graph.nodes else None
        if group is None:
            self._status("Select a layer of an expanded block to collapse it")
            return None
        before = graph.blocks.get(group.block)
        app = before.application if before is not None else None
        new = self._run(f"Collapse {group.instance_name}",
                        lambda: collapse_block(graph, ids[0]))
        if new is not None:
            self._select(new)
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
        box = QMessageBox(self.window)
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
        block_node = self._block_node(node_id)
        graph = self.window.graph
        if block_node is None:
            self._status("Select one block to edit its definition")
            return False
        block = graph.blocks[graph.nodes[block_node].params["block"]]
        if block.is_model:  # built as one model: its layers are changed on the canvas
            if self.ask_expand_model(block):
                self.expand(block_node)
            return False
        dialog = BlockEditorDialog(graph, block.name, self.window)
        if not self.ask_edit(dialog) or dialog.result_block is None:
            return False
        new = dialog.result_block
        return self._run(f"Edit block {block.name}", lambda: graph.add_block(new)) is None and \
            graph.blocks.get(block.name) is new

    def save_to_library(self, node_id: str | None = None) -> bool:
        block_node = self._block_node(node_id)
        graph = self.window.graph
        if block_node is None:
            self._status("Select one block to save it to the library")
            return False
        block = graph.blocks[graph.nodes[block_node].params["block"]]
        try:
            path = bl.save_to_library(block)
        except GraphError as err:
            QMessageBox.warning(self.window, "Save Block to Library", str(err))
            return False
        refresh = getattr(self.window.palette, "refresh_blocks", None)
        if refresh is not None:
            refresh()
        self._status(f"Saved block {block.name} to {path}")
        return True

    def _select(self, node_id: str) -> None:
        scene = self.window.scene
        if scene is not None:
            scene.select_node(node_id)


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


__all__ = ["BlockActions", "BlockEditorDialog", "MakeBlockDialog", "StructuralEdit",
           "block_for_key", "default_values_text", "expand_model_text", "place_block"]
