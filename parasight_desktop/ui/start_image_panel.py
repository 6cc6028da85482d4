"""Start from an image: open, drop or paste a photo, draw a sketch, mask a region.

The panel edits the :class:`Sighting` and shows it: the start image fitted to the
model's size (cropped or fitted whole; the library's loader reads the file, honouring
its EXIF orientation), the mask over it, and the strength, said in words. A model that
cannot start from an image (no image encoder) says so and leaves the panel closed
instead of failing later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)

from ..library.sighting import FROM_CLIPBOARD, FROM_FILE, FROM_IMAGE, FROM_SKETCH, Sighting
from ..library.start_image import StartImageError, load_start_image
from .images import array_to_qimage
from .signals import emit
from .sketch_canvas import MASK_TINT
from .sketch_dialog import MaskDialog, SketchDialog

THUMB = 112
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff)"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
FIT_MODES = (("crop", "Crop to fill"), ("fit", "Fit inside"))


def strength_words(strength: float) -> str:
    """What a strength does to the start image, for the slider's label."""
    if strength <= 0.2:
        words = "keeps nearly all of it, touches up fine detail"
    elif strength <= 0.4:
        words = "keeps the shapes and colours, changes details"
    elif strength <= 0.6:
        words = "keeps the layout and main colours, redraws the rest"
    elif strength <= 0.8:
        words = "keeps the rough layout, redraws most of it"
    else:
        words = "uses it only as a loose guide"
    return f"{strength:.2f} \u2014 {words}"


def no_encoder_reason(model_name: str) -> str:
    return (f"{model_name} cannot start from an image (it has no image encoder): "
            "choose a model that can, or describe the sighting in words.")


