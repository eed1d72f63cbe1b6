"""Copied layers: a plain JSON description of some nodes and the connections among them, put on
the system clipboard under its own mime type (and as text, for a look).

A call of a shared layer (``Node.shares``) is copied as a call: ``"shares"`` names the node that
owns its layer, and the data names the graph it was copied from (``graph_token``). Pasted
(``paste_plan``), a call stays a call: of the pasted copy of its layer when that was copied too,
else of the same layer again when pasted into the graph it was copied from (Keras: "call it
again"); pasted into another project, where that layer does not exist, the first such call becomes
a layer of its own (the others calling it) and the user is told.
"""

from __future__ import annotations

import json
import re
import uuid
import weakref
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QMimeData

from netbuilder.core import catalog
from netbuilder.core.graph import BLOCK_TYPE, Graph

NODES_MIME = "application/x-netbuilder-nodes"
FORMAT = "netbuilder-nodes"


_TOKENS: weakref.WeakKeyDictionary[Graph, str] = weakref.WeakKeyDictionary()


def graph_token(graph: Graph) -> str:
    """A name for ``graph`` that no other graph has, in this process or any other: copied data
    carries it, so that a paste knows whether the layers it refers to are the same ones."""
    token = _TOKENS.get(graph)
    if token is None:
        token = _TOKENS[graph] = uuid.uuid4().hex
    return token


def nodes_to_data(graph: Graph, node_ids: Iterable[str]) -> dict[str, Any]:
    """The nodes ``node_ids`` (in graph order) and the edges between them, as plain JSON; a
    call of a shared layer with ``"shares"`` (its owner's id) and ``"shares_name"``."""
    wanted = set(node_ids)
    nodes = []
    for node in graph.nodes.values():
        if node.id not in wanted:
            continue
        if node.type == BLOCK_TYPE:
            params = dict(node.params)
        else:
            params = catalog.get(node.type).non_default(node.params)
        entry = {"id": node.id, "type": node.type, "name": node.name, "params": params,
                 "trainable": node.trainable, "position": list(node.position)}
        if node.shares is not None:
            entry.update(shares=node.shares, shares_name=graph.nodes[node.shares].name)
        nodes.append(entry)
    edges = [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]}
             for e in graph.edges if e.src in wanted and e.dst in wanted]
    return {"format": FORMAT, "version": 1, "graph": graph_token(graph), "nodes": nodes,
            "edges": edges}


def paste_plan(graph: Graph, data: dict[str, Any], entries: list[dict[str, Any]]
               ) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str]], str | None]:
    """How to paste ``entries`` (nodes of ``data``) into ``graph``: the entries in the order to
    add them (a layer before the calls of its pasted copy), what each call shares — entry id ->
    ``("copy", entry id)`` (the pasted copy of that entry) or ``("node", node id)`` (a layer of
    ``graph``: the same layer called again) — and a note for the status bar when a call had
    to become a layer of its own (its layer is in another project)."""
    copied = {e["id"]: e for e in entries}
    same_graph = data.get("graph") == graph_token(graph)
    shares: dict[str, tuple[str, str]] = {}
    stand_in: dict[str, str] = {}  # owner id -> the entry pasted as a layer in its place
    alone: list[str] = []
    for entry in entries:
        owner = entry.get("shares")
        if not isinstance(owner, str):
            continue
        if owner in copied and copied[owner]["type"] == entry["type"]:
            shares[entry["id"]] = ("copy", owner)
        elif (same_graph and owner in graph.nodes and graph.nodes[owner].type == entry["type"]
              and graph.nodes[owner].type not in ("Input", BLOCK_TYPE)):
            shares[entry["id"]] = ("node", graph.owner_of(owner))
        elif owner in stand_in:
            shares[entry["id"]] = ("copy", stand_in[owner])
        else:
            stand_in[owner] = entry["id"]
            alone.append(entry["name"])
    first = [e for e in entries if shares.get(e["id"], ("node",))[0] == "node"]
    ordered = first + [e for e in entries if e not in first]
    note = None
    if alone:
        layer = next(e.get("shares_name") for e in entries if e["name"] == alone[0])
        what = (f"{alone[0]} calls {layer}" if len(alone) == 1 and isinstance(layer, str)
                else f"{', '.join(alone)} call shared layers")
        note = (f"Pasted {', '.join(alone)} with weights of {'its' if len(alone) == 1 else 'their'}"
                f" own: {what}, which is not in this project (copy the layer with its calls to "
                "keep them shared)")
    return ordered, shares, note


def data_to_mime(data: dict[str, Any]) -> QMimeData:
    mime = QMimeData()
    text = json.dumps(data, indent=1)
    mime.setData(NODES_MIME, text.encode("utf-8"))
    mime.setText(text)
    return mime


def data_from_mime(mime: QMimeData | None) -> dict[str, Any] | None:
    """The copied layers in ``mime``, or None if it holds none (or something malformed)."""
    if mime is None or not mime.hasFormat(NODES_MIME):
        return None
    try:
        data = json.loads(bytes(mime.data(NODES_MIME).data()).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    nodes, edges = data.get("nodes"), data.get("edges")
    if not isinstance(nodes, list) or not isinstance(edges, list):
        return None
    for node in nodes:
        if not (isinstance(node, dict) and isinstance(node.get("id"), str)
                and isinstance(node.get("type"), str) and isinstance(node.get("name"), str)
                and isinstance(node.get("params", {}), dict)
                and isinstance(node.get("shares", ""), str)
                and isinstance(node.get("position"), list) and len(node["position"]) == 2):
            return None
    for edge in edges:
        if not (isinstance(edge, dict) and isinstance(edge.get("from"), list)
                and isinstance(edge.get("to"), list)
                and len(edge["from"]) == 2 and len(edge["to"]) == 2):
            return None
    return data


_SUFFIX = re.compile(r"^(.*?)_\d+$")


def base_name(name: str) -> str:
    """The name a copy starts from: ``conv2d_3`` → ``conv2d`` (the copy gets the next free
    number, as Keras names layers)."""
    match = _SUFFIX.match(name)
    return match.group(1) if match and match.group(1) else name
