"""The engine that runs one training job (its settings: ``settings.py``) with ``model.fit`` and
Keras callbacks (``callbacks.py``), fine-tuning included (``fine_tune.py``).

``run_job(job, emit, stop)`` is what the worker process (``python -m
netbuilder.runtime.workers.training``) runs; it reports everything through ``emit(event_dict)``
(see ``workers/protocol.py`` for the events) and stops after the current batch once ``stop`` (a
``threading.Event``) is set. It can be called in
the same process too (tests do), but the editor and the command line always run it in a worker
process, so a crash or an out-of-memory cannot take them down.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netbuilder.core import data_fit
from netbuilder.core.atomic_write import write_text_atomically
from netbuilder.core.data_fit import DataDescription
from netbuilder.core.graph import Graph
from netbuilder.runtime import data as data_mod
from netbuilder.runtime.data.dataset import class_indices, is_one_hot
from netbuilder.runtime.devices import DeviceError, Placement, parse_devices, place
from netbuilder.runtime.messages import first_line
from netbuilder.runtime.training.callbacks import (
    BATCH_INTERVAL,
    Emit,
    atomic_save_model,
    json_safe,
    make_callbacks,
    make_latest_weights_callback,
    make_progress_callback,
)
from netbuilder.runtime.training.fine_tune import find_layer_path, unfreeze_from
from netbuilder.runtime.training.settings import (
    DATA_KEY,
    SettingsError,
    TrainingSettings,
    load_settings,
)
from netbuilder.runtime.training.tta import NO_AUGMENTATION, evaluate_averaged
from netbuilder.runtime.workers.protocol import encode_images

if TYPE_CHECKING:
    from netbuilder.runtime.training.prepared import PreparedJob


class TrainingError(Exception):
    """A training job that failed; ``kind`` says what failed (project, build, data, settings,
    weights, nan, memory, output, internal)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# --- building blocks -------------------------------------------------------------------------


def make_optimizer(settings: TrainingSettings, steps_per_epoch: int, total_epochs: int) -> Any:
    import keras

    lr: Any = settings.learning_rate
    if settings.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            settings.learning_rate, decay_steps=max(1, steps_per_epoch * total_epochs),
            alpha=settings.cosine_alpha)
    clip = {"clipnorm": settings.clipnorm} if settings.clipnorm else {}
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=settings.momentum, nesterov=settings.nesterov,
                                    **clip)
    if settings.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, **clip)
    if settings.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=settings.weight_decay, **clip)
    return keras.optimizers.Adam(lr, **clip)


def losses_for(settings: TrainingSettings, output_names: list[str]) -> dict[str, str | None]:
    unknown = [n for n in settings.output_losses if n not in output_names]
    if unknown:
        raise SettingsError(f"output_losses names {unknown[0]!r}, but the model's outputs are "
                            f"{', '.join(output_names)}")
    chosen: dict[str, str | None] = {}
    for name in output_names:
        spec = settings.output_losses.get(name, {})
        chosen[name] = spec.get("loss") or settings.loss
    return chosen


def compile_model(model: Any, settings: TrainingSettings, prepared: data_mod.Prepared,
                  steps_per_epoch: int, total_epochs: int) -> None:
    names = list(prepared.losses)
    losses = {n: prepared.losses[n].keras_loss() for n in names}
    metrics: dict[str, list[str]] = {}
    for n in names:
        if settings.metrics is not None:
            metrics[n] = list(settings.metrics)
        else:
            metrics[n] = ["accuracy"] if prepared.losses[n].classification else ["mae"]
    weights = {n: float(settings.output_losses.get(n, {}).get("weight", 1.0)) for n in names}
    try:
        # under a strategy the optimizer belongs in its scope (as the model does)
        with model.distribute_strategy.scope():
            optimizer = make_optimizer(settings, steps_per_epoch, total_epochs)
            _compile(model, optimizer, names, losses, metrics, weights)
    except (ValueError, TypeError) as err:
        raise SettingsError(f"cannot compile the model with these settings: {first_line(err)}"
                            ) from None


def _compile(model: Any, optimizer: Any, names: list[str], losses: dict[str, Any],
             metrics: dict[str, list[str]], weights: dict[str, float]) -> None:
    if len(names) == 1:
        model.compile(optimizer=optimizer, loss=losses[names[0]], metrics=metrics[names[0]])
    else:
        model.compile(optimizer=optimizer, loss=losses, loss_weights=weights, metrics=metrics)


