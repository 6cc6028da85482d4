"""Per-stage time of a generation, side by side: models, samplers, threads, guidance batching.

    .venv/bin/python benchmarks/bench_pipeline.py [--repeats 7]

Runs the real pipeline (LiteRT) on the tiny test model and on every installed model
(the embedded ParaSight Mini included) at their default settings, and writes medians
to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import write_section
from parasight_desktop.engine.pipeline import Engine
from parasight_desktop.engine.store import ModelStore
from parasight_desktop.engine.types import GenerationRequest

STAGES = ("tokenize", "text_encoder", "unet", "unet_per_step", "decoder", "total")
PROMPT = "a big glowing green serpent in the lake at night"


def run(engine: Engine, model: str, repeats: int, *, batch: bool = True,
        **overrides: object) -> dict[str, float]:
    pipe = engine.pipeline(model)
    pipe.batch_guidance = batch
    req = GenerationRequest(PROMPT, seed=1, model=model, **overrides)  # type: ignore[arg-type]
    engine.generate(req)  # warm-up: first-call allocations, caches
    samples = [engine.generate(req).timings for _ in range(repeats)]
    return {k: statistics.median(s[k] for s in samples) for k in STAGES}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    stores = {"tiny-model": ModelStore([ROOT / "tests" / "data"])}
    real = ModelStore()
    for name in real.names():
        stores[name] = real
    rows = []
    for name, store in stores.items():
        d = store.manifest(name).defaults
        for threads in (2, 1):
            eng = Engine(store, threads=threads)
            label = f"{d.sampler}, {d.steps} steps, guidance {d.guidance:g}"
            rows.append((name, threads, label, "batch of 2", run(eng, name, args.repeats)))
            if threads == 2:
                rows.append((name, threads, label, "two passes",
                             run(eng, name, args.repeats, batch=False)))
                rows.append((name, threads, f"{d.sampler}, {d.steps} steps, guidance 1",
                             "cond only", run(eng, name, args.repeats, guidance=1.0)))
    lines = [("| model | threads | settings | guidance passes | tokenize | text encoder | "
              "UNet (all steps) | UNet per step | decoder | total |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, threads, label, mode, t in rows:
        ms = [f"{t[k] * 1000:.1f} ms" for k in STAGES]
        lines.append(f"| {name} | {threads} | {label} | {mode} | " + " | ".join(ms) + " |")
    base = {(r[0], r[1], r[3]): r[4]["total"] for r in rows}
    notes = []
    for name in stores:
        b2 = base.get((name, 2, "batch of 2"))
        if b2 is None:
            continue
        notes.append(f"- {name}: two separate guidance passes take "
                     f"{base[(name, 2, 'two passes')] / b2:.2f}x the batched time; "
                     f"1 thread takes {base[(name, 1, 'batch of 2')] / b2:.2f}x the 2-thread "
                     "time.")
    body = (f"Medians of {args.repeats} runs after one warm-up, seed 1, prompt "
            f"\"{PROMPT}\".\n\n" + "\n".join(lines) + "\n\n" + "\n".join(notes))
    print(body)
    if not args.no_write:
        write_section("pipeline", "Pipeline: per-stage time of one generation",
                      "make bench  # .venv/bin/python benchmarks/bench_pipeline.py", body)


if __name__ == "__main__":
    main()
