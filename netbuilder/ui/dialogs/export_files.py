"""File ▸ Export ▸ Keras Code…, Keras Model (.keras)… and Picture as PNG/SVG…: what the window
writes from the current project (For Deployment… is ``dialogs/deployment.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netbuilder.core.atomic_write import write_atomically, write_text_atomically
from netbuilder.core.codegen import CodegenError, generate_code, model_name
from netbuilder.core.project import dumps, loads
from netbuilder.runtime.keras_build import build_model
from netbuilder.ui.dialogs import import_model, picture

if TYPE_CHECKING:
    from netbuilder.ui.main_window import MainWindow


def export_code(window: MainWindow, path: str | None = None) -> bool:
    """Save the model's Keras code as a Python file."""
    try:
        code = generate_code(window.project)
    except CodegenError as err:
        window.show_error(
            "Cannot export the code", f"The model has problems to fix first:\n\n{err}"
        )
        return False
    path = path or window.ask_export_path(
        "Export Keras code", ".py", "Python files (*.py);;All files (*)"
    )
    if not path:
        return False
    try:
        write_text_atomically(path, code)
    except OSError as err:
        window.show_error(
            "Cannot export the code", f"cannot write {path}: " f"{err.strerror or err}"
        )
        return False
    window.statusBar().showMessage(f"Saved the Keras code to {path}", 5000)
    return True


def export_keras_model(window: MainWindow, path: str | None = None) -> bool:
    """Build the model with Keras (in the background: Keras takes seconds to start) and
    save it as a ``.keras`` file, with the project's weights when it has them."""
    problems = window.project.graph.inference.errors()
    if problems:
        window.show_error(
            "Cannot export the model",
            "The model has problems to fix first:\n\n" + "\n".join(problems),
        )
        return False
    path = path or window.ask_export_path(
        "Export Keras model", ".keras", "Keras models (*.keras);;All files (*)"
    )
    if not path:
        return False
    text = dumps(window.project)  # a snapshot: edits made meanwhile do not race the build
    weights = str(window.weights_file) if window.weights_file else None
    job = import_model.Job(lambda: save_keras_model(text, weights, path), window)
    job.finished.connect(
        lambda _: window._alive()
        and window.statusBar().showMessage(f"Saved the Keras model to {path}", 5000)
    )
    job.failed.connect(
        lambda message: window._alive() and window.show_error("Cannot export the model", message)
    )
    window.statusBar().showMessage(f"Building the Keras model for {path}…", 0)
    window.export_job = job
    job.start()
    return True


def export_png(window: MainWindow, path: str | None = None) -> bool:
    return _export_picture(window, path, ".png", "PNG pictures (*.png)")


def export_svg(window: MainWindow, path: str | None = None) -> bool:
    return _export_picture(window, path, ".svg", "SVG drawings (*.svg)")


def _export_picture(window: MainWindow, path: str | None, suffix: str, file_filter: str) -> bool:
    if window.scene is None or not window.graph.nodes:
        window.show_error("Nothing to export", "The model is empty: add some layers first.")
        return False
    path = path or window.ask_export_path("Export a picture of the model", suffix, file_filter)
    if not path:
        return False
    try:
        if suffix == ".svg":
            picture.save_svg(window.scene, path, window.project.name)
        else:
            picture.save_png(window.scene, path)
    except picture.PictureError as err:
        window.show_error("Cannot export the picture", str(err))
        return False
    window.statusBar().showMessage(f"Saved a picture of the model to {path}", 5000)
    return True


def save_keras_model(project_text: str, weights: str | None, path: str) -> str:
    """Build the project (a ``dumps`` snapshot) with Keras and save it atomically as ``path``
    (runs in a worker thread)."""
    project = loads(project_text)
    model = build_model(project.graph, name=model_name(project.name), weights_path=weights)
    write_atomically(path, lambda tmp: model.save(str(tmp)), suffix=".keras")
    return path
