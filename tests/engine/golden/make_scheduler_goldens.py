"""Make ``schedulers.json``: the golden latents ``test_schedulers.py`` checks our samplers against.

Each sampler is driven by the same deterministic fake UNet from the same initial latent
(and, for Euler ancestral and LCM, the same per-step noise), defined below and imported by
the test. The references are other people's code, each run in its own environment; both
stages merge their results into ``schedulers.json``:

    # DDIM: KerasCV's own ᾱ table (_ALPHAS_CUMPROD via _get_initial_alphas) and the
    # update loop of StableDiffusionBase.generate_image. Runs in the project's venv.
    .venv/bin/python tests/engine/golden/make_scheduler_goldens.py keras-cv

    # DPM-Solver++ 2M (plain and Karras), Euler ancestral, Euler (trailing) and LCM:
    # diffusers, in a throwaway venv (never install torch or diffusers into the project's venv).
    python3.11 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 diffusers
    /tmp/refvenv/bin/python tests/engine/golden/make_scheduler_goldens.py diffusers

One step is a special case in both references: KerasCV's spacing and diffusers' Euler
"linspace" put the single step at t = 0, which denoises nothing. Our samplers use t = 999
there, so the one-step goldens come from the same reference code run at t = 999 (KerasCV's
loop with timesteps [999]; diffusers' Euler ancestral with timestep_spacing="trailing").
The few-step samplers (Euler trailing, LCM) are checked at FEW_STEP_COUNTS instead.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

GOLDEN_PATH = Path(__file__).with_name("schedulers.json")
SHAPE = (1, 8, 8, 4)
STEP_COUNTS = (1, 2, 5, 20, 50)
FEW_STEP_COUNTS = (1, 2, 4, 8)
# diffusers' config for Stable Diffusion v1.5 (runwayml/stable-diffusion-v1-5,
# scheduler/scheduler_config.json), to show which spacing from_config() gives.
SD15_SCHEDULER_CONFIG: dict[str, Any] = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}


def fake_model(x: np.ndarray, t: float) -> np.ndarray:
    """A smooth, deterministic stand-in for the UNet's ε prediction at timestep t."""
    x64 = np.asarray(x, dtype=np.float64)
    eps = np.tanh(0.8 * x64) * (0.6 + 0.4 * t / 1000.0) + 0.05 * np.sin(0.1 * t)
    return np.asarray(eps, dtype=np.float32)


def initial_noise() -> np.ndarray:
    """Standard normal z; the first latent is z * init_noise_sigma. RandomState is frozen."""
    return np.random.RandomState(0).standard_normal(SHAPE).astype(np.float32)


def step_noise(i: int) -> np.ndarray:
    """The standard normal noise an ancestral (or LCM) sampler adds at step i."""
    return np.random.RandomState(1000 + i).standard_normal(SHAPE).astype(np.float32)


def _floats(a: Any) -> list[float]:
    """float32 values, written with the 9 digits that round-trip them."""
    return [float(f"{v:.9g}") for v in np.asarray(a, dtype=np.float32).ravel()]


def keras_cv_goldens() -> dict[str, Any]:
    """DDIM (η = 0) exactly as KerasCV 0.9's StableDiffusionBase.generate_image runs it."""
    import keras_cv
    from keras_cv.src.models.stable_diffusion.constants import _ALPHAS_CUMPROD
    from keras_cv.src.models.stable_diffusion.stable_diffusion import StableDiffusionBase

    runs: dict[str, Any] = {}
    for num_steps in STEP_COUNTS:
        # generate_image, "Iterative reverse diffusion stage", with the UNet and guidance
        # replaced by fake_model.
        num_timesteps = 1000
        ratio = (num_timesteps - 1) / (num_steps - 1) if num_steps > 1 else num_timesteps
        timesteps = (np.arange(0, num_steps) * ratio).round().astype(np.int64)
        if num_steps == 1:
            timesteps = np.array([999], dtype=np.int64)  # see the module docstring
        alphas, alphas_prev = StableDiffusionBase._get_initial_alphas(None, timesteps)
        latent = initial_noise()
        used = []
        for index, timestep in list(enumerate(timesteps))[::-1]:
            latent_prev = latent
            latent = fake_model(latent, float(timestep))
            a_t, a_prev = alphas[index], alphas_prev[index]
            pred_x0 = (latent_prev - math.sqrt(1 - a_t) * latent) / math.sqrt(a_t)
            latent = latent * math.sqrt(1.0 - a_prev) + math.sqrt(a_prev) * pred_x0
            used.append(int(timestep))
        runs[str(num_steps)] = {"timesteps": used, "final": _floats(latent)}
    return {
        "ddim": runs,
        "keras_cv_alphas_cumprod": [float(a) for a in _ALPHAS_CUMPROD],
        "versions_keras_cv": {"keras_cv": keras_cv.__version__, "numpy": np.__version__},
    }


