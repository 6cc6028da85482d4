"""The sketch and mask windows: a drawing surface with its tools (brush sizes, colours,
eraser, background, undo/redo, clear). Not modal: the main window stays usable, and a
generation goes on while the person draws."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .signals import emit
from .sketch_canvas import RGB, MaskPainter, PaintSurface, SketchCanvas

#: Basic colours a sighting is drawn in: night, sky, glow, creatures, ground.
PALETTE: tuple[tuple[str, RGB], ...] = (
    ("Black", (0, 0, 0)),
    ("White", (255, 255, 255)),
    ("Grey", (128, 128, 128)),
    ("Red", (220, 40, 40)),
    ("Orange", (245, 140, 20)),
    ("Yellow", (250, 220, 40)),
    ("Green", (40, 160, 60)),
    ("Blue", (40, 90, 220)),
    ("Night blue", (15, 20, 60)),
    ("Purple", (140, 60, 190)),
    ("Brown", (120, 75, 35)),
)
BRUSH_SIZES = (2, 4, 8, 16, 32)


def swatch(rgb: RGB, size: int = 18) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class _SurfaceDialog(QDialog):
    """A surface, a row of tools above it, undo/redo/clear and Use/Cancel below."""

    def __init__(self, surface: PaintSurface, title: str, use_text: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.surface = surface
        self.tools = QHBoxLayout()

        self.size_box = QComboBox()
        self.size_box.setObjectName("brushSize")
        self.size_box.setAccessibleName("Brush size")
        for px in BRUSH_SIZES:
            self.size_box.addItem(f"{px} px", px)
        self.size_box.setCurrentIndex(max(0, self.size_box.findData(int(surface.brush_size))))
        self.size_box.currentIndexChanged.connect(
            lambda _i: setattr(self.surface, "brush_size", float(self.size_box.currentData())))
        self.brush_button = self._check_button("Brush", "brushTool", "B")
        self.eraser_button = self._check_button("Eraser", "eraserTool", "E")
        self.brush_button.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.brush_button)
        group.addButton(self.eraser_button)
        self.brush_button.toggled.connect(lambda on: self._set_tool("brush" if on else "eraser"))

        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("undoSketch")
        self.undo_button.clicked.connect(surface.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.setObjectName("redoSketch")
        self.redo_button.clicked.connect(surface.redo)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setObjectName("clearSketch")
        self.clear_button.clicked.connect(surface.clear)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Undo), self, surface.undo)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Redo), self, surface.redo)
        surface.history_changed.connect(self._update_history)
        self._update_history(surface.can_undo(), surface.can_redo())

        edits = QHBoxLayout()
        edits.addWidget(self.undo_button)
        edits.addWidget(self.redo_button)
        edits.addWidget(self.clear_button)
        edits.addStretch(1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = self.buttons.addButton(use_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setObjectName("useSketch")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        edits.addWidget(self.buttons)

        self.hint = QLabel()
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self.tools)
        layout.addWidget(surface, 1)
        layout.addWidget(self.hint)
        layout.addLayout(edits)

    def _check_button(self, text: str, name: str, key: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setObjectName(name)
        button.setCheckable(True)
        button.setShortcut(QKeySequence(key))
        button.setToolTip(f"{text} ({key})")
        return button

    def _set_tool(self, tool: str) -> None:
        self.surface.tool = tool

    def _update_history(self, can_undo: bool, can_redo: bool) -> None:
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)


class SketchDialog(_SurfaceDialog):
    """Draw what was seen; "Use sketch" makes it the start image."""

    used = Signal(object)  # the sketch's pixels, (H, W, 3) uint8

    def __init__(self, width: int, height: int, parent: QWidget | None = None) -> None:
        self.canvas = SketchCanvas(width, height)
        super().__init__(self.canvas, "Sketch the sighting", "Use sketch", parent)
        self.setObjectName("sketchDialog")
        self.colour_buttons: list[QToolButton] = []
        self.tools.addWidget(QLabel("Size:"))
        self.tools.addWidget(self.size_box)
        self.tools.addWidget(self.brush_button)
        self.tools.addWidget(self.eraser_button)
        for name, rgb in PALETTE:
            button = QToolButton()
            button.setIcon(swatch(rgb))
            button.setToolTip(name)
            button.setAccessibleName(name)
            button.clicked.connect(lambda _=False, c=rgb: self.set_colour(c))
            self.colour_buttons.append(button)
            self.tools.addWidget(button)
        self.other_colour = QToolButton()
        self.other_colour.setText("Other\u2026")
        self.other_colour.setObjectName("otherColour")
        self.other_colour.setToolTip("Choose any colour")
        self.other_colour.clicked.connect(self.choose_colour)
        self.tools.addWidget(self.other_colour)
        self.current_colour = QLabel()
        self.current_colour.setObjectName("currentColour")
        self.tools.addWidget(self.current_colour)
        self.background_button = QPushButton("Fill background")
        self.background_button.setObjectName("fillBackground")
        self.background_button.setToolTip("Put the chosen colour under the whole drawing")
        self.background_button.clicked.connect(
            lambda: self.canvas.fill_background(self.canvas.color))
        self.tools.addWidget(self.background_button)
        self.tools.addStretch(1)
        self.hint.setText(f"{width}\u00d7{height}, the model's size. Big shapes and flat "
                          "colours work best; the strength says how much of it is kept.")
        self.set_colour(self.canvas.color)
        self.accepted.connect(lambda: emit(self.used, self.canvas.pixels()))
        self.resize(640, 620)

    def set_colour(self, rgb: RGB) -> None:
        self.canvas.color = rgb
        self.current_colour.setPixmap(swatch(rgb, 22).pixmap(22, 22))
        self.current_colour.setToolTip(f"Drawing in rgb{rgb}")
        self.brush_button.setChecked(True)

    def ask_colour(self) -> QColor:
        """Any colour (QColorDialog); tests replace this method."""
        return QColorDialog.getColor(QColor(*self.canvas.color), self, "Choose a colour")

    def choose_colour(self) -> None:
        colour = self.ask_colour()
        if colour.isValid():
            self.set_colour((colour.red(), colour.green(), colour.blue()))


class MaskDialog(_SurfaceDialog):
    """Paint the region to change; "Use mask" keeps the rest of the image as it is."""

    used = Signal(object)  # the mask, (H, W) uint8, 255 = may change

    def __init__(self, pixels: object, parent: QWidget | None = None) -> None:
        self.painter = MaskPainter()
        super().__init__(self.painter, "Paint the part to change", "Use mask", parent)
        self.setObjectName("maskDialog")
        self.painter.set_image(pixels)  # type: ignore[arg-type]
        self.tools.addWidget(QLabel("Size:"))
        self.tools.addWidget(self.size_box)
        self.brush_button.setText("Paint")
        self.tools.addWidget(self.brush_button)
        self.tools.addWidget(self.eraser_button)
        self.tools.addStretch(1)
        self.hint.setText("Paint over what is wrong. Only the tinted part is made again; "
                          "the rest of the image is kept.")
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.accepted.connect(lambda: emit(self.used, self.painter.mask()))
        self.resize(560, 600)
