"""Export a project's model for deployment, then prove the artifact runs.

``run_job(job, emit)`` builds the model (the project's weights, a run's ``model.keras``, or fresh
weights with a warning), writes it with Keras' own ``model.export`` (``tf_saved_model``,
``onnx`` through tf2onnx, ``litert`` through the TensorFlow Lite converter, whose float16 and
full-integer int8 quantization it configures), loads the artifact in its own runtime
(``tf.saved_model.load``, ``onnxruntime.InferenceSession``, the LiteRT interpreter), runs it on
a batch of samples and compares it with the Keras model. Only then is the artifact renamed to
the output path: nothing half-written or unverified is ever left there.

The job (a dict, also the deployment worker's first stdin line)::

    {"project": "path.nbproj" | {...project dict...},
     "project_file": "path.nbproj",     # with a project dict: where its weights file lives
     "format": "savedmodel" | "onnx" | "tflite",
     "quantize": null | "float16" | "int8",        # tflite only
     "data": null | "digits" | {"source": ..., "options": {...}},   # default: the project's
     "weights": null | "run/model.keras",          # null: the project's weights, if any
     "fresh": false,                               # true: untrained weights, on purpose
     "output": "PATH"}

Events (dicts given to ``emit``): ``status`` (message), ``warning`` (message), ``result`` (the
verified artifact: format, path, size, inputs, outputs, check, export_s and ``line``, the
sentence for people), then ``finished``, or ``error`` (kind, message) as the last one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netbuilder.runtime.messages import first_line

Emit = Callable[[dict[str, Any]], None]

FORMATS = ("savedmodel", "onnx", "tflite")
QUANTIZATIONS = ("float16", "int8")
KERAS_FORMATS = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}
FORMAT_NAMES = {"savedmodel": "SavedModel", "onnx": "ONNX", "tflite": "TFLite"}
RUNTIMES = {"savedmodel": "TensorFlow", "onnx": "onnxruntime", "tflite": "the LiteRT interpreter"}
CHECK_SAMPLES = 32            # samples compared with Keras
REPRESENTATIVE_SAMPLES = 200  # int8 calibration samples drawn from the training split
MIN_REPRESENTATIVE = 100
ACCURACY_SAMPLES = 1000       # at most this many validation samples for int8's accuracy
MIN_AGREEMENT = 0.9           # int8 top-1 agreement below this is reported as a warning
# largest |artifact - Keras| allowed, relative to the largest |Keras output| (at least 1)
TOLERANCE = {None: 1e-4, "float16": 2e-2}


class DeploymentError(Exception):
    """Why an export cannot be done, for people; ``kind`` says which part failed (project,
    build, weights, data, convert, verify, output, settings)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Samples:
    """Inputs fitted to the model (by input name), and what they are, for the result line."""

    inputs: dict[str, np.ndarray]
    origin: str
    representative: dict[str, np.ndarray] | None = None
    validation: tuple[dict[str, np.ndarray], np.ndarray] | None = None   # inputs, class labels
    notes: list[str] = field(default_factory=list)


def run_job(job: Mapping[str, Any], emit: Emit) -> int:
    """Run one export; every outcome is reported through ``emit``. Returns 0 after
    ``finished``, 1 after ``error``."""
    try:
        result = export(job, emit)
    except DeploymentError as err:
        emit({"event": "error", "kind": err.kind, "message": str(err)})
        return 1
    except Exception as err:  # noqa: BLE001 - every failure becomes one error event
        emit({"event": "error", "kind": "internal",
              "message": f"export failed: {type(err).__name__}: {first_line(err)}"})
        return 1
    emit({"event": "finished", "path": result["path"]})
    return 0


def check_job(job: Mapping[str, Any]) -> None:
    """``DeploymentError`` for a job that cannot work, before anything slow starts."""
    fmt = job.get("format")
    if fmt not in FORMATS:
        raise DeploymentError("settings", f"unknown format {fmt!r}: use one of "
                                          f"{', '.join(FORMATS)}")
    quantize = job.get("quantize")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise DeploymentError("settings", f"unknown quantization {quantize!r}: use float16 or "
                                          "int8")
    if quantize is not None and fmt != "tflite":
        raise DeploymentError("settings", f"--quantize {quantize} is for --format tflite "
                                          f"({FORMAT_NAMES[fmt]} is written in float32)")
    if not job.get("output"):
        raise DeploymentError("settings", "no output path")
    weights = job.get("weights")
    if weights and job.get("fresh"):
        raise DeploymentError("settings", "choose weights or fresh weights, not both")
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise DeploymentError("weights", f"no weights file {weights}")
        if not (path.name.endswith(".keras") or path.name.endswith(".weights.h5")):
            raise DeploymentError("weights", f"{weights}: weights must be a .keras or "
                                             ".weights.h5 file (e.g. a run's model.keras)")


