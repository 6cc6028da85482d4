"""Reference models, images and LoRA merges for the checkpoint importer, made with diffusers.

The importer (SD 1.x/2.x single-file LDM checkpoints, diffusers folders, LoRAs) is checked
against diffusers on PyTorch as an independent implementation, on seeded random weights at
full size. This script makes those references. It runs only in the reference environment
(never the app's .venv):

    bash benchmarks/ref_env.sh
    PY=.cache/ref-venv/bin/python

    # 1. Random full-size models: OUT/diffusers/ (a diffusers folder) and OUT/model.safetensors
    #    (the same weights in the original LDM layout, as AUTOMATIC1111/Civitai publish them),
    #    proven equal by diffusers' own single-file converters (OUT/roundtrip.json).
    $PY benchmarks/import_reference.py make-models .cache/import-ref/sd1 --family sd1 --seed 0
    $PY benchmarks/import_reference.py make-models .cache/import-ref/sd2 --family sd2 --seed 0 \
        [--dtype fp32|fp16|bf16] [--check-size 256]

    # 2. One image from our tokenizer's ids and our initial latent (NHWC .npy files).
    $PY benchmarks/import_reference.py generate .cache/import-ref/sd1 --tokens TOKENS.npy \
        --uncond UNCOND.npy --latent LATENT.npy --steps 4 --guidance 7.5 \
        --sampler dpmpp-2m|lcm|euler-trailing|euler-a --out OUT.npz

    # 2b. Image to image (StableDiffusionImg2ImgPipeline, end to end) from a start image
    #     (H, W, 3 uint8 .npy), our token ids and our noise (NHWC .npy, drawn as ParaSight does).
    $PY benchmarks/import_reference.py img2img .cache/import-ref/sd1 --image IMAGE.npy \
        --tokens TOKENS.npy --uncond UNCOND.npy --noise NOISE.npy --strength 0.6 --steps 10 \
        --guidance 7.5 --sampler dpmpp-2m --out OUT.npz [--lora L --lora-scale S] \
        [--step-noise STEP_NOISE.npy]   # Euler a: its noise each step, as ParaSight draws it

    # 3. Two random LoRAs (kohya and diffusers/PEFT layouts) and what diffusers fuses from them.
    $PY benchmarks/import_reference.py lora .cache/import-ref/sd1 --out .cache/import-ref/sd1/lora \
        --seed 0 [--strength 0.8]

Nothing is fetched from the Hugging Face hub (HF_HUB_OFFLINE=1): every configuration is below.
Random initialisation leaves norms at (1, 0) and many biases at 0, where a wrong mapping of a
norm or a bias would go unseen; every 1-D parameter is therefore perturbed after the seeded
build (weights 1 + 0.1 N(0,1), biases + 0.1 N(0,1)), and so is any constant tensor.

The VAE's posterior is made nearly deterministic, as a trained VAE's is: the log-variance
half of ``quant_conv`` (its output channels 4..7) gets weights 0 and bias -30, so the
posterior's std is exp(-15) = 3e-7 everywhere. diffusers' image to image encodes with
``latent_dist.sample()`` (mean + std x randn), ParaSight and KerasCV with the mean; with
this std the two differ by about 3e-7, far below what the comparison can see, and
diffusers' own pipeline runs end to end.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before diffusers/transformers import huggingface_hub
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse
import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from parasight_desktop.engine.memory import peak_rss_gib  # stdlib only: runs in any venv

# -- configurations (diffusers' and transformers' config.json files, written out) -------------

_DOWN = ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
_UP = ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3
SD1_UNET: dict[str, Any] = {  # runwayml/stable-diffusion-v1-5, unet/config.json
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "center_input_sample": False,
    "flip_sin_to_cos": True, "freq_shift": 0, "down_block_types": _DOWN,
    "up_block_types": _UP, "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2, "downsample_padding": 1, "mid_block_scale_factor": 1,
    "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-5, "cross_attention_dim": 768,
    "attention_head_dim": 8,
}
SD2_UNET: dict[str, Any] = {  # stabilityai/stable-diffusion-2-1-base, unet/config.json
    **SD1_UNET, "attention_head_dim": [5, 10, 20, 20], "cross_attention_dim": 1024,
    "use_linear_projection": True, "upcast_attention": False,
}
VAE: dict[str, Any] = {  # the same for both families
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": 512,
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "act_fn": "silu",
    "norm_num_groups": 32, "scaling_factor": 0.18215,
}
SD1_TEXT: dict[str, Any] = {  # openai/clip-vit-large-patch14's text tower
    "vocab_size": 49408, "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "quick_gelu",
    "max_position_embeddings": 77, "projection_dim": 768, "layer_norm_eps": 1e-5,
}
SD2_TEXT: dict[str, Any] = {  # OpenCLIP ViT-H/14 without its last layer, as SD 2.1 runs it
    "vocab_size": 49408, "hidden_size": 1024, "num_hidden_layers": 23,
    "num_attention_heads": 16, "intermediate_size": 4096, "hidden_act": "gelu",
    "max_position_embeddings": 77, "projection_dim": 512, "layer_norm_eps": 1e-5,
}
FAMILIES = {"sd1": (SD1_UNET, SD1_TEXT), "sd2": (SD2_UNET, SD2_TEXT)}
# The schedule every Stable Diffusion 1.x/2.x-base checkpoint was trained with.
SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "prediction_type": "epsilon",
}
SD15_SCHEDULER_CONFIG: dict[str, Any] = {  # scheduler/scheduler_config.json of SD 1.5
    **SCHEDULE, "clip_sample": False, "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1,
}
SAMPLERS = ("dpmpp-2m", "lcm", "euler-trailing", "euler-a")
DTYPES = ("fp32", "fp16", "bf16")
PERTURB = 0.1  # the spread added to every 1-D parameter (norm weights, biases)
LOGVAR_BIAS = -30.0  # the VAE posterior's log-variance: std exp(-15) = 3e-7


# -- small helpers ---------------------------------------------------------------------------

@contextlib.contextmanager
def timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    """Time a stage, print it, keep it in timings."""
    t0 = time.perf_counter()
    yield
    timings[label] = round(time.perf_counter() - t0, 2)
    print(f"  {label}: {timings[label]:.1f} s (peak RSS {peak_rss_gib():.2f} GiB)", flush=True)


def _diffusers_dir(model_dir: Path) -> Path:
    """MODEL_DIR/diffusers, or MODEL_DIR itself when it is a diffusers folder."""
    return model_dir if (model_dir / "model_index.json").exists() else model_dir / "diffusers"


def _torch_dtype(name: str) -> Any:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def _flat_te_key(key: str) -> str:
    """A text-encoder key without the ``text_model.`` level (transformers >= 5.6 drops it)."""
    return key.removeprefix("text_model.")


# -- 1. random models ------------------------------------------------------------------------

def perturb_(module: Any, generator: Any) -> int:
    """Move every 1-D and every constant parameter off its identity init; return the count."""
    import torch

    count = 0
    with torch.no_grad():
        for p in module.parameters():
            if p.ndim <= 1 or bool(p.min() == p.max()):
                noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
                p.add_(noise * PERTURB)
                count += 1
    return count


def build_models(family: str, seed: int) -> tuple[Any, Any, Any]:
    """The seeded random UNet, VAE and text encoder of a family, at full size."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    unet_cfg, text_cfg = FAMILIES[family]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**unet_cfg).eval()
    vae = AutoencoderKL(**VAE).eval()
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg)).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    for m in (unet, vae, text_encoder):
        perturb_(m, gen)
    with torch.no_grad():  # a posterior std of exp(-15): see the module's docstring
        half = vae.quant_conv.out_channels // 2
        vae.quant_conv.weight[half:] = 0.0
        vae.quant_conv.bias[half:] = LOGVAR_BIAS
    return unet, vae, text_encoder


