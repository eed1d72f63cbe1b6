"""The open project as the editor edits it: the project, its file, its undo stack, and every edit
as one method that pushes one undo command (``ui.commands``).

The canvas, the panels, the dialogs and the features (blocks, Keras Applications) call these
methods; none of them pushes a command or changes the graph itself. An edit the graph refuses is
reported on ``reported`` (for the status bar) and leaves the undo stack as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from netbuilder.core import blocks_library, catalog, freezing
from netbuilder.core.block_edits import collapse_block, expand_block, make_block
from netbuilder.core.blocks import Block
from netbuilder.core.data_fit import DataFix
from netbuilder.core.graph import BLOCK_TYPE, Edge, Graph, GraphError
from netbuilder.core.graph_replace import replacement
from netbuilder.core.layout import V_SPACING, layered_layout
from netbuilder.core.project import Project
from netbuilder.core.quick_fixes import ParamFix, QuickFix, describe_fix
from netbuilder.core.recipes import DEFAULT_DROPOUT, classifier_head
from netbuilder.ui.canvas.clipboard import base_name, paste_plan
from netbuilder.ui.commands import (
    AddNode,
    ApplyQuickFix,
    CallAgain,
    Connect,
    Disconnect,
    GraphCommand,
    InsertOnEdge,
    Move,
    RemoveNode,
    Rename,
    RenameMarked,
    ReplaceGraph,
    SetFreezing,
    SetParam,
    SetSearchMarks,
    SetTrainable,
    SetTrainingSettings,
    StructuralEdit,
    Unshare,
    push,
)
from netbuilder.ui.data_check import DataCheck

NODE_WIDTH = 196.0
NODE_HEIGHT = 72.0
"""The size of a layer on the canvas: new layers are placed where they do not overlap one."""
PASTE_STEP = 40.0  # how far a pasted or duplicated layer sits from its original

Position = tuple[float, float]
Placer = Callable[[str, Position | None, str | None], str | None]
"""Places what a palette key names that is not a layer type (a block, a Keras Application…):
``placer(key, position, after)`` returns the new node's id (None: nothing placed)."""

COMPILE_SETTINGS = ("optimizer", "learning_rate", "loss", "output_losses", "metrics")
"""The training settings a ``compile(...)`` always sets (its other ones: where not the default)."""


def _free_among(wanted: Position, taken: list[Position]) -> Position:
    """``wanted``, or the nearest place to its right where none of ``taken`` sits."""
    x, y = wanted
    while any(abs(px - x) < NODE_WIDTH and abs(py - y) < NODE_HEIGHT for px, py in taken):
        x += NODE_WIDTH + 30
    return (x, y)


