"""``parasight``: the same engine and library as the window, headless.

``parasight`` alone opens the window. Bad input exits with status 2 and one line on
stderr saying what to fix; nothing is half-written (PNGs go to a temporary file,
then are renamed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .engine.errors import CancelledError, InputError, ParaSightError
from .engine.types import DEFAULT_MASK_BLUR, DEFAULT_STRENGTH, SAMPLERS, GenerationRequest

if TYPE_CHECKING:
    from .engine.store import ModelInfo

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr and status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"parasight: {message} (see 'parasight --help')\n")


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"parasight: {message}", file=sys.stderr)
    return status


def _int_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def _float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="parasight", description="Describe what you saw; get an image of it.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    g = sub.add_parser("generate", help="make an image from a description")
    g.add_argument("prompt", help="what you saw")
    g.add_argument("--negative", default="", help="what the image should not show")
    g.add_argument("--seed", type=_int_arg, help="same seed, same image (default: random)")
    g.add_argument("--steps", type=_int_arg, help="denoising steps (default: the model's)")
    g.add_argument("--guidance", type=_float_arg, help="how closely to follow the text")
    g.add_argument("--sampler", help=f"one of {', '.join(SAMPLERS)}")
    g.add_argument("--model", help="installed model name (default: the embedded model)")
    g.add_argument("--decoder", choices=("fast", "full"),
                   help="fast: TAESD, where the model has it (the default for few-step "
                        "models); full: the model's own VAE decoder")
    g.add_argument("--init-image", type=Path, metavar="PATH",
                   help="start from this photo or sketch (image to image)")
    g.add_argument("--strength", type=_float_arg,
                   help="how much of the start image changes: above 0, at most 1 "
                        f"(default {DEFAULT_STRENGTH:g})")
    g.add_argument("--fit", choices=("crop", "fit"),
                   help="fit the start image to the model's size: crop (fill the frame, "
                        "cut the edges; the default) or fit (all of it, on grey bands)")
    g.add_argument("--mask", type=Path, metavar="PATH",
                   help="inpaint: a picture, white where the image may change and black "
                        "where it is kept (fitted like the start image)")
    g.add_argument("--mask-blur", type=_int_arg, metavar="N",
                   help=f"pixels of blur on the mask's edge (default {DEFAULT_MASK_BLUR})")
    g.add_argument("--out", type=Path, help="PNG to write (default: a name from the prompt)")
    g.add_argument("--threads", type=_int_arg, help="CPU threads (default: all cores)")
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")

    m = sub.add_parser("models", help="installed models")
    msub = m.add_subparsers(dest="models_command", parser_class=_Parser)
    msub.add_parser("list", help="list installed models")
    _add_download_commands(msub)
    from .cli_convert import add_parsers

    add_parsers(msub)

    i = sub.add_parser("info", help="print the settings stored in a PNG")
    i.add_argument("file", type=Path)
    i.add_argument("--json", action="store_true", help="print JSON")
    return p


def _add_download_commands(msub: argparse._SubParsersAction[_Parser]) -> None:
    d = msub.add_parser("download", help="download a model or an add-on from the catalogue "
                                         "(sd-v1.4, lcm-lora-sdv1-5, taesd)")
    d.add_argument("name", help="catalogue name, e.g. sd-v1.4")
    d.add_argument("--accept-licence", action="store_true",
                   help="accept the model's licence (run without it first to read it)")
    d.add_argument("--include-image-encoder", action="store_true",
                   help="also fetch the image encoder (to start from a sketch or photo)")
    r = msub.add_parser("remove", help="remove an installed model")
    r.add_argument("name", help="installed model name")
    r.add_argument("--downloads", action="store_true",
                   help="also remove the model's downloaded files")


def _check_writable(out: Path) -> None:
    parent = out.resolve().parent
    if out.suffix.lower() != ".png":
        raise InputError(f"The output file must end in .png (got '{out}').")
    if not parent.is_dir():
        raise InputError(f"Cannot write {out}: the folder {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise InputError(f"Cannot write {out}: the folder {parent} is not writable.")
    if out.is_dir():
        raise InputError(f"Cannot write {out}: it is a folder.")


def cmd_generate(args: argparse.Namespace) -> int:
    from .engine.pipeline import Engine
    from .engine.store import ModelStore
    from .library.metadata import write_png
    from .library.share import slugify

    request = GenerationRequest(
        prompt=args.prompt, negative_prompt=args.negative, seed=args.seed, steps=args.steps,
        guidance=args.guidance, sampler=args.sampler, model=args.model,
        fast_decode=None if args.decoder is None else args.decoder == "fast",
        strength=args.strength,
        mask_blur=DEFAULT_MASK_BLUR if args.mask_blur is None else args.mask_blur,
    )
    _check_start_options(args)
    request.validate()
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be at least 1 (got {args.threads}).")
    if args.out is not None:
        _check_writable(args.out)
    store = ModelStore()
    if args.model is not None:
        store.folder(args.model)  # unknown model: InputError before any work
    if args.init_image is not None:
        request = _with_start_image(request, args, store.get(args.model or
                                                             store.default_model()))

    def progress(step: int, total: int, _preview: object) -> None:
        if not args.quiet:
            print(f"\rstep {step}/{total}", end="" if step < total else "\n",
                  file=sys.stderr, flush=True)

    result = Engine(store, threads=args.threads).generate(request, progress, threading.Event())
    out = args.out or Path(f"{slugify(result.settings.prompt)}-{result.settings.seed}.png")
    _check_writable(out)
    write_png(out, result.image, result.settings, overwrite=True)
    t = result.timings
    s = result.settings
    if not args.quiet:
        decoder = f", {s.decoder} decode" if s.decoder else ""
        print(f"seed {s.seed}, {s.steps} {s.sampler_label} steps, guidance {s.guidance:g}"
              f"{decoder}, {t.get('total', 0.0):.2f} s", file=sys.stderr)
    if s.strength is not None and not args.quiet:
        masked = ", inpainting" if s.mask_blur is not None else ""
        print(f"from {args.init_image.name} at strength {s.strength:g} ({s.steps_run} of "
              f"{s.steps} steps{masked})", file=sys.stderr)
    if result.tokens_dropped:
        print(f"note: the description was {result.tokens_dropped} tokens too long; "
              "the end was not read", file=sys.stderr)
    print(out)
    return 0


def _check_start_options(args: argparse.Namespace) -> None:
    """Image-to-image options without a start image: say so rather than ignore them."""
    if args.init_image is not None:
        return
    given = [name for name, value in (("--strength", args.strength), ("--fit", args.fit),
                                      ("--mask", args.mask), ("--mask-blur", args.mask_blur))
             if value is not None]
    if given:
        options = " and ".join(given)
        verb = "needs" if len(given) == 1 else "need"
        raise InputError(f"{options} {verb} a start image: add --init-image PATH (a photo or "
                         f"sketch), or leave {'it' if len(given) == 1 else 'them'} out.")


def _with_start_image(request: GenerationRequest, args: argparse.Namespace,
                      model: ModelInfo) -> GenerationRequest:
    """The request with its start image (and mask) read and fitted to the model's size."""
    from .library.start_image import FitMode, load_mask, load_start_image

    fit: FitMode = "fit" if args.fit == "fit" else "crop"
    start = load_start_image(args.init_image, model.width, model.height, fit)
    for note in start.notes:
        print(f"note: {note}", file=sys.stderr)
    mask = None
    if args.mask is not None:
        mask = load_mask(args.mask, model.width, model.height, fit)
    request = replace(request, init_image=start.pixels, mask=mask)
    request.validate()
    return request


