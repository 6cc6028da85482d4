"""OpenVINO's side of benchmarks/bench_engine.py: runs only in .cache/ov-venv (benchmarks/ov_env.sh).

    PY=.cache/ov-venv/bin/python
    # 1. The same weights the app imports (a diffusers folder, proven equal to the single file
    #    by import_reference.py's roundtrip), into OpenVINO IR: the UNet and the VAE decoder
    #    at fp32, then int8 the ways FastSD CPU's models are made (optimum-intel, NNCF):
    #    weight-only int8 (`--weight-format int8`) and hybrid (weights int8 everywhere,
    #    activations too for the convolutions, calibrated on a few random UNet inputs).
    $PY benchmarks/ov_engine.py prepare DIFFUSERS_DIR OUT_DIR [--hybrid-samples 4]
    # 2. A timing server for one variant (default | f32 | int8-weights | int8-hybrid), driven over
    #    stdin/stdout one JSON line at a time by bench_engine.py, so its runs interleave
    #    with the app's: {"cmd": "load", "what": "unet"|"decoder", "batch": 1}, {"cmd": "run"},
    #    {"cmd": "drop"}, {"cmd": "info"}, {"cmd": "quit"}.
    $PY benchmarks/ov_engine.py serve OUT_DIR --variant default --threads 2

Each stage of ``prepare`` runs in its own process (its peak memory reported alone) and is
skipped when its files exist.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from parasight_desktop.engine.memory import peak_rss_gib  # stdlib only: runs in any venv

LATENT = (4, 64, 64)  # 512x512
CONTEXT = (77, 768)  # SD 1.x
#: variant -> UNet file; every variant runs at OpenVINO's default inference precision for
#: this CPU except "f32", which asks for f32 (``INFERENCE_PRECISION_HINT``).
VARIANTS = {"default": "unet.xml", "f32": "unet.xml", "int8-weights": "unet-int8w.xml",
            "int8-hybrid": "unet-int8h.xml"}


def unet_inputs(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"sample": rng.standard_normal((batch, *LATENT)).astype(np.float32),
            "timestep": np.full((batch,), 500.0, np.float32),
            "encoder_hidden_states": rng.standard_normal((batch, *CONTEXT)).astype(np.float32)}


def decoder_inputs(seed: int = 0) -> dict[str, np.ndarray]:
    return {"latent": np.random.default_rng(seed).standard_normal((1, *LATENT)).astype(np.float32)}


# -- prepare -----------------------------------------------------------------------------------

def stage_convert(src: Path, out: Path) -> dict[str, Any]:
    """UNet and VAE decoder, torch -> OpenVINO IR at fp32 (no fp16 compression)."""
    import openvino as ov
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    vae = AutoencoderKL.from_pretrained(src / "vae", torch_dtype=torch.float32).eval()

    class Decoder(torch.nn.Module):
        def __init__(self, vae: Any) -> None:
            super().__init__()
            self.vae = vae

        def forward(self, latent: Any) -> Any:
            return self.vae.decode(latent / 0.18215).sample

    m = ov.convert_model(Decoder(vae), example_input=(torch.from_numpy(decoder_inputs()["latent"]),))
    ov.save_model(m, out / "decoder.xml", compress_to_fp16=False)
    del m, vae
    gc.collect()
    unet = UNet2DConditionModel.from_pretrained(src / "unet", torch_dtype=torch.float32).eval()

    class Unet(torch.nn.Module):
        def __init__(self, unet: Any) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any) -> Any:
            return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]

    ex = {k: torch.from_numpy(v) for k, v in unet_inputs(1).items()}
    m = ov.convert_model(Unet(unet), example_input=ex)
    ov.save_model(m, out / "unet.xml", compress_to_fp16=False)
    return {"seconds": time.perf_counter() - t0, "peak_gib": peak_rss_gib(),
            "openvino": ov.__version__, "torch": torch.__version__}


def stage_int8_weights(out: Path) -> dict[str, Any]:
    """Weight-only int8 (what `optimum-cli export openvino --weight-format int8` does)."""
    import nncf
    import openvino as ov

    t0 = time.perf_counter()
    core = ov.Core()
    for src, dst in (("unet.xml", "unet-int8w.xml"), ("decoder.xml", "decoder-int8w.xml")):
        m = nncf.compress_weights(core.read_model(out / src), mode=nncf.CompressWeightsMode.INT8_ASYM)
        ov.save_model(m, out / dst)
        del m
        gc.collect()
    return {"seconds": time.perf_counter() - t0, "peak_gib": peak_rss_gib(), "nncf": nncf.__version__}


def stage_int8_hybrid(out: Path, samples: int) -> dict[str, Any]:
    """optimum-intel's hybrid quantization of a diffusion UNet: weights int8 everywhere
    (MatMul and Convolution), then post-training quantization of the activations with the
    MatMuls' own inputs left out (so: int8 convolutions), calibrated on ``samples`` random
    UNet inputs (random weights: any input is as representative as another)."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    t0 = time.perf_counter()
    core = ov.Core()
    model = core.read_model(out / "unet.xml")
    matmuls = [op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "MatMul"
               and any(i.get_source_output().get_node().get_type_name() in ("Constant", "Convert")
                       for i in op.inputs())]
    compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM,
                                       ignored_scope=nncf.IgnoredScope(types=["Convolution"]))
    data = [unet_inputs(1, seed=s) for s in range(samples)]
    quantized = nncf.quantize(
        compressed, nncf.Dataset(data), model_type=nncf.ModelType.TRANSFORMER,
        ignored_scope=nncf.IgnoredScope(names=matmuls, validate=False), subset_size=samples,
        advanced_parameters=AdvancedQuantizationParameters(smooth_quant_alpha=-1))
    ov.save_model(quantized, out / "unet-int8h.xml")
    return {"seconds": time.perf_counter() - t0, "peak_gib": peak_rss_gib(), "samples": samples,
            "matmuls_weight_only": len(matmuls)}