# --- fine-tuning -----------------------------------------------------------------------------


def _check_fine_tune_layer(model: Any, settings: TrainingSettings) -> None:
    """A clear settings error, before any training, when ``fine_tune_from`` names no layer."""
    if not settings.fine_tuning or find_layer_path(model, settings.fine_tune_from) is not None:
        return
    names = [layer.name for layer in model.layers if hasattr(layer, "layers")]
    nested = (f"; its nested models are {', '.join(names)}" if names
              else "; it has no nested model")
    raise TrainingError("settings", f"fine_tune_from names the layer "
                                    f"{settings.fine_tune_from!r}, but the model has no layer "
                                    f"of that name (nested models searched too){nested}")


# --- the job ---------------------------------------------------------------------------------


def _load_project(spec: Any) -> Any:
    from netbuilder.core.project import ProjectError, load
    from netbuilder.core.project import loads as loads_project

    try:
        if isinstance(spec, Mapping):
            return loads_project(json.dumps(spec), "<project>")
        if isinstance(spec, str):
            return load(spec)
    except ProjectError as err:
        raise TrainingError("project", str(err)) from None
    raise TrainingError("project", "the job has no project (a project dict or a file path)")


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    name = type(err).__name__
    text = str(err)
    return name == "ResourceExhaustedError" or "OOM when allocating" in text or (
        "out of memory" in text.lower())


def run_job(job: Mapping[str, Any], emit: Emit, stop: threading.Event | None = None,
            prepared: PreparedJob | None = None) -> int:
    """Run one job; every outcome is reported through ``emit``. Returns 0 when the job finished
    (also when stopped or stopped early), 1 when it ended with an error event. ``prepared``
    (``training/prepared.py``): prepare the job (it ends before ``fit``), or take what was
    prepared for it."""
    stop = stop or threading.Event()
    try:
        return _run(job, emit, stop, prepared)
    except TrainingError as err:
        emit({"event": "error", "kind": err.kind, "message": str(err)})
    except data_mod.DataError as err:
        emit({"event": "error", "kind": "data", "message": str(err)})
    except SettingsError as err:
        emit({"event": "error", "kind": "settings", "message": str(err)})
    except BaseException as err:  # noqa: BLE001 - every failure becomes an error event
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        traceback.print_exc()
        if _is_oom(err):
            emit({"event": "error", "kind": "memory", "message":
                  f"ran out of memory ({first_line(err)}); lower the batch size or use a "
                  "smaller model or image size"})
        else:
            emit({"event": "error", "kind": "internal",
                  "message": f"training failed: {type(err).__name__}: {first_line(err)}"})
    return 1


def _data_spec(job: Mapping[str, Any], project: Any) -> tuple[str, dict[str, Any]]:
    spec = job.get("data", project.settings.get(DATA_KEY))
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("source"), str):
        options = spec.get("options") or {}
        if not isinstance(options, Mapping):
            raise TrainingError("data", "the data options must be an object")
        return spec["source"], dict(options)
    raise TrainingError("data", "no data source: give one, e.g. digits, shapes, mnist or a path")


def _check_data_fit(graph: Graph, dataset: data_mod.Dataset,
                    losses: Mapping[str, str | None]) -> None:
    """``DataError`` when the class labels cannot train an output whose loss is not chosen
    (``core.data_fit``): one sigmoid unit on ten classes must not become a regression."""
    if not dataset.class_names or dataset.train.y is None:
        return
    y = dataset.train.y
    if class_indices(y) is None:
        return
    data = DataDescription(len(dataset.class_names), "one_hot" if is_one_hot(y) else "classes")
    for problem in data_fit.check(graph, data):
        name = graph.nodes[problem.node_id].name
        if losses.get(name) is None and name not in dataset.train.outputs:
            raise data_mod.DataError(problem.text() + " (or choose the loss in the training "
                                     "settings, e.g. --loss mean_squared_error)")


def _status(emit: Emit, message: str, **extra: Any) -> None:
    emit({"event": "status", "message": message, **extra})