def export(job: Mapping[str, Any], emit: Emit) -> dict[str, Any]:
    """Export, verify and move into place; returns the ``result`` event (also emitted)."""
    check_job(job)
    fmt, quantize = job["format"], job.get("quantize")
    output = Path(job["output"])
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise DeploymentError("output", f"cannot write {output}: no folder {parent}")

    _status(emit, "reading the project")
    project, project_file = _load_project(job)
    data_spec = _data_spec(job, project)
    if quantize == "int8" and data_spec is None:
        raise DeploymentError("data", "int8 quantization needs data to calibrate on: give "
                                      "--data SOURCE (at least 100 samples), e.g. digits")
    _status(emit, "loading TensorFlow")
    from netbuilder.runtime.keras_loader import import_keras_quietly

    import_keras_quietly()
    _status(emit, "building the model")
    model = _build(project)
    _load_weights(model, job, project, project_file, emit)
    named = named_model(model)

    samples = _samples(named, model, project, data_spec, quantize, emit)
    reference = _predict_keras(named, samples.inputs)

    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=parent))
    try:
        artifact = tmp / {"savedmodel": "saved_model", "onnx": "model.onnx",
                          "tflite": "model.tflite"}[fmt]
        what = FORMAT_NAMES[fmt] + (f" ({quantize})" if quantize else "")
        _status(emit, f"exporting to {what}")
        started = time.perf_counter()
        convert(named, fmt, quantize, samples, artifact)
        export_s = time.perf_counter() - started
        _status(emit, f"checking the {FORMAT_NAMES[fmt]} file with {RUNTIMES[fmt]}")
        runner = load_artifact(fmt, artifact)
        result: dict[str, Any] = {"check": _verify(runner, named, samples, reference, quantize,
                                                   emit)}
        result.update(format=fmt, quantize=quantize, path=str(output),
                      size=artifact_size(artifact), export_s=round(export_s, 3),
                      inputs=runner.inputs, outputs=runner.outputs)
        del runner
        _move_into_place(artifact, output, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["line"] = result_line(result, samples.origin)
    emit({"event": "result", **result})
    return result


# --- project, model and weights ---------------------------------------------------------------


def _status(emit: Emit, message: str) -> None:
    emit({"event": "status", "message": message})


def _load_project(job: Mapping[str, Any]) -> tuple[Any, Path | None]:
    from netbuilder.core.project import ProjectError, load, loads

    spec = job.get("project")
    try:
        if isinstance(spec, Mapping):
            project_file = job.get("project_file")
            return loads(json.dumps(spec), "<project>"), (
                Path(project_file) if project_file else None)
        if isinstance(spec, str) and spec:
            return load(spec), Path(spec)
    except ProjectError as err:
        raise DeploymentError("project", str(err)) from None
    raise DeploymentError("project", "the job has no project (a project dict or a file path)")


def _data_spec(job: Mapping[str, Any], project: Any) -> tuple[str, dict[str, Any]] | None:
    spec = job.get("data") or project.settings.get("data")
    if isinstance(spec, str) and spec:
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("source"), str) and spec["source"]:
        return spec["source"], dict(spec.get("options") or {})
    return None


def _build(project: Any) -> Any:
    from netbuilder.core.codegen import model_name
    from netbuilder.runtime.keras_build import BuildError, build_model

    try:
        return build_model(project.graph, name=model_name(project.name))
    except BuildError as err:
        raise DeploymentError("build", f"the graph cannot be built: {err}") from None
    except Exception as err:  # noqa: BLE001 - Keras refusing the graph
        raise DeploymentError("build", f"the graph cannot be built: {first_line(err)}"
                              ) from None


