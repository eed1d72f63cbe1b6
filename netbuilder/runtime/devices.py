"""Which devices a training job runs on: ``--devices auto|all|gpu:0,1|cpu:N``.

``parse_devices`` reads the text (no TensorFlow: the command line and the settings check it at
once); ``place`` runs in the worker, after TensorFlow is imported and before it creates any
tensor, and returns a ``Placement``: ``tf.distribute.MirroredStrategy`` over the chosen devices
when there are several, TensorFlow's default strategy on one.

* ``auto`` (the default): every GPU when there are several, else the one GPU, else the CPU;
* ``all``: every GPU (the CPU when there is none, with a note);
* ``gpu:0,1``: those GPUs (the others are hidden from TensorFlow);
* ``cpu:N``: the CPU split into N logical devices (``tf.config.set_logical_device_configuration``),
  so the multi-device path runs, and is tested, on machines without a GPU.

The batch size of the settings is the **global** batch, as ``model.fit(batch_size=...)`` takes it
under a strategy: each step trains on that many samples, split among the replicas. The number of
steps per epoch, the learning rate and the results are the same on one device and on several.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

DEVICE_CHOICES = "auto, all, gpu:0,1 (a list of GPU numbers) or cpu:N (N logical CPU devices)"


class DeviceError(ValueError):
    """Devices that cannot be used; ``str(err)`` is one line for the user."""


@dataclass(frozen=True)
class DeviceRequest:
    """What ``--devices`` asked for: ``kind`` auto, all, gpu (``gpus``) or cpu (``cpus``)."""

    kind: str
    gpus: tuple[int, ...] = ()
    cpus: int = 1

    @property
    def text(self) -> str:
        if self.kind == "gpu":
            return "gpu:" + ",".join(str(i) for i in self.gpus)
        if self.kind == "cpu":
            return f"cpu:{self.cpus}"
        return self.kind


def parse_devices(text: Any) -> DeviceRequest:
    """The request in ``text`` (``auto``, ``all``, ``gpu:0,1``, ``cpu:2``); ``DeviceError``
    naming the problem and the accepted forms otherwise."""
    if not isinstance(text, str):
        raise DeviceError(f"devices must be {DEVICE_CHOICES}; found {text!r}")
    value = text.strip().lower()
    if value in ("auto", "all"):
        return DeviceRequest(value)
    kind, sep, rest = value.partition(":")
    if sep and kind == "cpu":
        if not rest.strip().isdigit():
            raise DeviceError(f"devices {text!r}: cpu:N needs a number of devices, e.g. cpu:2")
        count = int(rest)
        if count < 1:
            raise DeviceError(f"devices {text!r}: cpu:N needs at least one device, e.g. cpu:1 "
                              "or cpu:2")
        return DeviceRequest("cpu", cpus=count)
    if sep and kind == "gpu":
        parts = [p.strip() for p in rest.split(",")]
        if not parts or not all(p.isdigit() for p in parts):
            raise DeviceError(f"devices {text!r}: gpu: needs GPU numbers, e.g. gpu:0 or gpu:0,1")
        ids = tuple(int(p) for p in parts)
        if len(set(ids)) != len(ids):
            raise DeviceError(f"devices {text!r} names a GPU twice")
        return DeviceRequest("gpu", gpus=ids)
    raise DeviceError(f"devices must be {DEVICE_CHOICES}; found {text!r}")


@dataclass
class Placement:
    """Where a job trains: ``strategy`` (None: TensorFlow's default, one device), the device
    names, and a note for the user when the request was adjusted."""

    request: DeviceRequest
    devices: list[str]
    strategy: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def replicas(self) -> int:
        return len(self.devices) if self.strategy is not None else 1

    @property
    def strategy_name(self) -> str:
        return type(self.strategy).__name__ if self.strategy is not None else "default"

    def scope(self) -> Any:
        """The strategy's scope (build and compile the model in it), or a null context."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def check_batch(self, batch_size: int) -> None:
        """``DeviceError`` when the global batch cannot give every replica a sample."""
        if batch_size < self.replicas:
            raise DeviceError(
                f"batch size {batch_size} is smaller than the {self.replicas} devices it is "
                f"split among: use --batch-size {self.replicas} or more, or fewer devices")

    def describe(self, batch_size: int) -> str:
        """'on 2 devices (MirroredStrategy), global batch 64 (32 per device)'."""
        if self.strategy is None:
            return f"on 1 device ({_short(self.devices[0])}), batch {batch_size}"
        per, extra = divmod(batch_size, self.replicas)
        each = f"{per} per device" if not extra else f"{per}-{per + 1} per device"
        return (f"on {self.replicas} devices ({self.strategy_name}), global batch {batch_size} "
                f"({each})")

    def record(self, batch_size: int) -> dict[str, Any]:
        """What ``run.json`` keeps of the placement."""
        return {"requested": self.request.text, "strategy": self.strategy_name,
                "replicas": self.replicas, "devices": list(self.devices),
                "global_batch": batch_size}


def _short(name: str) -> str:
    """'/job:localhost/replica:0/task:0/device:GPU:1' -> 'GPU:1'."""
    return name.rsplit("device:", 1)[-1]


def _gpu_list(count: int) -> str:
    if not count:
        return "this machine has no GPU that TensorFlow can use"
    names = ", ".join(f"gpu:{i}" for i in range(count))
    return f"this machine has {count} GPU{'s' if count != 1 else ''} ({names})"


def place(request: DeviceRequest) -> Placement:
    """Configure TensorFlow for ``request`` and return the placement. Must run before
    TensorFlow creates its first tensor (the logical CPU split and the visible GPUs are fixed
    then); ``DeviceError`` for devices this machine lacks."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    notes: list[str] = []
    try:
        if request.kind == "cpu":
            if gpus:
                tf.config.set_visible_devices([], "GPU")
            cpu = tf.config.list_physical_devices("CPU")[0]
            configured = tf.config.get_logical_device_configuration(cpu)
            if (len(configured) if configured else 1) != request.cpus:   # a second job: as set
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(request.cpus)])
            names = [d.name for d in tf.config.list_logical_devices("CPU")]
        else:
            chosen = list(gpus)
            if request.kind == "gpu":
                missing = [i for i in request.gpus if i >= len(gpus)]
                if missing:
                    raise DeviceError(f"devices {request.text}: there is no gpu:{missing[0]}; "
                                      f"{_gpu_list(len(gpus))} (use --devices auto"
                                      f"{' or cpu:N' if not gpus else ''})")
                chosen = [gpus[i] for i in request.gpus]
                tf.config.set_visible_devices(chosen, "GPU")
            elif request.kind == "all" and not gpus:
                notes.append("no GPU found: training on the CPU")
            kind = "GPU" if chosen else "CPU"
            names = [d.name for d in tf.config.list_logical_devices(kind)]
    except RuntimeError as err:      # TensorFlow initialised its devices before this call
        raise DeviceError(f"devices {request.text}: the devices are set before TensorFlow "
                          f"starts, and it has started already ({err})") from None
    if len(names) > 1:
        key = tuple(names)
        if key not in _STRATEGIES:
            _STRATEGIES[key] = tf.distribute.MirroredStrategy(names)
        return Placement(request, names, _STRATEGIES[key], notes)
    return Placement(request, names, None, notes)


# one strategy per set of devices and process: a second MirroredStrategy over the same devices
# numbers its collective operations from the start again, and they clash with the first one's
# ("Shape mismatch in the collective instance") when a process runs a second job
_STRATEGIES: dict[tuple[str, ...], Any] = {}