def _run(job: Mapping[str, Any], emit: Emit, stop: threading.Event,
         warm: PreparedJob | None = None) -> int:
    started = time.perf_counter()
    action = job.get("action", "train")
    if action not in ("train", "preview"):
        raise TrainingError("settings", f"unknown action {action!r} (train or preview)")
    _status(emit, "reading the project")
    project = _load_project(job.get("project"))
    settings = load_settings(project).updated(job.get("settings"))
    source, options = _data_spec(job, project)
    out_dir = Path(job.get("output_dir") or "training-output")
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TrainingError("output", f"cannot create the output folder {out_dir}: "
                                      f"{err.strerror or err}") from None

    _status(emit, "loading TensorFlow")
    import keras

    placement = _place(settings, out_dir if created else None) if action == "train" else None
    ready = warm.take(job) if warm is not None else None
    if settings.seed is not None and ready is None:
        keras.utils.set_random_seed(settings.seed)

    _status(emit, "building the model")
    from netbuilder.runtime.keras_build import BuildError, build_model

    try:
        with placement.scope() if placement else contextlib.nullcontext():
            model = ready.model if ready else build_model(project.graph,
                                                          name=_model_name(project.name))
    except BuildError as err:
        problem = str(err)
        if action == "preview":
            return _preview_data_alone(source, options, settings, emit, problem)
        raise TrainingError("build", f"the graph cannot be built: {problem}") from None
    except Exception as err:  # noqa: BLE001 - Keras refusing the graph
        problem = first_line(err)
        if action == "preview":
            return _preview_data_alone(source, options, settings, emit, problem)
        raise TrainingError("build", f"the graph cannot be built: {problem}") from None
    if action == "train":
        _check_fine_tune_layer(model, settings)
    emit({"event": "model", "name": model.name, "params": int(model.count_params()),
          "inputs": [list(_shape(t)) for t in model.inputs],
          "outputs": [list(_shape(t)) for t in model.outputs]})

    initial = job.get("initial_weights")
    if initial:
        _status(emit, f"loading weights from {initial}")
        _load_weights(model, Path(initial))

    _status(emit, f"loading data: {source}")
    input_shape = tuple(None if v is None else int(v) for v in model.inputs[0].shape[1:])
    dataset = ready.dataset if ready else data_mod.load(
        source, options, input_shape=input_shape, classes=data_mod.output_classes(model))
    losses = losses_for(settings, [o.name for o in data_mod.model_outputs(model)])
    _check_data_fit(project.graph, dataset, losses)
    _status(emit, "fitting the data to the model")
    from netbuilder.runtime.applications import preprocessing_for

    prepared = ready.prepared if ready else data_mod.prepare(
        dataset, model, losses, preprocessing_for(project.graph))
    aug_opts = dataset.options.get("augmentation")
    augmentation = None
    if aug_opts and any(aug_opts.values()):
        if len(prepared.input_shape) != 3:
            raise TrainingError("data", "augmentation works on images; this model's input is "
                                        f"{prepared.input_shape}")
        augmentation = data_mod.augmentation_model(aug_opts, prepared.value_range, settings.seed)
        prepared.notes.append(f"augmentation on the training data only: "
                              f"{data_mod.describe_augmentation(aug_opts)}"
                              + (" (on the pixels, before preprocess_input)"
                                 if prepared.preprocess else ""))
    tta = settings.tta if action == "train" else 0
    if tta and augmentation is None:
        prepared.notes.append(f"no test-time augmentation (TTA ×{tta}): {NO_AUGMENTATION}")
        tta = 0
    summary = dataset.summary()
    summary["notes"] = list(dataset.notes) + list(prepared.notes)
    summary["input_shape"] = list(prepared.input_shape)
    summary["losses"] = {n: {"loss": c.loss, "from_logits": c.from_logits, "reason": c.reason}
                         for n, c in prepared.losses.items()}
    event = {"event": "data", **json_safe(summary)}
    if action == "preview" or job.get("send_samples"):
        event["samples"] = encode_images(dataset.samples)
        event["sample_labels"] = (None if dataset.sample_labels is None
                                  else dataset.sample_labels.tolist())
        if augmentation is not None:
            event["augmented"] = encode_images(
                data_mod.augmented_preview(prepared, aug_opts, 9, seed=settings.seed))
    emit(event)
    if action == "preview":
        emit({"event": "finished", "reason": "preview", "history": {}})
        return 0

    assert placement is not None
    batch_size = settings.batch_size      # the global batch, split among the replicas
    steps = max(1, math.ceil(prepared.train.size / batch_size))
    initial_epoch = int(job.get("initial_epoch") or 0)
    total_epochs = initial_epoch + settings.epochs
    if ready is None:
        compile_model(model, settings, prepared, steps, total_epochs)

    notes: list[str] = []
    callbacks, early = make_callbacks(settings, out_dir, emit, prepared.validation is not None,
                                      notes)
    fine_tune = settings.fine_tuning
    if settings.fine_tune_epochs > 0 and not settings.fine_tune_from:
        notes.append("no fine-tuning: fine_tune_epochs is set but fine_tune_from names no layer")
    elif settings.fine_tune_from and settings.fine_tune_epochs == 0:
        notes.append("no fine-tuning: fine_tune_from is set but fine_tune_epochs is 0")
    state: dict[str, Any] = {}
    final_epochs = total_epochs + (settings.fine_tune_epochs if fine_tune else 0)
    interval = job.get("batch_interval", BATCH_INTERVAL)
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval < 0:
        raise TrainingError("settings", f"batch_interval must be a number of seconds >= 0, "
                                        f"found {interval!r}")
    progress = make_progress_callback(emit, stop, state, final_epochs, initial_epoch, steps,
                                      batch_interval=float(interval),
                                      terminate_on_nan=settings.terminate_on_nan)
    callbacks.insert(0, progress)
    if job.get("latest_weights"):
        callbacks.insert(1, make_latest_weights_callback(out_dir / "latest.weights.h5", emit))
    fit_kwargs = data_mod.fit_inputs(prepared.train, batch_size, shuffle=settings.shuffle,
                                     augmentation=augmentation, seed=settings.seed)
    if prepared.validation is not None:
        val = data_mod.fit_inputs(prepared.validation, batch_size)
        fit_kwargs["validation_data"] = (val["x"], val["y"]) if "y" in val else val["x"]
    # a tf.data dataset is shuffled by fit_inputs; Keras only shuffles plain arrays
    shuffle = settings.shuffle and "y" in fit_kwargs
    if warm is not None and warm.keep(model, dataset, prepared, fit_kwargs, shuffle):
        return 0          # prepared: the warm engine waits for the job's start

    record = {"project": _project_dict(project), "settings": settings.to_dict(),
              "data": {"source": source, "options": options, "summary": json_safe(summary)},
              "initial_weights": initial, "initial_epoch": initial_epoch,
              "devices": placement.record(batch_size)}
    write_text_atomically(out_dir / "run.json", json.dumps(json_safe(record), indent=2) + "\n")

    _status(emit, f"training {placement.describe(batch_size)}")
    if stop.is_set():
        emit({"event": "finished", "reason": "stopped", "history": {}, "epochs_run": 0,
              "output_dir": str(out_dir)})
        return 0
    emit({"event": "train_begin", "epochs": final_epochs, "initial_epoch": initial_epoch,
          "stage1_epochs": total_epochs,
          "fine_tune_epochs": settings.fine_tune_epochs if fine_tune else 0,
          "steps_per_epoch": steps, "batch_size": batch_size, "samples": prepared.train.size,
          "validation_samples": prepared.validation.size if prepared.validation else 0,
          "strategy": placement.strategy_name, "replicas": placement.replicas,
          "notes": notes})
    t0, cpu0 = time.perf_counter(), time.process_time()
    history = _fit(model, batch_size, epochs=total_epochs, initial_epoch=initial_epoch,
                   shuffle=shuffle, callbacks=callbacks, verbose=0, **fit_kwargs)
    hist = {k: list(v) for k, v in history.history.items()}
    rate = settings.learning_rate
    if fine_tune and state.get("nan") is None and not state.get("stopped"):
        # stage 2: unfreeze from the chosen layer, recompile at the fine-tuning rate, go on
        # from the epoch reached, with the same callbacks (curves and progress continue)
        reached = initial_epoch + len(history.epoch)
        rate = settings.fine_tune_learning_rate
        stage2 = settings.updated({"learning_rate": rate, "schedule": "constant"
                                   if settings.schedule in ("step", "cosine")
                                   else settings.schedule})
        trainable = int(unfreeze_from(model, settings.fine_tune_from))
        compile_model(model, stage2, prepared, steps, settings.fine_tune_epochs)
        callbacks = [c for c in callbacks if not isinstance(
            c, keras.callbacks.LearningRateScheduler)]    # stage 2 keeps its own rate
        for c in callbacks:
            if isinstance(c, keras.callbacks.CSVLogger):
                c.append = True                            # one CSV file for both stages
            if hasattr(c, "shadow"):
                c.shadow = None                            # the checkpoint's clone: new flags
        progress.extend(reached + settings.fine_tune_epochs)
        emit({"event": "stage", "stage": 2, "layer": settings.fine_tune_from,
              "learning_rate": rate, "trainable_params": trainable, "initial_epoch": reached,
              "epochs": reached + settings.fine_tune_epochs,
              "message": f"fine-tuning from {settings.fine_tune_from} at lr {rate:g}: "
                         f"{trainable:,} trainable params"})
        history2 = _fit(model, batch_size, epochs=reached + settings.fine_tune_epochs,
                        initial_epoch=reached, shuffle=shuffle, callbacks=callbacks,
                        verbose=0, **fit_kwargs)
        n1, n2 = len(history.epoch), len(history2.epoch)
        hist = {k: hist.get(k, [None] * n1) + list(history2.history.get(k, [None] * n2))
                for k in list(hist) + [k for k in history2.history if k not in hist]}
    train_s = time.perf_counter() - t0
    train_cpu_s = time.process_time() - cpu0     # all of this process's threads
    hist = json_safe(hist)
    write_text_atomically(out_dir / "history.json", json.dumps(hist, indent=2) + "\n")
    epochs_run = len(next(iter(hist.values()), []))
    full, partial = divmod(progress.done, steps)
    samples_seen = full * prepared.train.size + partial * batch_size

    if state.get("nan") is not None:
        where = state["nan"]
        emit({"event": "error", "kind": "nan", "history": hist,
              "message": f"the loss became NaN at epoch {where['epoch']}, batch {where['batch']}"
                         f" (learning rate {rate:g}); training stopped. Lower the learning rate, "
                         "clip gradients (clipnorm) or check the data for invalid values"})
        return 1

    reason = "completed"
    if state.get("stopped"):
        reason = "stopped"
    elif early is not None and getattr(early, "stopped_epoch", 0):
        reason = "early_stopping"
    model_path = out_dir / "model.keras"
    atomic_save_model(model, model_path)
    evaluation = _evaluate(model, prepared, batch_size, emit,
                           _TTA(tta, augmentation, settings) if tta else None,
                           _last_validation(hist) if reason == "completed" else None)
    result = {"event": "finished", "reason": reason, "history": hist, "epochs_run": epochs_run,
              "output_dir": str(out_dir), "model_path": str(model_path),
              "history_path": str(out_dir / "history.json"),
              "best_path": str(out_dir / "best.keras") if (out_dir / "best.keras").exists()
              else None,
              "train_s": round(train_s, 3), "train_cpu_s": round(train_cpu_s, 3),
              "total_s": round(time.perf_counter() - started, 3),
              "samples_per_s": round(samples_seen / train_s, 1) if train_s > 0 else None,
              "evaluation": evaluation}
    record.update({"result": {k: v for k, v in result.items() if k not in ("event", "history")},
                   "history": hist})
    write_text_atomically(out_dir / "run.json", json.dumps(json_safe(record), indent=2) + "\n")
    emit(json_safe(result))
    return 0