def _load_weights(model: Any, job: Mapping[str, Any], project: Any, project_file: Path | None,
                  emit: Emit) -> None:
    path: Path | None = Path(job["weights"]) if job.get("weights") else None
    if path is None and not job.get("fresh") and project_file is not None:
        path = project.weights_path(project_file)
        if path is not None and not path.is_file():
            raise DeploymentError("weights", f"the project's weights file {path} is missing")
    if path is None:
        emit({"event": "warning", "message": "the model is UNTRAINED: fresh random weights "
              "(train it, or give --weights RUN/model.keras)"})
        return
    _status(emit, f"loading weights from {path}")
    try:
        model.load_weights(str(path))
    except Exception as err:  # noqa: BLE001 - any mismatch
        raise DeploymentError("weights", f"the weights in {path} don't fit this model: "
                                         f"{first_line(err)}") from None


def named_model(model: Any) -> Any:
    """The same layers and weights with inputs and outputs as dicts by name, so that every
    format keeps the model's input and output names."""
    import keras

    return keras.Model({t.name: t for t in model.inputs},
                       dict(zip(model.output_names, model.outputs)), name=model.name)


# --- samples --------------------------------------------------------------------------------


def _samples(named: Any, model: Any, project: Any, data_spec: tuple[str, dict[str, Any]] | None,
             quantize: str | None, emit: Emit) -> Samples:
    if data_spec is None:
        return random_samples(named)
    from netbuilder.runtime import data as data_mod
    from netbuilder.runtime.applications import preprocessing_for

    source, options = data_spec
    if len(model.inputs) != 1:
        if quantize == "int8":
            raise DeploymentError("data", f"int8 quantization needs data for every input; the "
                                          f"data sources give one, this model has "
                                          f"{len(model.inputs)}")
        emit({"event": "warning", "message": f"this model has {len(model.inputs)} inputs and "
              "the data sources give one: checking on random inputs"})
        return random_samples(named)
    _status(emit, f"loading data: {source}")
    input_shape = tuple(None if v is None else int(v) for v in model.inputs[0].shape[1:])
    try:
        dataset = data_mod.load(source, options, input_shape=input_shape,
                                classes=data_mod.output_classes(model))
        _status(emit, "fitting the data to the model")
        prepared = data_mod.prepare(dataset, model, None, preprocessing_for(project.graph))
    except data_mod.DataError as err:
        raise DeploymentError("data", str(err)) from None
    name = model.inputs[0].name
    check_split = prepared.validation or prepared.train
    samples = Samples({name: _take(check_split, CHECK_SAMPLES)}, f"{source} samples",
                      notes=list(dataset.notes) + list(prepared.notes))
    for note in samples.notes:
        emit({"event": "log", "message": f"  - {note}"})
    if quantize == "int8":
        if prepared.train.size < MIN_REPRESENTATIVE:
            raise DeploymentError("data", f"int8 quantization needs at least "
                                          f"{MIN_REPRESENTATIVE} training samples to calibrate "
                                          f"on; {source} has {prepared.train.size}")
        samples.representative = {name: _take(prepared.train, REPRESENTATIVE_SAMPLES)}
        labelled = prepared.validation
        if labelled is not None and len(model.outputs) == 1 and prepared.classification:
            labels = _class_indices(_labels(labelled))
            if labels is not None:
                count = min(labelled.size, ACCURACY_SAMPLES)
                samples.validation = ({name: _take(labelled, count)}, labels[:count])
    return samples


def _take(split: Any, count: int) -> np.ndarray:
    """The first ``count`` inputs of a prepared split, adapted to the model exactly as
    training adapts them."""
    from netbuilder.runtime import data as data_mod

    count = min(count, split.size)
    if split.stream is not None:
        import tensorflow as tf

        batch = next(iter(split.stream.take(count).batch(count)))[0]
        x = np.asarray(split.transform(batch) if split.transform else tf.cast(batch, "float32"))
        return x.astype(np.float32)
    return data_mod.apply_transform(split.transform, np.asarray(split.x[:count]))


def _labels(split: Any) -> np.ndarray:
    y = split.y
    return np.asarray(next(iter(y.values())) if isinstance(y, Mapping) else y)


def _class_indices(y: np.ndarray) -> np.ndarray | None:
    from netbuilder.runtime.data.dataset import class_indices

    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return class_indices(y)


def random_samples(named: Any) -> Samples:
    rng = np.random.default_rng(0)
    inputs = {}
    for name, tensor in named.input.items():
        shape = [CHECK_SAMPLES] + [8 if v is None else int(v) for v in tensor.shape[1:]]
        inputs[name] = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    return Samples(inputs, "random inputs")