def _run_diffusers(scheduler: Any, num_steps: int) -> dict[str, Any]:
    """diffusers' StableDiffusionPipeline denoising loop, with fake_model for the UNet."""
    import importlib

    import torch

    scheduler.set_timesteps(num_steps)
    latents = torch.from_numpy(initial_noise()) * scheduler.init_noise_sigma
    step = {"i": 0}
    # The scheduler's module draws its per-step noise with randn_tensor: give it step_noise(i).
    module = importlib.import_module(type(scheduler).__module__)
    real_randn = module.randn_tensor

    def given_noise(shape: Any, **kwargs: Any) -> Any:
        return torch.from_numpy(step_noise(step["i"])).reshape(shape)

    module.randn_tensor = given_noise
    try:
        for i, t in enumerate(scheduler.timesteps):
            step["i"] = i
            model_input = scheduler.scale_model_input(latents, t)
            eps = torch.from_numpy(fake_model(model_input.numpy(), float(t)))
            latents = scheduler.step(eps, t, latents).prev_sample
    finally:
        module.randn_tensor = real_randn
    return {
        "timesteps": [float(t) for t in scheduler.timesteps],
        "init_noise_sigma": float(scheduler.init_noise_sigma),
        "final": _floats(latents.numpy()),
    }


def diffusers_goldens() -> dict[str, Any]:
    """DPM-Solver++ 2M (plain, Karras), Euler ancestral, Euler (trailing), LCM: diffusers."""
    import diffusers
    import torch
    from diffusers import (
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        LCMScheduler,
        PNDMScheduler,
    )

    schedule = {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "prediction_type": "epsilon",
    }
    # What a Stable Diffusion 1.5 pipeline gets from DPMSolverMultistepScheduler.from_config:
    # keys the checkpoint does not set take the new class's defaults, so "linspace".
    from_sd15 = DPMSolverMultistepScheduler.from_config(
        PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG).config
    )
    spacing = from_sd15.config.timestep_spacing
    assert spacing == "linspace", spacing
    euler_from_sd15 = EulerAncestralDiscreteScheduler.from_config(
        PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG).config
    )
    assert euler_from_sd15.config.timestep_spacing == "linspace"

    def dpm(karras: bool) -> Any:
        return DPMSolverMultistepScheduler(
            **schedule,
            algorithm_type="dpmsolver++",
            solver_order=2,
            solver_type="midpoint",
            lower_order_final=True,
            use_karras_sigmas=karras,
            timestep_spacing="linspace",
        )

    def euler(num_steps: int) -> Any:
        spacing = "trailing" if num_steps == 1 else "linspace"  # see the module docstring
        return EulerAncestralDiscreteScheduler(**schedule, timestep_spacing=spacing)

    def euler_trailing() -> Any:
        return EulerDiscreteScheduler(**schedule, timestep_spacing="trailing")

    def lcm() -> Any:
        # The class defaults: original_inference_steps 50, timestep_scaling 10, no clipping.
        scheduler = LCMScheduler(**schedule)
        assert scheduler.config.original_inference_steps == 50
        assert scheduler.config.timestep_scaling == 10.0
        assert not scheduler.config.clip_sample and not scheduler.config.thresholding
        return scheduler

    out: dict[str, Any] = {
        "dpmpp-2m": {}, "dpmpp-2m-karras": {}, "euler-a": {}, "euler-trailing": {}, "lcm": {}
    }
    for n in STEP_COUNTS:
        out["dpmpp-2m"][str(n)] = _run_diffusers(dpm(False), n)
        out["dpmpp-2m-karras"][str(n)] = _run_diffusers(dpm(True), n)
        out["euler-a"][str(n)] = _run_diffusers(euler(n), n)
    for n in FEW_STEP_COUNTS:
        out["euler-trailing"][str(n)] = _run_diffusers(euler_trailing(), n)
        out["lcm"][str(n)] = _run_diffusers(lcm(), n)
    out["diffusers_sd15_timestep_spacing"] = spacing
    out["versions_diffusers"] = {
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    return out


def main(argv: list[str]) -> int:
    stages = {"keras-cv": keras_cv_goldens, "diffusers": diffusers_goldens}
    if len(argv) != 2 or argv[1] not in stages:
        print(f"usage: {argv[0]} {{{'|'.join(stages)}}}", file=sys.stderr)
        return 2
    golden: dict[str, Any] = {}
    if GOLDEN_PATH.exists():
        golden = json.loads(GOLDEN_PATH.read_text())
    golden["about"] = (
        "Made by make_scheduler_goldens.py (run both stages); "
        "read by tests/engine/test_schedulers.py."
    )
    golden.update(stages[argv[1]]())
    GOLDEN_PATH.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