def _place(settings: TrainingSettings, created: Path | None) -> Placement:
    """The devices of the job (``runtime/devices.py``), set before TensorFlow makes a tensor;
    a request this machine cannot meet, or a batch smaller than the devices, ends the job
    before anything is written (the output folder ``created`` for it is removed again)."""
    try:
        placement = place(parse_devices(settings.devices))
        placement.check_batch(settings.batch_size)
        return placement
    except DeviceError as err:
        if created is not None:
            with contextlib.suppress(OSError):
                created.rmdir()
        raise TrainingError("devices", str(err)) from None


def _fit(model: Any, batch: int, **kwargs: Any) -> Any:
    """``model.fit(**kwargs)``, with out-of-memory and data errors made clear (``batch``: the
    batch size, for the message)."""
    try:
        return model.fit(**kwargs)
    except Exception as err:  # noqa: BLE001 - classify what went wrong
        if _is_oom(err):
            raise TrainingError("memory", f"ran out of memory while training with batch size "
                                          f"{batch}: lower the batch size or use a smaller "
                                          "model or image size") from None
        if type(err).__name__ in ("InvalidArgumentError", "NotFoundError", "UnknownError"):
            raise TrainingError("data", f"the data could not be fed to the model: "
                                        f"{first_line(err)}") from None
        raise


