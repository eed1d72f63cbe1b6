"""The search worker: ``python -m netbuilder.runtime.workers.search``, the editor's hyperparameter
search (``runtime/search.py``) in its own process, speaking ``workers/protocol.py``.

**stdin**: the first line is the job, one JSON object::

    {"project": {...project file contents...},
     "data": {"source": "digits", "options": {...}},
     "out_dir": "DIR",             # the study (study.db), trials.csv, best.nbproj
     "storage": null,              # or an Optuna storage URL: the study is there instead
     "runs_dir": "DIR",            # each trial's run folder (<time>_trial-NNN): the Runs tab's
     "config": {"trials": 10, "timeout": null, "epochs": 3, "objective": "val_loss",
                "direction": null, "sampler": "tpe", "pruner": "median", "study": "NAME"},
     "gpu": null,                  # a GPU number: this worker trains on that GPU alone
     "saved": {...}}               # optional: the editor's search settings, kept in the study

The editor runs several of these at once on one study for trials in parallel (each with its
share of the trials, and with several GPUs each on its own: ``runtime.search.worker_gpus``).

Afterwards a line ``stop`` starts no more trials and stops the running one after its batch.
A study that exists in ``out_dir`` under that name is resumed (its trials come first).

``saved`` (the Search dialog's settings: objective, direction, trials, epochs, timeout, sampler,
pruner, at_once, study, and ``begun``, the study's finished trials when that search began,
filled in here when missing) is kept in the study as its user attribute ``SAVED_ATTR``, so a
later editor session can show the study and resume it with the same settings.

A job ``{"read": true, "out_dir": "DIR", "config": {"study": "NAME"}}`` only reads the study
in ``out_dir`` (that name, else the newest one there) and answers ``study`` (with
``settings``: the saved settings, ``{}`` for a study made without them), ``importances`` when
there are enough trials, then ``finished`` with reason ``read``; nothing is trained.
``{"read": true, "storage": URL, "config": {"study": "NAME"}}`` reads a study in any Optuna
storage instead (one made by ``netbuilder search --storage URL``, e.g. on several machines):
that name (an error when the storage has no such study), or the newest one when the name is
empty; the storage must exist (a missing SQLite or journal file is an error, never made).
Its ``study`` event also has ``storage`` and ``studies`` (every study name the storage holds).

A search job with ``"storage": URL`` runs its trials on the study in that storage (made there
when missing, as ``netbuilder search --storage`` does); ``out_dir`` then gets only trials.csv
and best.nbproj.

**stdout**: ``status`` (message); ``study`` (name, direction, objective, paths, ``settings``
(the saved settings) and ``trials``: the study's earlier trials, as ``trial`` events have
them); ``trial_begin`` (number, params);
``trial_epoch`` (number, epoch, epochs, logs: after each epoch of a running trial); ``trial``
(number, state complete/pruned/failed, params, value, reason, duration_s, output_dir,
best_number, best_value); ``importances`` (``{path: importance}`` from ``optuna.importance``
once ``IMPORTANCE_MIN`` trials completed); the last line ``finished`` (reason
completed/stopped, ran, best_number, best_value, best_params) or ``error`` (message).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from netbuilder.runtime.workers.protocol import (
    ProtocolError,
    ProtocolWriter,
    end_process,
    parse_line,
)
from netbuilder.runtime.workers.training import _watch_stdin  # the same "stop" lines

IMPORTANCE_MIN = 3
"""Completed trials before parameter importances are computed."""
_CONFIG_KEYS = ("trials", "timeout", "epochs", "objective", "direction", "sampler", "pruner",
                "study", "seed")
SAVED_ATTR = "netbuilder_search"
"""The study's user attribute holding the editor's search settings (the job's ``saved``)."""
SAVED_KEYS = ("objective", "direction", "trials", "epochs", "timeout", "sampler", "pruner",
              "at_once", "study", "begun")


def trial_record(trial: Any) -> dict[str, Any]:
    """A finished Optuna trial as a ``trial`` event has it (for a resumed study's trials)."""
    from netbuilder.runtime.search import STATES

    duration = trial.duration.total_seconds() if trial.duration is not None else 0.0
    return {"number": trial.number, "state": STATES.get(trial.state.name, "failed"),
            "params": dict(trial.params), "value": trial.value if trial.values else None,
            "reason": trial.user_attrs.get("fail_reason"), "duration_s": round(duration, 3),
            "output_dir": trial.user_attrs.get("output_dir")}


def importances(study: Any) -> dict[str, float] | None:
    """Optuna's parameter importances (None with fewer than ``IMPORTANCE_MIN`` complete
    trials, or when they cannot be computed: every trial the same, one value each)."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < IMPORTANCE_MIN:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except Exception:  # noqa: BLE001 - e.g. a space with one value left: nothing to rank
        return None
    return {str(k): float(v) for k, v in found.items()}


def epoch_event(number: int, event: dict[str, Any]) -> dict[str, Any]:
    """The ``trial_epoch`` event for the training engine's ``epoch`` event of trial
    ``number``."""
    return {"event": "trial_epoch", "number": number, "epoch": event.get("epoch"),
            "epochs": event.get("epochs"), "logs": dict(event.get("logs") or {})}


def use_gpu(job: dict[str, Any]) -> str | None:
    """Put this process on the job's ``gpu`` (``CUDA_VISIBLE_DEVICES``, before TensorFlow
    starts); what to tell the user, or None without one."""
    from netbuilder.runtime.search import gpu_environment

    gpu = job.get("gpu")
    if gpu is None:
        return None
    if not isinstance(gpu, int) or isinstance(gpu, bool) or gpu < 0:
        raise ValueError(f"gpu must be a GPU number (0, 1, …), found {gpu!r}")
    os.environ.update(gpu_environment(gpu))
    return f"this worker trains on gpu:{gpu}"


def save_settings(study: Any, saved: dict[str, Any], earlier: int) -> dict[str, Any]:
    """Keep the editor's search settings in ``study`` (``begun``: ``earlier`` when the job
    has none, a new search); what was kept."""
    kept = {k: saved[k] for k in SAVED_KEYS if k in saved}
    kept.setdefault("begun", earlier)
    kept["study"] = study.study_name
    study.set_user_attr(SAVED_ATTR, kept)
    return kept


def saved_settings(study: Any) -> dict[str, Any]:
    """The editor's search settings kept in ``study`` ({} for a study made without them)."""
    saved = study.user_attrs.get(SAVED_ATTR)
    return dict(saved) if isinstance(saved, dict) else {}


