"""Stable Diffusion checkpoints as people have them -> one set of tensor names.

Every layout is read into the same *canonical* names, diffusers' module paths under a
component prefix (``unet.``, ``vae.``, ``text_encoder.``; the text encoder in
transformers' ``CLIPTextModel`` naming, for SD 2.x too). LoRAs name their targets in
those paths (:mod:`.lora`) and the Keras mapping (:mod:`.keras_map`) reads them.

Layouts:

- the single-file LDM layout that AUTOMATIC1111 and Civitai publish
  (``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.transformer.*``
  for SD 1.x, the OpenCLIP ``cond_stage_model.model.*`` for SD 2.x);
- a diffusers folder (``unet/``, ``vae/``, ``text_encoder/`` with ``.safetensors``), old
  VAE attention names (``query``, ``key``, ``value``, ``proj_attn``) included;
- a separate VAE file in either layout.

The LDM -> diffusers renaming is written from the two architectures' module trees (the
same correspondence diffusers' ``convert_ldm_*_checkpoint`` functions and its
``convert_diffusers_to_original_stable_diffusion.py`` tables encode). Every tensor of a
file is either renamed or on :data:`IGNORED` with its reason; anything else is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InputError, PredictionUnknownError
from .safetensors_io import PICKLE_SUFFIXES, SafetensorsFile, refuse_pickle

FAMILY_LABELS = {"sd1": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x"}
#: An LCM-distilled UNet's guidance projection (diffusers' ``time_cond_proj_dim``): not a
#: keras-cv weight; the pipeline applies it on the host (:class:`.timestep.GuidanceEmbedding`).
GUIDANCE_PROJECTION = "unet.time_embedding.cond_proj.weight"

#: The VAE's image encoder (``vae.encoder.*`` and ``vae.quant_conv.*``): optional, a model
#: without it imports for text to image only.
ENCODER_PREFIXES = ("vae.encoder.", "vae.quant_conv.")
#: Tensors a file may carry that ParaSight knowingly does not use, with why.
IGNORED: tuple[tuple[str, str], ...] = (
    (r"model_ema\..*", ("EMA copies of the UNet (the non-EMA weights are used, as "
                       "AUTOMATIC1111 and diffusers do)")),
    (r"(cond_stage_model\.transformer\.)?(text_model\.)?embeddings\.position_ids",
     "CLIP's position ids (a constant 0..76; merged files can carry corrupted ones)"),
    (r"cond_stage_model\.model\.transformer\.resblocks\.23\..*",
     "OpenCLIP's last layer (SD 2.x reads the penultimate one)"),
    (r"cond_stage_model\.model\.(text_projection|logit_scale)",
     "OpenCLIP's image-text projection (not used for generation)"),
    (r"(text_model\.)?text_projection\.weight|logit_scale",
     "CLIP's image-text projection (not used for generation)"),
    ((r"(betas|alphas_cumprod|alphas_cumprod_prev|sqrt_alphas_cumprod|"
     r"sqrt_one_minus_alphas_cumprod|log_one_minus_alphas_cumprod|sqrt_recip_alphas_cumprod|"
     r"sqrt_recipm1_alphas_cumprod|posterior_variance|posterior_log_variance_clipped|"
     r"posterior_mean_coef1|posterior_mean_coef2|logvar|model_ema\.decay|"
     r"model_ema\.num_updates)"), ("the training run's noise-schedule buffers (ParaSight "
                                 "computes the same schedule itself)")),
    (r"first_stage_model\.loss\..*|loss\..*", "the VAE's training loss"),
)
_IGNORED_RE = [(re.compile(p), why) for p, why in IGNORED]


def ignored_reason(key: str) -> str | None:
    """Why ``key`` is knowingly not used, or None."""
    for pattern, why in _IGNORED_RE:
        if pattern.fullmatch(key):
            return why
    return None


# ---------------------------------------------------------------------- LDM -> diffusers

_UNET_RESNET = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
                "out_layers.0": "norm2", "out_layers.3": "conv2",
                "skip_connection": "conv_shortcut"}
_VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2",
               "nin_shortcut": "conv_shortcut"}
_VAE_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v",
             "proj_out": "to_out.0"}
_OLD_VAE_ATTN = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _sub(table: dict[str, str], rest: str) -> str | None:
    for src, dst in table.items():
        if rest.startswith(src + "."):
            return dst + rest[len(src):]
    return None


def ldm_unet_name(key: str) -> str | None:
    """``input_blocks.1.0.in_layers.2.weight`` -> ``down_blocks.0.resnets.0.conv1.weight``."""
    m = re.fullmatch(r"time_embed\.([02])\.(weight|bias)", key)
    if m:
        return f"time_embedding.linear_{1 if m[1] == '0' else 2}.{m[2]}"
    m = re.fullmatch(r"out\.([02])\.(weight|bias)", key)
    if m:
        return f"{'conv_norm_out' if m[1] == '0' else 'conv_out'}.{m[2]}"
    m = re.fullmatch(r"input_blocks\.0\.0\.(weight|bias)", key)
    if m:
        return f"conv_in.{m[1]}"
    m = re.fullmatch(r"input_blocks\.(\d+)\.([012])\.(.*)", key)
    if m:
        n, kind, rest = int(m[1]), m[2], m[3]
        block, layer = (n - 1) // 3, (n - 1) % 3
        if layer == 2 and kind == "0":  # the downsampler after each level but the last
            return f"down_blocks.{block}.downsamplers.0.conv.{rest[3:]}" \
                if rest.startswith("op.") else None
        if kind == "0":
            sub = _sub(_UNET_RESNET, rest)
            return f"down_blocks.{block}.resnets.{layer}.{sub}" if sub else None
        return f"down_blocks.{block}.attentions.{layer}.{rest}" if kind == "1" else None
    m = re.fullmatch(r"middle_block\.([012])\.(.*)", key)
    if m:
        if m[1] == "1":
            return f"mid_block.attentions.0.{m[2]}"
        sub = _sub(_UNET_RESNET, m[2])
        return f"mid_block.resnets.{0 if m[1] == '0' else 1}.{sub}" if sub else None
    m = re.fullmatch(r"output_blocks\.(\d+)\.([012])\.(.*)", key)
    if m:
        n, kind, rest = int(m[1]), int(m[2]), m[3]
        block, layer = n // 3, n % 3
        if kind == 0:
            sub = _sub(_UNET_RESNET, rest)
            return f"up_blocks.{block}.resnets.{layer}.{sub}" if sub else None
        if rest.startswith("conv."):  # the upsampler: after the resnet, or after attention
            return f"up_blocks.{block}.upsamplers.0.{rest}"
        return f"up_blocks.{block}.attentions.{layer}.{rest}" if kind == 1 else None
    return None


def ldm_vae_name(key: str) -> str | None:
    """``decoder.up.3.block.0.nin_shortcut.weight`` -> ``decoder.up_blocks.0.resnets.0...``."""
    for part in ("encoder", "decoder"):
        if not key.startswith(part + "."):
            continue
        rest = key[len(part) + 1:]
        if rest.split(".")[0] in ("conv_in", "conv_out"):
            return key
        if rest.startswith("norm_out."):
            return f"{part}.conv_norm_out.{rest[9:]}"
        m = re.fullmatch(r"mid\.block_([12])\.(.*)", rest)
        if m:
            sub = _sub(_VAE_RESNET, m[2])
            return f"{part}.mid_block.resnets.{int(m[1]) - 1}.{sub}" if sub else None
        m = re.fullmatch(r"mid\.attn_1\.(.*)", rest)
        if m:
            sub = _sub(_VAE_ATTN, m[1])
            return f"{part}.mid_block.attentions.0.{sub}" if sub else None
        m = re.fullmatch(r"(up|down)\.(\d)\.block\.(\d)\.(.*)", rest)
        if m:
            level = 3 - int(m[2]) if m[1] == "up" else int(m[2])
            sub = _sub(_VAE_RESNET, m[4])
            return f"{part}.{m[1]}_blocks.{level}.resnets.{m[3]}.{sub}" if sub else None
        m = re.fullmatch(r"up\.(\d)\.upsample\.conv\.(.*)", rest)
        if m:
            return f"{part}.up_blocks.{3 - int(m[1])}.upsamplers.0.conv.{m[2]}"
        m = re.fullmatch(r"down\.(\d)\.downsample\.conv\.(.*)", rest)
        if m:
            return f"{part}.down_blocks.{m[1]}.downsamplers.0.conv.{m[2]}"
        return None
    if key.split(".")[0] in ("quant_conv", "post_quant_conv"):
        return key
    return None


def diffusers_vae_name(key: str) -> str:
    """Old diffusers VAE attention names (``query``...) -> today's (``to_q``...)."""
    m = re.fullmatch(r"(.*\.attentions\.0)\.(query|key|value|proj_attn)\.(weight|bias)", key)
    return f"{m[1]}.{_OLD_VAE_ATTN[m[2]]}.{m[3]}" if m else key