def _preview_data_alone(source: str, options: Mapping[str, Any], settings: TrainingSettings,
                        emit: Emit, problem: str) -> int:
    """A preview while the graph cannot be built: the data as it loads, not yet fitted to a
    model (no input adaptation, no loss), with the reason said in its notes."""
    _status(emit, f"loading data: {source}")
    dataset = data_mod.load(source, options)
    summary = dataset.summary()
    summary["notes"] = [f"shown as loaded, not fitted to the model: it cannot be built yet "
                        f"({problem})"] + list(dataset.notes)
    event: dict[str, Any] = {"event": "data", **json_safe(summary), "fitted": False,
                             "samples": encode_images(dataset.samples),
                             "sample_labels": (None if dataset.sample_labels is None
                                               else dataset.sample_labels.tolist())}
    aug_opts = dataset.options.get("augmentation")
    if aug_opts and any(aug_opts.values()) and dataset.samples is not None and len(
            dataset.samples):
        event["augmented"] = encode_images(data_mod.augmented_images(
            dataset.samples[0], aug_opts, 9, seed=settings.seed))
    emit(event)
    emit({"event": "finished", "reason": "preview", "history": {}})
    return 0


def _model_name(name: str) -> str:
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", name or "model")
    return cleaned or "model"


def _shape(tensor: Any) -> tuple[Any, ...]:
    return tuple(None if v is None else int(v) for v in tensor.shape)


