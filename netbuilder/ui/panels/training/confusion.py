"""The training panel's evaluation results: the confusion matrix and the misclassified samples
(thumbnails captioned "true → predicted (confidence)")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
)

from netbuilder.runtime.workers.protocol import decode_images
from netbuilder.ui.images import thumbnail

MISCLASSIFIED_THUMB = 48             # pixels


def fill_confusion(table: QTableWidget, matrix: list[list[int]], names: Sequence[str]) -> None:
    """Rows are the true classes, columns the predicted ones; green the diagonal, red the
    mistakes, stronger where there are more."""
    k = len(matrix)
    labels = [str(n) for n in names] if len(names) == k else [str(i) for i in range(k)]
    table.clear()
    table.setRowCount(k)
    table.setColumnCount(k)
    table.setHorizontalHeaderLabels(labels)
    table.setVerticalHeaderLabels(labels)
    peak = max((max(row) for row in matrix if row), default=1) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            item = QTableWidgetItem(str(count))
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            strength = count / peak
            base = QColor(46, 125, 50) if i == j else QColor(217, 48, 37)
            color = QColor(base)
            color.setAlphaF(0.08 + 0.6 * strength if count else 0.0)
            item.setBackground(QBrush(color))
            item.setToolTip(f"true {labels[i]}, predicted {labels[j]}: {count}")
            table.setItem(i, j, item)
    longest = max((len(label) for label in labels), default=1)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.horizontalHeader().setMinimumSectionSize(16)
    table.horizontalHeader().setDefaultSectionSize(min(60, max(22, 8 + 7 * longest)))
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setMinimumSectionSize(14)
    table.verticalHeader().setDefaultSectionSize(18)


def fill_misclassified(listing: QListWidget, title: QLabel, indices: list[int], count: int,
                       split: str, event: dict[str, Any], names: Sequence[str]) -> None:
    """A grid of thumbnails captioned "true → predicted (confidence)" when the evaluation
    ``event`` carries the samples' images and labels, else (runs of older workers) a list of
    their ``indices`` in the evaluated split."""
    listing.clear()
    images = None
    if event.get("misclassified_images"):
        try:
            images = decode_images(event["misclassified_images"])
        except (KeyError, TypeError, ValueError):
            images = None
    true = list(event.get("misclassified_true") or [])
    pred = list(event.get("misclassified_pred") or [])
    confidence = list(event.get("misclassified_confidence") or [])

    def name(k: Any) -> str:
        try:
            k = int(k)
        except (TypeError, ValueError):
            return "?"
        return str(names[k]) if 0 <= k < len(names) else str(k)

    if count == 0:
        title.setText(f"No misclassified {split} samples.")
    else:
        shown = len(indices)
        more = f", the first {shown} shown" if shown < count else ""
        title.setText(f"Misclassified {split} samples: {count}{more}"
                      + (". True → predicted (confidence)." if images is not None else "."))
    if images is not None and len(images):
        size = MISCLASSIFIED_THUMB
        listing.setViewMode(QListView.ViewMode.IconMode)
        listing.setFlow(QListView.Flow.LeftToRight)
        listing.setWrapping(True)
        listing.setResizeMode(QListView.ResizeMode.Adjust)
        listing.setMovement(QListView.Movement.Static)
        listing.setIconSize(QSize(size, size))
        listing.setGridSize(QSize(size + 34, size + 34))
        listing.setWordWrap(True)
        listing.setUniformItemSizes(True)
        listing.setSpacing(2)
        for k, image in enumerate(images):
            t = true[k] if k < len(true) else None
            p = pred[k] if k < len(pred) else None
            c = confidence[k] if k < len(confidence) else None
            conf = f" ({c:.0%})" if isinstance(c, (int, float)) else ""
            caption = f"{name(t)} → {name(p)}{conf}"
            index = indices[k] if k < len(indices) else k
            item = QListWidgetItem(QIcon(thumbnail(image, size)), caption)
            sure = f" with {c:.1%} confidence" if conf else ""
            item.setToolTip(f"{split} sample #{index}: true {name(t)}, predicted "
                            f"{name(p)}{sure}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            listing.addItem(item)
    else:
        listing.setViewMode(QListView.ViewMode.ListMode)
        listing.setGridSize(QSize())
        listing.setIconSize(QSize())
        listing.setWrapping(False)
        for k, i in enumerate(indices):
            text = f"{split} sample #{i}"
            if k < len(true) and k < len(pred):
                text += f": {name(true[k])} → {name(pred[k])}"
            listing.addItem(text)
    listing.setVisible(bool(listing.count()))
