"""The code view: the Keras code of the current model (``core.codegen.generate_code``), kept up to
date as the model changes, with a Copy button, and editable: **Apply** runs the edited code through
the code importer (``runtime/code_import``: a separate process without network, after a one-time
confirmation) and makes its model the graph in one undo step (``Document.replace_graph``); an error
is shown under the editor, its line highlighted and the cursor put there. While the text has edits
not applied, the graph's changes no longer overwrite it; **Revert** brings the generated code
back."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QPainter,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core.codegen import CodegenError, generate_code
from netbuilder.core.graph import Event, GraphError
from netbuilder.core.project import Project
from netbuilder.runtime.code_import.runner import (
    CONSENT,
    DEFAULT_TIMEOUT,
    WORKER,
    job,
    result_of,
)
from netbuilder.runtime.code_import.source import CodeImportError
from netbuilder.ui.workers import WorkerClient

if TYPE_CHECKING:
    from netbuilder.ui.document import Document

REFRESH_DELAY_MS = 250  # one regeneration per burst of edits (typing in a spin box)
FILENAME = "code"
"""The edited code's name in the importer's messages ("code, line 7, column 12: ...")."""
_WHERE = re.compile(r"\bline (\d+)(?:, column (\d+))?")
ERROR_LINE_COLOR = "#fde2e1"


def _format(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


class PythonHighlighter(QSyntaxHighlighter):
    """Just enough colour to read the generated code: keywords, strings, numbers, comments."""

    KEYWORDS = ("def", "return", "import", "from", "if", "else", "for", "in", "and", "or",
                "not", "None", "True", "False", "lambda", "with", "as", "class", "pass")

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.rules = [
            (re.compile(r"\b(" + "|".join(self.KEYWORDS) + r")\b"), _format("#8250df", True)),
            (re.compile(r"\b\d+(\.\d+)?([eE][-+]?\d+)?\b"), _format("#0550ae")),
            (re.compile(r"\b(layers|keras)\b"), _format("#953800")),
            (re.compile(r"[rf]?\"[^\"\n]*\"|[rf]?'[^'\n]*'"), _format("#0a3069")),
            (re.compile(r"#.*$"), _format("#6e7781", italic=True)),
        ]
        self.docstring = _format("#6e7781", italic=True)

    def highlightBlock(self, text: str) -> None:
        for pattern, fmt in self.rules:
            for match in pattern.finditer(text):
                self.setFormat(match.start(), match.end() - match.start(), fmt)
        # docstrings: state 1 = inside a triple-quoted string
        start = 0
        inside = self.previousBlockState() == 1
        while True:
            if inside:
                end = text.find('"""', start)
                if end < 0:
                    self.setFormat(start, len(text) - start, self.docstring)
                    self.setCurrentBlockState(1)
                    return
                self.setFormat(start, end + 3 - start, self.docstring)
                start, inside = end + 3, False
            begin = text.find('"""', start)
            if begin < 0:
                self.setCurrentBlockState(0)
                return
            start, inside = begin + 3, True
            self.setFormat(begin, 3, self.docstring)


class _Gutter(QWidget):
    """The line numbers beside a ``CodeEditor``."""

    def __init__(self, editor: CodeEditor) -> None:
        super().__init__(editor)
        self.editor = editor

    def sizeHint(self) -> QSize:
        return QSize(self.editor.gutter_width(), 0)

    def paintEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.editor.paint_gutter(event)


