"""The start image panel in the real window: open, paste, drop, fit, strength, sketch,
mask, a bad file, and a model that cannot start from an image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QGuiApplication, QImage

from parasight_desktop.engine.store import ModelStore
from parasight_desktop.library.sighting import FROM_CLIPBOARD, FROM_FILE, FROM_SKETCH
from parasight_desktop.ui.message_bar import ERROR
from parasight_desktop.ui.start_image_panel import strength_words

from .helpers import generate_and_wait, type_description

pytestmark = pytest.mark.gui


def _photo(path: Path, size: tuple[int, int] = (300, 200), orientation: int | None = None) -> Path:
    """A real JPEG: left half red, right half blue (and an EXIF orientation if given)."""
    w, h = size
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[:, : w // 2] = (220, 30, 30)
    pixels[:, w // 2:] = (30, 30, 220)
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, quality=95, exif=exif)
    return path


def test_opening_a_photo_fits_it_to_the_model_and_says_where_it_came_from(
        qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    panel = window.refine.panel
    assert panel.isEnabled() and not panel.reason.isVisible()
    assert not panel.mask_button.isEnabled() and not panel.strength.isEnabled()
    photo = _photo(tmp_path / "field.jpg")
    panel.ask_open_path = lambda: photo  # type: ignore[method-assign]
    panel.open_button.click()
    start = window.refine.sighting.start
    assert start is not None and start.kind == FROM_FILE and start.pixels.shape == (128, 128, 3)
    assert "field.jpg" in panel.caption.text() and "300\u00d7200" in panel.caption.text()
    assert window.generate_button.text().replace("&", "") == "Generate from image"
    cropped = start.pixels.copy()
    # Fit inside keeps the whole picture: bars above and below, both colours.
    panel.fit.setCurrentIndex(panel.fit.findData("fit"))
    fitted = window.refine.sighting.start.pixels
    # (the bands are neutral grey, neither of the picture's colours)
    r, _, b = (int(v) for v in fitted[2, 64])
    assert abs(r - b) < 20 and not np.array_equal(cropped, fitted)
    assert panel.strength.isEnabled() and panel.mask_button.isEnabled()


def test_exif_orientation_is_honoured(qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    panel = window.refine.panel
    panel.fit.setCurrentIndex(panel.fit.findData("fit"))
    # Stored 300x200 with red on the left; orientation 6 means "turn 90 degrees clockwise
    # to show": upright it is 200x300 with red on top.
    assert panel.load(_photo(tmp_path / "rotated.jpg", orientation=6))
    px = window.refine.sighting.start.pixels
    assert px[40, 64, 0] > 150 and px[40, 64, 2] < 80  # top: red
    assert px[90, 64, 2] > 150 and px[90, 64, 0] < 80  # bottom: blue


def test_a_bad_file_keeps_the_current_work_and_says_so_in_one_sentence(
        qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a light over the barn")
    panel = window.refine.panel
    assert panel.load(_photo(tmp_path / "good.jpg"))
    before = window.refine.sighting.start
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not really a jpeg")
    assert not panel.load(bad)
    assert window.refine.sighting.start is before  # nothing lost
    assert window.messages.kind == ERROR
    text = window.messages.text()
    # The loader's sentence, alone in the bar: what happened and what to do.
    assert text.startswith("broken.jpg ") and text.endswith(".") and text.count(". ") <= 1
    assert window.describe.prompt_text() == "a light over the barn"


def test_strength_says_in_words_what_it_does_and_counts_the_steps(
        qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert strength_words(0.3).startswith("0.30 \u2014 keeps the shapes and colours")
    assert strength_words(0.9).endswith("uses it only as a loose guide")
    window = make_window()
    panel = window.refine.panel
    panel.load(_photo(tmp_path / "a.jpg"))
    window.controls.steps.setValue(20)
    panel.strength.setValue(30)
    assert window.refine.sighting.strength == pytest.approx(0.3)
    assert panel.strength_label.text() == (
        "0.30 \u2014 keeps the shapes and colours, changes details (6 of 20 steps)")
    type_description(qtbot, window, "a red and blue thing")
    request = window.build_request()
    assert request.strength == pytest.approx(0.3) and request.init_image is not None


def test_paste_and_drop_start_from_the_picture(qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    panel = window.refine.panel
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(0x00FF00)
    QGuiApplication.clipboard().setImage(image)
    assert panel.paste_button.isEnabled()
    panel.paste_button.click()
    start = window.refine.sighting.start
    assert start is not None and start.kind == FROM_CLIPBOARD
    assert tuple(start.pixels[64, 64]) == (0, 255, 0)
    # Dropped on the window: a picture without settings becomes the start image.
    assert window.open_dropped(_photo(tmp_path / "dropped.jpg"))
    assert window.refine.sighting.start.source.startswith("dropped.jpg")
    panel.clear_button.click()
    assert window.refine.sighting.start is None and not panel.clear_button.isEnabled()


def test_a_dropped_png_restores_its_settings_and_says_the_start_image_is_not_in_it(
        qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a shape in the reeds")
    window.refine.panel.load(_photo(tmp_path / "reeds.jpg"))
    window.refine.panel.strength.setValue(45)
    shown = generate_and_wait(qtbot, window)
    assert shown.settings.strength == pytest.approx(0.45)
    type_description(qtbot, window, "something else")
    window.refine.panel.clear()
    window.refine.panel.strength.setValue(80)
    assert window.open_dropped(shown.entry.image_path)
    assert window.describe.prompt_text() == "a shape in the reeds"
    assert window.refine.sighting.strength == pytest.approx(0.45)
    # This history keeps the start image, so it comes back too, with the strength.
    start = window.refine.sighting.start
    assert start is not None and start.sha256 == shown.settings.init_image_sha256
    # Dropped where that start image is not kept: it says so and goes on from words.
    window.history.close()
    window.history = None
    type_description(qtbot, window, "something else")
    assert window.open_dropped(shown.entry.image_path)
    assert window.refine.sighting.start is None
    assert "start image is not kept here" in window.messages.text()


def test_sketch_then_mask_from_the_panel(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    panel = window.refine.panel
    assert panel.open_mask() is None and window.messages.kind == ERROR  # nothing to mask yet
    sketch = panel.open_sketch()
    assert sketch.canvas.image_size() == (128, 128)
    sketch.canvas.fill_background((15, 20, 60))
    sketch.canvas.fill_shape([(40, 40), (90, 40), (64, 100)], (250, 220, 40))
    sketch.use_button.click()
    start = window.refine.sighting.start
    assert start is not None and start.kind == FROM_SKETCH
    assert tuple(start.pixels[60, 64]) == (250, 220, 40)
    assert panel.open_sketch() is sketch  # the drawing is kept for another go
    mask_dialog = panel.open_mask()
    assert mask_dialog is not None
    mask_dialog.painter.paint_shape([(0, 0), (64, 0), (64, 128), (0, 128)])
    mask_dialog.use_button.click()
    mask = window.refine.sighting.mask
    assert mask is not None and mask[64, 10] == 255 and mask[64, 100] == 0
    assert "tinted part changes (50% of the image)" in panel.caption.text()


@pytest.fixture
def no_encoder_store(tmp_path: Path) -> ModelStore:
    """The tiny model without its image encoder."""
    src = Path(__file__).resolve().parents[1] / "data" / "tiny-model"
    dest = tmp_path / "plain-models" / "tiny-model"
    shutil.copytree(src, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest.pop("image_encoder", None)
    manifest["files"].pop("image_encoder.tflite", None)
    (dest / "image_encoder.tflite").unlink()
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return ModelStore([dest.parent], hash_cache=tmp_path / "plain-hashes.json")


def test_a_model_without_an_image_encoder_says_so_instead_of_failing(
        qtbot, make_window, no_encoder_store: ModelStore, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window(store=no_encoder_store)
    panel = window.refine.panel
    assert panel.reason.isVisible() and "has no image encoder" in panel.reason.text()
    for button in (panel.open_button, panel.paste_button, panel.sketch_button,
                   panel.mask_button):
        assert not button.isEnabled()
    assert not panel.load(_photo(tmp_path / "x.jpg"))
    assert window.refine.sighting.start is None and "no image encoder" in window.messages.text()
    type_description(qtbot, window, "still works from words")
    shown = generate_and_wait(qtbot, window)
    assert shown.settings.strength is None
    assert not window.refine.refine_shown() or window.refine.sighting.start is None


def test_a_start_image_the_new_model_cannot_use_is_kept_and_the_request_refused(
        qtbot, make_window, tiny_model_dir: Path, no_encoder_store: ModelStore,
        tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Both models in one store: the tiny model (with an encoder) and a plain copy.
    plain = tiny_model_dir.parent / "tiny-plain"
    shutil.copytree(no_encoder_store.folder("tiny-model"), plain)
    manifest = json.loads((plain / "manifest.json").read_text())
    manifest["name"] = "tiny-plain"
    (plain / "manifest.json").write_text(json.dumps(manifest))
    window = make_window(store=ModelStore([tiny_model_dir.parent],
                                          hash_cache=tmp_path / "both.json"))
    window.controls.select_model("tiny-model")
    type_description(qtbot, window, "the orb again")
    assert window.refine.panel.load(_photo(tmp_path / "orb.jpg"))
    start = window.refine.sighting.start
    assert window.controls.select_model("tiny-plain")
    assert window.refine.panel.reason.isVisible()
    assert window.generate() is None
    assert "Clear the start image" in window.messages.text()
    assert window.refine.sighting.start is start  # the picture is not lost
    window.refine.panel.clear_button.click()
    assert generate_and_wait(qtbot, window).settings.strength is None


def test_strength_and_fit_are_remembered_for_the_next_run(
        qtbot, make_window, app_settings) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    window.refine.panel.strength.setValue(35)
    window.refine.panel.set_fit_mode("fit")
    window.close()
    again = make_window(settings=app_settings)
    assert again.refine.sighting.strength == pytest.approx(0.35)
    assert again.refine.panel.strength.value() == 35
    assert again.refine.panel.fit_mode() == "fit"


def test_a_mask_painted_over_an_image_since_replaced_is_not_used(
        qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    panel = window.refine.panel
    panel.load(_photo(tmp_path / "first.jpg"))
    dialog = panel.open_mask()
    dialog.painter.paint([(64, 64)], 30)
    panel.load(_photo(tmp_path / "second.jpg", size=(200, 300)))  # same size once fitted
    dialog.use_button.click()
    assert window.refine.sighting.mask is None
    assert "paint it again" in window.messages.text()
