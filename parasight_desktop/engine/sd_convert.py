"""Stable Diffusion v1.x from KerasCV's Keras HDF5 weights -> a model folder we run.

Each part is converted in its own process, so that no step holds more than one
part's conversion in memory and the memory is given back when it ends (TensorFlow
keeps what it allocates). The UNet (860M parameters) does not convert in one
piece here: it is split along its functional graph into parts of at most
``max_params`` parameters; a part reads the named tensors it needs from earlier
parts (skip connections included) and writes those later parts read. Each part
is run by LiteRT against Keras on a probe input before it is accepted. A
``convert-state.json`` in the work folder records finished parts, so an
interrupted conversion resumes where it stopped.

TensorFlow and keras-cv are imported inside the worker only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import CancelledError, InputError, ModelError
from .fileio import atomic_write_bytes, sha256_file
from .manifest import write_manifest
from .schedulers import ScheduleConfig
from .timestep import TimestepEmbedding

ROLES = ("text_encoder", "diffusion_model", "decoder")
#: Parts converted when their weights are given: the VAE's image encoder (KerasCV's
#: vae_encoder.h5, or an imported checkpoint's ``encoder.*``), for image to image.
OPTIONAL_ROLES = ("image_encoder",)
MAX_TOKENS = 77
#: UNet parameters per part. Conversion peaks at ~40 bytes a parameter plus the
#: whole Keras UNet held by the worker (3.4 GB): 150M keeps a part near 10 GiB.
DEFAULT_MAX_PARAMS = 150_000_000
#: DPM-Solver++ 2M at 12 steps: on ParaSight Mini (same schedule and samplers, judged
#: here) 12 steps score what 20 and 30 do, 10 lose a little colour, DDIM needs 20 for
#: the same (training/eval/mini_steps_sweep.json); 12 rather than 10 keeps a margin for
#: SD's finer detail. Each step is two UNet evaluations, so this is 40% off 20 steps.
SD_DEFAULTS = {"steps": 12, "guidance": 7.5, "sampler": "dpmpp-2m"}
#: A part is refused below this PSNR against Keras on the probe (dB), by precision.
MIN_PSNR = {"fp32": 60.0, "fp16": 30.0, "int8": 15.0}
#: SD v1.x latent -> RGB factors (ComfyUI's latent_formats.SD15), for cheap previews.
SD15_PREVIEW = [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350],
                [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]
SD_LICENCE_FILE = "creativeml-openrail-m.md"
#: The text encoder's width and padding token by family: CLIP pads with its end token,
#: OpenCLIP (SD 2.x) with 0, as their own tokenizers do.
FAMILY_TEXT: dict[str, dict[str, int]] = {"sd1": {"context_dim": 768, "pad_token": 49407},
                                          "sd2": {"context_dim": 1024, "pad_token": 0}}
#: What token downsampling trades (CLI help); figures from benchmarks/bench_levers.py.
TOKEN_DOWNSAMPLE_HELP = ("2: pool the keys and values of the full-size self-attentions "
                         "2x2 (token downsampling): 0.62x the time of a UNet "
                         "evaluation and 0.64x of an image on an AVX-512 CPU (0.81-0.86x "
                         "and 0.83-0.92x on an AVX2 one); an "
                         "approximation of the model's attention (image PSNR about 30 dB "
                         "against exact on random weights; not checked on the real ones). "
                         "Default 1: exact")
#: The trade-offs shown wherever a precision is chosen (CLI help, the Models dialog).
PRECISION_HELP = ("fp32: exact, largest (about 4.3 GB), slowest; fp16: half the size, "
                  "same speed, tiny differences; int8: dynamic-range, a quarter of the size, "
                  "fastest on CPU, small visible differences")


def install_name(base: str, precision: str, size: tuple[int, int], given: str | None,
                 token_downsample: int = 1) -> str:
    """The folder name a conversion installs as: sd-v1.4, sd-v1.4-int8, sd-v1.4-int8-768x768,
    sd-v1.4-int8-todo2 (token downsampling)."""
    if given:
        return given
    name = base if precision == "fp32" else f"{base}-{precision}"
    name = name if size == (512, 512) else f"{name}-{size[0]}x{size[1]}"
    return name if token_downsample == 1 else f"{name}-todo{token_downsample}"


@dataclass(frozen=True)
class PartResult:
    """What one worker made: a file, its interface, and what it cost."""

    job: str
    file: str
    inputs: list[str]
    outputs: list[str]
    params: int
    size: int
    sha256: str
    seconds: float
    peak_rss_bytes: int
    psnr_db: float | None
    max_abs_error: float | None
    n_parts: int = 1


@dataclass(frozen=True)
class ConvertProgress:
    job: str  # "text_encoder", "unet-0", ..., "decoder"
    index: int  # 1-based position among the jobs known so far
    total: int | None  # None until the UNet's part count is known
    status: str  # "converting", "done", "skipped (already converted)"
    result: PartResult | None = None


def _peak_rss() -> int:
    """This process's peak resident memory in bytes (0 where the OS cannot say)."""
    from .memory import peak_rss_bytes

    return peak_rss_bytes()


