"""Starting the editor: ``run_editor(path)`` opens a window on a project and runs Qt's loop.

Nothing on this path imports TensorFlow or Keras: the first window must come up fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from netbuilder.ui.main_window import MainWindow
from netbuilder.ui.qt_platform import window_problem
from netbuilder.ui.user_files import APP_NAME, examples_dir, is_example

DEFAULT_EXAMPLE = "mnist_cnn.nbproj"


def application() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    return app


def create_window(path: str | Path | None = None) -> tuple[MainWindow, str | None]:
    """A window on ``path`` (or on the default example); the second value is the message to
    show when ``path`` could not be opened (the window then holds an empty project)."""
    from netbuilder.core.project import ProjectError, load

    window = MainWindow()
    if path is not None and not is_example(path):
        try:
            window.set_project(load(path), path)
        except ProjectError as err:
            return window, str(err)
        from netbuilder.ui.user_files import remember_recent

        remember_recent(path)
        return window, None
    example = Path(path) if path is not None else examples_dir() / DEFAULT_EXAMPLE
    if example.is_file():
        try:
            window.set_project(load(example), None, is_example=True)
        except ProjectError as err:
            return window, str(err)
    return window, None


def _report_unexpected_errors(window: MainWindow) -> None:
    """A bug must not pass unseen, nor take the window down: print the traceback (for a bug
    report) and tell the user in a message box."""
    import traceback

    previous = sys.excepthook
    showing = False

    def hook(kind, value, tb) -> None:  # type: ignore[no-untyped-def]
        nonlocal showing
        traceback.print_exception(kind, value, tb)
        if showing or issubclass(kind, KeyboardInterrupt):
            if issubclass(kind, KeyboardInterrupt):
                previous(kind, value, tb)
            return
        showing = True
        try:
            window.show_error("Something went wrong",
                              f"NetBuilder hit an unexpected error:\n\n{kind.__name__}: {value}"
                              "\n\nYour project is still open; save it under a new name to be "
                              "safe. The details were printed on the terminal.")
        finally:
            showing = False

    sys.excepthook = hook


def run_editor(path: str | Path | None = None) -> int:
    """Open the editor on ``path`` (None: the MNIST CNN example) and return the exit code."""
    problem = window_problem()  # Qt would abort: say why, and what to do
    if problem:
        print(f"netbuilder: {problem}", file=sys.stderr)
        return 1
    app = application()
    window, error = create_window(path)
    _report_unexpected_errors(window)
    window.show()
    if error is not None:
        window.show_error("Cannot open the project",
                          f"{error}\n\nNetBuilder started with an empty project instead.")
    else:
        # unsaved work left by a session that crashed: offer it once the window is up
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, window, window.offer_recovery)
    return int(app.exec())
