"""``netbuilder export PROJECT --cluster -o job.py``: a standalone training job for several
processes or machines, on Keras 3's JAX backend with ``keras.distribution`` data parallelism.

Keras 3 does not train under ``tf.distribute.MultiWorkerMirroredStrategy`` (keras-team/keras#20585);
what its maintainers recommend across machines is the JAX backend with ``keras.distribution``.
The job is the project's model code (``core.codegen``), its data loading and training settings
(``training/code.py``), and a main block that

* sets ``KERAS_BACKEND=jax`` and JAX's gloo CPU collectives before Keras is imported;
* joins the others through ``jax.distributed.initialize`` (what ``keras.distribution.initialize``
  calls, here with timeouts): ``--coordinator HOST:PORT --num-processes N --process-id I``, or,
  when they are absent, what JAX finds by itself under SLURM or Open MPI;
* trains under ``keras.distribution.DataParallel`` over every device of every process, each
  process feeding its own equal shard of the data (``auto_shard_dataset=False``);
* with ``fine_tune_from``, goes on with stage 2 in every process at once (the layers unfrozen
  and the model recompiled as ``export --with-training`` code does it, epochs counted on);
* lets only process 0 write checkpoints and the final ``.keras`` model, and ends all processes
  together; a process that cannot reach its peers within ``--timeout`` seconds when joining, or
  that hears nothing from one of them for ``--timeout`` seconds while training (each process
  counts heartbeats in the coordination service's key-value store), says which and exits 1
  before JAX's own heartbeat check would end it with a page of log lines; where JAX aborts at
  once (a process whose coordinator died), a small process carrying the job's stderr puts that
  line before JAX's report.
"""

from __future__ import annotations

import inspect
from typing import Any

from netbuilder.core.graph import Graph
from netbuilder.runtime.training.code import (
    FIT_TO_MODEL,
    MAIN_BLOCK,
    FitData,
    TrainingCodeError,
    _fine_tune_code,
    argument_lines,
    callbacks_code,
    load_data_code,
    loss_code,
    optimizer_code,
    quoted,
    rescales_itself,
)
from netbuilder.runtime.training.fine_tune import find_layer_path, unfreeze_from
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings

BEST = '"best.keras"'

PREAMBLE = '''
import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

os.environ["KERAS_BACKEND"] = "jax"  # before Keras is imported

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")  # collectives between CPUs

import keras  # noqa: E402
import numpy as np  # noqa: E402
'''

