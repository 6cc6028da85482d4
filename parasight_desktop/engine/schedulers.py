"""Samplers for Stable Diffusion's epsilon-prediction UNet: one small numpy class each.

All of them share the training schedule of Stable Diffusion v1.x (DDPM, Ho et al. 2020):
1000 steps, "scaled linear" betas, the UNet predicting the noise.

Symbols (one table for the module; each class names the paper it follows)

==============  ===========================================================================
``t``           training timestep, 0..T-1 (T = 1000); what the UNet is told
``beta_t``      β_t, noise added by forward step t (Ho et al. 2020, Eq. 2)
``alpha_bar``   ᾱ_t = Π_{s<=t} (1 - β_s). DDIM's paper writes α_t for this
``alpha_t``     α_t = √ᾱ_t, the signal scale of x_t = α_t x_0 + σ_t ε (DPM-Solver notation)
``sigma_t``     σ_t = √(1 - ᾱ_t), the noise scale, in that same (variance-preserving) form
``lambda_t``    λ_t = log(α_t / σ_t), half the log signal-to-noise ratio
``s``           k-diffusion noise level s = σ_t / α_t = √((1 - ᾱ_t) / ᾱ_t), so that
                x_t / α_t = x_0 + s ε (variance-exploding form, Karras et al. 2022)
``eps``         ε_θ(x_t, t), the UNet's output
``x0``          x̂_0, the clean latent predicted from x_t and ε
``i``           sampling step index, 0..n-1; step i goes from timesteps[i] to the next level
``c_skip``      c_skip(t) and c_out(t), the consistency function's boundary-condition scalings:
``c_out``       f_θ(x, t) = c_skip(t) x + c_out(t) x̂_0 (Song et al. 2023, "Consistency Models")
==============  ===========================================================================

Every scheduler works in float64 and returns float32.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InputError

F64 = NDArray[np.float64]
F32 = NDArray[np.float32]


def _f32(x: ArrayLike) -> F32:
    return np.asarray(x, dtype=np.float32)


BETA_SCHEDULES = ("scaled_linear", "linear")
PREDICTION_TYPES = ("epsilon",)


@dataclass(frozen=True)
class ScheduleConfig:
    """The training noise schedule a model was trained with (diffusers' scheduler config keys)."""

    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    prediction_type: str = "epsilon"

    def __post_init__(self) -> None:
        if self.num_train_timesteps < 2:
            raise InputError(
                f"num_train_timesteps must be at least 2 (got {self.num_train_timesteps})."
            )
        if not 0.0 < self.beta_start < self.beta_end < 1.0:
            raise InputError(
                f"Betas must satisfy 0 < beta_start < beta_end < 1 "
                f"(got {self.beta_start:g} and {self.beta_end:g})."
            )
        if self.beta_schedule not in BETA_SCHEDULES:
            raise InputError(
                f"Unsupported beta_schedule '{self.beta_schedule}': "
                f"use one of {', '.join(BETA_SCHEDULES)}."
            )
        if self.prediction_type not in PREDICTION_TYPES:
            raise InputError(
                f"Unsupported prediction_type '{self.prediction_type}': only epsilon-prediction "
                "models (Stable Diffusion 1.x) are supported."
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleConfig:
        """Read the keys this class knows; others (a full diffusers config) are ignored."""
        d = cls()
        return cls(
            num_train_timesteps=int(data.get("num_train_timesteps", d.num_train_timesteps)),
            beta_start=float(data.get("beta_start", d.beta_start)),
            beta_end=float(data.get("beta_end", d.beta_end)),
            beta_schedule=str(data.get("beta_schedule", d.beta_schedule)),
            prediction_type=str(data.get("prediction_type", d.prediction_type)),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def betas(self) -> F64:
        """β_t for t = 0..T-1 (Ho et al. 2020; "scaled_linear" is linear in √β)."""
        n = self.num_train_timesteps
        if self.beta_schedule == "scaled_linear":
            roots = np.linspace(self.beta_start**0.5, self.beta_end**0.5, n, dtype=np.float64)
            return np.asarray(roots**2, dtype=np.float64)
        return np.linspace(self.beta_start, self.beta_end, n, dtype=np.float64)

    def alphas_cumprod(self) -> F64:
        """ᾱ_t = Π_{s<=t} (1 - β_s) for t = 0..T-1."""
        return np.asarray(np.cumprod(1.0 - self.betas()), dtype=np.float64)


class Scheduler(ABC):
    """Turns the UNet's noise predictions into a sample, one step at a time.

    Use: ``set_timesteps(n)``; ``x = noise * init_noise_sigma``; then for i in range(n):
    ``eps = unet(scale_model_input(x, i), timesteps[i])``; ``x = step(eps, i, x, noise)``.
    """

    name: ClassVar[str]
    #: ``step`` takes fresh standard normal noise (ancestral and multistep consistency sampling).
    needs_noise: ClassVar[bool] = False
    #: Whether classifier-free guidance applies. False where the sampler is made for a model
    #: distilled to run without it (LCM): run the conditional pass only, whatever the scale.
    uses_guidance: ClassVar[bool] = True

    timesteps: F64
    init_noise_sigma: float

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        self.config = config if config is not None else ScheduleConfig()
        self.alphas_cumprod = self.config.alphas_cumprod()
        self.timesteps = np.zeros(0, dtype=np.float64)
        self.init_noise_sigma = 1.0

    @property
    def num_steps(self) -> int:
        return int(self.timesteps.shape[0])

    def _check_steps(self, num_steps: int) -> None:
        if not 1 <= num_steps <= self.config.num_train_timesteps:
            raise InputError(
                f"Steps must be between 1 and {self.config.num_train_timesteps} (got {num_steps})."
            )

    def _check_index(self, i: int) -> None:
        if self.num_steps == 0:
            raise RuntimeError(f"{type(self).__name__}: call set_timesteps() before step().")
        if not 0 <= i < self.num_steps:
            raise IndexError(f"Step {i} is outside 0..{self.num_steps - 1}.")

    @abstractmethod
    def set_timesteps(self, num_steps: int) -> None:
        """Choose the ``num_steps`` timesteps to sample at, and forget any history."""

    def scale_model_input(self, sample: ArrayLike, i: int) -> F32:
        """The UNet's input at step i (the sample itself, unless the sampler rescales it)."""
        self._check_index(i)
        return _f32(sample)

    @abstractmethod
    def step(
        self, model_output: ArrayLike, i: int, sample: ArrayLike, noise: ArrayLike | None = None
    ) -> F32:
        """The sample after step i, from the UNet's ε at step i (and fresh noise if ancestral)."""

    def add_noise(self, x0: ArrayLike, noise: ArrayLike, i: int) -> F32:
        """The clean latent ``x0`` noised to step i's level, in the form ``step`` takes at
        step i (image to image starts there; inpainting puts the kept region back with it).
        ``i == num_steps`` is the end of sampling: ``x0`` itself. Variance-preserving form,
        x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε (DDPM, Eq. 4), from the noise level s = σ_t/α_t."""
        s = self._level(i)
        alpha = 1.0 / np.sqrt(1.0 + s * s)
        return _f32(alpha * np.asarray(x0, np.float64) + s * alpha * np.asarray(noise, np.float64))

    def _level(self, i: int) -> float:
        """s = √((1-ᾱ)/ᾱ) at step i; 0 at ``num_steps`` (the clean end)."""
        if self.num_steps == 0:
            raise RuntimeError(f"{type(self).__name__}: call set_timesteps() before add_noise().")
        if not 0 <= i <= self.num_steps:
            raise IndexError(f"Step {i} is outside 0..{self.num_steps}.")
        if i == self.num_steps:
            return 0.0
        a = self.alphas_cumprod[round(float(self.timesteps[i]))]
        return float(np.sqrt((1.0 - a) / a))


class DDIMScheduler(Scheduler):
    """DDIM with η = 0 (Song, Meng & Ermon 2021), exactly as KerasCV's ``generate_image``.

    Timesteps (KerasCV): t_k = round(k (T-1)/(n-1)) for k = 0..n-1, used from the largest.
    For n = 1 KerasCV's formula gives t = 0, a step that denoises nothing; we use t = T-1,
    so one step returns the model's x̂_0.
    """

    name: ClassVar[str] = "ddim"

    def set_timesteps(self, num_steps: int) -> None:
        self._check_steps(num_steps)
        last = self.config.num_train_timesteps - 1
        if num_steps == 1:
            ascending = np.array([last], dtype=np.int64)
        else:
            ascending = (np.arange(num_steps) * (last / (num_steps - 1))).round().astype(np.int64)
        # ᾱ at each step, and at the step after it: the next-lower timestep, ᾱ = 1 past the end.
        alpha_bar = self.alphas_cumprod[ascending]
        alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
        self.timesteps = ascending[::-1].astype(np.float64)
        self._alpha_bar = alpha_bar[::-1].copy()
        self._alpha_bar_prev = alpha_bar_prev[::-1].copy()
        self.init_noise_sigma = 1.0

    def step(
        self, model_output: ArrayLike, i: int, sample: ArrayLike, noise: ArrayLike | None = None
    ) -> F32:
        self._check_index(i)
        eps = np.asarray(model_output, dtype=np.float64)
        x_t = np.asarray(sample, dtype=np.float64)
        a_t, a_prev = self._alpha_bar[i], self._alpha_bar_prev[i]
        # Eq. (12), "predicted x_0": x̂_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t
        x0 = (x_t - np.sqrt(1.0 - a_t) * eps) / np.sqrt(a_t)
        # Eq. (12) with σ_t = 0: x_{t-1} = √ᾱ_{t-1} x̂_0 + √(1-ᾱ_{t-1}) ε
        x_prev = np.sqrt(1.0 - a_prev) * eps + np.sqrt(a_prev) * x0
        return _f32(x_prev)


def _linspace_timesteps(num_train: int, num_steps: int) -> NDArray[np.int64]:
    """diffusers' "linspace" spacing: n of n+1 evenly spaced points on [0, T-1], highest first."""
    points = np.linspace(0, num_train - 1, num_steps + 1).round()[::-1][:-1]
    return points.astype(np.int64)


def _sigma_to_t(s: F64, log_s_table: F64) -> F64:
    """The (fractional) timestep whose noise level is s, interpolating linearly in log s."""
    log_s = np.log(np.maximum(s, 1e-10))
    low = np.clip(np.searchsorted(log_s_table, log_s, side="right") - 1, 0, len(log_s_table) - 2)
    lo, hi = log_s_table[low], log_s_table[low + 1]
    w = np.clip((lo - log_s) / (lo - hi), 0.0, 1.0)
    return np.asarray((1.0 - w) * low + w * (low + 1), dtype=np.float64)


class DPMSolverPP2MScheduler(Scheduler):
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), data prediction.

    Matches diffusers' ``DPMSolverMultistepScheduler(algorithm_type="dpmsolver++",
    solver_order=2, solver_type="midpoint", timestep_spacing="linspace")``, the class
    default that ``from_config`` gives for Stable Diffusion 1.x. The first step (no history)
    and the last (noise level 0, where λ is infinite) are first order: DPM-Solver++(1),
    which is DDIM. In the Karras variant the noise levels follow Karras et al. 2022, Eq. (5),
    ρ = 7, and each timestep is the rounded interpolated t of its level.
    """

    name: ClassVar[str] = "dpmpp-2m"
    karras: ClassVar[bool] = False
    rho: ClassVar[float] = 7.0

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        super().__init__(config)
        a = self.alphas_cumprod
        self._s_table = np.sqrt((1.0 - a) / a)  # s for t = 0..T-1, increasing
        self._levels = np.zeros(0, dtype=np.float64)
        self._previous: tuple[int, F64] | None = None

    def set_timesteps(self, num_steps: int) -> None:
        self._check_steps(num_steps)
        if self.karras:
            # Karras et al. 2022, Eq. (5): s_i = (s_max^{1/ρ} + i/(n-1) (s_min^{1/ρ} - s_max^{1/ρ}))^ρ
            s_min, s_max = self._s_table[0], self._s_table[-1]
            ramp = np.linspace(0.0, 1.0, num_steps)
            inv_rho = 1.0 / self.rho
            levels = (s_max**inv_rho + ramp * (s_min**inv_rho - s_max**inv_rho)) ** self.rho
            timesteps = _sigma_to_t(levels, np.log(self._s_table)).round()
        else:
            steps = _linspace_timesteps(self.config.num_train_timesteps, num_steps)
            levels = self._s_table[steps]
            timesteps = steps.astype(np.float64)
        self.timesteps = timesteps
        self._levels = np.concatenate([levels, [0.0]])  # the last step lands on s = 0
        self._previous = None
        self.init_noise_sigma = 1.0

    def _level(self, i: int) -> float:
        super()._level(i)  # checks i
        return float(self._levels[i])

    def _alpha_sigma(self, s: float) -> tuple[float, float]:
        """(α_t, σ_t) from the noise level s: α_t = 1/√(1+s²), σ_t = s α_t."""
        alpha = 1.0 / np.sqrt(1.0 + s * s)
        return float(alpha), float(s * alpha)

    def _lambda(self, s: float) -> float:
        """λ_t = log(α_t / σ_t) = -log s."""
        return float(-np.log(s))

    def step(
        self, model_output: ArrayLike, i: int, sample: ArrayLike, noise: ArrayLike | None = None
    ) -> F32:
        self._check_index(i)
        eps = np.asarray(model_output, dtype=np.float64)
        x = np.asarray(sample, dtype=np.float64)
        s_cur, s_next = self._levels[i], self._levels[i + 1]
        alpha_cur, sigma_cur = self._alpha_sigma(s_cur)
        # Data prediction, the quantity DPM-Solver++ integrates: x_θ = (x_t - σ_t ε_θ) / α_t
        x0 = (x - sigma_cur * eps) / alpha_cur
        previous, self._previous = self._previous, (i, x0)
        if s_next == 0.0:
            # λ = +∞ at the end: DPM-Solver++(1) reduces to x_{t_i} = x_θ.
            return _f32(x0)
        alpha_next, sigma_next = self._alpha_sigma(s_next)
        h = self._lambda(s_next) - self._lambda(s_cur)  # h_i = λ_{t_i} - λ_{t_{i-1}}
        if previous is None or previous[0] != i - 1:
            d = x0  # first order, DPM-Solver++(1): Algorithm 2's first step
        else:
            # Algorithm 2: r_i = h_{i-1}/h_i; D_i = (1 + 1/(2r_i)) x_θ,i-1 - 1/(2r_i) x_θ,i-2
            h_last = self._lambda(s_cur) - self._lambda(self._levels[i - 1])
            r = h_last / h
            d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * previous[1]
        # x_{t_i} = (σ_{t_i}/σ_{t_{i-1}}) x_{t_{i-1}} - α_{t_i} (e^{-h_i} - 1) D_i
        x_next = (sigma_next / sigma_cur) * x - alpha_next * np.expm1(-h) * d
        return _f32(x_next)


class DPMSolverPP2MKarrasScheduler(DPMSolverPP2MScheduler):
    """DPM-Solver++(2M) on Karras et al. (2022) noise levels (diffusers' use_karras_sigmas)."""

    name: ClassVar[str] = "dpmpp-2m-karras"
    karras: ClassVar[bool] = True


class _EulerScheduler(Scheduler):
    """Shared by the Euler samplers: noise levels s_t and the UNet's input scaling.

    The sample is kept in the variance-exploding form x_t / α_t = x̂_0 + s ε, so the first
    latent is z s_max (diffusers' init_noise_sigma for its "linspace" and "trailing" spacings).
    """

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        super().__init__(config)
        a = self.alphas_cumprod
        self._s_table = np.sqrt((1.0 - a) / a)
        self._levels = np.zeros(0, dtype=np.float64)

    def _set_levels(self, timesteps: F64) -> None:
        """s at each (fractional) timestep, interpolated linearly in t; the last step ends at 0."""
        levels = np.interp(timesteps, np.arange(len(self._s_table)), self._s_table)
        self.timesteps = timesteps
        self._levels = np.concatenate([levels, [0.0]])
        # x_T = z s_max: the sample is in the x_t/α_t (variance-exploding) form
        self.init_noise_sigma = float(levels.max())

    def add_noise(self, x0: ArrayLike, noise: ArrayLike, i: int) -> F32:
        """Variance-exploding form: x = x0 + s_i ε (diffusers' Euler ``add_noise``)."""
        s = self._level(i)
        return _f32(np.asarray(x0, np.float64) + s * np.asarray(noise, np.float64))

    def _level(self, i: int) -> float:
        super()._level(i)  # checks i
        return float(self._levels[i])

    def scale_model_input(self, sample: ArrayLike, i: int) -> F32:
        """x / √(s²+1) = α_t x: the variance-preserving x_t the UNet was trained on."""
        self._check_index(i)
        s = self._levels[i]
        x = np.asarray(sample, dtype=np.float64) / np.sqrt(s * s + 1.0)
        return _f32(x)


class EulerAncestralScheduler(_EulerScheduler):
    """Euler ancestral sampling in the k-diffusion form, as diffusers' EulerAncestralDiscrete.

    Probability-flow ODE dx/ds = (x - x̂_0)/s (Karras et al. 2022, Algorithm 1 without Heun),
    taken by one Euler step down to s_down, then noise s_up z added back so the sample
    lands on s_{i+1} (the ancestral step of Crowson's k-diffusion, ``get_ancestral_step``):

        s_up = √(s_{i+1}² (s_i² - s_{i+1}²) / s_i²),  s_down = √(s_{i+1}² - s_up²)

    Timesteps: diffusers' "linspace", n evenly spaced fractional t on [0, T-1], highest
    first, noise levels interpolated linearly in t. For n = 1 diffusers gives t = 0 (no
    denoising at all); we use t = T-1, as its "trailing" spacing does.
    """

    name: ClassVar[str] = "euler-a"
    needs_noise: ClassVar[bool] = True

    def set_timesteps(self, num_steps: int) -> None:
        self._check_steps(num_steps)
        last = self.config.num_train_timesteps - 1
        if num_steps == 1:
            timesteps = np.array([last], dtype=np.float64)
        else:
            # float32 like diffusers, so the fractional timesteps agree to the last bit
            points = np.linspace(0, last, num_steps, dtype=np.float32)[::-1]
            timesteps = points.astype(np.float64)
        self._set_levels(timesteps)

    def step(
        self, model_output: ArrayLike, i: int, sample: ArrayLike, noise: ArrayLike | None = None
    ) -> F32:
        self._check_index(i)
        if noise is None:
            raise ValueError("Euler ancestral needs fresh standard normal noise at every step.")
        eps = np.asarray(model_output, dtype=np.float64)
        x = np.asarray(sample, dtype=np.float64)
        z = np.asarray(noise, dtype=np.float64)
        s_from, s_to = self._levels[i], self._levels[i + 1]
        s_up = np.sqrt(s_to**2 * (s_from**2 - s_to**2) / s_from**2)
        s_down = np.sqrt(s_to**2 - s_up**2)
        # x̂_0 = x - s ε, so the ODE's slope d = (x - x̂_0)/s is ε itself
        d = eps
        x_next = x + d * (s_down - s_from) + s_up * z
        return _f32(x_next)


class EulerTrailingScheduler(_EulerScheduler):
    """Euler's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1, no churn,
    no Heun correction), on "trailing" timesteps: the sampler SD-Turbo is used with.

    Matches diffusers' ``EulerDiscreteScheduler(timestep_spacing="trailing")``. Trailing
    spacing (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
    Table 2) always starts at t = T-1: t_k = round(T - k T/n) - 1, so 1 step = [999] and
    4 steps = [999, 749, 499, 249]. Deterministic: no noise between steps.
    """

    name: ClassVar[str] = "euler-trailing"

    def set_timesteps(self, num_steps: int) -> None:
        self._check_steps(num_steps)
        n_train = self.config.num_train_timesteps
        # diffusers' own expression, so the rounding agrees to the last bit. Its float arange
        # gives n+1 points for some n (61, 103, ...; the last is t = -1): keep the first n.
        points = np.arange(n_train, 0, -n_train / num_steps).round()[:num_steps] - 1.0
        self._set_levels(points.astype(np.float64))

    def step(
        self, model_output: ArrayLike, i: int, sample: ArrayLike, noise: ArrayLike | None = None
    ) -> F32:
        self._check_index(i)
        eps = np.asarray(model_output, dtype=np.float64)
        x = np.asarray(sample, dtype=np.float64)
        s_from, s_to = self._levels[i], self._levels[i + 1]
        # x̂_0 = x - s ε, so the ODE's slope d = (x - x̂_0)/s is ε itself
        d = eps
        # Algorithm 1, line 8 (the Euler step): x_{i+1} = x_i + (s_{i+1} - s_i) d_i
        x_next = x + (s_to - s_from) * d
        return _f32(x_next)


class LCMScheduler(Scheduler):
    """Multistep latent consistency sampling (Luo et al. 2023, "Latent Consistency Models",
    Algorithm 1), as diffusers' ``LCMScheduler``; for LCM-distilled models and LCM-LoRA.

    The model was distilled on a skipping schedule of N = 50 timesteps (original_inference_steps),
    t = 999, 979, ..., 19; n steps take n of them at evenly spaced indices,
    ⌊k N/n⌋ for k = 0..n-1 (4 steps -> [999, 759, 499, 259]), so n is at most 50.
    Each step evaluates the consistency function

        f_θ(x, t) = c_skip(t) x + c_out(t) x̂_0,  with (diffusers' discrete form, u = 10 t)
        c_skip(t) = σ_data² / (u² + σ_data²),  c_out(t) = u / √(u² + σ_data²),  σ_data = 0.5

    and, except at the last step, noises the estimate back to the next timestep with fresh
    noise z: x_{τ_{k+1}} = √ᾱ_{τ_{k+1}} f_θ + √(1 - ᾱ_{τ_{k+1}}) z. The last step returns f_θ.
    Guidance is distilled into the model (an embedded w, or LCM-LoRA's guidance-free training),
    so the pipeline runs the conditional pass only.
    """

    name: ClassVar[str] = "lcm"
    needs_noise: ClassVar[bool] = True
    uses_guidance: ClassVar[bool] = False
    original_inference_steps: ClassVar[int] = 50
    timestep_scaling: ClassVar[float] = 10.0
    sigma_data: ClassVar[float] = 0.5

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        super().__init__(config)
        self._alpha_bar = np.zeros(0, dtype=np.float64)

    def set_timesteps(self, num_steps: int) -> None:
        n_orig = self.original_inference_steps
        if not 1 <= num_steps <= n_orig:
            raise InputError(
                f"LCM sampling takes between 1 and {n_orig} steps, the schedule its model was "
                f"distilled on (got {num_steps}); 2 to 8 is usual."
            )
        k = self.config.num_train_timesteps // n_orig
        base = (np.arange(1, n_orig + 1) * k - 1)[::-1]  # 999, 979, ..., 19
        indices = np.floor(np.linspace(0, n_orig, num_steps, endpoint=False)).astype(np.int64)
        timesteps = base[indices]
        self.timesteps = timesteps.astype(np.float64)
        self._alpha_bar = self.alphas_cumprod[timesteps]
        self.init_noise_sigma = 1.0

    def boundary_scalings(self, t: float) -> tuple[float, float]:
        """(c_skip(t), c_out(t)): f_θ is the identity at t = 0 and x̂_0 once t is large."""
        u = t * self.timestep_scaling
        sd2 = self.sigma_data**2
        return sd2 / (u * u + sd2), u / float(np.sqrt(u * u + sd2))

    def step(
        self, model_output: ArrayLike, i: int, sample: ArrayLike, noise: ArrayLike | None = None
    ) -> F32:
        self._check_index(i)
        last = i == self.num_steps - 1
        if noise is None and not last:
            raise ValueError("LCM sampling needs fresh standard normal noise between steps.")
        eps = np.asarray(model_output, dtype=np.float64)
        x = np.asarray(sample, dtype=np.float64)
        a_t = self._alpha_bar[i]
        # x̂_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t
        x0 = (x - np.sqrt(1.0 - a_t) * eps) / np.sqrt(a_t)
        c_skip, c_out = self.boundary_scalings(float(self.timesteps[i]))
        denoised = c_out * x0 + c_skip * x  # f_θ(x_t, t)
        if last:
            return _f32(denoised)
        a_next = self._alpha_bar[i + 1]
        z = np.asarray(noise, dtype=np.float64)
        # Algorithm 1: x_{τ_{k+1}} = √ᾱ f_θ + √(1-ᾱ) z, at the next timestep τ_{k+1}
        x_next = np.sqrt(a_next) * denoised + np.sqrt(1.0 - a_next) * z
        return _f32(x_next)


SCHEDULERS: dict[str, type[Scheduler]] = {
    cls.name: cls
    for cls in (
        DDIMScheduler,
        DPMSolverPP2MScheduler,
        DPMSolverPP2MKarrasScheduler,
        EulerAncestralScheduler,
        EulerTrailingScheduler,
        LCMScheduler,
    )
}


def make_scheduler(name: str, config: ScheduleConfig | None = None) -> Scheduler:
    """The scheduler with this sampler id (see ``types.SAMPLERS``), for this training schedule."""
    try:
        cls = SCHEDULERS[name]
    except KeyError:
        raise InputError(
            f"Unknown sampler '{name}': choose one of {', '.join(SCHEDULERS)}."
        ) from None
    return cls(config)
