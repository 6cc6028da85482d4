"""The sketch canvas and the mask painter, real widgets offscreen: API, mouse, undo/redo."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from parasight_desktop.ui.sketch_canvas import UNDO_LIMIT, MaskPainter, SketchCanvas
from parasight_desktop.ui.sketch_dialog import MaskDialog, SketchDialog

pytestmark = pytest.mark.gui

RED = (220, 40, 40)
BLUE = (40, 90, 220)


@pytest.fixture
def canvas(qtbot) -> SketchCanvas:  # type: ignore[no-untyped-def]
    c = SketchCanvas(128, 96)
    qtbot.addWidget(c)
    c.resize(256, 192)
    c.show()
    return c


def test_a_new_canvas_is_white_at_the_models_size(canvas: SketchCanvas) -> None:
    px = canvas.pixels()
    assert px.shape == (96, 128, 3) and px.dtype == np.uint8 and (px == 255).all()
    canvas.set_size(64, 48)
    assert canvas.pixels().shape == (48, 64, 3)


def test_background_shape_stroke_and_erase_land_where_asked(canvas: SketchCanvas) -> None:
    canvas.fill_background((15, 20, 60))
    canvas.fill_shape([(10, 10), (60, 10), (60, 50), (10, 50)], RED)
    canvas.stroke([(80, 70), (120, 70)], BLUE, 6)
    px = canvas.pixels()
    assert tuple(px[30, 30]) == RED
    assert tuple(px[70, 100]) == BLUE
    assert tuple(px[90, 5]) == (15, 20, 60)
    canvas.erase([(20, 30), (50, 30)], 8)  # shows the background again
    px = canvas.pixels()
    assert tuple(px[30, 35]) == (15, 20, 60) and tuple(px[15, 35]) == RED
    # A new background keeps the drawing.
    canvas.fill_background((250, 220, 40))
    assert tuple(canvas.pixels()[15, 35]) == RED and tuple(canvas.pixels()[90, 5]) == (250, 220, 40)


def test_undo_and_redo_take_back_twenty_steps_and_more(canvas: SketchCanvas) -> None:
    snapshots = [canvas.pixels()]
    for i in range(25):
        canvas.stroke([(4 * i + 2, 5), (4 * i + 2, 90)], (10 * i, 0, 255 - 10 * i), 3)
        snapshots.append(canvas.pixels())
    assert UNDO_LIMIT >= 25
    for i in range(25, 0, -1):
        assert np.array_equal(canvas.pixels(), snapshots[i])
        assert canvas.undo()
    assert np.array_equal(canvas.pixels(), snapshots[0]) and not canvas.undo()
    for i in range(1, 21):
        assert canvas.redo()
        assert np.array_equal(canvas.pixels(), snapshots[i])
    canvas.clear()  # a new edit drops what could be redone; clear itself is undoable
    assert (canvas.pixels() == 255).all() and not canvas.can_redo()
    canvas.undo()
    assert np.array_equal(canvas.pixels(), snapshots[20])


def test_the_mouse_draws_through_the_same_surface(qtbot, canvas: SketchCanvas) -> None:  # type: ignore[no-untyped-def]
    canvas.color = RED
    canvas.brush_size = 8
    r = canvas.target_rect()
    y = int(r.center().y())
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(r.left()) + 20, y))
    for x in range(int(r.left()) + 20, int(r.right()) - 20, 10):
        qtbot.mouseMove(canvas, QPoint(x, y))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(r.right()) - 20, y))
    px = canvas.pixels()
    row = px[48]
    assert (row == RED).all(axis=1).sum() > 60  # a line across most of the sheet
    assert canvas.undo() and (canvas.pixels() == 255).all()  # one press, one undo step


def test_bad_input_is_refused(canvas: SketchCanvas) -> None:
    with pytest.raises(ValueError):
        canvas.fill_shape([(0, 0), (5, 5)], RED)
    with pytest.raises(ValueError):
        canvas.stroke([(0, 0), (5, 5)], (300, 0, 0), 4)


def test_the_mask_painter_marks_the_region_to_change(qtbot) -> None:  # type: ignore[no-untyped-def]
    m = MaskPainter()
    qtbot.addWidget(m)
    image = np.zeros((96, 128, 3), np.uint8)
    m.set_image(image)
    assert m.mask().shape == (96, 128) and not m.mask().any()
    m.paint_shape([(0, 0), (64, 0), (64, 96), (0, 96)])
    m.paint([(100, 10), (100, 80)], 10)
    mask = m.mask()
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    assert mask[50, 30] == 255 and mask[50, 100] == 255 and mask[50, 80] == 0
    m.erase([(30, 0), (30, 96)], 10)
    assert m.mask()[50, 30] == 0
    m.undo()
    assert m.mask()[50, 30] == 255
    earlier = np.zeros((96, 128), np.uint8)
    earlier[:10] = 255
    m.set_mask(earlier)
    assert np.array_equal(m.mask(), earlier)


def test_the_sketch_dialog_draws_with_palette_and_any_colour(qtbot) -> None:  # type: ignore[no-untyped-def]
    d = SketchDialog(128, 128)
    qtbot.addWidget(d)
    d.show()
    d.colour_buttons[3].click()  # red
    assert d.canvas.color == (220, 40, 40)
    d.ask_colour = lambda: QColor(1, 2, 3)  # type: ignore[method-assign]
    d.other_colour.click()
    assert d.canvas.color == (1, 2, 3)
    d.background_button.click()
    assert tuple(d.canvas.pixels()[0, 0]) == (1, 2, 3)
    assert d.undo_button.isEnabled() and not d.redo_button.isEnabled()
    d.undo_button.click()
    assert tuple(d.canvas.pixels()[0, 0]) == (255, 255, 255) and d.redo_button.isEnabled()
    d.eraser_button.click()
    assert d.canvas.tool == "eraser"
    d.size_box.setCurrentIndex(d.size_box.findData(32))
    assert d.canvas.brush_size == 32
    with qtbot.waitSignal(d.used) as used:
        d.use_button.click()
    assert used.args[0].shape == (128, 128, 3)


def test_the_mask_dialog_gives_its_mask(qtbot) -> None:  # type: ignore[no-untyped-def]
    d = MaskDialog(np.full((128, 128, 3), 90, np.uint8))
    qtbot.addWidget(d)
    d.painter.paint([(64, 64)], 16)
    with qtbot.waitSignal(d.used) as used:
        d.use_button.click()
    assert used.args[0][64, 64] == 255 and used.args[0][0, 0] == 0
