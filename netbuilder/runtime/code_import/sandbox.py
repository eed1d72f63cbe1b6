"""Run Keras code in the child process and find its model (never in the editor's process).

``run_code(job)`` installs the guards, runs the code one top-level statement at a time in a
namespace of its own, picks the model and turns it into a project (``graph_from_keras``). The
guards, installed before the code runs:

- no network: ``socket`` refuses to connect or resolve names;
- no download: ``keras.utils.get_file`` refuses; ``keras.datasets.*.load_data()`` returns small
  blank arrays of the dataset's shapes; ``ImageDataGenerator(...).flow*`` and
  ``image_dataset_from_directory`` on a folder that is not here return a blank stand-in; a Keras
  Application asked for ``weights="imagenet"`` is built with ``weights=None`` (the same
  architecture);
- ``compile(...)`` is recorded, not run: it becomes the project's training settings;
- ``fit``, ``evaluate``, ``predict`` (and Keras 2's ``fit_generator``...), ``save`` and
  ``load_weights`` do nothing and return something harmless.

Each of those leaves a note naming its line. A statement that fails once a model exists is noted
and the code goes on; one that fails before is the import's error.
"""

from __future__ import annotations

import ast
import inspect
import os
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Any

from netbuilder.runtime.code_import.source import CodeImportError, Prepared, prepare, show_line
from netbuilder.runtime.messages import first_line

# keras.datasets: (train samples shape, label shape per sample, dtype) of the stand-ins
_DATASETS: dict[str, tuple[tuple[int, ...], tuple[int, ...], str]] = {
    "mnist": ((28, 28), (), "uint8"),
    "fashion_mnist": ((28, 28), (), "uint8"),
    "cifar10": ((32, 32, 3), (1,), "uint8"),
    "cifar100": ((32, 32, 3), (1,), "uint8"),
    "boston_housing": ((13,), (), "float64"),
    "california_housing": ((8,), (), "float32"),
}
_BLANK_SAMPLES = (64, 16)          # train, test samples of a stand-in dataset
_NO_OPS = ("fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch",
           "fit_generator", "evaluate_generator", "predict_generator", "save", "save_weights",
           "load_weights", "export")
MODEL_FUNCTION = "build_model"


class DownloadSkipped(OSError):
    """A download that importing code does not make."""


class _Blank:
    """A harmless stand-in for data that is not here: any attribute, call or arithmetic gives
    it back; it iterates as empty and has length 0."""

    samples = 0
    class_indices: dict[str, int] = {}
    class_names: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _Blank:
        return self

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __getitem__(self, key: Any) -> _Blank:
        return self

    def _same(self, *args: Any) -> _Blank:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _same


class _History(dict):  # type: ignore[type-arg]
    """``history.history`` of a fit that did not run: every metric an empty list."""

    def __missing__(self, key: str) -> list[float]:
        return []