def unet_ldm_prefixes(num_blocks: int = 4, layers: int = 2) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs of the UNet; LDM counts a flat list of blocks."""
    pairs = [
        ("time_embedding.linear_1.", "time_embed.0."),
        ("time_embedding.linear_2.", "time_embed.2."),
        ("conv_in.", "input_blocks.0.0."),
        ("conv_norm_out.", "out.0."),
        ("conv_out.", "out.2."),
        ("mid_block.attentions.0.", "middle_block.1."),
    ]
    pairs += [(f"mid_block.resnets.{j}.", f"middle_block.{2 * j}.") for j in range(2)]
    for i in range(num_blocks):
        for j in range(layers):  # input_blocks: [conv_in] + per block (layers x res[+attn], down)
            n = (layers + 1) * i + j + 1
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{n}.0."))
            pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{n}.1."))
        if i < num_blocks - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.",
                          f"input_blocks.{(layers + 1) * (i + 1)}.0.op."))
        for j in range(layers + 1):  # output_blocks: per block (layers+1) x res[+attn][+up]
            n = (layers + 1) * i + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{n}.0."))
            pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{n}.1."))
        if i < num_blocks - 1:  # the upsampler follows the attention, where there is one
            pairs.append((f"up_blocks.{i}.upsamplers.0.",
                          f"output_blocks.{(layers + 1) * i + layers}.{1 if i == 0 else 2}."))
    return pairs


UNET_RESNET_NAMES = [  # inside a ResnetBlock2D: diffusers -> LDM
    ("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("norm2.", "out_layers.0."),
    ("conv2.", "out_layers.3."), ("time_emb_proj.", "emb_layers.1."),
    ("conv_shortcut.", "skip_connection."),
]


def vae_ldm_prefixes(num_blocks: int = 4, layers: int = 2) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs of the VAE; LDM numbers decoder blocks upwards."""
    pairs = []
    for part in ("encoder", "decoder"):
        pairs += [(f"{part}.conv_norm_out.", f"{part}.norm_out."),
                  (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.")]
        pairs += [(f"{part}.mid_block.resnets.{j}.", f"{part}.mid.block_{j + 1}.")
                  for j in range(2)]
    for i in range(num_blocks):
        up = num_blocks - 1 - i
        pairs += [(f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}.")
                  for j in range(layers)]
        pairs += [(f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{up}.block.{j}.")
                  for j in range(layers + 1)]
        if i < num_blocks - 1:
            pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.",
                          f"encoder.down.{i}.downsample."))
            pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{up}.upsample."))
    return pairs


VAE_RESNET_NAMES = [("conv_shortcut.", "nin_shortcut.")]
VAE_ATTENTION_NAMES = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."),
                       ("to_v.", "v."), ("to_out.0.", "proj_out.")]


def _rename(key: str, prefixes: list[tuple[str, str]],
            inner: dict[str, list[tuple[str, str]]]) -> str:
    """One key through a prefix table, then the names inside the block it lands in."""
    best = max((p for p in prefixes if key.startswith(p[0])), key=lambda p: len(p[0]),
               default=("", ""))
    rest = key[len(best[0]):]
    for kind, names in inner.items():
        if f".{kind}." in best[0]:
            for old, new in names:
                if rest.startswith(old):
                    rest = new + rest[len(old):]
                    break
    return best[1] + rest


