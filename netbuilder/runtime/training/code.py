"""The training part of exported code: data loading, compile and fit for the project's training
settings, appended to ``core.codegen``'s model code (``netbuilder export --with-training``).

The script it writes stands on its own (Keras, NumPy, and scikit-learn for ``digits``): it does
the same things NetBuilder's worker does, in plain code a person can read and change.
"""

from __future__ import annotations

import inspect
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netbuilder.core import data_fit
from netbuilder.core.data_fit import DataDescription
from netbuilder.core.graph import Graph
from netbuilder.runtime.training.fine_tune import find_layer_path, unfreeze_from
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings

MAIN_BLOCK = 'if __name__ == "__main__":\n    build_model().summary()\n'

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")


class TrainingCodeError(Exception):
    """The training cannot be written as code; ``str(err)`` says why."""


def rescales_itself(graph: Graph) -> bool:
    """Whether the model scales its own pixels: a Rescaling layer among its first layers (as
    ``data.model_rescales`` finds it in the built model) and no Keras Application's
    preprocessing. NetBuilder then feeds it 0-255 pixels, and so does the exported code."""
    if application_preprocessing(graph) is not None:
        return False
    return any(graph.nodes[nid].type == "Rescaling" for nid in graph.topological_order()[:4])


def application_preprocessing(graph: Graph) -> tuple[str, str] | None:
    """``(application, module)`` when the Input feeds a Keras Application whose
    ``keras.applications.<module>.preprocess_input`` prepares the pixels; None otherwise."""
    from netbuilder.runtime.applications import preprocess_module, preprocessing_for

    name = preprocessing_for(graph)
    module = preprocess_module(name) if name else None
    return (name, module) if name and module is not None else None


def load_data_code(data: str, keep_pixels: bool = False) -> str:
    """``load_data()`` for ``data``: returns (x, y) of the training data, images scaled to 0-1,
    or with ``keep_pixels`` (a model that rescales them itself: ``rescales_itself``) as 0-255
    pixels (the digits are 0-1 either way, as the worker loads them)."""
    # a docstring's second line, for a model that scales its own pixels
    kept = ".\n\n    Pixel values kept at 0-255: the model's Rescaling layer scales them.\n    "
    if data == "digits":
        return '''def load_data():
    """scikit-learn's bundled 8x8 digits (no download), pixel values scaled to 0-1."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype("float32") / 16.0, digits.target
'''
    if data in KERAS_DATASETS:
        note, scale = (kept, "") if keep_pixels else (".", " / 255.0")
        return f'''def load_data():
    """keras.datasets.{data}: the training images (from Keras' cache, or downloaded){note}"""
    (x, y), _ = keras.datasets.{data}.load_data()
    return x.astype("float32"){scale}, y.reshape(len(y))
'''
    if data == "shapes":
        raise TrainingCodeError(
            "the generated 'shapes' data lives inside NetBuilder; export with --data digits, "
            "mnist, fashion_mnist, cifar10, a folder of images or an .npz file")
    path = Path(data)
    if path.suffix == ".npz":
        note, ending = ((kept, '    return x.astype("float32"), y\n')
                        if keep_pixels else
                        (".", '    x = x.astype("float32")\n'
                             "    return (x / 255.0 if x.max() > 1.0 else x), y\n"))
        return f'''def load_data():
    """Arrays from {path.name}: x_train/y_train (or x/y){note}"""
    with np.load({quoted(str(path))}) as arrays:
        x = arrays["x_train"] if "x_train" in arrays else arrays["x"]
        y = arrays["y_train"] if "y_train" in arrays else arrays["y"]
{ending}'''
    if path.is_dir() or not path.suffix:
        note, scale = ((kept, "") if keep_pixels else
                       (", pixel values scaled to 0-1.", " / 255.0"))
        return f'''def load_data():
    """Images from {path.name}/, one sub-folder per class{note}"""
    images = keras.utils.image_dataset_from_directory(
        {quoted(str(path))}, batch_size=None, shuffle=False, image_size=IMAGE_SIZE
    )
    x = np.stack([image for image, _ in images.as_numpy_iterator()]).astype("float32")
    y = np.array([label for _, label in images.as_numpy_iterator()])
    return x{scale}, y
'''
    raise TrainingCodeError(f"cannot write loading code for {data!r}: use digits, mnist, "
                            "fashion_mnist, cifar10, a folder of images or an .npz file")


