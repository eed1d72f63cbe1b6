"""Hyperparameter search with Optuna: every trial sets its values on a copy of the project
(``core.search_space``), trains it with the training engine (``training/engine.py``) and is kept
as a run folder (``run.json``, ``history.json``, ``model.keras``…, plus ``trial.json``).

Optuna does the rest: its samplers (TPE by default, random, grid, Gaussian process), its pruners
(median, Hyperband: each epoch's objective goes to ``trial.report`` and ``trial.should_prune``
stops the trial after that epoch) and its storages (an SQLite file, a database URL, or
``journal:PATH``, a journal file on a shared disk): processes given the same storage and study
name share one study, each running its own trials.

    search = Search(project, space_for(project, [parse_dimension("dense.units=16..128")]),
                    SearchConfig(data={"source": "digits"}, trials=6, out_dir=Path("out")))
    for outcome in search.run():        # one TrialOutcome per trial as it ends
        ...

A graph that a trial's values make invalid fails that trial with the inference error, without
TensorFlow; a trial whose training fails (out of memory, NaN, a crash) fails with the reason, and
the search goes on. ``isolate=True`` trains each trial in its own worker process (a crash or the
system's out-of-memory killer then takes only that trial); the default trains in this process,
which imports TensorFlow once for all the trials.

Parallel trials are parallel processes on one study (Optuna's way): ``share_trials`` splits the
trials among them, and on a machine with several GPUs ``worker_gpus`` gives worker k the GPU
k mod count, which ``gpu_environment`` turns into its ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import os
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from netbuilder.core import project as proj
from netbuilder.core.atomic_write import write_text_atomically
from netbuilder.core.search_space import (
    PROJECT_KEY,
    TRAINING,
    Dimension,
    SearchError,
    TrainingRules,
    apply_values,
    check_space,
    dimensions_from_plain,
    graph_problem,
    grid,
    merge,
)
from netbuilder.runtime.devices import DeviceError, parse_devices
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings, load_settings

SAMPLERS = ("tpe", "random", "grid", "gp")
PRUNERS = ("none", "median", "hyperband")
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
          "WAITING": "waiting"}
TRIALS_FOLDER = "trials"
TRIAL_FILE = "trial.json"
STUDY_FILE = "study.db"
MINIMIZED_WORDS = ("loss", "error", "mae", "mse", "rmse", "mape", "msle", "hinge", "crossentropy")

__all__ = ["MINIMIZED_WORDS", "PROJECT_KEY", "PRUNERS", "SAMPLERS", "Search", "SearchConfig",
           "SearchError", "TrialOutcome", "default_direction", "detected_gpus", "gpu_environment",
           "open_storage", "search_gpus", "share_trials", "space_for", "training_rules",
           "trials_csv", "worker_gpus"]


# --- the space -------------------------------------------------------------------------------


def _setting_kind(annotation: Any) -> str | None:
    text = str(annotation)
    for kind in ("bool", "int", "float", "str"):
        if text.split("|")[0].strip() == kind:
            return kind
    return None


def training_rules() -> TrainingRules:
    """What each training setting allows, for ``core.search_space.check_space``."""
    kinds = {f.name: k for f in fields(TrainingSettings)
             if (k := _setting_kind(f.type)) is not None}

    def check(name: str, value: Any) -> str | None:
        try:
            TrainingSettings.from_dict({name: value})
        except SettingsError as err:
            return str(err)
        except TypeError:
            return f"{name} cannot be {value!r}"
        return None

    return TrainingRules(kinds, check)


def space_for(project: Any, extra: Sequence[Dimension] = ()) -> list[Dimension]:
    """The project's search marks with ``extra`` (e.g. ``--space``) over them, checked against
    its graph and the training settings. Raises ``SearchError`` (nothing to search included)."""
    marked = dimensions_from_plain(getattr(project, "search", None) or {})
    return check_space(merge(marked, extra), project.graph, training_rules())


def default_direction(objective: str) -> str:
    """minimize for losses and errors, maximize for the rest (accuracy, AUC…)."""
    name = objective.lower().removeprefix("val_")
    return "minimize" if any(word in name for word in MINIMIZED_WORDS) else "maximize"


# --- Optuna ----------------------------------------------------------------------------------


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)   # our own lines say what happens
    return optuna


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url``: a database URL (``sqlite:///study.db``,
    ``postgresql://…``, ``mysql://…``) or ``journal:PATH`` (a journal file, e.g. on a shared
    disk). Raises ``SearchError`` when it cannot be opened."""
    optuna = _optuna()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")           # Optuna's ExperimentalWarning
            if url.startswith("journal:"):
                from optuna.storages.journal import JournalFileBackend, JournalStorage

                path = Path(url.removeprefix("journal:").removeprefix("//"))
                if not path.parent.is_dir():
                    raise SearchError(f"cannot open the storage {url}: no folder {path.parent}")
                return JournalStorage(JournalFileBackend(str(path)))
            return _rdb_storage(optuna, url)
    except SearchError:
        raise
    except Exception as err:  # noqa: BLE001 - a driver, a URL or a server refusing
        driver = _missing_module(err)
        if driver is not None:
            raise SearchError(
                f"cannot open the storage {url}: its database driver, the Python module "
                f"{driver}, is not installed; install it with: pip install "
                f"{DRIVER_PACKAGES.get(driver, driver)}") from None
        raise SearchError(f"cannot open the storage {url}: {_first_line(err)} (give an Optuna "
                          "storage URL such as sqlite:///study.db, postgresql://user@host/db or "
                          "journal:PATH)") from None


