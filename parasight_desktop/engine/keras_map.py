"""Canonical (diffusers-named) tensors -> keras-cv's Stable Diffusion layers, every weight
set with its shape checked and every tensor of the component used.

keras-cv builds its models from blocks (``ResBlock``, ``SpatialTransformer``,
``ResnetBlock``, ...). Keras names each block by class with a counter in the order it
was built, and that build order follows the architecture's own (down path, middle, up
path), so the blocks of one class, sorted by that counter, pair one to one with
diffusers' modules of the same kind listed in the same order (:func:`unet_plan`). Inside
a block each weight is set by attribute name, never by position, so two weights of the
same shape (``to_q`` and ``to_k``) cannot be swapped silently.

Layout conversions: a PyTorch linear weight (out, in) is a Keras Dense kernel (in, out);
a convolution (out, in, kh, kw) is a Keras Conv2D kernel (kh, kw, in, out); a linear
weight set on a 1x1 convolution (the VAE's attention) is (1, 1, in, out).

Imported by the conversion worker only (TensorFlow / Keras live there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .errors import ModelError


class Weights(Protocol):
    def read(self, name: str) -> NDArray[np.float32]: ...

    def shape(self, name: str) -> tuple[int, ...]: ...


class Setter:
    """Sets Keras variables from canonical tensors and keeps count of what was used."""

    def __init__(self, weights: Weights, names: Iterable[str], what: str) -> None:
        self.weights = weights
        self.available = set(names)
        self.used: set[str] = set()
        self.what = what
        self.n_set = 0

    def _take(self, name: str) -> NDArray[np.float32]:
        if name not in self.available:
            raise ModelError(f"The checkpoint's {self.what} lacks {name}: the file is "
                             "incomplete or not a Stable Diffusion 1.x/2.x model.")
        if name in self.used:
            raise ModelError(f"{name} was mapped twice (a ParaSight bug).")
        self.used.add(name)
        return self.weights.read(name)

    def _assign(self, var: Any, value: NDArray[np.float32], name: str) -> None:
        want = tuple(int(d) for d in var.shape)
        if tuple(value.shape) != want:
            raise ModelError(f"{name} has shape {tuple(value.shape)} where the {self.what} "
                             f"needs {want}: the checkpoint does not fit this architecture.")
        var.assign(value.astype(np.float32))
        self.n_set += 1

    def dense(self, layer: Any, prefix: str, bias: bool = True) -> None:
        w = self._take(f"{prefix}.weight")
        if w.ndim == 4:  # a 1x1 convolution read as a linear layer
            w = w[:, :, 0, 0]
        self._assign(layer.kernel, w.T, f"{prefix}.weight")
        if layer.use_bias:
            self._assign(layer.bias, self._take(f"{prefix}.bias"), f"{prefix}.bias")
        elif bias and f"{prefix}.bias" in self.available:
            raise ModelError(f"{prefix}.bias exists where keras-cv's layer has no bias.")

    def conv(self, padded: Any, prefix: str) -> None:
        layer = padded.conv2d if hasattr(padded, "conv2d") else padded
        w = self._take(f"{prefix}.weight")
        w = w[:, :, None, None] if w.ndim == 2 else w
        self._assign(layer.kernel, w.transpose(2, 3, 1, 0), f"{prefix}.weight")
        self._assign(layer.bias, self._take(f"{prefix}.bias"), f"{prefix}.bias")

    def norm(self, layer: Any, prefix: str) -> None:
        self._assign(layer.gamma, self._take(f"{prefix}.weight"), f"{prefix}.weight")
        self._assign(layer.beta, self._take(f"{prefix}.bias"), f"{prefix}.bias")

    def embedding(self, layer: Any, name: str) -> None:
        self._assign(layer.embeddings, self._take(name), name)

    def finish(self, model: Any) -> None:
        """Every variable set once, every tensor of the component used."""
        n_vars = len(model.weights)
        if self.n_set != n_vars:
            raise ModelError(f"Only {self.n_set} of the {self.what}'s {n_vars} weights were "
                             "set (a ParaSight bug); nothing was imported.")
        left = sorted(self.available - self.used)
        if left:
            raise ModelError(f"The checkpoint's {self.what} has {len(left)} tensors that "
                             f"keras-cv's architecture has no place for (for example "
                             f"{left[0]}); nothing was imported.")


def _blocks(model: Any, cls: str) -> list[Any]:
    """The model's top-level layers of class ``cls``, in the order they were built."""
    found = [layer for layer in model.layers if type(layer).__name__ == cls]

    def order(layer: Any) -> int:
        m = re.search(r"_(\d+)$", layer.name)
        return int(m[1]) if m else 0

    return sorted(found, key=order)


