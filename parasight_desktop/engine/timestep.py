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
