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

CACHE = ROOT / ".cache" / "engine-bench"
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


def peak_gib() -> float:
    from parasight_desktop.engine.memory import peak_rss_bytes

    return peak_rss_bytes() / 2**30


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
        env = {"latent": latent, "timestep_embedding": temb, "context": ctx}
        for spec, model in zip(m.unet_parts, parts):
            env.update(model(**{name: env[name] for name in spec.inputs}))
        return env[m.unet_output]

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
                   "abs": float(np.sum(np.abs(y), dtype=np.float64)), "peak_gib": peak_gib()})
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
                   "peak_gib": peak_gib()})
        elif cmd == "quit":
            reply({"ok": True, "peak_gib": peak_gib()})
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
                      "peak_gib": peak_gib()}))
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

#: The attention arrangements: the converter's before layout 3, and today's.
WHOLE = "per head, all queries (layout 2)"
TODAY = "per head, 512-query chunks (layout 3, today)"


def attention_levers(threads: int, repeats: int) -> dict[str, Any]:
    """The UNet's largest self-attention alone (4,096 tokens, 320 channels, 8 heads: q/k/v/out
    projections, softmax(QK^T)V), arranged the ways LiteRT could be given it, converted by
    TensorFlow, timed interleaved; error against the per-head arrangement at fp32.

    per head with all queries at once (the converter's arrangement before layout 3), all
    heads in one batched product, per head with the queries in chunks (layout 3: score
    matrices that stay in cache), each at fp32 and int8 dynamic range; and today's
    arrangement with XNNPACK's force-fp16 flag.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tempfile

    import tensorflow as tf

    from parasight_desktop.engine.runner import XNNPACK_FORCE_FP16, CpuSettings, TFLiteModel

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
        models[f"{TODAY} + force-fp16, {precision}"] = TFLiteModel(
            files[f"{TODAY}, {precision}"], threads,
            CpuSettings(compiled=True, xnnpack_flags=XNNPACK_FORCE_FP16))
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


# -- the report --------------------------------------------------------------------------------

LABELS = {
    "app": "ParaSight, LiteRT Interpreter, int8 dynamic range (as shipped on AVX-512 CPUs)",
    "app-previous": ("ParaSight, the same weights converted at the previous layout, "
                     "Interpreter, int8 dynamic range"),
    "app-compiled": ("ParaSight, LiteRT CompiledModel + weight cache, int8 dynamic range (as "
                     "shipped elsewhere)"),
    "app-fp16": "ParaSight, LiteRT CompiledModel + XNNPACK force-fp16, int8 dynamic range",
    "ov-default": "OpenVINO, its default precision",
    "ov-f32": "OpenVINO, f32 asked for",
    "ov-int8-weights": "OpenVINO, int8 weights (NNCF compress_weights)",
    "ov-int8-hybrid": "OpenVINO, int8 hybrid (NNCF: int8 weights, int8 convolutions)",
}


def report(res: dict[str, Any]) -> str:
    cpu, sysd = res["cpu"], res["systems"]
    ov_version = res.get("ov_version", "?")
    lines = [
        (f"CPU: **{cpu['model']}**, {cpu['cores']} cores; has {', '.join(cpu['flags'])}; "
         f"lacks {', '.join(cpu['missing'])}. {res['threads']} threads for every system "
         f"(OpenVINO: `INFERENCE_NUM_THREADS`, one stream, latency hint). Medians of "
         f"{res['repeats']} calls after one warm-up, the systems' calls interleaved. Load "
         f"average {res['load_before']:.1f} before, {res['load_after']:.1f} after (the "
         f"benchmark's own {res['threads']} threads count in the second)"
         + (" (the cores were shared with other work: absolute times are high, the "
            "interleaved ratios are what to read)" if res['load_before'] > 1.0 else "")
         + "."),
        "",
        ("Weights: one source for both sides, the seeded random full-size SD 1.5 checkpoint "
         "(benchmarks/import_reference.py make-models, seed 0; speed does not depend on the "
         "values), imported by the app's own importer at int8 (its default); OpenVINO converts "
         "the same weights' diffusers folder (`openvino.convert_model`), then NNCF quantizes "
         "it (both int8 rows decode with the weight-only int8 decoder: no hybrid decoder was "
         "made; OpenVINO's peak includes reading its IR, the fp32 weights mapped). Inputs: a 64x64x4 latent and a 77-token context (random). The app's UNet is "
         "converted for batch 1 and runs a batch of 2 as two passes, as its pipeline does. "
         "With the cores shared, one call's time depends on what else ran during it (the "
         "app's batch 2 here is not twice its batch 1): read the rows against each other."),
        "",
        ("| engine, precision | UNet batch 1 | UNet batch 2 | VAE decode 512x512 | peak memory: "
         "UNet batch 1 / batch 2 / decoder (each its own process) |"),
        "|---|---|---|---|---|",
    ]

    def cell(s: str, key: str) -> str:
        r = sysd[s].get(key)
        return f"{r['median_s']:.2f} s" if r else "—"

    for s, r in sysd.items():
        label = LABELS.get(s, s)
        if s.startswith("ov-"):
            prec = r.get("unet-b1", {}).get("precision", "?")
            label += f" (`INFERENCE_PRECISION_HINT` {prec})"
        peaks = " / ".join(f"{r[k]['peak_gib']:.2f}" if k in r else "—"
                           for k in ("unet-b1", "unet-b2", "decoder"))
        lines.append(f"| {label} | {cell(s, 'unet-b1')} | {cell(s, 'unet-b2')} | "
                     f"{cell(s, 'decoder')} | {peaks} GiB |")
    lines.append("")
    if "app" in sysd and any(s.startswith("ov-") for s in sysd):
        lines.append("App (Interpreter) / OpenVINO, same run (the CompiledModel row runs the "
                     "same kernels):")
        lines.append("")
        lines.append("| against | UNet batch 1 | UNet batch 2 | VAE decode |")
        lines.append("|---|---|---|---|")
        for s in sysd:
            if not s.startswith("ov-"):
                continue
            ratios = []
            for key in ("unet-b1", "unet-b2", "decoder"):
                a, b = sysd["app"].get(key), sysd[s].get(key)
                ratios.append(f"{a['median_s'] / b['median_s']:.2f}" if a and b else "—")
            lines.append(f"| {s} | " + " | ".join(ratios) + " |")
        lines.append("")
    reloads = {s: r["reload"] for s, r in sysd.items() if "reload" in r}
    if reloads:
        lines.append("The UNet loaded again as after a decode (load, then its first call; a "
                     "steady call for comparison):")
        lines.append("")
        lines.append("| runner | load | first call | steady call | CPU time: load + first call "
                     "/ steady call |")
        lines.append("|---|---|---|---|---|")
        for s, r in reloads.items():
            lines.append(f"| {LABELS.get(s, s)} | {r['load_s']:.2f} s | {r['first_s']:.2f} s | "
                         f"{r['second_s']:.2f} s | {r.get('load_first_cpu_s', 0):.2f} s / "
                         f"{r.get('second_cpu_s', 0):.2f} s |")
        lines.append("")
    app_sums = {s: sysd[s]["unet-b1"].get("sum") for s in sysd  # same model, other runners
                if s.startswith("app") and s != "app-previous" and "unet-b1" in sysd[s]}
    if len(app_sums) > 1 and "app" in app_sums:
        same = ", ".join(f"{s}: {'identical' if v == app_sums['app'] else 'differs'}"
                         for s, v in app_sums.items() if s != "app")
        lines.append(f"UNet output against the shipped runner (same inputs): {same}.")
    im = res.get("images")
    if im:
        sh, ca = im["shipped"], im["cache"]
        same = ("identical images" if im["identical"]
                else f"image PSNR between them {im['psnr_db']:.1f} dB")
        lines += ["", (f"One 512x512 image at the model's defaults ({sh['sampler']}, {sh['steps']} "
                       f"steps, guidance {sh['guidance']:g}), app's Engine in a fresh process, "
                       f"median of {len(sh['totals'])} fresh processes, the runs alternating, "
                       f"each timing one image after a short warm-up image (where the pipeline "
                       f"lets the UNet go before each decode, the timed image loads it again "
                       f"after the warm-up's decode):"), "",
                  ("| runner for the UNet and decoder | seconds per image | UNet per step | "
                  "decode | peak memory |"), "|---|---|---|---|---|"]
        rows = [("Interpreter, as shipped (UNet and decoder both kept loaded)", sh)]
        if "swap" in im:
            rows.append(("Interpreter, the UNet let go before each decode", im["swap"]))
        rows.append((("CompiledModel + XNNPACK weight cache, the UNet let go before each "
                     "decode"), ca))
        lay = res.get("layouts", {})
        if "previous" in im:
            rows.append(((f"Interpreter, the model converted at layout {lay['previous']} (as "
                         f"shipped for it: the UNet let go before each decode)"),
                         im["previous"]))
        for label, r in rows:
            t = r["timings"]
            lines.append(f"| {label} | {r['median_s']:.1f} s | {t['unet_per_step']:.2f} s | "
                         f"{t['decoder']:.2f} s | {r['peak_gib']:.2f} GiB |")
        ft = res.get("first_touch")
        if ft:
            steady = sysd.get("app", {}).get("decoder")
            lines += ["", (
                f"Memory touched for the first time is slow on this machine (a virtual machine "
                f"whose host backs guest memory on first use): writing {ft['gib']:g} GiB that "
                f"the process never had took {ft['fresh_s']:.2f} s, the same size again after "
                f"freeing it {ft['again_s']:.2f} s (benchmarks/bench_engine.py first_touch; "
                f"memory given back is returned to the host within seconds). Where the UNet "
                f"is let go before each decode, the decoder's arena (about a GiB) is new "
                f"memory at every image: that, not arithmetic, is the gap between the decode "
                f"in such an image"
                + (f" ({im['swap']['timings']['decoder']:.2f} s)" if "swap" in im else "")
                + " and a steady decode call"
                + (f" ({steady['median_s']:.2f} s)" if steady else "")
                + f"; kept loaded, the decode in an image takes {sh['timings']['decoder']:.2f} s.")]
        lines += ["", f"The two runners give {same}"
                  + (f"; keeping both stages loaded gives "
                     f"{'the same image' if im['swap_identical'] else 'a different image'}"
                     if "swap_identical" in im else "") + "."
                  + (f" Layout {lay.get('app')} against layout {lay.get('previous')} (same "
                     f"weights, both int8): "
                     + ("identical images." if im["previous_identical"] else
                        f"image PSNR {im['previous_psnr_db']:.1f} dB (int8's rounding of "
                        f"activations differs with the arrangement).")
                     if "previous" in im and "previous_identical" in im else ""),
                  ""]
    att = res.get("attention")
    if att:
        lines += ["", (f"Attention levers on one block alone (the UNet's largest self-attention: "
                       f"4,096 tokens, 320 channels, 8 heads, {att['gflop']:.0f} GFLOP; the app's "
                       f"runner, {res['threads']} threads; error against the per-head arrangement "
                       f"at fp32; CPU = both threads' time):"), "",
                  "| arrangement, precision | time | CPU time | GFLOP/s | max rel. error |",
                  "|---|---|---|---|---|"]
        for k, r in att["rows"].items():
            lines.append(f"| {k} | {r['median_s'] * 1e3:.0f} ms | {r['median_cpu_s'] * 1e3:.0f} "
                         f"ms | {att['gflop'] / r['median_s']:.0f} | {r['error']:.1e} |")
        lines.append("")
    lines += levers_text(res)
    lines += targets_text(res)
    prep = res.get("ov_prepare", {})
    if prep:
        bits = [f"{k} {v['seconds']:.0f} s, peak {v['peak_gib']:.1f} GiB"
                for k, v in prep.items()]
        lines.append("")
        lines.append(f"OpenVINO {ov_version} preparation (once, each stage its own process): "
                     + "; ".join(bits) + ".")
    return "\n".join(lines)


def targets_text(res: dict[str, Any]) -> list[str]:
    """Issue 18's "How we will know", against this run."""
    sysd = res["systems"]
    app = sysd.get("app") or {}
    out = ["", ("Issue 18's targets in this run (app = the engine as it ships on this CPU: the "
           "Interpreter):"), ""]

    def check(key: str, against: str, what: str) -> None:
        a, b = app.get(key), sysd.get(against, {}).get(key)
        if a and b:
            r = a["median_s"] / b["median_s"]
            out.append(f"- {what} against {against}: {r:.2f} (target at most 1.00) "
                       f"{'PASS' if r <= 1.0 else 'FAIL'}")

    for against in ("ov-default", "ov-int8-hybrid", "ov-int8-weights"):
        for key, what in (("unet-b1", "UNet batch 1"), ("unet-b2", "UNet batch 2"),
                          ("decoder", "VAE decode")):
            check(key, against, what)
    im = res.get("images")
    if im:
        c = im["shipped"]
        out.append(f"- one image at the defaults: {c['median_s']:.1f} s (target at most 20 s) "
                   f"{'PASS' if c['median_s'] <= 20 else 'FAIL'}; peak {c['peak_gib']:.2f} GiB "
                   f"(target at most 3 GiB) {'PASS' if c['peak_gib'] <= 3 else 'FAIL'}")
        ov = sysd.get("ov-default", {})
        if "unet-b2" in ov and "decoder" in ov:
            est = c["steps"] * ov["unet-b2"]["median_s"] + ov["decoder"]["median_s"]
            out.append(f"- for scale, OpenVINO's default at the same settings from its calls "
                       f"above ({c['steps']} x UNet batch 2 + one decode, loading not counted): "
                       f"{est:.1f} s")
    out.append("- image PSNR against fp32 and the KerasCV parity: measured on the current "
               "layout's conversions (\"Stable Diffusion v1.4: conversion and 512x512 "
               "generation\", make bench-sd; tests/engine/test_sd_parity.py); the runners' "
               "choice leaves outputs bit-identical, and the layouts' images are compared "
               "above")
    return out


