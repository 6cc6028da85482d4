"""The app's LiteRT engine beside OpenVINO on the same CPU, the same weights, in one run.

    make bench-engine
    # = bash benchmarks/ov_env.sh && .venv/bin/python benchmarks/bench_engine.py
    .venv/bin/python benchmarks/bench_engine.py [--repeats 3] [--threads 2] [--no-write]
        [--systems app,app-compiled,app-fp16,ov-default,ov-f32,ov-int8-weights,ov-int8-hybrid]

One weights source for both sides: the seeded random full-size SD 1.5 that
benchmarks/import_reference.py makes (a single LDM ``.safetensors`` file and the same
weights as a diffusers folder, proven equal by diffusers' own single-file converters).
The app imports the file with its own importer at int8 (its default); OpenVINO converts
the diffusers UNet and VAE decoder (benchmarks/ov_engine.py, in .cache/ov-venv: never the
app's venv) and quantizes them with NNCF as FastSD CPU's models are made.

Every system runs in its own process (so each peak memory is its own), driven one call at
a time from here, so the calls interleave (app, OpenVINO, app, OpenVINO...) and whatever
else the machine is doing falls on all of them alike. Per phase (UNet at batch 1, UNet at
batch 2, VAE decode at 512x512): each system loads, makes one warm-up call, then
``--repeats`` rounds of one call each; the figure is the median. The app's UNet is
converted for batch 1, so at batch 2 it runs two passes, as the pipeline does. Then the
app's UNet is loaded again as after a decode (load + first call), with each runner.

Systems: ``app`` (the engine as it ships: LiteRT Interpreter, XNNPACK, int8 dynamic range),
``app-compiled`` (LiteRT CompiledModel, same kernels), ``app-fp16`` (CompiledModel with
XNNPACK's force-fp16 flag), ``ov-default`` (OpenVINO at its default inference precision on
this CPU, which it reports: bf16 where the CPU has AVX512_BF16 or AMX), ``ov-f32`` (f32
asked for), ``ov-int8-weights`` (NNCF weight-only int8), ``ov-int8-hybrid``
(NNCF hybrid: int8 weights, int8 activations into the convolutions).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.engine_report import CACHE, TODAY, WHOLE, publish
from parasight_desktop.engine.memory import peak_rss_gib

OV_PY = ROOT / ".cache" / "ov-venv" / "bin" / "python"
REF_PY = ROOT / ".cache" / "ref-venv" / "bin" / "python"
RESULTS = CACHE / "bench-engine.json"
SOURCE = CACHE / "sd1"  # model.safetensors + diffusers/ (import_reference.py make-models)
APP_MODEL = CACHE / "sd15-random-int8"
# The same import made by the converter's previous layout (sd_convert.LAYOUT), kept when
# a rerun converts APP_MODEL again: the "app-previous" system measures the new layout
# against it side by side.
PREVIOUS_MODEL = CACHE / "sd15-random-int8-previous"
OV_DIR = CACHE / "ov"
DEFAULT_SYSTEMS = "app,app-previous,app-compiled,ov-default,ov-int8-weights,ov-int8-hybrid"
CPU_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16")


def cpu_info() -> dict[str, Any]:
    from parasight_desktop.engine.runner import cpu_flags  # what the engine decides by

    flags = cpu_flags()
    name = next((line.split(":", 1)[1].strip()
                 for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "unknown CPU")
    return {"model": name, "cores": os.cpu_count(),
            "flags": [f for f in CPU_FLAGS if f in flags],
            "missing": [f for f in CPU_FLAGS if f not in flags]}


# -- fixtures ----------------------------------------------------------------------------------

def ensure_fixtures(hybrid_samples: int) -> None:
    """The random checkpoint, the app's int8 import of it, OpenVINO's IR of it."""
    if not (SOURCE / "model.safetensors").is_file():
        subprocess.run(["bash", str(ROOT / "benchmarks" / "ref_env.sh")], check=True)
        subprocess.run([str(REF_PY), str(ROOT / "benchmarks" / "import_reference.py"),
                        "make-models", str(SOURCE), "--family", "sd1", "--seed", "0"],
                       check=True)
    from parasight_desktop.engine.sd_convert import is_current_conversion

    if (APP_MODEL / "manifest.json").is_file() and not is_current_conversion(APP_MODEL, "int8"):
        if PREVIOUS_MODEL.exists():
            shutil.rmtree(PREVIOUS_MODEL)
        APP_MODEL.rename(PREVIOUS_MODEL)
    if not (APP_MODEL / "manifest.json").is_file():
        from parasight_desktop.engine.sd_import import import_checkpoint

        t0 = time.perf_counter()
        import_checkpoint(SOURCE / "model.safetensors", APP_MODEL, name=APP_MODEL.name,
                          precision="int8")
        print(f"app import (int8): {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    subprocess.run(["bash", str(ROOT / "benchmarks" / "ov_env.sh")], check=True)
    subprocess.run([str(OV_PY), str(ROOT / "benchmarks" / "ov_engine.py"), "prepare",
                    str(SOURCE / "diffusers"), str(OV_DIR),
                    "--hybrid-samples", str(hybrid_samples)], check=True)


# -- the app's side: a server like ov_engine.py's ------------------------------------------------

def app_settings(system: str) -> Any:
    from parasight_desktop.engine.runner import XNNPACK_FORCE_FP16, CpuSettings

    if system in ("app", "app-previous"):
        return CpuSettings()
    if system == "app-compiled":
        return CpuSettings(compiled=True, weight_cache=CACHE / "xnnpack-cache")
    if system == "app-fp16":
        return CpuSettings(compiled=True, xnnpack_flags=XNNPACK_FORCE_FP16)
    raise SystemExit(f"unknown app system {system}")


def serve_app(model_dir: Path, system: str, threads: int) -> int:
    from parasight_desktop.engine.manifest import load_manifest
    from parasight_desktop.engine.pipeline import run_unet_parts
    from parasight_desktop.engine.runner import TFLiteModel

    m = load_manifest(model_dir)
    cpu = app_settings(system)
    state: dict[str, Any] = {}
    rng = np.random.default_rng(0)

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def load_unet() -> list[TFLiteModel]:
        return [TFLiteModel(m.path(p.file), threads, cpu) for p in m.unet_parts]

    def unet(parts: list[TFLiteModel], latent: Any, temb: Any, ctx: Any) -> Any:
        return run_unet_parts(m, parts, latent, temb, ctx)

    def unet_runner(parts: list[TFLiteModel], feeds: tuple[Any, ...], batch: int) -> Any:
        fixed = parts[0].input_shape("latent")[0]

        def run() -> Any:
            if fixed in (-1, batch):
                return unet(parts, *feeds)
            return np.concatenate([unet(parts, *(f[i:i + 1] for f in feeds))
                                   for i in range(batch)])
        return run

    def decoder_runner(dec: TFLiteModel, z: Any) -> Any:
        return lambda: dec(**{m.decoder_input: z})[m.decoder_output]

    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        if cmd == "load":
            state.clear()
            t0 = time.perf_counter()
            if msg["what"] == "unet":
                batch = int(msg.get("batch", 1))
                parts = load_unet()
                feeds = (rng.standard_normal((batch, *m.latent_shape)).astype(np.float32),
                         m.timestep_embedding(np.full(batch, 500)),
                         rng.standard_normal((batch, 77, m.text_dim)).astype(np.float32))
                state.update(parts=parts, run=unet_runner(parts, feeds, batch))
            else:
                dec = TFLiteModel(m.path(m.decoder), threads, cpu)
                z = rng.standard_normal((1, *m.latent_shape)).astype(np.float32)
                state.update(dec=dec, run=decoder_runner(dec, z))
            runner = (state.get("parts") or [state.get("dec")])[0]
            reply({"ok": True, "load_s": time.perf_counter() - t0,
                   "runner": runner.cpu.describe(), "threads": runner.threads})
        elif cmd == "run":
            t0 = time.perf_counter()
            y = np.asarray(state["run"]())
            s = time.perf_counter() - t0
            reply({"ok": True, "seconds": s, "sum": float(np.sum(y, dtype=np.float64)),
                   "abs": float(np.sum(np.abs(y), dtype=np.float64)), "peak_gib": peak_rss_gib()})
        elif cmd == "reload":
            # as the pipeline does after a decode: the UNet's interpreters go, then come back
            state.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            parts = load_unet()
            load = time.perf_counter() - t0
            latent, temb, ctx = (rng.standard_normal((1, *m.latent_shape)).astype(np.float32),
                                 m.timestep_embedding(np.full(1, 500)),
                                 rng.standard_normal((1, 77, m.text_dim)).astype(np.float32))
            unet(parts, latent, temb, ctx)
            first, first_cpu = time.perf_counter() - t0 - load, time.process_time() - c0
            t1, c1 = time.perf_counter(), time.process_time()
            unet(parts, latent, temb, ctx)
            second, second_cpu = time.perf_counter() - t1, time.process_time() - c1
            del parts
            reply({"ok": True, "load_s": load, "first_s": first, "second_s": second,
                   "load_first_cpu_s": first_cpu, "second_cpu_s": second_cpu})
        elif cmd == "drop":
            state.clear()
            reply({"ok": True})
        elif cmd == "info":
            import ai_edge_litert

            reply({"ok": True, "litert": getattr(ai_edge_litert, "__version__", "?"),
                   "peak_gib": peak_rss_gib()})
        elif cmd == "quit":
            reply({"ok": True, "peak_gib": peak_rss_gib()})
            return 0
    return 0


# -- whole images at the defaults ------------------------------------------------------------

IMAGE_PROMPT = "a tall shadow figure with glowing eyes on a city street at night"


def image_child(model_dir: Path, threads: int, reload_cache: bool, images: int,
                tag: str, swap: bool = False) -> int:
    """Images at the model's defaults through the app's Engine, in this fresh process: a
    short warm-up image (models loaded, weight caches filled), then ``images`` timed ones
    (each after a decode, so each loads the UNet again)."""
    from parasight_desktop.engine import memory as memory_mod
    from parasight_desktop.engine import pipeline as pipeline_mod
    from parasight_desktop.engine.pipeline import Engine
    from parasight_desktop.engine.runner import CpuSettings
    from parasight_desktop.engine.store import ModelStore
    from parasight_desktop.engine.types import GenerationRequest

    if not reload_cache:  # the runner as it was: the interpreter, weights packed each load
        pipeline_mod.reload_settings = lambda folder, precision: CpuSettings()  # type: ignore[assignment]
    if swap:  # the UNet let go before every decode, whatever the model's size
        memory_mod.keep_stages_loaded = lambda *a: False  # type: ignore[assignment]
    eng = Engine(ModelStore([model_dir.parent]), threads=threads)
    eng.generate(GenerationRequest(IMAGE_PROMPT, seed=1, model=model_dir.name, steps=2))
    totals, last = [], None
    for _ in range(images):
        r = eng.generate(GenerationRequest(IMAGE_PROMPT, seed=1234, model=model_dir.name))
        totals.append(r.timings["total"])
        last = r
    assert last is not None
    np.save(CACHE / f"image-{tag}.npy", np.asarray(last.image))
    print(json.dumps({"totals": totals, "median_s": statistics.median(totals),
                      "timings": last.timings, "steps": last.settings.steps,
                      "sampler": last.settings.sampler, "guidance": last.settings.guidance,
                      "peak_gib": peak_rss_gib()}))
    return 0


def images(threads: int, rounds: int) -> dict[str, Any]:
    """Children alternating (shipped, swap, cache, previous, shipped, ...), one timed image
    each: as shipped; with the UNet let go before every decode (swap); swapping with
    XNNPACK's weight cache (cache: what the cache is for); the model converted at the
    previous layout where that folder is kept (as shipped: it swaps)."""
    from parasight_desktop.engine.converter import psnr

    kinds = {"shipped": ["--tag", "shipped"], "swap": ["--tag", "swap", "--swap"],
             "cache": ["--tag", "cache", "--reload-cache", "--swap"]}
    if (PREVIOUS_MODEL / "manifest.json").is_file():
        kinds["previous"] = ["--tag", "previous", "--model", str(PREVIOUS_MODEL)]
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for _ in range(rounds):
        for kind, extra in kinds.items():
            r = subprocess.run([sys.executable, __file__, "image-child", "--threads",
                                str(threads), "--count", "1", *extra],
                               capture_output=True, text=True, check=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            runs[kind].append(json.loads(r.stdout.strip().splitlines()[-1]))
    out: dict[str, Any] = {}
    for k, rs in runs.items():
        mid = sorted(rs, key=lambda r: r["median_s"])[(len(rs) - 1) // 2]
        out[k] = {**mid, "totals": [r["median_s"] for r in rs],
                  "median_s": statistics.median(r["median_s"] for r in rs),
                  "peak_gib": max(r["peak_gib"] for r in rs)}
    a = np.load(CACHE / "image-shipped.npy").astype(np.float64)
    b = np.load(CACHE / "image-cache.npy").astype(np.float64)
    out["identical"] = bool(np.array_equal(a, b))
    out["psnr_db"] = None if out["identical"] else float(psnr(a, b, 255.0))
    out["swap_identical"] = bool(np.array_equal(
        a, np.load(CACHE / "image-swap.npy").astype(np.float64)))
    if "previous" in kinds:  # how far the new layout moves the int8 image
        c = np.load(CACHE / "image-previous.npy").astype(np.float64)
        out["previous_identical"] = bool(np.array_equal(a, c))
        out["previous_psnr_db"] = None if out["previous_identical"] else float(
            psnr(c, a, 255.0))
    return out


def first_touch(gib: float = 1.4) -> dict[str, float]:
    """Seconds to write ``gib`` of memory this process has never had, then the same size
    again after freeing it (in a fresh process): what a model's arena costs the first time
    it is touched on this machine, apart from any arithmetic."""
    code = ("import json, time, numpy as np\n"
            f"n = int({gib} * 2**30 // 8)\n"
            "t = time.perf_counter(); a = np.ones(n); fresh = time.perf_counter() - t\n"
            "del a\n"
            "t = time.perf_counter(); a = np.ones(n); again = time.perf_counter() - t\n"
            "print(json.dumps({'gib': " + str(gib) + ", 'fresh_s': fresh, 'again_s': again}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out: dict[str, float] = json.loads(r.stdout)
    return out


# -- attention, one block ----------------------------------------------------------------------

def attention_levers(threads: int, repeats: int) -> dict[str, Any]:
    """The UNet's largest self-attention alone (4,096 tokens, 320 channels, 8 heads: q/k/v/out
    projections, softmax(QK^T)V), arranged the ways LiteRT could be given it, converted by
    TensorFlow, timed interleaved; error against the per-head arrangement at fp32.

    per head with all queries at once (the converter's arrangement before layout 3), all
    heads in one batched product, per head with the queries in chunks (layout 3: score
    matrices that stay in cache), each at fp32 and int8 dynamic range; and today's
    arrangement with XNNPACK's force-fp16 flag, and with its Slinky flag (loop fusion
    across operators, which could keep a chunk's scores in cache from product to softmax
    to product).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tempfile

    import tensorflow as tf

    from parasight_desktop.engine.runner import (
        XNNPACK_FORCE_FP16,
        XNNPACK_SLINKY,
        CpuSettings,
        TFLiteModel,
    )

    n, c, h = 4096, 320, 8
    d = c // h
    rng = np.random.default_rng(0)
    w = {k: tf.constant(rng.standard_normal((c, c)).astype(np.float32) * 0.05) for k in "qkvo"}

    def proj(x: Any) -> tuple[Any, Any, Any]:
        return tf.matmul(x, w["q"]) * d ** -0.5, tf.matmul(x, w["k"]), tf.matmul(x, w["v"])

    def per_head(chunk: int) -> Any:
        def fn(x: Any) -> Any:
            q, k, v = proj(x)
            heads, prev = [], None
            for i in range(h):
                sl = slice(i * d, (i + 1) * d)
                kt, vh, parts = tf.transpose(k[:, :, sl], (0, 2, 1)), v[:, :, sl], []
                for j in range(0, n, chunk):
                    qh = q[:, j:j + chunk, sl]
                    if prev is not None:  # in order, as the converter's per-head trick does
                        qh = qh + prev[:, :1, :1] * 0.0
                    prev = tf.matmul(tf.nn.softmax(tf.matmul(qh, kt), -1), vh)
                    parts.append(prev)
                heads.append(tf.concat(parts, 1) if len(parts) > 1 else parts[0])
            return tf.matmul(tf.concat(heads, -1), w["o"])
        return fn

    def all_heads(x: Any) -> Any:
        q, k, v = proj(x)

        def split(t: Any) -> Any:
            return tf.transpose(tf.reshape(t, (-1, n, h, d)), (0, 2, 1, 3))

        s = tf.matmul(split(q), split(k), transpose_b=True)
        o = tf.matmul(tf.nn.softmax(s, -1), split(v))
        return tf.matmul(tf.reshape(tf.transpose(o, (0, 2, 1, 3)), (-1, n, c)), w["o"])

    class Block(tf.Module):
        def __init__(self, fn: Any) -> None:
            super().__init__()
            self.fn = fn

        @tf.function(input_signature=[tf.TensorSpec((1, n, c), tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:
            return {"y": self.fn(x)}

    tmp = Path(tempfile.mkdtemp(prefix="attn-", dir=CACHE))
    arrangements = {WHOLE: per_head(n), "all heads batched": all_heads, TODAY: per_head(512)}
    files: dict[str, Path] = {}
    for name, fn in arrangements.items():
        for precision in ("fp32", "int8"):
            mod = Block(fn)
            conv = tf.lite.TFLiteConverter.from_concrete_functions(
                [mod.__call__.get_concrete_function()], mod)
            if precision == "int8":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
            path = tmp / f"{len(files)}.tflite"
            path.write_bytes(conv.convert())
            files[f"{name}, {precision}"] = path
    models = {k: TFLiteModel(p, threads) for k, p in files.items()}
    for precision in ("fp32", "int8"):
        for label, flags in (("force-fp16", XNNPACK_FORCE_FP16), ("Slinky", XNNPACK_SLINKY)):
            models[f"{TODAY} + {label}, {precision}"] = TFLiteModel(
                files[f"{TODAY}, {precision}"], threads,
                CpuSettings(compiled=True, xnnpack_flags=flags))
    x = rng.standard_normal((1, n, c)).astype(np.float32)
    ref = models[f"{WHOLE}, fp32"](x=x)["y"]
    out: dict[str, Any] = {}
    for k, m in models.items():
        y = m(x=x)["y"]
        out[k] = {"error": float(np.abs(y - ref).max() / np.abs(ref).max()), "all_s": [],
                  "cpu_s": []}
    for _ in range(repeats):
        for k, m in models.items():
            t0, c0 = time.perf_counter(), time.process_time()
            m(x=x)
            out[k]["all_s"].append(time.perf_counter() - t0)
            out[k]["cpu_s"].append(time.process_time() - c0)
    for r in out.values():
        r["median_s"] = statistics.median(r["all_s"])
        r["median_cpu_s"] = statistics.median(r["cpu_s"])
    del models
    for p in files.values():
        p.unlink()
    tmp.rmdir()
    flops = 2 * (4 * n * c * c + 2 * h * n * n * d)
    return {"gflop": flops / 1e9, "rows": out}


# -- the driver --------------------------------------------------------------------------------

class Server:
    """One system in its own process, one JSON line per command."""

    def __init__(self, system: str, threads: int) -> None:
        self.system = system
        if system.startswith("app"):
            cmd = [sys.executable, __file__, "serve-app", "--system", system,
                   "--threads", str(threads)]
        else:
            cmd = [str(OV_PY), str(ROOT / "benchmarks" / "ov_engine.py"), "serve", str(OV_DIR),
                   "--variant", system.removeprefix("ov-"), "--threads", str(threads)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env)

    def __call__(self, cmd: str, **kw: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.system} stopped (exit {self.proc.wait()}) on {cmd}")
        r: dict[str, Any] = json.loads(line)
        if not r.get("ok"):
            raise RuntimeError(f"{self.system}: {cmd} failed: {r.get('error')}")
        return r

    def close(self) -> dict[str, Any]:
        r = self("quit")
        self.proc.wait(timeout=60)
        return r


def load_avg() -> float:
    return os.getloadavg()[0]


def phase(systems: list[str], threads: int, repeats: int, what: str,
          batch: int = 1) -> dict[str, Any]:
    """One fresh process per system (so each peak is this phase's own); calls interleaved."""
    key = f"{what}-b{batch}" if what == "unet" else what
    out: dict[str, Any] = {}
    servers = {s: Server(s, threads) for s in systems}
    try:
        loads = {s: srv("load", what=what, batch=batch) for s, srv in servers.items()}
        warm = {s: srv("run") for s, srv in servers.items()}
        times: dict[str, list[float]] = {s: [] for s in systems}
        last: dict[str, dict[str, Any]] = {}
        for _ in range(repeats):
            for s, srv in servers.items():
                last[s] = srv("run")
                times[s].append(last[s]["seconds"])
        for s, srv in servers.items():
            out[s] = {"median_s": statistics.median(times[s]), "all_s": times[s],
                      "warmup_s": warm[s]["seconds"], "load_s": loads[s]["load_s"],
                      "peak_gib": srv.close()["peak_gib"],
                      **{k: v for k, v in loads[s].items()
                         if k in ("runner", "precision", "threads", "file")},
                      **{k: last[s][k] for k in ("sum", "abs") if k in last[s]}}
    finally:
        for srv in servers.values():
            if srv.proc.poll() is None:
                srv.proc.kill()
    print(f"{key}: " + ", ".join(f"{s} {out[s]['median_s']:.2f} s" for s in systems)
          + f" (load {load_avg():.1f})", file=sys.stderr, flush=True)
    return {"key": key, "systems": out}


def reloads(systems: list[str], threads: int, repeats: int) -> dict[str, Any]:
    """The app's UNet loaded again as after a decode, per runner, the runners alternating:
    a first reload each (it fills the weight cache where there is one), then ``repeats``
    timed ones each; medians, wall and CPU time (CPU time is less moved by other work)."""
    servers = {s: Server(s, threads) for s in systems}
    got: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    try:
        for srv in servers.values():
            srv("reload")
        for _ in range(repeats):
            for s, srv in servers.items():
                got[s].append(srv("reload"))
        for srv in servers.values():
            srv.close()
    finally:
        for srv in servers.values():
            if srv.proc.poll() is None:
                srv.proc.kill()
    return {s: {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "ok"}
            for s, rs in got.items()}


def layouts() -> dict[str, int]:
    """The converter layout of the app's model and of the previous one (1 where the
    manifest predates the record)."""
    out = {}
    for key, folder in (("app", APP_MODEL), ("previous", PREVIOUS_MODEL)):
        path = folder / "manifest.json"
        if path.is_file():
            out[key] = int(json.loads(path.read_text()).get("extra", {}).get("layout", 1))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    systems = [s for s in args.systems.split(",")
               if s != "app-previous" or (PREVIOUS_MODEL / "manifest.json").is_file()]
    phases = args.phases.split(",")
    res: dict[str, Any] = {"cpu": cpu_info(), "threads": args.threads, "repeats": args.repeats,
                           "load_before": load_avg(), "systems": {s: {} for s in systems},
                           "layouts": layouts()}
    prep = OV_DIR / "prepare.json"
    res["ov_prepare"] = json.loads(prep.read_text()) if prep.is_file() else {}
    t0 = time.perf_counter()
    plan = ([("unet", 1), ("unet", 2)] if "unet" in phases else []) + (
        [("decoder", 1)] if "decoder" in phases else [])
    for what, batch in plan:
        # force-fp16 is a UNet lever (attention); the decoder is timed without it
        here = [s for s in systems if not (what == "decoder" and s == "app-fp16")]
        got = phase(here, args.threads, args.repeats, what, batch)
        for s, r in got["systems"].items():
            res["systems"][s][got["key"]] = r
    if "reload" in phases:
        for s, r in reloads([s for s in systems if s in ("app", "app-compiled")],
                            args.threads, args.repeats).items():
            res["systems"][s]["reload"] = r
    if "image" in phases:
        res["first_touch"] = first_touch()
        res["images"] = images(args.threads, 2)
        print(f"images: {res['images']}", file=sys.stderr, flush=True)
    if "attention" in phases:
        res["attention"] = attention_levers(args.threads, max(args.repeats, 5))
    res["load_after"] = load_avg()
    res["seconds"] = time.perf_counter() - t0
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="command")
    sa = sub.add_parser("serve-app")
    sa.add_argument("--system", default="app")
    sa.add_argument("--threads", type=int, default=2)
    sa.add_argument("--model", type=Path, default=APP_MODEL)
    ic = sub.add_parser("image-child")
    ic.add_argument("--threads", type=int, default=2)
    ic.add_argument("--count", type=int, default=2)
    ic.add_argument("--reload-cache", action="store_true")
    ic.add_argument("--swap", action="store_true")
    ic.add_argument("--tag", default="shipped")
    ic.add_argument("--model", type=Path, default=APP_MODEL)
    ap.add_argument("--systems", default=DEFAULT_SYSTEMS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--phases", default="unet,decoder,reload,image,attention",
                    help="any of unet, decoder, reload (the app's UNet loaded again), image "
                         "(whole images at the defaults), attention (one block, the levers)")
    ap.add_argument("--hybrid-samples", type=int, default=4)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    if args.command == "serve-app":
        model = PREVIOUS_MODEL if args.system == "app-previous" else args.model
        return serve_app(model, args.system, args.threads)
    if args.command == "image-child":
        return image_child(args.model, args.threads, args.reload_cache, args.count, args.tag,
                           args.swap)
    if args.report_only:
        publish(json.loads(RESULTS.read_text()), args)
        return 0
    ensure_fixtures(args.hybrid_samples)
    if args.prepare_only:
        return 0
    res = run(args)
    r = subprocess.run([str(OV_PY), "-c", "import openvino; print(openvino.__version__)"],
                       capture_output=True, text=True, check=False)
    res["ov_version"] = r.stdout.strip()
    RESULTS.write_text(json.dumps(res, indent=1))
    publish(res, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