def finished_trials(study: Any) -> list[dict[str, Any]]:
    return [trial_record(t) for t in study.get_trials(deepcopy=False) if t.state.is_finished()]


def _sqlite_file(url: str) -> Path | None:
    """The file of an ``sqlite:///PATH`` URL (None for an in-memory database)."""
    rest = url[len("sqlite:///"):].split("?", 1)[0]
    return Path(rest) if rest and rest != ":memory:" else None


def existing_storage(url: str) -> Any:
    """The Optuna storage at ``url`` for reading: an SQLite or journal file must already be
    there (Optuna would make an empty one) and be a study file. Raises ``SearchError``."""
    import sqlite3

    from netbuilder.runtime.search import SearchError, open_storage

    url = url.strip()
    if not url:
        raise SearchError("no storage: give an Optuna storage URL such as sqlite:///study.db, "
                          "journal:PATH or postgresql://user@host/db")
    file: Path | None = None
    if url.startswith("sqlite:///"):
        file = _sqlite_file(url)
    elif url.startswith("journal:"):
        file = Path(url.removeprefix("journal:").removeprefix("//"))
    if file is not None and not file.is_file():
        raise SearchError(f"cannot open the storage {url}: there is no file {file}")
    if file is not None and url.startswith("sqlite:"):
        try:
            with sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True) as db:
                tables = {row[0] for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error as err:
            raise SearchError(f"cannot open the storage {url}: {file} is not an SQLite "
                              f"database ({err})") from None
        if "studies" not in tables:
            raise SearchError(f"cannot open the storage {url}: {file} holds no Optuna study")
    elif file is not None and not _journal_like(file):
        raise SearchError(f"cannot open the storage {url}: {file} is not an Optuna journal "
                          "file")
    return open_storage(url)


def _journal_like(file: Path) -> bool:
    """Whether ``file`` begins as an Optuna journal does (a JSON line with an ``op_code``), or
    is empty."""
    try:
        with file.open("rb") as handle:
            first = handle.readline(1 << 16).strip()
        return not first or "op_code" in json.loads(first)
    except (OSError, ValueError, TypeError):
        return False


def _study_names(storage: Any, where: str) -> list[str]:
    import optuna

    from netbuilder.runtime.search import SearchError

    try:
        return list(optuna.study.get_all_study_names(storage))
    except Exception as err:  # noqa: BLE001 - a journal that is not one, a server refusing
        text = str(err).strip().splitlines()
        raise SearchError(f"cannot read the storage {where}: "
                          f"{text[0] if text else type(err).__name__} (is it an Optuna "
                          "study storage?)") from None


def read(job: dict[str, Any], emit: Any) -> int:
    """Answer a ``read`` job: the study in ``out_dir`` (or ``storage``), its trials and saved
    settings."""
    from netbuilder.runtime.search import STUDY_FILE, SearchError, open_storage

    url = job.get("storage") or None
    path: Path | None = None
    try:
        wanted = (job.get("config") or {}).get("study") or None
        if url is not None:
            if not isinstance(url, str):
                raise SearchError(f"the storage must be a URL, found {url!r}")
            where = url
            storage = existing_storage(url)
        else:
            path = Path(job["out_dir"]) / STUDY_FILE
            if not path.is_file():
                raise SearchError(f"no study in {path.parent}")
            where = str(path)
            storage = open_storage(f"sqlite:///{path.resolve()}")   # Optuna, quietened
        import optuna

        names = _study_names(storage, where)
        if not names:
            raise SearchError(f"no study in {where}")
        if url is not None and wanted is not None and wanted not in names:
            raise SearchError(f"no study {wanted!r} in {where}: it has "
                              + ", ".join(repr(n) for n in names))
        name = wanted if wanted in names else names[-1]
        study = optuna.load_study(study_name=name, storage=storage)
    except (SearchError, KeyError, TypeError) as err:
        emit({"event": "error", "message": str(err)})
        return 1
    settings = saved_settings(study)
    trials = finished_trials(study)
    paths: list[str] = []
    for trial in trials:
        paths += [p for p in trial["params"] if p not in paths]
    objective = settings.get("objective") or study.user_attrs.get("objective") or "val_loss"
    emit({"event": "study", "name": study.study_name,
          "direction": study.direction.name.lower(),
          "objective": str(objective), "paths": paths,
          "out_dir": None if path is None else str(path.parent), "storage": url,
          "studies": names, "trials": trials, "settings": settings})
    found = importances(study)
    if found:
        emit({"event": "importances", "importances": found})
    emit({"event": "finished", "reason": "read", "ran": 0})
    return 0


def _best(search: Any) -> dict[str, Any]:
    best = search.best_trial()
    if best is None:
        return {"best_number": None, "best_value": None, "best_params": {}}
    return {"best_number": best.number, "best_value": best.value,
            "best_params": dict(best.params)}


def run(job: dict[str, Any], emit: Any, stop: threading.Event) -> int:
    from netbuilder.core import project as proj
    from netbuilder.runtime.search import Search, SearchConfig, SearchError, space_for

    if job.get("read"):
        return read(job, emit)
    try:
        project = proj.loads(json.dumps(job["project"]), "<editor>")
        config = dict(job.get("config") or {})
        unknown = sorted(set(config) - set(_CONFIG_KEYS))
        if unknown:
            raise SearchError(f"unknown search setting {unknown[0]!r}")
        gpu = job.get("gpu")
        storage = job.get("storage") or None
        if storage is not None and not isinstance(storage, str):
            raise SearchError(f"the storage must be a URL, found {storage!r}")
        search = Search(project, space_for(project), SearchConfig(
            data=dict(job.get("data") or {}), out_dir=Path(job["out_dir"]), storage=storage,
            runs_dir=Path(job["runs_dir"]) if job.get("runs_dir") else None,
            # alone on its GPU (CUDA_VISIBLE_DEVICES, set in main): that one, whatever the
            # project's devices setting names
            settings={"devices": "auto"} if gpu is not None else {}, **config),
            on_begin=lambda n, params: emit({"event": "trial_begin", "number": n,
                                             "params": params}),
            on_epoch=lambda n, event: emit(epoch_event(n, event)))
        emit({"event": "status", "message": "opening the study"})
        study = search.open()
    except (SearchError, proj.ProjectError, KeyError, TypeError) as err:
        emit({"event": "error", "message": str(err)})
        return 1
    earlier = finished_trials(study)
    saved = job.get("saved")
    settings = (save_settings(study, saved, len(earlier)) if isinstance(saved, dict)
                else saved_settings(study))
    emit({"event": "study", "name": study.study_name, "direction": search.direction,
          "objective": search.config.objective, "paths": [d.path for d in search.dims],
          "out_dir": str(search.config.out_dir), "storage": storage, "trials": earlier,
          "settings": settings})
    threading.Thread(target=lambda: (stop.wait(), search.stop()), daemon=True).start()
    ran = 0
    try:
        for outcome in search.run():
            ran += 1
            emit({"event": "trial", "number": outcome.number, "state": outcome.state,
                  "params": outcome.params, "value": outcome.value, "reason": outcome.reason,
                  "duration_s": outcome.duration_s, "output_dir": outcome.output_dir,
                  **_best(search)})
            found = importances(study)
            if found:
                emit({"event": "importances", "importances": found})
    except SearchError as err:
        emit({"event": "error", "message": str(err)})
        return 1
    emit({"event": "finished", "reason": "stopped" if stop.is_set() else "completed",
          "ran": ran, **_best(search)})
    return 0


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    protocol = ProtocolWriter()
    stop = threading.Event()
    protocol.on_broken = stop.set
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    protocol.emit({"event": "status", "message": "search engine started", "pid": os.getpid()})
    line = sys.stdin.readline()
    try:
        job = parse_line(line) if line.strip() else None
    except ProtocolError as err:
        protocol.emit({"event": "error", "message": f"the job is not valid: {err}"})
        return 1
    if job is None:
        protocol.emit({"event": "error",
                       "message": "no job: write one JSON object on the first line of stdin"})
        return 1
    try:
        note = use_gpu(job)
    except ValueError as err:
        protocol.emit({"event": "error", "message": f"the job is not valid: {err}"})
        return 1
    if note:
        protocol.emit({"event": "status", "message": note})
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True, name="stdin-watch").start()
    code = run(job, protocol.emit, stop)
    if protocol.broken:
        os._exit(code)
    return code


if __name__ == "__main__":
    end_process(main())
