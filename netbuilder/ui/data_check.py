"""The project's data against its outputs, shown in the editor (``core.data_fit``).

An overlay the document keeps, not part of shape inference: each problem (one sigmoid unit on
ten classes...) marks its output node as an error on the canvas and in the parameter editor, with
its repairs as quick fixes. It is checked again after every edit, undo and redo, when the
training or data settings change and when another project opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from netbuilder.core.data_fit import DataDescription, DataProblem, check_settings

if TYPE_CHECKING:
    from netbuilder.ui.document import Document


class DataCheck(QObject):
    """The data problems of the document's project, by output node id."""

    changed = Signal(list)
    """The problems of these node ids changed (appeared, went or now say something else)."""

    def __init__(self, document: Document) -> None:
        super().__init__(document)
        self.document = document
        self.problems: dict[str, DataProblem] = {}
        self.counted: dict[str, int] = {}
        """Class counts a data preview found, by source (folders, files: not known before)."""
        document.edited.connect(self.refresh)
        document.settings_changed.connect(lambda _key: self.refresh())
        document.project_replaced.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        settings = self.document.project.settings
        data = settings.get("data")
        source = data.get("source") if isinstance(data, dict) else data
        classes = self.counted.get(source) if isinstance(source, str) else None
        try:
            found = check_settings(self.document.graph, settings, classes)
        except Exception:  # a hint must never take an edit down with it
            found = []
        problems = {p.node_id: p for p in found}
        changed = [n for n in set(problems) | set(self.problems)
                   if problems.get(n) != self.problems.get(n)]
        self.problems = problems
        if changed:
            self.changed.emit(changed)

    def preview_seen(self, data: Any, event: dict[str, Any] | None) -> None:
        """The data dialog was accepted with ``data`` after a preview's ``"data"`` event: its
        class count counts for that source from now on."""
        source = data.get("source") if isinstance(data, dict) else None
        names = (event or {}).get("class_names")
        if isinstance(source, str) and isinstance(names, list) and names and \
                DataDescription.for_source(source) is None:
            self.counted[source] = len(names)
        self.refresh()