def _project_dict(project: Any) -> dict[str, Any]:
    from netbuilder.core.project import project_to_dict

    return project_to_dict(project)


def _load_weights(model: Any, path: Path) -> None:
    if not path.exists():
        raise TrainingError("weights", f"no weights file {path}")
    name = path.name
    if not (name.endswith(".keras") or name.endswith(".weights.h5")):
        raise TrainingError("weights", f"{path}: weights must be a .keras or .weights.h5 file")
    try:
        model.load_weights(str(path))
    except Exception as err:  # noqa: BLE001 - any mismatch
        raise TrainingError("weights", f"the weights in {path} don't fit this model: "
                                       f"{first_line(err)}") from None


def _confidence(pred: Any, chosen: Any, from_logits: bool) -> Any:
    """The predicted probability of each chosen class (``pred``: one row per sample, one
    sigmoid unit or one score per class, probabilities or logits)."""
    import numpy as np

    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape[1] == 1:
        p1 = 1.0 / (1.0 + np.exp(-pred[:, 0])) if from_logits else pred[:, 0]
        return np.where(np.asarray(chosen) == 1, p1, 1.0 - p1)
    if from_logits:
        pred = np.exp(pred - pred.max(axis=1, keepdims=True))
        pred = pred / pred.sum(axis=1, keepdims=True)
    return pred[np.arange(len(pred)), np.asarray(chosen, dtype=int)]


def _images_of(prepared: data_mod.Prepared, split_name: str, index: Any) -> Any:
    """Samples ``index`` of a split as displayable uint8 images (N, H, W, 1 or 3): the model's
    inputs converted back from its input range as the data previews are, or, where the model
    takes them in another form (e.g. flattened), the images as loaded; None for data that is
    not images (vectors such as CSV rows)."""
    import numpy as np

    split = getattr(prepared, split_name)
    loaded = getattr(prepared.dataset, split_name)
    candidates: list[tuple[Any, str | None]] = []
    if split.preprocess is not None:      # the pixels before the Application's preprocessing
        if split.source is not None and len(index):
            pixels = data_mod.apply_transform(split.pixels, np.asarray(split.source[index]))
            candidates.append((lambda: pixels, "0-255"))
    elif split.x is not None and split.transform is None:     # adapted to the model already
        candidates.append((lambda: split.x[index], prepared.value_range))
    if loaded is not None and loaded.x is not None:            # the data as loaded
        candidates.append((lambda: loaded.x[index], prepared.dataset.value_range))
    for x, value_range in candidates:
        if value_range is None or not len(index):
            continue
        images = np.asarray(x())
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim == 4 and images.shape[-1] in (1, 3):
            return data_mod.to_uint8(images, value_range)
    return None


