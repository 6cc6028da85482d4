"""numpy <-> QImage, always by copy (a QImage that borrows a numpy buffer must not outlive it)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtGui import QImage


def array_to_qimage(array: NDArray[np.uint8]) -> QImage:
    """A deep-copied RGB888 QImage of an (h, w, 3) uint8 array, safe to send to another thread."""
    rgb = np.ascontiguousarray(array, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) image, got shape {rgb.shape}")
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def qimage_to_array(image: QImage) -> NDArray[np.uint8]:
    """The pixels of ``image`` as a new (h, w, 3) uint8 RGB array."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = rgb.height(), rgb.width(), rgb.bytesPerLine()
    buffer = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * h)
    return buffer.reshape(h, stride)[:, : 3 * w].reshape(h, w, 3).copy()