def to_ldm(unet_sd: dict[str, Any], vae_sd: dict[str, Any], te_sd: dict[str, Any],
           family: str, seed: int) -> dict[str, Any]:
    """The three diffusers state dicts as one LDM single-file state dict (our own table)."""
    import torch

    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if key in out:
            raise AssertionError(f"two tensors map to {key}")
        out[key] = value

    unet_pairs = unet_ldm_prefixes()
    for k, v in unet_sd.items():
        put("model.diffusion_model." + _rename(k, unet_pairs, {"resnets": UNET_RESNET_NAMES}),
            v)
    vae_pairs = vae_ldm_prefixes()
    for k, v in vae_sd.items():
        name = _rename(k, vae_pairs, {"resnets": VAE_RESNET_NAMES,
                                      "attentions": VAE_ATTENTION_NAMES})
        if ".mid.attn_1." in name and v.ndim == 2:  # LDM's attention uses 1x1 convs
            v = v[:, :, None, None]
        put("first_stage_model." + name, v)
    te_sd = {_flat_te_key(k): v for k, v in te_sd.items()}
    if family == "sd1":
        for k, v in te_sd.items():
            put("cond_stage_model.transformer.text_model." + k, v)
        # Real SD 1.x files carry the position ids (int64); importers must skip them.
        put("cond_stage_model.transformer.text_model.embeddings.position_ids",
            torch.arange(77, dtype=torch.int64)[None])
    else:
        for k, v in openclip_from_diffusers(te_sd).items():
            put("cond_stage_model.model." + k, v)
        for k, v in openclip_extras(SD2_TEXT, seed).items():
            put("cond_stage_model.model." + k, v)
    return out


OPENCLIP_NAMES = [  # diffusers CLIPTextModel (flattened) -> OpenCLIP, per layer
    ("layer_norm1.", "ln_1."), ("layer_norm2.", "ln_2."), ("self_attn.out_proj.",
                                                           "attn.out_proj."),
    ("mlp.fc1.", "mlp.c_fc."), ("mlp.fc2.", "mlp.c_proj."),
]


def openclip_from_diffusers(te_sd: dict[str, Any]) -> dict[str, Any]:
    """A flattened CLIPTextModel state dict in OpenCLIP's names; q, k, v joined to in_proj."""
    import torch

    out: dict[str, Any] = {
        "token_embedding.weight": te_sd["embeddings.token_embedding.weight"],
        "positional_embedding": te_sd["embeddings.position_embedding.weight"],
        "ln_final.weight": te_sd["final_layer_norm.weight"],
        "ln_final.bias": te_sd["final_layer_norm.bias"],
    }
    used = {"embeddings.token_embedding.weight", "embeddings.position_embedding.weight",
            "final_layer_norm.weight", "final_layer_norm.bias"}
    layers = sorted({int(k.split(".")[2]) for k in te_sd if k.startswith("encoder.layers.")})
    for n in layers:
        src, dst = f"encoder.layers.{n}.", f"transformer.resblocks.{n}."
        for kind in ("weight", "bias"):
            qkv = [f"{src}self_attn.{x}_proj.{kind}" for x in "qkv"]
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat([te_sd[k] for k in qkv])
            used.update(qkv)
            for old, new in OPENCLIP_NAMES:
                out[dst + new + kind] = te_sd[src + old + kind]
                used.add(src + old + kind)
    left = set(te_sd) - used
    if left:
        raise AssertionError(f"text encoder tensors not mapped to OpenCLIP: {sorted(left)}")
    return out