class Sandbox:
    """The guards and what they saw: notes and ``compile`` calls (by model)."""

    def __init__(self, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines
        self.notes: list[str] = []
        self.compiles: dict[int, dict[str, Any]] = {}
        self.fits: dict[int, dict[str, Any]] = {}      # epochs and batch_size of fit calls

    # -- notes --------------------------------------------------------------------------------

    def user_line(self) -> int | None:
        """The line of the user's code running now (the innermost frame in it)."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.filename:
                return frame.f_lineno
            frame = frame.f_back  # type: ignore[assignment]
        return None

    def note(self, text: str) -> None:
        line = self.user_line()
        entry = f"line {line}: {text}" if line else text
        if entry not in self.notes:
            self.notes.append(entry)

    # -- guards -------------------------------------------------------------------------------

    def install(self, keras: Any) -> None:
        self._offline()
        self._model_methods(keras)
        replacements: dict[int, Any] = {}
        self._downloads(keras, replacements)
        self._applications(keras, replacements)
        self._data_folders(replacements)
        _replace_everywhere(replacements)

    @staticmethod
    def _offline() -> None:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise OSError("no network while importing code")

        socket.socket.connect = refuse  # type: ignore[method-assign]
        socket.socket.connect_ex = refuse  # type: ignore[method-assign]
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

    def _model_methods(self, keras: Any) -> None:
        sandbox = self
        model_class = keras.Model

        def compile_(model: Any, *args: Any, **kwargs: Any) -> None:
            names = list(inspect.signature(original_compile).parameters)[1:]
            values = dict(zip(names, args))
            values.update(kwargs)
            values["line"] = sandbox.user_line()
            sandbox.compiles[id(model)] = values

        def no_op(name: str) -> Callable[..., Any]:
            def skipped(model: Any, *args: Any, **kwargs: Any) -> Any:
                what = "writes a file" if name.startswith(("save", "export")) else (
                    "reads a file" if name == "load_weights" else "trains or runs the model")
                sandbox.note(f"{name}(...) not run ({what}; importing code only builds the "
                             "model)")
                if name.startswith("fit"):
                    kept = {k: kwargs[k] for k in ("epochs", "batch_size")
                            if isinstance(kwargs.get(k), int) and kwargs[k] > 0}
                    sandbox.fits.setdefault(id(model), {}).update(kept)
                return _harmless(model, name, sandbox.compiles.get(id(model)))
            return skipped

        original_compile = model_class.compile
        model_class.compile = compile_
        for name in _NO_OPS:
            setattr(model_class, name, no_op(name))

    def _downloads(self, keras: Any, replacements: dict[int, Any]) -> None:
        import numpy as np
        from keras.src.utils import file_utils

        sandbox = self
        original_get_file = file_utils.get_file

        def get_file(fname: Any = None, origin: Any = None, *args: Any, **kwargs: Any) -> Any:
            raise DownloadSkipped(f"keras.utils.get_file({fname or origin!r}) downloads a file: "
                                  "importing code never downloads")

        replacements[id(original_get_file)] = get_file
        file_utils.get_file = get_file
        for name, (shape, label_shape, dtype) in _DATASETS.items():
            module = getattr(keras.datasets, name, None)
            if module is None:
                continue

            def load_data(*args: Any, _name: str = name, _shape: tuple[int, ...] = shape,
                          _labels: tuple[int, ...] = label_shape, _dtype: str = dtype,
                          **kwargs: Any) -> Any:
                sandbox.note(f"{_name}.load_data() not run (no download): "
                             f"{_BLANK_SAMPLES[0]} + {_BLANK_SAMPLES[1]} blank samples of its "
                             "shapes stand in")
                return tuple((np.zeros((n, *_shape), _dtype), np.zeros((n, *_labels), "uint8"))
                             for n in _BLANK_SAMPLES)

            replacements[id(module.load_data)] = load_data
        for name in ("imdb", "reuters"):
            module = getattr(keras.datasets, name, None)
            if module is not None:
                def sequences(*args: Any, _name: str = name, **kwargs: Any) -> Any:
                    sandbox.note(f"{_name}.load_data() not run (no download): empty data "
                                 "stands in")
                    empty = np.zeros((0,), dtype=object)
                    return (empty, np.zeros((0,), "int64")), (empty, np.zeros((0,), "int64"))

                replacements[id(module.load_data)] = sequences
        try:
            from keras.src.legacy.preprocessing.image import ImageDataGenerator
        except ImportError:  # pragma: no cover - older Keras 3
            return
        for method in ("flow", "flow_from_directory", "flow_from_dataframe"):
            def flow(generator: Any, *args: Any, _method: str = method, **kwargs: Any) -> Any:
                sandbox.note(f"ImageDataGenerator.{_method}(...) not run (it reads data): "
                             "a blank stand-in")
                return _Blank()

            setattr(ImageDataGenerator, method, flow)
        # Keras 2's `from keras.preprocessing.image import ImageDataGenerator` (the course's)
        image = getattr(getattr(keras, "preprocessing", None), "image", None)
        if image is not None and not hasattr(image, "ImageDataGenerator"):
            image.ImageDataGenerator = ImageDataGenerator

    def _applications(self, keras: Any, replacements: dict[int, Any]) -> None:
        sandbox = self
        for name in dir(keras.applications):
            original = getattr(keras.applications, name)
            if not (name[:1].isupper() and callable(original)):
                continue

            def construct(*args: Any, _name: str = name, _original: Any = original,
                          **kwargs: Any) -> Any:
                try:
                    bound = inspect.signature(_original).bind_partial(*args, **kwargs)
                except TypeError:
                    return _original(*args, **kwargs)
                weights = bound.arguments.get("weights", "imagenet")
                if weights is not None and not (isinstance(weights, str)
                                                and os.path.isfile(weights)):
                    bound.arguments["weights"] = None
                    sandbox.note(f"{_name}(weights={weights!r}) built with weights=None: "
                                 "importing code brings the architecture and downloads nothing "
                                 "(the layers and counts are the same)")
                return _original(*bound.args, **bound.kwargs)

            replacements[id(original)] = construct

    def _data_folders(self, replacements: dict[int, Any]) -> None:
        from keras.src.utils import image_dataset_utils, text_dataset_utils

        sandbox = self
        for module, name in ((image_dataset_utils, "image_dataset_from_directory"),
                             (text_dataset_utils, "text_dataset_from_directory")):
            original = getattr(module, name, None)
            if original is None:
                continue

            def from_directory(directory: Any = None, *args: Any, _name: str = name,
                               _original: Any = original, **kwargs: Any) -> Any:
                if directory is not None and os.path.isdir(str(directory)):
                    return _original(directory, *args, **kwargs)
                sandbox.note(f"{_name}({str(directory)!r}): no such folder here; a blank "
                             "stand-in")
                return _Blank()

            replacements[id(original)] = from_directory

    # -- running ------------------------------------------------------------------------------

    def run(self, prepared: Prepared, namespace: dict[str, Any], keras: Any) -> list[str]:
        """Run the statements; the names of the Keras models in ``namespace``, in the order
        they appeared."""
        seen: dict[int, str] = {}
        order: list[str] = []
        lost: set[str] = set()           # names the failed statements did not make
        followers: list[int] = []        # statements that failed for want of those names
        for statement in prepared.tree.body:
            code = compile(ast.Module(body=[statement], type_ignores=[]), self.filename, "exec")
            try:
                exec(code, namespace)  # noqa: S102 - the point of this child process
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # noqa: BLE001 - SystemExit too: the code's own end
                line = self.error_line(err) or statement.lineno
                what = f"{type(err).__name__}: {first_line(err)}" if str(err) else \
                    type(err).__name__
                if not order and not callable(namespace.get(MODEL_FUNCTION)):
                    shown = show_line(self.lines, line)
                    raise CodeImportError(
                        f"{self.filename}, line {line}: {what} (before any Keras model was "
                        "made)" + (f"\n{shown}" if shown else "")) from None
                missing = getattr(err, "name", None) if isinstance(err, NameError) else None
                if missing in lost:
                    followers.append(statement.lineno)   # a consequence, not news
                else:
                    entry = f"line {line} failed ({what}); the model made before it is imported"
                    if entry not in self.notes:
                        self.notes.append(entry)
                lost.update(_assigned_names(statement))
            for name, value in namespace.items():
                if isinstance(value, keras.Model) and id(value) not in seen:
                    seen[id(value)] = name
                    order.append(name)
        if followers:
            lines = ", ".join(str(n) for n in followers[:8]) + (", ..." if len(followers) > 8
                                                                else "")
            self.notes.append(f"line {followers[0]}: {len(followers)} later statement"
                              f"{'s' if len(followers) > 1 else ''} used what the failed lines "
                              f"did not make, and failed too (lines {lines})")
        return [name for name in order if isinstance(namespace.get(name), keras.Model)]

    def error_line(self, err: BaseException) -> int | None:
        """The line of the user's code where ``err`` happened (the innermost)."""
        line = None
        tb = err.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        return line


def _assigned_names(statement: ast.stmt) -> set[str]:
    """The names a top-level statement binds (assignments, imports, defs, loop targets)."""
    names: set[str] = set()
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def _replace_everywhere(replacements: Mapping[int, Any]) -> None:
    """Every Keras and TensorFlow module attribute that is one of the originals (by identity)
    becomes its replacement: the public API re-exports each function under several names."""
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(("keras", "tensorflow")):
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            replacement = replacements.get(id(value))
            if replacement is not None:
                try:
                    setattr(module, attr, replacement)
                except (AttributeError, TypeError):
                    pass


def _harmless(model: Any, method: str, compiled: Mapping[str, Any] | None) -> Any:
    """What a skipped method returns: an empty History for fit, zeros for evaluate and
    predict."""
    import numpy as np

    if method.startswith("fit"):
        from keras.callbacks import History

        history = History()
        history.history = _History()
        history.set_model(model)
        return history
    if method.startswith(("evaluate", "test")):
        metrics = (compiled or {}).get("metrics") or []
        count = 1 + (len(metrics) if isinstance(metrics, (list, tuple)) else 1)
        return 0.0 if count == 1 else [0.0] * count
    if method.startswith("predict"):
        try:
            outputs = [tuple(t.shape) for t in model.outputs]
        except (AttributeError, ValueError):
            return np.zeros((1,), "float32")
        arrays = [np.zeros((1, *(d or 1 for d in s[1:])), "float32") for s in outputs]
        return arrays[0] if len(arrays) == 1 else arrays
    return None


# --- the model -------------------------------------------------------------------------------


def _describe(name: str, model: Any) -> dict[str, Any]:
    try:
        params: int | None = int(model.count_params()) if model.built else None
    except ValueError:
        params = None
    return {"name": name, "class": type(model).__name__, "params": params}


def _choose(namespace: dict[str, Any], found: list[str], requested: str | None, keras: Any,
            sandbox: Sandbox, filename: str) -> tuple[str, Any]:
    """(how the model is named, the model): ``--model NAME`` when given, else build_model(),
    else ``model``, else the last model made."""
    available = ", ".join(found) or "none"
    if requested:
        if requested not in namespace:
            raise CodeImportError(f"{filename}: there is no {requested!r} in the code; the Keras "
                                  f"models it makes: {available}")
        value = namespace[requested]
        if isinstance(value, keras.Model):
            return requested, value
        if callable(value):
            return f"{requested}()", _call_builder(requested, value, keras, sandbox, filename)
        raise CodeImportError(f"{filename}: {requested!r} is a {type(value).__name__}, not a "
                              f"Keras model; the Keras models it makes: {available}")
    if callable(namespace.get(MODEL_FUNCTION)):
        return (f"{MODEL_FUNCTION}()", _call_builder(MODEL_FUNCTION, namespace[MODEL_FUNCTION],
                                                     keras, sandbox, filename))
    if isinstance(namespace.get("model"), keras.Model):
        return "model", namespace["model"]
    if found:
        return found[-1], namespace[found[-1]]
    subclasses = [name for name, value in namespace.items() if isinstance(value, type)
                  and issubclass(value, keras.Model) and value.__module__ == "__main__"]
    hint = (f" (it defines the model class {subclasses[0]} but makes no model of it)"
            if subclasses else "")
    raise CodeImportError(f"{filename}: the code makes no Keras model{hint}; assign it to a "
                          f"variable (model = ...) or define {MODEL_FUNCTION}() returning it")


def _call_builder(name: str, function: Callable[[], Any], keras: Any, sandbox: Sandbox,
                  filename: str) -> Any:
    try:
        model = function()
    except TypeError as err:
        if "argument" in str(err):
            raise CodeImportError(f"{filename}: {name}() needs arguments ({first_line(err)}); "
                                  "give them defaults so that it can be called as "
                                  f"{name}()") from None
        raise _call_error(name, err, sandbox, filename) from None
    except Exception as err:  # noqa: BLE001 - the user's code
        raise _call_error(name, err, sandbox, filename) from None
    if not isinstance(model, keras.Model):
        raise CodeImportError(f"{filename}: {name}() returned a {type(model).__name__}, not a "
                              "Keras model")
    return model


def _call_error(name: str, err: BaseException, sandbox: Sandbox, filename: str
                ) -> CodeImportError:
    line = sandbox.error_line(err)
    shown = show_line(sandbox.lines, line)
    return CodeImportError(f"{filename}, line {line}: {name}() failed: {type(err).__name__}: "
                           f"{first_line(err)}" + (f"\n{shown}" if shown else ""))


def _refuse_unusable(name: str, model: Any, keras: Any, filename: str) -> None:
    from keras.src.models.functional import Functional

    if not isinstance(model, (Functional, keras.Sequential)):
        raise CodeImportError(
            f"{filename}: {name} is a subclassed model ({type(model).__name__}, with its own "
            "call()): its layers are connected by Python code when it runs, so there is no graph "
            "to draw. Write it with the functional API (inputs = keras.Input(...), x = "
            "layers.Dense(...)(inputs)..., model = keras.Model(inputs, outputs)) or as a "
            f"Sequential, in {MODEL_FUNCTION}() or assigned to model, and import again")
    if not model.built or not getattr(model, "inputs", None):
        raise CodeImportError(
            f"{filename}: {name} has no input shape yet, so its layers have no shapes: give its "
            "first layer input_shape=(...) or start it with keras.Input(shape=(...))")


def _line_of(note: str) -> int:
    """The line a note begins with ("line 12: ..."), 0 for none: notes are listed in code
    order."""
    head = note.split(":", 1)[0].split()
    return int(head[1]) if len(head) >= 2 and head[0] == "line" and head[1].isdigit() else 0


def run_code(job: Mapping[str, Any], status: Callable[[str], None] = lambda _: None
             ) -> dict[str, Any]:
    """The child's whole job: ``{"code", "filename", "model"}`` -> ``{"project": <project
    document>, "chosen", "candidates", "notes"}``. ``CodeImportError`` for the user."""
    from netbuilder.core.project import Project, project_to_dict
    from netbuilder.runtime.code_import.compile_args import training_settings
    from netbuilder.runtime.keras_import import apply_layout
    from netbuilder.runtime.keras_loader import load_keras
    from netbuilder.runtime.keras_to_graph import KerasImportError, graph_from_keras

    filename = str(job.get("filename") or "<pasted code>")
    prepared = prepare(str(job.get("code", "")), filename)
    status("loading Keras")
    keras = load_keras()
    try:
        import keras._tf_keras.keras  # noqa: F401 - tensorflow.keras, patched with the rest
    except ImportError:
        pass
    sandbox = Sandbox(filename, prepared.lines)
    sandbox.notes.extend(prepared.notes)
    sandbox.install(keras)
    status("running the code")
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": filename,
                                 "__builtins__": __builtins__}
    found = sandbox.run(prepared, namespace, keras)
    chosen, model = _choose(namespace, found, job.get("model"), keras, sandbox, filename)
    candidates = [_describe(name, namespace[name]) for name in found]
    if callable(namespace.get(MODEL_FUNCTION)) and chosen == f"{MODEL_FUNCTION}()":
        candidates.insert(0, _describe(chosen, model))
    elif chosen not in found:
        candidates.append(_describe(chosen, model))
    _refuse_unusable(chosen, model, keras, filename)
    status(f"converting {chosen} ({model.name})")
    graph_notes: list[str] = []
    try:
        graph = graph_from_keras(model, graph_notes)
    except KerasImportError as err:
        raise CodeImportError(f"{filename}: {chosen}: {err}") from None
    apply_layout(graph)
    project = Project(graph, name=model.name,
                      description=f"Imported from the Keras code {os.path.basename(filename)}.")
    imported: dict[str, Any] = {"source": filename, "model": chosen}
    if graph_notes:
        imported["notes"] = graph_notes
    compiled = sandbox.compiles.get(id(model))
    if compiled is not None:
        settings, setting_notes = training_settings(compiled, model)
        line = compiled.get("line")
        sandbox.notes.extend(f"line {line}: {n}" if line else n for n in setting_notes)
        fit = sandbox.fits.get(id(model))
        if fit:
            settings.update(fit)
            sandbox.notes.append("fit's " + ", ".join(f"{k}={v}" for k, v in fit.items())
                                 + " kept in the training settings")
        project.settings["training"] = settings
    sandbox.notes.sort(key=_line_of)
    if sandbox.notes:
        imported["code_notes"] = list(sandbox.notes)
    project.settings["imported"] = imported
    return {"project": project_to_dict(project), "chosen": chosen, "candidates": candidates,
            "notes": list(sandbox.notes)}