FIT_TO_MODEL = '''def fit_to_model(x, input_shape):
    """Give the images the model's input shape: a channel axis, gray <-> RGB, size, or flat."""
    if len(input_shape) == 1:
        return x.reshape(len(x), -1)
    if x.ndim == len(input_shape):  # (n, height, width): add a channel axis
        x = x[..., None]
    channels = input_shape[-1]
    if x.shape[-1] == 1 and channels == 3:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] == 3 and channels == 1:
        x = x.mean(axis=-1, keepdims=True)
    size = tuple(input_shape[:2])
    if None not in size and x.shape[1:3] != size:
        x = keras.ops.convert_to_numpy(keras.ops.image.resize(x, size))
    return x
'''


DEVICES_CODE = r'''def device_strategy(devices):
    """The tf.distribute strategy for --devices: auto or all (every GPU, else the CPU), gpu:0,1
    (those GPUs) or cpu:N (the CPU split into N logical devices). Several devices train under
    MirroredStrategy; BATCH_SIZE is then the global batch, split among them."""
    import tensorflow as tf

    kind, _, which = devices.partition(":")
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "cpu":
        tf.config.set_visible_devices([], "GPU")
        cpu = tf.config.list_physical_devices("CPU")[0]
        split = [tf.config.LogicalDeviceConfiguration() for _ in range(int(which))]
        tf.config.set_logical_device_configuration(cpu, split)
    elif kind == "gpu":
        if max(int(i) for i in which.split(",")) >= len(gpus):
            raise SystemExit(f"--devices {devices}: this machine has {len(gpus)} GPUs")
        tf.config.set_visible_devices([gpus[int(i)] for i in which.split(",")], "GPU")
    kind = "cpu" if kind == "cpu" or not gpus else "gpu"
    names = [d.name for d in tf.config.list_logical_devices(kind.upper())]
    if len(names) > 1:
        return tf.distribute.MirroredStrategy(names)
    return tf.distribute.get_strategy()


def devices_text(text):
    """--devices as written: auto, all, gpu:0,1 or cpu:N."""
    if not re.fullmatch(r"auto|all|gpu:\d+(,\d+)*|cpu:[1-9]\d*", text):
        raise argparse.ArgumentTypeError(f"{text!r}: expected auto, all, gpu:0,1 or cpu:N")
    return text
'''


def loss_code(graph: Graph, settings: TrainingSettings) -> str:
    outputs = graph.outputs()
    if len(outputs) != 1:
        raise TrainingCodeError("exporting training code handles models with one output; "
                                f"this one has {len(outputs)}")
    if settings.loss:
        return quoted(settings.loss)
    node = outputs[0]
    result = graph.inference.result(node.id)
    units = result.outputs[0][-1] if result.outputs else None
    activation = node.params.get("activation", "linear")
    if units == 1:
        logits = activation != "sigmoid"
        return ("keras.losses.BinaryCrossentropy(from_logits=True)" if logits
                else '"binary_crossentropy"')
    if activation == "softmax":
        return '"sparse_categorical_crossentropy"'
    return "keras.losses.SparseCategoricalCrossentropy(from_logits=True)"


def optimizer_code(s: TrainingSettings, rate: str | None = None) -> str:
    """The ``optimizer=...`` argument of ``model.compile``, wrapped to fit (``rate``: the
    learning rate's expression, else the settings' rate or schedule)."""
    args = [f"learning_rate={rate}" if rate else "learning_rate=schedule"
            if s.schedule == "cosine" else f"learning_rate={s.learning_rate!r}"]
    if s.optimizer == "sgd":
        args += [f"momentum={s.momentum!r}", f"nesterov={s.nesterov!r}"]
    if s.optimizer == "adamw":
        args.append(f"weight_decay={s.weight_decay!r}")
    if s.clipnorm:
        args.append(f"clipnorm={s.clipnorm!r}")
    name = {"sgd": "SGD", "adamw": "AdamW", "adam": "Adam", "rmsprop": "RMSprop"}[s.optimizer]
    return _call(f"optimizer=keras.optimizers.{name}", args) + ","


