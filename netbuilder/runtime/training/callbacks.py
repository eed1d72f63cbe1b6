"""The Keras callbacks of a training job: progress events (batch, epoch, time left, NaN, stop),
the best-model checkpoint written in the background, the latest weights after every epoch, and
the callbacks the settings ask for (schedules, early stopping, CSV and TensorBoard logs)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netbuilder.core.atomic_write import write_atomically
from netbuilder.runtime.messages import first_line
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings

Emit = Callable[[dict[str, Any]], None]


# seconds between two "batch" events (the last batch of an epoch is always sent): at most four
# lines a second. Each one costs the editor a repaint (about 15 ms of CPU measured offscreen),
# CPU that training on a small machine would miss; four a second still move a progress bar
# smoothly. A job may ask for another interval ("batch_interval").
BATCH_INTERVAL = 0.25



def json_safe(value: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become None."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f if math.isfinite(f) else None


def current_learning_rate(model: Any) -> float | None:
    try:
        import keras

        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except Exception:  # noqa: BLE001 - an optimizer without a readable rate
        return None


def _monitor_mode(monitor: str) -> str:
    name = monitor.removeprefix("val_")
    return "max" if any(k in name for k in ("acc", "auc", "precision", "recall")) else "min"


def atomic_save_model(model: Any, path: Path) -> None:
    """Save a ``.keras`` (or ``.weights.h5``) file through a temporary file and a rename, so a
    crash or a kill mid-save leaves the previous file intact."""
    if path.name.endswith(".weights.h5"):
        write_atomically(path, lambda tmp: model.save_weights(str(tmp)), suffix=".weights.h5")
    else:
        write_atomically(path, lambda tmp: model.save(str(tmp)), suffix=".keras")


def _callback_base() -> type:
    import keras

    return keras.callbacks.Callback


def make_progress_callback(emit: Emit, stop: threading.Event, state: dict[str, Any],
                           epochs: int, initial_epoch: int, steps: int,
                           batch_interval: float = BATCH_INTERVAL,
                           terminate_on_nan: bool = False) -> Any:
    """Streams batch (at most one per ``batch_interval`` seconds) and epoch metrics, progress and
    time left; notes NaN losses (and stops training at one with ``terminate_on_nan``); sets
    ``model.stop_training`` once ``stop`` is set.

    It is safe for Keras' asynchronous batch dispatch (``async_safe``): the training loop does
    not wait for it after every batch, as it would for any callback with a batch hook; Keras
    runs its batch hook on a helper thread and waits for the pending ones before each epoch's
    end. (This is also why it watches for NaN itself instead of ``keras.callbacks.
    TerminateOnNaN``, which would make every batch wait.) For a second fit (fine-tuning) call
    ``extend(epochs)``: progress, time left and elapsed time continue."""
    base = _callback_base()

    class Progress(base):  # type: ignore[misc, valid-type]
        async_safe = True

        def __init__(self) -> None:
            super().__init__()
            self.epochs = epochs
            self.total = max(1, (epochs - initial_epoch) * steps)
            self.done = 0
            self.last_emit = -math.inf     # the first batch is always sent
            self.last_batch = (-1, -1)
            self.epoch = initial_epoch
            self.t0: float | None = None
            self.epoch_t0 = 0.0
            self.lock = threading.Lock()

        def extend(self, new_epochs: int) -> None:
            """The run now ends at ``new_epochs`` (the fine-tuning epochs added)."""
            with self.lock:
                self.total = max(1, self.done + (new_epochs - self.epoch - 1) * steps)
                self.epochs = new_epochs

        def on_train_begin(self, logs: Any = None) -> None:
            if self.t0 is None:
                self.t0 = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch
            self.epoch_t0 = time.perf_counter()

        def _elapsed(self, now: float) -> float:
            return now - (self.t0 if self.t0 is not None else now)

        def _eta(self, now: float) -> float | None:
            if not self.done:
                return None
            return self._elapsed(now) * max(0, self.total - self.done) / self.done

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            logs = logs or {}
            loss = logs.get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                if state.get("nan") is None:
                    state["nan"] = {"epoch": self.epoch + 1, "batch": batch + 1}
                if terminate_on_nan:
                    self.model.stop_training = True
            if stop.is_set() and not self.model.stop_training:
                self.model.stop_training = True
                state["stopped"] = True
            with self.lock:
                self.done += 1
                now = time.perf_counter()
                where = (self.epoch, batch)
                if where <= self.last_batch or not (
                        now - self.last_emit >= batch_interval or batch + 1 == steps):
                    return
                self.last_emit = now
                self.last_batch = where
                event = {"event": "batch", "epoch": self.epoch + 1, "epochs": self.epochs,
                         "batch": batch + 1, "steps": steps, "logs": json_safe(dict(logs)),
                         "progress": round(min(1.0, self.done / self.total), 4),
                         "eta_s": _round(self._eta(now)),
                         "elapsed_s": round(self._elapsed(now), 2)}
            emit(event)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if logs is not None and "learning_rate" not in logs:
                lr = current_learning_rate(self.model)
                if lr is not None:
                    logs["learning_rate"] = lr
            now = time.perf_counter()
            state["epochs_done"] = state.get("epochs_done", 0) + 1
            with self.lock:
                self.last_batch = (epoch, steps)
            emit({"event": "epoch", "epoch": epoch + 1, "epochs": self.epochs,
                  "logs": json_safe(dict(logs or {})),
                  "progress": round(min(1.0, self.done / self.total), 4),
                  "eta_s": _round(self._eta(now) if not self.model.stop_training else 0.0),
                  "epoch_s": round(now - self.epoch_t0, 3),
                  "elapsed_s": round(self._elapsed(now), 2)})

    return Progress()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def make_checkpoint_callback(path: Path, monitor: str, emit: Emit,
                             min_interval: float = 10.0) -> Any:
    """Keeps the best model (by ``monitor``) in ``path``, written atomically (a killed worker
    leaves the previous file whole).

    Training does not wait for the disk: at the end of an epoch that improves ``monitor`` the
    weights are copied (a millisecond) and a background thread writes them through a clone of the
    model. It writes at most once every ``min_interval`` seconds (the first best at once); a best
    not yet written when training ends is written then."""
    base = _callback_base()
    mode = _monitor_mode(monitor)

    class BestCheckpoint(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.best: float | None = None
            self.monitor = monitor
            self.shadow: Any = None
            self.thread: threading.Thread | None = None
            self.warned = False
            self.cloneable: bool | None = None
            self.pending: tuple[list[Any] | None, int, float] | None = None
            self.last_write: float | None = None

        def _write(self, weights: list[Any] | None, epoch: int, value: float) -> None:
            import keras

            try:
                if weights is None:
                    model = self.model
                else:
                    if self.shadow is None:
                        self.shadow = keras.models.clone_model(self.model)
                    model = self.shadow
                    model.set_weights(weights)
                atomic_save_model(model, path)
            except Exception as err:  # noqa: BLE001 - report, keep training
                emit({"event": "warning", "message": f"could not write the checkpoint {path}: "
                                                     f"{first_line(err)}"})
                return
            emit({"event": "checkpoint", "epoch": epoch + 1, "path": str(path),
                  "monitor": self.monitor, "value": value})

        def wait(self) -> None:
            if self.thread is not None:
                self.thread.join()
                self.thread = None

        def _flush(self, force: bool = False) -> None:
            if self.pending is None:
                return
            now = time.monotonic()
            if not force and self.last_write is not None and (
                    now - self.last_write < min_interval):
                return
            self.wait()
            weights, epoch, value = self.pending
            self.pending = None
            self.last_write = now
            if weights is None:
                self._write(None, epoch, value)
                return
            self.thread = threading.Thread(target=self._write, args=(weights, epoch, value),
                                           name="checkpoint-writer")
            self.thread.start()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            value = (logs or {}).get(self.monitor)
            if value is None and not self.warned:
                self.warned = True
                emit({"event": "warning", "message":
                      f"the checkpoint watches {self.monitor}, which this model does not report "
                      f"(it reports {', '.join(sorted(logs or {}))}); no checkpoint is written"})
            if value is not None and math.isfinite(float(value)) and (
                    self.best is None or (float(value) < self.best if mode == "min"
                                          else float(value) > self.best)):
                self.best = float(value)
                if self.cloneable is None:
                    self.cloneable = _cloneable(self.model)
                weights = self.model.get_weights() if self.cloneable else None
                if weights is None:
                    self.wait()
                    self.last_write = time.monotonic()
                    self._write(None, epoch, self.best)   # written now, from the model itself
                    return
                self.pending = (weights, epoch, self.best)
            self._flush()

        def on_train_end(self, logs: Any = None) -> None:
            self._flush(force=True)
            self.wait()

    return BestCheckpoint()


def _cloneable(model: Any) -> bool:
    """Whether ``keras.models.clone_model`` rebuilds this model (functional models of built-in
    layers do; a subclassed model would not)."""
    return type(model).__name__ in ("Functional", "Sequential")


def make_callbacks(settings: TrainingSettings, out_dir: Path, emit: Emit,
                   has_validation: bool, notes: list[str]) -> tuple[list[Any], Any]:
    """The Keras callbacks for these settings (after the progress callback); returns them and
    the EarlyStopping callback (or None)."""
    import keras

    def monitored(name: str, what: str) -> str:
        if name.startswith("val_") and not has_validation:
            notes.append(f"{what} watches {name[4:]} (there is no validation data)")
            return name[4:]
        return name

    callbacks: list[Any] = []   # terminate_on_nan: the progress callback does it
    if settings.schedule == "step":
        lr0, factor, every = settings.learning_rate, settings.step_factor, settings.step_epochs
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch: lr0 * factor ** (epoch // every)))
    elif settings.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitored("val_loss", "reduce-on-plateau"), factor=settings.plateau_factor,
            patience=settings.plateau_patience, min_lr=settings.min_learning_rate))
    if settings.checkpoint:
        callbacks.append(make_checkpoint_callback(
            out_dir / "best.keras", monitored(settings.checkpoint_monitor, "the checkpoint"),
            emit))
    early = None
    if settings.early_stopping:
        monitor = monitored(settings.early_stopping_monitor, "early stopping")
        early = keras.callbacks.EarlyStopping(
            monitor=monitor, patience=settings.patience, min_delta=settings.min_delta,
            restore_best_weights=settings.restore_best_weights, mode=_monitor_mode(monitor))
        callbacks.append(early)
    if settings.csv_log:
        callbacks.append(keras.callbacks.CSVLogger(str(out_dir / "training.csv")))
    if settings.tensorboard:
        if not tensorboard_available():
            raise SettingsError("TensorBoard logs need the tensorboard package, which is not "
                                "installed: pip install tensorboard, or turn the logs off")
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out_dir / "tensorboard")))
    return callbacks, early


def make_latest_weights_callback(path: Path, emit: Emit) -> Any:
    """Writes the model's weights to ``path`` (a ``.weights.h5`` file, atomically) at the end of
    every epoch and emits a ``weights`` event, for live inspection of a running training."""
    base = _callback_base()

    class LatestWeights(base):  # type: ignore[misc, valid-type]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            try:
                atomic_save_model(self.model, path)
            except Exception as err:  # noqa: BLE001 - report, keep training
                emit({"event": "warning", "message": f"could not write the latest weights "
                                                     f"{path}: {first_line(err)}"})
                return
            emit({"event": "weights", "path": str(path), "epoch": epoch + 1})

    return LatestWeights()


def tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None
