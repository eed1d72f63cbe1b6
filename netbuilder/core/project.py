"""Project files: versioned JSON, readable and diff-friendly, saved atomically.

Loading never executes anything from the file and never returns a half-loaded graph: every
problem (bad JSON, a truncated file, a wrong version, an unknown layer type, a bad parameter, an
edge to a missing node, a cycle...) raises ``ProjectError`` with a message that names the file and
what is wrong.

Layout (keys are written in this order; parameters only where they differ from Keras' defaults)::

    {"format": "netbuilder-project", "version": 1, "name": ..., "description": ...,
     "graph": {"nodes": [{"id", "type", "name", "params", "trainable", "position"}],
               "edges": [{"from": [id, port], "to": [id, port]}]},
     "blocks": [{"name", "kind", "inputs": [id], "outputs": [[id, port]], "graph": {...}}],
     "settings": {...},
     "weights": "NAME.weights.h5"}

A block's ``kind`` is ``"function"`` (the default), ``"model"`` (a nested functional Keras
model) or ``"sequential"`` (a nested ``keras.Sequential``). A Keras Application (a ``"model"``
block) also has ``"application"``: its ``keras.applications`` constructor's name and arguments
(written only for Applications, so older files are unchanged).

Version 2 (written only when a block uses them, so that older files stay version 1): a function
block may have ``"exposed": {"filters": [[node id, "filters"], ...]}`` (parameters its instances
set, see ``netbuilder.core.blocks``) and ``"optional": {node id: ["strides", 1]}`` (layers an
instance leaves out when that parameter has that value); its instances' params then carry the
exposed values. Version 1 files load unchanged.

``weights`` (optional, written only when set) is a Keras weights file, as a path relative to the
project file.

Version 3 (written only while a block is expanded on the canvas): ``"expanded"`` lists what
Edit ▸ Collapse Block needs to fold those layers back into their block (an Application with its
constructor and weights again), see ``block_edits.groups_to_plain``.

Version 4 (written only when parameters are marked for search): ``"search"`` maps paths
(``dense.units``, ``training.learning_rate``) to ranges or choices, see
``netbuilder.core.search_space``.

Version 5 (written only when a layer is shared): a node that calls another node's layer again
has ``"shares": owner id`` and no ``"params"`` (they are the owner's), see ``Node.shares``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from netbuilder.core import catalog
from netbuilder.core.atomic_write import write_text_atomically
from netbuilder.core.block_edits import groups_to_plain, restore_groups
from netbuilder.core.blocks import Block
from netbuilder.core.catalog.base import CatalogError, to_plain
from netbuilder.core.graph import BLOCK_TYPE, Graph, GraphError
from netbuilder.core.search_space import SearchError, dimensions_from_plain

FORMAT = "netbuilder-project"
VERSION = 5
SUFFIX = ".nbproj"


class ProjectError(Exception):
    """A project file that cannot be read or written; ``str(err)`` is for the user."""


@dataclass
class Project:
    graph: Graph
    name: str = "untitled"
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    """The project's weights (a Keras ``.weights.h5`` file, e.g. saved by an import), as a path
    relative to the project file; ``weights_path()`` resolves it."""
    search: dict[str, Any] = field(default_factory=dict)
    """Search marks, path -> range or choices (``search_space.dimensions_to_plain``)."""

    def weights_path(self, project_file: str | os.PathLike[str]) -> Path | None:
        """Where the weights file is for the project saved at ``project_file`` (None: none)."""
        if self.weights is None:
            return None
        return Path(project_file).parent / self.weights


# --- writing ---------------------------------------------------------------------------------


def _graph_to_dict(graph: Graph) -> dict[str, Any]:
    nodes = []
    for node in graph.nodes.values():
        if node.shares is not None:
            params = {}  # the owner's
        elif node.type == BLOCK_TYPE:
            params = dict(node.params)
        else:
            params = catalog.get(node.type).non_default(node.params)
        entry: dict[str, Any] = {"id": node.id, "type": node.type, "name": node.name}
        if node.shares is not None:
            entry["shares"] = node.shares
        if params:
            entry["params"] = params
        if not node.trainable:
            entry["trainable"] = False
        entry["position"] = [round(node.position[0], 2), round(node.position[1], 2)]
        nodes.append(entry)
    edges = [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]} for e in graph.edges]
    return {"nodes": nodes, "edges": edges}


def project_to_dict(project: Project) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": max(4 if project.search else 1, _version_needed(project.graph)),
        "name": project.name,
        "description": project.description,
        "graph": _graph_to_dict(project.graph),
    }
    blocks = _blocks_in_use_order(project.graph)
    if blocks:
        data["blocks"] = [
            {"name": b.name, "kind": b.kind, "inputs": list(b.inputs),
             "outputs": [[nid, port] for nid, port in b.outputs],
             "graph": _graph_to_dict(b.graph)} | _application_entry(b)
            | _block_exposures_to_dict(b)
            for b in blocks
        ]
    expanded = groups_to_plain(project.graph)
    if expanded:
        data["expanded"] = expanded
    if project.settings:
        data["settings"] = project.settings
    if project.search:
        data["search"] = project.search
    if project.weights is not None:
        data["weights"] = Path(project.weights).as_posix()
    return data


def _application_entry(block: Block) -> dict[str, Any]:
    """``{"application": {...}}`` for a Keras Application block (its constructor's arguments),
    else nothing: files without Applications stay as they were."""
    if block.application is None:
        return {}
    return {"application": dict(block.application)}


def _block_exposures_to_dict(block: Block) -> dict[str, Any]:
    """A block's exposed parameters and optional layers (format version 2), when it has any."""
    out: dict[str, Any] = {}
    if block.exposed:
        out["exposed"] = {name: [[nid, param] for nid, param in targets]
                          for name, targets in block.exposed.items()}
    if block.optional:
        out["optional"] = {nid: [param, to_plain(value)]
                           for nid, (param, value) in block.optional.items()}
    return out


def _version_needed(graph: Graph) -> int:
    """1 unless a block exposes parameters or has optional layers (format version 2) or an
    instance is expanded on the canvas (version 3) or a layer is shared (version 5)."""
    if graph.sharing or any(b.graph.sharing for b in _blocks_in_use_order(graph)):
        return 5
    if groups_to_plain(graph):
        return 3
    return 2 if any(b.exposed or b.optional for b in _blocks_in_use_order(graph)) else 1


def _blocks_in_use_order(graph: Graph) -> list[Block]:
    """Every block reachable from ``graph``, nested ones before the blocks that use them."""
    seen: dict[str, Block] = {}

    def visit(g: Graph) -> None:
        for block in g.blocks.values():
            if block.name not in seen:
                visit(block.graph)
                seen[block.name] = block

    visit(graph)
    return list(seen.values())


def dumps(project: Project) -> str:
    return json.dumps(project_to_dict(project), indent=2, ensure_ascii=False) + "\n"


def save(project: Project, path: str | os.PathLike[str]) -> None:
    """Write ``project`` to ``path`` atomically: a crash mid-save leaves the old file intact."""
    try:
        write_text_atomically(path, dumps(project))
    except OSError as err:
        raise ProjectError(f"cannot save {path}: {err.strerror or err}") from None


# --- reading ---------------------------------------------------------------------------------


class _Reader:
    """Validates a parsed project document, building graphs as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ProjectError:
        return ProjectError(f"{self.source}: {where}: {message}" if where else
                            f"{self.source}: {message}")

    def obj(self, value: Any, where: str, required: tuple[str, ...],
            optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected an object, found {_type_name(value)}")
        for key in required:
            if key not in value:
                raise self.fail(where, f"missing \"{key}\"")
        unknown = [k for k in value if k not in required and k not in optional]
        if unknown:
            raise self.fail(where, f"unknown key \"{unknown[0]}\" (expected "
                                   f"{', '.join(required + optional)})")
        return value

    def typed(self, value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(where, f"{what} must be {_kind_name(kind)}, found {_type_name(value)}")
        return value

    def port(self, value: Any, where: str) -> tuple[str, int]:
        if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str)
                or not isinstance(value[1], int) or isinstance(value[1], bool) or value[1] < 0):
            raise self.fail(where, f"expected [node id, port number], found {value!r}")
        return value[0], value[1]

    def graph(self, data: Any, where: str, blocks: Mapping[str, Block]) -> Graph:
        data = self.obj(data, where, ("nodes", "edges"))
        nodes = self.typed(data["nodes"], list, where, "\"nodes\"")
        edges = self.typed(data["edges"], list, where, "\"edges\"")
        graph = Graph()
        graph.blocks.update(blocks)
        with graph.batch():
            self._fill(graph, where, nodes, edges)
        return graph

    def _fill(self, graph: Graph, where: str, nodes: list[Any], edges: list[Any]) -> None:
        later: list[tuple[Any, ...]] = []  # calls of shared layers, added after the rest
        for i, raw in enumerate(nodes):
            at = f"{where}, node {i + 1}"
            raw = self.obj(raw, at, ("id", "type", "name"),
                           ("params", "trainable", "position", "shares"))
            node_id = self.typed(raw["id"], str, at, "\"id\"")
            layer_type = self.typed(raw["type"], str, at, "\"type\"")
            name = self.typed(raw["name"], str, at, "\"name\"")
            at = f"{where}, layer {name!r}"
            params = self.typed(raw.get("params", {}), dict, at, "\"params\"")
            trainable = self.typed(raw.get("trainable", True), bool, at, "\"trainable\"")
            position = raw.get("position", [0, 0])
            if (not isinstance(position, list) or len(position) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               for v in position)):
                raise self.fail(at, f"\"position\" must be [x, y], found {position!r}")
            if layer_type != BLOCK_TYPE and not catalog.has(layer_type):
                try:
                    catalog.get(layer_type)
                except CatalogError as err:
                    raise self.fail(at, str(err)) from None
            shares = raw.get("shares")
            if shares is not None:
                shares = self.typed(shares, str, at, "\"shares\"")
                later.append((at, node_id, layer_type, name, (position[0], position[1]),
                              shares))
                continue
            try:
                graph.add_node(layer_type, params, name=name, node_id=node_id,
                               position=(position[0], position[1]), trainable=trainable)
            except GraphError as err:
                raise self.fail(at, str(err)) from None
        if later:
            self._add_calls(graph, later, nodes)
        for i, raw in enumerate(edges):
            at = f"{where}, edge {i + 1}"
            raw = self.obj(raw, at, ("from", "to"))
            src, src_port = self.port(raw["from"], at + " \"from\"")
            dst, dst_port = self.port(raw["to"], at + " \"to\"")
            for end in (src, dst):
                if end not in graph.nodes:
                    raise self.fail(at, f"no node with id {end!r}")
            try:
                graph.connect(src, dst, src_port, dst_port)
            except GraphError as err:
                raise self.fail(at, str(err)) from None

    def _add_calls(self, graph: Graph, later: list[Any], nodes: list[Any]) -> None:
        """The nodes that share another node's layer, in the file's node order."""
        for at, node_id, layer_type, name, position, shares in later:
            if shares not in graph.nodes:
                raise self.fail(at, f"\"shares\" names {shares!r}, which is not a layer "
                                    "of this graph (or shares another one's layer itself)")
            try:
                graph.add_node(layer_type, name=name, node_id=node_id, position=position,
                               shares=shares)
            except GraphError as err:
                raise self.fail(at, str(err)) from None
        graph.reorder(raw["id"] for raw in nodes)

    def project(self, data: Any) -> Project:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise self.fail("", "not a NetBuilder project (no \"format\": \"netbuilder-project\")")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail("", f"\"version\" must be a positive integer, found {version!r}")
        if version > VERSION:
            raise self.fail("", f"written by a newer NetBuilder (format version {version}); this "
                                f"version reads format {VERSION}. Update NetBuilder to open it")
        data = self.obj(data, "", ("format", "version", "graph"),
                        ("name", "description", "blocks", "expanded", "settings", "search",
                         "weights"))
        name = self.typed(data.get("name", "untitled"), str, "", "\"name\"")
        description = self.typed(data.get("description", ""), str, "", "\"description\"")
        settings = self.typed(data.get("settings", {}), dict, "", "\"settings\"")
        weights = self.weights(data.get("weights"))
        blocks: dict[str, Block] = {}
        raw_blocks = self.typed(data.get("blocks", []), list, "", "\"blocks\"")
        for i, raw in enumerate(raw_blocks):
            at = f"block {i + 1}"
            raw = self.obj(raw, at, ("name", "inputs", "outputs", "graph"),
                           ("kind", "application", "exposed", "optional"))
            block_name = self.typed(raw["name"], str, at, "\"name\"")
            at = f"block {block_name!r}"
            if block_name in blocks:
                raise self.fail(at, "two blocks have this name")
            inputs = self.typed(raw["inputs"], list, at, "\"inputs\"")
            if not all(isinstance(v, str) for v in inputs):
                raise self.fail(at, "\"inputs\" must list node ids")
            outputs = [self.port(v, at + " \"outputs\"")
                       for v in self.typed(raw["outputs"], list, at, "\"outputs\"")]
            kind = self.typed(raw.get("kind", "function"), str, at, "\"kind\"")
            sub = self.graph(raw["graph"], at, blocks)
            application = raw.get("application")
            if application is not None:
                application = dict(self.typed(application, dict, at, "\"application\""))
            exposed, optional = self.block_exposures(raw, at)
            try:
                blocks[block_name] = Block(block_name, sub, list(inputs), outputs, kind,
                                           exposed=exposed, optional=optional)
            except GraphError as err:
                raise self.fail(at, str(err)) from None
            if application is not None:
                if kind != "model" or not isinstance(application.get("name"), str):
                    raise self.fail(at, "\"application\" needs kind \"model\" and the "
                                        "constructor's \"name\"")
                blocks[block_name].application = application
        graph = self.graph(data["graph"], "graph", blocks)
        expanded = self.typed(data.get("expanded", []), list, "", "\"expanded\"")
        try:
            restore_groups(graph, expanded)
        except GraphError as err:
            raise self.fail("\"expanded\"", str(err)) from None
        search = data.get("search", {})
        try:
            dimensions_from_plain(search)
        except SearchError as err:
            raise self.fail("", str(err)) from None
        return Project(graph, name, description, dict(settings), weights, dict(search))

    def block_exposures(self, raw: Mapping[str, Any], at: str
                        ) -> tuple[dict[str, list[tuple[str, str]]], dict[str, tuple[str, Any]]]:
        """A block's "exposed" and "optional" (format version 2); checked by ``Block``."""
        exposed: dict[str, list[tuple[str, str]]] = {}
        for name, targets in self.typed(raw.get("exposed", {}), dict, at, "\"exposed\"").items():
            if not isinstance(targets, list) or not all(
                    isinstance(t, list) and len(t) == 2 and all(isinstance(v, str) for v in t)
                    for t in targets):
                raise self.fail(at, f"\"exposed\" {name!r} must list [node id, parameter] pairs")
            exposed[name] = [(t[0], t[1]) for t in targets]
        optional: dict[str, tuple[str, Any]] = {}
        for nid, cond in self.typed(raw.get("optional", {}), dict, at, "\"optional\"").items():
            if not isinstance(cond, list) or len(cond) != 2 or not isinstance(cond[0], str):
                raise self.fail(at, f"\"optional\" {nid!r} must be [parameter, value]")
            optional[nid] = (cond[0], cond[1])
        return exposed, optional

    def weights(self, value: Any) -> str | None:
        if value is None:
            return None
        where = "\"weights\""
        value = self.typed(value, str, "", where)
        if not value.strip() or "\0" in value:
            raise self.fail("", f"{where} must name a weights file, found {value!r}")
        if Path(value).is_absolute() or PureWindowsPath(value).is_absolute() or re.match(
                r"^[A-Za-z]:", value):
            raise self.fail("", f"{where} must be a path relative to the project file, found "
                                f"{value!r}")
        return value


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            int: "a number", float: "a number", type(None): "null"}.get(type(value),
                                                                      type(value).__name__)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_type_name(k()) for k in kinds)


def loads(text: str, source: str = "<project>") -> Project:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        hint = " (the file looks truncated)" if err.pos >= len(text.rstrip()) else ""
        raise ProjectError(f"{source}: not valid JSON at line {err.lineno}, column {err.colno}: "
                           f"{err.msg}{hint}") from None
    except RecursionError:
        raise ProjectError(f"{source}: the JSON is nested too deeply") from None
    return _Reader(source).project(data)


def load(path: str | os.PathLike[str]) -> Project:
    """Read a project file; raises ``ProjectError`` naming what is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a project file") from None
    except OSError as err:
        raise ProjectError(f"{path}: cannot read it: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError(f"{path}: not a text file (not UTF-8); is it a project file?") from None
    return loads(text, str(path))
