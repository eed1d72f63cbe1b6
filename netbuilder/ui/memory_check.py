"""Before training starts in the editor: a warning when one batch needs more memory than the RAM
free now (``core.summary.training_memory_warning``), with the choice to go on or cancel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from netbuilder.core.graph import Graph
from netbuilder.core.summary import training_memory_warning


def confirm_training_memory(parent: QWidget | None, graph: Graph,
                            training: Mapping[str, Any] | None) -> bool:
    """True to train: the memory fits, or the user chose to train anyway."""
    warning = training_memory_warning(graph, training)
    if warning is None:
        return True
    answer = QMessageBox.warning(
        parent, "Training may run out of memory",
        f"{warning[0].upper()}{warning[1:]}.\n\nTrain anyway?",
        QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Ok