def cmd_models_list() -> int:
    from .engine.store import ModelStore

    store = ModelStore()
    infos = store.list_models()
    if not infos:
        print("No models installed.")
        return 0
    default = store.default_model()
    for info in infos:
        mark = "*" if info.name == default else " "
        kind = "embedded" if info.builtin else "installed"
        print(f"{mark} {info.name:20} {info.width}x{info.height}  {kind:9}  "
              f"{info.licence_name:12}  {info.display_name}")
    return 0


def cmd_models_download(args: argparse.Namespace) -> int:
    from .engine.catalog import downloads_dir, get_entry
    from .engine.download import DownloadProgress, download_model, format_bytes, free_bytes

    entry = get_entry(args.name)
    folder = downloads_dir(entry.name)
    if not args.accept_licence:
        print(entry.licence_text.rstrip() + "\n")
        print(f"{entry.display_name}: {entry.size_note}, into {folder} "
              f"({format_bytes(free_bytes(folder))} free there).")
        return _fail(f"the {entry.licence_name} licence above must be accepted first: if you "
                     f"agree to it, run 'parasight models download {entry.name} "
                     "--accept-licence'.")

    width = 0
    current = ""

    def progress(p: DownloadProgress) -> None:
        nonlocal width, current
        if current and p.file != current:
            print(file=sys.stderr)
        current = p.file
        total = format_bytes(p.total_bytes) if p.total_bytes is not None else "?"
        line = f"{p.file}  {format_bytes(p.done_bytes)} of {total}"
        if p.verifying:
            line += "  checking sha256"
        elif p.total_bytes is None or p.done_bytes < p.total_bytes:
            eta = "" if p.eta_s is None else f"  {_duration(p.eta_s)} left"
            line += f"  {format_bytes(p.speed_bps)}/s{eta}"
        print("\r" + line.ljust(width), end="", file=sys.stderr, flush=True)
        width = len(line)

    try:
        paths = download_model(entry, accept_licence=True,
                               include_optional=args.include_image_encoder, on_progress=progress)
    except KeyboardInterrupt:
        raise CancelledError(
            "Download interrupted. What was fetched is kept; run the same command again "
            "to resume."
        ) from None
    finally:
        if current:
            print(file=sys.stderr)
    print(f"{entry.display_name} downloaded to {folder}:")
    for role, path in paths.items():
        print(f"  {role:16} {path.name}")
    if entry.is_model:
        print(f"Next: parasight models convert {entry.name}")
    else:  # an add-on has no conversion: the importer reads it as it is
        print("It is used as it is when a model is imported; it is not converted on its own.")
    return 0