_OPENCLIP_LAYER = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj":
                   "self_attn.out_proj", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}


# ---------------------------------------------------------------------- tensor sources


@dataclass(frozen=True)
class TensorRef:
    """Where a canonical tensor comes from: a file, a key, and how it is reshaped."""

    file: SafetensorsFile
    key: str
    #: None; ("split", i, n): the i-th of n equal row blocks (OpenCLIP's in_proj);
    #: "squeeze": a 1x1 conv (out, in, 1, 1) read as a linear weight (out, in).
    transform: tuple[Any, ...] | str | None = None

    def shape(self) -> tuple[int, ...]:
        s = self.file.shape(self.key)
        if self.transform == "squeeze" and len(s) == 4:
            return s[:2]
        if isinstance(self.transform, tuple):
            return (s[0] // int(self.transform[2]), *s[1:])
        return s

    def read(self) -> NDArray[np.float32]:
        x = self.file.read(self.key).astype(np.float32, copy=False)
        if self.transform == "squeeze" and x.ndim == 4:
            return x[:, :, 0, 0]
        if isinstance(self.transform, tuple):
            _, i, n = self.transform
            rows = x.shape[0] // int(n)
            return x[int(i) * rows:(int(i) + 1) * rows]
        return x


@dataclass
class Checkpoint:
    """A checkpoint under canonical names, read on demand."""

    path: Path
    layout: str  # "ldm" or "diffusers"
    family: str  # "sd1" or "sd2"
    tensors: dict[str, TensorRef]
    files: list[Path]
    ignored: dict[str, int] = field(default_factory=dict)  # reason -> count
    has_ema: bool = False
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def family_label(self) -> str:
        return FAMILY_LABELS[self.family]

    def component(self, prefix: str) -> dict[str, TensorRef]:
        return {k: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def n_params(self, prefix: str = "") -> int:
        return sum(int(np.prod(r.shape())) for k, r in self.tensors.items()
                   if k.startswith(prefix))


# ---------------------------------------------------------------------- detection


def _other_family(keys: Iterable[str]) -> str | None:
    """The name of a family ParaSight does not run, recognised by its keys, or None."""
    ks = list(keys)

    def has(pattern: str) -> bool:
        rx = re.compile(pattern)
        return any(rx.match(k) for k in ks)

    if has(r"conditioner\.embedders\.1\.") or has(r"(model\.diffusion_model\.)?label_emb\.") \
            or has(r"add_embedding\."):
        return "Stable Diffusion XL"
    if has(r"(model\.diffusion_model\.)?joint_blocks\.") or has(r"transformer_blocks\.\d+\.ff_context"):
        return "Stable Diffusion 3"
    if has(r"(model\.diffusion_model\.)?double_blocks\.") or has(r"single_transformer_blocks\."):
        return "Flux"
    if has(r"(model\.)?diffusion_model\.down\.") or has(r"model\.diffusion_model\.x_embedder"):
        return "a transformer-based model (PixArt, Hunyuan, ...)"
    return None


def _lora_or_vae_hint(path: Path, keys: list[str]) -> str | None:
    if any(k.startswith(("lora_", "lycoris_")) or ".lora_" in k or "lora_A" in k for k in keys):
        return (f"{path.name} is a LoRA, not a whole model: import a base model and add it "
                "with --lora (or in the Import dialog's LoRA list).")
    if keys and all(k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant_conv.",
                                  "first_stage_model.")) or ignored_reason(k) for k in keys):
        return (f"{path.name} is a VAE alone, not a whole model: import a model and give "
                "this file as its VAE (--vae).")
    if any(k.startswith("down_blocks.") for k in keys) and not any(
            k.startswith("model.diffusion_model.") for k in keys):
        return (f"{path.name} is one part of a diffusers folder: import the whole folder "
                "(the one with unet/, vae/ and text_encoder/ in it).")
    return None


