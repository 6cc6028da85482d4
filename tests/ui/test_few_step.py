"""Few-step models in the window: their defaults, the fast-decode box and the guidance note.

The few-step model is a copy of the tiny model whose manifest asks for LCM and names its
own decoder as the fast decoder (TAESD maps a latent to an image just as it does), so the
real worker, the real pipeline and the real LiteRT interpreter run it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from parasight_desktop.engine.store import ModelStore
from parasight_desktop.library.metadata import read_png_metadata
from parasight_desktop.ui.controls import LCM_NOTE, NO_UNCOND_NOTE
from parasight_desktop.ui.settings import AppSettings

from .helpers import generate_and_wait, type_description

pytestmark = pytest.mark.gui

FEW_STEP = "tiny-lcm"


@pytest.fixture
def few_step_store(tiny_model_dir: Path, tmp_path: Path) -> ModelStore:
    """The tiny model and, beside it, a copy set up as an LCM model with a fast decoder."""
    folder = tiny_model_dir.parent / FEW_STEP
    shutil.copytree(tiny_model_dir, folder)
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    decoder = manifest["decoder"]
    manifest.update(
        name=FEW_STEP,
        display_name="Tiny LCM test model",
        defaults={"steps": 4, "guidance": 1.0, "sampler": "lcm", "fast_decode": True},
        fast_decoder={"file": decoder["file"], "input": decoder["input"],
                      "output": decoder["output"], "latent_scaling": "none",
                      "output_range": [-1, 1], "name": "TAESD"},
    )
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return ModelStore([tiny_model_dir.parent], hash_cache=tmp_path / "hashes.json")


def test_choosing_a_model_sets_its_few_step_defaults_and_the_decoder_box(  # type: ignore[no-untyped-def]
    qtbot, make_window, few_step_store: ModelStore
) -> None:
    window = make_window(store=few_step_store)
    c = window.controls
    type_description(qtbot, window, "a row of lights in the sky")

    assert c.select_model(FEW_STEP)
    assert window.build_request().fast_decode is True
    assert (c.steps.value(), c.guidance.value(), c.sampler_id()) == (4, 1.0, "lcm")
    assert c.fast_decode.isChecked() and c.fast_decode.isEnabled()
    assert "1.2M-parameter" in c.fast_decode.toolTip()
    assert c.guidance_note.isVisible()
    assert c.guidance_note.text() == LCM_NOTE.format(sampler="LCM")
    assert c.guidance.accessibleDescription() == c.guidance_note.text()

    # The note follows the sampler and the guidance as they change.
    c.set_sampler("ddim")
    assert c.guidance_note.text() == NO_UNCOND_NOTE and c.guidance_note.isVisible()
    c.guidance.setValue(3.0)
    assert c.guidance_note.text() == "" and not c.guidance_note.isVisible()
    c.set_sampler("lcm")
    assert c.guidance_note.text() == LCM_NOTE.format(sampler="LCM")
    c.set_sampler("euler-trailing")
    c.guidance.setValue(0.0)
    assert c.guidance_note.text() == NO_UNCOND_NOTE

    # A model without a fast decoder: the box is unchecked, closed, and says how to add one.
    assert c.select_model("tiny-model")
    assert (c.steps.value(), c.guidance.value(), c.sampler_id()) == (4, 5.0, "dpmpp-2m")
    assert not c.fast_decode.isChecked() and not c.fast_decode.isEnabled()
    tip = c.fast_decode.toolTip()
    assert "parasight models add-taesd tiny-model --decoder taesd_decoder.safetensors" in tip
    assert not c.guidance_note.isVisible()
    assert window.build_request().fast_decode is False

    # Back to the few-step model; Reset puts the box back as the model wants it.
    assert c.select_model(FEW_STEP)
    c.fast_decode.setChecked(False)
    c.reset.click()
    assert c.fast_decode.isChecked()


def test_generating_with_fast_decode_records_taesd_and_reuse_brings_it_back(  # type: ignore[no-untyped-def]
    qtbot, make_window, few_step_store: ModelStore
) -> None:
    window = make_window(store=few_step_store)
    c = window.controls
    assert c.select_model(FEW_STEP)
    type_description(qtbot, window, "a bright light over the moor")

    fast = generate_and_wait(qtbot, window)
    s = fast.settings
    assert (s.model_name, s.steps, s.sampler, s.decoder) == (FEW_STEP, 4, "lcm", "TAESD")
    assert (fast.image.width(), fast.image.height()) == (128, 128)
    assert "Decoder" in window.info.toPlainText() and "TAESD" in window.info.toPlainText()
    assert fast.entry is not None
    assert "VAE: TAESD" in (read_png_metadata(fast.entry.image_path).parameters or "")

    c.fast_decode.setChecked(False)
    full = generate_and_wait(qtbot, window)
    assert full.settings.decoder == ""
    assert "Decoder" not in window.info.toPlainText()

    # Reuse: the settings say TAESD, so the box is checked again.
    assert window.apply_settings(fast.settings, None, "the first image") == []
    assert c.fast_decode.isChecked()
    assert window.apply_settings(full.settings, None, "the second image") == []
    assert not c.fast_decode.isChecked()

    # Settings that say TAESD for a model without it: decoded in full, and said so.
    elsewhere = dataclasses.replace(fast.settings, model_name="tiny-model")
    (note,) = window.apply_settings(elsewhere, None, "a PNG")
    assert "decoded with TAESD" in note and "decoded in full" in note
    assert c.model_name() == "tiny-model" and not c.fast_decode.isChecked()


def test_the_fast_decode_choice_survives_a_restart(  # type: ignore[no-untyped-def]
    qtbot, make_window, few_step_store: ModelStore, settings_file: Path
) -> None:
    window = make_window(store=few_step_store)
    assert window.controls.select_model(FEW_STEP)
    window.controls.fast_decode.setChecked(False)
    window.close()
    assert AppSettings(settings_file).fast_decode is False

    again = make_window(settings=AppSettings(settings_file), store=few_step_store)
    assert again.controls.model_name() == FEW_STEP
    assert again.controls.steps.value() == 4
    assert again.controls.fast_decode.isEnabled()
    assert not again.controls.fast_decode.isChecked()


def test_a_small_preview_fills_the_area_of_the_final_image(  # type: ignore[no-untyped-def]
    qtbot, make_window, few_step_store: ModelStore
) -> None:
    """TAESD previews come at half size; the view stretches them to the image's size."""
    window = make_window(store=few_step_store)
    view = window.view
    final = QImage(128, 128, QImage.Format.Format_RGB888)
    final.fill(QColor("navy"))
    view.set_image(final)
    final_rect, final_zoom = view.sceneRect(), view.zoom()

    half = QImage(64, 64, QImage.Format.Format_RGB888)
    half.fill(QColor("orange"))
    view.set_preview(half, 128, 128)
    assert view.sceneRect() == final_rect and view.zoom() == pytest.approx(final_zoom)
    assert view.has_pixmap()


def test_a_model_with_a_guidance_embedding_says_guidance_steers_it() -> None:
    from parasight_desktop.ui.controls import EMBEDDED_NOTE, guidance_note

    assert guidance_note("lcm", 8.0, embedded=True) == EMBEDDED_NOTE
    assert "ignores guidance" in guidance_note("lcm", 8.0)
    assert guidance_note("dpmpp-2m", 7.5) == ""
