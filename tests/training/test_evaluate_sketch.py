"""Issue #17's acceptance check on ParaSight Mini (sketch to sighting), and its parts: the
sketches, the region finder, the shipped image encoder and the sketch canvas drawing
what the PIL helper draws."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parasight_desktop.engine.runner import TFLiteModel
from parasight_desktop.engine.store import builtin_models_dir
from training.evaluate_sketch import (
    MIN_CONTRAST,
    TARGET_IOU,
    TARGET_READ,
    Draw,
    cases,
    creature_region,
    iou,
    pil_draw,
)
from training.render import RGB, SETTINGS
from training.sketches import SETTING_GROUND, shape_mask

MINI = builtin_models_dir() / "parasight-mini"


def canvas_draw(qtbot: Any) -> Draw:
    """Sketches drawn through the sketch canvas widget's own API, as a person would."""
    from parasight_desktop.ui.sketch_canvas import SketchCanvas

    canvas = SketchCanvas(128, 128)
    qtbot.addWidget(canvas)

    def draw(ground: tuple[int, int, int], points: list[tuple[float, float]],
             rgb: tuple[int, int, int]) -> np.ndarray:
        canvas.clear()
        canvas.fill_background(ground)
        canvas.fill_shape(points, rgb)
        return np.asarray(canvas.pixels()[..., :3], np.uint8)

    return draw


def test_the_cases_cover_every_setting_with_shapes_that_stand_out() -> None:
    items = cases(50)
    assert len(items) == 50 and len({c.seed for c in items}) == 50
    settings = Counter(c.setting for c in items)
    assert set(settings) == set(SETTINGS) and max(settings.values()) - min(settings.values()) <= 1
    assert len({c.colour for c in items}) == len(RGB)
    for c in items:
        assert np.linalg.norm(np.subtract(c.rgb, SETTING_GROUND[c.setting])) >= MIN_CONTRAST
        assert c.colour in c.prompt and c.kind in c.prompt
    assert cases(50) == items  # a pure function of its seed


def test_the_region_finder_finds_the_sketched_shape() -> None:
    for c in cases(12):
        sketch = pil_draw(c.ground, list(c.points), c.rgb)
        assert iou(creature_region(sketch), shape_mask(list(c.points))) > 0.95, c.prompt


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / err))


def _round_trip(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from parasight_desktop.engine.pipeline import to_uint8

    enc = TFLiteModel(MINI / "image_encoder.tflite", threads=2)
    dec = TFLiteModel(MINI / "decoder.tflite", threads=2)
    z = np.concatenate([enc(image=im[None].astype(np.float32) / 127.5 - 1.0)["latent"]
                        for im in images])
    back = np.stack([to_uint8(dec(latent=zi[None])["image"][0]) for zi in z])
    return z, back


def test_the_shipped_encoder_is_in_the_manifest_and_round_trips_renders_and_sketches() -> None:
    from parasight_desktop.engine.manifest import load_manifest
    from training.render import render_dataset

    m = load_manifest(MINI)
    assert m.image_encoder is not None and m.image_encoder.file == "image_encoder.tflite"
    assert "image_encoder.tflite" in m.files
    record = m.extra["conversion"]["image_encoder"]
    assert record["precision"] == "fp16" and record["psnr_db"] > 35  # Apple's gate
    renders, _ = render_dataset(12, seed=31337, held_out=None)
    sketches = np.stack([pil_draw(c.ground, list(c.points), c.rgb) for c in cases(12)])
    z, back = _round_trip(np.concatenate([renders, sketches]))
    # The shipped decoder's own ceiling on renders is 22 dB (its autoencoder's recon):
    # the new encoder must reach about it, and do better on flat sketches.
    assert _psnr(renders, back[:12]) > 20.0
    assert _psnr(sketches, back[12:]) > 22.0
    # Latents in the UNet's range: about unit spread, as the scaling factor made them.
    assert 0.5 < float(z.std()) < 1.6 and np.isfinite(z).all()


@pytest.mark.gui
def test_the_sketch_canvas_draws_what_the_evaluation_draws(qtbot: Any) -> None:
    draw = canvas_draw(qtbot)
    for c in cases(6):
        qt, pil = draw(c.ground, list(c.points), c.rgb), pil_draw(c.ground, list(c.points), c.rgb)
        assert qt.shape == pil.shape == (128, 128, 3)
        assert iou(creature_region(qt), creature_region(pil)) > 0.95, c.prompt
        assert np.mean(np.abs(qt.astype(int) - pil.astype(int))) < 3.0


def _acceptance(draw: Draw, out: Path | None = None) -> dict[str, Any]:
    from training.evaluate_mini import make_engine
    from training.evaluate_sketch import evaluate
    from training.judge import load_judge

    figures, _ = evaluate(make_engine(), load_judge(), cases(50), draw)
    if out is not None:
        out.write_text(json.dumps(figures, indent=2))
    return figures


@pytest.mark.slow
@pytest.mark.gui
def test_sketch_to_sighting_on_parasight_mini(qtbot: Any, tmp_path: Path) -> None:
    """Issue #17: a sketch drawn on the canvas plus a description of the same colour and
    setting. At strength 0.6 the judge reads the described colour and setting in at
    least 90% of 50 images; at 0.3 the creature overlaps the sketched shape with IoU
    at least 0.5 on average."""
    figures = _acceptance(canvas_draw(qtbot), tmp_path / "figures.json")
    read, kept = figures["strength_0.6"], figures["strength_0.3"]
    assert read["colour_and_setting"] >= TARGET_READ, read
    assert kept["mean_iou"] >= TARGET_IOU, kept