def unet_plan() -> dict[str, list[str]]:
    """diffusers' UNet modules in keras-cv's build order, by keras-cv block class."""
    res: list[str] = []
    attn: list[str] = []
    convs = ["conv_in"]
    for b in range(3):
        for j in range(2):
            res.append(f"down_blocks.{b}.resnets.{j}")
            attn.append(f"down_blocks.{b}.attentions.{j}")
        convs.append(f"down_blocks.{b}.downsamplers.0.conv")
    res += ["down_blocks.3.resnets.0", "down_blocks.3.resnets.1", "mid_block.resnets.0"]
    attn.append("mid_block.attentions.0")
    res.append("mid_block.resnets.1")
    for b in range(4):
        for j in range(3):
            res.append(f"up_blocks.{b}.resnets.{j}")
            if b > 0:
                attn.append(f"up_blocks.{b}.attentions.{j}")
    convs.append("conv_out")
    return {"Dense": ["time_embedding.linear_1", "time_embedding.linear_2"],
            "PaddedConv2D": convs, "ResBlock": res, "SpatialTransformer": attn,
            "Upsample": [f"up_blocks.{b}.upsamplers.0.conv" for b in range(3)],
            "GroupNormalization": ["conv_norm_out"]}


def set_unet(model: Any, weights: Weights, names: Iterable[str]) -> int:
    """keras-cv's DiffusionModel / DiffusionModelV2 from ``unet.*`` tensors."""
    s = Setter(weights, names, "UNet")
    for cls, modules in unet_plan().items():
        blocks = _blocks(model, cls)
        if len(blocks) != len(modules):
            raise ModelError(f"keras-cv's UNet has {len(blocks)} {cls} blocks where "
                             f"{len(modules)} were expected (a keras-cv version ParaSight "
                             "does not know).")
        for block, module in zip(blocks, modules, strict=True):
            p = f"unet.{module}"
            if cls == "Dense":
                s.dense(block, p)
            elif cls == "PaddedConv2D":
                s.conv(block, p)
            elif cls == "GroupNormalization":
                s.norm(block, p)
            elif cls == "Upsample":
                s.conv(block.conv, p)
            elif cls == "ResBlock":
                s.norm(block.entry_flow[0], f"{p}.norm1")
                s.conv(block.entry_flow[2], f"{p}.conv1")
                s.dense(block.embedding_flow[1], f"{p}.time_emb_proj")
                s.norm(block.exit_flow[0], f"{p}.norm2")
                s.conv(block.exit_flow[2], f"{p}.conv2")
                if block.residual_projection.__class__.__name__ == "PaddedConv2D":
                    s.conv(block.residual_projection, f"{p}.conv_shortcut")
            else:
                _set_spatial_transformer(s, block, p)
    s.finish(model)
    return s.n_set


def _set_spatial_transformer(s: Setter, block: Any, p: str) -> None:
    s.norm(block.norm, f"{p}.norm")
    for layer, name in ((block.proj1, "proj_in"), (block.proj2, "proj_out")):
        if type(layer).__name__ == "Dense":  # SD 2.x: linear projections
            s.dense(layer, f"{p}.{name}")
        else:
            s.conv(layer, f"{p}.{name}")
    t = block.transformer_block
    q = f"{p}.transformer_blocks.0"
    for norm, name in ((t.norm1, "norm1"), (t.norm2, "norm2"), (t.norm3, "norm3")):
        s.norm(norm, f"{q}.{name}")
    for attn, name in ((t.attn1, "attn1"), (t.attn2, "attn2")):
        s.dense(attn.to_q, f"{q}.{name}.to_q", bias=False)
        s.dense(attn.to_k, f"{q}.{name}.to_k", bias=False)
        s.dense(attn.to_v, f"{q}.{name}.to_v", bias=False)
        s.dense(attn.out_proj, f"{q}.{name}.to_out.0")
    s.dense(t.geglu.dense, f"{q}.ff.net.0.proj")
    s.dense(t.dense, f"{q}.ff.net.2")


