"""What the remaining speed levers give at 512x512, and how far the hardware lets us go.

    .venv/bin/python benchmarks/bench_levers.py [--model PATH] [--repeats 5] [--no-write]

On the int8 Stable Diffusion folder that bench_speed measures (random full-size
weights, .cache/sd-bench/sd-random-int8), in one process on a quiet machine:

1. **Roofline.** The arithmetic of every converted part (multiply-adds of its
   CONV_2D, FULLY_CONNECTED and BATCH_MATMUL operators, read from the .tflite graph),
   its measured time, and the throughput that gives; next to the best throughput
   this machine's XNNPACK reaches on one large convolution (fp32 and int8 weights).
   Arithmetic / best throughput is a floor no arrangement of the same arithmetic beats.
2. **Token downsampling** (ToDo, Smith et al. 2024: keys and values of the full-size
   self-attentions average-pooled 2x2). The UNet parts holding those attentions are
   converted again with ``token_downsample=2`` (once, cached next to the model) and
   timed against the exact ones; one whole image compared with the exact image.
3. **Skipping the unconditional pass** in the last half of the steps
   (``cond_only_tail``): one whole image, time and difference from the exact image;
   and one image with both levers.
4. **Precision**: every part of the fp32 conversion of the same weights (the parity
   test's, if current) timed alongside the int8 one.

Image differences are PSNR against the exact image from the same seed (random
weights: a measure of how much the image moves, not of how good it looks).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_speed import (  # the speed issue's targets, in one place
    APP_DEFAULT_SECONDS,
    MATCHED_VS_DIFFUSERS,
    UNET_VS_KERAS_CV,
    _median_seconds,
)

CACHE = ROOT / ".cache"
PROMPT = "a tall shadow figure with glowing eyes on a city street at night"
SEED = 1234
RESULTS = CACHE / "bench-levers.json"
SPEED = CACHE / "bench-speed.json"  # bench_speed's last run: keras-cv and diffusers times


def graph_flops(path: Path) -> dict[str, float]:
    """Floating-point operations (2 per multiply-add) of the heavy operators, by type."""
    from ai_edge_litert.tools import flatbuffer_utils as fu

    model = fu.read_model(str(path))
    sg = model.subgraphs[0]

    def shape(i: int) -> list[int]:
        return [int(d) for d in sg.tensors[i].shape]

    out: dict[str, float] = {}
    for op in sg.operators:
        name = fu.opcode_to_name(model, op.opcodeIndex)
        o = float(np.prod(shape(op.outputs[0])))
        if name == "CONV_2D":
            w = shape(op.inputs[1])  # (out, kh, kw, in)
            f = 2 * o * w[1] * w[2] * w[3]
        elif name == "FULLY_CONNECTED":
            f = 2 * o * shape(op.inputs[1])[1]
        elif name == "BATCH_MATMUL":
            a = shape(op.inputs[0])
            adj = bool(getattr(op.builtinOptions, "adjX", False))
            f = 2 * o * (a[-2] if adj else a[-1])
        else:
            continue
        out[name] = out.get(name, 0.0) + f
    return out


def full_attention_parts(folder: Path, tokens: int) -> list[int]:
    """Indices of the UNet parts with a (tokens x tokens) attention score matrix."""
    from ai_edge_litert.tools import flatbuffer_utils as fu

    manifest = json.loads((folder / "manifest.json").read_text())
    found = []
    for k, part in enumerate(manifest["unet"]["parts"]):
        model = fu.read_model(str(folder / part["file"]))
        sg = model.subgraphs[0]
        for op in sg.operators:
            if (fu.opcode_to_name(model, op.opcodeIndex) == "SOFTMAX"
                    and list(sg.tensors[op.outputs[0]].shape[-2:]) == [tokens, tokens]):
                found.append(k)
                break
    return found


def make_todo_folder(exact: Path, out: Path, factor: int) -> dict[str, Any]:
    """A copy of ``exact`` (files hard-linked) whose full-size attention parts are
    converted again with token downsampling; returns the conversion reports."""
    from benchmarks.sd_fixture import make_random_sd_weights
    from parasight_desktop.engine.fileio import sha256_file
    from parasight_desktop.engine.sd_convert import DEFAULT_MAX_PARAMS, _run_job

    manifest = json.loads((exact / "manifest.json").read_text())
    done_file = out / "todo.json"
    if done_file.is_file():
        return json.loads(done_file.read_text())
    h, w = manifest["image"]["height"], manifest["image"]["width"]
    parts = full_attention_parts(exact, (h // 8) * (w // 8))
    weights = make_random_sd_weights(CACHE / "sd-parity" / "weights", seed=0)
    stage = Path(tempfile.mkdtemp(prefix="todo-", dir=CACHE))
    for f in exact.iterdir():
        os.link(f, stage / f.name)
    reports = {}
    for k in parts:
        name = f"unet_{k}.tflite"
        (stage / name).unlink()
        job = {"job": f"unet-{k}", "sources": {r: str(p) for r, p in weights.items()},
               "height": h, "width": w, "precision": manifest["extra"]["precision"],
               "out_dir": str(stage), "work_dir": str(stage), "batch": 1,
               "max_params": DEFAULT_MAX_PARAMS, "lean_attention": True,
               "token_downsample": factor}
        t0 = time.perf_counter()
        r = _run_job(job, stage, None, stage / "convert.log")
        print(f"unet-{k} with token downsampling {factor}: {time.perf_counter() - t0:.0f} s, "
              f"PSNR against Keras with the same downsampling {r.psnr_db:.1f} dB",
              file=sys.stderr, flush=True)
        reports[name] = {"psnr_db": r.psnr_db, "seconds": r.seconds}
        manifest["files"][name] = {"size": (stage / name).stat().st_size,
                                   "sha256": sha256_file(stage / name)}
    for leftover in [*stage.glob("unet-*.json"), stage / "convert.log"]:
        leftover.unlink(missing_ok=True)
    manifest["name"] = out.name
    manifest["display_name"] += f" (token downsampling {factor})"
    manifest["extra"]["token_downsample"] = factor
    (stage / "manifest.json").unlink()
    (stage / "manifest.json").write_text(json.dumps(manifest, indent=1))
    info = {"factor": factor, "parts": parts, "reports": reports, "probe": "same-downsampling"}
    (stage / "todo.json").write_text(json.dumps(info, indent=1))
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
    return info


def time_alternately(files: list[Path], repeats: int, threads: int) -> list[float]:
    """Median seconds of one call of each model file on the same random inputs, the
    files called in turn (a, b, a, b...) so machine noise falls on both alike."""
    from parasight_desktop.engine.runner import TFLiteModel

    models = [TFLiteModel(f, threads=threads) for f in files]
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(models[0].input_shape(n)).astype(np.float32)
             for n in models[0].inputs}
    times: list[list[float]] = [[] for _ in models]
    for m in models:
        m(**feeds)  # warm-up: the interpreter's first call allocates
    for _ in range(repeats):
        for m, ts in zip(models, times):
            t0 = time.perf_counter()
            m(**feeds)
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def conv_peak(repeats: int) -> dict[str, float]:
    """GFLOP/s of one 3x3, 320-channel convolution at 64x64 (SD's commonest), converted
    by TensorFlow and run by LiteRT (XNNPACK), fp32 and int8 dynamic-range weights."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    w = tf.constant(np.random.default_rng(0).standard_normal((3, 3, 320, 320)).astype(np.float32)
                    * 0.05)
    fn = tf.function(lambda x: tf.nn.conv2d(x, w, 1, "SAME")).get_concrete_function(
        tf.TensorSpec((1, 64, 64, 320)))
    flops = 2 * 64 * 64 * 320 * 320 * 9
    out = {}
    for precision in ("fp32", "int8"):
        conv = tf.lite.TFLiteConverter.from_concrete_functions([fn])
        if precision == "int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        it = Interpreter(model_content=conv.convert(), num_threads=os.cpu_count())
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"],
                      np.random.default_rng(1).standard_normal((1, 64, 64, 320)).astype(np.float32))
        out[precision] = flops / _median_seconds(max(repeats, 5) * 2, it.invoke) / 1e9
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--model", type=Path, default=CACHE / "sd-bench" / "sd-random-int8")
    ap.add_argument("--fp32-model", type=Path,
                    default=CACHE / "sd-parity" / "sd-v1.4-random-fp32",
                    help="the same weights at fp32 (the parity test's), timed alongside")
    ap.add_argument("--factor", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--convert-only", action="store_true",
                    help="only make the token-downsampled copy (no timing)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help=f"only write the report again from {RESULTS.name}")
    args = ap.parse_args()
    if args.report_only:
        publish(json.loads(RESULTS.read_text()), args)
        return
    exact = args.model.resolve()
    if not (exact / "manifest.json").is_file():
        raise SystemExit(f"{exact} is not a converted model folder: make it with "
                         "`.venv/bin/python benchmarks/bench_sd.py --precisions int8`.")
    todo_dir = exact.with_name(f"{exact.name}-todo{args.factor}")
    todo = make_todo_folder(exact, todo_dir, args.factor)
    if args.convert_only:
        return
    from parasight_desktop.engine.sd_convert import is_current_conversion

    fp32 = args.fp32_model.resolve() if is_current_conversion(args.fp32_model, "fp32") else None
    if fp32 is None:
        print(f"{args.fp32_model} is not a current fp32 conversion: fp32 not timed "
              "(the parity test makes it)", file=sys.stderr)

    from parasight_desktop.engine.converter import psnr as converter_psnr
    from parasight_desktop.engine.pipeline import Engine
    from parasight_desktop.engine.store import ModelStore
    from parasight_desktop.engine.types import GenerationRequest

    threads = os.cpu_count() or 1
    peak = conv_peak(args.repeats)
    print(f"conv peak: {peak}", file=sys.stderr, flush=True)

    # 1. Roofline, part by part (exact and token-downsampled parts timed alternately).
    manifest = json.loads((exact / "manifest.json").read_text())
    rows = []
    for part in [p["file"] for p in manifest["unet"]["parts"]] + ["decoder.tflite"]:
        files = {"seconds": exact / part}
        if part in todo["reports"]:
            files["todo_seconds"] = todo_dir / part
        if fp32 is not None:
            files["fp32_seconds"] = fp32 / part
        times = dict(zip(files, time_alternately(
            list(files.values()), args.repeats if part != "decoder.tflite" else 2, threads)))
        f = graph_flops(exact / part)
        row = {"part": part, "gflop": sum(f.values()) / 1e9,
               "attention_gflop": f.get("BATCH_MATMUL", 0.0) / 1e9, **times}
        if "todo_seconds" in times:
            row["todo_gflop"] = sum(graph_flops(todo_dir / part).values()) / 1e9
        rows.append(row)
        print(row, file=sys.stderr, flush=True)

    # 2-3. Whole images at the model's defaults: exact, token-downsampled, cond-only tail.
    eng = Engine(ModelStore([exact.parent]), threads=threads)

    def image(model: str, tail: float = 0.0) -> tuple[np.ndarray, float, int]:
        pipe = eng.pipeline(model)
        pipe.cond_only_tail = tail
        t0 = time.perf_counter()
        r = eng.generate(GenerationRequest(PROMPT, seed=SEED, model=model))
        pipe.cond_only_tail = 0.0
        return np.asarray(r.image, np.float64), time.perf_counter() - t0, r.settings.steps

    eng.generate(GenerationRequest(PROMPT, seed=SEED, model=exact.name, steps=1))  # warm-up
    ref, ref_s, steps = image(exact.name)
    tail_img, tail_s, _ = image(exact.name, 0.5)
    eng.generate(GenerationRequest(PROMPT, seed=SEED, model=todo_dir.name, steps=1))
    todo_img, todo_s, _ = image(todo_dir.name)
    both_img, both_s, _ = image(todo_dir.name, 0.5)

    def psnr(a: np.ndarray) -> float:
        return converter_psnr(ref, a, 255.0)

    results = {"rows": rows, "peak": peak, "todo": todo, "images": {
        "steps": steps, "exact_s": ref_s, "tail_s": tail_s, "tail_psnr": psnr(tail_img),
        "todo_s": todo_s, "todo_psnr": psnr(todo_img), "both_s": both_s,
        "both_psnr": psnr(both_img)}}
    RESULTS.write_text(json.dumps(results, indent=1))
    publish(results, args)


def publish(results: dict[str, Any], args: argparse.Namespace) -> None:
    from benchmarks._report import write_section

    body = report(results)
    print(body)
    if not args.no_write:
        write_section("levers", "Speed levers and the hardware floor (512x512, int8)",
                      " ".join([".venv/bin/python benchmarks/bench_levers.py",
                                *(a for a in sys.argv[1:] if a != "--report-only")]),
                      body)


def report(results: dict[str, Any]) -> str:
    rows, peak, todo, im = results["rows"], results["peak"], results["todo"], results["images"]
    steps, ref_s = im.get("steps", 12), im["exact_s"]
    tail, todo_img, both = ((im["tail_s"], im["tail_psnr"]), (im["todo_s"], im["todo_psnr"]),
                            (im["both_s"], im["both_psnr"]))
    best = max(peak.values())
    unet = [r for r in rows if r["part"].startswith("unet")]
    dec = next(r for r in rows if r["part"] == "decoder.tflite")
    g = sum(r["gflop"] for r in unet)
    s = sum(r["seconds"] for r in unet)
    gt = sum(r.get("todo_gflop", r["gflop"]) for r in unet)
    st = sum(r.get("todo_seconds", r["seconds"]) for r in unet)
    attn = sum(r["attention_gflop"] for r in unet)
    probes = ", ".join(f"{k} {v.get('psnr_db', v.get('psnr_vs_exact_keras_db')):.1f} dB"
                       for k, v in todo["reports"].items())
    against = ("Keras with the same downsampling (the conversion's own check)"
               if todo.get("probe") == "same-downsampling" else
               "KerasCV's exact arithmetic (these parts were converted when the check "
               "compared with the exact model)")
    parts = ", ".join(f"unet_{k}" for k in todo["parts"])

    def fp32_cell(r: dict[str, Any]) -> str:
        return f"{r['fp32_seconds']:.2f}" if "fp32_seconds" in r else "not timed"

    timed32 = all("fp32_seconds" in r for r in rows)
    fp32_total = f"{sum(r['fp32_seconds'] for r in unet):.2f}" if timed32 else "not timed"
    lines = [
        (f"Best XNNPACK throughput measured here (one 3x3 320-channel convolution at 64x64): "
         f"fp32 {peak['fp32']:.0f} GFLOP/s, int8 dynamic-range {peak['int8']:.0f} GFLOP/s."),
        "",
        ("| part | GFLOP | of which attention | int8 seconds | GFLOP/s | floor at best rate "
         "| token downsampling: GFLOP / seconds | fp32 seconds |"),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        td = (f"{r['todo_gflop']:.0f} / {r['todo_seconds']:.2f} s" if "todo_seconds" in r
              else "same part")
        lines.append(f"| {r['part']} | {r['gflop']:.0f} | {r['attention_gflop']:.0f} | "
                     f"{r['seconds']:.2f} | {r['gflop'] / r['seconds']:.0f} | "
                     f"{r['gflop'] / best:.2f} s | {td} | {fp32_cell(r)} |")
    lines += [
        (f"| **UNet, one evaluation** | **{g:.0f}** | {attn:.0f} | **{s:.2f}** | {g / s:.0f} "
         f"| **{g / best:.2f} s** | {gt:.0f} / {st:.2f} s | {fp32_total} |"),
        "",
        (f"- The UNet runs at {g / s / best:.0%} of the best rate measured here, the decoder at "
         f"{dec['gflop'] / dec['seconds'] / best:.0%}. Whatever the arrangement, the same "
         f"arithmetic cannot take less than {g / best:.2f} s a UNet evaluation on this machine, "
         f"nor {dec['gflop'] / best:.1f} s a decode."),
        (f"- Token downsampling {todo['factor']}x{todo['factor']} (parts {parts} converted "
         f"again): one UNet evaluation {st:.2f} s against {s:.2f} s ({st / s:.2f}x); probe "
         f"PSNR of those parts against {against}: {probes}. Random weights attend almost "
         f"uniformly, so the image change below understates what pooling does to real "
         f"weights' sharper attention."),
        (f"- Whole image at the defaults ({steps} steps): exact {ref_s:.1f} s; token "
         f"downsampling {todo_img[0]:.1f} s ({todo_img[0] / ref_s:.2f}x, image PSNR against the "
         f"exact image {todo_img[1]:.1f} dB); no unconditional pass in the last half of the "
         f"steps {tail[0]:.1f} s ({tail[0] / ref_s:.2f}x, image PSNR {tail[1]:.1f} dB); "
         f"both {both[0]:.1f} s ({both[0] / ref_s:.2f}x, image PSNR {both[1]:.1f} dB)."),
    ]
    lines += floor_against_targets(g / best, dec["gflop"] / best, steps)
    if timed32:
        f32 = sum(r["fp32_seconds"] for r in unet)
        lines.append(
            f"- Precision: the fp32 conversion of the same weights takes {f32:.2f} s a UNet "
            f"evaluation ({f32 / s:.2f}x int8) and {dec['fp32_seconds']:.1f} s a decode "
            f"({dec['fp32_seconds'] / dec['seconds']:.2f}x).")
    return "\n".join(lines)


def floor_against_targets(unet_floor: float, decoder_floor: float, steps: int) -> list[str]:
    """The speed issue's targets against the floor, with keras-cv's and diffusers' times
    from bench_speed's last run (a different run: stated as such)."""
    try:
        speed = json.loads(SPEED.read_text())["results"]
        kcv, dif = speed["keras-cv"], speed["diffusers"]
        matched_steps = int(speed["app"]["matched"]["steps"])
    except (OSError, ValueError, KeyError):
        return [f"- (No {SPEED.name}: run bench_speed.py to compare the floor with the targets.)"]
    best_default = 2 * steps * unet_floor + decoder_floor
    best_matched = 2 * matched_steps * unet_floor + decoder_floor
    return [
        "",
        (f"The speed issue's targets against this floor (keras-cv and diffusers times from "
         f"bench_speed's last run, {SPEED.name}; the floor assumes every operator at the best "
         f"rate above and nothing else costing time):"),
        "",
        (f"- one UNet evaluation: floor {unet_floor:.2f} s against keras-cv's "
         f"{kcv['unet_eval']['1']:.2f} s = {unet_floor / kcv['unet_eval']['1']:.2f} "
         f"(target {UNET_VS_KERAS_CV:.2f})"),
        (f"- matched ({matched_steps} steps, two passes each, one decode): floor "
         f"{best_matched:.0f} s against diffusers' {dif['matched']['total']:.0f} s = "
         f"{best_matched / dif['matched']['total']:.2f} (target {MATCHED_VS_DIFFUSERS:.2f})"),
        (f"- defaults ({steps} steps, two passes each, one decode): floor {best_default:.0f} s "
         f"(target {APP_DEFAULT_SECONDS:.0f} s); the decode alone is {decoder_floor:.0f} s, "
         f"which leaves room for {max(0.0, (APP_DEFAULT_SECONDS - decoder_floor) / unet_floor):.1f}"
         f" UNet evaluations in {APP_DEFAULT_SECONDS:.0f} s."),
    ]


if __name__ == "__main__":
    main()