def _predict_keras(named: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = named(dict(inputs), training=False)
    return {k: np.asarray(v) for k, v in out.items()}


# --- conversion -------------------------------------------------------------------------------


def _converter_options(fmt: str, quantize: str | None, samples: Samples) -> dict[str, Any]:
    if fmt != "tflite":
        return {}
    import tensorflow as tf

    # Built-in ops only: a Flex (TensorFlow) op needs TensorFlow on the device too, and the
    # LiteRT runtime alone cannot run it. Better refused now than on the phone.
    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is None:
        return {"target_spec": {"supported_ops": builtins}}
    if quantize == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "target_spec": {"supported_ops": builtins, "supported_types": [tf.float16]}}
    representative = samples.representative or {}

    def dataset() -> Iterator[dict[str, np.ndarray]]:
        count = len(next(iter(representative.values())))
        for i in range(count):
            yield {name: x[i:i + 1] for name, x in representative.items()}

    return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": dataset,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            "inference_input_type": tf.int8, "inference_output_type": tf.int8}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _quiet_converters() -> Iterator[_Collect]:
    """Keep tf2onnx's log records (its unsupported-op reports are records, not exceptions) and
    the converters' Python warnings away from the user."""
    collect = _Collect()
    logger = logging.getLogger("tf2onnx")
    logger.addHandler(collect)
    propagate = logger.propagate
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield collect
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate


_TF2ONNX_UNSUPPORTED = re.compile(r"Tensorflow op \[([^\]:]+): (\w+)\] is not supported")
_TFLITE_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op"
                        r"|'tf\.(\w+)' op is not supported"
                        r"|failed to legalize operation 'tf\.(\w+)'")
_TFLITE_LOCATION = re.compile(r'fused\["(\w+):", "([^"@]+)')


def convert(named: Any, fmt: str, quantize: str | None, samples: Samples,
             artifact: Path) -> None:
    options = _converter_options(fmt, quantize, samples)
    with _quiet_converters() as log:
        try:
            named.export(str(artifact), format=KERAS_FORMATS[fmt], verbose=False, **options)
        except Exception as err:  # noqa: BLE001 - the converter's reason, one line
            raise DeploymentError("convert", conversion_failure(named, fmt, str(err),
                                                                log.messages)) from None
    unsupported = [m for m in log.messages if _TF2ONNX_UNSUPPORTED.search(m)]
    if unsupported:
        raise DeploymentError("convert", conversion_failure(named, fmt, "", unsupported))


def conversion_failure(model: Any, fmt: str, error: str, log: list[str]) -> str:
    """One line naming the layer and the converter's reason, from the converter's exception
    text and log records."""
    what = FORMAT_NAMES[fmt]
    for message in log:
        found = _TF2ONNX_UNSUPPORTED.search(message)
        if found:
            path, op = found.groups()
            return (f"cannot convert layer {_layer_of(model, path)!r} to {what}: tf2onnx has "
                    f"no ONNX equivalent of the TensorFlow op {op}")
    found = _TFLITE_OP.search(error)
    if found:
        op = next(g for g in found.groups() if g)
        layer = None
        for loc_op, path in _TFLITE_LOCATION.findall(error):
            if loc_op == op:
                layer = _layer_of(model, path)
                break
        where = f"layer {layer!r}" if layer else "the model"
        return (f"cannot convert {where} to {what}: the TFLite converter has no built-in op "
                f"for the TensorFlow op {op} (LiteRT could only run it with TensorFlow's Flex "
                "delegate)")
    reason = _first_error_line(error) or "the converter gave no reason"
    layer = next((layer.name for layer in model.layers if re.search(
        rf"\b{re.escape(layer.name)}(_\d+)?\b", error)), None)
    where = f"layer {layer!r}" if layer else "the model"
    return f"cannot convert {where} to {what}: {reason}"


def _first_error_line(text: str) -> str:
    for line in text.splitlines():
        found = re.search(r"error: (.+)", line)
        if found:
            return re.sub(r"loc\(.*?\)\)*: ", "", found.group(1)).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _layer_of(model: Any, path: str) -> str:
    """The model's layer named in a TensorFlow op path such as ``functional_1/my_svd_1/Svd``
    (the layer's name scope may carry a ``_N`` suffix)."""
    names = {layer.name for layer in model.layers}
    for part in path.split("/"):
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in names:
                return candidate
    return path


