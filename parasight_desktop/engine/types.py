"""Frozen value objects that cross the engine's boundary: requests, settings, results."""

from __future__ import annotations

import hashlib
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
#: Image to image: AUTOMATIC1111's "Denoising strength" when the request leaves it open.
DEFAULT_STRENGTH = 0.75
DEFAULT_MASK_BLUR = 4
MAX_MASK_BLUR = 64


def steps_to_run(steps: int, strength: float | None) -> int:
    """How many of ``steps`` an image-to-image run takes: the last ``strength`` of them
    (diffusers' ``get_timesteps``: int(steps x strength)); 0 means none would run (the
    pipeline refuses that with a sentence)."""
    if strength is None:
        return steps
    return min(steps, int(steps * strength + 1e-9))


def image_sha256(pixels: NDArray[np.uint8]) -> str:
    """The start image's id: sha256 over its shape and RGB bytes (as fitted to the model)."""
    h = hashlib.sha256(f"{pixels.shape[0]}x{pixels.shape[1]}:".encode())
    h.update(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return h.hexdigest()


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
    #: Image to image: the start image, (height, width, 3) uint8 RGB at the model's size
    #: (library.start_image fits a photo or sketch to it); None for text to image.
    init_image: NDArray[np.uint8] | None = field(default=None, compare=False, repr=False)
    #: How much of the start image is replaced, 0 < s <= 1 (None: DEFAULT_STRENGTH).
    strength: float | None = None
    #: Inpainting: (height, width) uint8, 255 where the image may change, 0 where it is
    #: kept; needs ``init_image``.
    mask: NDArray[np.uint8] | None = field(default=None, compare=False, repr=False)
    mask_blur: int = DEFAULT_MASK_BLUR  # pixels of Gaussian blur on the mask's edge

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
        self._validate_start()

    def _validate_start(self) -> None:
        if self.strength is not None and (
                not math.isfinite(self.strength) or not (0.0 < self.strength <= 1.0)):
            raise InputError("Strength must be above 0 and at most 1 "
                                 f"(got {self.strength:g}).")
        if not (0 <= self.mask_blur <= MAX_MASK_BLUR):
            raise InputError(f"Mask blur must be between 0 and {MAX_MASK_BLUR} pixels "
                             f"(got {self.mask_blur}).")
        img = self.init_image
        if img is None:
            if self.mask is not None:
                raise InputError("A mask needs a start image: open or draw one first.")
            return
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise InputError(f"The start image must be RGB pixels (height, width, 3) uint8, "
                             f"got {img.dtype} {img.shape}.")
        if self.mask is not None:
            m = self.mask
            if m.dtype != np.uint8 or m.shape != img.shape[:2]:
                raise InputError(f"The mask must be uint8 {img.shape[:2]} like the start "
                                 f"image, got {m.dtype} {m.shape}.")
            if not m.any():
                raise InputError("The mask is empty: paint over the part to change, "
                                 "or clear the mask to change the whole image.")


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
    strength: float | None = None  # image to image: "Denoising strength"; None: from text
    mask_blur: int | None = None  # inpainting only: "Mask blur"
    init_image_sha256: str = ""  # image_sha256 of the start image; "" from text

    @property
    def steps_run(self) -> int:
        """The denoising steps this image took (fewer than ``steps`` from a start image)."""
        return steps_to_run(self.steps, self.strength)

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
            strength=None if data.get("strength") is None else float(data["strength"]),
            mask_blur=None if data.get("mask_blur") is None else int(data["mask_blur"]),
            init_image_sha256=str(data.get("init_image_sha256", "")),
        )


@dataclass(frozen=True)
class GenerationResult:
    """A finished image, the settings that made it, and how long each stage took."""

    image: NDArray[np.uint8]  # (height, width, 3) RGB
    settings: GenerationSettings
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    tokens_dropped: int = 0  # prompt tokens past the model's 77 that were not read
    created_at: str = ""  # ISO 8601, UTC
