"""The timestep embedding fed to the UNet, computed outside the model as KerasCV does.

KerasCV's ``StableDiffusionBase._get_timestep_embedding``::

    half = dim // 2
    freqs = exp(-log(max_period) * arange(half) / half)
    args = t * freqs
    embedding = concat([cos(args), sin(args)])

The manifest's ``timestep_embedding`` block names this convention so a model
trained with another one is refused rather than fed nonsense.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import ModelError


@dataclass(frozen=True)
class TimestepEmbedding:
    """How a timestep becomes the UNet's ``timestep_embedding`` input."""

    dim: int = 320
    max_period: float = 10000.0
    order: str = "cos_sin"  # KerasCV: cos first, then sin

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimestepEmbedding:
        kind = data.get("type", "sinusoidal")
        order = str(data.get("order", "cos_sin"))
        if kind != "sinusoidal" or order not in ("cos_sin", "sin_cos"):
            raise ModelError(
                f"The model asks for a timestep embedding this version cannot make "
                f"(type {kind!r}, order {order!r}); update ParaSight or reinstall the model."
            )
        return cls(dim=int(data.get("dim", 320)), max_period=float(data.get("max_period", 10000)),
                   order=order)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "sinusoidal", "dim": self.dim, "max_period": self.max_period,
                "order": self.order}

    def __call__(self, timesteps: ArrayLike) -> NDArray[np.float32]:
        """Embed one timestep or a batch of them: returns ``(batch, dim)`` float32."""
        t = np.atleast_1d(np.asarray(timesteps, dtype=np.float32))
        half = self.dim // 2
        freqs = np.exp(-math.log(self.max_period) * np.arange(half, dtype=np.float32) / half)
        args = t[:, None] * freqs[None, :].astype(np.float32)
        parts = [np.cos(args), np.sin(args)]
        if self.order == "sin_cos":
            parts.reverse()
        return np.concatenate(parts, axis=1).astype(np.float32)


@dataclass(frozen=True)
class GuidanceEmbedding:
    """LCM-distilled UNets (``time_cond_proj_dim``) take the guidance scale as an input: its
    sinusoidal embedding, projected by ``cond_proj`` (no bias), is added to the timestep
    embedding before the UNet's first time layer. keras-cv's UNet takes that 320-wide
    embedding from outside, so the sum is made here and the graph is unchanged.

    As diffusers' ``LatentConsistencyModelPipeline``: w = (guidance - 1) * 1000, frequencies
    exp(-log(10000) * k / (half - 1)), sin first, then cos. ``projection`` is (320, dim).
    """

    projection: NDArray[np.float32]

    @property
    def dim(self) -> int:
        return int(self.projection.shape[1])

    def embed(self, guidance: float) -> NDArray[np.float32]:
        half = self.dim // 2
        w = np.float32((guidance - 1.0) * 1000.0)
        freqs = np.exp(np.arange(half, dtype=np.float32)
                       * -np.float32(math.log(10000.0) / (half - 1)))
        args = w * freqs
        return np.concatenate([np.sin(args), np.cos(args)]).astype(np.float32)

    def __call__(self, guidance: float) -> NDArray[np.float32]:
        """What is added to every row of the timestep embedding: (320,) float32."""
        return (self.projection @ self.embed(guidance)).astype(np.float32)
