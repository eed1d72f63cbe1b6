"""What the settings dialogs share: a red line saying why OK did not apply, above the
OK / Cancel / Restore Defaults row."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout

from netbuilder.ui import theme


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
