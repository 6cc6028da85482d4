"""Speed and memory at 512x512: this app against keras-cv and diffusers, in one run.

    make bench-speed
    # = bash benchmarks/ref_env.sh && .venv/bin/python benchmarks/bench_speed.py
    .venv/bin/python benchmarks/bench_speed.py [--systems app,keras-cv,diffusers]
        [--matched-sampler ddim] [--matched-steps 10] [--app-model PATH] [--unet-repeats 3]
        [--threads N] [--no-write]

Each system runs in its own fresh process, one after the other, so its peak memory is
that process's maximum resident set and no caches are shared:

- app: the app's engine on a converted model folder (int8 by default), once at the
  model's defaults (sampler, steps and guidance left to the manifest) and once at the
  matched settings;
- keras-cv: ``keras_cv.models.StableDiffusion.text_to_image`` (its own DDIM loop; the
  sampler cannot be chosen) at the matched number of steps, with the same seeded random
  KerasCV weights the app's model was converted from;
- diffusers: ``StableDiffusionPipeline`` on PyTorch (CPU, fp32) built from the SD 1.x
  configuration with its own seeded random weights (nothing is downloaded), at the matched
  sampler and steps; it runs in the separate environment .cache/ref-venv made by
  benchmarks/ref_env.sh, never in the app's.

Every system first makes a one-step warm-up image (tracing, XLA compilation and first-call
allocations are reported, not counted), then the timed image(s), then times single UNet
evaluations at batch 1 and 2 (median of --unet-repeats after a warm-up call). Speed does
not depend on the weights' values, so random weights measure what the real ones would.
Raw results go to .cache/bench-speed.json; the table to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = ROOT / ".cache"
PROMPT = "a tall shadow figure with glowing eyes on a city street at night"
SEED = 1234
GUIDANCE = 7.5
SIZE = 512
SYSTEMS = ("app", "keras-cv", "diffusers")
TIMESTEP = 500  # the timestep of the single UNet evaluations (any one costs the same)

# The targets.
APP_DEFAULT_SECONDS = 60.0
APP_DEFAULT_PEAK_GIB = 3.0
MATCHED_VS_DIFFUSERS = 0.35
UNET_VS_KERAS_CV = 0.40

# Stable Diffusion 1.x (CompVis/stable-diffusion-v1-4), as diffusers' config.json files say.
SD1_UNET = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "center_input_sample": False,
    "flip_sin_to_cos": True, "freq_shift": 0,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                         "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                       "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
    "downsample_padding": 1, "mid_block_scale_factor": 1, "act_fn": "silu",
    "norm_num_groups": 32, "norm_eps": 1e-5, "cross_attention_dim": 768,
    "attention_head_dim": 8,
}
SD1_VAE = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": 512,
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "act_fn": "silu",
    "norm_num_groups": 32,
}
SD1_TEXT = {  # openai/clip-vit-large-patch14's text tower
    "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072,
    "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 77,
    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": 768,
    "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
}
SD1_SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                "beta_schedule": "scaled_linear"}


def _median_seconds(repeats: int, fn: Any, *args: Any, **kwargs: Any) -> float:
    """One untimed warm-up call ``fn(*args, **kwargs)``, then the median of ``repeats``."""
    fn(*args, **kwargs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _peak_rss() -> int:
    """This process's maximum resident set so far, in bytes (Linux reports KiB)."""
    from parasight_desktop.engine.memory import peak_rss_bytes

    return peak_rss_bytes()


# -- children: one process per system; each returns a JSON-able dict ------------------------