def openclip_extras(text_cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    """What real SD 2.x files carry that SD 2.x does not use: layer 24, projection, logit scale.

    OpenCLIP ViT-H/14's text_projection is (width, embed_dim) = (1024, 1024); the
    ``projection_dim`` 512 of diffusers' SD 2.1 text-encoder config belongs to no tensor the
    CLIPTextModel has.
    """
    import torch

    gen = torch.Generator().manual_seed(seed + 2)
    w = text_cfg["hidden_size"]
    ff = text_cfg["intermediate_size"]
    n = text_cfg["num_hidden_layers"]

    def rnd(*shape: int, std: float) -> Any:
        return torch.randn(shape, generator=gen) * std

    last = f"transformer.resblocks.{n}."
    return {
        last + "ln_1.weight": 1 + rnd(w, std=PERTURB), last + "ln_1.bias": rnd(w, std=PERTURB),
        last + "attn.in_proj_weight": rnd(3 * w, w, std=w**-0.5),
        last + "attn.in_proj_bias": rnd(3 * w, std=PERTURB),
        last + "attn.out_proj.weight": rnd(w, w, std=w**-0.5),
        last + "attn.out_proj.bias": rnd(w, std=PERTURB),
        last + "ln_2.weight": 1 + rnd(w, std=PERTURB), last + "ln_2.bias": rnd(w, std=PERTURB),
        last + "mlp.c_fc.weight": rnd(ff, w, std=w**-0.5),
        last + "mlp.c_fc.bias": rnd(ff, std=PERTURB),
        last + "mlp.c_proj.weight": rnd(w, ff, std=ff**-0.5),
        last + "mlp.c_proj.bias": rnd(w, std=PERTURB),
        "text_projection": rnd(w, w, std=w**-0.5),
        "logit_scale": torch.tensor(math.log(1 / 0.07)),
    }


def save_single_file(ldm: dict[str, Any], path: Path, dtype: str) -> None:
    """Write the LDM state dict; floating tensors in dtype, integer ones as they are."""
    from safetensors.torch import save_file

    target = _torch_dtype(dtype)
    tensors = {k: (v.to(target) if v.is_floating_point() else v).contiguous()
               for k, v in ldm.items()}
    save_file(tensors, str(path), metadata={"format": "pt"})


def roundtrip(single_file: Path, folder: Path, dtype: str) -> dict[str, Any]:
    """Read the single file with diffusers' own converters; compare with the folder's tensors."""
    import torch
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        create_diffusers_clip_model_from_ldm,
        infer_diffusers_model_type,
        load_single_file_checkpoint,
    )
    from safetensors.torch import load_file
    from transformers import CLIPTextModel

    target = _torch_dtype(dtype)
    ckpt = load_single_file_checkpoint(str(single_file), local_files_only=True)
    model_type = infer_diffusers_model_type(ckpt)
    converted = {
        "unet": convert_ldm_unet_checkpoint(
            ckpt, json.loads((folder / "unet/config.json").read_text())),
        "vae": convert_ldm_vae_checkpoint(
            ckpt, json.loads((folder / "vae/config.json").read_text())),
    }
    # The text encoder through the function from_single_file uses (it picks CLIP or OpenCLIP
    # by the keys); config= points it at our folder, so nothing is fetched.
    te = create_diffusers_clip_model_from_ldm(
        CLIPTextModel, ckpt, subfolder="text_encoder", config=str(folder),
        local_files_only=True, torch_dtype=target)
    converted["text_encoder"] = {_flat_te_key(k): v for k, v in te.state_dict().items()}
    files = {"unet": "unet/diffusion_pytorch_model.safetensors",
             "vae": "vae/diffusion_pytorch_model.safetensors",
             "text_encoder": "text_encoder/model.safetensors"}
    report: dict[str, Any] = {"model_type": model_type, "dtype": dtype, "keys": 0,
                              "max_abs_diff": 0.0, "unequal": [], "missing": [], "extra": {}}
    for part, rel in files.items():
        want = {_flat_te_key(k): v for k, v in load_file(str(folder / rel)).items()}
        got = converted[part]
        report["missing"] += [f"{part}.{k}" for k in sorted(set(want) - set(got))]
        report["extra"][part] = sorted(set(got) - set(want))
        for k in sorted(set(want) & set(got)):
            a, b = want[k].to(target), got[k]
            if a.shape != b.shape or a.dtype != b.dtype:
                report["unequal"].append(f"{part}.{k}: {tuple(a.shape)} {a.dtype} "
                                         f"vs {tuple(b.shape)} {b.dtype}")
                continue
            report["keys"] += 1
            if not torch.equal(a, b):
                diff = float((a.float() - b.float()).abs().max())
                report["max_abs_diff"] = max(report["max_abs_diff"], diff)
                report["unequal"].append(f"{part}.{k}: max |diff| {diff:g}")
    report["single_file_keys"] = len(ckpt)
    report["exact"] = not (report["unequal"] or report["missing"])
    return report


def make_scheduler(sampler: str) -> Any:
    """The diffusers scheduler our app's sampler of that name is checked against."""
    from diffusers import (
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        LCMScheduler,
    )

    if sampler == "dpmpp-2m":
        # As tests/engine/golden/make_scheduler_goldens.py (diffusers_goldens, dpm) sets it.
        return DPMSolverMultistepScheduler(
            **SCHEDULE, algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint",
            lower_order_final=True, use_karras_sigmas=False, timestep_spacing="linspace")
    if sampler == "lcm":  # LCMScheduler.from_config(SD 1.5's scheduler config), as LCM-LoRA does
        return LCMScheduler.from_config(SD15_SCHEDULER_CONFIG, original_inference_steps=50)
    if sampler == "euler-trailing":  # SD-Turbo's scheduler
        return EulerDiscreteScheduler(**SCHEDULE, timestep_spacing="trailing")
    if sampler == "euler-a":  # what from_config gives SD 1.5 (make_scheduler_goldens.py)
        return EulerAncestralDiscreteScheduler(**SCHEDULE, timestep_spacing="linspace")
    raise SystemExit(f"unknown sampler '{sampler}'; use one of {', '.join(SAMPLERS)}")


