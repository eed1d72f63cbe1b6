"""Import a Keras model file or a Keras Application into a NetBuilder project.

``import_source(source)`` reads ``.keras`` and ``.h5`` model files (``keras.saving.load_model``
with ``compile=False, safe_mode=True``), architecture-only ``.json`` files (``model.to_json()``)
and ``app:NAME`` (any constructor in ``keras.applications``), turns the model into a graph
(``keras_to_graph``) and returns a ``Project`` with an automatic layout. Model files are checked
for Lambda layers before Keras reads them. Where the source has weights, ``project_path=`` saves
them beside the project as ``<project stem>.weights.h5`` and records them in ``Project.weights``;
``build_model(graph, weights_path=...)`` loads them back.

Every failure raises ``KerasImportError`` with a message for the user.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from netbuilder.core.atomic_write import write_atomically
from netbuilder.core.catalog import opaque
from netbuilder.core.graph import Graph
from netbuilder.core.layout import auto_layout
from netbuilder.core.project import Project, ProjectError, save
from netbuilder.runtime import applications
from netbuilder.runtime.keras_build import BuildError, build_model
from netbuilder.runtime.keras_loader import load_keras
from netbuilder.runtime.keras_to_graph import KerasImportError, code_layer_error, graph_from_keras
from netbuilder.runtime.messages import first_line

APP_PREFIX = "app:"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".json")
CLI_WEIGHTS_HINT = "pass a weights file (--weights FILE), or use --weights none"


# --- sources ----------------------------------------------------------------------------------


def _config_layers(config: Any) -> Iterator[tuple[str, str]]:
    """(class name, layer name) of every layer in a serialized model config, nested ones too."""
    if isinstance(config, Mapping):
        if isinstance(config.get("class_name"), str):
            inner = config.get("config")
            name = inner.get("name") if isinstance(inner, Mapping) else None
            yield config["class_name"], name if isinstance(name, str) else "?"
        for value in config.values():
            yield from _config_layers(value)
    elif isinstance(config, list):
        for value in config:
            yield from _config_layers(value)


def _refuse_code_in_config(config: Any) -> None:
    for class_name, name in _config_layers(config):
        if class_name in opaque.CODE_LAYERS:
            raise code_layer_error(name, class_name)


def _file_config(path: Path) -> Any:
    """The model config stored in a .keras/.h5/.json file (None when there is none), read
    without Keras; ``KerasImportError`` when the file is damaged."""
    suffix = path.suffix.lower()
    if suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    raise KerasImportError(f"{path}: not a Keras model (no config.json inside)")
                return json.loads(archive.read("config.json").decode("utf-8"))
        except (zipfile.BadZipFile, EOFError):
            raise KerasImportError(f"{path}: not a valid .keras file (the archive is damaged "
                                   "or it is not a Keras model)") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise KerasImportError(f"{path}: its model config is damaged") from None
        except (OSError, zipfile.LargeZipFile) as err:
            raise KerasImportError(f"{path}: cannot read it: {err}") from None
    if suffix in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
                if raw is None:
                    keys = set(f.keys())
                    what = (" (it holds weights only; import the model file or its .json "
                            "architecture)" if keys else "")
                    raise KerasImportError(f"{path}: no model inside{what}")
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8")
                return json.loads(raw)
        except KerasImportError:
            raise
        except (OSError, ValueError) as err:
            raise KerasImportError(f"{path}: not a valid HDF5 model file (damaged, or not a "
                                   f"Keras model): {str(err).splitlines()[0]}") from None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KerasImportError(f"{path}: not a JSON text file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise KerasImportError(f"{path}: not valid JSON (line {err.lineno}, column "
                               f"{err.colno}: {err.msg}); expected model.to_json()") from None



def _load_file(path: Path) -> tuple[Any, bool]:
    """(model, whether the file holds weights)."""
    if not path.exists():
        raise KerasImportError(f"{path}: no such file")
    if path.is_dir():
        raise KerasImportError(f"{path}: is a folder; expected a .keras, .h5 or .json model "
                               "file (a TensorFlow SavedModel folder cannot be imported)")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise KerasImportError(f"{path}: unsupported file type {path.suffix or '(none)'}; "
                               "expected a .keras, .h5 or .json model file, or app:NAME")
    config = _file_config(path)
    if not isinstance(config, Mapping) or not isinstance(config.get("class_name"), str):
        raise KerasImportError(f"{path}: not a Keras model (no model config)")
    _refuse_code_in_config(config)
    keras = load_keras()
    try:
        if suffix == ".json":
            from keras.src.saving import serialization_lib

            with serialization_lib.SafeModeScope(True):
                model = serialization_lib.deserialize_keras_object(dict(config), safe_mode=True)
        else:
            model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except KerasImportError:
        raise
    except Exception as err:  # noqa: BLE001 - Keras raises many kinds
        raise KerasImportError(f"{path}: Keras cannot load this model: {first_line(err)}"
                               ) from None
    if not isinstance(model, keras.Model):
        raise KerasImportError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    return model, suffix != ".json"


def _load_application(name: str, *, include_top: bool, input_shape: Sequence[int] | None,
                      pooling: str | None, weights: str | None, classes: int | None
                      ) -> tuple[Any, bool]:
    try:
        app = applications.application_name(name)
    except applications.ApplicationError as err:
        raise KerasImportError(str(err)) from None
    kwargs: dict[str, Any] = {"include_top": include_top}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    if pooling is not None:
        if pooling not in ("avg", "max"):
            raise KerasImportError(f"pooling must be 'avg' or 'max', got {pooling!r}")
        kwargs["pooling"] = pooling
    if classes is not None:
        kwargs["classes"] = classes
    if weights is None or str(weights).lower() == "none":
        kwargs["weights"] = None
    elif weights == "imagenet":
        kwargs["weights"] = "imagenet"
    else:
        path = Path(weights)
        if not path.is_file():
            raise KerasImportError(f"weights file {weights} not found (use none, imagenet or "
                                   "a weights file)")
        kwargs["weights"] = str(path)
    try:
        model = applications.construct(app, kwargs, refused=f"app:{app}: ",
                                       weights_hint=CLI_WEIGHTS_HINT)
    except applications.ApplicationError as err:
        raise KerasImportError(str(err)) from None
    return model, kwargs["weights"] is not None


# --- weights ----------------------------------------------------------------------------------


def weights_file_for(project_path: str | os.PathLike[str]) -> Path:
    """``<project stem>.weights.h5`` beside the project file."""
    path = Path(project_path)
    return path.with_name(f"{path.stem}.weights.h5")


def _copy_weights(source: Any, target: Any) -> None:
    """Give every layer of ``target`` the weights of the layer of the same name in ``source``
    (nested models recursively)."""
    keras = load_keras()
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        original = by_name.get(layer.name)
        if original is None:
            if layer.weights:
                raise KerasImportError(f"layer {layer.name!r} has no weights in the source")
            continue
        if isinstance(layer, keras.Model) and isinstance(original, keras.Model):
            _copy_weights(original, layer)
            continue
        values = original.get_weights()
        if len(values) != len(layer.weights):
            raise KerasImportError(f"layer {layer.name!r}: {len(values)} weight arrays in the "
                                   f"source, {len(layer.weights)} in the rebuilt model")
        layer.set_weights(values)


def save_weights(graph: Graph, model: Any, path: str | os.PathLike[str],
                 name: str = "model") -> None:
    """Save ``model``'s weights as a ``.weights.h5`` file that ``build_model(graph,
    weights_path=path)`` loads: the weights go into the model built from ``graph`` and are saved
    from there, so the file's layout is the build's (atomically: a failure leaves no file)."""
    path = Path(path)
    try:
        built = build_model(graph, name=name)
    except BuildError as err:
        raise KerasImportError(f"cannot rebuild the model to save its weights: {err}") from None
    _copy_weights(model, built)
    try:
        write_atomically(path, lambda tmp: built.save_weights(str(tmp)), suffix=".weights.h5")
    except Exception as err:  # noqa: BLE001
        raise KerasImportError(f"cannot save the weights to {path}: {first_line(err)}"
                               ) from None


# --- the whole import -------------------------------------------------------------------------


def import_source(source: str, *, include_top: bool = True,
                  input_shape: Sequence[int] | None = None, pooling: str | None = None,
                  weights: str | None = None, classes: int | None = None,
                  project_path: str | os.PathLike[str] | None = None) -> Project:
    """A project from a Keras model file (.keras, .h5, .json) or ``app:NAME``.

    ``include_top``, ``input_shape``, ``pooling``, ``weights`` (None/"none", "imagenet" from
    Keras' cache only, or a weights file) and ``classes`` are the Keras Applications' arguments.
    With ``project_path``, the source's weights (a model file's, or an application's when
    ``weights`` is set) are saved beside it as ``<stem>.weights.h5`` and recorded in
    ``Project.weights``; the project itself is not written (``core.project.save``).
    Raises ``KerasImportError``.
    """
    source = str(source)
    is_app = source.startswith(APP_PREFIX)
    if not is_app:
        options = {"include_top": not include_top, "input_shape": input_shape is not None,
                   "pooling": pooling is not None, "weights": weights is not None,
                   "classes": classes is not None}
        used = [k for k, v in options.items() if v]
        if used:
            raise KerasImportError(f"{', '.join(used)} apply to app:NAME sources only")
        model, has_weights = _load_file(Path(source))
    else:
        model, has_weights = _load_application(
            source[len(APP_PREFIX):], include_top=include_top, input_shape=input_shape,
            pooling=pooling, weights=weights, classes=classes)
    notes: list[str] = []
    graph = graph_from_keras(model, notes)
    apply_layout(graph)
    kind = "Keras application" if is_app else "Keras model"
    project = Project(graph, name=model.name,
                      description=f"Imported from the {kind} {source}.")
    imported: dict[str, Any] = {"source": source}
    if notes:
        imported["notes"] = notes
    project.settings["imported"] = imported
    if project_path is not None and has_weights:
        target = weights_file_for(project_path)
        save_weights(graph, model, target, name=model.name)
        project.weights = target.name
    return project


def apply_layout(graph: Graph) -> None:
    """Give ``graph`` and every block inside it an automatic layout."""
    seen: set[int] = set()

    def visit(g: Graph) -> None:
        if id(g) in seen:
            return
        seen.add(id(g))
        for nid, position in auto_layout(g).items():
            g.move(nid, position)
        for block in g.blocks.values():
            visit(block.graph)

    visit(graph)


def import_to_file(source: str, project_path: str | os.PathLike[str], **options: Any
                   ) -> Project:
    """Import ``source`` and write the project to ``project_path`` (exactly that path), with
    its weights beside it where the source has them."""
    folder = Path(project_path).parent
    if not folder.is_dir():
        raise KerasImportError(f"cannot write {project_path}: the folder {folder} does not "
                               "exist")
    project = import_source(source, project_path=project_path, **options)
    try:
        save(project, project_path)
    except ProjectError as err:
        raise KerasImportError(str(err)) from None
    return project


_SHAPE_RE = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*,?\s*$")


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"224,224,3"`` -> ``(224, 224, 3)``; ``KerasImportError`` for anything else."""
    if not _SHAPE_RE.match(text):
        raise KerasImportError(f"--input-shape must be sizes separated by commas, e.g. "
                               f"224,224,3; got {text!r}")
    return tuple(int(part) for part in text.split(",") if part.strip())