# --- running the artifact ---------------------------------------------------------------------


class Runner:
    """An artifact loaded in its own runtime: ``run(inputs)`` gives outputs by name;
    ``inputs``/``outputs`` list ``{"name", "shape", "dtype"}``."""

    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError


class _SavedModelRunner(Runner):
    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self.fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        _, specs = self.fn.structured_input_signature
        self.inputs = [_io(name, spec.shape, spec.dtype.name) for name, spec in specs.items()]
        self.outputs = [_io(name, spec.shape, spec.dtype.name)
                        for name, spec in self.fn.structured_outputs.items()]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        out = self.fn(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: np.asarray(v) for k, v in out.items()}


class _OnnxRunner(Runner):
    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(path), options,
                                                    providers=["CPUExecutionProvider"])
        self.inputs = [_io(i.name, i.shape, i.type) for i in self.session.get_inputs()]
        self.outputs = [_io(o.name, o.shape, o.type) for o in self.session.get_outputs()]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o["name"] for o in self.outputs]
        return dict(zip(names, self.session.run(names, dict(inputs))))


class _LiteRTRunner(Runner):
    def __init__(self, path: Path) -> None:
        self.interpreter = _interpreter(path)
        self.runner = self.interpreter.get_signature_runner()
        ins = self.runner.get_input_details()
        outs = self.runner.get_output_details()
        self.in_details, self.out_details = ins, outs
        self.inputs = [_io(n, d["shape_signature"], np.dtype(d["dtype"]).name)
                       for n, d in ins.items()]
        self.outputs = [_io(n, d["shape_signature"], np.dtype(d["dtype"]).name)
                        for n, d in outs.items()]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {}
        for name, x in inputs.items():
            detail = self.in_details[name]
            dtype = np.dtype(detail["dtype"])
            if dtype.kind in "iu":       # full-integer model: quantize as its input says
                scale, zero = detail["quantization"]
                info = np.iinfo(dtype)
                x = np.clip(np.round(x / scale + zero), info.min, info.max)
            feed[name] = x.astype(dtype)
        out = self.runner(**feed)
        result = {}
        for name, y in out.items():
            detail = self.out_details[name]
            if np.dtype(detail["dtype"]).kind in "iu":
                scale, zero = detail["quantization"]
                y = (y.astype(np.float32) - zero) * scale
            result[name] = np.asarray(y, dtype=np.float32)
        return result