def run_pipeline(pipe: Any, ids: Any, uncond: Any, latent_nchw: Any, steps: int,
                 guidance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(final latent NHWC, image 0..1 float32 HWC, image uint8 HWC), as the pipeline makes them.

    The prompt arrives as token ids; the text encoder's last hidden state (after the final
    layer norm) is passed as prompt_embeds, so no tokenizer is involved.
    """
    import torch

    with torch.inference_mode():
        cond = pipe.text_encoder(ids)[0]
        neg = pipe.text_encoder(uncond)[0]
        size = latent_nchw.shape[-1] * pipe.vae_scale_factor
        latents = pipe(prompt_embeds=cond, negative_prompt_embeds=neg, latents=latent_nchw,
                       num_inference_steps=steps, guidance_scale=guidance, height=size,
                       width=size, generator=torch.Generator().manual_seed(0),
                       output_type="latent").images
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
        # VaeImageProcessor.postprocess (denormalize) then numpy_to_pil's rounding.
        image_float = (decoded / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).float().numpy()
    image = (image_float * 255).round().astype(np.uint8)
    return latents.permute(0, 2, 3, 1).float().numpy(), image_float, image


def _pipeline_from(unet: Any, vae: Any, text_encoder: Any, scheduler: Any) -> Any:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=None,
                                   unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def cmd_make_models(args: argparse.Namespace) -> int:
    import diffusers
    import torch
    import transformers
    from diffusers import PNDMScheduler

    out: Path = args.out
    folder = out / "diffusers"
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    print(f"make-models {args.family} seed {args.seed} -> {out} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)", flush=True)
    with timed("build", timings):
        unet, vae, text_encoder = build_models(args.family, args.seed)

    with timed("sanity", timings):  # 4 DPM++ 2M steps at guidance 7.5 must stay finite
        side = args.check_size // 8
        gen = torch.Generator().manual_seed(args.seed)
        latent = torch.randn((1, 4, side, side), generator=gen)
        ids = torch.full((1, 77), 49407, dtype=torch.long)
        ids[0, :3] = torch.tensor([49406, 320, 1125])
        uncond = torch.full((1, 77), 49407, dtype=torch.long)
        uncond[0, 0] = 49406
        pipe = _pipeline_from(unet, vae, text_encoder, make_scheduler("dpmpp-2m"))
        lat, img_f, _ = run_pipeline(pipe, ids, uncond, latent, 4, 7.5)
        sanity = {"size": args.check_size, "latent_std": float(lat.std()),
                  "latent_absmax": float(np.abs(lat).max()), "image_mean": float(img_f.mean()),
                  "image_std": float(img_f.std()),
                  "finite": bool(np.isfinite(lat).all() and np.isfinite(img_f).all())}
        print(f"  sanity: {sanity}")
        if not sanity["finite"]:
            print("random weights give a non-finite image; change the perturbation",
                  file=sys.stderr)
            return 1

    with timed("save diffusers folder", timings):
        pipe.scheduler = PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG)  # as real folders
        pipe.save_pretrained(folder, safe_serialization=True)

    with timed("save single file", timings):
        ldm = to_ldm(unet.state_dict(), vae.state_dict(), text_encoder.state_dict(),
                     args.family, args.seed)
        save_single_file(ldm, out / "model.safetensors", args.dtype)
        n_ldm = len(ldm)
        del ldm, pipe, unet, vae, text_encoder

    with timed("roundtrip through diffusers' single-file converters", timings):
        report = roundtrip(out / "model.safetensors", folder, args.dtype)
    report |= {"family": args.family, "seed": args.seed, "ldm_keys_written": n_ldm,
               "single_file_bytes": (out / "model.safetensors").stat().st_size,
               "sanity": sanity, "timings": timings, "peak_rss_gib": peak_rss_gib(),
               "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                            "transformers": transformers.__version__}}
    (out / "roundtrip.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"roundtrip {args.family} {args.dtype}: {report['keys']} keys, max |diff| "
          f"{report['max_abs_diff']:g}, {len(report['unequal'])} unequal, "
          f"{len(report['missing'])} missing, extra {report['extra']}, "
          f"model type {report['model_type']} -> {'EXACT' if report['exact'] else 'FAIL'}")
    return 0 if report["exact"] else 1


# -- 2. generate -----------------------------------------------------------------------------

def _load_pipeline(model_dir: Path, scheduler: Any) -> Any:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        _diffusers_dir(model_dir), scheduler=scheduler, tokenizer=None, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _ids(path: Path) -> Any:
    import torch

    ids = np.load(path)
    if ids.shape != (1, 77) or not np.issubdtype(ids.dtype, np.integer):
        raise SystemExit(f"{path}: expected (1, 77) integer token ids, got {ids.shape} "
                         f"{ids.dtype}")
    return torch.from_numpy(ids.astype(np.int64))


def cmd_generate(args: argparse.Namespace) -> int:
    import torch

    timings: dict[str, float] = {}
    latent = np.load(args.latent)
    if latent.ndim != 4 or latent.shape[0] != 1 or latent.shape[-1] != 4:
        raise SystemExit(f"{args.latent}: expected an NHWC (1, H, W, 4) latent, "
                         f"got {latent.shape}")
    with timed("load", timings):
        pipe = _load_pipeline(args.model_dir, make_scheduler(args.sampler))
        if args.lora is not None:
            pipe.load_lora_weights(str(args.lora))
            pipe.fuse_lora(lora_scale=args.lora_scale)
    ids, uncond = _ids(args.tokens), _ids(args.uncond)
    latent_nchw = torch.from_numpy(latent.astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    if args.noise is not None:
        _feed_noise(np.load(args.noise))
    t0 = time.perf_counter()
    with timed("generate", timings):
        lat, image_float, image = run_pipeline(pipe, ids, uncond, latent_nchw, args.steps,
                                               args.guidance)
    seconds = time.perf_counter() - t0
    pipe.scheduler.set_timesteps(args.steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, image=image, image_float=image_float.astype(np.float32),
             latent=lat.astype(np.float32), seconds=np.float64(seconds),
             timesteps=pipe.scheduler.timesteps.numpy())
    print(f"generate {args.sampler} {args.steps} steps g={args.guidance}: "
          f"timesteps {pipe.scheduler.timesteps.tolist()}, latent std {lat.std():.4f}, "
          f"image mean {image_float.mean():.4f} std {image_float.std():.4f}, "
          f"finite {bool(np.isfinite(lat).all())}, {seconds:.1f} s -> {args.out}")
    return 0 if np.isfinite(lat).all() and np.isfinite(image_float).all() else 1


def cmd_img2img(args: argparse.Namespace) -> int:
    """diffusers' StableDiffusionImg2ImgPipeline end to end: the start image as a PIL image
    (its own preprocessing, its VAE encode with ``latent_dist.sample()``), the noise it adds
    at the start step replaced by ours, the prompt as our token ids."""
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as i2i
    from PIL import Image

    image = np.load(args.image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise SystemExit(f"{args.image}: expected an (H, W, 3) uint8 image, got {image.shape} "
                         f"{image.dtype}")
    noise = np.load(args.noise)
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
        _diffusers_dir(args.model_dir), scheduler=make_scheduler(args.sampler), tokenizer=None,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    if args.lora is not None:
        pipe.load_lora_weights(str(args.lora))
        pipe.fuse_lora(lora_scale=args.lora_scale)
    given = torch.from_numpy(noise.astype(np.float32)).permute(0, 3, 1, 2).contiguous()

    def draw(shape: Any, **_: Any) -> Any:  # the start step's noise only
        assert tuple(given.shape) == tuple(shape), (given.shape, shape)
        return given

    i2i.randn_tensor = draw
    if args.step_noise is not None:
        _feed_noise(np.load(args.step_noise))
    ids, uncond = _ids(args.tokens), _ids(args.uncond)
    t0 = time.perf_counter()
    with torch.inference_mode():
        encoded = pipe.vae.encode(torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0)
                                  .permute(2, 0, 1)[None]).latent_dist
        latents = pipe(prompt_embeds=pipe.text_encoder(ids)[0],
                       negative_prompt_embeds=pipe.text_encoder(uncond)[0],
                       image=Image.fromarray(image), strength=args.strength,
                       num_inference_steps=args.steps, guidance_scale=args.guidance,
                       generator=torch.Generator().manual_seed(0),
                       output_type="latent").images
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
        image_float = (decoded / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).float().numpy()
    seconds = time.perf_counter() - t0
    out = (image_float * 255).round().astype(np.uint8)
    lat = latents.permute(0, 2, 3, 1).float().numpy()
    mode = (encoded.mean * pipe.vae.config.scaling_factor).permute(0, 2, 3, 1).float().numpy()
    std = float(encoded.std.max())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, image=out, image_float=image_float.astype(np.float32),
             latent=lat.astype(np.float32), encoded=mode.astype(np.float32),
             posterior_std_max=np.float64(std), seconds=np.float64(seconds),
             timesteps=pipe.scheduler.timesteps.numpy())
    print(f"img2img {args.sampler} {args.steps} steps strength {args.strength} "
          f"g={args.guidance}: timesteps {pipe.scheduler.timesteps.tolist()}, posterior std "
          f"at most {std:.1e}, latent std {lat.std():.4f}, {seconds:.1f} s -> {args.out}")
    return 0 if np.isfinite(lat).all() and np.isfinite(image_float).all() else 1


def _feed_noise(noise: np.ndarray) -> None:
    """Make an ancestral sampler's between-step noise (LCM's, Euler a's) the given arrays,
    in order (their randn_tensor)."""
    import torch
    from diffusers.schedulers import scheduling_euler_ancestral_discrete, scheduling_lcm

    queue = [torch.from_numpy(n.astype(np.float32)).permute(0, 3, 1, 2).contiguous()
             for n in noise]

    def draw(shape: Any, **_: Any) -> Any:
        out = queue.pop(0)
        assert tuple(out.shape) == tuple(shape), (out.shape, shape)
        return out

    scheduling_lcm.randn_tensor = draw
    scheduling_euler_ancestral_discrete.randn_tensor = draw


def cmd_time(args: argparse.Namespace) -> int:
    """diffusers' time for one image at few-step settings, the tiny decoder as the VAE:
    the prompt encoded, ``steps`` UNet evaluations, the decode; median of ``--repeat``
    after one warm-up, on ``--threads`` threads (the same as the app's)."""
    import torch
    from diffusers import AutoencoderTiny

    torch.set_num_threads(args.threads)
    pipe = _load_pipeline(args.model_dir, make_scheduler(args.sampler))
    if args.taesd is not None:
        pipe.vae = AutoencoderTiny.from_pretrained(str(args.taesd), local_files_only=True)
    ids = torch.tensor([[49406, 320, 1125, 49407] + [49407] * 73])
    times = []
    with torch.inference_mode():
        for i in range(args.repeat + 1):
            t0 = time.perf_counter()
            pipe(prompt_embeds=pipe.text_encoder(ids)[0],
                 negative_prompt_embeds=pipe.text_encoder(ids)[0] if args.guidance > 1 else None,
                 num_inference_steps=args.steps, guidance_scale=args.guidance, height=512,
                 width=512, generator=torch.Generator().manual_seed(i), output_type="np")
            times.append(time.perf_counter() - t0)
    warm = sorted(times[1:])[len(times[1:]) // 2]
    out = {"sampler": args.sampler, "steps": args.steps, "guidance": args.guidance,
           "tiny_decoder": args.taesd is not None, "threads": args.threads,
           "first_s": times[0], "median_s": warm, "all_s": times,
           "peak_rss_gib": peak_rss_gib(),
           "torch": torch.__version__}
    print(json.dumps(out))
    return 0


def cmd_guidance_embedding(args: argparse.Namespace) -> int:
    """An LCM-distilled UNet's time embedding with its guidance input, as diffusers makes it:
    ``TimestepEmbedding(320, 1280, cond_proj_dim=256)`` (seeded random) applied to
    ``Timesteps(320, flip_sin_to_cos=True, 0)`` of t, with ``timestep_cond`` =
    ``LatentConsistencyModelPipeline.get_guidance_scale_embedding(guidance - 1, 256)``.
    Writes OUT/weights.safetensors and OUT/reference.npz (t, guidance, out)."""
    import torch
    from diffusers import LatentConsistencyModelPipeline
    from diffusers.models.embeddings import TimestepEmbedding, Timesteps
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    proj = Timesteps(320, flip_sin_to_cos=True, downscale_freq_shift=0)
    emb = TimestepEmbedding(320, 1280, cond_proj_dim=256)
    ts, gs, outs = [], [], []
    with torch.inference_mode():
        for t in (999, 759, 499, 259):
            for g in (1.0, 3.5, 8.0):
                w = LatentConsistencyModelPipeline.get_guidance_scale_embedding(
                    None, torch.tensor([g - 1.0]), embedding_dim=256)
                outs.append(emb(proj(torch.tensor([t])).float(), w)[0].numpy())
                ts.append(t)
                gs.append(g)
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in emb.state_dict().items()},
              str(args.out / "weights.safetensors"))
    np.savez(args.out / "reference.npz", t=np.array(ts), guidance=np.array(gs),
             out=np.stack(outs).astype(np.float32))
    print(f"guidance embedding: {len(outs)} cases -> {args.out}")
    return 0