def quoted(value: Any) -> str:
    """A Python literal with double quotes, as black writes it."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(quoted(v) for v in value) + "]"
    return repr(value)


def _call(function: str, args: list[str], indent: int = 8) -> str:
    """``function(args)`` on one line when it fits in 99 columns, else wrapped as black would."""
    one_line = f"{function}({', '.join(args)})"
    if indent + len(one_line) + 1 <= 99:
        return one_line
    inner = " " * (indent + 4)
    if indent + 4 + len(", ".join(args)) <= 99:
        return f"{function}(\n{inner}{', '.join(args)}\n{' ' * indent})"
    return f"{function}(\n" + "".join(f"{inner}{a},\n" for a in args) + f"{' ' * indent})"


def callbacks_code(s: TrainingSettings, writers: bool | None = None) -> list[str]:
    """The callbacks of ``model.fit``; ``writers``: only those that write files (True), only
    the others (False), or all (None)."""
    out, files = [], []
    if s.checkpoint:
        out.append(_call("keras.callbacks.ModelCheckpoint",
                         ['"best.keras"', f"monitor={quoted(s.checkpoint_monitor)}",
                          "save_best_only=True"]))
    if s.early_stopping:
        out.append(_call("keras.callbacks.EarlyStopping",
                         [f"monitor={quoted(s.early_stopping_monitor)}", f"patience={s.patience}",
                          f"min_delta={s.min_delta!r}",
                          f"restore_best_weights={s.restore_best_weights!r}"]))
    if s.terminate_on_nan:
        out.append("keras.callbacks.TerminateOnNaN()")
    if s.schedule == "step":
        out.append(_call("keras.callbacks.LearningRateScheduler",
                         [f"lambda epoch, rate: {s.learning_rate!r} * {s.step_factor!r} "
                          f"** (epoch // {s.step_epochs})"]))
    if s.schedule == "plateau":
        out.append(_call("keras.callbacks.ReduceLROnPlateau",
                         [f"factor={s.plateau_factor!r}", f"patience={s.plateau_patience}",
                          f"min_lr={s.min_learning_rate!r}"]))
    if s.csv_log:
        files.append('keras.callbacks.CSVLogger("training.csv")')
    if s.tensorboard:
        files.append('keras.callbacks.TensorBoard("tensorboard")')
    if writers is None:
        return out + files
    checkpoint = [c for c in out if c.startswith("keras.callbacks.ModelCheckpoint")]
    if writers:
        return checkpoint + files
    return [c for c in out if c not in checkpoint]


def _fine_tune_code(s: TrainingSettings, loss: str, metrics: str,
                    data: FitData | None = None) -> str:
    """Stage 2 of ``train()``: unfreeze, recompile at the fine-tuning rate, fit on from the
    epoch reached (as NetBuilder's worker does), on stage 1's ``data``."""
    data = data or fit_data(s, augmented=False, prepare=False)
    stage2 = s.updated({"schedule": "constant"})
    lines = [
        "    # stage 2: fine-tuning from FINE_TUNE_FROM at a low rate, epochs counted on",
        "    trainable = unfreeze_from(model, FINE_TUNE_FROM)",
        "    rate = FINE_TUNE_LEARNING_RATE",
        '    print(f"fine-tuning from {FINE_TUNE_FROM} at lr {rate:g}: {trainable:,} trainable '
        'params")',
        "    model.compile(",
        f"        {optimizer_code(stage2, 'FINE_TUNE_LEARNING_RATE')}",
        f"        loss={loss},",
        f"        metrics={metrics},",
        "    )",
    ]
    if s.schedule == "step":
        lines += ["    # the fine-tuning rate stays as set: no step schedule in stage 2",
                  "    callbacks = [c for c in callbacks if not isinstance(c, "
                  "keras.callbacks.LearningRateScheduler)]"]
    if s.csv_log:
        lines += ["    for callback in callbacks:",
                  "        if isinstance(callback, keras.callbacks.CSVLogger):",
                  "            callback.append = True  # one CSV file for both stages"]
    lines += [
        "    done = len(history.epoch)",
        "    stage2 = model.fit(",
        *argument_lines(data.inputs).splitlines(),
        "        epochs=done + FINE_TUNE_EPOCHS,",
        "        initial_epoch=done,",
        *argument_lines(data.batches).splitlines(),
        "        callbacks=callbacks,",
        "    )",
        "    for key, values in stage2.history.items():",
        "        history.history.setdefault(key, []).extend(values)",
        "    history.epoch += stage2.epoch",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class FitData:
    """The data arguments of ``train()``'s ``model.fit`` calls: ``setup`` (lines of ``train()``
    before them), ``inputs`` (the training data) and ``batches`` (batching and validation)."""

    setup: str
    inputs: list[str]
    batches: list[str]


def fit_data(s: TrainingSettings, augmented: bool, prepare: bool) -> FitData:
    """The arrays as Keras takes them, or, with augmentation, batches augmented as
    NetBuilder's worker augments them (``augmented_batches``) and the held-out part as
    validation_split would hold it out; ``prepare``: pixels prepared after augmentation."""
    if not augmented:
        return FitData("", ["x", "y"], ["batch_size=BATCH_SIZE",
                                        "validation_split=VALIDATION_SPLIT",
                                        f"shuffle={s.shuffle!r}"])
    validation = "prepare(x[held_out:])" if prepare else "x[held_out:]"
    setup = (
        "    # validation on the last VALIDATION_SPLIT (as validation_split takes it), "
        "not augmented\n"
        "    held_out = int(len(x) * (1 - VALIDATION_SPLIT))\n"
        "    train_batches = augmented_batches(x[:held_out], y[:held_out])\n"
        f"    validation = ({validation}, y[held_out:])\n")
    return FitData(setup, ["train_batches"], [
        "validation_data=validation", "validation_batch_size=BATCH_SIZE",
        "shuffle=False" + ("  # augmented_batches shuffled them" if s.shuffle else "")])


def argument_lines(args: list[str], indent: int = 8) -> str:
    """Keyword arguments one a line, as black writes a call that does not fit on one; an
    argument's ``  # comment`` stays after its comma."""
    lines = []
    for arg in args:
        code, _, comment = arg.partition("  # ")
        lines.append(" " * indent + code + "," + (f"  # {comment}" if comment else "") + "\n")
    return "".join(lines)


