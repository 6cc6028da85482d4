"""Write the import parity figures (tests/engine/test_import_parity.py) into docs/BENCHMARKS.md.

    make test                 # or: pytest tests/engine/test_import_parity.py (SD 1.x)
    make parity-sd2           # the SD 2.x cases
    make parity-sd            # SD v1.4 against KerasCV's own pipeline (runs this script)
    pytest tests/engine/test_sd_parity.py -k image_encoder   # the image encoder alone
    .venv/bin/python benchmarks/report_parity.py

The parity tests keep what they measured in .cache/import-parity/results.json,
.cache/sd-parity/results.json and .cache/sd-parity/image-encoder/results.json (make test
runs pytest without -s); this script
turns them into tables, with the machine and date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import write_section
from benchmarks.import_fixture import CACHE

ENCODER_RESULTS = ROOT / ".cache" / "sd-parity" / "image-encoder" / "results.json"
KERAS_RESULTS = ROOT / ".cache" / "sd-parity" / "results.json"
#: The machine's CPU as the docs name it (/proc/cpuinfo says only "AMD EPYC").
CPU = "AMD EPYC (Zen 5), 2 cores"

LABELS = {
    "sd1-dpmpp-2m": "SD 1.5 + kohya LoRA (0.8), single file",
    "sd1-lcm": "SD 1.5 + kohya LoRA (0.8), single file",
    "sd2-dpmpp-2m": "SD 2.1-base, single file (OpenCLIP layout)",
    "sd2-euler-trailing": "SD 2.1-base (SD-Turbo's architecture), single file",
}


def main() -> None:
    results = json.loads((CACHE / "results.json").read_text())
    rows = []
    for key, label in LABELS.items():
        r = results.get(key)
        if r is None:
            rows.append(f"| {label} | {key} | not run |  |  |")
            continue
        sampler = key.split("-", 1)[1]
        rows.append(f"| {label} | {sampler}, {r['steps']} steps, guidance {r['guidance']:g} | "
                    f"{r['image_psnr_db']:.1f} dB | {r['latent_rel_error']:.2e} | "
                    f"{'pass' if r['image_psnr_db'] >= 35 else 'FAIL'} (35 dB) |")
    lora = []
    for layout in ("kohya", "peft"):
        r = results.get(f"lora-{layout}")
        if r:
            kinds = ", ".join(f"{v} {k}" for k, v in r["kinds"].items())
            lora.append(f"| {layout} | {r['tensors']} ({kinds}) | "
                        f"{r['worst_relative']:.1e} |")
    img2img = [f"| SD 1.5 + kohya LoRA (0.8), single file | {k.split('-', 2)[2]}, "
               f"{r['steps']} steps at strength {r['strength']:g} "
               f"({int(r['steps'] * r['strength'] + 1e-9)} run), guidance {r['guidance']:g} | "
               f"{r['image_psnr_db']:.1f} dB | {r['latent_rel_error']:.2e} | "
               f"{r['encoder_rel_error']:.2e} | "
               f"{'pass' if r['image_psnr_db'] >= 35 else 'FAIL'} (35 dB) |"
               for k, r in results.items() if k.startswith("sd1-img2img-")]
    encoder = json.loads(ENCODER_RESULTS.read_text()) if ENCODER_RESULTS.is_file() else {}
    enc_rows = [f"| {k.removeprefix('image-encoder-')} | {r['relative_error']:.2e} "
                f"({r['psnr_db']:.1f} dB) | {r['tensorflow_fp32_relative_error']:.2e} | "
                f"{r['size_mib']:.0f} MiB | {r['convert_seconds']:.0f} s, "
                f"{r['convert_peak_gib']:.2f} GiB | {r['encode_seconds']:.1f} s, "
                f"{r['encode_peak_gib']:.2f} GiB |"
                for k, r in encoder.items() if "tensorflow_fp32_relative_error" in r]
    keras = (json.loads(KERAS_RESULTS.read_text()) if KERAS_RESULTS.is_file() else {}).get(
        "keras-cv-generate-image")
    keras_row = ("| not run | | | | |" if keras is None else
                 f"| {keras['ran']} | {keras['layout']} | {keras['sampler']}, {keras['steps']} "
                 f"steps, guidance {keras['guidance']:g} | {keras['image_psnr_db']:.1f} dB | "
                 f"{keras['latent_rel_error']:.2e} | "
                 f"{'pass' if keras['passed'] else 'FAIL'} (40 dB, 1e-3) |")
    weights = [f"| {k.removeprefix('weights-')} | {v['seconds']:.0f} s | "
               f"{v['peak_gib']:.2f} GiB | {v.get('weights_set', '')} |"
               for k, v in results.items() if k.startswith("weights-")]
    body = (
        "Seeded random weights at full size, built with diffusers and transformers in the "
        "reference venv and saved as a diffusers folder and as a single LDM-layout file, "
        "which diffusers' own single-file converters read back bit-exactly "
        "(benchmarks/import_reference.py). Imported by ParaSight at fp32, converted to "
        "TFLite, and generated from the same starting latent, token ids and sampler as "
        "diffusers' StableDiffusionPipeline (512x512):\n\n"
        "| model | sampler | image PSNR vs diffusers | final latent rel. error | |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) +
        "\n\n51.2 dB is the ceiling here: ParaSight turns the decoded image into 8-bit "
        "pixels as KerasCV does (truncating), diffusers rounds, and that alone gives 51.17 dB "
        "on these images (the same float image truncated and rounded); the latents agree to "
        "about 1e-5. What is left is keras-cv's arithmetic, measured part by part on the "
        "same weights (keras-cv vs diffusers, one evaluation, relative error): SD 1.5 text "
        "encoder 5.7e-7, UNet 3.3e-5 (its GEGLU uses the tanh approximation of GELU where "
        "PyTorch's is exact), VAE decoder 7.0e-5; SD 2.1 text encoder 1.4e-4 (keras-cv's V2 "
        "text encoder also uses the tanh GELU where OpenCLIP's is exact), UNet 3.8e-5, "
        "decoder 6.5e-5.\n\n"
        "LoRA merge against diffusers' `load_lora_weights` + `fuse_lora` (strength 0.8), "
        "every merged tensor:\n\n| layout | tensors | worst difference (of the tensor's "
        "largest value) |\n|---|---|---|\n" + "\n".join(lora) +
        "\n\nBoth layouts of the same model read to bit-identical tensors "
        f"({results.get('layouts', {}).get('tensors', '?')} of them). The weights job "
        "(reading the checkpoint, merging the LoRA, setting every weight of keras-cv's four "
        "models (the VAE's encoder too) with its shape checked, writing their HDF5 files), "
        "in its own process, "
        "during the imports above:\n\n| family | time | peak memory | weights set |\n"
        "|---|---|---|---|\n" + "\n".join(weights) +
        "\n\nA row without '(standalone run)' is the parity run's own import, timed on "
        "cores shared with other work; its count includes the image encoder's 108 "
        "weights.\n\n**Image to image.** The same imported model (its VAE encoder imported and "
        "converted with it) from a seeded smooth 512x512 start image, against diffusers' "
        "StableDiffusionImg2ImgPipeline run end to end (its own preprocessing and VAE "
        "encode, the same token ids, the noise it adds at the start step replaced by "
        "ParaSight's seed noise). diffusers encodes with `latent_dist.sample()`, ParaSight "
        "(as KerasCV) with the posterior's mean: the reference VAE's log-variance half of "
        "`quant_conv` is set to weights 0, bias -30 (std 3e-7; a trained VAE's is small "
        "too), so the two agree to far below what is compared. Encoder: ParaSight's "
        "encoded start image against diffusers' `mean x 0.18215`.\n\n"
        "| model | sampler | image PSNR vs diffusers | final latent rel. error | encoder "
        "rel. error | |\n|---|---|---|---|---|---|\n"
        + ("\n".join(img2img) or "| not run | | | | | |") +
        "\n\n**KerasCV's own pipeline** (`make parity-sd`, tests/engine/test_sd_parity.py; "
        "outside `make test` for its 12-16 minutes and 8 GB the first time): Stable Diffusion v1.4 in "
        "KerasCV's three HDF5 files with seeded random weights, converted by ParaSight at "
        "fp32 at the converter's layout of the day, generating from the same noise and "
        "prompt as keras-cv's `StableDiffusion.generate_image`:\n\n"
        "| ran | converter layout | sampler | image PSNR vs keras-cv | final latent rel. "
        "error | |\n|---|---|---|---|---|---|\n" + keras_row +
        "\n\n**The image encoder alone** (tests/engine/test_sd_parity.py): keras-cv's "
        "ImageEncoder (34M parameters) with seeded random weights, converted by itself at "
        "512x512, batch 1, against keras-cv's own model evaluated in float64 on a smooth "
        "seeded image. TensorFlow's float32 evaluation of the same model is further from "
        "float64 than the converted file is, so float64 is the reference. Encoding: one "
        "512x512 image in a fresh process (model file, LiteRT arena and Python), on "
        f"{CPU} shared with other work:\n\n"
        "| precision | LiteRT vs keras-cv (float64) | TensorFlow float32 vs float64 | file "
        "| conversion (time, peak) | one encode (time, peak) |\n"
        "|---|---|---|---|---|---|\n" + ("\n".join(enc_rows) or "| not run | | | | | |") +
        f"\n\nMachine: {CPU}.")
    print(body)
    write_section("import-parity", "Imported checkpoints against diffusers (fp32, full size)",
                  "make test; make parity-sd2; make parity-sd  # runs benchmarks/report_parity.py",
                  body)


if __name__ == "__main__":
    main()