def levers_text(res: dict[str, Any]) -> list[str]:
    """What each lever gave in this run, and what was kept."""
    sysd, out = res["systems"], ["", "What each lever inside LiteRT gave here:", ""]

    def ratio(a: str, b: str, key: str) -> str:
        ra, rb = sysd.get(a, {}).get(key), sysd.get(b, {}).get(key)
        return f"{ra['median_s'] / rb['median_s']:.2f}x" if ra and rb else "not measured"

    rl = {s: sysd[s]["reload"] for s in ("app", "app-compiled") if "reload" in sysd.get(s, {})}
    if len(rl) == 2:
        extra = {s: r["load_s"] + r["first_s"] - r["second_s"] for s, r in rl.items()}
        cpu = {s: r.get("load_first_cpu_s", 0.0) - r.get("second_cpu_s", 0.0)
               for s, r in rl.items()}
        im = res.get("images")
        base = im.get("swap", im["shipped"]) if im else None
        image = (f" Whole images at the defaults, the UNet let go before each decode: "
                 f"{base['median_s']:.1f} s with the interpreter, {im['cache']['median_s']:.1f} s "
                 f"with the cache, peak {base['peak_gib']:.2f} and {im['cache']['peak_gib']:.2f} "
                 f"GiB, " + ("identical images." if im["identical"] else
                             f"image PSNR {im['psnr_db']:.1f} dB.") if im and base else "")
        out.append(
            f"- **Kept, per machine: XNNPACK's weight cache** (LiteRT CompiledModel, `CpuOptions."
            f"xnnpack_weight_cache_path`), for the UNet and the full decoder of a model too "
            f"large to keep both loaded, which the pipeline drops and loads again around every "
            f"decode: here reloading the UNet costs "
            f"{extra['app']:.1f} s ({cpu['app']:.1f} s of CPU) more than a steady call with the "
            f"interpreter, which packs its weights again, and {extra['app-compiled']:.1f} s "
            f"({cpu['app-compiled']:.1f} s of CPU) with the cache. Same kernels, same numbers "
            f"(outputs bit-identical).{image} On this AVX-512 CPU that is within the noise of "
            f"a whole image and not worth the cache's disk (about the size of the UNet and "
            f"decoder files, in the model's folder, `.xnnpack-cache/`), so the engine "
            f"(`runner.reload_settings`) uses it only on CPUs without AVX-512, where the reload "
            f"was measured at 5-15 s an image (AVX2 EPYC), and where the flags are unknown. "
            f"Never for fp32 models or read-only folders. Not measured on an AVX2 CPU in this "
            f"run.")
    lay = res.get("layouts", {})
    if "app-previous" in sysd and lay.get("app") == 3:
        out.append(
            f"- **Kept: layout 3** (the converter's arrangement: engine/lean_keras.py and "
            f"sd_convert._attention_per_head; checked against Keras at every conversion): "
            f"UNet batch 1 {ratio('app', 'app-previous', 'unet-b1')}, batch 2 "
            f"{ratio('app', 'app-previous', 'unet-b2')}, decode "
            f"{ratio('app', 'app-previous', 'decoder')} the time of the same weights at layout "
            f"{lay.get('previous')}. The 64x64 self-attentions take their queries 512 at a "
            f"time, so each score matrix (8 MB instead of 64 MB) stays in cache through its "
            f"softmax: the same products row by row. GroupNorm's group means and UpSampling2D's "
            f"repeated pixels are broadcast products with ones instead of TILE, which XNNPACK "
            f"does not take: the decoder was cut into 67 separately delegated pieces, each "
            f"UNet part into 11 to 49, by operators run on the interpreter's own one-thread "
            f"kernel; now the decoder is one piece.")
    im = res.get("images", {})
    if "swap" in im:
        sh, sw = im["shipped"], im["swap"]
        out.append(
            f"- **Kept: the UNet and decoder both loaded between images** where they fit "
            f"(memory.keep_stages_loaded: the files and the decoder's arena estimated within "
            f"2.5 GiB and half the memory available; layout 3 or later, whose one-piece "
            f"decoder needs about 0.4 GiB less): {sh['median_s']:.1f} s an image against "
            f"{sw['median_s']:.1f} s letting the UNet go before each decode "
            f"({sh['median_s'] / sw['median_s']:.2f}x), peak {sh['peak_gib']:.2f} against "
            f"{sw['peak_gib']:.2f} GiB, "
            + ("the same image." if im.get("swap_identical") else "a different image!"))
    out.append(
        "- Kept earlier: layout 2 (GroupNorm statistics as 4-D spatial means, XNNPACK's "
        "global average pool, instead of Keras's five-axis reduction on LiteRT's one-thread "
        "reference MEAN; the VAE attention without its transposed 4096x4096 scores): decode "
        "0.57x, UNet 0.96-0.99x the time of layout 1 (2026-12-03 04:21 UTC, this AMD EPYC, "
        "the same command).")
    c1, cd = ratio("app-compiled", "app", "unet-b1"), ratio("app-compiled", "app", "decoder")
    out.append(f"- CompiledModel alone (no cache): UNet batch 1 {c1} the interpreter's time, "
               f"decode {cd}: the same XNNPACK kernels; it matters only for the options it "
               f"takes.")
    att = res.get("attention", {}).get("rows", {})
    t = att.get(f"{TODAY}, fp32")
    f16 = att.get(f"{TODAY} + force-fp16, fp32")
    if t and f16:
        out.append(
            f"- Force-fp16 (`xnnpack_flags=4`): this CPU has no AVX512-FP16, so XNNPACK "
            f"emulates fp16 (F16C conversions around fp32 arithmetic): the attention block "
            f"{f16['median_s'] * 1e3:.0f} ms against {t['median_s'] * 1e3:.0f} ms (CPU time "
            f"{f16['median_cpu_s'] * 1e3:.0f} against {t['median_cpu_s'] * 1e3:.0f} ms); the whole "
            f"UNet at batch 1 {ratio('app-fp16', 'app', 'unet-b1')}. Not kept (it pays on the "
            f"Intel Xeon with AVX512-FP16: notes/engine-speed.md; not measurable here).")
    if t:
        alts = [f"{k} {r['median_s'] * 1e3:.0f} ms" for k, r in att.items()
                if "force" not in k and k != f"{TODAY}, fp32"]
        out.append(
            f"- Attention rearranged ({'; '.join(alts)}; today's arrangement at fp32 "
            f"{t['median_s'] * 1e3:.0f} ms): the products of two activations stay fp32 whatever "
            f"the arrangement (int8 dynamic range quantizes only weights' products), at "
            f"{res['attention']['gflop'] / t['median_s']:.0f} GFLOP/s; query chunks are kept "
            f"(layout 3), batching all heads is slower. LiteRT reaches no bf16 kernel (XNNPACK's delegate has no "
            f"bf16 tensors), which is what OpenVINO uses on this CPU (`INFERENCE_PRECISION_HINT` "
            f"bf16 on AVX512_BF16).")
    out.append("- `CpuOptions(enable_ynnpack=True)`: this LiteRT (2.3.0) fails to compile the "
               "models with it (RuntimeError), as on the Xeon.")
    return out


def publish(res: dict[str, Any], args: argparse.Namespace) -> None:
    from benchmarks._report import write_section

    body = report(res)
    print(body)
    (CACHE / "bench-engine.md").write_text(body + "\n")
    if not args.no_write:
        write_section("engine", "Engine speed against OpenVINO",
                      "make bench-engine  # bash benchmarks/ov_env.sh && .venv/bin/python "
                      "benchmarks/bench_engine.py " + " ".join(
                          a for a in sys.argv[1:] if a != "--report-only"), body)


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