def child_app(cfg: dict[str, Any]) -> dict[str, Any]:
    """The app's engine, as the CLI and the UI use it."""
    import numpy as np

    from parasight_desktop.engine.pipeline import Engine
    from parasight_desktop.engine.store import ModelStore
    from parasight_desktop.engine.types import GenerationRequest

    folder = Path(cfg["app_model"]).resolve()
    eng = Engine(ModelStore([folder.parent]), threads=cfg["threads"])
    t0 = time.perf_counter()
    pipe = eng.pipeline(folder.name)
    load_s = time.perf_counter() - t0
    m = pipe.manifest

    def gen(**kw: Any) -> Any:
        return eng.generate(GenerationRequest(PROMPT, seed=SEED, model=folder.name, **kw))

    t0 = time.perf_counter()
    gen(steps=1, sampler="ddim", guidance=GUIDANCE)
    warmup_s = time.perf_counter() - t0
    # Defaults: sampler, steps and guidance are the manifest's (a smoke run shortens steps).
    d = gen(steps=cfg["default_steps"])
    peak_defaults = _peak_rss()
    r = gen(steps=cfg["steps"], sampler=cfg["sampler"], guidance=GUIDANCE)

    ctx = pipe.encode(pipe.tokenizer.encode(PROMPT))
    unet: dict[str, float] = {}
    rng = np.random.default_rng(0)
    for b in (1, 2):
        latent = rng.standard_normal((b, *m.latent_shape)).astype(np.float32)
        temb = m.timestep_embedding(np.full(b, TIMESTEP))
        context = np.repeat(ctx, b, axis=0)
        # _unet: a UNet converted for batch 1 runs a batch of 2 as two passes
        unet[str(b)] = _median_seconds(cfg["repeats"], pipe._unet, latent, temb, context)
    ds = d.settings
    return {
        "model": str(folder), "precision": m.extra.get("precision", "?"),
        "threads": pipe.unet_parts[0].threads, "load_s": load_s,  # files checked + loaded
        "batch_guidance": pipe.batch_guidance, "unet_batch": pipe.unet_batch,
        "pipeline_load_s": pipe.load_seconds, "warmup_s": warmup_s,
        "defaults": {"sampler": ds.sampler, "steps": ds.steps, "guidance": ds.guidance,
                     "timings": d.timings, "unet_per_step": d.timings["unet_per_step"],
                     "peak_rss": peak_defaults},
        "matched": {"sampler": r.settings.sampler, "steps": r.settings.steps,
                    "guidance": r.settings.guidance, "timings": r.timings,
                    "total": r.timings["total"], "unet_per_step": r.timings["unet_per_step"]},
        "unet_eval": unet, "peak_rss": _peak_rss(),
    }