class Document(QObject):
    """One open project and its edits."""

    project_replaced = Signal()
    """Another project (a new graph) is open now; the undo history starts empty."""
    path_changed = Signal()
    """The project's file (``path``) or its example status changed."""
    modified_changed = Signal(bool)
    """The project became modified (True) or is as saved again (False)."""
    edited = Signal()
    """An edit was made, undone or redone."""
    settings_changed = Signal(str)
    """``project.settings[key]`` changed through ``set_training_settings`` (or its undo)."""
    search_changed = Signal()
    """``project.search`` changed: a parameter marked or unmarked for search, a mark renamed or
    dropped with its layer, or such a change undone."""
    reported = Signal(str)
    """A short message for the status bar: what an edit did, or why it was refused."""
    selection_changed = Signal(list)
    """The selected layers (node ids) changed on the canvas."""
    select_requested = Signal(list)
    """An edit made these layers the ones to select (new layers): the canvas selects them and
    scrolls to the first."""

    def __init__(self, project: Project | None = None, path: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.project = project if project is not None else Project(Graph())
        self.path: Path | None = Path(path) if path is not None else None
        self.is_example = False
        self.selection: list[str] = []
        self.placers: dict[str, Placer] = {}
        """Palette keys that are not layer types, by prefix (``block:``): who places them."""
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.undo_stack.indexChanged.connect(self._index_changed)
        self.data_check = DataCheck(self)
        """The project's data against its outputs: problems shown as errors (``ui.data_check``)."""

    def _clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    def _index_changed(self, _index: int) -> None:
        self.edited.emit()

    # -- the project and its file ----------------------------------------------------------------

    @property
    def graph(self) -> Graph:
        return self.project.graph

    def set_project(self, project: Project, path: str | Path | None = None,
                    is_example: bool = False) -> None:
        """Open ``project``: the undo history starts empty and the project counts as saved."""
        self.undo_stack.clear()
        self.project = project
        self.path = Path(path) if path is not None else None
        self.is_example = is_example
        self.selection = []
        self.project_replaced.emit()
        self.undo_stack.setClean()
        self.path_changed.emit()

    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self, path: str | Path) -> None:
        """The project was written to ``path``: that is its file now, and it is not modified."""
        self.path = Path(path)
        self.is_example = False
        self.undo_stack.setClean()
        self.path_changed.emit()

    def mark_unsaved(self) -> None:
        """The project is not saved anywhere as it is (an import, restored work)."""
        self.undo_stack.resetClean()

    def report(self, text: str) -> None:
        self.reported.emit(text)

    # -- selection ---------------------------------------------------------------------------

    def set_selection(self, node_ids: list[str]) -> None:
        """The canvas says what is selected now."""
        self.selection = list(node_ids)
        self.selection_changed.emit(list(node_ids))

    def select(self, node_ids: list[str]) -> None:
        """Ask the canvas to select exactly these layers (none: nothing)."""
        self.select_requested.emit(list(node_ids))

    def selected_one(self) -> str | None:
        return self.selection[0] if len(self.selection) == 1 else None

    # -- pushing commands ----------------------------------------------------------------------

    def _push(self, command: GraphCommand) -> bool:
        try:
            push(self.undo_stack, command)
        except GraphError as err:
            self.report(str(err))
            return False
        return True

    def _try(self, command: GraphCommand) -> str | None:
        """Run an edit; the graph's refusal comes back as a message (not reported)."""
        try:
            push(self.undo_stack, command)
        except GraphError as err:
            return str(err)
        return None

    @contextmanager
    def _macro(self, text: str) -> Iterator[None]:
        self.undo_stack.beginMacro(text)
        try:
            yield
        finally:
            self.undo_stack.endMacro()

    # -- adding layers -------------------------------------------------------------------------

    def _placer(self, key: str) -> Placer | None:
        return next((p for prefix, p in self.placers.items() if key.startswith(prefix)), None)

    def can_place(self, key: str) -> bool:
        return catalog.has(key) or self._placer(key) is not None

    def add_layer(self, layer_type: str, position: Position) -> str | None:
        """Add a layer (or what a palette key names) centred at ``position``; its node id."""
        placer = self._placer(layer_type)
        if placer is not None:
            return placer(layer_type, position, None)
        command = AddNode(self.graph, layer_type, position=(round(position[0], 1),
                                                            round(position[1], 1)))
        if not self._push(command):
            return None
        assert command.node_id is not None
        self.select([command.node_id])
        return command.node_id

    def append_layer(self, layer_type: str, fallback: Position | None = None) -> str | None:
        """Add a layer below the selected one (or the last output) and connect the two."""
        graph = self.graph
        after = self.selection[-1] if self.selection else None
        if after is None:
            outputs = graph.outputs()
            after = outputs[-1].id if outputs else None
        placer = self._placer(layer_type)
        if placer is not None:
            return placer(layer_type, fallback or self.free_spot((0.0, 0.0)), after)
        takes_input = catalog.has(layer_type) and catalog.get(layer_type).max_inputs != 0
        if after is None or not takes_input:
            return self.add_layer(layer_type, fallback or self.free_spot((0.0, 0.0)))
        x, y = graph.node(after).position
        add = AddNode(graph, layer_type, position=self.free_spot((x, y + V_SPACING)))
        with self._macro(f"Append {layer_type}"):
            if not self._push(add):
                return None
            assert add.node_id is not None
            self._push(Connect(graph, after, add.node_id))
        self.select([add.node_id])
        return add.node_id

    def free_spot(self, wanted: Position) -> Position:
        """``wanted``, or the nearest place to its right where no layer sits."""
        return _free_among(wanted, [n.position for n in self.graph.nodes.values()])

    # -- connections, deletion, parameters, names, flags, positions -------------------------------

    def connect(self, src: str, dst: str, src_port: int = 0,
                dst_port: int | None = None) -> bool:
        """Connect two layers; a refused connection is reported with the reason."""
        ok = self._push(Connect(self.graph, src, dst, src_port, dst_port))
        if ok:
            self.report(f"Connected {self.graph.node(src).name} → {self.graph.node(dst).name}")
        return ok

    def delete(self, node_ids: list[str], edges: list[Edge]) -> None:
        """Delete layers (with their connections) and connections: one undo step."""
        graph = self.graph
        edges = [e for e in edges if e.src not in node_ids and e.dst not in node_ids]
        if not node_ids and not edges:
            return
        count = len(node_ids) + len(edges)
        if count == 1:
            text = (f"Delete {graph.node(node_ids[0]).name}" if node_ids else
                    f"Delete connection {graph.node(edges[0].src).name} → "
                    f"{graph.node(edges[0].dst).name}")
        else:
            text = f"Delete {count} items"
        names = {graph.node(n).name for n in node_ids}
        marks = {k: v for k, v in self.project.search.items()
                 if k.rpartition(".")[0] not in names}
        with self._macro(text):
            for edge in edges:
                self._push(Disconnect(graph, edge))
            for node_id in node_ids:
                self._push(RemoveNode(graph, node_id))
            if marks != self.project.search:   # their search marks go with them
                self.undo_stack.push(SetSearchMarks(self.project, self.project.search, marks,
                                                    self.search_changed.emit, text))

    def set_param(self, node_id: str, name: str, value: Any) -> str | None:
        """Set one parameter (typing in a field merges into one step); the refusal, if any."""
        return self._try(SetParam(self.graph, node_id, name, value))

    def call_again(self, node_id: str) -> str | None:
        """Another call of ``node_id``'s layer (sharing its weights), placed beside it to be
        connected to another input: one undo step; the new node's id (None: refused)."""
        x, y = self.graph.node(node_id).position
        command = CallAgain(self.graph, node_id, self.free_spot((x + NODE_WIDTH + PASTE_STEP, y)))
        if not self._push(command):
            return None
        assert command.node_id is not None
        self.select([command.node_id])
        return command.node_id

    def unshare(self, node_id: str) -> bool:
        """Give a call of a shared layer a layer of its own (its own weights): one undo step."""
        if len(self.graph.sharing_group(node_id)) < 2:
            return False
        return self._push(Unshare(self.graph, node_id))

    def rename(self, node_id: str, name: str) -> str | None:
        """Rename a layer (and its search marks); the refusal (a name taken, not a name), if
        any."""
        old = self.graph.node(node_id).name
        if any(k.rpartition(".")[0] == old for k in self.project.search):
            return self._try(RenameMarked(self.graph, node_id, name, self.project,
                                          self.search_changed.emit))
        return self._try(Rename(self.graph, node_id, name))

    def set_trainable(self, node_ids: list[str], trainable: bool) -> None:
        """Freeze (or unfreeze) layers: one undo step."""
        graph = self.graph
        ids = [n for n in node_ids if graph.node(n).type != "Input"
               and graph.node(n).trainable != trainable]
        if not ids:
            return
        verb = "Unfreeze" if trainable else "Freeze"
        text = f"{verb} {graph.node(ids[0]).name}" if len(ids) == 1 else \
            f"{verb} {len(ids)} layers"
        with self._macro(text):
            for node_id in ids:
                self._push(SetTrainable(graph, node_id, trainable))

    def move(self, moves: Mapping[str, tuple[Position, Position]], text: str | None = None
             ) -> bool:
        """Move layers (node id -> (old, new) position): one undo step."""
        return bool(moves) and self._push(Move(self.graph, moves, text))

    def arrange(self) -> None:
        """Lay the model out top to bottom, branches side by side: one undo step."""
        graph = self.graph
        positions = layered_layout(graph)
        self.move({nid: (graph.nodes[nid].position, pos) for nid, pos in positions.items()
                   if graph.nodes[nid].position != pos}, "Arrange layers")

    # -- inserting on a connection: quick fixes and drops on an edge -----------------------------

    def _room_for_insert(self, edge: Edge) -> Move | None:
        """If a layer put halfway along ``edge`` would overlap its ends, a Move that pushes the
        consumer and everything below it down one row."""
        graph = self.graph
        src = graph.node(edge.src).position
        dst = graph.node(edge.dst).position
        if abs(dst[1] - src[1]) >= 2 * NODE_HEIGHT + 40 or abs(dst[0] - src[0]) >= NODE_WIDTH:
            return None
        below, stack = {edge.dst}, [edge.dst]
        while stack:
            for e in graph.out_edges(stack.pop()):
                if e.dst not in below:
                    below.add(e.dst)
                    stack.append(e.dst)
        if edge.src in below:
            return None
        moves = {}
        for node_id in below:
            x, y = graph.node(node_id).position
            moves[node_id] = ((x, y), (x, y + V_SPACING))
        return Move(graph, moves, "Make room")

    def _insert(self, command: InsertOnEdge, text: str) -> str | None:
        """Make room if needed, then run ``command``: one undo step."""
        try:
            command._check()
        except GraphError as err:
            self.report(str(err))
            return None
        room = self._room_for_insert(command.edge)
        with self._macro(text):
            if room is not None:
                self._push(room)
            if not isinstance(command, ApplyQuickFix):  # apply_fix places it halfway itself
                src = self.graph.node(command.edge.src).position
                dst = self.graph.node(command.edge.dst).position
                command.position = ((src[0] + dst[0]) / 2, (src[1] + dst[1]) / 2)
            ok = self._push(command)
        if not ok:
            if room is not None:  # the insertion was refused: take the room back
                self.undo_stack.undo()
            return None
        assert command.node_id is not None
        self.select([command.node_id])
        return command.node_id

    def apply_quick_fix(self, fix: QuickFix | ParamFix | DataFix) -> str | None:
        """Apply a quick fix as one undo step; returns the inserted layer's id (for a parameter
        fix, the node's)."""
        graph = self.graph
        if isinstance(fix, DataFix):  # the output against the data: its parameters at once
            node = graph.node(fix.node_id)
            with self._macro(f"Fit {node.name} to the data: {fix.label[0].lower()}"
                             f"{fix.label[1:]}"):
                for name, value in fix.values.items():
                    self._push(SetParam(graph, fix.node_id, name, value))
            state = "changed" if fix.node_id in self.data_check.problems else "fits the data now"
            self.report(f"{fix.label} of {node.name}: it {state}. Ctrl+Z undoes it.")
            self.select([fix.node_id])
            return fix.node_id
        if isinstance(fix, ParamFix):
            node = graph.node(fix.node_id)
            text = describe_fix(graph, fix)
            push(self.undo_stack, SetParam(graph, fix.node_id, fix.name, fix.value))
            result = graph.inference.result(fix.node_id)
            state = "valid now" if result.ok and not result.notes else "changed"
            self.report(f"{text}: {node.name} is {state}. Ctrl+Z undoes it.")
            self.select([fix.node_id])
            return fix.node_id
        node_name = graph.node(fix.edge.dst).name
        node_id = self._insert(ApplyQuickFix(graph, fix),
                               f"Quick fix for {node_name}: {fix.label[0].lower()}"
                               f"{fix.label[1:]}")
        if node_id is not None:
            result = graph.inference.result(fix.edge.dst)
            state = "valid now" if result.ok and not result.notes else "changed"
            self.report(f"Inserted {graph.node(node_id).name} ({fix.layer_type}) before "
                        f"{node_name}: it is {state}. Ctrl+Z undoes it.")
        return node_id

    def insert_on_edge(self, layer_type: str, edge: Edge) -> str | None:
        """Insert a new ``layer_type`` on ``edge`` (a drop from the palette), one undo step.

        A layer that does not accept the tensor on the edge is inserted anyway, red, and the
        report says why; undo takes it out."""
        graph = self.graph
        src, dst = graph.node(edge.src), graph.node(edge.dst)
        node_id = self._insert(InsertOnEdge(graph, edge, layer_type),
                               f"Insert {layer_type} between {src.name} and {dst.name}")
        if node_id is None:
            return None
        new = graph.node(node_id)
        mine = graph.inference.result(node_id)
        after = graph.inference.result(edge.dst)
        where = f"Inserted {new.name} ({layer_type}) between {src.name} and {dst.name}"
        if mine.error:
            message = mine.error.removeprefix(f"{new.name}: ")
            self.report(f"{where}, but it does not accept the tensor there: {message}"
                        f"{'; ' + mine.fix if mine.fix else ''}. Ctrl+Z takes it out.")
        elif after.error:
            message = after.error.removeprefix(f"{dst.name}: ")
            self.report(f"{where}, but {dst.name} does not accept its output: {message}. "
                        "Ctrl+Z takes it out.")
        else:
            self.report(f"{where}.")
        return node_id

    # -- paste -----------------------------------------------------------------------------------

    def paste(self, data: dict, what: str = "Paste") -> list[str]:
        """Add copies of the layers in ``data`` (from ``clipboard.nodes_to_data``) and their
        connections, with new names, beside the originals: one undo step. A copied call of a
        shared layer is pasted as a call (``clipboard.paste_plan``). Returns the new ids."""
        graph = self.graph
        entries = [n for n in data["nodes"]
                   if catalog.has(n["type"]) or n["type"] == BLOCK_TYPE
                   and n.get("params", {}).get("block") in graph.blocks]
        if not entries:
            if data["nodes"]:
                self.report("Nothing to paste: the copied layers are blocks this project does "
                            "not have")
            return []
        taken = [n.position for n in graph.nodes.values()]
        step = 1
        while step < 50 and any(
                abs(px - (e["position"][0] + step * PASTE_STEP)) < 10
                and abs(py - (e["position"][1] + step * PASTE_STEP)) < 10
                for e in entries for px, py in taken):
            step += 1
        offset = step * PASTE_STEP
        count = len(entries)
        text = f"{what} {entries[0]['name']}" if count == 1 else f"{what} {count} layers"
        new_ids: dict[str, str] = {}
        entries, shares, note = paste_plan(graph, data, entries)
        with self._macro(text):
            for entry in entries:
                x, y = entry["position"]
                position = (float(x) + offset, float(y) + offset)
                source, owner = shares.get(entry["id"], ("", ""))
                if source == "copy" and owner not in new_ids:
                    source = ""  # its layer's copy was refused: a layer of its own
                add: AddNode | CallAgain
                if source:  # another call of a shared layer: its weights, flag and params
                    add = CallAgain(graph, new_ids[owner] if source == "copy" else owner,
                                    position)
                else:
                    add = AddNode(graph, entry["type"], entry.get("params") or {},
                                  position=position,
                                  name=graph.unique_name(base_name(entry["name"])))
                if not self._push(add):
                    continue
                assert add.node_id is not None
                new_ids[entry["id"]] = add.node_id
                if source:
                    continue
                if entry.get("trainable") is False and entry["type"] != "Input":
                    self._push(SetTrainable(graph, add.node_id, False))
            for edge in data["edges"]:
                (src, src_port), (dst, dst_port) = edge["from"], edge["to"]
                if src in new_ids and dst in new_ids:
                    self._push(Connect(graph, new_ids[src], new_ids[dst], int(src_port),
                                       int(dst_port)))
        if note is not None and new_ids:
            self.report(note)
        self.select(list(new_ids.values()))
        return list(new_ids.values())

    # -- blocks: structural edits (each one undo step restoring the whole graph) ----------------

    def run_structural(self, text: str, action: Callable[[], Any]) -> Any:
        """Do ``action`` as one undoable step; ``GraphError`` propagates, nothing recorded."""
        command = StructuralEdit(self.graph, text, action)
        push(self.undo_stack, command)
        return command.result

    def _structural(self, text: str, action: Callable[[], Any]) -> Any:
        """``run_structural``, the refusal reported (None returned)."""
        try:
            return self.run_structural(text, action)
        except GraphError as err:
            self.report(str(err))
            return None

    def place_block(self, block: Block, position: Position | None,
                    after: str | None = None) -> str | None:
        """Add an instance of ``block`` (its definition too, unless the project has one of that
        name) at ``position``, connected after ``after`` if given: one undo step."""
        graph = self.graph

        def action() -> str:
            blocks_library.add_to_graph(graph, block)
            if after is not None:
                x, y = graph.node(after).position
                where = (x, y + V_SPACING)
            else:
                where = position if position is not None else (0.0, 0.0)
            node = graph.add_node(BLOCK_TYPE, {"block": block.name}, position=where)
            if after is not None and len(graph.blocks[block.name].inputs) == 1:
                graph.connect(after, node.id)
            return node.id

        node_id = self._structural(f"Add block {block.name}", action)
        if node_id is not None:
            self.select([node_id])
        return node_id

    def make_block(self, node_ids: list[str], name: str,
                   exposed: dict[str, list[tuple[str, str]]]) -> str:
        """Turn layers into a block and one instance in their place; ``GraphError`` says why
        not (nothing recorded)."""
        graph = self.graph
        node_id = self.run_structural(f"Make block {name}",
                                      lambda: make_block(graph, node_ids, name, exposed=exposed))
        self.select([node_id])
        return node_id

    def expand_block(self, node_id: str) -> list[str] | None:
        """Put a block instance's layers on the canvas; their ids (selected)."""
        graph = self.graph
        ids = self._structural(f"Expand {graph.nodes[node_id].name}",
                               lambda: expand_block(graph, node_id))
        if ids:
            self.select(ids)
        return ids

    def collapse_block(self, node_id: str, instance_name: str) -> str | None:
        """Put the expanded block ``node_id`` belongs to back together; the instance's id."""
        graph = self.graph
        new = self._structural(f"Collapse {instance_name}",
                               lambda: collapse_block(graph, node_id))
        if new is not None:
            self.select([new])
        return new

    def set_block_definition(self, block: Block) -> bool:
        """Replace the definition of ``block.name``: every instance changes, one undo step."""
        graph = self.graph
        self._structural(f"Edit block {block.name}", lambda: graph.add_block(block))
        return graph.blocks.get(block.name) is block

    # -- Keras Applications and transfer learning -------------------------------------------------

    def place_application(self, block: Block, frozen: bool = False,
                          after: str | None = None) -> str | None:
        """Add ``block`` (a Keras Application) and a node calling it (one undo step), below
        ``after`` and fed by it; in an empty model an Input of the Application's shape comes
        first. Returns the node id."""
        graph = self.graph
        i = 1
        base_name = block.name
        while block.name in graph.blocks:
            block.name = f"{base_name}_{i}"
            i += 1
        shape = (block.application or {}).get("input_shape")

        def action() -> str:
            source = after
            if source is None and not graph.nodes and shape is not None and None not in shape:
                source = graph.add_node("Input", {"shape": list(shape)}, position=(0.0, 0.0)).id
            if source is not None:
                x, y = graph.node(source).position
                where = (x, y + V_SPACING)
            else:
                taken = [n.position for n in graph.nodes.values()]
                x = max((p[0] for p in taken), default=-260.0) + 260.0
                where = (x, 0.0)
            graph.add_block(block)
            node = graph.add_node(BLOCK_TYPE, {"block": block.name}, position=where,
                                  trainable=not frozen)
            if source is not None:
                graph.connect(source, node.id)
            return node.id

        assert block.application is not None
        node_id = self._structural(f"Add Keras Application {block.application['name']}",
                                   action)
        if node_id is not None:
            self.select([node_id])
        return node_id

    def set_freezing(self, node_id: str, frozen: bool | None,
                     fine_tune_from: str | None = None) -> bool:
        """Freeze or unfreeze a nested model, or fine-tune it from one of its layers."""
        return self._push(SetFreezing(self.graph, node_id, frozen, fine_tune_from))

    def add_classifier_head(self, node_id: str, classes: int,
                            dropout: float = DEFAULT_DROPOUT) -> list[str]:
        """Append GlobalAveragePooling2D → Dropout → Dense(classes) after ``node_id`` (one undo
        step); returns the new node ids."""
        graph = self.graph
        try:
            steps = classifier_head(graph, node_id, classes, dropout)
        except GraphError as err:
            self.report(str(err))
            return []
        ids: list[str] = []
        with self._macro("Add classifier head"):
            try:
                previous = node_id
                for step in steps:
                    add = AddNode(graph, step.type, step.params, position=step.position)
                    push(self.undo_stack, add)
                    assert add.node_id is not None
                    push(self.undo_stack, Connect(graph, previous, add.node_id))
                    ids.append(add.node_id)
                    previous = add.node_id
            except GraphError as err:
                self.report(str(err))
        if ids:
            self.select([ids[-1]])
        return ids

    def set_up_two_stage(self, node_id: str, values: dict[str, Any],
                         apply_settings: Callable[[dict[str, Any]], str | None]) -> bool:
        """Freeze the base and set the training settings' fine-tuning fields, one undo step.
        ``apply_settings(values)`` sets the settings (through ``set_training_settings``) and
        returns an error message or None."""
        graph = self.graph
        with self._macro(f"Two-stage fine-tuning of {graph.node(node_id).name}"):
            if graph.node(node_id).trainable or freezing.fine_tune_layer(
                    freezing.block_of(graph, node_id)) is not None:
                push(self.undo_stack, SetFreezing(graph, node_id, True))
            error = apply_settings(values)
        if error:
            self.undo_stack.undo()  # the freezing alone is not what was asked for
            self.report(error)
            return False
        self.report(
            f"Two-stage fine-tuning: stage 1 trains with {graph.node(node_id).name} frozen, "
            f"stage 2 unfreezes from {values['fine_tune_from']} for "
            f"{values['fine_tune_epochs']} epochs at {values['fine_tune_learning_rate']:g}")
        return True

    def set_training_settings(self, value: Any, key: str = "training") -> bool:
        """Set ``project.settings[key]`` ("training": the training settings as a dict; "data":
        the data source and options) as one undo step; ``settings_changed(key)`` follows it,
        and its undo. False when nothing changed."""
        old = self.project.settings.get(key)
        if old == value:
            return False
        self.undo_stack.push(SetTrainingSettings(
            self.project, old, value, lambda: self.settings_changed.emit(key), key=key))
        return True

    def replace_graph(self, new: Project, text: str = "Apply the code") -> None:
        """Make the graph ``new``'s (the code view's Apply): layers whose name is in both keep
        their node id and position, new ones go where ``new``'s layout puts them beside a
        neighbour that kept its place; the training settings ``new`` has (its code's
        ``compile``) replace those they name. One undo step; ``GraphError`` propagates and
        nothing is recorded."""
        from netbuilder.runtime.training.settings import TrainingSettings

        target = replacement(self.graph, new.graph, _free_among)
        old = self.project.settings.get("training")
        settings = None
        if new.settings.get("training") is not None:
            defaults = TrainingSettings().to_dict()
            merged = dict(old or {})
            merged.update((k, v) for k, v in new.settings["training"].items()
                          if k in COMPILE_SETTINGS or v != defaults.get(k))
            if merged != old:
                settings = SetTrainingSettings(self.project, old, merged,
                                               lambda: self.settings_changed.emit("training"))
        push(self.undo_stack, ReplaceGraph(self.graph, text, target, settings))

    # -- hyperparameter search -------------------------------------------------------------------

    def set_search_mark(self, path: str, spec: Mapping[str, Any] | None) -> str | None:
        """Mark ``path`` (``dense.units``, ``training.learning_rate``) for search over ``spec``
        (the project file's form: ``{"type": "int", "low": 16, "high": 128, "log": true}``), or
        unmark it (None): one undo step. Returns the refusal (a range the parameter does not
        allow), if any; nothing is recorded then."""
        from netbuilder.core.search_space import SearchError, check_space, dimensions_from_plain
        from netbuilder.runtime.search import training_rules

        marks = dict(self.project.search)
        if spec is None:
            marks.pop(path, None)
            text = f"Stop searching {path}"
        else:
            try:
                dims = check_space(dimensions_from_plain({path: dict(spec)}), self.graph,
                                   training_rules())
            except SearchError as err:
                return str(err)
            marks[path] = dims[0].to_plain()
            text = f"Search {dims[0].text()}"
        if marks == self.project.search:
            return None
        self.undo_stack.push(SetSearchMarks(self.project, self.project.search, marks,
                                            self.search_changed.emit, text))
        return None

    def apply_search_values(self, values: Mapping[str, Any], text: str) -> str | None:
        """Set one search trial's values (path -> value) on the graph and the training settings:
        one undo step. Returns the refusal, if any (then nothing changed)."""
        graph = self.graph
        training = dict(self.project.settings.get("training") or {})
        layer_values = []
        for path, value in values.items():
            owner, _, name = path.rpartition(".")
            if owner == "training":
                training[name] = value
                continue
            node = graph.node_by_name(owner)
            if node is None:
                return f"{path}: no layer named {owner!r} in this model"
            if node.params.get(name) != value:
                layer_values.append((node.id, name, value))
        with self._macro(text):
            try:
                for node_id, name, value in layer_values:
                    push(self.undo_stack, SetParam(graph, node_id, name, value))
            except GraphError as err:
                error: str | None = str(err)
            else:
                error = None
                self.set_training_settings(training)
        if error is not None:
            self.undo_stack.undo()
        return error
