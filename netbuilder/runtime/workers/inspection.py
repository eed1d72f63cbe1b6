"""The inspection worker: ``python -m netbuilder.runtime.workers.inspection``.

A long-lived process that holds one built model and answers inspection requests about it, so
that the editor stays responsive while TensorFlow computes. The protocol (see
``workers/protocol.py``): one JSON request per line on stdin, one JSON reply per line on stdout;
``{"event": "ready", "pid": n}`` once at start and ``{"event": "status", "message": ...}`` lines
while it is busy with something slow. A bad request gets an error reply, never an exit; EOF on
stdin ends the process with status 0. Everything else the libraries print goes to stderr.

Actions: ``load`` (build a project's model, optionally with weights), ``reload_weights``,
``activations``, ``filters``, ``predict``, ``gradcam``, ``stats`` and ``ping``.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from netbuilder.runtime import inspection as insp
from netbuilder.runtime.inspection import InspectError
from netbuilder.runtime.messages import first_line
from netbuilder.runtime.workers.protocol import (
    ACTIONS,
    ProtocolError,
    ProtocolWriter,
    encode_array,
    end_process,
    error_reply,
    event,
    ok_reply,
    parse_line,
)

Emit = Callable[[dict[str, Any]], None]



class Session:
    """The worker's state (the model, cached sub-models and datasets) and its request
    handlers; ``handle(request)`` returns the result dict or raises ``InspectError``."""

    def __init__(self, emit: Emit | None = None) -> None:
        self.emit = emit or (lambda _event: None)
        self.model: Any = None
        self.weights: str | None = None
        self.submodels: insp.SubModels | None = None
        self.calls: insp.Calls = {}
        """The calls of shared layers by their nodes' names (``inspection.call_names``)."""
        self.datasets = insp.DatasetCache()
        self.cache: dict[Any, Any] = {}
        self._keras_ready = False
        self._keras_lock = threading.Lock()

    # --- dispatch ---

    def handle(self, req: Mapping[str, Any]) -> dict[str, Any]:
        action = req.get("action")
        if action not in ACTIONS:
            raise InspectError("request", f"unknown action {action!r} (one of "
                                          f"{', '.join(ACTIONS)})")
        if action == "ping":
            return {"pong": True}
        if action == "load":
            return self.load(req)
        if self.model is None:
            raise InspectError("request", f"no model is loaded: send a \"load\" request before "
                                          f"\"{action}\"")
        return getattr(self, "do_" + str(action))(req)

    def _keras(self) -> None:
        with self._keras_lock:       # the preload thread and a first request may race
            if not self._keras_ready:
                if "keras" not in sys.modules:
                    self.emit(event("status", message="loading TensorFlow"))
                from netbuilder.runtime.keras_loader import import_keras_quietly

                import_keras_quietly()
                self._keras_ready = True

    # --- the model ---

    def load(self, req: Mapping[str, Any]) -> dict[str, Any]:
        from netbuilder.core.project import ProjectError
        from netbuilder.core.project import load as load_project
        from netbuilder.core.project import loads as loads_project

        spec = req.get("project")
        try:
            if isinstance(spec, Mapping):
                project = loads_project(json.dumps(spec), "<project>")
            elif isinstance(spec, str) and spec:
                project = load_project(spec)
            else:
                raise InspectError("request", "a load request needs a \"project\" (the project "
                                              "as a dict)")
        except ProjectError as err:
            raise InspectError("build", f"the project cannot be read: {err}") from None
        weights = req.get("weights")
        if weights is not None and (not isinstance(weights, str) or not weights):
            raise InspectError("request", f"\"weights\" must be a file path or null, found "
                                          f"{weights!r}")
        self._keras()
        self.emit(event("status", message="building the model"))
        from netbuilder.runtime.keras_build import BuildError, build_model

        try:
            model = build_model(project.graph, name=_model_name(project.name))
        except BuildError as err:
            raise InspectError("build", f"the graph cannot be built: {err}") from None
        except Exception as err:  # noqa: BLE001 - Keras refusing the graph
            raise InspectError("build", f"the graph cannot be built: {first_line(err)}"
                               ) from None
        if weights is not None:
            self.emit(event("status", message=f"loading weights from {weights}"))
            _load_weights(model, weights)
        self.model = model
        self.weights = weights
        self.calls = insp.call_names(project.graph)
        self.submodels = insp.SubModels(model, calls=self.calls)
        self.cache = {}
        return {**insp.model_summary(model, self.calls), "weights": weights or "untrained"}

    def do_reload_weights(self, req: Mapping[str, Any]) -> dict[str, Any]:
        weights = req.get("weights")
        if not isinstance(weights, str) or not weights:
            raise InspectError("request", "a reload_weights request needs \"weights\" (a file "
                                          "path)")
        _load_weights(self.model, weights)
        self.weights = weights
        return {"weights": weights}

    # --- inputs ---

    def _input(self, req: Mapping[str, Any], batch: bool = False) -> insp.PreparedInput:
        return insp.prepare_input(self.model, req.get("input"), self.datasets, batch=batch)

    @staticmethod
    def _input_fields(prepared: insp.PreparedInput) -> dict[str, Any]:
        return {"notes": list(prepared.notes),
                "input_image": None if prepared.image is None else encode_array(prepared.image),
                "label": prepared.label, "class_names": prepared.class_names}

    # --- the actions ---

    def do_activations(self, req: Mapping[str, Any]) -> dict[str, Any]:
        layers = req.get("layers")
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, list) or not layers or not all(
                isinstance(n, str) for n in layers):
            raise InspectError("request", "\"layers\" must be a non-empty list of layer names")
        for name in layers:
            insp.resolve(self.model, name, self.calls)
        prepared = self._input(req)
        arrays, ms = insp.timed(insp.activations, self.model, layers, prepared.x[:1],
                                self.submodels, self.calls)
        out = {}
        notes = list(prepared.notes)
        for name in arrays:
            layer, call = insp.resolve(self.model, name, self.calls)
            count = len(insp.layer_outputs(layer, call))
            if count > 1:
                notes.append(f"layer {name!r} has {count} outputs: showing the first")
            if name in self.calls and len(layer._inbound_nodes) > 1:
                notes.append(f"{name!r} is call {call + 1} of {len(layer._inbound_nodes)} of "
                             f"the shared layer {layer.name!r}: this call's output")
        for name, arr in arrays.items():
            sample = arr[0]
            out[name] = {"shape": list(sample.shape), "array": encode_array(sample),
                         "kind": insp.output_kind(sample.shape)}
        return {"layers": out, **self._input_fields(prepared), "notes": notes, "ms": ms}

    def do_filters(self, req: Mapping[str, Any]) -> dict[str, Any]:
        kernel, rgb = insp.filters(self.model, req.get("layer"), self.calls)
        return {"shape": list(kernel.shape), "array": encode_array(kernel), "rgb": rgb}

    def do_predict(self, req: Mapping[str, Any]) -> dict[str, Any]:
        tta = insp.tta_request(req.get("tta"))
        prepared = self._input(req)
        copies = None
        if tta is not None:     # test-time augmentation: copies of the input, augmented
            if prepared.augmented is None:
                raise InspectError("input", "test-time augmentation works on images; this "
                                            "input is not one")
            copies = prepared.augmented(*tta)
        result = insp.predict(self.model, prepared.x[:1], req.get("top", 5),
                              prepared.class_names, copies)
        fields = self._input_fields(prepared)
        fields["notes"] = fields["notes"] + result.pop("notes")
        return {**result, **fields}

    def do_gradcam(self, req: Mapping[str, Any]) -> dict[str, Any]:
        layer = req.get("layer")
        if layer is not None:
            insp.resolve(self.model, layer, self.calls)
        prepared = self._input(req)
        result = insp.gradcam(self.model, prepared.x[:1], req.get("class_index"), layer,
                              prepared.class_names, self.cache, self.calls)
        fields = self._input_fields(prepared)
        return {"heatmap": encode_array(result["heatmap"]), "layer": result["layer"],
                "class_index": result["class_index"], "class_name": result["class_name"],
                "probability": result["probability"], "input_image": fields["input_image"],
                "label": fields["label"], "class_names": fields["class_names"],
                "notes": fields["notes"] + result["notes"]}

    def do_stats(self, req: Mapping[str, Any]) -> dict[str, Any]:
        prepared = self._input(req, batch=True)
        rows, ms = insp.timed(insp.stats, self.model, prepared.x, self.submodels)
        return {"layers": rows, "count": int(len(prepared.x)), "notes": prepared.notes,
                "ms": ms}