class CodeEditor(QPlainTextEdit):
    """A plain text editor with line numbers in a gutter on its left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gutter = _Gutter(self)
        self.blockCountChanged.connect(self._fit_gutter)
        self.updateRequest.connect(self._scroll_gutter)
        self._fit_gutter()

    def gutter_width(self) -> int:
        digits = len(str(max(1, self.blockCount())))
        return 10 + self.fontMetrics().horizontalAdvance("9") * max(2, digits)

    def _fit_gutter(self) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def _scroll_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        area = self.contentsRect()
        self.gutter.setGeometry(QRect(area.left(), area.top(), self.gutter_width(),
                                      area.height()))

    def paint_gutter(self, event) -> None:  # type: ignore[no-untyped-def]
        painter = QPainter(self.gutter)
        painter.fillRect(event.rect(), QColor("#f1f3f4"))
        painter.setPen(QColor("#8c959f"))
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        height = self.fontMetrics().height()
        while block.isValid() and top <= event.rect().bottom():
            if block.isVisible() and top + height >= event.rect().top():
                painter.drawText(0, top, self.gutter.width() - 5, height,
                                 int(Qt.AlignmentFlag.AlignRight), str(block.blockNumber() + 1))
            top += round(self.blockBoundingRect(block).height())
            block = block.next()
        painter.end()


class CodeView(QWidget):
    """Shows the generated code of ``project``; follows its graph's changes. With ``document``,
    the code can be edited and applied to it."""

    refreshed = Signal(str)
    """The code was regenerated: the new text (empty when the model is not valid)."""
    edited_changed = Signal(bool)
    """The text has edits not applied (True), or shows the generated code again (False)."""
    applied = Signal()
    """Apply made the edited code's model the graph."""

    def __init__(self, document: Document | None = None, parent: QWidget | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(parent)
        self.document = document
        self.project: Project | None = None
        self.code = ""
        self.problem = ""
        self.error = ""
        """The last Apply's error, as shown under the editor ("" for none)."""
        self.edited = False
        self.consented = False
        """Applying (running the code) was confirmed once in this session."""
        self.timeout = timeout
        self.client: WorkerClient | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._stale = True
        self._setting_text = False
        self._applying_to: Project | None = None
        self.seen: bool | None = None
        """Whether its dock is the tab in front (``set_seen``); None: not in a dock."""

        self.editor = CodeEditor()
        self.editor.setReadOnly(document is None)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        if document is None:
            self.editor.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                                | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(max(8.0, font.pointSizeF() - 0.5))
        self.editor.setFont(font)
        self.editor.setStyleSheet("QPlainTextEdit { background: #fbfbfc; }")
        self.highlighter = PythonHighlighter(self.editor.document())
        self.editor.textChanged.connect(self._text_changed)

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setStyleSheet("color: #5f6873; padding: 2px;")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Run the edited code (in a separate process, without "
                                     "network) and make its model the graph: one undo step")
        self.apply_button.clicked.connect(self.apply)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Drop the edits: the code of the model again")
        self.revert_button.clicked.connect(self.revert)
        for button in (self.apply_button, self.revert_button):
            button.setEnabled(False)
            button.setVisible(document is not None)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the whole code to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # the caret's spaces kept
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setFont(font)
        self.error_label.setStyleSheet("color: #d93025; padding: 2px;")
        self.error_label.hide()

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.info, 1)
        for button in (self.apply_button, self.revert_button, self.copy_button):
            top.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error_label)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)

    def set_project(self, project: Project | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if project is not self.project:
            self._stop_applying()
            self._set_edited(False)  # another project: its code, not the edits of the last
            self._clear_error()
        self.project = project
        if project is not None:
            self._unsubscribe = project.graph.subscribe(self._on_graph_event)
        if self.is_seen() or project is None:
            self.refresh()
        else:
            self._stale = True  # regenerated when shown

    def detach(self) -> None:
        self._timer.stop()
        self.set_project(None)

    def _on_graph_event(self, event: Event) -> None:
        if event.kind == "node_moved":
            return  # positions are not in the code
        self._stale = True
        if self.is_seen():
            self._timer.start()

    def set_seen(self, seen: bool) -> None:
        """Whether the user can see the code (its dock's ``visibilityChanged``: a dock behind
        another tab is still "visible" to Qt). A big model's code takes a tenth of a second to
        write: it is written when seen, not after every edit behind another tab."""
        self.seen = seen
        if seen and self._stale and self.isVisible():
            self.refresh()

    def is_seen(self) -> bool:
        return self.isVisible() if self.seen is None else self.seen and self.isVisible()

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        if self._stale and self.is_seen():
            self.refresh()

    def refresh(self) -> None:
        """Regenerate the code now."""
        self._timer.stop()
        self._stale = False
        if self.project is None:
            self._show("", "")
            return
        try:
            code = generate_code(self.project)
        except CodegenError as err:
            self._show(self.code, str(err))
            return
        self._show(code, "")

    def _show(self, code: str, problem: str) -> None:
        self.problem = problem
        if not self.edited and (code != self.code or self.editor.toPlainText() != code):
            self.code = code
            self._set_text(code)
        self.code = code
        self._show_info()
        self.copy_button.setEnabled(bool(self.editor.toPlainText()))
        self.refreshed.emit(self.code if not problem else "")

    def _show_info(self) -> None:
        if self.edited:
            busy = " Applying… (Keras takes a few seconds)" if self.client is not None else ""
            self.info.setText("<span style='color:#b06000'><b>Edited — Apply or Revert.</b></span>"
                              " The model's changes no longer show here until then." + busy)
            self.editor.setStyleSheet("QPlainTextEdit { background: #fffdf5; }")
        elif self.problem:
            first = self.problem.split("; ")[0]
            more = " …" if "; " in self.problem else ""
            prefix = "Shown: the code of the last valid model. " if self.code else ""
            self.info.setText(f"<span style='color:#d93025'><b>The model has a problem:</b> "
                              f"{_escape(first)}{more}</span><br>{prefix}The code follows as "
                              "soon as the model is valid again.")
            self.editor.setStyleSheet("QPlainTextEdit { background: #f1f3f4; color: #6e7781; }")
        else:
            lines = self.code.count("\n")
            edit = " Edit it and Apply to change the model." if self.document else ""
            self.info.setText("Keras code of this model, kept up to date as you edit "
                              f"({lines} lines). Run it, or call <code>build_model()</code>."
                              + edit)
            self.editor.setStyleSheet("QPlainTextEdit { background: #fbfbfc; }")

    def _set_text(self, text: str) -> None:
        """Show ``text`` (the generated code), keeping the scroll position."""
        bar = self.editor.verticalScrollBar()
        keep = bar.value()
        self._setting_text = True
        try:
            self.editor.setPlainText(text)
        finally:
            self._setting_text = False
        bar.setValue(keep)

    # -- editing ---------------------------------------------------------------------------------

    def _text_changed(self) -> None:
        if self._setting_text:
            return
        self.editor.setExtraSelections([])  # the error's line may have moved
        self._set_edited(self.editor.toPlainText() != self.code)
        self.copy_button.setEnabled(bool(self.editor.toPlainText()))

    def _set_edited(self, edited: bool) -> None:
        changed = edited != self.edited
        self.edited = edited
        self.apply_button.setEnabled(edited and self.client is None)
        self.revert_button.setEnabled(edited)
        if changed:
            self._show_info()
            self.edited_changed.emit(edited)

    def revert(self) -> None:
        """Drop the edits: the generated code again."""
        self._stop_applying()
        self._clear_error()
        self._set_edited(False)
        self.refresh()
        if self.editor.toPlainText() != self.code:
            self._set_text(self.code)

    def _confirm(self) -> bool:
        if self.consented:
            return True
        answer = QMessageBox.question(
            self, "Apply the code",
            f"{CONSENT}\nTraining (fit), downloads and file writes in it are skipped; it is "
            f"stopped after {self.timeout:g} s. Its model then replaces the graph (one undo "
            "step).\n\nApply the code?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        self.consented = answer == QMessageBox.StandardButton.Yes
        return self.consented

    def apply(self) -> None:
        """Run the edited code in the code-import process; its model becomes the graph when it
        comes back (``_event``)."""
        if self.document is None or self.client is not None or not self._confirm():
            return
        self._clear_error()
        try:
            first = job(self.editor.toPlainText(), FILENAME)
        except CodeImportError as err:
            self._fail(str(err))
            return
        self._applying_to = self.document.project
        self.client = WorkerClient("code import process", WORKER, self,
                                   last_events=("finished", "error"))
        self.client.event.connect(self._event)
        self.client.crashed.connect(self._fail)
        self.client.finished.connect(self.client.deleteLater)
        self.apply_button.setEnabled(False)
        self._show_info()
        QTimer.singleShot(int(self.timeout * 1000), self.client, self._too_long)
        self.client.start(first)

    def _too_long(self) -> None:
        if self.client is not None:
            self._stop_applying()
            self._fail(f"The code ran longer than {self.timeout:g} s and was stopped (a loop "
                       "that trains or waits?).")

    def _event(self, message: dict[str, Any]) -> None:
        kind = message.get("event")
        if kind not in ("finished", "error"):
            return
        target, self._applying_to = self._applying_to, None
        self._stop_applying(kill=False)
        if self.document is None or target is not self.document.project:
            return  # another project is open now
        try:
            result = result_of(message)
            self.document.replace_graph(result.project, "Apply the code")
        except (CodeImportError, GraphError) as err:
            self._fail(str(err))
            return
        self._set_edited(False)
        self.refresh()
        self.document.report(f"Applied the code: {len(result.project.graph.nodes)} layers"
                             + (f", {len(result.notes)} notes" if result.notes else ""))
        self.applied.emit()

    def _stop_applying(self, kill: bool = True) -> None:
        """Stop listening to the import process (it ends by itself after its last event;
        ``kill`` ends it now)."""
        client, self.client = self.client, None
        if client is not None:
            client.event.disconnect(self._event)
            client.crashed.disconnect(self._fail)
            if kill:
                client.close(timeout_ms=0)  # killed now, without a signal
                client.deleteLater()
        self.apply_button.setEnabled(self.edited)
        self._show_info()

    def workers_running(self) -> bool:
        return any(c.running() for c in self.findChildren(WorkerClient))

    # -- errors --------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        """Show the error under the editor; highlight its line and put the cursor there."""
        self._stop_applying()
        self.error = message
        self.error_label.setText(message)
        self.error_label.show()
        line, column = error_position(message)
        if line is None:
            return
        block = self.editor.document().findBlockByNumber(line - 1)
        if not block.isValid():
            return
        cursor = QTextCursor(block)
        if column:
            cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.MoveAnchor,
                                min(column - 1, max(0, block.length() - 1)))
        self.editor.setTextCursor(cursor)
        self.editor.centerCursor()
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(QColor(ERROR_LINE_COLOR))
        selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        selection.cursor = QTextCursor(block)
        self.editor.setExtraSelections([selection])
        self.editor.setFocus()

    def _clear_error(self) -> None:
        self.error = ""
        self.error_label.hide()
        self.editor.setExtraSelections([])

    def error_line(self) -> int | None:
        """The line highlighted for the last error (counted from 1), if any."""
        selections = self.editor.extraSelections()
        return selections[0].cursor.blockNumber() + 1 if selections else None

    def copy(self) -> None:
        text = self.editor.toPlainText()
        if text:
            QApplication.clipboard().setText(text)
            self.copy_button.setText("Copied")
            QTimer.singleShot(1500, self, lambda: self.copy_button.setText("Copy"))


def error_position(message: str) -> tuple[int | None, int | None]:
    """``(line, column)`` of the code an importer's message is about (the first "line N",
    "line N, column C"); None where it names none."""
    match = _WHERE.search(message)
    if match is None:
        return None, None
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


def _escape(text: str) -> str:
    from html import escape

    return escape(text)