# --------------------------------------------------------------------------------------
# Worker side (runs in a child process; imports TensorFlow and keras-cv)
# --------------------------------------------------------------------------------------

def _zeros(self: Any, shape: Any, dtype: Any = None) -> Any:
    import keras

    return keras.ops.zeros(shape, dtype=dtype)


@contextmanager
def _cheap_init() -> Iterator[None]:
    """Build with zero-filled weights: the HDF5 file overwrites them all anyway.

    Random init of 860M parameters takes about a minute on two cores for nothing.
    """
    from keras.src.initializers import random_initializers as ri

    saved = {}
    for cls in (ri.VarianceScaling, ri.RandomNormal, ri.RandomUniform, ri.TruncatedNormal):
        saved[cls] = cls.__call__
        cls.__call__ = _zeros
    try:
        yield
    finally:
        for cls, call in saved.items():
            cls.__call__ = call


def _attention_per_head(self: Any, inputs: Any, context: Any = None,
                        kv_grid: tuple[int, int, int] | None = None) -> Any:
    """KerasCV's ``CrossAttention.call``, the same arithmetic arranged for a small
    interpreter arena: queries scaled before the product (not the (heads, n, n) scores
    after it: one pass less over the largest tensor), and one head at a time, so the
    interpreter holds one (n, n) score matrix instead of all eight at once (at 64x64
    latents: 64 MB instead of 512 MB per tensor).

    ``kv_grid`` (rows, columns, factor) turns on token downsampling (ToDo, Smith et al.
    2024) for the self-attentions over a rows x columns grid: keys and values come from
    the tokens average-pooled factor x factor, so the score matrices shrink factor^2
    times. This changes the arithmetic (an approximation); off unless asked for."""
    from keras import ops

    if context is None:
        context = inputs
        if kv_grid is not None and inputs.shape[1] == kv_grid[0] * kv_grid[1]:
            rows, cols, f = kv_grid
            grid = ops.reshape(inputs, (-1, rows, cols, inputs.shape[-1]))
            pooled = ops.average_pool(grid, f, f, padding="valid")
            context = ops.reshape(pooled, (-1, (rows // f) * (cols // f), inputs.shape[-1]))
    q = self.to_q(inputs) * self.scale
    k, v = self.to_k(context), self.to_v(context)
    rows = _query_rows(inputs.shape[1], context.shape[1])
    heads: list[Any] = []
    last: Any = None
    for h in range(self.num_heads):
        sl = slice(h * self.head_size, (h + 1) * self.head_size)
        kt, vh = ops.transpose(k[:, :, sl], (0, 2, 1)), v[:, :, sl]
        parts: list[Any] = []
        for start in (range(0, int(inputs.shape[1]), rows) if rows else (0,)):
            qh = q[:, start:start + rows, sl] if rows else q[:, :, sl]
            if last is not None:
                # A data dependency on the previous product (adding its first value times
                # zero), so the converter cannot schedule all score matrices before any
                # is consumed.
                qh = qh + ops.multiply(last[:, :1, :1], 0.0)
            score = ops.matmul(qh, kt)  # (b, rows, m)
            last = ops.matmul(ops.softmax(score, axis=-1), vh)  # (b, rows, d)
            parts.append(last)
        heads.append(_concatenate(parts, axis=1))
    out = _concatenate(heads, axis=-1)
    return self.out_proj(out)


def _concatenate(parts: list[Any], axis: int) -> Any:
    """``ops.concatenate`` as a tree of at most four inputs each: XNNPACK's delegate takes
    a CONCATENATION of up to five, so eight heads in one were left to the interpreter and
    cut the UNet's graph into separately delegated pieces. Exact copies either way."""
    from keras import ops

    while len(parts) > 5:
        parts = [ops.concatenate(parts[i:i + 4], axis=axis) if len(parts[i:i + 4]) > 1
                 else parts[i] for i in range(0, len(parts), 4)]
    return ops.concatenate(parts, axis=axis) if len(parts) > 1 else parts[0]


#: Score elements (queries x keys) above which the queries are taken in chunks, and
#: about how many elements each chunk's score matrix has.
_CHUNK_ABOVE = 2**22
_CHUNK_ELEMENTS = 2**21


def _query_rows(n: Any, m: Any) -> int:
    """Queries per score matrix, 0 for all at once. A 4096 x 4096 score matrix (64 MB,
    the self-attentions at 64x64 latents) is written, exponentiated and read back from
    memory; 512 queries at a time (8 MB) stay in cache: the same products row by row
    (bit-identical), in 0.86x the time (docs/BENCHMARKS.md, "Engine speed"). Rows scale
    down with more keys so a chunk stays about 8 MB (SD 2.x at 768x768: 224 rows)."""
    if n is None or m is None or int(n) * int(m) <= _CHUNK_ABOVE:
        return 0
    rows = max(16, (_CHUNK_ELEMENTS // int(m)) // 16 * 16)
    return rows if rows < int(n) else 0


@contextmanager
def _lean_attention(kv_grid: tuple[int, int, int] | None = None) -> Iterator[None]:
    """Trace KerasCV's UNet with :func:`_attention_per_head` (conversion only)."""
    from keras_cv.src.models.stable_diffusion.diffusion_model import CrossAttention

    def call(self: Any, inputs: Any, context: Any = None) -> Any:
        return _attention_per_head(self, inputs, context, kv_grid)

    saved = CrossAttention.call
    CrossAttention.call = call
    try:
        yield
    finally:
        CrossAttention.call = saved


def build_keras(role: str, weights: Path | None, height: int, width: int,
                family: str = "sd1") -> Any:
    """keras-cv's own model class for ``role``, with the HDF5 weights loaded as it does.

    ``family`` "sd2" builds ``StableDiffusionV2``'s text encoder and UNet (1024-wide
    context, linear projections); the decoder and the image encoder are the same for
    both."""
    from keras_cv.src.models.stable_diffusion.decoder import Decoder
    from keras_cv.src.models.stable_diffusion.diffusion_model import (
        DiffusionModel,
        DiffusionModelV2,
    )
    from keras_cv.src.models.stable_diffusion.image_encoder import ImageEncoder
    from keras_cv.src.models.stable_diffusion.text_encoder import TextEncoder, TextEncoderV2

    v2 = family == "sd2"

    def make() -> Any:
        if role == "text_encoder":
            return (TextEncoderV2 if v2 else TextEncoder)(MAX_TOKENS, download_weights=False)
        if role == "diffusion_model":
            return (DiffusionModelV2 if v2 else DiffusionModel)(
                height, width, MAX_TOKENS, download_weights=False)
        if role == "decoder":
            return Decoder(height, width, download_weights=False)
        if role == "image_encoder":
            return ImageEncoder(download_weights=False)
        raise InputError(f"Unknown Stable Diffusion part '{role}'.")

    if weights is None:
        return make()
    with _cheap_init():
        model = make()
    try:
        model.load_weights(str(weights))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(
            f"{weights.name} could not be read as KerasCV's {role.replace('_', ' ')} weights "
            f"({exc}); check that it is the right file."
        ) from exc
    return model


@dataclass(frozen=True)
class PartPlan:
    ops: tuple[int, ...]  # indices into model.operations
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: int


def plan_unet(model: Any, max_params: int) -> list[PartPlan]:
    """Split a functional model's operations (topological order) into parts.

    Tensors are named after the graph: the model's inputs keep their names, the
    final output is ``noise``, and an intermediate tensor is ``t<op index>``.
    """
    ops = list(model.operations)
    producer: dict[int, int] = {}
    names: dict[int, str] = {}
    for i, op in enumerate(ops):
        for node in op._inbound_nodes:
            for t in node.output_tensors:
                producer[id(t)] = i
                names[id(t)] = t.name if type(op).__name__ == "InputLayer" else f"t{i:03d}"
    final = model.outputs[0]
    names[id(final)] = "noise"
    compute = [i for i, op in enumerate(ops) if type(op).__name__ != "InputLayer"]
    groups: list[list[int]] = [[]]
    budget = 0
    for i in compute:
        p = int(ops[i].count_params())
        if groups[-1] and budget + p > max_params:
            groups.append([])
            budget = 0
        groups[-1].append(i)
        budget += p
    part_of = {i: k for k, g in enumerate(groups) for i in g}
    consumers: dict[int, set[int]] = {}
    for i in compute:
        for t in ops[i]._inbound_nodes[0].input_tensors:
            consumers.setdefault(id(t), set()).add(part_of[i])
    plans = []
    for k, group in enumerate(groups):
        ins: list[str] = []
        outs: list[str] = []
        for i in group:
            for t in ops[i]._inbound_nodes[0].input_tensors:
                src = producer[id(t)]
                if part_of.get(src) != k and names[id(t)] not in ins:
                    ins.append(names[id(t)])
            for t in ops[i]._inbound_nodes[0].output_tensors:
                later = any(q > k for q in consumers.get(id(t), ()))
                if (later or t is final) and names[id(t)] not in outs:
                    outs.append(names[id(t)])
        plans.append(PartPlan(tuple(group), tuple(ins), tuple(outs),
                              sum(int(ops[i].count_params()) for i in group)))
    return plans


def _tensor_index(model: Any) -> dict[str, Any]:
    by_name: dict[str, Any] = {}
    for i, op in enumerate(model.operations):
        for t in op._inbound_nodes[0].output_tensors:
            by_name[t.name if type(op).__name__ == "InputLayer" else f"t{i:03d}"] = t
    by_name["noise"] = model.outputs[0]
    return by_name


# The arrangement the parts are traced in (engine/lean_keras.py; the UNet's attention
# here); recorded in the manifest so older conversions are recognised. 2: GroupNorm
# statistics as 4-D means, the VAE attention without a transposed score matrix.
# 3: no operator XNNPACK leaves to the interpreter (TILE in GroupNorm and UpSampling2D,
# eight-input CONCATENATION of the heads), the largest attentions' queries in chunks.
LAYOUT = 3


def _rewrite(job: dict[str, Any]) -> Callable[[], Any]:
    """The arrangement a part is traced in: GroupNormalization and the VAE attention as
    in :mod:`.lean_keras` for every part; for UNet parts also per-head attention, and with
    ``token_downsample`` > 1 token downsampling at the full-size latent grid."""
    from .lean_keras import lean_layers

    factor = int(job.get("token_downsample") or 1)
    per_head = str(job["job"]).startswith("unet-") and (
        bool(job.get("lean_attention")) or factor > 1)
    grid = (int(job["height"]) // 8, int(job["width"]) // 8, factor) if factor > 1 else None

    @contextmanager
    def arrangement() -> Iterator[None]:
        with lean_layers(), (_lean_attention(grid) if per_head else nullcontext()):
            yield

    return arrangement


def run_worker(job: dict[str, Any]) -> PartResult:
    """Convert one part (``job["job"]``) and return what was made."""
    import keras

    from .converter import TensorSpec, convert_keras_model

    if job["job"] == "weights":
        from .sd_import import weights_worker

        return weights_worker(job)
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    h, w = int(job["height"]), int(job["width"])
    family = str(job.get("family") or "sd1")
    out_dir = Path(job["out_dir"])
    precision = str(job["precision"])
    name = str(job["job"])
    sources = {k: Path(v) for k, v in job["sources"].items()}
    rng = np.random.default_rng(0)
    n_parts = 1
    batch = job.get("batch")  # None: any batch (shape ops stay in the graph)
    rows = batch or 1  # the probe's batch where one is fixed
    if name == "text_encoder":
        model = build_keras("text_encoder", sources["text_encoder"], h, w, family)
        specs = [TensorSpec("tokens", (batch, MAX_TOKENS), "int32"),
                 TensorSpec("positions", (batch, MAX_TOKENS), "int32")]
        outputs = ["context"]
        probe: dict[str, NDArray[Any]] = {
                 "tokens": rng.integers(0, 49408, (rows, MAX_TOKENS)).astype(np.int32),
                 "positions": np.tile(np.arange(MAX_TOKENS, dtype=np.int32), (rows, 1))}
        file = "text_encoder.tflite"
    elif name == "decoder":
        model = build_keras("decoder", sources["decoder"], h, w, family)
        specs = [TensorSpec("latent", (batch, h // 8, w // 8, 4))]
        outputs = ["image"]
        probe = {"latent": rng.standard_normal((rows, h // 8, w // 8, 4)).astype(np.float32)}
        file = "decoder.tflite"
    elif name == "image_encoder":
        model = build_keras("image_encoder", sources["image_encoder"], h, w, family)
        specs = [TensorSpec("image", (batch, h, w, 3))]
        outputs = ["latent"]
        probe = {"image": np.stack([smooth_image(rng, h, w) for _ in range(rows)])}
        file = "image_encoder.tflite"
    elif name.startswith("unet-"):
        k = int(name.split("-")[1])
        full = build_keras("diffusion_model", sources["diffusion_model"], h, w, family)
        plans = plan_unet(full, int(job["max_params"]))
        n_parts = len(plans)
        plan = plans[k]
        tensors = _tensor_index(full)
        model = keras.Model([tensors[n] for n in plan.inputs],
                            [tensors[n] for n in plan.outputs])
        specs = [TensorSpec(n, (batch, *tensors[n].shape[1:]), str(tensors[n].dtype))
                 for n in plan.inputs]
        outputs = list(plan.outputs)
        probe = {}
        for s in specs:
            shape = (batch or 2, *[int(d or 1) for d in s.shape[1:]])
            probe[s.name] = rng.standard_normal(shape).astype(np.float32)
        if "timestep_embedding" in probe:
            probe["timestep_embedding"] = TimestepEmbedding(dim=320)(
                np.array([981, 21])[:batch or 2])
        file = f"unet_{k}.tflite"
    else:
        raise InputError(f"Unknown conversion job '{name}'.")
    params = int(model.count_params())
    report = convert_keras_model(
        model, out_dir / file, specs, outputs, precision, probe=probe,
        workdir=Path(job["work_dir"]),
        rewrite=_rewrite(job),
        # token downsampling is the model asked for: check the conversion against it
        probe_with_rewrite=int(job.get("token_downsample") or 1) > 1)
    return PartResult(
        job=name, file=file, inputs=[s.name for s in specs], outputs=outputs, params=params,
        size=report.size, sha256=report.sha256, seconds=time.perf_counter() - start,
        peak_rss_bytes=_peak_rss(), psnr_db=report.psnr_db, max_abs_error=report.max_abs_error,
        n_parts=n_parts,
    )


def smooth_image(rng: np.random.Generator, height: int, width: int) -> NDArray[np.float32]:
    """A (height, width, 3) image in -1..1 with a photograph's smoothness: random values
    on a grid 16 pixels apart, interpolated bilinearly (the image encoder's probe)."""
    gy, gx = height // 16 + 2, width // 16 + 2
    grid = rng.uniform(-1.0, 1.0, (gy, gx, 3))
    y = np.linspace(0, gy - 1.001, height)
    x = np.linspace(0, gx - 1.001, width)
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None, None], (x - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    image: NDArray[np.float32] = (top * (1 - fy) + bottom * fy).astype(np.float32)
    return image


def worker_main(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    result = run_worker(job)
    atomic_write_bytes(Path(job["result_file"]), json.dumps(asdict(result)).encode())
    return 0


# --------------------------------------------------------------------------------------
# Parent side (no TensorFlow here)
# --------------------------------------------------------------------------------------

def _run_job(job: dict[str, Any], work: Path, cancel: threading.Event | None,
             log: Path) -> PartResult:
    job_file = work / f"{job['job']}.job.json"
    result_file = work / f"{job['job']}.result.json"
    result_file.unlink(missing_ok=True)
    job = {**job, "result_file": str(result_file)}
    atomic_write_bytes(job_file, json.dumps(job).encode())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log, "ab") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "parasight_desktop.engine.sd_convert", "--worker",
             str(job_file)], stdout=logf, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            if cancel is not None and cancel.is_set():
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                raise CancelledError("Conversion cancelled; finished parts are kept and a "
                                     "later conversion resumes from the next one.")
            time.sleep(0.2)
    if proc.returncode != 0 or not result_file.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        killed = proc.returncode in (-9, 137)
        why = ("it ran out of memory (killed)" if killed
               else f"it failed: {' / '.join(tail) or proc.returncode}")
        raise ModelError(f"Converting {job['job']} stopped: {why}. Log: {log}")
    data = json.loads(result_file.read_text(encoding="utf-8"))
    return PartResult(**data)


def load_state(path: Path, key: dict[str, Any], **fresh: Any) -> dict[str, Any]:
    """A resumable job's state file: what it holds if it was made for ``key`` (the same
    inputs and settings), else a fresh state ``{"key": key, **fresh}``."""
    state: dict[str, Any] = {}
    if path.is_file():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            state = {}
    return state if state.get("key") == key else {"key": key, **fresh}


def convert_image_encoder(weights: Path, out_dir: Path, *, precision: str = "fp32",
                          height: int = 512, width: int = 512, batch: int | None = 1,
                          work_dir: Path | None = None,
                          cancel: threading.Event | None = None) -> PartResult:
    """Convert KerasCV's image encoder weights (vae_encoder.h5) alone to
    ``out_dir/image_encoder.tflite``, in a worker process as every part is; the file is
    checked against Keras on a probe image (refused below :data:`MIN_PSNR`). The manifest
    is not touched: :func:`convert_stable_diffusion` does the same for a whole model."""
    check_conversion_possible()
    if precision not in MIN_PSNR:
        raise InputError(f"Unknown precision '{precision}': choose fp32, fp16 or int8.")
    if not Path(weights).is_file():
        raise InputError(f"The image encoder weights file is missing ({weights}).")
    out_dir = Path(out_dir)
    work = Path(work_dir) if work_dir else out_dir / ".work-image-encoder"
    work.mkdir(parents=True, exist_ok=True)
    job = {"job": "image_encoder", "sources": {"image_encoder": str(weights)},
           "height": height, "width": width, "precision": precision, "out_dir": str(out_dir),
           "work_dir": str(work), "batch": batch}
    result = _run_job(job, work, cancel, work / "convert.log")  # a failure keeps its log
    if work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    if result.psnr_db is None or result.psnr_db < MIN_PSNR[precision]:
        (out_dir / result.file).unlink(missing_ok=True)
        raise ModelError(f"The image encoder converted at {precision} differs from Keras on "
                         f"the probe image (PSNR {result.psnr_db} dB); try fp32 or fp16.")
    return result


def check_conversion_possible() -> None:
    """Fail at once, saying where conversion works, where no worker could import TensorFlow.

    The app bundle has no Python to start a worker with; a Python install without the
    ``convert`` extra has no TensorFlow or keras-cv.
    """
    import importlib.util

    if getattr(sys, "frozen", False) or importlib.util.find_spec("tensorflow") is None \
            or importlib.util.find_spec("keras_cv") is None:
        raise InputError(
            "Converting a model needs TensorFlow, which this installation of ParaSight does not "
            "include: install ParaSight with Python and its conversion extra (pip install "
            "'parasight-desktop[convert]') and run the same 'parasight models' command there; "
            "the model lands in the models folder this app reads too.")


def convert_stable_diffusion(
    sources: dict[str, Path],
    out_dir: Path,
    *,
    name: str = "sd-v1.4",
    display_name: str = "Stable Diffusion v1.4",
    precision: str = "fp32",
    height: int = 512,
    width: int = 512,
    max_params: int = DEFAULT_MAX_PARAMS,
    batch: int | None = 1,
    lean_attention: bool = True,
    token_downsample: int = 1,
    work_dir: Path | None = None,
    on_progress: Callable[[ConvertProgress], None] | None = None,
    cancel: threading.Event | None = None,
    licence: tuple[str, Path] | None = None,
    source: str = "KerasCV's Stable Diffusion v1.4 weights (fchollet/stable-diffusion)",
    family: str = "sd1",
    identity: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    before_install: Callable[[Path], None] | None = None,
) -> Path:
    """Convert KerasCV's three HDF5 files into ``out_dir``; resumable; returns ``out_dir``.

    ``sources`` may also name ``image_encoder`` (KerasCV's vae_encoder.h5): it is
    converted too and the manifest names it (``image_encoder``), for image to image.

    ``batch``: the batch every part is converted for (1: the pipeline runs the two
    guidance passes one after the other; None: any batch, with shape operators in the
    graph; 2: both passes in one call, which the pipeline runs too but the importer does
    not make: no faster in benchmarks/bench_guidance.py). ``lean_attention``: trace the
    UNet's attention one head at a time with the scale applied to the queries (see :func:`_attention_per_head`). Both defaults were
    chosen by peak memory in benchmarks/bench_sd.py (docs/BENCHMARKS.md).
    ``token_downsample``: 2 pools the keys and values of the full-size self-attentions
    2x2 (faster, approximate; measured in benchmarks/bench_todo.py); 1, the default, is
    KerasCV's arithmetic. ``family``: "sd1" or "sd2" (keras-cv's V2 text encoder and UNet).
    ``identity``: what an imported model was made from (:func:`.sd_import.identity`),
    recorded in the manifest for the PNG's Model hash and Lora hashes. ``defaults``:
    settings that replace :data:`SD_DEFAULTS` (few-step models). ``before_install``: called
    with the finished staging folder (manifest written) before it is renamed into place,
    to add files that are part of the model (TAESD).
    """
    if family not in FAMILY_TEXT:
        raise InputError(f"Unknown model family '{family}'.")
    check_conversion_possible()
    if token_downsample not in (1, 2, 4):
        raise InputError(f"Token downsampling {token_downsample} is not supported: "
                         "use 1 (off), 2 or 4.")
    if precision not in MIN_PSNR:
        raise InputError(f"Unknown precision '{precision}': choose fp32, fp16 or int8.")
    if height % 128 or width % 128 or not (128 <= height <= 1024 and 128 <= width <= 1024):
        raise InputError(f"Size {width}x{height} is not supported: use multiples of 128 "
                         "between 128 and 1024 (512x512 is Stable Diffusion v1's size).")
    for role in ROLES:
        if role not in sources or not Path(sources[role]).is_file():
            raise InputError(f"The {role.replace('_', ' ')} weights file is missing "
                             f"({sources.get(role, 'not given')}).")
    out_dir = Path(out_dir)
    stage = out_dir.with_name(out_dir.name + ".converting")
    work = Path(work_dir) if work_dir else stage / ".work"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "convert.log"
    state_file = work / "convert-state.json"
    encoder = sources.get("image_encoder")
    if encoder is not None and not Path(encoder).is_file():
        raise InputError(f"The image encoder weights file is missing ({encoder}).")
    key = {"sources": {r: [str(Path(p).resolve()), Path(p).stat().st_size]
                       for r, p in sorted(sources.items()) if r in ROLES + OPTIONAL_ROLES},
           "precision": precision, "height": height, "width": width, "max_params": max_params,
           "batch": batch, "lean_attention": lean_attention,
           "token_downsample": token_downsample, "family": family}
    state = load_state(state_file, key, done={})
    done: dict[str, dict[str, Any]] = state["done"]
    base = {"sources": {r: str(p) for r, p in sources.items()}, "height": height,
            "width": width, "precision": precision, "out_dir": str(stage),
            "work_dir": str(work), "max_params": max_params, "batch": batch,
            "lean_attention": lean_attention, "token_downsample": token_downsample,
            "family": family}

    def finished(job: str) -> PartResult | None:
        entry = done.get(job)
        if entry is None:
            return None
        path = stage / entry["file"]
        if path.is_file() and path.stat().st_size == entry["size"] and \
                sha256_file(path) == entry["sha256"]:
            return PartResult(**entry)
        return None

    def run(job: str, index: int, total: int | None) -> PartResult:
        prior = finished(job)
        if prior is not None:
            if on_progress:
                on_progress(ConvertProgress(job, index, total, "skipped (already converted)",
                                            prior))
            return prior
        if on_progress:
            on_progress(ConvertProgress(job, index, total, "converting"))
        result = _run_job({**base, "job": job}, work, cancel, log)
        floor = MIN_PSNR[precision]
        if result.psnr_db is None or result.psnr_db < floor:
            (stage / result.file).unlink(missing_ok=True)
            raise ModelError(
                f"{job} converted at {precision} differs from Keras on the probe input "
                f"(PSNR {result.psnr_db:.1f} dB, needs {floor:.0f}); try fp32 or fp16.")
        done[job] = asdict(result)
        atomic_write_bytes(state_file, json.dumps(state, indent=1).encode())
        if on_progress:
            on_progress(ConvertProgress(job, index, total, "done", result))
        return result

    results = {"text_encoder": run("text_encoder", 1, None)}
    first = run("unet-0", 2, None)
    n = first.n_parts
    total = n + 2 + (encoder is not None)
    unet = [first] + [run(f"unet-{k}", k + 2, total) for k in range(1, n)]
    results["decoder"] = run("decoder", n + 2, total)
    if encoder is not None:
        results["image_encoder"] = run("image_encoder", total, total)
    lic_name, lic_path = licence or ("CreativeML OpenRAIL-M", _licence_path())
    if lic_path.is_file():
        shutil.copyfile(lic_path, stage / "LICENSE.md")
    parts = [{"file": r.file, "inputs": r.inputs, "outputs": r.outputs} for r in unet]
    all_results = [results["text_encoder"], *unet, results["decoder"],
                   *([results["image_encoder"]] if encoder is not None else [])]
    manifest = {
        "name": name,
        "display_name": display_name,
        "description": f"Stable Diffusion {'2' if family == 'sd2' else 'v1'} at "
                       f"{width}x{height}, converted to TensorFlow Lite ({precision}) on this "
                       "machine.",
        "version": "1",
        "licence": {"name": lic_name, "file": "LICENSE.md" if lic_path.is_file() else None},
        "source": source,
        "image": {"width": width, "height": height},
        "latent": {"shape": [height // 8, width // 8, 4], "scaling_factor": 0.18215,
                   "decoder_includes_scaling": True},
        "text_encoder": {"file": "text_encoder.tflite", "inputs": ["tokens", "positions"],
                         "output": "context", "max_tokens": MAX_TOKENS, **FAMILY_TEXT[family]},
        "unet": {"parts": parts, "output": "noise"},
        "decoder": {"file": "decoder.tflite", "input": "latent", "output": "image",
                    "output_range": [-1, 1]},
        **({"image_encoder": {"file": "image_encoder.tflite", "input": "image",
                              "output": "latent", "input_range": [-1, 1]}}
           if encoder is not None else {}),
        "timestep_embedding": TimestepEmbedding(dim=320).to_dict(),
        "scheduler": ScheduleConfig().to_dict(),
        "defaults": {**SD_DEFAULTS, **(defaults or {})},
        "preview": {"rgb_factors": SD15_PREVIEW, "rgb_bias": [0.0, 0.0, 0.0]},
        "files": {r.file: {"size": r.size, "sha256": r.sha256} for r in all_results},
        "extra": {"precision": precision, "batch": batch, "lean_attention": lean_attention,
                  "layout": LAYOUT,
                  "family": family, **({"identity": identity} if identity else {}),
                  "token_downsample": token_downsample,
                  "conversion": {r.job: {"params": r.params, "seconds": round(r.seconds, 1),
                                         "peak_rss_gib": round(r.peak_rss_bytes / 2**30, 2),
                                         "psnr_db": r.psnr_db,
                                         "max_abs_error": r.max_abs_error}
                                 for r in all_results}},
    }
    write_manifest(stage, manifest)
    if before_install is not None:
        before_install(stage)
    shutil.rmtree(work, ignore_errors=True) if work.is_relative_to(stage) else None
    if out_dir.exists():
        shutil.rmtree(out_dir)
    stage.rename(out_dir)
    return out_dir


def is_current_conversion(folder: Path, precision: str) -> bool:
    """True if ``folder`` holds a finished conversion made with this converter's layout
    (fixed batch 1, per-head attention, KerasCV's exact attention, :data:`LAYOUT`) at
    ``precision``:
    caches older than a layout change are converted again rather than measured or
    tested by mistake."""
    from .manifest import MANIFEST

    try:
        extra = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8")).get("extra", {})
    except (OSError, ValueError):
        return False
    return (extra.get("precision") == precision and extra.get("batch") == 1
            and extra.get("lean_attention") is True and extra.get("layout") == LAYOUT
            and extra.get("token_downsample", 1) == 1)


def _licence_path() -> Path:
    from .store import resources_dir

    return resources_dir() / "licences" / SD_LICENCE_FILE


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2]))
    print("usage: python -m parasight_desktop.engine.sd_convert --worker JOB.json",
          file=sys.stderr)
    sys.exit(2)