def _model_name(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name or "model") or "model"


def _load_weights(model: Any, weights: str) -> None:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise InspectError("weights", f"no weights file {path}")
    if not (path.name.endswith(".keras") or path.name.endswith(".weights.h5")):
        raise InspectError("weights", f"{path}: weights must be a .keras or .weights.h5 file")
    try:
        model.load_weights(str(path))
    except Exception as err:  # noqa: BLE001 - any mismatch or unreadable file
        raise InspectError("weights", f"the weights in {path} don't fit this model: "
                                      f"{first_line(err)}") from None


def reply_for(session: Session, line: str) -> dict[str, Any] | None:
    """The reply to one request line (None for a blank line); never raises."""
    if not line.strip():
        return None
    try:
        req = parse_line(line)
    except ProtocolError as err:
        return error_reply(None, "request", f"the request is {err}")
    rid = req.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool):
        return error_reply(rid if isinstance(rid, (int, str)) else None, "request",
                           "every request needs an integer \"id\"")
    try:
        result = session.handle(req)
    except InspectError as err:
        return error_reply(rid, err.kind, str(err))
    except MemoryError:
        return error_reply(rid, "internal", "ran out of memory; try fewer layers or samples")
    except Exception as err:  # noqa: BLE001 - the worker never dies on a bad request
        traceback.print_exc()
        kind = "input" if type(err).__name__ in ("InvalidArgumentError", "DataError") else (
            "internal")
        return error_reply(rid, kind, f"{req.get('action')} failed: {type(err).__name__}: "
                                      f"{first_line(err)}")
    return ok_reply(rid, result)