JOB_CODE = r'''

def join(args):
    """Join the other processes (keras.distribution.initialize makes this call, without the
    timeouts); without --coordinator JAX finds the cluster itself (SLURM, Open MPI)."""
    where = args.coordinator or "the coordinator found by JAX"
    problem = (
        f"process {args.process_id} of {args.num_processes}: could not join the others at "
        f"{where} within {args.timeout} s (are all of them started, with the same --coordinator?)"
    )

    def give_up():  # JAX itself would abort with a page of log lines a little later
        print(problem, file=sys.stderr, flush=True)
        os._exit(1)

    watchdog = threading.Timer(args.timeout, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
            initialization_timeout=args.timeout + 10,
            heartbeat_timeout_seconds=2 * args.timeout + 10,  # JAX's check comes after Peers'
            shutdown_timeout_seconds=args.timeout,
        )
    except Exception as err:  # noqa: BLE001 - one line for the user, not a traceback
        sys.exit(f"{problem}: {str(err).strip().splitlines()[0] if str(err).strip() else err!r}")
    finally:
        watchdog.cancel()


STDERR_GUARD = r"""
import re
import signal
import sys

signal.signal(signal.SIGINT, signal.SIG_IGN)  # forward to the end, as long as the job writes
signal.signal(signal.SIGTERM, signal.SIG_IGN)
process, processes, coordinator = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
trouble = re.compile(rb"^[EF]\d{4} .*(coordination|client\.h)|JAX distributed service")
held = []
for line in sys.stdin.buffer:
    if held or trouble.search(line):
        held.append(line)  # JAX's report of a lost peer, held back until it ends the job
    else:
        sys.stderr.buffer.write(line)
        sys.stderr.buffer.flush()
report = b"".join(held).decode(errors="replace")
if "JAX distributed service detected fatal errors" in report:
    tasks = re.findall(r"Task (\d+) heartbeat timeout", report)
    found = re.search(r"stopped sending heartbeats\):\s*([\d,\s]+)", report)
    lost = sorted({int(k) for k in tasks + re.findall(r"\d+", found[1] if found else "")})
    lost = [k for k in lost if k != process]
    if lost:
        which = "process" + ("es " if len(lost) > 1 else " ") + ", ".join(map(str, lost))
        which += f" of {processes}"
    elif process:
        which = f"process 0 of {processes} (the coordinator, {coordinator})"
    else:
        which = "the other processes"
    sys.stderr.write(
        f"process {process} of {processes}: lost contact with {which}: it stopped answering "
        "(stopped, crashed or unreachable); stopping without writing the model. "
        "JAX's report follows.\n"
    )
    sys.stderr.flush()
sys.stderr.buffer.write(report.encode())
"""


def guard_stderr(process, processes, coordinator):
    """Pass this process's standard error (JAX's C++ log lines too) through a small process
    that puts our one-line reason before JAX's report when JAX ends the job because a peer went
    away: JAX aborts at once then, before any Python code of ours could speak."""
    guard = subprocess.Popen(
        [sys.executable, "-c", STDERR_GUARD, str(process), str(processes), coordinator],
        stdin=subprocess.PIPE,
    )
    sys.stderr.flush()
    os.dup2(guard.stdin.fileno(), 2)
    guard.stdin.close()


class Peers:
    """Keeps in touch with the other processes while they train. Each process counts its
    heartbeats in the coordination service's key-value store every second and reads the
    others'; one that hears nothing new from a peer (or cannot reach the coordinator) for
    --timeout seconds says which in one line and exits 1, before JAX's own heartbeat check
    (later: see join) would abort it with a page of log lines."""

    def __init__(self, args, process, processes):
        try:  # the coordination client JAX joined with
            from jax._src.distributed import global_state

            self.client = global_state.client
        except (ImportError, AttributeError):  # another JAX: only its own heartbeat check
            self.client = None
        self.process, self.processes, self.timeout = process, processes, args.timeout
        self.coordinator = args.coordinator
        now = time.monotonic()
        self.answered = now  # when the coordinator last answered
        # for each other process: its last count, when it changed, and when it changed before
        self.heard = {k: ("", now, now) for k in range(processes) if k != process}
        self.watching = False

    def start(self):
        if self.client is not None and self.processes > 1:
            for target in (self.beat, self.check):
                threading.Thread(target=target, daemon=True).start()

    def beat(self):
        count = 0
        while True:
            count += 1
            try:
                self.client.key_value_set(f"beats/{self.process}", str(count), True)
                beats = dict(self.client.key_value_dir_get("beats/"))
            except Exception:  # noqa: BLE001 - the coordinator did not answer: check() decides
                time.sleep(1)
                continue
            now = time.monotonic()
            self.answered = now
            for k, (last, when, _) in list(self.heard.items()):
                if beats.get(f"beats/{k}", "") != last:
                    self.heard[k] = (beats.get(f"beats/{k}", ""), now, when)
            time.sleep(1)

    def lost(self):
        """The processes not heard from for --timeout seconds (process 0 when the coordinator,
        which it hosts, does not answer)."""
        now = time.monotonic()
        if now - self.answered > self.timeout:
            return [0]
        return [k for k, (_, when, _) in sorted(self.heard.items()) if now - when > self.timeout]

    def check(self):
        while True:
            time.sleep(1)
            lost = self.lost() if self.watching else []
            if lost:
                which = (
                    f"process {lost[0]}"
                    if len(lost) == 1
                    else "processes " + ", ".join(str(k) for k in lost)
                )
                where = f" (the coordinator, {self.coordinator})" if lost == [0] else ""
                print(
                    f"process {self.process} of {self.processes}: lost contact with {which} of "
                    f"{self.processes}{where}: nothing from it for {self.timeout} s (stopped, "
                    "crashed or unreachable); stopping without writing the model",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(1)

    def heard_since(self, moment):
        """Whether the coordinator and every other process have given signs of life since: two
        new counts from each (one may have been written before, and read only after)."""
        return self.answered > moment and all(
            before > moment for _, _, before in self.heard.values()
        )

    @contextlib.contextmanager
    def watch(self):
        """Watch the others during the block. An error in it waits for a sign of life from
        every other process: a collective whose peer went away fails, and check() then names
        the lost process and exits; errors of another kind go on once the others are heard."""
        self.watching = True
        try:
            yield
        except Exception:
            failed = time.monotonic()
            deadline = failed + self.timeout + 5
            while self.client is not None and self.processes > 1:
                if self.heard_since(failed) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            raise
        finally:
            self.watching = False


def shard(x, y, index, count):
    """This process's equal share of the samples (every process runs the same steps)."""
    size = len(x) // count
    return x[index * size : (index + 1) * size], y[index * size : (index + 1) * size]


class EpochLine(keras.callbacks.Callback):
    """One line per epoch, as netbuilder train prints it (out of ``total`` epochs, else of
    this fit's)."""

    def __init__(self, total=None):
        super().__init__()
        self.total = total

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.start
        values = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
        total = self.total or self.params["epochs"]
        print(f"Epoch {epoch + 1}/{total}  {seconds:.1f}s  {values}", flush=True)


def train(args, process, processes):
    """Train in step with the other processes and save the model; returns Keras' History and
    the folder the model went to."""
@AUGMENT@    keras.utils.set_random_seed(SEED)  # the same initial weights in every process
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    )
    if BATCH_SIZE % processes:
        sys.exit(f"BATCH_SIZE {BATCH_SIZE} must be a multiple of the {processes} processes")
    x, y = load_data()
    model = build_model()
@CHECK_LAYER@    x = fit_to_model(x, model.input_shape[1:])
@PREPROCESS@    held_out = int(len(x) * VALIDATION_SPLIT)
    x_val, y_val = shard(x[len(x) - held_out :], y[len(x) - held_out :], process, processes)
    x, y = shard(x[: len(x) - held_out], y[: len(x) - held_out], process, processes)
@BATCHES@    print(
        f"process {process} of {processes} on {len(devices)} devices (DataParallel), "
        f"global batch {BATCH_SIZE}, {len(x)} samples here",
        flush=True,
    )
@SCHEDULE@    model.compile(
        @OPTIMIZER@
        loss=@LOSS@,
        metrics=@METRICS@,
    )
    epoch_line = EpochLine(@TOTAL@)
    callbacks = [
@CALLBACKS@        epoch_line,
    ]
    # saving gathers the weights from every process, so all of them save; only process 0 into
    # --out, the others into a temporary folder that is removed at the end
    out = args.out if process == 0 else tempfile.mkdtemp(prefix=f"job-process{process}-")
    os.makedirs(out, exist_ok=True)
    best = os.path.join(out, "best.keras")
    callbacks += [
@WRITERS@    ]
    history = model.fit(
@FIT_INPUTS@        epochs=EPOCHS,
@FIT_BATCHES@        callbacks=callbacks,
        verbose=0,
    )
@FINE_TUNE@    model.save(os.path.join(out, "model.keras"))
    return history, out


def main():
    parser = argparse.ArgumentParser(description="Train the model on several processes.")
    parser.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
    parser.add_argument("--num-processes", type=int, metavar="N")
    parser.add_argument("--process-id", type=int, metavar="I")
    parser.add_argument("--out", default=".", help="where process 0 writes the model")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds to wait for peers")
    args = parser.parse_args()
    join(args)
    process, processes = jax.process_index(), jax.process_count()
    guard_stderr(process, processes, args.coordinator or "found by JAX")
    peers = Peers(args, process, processes)
    peers.start()
    with peers.watch():  # until every process has saved the model
        history, out = train(args, process, processes)
    if process == 0:
        with open(os.path.join(out, "history.json"), "w") as f:
            json.dump(history.history, f, indent=2)
        print(f"Wrote {os.path.join(out, 'model.keras')}", flush=True)
    else:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
'''


