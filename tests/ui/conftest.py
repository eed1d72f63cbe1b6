"""Fixtures for the editor's tests: a document or a window on a small model, and no modal dialog
ever blocking a test (they are answered or recorded)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.project import Project  # noqa: E402

# The offscreen platform says this for every top-level window it shows; it is not our warning.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


def small_cnn() -> Graph:
    """Input 28×28×1 → Conv2D 32 3×3 relu → MaxPooling2D → Flatten → Dense 10 softmax."""
    graph = Graph()
    previous = None
    for layer_type, params, position in (
            ("Input", {"shape": [28, 28, 1]}, (0, 0)),
            ("Conv2D", {"filters": 32, "kernel_size": 3, "activation": "relu"}, (0, 110)),
            ("MaxPooling2D", {"pool_size": 2}, (0, 220)),
            ("Flatten", {}, (0, 330)),
            ("Dense", {"units": 10, "activation": "softmax"}, (0, 440))):
        node = graph.add_node(layer_type, params, position=position)
        if previous is not None:
            graph.connect(previous.id, node.id)
        previous = node
    return graph


@pytest.fixture(autouse=True)
def private_settings_and_recovery(tmp_path, monkeypatch):
    """Settings (recent files...) and recovery files go to the test's folder, never the
    user's."""
    from PySide6.QtCore import QSettings

    from netbuilder.ui import autosave

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "settings"))
    monkeypatch.setattr(autosave, "recovery_dir", lambda: tmp_path / "recovery")
    return tmp_path


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """Record message boxes instead of blocking on them; tests read ``dialogs``."""
    shown: list[tuple[str, str, str]] = []

    def record(kind, answer):
        def box(parent, title, text, *args, **kwargs):
            shown.append((kind, title, text))
            return answer
        return box

    monkeypatch.setattr(QMessageBox, "critical", record("critical", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "warning", record("warning", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "information",
                        record("information", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "question",
                        record("question", QMessageBox.StandardButton.Discard))
    return shown


@pytest.fixture
def make_document():
    """``make_document(graph=None, name="test")``: a ui.document.Document on ``graph`` (the
    small CNN by default), for a test that builds one widget on it instead of a whole window;
    its undo history is cleared and the object deleted after the test."""
    from netbuilder.ui.document import Document

    documents = []

    def make(graph: Graph | None = None, name: str = "test") -> Document:
        document = Document(Project(graph if graph is not None else small_cnn(), name))
        documents.append(document)
        return document

    yield make
    for document in documents:
        document.undo_stack.clear()
        document.deleteLater()


@pytest.fixture
def document(make_document):
    return make_document()


@pytest.fixture
def make_window(qtbot):
    """``make_window(graph=None, name="test")``: a shown MainWindow; closed after the test
    without asking about unsaved changes."""
    from netbuilder.ui.main_window import MainWindow

    windows = []

    def make(graph: Graph | None = None, name: str = "test", path=None):
        window = MainWindow(Project(graph if graph is not None else small_cnn(), name), path)
        # the offscreen screen is 800×800 (a window opens maximised there): a desktop's window
        window.setWindowState(Qt.WindowState.WindowNoState)
        window.resize(1400, 850)
        window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Discard
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Discard


@pytest.fixture
def window(make_window):
    return make_window()
