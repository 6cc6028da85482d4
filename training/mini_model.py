"""ParaSight Mini's architecture: Stable Diffusion's shape, made small.

Same interfaces as KerasCV's Stable Diffusion models, so the one pipeline runs both:

- text encoder: ``tokens`` (B, 77) int32, ``positions`` (B, 77) int32 -> ``context`` (B, 77, D)
- UNet: ``latent`` (B, h, w, 4), ``timestep_embedding`` (B, E), ``context`` (B, 77, D)
  -> ``noise`` (B, h, w, 4), the predicted epsilon
- decoder: ``latent`` (B, h, w, 4) -> ``image`` (B, 8h, 8w, 3) in [-1, 1]; like KerasCV's,
  it undoes the latent scaling factor itself (its first layer).
- encoder (training only): image (B, 8h, 8w, 3) in [-1, 1] -> unscaled latent.

The autoencoder carries a colour path beside its convolutions (8x8 mean colour into
latent channels 0-2, bilinear upsampling back out), so it reconstructs colours from its
first training step: on two CPU cores it gets a few hundred steps, not tens of thousands.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np
from keras import layers, ops

VOCAB_SIZE = 49408
MAX_TOKENS = 77


@dataclass(frozen=True)
class MiniConfig:
    """Widths of every part; ``tiny()`` is the same architecture for tests."""

    image_size: int = 128
    latent_channels: int = 4
    text_dim: int = 128  # D: context width
    text_embed_dim: int = 32  # factorised token embedding (keeps 49408 x D small)
    text_layers: int = 2
    text_heads: int = 4
    # Each token's context vector also carries its own word's embedding, untouched by
    # attention (layer-normalised and added after the last layer): the UNet can read
    # "red" as red whatever creature it is said of. The first run with it (and 10,000
    # steps) drew held-out pairs' colour 87.5% and kind 88.5%, against 70.8% and 78.1%
    # without it (6,000 steps); see the model card for what is and is not separated.
    text_word_skip: bool = True
    t_dim: int = 128  # E: sinusoidal timestep embedding width
    unet_channels: tuple[int, ...] = (48, 96, 144)  # 16x16, 8x8, 4x4
    unet_heads: int = 4
    # The caption's mean context vector joins the timestep embedding (as SDXL's pooled
    # text embedding does), and the embedding scales and shifts the res blocks (AdaGN):
    # a direct path for what is global in a caption (the kind, the colour). Off: the
    # first shipped Mini's UNet, cross-attention only.
    unet_pooled_text: bool = True
    # Self-attention at the UNet's full latent size (16x16: 256 positions); cross-attention
    # stays. Off, as SDXL leaves its top level without transformers: the step is 20%
    # cheaper (measured), spent on more steps; the 8x8 and 4x4 levels still see the whole
    # picture. The first three shipped Minis had it.
    unet_top_self_attention: bool = False
    vae_channels: tuple[int, ...] = (16, 32, 64, 128)  # 128, 64, 32, 16
    scaling_factor: float = 1.0  # set from the trained encoder's latent std

    @classmethod
    def tiny(cls) -> MiniConfig:
        return cls(text_dim=16, text_embed_dim=8, text_layers=1, text_heads=2, t_dim=16,
                   unet_channels=(8, 16, 16), unet_heads=2, vae_channels=(8, 8, 8, 8))

    @property
    def latent_size(self) -> int:
        return self.image_size // 8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MiniConfig:
        d = dict(d)
        d.setdefault("unet_pooled_text", False)  # configs saved before the options had none
        d.setdefault("unet_top_self_attention", True)
        d.setdefault("text_word_skip", False)
        for k in ("unet_channels", "vae_channels"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def _groups(ch: int) -> int:
    for g in (8, 4, 2, 1):
        if ch % g == 0:
            return g
    return 1


def _norm(ch: int) -> layers.Layer:
    return layers.GroupNormalization(groups=_groups(ch), epsilon=1e-5)


def res_block(x: Any, ch: int, t: Any | None = None, scale_shift: bool = False) -> Any:
    """With ``t``: the embedding is added after the first convolution, or with
    ``scale_shift`` scales and shifts the second normalisation (AdaGN, Dhariwal and
    Nichol 2021), a stronger hold for the conditioning."""
    h = layers.Activation("swish")(_norm(x.shape[-1])(x))
    h = layers.Conv2D(ch, 3, padding="same")(h)
    if t is not None and scale_shift:
        scale = layers.Reshape((1, 1, ch))(layers.Dense(ch, kernel_initializer="zeros")(t))
        shift = layers.Reshape((1, 1, ch))(layers.Dense(ch, kernel_initializer="zeros")(t))
        h = _norm(ch)(h) * (1.0 + scale) + shift
        h = layers.Activation("swish")(h)
    else:
        if t is not None:
            h = h + layers.Reshape((1, 1, ch))(layers.Dense(ch)(t))
        h = layers.Activation("swish")(_norm(ch)(h))
    h = layers.Conv2D(ch, 3, padding="same")(h)
    if x.shape[-1] != ch:
        x = layers.Conv2D(ch, 1)(x)
    return x + h


def transformer_block(x: Any, context: Any, heads: int, self_attention: bool = True) -> Any:
    """Self-attention, cross-attention to the text, feed-forward: SD's spatial transformer."""
    hh, ww, ch = x.shape[1], x.shape[2], x.shape[3]
    h = _norm(ch)(x)
    h = layers.Reshape((hh * ww, ch))(layers.Conv2D(ch, 1)(h))
    if self_attention:
        a = layers.LayerNormalization(epsilon=1e-5)(h)
        h = h + layers.MultiHeadAttention(heads, ch // heads)(a, a)
    a = layers.LayerNormalization(epsilon=1e-5)(h)
    h = h + layers.MultiHeadAttention(heads, ch // heads)(a, context)
    a = layers.LayerNormalization(epsilon=1e-5)(h)
    h = h + layers.Dense(ch)(layers.Dense(ch * 4, activation="gelu")(a))
    h = layers.Conv2D(ch, 1)(layers.Reshape((hh, ww, ch))(h))
    return x + h


def build_text_encoder(cfg: MiniConfig) -> keras.Model:
    tokens = keras.Input((MAX_TOKENS,), dtype="int32", name="tokens")
    positions = keras.Input((MAX_TOKENS,), dtype="int32", name="positions")
    words = layers.Embedding(VOCAB_SIZE, cfg.text_embed_dim)(tokens)
    words = layers.Dense(cfg.text_dim, use_bias=False)(words)
    x = words + layers.Embedding(MAX_TOKENS, cfg.text_dim)(positions)
    for _ in range(cfg.text_layers):
        a = layers.LayerNormalization(epsilon=1e-5)(x)
        x = x + layers.MultiHeadAttention(cfg.text_heads, cfg.text_dim // cfg.text_heads)(a, a)
        a = layers.LayerNormalization(epsilon=1e-5)(x)
        x = x + layers.Dense(cfg.text_dim)(layers.Dense(cfg.text_dim * 4, activation="gelu")(a))
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    if cfg.text_word_skip:
        x = x + layers.LayerNormalization(epsilon=1e-5)(words)
    return keras.Model([tokens, positions], x, name="text_encoder")


def build_unet(cfg: MiniConfig) -> keras.Model:
    s, c = cfg.latent_size, cfg.latent_channels
    latent = keras.Input((s, s, c), name="latent")
    t_in = keras.Input((cfg.t_dim,), name="timestep_embedding")
    context = keras.Input((MAX_TOKENS, cfg.text_dim), name="context")
    e = cfg.unet_channels[0] * 4
    t = layers.Dense(e, activation="swish")(t_in)
    t = layers.Dense(e)(t)
    pooled = cfg.unet_pooled_text
    if pooled:
        text = layers.GlobalAveragePooling1D()(context)
        text = layers.Dense(e)(layers.Dense(e, activation="swish")(text))
        t = layers.Activation("swish")(layers.Add()([t, text]))
    ch = cfg.unet_channels
    x = layers.Conv2D(ch[0], 3, padding="same")(latent)
    skips = []
    top = cfg.unet_top_self_attention
    for i, width in enumerate(ch[:-1]):
        x = res_block(x, width, t, pooled)
        x = transformer_block(x, context, cfg.unet_heads, top or i > 0)
        skips.append(x)
        x = layers.Conv2D(ch[i + 1], 3, strides=2, padding="same")(x)
    x = res_block(x, ch[-1], t, pooled)
    x = transformer_block(x, context, cfg.unet_heads)
    x = res_block(x, ch[-1], t, pooled)
    for i in reversed(range(len(ch) - 1)):
        x = layers.UpSampling2D(2)(x)
        x = layers.Conv2D(ch[i], 3, padding="same")(x)
        x = layers.Concatenate()([x, skips.pop()])
        x = res_block(x, ch[i], t, pooled)
        x = transformer_block(x, context, cfg.unet_heads, top or i > 0)
    x = layers.Activation("swish")(_norm(ch[0])(x))
    out = layers.Conv2D(c, 3, padding="same", kernel_initializer="zeros")(x)
    return keras.Model([latent, t_in, context], out, name="unet")


def _colour_map(rows: list[int], cols: list[int]) -> Any:
    """A 1x1 kernel initialiser copying channel ``rows[k]`` to ``cols[k]``."""

    def init(shape: Any, dtype: Any = None) -> Any:
        k = np.zeros(shape, dtype="float32")
        for r, c in zip(rows, cols):
            k[0, 0, r, c] = 1.0
        return ops.convert_to_tensor(k, dtype=dtype)

    return init


def build_decoder(cfg: MiniConfig) -> keras.Model:
    """Convolutions and upsampling, plus a bilinear colour path from the latent straight to
    the pixels (initialised to copy latent channels 0-2 to RGB), so the autoencoder has the
    right colours from its first step and its blocks only learn edges and detail."""
    s, c = cfg.latent_size, cfg.latent_channels
    latent = keras.Input((s, s, c), name="latent")
    z = layers.Rescaling(1.0 / cfg.scaling_factor)(latent)
    widths = list(reversed(cfg.vae_channels))  # 16 -> 32 -> 64 -> 128
    x = layers.Conv2D(widths[0], 3, padding="same")(z)
    x = res_block(x, widths[0])
    for w in widths[1:]:
        x = layers.UpSampling2D(2)(x)
        x = layers.Conv2D(w, 3, padding="same")(x)
        x = res_block(x, w)
    x = layers.Activation("swish")(_norm(widths[-1])(x))
    detail = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros")(x)
    colour = layers.Conv2D(3, 1, kernel_initializer=_colour_map([0, 1, 2], [0, 1, 2]))(z)
    colour = layers.UpSampling2D(cfg.image_size // s, interpolation="bilinear")(colour)
    out = layers.Add()([colour, detail])
    return keras.Model(latent, out, name="decoder")


def build_encoder(cfg: MiniConfig) -> keras.Model:
    """Light on purpose (training only): strided convolutions to 32x32, residual blocks
    only at the two smallest sizes. Flat, outlined shapes need no full-size blocks, and
    the whole training set must be encoded on two CPU cores."""
    ch = cfg.vae_channels
    image = keras.Input((cfg.image_size, cfg.image_size, 3), name="image")
    x = layers.Conv2D(ch[0], 4, strides=2, padding="same")(image)  # 64
    x = layers.Activation("swish")(x)
    x = layers.Conv2D(ch[1], 3, strides=2, padding="same")(x)  # 32
    x = res_block(x, ch[1])
    x = layers.Conv2D(ch[2], 3, strides=2, padding="same")(x)  # 16
    x = res_block(x, ch[2])
    x = res_block(x, ch[3])
    x = layers.Activation("swish")(_norm(ch[3])(x))
    x = layers.Conv2D(cfg.latent_channels, 3, padding="same", kernel_initializer="zeros")(x)
    # The colour path: the 8x8 mean colour into latent channels 0-2 (see build_decoder).
    mean = layers.AveragePooling2D(cfg.image_size // cfg.latent_size)(image)
    colour = layers.Conv2D(cfg.latent_channels, 1,
                           kernel_initializer=_colour_map([0, 1, 2], [0, 1, 2]))(mean)
    out = layers.Add()([colour, x])
    return keras.Model(image, out, name="encoder")


def positions() -> Any:
    return ops.expand_dims(ops.arange(MAX_TOKENS, dtype="int32"), 0)
