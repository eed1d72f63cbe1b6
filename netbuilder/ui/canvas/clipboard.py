"""Copied layers: a plain JSON description of some nodes and the connections among them, put on
the system clipboard under its own mime type (and as text, for a look)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QMimeData

from netbuilder.core import catalog
from netbuilder.core.graph import BLOCK_TYPE, Graph

NODES_MIME = "application/x-netbuilder-nodes"
FORMAT = "netbuilder-nodes"


def nodes_to_data(graph: Graph, node_ids: Iterable[str]) -> dict[str, Any]:
    """The nodes ``node_ids`` (in graph order) and the edges between them, as plain JSON."""
    wanted = set(node_ids)
    nodes = []
    for node in graph.nodes.values():
        if node.id not in wanted:
            continue
        if node.type == BLOCK_TYPE:
            params = dict(node.params)
        else:
            params = catalog.get(node.type).non_default(node.params)
        nodes.append({"id": node.id, "type": node.type, "name": node.name, "params": params,
                      "trainable": node.trainable, "position": list(node.position)})
    edges = [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]}
             for e in graph.edges if e.src in wanted and e.dst in wanted]
    return {"format": FORMAT, "version": 1, "nodes": nodes, "edges": edges}


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