def _into_out(callback: str) -> str:
    """A callback that writes files, writing them into the process's ``out`` folder."""
    for name in ('"training.csv"', '"tensorboard"'):
        callback = callback.replace(name, f"os.path.join(out, {name})")
    return callback.replace(BEST, "best")


CHECK_LAYER = """    if find_layer_path(model, FINE_TUNE_FROM) is None:
        sys.exit(f"FINE_TUNE_FROM names the layer {FINE_TUNE_FROM!r}, but the model has none")
"""


def stage2_code(s: TrainingSettings, loss: str, metrics: str, data: FitData) -> str:
    """Stage 2 of ``train()``, as ``export --with-training`` writes it (``_fine_tune_code``),
    fitted on this process's ``data`` (``fit_data``), quietly (the epoch lines go on), and the
    stage announced as ``netbuilder train`` announces it."""
    code = _fine_tune_code(s, loss, metrics, data)
    edits = [
        ('    print(f"fine-tuning from {FINE_TUNE_FROM} at lr {rate:g}: {trainable:,} trainable '
         'params")\n',  # as black wraps the longer line
         '    print(\n        f"Stage 2: fine-tuning from {FINE_TUNE_FROM} at lr {rate:g}: '
         '{trainable:,} trainable params"\n    )\n'),
        ("        callbacks=callbacks,\n    )\n",
         "        callbacks=callbacks,\n        verbose=0,\n    )\n"),
        ("    done = len(history.epoch)\n",
         "    done = len(history.epoch)\n"
         "    epoch_line.total = None  # out of done + FINE_TUNE_EPOCHS\n"),
    ]
    for old, new in edits:
        if code.count(old) != 1:  # a change in code.py
            raise TrainingCodeError("the fine-tuning code does not look as expected")
        code = code.replace(old, new)
    return code


