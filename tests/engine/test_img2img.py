"""Image to image and inpainting on the real tiny model (with its random image encoder)
through the real LiteRT interpreter; the schedulers' ``add_noise`` against the forms
diffusers uses."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from parasight_desktop.engine.errors import CancelledError, InputError
from parasight_desktop.engine.inpaint import blur_mask, latent_mask, overlay
from parasight_desktop.engine.pipeline import Pipeline, initial_latent, to_uint8
from parasight_desktop.engine.schedulers import SCHEDULERS, ScheduleConfig, make_scheduler
from parasight_desktop.engine.types import (
    SAMPLERS,
    GenerationRequest,
    image_sha256,
    steps_to_run,
)


def _start(seed: int = 0) -> np.ndarray:
    """A smooth picture: a coloured disc on a gradient, 128x128."""
    y, x = np.mgrid[0:128, 0:128].astype(np.float32)
    img = np.stack([x * 2, y * 2, 255 - x - y // 2], axis=-1)
    disc = (x - 64 - seed) ** 2 + (y - 60) ** 2 < 30 ** 2
    img[disc] = (220, 40, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def pipe(tiny_store) -> Pipeline:  # type: ignore[no-untyped-def]
    return Pipeline(tiny_store.load("tiny-model"), threads=1)


# the schedulers -----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_add_noise_ends_clean_and_follows_the_schedule(name: str) -> None:
    s = make_scheduler(name, ScheduleConfig())
    s.set_timesteps(4)
    rng = np.random.default_rng(0)
    x0, eps = rng.standard_normal((1, 4, 4, 4)), rng.standard_normal((1, 4, 4, 4))
    assert np.allclose(s.add_noise(x0, eps, 4), x0, atol=1e-6)
    level = s._level(1)  # s = σ/α at step 1
    if name != "dpmpp-2m-karras":  # Karras levels lie between the table's entries
        a = s.alphas_cumprod[round(float(s.timesteps[1]))]
        assert level == pytest.approx(np.sqrt((1 - a) / a), rel=1e-9)
    noised = s.add_noise(x0, eps, 1)
    if name.startswith("euler"):
        # variance-exploding form: x0 + s eps (diffusers' Euler add_noise)
        assert np.allclose(noised, x0 + level * eps, atol=1e-5)
    else:
        # variance-preserving: √ᾱ x0 + √(1-ᾱ) eps, with ᾱ = 1/(1+s²)
        abar = 1 / (1 + level**2)
        assert np.allclose(noised, np.sqrt(abar) * x0 + np.sqrt(1 - abar) * eps, atol=1e-5)
    with pytest.raises(IndexError):
        s.add_noise(x0, eps, 5)


def test_steps_to_run_follows_diffusers_get_timesteps() -> None:
    # diffusers: init_timestep = min(int(steps * strength), steps)
    assert steps_to_run(20, 0.6) == 12
    assert steps_to_run(20, 1.0) == 20
    assert steps_to_run(20, None) == 20
    assert steps_to_run(4, 0.3) == 1
    assert steps_to_run(1, 0.5) == 0  # refused by the pipeline with a sentence


# image to image -----------------------------------------------------------------------
def test_strength_runs_that_share_of_the_steps(pipe: Pipeline) -> None:
    seen: list[tuple[int, int]] = []
    r = pipe.generate(GenerationRequest("a red blob", seed=3, steps=10, init_image=_start(),
                                        strength=0.6),
                      on_step=lambda i, n, _p: seen.append((i, n)))
    assert seen == [(i, 6) for i in range(1, 7)]
    assert r.settings.strength == 0.6 and r.settings.steps == 10 and r.settings.steps_run == 6
    assert r.settings.init_image_sha256 == image_sha256(_start())
    assert r.settings.mask_blur is None
    assert "image_encoder" in r.timings


def test_low_strength_stays_near_the_start_image(pipe: Pipeline) -> None:
    start = _start()
    latent = pipe.encode_image(start)
    pipe.decoder = pipe._ensure_decoder()
    round_trip = to_uint8(np.asarray(pipe.decoder(latent=latent)["image"])[0]).astype(int)

    def dist(strength: float) -> float:
        img = pipe.generate(GenerationRequest("a serpent", seed=4, steps=20, init_image=start,
                                              strength=strength)).image.astype(int)
        return float(np.abs(img - round_trip).mean())

    low, mid, full = dist(0.1), dist(0.5), dist(1.0)
    assert low < mid < full
    assert low < 0.6 * full  # random weights: the UNet's noise guess moves even 2 steps


def test_image_to_image_is_reproducible_and_seeded(pipe: Pipeline) -> None:
    req = GenerationRequest("an orb", seed=8, steps=8, init_image=_start(), strength=0.7)
    a, b = pipe.generate(req).image, pipe.generate(req).image
    assert np.array_equal(a, b)
    c = pipe.generate(GenerationRequest("an orb", seed=9, steps=8, init_image=_start(),
                                        strength=0.7)).image
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_starts_from_an_image(pipe: Pipeline, sampler: str) -> None:
    start = _start()
    r = pipe.generate(GenerationRequest("a blob", seed=2, steps=8, sampler=sampler,
                                        init_image=start, strength=0.5))
    assert r.image.shape == (128, 128, 3) and np.isfinite(pipe.last_latent).all()
    # the start latent noised to step 4 of 8 was the first sample: the result keeps
    # more of the start image than a text-to-image run from the same seed does
    txt = pipe.generate(GenerationRequest("a blob", seed=2, steps=8, sampler=sampler)).image
    assert (np.abs(r.image.astype(int) - start).mean()
            < np.abs(txt.astype(int) - start).mean())


def test_first_sample_is_the_start_latent_noised_to_the_start_step(pipe: Pipeline) -> None:
    start = _start()
    captured: list[np.ndarray] = []
    original = pipe.predict_noise

    def spy(latent, temb, context):  # type: ignore[no-untyped-def]
        captured.append(latent.copy())
        return original(latent, temb, context)

    pipe.predict_noise = spy  # type: ignore[method-assign]
    pipe.generate(GenerationRequest("a blob", seed=6, steps=10, sampler="ddim", guidance=1.0,
                                    init_image=start, strength=0.3))
    s = make_scheduler("ddim", pipe.manifest.scheduler)
    s.set_timesteps(10)
    expected = s.add_noise(pipe.encode_image(start), initial_latent(6, (16, 16, 4)), 7)
    assert len(captured) == 3
    assert np.allclose(captured[0], expected, atol=1e-6)


def test_cancel_during_image_to_image(pipe: Pipeline) -> None:
    cancel = threading.Event()

    def on_step(i: int, n: int, _p: object) -> None:
        if i == 2:
            cancel.set()

    with pytest.raises(CancelledError):
        pipe.generate(GenerationRequest("a blob", seed=1, steps=10, init_image=_start(),
                                        strength=0.8), on_step=on_step, cancel=cancel)


# refusals -----------------------------------------------------------------------------
def test_a_model_without_an_encoder_says_so(tiny_model_dir: Path, tmp_path: Path) -> None:
    from parasight_desktop.engine.store import ModelStore

    data = json.loads((tiny_model_dir / "manifest.json").read_text())
    del data["image_encoder"], data["files"]["image_encoder.tflite"]
    (tiny_model_dir / "manifest.json").write_text(json.dumps(data))
    (tiny_model_dir / "image_encoder.tflite").unlink()
    pipe = Pipeline(ModelStore([tiny_model_dir.parent]).load("tiny-model"), threads=1)
    assert not pipe.manifest.has_image_encoder
    with pytest.raises(InputError, match="has no image encoder.*add-taesd"):
        pipe.generate(GenerationRequest("a blob", init_image=_start()))
    assert pipe.generate(GenerationRequest("a blob", seed=1, steps=2)).image.shape[0] == 128


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"init_image": np.zeros((64, 128, 3), np.uint8)}, "is 128x64 but .* makes 128x128"),
    ({"init_image": _start(), "strength": 0.05, "steps": 10}, "raise the steps to at least 20"),
    ({"init_image": _start(), "strength": 0.0}, "Strength must be above 0"),
    ({"init_image": _start(), "strength": 1.5}, "at most 1"),
    ({"init_image": _start(), "strength": float("nan")}, "Strength"),
    ({"init_image": np.zeros((128, 128), np.uint8)}, "RGB pixels"),
    ({"mask": np.full((128, 128), 255, np.uint8)}, "needs a start image"),
    ({"init_image": _start(), "mask": np.zeros((128, 128), np.uint8)}, "mask is empty"),
    ({"init_image": _start(), "mask": np.full((64, 64), 255, np.uint8)}, "mask must be"),
    ({"init_image": _start(), "mask": np.full((128, 128), 255, np.uint8), "mask_blur": 99},
     "Mask blur"),
])
def test_bad_start_requests_get_a_sentence(pipe: Pipeline, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        pipe.generate(GenerationRequest("a blob", seed=1, **kwargs))


# inpainting ---------------------------------------------------------------------------
def _box_mask() -> np.ndarray:
    mask = np.zeros((128, 128), np.uint8)
    mask[32:80, 40:96] = 255  # latent cells 4..10 x 5..12: aligned to the 8-pixel grid
    return mask


def test_inpainting_keeps_everything_outside_the_mask(pipe: Pipeline) -> None:
    start, mask = _start(), _box_mask()
    r = pipe.generate(GenerationRequest("a green serpent", seed=5, steps=10,
                                        init_image=start, strength=1.0, mask=mask,
                                        mask_blur=0))
    outside = mask == 0
    # pixels: the start image's own, exactly (the overlay through a hard mask)
    assert np.array_equal(r.image[outside], start[outside])
    # latent: outside the mask the final latent is the start image's latent, exactly
    x0 = pipe.encode_image(start)
    keep = latent_mask(blur_mask(mask, 0), (16, 16))[0, :, :, 0] == 0
    assert np.array_equal(pipe.last_latent[0][keep], x0[0][keep])
    # inside it the image changed
    assert np.abs(r.image[~outside].astype(int) - start[~outside]).mean() > 5
    assert r.settings.mask_blur == 0 and r.settings.strength == 1.0


def test_decoded_latent_outside_the_mask_matches_the_round_trip(pipe: Pipeline) -> None:
    """Without the overlay: the decoder of the final latent against the decoder of the
    start latent, away from the mask by the decoder's reach (measured: see the docs)."""
    start, mask = _start(), _box_mask()
    pipe.generate(GenerationRequest("a green serpent", seed=5, steps=10, init_image=start,
                                    strength=1.0, mask=mask, mask_blur=0))
    dec = pipe._ensure_decoder()
    new = to_uint8(np.asarray(dec(latent=pipe.last_latent)["image"])[0]).astype(int)
    trip = to_uint8(np.asarray(dec(latent=pipe.encode_image(start))["image"])[0]).astype(int)
    far = np.ones((128, 128), bool)
    far[32 - 16:80 + 16, 40 - 16:96 + 16] = False  # two latent cells of margin
    assert np.abs(new - trip)[far].max() <= 1  # the decoder's uint8 rounding