def _preload(session: Session) -> None:
    try:
        session._keras()
    except Exception:  # noqa: BLE001 - a real request reports it
        traceback.print_exc()


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return serve(ProtocolWriter(), preload="--no-preload" not in sys.argv[1:])


def serve(protocol: ProtocolWriter, first: str | None = None, preload: bool = True) -> int:
    """Answer requests until stdin ends, beginning with ``first`` (a request line the warm
    engine, ``workers/engine.py``, has read already); ``preload`` imports TensorFlow
    meanwhile."""
    session = Session(protocol.emit)
    protocol.emit(event("ready", pid=os.getpid()))
    preloading = None
    if preload and "keras" not in sys.modules:
        # TensorFlow takes seconds to import: start now, the first request waits for it
        preloading = threading.Thread(target=_preload, args=(session,), daemon=True,
                                      name="preload")
        preloading.start()
    started = time.perf_counter()
    lines = sys.stdin if first is None else itertools.chain([first], sys.stdin)
    for line in lines:
        reply = reply_for(session, line)
        if reply is not None:
            protocol.emit(reply)
        if protocol.broken:
            break
    print(f"inspection worker: stdin closed after {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    if protocol.broken or (preloading is not None and preloading.is_alive()):
        # nobody listens, or TensorFlow is half imported: end now rather than tear it down
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    end_process(main())
