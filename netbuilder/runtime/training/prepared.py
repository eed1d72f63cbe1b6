"""A training job prepared before it is asked for (issue 13): the warm engine
(``runtime/workers/engine.py``) runs the job's first half while the editor is idle — the model
built and compiled, the data loaded and fitted to it, Keras' train and test steps traced — and
F5 then starts ``model.fit`` at once.

``PreparedJob(job)`` is handed to ``training.engine.run_job`` twice:

* to prepare: ``run_job`` runs the job as usual up to ``model.fit``, where ``keep`` traces the
  steps on the job's own inputs (one batch, then the validation pass) and restores every
  weight, the optimizer's state and the random generators to what they were before, so the
  model is as fresh as a cold start's; ``run_job`` returns there, having trained nothing;
* to train: ``take(job)`` hands the model, data and fitted data back when the job is the
  prepared one (``job_key``: everything but where its output goes and how often it reports),
  else None, and ``run_job`` builds everything afresh.

A prepared job is used once.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping
from typing import Any

# job fields that change neither the model, nor the data, nor the compiled step
NOT_PREPARED = ("output_dir", "batch_interval", "latest_weights", "send_samples")


def job_key(job: Mapping[str, Any]) -> str:
    """What a prepared job and the job it serves must share: the job without where it writes
    and how it reports, its project without the layers' positions on the canvas and with the
    training settings it trains with (the project's, under the job's: the editor keeps the
    job's settings and data with the project when training starts)."""
    canon = {k: v for k, v in job.items() if k not in NOT_PREPARED}
    project = canon.get("project")
    if isinstance(project, Mapping):
        canon["project"] = _canonical_project(project, job)
    return json.dumps(canon, sort_keys=True, default=str)


def _canonical_project(project: Mapping[str, Any], job: Mapping[str, Any]) -> dict[str, Any]:
    canon = dict(project)
    canon.pop("description", None)
    settings = dict(canon.get("settings") or {})
    training = settings.get("training")
    if isinstance(job.get("settings"), Mapping) and isinstance(training or {}, Mapping):
        settings["training"] = {**(training or {}), **job["settings"]}
    if "data" in job:
        settings.pop("data", None)
    canon["settings"] = settings
    canon["graph"] = _without_positions(canon.get("graph"))
    if isinstance(canon.get("blocks"), list):
        canon["blocks"] = [{**b, "graph": _without_positions(b.get("graph"))}
                           if isinstance(b, Mapping) else b for b in canon["blocks"]]
    return canon


def _without_positions(graph: Any) -> Any:
    if not isinstance(graph, Mapping) or not isinstance(graph.get("nodes"), list):
        return graph
    return {**graph, "nodes": [{k: v for k, v in n.items() if k != "position"}
                               if isinstance(n, Mapping) else n for n in graph["nodes"]]}


@dataclasses.dataclass
class Ready:
    model: Any          # built, compiled, its train and test functions traced
    dataset: Any        # runtime.data.Dataset, as loaded
    prepared: Any       # runtime.data.Prepared, fitted to the model


class _Notes(list):
    """The fitted data's notes: the job adds the same notes again when it runs (augmentation,
    TTA), and each is said once."""

    def append(self, note: Any) -> None:
        if note not in self:
            super().append(note)


class PreparedJob:
    def __init__(self, job: Mapping[str, Any]) -> None:
        self.key = job_key(job)
        self.capturing = True
        self.ready: Ready | None = None
        self.prepare_s: float | None = None

    def matches(self, job: Mapping[str, Any]) -> bool:
        return self.ready is not None and job_key(job) == self.key

    def take(self, job: Mapping[str, Any]) -> Ready | None:
        """The prepared model and data for ``job`` (once), or None: build afresh (what was
        prepared is dropped)."""
        if self.capturing:
            return None
        ready, self.ready = self.ready, None
        return ready if ready is not None and job_key(job) == self.key else None

    def keep(self, model: Any, dataset: Any, prepared: Any, fit_kwargs: Mapping[str, Any],
             shuffle: bool) -> bool:
        """While preparing: trace the model's steps on ``fit_kwargs`` (its first batch and the
        validation pass), put every state back, keep the model and data; True (the job ends
        here). False when this job is the real one."""
        if not self.capturing:
            return False
        self.capturing = False
        trace_steps(model, fit_kwargs, shuffle)
        prepared.notes = _Notes(prepared.notes)
        self.ready = Ready(model, dataset, prepared)
        return True


def trace_steps(model: Any, fit_kwargs: Mapping[str, Any], shuffle: bool) -> None:
    """``model.fit`` for one batch (and its validation pass), so that Keras traces and
    compiles its train and test functions on inputs of the job's own kind; then the weights,
    the optimizer's variables (built first, as ``fit`` builds them) and the random
    generators are as they were: the next ``fit`` starts as a cold one would, without the
    tracing."""
    import keras

    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list({id(v): v for v in [*model.variables, *(
        optimizer.variables if optimizer is not None else [])]}.values())
    values = [keras.ops.convert_to_numpy(v.value) for v in variables]
    state = random_state()

    class FirstBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.model.stop_training = True

    try:
        model.fit(**fit_kwargs, epochs=1, shuffle=shuffle, verbose=0, callbacks=[FirstBatch()])
    finally:
        for variable, value in zip(variables, values):
            variable.assign(value)
        set_random_state(state)


def random_state() -> tuple[Any, ...]:
    """Python's, numpy's and TensorFlow's eager op-seed generators' states."""
    import numpy as np

    return random.getstate(), np.random.get_state(), _tf_seeds()


def set_random_state(state: tuple[Any, ...]) -> None:
    import numpy as np

    random.setstate(state[0])
    np.random.set_state(state[1])
    seeds = _tf_seeds_generator()
    if seeds is not None and state[2] is not None:
        seeds.setstate(state[2])


def _tf_seeds_generator() -> Any:
    """The generator TensorFlow draws op seeds from in eager mode once a global seed is set
    (None where this TensorFlow has none)."""
    try:
        from tensorflow.python.eager import context
    except ImportError:
        return None
    rng = getattr(context.context(), "_rng", None)
    return rng if isinstance(rng, random.Random) else None


def _tf_seeds() -> Any:
    seeds = _tf_seeds_generator()
    return None if seeds is None else seeds.getstate()
