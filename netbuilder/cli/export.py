"""``netbuilder export PROJECT -o FILE.py``: standalone Keras code (``core.codegen``), or with
``--format keras`` the built model as a ``.keras`` file, with the project's weights when it has
them. ``--format savedmodel|onnx|tflite [--quantize float16|int8] [--data SOURCE] [--weights
FILE]`` exports for deployment in the deployment worker (``runtime/deployment.py``), which runs
the artifact in its own runtime and compares it with Keras before it is written. The output path
is used exactly as given and written atomically; an invalid graph exits 1 with its errors on
stderr; no error is ever a traceback. Keras is imported only for ``--format keras``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from netbuilder.cli.data_source import DataSourceError, resolve_source
from netbuilder.cli.errors import fail, unexpected
from netbuilder.core.atomic_write import write_atomically
from netbuilder.runtime.keras_loader import import_keras_quietly

FORMATS = ("python", "keras", "savedmodel", "onnx", "tflite")
DEPLOYMENT_FORMATS = ("savedmodel", "onnx", "tflite")
DEPLOYMENT_WORKER = "netbuilder.runtime.workers.deployment"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.py",
                        help="the file to write (used exactly as given)")
    parser.add_argument("--format", default="python", metavar="FORMAT",
                        help="python: Keras code defining build_model() (default); keras: the "
                             "built model saved as a .keras file, with the project's weights; "
                             "savedmodel, onnx, tflite: for deployment, each checked against "
                             "Keras in its own runtime before it is written")
    parser.add_argument("--quantize", metavar="float16|int8",
                        help="tflite: float16 weights, or full-integer int8 calibrated on "
                             "--data (at least 100 samples)")
    parser.add_argument("--weights", metavar="FILE",
                        help="deployment formats: these weights (e.g. a run's model.keras) "
                             "instead of the project's")
    parser.add_argument("--with-training", action="store_true",
                        help="python format: add data loading, compile and fit for the "
                             "project's training settings")
    parser.add_argument("--with-search", action="store_true",
                        help="python format: a standalone Optuna + Keras script searching the "
                             "project's search marks (--trials, --storage, --study)")
    parser.add_argument("--cluster", action="store_true",
                        help="python format: a training job for several processes or machines "
                             "(Keras 3 on JAX, keras.distribution data parallelism); it takes "
                             "--coordinator HOST:PORT --num-processes N --process-id I")
    parser.add_argument("--data", metavar="SOURCE",
                        help="with --with-training or --cluster, and to check (and calibrate "
                             "int8) a deployment export: digits, shapes, mnist, fashion_mnist, "
                             "cifar10, a folder of images, an .npz or .csv file (default: the "
                             "project's data)")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except OSError as err:
        return fail(f"cannot write {args.output}: {err.strerror or err}")
    except Exception as err:  # noqa: BLE001 - the promise: one line, never a traceback
        return unexpected("export", err)


def _run(args: argparse.Namespace) -> int:
    from netbuilder.core.project import ProjectError, load

    if args.format not in FORMATS:
        return fail(f"unknown format {args.format!r}: use one of {', '.join(FORMATS)}")
    if args.format not in DEPLOYMENT_FORMATS:
        for option in ("quantize", "weights"):
            if getattr(args, option):
                return fail(f"--{option} is for the deployment formats "
                            f"({', '.join(DEPLOYMENT_FORMATS)}), not --format {args.format}")
    try:
        project = load(args.project)
    except ProjectError as err:
        return fail(str(err))
    problems = project.graph.inference.errors()
    if problems:
        print(f"netbuilder: cannot export {args.project}: the model has "
              f"{len(problems)} error{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    output = Path(args.output)
    if args.format in DEPLOYMENT_FORMATS:
        if args.with_training:
            return fail("--with-training adds Python code: it needs --format python")
        return _export_deployment(args, project)
    if args.with_training and args.format != "python":
        return fail("--with-training adds Python code: it needs --format python")
    if args.cluster and (args.format != "python" or args.with_training):
        return fail("--cluster writes a Python job of its own: not with --format "
                    f"{args.format} or --with-training")
    if args.with_search:
        return _export_search(args, project, output)
    if args.format == "python":
        from netbuilder.core.codegen import generate_code

        text = generate_code(project)
        if args.with_training or args.cluster:
            from netbuilder.runtime.cluster_job import cluster_job
            from netbuilder.runtime.training.code import TrainingCodeError, with_training

            data = args.data or _project_data(project)
            flag = "--cluster" if args.cluster else "--with-training"
            if not data:
                return fail(f"{flag} needs --data SOURCE (the project names none)")
            try:
                text = (cluster_job if args.cluster else with_training)(
                    text, project.graph, project.settings.get("training"), data,
                    augmentation=_project_augmentation(project))
            except TrainingCodeError as err:
                return fail(f"cannot export the training: {err}")
        code = text.encode("utf-8")
        write_atomically(output, lambda tmp: tmp.write_bytes(code))
        print(f"Wrote the Keras code of {project.name} to {output}")
        return 0
    return _export_keras(project, Path(args.project), output)


def _export_search(args: argparse.Namespace, project: Any, output: Path) -> int:
    """``--with-search``: the search as a standalone Optuna + Keras script."""
    from netbuilder.runtime.search_code import search_script
    from netbuilder.runtime.training.code import TrainingCodeError

    if args.format != "python" or args.with_training or getattr(args, "cluster", False):
        return fail("--with-search writes a Python script of its own: not with --format "
                    f"{args.format}, --with-training or --cluster")
    data = args.data or _project_data(project)
    if not data:
        return fail("--with-search needs --data SOURCE (the project names none)")
    try:
        code = search_script(project, data).encode("utf-8")
    except TrainingCodeError as err:
        return fail(f"cannot export the search: {err}")
    write_atomically(output, lambda tmp: tmp.write_bytes(code))
    print(f"Wrote the search of {project.name} to {output}")
    return 0


def _project_data(project: Any) -> str | None:
    """The data source the project was last trained on (the editor saves it), if any."""
    data = project.settings.get("data")
    source = data.get("source") if isinstance(data, dict) else data
    return source if isinstance(source, str) else None


def _project_augmentation(project: Any) -> dict[str, Any] | None:
    """The augmentation of the project's data options, if any."""
    data = project.settings.get("data")
    options = data.get("options") if isinstance(data, dict) else None
    aug = options.get("augmentation") if isinstance(options, dict) else None
    return aug if isinstance(aug, dict) else None