def _refuse_unet(shape_in: tuple[int, ...], label: str) -> None:
    if len(shape_in) == 4 and shape_in[1] == 9:
        raise InputError(f"{label} is an inpainting checkpoint (its UNet takes 9 input "
                         "channels): ParaSight cannot run inpainting checkpoints yet. Use the "
                         "ordinary (non-inpainting) version of the model.")
    if len(shape_in) == 4 and shape_in[1] != 4:
        raise InputError(f"{label} has a UNet with {shape_in[1]} input channels (an "
                         "instruction-editing or other special checkpoint), which ParaSight "
                         "cannot run; it runs text-to-image models with 4 latent channels.")


def _family_from_context(dim: int, label: str) -> str:
    if dim == 768:
        return "sd1"
    if dim == 1024:
        return "sd2"
    raise InputError(f"{label}: its UNet attends to {dim}-wide text features, which is "
                     "neither Stable Diffusion 1.x (768) nor 2.x (1024).")


def _refuse_v_prediction(family: str, prediction: str | None, label: str) -> None:
    if family != "sd2":
        return
    if prediction in ("v", "v_prediction"):
        raise InputError(
            f"{label} is a v-prediction model (Stable Diffusion 2.x at 768 pixels): "
            "ParaSight supports the 512-pixel noise-prediction 2.x models (SD 2.1-base, "
            "SD-Turbo) so far. Use the -base version of the model.")
    if prediction not in ("epsilon",):
        raise PredictionUnknownError(
            f"{label} is a Stable Diffusion 2.x model that does not say what its UNet "
            "predicts: 2.1-base and SD-Turbo predict noise, 2.0 and 2.1 at 768 pixels "
            "predict velocity, which ParaSight does not support yet. If this is a "
            "512-pixel base or Turbo model, import it again saying so (--prediction "
            "epsilon on the command line; in the dialog, 'Predicts noise').")