def augmented_batches_code(s: TrainingSettings, prepare: bool) -> str:
    """``augmented_batches(x, y)``: the training data as NetBuilder's worker feeds it to
    ``model.fit`` with augmentation (``data.fit_inputs``): a tf.data pipeline that shuffles,
    batches, and calls the random layers with training=True on every batch (``prepare``: the
    pixels prepared after them)."""
    doc = textwrap.fill(
        f"(x, y) in {'shuffled ' if s.shuffle else ''}batches of BATCH_SIZE, each batch through "
        "the random augmentation layers (training=True: a new draw every epoch)"
        f"{', then prepared' if prepare else ''}.", 92, subsequent_indent="    ")
    shuffle = ("    batches = batches.shuffle(len(x), reshuffle_each_iteration=True)\n"
               if s.shuffle else "")
    after = ("    batches = batches.map(lambda xb, yb: (prepare(xb), yb))\n" if prepare else "")
    return f'''def augmented_batches(x, y):
    """{doc}"""
    import tensorflow as tf

    augment = augmentation()
    batches = tf.data.Dataset.from_tensor_slices((x, y))
{shuffle}    batches = batches.batch(BATCH_SIZE)
    batches = batches.map(
        lambda xb, yb: (augment(xb, training=True), yb), num_parallel_calls=tf.data.AUTOTUNE
    )
{after}    return batches.prefetch(tf.data.AUTOTUNE)
'''


