"""Samplers against golden latents from KerasCV (DDIM) and diffusers (the others).

The goldens, the fake UNet and the noise come from golden/make_scheduler_goldens.py.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from parasight_desktop.engine.errors import InputError
from parasight_desktop.engine.schedulers import (
    SCHEDULERS,
    DDIMScheduler,
    LCMScheduler,
    ScheduleConfig,
    Scheduler,
    make_scheduler,
)
from parasight_desktop.engine.types import SAMPLERS

GOLDEN_DIR = Path(__file__).with_name("golden")
RTOL = 1e-5


def _load_golden_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_scheduler_goldens", GOLDEN_DIR / "make_scheduler_goldens.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _load_golden_script()
GOLDEN: dict[str, Any] = json.loads((GOLDEN_DIR / "schedulers.json").read_text())
#: Samplers made for few-step models, with goldens at REF.FEW_STEP_COUNTS.
FEW_STEP = ("euler-trailing", "lcm")
GOLDEN_RUNS = [(name, n) for name in SAMPLERS
               for n in (REF.FEW_STEP_COUNTS if name in FEW_STEP else REF.STEP_COUNTS)]


def max_steps(name: str) -> int:
    """The most steps a sampler takes: LCM is limited to its 50 distillation timesteps."""
    return LCMScheduler.original_inference_steps if name == "lcm" else 1000


def sample(scheduler: Scheduler, num_steps: int) -> np.ndarray:
    """The pipeline's loop, with the golden script's fake UNet and noise."""
    scheduler.set_timesteps(num_steps)
    x: np.ndarray = REF.initial_noise() * np.float32(scheduler.init_noise_sigma)
    for i, t in enumerate(scheduler.timesteps):
        eps = REF.fake_model(scheduler.scale_model_input(x, i), float(t))
        noise = REF.step_noise(i) if scheduler.needs_noise else None
        x = scheduler.step(eps, i, x, noise)
        assert x.dtype == np.float32
    return x


@pytest.mark.parametrize(("name", "num_steps"), GOLDEN_RUNS)
def test_matches_reference(name: str, num_steps: int) -> None:
    golden = GOLDEN[name][str(num_steps)]
    scheduler = make_scheduler(name, ScheduleConfig())
    final = sample(scheduler, num_steps)
    np.testing.assert_array_equal(scheduler.timesteps, golden["timesteps"])
    expected = np.asarray(golden["final"], dtype=np.float64).reshape(final.shape)
    if "init_noise_sigma" in golden:
        assert scheduler.init_noise_sigma == pytest.approx(golden["init_noise_sigma"], rel=1e-6)
    # Relative to the latent's scale: the references compute in float32, we in float64.
    err = np.abs(final - expected).max() / np.abs(expected).max()
    assert err < RTOL, f"{name} x{num_steps}: max error {err:.2e} of the latent's scale"


def test_alphas_cumprod_match_keras_cv() -> None:
    from keras_cv.src.models.stable_diffusion.constants import _ALPHAS_CUMPROD

    ours = ScheduleConfig().alphas_cumprod()
    np.testing.assert_allclose(ours, np.asarray(_ALPHAS_CUMPROD), rtol=1e-6)
    np.testing.assert_allclose(ours, GOLDEN["keras_cv_alphas_cumprod"], rtol=1e-6)


def test_ddim_spacing_is_keras_cv() -> None:
    ddim = DDIMScheduler()
    for n in (2, 3, 7, 25, 50, 500):
        ddim.set_timesteps(n)
        keras_cv = (np.arange(0, n) * ((1000 - 1) / (n - 1))).round()
        np.testing.assert_array_equal(ddim.timesteps, keras_cv[::-1])


def test_registry_is_the_sampler_list() -> None:
    assert set(SCHEDULERS) == set(SAMPLERS)
    for name in SAMPLERS:
        scheduler = make_scheduler(name, ScheduleConfig())
        assert scheduler.name == name
        assert scheduler.needs_noise == (name in ("euler-a", "lcm"))
        assert scheduler.uses_guidance == (name != "lcm")


def test_unknown_sampler_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Unknown sampler 'plms'.*ddim"):
        make_scheduler("plms", ScheduleConfig())


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_set_timesteps_resets_history(name: str) -> None:
    scheduler = make_scheduler(name, ScheduleConfig())
    first = sample(scheduler, 10)
    # Half a run leaves history (DPM-Solver++ keeps the last x̂_0) ...
    scheduler.set_timesteps(7)
    x = REF.initial_noise()
    for i in range(3):
        noise = REF.step_noise(i) if scheduler.needs_noise else None
        x = scheduler.step(REF.fake_model(x, 500.0), i, x, noise)
    # ... which set_timesteps forgets.
    np.testing.assert_array_equal(sample(scheduler, 10), first)
    np.testing.assert_array_equal(sample(make_scheduler(name, ScheduleConfig()), 10), first)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_timesteps_for_every_step_count(name: str) -> None:
    scheduler = make_scheduler(name, ScheduleConfig())
    for n in range(1, min(500, max_steps(name)) + 1):
        scheduler.set_timesteps(n)
        t = scheduler.timesteps
        assert t.dtype == np.float64
        assert t.shape == (n,)
        assert t[0] == 999.0
        assert t.min() >= 0.0
        # Karras levels are distinct, but near s_min several round to the same t.
        steps = np.diff(t)
        assert (steps <= 0).all() if name == "dpmpp-2m-karras" else (steps < 0).all()
        assert np.isfinite(scheduler.init_noise_sigma) and scheduler.init_noise_sigma >= 1.0


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("num_steps", [1, 2, 3, 4, 14, 15, 16, 150, 500])
def test_any_step_count_samples(name: str, num_steps: int) -> None:
    if num_steps > max_steps(name):
        pytest.skip(f"{name} takes at most {max_steps(name)} steps")
    with np.errstate(all="raise"):
        final = sample(make_scheduler(name, ScheduleConfig()), num_steps)
    assert final.shape == REF.SHAPE
    assert np.isfinite(final).all()


@pytest.mark.parametrize("num_steps", [0, -1, 1001])
def test_step_count_out_of_range(num_steps: int) -> None:
    with pytest.raises(InputError, match="Steps must be between 1 and 1000"):
        DDIMScheduler().set_timesteps(num_steps)


def test_step_before_set_timesteps() -> None:
    with pytest.raises(RuntimeError, match="set_timesteps"):
        DDIMScheduler().step(np.zeros(4), 0, np.zeros(4))


def test_ancestral_step_needs_noise() -> None:
    scheduler = make_scheduler("euler-a", ScheduleConfig())
    scheduler.set_timesteps(5)
    with pytest.raises(ValueError, match="noise"):
        scheduler.step(np.zeros(4), 0, np.zeros(4))


def test_one_step_returns_predicted_x0() -> None:
    """One step starts at t = 999 (not KerasCV's t = 0) and lands on the clean latent."""
    for name in ("ddim", "dpmpp-2m", "dpmpp-2m-karras", "lcm"):
        scheduler = make_scheduler(name, ScheduleConfig())
        scheduler.set_timesteps(1)
        a = ScheduleConfig().alphas_cumprod()[999]
        x = REF.initial_noise()
        eps = REF.fake_model(x, 999.0)
        x0 = (x.astype(np.float64) - np.sqrt(1 - a) * eps) / np.sqrt(a)
        np.testing.assert_allclose(scheduler.step(eps, 0, x), x0, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "num_steps", "expected"),
    [
        ("lcm", 1, [999]),
        ("lcm", 2, [999, 499]),
        ("lcm", 4, [999, 759, 499, 259]),
        ("lcm", 50, list(range(999, 0, -20))),
        ("euler-trailing", 1, [999]),
        ("euler-trailing", 2, [999, 499]),
        ("euler-trailing", 4, [999, 749, 499, 249]),
        ("euler-trailing", 1000, list(range(999, -1, -1))),
    ],
)
def test_few_step_timesteps(name: str, num_steps: int, expected: list[int]) -> None:
    scheduler = make_scheduler(name, ScheduleConfig())
    scheduler.set_timesteps(num_steps)
    np.testing.assert_array_equal(scheduler.timesteps, expected)


