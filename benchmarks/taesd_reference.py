"""Reference TAESD files and outputs, made with diffusers' AutoencoderTiny on seeded weights.

ParaSight's TAESD decoder/encoder (parasight_desktop/engine/taesd.py) is checked against
diffusers' ``AutoencoderTiny`` as an independent implementation. The real TAESD weights
cannot be fetched here, so this script builds ``AutoencoderTiny()`` with its default
configuration (which is TAESD for SD 1.x/2.x: 4 latent channels, 64-wide, blocks (1, 3, 3, 3)
down and (3, 3, 3, 1) up), seeded random weights, and writes:

    OUT/taesd_decoder.safetensors    the decoder in the published TAESD layout: the state
    OUT/taesd_encoder.safetensors    dict of taesd.py's nn.Sequential Decoder()/Encoder(), keys
                                     "1.weight", "3.conv.0.weight", ... (diffusers' own
                                     scripts/convert_tiny_autoencoder_to_diffusers.py maps
                                     them to decoder.layers.<N-1>, encoder.layers.<N>)
    OUT/diffusers/                   the same weights as diffusers saves them (config.json,
                                     diffusion_pytorch_model.safetensors)
    OUT/reference.npz                NHWC float32 arrays: ``latent`` (1, H/8, W/8, 4) and
                                     ``decoded`` = AutoencoderTiny.decode(latent), in -1..1;
                                     ``image`` (1, H, W, 3) in -1..1 and ``encoded`` =
                                     AutoencoderTiny.encode(image).latents
    OUT/reference.json               what was made: sizes, parameter counts, the round trip

AutoencoderTiny's scaling_factor is 1.0: its decode takes the UNet's latents as they are
(TAESD clamps them, tanh(x/3)*3) and returns -1..1 (TAESD's own 0..1, times 2, minus 1);
its encode takes -1..1 and maps it to TAESD's 0..1 first.

Random initialisation leaves biases near 0, where a wrong bias mapping would go unseen: every
1-D parameter gets + 0.1 N(0, 1) after the seeded build. Runs only in the reference
environment, offline:

    bash benchmarks/ref_env.sh
    .cache/ref-venv/bin/python benchmarks/taesd_reference.py .cache/taesd-parity [--size 512]
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before diffusers imports huggingface_hub
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def published_layout(state: dict[str, object], part: str) -> dict[str, object]:
    """diffusers' ``<part>.layers.N.rest`` -> taesd.py's Sequential ``M.rest``.

    The decoder's Sequential starts with a parameter-free Clamp module (index 0) that
    diffusers folds into ``forward``, so its indices are diffusers' plus one; the encoder's
    are the same.
    """
    prefix = f"{part}.layers."
    shift = 1 if part == "decoder" else 0
    out: dict[str, object] = {}
    for key, value in state.items():
        if key.startswith(prefix):
            index, _, rest = key[len(prefix):].partition(".")
            out[f"{int(index) + shift}.{rest}"] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import diffusers
    import torch
    from diffusers import AutoencoderTiny
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    vae = AutoencoderTiny().eval()  # default config = TAESD for SD
    gen = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for p in vae.parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    # 1. The weights in both layouts.
    state = {k: v.detach().contiguous() for k, v in vae.state_dict().items()}
    for part in ("decoder", "encoder"):
        save_file(published_layout(state, part), str(out / f"taesd_{part}.safetensors"))
    vae.save_pretrained(str(out / "diffusers"), safe_serialization=True)

    # 2. Round trip: the published files, mapped as diffusers' convert script maps them,
    #    load into a fresh AutoencoderTiny with nothing missing or left over.
    back: dict[str, torch.Tensor] = {}
    for k, v in load_file(str(out / "taesd_encoder.safetensors")).items():
        back[f"encoder.layers.{k}"] = v
    for k, v in load_file(str(out / "taesd_decoder.safetensors")).items():
        index, _, rest = k.partition(".")
        back[f"decoder.layers.{int(index) - 1}.{rest}"] = v
    fresh = AutoencoderTiny()
    result = fresh.load_state_dict(back, strict=True)
    exact = all(torch.equal(back[k], state[k]) for k in state) and len(back) == len(state)

    # 3. Reference outputs on a fixed latent and image (NCHW in torch, NHWC on disk).
    s = args.size
    rng = np.random.default_rng(args.seed)
    latent = rng.standard_normal((1, 4, s // 8, s // 8)).astype(np.float32)
    image = rng.uniform(-1.0, 1.0, (1, 3, s, s)).astype(np.float32)
    with torch.no_grad():
        t0 = time.perf_counter()
        decoded = vae.decode(torch.from_numpy(latent)).sample.numpy()
        t_decode = time.perf_counter() - t0
        encoded = vae.encode(torch.from_numpy(image)).latents.numpy()

    def nhwc(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))

    np.savez(out / "reference.npz", latent=nhwc(latent), decoded=nhwc(decoded),
             image=nhwc(image), encoded=nhwc(encoded))
    report = {
        "diffusers": diffusers.__version__, "torch": torch.__version__,
        "seed": args.seed, "size": s,
        "params": {part: sum(p.numel() for p in getattr(vae, part).parameters())
                   for part in ("decoder", "encoder")},
        "files": {f.name: f.stat().st_size for f in sorted(out.glob("taesd_*.safetensors"))},
        "roundtrip": {"exact": bool(exact), "missing": list(result.missing_keys),
                      "unexpected": list(result.unexpected_keys)},
        "decoded_range": [float(decoded.min()), float(decoded.max())],
        "encoded_range": [float(encoded.min()), float(encoded.max())],
        "torch_decode_seconds": round(t_decode, 3),
        "seconds": round(time.perf_counter() - start, 1),
    }
    (out / "reference.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
