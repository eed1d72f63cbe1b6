"""The hyperparameter search as a standalone script (``netbuilder export --with-search``): Optuna
and Keras only, no NetBuilder.

``build_model(params)`` is ``core.codegen``'s model with each searched layer parameter written as
a lookup (``params["dense.units"]``, a block instance's ``params["unit4.repeat"]``); the data
loading is the one ``--with-training`` writes; ``objective(trial)`` suggests every searched
parameter with the distribution the project marks (int / float, log, step, or choices), trains
with the project's settings (the searched ones replaced: learning rate, optimizer, batch size,
epochs) and reports the objective after every epoch so that Optuna's pruner can stop weak
trials. ``--trials``, ``--storage`` (an Optuna storage URL: several processes with the same
storage and ``--study`` share one study) and ``--study`` as ``netbuilder search`` takes them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from netbuilder.core.code_format import call, dict_of, kw, list_of, literal, str_literal, wrap
from netbuilder.core.codegen import generate_code, model_name
from netbuilder.core.search_space import Dimension
from netbuilder.runtime.search import MINIMIZED_WORDS, SearchError, space_for
from netbuilder.runtime.training.code import (
    FIT_TO_MODEL,
    MAIN_BLOCK,
    TrainingCodeError,
    data_problems,
    image_size_code,
    load_data_code,
    loss_code,
    optimizer_code,
    preprocess_code,
    quoted,
    rescales_itself,
)
from netbuilder.runtime.training.settings import SettingsError, TrainingSettings

SEARCHABLE_SETTINGS = ("learning_rate", "optimizer", "batch_size", "epochs")
"""The training settings the script can vary (others keep the project's value)."""

_REPORTER = '''class ReportToOptuna(keras.callbacks.Callback):
    """Reports the objective to Optuna after every epoch; stops a trial its pruner prunes."""

    def __init__(self, trial):
        super().__init__()
        self.trial = trial
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(OBJECTIVE)
        if value is None:
            raise KeyError(f"no metric {OBJECTIVE!r} in {sorted(logs or {})}")
        self.values.append(float(value))
        self.trial.report(float(value), step=epoch + 1)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")
'''


def _suggestion(dim: Dimension) -> list[Any]:
    """``trial.suggest_int("dense.units", 16, 128, log=True)`` for one dimension."""
    name = [str_literal(dim.path)]
    if dim.kind == "categorical":
        return call("trial.suggest_categorical", [name, list_of([literal(c) for c in dim.choices])])
    cast = int if dim.kind == "int" else float
    args = [name, [repr(cast(dim.low))], [repr(cast(dim.high))]]
    if dim.step is not None:
        args.append(kw("step", [repr(cast(dim.step))]))
    if dim.log:
        args.append(kw("log", ["True"]))
    return call(f"trial.suggest_{dim.kind}", args)


def _optimizer_function(s: TrainingSettings, dims: dict[str, Dimension]) -> str:
    """``make_optimizer(params)``: the project's optimizer, or the trial's choice of them, at the
    trial's learning rate."""
    rate = ('params["training.learning_rate"]' if "learning_rate" in dims
            else repr(s.learning_rate))
    lines = ["def make_optimizer(params):",
             '    """The optimizer for one trial\'s values."""']
    choice = dims.get("optimizer")
    names = list(choice.choices) if choice is not None else [s.optimizer]
    for name in names:
        try:
            settings = replace(s, optimizer=name, schedule="constant")
        except (TypeError, ValueError) as err:
            raise TrainingCodeError(f"training.optimizer={name}: {err}") from None
        made = optimizer_code(settings, rate).removeprefix("optimizer=").removesuffix(",")
        if choice is None:  # one level less indented than in compile(...)
            made = made.replace("\n            ", "\n        ").replace("\n        )", "\n    )")
            lines.append(f"    return {made}")
            break
        lines.append(f'    if params["training.optimizer"] == {quoted(name)}:')
        lines.append(f"        return {made}")
    else:
        lines.append("    raise ValueError(f\"unknown optimizer "
                     "{params['training.optimizer']!r}\")")
    return "\n".join(lines) + "\n"


def search_script(project: Any, data: str, trials: int = 20, objective: str = "val_loss",
                  direction: str | None = None) -> str:
    """The standalone search script for ``project`` on ``data``. Raises ``TrainingCodeError``
    (one line) when the search or its training cannot be written."""
    graph = project.graph
    try:
        dims = space_for(project)
    except SearchError as err:
        raise TrainingCodeError(str(err)) from None
    settings = (project.settings or {}).get("training")
    try:
        s = TrainingSettings.from_dict(settings)
    except SettingsError as err:
        raise TrainingCodeError(f"the project's training settings: {err}") from None
    if len(graph.inputs()) != 1:
        raise TrainingCodeError("exporting a search handles models with one input")
    problem = data_problems(graph, s, data)
    if problem:
        raise TrainingCodeError(problem)
    training = {d.target[1]: d for d in dims if d.is_training}
    for name in training:
        if name not in SEARCHABLE_SETTINGS:
            raise TrainingCodeError(f"training.{name}: the exported search varies "
                                    f"{', '.join('training.' + n for n in SEARCHABLE_SETTINGS)}"
                                    " and layer parameters; remove this mark to export it")
    lookups = {d.path: f"params[{str_literal(d.path)}]" for d in dims if not d.is_training}
    model = generate_code(project, lookups)
    if not model.endswith(MAIN_BLOCK) or "\nimport keras\n" not in model:
        raise TrainingCodeError("the model code does not look as expected")  # a codegen change
    model = model.replace("\nimport keras\n", "\nimport argparse\nimport functools\n\nimport "
                          "keras\nimport numpy as np\nimport optuna\n", 1)
    model = model.replace("build_model() returns the Keras model; running this file prints its "
                          "summary.", "build_model(params) returns the Keras model for one "
                          "trial's values; running this file\nsearches them with Optuna "
                          "(--trials N --storage URL --study NAME).", 1)
    model = model[: -len(MAIN_BLOCK)]
    if not lookups:  # only training settings are searched: the model takes them anyway
        model = model.replace("\ndef build_model():\n", "\ndef build_model(params):\n", 1)

    params = wrap(["params = "] + dict_of([(d.path, _suggestion(d)) for d in dims]), 1)
    epochs = 'params["training.epochs"]' if "epochs" in training else "EPOCHS"
    batch = 'params["training.batch_size"]' if "batch_size" in training else "BATCH_SIZE"
    metrics = s.metrics if s.metrics is not None else ["accuracy"]
    study = model_name(project.name)
    parts = [model, load_data_code(data, rescales_itself(graph)), "\n\n", FIT_TO_MODEL, "\n\n",
             _REPORTER, "\n\n", _optimizer_function(s, training)]
    parts.append(f'''

OBJECTIVE = {quoted(objective)}  # reported after every epoch, for pruning (--objective)
# a metric whose name has one of these words is minimized (--direction says otherwise)
MINIMIZED = {quoted(list(MINIMIZED_WORDS))}
EPOCHS = {s.epochs}
BATCH_SIZE = {s.batch_size}
VALIDATION_SPLIT = 0.2
IMAGE_SIZE = {image_size_code(graph)}  # for image folders


@functools.lru_cache(maxsize=1)
def training_data(input_shape):
    """The training data, fitted to the model's input (loaded once for every trial)."""
    x, y = load_data()
    x = fit_to_model(x, input_shape)
{preprocess_code(graph)}    return x, y


def objective(trial):
    """Train the model with this trial's values; returns {objective} after the last epoch."""
{chr(10).join(params)}
    keras.utils.clear_session()
    model = build_model(params)
    x, y = training_data(tuple(model.input_shape[1:]))
    model.compile(
        optimizer=make_optimizer(params),
        loss={loss_code(graph, s)},
        metrics={quoted(metrics)},
    )
    reporter = ReportToOptuna(trial)
    model.fit(
        x,
        y,
        epochs={epochs},
        batch_size={batch},
        validation_split=VALIDATION_SPLIT,
        shuffle={s.shuffle!r},
        callbacks=[reporter],
        verbose=0,
    )
    return reporter.values[-1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Search the model's hyperparameters.")
    parser.add_argument("--trials", type=int, default={trials}, help="trials to run")
    parser.add_argument(
        "--storage",
        default=None,
        help="an Optuna storage URL (e.g. sqlite:///search.db) shared by several processes",
    )
    parser.add_argument("--study", default={quoted(study)}, help="the study's name")
    parser.add_argument(
        "--objective",
        default=OBJECTIVE,
        help="the metric each trial is judged by, at its last epoch (e.g. val_accuracy)",
    )
    parser.add_argument(
        "--direction",
        choices=["minimize", "maximize"],
        default={quoted(direction) if direction else None},
        help="default: minimize losses and errors, maximize the rest",
    )
    args = parser.parse_args()
    OBJECTIVE = args.objective
    name = OBJECTIVE.lower().removeprefix("val_")
    default = "minimize" if any(word in name for word in MINIMIZED) else "maximize"
    study = optuna.create_study(
        study_name=args.study,
        storage=args.storage,
        direction=args.direction or default,
        pruner=optuna.pruners.MedianPruner(),
        load_if_exists=True,
    )
    study.optimize(objective, n_trials=args.trials)
    print(f"best {{OBJECTIVE}}: {{study.best_value:.4f}} (trial {{study.best_trial.number}})")
    for name, value in study.best_params.items():
        print(f"  {{name}} = {{value}}")
''')
    return "".join(parts)
