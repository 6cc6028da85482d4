"""Stable Diffusion v1.4 at full size (seeded random weights) through our converter and
pipeline must give KerasCV's own image: PSNR >= 40 dB, final latents within 1e-3.

Slow (about 20 minutes on two cores the first time): it writes the three HDF5 files
in KerasCV's layout, converts them in parts with ``convert_stable_diffusion`` (fp32),
then generates with DDIM from one seed both ways. Both are cached under ``.cache/``
in the repository, so a second local run only generates.
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "sd-parity"
PROMPT = "a tall shadow figure with glowing eyes on a city street at night"
SEED, STEPS, GUIDANCE = 1234, 3, 7.5


@pytest.fixture(scope="module")
def sd_folder() -> Path:
    from benchmarks.sd_fixture import make_random_sd_weights
    from parasight_desktop.engine.sd_convert import (
        convert_stable_diffusion,
        is_current_conversion,
    )

    sources = make_random_sd_weights(CACHE / "weights", seed=0)
    out = CACHE / "sd-v1.4-random-fp32"
    if not is_current_conversion(out, "fp32"):  # cached from an older converter: redo
        convert_stable_diffusion(sources, out, name="sd-v1.4-random-fp32", precision="fp32")
    return out


def test_full_size_conversion_matches_keras_cv_generate_image(sd_folder: Path) -> None:
    from benchmarks.sd_fixture import make_random_sd_weights
    from parasight_desktop.engine.converter import psnr
    from parasight_desktop.engine.pipeline import Engine
    from parasight_desktop.engine.store import ModelStore
    from parasight_desktop.engine.types import GenerationRequest

    store = ModelStore([sd_folder.parent])
    manifest = store.load(sd_folder.name)
    assert len(manifest.unet_parts) >= 3  # a 2 GB flatbuffer limit and 12 GiB memory cap
    for name, conv in manifest.extra["conversion"].items():
        assert conv["peak_rss_gib"] <= 12.0, (name, conv)

    # Ours: the app's pipeline, DDIM, one seed.
    engine = Engine(store)
    ours = engine.generate(GenerationRequest(PROMPT, seed=SEED, steps=STEPS,
                                             guidance=GUIDANCE, sampler="ddim",
                                             model=sd_folder.name))
    our_latent = engine.pipeline(sd_folder.name).last_latent
    assert ours.image.shape == (512, 512, 3) and our_latent is not None
    noise = np.random.default_rng(SEED).standard_normal((64, 64, 4)).astype(np.float32)
    del engine
    gc.collect()

    # KerasCV's own generate_image with the same weights, noise and steps.
    from keras_cv.src.models.stable_diffusion.clip_tokenizer import SimpleTokenizer
    from keras_cv.src.models.stable_diffusion.stable_diffusion import StableDiffusion

    from parasight_desktop.engine.sd_convert import build_keras
    from parasight_desktop.engine.tokenizer import DEFAULT_VOCAB_PATH

    weights = make_random_sd_weights(CACHE / "weights", seed=0)
    sd = StableDiffusion(512, 512, jit_compile=False)
    sd._tokenizer = SimpleTokenizer(bpe_path=str(DEFAULT_VOCAB_PATH))
    sd._text_encoder = build_keras("text_encoder", weights["text_encoder"], 512, 512)
    sd._diffusion_model = build_keras("diffusion_model", weights["diffusion_model"], 512, 512)
    decoder = build_keras("decoder", weights["decoder"], 512, 512)
    captured: list[np.ndarray] = []

    class CapturingDecoder:
        def predict_on_batch(self, latent):  # type: ignore[no-untyped-def]
            captured.append(np.asarray(latent))
            return decoder.predict_on_batch(latent)

    sd._decoder = CapturingDecoder()
    encoded = sd.encode_text(PROMPT)
    theirs = sd.generate_image(encoded, num_steps=STEPS, unconditional_guidance_scale=GUIDANCE,
                               diffusion_noise=noise)[0]

    rel = float(np.linalg.norm(our_latent - captured[0]) / np.linalg.norm(captured[0]))
    image_psnr = psnr(theirs, ours.image, peak=255.0)
    print(f"\nparity fp32: final latent relative error {rel:.2e}, image PSNR {image_psnr:.1f} dB")
    assert rel <= 1e-3
    assert image_psnr >= 40.0
    assert 0 < float(np.std(theirs))  # not a degenerate all-black image
