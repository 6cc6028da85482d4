"""Stable Diffusion v1.4 at 512x512 (seeded random weights): conversion and generation cost.

    .venv/bin/python benchmarks/bench_sd.py [--precisions fp32,int8,fp16] [--steps 4]

For each precision: converts KerasCV-layout HDF5 files with the app's converter (each
part in its own process; its peak memory and time are recorded), then generates one
512x512 image in a fresh process and records that process's peak memory and per-stage
times. Images are compared with the fp32 image (PSNR). Conversions are cached under
.cache/sd-bench/ so a rerun measures generation only. Writes docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import write_section
from benchmarks.sd_fixture import make_random_sd_weights

CACHE = ROOT / ".cache"
# The parity test's settings: DDIM, so fp32 is KerasCV's own image (see test_sd_parity.py).
PROMPT = "a tall shadow figure with glowing eyes on a city street at night"
SEED = 1234

GEN_CHILD = r"""
import json, sys, numpy as np
from parasight_desktop.engine.memory import peak_rss_bytes
from pathlib import Path
from parasight_desktop.engine.pipeline import Engine
from parasight_desktop.engine.store import ModelStore
from parasight_desktop.engine.types import GenerationRequest
folder, steps, sampler, guidance, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
eng = Engine(ModelStore([folder.parent]))
pipe = eng.pipeline(folder.name)
r = eng.generate(GenerationRequest(sys.argv[6], seed=int(sys.argv[7]), steps=steps,
                                   sampler=sampler, guidance=guidance, model=folder.name))
np.savez(out, image=r.image, latent=pipe.last_latent)
json.dump({"timings": r.timings, "load_s": pipe.load_seconds,
           "peak_rss": peak_rss_bytes()}, sys.stdout)
"""


def convert(precision: str, sources: dict[str, Path], given: dict[str, Path]) -> Path:
    from parasight_desktop.engine.sd_convert import (
        convert_stable_diffusion,
        is_current_conversion,
    )

    if precision in given:
        return given[precision]
    out = CACHE / "sd-bench" / f"sd-random-{precision}"
    parity = CACHE / "sd-parity" / "sd-v1.4-random-fp32"
    if precision == "fp32" and is_current_conversion(parity, "fp32"):
        return parity  # the parity test's, same weights
    if not is_current_conversion(out, precision):
        convert_stable_diffusion(sources, out, name=out.name, precision=precision,
                                 on_progress=lambda p: print(f"  {precision} {p.job}: {p.status}",
                                                             file=sys.stderr, flush=True))
    return out


def generate(folder: Path, steps: int, sampler: str, guidance: float, npy: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", GEN_CHILD, str(folder), str(steps), sampler,
                           str(guidance), str(npy), PROMPT, str(SEED)], capture_output=True,
                          text=True,
                          cwd=ROOT, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--precisions", default="fp32,int8,fp16")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--sampler", default="ddim")
    ap.add_argument("--folder", action="append", default=[],
                    help="PRECISION=PATH: use an already converted model folder")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import numpy as np

    from parasight_desktop.engine.converter import psnr
    from parasight_desktop.engine.manifest import load_manifest

    sources = make_random_sd_weights(CACHE / "sd-parity" / "weights", seed=0)
    given = {k: Path(v) for k, v in (f.split("=", 1) for f in args.folder)}
    conv_rows, gen_rows, images, latents = [], [], {}, {}
    for precision in args.precisions.split(","):
        folder = convert(precision, sources, given)
        m = load_manifest(folder)
        for job, c in m.extra["conversion"].items():
            conv_rows.append(f"| {precision} | {job} | {c['params'] / 1e6:.0f}M | "
                             f"{m.files[_file(job, m)].size / 2**20:.0f} MiB | "
                             f"{c['peak_rss_gib']:.2f} GiB | {c['seconds']:.0f} s | "
                             f"{c['psnr_db']:.1f} dB |")
        npz = CACHE / f"bench-{precision}.npz"
        g = generate(folder, args.steps, args.sampler, 7.5, npz)
        with np.load(npz) as data:
            images[precision], latents[precision] = data["image"], data["latent"]
        t = g["timings"]
        gen_rows.append((precision, g, t))
    lines = [("| precision | text encoder | UNet per step (batch of 2) | decoder | total "
              f"({args.steps} steps) | peak memory | image PSNR vs fp32 | final latent rel. error "
              "vs fp32 |"), "|---|---|---|---|---|---|---|---|"]
    for precision, g, t in gen_rows:
        ref, lref = images.get("fp32"), latents.get("fp32")
        q = "—" if ref is None or precision == "fp32" else \
            f"{psnr(ref, images[precision], 255.0):.1f} dB"
        e = "—" if lref is None or precision == "fp32" else \
            f"{np.linalg.norm(latents[precision] - lref) / np.linalg.norm(lref):.2e}"
        lines.append(f"| {precision} | {t['text_encoder']:.2f} s | "
                     f"{t['unet_per_step']:.2f} s | {t['decoder']:.2f} s | {t['total']:.1f} s | "
                     f"{g['peak_rss'] / 2**30:.2f} GiB | {q} | {e} |")
    body = ("Seeded random weights at full size (the real weights cannot be fetched here), "
            f"prompt \"{PROMPT}\", seed {SEED}, {args.sampler}, {args.steps} steps, guidance "
            "7.5 (the parity test's settings: the fp32 image is keras-cv's own, final latent "
            "within 1.3e-5 and 68 dB).\n\n"
            "Conversion, one process per part (peak = that process's maximum resident set):\n\n"
            "| precision | part | parameters | file | peak memory | time | PSNR vs Keras (probe) |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(conv_rows) +
            "\n\nGeneration at 512x512, one fresh process per precision:\n\n" + "\n".join(lines) +
            "\n\nEach is the first image of a fresh process: its models' working memory is "
            "touched for the first time, which on a virtual machine that backs memory on first "
            "use costs seconds (the decoder's arena about a GiB; \"Engine speed against "
            "OpenVINO\" measures it, and images after the first). This table is for precision "
            "and memory; the engine section's are the steady speed.")
    print(body)
    if not args.no_write:
        write_section("sd", "Stable Diffusion v1.4: conversion and 512x512 generation",
                      " ".join(["make bench-sd  # .venv/bin/python benchmarks/bench_sd.py",
                                *sys.argv[1:]]), body)


def _file(job: str, m) -> str:  # type: ignore[no-untyped-def]
    if job.startswith("unet-"):
        return m.unet_parts[int(job.split("-")[1])].file
    return m.text_encoder if job == "text_encoder" else m.decoder


if __name__ == "__main__":
    main()