def child_keras_cv(cfg: dict[str, Any]) -> dict[str, Any]:
    """keras-cv's own StableDiffusion, its parts given the random weights (no download)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cfg["threads"])
    import keras_cv
    from keras_cv.src.models.stable_diffusion.clip_tokenizer import SimpleTokenizer

    from parasight_desktop.engine.sd_convert import build_keras

    weights = {k: Path(v) for k, v in cfg["kcv_weights"].items()}
    t0 = time.perf_counter()
    sd = keras_cv.models.StableDiffusion(img_width=SIZE, img_height=SIZE,
                                         jit_compile=cfg["jit"])
    # What the lazy properties would build and download, built here from the local files.
    # The private attributes are what those properties read (stable_diffusion.py).
    parts = {role: build_keras(role, weights[role], SIZE, SIZE) for role in weights}
    for model in parts.values():
        if cfg["jit"]:
            model.compile(jit_compile=True)
    sd._text_encoder = parts["text_encoder"]
    sd._diffusion_model = parts["diffusion_model"]
    sd._decoder = parts["decoder"]
    sd._tokenizer = SimpleTokenizer(str(ROOT / "resources" / "clip" /
                                        "bpe_simple_vocab_16e6.txt.gz"))
    load_s = time.perf_counter() - t0

    # Time every UNet call text_to_image makes (two per step: unconditional, conditional).
    unet_calls: list[float] = []
    unet = sd._diffusion_model
    plain = unet.predict_on_batch

    def timed(x: Any) -> Any:
        t = time.perf_counter()
        out = plain(x)
        unet_calls.append(time.perf_counter() - t)
        return out

    unet.predict_on_batch = timed

    def run(steps: int) -> float:
        t = time.perf_counter()
        sd.text_to_image(PROMPT, num_steps=steps, unconditional_guidance_scale=GUIDANCE,
                         seed=SEED)
        return time.perf_counter() - t

    warmup_s = run(1)
    unet_calls.clear()
    total = run(cfg["steps"])
    per_step = sum(unet_calls) / cfg["steps"]
    unet.predict_on_batch = plain

    import numpy as np

    ctx = sd.encode_text(PROMPT)
    evals: dict[str, float] = {}
    rng = np.random.default_rng(0)
    for b in (1, 2):
        feed = {"latent": rng.standard_normal((b, SIZE // 8, SIZE // 8, 4)).astype(np.float32),
                "timestep_embedding": sd._get_timestep_embedding(TIMESTEP, b),
                "context": np.repeat(np.asarray(ctx), b, axis=0)}
        evals[str(b)] = _median_seconds(cfg["repeats"], plain, feed)
    return {
        "version": keras_cv.__version__, "tensorflow": tf.__version__, "jit_compile": cfg["jit"],
        "threads": cfg["threads"], "load_s": load_s, "warmup_s": warmup_s,
        "matched": {"sampler": "ddim (keras-cv's own loop)", "steps": cfg["steps"],
                    "guidance": GUIDANCE, "total": total, "unet_per_step": per_step},
        "unet_eval": evals, "peak_rss": _peak_rss(),
    }


def child_diffusers(cfg: dict[str, Any]) -> dict[str, Any]:
    """diffusers' StableDiffusionPipeline, fp32 on the CPU, random SD 1.x weights."""
    import diffusers
    import torch
    import transformers
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.set_num_threads(cfg["threads"])
    schedulers = {
        "ddim": lambda: DDIMScheduler(**SD1_SCHEDULE, clip_sample=False, set_alpha_to_one=False,
                                      steps_offset=1),
        "dpmpp-2m": lambda: DPMSolverMultistepScheduler(**SD1_SCHEDULE,
                                                        algorithm_type="dpmsolver++",
                                                        solver_order=2),
        "dpmpp-2m-karras": lambda: DPMSolverMultistepScheduler(
            **SD1_SCHEDULE, algorithm_type="dpmsolver++", solver_order=2,
            use_karras_sigmas=True),
    }
    if cfg["sampler"] not in schedulers:
        raise SystemExit(f"diffusers: no scheduler mapped for sampler '{cfg['sampler']}'; "
                         f"use one of {sorted(schedulers)}.")
    t0 = time.perf_counter()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD1_UNET).eval()
    vae = AutoencoderKL(**SD1_VAE).eval()
    text_encoder = CLIPTextModel(CLIPTextConfig(**SD1_TEXT)).eval()
    # No tokenizer: the prompt arrives as the app tokenizer's ids, encoded below.
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=None,
                                   unet=unet, scheduler=schedulers[cfg["sampler"]](),
                                   safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    load_s = time.perf_counter() - t0

    unet_calls: list[float] = []
    started: list[float] = []
    unet.register_forward_pre_hook(lambda *_: started.append(time.perf_counter()))
    unet.register_forward_hook(lambda *_: unet_calls.append(time.perf_counter() - started[-1]))
    ids = torch.tensor([cfg["ids"], cfg["uncond_ids"]], dtype=torch.long)

    def run(steps: int) -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            emb = text_encoder(ids)[0]
            pipe(prompt_embeds=emb[:1], negative_prompt_embeds=emb[1:],
                 num_inference_steps=steps, guidance_scale=GUIDANCE, height=SIZE, width=SIZE,
                 generator=torch.Generator().manual_seed(SEED), output_type="np")
        return time.perf_counter() - t

    warmup_s = run(1)
    unet_calls.clear()
    total = run(cfg["steps"])
    per_step = sum(unet_calls) / cfg["steps"]

    evals: dict[str, float] = {}
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        ctx = text_encoder(ids[:1])[0]
        for b in (1, 2):
            latent = torch.randn((b, 4, SIZE // 8, SIZE // 8), generator=gen)
            t = torch.full((b,), TIMESTEP)
            context = ctx.repeat(b, 1, 1)
            evals[str(b)] = _median_seconds(cfg["repeats"], unet, latent, t,
                                            encoder_hidden_states=context)
    return {
        "version": diffusers.__version__, "torch": torch.__version__,
        "transformers": transformers.__version__, "threads": torch.get_num_threads(),
        "load_s": load_s, "warmup_s": warmup_s,
        "matched": {"sampler": cfg["sampler"], "steps": cfg["steps"], "guidance": GUIDANCE,
                    "total": total, "unet_per_step": per_step},
        "unet_eval": evals, "peak_rss": _peak_rss(),
    }


CHILDREN = {"app": child_app, "keras-cv": child_keras_cv, "diffusers": child_diffusers}


def run_child(system: str, cfg: dict[str, Any], python: Path) -> dict[str, Any]:
    """Run one system in a fresh process; its stderr passes through, stdout is one JSON line."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--child", system,
                           json.dumps(cfg)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{system} failed (exit status {proc.returncode}); its error is above.")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the parent: run the systems, compare, report --------------------------------------------

def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def _ratio_line(name: str, value: float | None, target: float, how: str) -> str:
    if value is None:
        return f"- {name}: not measured in this run"
    verdict = "PASS" if value <= target else "FAIL"
    return f"- {name}: {value:.2f} (target <= {target:.2f}) {verdict} — {how}"


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    app, kcv, dif = res.get("app"), res.get("keras-cv"), res.get("diffusers")
    rows = [("| system | sampler, steps | seconds per image | UNet per step, in the run | "
             "one UNet evaluation, batch 1 | batch 2 | peak memory | load | warm-up image |"),
            "|---|---|---|---|---|---|---|---|---|"]

    def row(name: str, run: dict[str, Any], total: float, r: dict[str, Any], peak: int,
            first: bool) -> None:
        ev = r["unet_eval"]
        rows.append(f"| {name} | {run['sampler']}, {run['steps']} | {total:.1f} s | "
                    f"{run['unet_per_step']:.2f} s | {ev['1']:.2f} s | {ev['2']:.2f} s | "
                    f"{_gib(peak)} | " + (f"{r['load_s']:.1f} s | {r['warmup_s']:.1f} s |"
                                          if first else "— | — |"))

    if app:
        d = app["defaults"]
        row(f"app ({app['precision']}), defaults", d, d["timings"]["total"], app,
            d["peak_rss"], True)
        row(f"app ({app['precision']}), matched", app["matched"], app["matched"]["total"], app,
            app["peak_rss"], False)
    if kcv:
        row(f"keras-cv {kcv['version']} (jit_compile={kcv['jit_compile']})", kcv["matched"],
            kcv["matched"]["total"], kcv, kcv["peak_rss"], True)
    if dif:
        row(f"diffusers {dif['version']} (torch {dif['torch']}, fp32)", dif["matched"],
            dif["matched"]["total"], dif, dif["peak_rss"], True)

    lines = []
    if app:
        d = app["defaults"]
        ok = d["timings"]["total"] <= APP_DEFAULT_SECONDS and d["peak_rss"] <= \
            APP_DEFAULT_PEAK_GIB * 2**30
        note = "" if app["precision"] == "int8" else \
            f" (the target is for the int8 model; this one is {app['precision']})"
        lines.append(f"- app at defaults ({d['sampler']}, {d['steps']} steps): "
                     f"{d['timings']['total']:.1f} s per image (target <= "
                     f"{APP_DEFAULT_SECONDS:.0f} s), peak {_gib(d['peak_rss'])} (target <= "
                     f"{APP_DEFAULT_PEAK_GIB:.0f} GiB) {'PASS' if ok else 'FAIL'}{note}")
    lines.append(_ratio_line(
        "app / diffusers, seconds per image at matched settings",
        app["matched"]["total"] / dif["matched"]["total"] if app and dif else None,
        MATCHED_VS_DIFFUSERS, "same sampler, steps, guidance and size"))
    for b in ("1", "2"):
        lines.append(_ratio_line(
            f"app / keras-cv, one UNet evaluation at batch {b}",
            app["unet_eval"][b] / kcv["unet_eval"][b] if app and kcv else None,
            UNET_VS_KERAS_CV, "median of single calls"))
    if app and kcv:
        lines.append(f"- app / keras-cv, UNet per step in the run: "
                     f"{app['matched']['unet_per_step'] / kcv['matched']['unet_per_step']:.2f} "
                     + ("(the app runs one batch of 2 per step, " if app.get("batch_guidance")
                        else "(the app runs two batches of 1 per step, ")
                     + "keras-cv two batches of 1); "
                     f"seconds per image: "
                     f"{app['matched']['total'] / kcv['matched']['total']:.2f}")
    if app and dif:
        lines.append(f"- app / diffusers, one UNet evaluation at batch 1: "
                     f"{app['unet_eval']['1'] / dif['unet_eval']['1']:.2f}, at batch 2: "
                     f"{app['unet_eval']['2'] / dif['unet_eval']['2']:.2f}")

    threads = {k: v["threads"] for k, v in res.items()}
    body = (
        f"Prompt \"{PROMPT}\", seed {SEED}, guidance {GUIDANCE}, {SIZE}x{SIZE}; matched "
        f"settings: {args.matched_sampler}, {args.matched_steps} steps (keras-cv's "
        "text_to_image has only its own DDIM loop). Each system ran in its own fresh process, "
        "one after the other; peak memory is that process's maximum resident set (model "
        "loading included). Threads: " + ", ".join(f"{k} {v}" for k, v in threads.items()) +
        ". Weights: seeded random at full size (the real ones cannot be fetched here); the "
        "app's model is converted from the same KerasCV weights keras-cv runs, diffusers has "
        "its own random initialisation of the same SD 1.x architecture. Speed does not "
        "depend on the weights' values.\n\n"
        "Each system made a one-step warm-up image first (tracing, compilation, first-call "
        "allocations: shown, not counted). \"UNet per step, in the run\" is the UNet time "
        "inside the timed image divided by its steps; \"one UNet evaluation\" is the median "
        f"of {args.unet_repeats} single calls after a warm-up call.\n\n"
        + "\n".join(rows) + "\n\nTargets:\n\n" + "\n".join(lines))
    return body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--matched-sampler", default="ddim")
    ap.add_argument("--matched-steps", type=int, default=10)
    ap.add_argument("--app-model", type=Path, default=CACHE / "sd-bench" / "sd-random-int8")
    ap.add_argument("--unet-repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keras-cv-jit", action=argparse.BooleanOptionalAction, default=True,
                    help="keras-cv's jit_compile (its default: on)")
    ap.add_argument("--ref-python", type=Path, default=CACHE / "ref-venv" / "bin" / "python")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()

    if args.child:  # stdout carries only the result; libraries' chatter goes to stderr
        cfg = json.loads(rest[0])
        with contextlib.redirect_stdout(sys.stderr):
            out = CHILDREN[args.child](cfg)
        print(json.dumps(out), flush=True)
        return
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        ap.error(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    if args.smoke:  # proves the code paths cheaply: one step, one repeat, nothing written
        args.matched_steps, args.unet_repeats, args.no_write = 1, 1, True
    if "diffusers" in systems and not args.ref_python.is_file():
        raise SystemExit(f"{args.ref_python} does not exist: run `bash benchmarks/ref_env.sh` "
                         "first (or `make bench-speed`, which does).")
    if "app" in systems and not (args.app_model / "manifest.json").is_file():
        raise SystemExit(f"{args.app_model} is not a converted model folder: convert one with "
                         "`.venv/bin/python benchmarks/bench_sd.py --precisions int8` "
                         "(it writes .cache/sd-bench/sd-random-int8) or pass --app-model.")

    from benchmarks._report import write_section
    from benchmarks.sd_fixture import make_random_sd_weights
    from parasight_desktop.engine.tokenizer import Tokenizer

    base = {"steps": args.matched_steps, "sampler": args.matched_sampler,
            "repeats": args.unet_repeats, "threads": args.threads}
    cfgs: dict[str, dict[str, Any]] = {
        "app": {**base, "app_model": str(args.app_model),
                "default_steps": 1 if args.smoke else None},
        "keras-cv": {**base, "jit": args.keras_cv_jit},
        "diffusers": base,
    }
    if "keras-cv" in systems:
        weights = make_random_sd_weights(CACHE / "sd-parity" / "weights", seed=0)
        cfgs["keras-cv"]["kcv_weights"] = {k: str(v) for k, v in weights.items()}
    if "diffusers" in systems:
        tok = Tokenizer()
        cfgs["diffusers"] = {**base, "ids": list(tok.encode(PROMPT).ids),
                             "uncond_ids": list(tok.encode("").ids)}

    results: dict[str, Any] = {}
    for system in systems:
        print(f"== {system} ==", file=sys.stderr, flush=True)
        python = args.ref_python if system == "diffusers" else Path(sys.executable)
        t0 = time.perf_counter()
        results[system] = run_child(system, cfgs[system], python)
        print(f"== {system}: done in {time.perf_counter() - t0:.0f} s ==", file=sys.stderr,
              flush=True)

    raw = CACHE / ("bench-speed-smoke.json" if args.smoke else "bench-speed.json")
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                               "results": results}, indent=2))
    body = report(results, args)
    print(body)
    if not args.no_write:
        cmd = "bash benchmarks/ref_env.sh && .venv/bin/python benchmarks/bench_speed.py"
        extra = " ".join(sys.argv[1:])
        write_section("speed", "Speed and memory against keras-cv and diffusers (512x512)",
                      f"make bench-speed  # {cmd}{' ' + extra if extra else ''}", body)


if __name__ == "__main__":
    main()
