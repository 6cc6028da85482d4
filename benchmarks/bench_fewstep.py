"""Few-step models with the tiny decoder, 512x512, int8, 2 threads: the app beside diffusers.

    .venv/bin/python benchmarks/bench_fewstep.py [--repeat 3]

Models: the int8 imports benchmarks/bench_import.py leaves (seeded random full-size weights;
speed does not depend on the values): SD 1.5 with a LoRA merged (as the LCM-LoRA is) and
SD 2.1-base (SD-Turbo's architecture), each with TAESD added as its fast decoder (TAESD's
reference weights from benchmarks/taesd_reference.py). In one run, each in a fresh process:

- the app: LCM 4 steps at guidance 1 and SD-Turbo's 1 trailing-Euler step at guidance 0,
  both decoded with TAESD; the first image (models loaded on the way) and the median of the
  next ``--repeat``; the same again without the per-step preview, for what the decoded
  preview costs; TAESD's decode alone; today's default (DPM++ 2M 12 steps, guidance 7.5,
  the full decoder) once, for comparison; peak memory of each process;
- diffusers on PyTorch CPU (reference venv), same settings and threads, AutoencoderTiny
  as its VAE, median of ``--repeat`` after a warm-up;
- int8 against fp32 at the same settings (the parity test's fp32 imports of the same
  weights, LoRA included), full decoder both sides: image PSNR.

Writes docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import write_section
from benchmarks.bench_sd import generate
from benchmarks.import_fixture import CACHE, REF_PY, reference_model

FP32 = {"sd1": CACHE / "imported-sd15-lora-random-fp32",
        "sd2": CACHE / "imported-sd21base-random-fp32"}

TAESD_CACHE = ROOT / ".cache" / "taesd-parity"
PROMPT = "a glowing orb of light over the lake at night"
THREADS = 2

CHILD = r"""
import json, statistics, sys, time
from parasight_desktop.engine.memory import peak_rss_gib
import numpy as np
from pathlib import Path
from parasight_desktop.engine.pipeline import Engine
from parasight_desktop.engine.store import ModelStore
from parasight_desktop.engine.types import GenerationRequest
folder, sampler, steps, guidance, fast, repeat, prompt = (Path(sys.argv[1]), sys.argv[2],
    int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1", int(sys.argv[6]), sys.argv[7])
eng = Engine(ModelStore([folder.parent]), threads=2)
t0 = time.perf_counter()
pipe = eng.pipeline(folder.name)
load = time.perf_counter() - t0
def run(seed, preview):
    cb = (lambda i, n, p: None) if preview else None
    return eng.generate(GenerationRequest(prompt, seed=seed, steps=steps, guidance=guidance,
                        sampler=sampler, model=folder.name, fast_decode=fast), cb).timings
first = run(0, True)
warm = [run(s, True) for s in range(1, repeat + 1)]
plain = [run(s, False) for s in range(1, repeat + 1)] if fast else []
med = lambda rows, k: statistics.median(r[k] for r in rows)
out = {"load_s": load, "first_total_s": first["total"], "total_s": med(warm, "total"),
       "unet_per_step_s": med(warm, "unet_per_step"), "decoder_s": med(warm, "decoder"),
       "text_encoder_s": med(warm, "text_encoder")}
if plain:
    out["unet_per_step_no_preview_s"] = med(plain, "unet_per_step")
if pipe.fast_decoder is not None:
    spec = pipe.manifest.fast_decoder
    lat = np.random.default_rng(0).standard_normal((1, *pipe.manifest.latent_shape)).astype(np.float32)
    pipe.fast_decoder(**{spec.input: lat})
    ts = []
    for _ in range(5):
        t = time.perf_counter(); pipe.fast_decoder(**{spec.input: lat}); ts.append(time.perf_counter() - t)
    out["taesd_decode_s"] = statistics.median(ts)
    ts = []
    for _ in range(5):
        t = time.perf_counter(); pipe.preview(lat); ts.append(time.perf_counter() - t)
    out["preview_s"] = statistics.median(ts)
out["peak_rss_gib"] = peak_rss_gib()
print(json.dumps(out))
"""


def with_taesd(source: Path) -> Path:
    """A copy of ``source`` (hard links) with TAESD attached, int8."""
    from parasight_desktop.engine.taesd import attach_taesd

    out = CACHE / "fewstep" / f"{source.name}-taesd"
    if out.is_dir() and (out / "taesd_decoder.tflite").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, out, copy_function=_link)
    (out / "manifest.json").unlink()
    shutil.copyfile(source / "manifest.json", out / "manifest.json")
    data = json.loads((out / "manifest.json").read_text())
    data["name"] = out.name
    (out / "manifest.json").write_text(json.dumps(data, indent=2))
    if not (TAESD_CACHE / "taesd_decoder.safetensors").is_file():
        subprocess.run([str(REF_PY), str(ROOT / "benchmarks" / "taesd_reference.py"),
                        str(TAESD_CACHE), "--size", "512", "--seed", "0"], check=True, cwd=ROOT)
    attach_taesd(out, TAESD_CACHE / "taesd_decoder.safetensors",
                 TAESD_CACHE / "taesd_encoder.safetensors", "int8")
    return out


def _link(src: str, dst: str) -> None:
    Path(dst).hardlink_to(src)


def app(folder: Path, sampler: str, steps: int, guidance: float, fast: bool,
        repeat: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), sampler, str(steps),
                           str(guidance), "1" if fast else "0", str(repeat), PROMPT],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peer(family: str, sampler: str, steps: int, guidance: float, repeat: int) -> dict:
    proc = subprocess.run([str(REF_PY), str(ROOT / "benchmarks" / "import_reference.py"),
                           "--threads", str(THREADS), "time", str(reference_model(family)),
                           "--sampler", sampler, "--steps", str(steps), "--guidance",
                           str(guidance), "--taesd", str(TAESD_CACHE / "diffusers"),
                           "--repeat", str(repeat)],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    models = {"sd1": CACHE / "bench" / "sd1-random-lora-int8",
              "sd2": CACHE / "bench" / "sd2-random-int8"}
    for family, folder in models.items():
        if not folder.is_dir():
            sys.exit(f"{folder} is missing: run benchmarks/bench_import.py first")
    cases = [("LCM-LoRA (SD 1.5), LCM 4 steps, guidance 1, TAESD", "sd1", "lcm", 4, 1.0, 6.0),
             ("SD-Turbo (SD 2.1 base), 1 trailing Euler step, guidance 0, TAESD", "sd2",
              "euler-trailing", 1, 0.0, 2.0)]
    rows, notes = [], []
    for label, family, sampler, steps, guidance, target in cases:
        folder = with_taesd(models[family])
        ours = app(folder, sampler, steps, guidance, True, args.repeat)
        theirs = peer(family, sampler, steps, guidance, args.repeat)
        ratio = ours["total_s"] / theirs["median_s"]
        preview = ours["unet_per_step_s"] / ours["unet_per_step_no_preview_s"] - 1
        quality = "not measured (no fp32 import cached)"
        if FP32[family].is_dir():
            from parasight_desktop.engine.converter import psnr

            a = generate(FP32[family], steps, sampler, guidance, CACHE / "fewstep" / "a.npz")
            b = generate(models[family], steps, sampler, guidance, CACHE / "fewstep" / "b.npz")
            del a, b
            import numpy as np

            with np.load(CACHE / "fewstep" / "a.npz") as fa, \
                    np.load(CACHE / "fewstep" / "b.npz") as fb:
                quality = f"{psnr(fa['image'], fb['image'], 255.0):.1f} dB"
        notes.append(f"{family} int8 against fp32, {sampler} {steps} steps, guidance "
                     f"{guidance:g}, full decoder: image PSNR {quality}")
        rows.append(
            f"| {label} | {ours['total_s']:.2f} s (target {target:g} s) | "
            f"{ours['first_total_s']:.2f} s | {ours['unet_per_step_s']:.2f} s | "
            f"{ours['taesd_decode_s']:.3f} s | {100 * preview:+.1f}% "
            f"({ours['preview_s'] * 1000:.0f} ms) | {ours['peak_rss_gib']:.2f} GiB | "
            f"{theirs['median_s']:.2f} s | {ratio:.2f} |")
        notes.append(f"{family}: app {json.dumps(ours)}; diffusers {json.dumps(theirs)}")
    default = app(models["sd1"], "dpmpp-2m", 12, 7.5, False, 1)
    body = (
        "512x512, int8 models (seeded random full-size weights: speed does not depend on "
        f"them), {THREADS} threads, prompt \"{PROMPT}\". App: median of {args.repeat} images "
        "after the first (models loaded), in a fresh process per model; diffusers on "
        "PyTorch CPU with AutoencoderTiny as its VAE, same settings and threads, "
        f"median of {args.repeat} after a warm-up.\n\n"
        "| model and settings | app, one image | app, first image | UNet step | TAESD decode "
        "| decoded preview per step | app peak memory | diffusers | app / diffusers |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) +
        "\n\nThe same machine at today's default for comparison (SD 1.5 int8, DPM++ 2M 12 "
        f"steps, guidance 7.5, full decoder, the UNet dropped and reloaded around the decode): "
        f"{default['total_s']:.1f} s an image, peak {default['peak_rss_gib']:.2f} GiB.\n\n"
        "The decoded preview is TAESD on the latent pooled to half its size (a 256x256 picture "
        "shown scaled). Its column gives the step time with the preview against without "
        "(the runs with it come first, right after the model's pages were let go and fault "
        "back in, so with one step and three images the difference is mostly that) and, in "
        "brackets, what the preview itself takes: about 3% of a step.\n\n"
        "<details><summary>raw figures</summary>\n\n" + "\n".join(f"- {n}" for n in notes) +
        "\n\n</details>")
    print(body)
    if not args.no_write:
        write_section("fewstep", "Few-step models with TAESD (512x512, int8) against diffusers",
                      " ".join([".venv/bin/python benchmarks/bench_fewstep.py", *sys.argv[1:]]),
                      body)


if __name__ == "__main__":
    main()