AUGMENTED_BATCHES = '''class AugmentedBatches(keras.utils.PyDataset):
    """This process's (x, y) in @SHUFFLED@batches, each batch through the random augmentation
    layers (training=True: a new draw every epoch)@PREPARED@, as NetBuilder's worker feeds them."""

    def __init__(self, x, y, batch_size, augment, seed):
        super().__init__()
        self.x, self.y, self.batch_size, self.augment = x, y, batch_size, augment
        self.order = np.arange(len(x))
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        return -(-len(self.x) // self.batch_size)  # the last batch may be smaller

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        xb = np.asarray(self.augment(self.x[rows], training=True))
        return @BATCH@, self.y[rows]

    def on_epoch_end(self):
        @ON_EPOCH_END@
'''


def fit_data(s: TrainingSettings, augmented: bool) -> FitData:
    """The data arguments of the job's ``model.fit`` calls: this process's shard of the
    global batch, or its augmented batches (``AugmentedBatches``), with the held-out shard."""
    if not augmented:
        return FitData("", ["x", "y"], [
            "batch_size=BATCH_SIZE // processes  # this process's part of the global batch",
            "validation_data=(x_val, y_val)", f"shuffle={s.shuffle!r}"])
    return FitData("", ["train_batches"], [
        "validation_data=(x_val, y_val)",
        "validation_batch_size=BATCH_SIZE // processes"])


def augmented_batches_code(s: TrainingSettings, prepare: bool) -> str:
    """``AugmentedBatches``: the training data as NetBuilder's worker feeds it with
    augmentation (``training/code.augmented_batches_code`` in tf.data), in plain Keras (the
    job runs on JAX): this process's shard, shuffled every epoch."""
    return _filled(AUGMENTED_BATCHES, {
        "SHUFFLED": "shuffled " if s.shuffle else "",
        "PREPARED": ", then prepared" if prepare else "",
        "BATCH": "prepare(xb)" if prepare else "xb",
        "ON_EPOCH_END": "self.rng.shuffle(self.order)" if s.shuffle else "pass"})