def prepare_code(module: str, name: str) -> str:
    """``prepare(pixels)``: load_data's 0-1 pixels prepared as the Keras Application ``name``
    was trained, after augmentation (which works on the pixels)."""
    return f'''def prepare(pixels):
    """0-1 pixels prepared as {name} was trained (after augmentation, which works on pixels)."""
    return keras.applications.{module}.preprocess_input(pixels * 255.0)
'''


TTA_CODE = '''def predict_with_tta(model, x, copies, prepare=None):
    """The model's predictions averaged over ``copies`` augmented copies of each sample (the
    random layers called with training=True, batch by batch; ``prepare``: after them)."""
    import tensorflow as tf

    augment = augmentation()
    total = 0.0
    for _ in range(copies):
        batches = tf.data.Dataset.from_tensor_slices(x).batch(BATCH_SIZE)
        batches = batches.map(lambda batch: augment(batch, training=True))
        if prepare is not None:
            batches = batches.map(prepare)
        total = total + model.predict(batches, verbose=0)
    return total / copies


def evaluate_with_tta(model, x, y, copies, prepare=None):
    """The loss and metrics on (x, y) without and with test-time augmentation, printed side
    by side; the averaged predictions are scored by Keras with the model's loss and metrics."""
    plain = model.evaluate(
        x if prepare is None else prepare(x),
        y,
        batch_size=BATCH_SIZE,
        verbose=0,
        return_dict=True,
    )
    averaged = predict_with_tta(model, x, copies, prepare)
    scorer = keras.Sequential([keras.Input(averaged.shape[1:]), keras.layers.Identity()])
    scorer.compile(loss=LOSS, metrics=METRICS)
    tta = scorer.evaluate(averaged, y, batch_size=BATCH_SIZE, verbose=0, return_dict=True)
    pairs = [f"{name} {plain[name]:.4f} → {tta[name]:.4f}" for name in plain if name in tta]
    print("  ".join(pairs) + f" with TTA ×{copies}")
    return plain, tta
'''


def augmentation_code(augmentation: dict[str, Any] | None, value_range: str = "0-1") -> str:
    """``augmentation()``: the project's random layers, written from the same table that
    builds them for training (``data.augmentation_layers``), for load_data's values (0-1, or
    0-255 pixels for a model that rescales them itself)."""
    from netbuilder.runtime.data import augmentation_layers

    layers = [_call(f"keras.layers.{name}", [f"{k}={quoted(v)}" for k, v in kwargs.items()], 12)
              for name, kwargs in augmentation_layers(augmentation, value_range)]
    body = "".join(f"            {layer},\n" for layer in layers)
    return f'''def augmentation():
    """The project's augmentation: random Keras layers, active when called with training=True."""
    return keras.Sequential(
        [
{body}        ]
    )
'''


def augmentation_parts(graph: Graph, data: str, augmentation: dict[str, Any] | None,
                       keep_pixels: bool, prepare: bool, batches: str) -> list[str]:
    """What an augmented script adds: ``augmentation()`` for load_data's values,
    ``prepare()`` where the pixels are prepared after it (the Application's
    ``preprocess_input``), and ``batches``, the code that feeds the augmented batches."""
    parts = ["\n\n" + augmentation_code(
        augmentation, "0-255" if keep_pixels and data != "digits" else "0-1")]
    if prepare:
        found = application_preprocessing(graph)
        assert found is not None                     # preprocess_code wrote its line
        parts.append("\n\n" + prepare_code(found[1], found[0]))
    return [*parts, "\n\n" + batches]


