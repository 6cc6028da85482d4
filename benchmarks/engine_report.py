"""The report of benchmarks/bench_engine.py: its results (.cache/engine-bench/bench-engine.json)
as the "Engine speed against OpenVINO" section of docs/BENCHMARKS.md, with issue 18's
targets and what each lever inside LiteRT gave.

    .venv/bin/python benchmarks/bench_engine.py --report-only [--no-write]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

#: bench_engine's working folder: its results, and this report as Markdown.
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "engine-bench"

#: The attention arrangements: the converter's before layout 3, and today's.
WHOLE = "per head, all queries (layout 2)"
TODAY = "per head, 512-query chunks (layout 3, today)"


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
               "generation\", make bench-sd; and make parity-sd, in \"Imported checkpoints "
               "against diffusers\"); the runners' "
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
    sl, sl8 = att.get(f"{TODAY} + Slinky, fp32"), att.get(f"{TODAY} + Slinky, int8")
    t8 = att.get(f"{TODAY}, int8")
    if t and sl and sl8 and t8:
        out.append(
            f"- XNNPACK's Slinky flag (`xnnpack_flags=0x100`: loop fusion across operators, "
            f"which could keep a chunk's scores in cache from product to softmax to product): "
            f"the attention block {sl['median_s'] * 1e3:.0f} ms against "
            f"{t['median_s'] * 1e3:.0f} ms at fp32 (max rel. error {sl['error']:.1e}), "
            f"{sl8['median_s'] * 1e3:.0f} against {t8['median_s'] * 1e3:.0f} ms at int8. "
            f"{'Not kept.' if sl['median_s'] > 0.95 * t['median_s'] else 'Worth a whole-UNet run.'}")
    if t:
        alts = [f"{k} {r['median_s'] * 1e3:.0f} ms" for k, r in att.items()
                if " + " not in k and k != f"{TODAY}, fp32"]
        out.append(
            f"- Attention rearranged ({'; '.join(alts)}; today's arrangement at fp32 "
            f"{t['median_s'] * 1e3:.0f} ms): the products of two activations stay fp32 whatever "
            f"the arrangement (int8 dynamic range quantizes only weights' products), at "
            f"{res['attention']['gflop'] / t['median_s']:.0f} GFLOP/s. {block_verdict(att)} "
            f"LiteRT reaches no bf16 kernel (XNNPACK's delegate has no bf16 tensors), which is "
            f"what OpenVINO uses on this CPU (`INFERENCE_PRECISION_HINT` bf16 on AVX512_BF16).")
    out.append("- `CpuOptions(enable_ynnpack=True)` (XNNPACK's successor): this LiteRT (2.3.0) "
               "fails to compile any model with it, even the tiny test model (a RuntimeError that "
               "names only compiled_model.cc); the wheel's libpywrap_litert_common.so carries the "
               "message \"enable_ynnpack was requested, but YNNPACK support was not compiled "
               "into this build\". 2.3.0 is the newest ai-edge-litert on the package index.")
    return out


def block_verdict(att: dict[str, Any]) -> str:
    """What the fp32 arrangements of the block alone say in this run, against the noise of
    this machine (about 8% between runs of the same call)."""
    fp32 = {k: r["median_s"] for k, r in att.items() if " + " not in k and k.endswith("fp32")}
    best, worst = min(fp32, key=fp32.__getitem__), max(fp32, key=fp32.__getitem__)
    spread = fp32[worst] / fp32[best]
    if spread < 1.10:
        return (f"On the block alone the fp32 arrangements are within {spread:.2f}x of each "
                f"other in this run, inside this machine's noise; layout 3 is kept for what "
                f"the whole UNet measures (above).")
    return (f"On the block alone {best.rsplit(',', 1)[0]} is fastest at fp32 "
            f"({fp32[worst] / fp32[best]:.2f}x faster than {worst.rsplit(',', 1)[0]}); layout "
            f"3 is kept for what the whole UNet measures (above).")


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