def _metadata_prediction(meta: dict[str, str]) -> str | None:
    value = (meta.get("modelspec.prediction_type") or meta.get("prediction_type") or "").lower()
    if value in ("v", "v_prediction", "v-prediction"):
        return "v"
    if value in ("epsilon", "eps"):
        return "epsilon"
    if meta.get("ss_v_parameterization", "").lower() == "true":
        return "v"
    return None


# ---------------------------------------------------------------------- readers


def _read_ldm(path: Path, prediction: str | None) -> Checkpoint:
    f = SafetensorsFile(path)
    keys = list(f)
    other = _other_family(keys)
    if other:
        raise InputError(f"{path.name} is a {other} checkpoint: ParaSight imports Stable "
                         "Diffusion 1.x and 2.x models only.")
    hint = _lora_or_vae_hint(path, keys)
    if hint:
        raise InputError(hint)
    conv_in = "model.diffusion_model.input_blocks.0.0.weight"
    to_k = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    if conv_in not in f or to_k not in f:
        raise InputError(f"{path.name} is not a Stable Diffusion 1.x or 2.x checkpoint (it "
                         "has no UNet under model.diffusion_model).")
    _refuse_unet(f.shape(conv_in), path.name)
    family = _family_from_context(f.shape(to_k)[-1], path.name)
    _refuse_v_prediction(family, prediction or _metadata_prediction(f.metadata), path.name)
    ck = Checkpoint(path, "ldm", family, {}, [path], metadata=f.metadata,
                    has_ema=sum(k.startswith("model_ema.") for k in keys) > 100)
    unknown: list[str] = []
    for key in keys:
        names = _ldm_canonical(f, key)
        if names:
            for name, ref in names:
                ck.tensors[name] = ref
            continue
        why = ignored_reason(key)
        if why is None:
            unknown.append(key)
        else:
            ck.ignored[why] = ck.ignored.get(why, 0) + 1
    _refuse_unknown(path, unknown)
    return ck


def _ldm_canonical(f: SafetensorsFile, key: str) -> list[tuple[str, TensorRef]]:
    if key.startswith("model.diffusion_model."):
        name = ldm_unet_name(key[len("model.diffusion_model."):])
        return [("unet." + name, TensorRef(f, key))] if name else []
    for prefix in ("first_stage_model.", "vae."):
        if key.startswith(prefix):
            rest = key[len(prefix):]
            if ignored_reason(rest):
                return []
            name = ldm_vae_name(rest)
            if name is None:
                return []
            squeeze = "squeeze" if ".attentions.0.to_" in name and name.endswith("weight") \
                else None
            return [("vae." + name, TensorRef(f, key, squeeze))]
    for prefix in ("cond_stage_model.transformer.text_model.", "cond_stage_model.transformer."):
        if key.startswith(prefix):
            rest = key[len(prefix):]
            if rest.endswith("position_ids") or not rest.startswith(
                    ("embeddings.", "encoder.", "final_layer_norm.")):
                return []
            return [("text_encoder.text_model." + rest, TensorRef(f, key))]
    if key.startswith("cond_stage_model.model."):
        return _openclip_canonical(f, key)
    return []