def test_mask_blur_softens_the_edge() -> None:
    m = blur_mask(_box_mask(), 4)
    assert m[56, 68] == pytest.approx(1.0, abs=1e-3) and m[5, 5] == 0.0
    assert 0.2 < m[32, 68] < 0.8  # the edge itself is half way
    assert np.array_equal(blur_mask(_box_mask(), 0), _box_mask() / 255.0)
    start = np.zeros((128, 128, 3), np.uint8)
    new = np.full((128, 128, 3), 200, np.uint8)
    out = overlay(start, new, m)
    assert out[5, 5, 0] == 0 and out[56, 68, 0] == 200 and 40 < out[32, 68, 0] < 160


def test_inpainting_with_the_shipped_model_folder_copy(tiny_model_dir: Path,
                                                       tmp_path: Path) -> None:
    """The encoder is part of the model's verified file set."""
    from parasight_desktop.engine.errors import ModelError
    from parasight_desktop.engine.store import ModelStore

    bad = tmp_path / "m" / "tiny-model"
    shutil.copytree(tiny_model_dir, bad)
    (bad / "image_encoder.tflite").write_bytes(b"broken")
    with pytest.raises(ModelError):
        ModelStore([bad.parent]).load("tiny-model")


def test_inpainting_on_parasight_mini_keeps_the_outside_exactly() -> None:
    """The shipped model with its own encoder: latent and pixels outside the mask kept
    bit for bit (figures for the decoder alone: benchmarks/inpaint_bound.py)."""
    from parasight_desktop.engine.manifest import load_manifest

    mini = Pipeline(load_manifest(Path(__file__).resolve().parents[2] / "resources" / "models"
                                  / "parasight-mini"), threads=2)
    assert mini.manifest.image_encoder is not None
    start = mini.generate(GenerationRequest("a white orb of light over the lake", seed=3)).image
    mask = np.zeros((128, 128), np.uint8)
    mask[8:56, 72:120] = 255
    r = mini.generate(GenerationRequest("a purple winged creature over the lake", seed=4,
                                        init_image=start, strength=1.0, mask=mask,
                                        mask_blur=0))
    assert np.array_equal(r.image[mask == 0], start[mask == 0])
    assert np.abs(r.image[mask > 0].astype(int) - start[mask > 0]).mean() > 10
    kept = mask.reshape(16, 8, 16, 8).max(axis=(1, 3)) == 0
    assert np.array_equal(mini.last_latent[0][kept], mini.encode_image(start)[0][kept])