def _interpreter(path: Path) -> Any:
    """LiteRT's interpreter (ai-edge-litert), else TensorFlow's own ``tf.lite.Interpreter``
    where that package has no wheel."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def load_artifact(fmt: str, path: Path) -> Runner:
    """The artifact loaded in its own runtime; ``DeploymentError`` when it does not load."""
    kinds: dict[str, type[Runner]] = {"savedmodel": _SavedModelRunner, "onnx": _OnnxRunner,
                                      "tflite": _LiteRTRunner}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return kinds[fmt](path)  # type: ignore[call-arg]
    except Exception as err:  # noqa: BLE001 - the runtime's reason
        raise DeploymentError("verify", f"the exported {FORMAT_NAMES[fmt]} file does not load "
                                        f"in {RUNTIMES[fmt]}: {first_line(err)}") from None


def _io(name: str, shape: Any, dtype: str) -> dict[str, Any]:
    dims = list(shape) if shape is not None else []
    if dtype.startswith("tensor("):       # onnxruntime's type names
        dtype = {"float": "float32", "double": "float64"}.get(dtype[7:-1], dtype[7:-1])
    return {"name": name, "dtype": dtype,
            "shape": [None if (d is None or isinstance(d, str) or int(d) < 0) else int(d)
                  for d in dims]}


def run_in_batches(runner: Runner, inputs: Mapping[str, np.ndarray],
                   batch: int = 64) -> dict[str, np.ndarray]:
    count = len(next(iter(inputs.values())))
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, count, batch):
        out = runner.run({k: v[start:start + batch] for k, v in inputs.items()})
        for k, v in out.items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _verify(runner: Runner, named: Any, samples: Samples, reference: dict[str, np.ndarray],
            quantize: str | None, emit: Emit) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = run_in_batches(runner, samples.inputs)
    except Exception as err:  # noqa: BLE001 - the runtime's reason
        raise DeploymentError("verify", f"the exported file does not run: "
                                        f"{first_line(err)}") from None
    missing = sorted(set(reference) - set(got))
    if missing:
        raise DeploymentError("verify", f"the exported file lacks the output(s) "
                                        f"{', '.join(missing)} (it has {', '.join(sorted(got))})")
    diff = max(float(np.max(np.abs(got[k] - reference[k]))) for k in reference)
    scale = max(1.0, max(float(np.max(np.abs(v))) for v in reference.values()))
    check: dict[str, Any] = {"samples": len(next(iter(samples.inputs.values()))),
                             "max_diff": diff}
    if quantize == "int8":
        agreement = min(top1_agreement(got[k], reference[k]) for k in reference)
        check["agreement"] = agreement
        if agreement < MIN_AGREEMENT:
            emit({"event": "warning", "message": f"int8 agrees with Keras on only "
                  f"{agreement:.1%} of the top-1 predictions: calibrate on more or other data"})
        if samples.validation is not None:
            x, labels = samples.validation
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantized = next(iter(run_in_batches(runner, x).values()))
            keras_out = next(iter(_predict_batches(named, x).values()))
            check["accuracy"] = {"float32": _accuracy(keras_out, labels),
                                 "int8": _accuracy(quantized, labels),
                                 "samples": len(labels)}
        return check
    tolerance = TOLERANCE[quantize] * scale
    check["tolerance"] = tolerance
    if not diff <= tolerance:       # also NaN
        raise DeploymentError("verify", f"the exported file disagrees with Keras: largest "
                                        f"difference {diff:.3g} > tolerance {tolerance:.3g}")
    return check


def _predict_batches(named: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = named.predict(dict(inputs), verbose=0, batch_size=64)
    return {k: np.asarray(v) for k, v in out.items()}


def _top1(y: np.ndarray) -> np.ndarray:
    if y.shape[-1] > 1:
        return np.argmax(y, axis=-1)
    threshold = 0.5 if float(y.min()) >= 0.0 and float(y.max()) <= 1.0 else 0.0
    return (y[..., 0] > threshold).astype(np.int64)


def top1_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of positions (samples, or pixels of a segmentation) where ``a`` and ``b``
    pick the same class (the largest score, or one unit's side of 0.5)."""
    return float(np.mean(_top1(a) == _top1(b)))


def _accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(_top1(pred).reshape(len(labels)) == labels))


# --- the output -------------------------------------------------------------------------------


def artifact_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _move_into_place(artifact: Path, output: Path, tmp: Path) -> None:
    """Rename the verified artifact to ``output``; an earlier file or folder there is moved
    aside first and removed only afterwards."""
    old = tmp / "previous"
    try:
        if output.is_symlink() or output.exists():
            os.replace(output, old)
        os.replace(artifact, output)
    except OSError as err:
        if old.exists() and not output.exists():
            os.replace(old, output)
        raise DeploymentError("output", f"cannot write {output}: {err.strerror or err}"
                              ) from None


def format_size(size: int) -> str:
    for unit, factor in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def _shape_text(shape: list[Any]) -> str:
    return "(" + ", ".join("None" if v is None else str(v) for v in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _io_text(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"{i['name']} {_shape_text(i['shape'])} {i['dtype']}" for i in items)


def result_line(result: Mapping[str, Any], origin: str) -> str:
    """The sentence that reports a verified export."""
    fmt = result["format"]
    what = FORMAT_NAMES[fmt] + (f" {result['quantize']}" if result.get("quantize") else "")
    check = result["check"]
    head = (f"Wrote {result['path']} ({what}, {format_size(result['size'])}) in "
            f"{result['export_s']:.1f}s; checked with {RUNTIMES[fmt]} on {check['samples']} "
            f"{origin}: ")
    if "agreement" in check:
        body = (f"top-1 agreement with Keras {check['agreement']:.1%} (largest difference "
                f"{check['max_diff']:.3g})")
        accuracy = check.get("accuracy")
        if accuracy:
            body += (f"; validation accuracy int8 {accuracy['int8']:.4f} vs float32 "
                     f"{accuracy['float32']:.4f} ({accuracy['samples']} samples)")
    else:
        body = (f"largest difference from Keras {check['max_diff']:.3g} (tolerance "
                f"{check['tolerance']:.3g})")
    io = f"; inputs {_io_text(result['inputs'])}; outputs {_io_text(result['outputs'])}"
    return head + body + io
