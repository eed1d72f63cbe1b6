"""Images (numpy arrays) as Qt pixmaps: the data preview's samples, the misclassified samples, the
Inspect dock's input. numpy is imported on first use."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def to_qimage(image: Any) -> QImage:
    """One image, (h, w), (h, w, 1), (h, w, 3) or (h, w, 4), as a QImage (a copy); values
    outside 0..255 are clipped, other channel counts show their first channel."""
    import numpy as np

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] not in (3, 4):
        arr = arr[:, :, 0]                # other channel counts: the first channel
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 2 and arr.ndim != 3:
        raise ValueError(f"not an image: shape {arr.shape}")
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        qimage = QImage(arr.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        qimage = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return qimage.copy()


def thumbnail(image: Any, size: int) -> QPixmap:
    """``image`` as a pixmap fitting a ``size`` square; small images are enlarged without
    blurring."""
    qimage = to_qimage(image)
    longest = max(qimage.width(), qimage.height())
    mode = (Qt.TransformationMode.FastTransformation if longest < size
            else Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(qimage.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode))