def _openclip_canonical(f: SafetensorsFile, key: str) -> list[tuple[str, TensorRef]]:
    rest = key[len("cond_stage_model.model."):]
    tm = "text_encoder.text_model."
    simple = {"token_embedding.weight": "embeddings.token_embedding.weight",
              "positional_embedding": "embeddings.position_embedding.weight",
              "ln_final.weight": "final_layer_norm.weight",
              "ln_final.bias": "final_layer_norm.bias"}
    if rest in simple:
        return [(tm + simple[rest], TensorRef(f, key))]
    m = re.fullmatch(r"transformer\.resblocks\.(\d+)\.(.*)", rest)
    if not m or int(m[1]) >= 23:
        return []
    layer, sub = f"{tm}encoder.layers.{m[1]}.", m[2]
    m2 = re.fullmatch(r"attn\.in_proj_(weight|bias)", sub)
    if m2:
        return [(f"{layer}self_attn.{p}_proj.{m2[1]}", TensorRef(f, key, ("split", i, 3)))
                for i, p in enumerate("qkv")]
    mapped = _sub(_OPENCLIP_LAYER, sub)
    return [(layer + mapped, TensorRef(f, key))] if mapped else []


def _refuse_unknown(path: Path, unknown: list[str]) -> None:
    if unknown:
        shown = ", ".join(unknown[:3])
        raise InputError(f"{path.name} has {len(unknown)} tensors ParaSight does not "
                         f"understand (for example {shown}); it may be a newer or modified "
                         "architecture. Nothing was imported.")