def set_text_encoder(model: Any, weights: Weights, names: Iterable[str]) -> int:
    """keras-cv's TextEncoder / TextEncoderV2 from ``text_encoder.*`` tensors."""
    s = Setter(weights, names, "text encoder")
    tm = "text_encoder.text_model"
    embedding = _blocks(model, "CLIPEmbedding")
    layers = _blocks(model, "CLIPEncoderLayer")
    final = _blocks(model, "LayerNormalization")
    if len(embedding) != 1 or len(final) != 1:
        raise ModelError("keras-cv's text encoder is not built as ParaSight expects.")
    s.embedding(embedding[0].token_embedding, f"{tm}.embeddings.token_embedding.weight")
    s.embedding(embedding[0].position_embedding, f"{tm}.embeddings.position_embedding.weight")
    for i, layer in enumerate(layers):
        p = f"{tm}.encoder.layers.{i}"
        s.norm(layer.layer_norm1, f"{p}.layer_norm1")
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s.dense(getattr(layer.clip_attn, proj), f"{p}.self_attn.{proj}")
        s.norm(layer.layer_norm2, f"{p}.layer_norm2")
        s.dense(layer.fc1, f"{p}.mlp.fc1")
        s.dense(layer.fc2, f"{p}.mlp.fc2")
    s.norm(final[0], f"{tm}.final_layer_norm")
    s.finish(model)
    return s.n_set


def set_decoder(model: Any, weights: Weights, names: Iterable[str]) -> int:
    """keras-cv's Decoder (a Sequential) from ``vae.decoder.*`` and ``vae.post_quant_conv``."""
    d = "vae.decoder"
    order = ["vae.post_quant_conv", f"{d}.conv_in", f"{d}.mid_block.resnets.0",
             f"{d}.mid_block.attentions.0", f"{d}.mid_block.resnets.1"]
    for b in range(4):
        order += [f"{d}.up_blocks.{b}.resnets.{j}" for j in range(3)]
        if b < 3:
            order.append(f"{d}.up_blocks.{b}.upsamplers.0.conv")
    order += [f"{d}.conv_norm_out", f"{d}.conv_out"]
    return _set_vae(model, Setter(weights, names, "VAE decoder"), order)


def set_image_encoder(model: Any, weights: Weights, names: Iterable[str]) -> int:
    """keras-cv's ImageEncoder (a Sequential) from ``vae.encoder.*`` and ``vae.quant_conv``.

    diffusers' encoder (``DownEncoderBlock2D`` x 4, two resnets each, a downsampler after
    all but the last; the middle block; norm, SiLU, ``conv_out`` to 8 channels) and
    ``quant_conv`` (8 -> 8, 1x1) in keras-cv's build order; keras-cv then keeps the
    posterior's mean (the first 4 channels) times 0.18215, diffusers' ``.mode()``."""
    e = "vae.encoder"
    order = [f"{e}.conv_in"]
    for b in range(4):
        order += [f"{e}.down_blocks.{b}.resnets.{j}" for j in range(2)]
        if b < 3:
            order.append(f"{e}.down_blocks.{b}.downsamplers.0.conv")
    order += [f"{e}.mid_block.resnets.0", f"{e}.mid_block.attentions.0",
              f"{e}.mid_block.resnets.1", f"{e}.conv_norm_out", f"{e}.conv_out",
              "vae.quant_conv"]
    return _set_vae(model, Setter(weights, names, "VAE image encoder"), order)


def _set_vae(model: Any, s: Setter, order: list[str]) -> int:
    """A keras-cv VAE half (a Sequential): its layers with weights, in order, from the
    diffusers modules named in ``order``."""
    layers = [layer for layer in model.layers if layer.weights]
    if len(layers) != len(order):
        raise ModelError(f"keras-cv's {s.what} has {len(layers)} layers with weights where "
                         f"{len(order)} were expected.")
    for layer, p in zip(layers, order, strict=True):
        kind = type(layer).__name__
        if kind == "PaddedConv2D":
            s.conv(layer, p)
        elif kind == "GroupNormalization":
            s.norm(layer, p)
        elif kind == "ResnetBlock":
            s.norm(layer.norm1, f"{p}.norm1")
            s.conv(layer.conv1, f"{p}.conv1")
            s.norm(layer.norm2, f"{p}.norm2")
            s.conv(layer.conv2, f"{p}.conv2")
            if type(layer.residual_projection).__name__ == "PaddedConv2D":
                s.conv(layer.residual_projection, f"{p}.conv_shortcut")
        elif kind == "AttentionBlock":
            s.norm(layer.norm, f"{p}.group_norm")
            for attr, name in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"),
                               ("proj_out", "to_out.0")):
                s.conv(getattr(layer, attr), f"{p}.{name}")
        else:
            raise ModelError(f"keras-cv's {s.what} has an unexpected {kind} layer.")
    s.finish(model)
    return s.n_set