def _export_keras(project: Any, project_file: Path, output: Path) -> int:
    import_keras_quietly()
    from netbuilder.core.codegen import model_name
    from netbuilder.runtime.keras_build import BuildError, build_model

    weights = None
    weights_path = getattr(project, "weights_path", None)
    if callable(weights_path):
        weights = weights_path(project_file)
    try:
        if weights is not None:
            model = build_model(project.graph, name=model_name(project.name),
                                weights_path=weights)
        else:
            model = build_model(project.graph, name=model_name(project.name))
    except BuildError as err:
        return fail(f"cannot build {project_file}: {err}")
    # Keras saves only to names ending in .keras: save beside the output, then move it there.
    write_atomically(output, lambda tmp: model.save(str(tmp)), suffix=".keras")
    detail = " with its weights" if weights is not None else ""
    print(f"Wrote the Keras model {model.name}{detail} to {output}")
    return 0


def _export_deployment(args: argparse.Namespace, project: Any) -> int:
    """Run the export in the deployment worker, printing its progress like ``train``."""
    from netbuilder.runtime import deployment
    from netbuilder.runtime.workers.client import worker_command

    data = args.data or _project_data(project)
    job: dict[str, Any] = {"project": str(Path(args.project).resolve()), "format": args.format,
                           "quantize": args.quantize, "data": args.data,
                           "weights": str(Path(args.weights).resolve()) if args.weights else None,
                           "output": str(Path(args.output).resolve())}
    try:
        deployment.check_job({**job, "weights": args.weights})
    except deployment.DeploymentError as err:
        return fail(str(err))
    if args.quantize == "int8" and not data:
        return fail("--quantize int8 needs data to calibrate on: give --data SOURCE (at least "
                    "100 samples), e.g. --data digits")
    if args.data:
        try:
            job["data"] = resolve_source(args.data)
        except DataSourceError as err:
            return fail(str(err))
    what = deployment.FORMAT_NAMES[args.format] + (f" {args.quantize}" if args.quantize else "")
    print(f"Exporting {project.name} to {what} -> {args.output}", flush=True)
    proc = _export_process_class()(job, command=worker_command(DEPLOYMENT_WORKER))
    final: dict[str, Any] | None = None
    try:
        proc.start()
        for event in proc.events():
            kind = event["event"]
            if kind == "status" and event["message"] != "export engine started":
                print(f"  {event['message']}", flush=True)
            elif kind == "log":
                print(f"  {event['message']}", flush=True)
            elif kind == "warning":
                print(f"  warning: {event['message']}", flush=True)
            elif kind == "result":
                print(event["line"], flush=True)
            if kind in ("finished", "error"):
                final = event
        proc.close()
    except RuntimeError as err:
        return fail(str(err))
    if final is None or final["event"] == "error":
        return fail(final["message"] if final else "the export process ended without a result")
    return 0


def _export_process_class() -> type:
    from netbuilder.runtime.workers.client import TrainingProcess

    class ExportProcess(TrainingProcess):
        def crash_event(self, code: int) -> dict[str, Any]:
            event = super().crash_event(code)
            event["message"] = event["message"].replace("training process", "export process")
            return event

    return ExportProcess
