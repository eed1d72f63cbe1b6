"""Undo commands: every edit the editor makes to a project, each a thin wrapper over the Graph API
(or, for structural edits and freezing, over ``core.block_edits`` and ``core.freezing``).

``ui.document.Document`` builds them and hands them to ``push``. ``push`` applies the command
first, so that an edit the graph refuses raises ``GraphError`` and leaves the undo stack (and its
redo history) untouched; only edits that happened are recorded.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

from netbuilder.core import catalog, freezing
from netbuilder.core.block_edits import Snapshot, restore, snapshot
from netbuilder.core.catalog import CatalogError
from netbuilder.core.graph import Edge, Graph, GraphError
from netbuilder.core.project import Project
from netbuilder.core.quick_fixes import QuickFix, apply_fix

_SET_PARAM_ID = 1001


class GraphCommand(QUndoCommand):
    """A command on ``graph``; subclasses implement ``apply`` and ``revert``."""

    def __init__(self, graph: Graph, text: str) -> None:
        super().__init__(text)
        self.graph = graph
        self._applied_already = False

    def apply(self) -> None:
        raise NotImplementedError

    def revert(self) -> None:
        raise NotImplementedError

    def redo(self) -> None:
        if self._applied_already:  # ``push`` applied it before handing it to the stack
            self._applied_already = False
            return
        try:
            self.apply()
        except Exception:
            _report()

    def undo(self) -> None:
        try:
            self.revert()
        except Exception:
            _report()


def _report() -> None:
    """An exception escaping a command called by Qt's undo stack aborts the process (PySide6
    crashes printing it): report it like any other unexpected error instead."""
    sys.excepthook(*sys.exc_info())


def push(stack: QUndoStack, command: GraphCommand) -> GraphCommand:
    """Apply ``command`` and record it; ``GraphError`` propagates and nothing is recorded."""
    command.apply()
    command._applied_already = True
    stack.push(command)
    return command


class AddNode(GraphCommand):
    def __init__(self, graph: Graph, layer_type: str, params: Mapping[str, Any] | None = None,
                 *, position: tuple[float, float] = (0.0, 0.0), name: str | None = None) -> None:
        super().__init__(graph, f"Add {layer_type}")
        self.layer_type = layer_type
        self.params = dict(params or {})
        self.position = position
        self.name = name
        self.node_id: str | None = None

    def apply(self) -> None:
        # the same id and name on redo, so that later commands in the stack still find the node
        node = self.graph.add_node(self.layer_type, self.params, name=self.name,
                                   position=self.position, node_id=self.node_id)
        self.node_id, self.name = node.id, node.name

    def revert(self) -> None:
        assert self.node_id is not None
        self.graph.remove_node(self.node_id)


class RemoveNode(GraphCommand):
    """Remove a node; undo puts it back with every connection it had, on the same ports."""

    def __init__(self, graph: Graph, node_id: str) -> None:
        node = graph.node(node_id)
        super().__init__(graph, f"Delete {node.name}")
        self.node_id = node_id
        self.edges: list[Edge] = []

    def apply(self) -> None:
        node = self.graph.node(self.node_id)
        self.saved = (node.type, dict(node.params), node.name, node.position, node.trainable)
        self.sharing = self.graph.sharing  # a shared layer's calls, its owner's heir
        self.edges = self.graph.remove_node(self.node_id)

    def revert(self) -> None:
        layer_type, params, name, position, trainable = self.saved
        with self.graph.batch():
            self.graph.add_node(layer_type, params, name=name, position=position,
                                trainable=trainable, node_id=self.node_id)
            for edge in sorted(self.edges, key=lambda e: (e.dst, e.dst_port)):
                self.graph.connect(edge.src, edge.dst, edge.src_port, edge.dst_port)
            self.graph.restore_sharing(self.sharing)


class CallAgain(GraphCommand):
    """Another call of a layer: a new node sharing its weights, placed at ``position``."""

    def __init__(self, graph: Graph, node_id: str, position: tuple[float, float]) -> None:
        node = graph.node(node_id)
        super().__init__(graph, f"Call {node.name} Again")
        self.owner, self.position = node_id, position
        self.node_id: str | None = None
        self.name = graph.unique_name(f"{graph.node(graph.owner_of(node_id)).name}_call")

    def apply(self) -> None:
        node = self.graph.add_node(self.graph.node(self.owner).type, name=self.name,
                                   position=self.position, node_id=self.node_id,
                                   shares=self.owner)
        self.node_id = node.id

    def revert(self) -> None:
        assert self.node_id is not None
        self.graph.remove_node(self.node_id)


class Unshare(GraphCommand):
    """A call of a shared layer made a layer of its own (a copy of the parameters)."""

    def __init__(self, graph: Graph, node_id: str) -> None:
        super().__init__(graph, f"Unshare {graph.node(node_id).name}")
        self.node_id, self.sharing = node_id, graph.sharing

    def apply(self) -> None:
        self.graph.unshare(self.node_id)

    def revert(self) -> None:
        self.graph.restore_sharing(self.sharing)


class Connect(GraphCommand):
    def __init__(self, graph: Graph, src: str, dst: str, src_port: int = 0,
                 dst_port: int | None = None) -> None:
        super().__init__(graph, f"Connect {graph.node(src).name} → {graph.node(dst).name}")
        self.src, self.dst, self.src_port, self.dst_port = src, dst, src_port, dst_port
        self.edge: Edge | None = None

    def apply(self) -> None:
        self.edge = self.graph.connect(self.src, self.dst, self.src_port, self.dst_port)
        self.dst_port = self.edge.dst_port  # redo uses the port chosen the first time

    def revert(self) -> None:
        assert self.edge is not None
        self.graph.disconnect(self.edge)


class Disconnect(GraphCommand):
    def __init__(self, graph: Graph, edge: Edge) -> None:
        super().__init__(graph, f"Disconnect {graph.node(edge.src).name} → "
                                f"{graph.node(edge.dst).name}")
        self.edge = edge

    def apply(self) -> None:
        self.graph.disconnect(self.edge)

    def revert(self) -> None:
        e = self.edge
        self.graph.connect(e.src, e.dst, e.src_port, e.dst_port)


class SetParam(GraphCommand):
    """Set one parameter. Consecutive edits of the same parameter of the same node (typing in a
    spin box, clicking its arrows) merge into one undo step."""

    def __init__(self, graph: Graph, node_id: str, name: str, value: Any) -> None:
        node = graph.node(node_id)
        super().__init__(graph, f"Set {node.name}.{name}")
        self.node_id, self.name = node_id, name
        self.old = node.params.get(name)
        self.new = value

    def id(self) -> int:
        return _SET_PARAM_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParam) or (other.node_id, other.name) != (
                self.node_id, self.name):
            return False
        self.new = other.new
        if self.graph.node(self.node_id).params.get(self.name) == self.old:
            self.setObsolete(True)  # back where it started: nothing to undo
        return True

    def apply(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.new)

    def revert(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.old)


class Rename(GraphCommand):
    def __init__(self, graph: Graph, node_id: str, name: str) -> None:
        node = graph.node(node_id)
        super().__init__(graph, f"Rename {node.name} to {name}")
        self.node_id, self.old, self.new = node_id, node.name, name

    def apply(self) -> None:
        self.graph.rename(self.node_id, self.new)

    def revert(self) -> None:
        self.graph.rename(self.node_id, self.old)


class RenameMarked(Rename):
    """Rename a layer and the search marks naming it (``dense.units`` → ``head.units``);
    ``shown()`` follows every change of the marks."""

    def __init__(self, graph: Graph, node_id: str, name: str, project: Project,
                 shown: Callable[[], None]) -> None:
        super().__init__(graph, node_id, name)
        self.project, self.shown = project, shown

    def _move_marks(self, old: str, new: str) -> None:
        self.project.search = {(f"{new}.{k.rpartition('.')[2]}" if k.rpartition(".")[0] == old
                                else k): v for k, v in self.project.search.items()}
        self.shown()

    def apply(self) -> None:
        super().apply()
        self._move_marks(self.old, self.new)

    def revert(self) -> None:
        super().revert()
        self._move_marks(self.new, self.old)


class SetTrainable(GraphCommand):
    def __init__(self, graph: Graph, node_id: str, trainable: bool) -> None:
        node = graph.node(node_id)
        super().__init__(graph, f"{'Unfreeze' if trainable else 'Freeze'} {node.name}")
        self.node_id, self.trainable = node_id, trainable

    def apply(self) -> None:
        self.graph.set_trainable(self.node_id, self.trainable)

    def revert(self) -> None:
        self.graph.set_trainable(self.node_id, not self.trainable)


class Move(GraphCommand):
    """Move one or more nodes: one drag of a selection is one command."""

    def __init__(self, graph: Graph, moves: Mapping[str, tuple[tuple[float, float],
                                                                tuple[float, float]]],
                 text: str | None = None) -> None:
        names = [graph.node(n).name for n in moves]
        super().__init__(graph, text or (f"Move {names[0]}" if len(names) == 1
                                         else f"Move {len(names)} layers"))
        self.moves = dict(moves)  # node id -> (old position, new position)

    def apply(self) -> None:
        for node_id, (_old, new) in self.moves.items():
            self.graph.move(node_id, new)

    def revert(self) -> None:
        for node_id, (old, _new) in self.moves.items():
            self.graph.move(node_id, old)


class InsertOnEdge(GraphCommand):
    """Insert a new layer on a connection: ``src → dst`` becomes ``src → new → dst``, on the
    same ports. Undo removes the layer and puts the original connection back."""

    def __init__(self, graph: Graph, edge: Edge, layer_type: str,
                 params: Mapping[str, Any] | None = None, *,
                 position: tuple[float, float] = (0.0, 0.0), text: str | None = None) -> None:
        super().__init__(graph, text or f"Insert {layer_type}")
        self.edge = edge
        self.layer_type = layer_type
        self.params = dict(params or {})
        self.position = position
        self.node_id: str | None = None
        self.name: str | None = None

    def _check(self) -> None:
        """Refuse before touching the graph, so that a refusal leaves it as it was."""
        if self.edge not in self.graph.edges:
            raise GraphError(f"no such connection: {self.edge}")
        try:
            spec = catalog.get(self.layer_type)
            spec.resolve(self.params)
        except CatalogError as err:
            raise GraphError(str(err)) from None
        if spec.max_inputs == 0:
            raise GraphError(f"{self.layer_type} takes no inputs: it cannot go on a connection")

    def apply(self) -> None:
        self._check()
        e = self.edge
        with self.graph.batch():
            self.graph.disconnect(e)
            node = self.graph.add_node(self.layer_type, self.params, name=self.name,
                                       position=self.position, node_id=self.node_id)
            self.node_id, self.name = node.id, node.name
            self.graph.connect(e.src, node.id, e.src_port, 0)
            self.graph.connect(node.id, e.dst, 0, e.dst_port)

    def revert(self) -> None:
        assert self.node_id is not None
        e = self.edge
        with self.graph.batch():
            self.graph.remove_node(self.node_id)
            self.graph.connect(e.src, e.dst, e.src_port, e.dst_port)


class ApplyQuickFix(InsertOnEdge):
    """A quick fix from ``core.quick_fixes``: the first time through ``apply_fix``; redo inserts
    the same layer (same id and name) on the same connection again."""

    def __init__(self, graph: Graph, fix: QuickFix) -> None:
        super().__init__(graph, fix.edge, fix.layer_type, fix.params,
                         text=f"Quick fix: {fix.label[0].lower()}{fix.label[1:]}")
        self.fix = fix

    def apply(self) -> None:
        if self.node_id is not None:
            super().apply()
            return
        self._check()
        self.node_id = apply_fix(self.graph, self.fix)
        node = self.graph.node(self.node_id)
        self.name, self.position = node.name, node.position


class StructuralEdit(GraphCommand):
    """An edit of the graph's structure done by ``action`` (make/expand/collapse a block, a new
    definition, placing a block); undo and redo restore the whole graph as it was before /
    after."""

    def __init__(self, graph: Graph, text: str, action: Callable[[], Any]) -> None:
        super().__init__(graph, text)
        self.action = action
        self.before: Snapshot | None = None
        self.after: Snapshot | None = None
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


class ReplaceGraph(StructuralEdit):
    """The whole graph put in the state ``target`` (the code view's Apply), and the training
    settings changed with it when ``settings`` (a SetTrainingSettings, not pushed) is given."""

    def __init__(self, graph: Graph, text: str, target: Snapshot,
                 settings: QUndoCommand | None = None) -> None:
        super().__init__(graph, text, lambda: restore(graph, target))
        self.settings = settings

    def apply(self) -> None:
        super().apply()
        if self.settings is not None:
            self.settings.redo()

    def revert(self) -> None:
        super().revert()
        if self.settings is not None:
            self.settings.undo()


class SetFreezing(GraphCommand):
    """Freeze, unfreeze or fine-tune a nested model from a layer: the instance's flag and the
    flags inside its block, restored as a whole on undo."""

    def __init__(self, graph: Graph, node_id: str, frozen: bool | None,
                 fine_tune_from: str | None = None) -> None:
        node = graph.node(node_id)
        if fine_tune_from:
            text = f"Fine-tune {node.name} from {fine_tune_from}"
        else:
            text = f"{'Freeze' if frozen else 'Unfreeze'} {node.name}"
        super().__init__(graph, text)
        self.node_id = node_id
        self.frozen = frozen
        self.layer = fine_tune_from
        self.before: freezing.FreezeState | None = None
        self.after: freezing.FreezeState | None = None

    def apply(self) -> None:
        if self.after is not None:
            freezing.restore(self.graph, self.node_id, self.after)
            return
        self.before = freezing.state(self.graph, self.node_id)
        block = freezing.block_of(self.graph, self.node_id)
        with self.graph.batch():
            if self.layer:
                freezing.freeze_block(self.graph, self.node_id, False)
                freezing.fine_tune_from(block, self.layer, self.graph)
            else:
                freezing.freeze_block(self.graph, self.node_id, bool(self.frozen))
        self.after = freezing.state(self.graph, self.node_id)

    def revert(self) -> None:
        assert self.before is not None
        freezing.restore(self.graph, self.node_id, self.before)


class SetTrainingSettings(QUndoCommand):
    """Set project.settings["training"] (or ``key``: "data" for the data source and options)
    (undoable, so that the project counts as modified)."""

    def __init__(self, project: Project, old: Any, new: Any,
                 shown: Callable[[], None], key: str = "training") -> None:
        super().__init__("Change the training data" if key == "data"
                         else "Change training settings")
        self.key = key
        self.project = project
        self.old = None if old is None else json.loads(json.dumps(old))
        self.new = new
        self.shown = shown

    def _set(self, value: Any) -> None:
        if value is None:
            self.project.settings.pop(self.key, None)
        else:
            self.project.settings[self.key] = json.loads(json.dumps(value))
        try:
            self.shown()
        except Exception:  # noqa: BLE001 - an exception here would abort under Qt's stack
            _report()

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class SetSearchMarks(SetTrainingSettings):
    """Set ``project.search``, the parameters marked for search (path -> range or choices)."""

    def __init__(self, project: Project, old: Any, new: Any, shown: Callable[[], None],
                 text: str) -> None:
        super().__init__(project, old, new, shown, key="search")
        self.setText(text)

    def _set(self, value: Any) -> None:
        self.project.search = json.loads(json.dumps(value or {}))
        try:
            self.shown()
        except Exception:  # noqa: BLE001 - an exception here would abort under Qt's stack
            _report()