# -- 3. LoRA ---------------------------------------------------------------------------------

def lora_targets(num_te_layers: int) -> dict[str, list[str]]:
    """The modules the test LoRAs touch: every kind of layer a real LoRA/LoCon adapts."""
    attn = "down_blocks.0.attentions.0.transformer_blocks.0."
    unet = [attn + f"attn{a}.{p}" for a in (1, 2) for p in ("to_q", "to_k", "to_v", "to_out.0")]
    unet += [attn + "ff.net.0.proj", attn + "ff.net.2",
             "down_blocks.0.attentions.0.proj_in", "down_blocks.0.attentions.0.proj_out",
             "down_blocks.0.resnets.0.conv1", "down_blocks.0.resnets.0.conv2",
             "down_blocks.0.resnets.0.time_emb_proj", "down_blocks.1.resnets.0.conv_shortcut",
             "mid_block.attentions.0.transformer_blocks.0.attn2.to_k",
             "mid_block.resnets.1.conv2",
             "up_blocks.1.resnets.0.conv_shortcut", "up_blocks.1.resnets.0.conv1",
             "up_blocks.3.attentions.2.transformer_blocks.0.attn1.to_out.0",
             "up_blocks.3.attentions.2.proj_out"]
    te = [f"text_model.encoder.layers.{n}.{p}"
          for n in (0, num_te_layers // 2, num_te_layers - 1)
          for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                    "self_attn.out_proj", "mlp.fc1", "mlp.fc2")]
    return {"unet": unet, "text_encoder": te}


