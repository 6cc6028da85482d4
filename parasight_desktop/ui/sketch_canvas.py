"""Drawing surfaces at the model's size: a sketch to start from, and a mask over an image.

:class:`SketchCanvas` is a background colour under one drawing layer: brush strokes,
filled shapes and the eraser (which shows the background again) go on the layer, so
changing the background keeps the drawing. :class:`MaskPainter` paints the region of
the current image that may change, shown as a translucent overlay.

Both keep every edit undoable (:data:`UNDO_LIMIT` steps) and work in image pixels at
the model's size, whatever size the widget is shown at. The programmatic API
(``stroke``, ``fill_shape``, ``erase``...) is what the mouse uses too, so tests and
scripts draw exactly what a person would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from .images import array_to_qimage, qimage_to_array
from .signals import emit

#: How many edits undo can take back.
UNDO_LIMIT = 50
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
#: The mask overlay: the region that may change, tinted.
MASK_TINT = QColor(255, 40, 120, 130)

Point = tuple[float, float]
RGB = tuple[int, int, int]


def _clear_layer(width: int, height: int) -> QImage:
    layer = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    layer.fill(Qt.GlobalColor.transparent)
    return layer


class PaintSurface(QWidget):
    """A layer at image size, shown fitted in the widget, with undo/redo and a brush.

    Subclasses say what is under the layer (:meth:`_paint_under`) and what the layer
    means. ``tool`` is "brush" or "eraser" for the mouse.
    """

    changed = Signal()
    #: undo, redo available
    history_changed = Signal(bool, bool)

    def __init__(self, width: int = 128, height: int = 128, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.brush_size = 8.0
        self.color: RGB = BLACK
        self.tool = "brush"
        self._last: Point | None = None
        self._undo: list[tuple[object, QImage]] = []
        self._redo: list[tuple[object, QImage]] = []
        self._layer = _clear_layer(width, height)

    # -- size and coordinates -----------------------------------------------------------

    def image_size(self) -> tuple[int, int]:
        return self._layer.width(), self._layer.height()

    def set_size(self, width: int, height: int) -> None:
        """Start again, blank, at ``width`` x ``height`` (the model's size)."""
        self._layer = _clear_layer(width, height)
        self._undo.clear()
        self._redo.clear()
        self.updateGeometry()
        self._changed()

    def sizeHint(self) -> QSize:
        w, h = self.image_size()
        scale = max(1, 384 // max(w, h))
        return QSize(w * scale, h * scale)

    def target_rect(self) -> QRectF:
        """Where the image is drawn: fitted in the widget, centred, aspect kept."""
        w, h = self.image_size()
        scale = min(self.width() / w, self.height() / h)
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def to_image(self, pos: QPointF) -> Point:
        r = self.target_rect()
        w, h = self.image_size()
        return ((pos.x() - r.x()) * w / r.width(), (pos.y() - r.y()) * h / r.height())

    # -- undo ---------------------------------------------------------------------------

    def _state(self) -> object:
        """What besides the layer an edit can change (the sketch's background)."""
        return None

    def _set_state(self, state: object) -> None:
        pass

    def _push(self) -> None:
        """Remember how things are before an edit."""
        self._undo.append((self._state(), self._layer.copy()))
        del self._undo[:-UNDO_LIMIT]
        self._redo.clear()

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append((self._state(), self._layer.copy()))
        state, self._layer = self._undo.pop()
        self._set_state(state)
        self._changed()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append((self._state(), self._layer.copy()))
        state, self._layer = self._redo.pop()
        self._set_state(state)
        self._changed()
        return True

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def _changed(self) -> None:
        self.update()
        emit(self.history_changed, self.can_undo(), self.can_redo())
        emit(self.changed)

    # -- drawing on the layer -----------------------------------------------------------

    def _painter(self, erase: bool) -> QPainter:
        p = QPainter(self._layer)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if erase:
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
        return p

    def _line(self, points: Sequence[Point], color: QColor, size: float, erase: bool) -> None:
        p = self._painter(erase)
        pen = QPen(color, max(1.0, float(size)), Qt.PenStyle.SolidLine,
                   Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        pts = [QPointF(x, y) for x, y in points]
        if len(pts) == 1:
            p.drawPoint(pts[0])
        else:
            p.drawPolyline(pts)
        p.end()

    def _shape(self, points: Sequence[Point], color: QColor, erase: bool = False) -> None:
        p = self._painter(erase)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QBrush(color))
        p.drawPolygon(QPolygonF([QPointF(x, y) for x, y in points]))
        p.end()

    def _ink(self) -> QColor:
        return QColor(*self.color)

    def clear(self) -> None:
        """Take the whole layer away (undoable)."""
        self._push()
        self._layer.fill(Qt.GlobalColor.transparent)
        self._changed()

    def erase(self, points: Sequence[Point], size: float) -> None:
        """Take the layer away along ``points`` (image pixels), ``size`` pixels wide."""
        if not points:
            return
        self._push()
        self._line(points, QColor(0, 0, 0), size, erase=True)
        self._changed()

    # -- the mouse: the same drawing as the API, one segment at a time ------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self._last = self.to_image(event.position())
        self._push()
        self._mouse_segment([self._last])

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return
        point = self.to_image(event.position())
        self._mouse_segment([self._last, point])
        self._last = point

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._last is not None:
            self._last = None
            self._changed()

    def _mouse_segment(self, points: list[Point]) -> None:
        erase = self.tool == "eraser"
        self._line(points, self._ink(), self.brush_size, erase)
        self.update()

    # -- showing ------------------------------------------------------------------------

    def _paint_under(self, p: QPainter, target: QRectF) -> None:
        raise NotImplementedError

    def _paint_layer(self, p: QPainter, target: QRectF) -> None:
        p.drawImage(target, self._layer)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        target = self.target_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self._paint_under(p, target)
        self._paint_layer(p, target)
        p.setPen(QPen(self.palette().mid().color(), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        p.end()


class SketchCanvas(PaintSurface):
    """A sketch to start an image from: a background colour and a drawing over it."""

    def __init__(self, width: int = 128, height: int = 128, parent: QWidget | None = None) -> None:
        super().__init__(width, height, parent)
        self.setObjectName("sketchCanvas")
        self.setAccessibleName("Sketch")
        self._background: RGB = WHITE

    def _state(self) -> object:
        return self._background

    def _set_state(self, state: object) -> None:
        assert isinstance(state, tuple)
        self._background = state

    @property
    def background(self) -> RGB:
        return self._background

    def set_size(self, width: int, height: int) -> None:
        self._background = WHITE
        super().set_size(width, height)

    def fill_background(self, rgb: RGB) -> None:
        """The colour under the drawing (and what the eraser shows)."""
        self._push()
        self._background = _rgb(rgb)
        self._changed()

    def fill_shape(self, points: Sequence[Point], rgb: RGB) -> None:
        """A filled polygon through ``points`` (image pixels)."""
        if len(points) < 3:
            raise ValueError("A shape needs at least three points.")
        self._push()
        self._shape(points, QColor(*_rgb(rgb)))
        self._changed()

    def stroke(self, points: Sequence[Point], rgb: RGB, size: float) -> None:
        """A brush stroke through ``points`` (image pixels), ``size`` pixels wide."""
        if not points:
            return
        self._push()
        self._line(points, QColor(*_rgb(rgb)), size, erase=False)
        self._changed()

    def clear(self) -> None:
        """A blank white sheet (undoable)."""
        self._push()
        self._background = WHITE
        self._layer.fill(Qt.GlobalColor.transparent)
        self._changed()

    def image(self) -> QImage:
        """The sketch as an RGB image at the model's size."""
        w, h = self.image_size()
        out = QImage(w, h, QImage.Format.Format_RGB32)
        out.fill(QColor(*self._background))
        p = QPainter(out)
        p.drawImage(0, 0, self._layer)
        p.end()
        return out

    def pixels(self) -> NDArray[np.uint8]:
        return qimage_to_array(self.image())

    def _paint_under(self, p: QPainter, target: QRectF) -> None:
        p.fillRect(target, QColor(*self._background))


class MaskPainter(PaintSurface):
    """Paint over the current image the region that may change; the rest is kept."""

    def __init__(self, width: int = 128, height: int = 128, parent: QWidget | None = None) -> None:
        super().__init__(width, height, parent)
        self.setObjectName("maskPainter")
        self.setAccessibleName("Mask: paint the part to change")
        self.brush_size = 16.0
        self._base = QImage(width, height, QImage.Format.Format_RGB32)
        self._base.fill(Qt.GlobalColor.gray)

    def _ink(self) -> QColor:
        return QColor(255, 255, 255)

    def set_image(self, pixels: NDArray[np.uint8]) -> None:
        """The image being masked (its size becomes the mask's); the mask starts empty."""
        self._base = array_to_qimage(pixels)
        self.set_size(self._base.width(), self._base.height())

    def set_mask(self, mask: NDArray[np.uint8] | None) -> None:
        """Show an earlier mask (undoable); None clears."""
        self._push()
        self._layer.fill(Qt.GlobalColor.transparent)
        if mask is not None:
            h, w = mask.shape
            argb = np.zeros((h, w, 4), np.uint8)
            argb[..., :] = (mask > 127)[..., None] * 255  # premultiplied white
            q = QImage(argb.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
            p = QPainter(self._layer)
            p.drawImage(0, 0, q.copy())
            p.end()
        self._changed()

    def paint(self, points: Sequence[Point], size: float) -> None:
        """Mark the region along ``points`` (image pixels) as one that may change."""
        if not points:
            return
        self._push()
        self._line(points, self._ink(), size, erase=False)
        self._changed()

    def paint_shape(self, points: Sequence[Point]) -> None:
        """Mark a filled polygon as a region that may change."""
        self._push()
        self._shape(points, self._ink())
        self._changed()

    def mask(self) -> NDArray[np.uint8]:  # type: ignore[override]
        """(height, width) uint8: 255 where the image may change, 0 where it is kept.
        (QWidget.mask, the widget's own shape, is not virtual: Qt never calls this.)"""
        alpha = qimage_alpha(self._layer)
        return np.where(alpha >= 128, 255, 0).astype(np.uint8)

    def _paint_under(self, p: QPainter, target: QRectF) -> None:
        p.drawImage(target, self._base)

    def _paint_layer(self, p: QPainter, target: QRectF) -> None:
        tinted = self._layer.copy()
        tp = QPainter(tinted)
        tp.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        tp.fillRect(tinted.rect(), MASK_TINT)
        tp.end()
        p.drawImage(target, tinted)


def qimage_alpha(image: QImage) -> NDArray[np.uint8]:
    """The alpha channel of an ARGB image, (height, width) uint8 (a copy)."""
    img = image.convertToFormat(QImage.Format.Format_ARGB32)
    h, w = img.height(), img.width()
    data = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
    return data.reshape(h, img.bytesPerLine())[:, : 4 * w].reshape(h, w, 4)[..., 3].copy()


def _rgb(rgb: Sequence[int]) -> RGB:
    r, g, b = (int(v) for v in rgb)
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise ValueError(f"A colour is three values 0-255, got {tuple(rgb)}.")
    return r, g, b