class StartImagePanel(QGroupBox):
    """The start image, its mask and strength, edited into ``sighting``."""

    #: a sentence for the message bar (a file that could not be read, say)
    error = Signal(str)
    #: a sentence for the status bar
    status = Signal(str)

    def __init__(self, sighting: Sighting, parent: QWidget | None = None) -> None:
        super().__init__("Start from an image", parent)
        self.setObjectName("startImagePanel")
        self.setAcceptDrops(True)
        self.sighting = sighting
        self._size = (128, 128)
        self._available = True
        self._source: Path | bytes | None = None  # the file, to fit it again another way
        self._source_name = ""
        self.sketch_dialog: SketchDialog | None = None
        self.mask_dialog: MaskDialog | None = None
        self._steps = 0

        self.thumb = QLabel()
        self.thumb.setObjectName("startThumb")
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setFrameShape(QLabel.Shape.StyledPanel)
        self.caption = QLabel()
        self.caption.setObjectName("startCaption")
        self.caption.setWordWrap(True)
        self.reason = QLabel()
        self.reason.setObjectName("noEncoderReason")
        self.reason.setWordWrap(True)
        self.reason.hide()

        self.open_button = self._button("Open\u2026", "openStart", self.ask_open,
                                        "Start from a photo or picture (also: drop or paste one)")
        self.paste_button = self._button("Paste", "pasteStart", self.paste,
                                         "Start from the image on the clipboard")
        self.sketch_button = self._button("Sketch\u2026", "sketchStart", self.open_sketch,
                                          "Draw what you saw and start from the drawing")
        self.mask_button = self._button("Paint mask\u2026", "paintMask", self.open_mask,
                                        "Paint the part of the start image to change")
        self.clear_button = self._button("Clear", "clearStart", self.clear,
                                         "Back to making the image from the description alone")
        self.fit = QComboBox()
        self.fit.setObjectName("fitMode")
        self.fit.setAccessibleName("How a picture is fitted to the model's size")
        for mode, label in FIT_MODES:
            self.fit.addItem(label, mode)
        self.fit.currentIndexChanged.connect(self._refit)

        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setObjectName("strength")
        self.strength.setAccessibleName("Strength")
        self.strength.setRange(5, 100)
        self.strength.setSingleStep(5)
        self.strength.setPageStep(10)
        self.strength.setValue(round(sighting.strength * 100))
        self.strength.setToolTip("How much of the start image is made again: low keeps it, "
                                 "high only borrows its layout.")
        self.strength.valueChanged.connect(self._on_strength)
        self.strength_label = QLabel()
        self.strength_label.setObjectName("strengthWords")
        self.strength_label.setWordWrap(True)

        buttons = QGridLayout()
        for i, b in enumerate((self.open_button, self.paste_button, self.sketch_button,
                               self.mask_button, self.clear_button)):
            buttons.addWidget(b, i // 2, i % 2)
        buttons.addWidget(self.fit, 2, 1)
        top = QHBoxLayout()
        top.addWidget(self.thumb)
        top.addLayout(buttons, 1)
        grid = QGridLayout(self)
        grid.addLayout(top, 0, 0, 1, 2)
        grid.addWidget(self.caption, 1, 0, 1, 2)
        strength_caption = QLabel("St&rength:")
        strength_caption.setBuddy(self.strength)
        grid.addWidget(strength_caption, 2, 0)
        grid.addWidget(self.strength, 2, 1)
        grid.addWidget(self.strength_label, 3, 0, 1, 2)
        grid.addWidget(self.reason, 4, 0, 1, 2)
        sighting.subscribe(self.refresh)
        self.refresh()

    def fit_mode(self) -> str:
        return str(self.fit.currentData())

    def set_fit_mode(self, mode: str) -> None:
        index = self.fit.findData(mode)
        if index >= 0:
            self.fit.setCurrentIndex(index)

    def tab_chain(self) -> list[QWidget]:
        return [self.open_button, self.paste_button, self.sketch_button, self.mask_button,
                self.clear_button, self.fit, self.strength]

    def _button(self, text: str, name: str, slot: Any, tip: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    # -- the model -----------------------------------------------------------------------

    def set_model(self, width: int, height: int, can_start: bool, name: str = "") -> None:
        """The chosen model's size, and whether it can start from an image at all."""
        resized = (width, height) != self._size
        self._size = (width, height)
        self._available = can_start
        self.reason.setText("" if can_start else no_encoder_reason(name or "This model"))
        self.reason.setVisible(not can_start)
        if resized and self.sighting.start is not None:
            if isinstance(self._source, (Path, bytes)):
                self._refit()  # the file again, fitted to the new size
            else:
                self.sighting.clear_start()
                emit(self.status, "The start image was cleared: it was made for another size.")
        self.refresh()

    def model_size(self) -> tuple[int, int]:
        return self._size

    def set_steps(self, steps: int) -> None:
        """The steps asked for, to say how many a start image takes."""
        self._steps = steps
        self._update_strength_label()

    # -- loading ---------------------------------------------------------------------------

    def load(self, source: Path | bytes, name: str = "", kind: str = FROM_FILE) -> bool:
        """Fit a file (or its bytes) to the model and make it the start image. A file that
        cannot be read leaves the current start image as it was and says why."""
        if not self._available:
            emit(self.error, self.reason.text())
            return False
        name = name or (source.name if isinstance(source, Path) else "pasted image")
        mode = str(self.fit.currentData())
        try:
            pixels, detail, notes = _load(source, self._size, mode)
        except (StartImageError, OSError) as err:
            emit(self.error, str(err))  # the current start image stays as it was
            return False
        self._source, self._source_name = source, name
        self.sighting.set_start(pixels, name + detail, kind, fit=mode)
        emit(self.status, " ".join((f"Starting from {name}.", *notes)))
        return True

    def _refit(self) -> None:
        start = self.sighting.start
        if self._source is not None and start is not None and start.kind in (
                FROM_FILE, FROM_CLIPBOARD):
            self.load(self._source, self._source_name, start.kind)

    def ask_open(self) -> None:
        path = self.ask_open_path()
        if path is not None:
            self.load(path)

    def ask_open_path(self) -> Path | None:
        """A file dialog; tests replace this method."""
        name, _ = QFileDialog.getOpenFileName(self, "Start from an image", "", IMAGE_FILTER)
        return Path(name) if name else None

    def paste(self) -> bool:
        mime = QGuiApplication.clipboard().mimeData()
        return self.load_mime(mime, FROM_CLIPBOARD)

    def load_mime(self, mime: QMimeData | None, kind: str = FROM_FILE) -> bool:
        if mime is None:
            return False
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile():
                return self.load(Path(url.toLocalFile()))
        if mime.hasImage():
            image = QImage(mime.imageData())
            return self.load(_png_bytes(image), "pasted image", kind)
        emit(self.error, "There is no image on the clipboard: copy one, then paste again.")
        return False

    def use_sketch(self, pixels: NDArray[np.uint8]) -> None:
        self._source = None
        self.sighting.set_start(pixels, "sketch", FROM_SKETCH)
        emit(self.status, "Starting from your sketch.")

    def clear(self) -> None:
        self._source = None
        self.sighting.clear_start()

    # -- sketch and mask windows ---------------------------------------------------------------

    def open_sketch(self) -> SketchDialog:
        """The sketch window (one at a time, kept: its drawing and undo survive closing)."""
        w, h = self._size
        d = self.sketch_dialog
        if d is None or d.canvas.image_size() != (w, h):
            d = SketchDialog(w, h, self.window())
            d.used.connect(self.use_sketch)
            self.sketch_dialog = d
        d.show()
        d.raise_()
        return d

    def open_mask(self) -> MaskDialog | None:
        start = self.sighting.start
        if start is None:
            emit(self.error, "Paint a mask over a start image: open, sketch or refine one "
                             "first.")
            return None
        if self.mask_dialog is not None:
            self.mask_dialog.close()
        d = MaskDialog(start.pixels, self.window())
        d.painter.set_mask(self.sighting.mask)
        d.used.connect(lambda mask, over=start: self._use_mask(mask, over))
        self.mask_dialog = d
        d.show()
        d.raise_()
        return d

    def _use_mask(self, mask: NDArray[np.uint8], over: object) -> None:
        if self.sighting.start is not over:
            emit(self.error, "The start image changed while the mask was painted: paint it "
                             "again.")
            return
        self.sighting.set_mask(mask)
        emit(self.status, "Only the painted part will change." if self.sighting.mask is not None
             else "No mask: the whole image may change.")

    # -- drops -------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if self._available and (mime.hasImage() or any(
                Path(u.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES for u in mime.urls())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        self.load_mime(event.mimeData())

    # -- showing ---------------------------------------------------------------------------

    def _on_strength(self, value: int) -> None:
        self.sighting.set_strength(value / 100)

    def _update_strength_label(self) -> None:
        text = strength_words(self.sighting.strength)
        if self.sighting.start is not None and self._steps:
            run = self.sighting.steps_to_run(self._steps)
            text += f" ({run} of {self._steps} steps)"
        self.strength_label.setText(text)

    def refresh(self) -> None:
        s = self.sighting
        start = s.start
        has = start is not None
        if round(s.strength * 100) != self.strength.value():
            self.strength.blockSignals(True)
            self.strength.setValue(round(s.strength * 100))
            self.strength.blockSignals(False)
        self._update_strength_label()
        for w in (self.open_button, self.paste_button, self.sketch_button, self.fit):
            w.setEnabled(self._available)
        self.mask_button.setEnabled(self._available and has)
        self.clear_button.setEnabled(has)
        self.strength.setEnabled(self._available and has)
        if start is None:
            self.thumb.setPixmap(QPixmap())
            self.thumb.setText("No start image:\nmade from the\ndescription")
            self.caption.setText("Open, drop or paste a picture, or sketch what you saw.")
            return
        self.thumb.setPixmap(thumbnail(start.pixels, s.mask))
        what = {FROM_SKETCH: "Your sketch", FROM_IMAGE: f"Refining {start.source}",
                FROM_CLIPBOARD: "Pasted image"}.get(start.kind, start.source)
        if start.kind == FROM_CLIPBOARD:
            what = start.source[:1].upper() + start.source[1:]
        caption = what
        if s.mask is not None:
            share = float((s.mask > 0).mean())
            caption += f"; only the tinted part changes ({share:.0%} of the image)"
        self.caption.setText(caption + ".")


def thumbnail(pixels: NDArray[np.uint8], mask: NDArray[np.uint8] | None) -> QPixmap:
    """The start image at panel size, the mask tinted over it."""
    image = array_to_qimage(pixels)
    if mask is not None:
        h, w = mask.shape
        argb = np.zeros((h, w, 4), np.uint8)
        on = mask > 127
        a = MASK_TINT.alpha()
        # premultiplied BGRA
        argb[on] = (MASK_TINT.blue() * a // 255, MASK_TINT.green() * a // 255,
                    MASK_TINT.red() * a // 255, a)
        overlay = QImage(argb.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
        image = image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
        p = QPainter(image)
        p.drawImage(0, 0, overlay.copy())
        p.end()
    return QPixmap.fromImage(image).scaled(
        THUMB - 4, THUMB - 4, Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation)


def _png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # (QIODevice, format) exists
    buffer.close()
    return bytes(data.data())


def _load(source: Path | bytes, size: tuple[int, int], mode: str
          ) -> tuple[NDArray[np.uint8], str, tuple[str, ...]]:
    """The library's loader (EXIF, big JPEGs, fitting): pixels at ``size``, a few words on
    how it was fitted, and its notes (an animated GIF's first frame, say)."""
    width, height = size
    start = load_start_image(source, width, height, mode="fit" if mode == "fit" else "crop")
    ow, oh = start.original_size
    how = "cropped" if mode == "crop" else "fitted"
    detail = f" ({ow}\u00d7{oh}, {how})" if (ow, oh) != (width, height) else ""
    return start.pixels, detail, start.notes
