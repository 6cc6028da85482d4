"""``parasight models import-keras`` and ``parasight models convert``: KerasCV -> TFLite."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from .engine.errors import InputError
from .engine.sd_convert import PRECISION_HELP, TOKEN_DOWNSAMPLE_HELP, install_name
from .engine.sd_import import LoraSpec, check_model_name


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size like 512x512") from None
    return w, h


def add_parsers(msub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                        help=PRECISION_HELP)
    common.add_argument("--size", type=_size, default=(512, 512), help="WxH, default 512x512")
    common.add_argument("--as", dest="install_as", help="install under this name")
    common.add_argument("--max-part-params", type=int, default=None,
                        help="UNet parameters per converted part (memory vs. part count)")
    common.add_argument("--token-downsample", type=int, choices=(1, 2), default=1,
                        help=TOKEN_DOWNSAMPLE_HELP)

    imp = msub.add_parser("import-keras", parents=[common],
                          help="convert KerasCV Stable Diffusion .h5 files you already have")
    imp.add_argument("--text-encoder", type=Path, required=True, help="kcv_encoder.h5")
    imp.add_argument("--diffusion-model", type=Path, required=True,
                     help="kcv_diffusion_model.h5")
    imp.add_argument("--decoder", type=Path, required=True, help="kcv_decoder.h5")
    imp.add_argument("--model", default="sd-v1.4", help="catalogue entry they belong to")

    byo = msub.add_parser(
        "import", help="import a Stable Diffusion 1.x/2.x checkpoint (.safetensors file or "
                       "diffusers folder), with an optional VAE and LoRAs")
    byo.add_argument("path", type=Path, help="a .safetensors checkpoint or a diffusers folder")
    byo.add_argument("--name", help="install under this name (default: from the file name)")
    byo.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="int8",
                     help=PRECISION_HELP + " (default int8)")
    byo.add_argument("--vae", type=Path, help="a separate VAE .safetensors to decode with")
    byo.add_argument("--lora", action="append", default=[], metavar="FILE[:STRENGTH]",
                     help="a LoRA .safetensors merged in at import, strength 1 unless given; "
                          "repeat for several")
    byo.add_argument("--prediction", choices=("epsilon", "v"),
                     help="SD 2.x files only, where the file does not say: epsilon for "
                          "512-pixel base and Turbo models")
    byo.add_argument("--few-step", choices=("lcm", "turbo"),
                     help="a few-step model: lcm (LCM-distilled; set by itself when the "
                          "LCM-LoRA is merged) defaults to 4 LCM steps at guidance 1, turbo "
                          "(SD-Turbo) to 1 step at guidance 0")
    byo.add_argument("--taesd", type=Path, metavar="taesd_decoder.safetensors",
                     help="add TAESD as the fast decoder (its encoder is taken from beside it)")

    tae = msub.add_parser("add-taesd", help="add TAESD, the fast decoder, to an installed "
                                            "Stable Diffusion model")
    tae.add_argument("model", help="an installed model's name")
    tae.add_argument("--decoder", type=Path, required=True, metavar="taesd_decoder.safetensors")
    tae.add_argument("--encoder", type=Path, metavar="taesd_encoder.safetensors")
    tae.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="int8",
                     help="int8 (default): 0.3 s a 512x512 decode on two cores")

    conv = msub.add_parser("convert", parents=[common],
                           help="convert a downloaded model (after 'models download')")
    conv.add_argument("name", help="catalogue name, e.g. sd-v1.4")


def run_conversion(sources: dict[str, Path], args: argparse.Namespace, base: str) -> int:
    from .engine.sd_convert import DEFAULT_MAX_PARAMS, ConvertProgress, convert_stable_diffusion
    from .engine.store import user_models_dir

    name = install_name(base, args.precision, args.size, args.install_as, args.token_downsample)
    check_model_name(name)
    out = user_models_dir() / name

    def progress(p: ConvertProgress) -> None:
        total = p.total if p.total is not None else "?"
        line = f"[{p.index}/{total}] {p.job}: {p.status}"
        if p.result is not None and p.status == "done":
            r = p.result
            line += (f" ({r.params / 1e6:.0f}M parameters, {r.seconds:.0f} s, peak "
                     f"{r.peak_rss_bytes / 2**30:.1f} GiB, {r.psnr_db:.1f} dB vs Keras)")
        print(line, file=sys.stderr, flush=True)

    w, h = args.size
    convert_stable_diffusion(
        sources, out, name=name, precision=args.precision, height=h, width=w,
        max_params=args.max_part_params or DEFAULT_MAX_PARAMS, on_progress=progress,
        cancel=threading.Event(), token_downsample=args.token_downsample,
    )
    print(out)
    print(f"next: parasight generate \"what you saw\" --model {name}", file=sys.stderr)
    return 0


def cmd_import_keras(args: argparse.Namespace) -> int:
    from .engine.sd_convert import check_conversion_possible

    check_conversion_possible()
    from .engine.catalog import CATALOG
    from .engine.fileio import sha256_file

    sources = {"text_encoder": args.text_encoder, "diffusion_model": args.diffusion_model,
               "decoder": args.decoder}
    for role, path in sources.items():
        if not path.is_file():
            raise InputError(f"--{role.replace('_', '-')} {path}: no such file.")
    entry = CATALOG.get(args.model)
    if entry is not None:
        known = {f.role: f.sha256 for f in entry.files}
        for role, path in sources.items():
            print(f"checking {path.name} ...", file=sys.stderr, flush=True)
            if known.get(role) and sha256_file(path) != known[role]:
                print(f"note: {path.name} is not the published {entry.display_name} "
                      f"{role.replace('_', ' ')} file (sha256 differs); converting it anyway",
                      file=sys.stderr)
    return run_conversion(sources, args, args.model)


def cmd_import(args: argparse.Namespace) -> int:
    """``parasight models import PATH``: check the files, then import and convert."""
    from .engine.sd_convert import ConvertProgress, check_conversion_possible
    from .engine.sd_import import LoraSpec, import_checkpoint, inspect_checkpoint, suggest_name
    from .engine.store import user_models_dir

    check_conversion_possible()
    loras = [_catalogued_lora(LoraSpec.parse(text)) for text in args.lora]
    taesd = args.taesd
    if taesd is None:
        from .engine.catalog import downloaded_path

        taesd = downloaded_path("taesd", "decoder")
        if taesd is not None:
            print(f"TAESD is downloaded: adding it as the fast decoder ({taesd.parent})",
                  file=sys.stderr)
    plan = inspect_checkpoint(args.path, vae=args.vae, loras=loras, prediction=args.prediction)
    name = args.name or suggest_name(args.path)
    check_model_name(name)
    print(f"{args.path.name}: {plan.family_label}, {plan.layout} layout, "
          f"{plan.params / 1e6:.0f}M parameters" + (", EMA copies ignored" if plan.has_ema
                                                     else ""), file=sys.stderr)
    for spec, n in plan.loras:
        print(f"  LoRA {spec.name} x{spec.strength:g}: {n} weights changed", file=sys.stderr)
    t0 = time.perf_counter()

    def progress(p: ConvertProgress) -> None:
        print(f"[{p.index}/{p.total if p.total is not None else '?'}] {p.job}: {p.status} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    out = import_checkpoint(args.path, user_models_dir() / name, name=name,
                            precision=args.precision, vae=args.vae, loras=loras,
                            prediction=args.prediction, few_step=args.few_step,
                            taesd=taesd, on_progress=progress, cancel=threading.Event())
    print(out)
    print(f"next: parasight generate \"what you saw\" --model {name}", file=sys.stderr)
    return 0


def _catalogued_lora(spec: LoraSpec) -> LoraSpec:
    """``--lora lcm-lora-sdv1-5[:S]``: a downloaded catalogue LoRA by its name."""
    from dataclasses import replace

    from .engine.catalog import ADDONS, downloaded_path

    name = str(spec.path)
    if Path(name).exists() or name not in ADDONS or ADDONS[name].kind != "lora":
        return spec
    path = downloaded_path(name, "lora")
    if path is None:
        raise InputError(f"{name} is not downloaded yet: run 'parasight models download "
                         f"{name}' first.")
    return replace(spec, path=path)


def cmd_add_taesd(args: argparse.Namespace) -> int:
    """``parasight models add-taesd MODEL --decoder F``: the fast decoder for a model."""
    from .engine.sd_convert import check_conversion_possible
    from .engine.store import ModelStore, builtin_models_dir
    from .engine.taesd import attach_taesd

    check_conversion_possible()
    store = ModelStore()
    folder = store.folder(args.model)
    if folder.resolve().is_relative_to(builtin_models_dir().resolve()):
        raise InputError(f"{args.model} is built in; TAESD is added to installed models only.")
    if store.load(args.model).latent_shape[2] != 4 or store.load(args.model).width < 256:
        raise InputError(f"{args.model} is not a Stable Diffusion model; TAESD decodes SD "
                         "1.x and 2.x latents.")
    for path in (args.decoder, args.encoder):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: no such file.")
    record = attach_taesd(folder, args.decoder, args.encoder, args.precision)
    print(f"{args.model}: TAESD added ({args.precision}; decoder {record['psnr_db']['decoder']:.1f}"
          " dB against Keras on the probe)", file=sys.stderr)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .engine.sd_convert import check_conversion_possible

    check_conversion_possible()
    from .engine.catalog import downloads_dir, model_entry

    entry = model_entry(args.name)
    folder = downloads_dir(args.name)
    sources = {}
    for f in entry.files:
        if f.role in ("text_encoder", "diffusion_model", "decoder"):
            path = folder / f.filename
            if not path.is_file():
                raise InputError(f"{f.filename} is not downloaded yet: run "
                                 f"'parasight models download {args.name}' first.")
            sources[f.role] = path
        elif f.role == "image_encoder" and (folder / f.filename).is_file():
            sources[f.role] = folder / f.filename  # downloaded with --include-image-encoder
    return run_conversion(sources, args, args.name)