def _component_file(folder: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        for candidate in (folder / name, folder / name.replace(".safetensors",
                                                               ".fp16.safetensors")):
            if candidate.is_file():
                return candidate
    pickled = [p for p in folder.glob("*") if p.suffix in PICKLE_SUFFIXES]
    if pickled:
        refuse_pickle(pickled[0])
    if list(folder.glob("*.index.json")):
        raise InputError(f"{folder} holds its weights in several shards: ParaSight reads a "
                         "single .safetensors file per part so far.")
    raise InputError(f"{folder} has no {names[0]}: the diffusers folder is incomplete.")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_CLIP_PARTS = ("text_model.", "embeddings.", "encoder.", "final_layer_norm.")


def _read_diffusers(folder: Path, prediction: str | None) -> Checkpoint:
    index = _read_json(folder / "model_index.json")
    if "text_encoder_2" in index or (folder / "text_encoder_2").is_dir():
        raise InputError(f"{folder.name} is a Stable Diffusion XL folder: ParaSight imports "
                         "Stable Diffusion 1.x and 2.x models only.")
    if "transformer" in index or (folder / "transformer").is_dir():
        raise InputError(f"{folder.name} is a transformer-based model (SD 3, Flux, PixArt, "
                         "...): ParaSight imports Stable Diffusion 1.x and 2.x models only.")
    for part in ("unet", "vae", "text_encoder"):
        if not (folder / part).is_dir():
            raise InputError(f"{folder} has no {part}/ folder: give the diffusers folder "
                             "that holds unet/, vae/ and text_encoder/.")
    unet_cfg = _read_json(folder / "unet" / "config.json")
    sched = _read_json(folder / "scheduler" / "scheduler_config.json")
    files = {"unet": _component_file(folder / "unet", ("diffusion_pytorch_model.safetensors",)),
             "vae": _component_file(folder / "vae", ("diffusion_pytorch_model.safetensors",)),
             "text_encoder": _component_file(folder / "text_encoder", ("model.safetensors",))}
    opened = {part: SafetensorsFile(p) for part, p in files.items()}
    unet = opened["unet"]
    if "conv_in.weight" not in unet or \
            "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight" not in unet:
        other = _other_family(unet)
        raise InputError(f"{folder.name}'s UNet is not a Stable Diffusion 1.x or 2.x UNet"
                         + (f" (it looks like {other})" if other else "") + ".")
    _refuse_unet(unet.shape("conv_in.weight"), folder.name)
    family = _family_from_context(
        unet.shape("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight")[-1],
        folder.name)
    pred = prediction or ("v" if sched.get("prediction_type") == "v_prediction" or
                          unet_cfg.get("sample_size") == 96 else
                          "epsilon" if family == "sd2" and sched else None)
    _refuse_v_prediction(family, pred, folder.name)
    ck = Checkpoint(folder, "diffusers", family, {}, list(files.values()))
    unknown: list[str] = []
    for part, f in opened.items():
        for key in f:
            why = ignored_reason(key)
            if part == "text_encoder" and why is None and key.startswith(_CLIP_PARTS):
                # transformers 5 saves CLIPTextModel without the "text_model." prefix
                name = key if key.startswith("text_model.") else f"text_model.{key}"
                ck.tensors[f"text_encoder.{name}"] = TensorRef(f, key)
            elif part == "vae" and why is None:
                name = diffusers_vae_name(key)
                squeeze = "squeeze" if ".attentions.0.to_" in name and name.endswith(
                    "weight") else None
                ck.tensors[f"vae.{name}"] = TensorRef(f, key, squeeze)
            elif part == "unet" and why is None:
                ck.tensors[f"unet.{key}"] = TensorRef(f, key)
            elif why is not None:
                ck.ignored[why] = ck.ignored.get(why, 0) + 1
            else:
                unknown.append(f"{part}/{key}")
    _refuse_unknown(folder, unknown)
    return ck


def open_checkpoint(path: Path, *, prediction: str | None = None) -> Checkpoint:
    """Read the headers of a single file or a diffusers folder; refuse what cannot be run."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder.")
    if path.is_dir():
        return _read_diffusers(path, prediction)
    refuse_pickle(path)
    if path.suffix.lower() != ".safetensors":
        raise InputError(f"{path.name} is not a .safetensors file: ParaSight imports "
                         "checkpoints stored as .safetensors, or a diffusers folder.")
    return _read_ldm(path, prediction)


def apply_vae(ck: Checkpoint, path: Path) -> None:
    """Replace the checkpoint's VAE with the one in ``path`` (either layout): its decoder,
    and its image encoder where the file has one (a file without one leaves the
    checkpoint's encoder in place)."""
    refuse_pickle(path)
    f = SafetensorsFile(path)
    found: dict[str, TensorRef] = {}
    unknown: list[str] = []
    needed = {k for k in ck.tensors if k.startswith(("vae.decoder.", "vae.post_quant_conv."))}
    encoder = {k for k in ck.tensors if k.startswith(ENCODER_PREFIXES)}
    for key in f:
        rest = key
        for prefix in ("first_stage_model.", "vae."):
            if key.startswith(prefix):
                rest = key[len(prefix):]
        if ignored_reason(rest):
            continue
        name = ldm_vae_name(rest) or (diffusers_vae_name(rest) if rest.startswith(
            ("decoder.", "post_quant_conv.", "encoder.", "quant_conv.")) else None)
        full = f"vae.{name}"
        if name is None or (full not in needed and not full.startswith(ENCODER_PREFIXES)):
            unknown.append(key)
            continue
        squeeze = "squeeze" if ".attentions.0.to_" in name and name.endswith("weight") \
            else None
        found[full] = TensorRef(f, key, squeeze)
    if unknown:
        raise InputError(f"{path.name} is not a Stable Diffusion VAE ({len(unknown)} tensors "
                         f"that are not, for example {unknown[0]}).")
    missing = sorted(needed - set(found))
    if missing:
        raise InputError(f"{path.name} lacks {len(missing)} tensors of a Stable Diffusion VAE "
                         f"decoder (for example {missing[0]}).")
    new_encoder = {k for k in found if k.startswith(ENCODER_PREFIXES)}
    if new_encoder and encoder and new_encoder != encoder:
        odd = min(new_encoder ^ encoder)
        raise InputError(f"{path.name}'s image encoder does not fit this model ({odd} is in "
                         "one of them only).")
    for name, ref in found.items():
        old = ck.tensors.get(name)
        if old is not None and old.shape() != ref.shape():
            raise InputError(f"{path.name} does not fit this model: {name} is "
                             f"{ref.shape()}, the model's is {old.shape()}.")
    if new_encoder:  # the file's encoder replaces the checkpoint's as a whole
        for name in encoder:
            del ck.tensors[name]
    ck.tensors.update({k: v for k, v in found.items() if k in needed or k in new_encoder})
    ck.files.append(Path(path))


WeightReader = Callable[[str], NDArray[np.float32]]
