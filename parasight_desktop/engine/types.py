"""Frozen value objects that cross the engine's boundary: requests, settings, results."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InputError

#: Sampler ids (CLI and settings) -> the names AUTOMATIC1111's web UI writes.
SAMPLERS: dict[str, str] = {
    "ddim": "DDIM",
    "dpmpp-2m": "DPM++ 2M",
    "dpmpp-2m-karras": "DPM++ 2M Karras",
    "euler-a": "Euler a",
    "euler-trailing": "Euler (trailing)",
    "lcm": "LCM",
}
#: The reverse map, for reading other tools' PNGs.
SAMPLER_IDS: dict[str, str] = {v: k for k, v in SAMPLERS.items()}

MIN_STEPS = 1
MAX_STEPS = 500
MAX_SEED = 2**32 - 1
MAX_GUIDANCE = 50.0


@dataclass(frozen=True)
class GenerationRequest:
    """What the user asked for. ``None`` means "the model's default" (or a random seed)."""

    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    sampler: str | None = None
    model: str | None = None
    fast_decode: bool | None = None  # None: the model's default; needs a fast decoder

    def validate(self) -> None:
        """Raise :class:`InputError` with a sentence saying what to fix."""
        if not self.prompt or not self.prompt.strip():
            raise InputError("The description is empty: describe what you saw, then generate.")
        if self.steps is not None and not (MIN_STEPS <= self.steps <= MAX_STEPS):
            raise InputError(
                f"Steps must be between {MIN_STEPS} and {MAX_STEPS} (got {self.steps})."
            )
        if self.guidance is not None:
            if not math.isfinite(self.guidance):
                raise InputError(f"Guidance must be a finite number (got {self.guidance}).")
            if not (0.0 <= self.guidance <= MAX_GUIDANCE):
                raise InputError(
                    f"Guidance must be between 0 and {MAX_GUIDANCE:g} (got {self.guidance:g})."
                )
        if self.seed is not None and not (0 <= self.seed <= MAX_SEED):
            raise InputError(f"Seed must be between 0 and {MAX_SEED} (got {self.seed}).")
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise InputError(
                f"Unknown sampler '{self.sampler}': choose one of {', '.join(SAMPLERS)}."
            )


@dataclass(frozen=True)
class GenerationSettings:
    """Every setting that made an image, fully resolved. This is what metadata records."""

    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    guidance: float
    sampler: str
    width: int
    height: int
    model_name: str
    model_hash: str  # full sha256 hex of the model (see ModelManifest.public_hash)
    lora_hashes: str = ""  # AUTOMATIC1111's "Lora hashes": "name: hash, ..." (merged LoRAs)
    decoder: str = ""  # "" the model's own; "TAESD" when the fast decoder made the image

    @property
    def sampler_label(self) -> str:
        return SAMPLERS.get(self.sampler, self.sampler)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationSettings:
        return cls(
            prompt=str(data["prompt"]),
            negative_prompt=str(data.get("negative_prompt", "")),
            seed=int(data["seed"]),
            steps=int(data["steps"]),
            guidance=float(data["guidance"]),
            sampler=str(data["sampler"]),
            width=int(data["width"]),
            height=int(data["height"]),
            model_name=str(data.get("model_name", "")),
            model_hash=str(data.get("model_hash", "")),
            lora_hashes=str(data.get("lora_hashes", "")),
            decoder=str(data.get("decoder", "")),
        )


@dataclass(frozen=True)
class GenerationResult:
    """A finished image, the settings that made it, and how long each stage took."""

    image: NDArray[np.uint8]  # (height, width, 3) RGB
    settings: GenerationSettings
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    tokens_dropped: int = 0  # prompt tokens past the model's 77 that were not read
    created_at: str = ""  # ISO 8601, UTC
