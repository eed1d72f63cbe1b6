"""What the training's settings dialogs and fields share: a red line saying why OK did not
apply, above the OK / Cancel / Restore Defaults row; the data source chooser; a form's rows."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLayout,
    QVBoxLayout,
    QWidget,
)

from netbuilder.ui import theme

# runtime.data's built-in sources, named here so that the training panel does not load numpy
# with runtime.data as the editor starts (tests/ui/test_data_dialog.py checks that they agree)
BUILTIN_SOURCES = ("digits", "shapes", "mnist", "fashion_mnist", "cifar10")
CHOOSE_PATH = "Choose a folder or file…"


def add_rows(form: QFormLayout, *rows: tuple[str, QWidget | QLayout]) -> None:
    """Add ``(label, field)`` rows to ``form`` in order (label "": the field alone, under the
    others' fields)."""
    for label, field in rows:
        form.addRow(label, field)


def ok_cancel_buttons(dialog: QDialog, ok_text: str | None = None,
                      on_ok: Callable[[], object] | None = None) -> QDialogButtonBox:
    """OK (labelled ``ok_text``; it calls ``on_ok``, else accepts) and Cancel (rejects) for
    ``dialog``."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
    if ok_text is not None:
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(on_ok if on_ok is not None else dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class FormDialog(QDialog):
    """A dialog whose OK may refuse: ``add_footer`` puts the error line and the buttons at the
    end of its layout, ``show_error`` shows (or, with None, hides) the reason."""

    error_label: QLabel
    buttons: QDialogButtonBox

    def add_footer(self, layout: QVBoxLayout, restore: Callable[[], object],
                   error_name: str) -> None:
        """The error line (object name ``error_name``) and OK, Cancel and Restore Defaults
        (which calls ``restore``) at the end of ``layout``."""
        self.error_label = QLabel()
        self.error_label.setObjectName(error_name)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {theme.ERROR.name()};")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel
                                        | QDialogButtonBox.StandardButton.RestoreDefaults)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: restore())
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def show_error(self, text: str | None) -> None:
        self.error_label.setText(text or "")
        self.error_label.setVisible(bool(text))


class SourceCombo(QComboBox):
    """The training data's source: the built-in datasets, the paths chosen so far, and
    "Choose a folder or file…", which asks ``ask_path()`` (nothing chosen: the previous source
    stays)."""

    def __init__(self, ask_path: Callable[[], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ask_path = ask_path
        self.addItems(list(BUILTIN_SOURCES))
        self.addItem(CHOOSE_PATH)
        self.setToolTip("digits and shapes need no download; mnist, fashion_mnist and cifar10 "
                        "come from Keras' cache (or are downloaded); or a folder with one "
                        "sub-folder of images per class, a .npz or a .csv file")
        self._index = 0
        self.activated.connect(self.chosen)

    def set_source(self, source: str) -> None:
        index = self.findText(source)
        if index < 0:
            index = self.count() - 1      # before "Choose…"
            self.insertItem(index, source)
        self.setCurrentIndex(index)
        self._index = index

    def chosen(self, index: int) -> None:
        """The user picked row ``index``."""
        if self.itemText(index) != CHOOSE_PATH:
            self._index = index
            return
        path = self.ask_path()
        if path:
            self.set_source(path)
        else:
            self.setCurrentIndex(self._index)