DRIVER_PACKAGES = {"psycopg2": "psycopg2-binary", "psycopg": "'psycopg[binary]'",
                   "MySQLdb": "mysqlclient", "pymysql": "PyMySQL"}
"""The package on PyPI that gives a database driver's module, where the names differ (the
module's own name otherwise)."""


def _missing_module(err: BaseException) -> str | None:
    """The top-level module whose absence caused ``err`` (SQLAlchemy's dialect importing its
    driver, reported by Optuna as "Failed to import DB access module"), or None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, ModuleNotFoundError) and err.name:
            return err.name.split(".")[0]
        err = err.__cause__ or err.__context__
    return None


_CREATION_RACE = ("already exists", "UNIQUE constraint failed", "database is locked")


def _rdb_storage(optuna: Any, url: str, attempts: int = 5) -> Any:
    """Optuna's RDBStorage for ``url``. Processes opening one new database at the same moment
    race to make its tables (the loser sees "table studies already exists"); the tables are
    there when it tries again."""
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=None)
        except Exception as err:
            if attempt == attempts - 1 or not any(w in str(err) for w in _CREATION_RACE):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _sampler(name: str, dims: Sequence[Dimension], seed: int | None) -> Any:
    optuna = _optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            return optuna.samplers.GridSampler(grid(dims), seed=seed)
        if name == "gp":
            if importlib.util.find_spec("torch") is None:
                raise SearchError("the gp sampler needs PyTorch (Optuna's GPSampler uses it): "
                                  "pip install torch, or use the tpe sampler")
            return optuna.samplers.GPSampler(seed=seed)
    raise SearchError(f"unknown sampler {name!r}: use one of {', '.join(SAMPLERS)}")


def _pruner(name: str | None) -> Any:
    optuna = _optuna()
    if name in (None, "none"):
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    raise SearchError(f"unknown pruner {name!r}: use one of {', '.join(PRUNERS)}")


def _suggest(trial: Any, dim: Dimension) -> Any:
    if dim.kind == "categorical":
        return trial.suggest_categorical(dim.path, list(dim.choices))
    if dim.kind == "int":
        return trial.suggest_int(dim.path, int(dim.low), int(dim.high), step=int(dim.step or 1),
                                 log=dim.log)
    return trial.suggest_float(dim.path, float(dim.low), float(dim.high), step=dim.step,
                               log=dim.log)


# --- one search ------------------------------------------------------------------------------


@dataclass
class SearchConfig:
    data: dict[str, Any]                  # {"source": "digits", "options": {...}}
    out_dir: Path
    trials: int | None = None             # trials this process runs (None: until timeout)
    timeout: float | None = None          # seconds after which no trial starts
    epochs: int | None = None             # epochs per trial (None: the project's)
    objective: str = "val_loss"
    direction: str | None = None          # None: default_direction(objective)
    sampler: str = "tpe"
    pruner: str | None = None             # None/"none", "median", "hyperband"
    storage: str | None = None            # None: sqlite in out_dir
    study: str | None = None              # None: the project's name
    seed: int | None = None
    isolate: bool = False                 # each trial in its own worker process
    settings: dict[str, Any] = field(default_factory=dict)   # over the project's training
    runs_dir: Path | None = None          # trials' run folders here, <time>_trial-NNN (the
                                          # editor's runs folder), instead of out_dir/trials/NNN


@dataclass
class TrialOutcome:
    number: int
    state: str                            # complete, pruned, failed
    params: dict[str, Any]
    value: float | None = None
    reason: str | None = None
    duration_s: float = 0.0
    output_dir: str | None = None
    epochs_run: int = 0


class _TrialStopped(Exception):
    pass


class _TrialFailed(Exception):
    pass


class Search:
    """One process's part of a study: ``run()`` yields each trial's outcome as it ends."""

    def __init__(self, project: Any, dims: Sequence[Dimension], config: SearchConfig, *,
                 on_begin: Callable[[int, dict[str, Any]], None] | None = None,
                 on_epoch: Callable[[int, dict[str, Any]], None] | None = None) -> None:
        """``on_begin(number, params)`` as a trial starts; ``on_epoch(number, event)`` after
        each of its epochs (the training engine's ``epoch`` event: epoch, epochs, logs)."""
        if config.trials is None and config.timeout is None and config.sampler != "grid":
            raise SearchError("give a number of trials or a time budget (--trials N or "
                              "--timeout SECONDS)")
        if config.trials is not None and config.trials < 1:
            raise SearchError(f"--trials must be at least 1, found {config.trials}")
        if config.epochs is not None and config.epochs < 1:
            raise SearchError(f"--epochs must be at least 1, found {config.epochs}")
        if config.timeout is not None and not config.timeout > 0:
            raise SearchError(f"--timeout must be a number of seconds above 0, found "
                              f"{config.timeout}")
        direction = config.direction or default_direction(config.objective)
        if direction not in ("minimize", "maximize"):
            raise SearchError(f"--direction must be minimize or maximize, found {direction!r}")
        self.project = project
        self.dims = list(dims)
        self.config = config
        self.direction = direction
        self.on_begin = on_begin
        self.on_epoch = on_epoch
        self._stop = threading.Event()
        self._trial_stop: threading.Event | None = None
        self.study: Any = None
        self.sampler = _sampler(config.sampler, self.dims, config.seed)
        self.pruner = _pruner(config.pruner)
        self.base_settings = dict(config.settings)
        if config.epochs is not None:
            self.base_settings["epochs"] = config.epochs
        try:
            load_settings(project).updated(self.base_settings)
        except SettingsError as err:
            raise SearchError(str(err)) from None
        self.storage = open_storage(config.storage) if config.storage else None

    # -- the study --------------------------------------------------------------------------

    def open(self) -> Any:
        """Create the output folder and open (or join) the study."""
        if self.study is not None:
            return self.study
        optuna = _optuna()
        out = self.config.out_dir
        try:
            (out / TRIALS_FOLDER).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SearchError(f"cannot create the output folder {out}: "
                              f"{err.strerror or err}") from None
        storage = self.storage or open_storage(f"sqlite:///{(out / STUDY_FILE).resolve()}")
        name = self.config.study or self.project.name or "netbuilder"
        try:
            self.study = optuna.create_study(storage=storage, sampler=self.sampler,
                                             pruner=self.pruner, study_name=name,
                                             direction=self.direction, load_if_exists=True)
        except Exception as err:  # noqa: BLE001 - a storage refusing, a direction mismatch
            raise SearchError(f"cannot open the study {name!r}: {_first_line(err)}") from None
        existing = self.study.direction.name.lower()
        if existing != self.direction:
            raise SearchError(f"the study {name!r} in this storage is to {existing} its "
                              f"objective; give --direction {existing} or another --study")
        if "objective" not in self.study.user_attrs:    # what the editor shows it by
            self.study.set_user_attr("objective", self.config.objective)
        return self.study

    def stop(self) -> None:
        """Start no more trials and stop the running one after its current batch."""
        self._stop.set()
        if self._trial_stop is not None:
            self._trial_stop.set()

    def run(self) -> Iterator[TrialOutcome]:
        study = self.open()
        deadline = (time.monotonic() + self.config.timeout
                    if self.config.timeout is not None else None)
        done = 0
        while not self._stop.is_set():
            if self.config.trials is not None and done >= self.config.trials:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if self.config.sampler == "grid" and self.sampler.is_exhausted(study):
                break
            outcome = self._one_trial(study)
            done += 1
            self._write_results()
            yield outcome
            if outcome.reason and outcome.reason.startswith("no metric"):
                raise SearchError(outcome.reason)

    # -- one trial --------------------------------------------------------------------------

    def _one_trial(self, study: Any) -> TrialOutcome:
        """Run one trial through ``study.optimize`` (samplers such as the grid one stop the
        study from inside its loop, which ask-and-tell does not allow)."""
        optuna = _optuna()
        outcomes: list[TrialOutcome] = []

        def objective(trial: Any) -> float:
            outcome = self._run_trial(trial)
            outcomes.append(outcome)
            if outcome.state == "complete":
                assert outcome.value is not None
                return outcome.value
            if outcome.state == "pruned":
                raise optuna.TrialPruned()
            raise _TrialFailed(outcome.reason)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study.optimize(objective, n_trials=1, catch=(_TrialFailed,))
        return outcomes[0]

    def trial_dir(self, number: int) -> Path:
        if self.config.runs_dir is not None:
            stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
            return self.config.runs_dir / f"{stamp}_trial-{number:03d}"
        return self.config.out_dir / TRIALS_FOLDER / f"{number:03d}"

    def _run_trial(self, trial: Any) -> TrialOutcome:
        started = time.monotonic()
        params: dict[str, Any] = {}
        outcome = TrialOutcome(trial.number, "failed", params)
        try:
            for dim in self.dims:
                params[dim.path] = _suggest(trial, dim)
            if self.on_begin is not None:
                self.on_begin(trial.number, dict(params))
            copy = self.trial_project(params)
            outcome.output_dir = str(self.trial_dir(trial.number))
            self._train(trial, copy, outcome)
        except SearchError as err:
            outcome.state, outcome.reason = "failed", str(err)
        except _TrialStopped:
            outcome.state, outcome.reason = "failed", "stopped before it finished"
        except Exception as err:  # noqa: BLE001 - whatever breaks one trial, the study goes on
            outcome.state, outcome.reason = "failed", f"{type(err).__name__}: {_first_line(err)}"
        outcome.duration_s = round(time.monotonic() - started, 3)
        if outcome.reason:
            trial.set_user_attr("fail_reason", outcome.reason)
        if outcome.output_dir:
            trial.set_user_attr("output_dir", outcome.output_dir)
        if outcome.output_dir and Path(outcome.output_dir).is_dir():
            record = {"number": outcome.number, "state": outcome.state, "params": params,
                      "objective": self.config.objective, "direction": self.direction,
                      "value": outcome.value, "reason": outcome.reason,
                      "duration_s": outcome.duration_s, "epochs_run": outcome.epochs_run,
                      "study": self.study.study_name}
            write_text_atomically(Path(outcome.output_dir) / TRIAL_FILE,
                                  json.dumps(record, indent=2) + "\n")
        return outcome

    def trial_project(self, values: Mapping[str, Any]) -> Any:
        """A copy of the project with ``values`` set; ``SearchError`` when a layer refuses a
        value, the graph is no longer a model (by inference, without TensorFlow) or the
        training settings refuse a value."""
        copy = proj.loads(proj.dumps(self.project), "<trial>")
        apply_values(copy.graph, copy.settings, values)
        problem = graph_problem(copy.graph)
        if problem:
            raise SearchError(f"the graph is invalid with these values: {problem}")
        try:
            load_settings(copy).updated(self.settings_for(values))
        except SettingsError as err:
            raise SearchError(str(err)) from None
        return copy

    def settings_for(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The settings a trial trains with over its project's: the search's own (epochs per
        trial…) less those the trial's ``values`` set (a searched ``training.epochs`` wins)."""
        return {k: v for k, v in self.base_settings.items() if f"{TRAINING}.{k}" not in values}

    def _train(self, trial: Any, project: Any, outcome: TrialOutcome) -> None:
        out_dir = Path(outcome.output_dir or ".")
        job = {"project": proj.project_to_dict(project), "data": self.config.data,
               "settings": self.settings_for(outcome.params),
               "output_dir": str(out_dir.resolve()),
               "batch_interval": 3600.0}
        stop = threading.Event()
        self._trial_stop = stop
        if self._stop.is_set():
            stop.set()
        objective = self.config.objective
        reported: list[float] = []
        final: dict[str, Any] = {}

        def on_event(event: dict[str, Any]) -> None:
            kind = event.get("event")
            if kind == "epoch":
                if self.on_epoch is not None:
                    self.on_epoch(trial.number, event)
                value = (event.get("logs") or {}).get(objective)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    reported.append(float(value))
                    trial.report(float(value), step=int(event.get("epoch", len(reported))))
                    if trial.should_prune():
                        outcome.state = "pruned"
                        stop.set()
            elif kind in ("finished", "error"):
                final.update(event)

        try:
            if self.config.isolate:
                _train_in_worker(job, on_event, stop)
            else:
                _train_here(job, on_event, stop)
        finally:
            self._trial_stop = None
        if final.get("event") != "finished":
            outcome.state = "failed"
            outcome.reason = final.get("message") or "training ended without a result"
            return
        history = final.get("history") or {}
        outcome.epochs_run = int(final.get("epochs_run") or 0)
        if outcome.state == "pruned":
            outcome.value = reported[-1] if reported else None
            return
        if self._stop.is_set() and final.get("reason") == "stopped":
            raise _TrialStopped
        series = [v for v in history.get(objective) or [] if v is not None]
        if objective not in history:
            outcome.reason = (f"no metric {objective!r} in the training history (it has "
                              f"{', '.join(history) or 'nothing'}); choose --objective from "
                              "those")
            return
        if not series:
            outcome.reason = f"{objective} was never a finite number"
            return
        outcome.state, outcome.value = "complete", float(series[-1])

    # -- results ----------------------------------------------------------------------------

    def _write_results(self) -> None:
        out = self.config.out_dir
        write_text_atomically(out / "trials.csv", trials_csv(self.study, self.dims))
        best = self.best_project()
        if best is not None:
            proj.save(best, out / "best.nbproj")

    def best_trial(self) -> Any:
        try:
            return self.study.best_trial
        except ValueError:
            return None

    def best_project(self) -> Any:
        """The project with the best trial's values (None before a trial completes)."""
        best = self.best_trial()
        if best is None:
            return None
        values = {d.path: best.params[d.path] for d in self.dims if d.path in best.params}
        try:
            return self.trial_project(values)
        except SearchError:
            return None


def trials_csv(study: Any, dims: Sequence[Dimension]) -> str:
    """One row per trial of the study: number, state, objective, each parameter, duration and
    the reason of a failed trial."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    paths = [d.path for d in dims]
    writer.writerow(["number", "state", "objective", *paths, "duration_s", "reason"])
    for t in study.get_trials(deepcopy=False):
        value = t.value if t.values else None
        duration = t.duration.total_seconds() if t.duration is not None else None
        writer.writerow([t.number, STATES.get(t.state.name, t.state.name.lower()),
                         "" if value is None else repr(float(value)),
                         *["" if p not in t.params else t.params[p] for p in paths],
                         "" if duration is None else round(duration, 3),
                         t.user_attrs.get("fail_reason", "") if t.state.name == "FAIL" else ""])
    return buffer.getvalue()


# --- parallel trials ---------------------------------------------------------------------------


def share_trials(trials: int, workers: int) -> list[int]:
    """How many of ``trials`` each of ``workers`` parallel processes runs (the first ones get
    one more when they do not divide); workers left with none are not started."""
    workers = max(1, min(workers, trials))
    each, extra = divmod(trials, workers)
    return [each + (1 if k < extra else 0) for k in range(workers)]


def detected_gpus(env: Mapping[str, str] | None = None,
                  lister: Callable[[], str | None] | None = None) -> list[int]:
    """The GPU numbers TensorFlow would see, found without starting it: the entries of
    ``CUDA_VISIBLE_DEVICES`` when it is set, else the lines of ``nvidia-smi -L``; none when
    neither says."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [e for e in (p.strip() for p in visible.split(",")) if e]
        if entries and entries[0].lstrip("-").isdigit() and int(entries[0]) < 0:
            return []                              # "-1" hides every GPU
        return list(range(len(entries)))
    listing = (lister or _nvidia_smi_list)()
    if not listing:
        return []
    return list(range(sum(1 for line in listing.splitlines() if line.startswith("GPU "))))


def _nvidia_smi_list() -> str | None:
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    try:
        done = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=5,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def search_gpus(devices: str | None, found: Callable[[], list[int]] = detected_gpus) -> list[int]:
    """The GPUs a search's parallel workers take turns on, for the project's ``devices``
    setting: the GPUs it names (``gpu:0,1``), none for ``cpu:N``, else every GPU ``found``."""
    try:
        request = parse_devices(devices or "auto")
    except DeviceError:
        return found()
    if request.kind == "gpu":
        return list(request.gpus)
    return [] if request.kind == "cpu" else found()


def worker_gpus(workers: int, gpus: Sequence[int]) -> list[int | None]:
    """The GPU of each of ``workers`` parallel search processes: worker k on ``gpus[k mod
    count]`` when there are several GPUs and several workers; None (the devices setting
    decides, as for one training) otherwise."""
    if workers < 2 or len(gpus) < 2:
        return [None] * max(workers, 0)
    return [gpus[k % len(gpus)] for k in range(workers)]


def gpu_environment(gpu: int | None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables that put a worker on GPU ``gpu`` (TensorFlow's number, as
    ``--devices gpu:K`` has it): ``CUDA_VISIBLE_DEVICES`` naming that one card, mapped through
    the ``CUDA_VISIBLE_DEVICES`` the editor itself was given, if any. Empty for None."""
    if gpu is None:
        return {}
    env = os.environ if env is None else env
    visible = [e.strip() for e in (env.get("CUDA_VISIBLE_DEVICES") or "").split(",")
               if e.strip()]
    card = visible[gpu] if gpu < len(visible) else str(gpu)
    return {"CUDA_VISIBLE_DEVICES": card}


# --- training one trial ----------------------------------------------------------------------


def _train_here(job: Mapping[str, Any], emit: Callable[[dict[str, Any]], None],
                stop: threading.Event) -> None:
    from netbuilder.runtime.keras_loader import import_keras_quietly
    from netbuilder.runtime.training.engine import run_job

    import_keras_quietly()
    try:
        run_job(job, emit, stop)
    finally:
        import keras

        keras.backend.clear_session()       # the next trial's model starts from a clean graph


def _train_in_worker(job: Mapping[str, Any], emit: Callable[[dict[str, Any]], None],
                     stop: threading.Event) -> None:
    from netbuilder.runtime.workers.client import TrainingProcess

    with TrainingProcess(job) as process:
        sent = False
        for event in process.events():
            emit(event)
            if stop.is_set() and not sent:
                process.stop()
                sent = True
