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
* lets only process 0 write checkpoints and the final ``.keras`` model, and ends all processes
  together; a process that cannot reach its peers within ``--timeout`` seconds says which and
  exits 1.
"""

from __future__ import annotations

from typing import Any

from netbuilder.core.graph import Graph
from netbuilder.runtime.training.code import (
    FIT_TO_MODEL,
    MAIN_BLOCK,
    TrainingCodeError,
    callbacks_code,
    load_data_code,
    loss_code,
    optimizer_code,
    quoted,
)
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings

BEST = '"best.keras"'

PREAMBLE = '''
import argparse
import json
import os
import shutil
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

JOB_CODE = '''

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
            heartbeat_timeout_seconds=args.timeout,
            shutdown_timeout_seconds=args.timeout,
        )
    except Exception as err:  # noqa: BLE001 - one line for the user, not a traceback
        sys.exit(f"{problem}: {str(err).strip().splitlines()[0] if str(err).strip() else err!r}")
    finally:
        watchdog.cancel()


def shard(x, y, index, count):
    """This process's equal share of the samples (every process runs the same steps)."""
    size = len(x) // count
    return x[index * size : (index + 1) * size], y[index * size : (index + 1) * size]


class EpochLine(keras.callbacks.Callback):
    """One line per epoch, as netbuilder train prints it."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.start
        values = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
        print(f"Epoch {epoch + 1}/{self.params['epochs']}  {seconds:.1f}s  {values}", flush=True)


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
    keras.utils.set_random_seed(SEED)  # the same initial weights in every process
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    )
    if BATCH_SIZE % processes:
        sys.exit(f"BATCH_SIZE {BATCH_SIZE} must be a multiple of the {processes} processes")
    x, y = load_data()
    model = build_model()
    x = fit_to_model(x, model.input_shape[1:])
@PREPROCESS@    held_out = int(len(x) * VALIDATION_SPLIT)
    x_val, y_val = shard(x[len(x) - held_out :], y[len(x) - held_out :], process, processes)
    x, y = shard(x[: len(x) - held_out], y[: len(x) - held_out], process, processes)
    print(
        f"process {process} of {processes} on {len(devices)} devices (DataParallel), "
        f"global batch {BATCH_SIZE}, {len(x)} samples here",
        flush=True,
    )
@SCHEDULE@    model.compile(
        @OPTIMIZER@
        loss=@LOSS@,
        metrics=@METRICS@,
    )
    callbacks = [
@CALLBACKS@        EpochLine(),
    ]
    # saving gathers the weights from every process, so all of them save; only process 0 into
    # --out, the others into a temporary folder that is removed at the end
    out = args.out if process == 0 else tempfile.mkdtemp(prefix=f"job-process{process}-")
    os.makedirs(out, exist_ok=True)
    best = os.path.join(out, "best.keras")
    callbacks += [
@WRITERS@    ]
    history = model.fit(
        x,
        y,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE // processes,  # this process's part of the global batch
        validation_data=(x_val, y_val),
        shuffle=@SHUFFLE@,
        callbacks=callbacks,
        verbose=0,
    )
    model.save(os.path.join(out, "model.keras"))
    if process == 0:
        with open(os.path.join(out, "history.json"), "w") as f:
            json.dump(history.history, f, indent=2)
        print(f"Wrote {os.path.join(out, 'model.keras')}", flush=True)
    else:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
'''


def cluster_job(model_code: str, graph: Graph, settings_dict: dict[str, Any] | None,
                data: str, timeout: int = 120) -> str:
    """The job for ``graph`` (``model_code`` from ``core.codegen``) trained on ``data`` with
    the project's training settings; ``TrainingCodeError`` for what it cannot train."""
    try:
        s = TrainingSettings.from_dict(settings_dict)
    except SettingsError as err:
        raise TrainingCodeError(f"the project's training settings: {err}") from None
    if len(graph.inputs()) != 1:
        raise TrainingCodeError("the cluster job handles models with one input")
    if s.fine_tuning:
        raise TrainingCodeError("the cluster job trains one stage; two-stage fine-tuning "
                                "(fine_tune_from) is not in it yet")
    if not model_code.endswith(MAIN_BLOCK) or "\nimport keras\n" not in model_code:
        raise TrainingCodeError("the model code does not look as expected")  # a codegen change
    from netbuilder.runtime.training.code import data_problems, image_size_code, preprocess_code

    problem = data_problems(graph, s, data)
    if problem:
        raise TrainingCodeError(problem)
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
    parts = [code, load_data_code(data), "\n\n" + FIT_TO_MODEL]
    parts.append(f"""

EPOCHS = {s.epochs}
BATCH_SIZE = {s.batch_size}  # the global batch, split among the processes
VALIDATION_SPLIT = 0.2
SEED = {s.seed if s.seed is not None else 0}
TIMEOUT = {int(timeout)}  # seconds a process waits for the others before it gives up
IMAGE_SIZE = {image_size_code(graph)}  # for image folders
""")
    filled = {"PREPROCESS": preprocess_code(graph), "SCHEDULE": schedule,
              "OPTIMIZER": optimizer_code(s), "LOSS": loss_code(graph, s),
              "METRICS": quoted(metrics), "SHUFFLE": repr(s.shuffle),
              "CALLBACKS": "".join(f"        {c},\n" for c in keep),
              "WRITERS": "".join(f"        {c.replace(BEST, 'best')},\n" for c in writers)}
    job = JOB_CODE
    for key, value in filled.items():
        job = job.replace(f"@{key}@", value)
    parts.append(job)
    return "".join(parts)
