"""Where a converted part spends its time: every operator timed on its own.

    .venv/bin/python benchmarks/op_profile.py A.tflite [B.tflite ...] [--names a,b]
        [--threads 2] [--repeats 3] [--top 12] [--write TITLE]

LiteRT's Python interpreter has no per-operator profiler, so each operator of the
graph is cut out into a model of its own (its constant inputs kept as constants, its
other inputs made the model's inputs, filled with random values of their shapes) and
run through the app's runner (XNNPACK, the app's settings). The table sums the
medians by operator type and lists the slowest operators with their shapes. The sum
is not the part's time: operators run alone lose XNNPACK's fusions and their
neighbours' caches; it says where the time is, not what it is to the millisecond.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def single_op_models(path: Path) -> list[tuple[str, str, bytes]]:
    """(op type, shapes, model bytes) for every operator of the first subgraph."""
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils as fu

    model = fu.read_model(str(path))
    graph = model.subgraphs[0]
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        kind = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        keep = [i for i in list(op.inputs) + list(op.outputs) if i >= 0]
        sub = fb.ModelT()
        sub.version = model.version
        sub.operatorCodes = [code]
        sub.buffers = [fb.BufferT()]
        sub.description = b"op"
        sg = fb.SubGraphT()
        sg.tensors = []
        remap: dict[int, int] = {}
        feeds = []
        for i in keep:
            if i in remap:
                continue
            t = model.subgraphs[0].tensors[i]
            nt = fb.TensorT()
            for attr in ("shape", "type", "name", "quantization", "shapeSignature",
                         "isVariable", "sparsity", "hasRank"):
                if hasattr(t, attr):
                    setattr(nt, attr, getattr(t, attr))
            data = model.buffers[t.buffer].data if t.buffer else None
            if data is not None and len(data):
                nb = fb.BufferT()
                nb.data = data
                sub.buffers.append(nb)
                nt.buffer = len(sub.buffers) - 1
            else:
                nt.buffer = 0
                if i in op.inputs:
                    feeds.append(len(sg.tensors))
            remap[i] = len(sg.tensors)
            sg.tensors.append(nt)
        nop = fb.OperatorT()
        nop.opcodeIndex = 0
        nop.inputs = [remap[i] if i >= 0 else -1 for i in op.inputs]
        nop.outputs = [remap[i] for i in op.outputs]
        for attr in ("builtinOptionsType", "builtinOptions", "customOptions",
                     "customOptionsFormat", "builtinOptions2Type", "builtinOptions2"):
            if hasattr(op, attr):
                setattr(nop, attr, getattr(op, attr))
        sg.operators = [nop]
        sg.inputs = feeds
        sg.outputs = [remap[i] for i in op.outputs]
        sub.subgraphs = [sg]
        shapes = " ".join("x".join(str(d) for d in sg.tensors[j].shape) for j in feeds)
        out.append((kind, shapes, bytes(fu.convert_object_to_bytearray(sub))))
    return out


def time_model(data: bytes, threads: int, repeats: int) -> float:
    """Median seconds of one call, through LiteRT's interpreter with XNNPACK as the app."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data, num_threads=threads)
    it.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        if np.issubdtype(d["dtype"], np.floating):
            it.set_tensor(d["index"], rng.standard_normal(d["shape"]).astype(d["dtype"]))
    it.invoke()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def profile(path: Path, threads: int, repeats: int) -> list[tuple[int, str, str, float]]:
    """(index, operator, input shapes, median seconds) for every operator of ``path``."""
    return [(n, kind, shapes, time_model(data, threads, repeats))
            for n, (kind, shapes, data) in enumerate(single_op_models(path))]


def report(rows_by_model: dict[str, list[tuple[int, str, str, float]]], top: int) -> str:
    """Seconds by operator type, the models side by side; then each model's slowest."""
    names = list(rows_by_model)
    sums: dict[str, dict[str, list[float]]] = {}
    for name, rows in rows_by_model.items():
        for _, kind, _, t in rows:
            sums.setdefault(kind, {}).setdefault(name, []).append(t)
    totals = {name: sum(t for *_, t in rows) for name, rows in rows_by_model.items()}
    out = ["| operator | " + " | ".join(f"{n}: count, seconds, share" for n in names) + " |",
           "|---|" + "---|" * len(names)]
    for kind in sorted(sums, key=lambda k: -max(sum(v) for v in sums[k].values())):
        cells = []
        for n in names:
            ts = sums[kind].get(n, [])
            cells.append(f"{len(ts)}, {sum(ts):.3f} s, {sum(ts) / totals[n]:.0%}" if ts else "—")
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    out.append("| **all, each alone** | " + " | ".join(
        f"{len(rows_by_model[n])}, **{totals[n]:.3f} s**" for n in names) + " |")
    for n, rows in rows_by_model.items():
        out += ["", f"Slowest {top} operators of {n}:", "",
                "| # | operator | input shapes | ms |", "|---|---|---|---|"]
        out += [f"| {i} | {kind} | {shapes} | {t * 1e3:.1f} |"
                for i, kind, shapes, t in sorted(rows, key=lambda r: -r[3])[:top]]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", type=Path, nargs="+",
                    help="one or more .tflite files, profiled side by side")
    ap.add_argument("--names", help="comma-separated labels for the models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--write", metavar="TITLE",
                    help="also write the table into docs/BENCHMARKS.md under this title")
    args = ap.parse_args()
    names = args.names.split(",") if args.names else [p.name for p in args.models]
    rows = {n: profile(p, args.threads, args.repeats) for n, p in zip(names, args.models)}
    body = (f"Each operator cut out into a model of its own and timed alone (LiteRT "
            f"interpreter, XNNPACK, {args.threads} threads, median of {args.repeats} after a "
            f"warm-up); sums by type. Operators alone lose XNNPACK's fusions and their "
            f"neighbours' caches: this places the time, it does not add up to the model's.\n\n"
            + report(rows, args.top))
    print(body)
    if args.write:
        from benchmarks._report import write_section

        cmd = ".venv/bin/python benchmarks/op_profile.py " + " ".join(sys.argv[1:])
        write_section("op-profile", args.write, cmd, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
