"""The code view: the Keras code of the current model (``core.codegen.generate_code``), kept up to
date as the model changes, read-only, with a Copy button."""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from netbuilder.core.codegen import CodegenError, generate_code
from netbuilder.core.graph import Event
from netbuilder.core.project import Project

REFRESH_DELAY_MS = 250  # one regeneration per burst of edits (typing in a spin box)


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


class CodeView(QWidget):
    """Shows the generated code of ``project``; follows its graph's changes."""

    refreshed = Signal(str)
    """The code was regenerated: the new text (empty when the model is not valid)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.code = ""
        self.problem = ""
        self._unsubscribe: Callable[[], None] | None = None
        self._stale = True

        self.editor = QPlainTextEdit()
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                            | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(max(8.0, font.pointSizeF() - 0.5))
        self.editor.setFont(font)
        self.editor.setStyleSheet("QPlainTextEdit { background: #fbfbfc; }")
        self.highlighter = PythonHighlighter(self.editor.document())

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setStyleSheet("color: #5f6873; padding: 2px;")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the whole code to the clipboard")
        self.copy_button.clicked.connect(self.copy)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.info, 1)
        top.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.editor, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)

    def set_project(self, project: Project | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.project = project
        if project is not None:
            self._unsubscribe = project.graph.subscribe(self._on_graph_event)
        if self.isVisible() or project is None:
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
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        if self._stale:
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
        if code != self.code or not self.editor.toPlainText():
            bar = self.editor.verticalScrollBar()
            keep = bar.value()
            self.code = code
            self.editor.setPlainText(code)
            bar.setValue(keep)
        if problem:
            first = problem.split("; ")[0]
            more = " …" if "; " in problem else ""
            prefix = "Shown: the code of the last valid model. " if self.code else ""
            self.info.setText(f"<span style='color:#d93025'><b>The model has a problem:</b> "
                              f"{_escape(first)}{more}</span><br>{prefix}The code follows as "
                              "soon as the model is valid again.")
            self.editor.setStyleSheet("QPlainTextEdit { background: #f1f3f4; color: #6e7781; }")
        else:
            lines = code.count("\n")
            self.info.setText("Keras code of this model, kept up to date as you edit "
                              f"({lines} lines). Run it, or call <code>build_model()</code>.")
            self.editor.setStyleSheet("QPlainTextEdit { background: #fbfbfc; }")
        self.copy_button.setEnabled(bool(self.code))
        self.refreshed.emit(self.code if not problem else "")

    def copy(self) -> None:
        if self.code:
            QApplication.clipboard().setText(self.code)
            self.copy_button.setText("Copied")
            QTimer.singleShot(1500, self, lambda: self.copy_button.setText("Copy"))


def _escape(text: str) -> str:
    from html import escape

    return escape(text)
