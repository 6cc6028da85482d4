"""Builders for small real images, settings and results."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from parasight_desktop.engine.types import GenerationResult, GenerationSettings

MODEL_HASH = "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"


def make_settings(
    prompt: str = "a pale long-legged creature crossing the road at night", **kw: object
) -> GenerationSettings:
    values: dict[str, object] = {
        "prompt": prompt,
        "negative_prompt": "blurry, lowres",
        "seed": 123,
        "steps": 20,
        "guidance": 7.5,
        "sampler": "dpmpp-2m",
        "width": 64,
        "height": 48,
        "model_name": "parasight-mini",
        "model_hash": MODEL_HASH,
    }
    values.update(kw)
    return GenerationSettings(**values)  # type: ignore[arg-type]


def make_image(seed: int = 0, height: int = 48, width: int = 64) -> NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def make_result(
    prompt: str = "a pale long-legged creature crossing the road at night",
    seed: int = 123,
    created_at: str = "",
) -> GenerationResult:
    return GenerationResult(
        image=make_image(seed),
        settings=make_settings(prompt, seed=seed),
        timings={"text": 0.25, "denoise": 3.5, "decode": 0.5},
        created_at=created_at,
    )
