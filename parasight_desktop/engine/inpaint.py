"""Masks for inpainting with ordinary (4-channel) models, as AUTOMATIC1111 does it.

A painted mask (255 where the image may change) is blurred at its edge (a Gaussian of
``blur`` pixels' standard deviation, AUTOMATIC1111's "Mask blur"), averaged down to the
latent grid for the denoising loop (outside it the latent is put back to the start
image's, noised to each step), and used once more at full size to lay the start image
back over the decoded one, so pixels outside the blurred mask are the start image's own.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]


def _gaussian_kernel(sigma: float) -> NDArray[np.float64]:
    radius = max(1, int(np.ceil(2.5 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k: NDArray[np.float64] = np.exp(-0.5 * (x / sigma) ** 2)
    out: NDArray[np.float64] = k / k.sum()
    return out


def blur_mask(mask: NDArray[np.uint8], blur: int) -> F32:
    """The mask as 0..1 floats, its edge softened by a separable Gaussian (σ = ``blur`` px,
    edges reflected); ``blur`` 0 keeps it hard."""
    m = (mask.astype(np.float64) / 255.0)
    if blur > 0:
        k = _gaussian_kernel(float(blur))
        r = len(k) // 2
        for axis in (0, 1):
            pad = [(0, 0), (0, 0)]
            pad[axis] = (r, r)
            padded = np.pad(m, pad, mode="reflect" if m.shape[axis] > r else "edge")
            m = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), axis, padded)
    return np.clip(m, 0.0, 1.0).astype(np.float32)


def latent_mask(pixel_mask: F32, latent_hw: tuple[int, int]) -> F32:
    """The pixel mask averaged over each latent cell: (1, h, w, 1) for NHWC latents."""
    h, w = latent_hw
    fy, fx = pixel_mask.shape[0] // h, pixel_mask.shape[1] // w
    cells = pixel_mask[:h * fy, :w * fx].reshape(h, fy, w, fx).mean(axis=(1, 3))
    out: F32 = cells.astype(np.float32)[None, :, :, None]
    return out


def overlay(start: NDArray[np.uint8], decoded: NDArray[np.uint8],
            pixel_mask: F32) -> NDArray[np.uint8]:
    """The start image laid back over the decoded one where the mask is below 1: exactly
    the start image where it is 0, the new image where it is 1, blended between."""
    m = pixel_mask[:, :, None].astype(np.float64)
    out = start.astype(np.float64) * (1.0 - m) + decoded.astype(np.float64) * m
    result: NDArray[np.uint8] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return result
