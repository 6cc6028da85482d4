"""Importing a full-size SD 1.x / 2.x checkpoint: time and peak memory of every process.

    .venv/bin/python benchmarks/bench_import.py [--families sd1,sd2] [--precision int8]

For each family: the reference single-file checkpoint (seeded random weights at full size,
benchmarks/import_fixture.py) is imported with the app's importer, as `parasight models
import` does, into a fresh folder. Each stage runs in its own worker process (the weights
mapping, then one process per converted part); its peak resident memory is recorded, and
so is this (parent) process's. The SD 1.x import merges a LoRA (the reference kohya-layout
one, strength 0.8), as a person adding a style would. Then one image at the app's defaults
is generated in a fresh process from the imported model. Writes docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import write_section
from benchmarks.bench_sd import PROMPT, SEED, generate
from benchmarks.import_fixture import CACHE, reference_loras, reference_model
from parasight_desktop.engine.memory import peak_rss_gib

LIMIT_GIB = 12.0


def import_one(family: str, precision: str) -> tuple[list[str], float, Path]:
    from parasight_desktop.engine.sd_convert import ConvertProgress
    from parasight_desktop.engine.sd_import import LoraSpec, import_checkpoint

    source = reference_model(family) / "model.safetensors"
    loras = [LoraSpec(reference_loras(family, 0.8) / "kohya.safetensors", 0.8)] \
        if family == "sd1" else []
    name = f"{family}-random" + ("-lora" if loras else "") + f"-{precision}"
    out = CACHE / "bench" / name
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out.with_name(out.name + ".converting"), ignore_errors=True)
    rows: list[str] = []

    def progress(p: ConvertProgress) -> None:
        print(f"  {family} {p.job}: {p.status}", file=sys.stderr, flush=True)
        r = p.result
        if r is not None and p.status == "done":
            peak = r.peak_rss_bytes / 2**30
            rows.append(f"| {family} | {p.job} | {r.seconds:.0f} s | {peak:.2f} GiB |"
                        + (" over the limit |" if peak > LIMIT_GIB else " |"))

    t0 = time.perf_counter()
    import_checkpoint(source, out, name=out.name, precision=precision, loras=loras,
                      prediction="epsilon" if family == "sd2" else None, on_progress=progress)
    return rows, time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default="sd1,sd2")
    ap.add_argument("--precision", default="int8", choices=("fp32", "fp16", "int8"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from parasight_desktop.engine.manifest import load_manifest

    rows: list[str] = []
    totals: list[str] = []
    for family in args.families.split(","):
        part_rows, seconds, folder = import_one(family, args.precision)
        rows += part_rows
        m = load_manifest(folder)
        d = m.defaults
        g = generate(folder, d.steps, d.sampler, d.guidance, CACHE / "bench" / f"{family}.npz")
        size = sum(f.size for f in m.files.values())
        totals.append(f"| {family}{' + LoRA' if 'lora' in folder.name else ''} | "
                      f"{args.precision} | {seconds / 60:.1f} min | "
                      f"{size / 2**30:.2f} GiB | {g['timings']['total']:.1f} s "
                      f"({d.steps} {d.sampler} steps, guidance {d.guidance:g}) | "
                      f"{g['peak_rss'] / 2**30:.2f} GiB |")
    parent = peak_rss_gib()
    worst = max(float(r.split("|")[4].strip().split()[0]) for r in rows)
    body = (
        "Seeded random weights at full size in the layout people download "
        "(a single LDM `.safetensors` file; benchmarks/import_reference.py), imported as "
        f"`parasight models import FILE --precision {args.precision}` does. Every stage runs "
        "in its own process; peak = that process's maximum resident set "
        f"(limit {LIMIT_GIB:.0f} GiB).\n\n"
        "| family | stage | time | peak memory |  |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nThe parent process (reading headers, hashing, orchestration) peaked at "
          f"{parent:.2f} GiB; the worst worker at {worst:.2f} GiB.\n\n"
          "| family | precision | whole import | model size | one 512x512 image at the "
          "model's defaults | peak memory generating |\n|---|---|---|---|---|---|\n"
        + "\n".join(totals)
        + f"\n\nThe image: prompt \"{PROMPT}\", seed {SEED}, in a fresh process.")
    print(body)
    if not args.no_write:
        write_section("import", "Importing SD 1.x / 2.x checkpoints: time and memory",
                      " ".join([".venv/bin/python benchmarks/bench_import.py",
                                *sys.argv[1:]]), body)


if __name__ == "__main__":
    main()
