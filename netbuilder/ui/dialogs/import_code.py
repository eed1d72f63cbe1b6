"""File ▸ Import ▸ From Python Code…: open a ``.py`` file or paste a notebook cell; the code runs in
the code-import worker process (``runtime/code_import``: offline, with a time limit, training and
downloads skipped), never in the editor's. When the code makes several models they are listed;
choosing another one and pressing Import again runs the code for it. The project opens the way
an imported model file does (``MainWindow._import_finished``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from netbuilder.runtime.code_import.runner import (
    CONSENT,
    DEFAULT_TIMEOUT,
    WORKER,
    CodeImport,
    job,
    result_of,
)
from netbuilder.runtime.code_import.source import CodeImportError
from netbuilder.ui.workers import WorkerClient

if TYPE_CHECKING:
    from netbuilder.ui.main_window import MainWindow

CODE_FILTER = "Python code (*.py);;All files (*)"
DEFAULT_CHOICE = "default: build_model(), else model, else the last model made"


class ImportCodeDialog(QDialog):
    """The code, which model to take, and the import's progress; ``result`` once it worked."""

    def __init__(self, parent: QWidget | None = None, start_dir: str = "",
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import from Python code")
        self.start_dir = start_dir
        self.timeout = timeout
        self.result: CodeImport | None = None
        self.client: WorkerClient | None = None

        consent = QLabel(f"<b>{CONSENT}</b> Training (fit), downloads and file writes in it are "
                         f"skipped; it is stopped after {timeout:g} s.")
        consent.setWordWrap(True)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a .py file, or paste the code below")
        browse = QPushButton("Open…")
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(browse)
        self.code_edit = QPlainTextEdit()
        self.code_edit.setPlaceholderText("model = keras.Sequential([...])")
        self.code_edit.setMinimumHeight(220)
        self.model_combo = QComboBox()
        self.model_combo.addItem(DEFAULT_CHOICE, None)
        form = QFormLayout()
        form.addRow("File", file_row)
        form.addRow("Model", self.model_combo)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #5f6873;")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d93025; font-family: monospace;")
        self.error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Import")
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(consent)
        layout.addLayout(form)
        layout.addWidget(self.code_edit, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(640, 520)

    # -- input --------------------------------------------------------------------------------

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Keras code", self.start_dir, CODE_FILTER)
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> None:
        try:
            self.code_edit.setPlainText(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            self._fail(f"{path}: cannot read it: {err}")
            return
        self.path_edit.setText(path)

    def filename(self) -> str:
        return self.path_edit.text().strip() or "<pasted code>"

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Import (again, for the model chosen), or accept the result already there."""
        chosen = self.model_combo.currentData()
        if self.result is not None and chosen in (None, self.result.chosen):
            self.accept()
            return
        if self.client is not None:
            return
        self.error.hide()
        try:
            first = job(self.code_edit.toPlainText(), self.filename(), chosen)
        except CodeImportError as err:
            self._fail(str(err))
            return
        self.result = None
        self.client = WorkerClient("code import process", WORKER, self,
                                   last_events=("finished", "error"))
        self.client.event.connect(self._event)
        self.client.crashed.connect(self._fail)
        self.ok.setEnabled(False)
        self.status.setText("Starting… (Keras takes a few seconds)")
        QTimer.singleShot(int(self.timeout * 1000), self.client, self._too_long)
        self.client.start(first)

    def _too_long(self) -> None:
        if self.client is not None:
            self._end(stop=True)
            self._fail(f"The code ran longer than {self.timeout:g} s and was stopped (a loop "
                       "that trains or waits?).")

    def _event(self, message: dict[str, Any]) -> None:
        kind = message.get("event")
        if kind == "status":
            self.status.setText(str(message.get("message", "")).capitalize() + "…")
        elif kind in ("finished", "error"):
            self._end()
            try:
                self.result = result_of(message)
            except CodeImportError as err:
                self._fail(str(err))
                return
            self._show(self.result)

    def _show(self, result: CodeImport) -> None:
        others = result.others()
        if not others:
            self.accept()
            return
        self.model_combo.clear()
        for c in result.candidates:
            params = f", {c['params']:,} params" if c.get("params") is not None else ""
            taken = " (taken)" if c["name"] == result.chosen else ""
            self.model_combo.addItem(f"{c['name']} ({c['class']}{params}){taken}", c["name"])
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(result.chosen)))
        self.status.setText(f"The code makes {len(result.candidates)} models; {result.chosen} "
                            "was taken. Import opens it, or choose another and press Import.")
        self.ok.setEnabled(True)

    def _end(self, stop: bool = False) -> None:
        """Stop listening to the worker (it ends by itself after its last event; ``stop``
        kills it)."""
        client, self.client = self.client, None
        if client is not None:
            client.event.disconnect(self._event)
            client.crashed.disconnect(self._fail)
            if stop:
                client.kill()

    def workers_running(self) -> bool:
        return any(c.running() for c in self.findChildren(WorkerClient))

    def _fail(self, message: str) -> None:
        self._end()
        self.status.clear()
        self.error.setText(message)
        self.error.show()
        self.ok.setEnabled(True)

    def reject(self) -> None:
        self._end(stop=True)
        super().reject()


def import_from_code(window: MainWindow) -> None:
    """File ▸ Import ▸ From Python Code…: the dialog, then the project in ``window``."""
    dialog = ImportCodeDialog(window, str(window.start_dir("import")))
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.result is None:
            return
        result = dialog.result
        source = Path(dialog.filename()).name if dialog.path_edit.text() else "pasted code"
        window._import_finished(result.project, f"{result.chosen} from {source}", "")
        if result.notes:
            window.statusBar().showMessage(
                f"Imported {result.chosen} from {source}; {len(result.notes)} notes (in the "
                "project's settings: imported.code_notes)", 10000)
    finally:
        dialog.deleteLater()