def tta_code(graph: Graph, s: TrainingSettings, augmentation: dict[str, Any] | None) -> str:
    """The end of ``train()`` with test-time augmentation: the held-out part (the last
    VALIDATION_SPLIT, as Keras takes it: ``fit_data``'s ``held_out``) evaluated without and
    with TTA."""
    if not augmentation or not any(augmentation.values()):
        raise TrainingCodeError("test-time augmentation (tta) needs augmentation in the data "
                                "options, e.g. augmentation={\"flip\": \"horizontal\"}; or set "
                                "tta to 0")
    args = ["model", "x[held_out:]", "y[held_out:]", "TTA_COPIES"]
    if application_preprocessing(graph) is not None:
        args.append("prepare=prepare")
    return "    " + _call("evaluate_with_tta", args, 4) + "\n"


def is_augmented(graph: Graph, augmentation: dict[str, Any] | None) -> bool:
    """Whether the training data is augmented; ``TrainingCodeError`` when the augmentation
    cannot work on the model's input (as NetBuilder's worker refuses it)."""
    if not augmentation or not any(augmentation.values()):
        return False
    shape = list(graph.inputs()[0].params["shape"])
    if len(shape) != 3:
        raise TrainingCodeError(f"augmentation works on images; this model's input is {shape}: "
                                "turn the augmentation off in Train ▸ Data…")
    return True


def preprocess_code(graph: Graph) -> str:
    """The line of ``train()`` that prepares the pixels as the Keras Application the Input feeds
    was trained (``load_data`` gives 0-1 values); empty for other models."""
    found = application_preprocessing(graph)
    if found is None:
        return ""
    name, module = found
    return (f"    # pixels prepared as {name} was trained\n"
            f"    x = keras.applications.{module}.preprocess_input(x * 255.0)\n")


def image_size_code(graph: Graph) -> str:
    """``IMAGE_SIZE`` (for image folders): the Input's height and width."""
    shape = list(graph.inputs()[0].params["shape"])
    return (f"({shape[0]}, {shape[1]})" if len(shape) >= 3 and None not in shape[:2]
            else "(256, 256)")


def data_problems(graph: Graph, s: TrainingSettings, data: str) -> str | None:
    """Why the loss chosen from the output layer would not train on ``data``, if it would not
    (a regression on class numbers, sigmoids read as logits)."""
    described = DataDescription.for_source(data)
    problems = (data_fit.check(graph, described)
                if described and not s.loss and len(graph.outputs()) == 1 else [])
    if not problems:
        return None
    return problems[0].text() + " (or choose a loss in the settings, e.g. mean_squared_error)"