def _filled(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``@KEY@`` replaced by ``values[KEY]``."""
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    return template


AUGMENT_CODE = (
    "    # the random layers, made before the distribution (their random state stays in this\n"
    "    # process) and seeded apart: each process draws its own augmentation\n"
    "    keras.utils.set_random_seed(SEED + 1 + process)\n"
    "    augment = augmentation()\n")


def batches_code(prepare: bool) -> str:
    """The lines of ``train()`` after the shards are cut: the augmented training batches, and
    the held-out shard prepared (``prepare``) as the batches are."""
    return ("    train_batches = AugmentedBatches(x, y, BATCH_SIZE // processes, augment, "
            "SEED + process)\n" + ("    x_val = prepare(x_val)\n" if prepare else ""))


def cluster_job(model_code: str, graph: Graph, settings_dict: dict[str, Any] | None,
                data: str, timeout: int = 120,
                augmentation: dict[str, Any] | None = None) -> str:
    """The job for ``graph`` (``model_code`` from ``core.codegen``) trained on ``data`` with
    the project's training settings and ``augmentation`` (the data options');
    ``TrainingCodeError`` for what it cannot train."""
    try:
        s = TrainingSettings.from_dict(settings_dict)
    except SettingsError as err:
        raise TrainingCodeError(f"the project's training settings: {err}") from None
    inputs, outputs = len(graph.inputs()), len(graph.outputs())
    if inputs != 1:  # as netbuilder train and export --with-training
        raise TrainingCodeError(f"this model has {inputs} inputs; the data sources give one "
                                "input array (build a model with one Input layer)")
    if outputs != 1:  # as export --with-training
        raise TrainingCodeError(f"the cluster job handles models with one output; this one has "
                                f"{outputs} (netbuilder train trains several outputs)")
    if not model_code.endswith(MAIN_BLOCK) or "\nimport keras\n" not in model_code:
        raise TrainingCodeError("the model code does not look as expected")  # a codegen change
    from netbuilder.runtime.training.code import (
        augmentation_parts,
        data_problems,
        image_size_code,
        is_augmented,
        preprocess_code,
    )

    problem = data_problems(graph, s, data)
    if problem:
        raise TrainingCodeError(problem)
    augmented = is_augmented(graph, augmentation)
    preprocess = preprocess_code(graph)
    prepare = augmented and bool(preprocess)    # the pixels augmented, then prepared
    head, _, rest = model_code.partition("\nimport keras\n")
    code = head + PREAMBLE + rest[: -len(MAIN_BLOCK)]
    code = code.replace("\nfrom keras import layers\n",
                        "\nfrom keras import layers  # noqa: E402\n", 1)
    schedule = ""
    if s.schedule == "cosine":
        schedule = ("    steps = int(np.ceil(len(x) / (BATCH_SIZE // processes))) * EPOCHS\n"
                    "    schedule = keras.optimizers.schedules.CosineDecay("
                    f"{s.learning_rate!r}, steps, alpha={s.cosine_alpha!r})\n")
    metrics = s.metrics if s.metrics is not None else ["accuracy"]
    keep, writers = callbacks_code(s, writers=False), callbacks_code(s, writers=True)
    keep_pixels = rescales_itself(graph)
    parts = [code, load_data_code(data, keep_pixels), "\n\n" + FIT_TO_MODEL]
    if augmented:
        parts += augmentation_parts(graph, data, augmentation, keep_pixels, prepare,
                                    augmented_batches_code(s, prepare))
        if prepare:
            preprocess = ""                           # prepare() does it, after augmentation
    data_args = fit_data(s, augmented)
    parts.append(f"""

EPOCHS = {s.epochs}
BATCH_SIZE = {s.batch_size}  # the global batch, split among the processes
VALIDATION_SPLIT = 0.2
SEED = {s.seed if s.seed is not None else 0}
TIMEOUT = {int(timeout)}  # seconds a process waits for the others before it gives up
IMAGE_SIZE = {image_size_code(graph)}  # for image folders
""")
    loss = loss_code(graph, s)
    total, check_layer, fine_tune = "", "", ""
    if s.fine_tuning:
        parts.insert(2, "\n\n" + inspect.getsource(find_layer_path))
        parts.insert(3, "\n\n" + inspect.getsource(unfreeze_from))
        parts.append(f"""FINE_TUNE_FROM = {quoted(s.fine_tune_from)}  # stage 2: fine-tuning
FINE_TUNE_EPOCHS = {s.fine_tune_epochs}
FINE_TUNE_LEARNING_RATE = {s.fine_tune_learning_rate!r}
""")
        total, check_layer = "EPOCHS + FINE_TUNE_EPOCHS", CHECK_LAYER
        fine_tune = stage2_code(s, loss, quoted(metrics), data_args)
    filled = {"PREPROCESS": preprocess, "SCHEDULE": schedule,
              "AUGMENT": AUGMENT_CODE if augmented else "",
              "BATCHES": batches_code(prepare) if augmented else "",
              "FIT_INPUTS": argument_lines(data_args.inputs),
              "FIT_BATCHES": argument_lines(data_args.batches),
              "OPTIMIZER": optimizer_code(s), "LOSS": loss, "TOTAL": total,
              "CHECK_LAYER": check_layer, "FINE_TUNE": fine_tune,
              "METRICS": quoted(metrics),
              "CALLBACKS": "".join(f"        {c},\n" for c in keep),
              "WRITERS": "".join(f"        {_into_out(c)},\n" for c in writers)}
    parts.append(_filled(JOB_CODE, filled))
    return "".join(parts)