class _TTA:
    """Test-time augmentation of the final evaluation: ``copies`` augmented copies of each
    sample through ``augmentation`` (training's random layers)."""

    def __init__(self, copies: int, augmentation: Any, settings: TrainingSettings) -> None:
        self.copies = copies
        self.augmentation = augmentation
        self.settings = settings


def _last_validation(hist: dict[str, list[Any]]) -> dict[str, float] | None:
    """The last epoch's validation metrics, named as ``model.evaluate`` names them: what it
    would compute again on the validation split with the weights of the end of that epoch.
    None when an epoch lacks them or one is not a number."""
    last = {k[4:]: v[-1] for k, v in hist.items() if k.startswith("val_") and v}
    if "loss" not in last or not all(isinstance(v, (int, float)) for v in last.values()):
        return None
    return last


def _evaluate(model: Any, prepared: data_mod.Prepared, batch_size: int, emit: Emit,
              tta: _TTA | None = None,
              validated: dict[str, float] | None = None) -> dict[str, Any] | None:
    """Metrics on the test split (else the validation split); for a single classification
    output also the confusion matrix and the misclassified samples' indices; with ``tta``
    also the metrics of the predictions averaged over its augmented copies
    (``"tta": {"copies", "metrics"}``). ``validated``: the validation metrics of the final
    weights, from the last epoch's logs (training completed, no weights restored), used
    instead of evaluating the validation split a second time."""
    split_name = "test" if prepared.test is not None else (
        "validation" if prepared.validation is not None else None)
    if split_name is None:
        return None
    split = getattr(prepared, split_name)
    if split.stream is not None:
        return None
    import numpy as np

    _status(emit, f"evaluating on the {split_name} data")
    inputs = data_mod.fit_inputs(split, batch_size)
    if split_name == "validation" and validated is not None:
        metrics = validated
    else:
        metrics = model.evaluate(verbose=0, return_dict=True, **inputs)
    result: dict[str, Any] = {"split": split_name, "metrics": json_safe(metrics)}
    if tta is not None and "y" in inputs:
        _status(emit, f"evaluating on the {split_name} data with TTA ×{tta.copies}")
        tta_metrics, _ = evaluate_averaged(
            model, split, batch_size, tta.augmentation, tta.copies,
            lambda scorer: compile_model(scorer, tta.settings, prepared, 1, 1))
        result["tta"] = {"copies": tta.copies, "metrics": json_safe(tta_metrics)}
    names = list(prepared.losses)
    if len(names) == 1 and prepared.losses[names[0]].classification and "y" in inputs:
        y = np.asarray(split.y)
        pred = model.predict(inputs["x"], batch_size=batch_size, verbose=0)
        if pred.ndim == 2 and y.ndim in (1, 2):
            if pred.shape[1] == 1:
                p = (pred[:, 0] > (0.5 if not prepared.losses[names[0]].from_logits else 0.0)
                     ).astype(int)
                t = y.reshape(-1).astype(int)
                k = 2
            else:
                p = pred.argmax(axis=1)
                t = y.argmax(axis=1) if y.ndim == 2 else y.astype(int)
                k = pred.shape[1]
            matrix = np.zeros((k, k), dtype=int)
            np.add.at(matrix, (t, p), 1)
            wrong = np.flatnonzero(t != p)
            shown = wrong[:100]
            result.update({"confusion_matrix": matrix.tolist(),
                           "class_names": list(prepared.dataset.class_names),
                           "misclassified": shown.tolist(),
                           "misclassified_count": int(len(wrong)),
                           "misclassified_true": t[shown].tolist(),
                           "misclassified_pred": p[shown].tolist(),
                           "misclassified_confidence": [
                               round(float(c), 4) for c in _confidence(
                                   pred[shown], p[shown], prepared.losses[names[0]].from_logits)]})
            images = _images_of(prepared, split_name, shown)
            if images is not None:
                result["misclassified_images"] = encode_images(images)
    emit({"event": "evaluation", **result})
    return result