def _module(pipe: Any, part: str, path: str) -> Any:
    model = getattr(pipe, part)
    if part == "text_encoder" and not hasattr(model, "text_model"):
        path = _flat_te_key(path)
    return model.get_submodule(path)


def random_lora(pipe: Any, targets: dict[str, list[str]], rank: int,
                gen: Any) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(part, module) -> (down, up); conv: down (r, in, kh, kw), up (out, r, 1, 1).

    Scaled so that up @ down is about half the module's weight spread: a merge that is
    wrong by a transpose, a scale or a sign is plain to see.
    """
    import torch

    out = {}
    for part, paths in targets.items():
        for path in paths:
            w = _module(pipe, part, path).weight.detach()
            fan_in = int(np.prod(w.shape[1:]))
            down = torch.randn((rank, *w.shape[1:]), generator=gen) / math.sqrt(fan_in)
            up = torch.randn((w.shape[0], rank) + (1, 1) * (w.ndim == 4), generator=gen)
            up *= 0.5 * float(w.std()) * math.sqrt(fan_in / rank)  # std(up @ down) = that
            out[(part, path)] = (down, up.contiguous())
    return out


def _delta(down: Any, up: Any) -> Any:
    """up @ down in the weight's own shape (a conv's kernel folded into the matrix)."""
    r = down.shape[0]
    d = up.reshape(up.shape[0], r) @ down.reshape(r, -1)
    return d.reshape(up.shape[0], *down.shape[1:])


def kohya_file(lora: dict[tuple[str, str], tuple[Any, Any]], alpha: float) -> dict[str, Any]:
    import torch

    out = {}
    for (part, path), (down, up) in lora.items():
        name = ("lora_unet_" if part == "unet" else "lora_te_") + path.replace(".", "_")
        out[f"{name}.lora_down.weight"] = down
        out[f"{name}.lora_up.weight"] = up
        out[f"{name}.alpha"] = torch.tensor(alpha)
    return out


def peft_file(lora: dict[tuple[str, str], tuple[Any, Any]]) -> dict[str, Any]:
    out = {}
    for (part, path), (down, up) in lora.items():
        out[f"{part}.{path}.lora_A.weight"] = down
        out[f"{part}.{path}.lora_B.weight"] = up
    return out


def cmd_lora(args: argparse.Namespace) -> int:
    import peft
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer
    from safetensors.torch import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with timed("load", timings):
        pipe = _load_pipeline(args.model_dir, make_scheduler("dpmpp-2m"))
    targets = lora_targets(pipe.text_encoder.config.num_hidden_layers)
    base = {(part, p): _module(pipe, part, p).weight.detach().clone()
            for part, paths in targets.items() for p in paths}
    gen = torch.Generator().manual_seed(args.seed)
    layouts = {"kohya": (4, 2.0), "peft": (8, None)}  # rank, alpha (PEFT files carry none)
    summary: dict[str, Any] = {"strength": args.strength, "peft": peft.__version__}
    failed = False
    for name, (rank, alpha) in layouts.items():
        lora = random_lora(pipe, targets, rank, gen)
        tensors = kohya_file(lora, alpha) if alpha is not None else peft_file(lora)
        save_file(tensors, str(args.out / f"{name}.safetensors"), metadata={"format": "pt"})
        with timed(f"{name}: load, fuse, unload", timings):
            if name != "kohya":
                pipe = _load_pipeline(args.model_dir, make_scheduler("dpmpp-2m"))
            pipe.load_lora_weights(str(args.out / f"{name}.safetensors"))
            pipe.fuse_lora(lora_scale=args.strength)
            merged = [f"{part}.{n}" for part in ("unet", "text_encoder")
                      for n, m in getattr(pipe, part).named_modules()
                      if isinstance(m, BaseTunerLayer) and m.merged]
            pipe.unload_lora_weights()
        fused, unchanged, errors = {}, [], {}
        scale = args.strength * (alpha if alpha is not None else rank) / rank
        for (part, path), (down, up) in lora.items():
            w = _module(pipe, part, path).weight.detach().float().clone()
            key = f"{part}.{path}.weight"  # text encoder: text_model.* as files name it
            fused[key] = w.contiguous()
            if torch.equal(w, base[(part, path)]):
                unchanged.append(key)
            want = base[(part, path)] + scale * _delta(down, up)
            errors[key] = float((w - want).abs().max())
        save_file(fused, str(args.out / f"{name}.fused.safetensors"), metadata={"format": "pt"})
        worst = max(errors, key=errors.get)
        summary[name] = {
            "file": f"{name}.safetensors", "fused_file": f"{name}.fused.safetensors",
            "tensors": len(tensors), "modules": len(lora), "rank": rank,
            "alpha": alpha, "strength": args.strength,
            "scale_expected": scale, "diffusers_fused_modules": len(merged),
            "unchanged_after_fuse": unchanged,
            "max_abs_diff_vs_W_plus_strength_alpha_over_rank_up_down": errors[worst],
            "worst_module": worst, "keys_touched": sorted(fused),
        }
        print(f"{name}: {len(lora)} modules, rank {rank}, alpha {alpha}, strength "
              f"{args.strength}: diffusers fused {len(merged)}, unchanged {len(unchanged)}, "
              f"max |fused - (W + {scale:g} up@down)| {errors[worst]:.3g} ({worst})")
        failed |= bool(unchanged) or len(merged) != len(lora)
    summary["timings"] = timings
    summary["peak_rss_gib"] = peak_rss_gib()
    (args.out / "lora.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if failed else 0


# -- command line ----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    sub = parser.add_subparsers(dest="command", required=True)
    mm = sub.add_parser("make-models", help="random full-size models, folder and single file")
    mm.add_argument("out", type=Path)
    mm.add_argument("--family", choices=sorted(FAMILIES), required=True)
    mm.add_argument("--seed", type=int, default=0)
    mm.add_argument("--dtype", choices=DTYPES, default="fp32")
    mm.add_argument("--check-size", type=int, default=256,
                    help="image side of the 4-step sanity run (pixels)")
    gen = sub.add_parser("generate", help="one image from token ids and a latent")
    gen.add_argument("model_dir", type=Path)
    gen.add_argument("--tokens", type=Path, required=True)
    gen.add_argument("--uncond", type=Path, required=True)
    gen.add_argument("--latent", type=Path, required=True)
    gen.add_argument("--steps", type=int, required=True)
    gen.add_argument("--guidance", type=float, required=True)
    gen.add_argument("--sampler", choices=SAMPLERS, required=True)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--lora", type=Path, help="a LoRA file fused into the model first "
                                               "(load_lora_weights, then fuse_lora)")
    gen.add_argument("--lora-scale", type=float, default=1.0, help="its strength")
    gen.add_argument("--noise", type=Path,
                     help="NHWC (steps, 1, H, W, 4): the noise each step of an ancestral "
                          "sampler (LCM) draws, in order, as ParaSight draws it")
    i2 = sub.add_parser("img2img", help="image to image from a start image, ids and noise")
    i2.add_argument("model_dir", type=Path)
    i2.add_argument("--image", type=Path, required=True)
    i2.add_argument("--tokens", type=Path, required=True)
    i2.add_argument("--uncond", type=Path, required=True)
    i2.add_argument("--noise", type=Path, required=True,
                    help="NHWC (1, H/8, W/8, 4): the noise added at the start step")
    i2.add_argument("--strength", type=float, required=True)
    i2.add_argument("--steps", type=int, required=True)
    i2.add_argument("--guidance", type=float, required=True)
    i2.add_argument("--sampler", choices=SAMPLERS, required=True)
    i2.add_argument("--out", type=Path, required=True)
    i2.add_argument("--step-noise", type=Path,
                    help="NHWC (steps, 1, H, W, 4): an ancestral sampler's noise each step")
    i2.add_argument("--lora", type=Path, help="a LoRA file fused into the model first")
    i2.add_argument("--lora-scale", type=float, default=1.0, help="its strength")
    tm = sub.add_parser("time", help="diffusers' seconds for one image (few-step settings)")
    tm.add_argument("model_dir", type=Path)
    tm.add_argument("--sampler", choices=SAMPLERS, required=True)
    tm.add_argument("--steps", type=int, required=True)
    tm.add_argument("--guidance", type=float, required=True)
    tm.add_argument("--taesd", type=Path, help="a diffusers AutoencoderTiny folder")
    tm.add_argument("--repeat", type=int, default=3)
    ge = sub.add_parser("guidance-embedding", help="an LCM UNet's time embedding, diffusers'")
    ge.add_argument("out", type=Path)
    ge.add_argument("--seed", type=int, default=0)
    lo = sub.add_parser("lora", help="random LoRAs in two layouts, fused by diffusers")
    lo.add_argument("model_dir", type=Path)
    lo.add_argument("--out", type=Path, required=True)
    lo.add_argument("--seed", type=int, default=0)
    lo.add_argument("--strength", type=float, default=0.8)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    commands = {"make-models": cmd_make_models, "generate": cmd_generate, "lora": cmd_lora,
                "img2img": cmd_img2img,
                "time": cmd_time, "guidance-embedding": cmd_guidance_embedding}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