def cmd_prepare(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report_file = out / "prepare.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    stages = [("convert", ["unet.xml", "decoder.xml"]),
              ("int8-weights", ["unet-int8w.xml", "decoder-int8w.xml"]),
              ("int8-hybrid", ["unet-int8h.xml"])]
    for stage, files in stages:
        if stage in args.skip or all((out / f).is_file() for f in files):
            continue
        print(f"OpenVINO prepare: {stage}...", file=sys.stderr, flush=True)
        r = subprocess.run([sys.executable, __file__, "stage", stage, str(args.src), str(out),
                            "--hybrid-samples", str(args.hybrid_samples)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            print(r.stderr[-4000:], file=sys.stderr)
            return r.returncode
        report[stage] = json.loads(r.stdout.strip().splitlines()[-1])
        report_file.write_text(json.dumps(report, indent=1))
        print(f"  {report[stage]}", file=sys.stderr, flush=True)
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    out, src = Path(args.out), Path(args.src)
    if args.stage == "convert":
        r = stage_convert(src, out)
    elif args.stage == "int8-weights":
        r = stage_int8_weights(out)
    else:
        r = stage_int8_hybrid(out, args.hybrid_samples)
    print(json.dumps(r))
    return 0


# -- serve -------------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints

    core = ov.Core()
    out = Path(args.out)
    config = {props.inference_num_threads: args.threads,
              hints.performance_mode: hints.PerformanceMode.LATENCY,
              props.num_streams: 1,
              props.cache_dir: ""}
    if args.variant == "f32":
        config[hints.inference_precision] = ov.Type.f32
    state: dict[str, Any] = {}

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        try:
            if cmd == "load":
                state.clear()
                gc.collect()
                what, batch = msg["what"], int(msg.get("batch", 1))
                if what == "unet":
                    f = VARIANTS[args.variant]
                    feeds = unet_inputs(batch)
                else:
                    f = "decoder-int8w.xml" if args.variant.startswith("int8") else "decoder.xml"
                    feeds = decoder_inputs()
                t0 = time.perf_counter()
                model = core.read_model(out / f)
                model.reshape({k: ov.PartialShape(list(v.shape)) for k, v in feeds.items()})
                compiled = core.compile_model(model, "CPU", config)
                del model  # its mapped IR weights; the compiled model holds its own
                req = compiled.create_infer_request()
                state.update(req=req, feeds=feeds, compiled=compiled)
                reply({"ok": True, "file": f, "load_s": time.perf_counter() - t0,
                       "precision": compiled.get_property(hints.inference_precision).to_string(),
                       "threads": int(compiled.get_property(props.inference_num_threads))})
            elif cmd == "run":
                req, feeds = state["req"], state["feeds"]
                t0 = time.perf_counter()
                req.infer(feeds)
                s = time.perf_counter() - t0
                y = req.get_output_tensor(0).data
                reply({"ok": True, "seconds": s, "mean": float(np.mean(y)),
                       "peak_gib": peak_rss_gib()})
            elif cmd == "drop":
                state.clear()
                gc.collect()
                reply({"ok": True})
            elif cmd == "info":
                reply({"ok": True, "openvino": ov.__version__, "peak_gib": peak_rss_gib(),
                       "device": core.get_property("CPU", props.device.full_name),
                       "capabilities": list(core.get_property("CPU",
                                                              props.device.capabilities))})
            elif cmd == "quit":
                reply({"ok": True, "peak_gib": peak_rss_gib()})
                return 0
        except Exception as exc:  # noqa: BLE001  the driver says what failed; the server stays up
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("src", type=Path, help="diffusers folder (unet/, vae/)")
    p.add_argument("out", type=Path)
    p.add_argument("--hybrid-samples", type=int, default=4)
    p.add_argument("--skip", action="append", default=[], help="a stage not to make")
    s = sub.add_parser("stage")
    s.add_argument("stage", choices=("convert", "int8-weights", "int8-hybrid"))
    s.add_argument("src")
    s.add_argument("out")
    s.add_argument("--hybrid-samples", type=int, default=4)
    v = sub.add_parser("serve")
    v.add_argument("out", type=Path)
    v.add_argument("--variant", choices=tuple(VARIANTS), default="default")
    v.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    return {"prepare": cmd_prepare, "stage": cmd_stage, "serve": cmd_serve}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