def test_euler_trailing_keeps_n_timesteps() -> None:
    """diffusers' float arange gives 62 trailing timesteps for 61 steps, the last t = -1."""
    scheduler = make_scheduler("euler-trailing", ScheduleConfig())
    scheduler.set_timesteps(61)
    assert scheduler.timesteps.shape == (61,) and scheduler.timesteps[-1] == 15.0


def test_euler_trailing_starts_from_s_max() -> None:
    """As diffusers: x_T = z s_max (not √(s_max² + 1)), and the UNet sees x / √(s² + 1)."""
    scheduler = make_scheduler("euler-trailing", ScheduleConfig())
    scheduler.set_timesteps(4)
    a = ScheduleConfig().alphas_cumprod()[999]
    s_max = np.sqrt((1 - a) / a)
    assert scheduler.init_noise_sigma == pytest.approx(s_max, rel=1e-12)
    x = REF.initial_noise() * np.float32(s_max)
    np.testing.assert_allclose(scheduler.scale_model_input(x, 0), x * np.sqrt(a), rtol=1e-6)


@pytest.mark.parametrize("num_steps", [0, 51])
def test_lcm_step_count_out_of_range(num_steps: int) -> None:
    with pytest.raises(InputError, match="LCM sampling takes between 1 and 50 steps"):
        make_scheduler("lcm", ScheduleConfig()).set_timesteps(num_steps)


def test_lcm_needs_noise_except_at_the_last_step() -> None:
    scheduler = make_scheduler("lcm", ScheduleConfig())
    scheduler.set_timesteps(2)
    x, eps = REF.initial_noise(), REF.fake_model(REF.initial_noise(), 999.0)
    with pytest.raises(ValueError, match="noise"):
        scheduler.step(eps, 0, x)
    # The last step returns f_θ = c_out x̂_0 + c_skip x; the noise, if any, is not used.
    a = ScheduleConfig().alphas_cumprod()[499]
    x0 = (x.astype(np.float64) - np.sqrt(1 - a) * eps) / np.sqrt(a)
    c_skip, c_out = 0.25 / (4990.0**2 + 0.25), 4990.0 / np.sqrt(4990.0**2 + 0.25)
    expected = c_out * x0 + c_skip * x
    np.testing.assert_allclose(scheduler.step(eps, 1, x), expected, rtol=1e-6)
    np.testing.assert_array_equal(scheduler.step(eps, 1, x, REF.step_noise(1)),
                                  scheduler.step(eps, 1, x))


def test_config_round_trip() -> None:
    config = ScheduleConfig(beta_end=0.02, beta_schedule="linear")
    assert ScheduleConfig.from_dict(config.to_dict()) == config
    # A full diffusers scheduler_config.json reads too; its other keys are ignored.
    diffusers_config = {**REF.SD15_SCHEDULER_CONFIG, "_class_name": "PNDMScheduler"}
    assert ScheduleConfig.from_dict(diffusers_config) == ScheduleConfig()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("beta_schedule", "squaredcos_cap_v2", "beta_schedule"),
        ("prediction_type", "v_prediction", "epsilon"),
        ("beta_end", 0.0001, "beta_start < beta_end"),
    ],
)
def test_unsupported_config(key: str, value: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ScheduleConfig.from_dict({key: value})
