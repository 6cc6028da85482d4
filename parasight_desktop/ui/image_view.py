"""The image, fitted to the view; wheel to zoom, 1:1 for actual pixels, drag it out to share."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QPoint, QRectF, Qt, QUrl, Signal
from PySide6.QtGui import (
    QDrag,
    QImage,
    QMouseEvent,
    QPainter,
    QPalette,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
)

from .signals import emit

MIN_ZOOM = 0.05
MAX_ZOOM = 32.0


class ImageView(QGraphicsView):
    """Shows one image. Fit mode follows the window's size until the person zooms."""

    zoom_changed = Signal(float)

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.setObjectName("imageView")
        self.setAccessibleName("Image")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scene.addItem(self._item)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(256, 256)
        self._fit = True
        self._image = QImage()
        self._file: Path | None = None
        self._placeholder = QLabel("Your image will appear here.", self)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(True)
        self._placeholder.setObjectName("imagePlaceholder")
        self._placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._apply_backdrop()
        self._press_pos: QPoint | None = None
        self._draggable = False

    # -- content -------------------------------------------------------------------

    def set_image(self, image: QImage, file: Path | None = None, draggable: bool = True) -> None:
        """Show a finished image; ``file`` (if any) travels with it when dragged out."""
        self._image = image
        self._file = file
        self._draggable = draggable and not image.isNull()
        self._item.setPixmap(QPixmap.fromImage(image))
        self._scene.setSceneRect(QRectF(self._item.pixmap().rect()))
        self._refit()

    def set_preview(self, image: QImage, width: int, height: int) -> None:
        """Show a small preview of the image forming, stretched to the final image's size."""
        pixmap = QPixmap.fromImage(image)
        if width > 0 and height > 0 and (pixmap.width(), pixmap.height()) != (width, height):
            pixmap = pixmap.scaled(
                width, height, Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self._image = QImage()
        self._file = None
        self._draggable = False
        self._item.setPixmap(pixmap)
        self._scene.setSceneRect(QRectF(pixmap.rect()))
        self._refit()

    def clear(self, placeholder: str | None = None) -> None:
        if placeholder is not None:
            self._placeholder.setText(placeholder)
        self._image = QImage()
        self._file = None
        self._draggable = False
        self._item.setPixmap(QPixmap())
        self._placeholder.show()

    def image(self) -> QImage:
        return self._image

    def has_pixmap(self) -> bool:
        return not self._item.pixmap().isNull()

    # -- zoom ----------------------------------------------------------------------

    @property
    def fit_mode(self) -> bool:
        return self._fit

    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fit = True
        self._refit()

    def actual_size(self) -> None:
        """1:1: one image pixel per screen pixel."""
        self._fit = False
        self.resetTransform()
        self.centerOn(self._item)
        emit(self.zoom_changed, self.zoom())

    def zoom_by(self, factor: float) -> None:
        current = self.zoom()
        target = min(MAX_ZOOM, max(MIN_ZOOM, current * factor))
        if target == current:
            return
        self._fit = False
        self.scale(target / current, target / current)
        emit(self.zoom_changed, self.zoom())

    def _apply_backdrop(self) -> None:
        """A shade off the window's colour, so the image's edges show in light and dark."""
        window = self.palette().color(QPalette.ColorRole.Window)
        backdrop = window.darker(112) if window.lightness() >= 128 else window.lighter(135)
        self.setBackgroundBrush(backdrop)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_backdrop()
        super().changeEvent(event)

    def _refit(self) -> None:
        self._placeholder.setVisible(not self.has_pixmap())
        if self._fit and self.has_pixmap():
            self.resetTransform()
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
            emit(self.zoom_changed, self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if not self.has_pixmap() or delta == 0:
            super().wheelEvent(event)
            return
        self.zoom_by(1.25 ** (delta / 120.0))
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._placeholder.setGeometry(self.viewport().geometry())
        self._refit()

    # -- drag out ------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._draggable and self._fit:
            self._press_pos = event.position().toPoint()
        elif event.button() == Qt.MouseButton.LeftButton and not self._fit:
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)  # pan when zoomed in
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press_pos is not None and (
            event.position().toPoint() - self._press_pos
        ).manhattanLength() >= QApplication.startDragDistance():
            self._press_pos = None
            self.start_drag()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press_pos = None
        super().mouseReleaseEvent(event)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)

    def mime_data(self) -> QMimeData:
        """The image itself, and its PNG file (with metadata) where there is one."""
        mime = QMimeData()
        mime.setImageData(self._image)
        if self._file is not None:
            mime.setUrls([QUrl.fromLocalFile(str(self._file))])
        return mime

    def start_drag(self) -> None:
        drag = QDrag(self)
        drag.setMimeData(self.mime_data())
        thumb = QPixmap.fromImage(self._image).scaled(
            96, 96, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        drag.setPixmap(thumb)
        drag.exec(Qt.DropAction.CopyAction)