def training_code(graph: Graph, settings_dict: dict[str, Any] | None, data: str,
                  augmentation: dict[str, Any] | None = None) -> str:
    """The training half of an exported script, for ``graph`` trained on ``data``; with the
    ``tta`` setting, evaluated with test-time ``augmentation`` (the data options') too."""
    try:
        s = TrainingSettings.from_dict(settings_dict)
    except SettingsError as err:
        raise TrainingCodeError(f"the project's training settings: {err}") from None
    input_node = graph.inputs()[0] if len(graph.inputs()) == 1 else None
    if input_node is None:
        raise TrainingCodeError("exporting training code handles models with one input")
    image_size = image_size_code(graph)
    problem = data_problems(graph, s, data)
    if problem:
        raise TrainingCodeError(problem)
    keep_pixels = rescales_itself(graph)
    parts = [load_data_code(data, keep_pixels)]
    parts.append("\n\n" + FIT_TO_MODEL)
    parts.append("\n\n" + DEVICES_CODE)
    preprocess = preprocess_code(graph)
    tail = tta_code(graph, s, augmentation) if s.tta else ""
    augmented = is_augmented(graph, augmentation)
    prepare = augmented and bool(preprocess)    # the pixels augmented, then prepared
    data_args = fit_data(s, augmented, prepare)
    if augmented:
        parts += augmentation_parts(graph, data, augmentation, keep_pixels, prepare,
                                    augmented_batches_code(s, prepare))
        if prepare:
            preprocess = ""                           # prepare() does it, after augmentation
    fit_inputs = argument_lines(data_args.inputs)
    fit_batches = argument_lines(data_args.batches)
    callbacks = callbacks_code(s)
    callback_lines = "".join(f"        {c},\n" for c in callbacks)
    schedule = ""
    if s.schedule == "cosine":
        samples = "held_out" if augmented else "len(x) * (1 - VALIDATION_SPLIT)"
        schedule = (
            f"    steps = int(np.ceil({samples} / BATCH_SIZE)) * EPOCHS\n"
            "    " + _call("schedule = keras.optimizers.schedules.CosineDecay",
                          [repr(s.learning_rate), "steps", f"alpha={s.cosine_alpha!r}"], 4)
            + "\n")
    metrics = s.metrics if s.metrics is not None else ["accuracy"]
    fine_tune = ""
    constants = ""
    result = "model.fit("
    if s.fine_tuning:
        parts.append("\n\n" + inspect.getsource(find_layer_path))
        parts.append("\n\n" + inspect.getsource(unfreeze_from))
        constants = (f"FINE_TUNE_FROM = {quoted(s.fine_tune_from)}  # stage 2: fine-tuning\n"
                     f"FINE_TUNE_EPOCHS = {s.fine_tune_epochs}\n"
                     f"FINE_TUNE_LEARNING_RATE = {s.fine_tune_learning_rate!r}\n")
        fine_tune = _fine_tune_code(s, loss_code(graph, s), quoted(metrics), data_args)
    if s.fine_tuning or tail:
        result = "history = model.fit("
        tail += "    return history\n"
    if s.tta:
        parts.append("\n\n" + TTA_CODE)
        constants += (f"TTA_COPIES = {s.tta}  # test-time augmentation: copies averaged\n"
                      f"LOSS = {loss_code(graph, s)}\n"
                      f"METRICS = {quoted(metrics)}\n")
    parts.append(f'''

EPOCHS = {s.epochs}
BATCH_SIZE = {s.batch_size}
VALIDATION_SPLIT = 0.2
IMAGE_SIZE = {image_size}  # for image folders
{constants}

def train(model):
    """Train ``model`` on the data with the project's settings; returns Keras' History."""
    x, y = load_data()
    x = fit_to_model(x, model.input_shape[1:])
{preprocess}{data_args.setup}{schedule}    model.compile(
        {optimizer_code(s)}
        loss={loss_code(graph, s)},
        metrics={quoted(metrics)},
    )
    callbacks = [
{callback_lines}    ]
    {"return " if result == "model.fit(" else ""}{result}
{fit_inputs}        epochs=EPOCHS,
{fit_batches}        callbacks=callbacks,
    )
{fine_tune}{tail}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Train the model with the project's settings.")
    parser.add_argument(
        "--devices",
        default={quoted(s.devices)},
        type=devices_text,
        help="auto, all, gpu:0,1 or cpu:N (default: %(default)s)",
    )
    strategy = device_strategy(parser.parse_args().devices)
    replicas = strategy.num_replicas_in_sync
    if BATCH_SIZE < replicas:
        parser.error(f"BATCH_SIZE {{BATCH_SIZE}} is smaller than the {{replicas}} devices")
    if replicas > 1:
        name = type(strategy).__name__
        print(f"on {{replicas}} devices ({{name}}), global batch {{BATCH_SIZE}}")
    with strategy.scope():  # the model, its optimizer and its training on those devices
        model = build_model()
        model.summary()
        train(model)
    model.save("model.keras")
''')
    return "".join(parts)


def with_training(model_code: str, graph: Graph, settings: dict[str, Any] | None,
                  data: str, augmentation: dict[str, Any] | None = None) -> str:
    """``model_code`` (from ``core.codegen``) with its summary-only main block replaced by
    data loading and training (and test-time ``augmentation`` when the settings ask)."""
    if not model_code.endswith(MAIN_BLOCK) or "\nimport keras\n" not in model_code:
        raise TrainingCodeError("the model code does not look as expected")  # a codegen change
    code = model_code.replace("\nimport keras\n", "\nimport keras\nimport numpy as np\n", 1)
    code = code.replace("\nimport keras\n", "\nimport argparse\nimport re\n\nimport keras\n", 1)
    return code[: -len(MAIN_BLOCK)] + training_code(graph, settings, data, augmentation)