def _duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour up."""
    s = int(seconds + 0.5)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def cmd_models_remove(args: argparse.Namespace) -> int:
    from .engine.download import format_bytes, remove_model

    for path, size in remove_model(args.name, downloads=args.downloads):
        print(f"Removed {path} ({format_bytes(size)})")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .library.metadata import read_png_metadata

    meta = read_png_metadata(args.file)
    if meta.settings is None and meta.parameters is None:
        raise InputError(f"{args.file} carries no generation settings.")
    if args.json:
        data = {
            "settings": meta.settings.to_dict() if meta.settings else None,
            "parameters": meta.parameters,
            "parasight": meta.parasight,
            "ai_generated": meta.is_ai_generated,
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
    elif meta.parameters is not None:
        print(meta.parameters)
    elif meta.settings is not None:
        for key, value in meta.settings.to_dict().items():
            print(f"{key}: {value}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        from .ui.app import main as gui_main

        return gui_main(sys.argv[:1])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "generate":
            return cmd_generate(args)
        if args.command == "models":
            if args.models_command == "list":
                return cmd_models_list()
            if args.models_command == "download":
                return cmd_models_download(args)
            if args.models_command in ("import-keras", "convert", "import", "add-taesd"):
                from .cli_convert import cmd_add_taesd, cmd_convert, cmd_import, cmd_import_keras

                if args.models_command == "convert":
                    return cmd_convert(args)
                if args.models_command == "add-taesd":
                    return cmd_add_taesd(args)
                if args.models_command == "import":
                    return cmd_import(args)
                return cmd_import_keras(args)
            if args.models_command == "remove":
                return cmd_models_remove(args)
            return _fail("say what to do with models: list, download, import, import-keras, "
                         "convert or remove (see 'parasight models --help')")
        if args.command == "info":
            return cmd_info(args)
        return _fail("unknown command (see 'parasight --help')")
    except CancelledError as exc:
        return _fail(str(exc), 130)
    except ParaSightError as exc:
        from .library.errors import MetadataError
        from .library.start_image import StartImageError

        # The user's input is at fault.
        usage = isinstance(exc, (InputError, MetadataError, StartImageError))
        return _fail(str(exc), EXIT_USAGE if usage else 1)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing was written.", 130)


if __name__ == "__main__":
    sys.exit(main())
