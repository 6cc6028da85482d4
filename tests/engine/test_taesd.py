"""TAESD (the tiny SD autoencoder): its files read in both layouts, and what we convert it to
matches diffusers' AutoencoderTiny, an independent implementation.

Quick tests make small files with the ``safetensors`` package's own writer. The parity test
(slow: about a minute) uses benchmarks/taesd_reference.py, run in the reference environment
(.cache/ref-venv, made by benchmarks/ref_env.sh), which builds ``AutoencoderTiny()`` with
seeded random weights, saves them in the published TAESD layout and in diffusers' layout, and
decodes/encodes a fixed latent and image; the outputs are cached in .cache/taesd-parity/.
Here the published files are converted at fp32 (and the decoder at int8) and run by LiteRT.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from parasight_desktop.engine.converter import psnr
from parasight_desktop.engine.errors import InputError
from parasight_desktop.engine.taesd import (
    PARTS,
    expected_shapes,
    read_taesd,
    source_name,
)

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "taesd-parity"
REF_PY = ROOT / ".cache" / "ref-venv" / "bin" / "python"
#: Sizes of TAESD 1.2's published files (huggingface.co/madebyollin/taesd): a file with the
#: same tensors under the same names, written by the same writer, has exactly this size.
PUBLISHED_SIZES = {"taesd_decoder.safetensors": 4_895_612,
                   "taesd_encoder.safetensors": 4_895_600}


def _random(part: str, layout: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + PARTS.index(part))
    return {source_name(part, n, layout): rng.standard_normal(s).astype(np.float32)
            for n, s in expected_shapes(part).items()}


def test_the_tables_are_taesd_for_sd() -> None:
    counts = {p: sum(int(np.prod(s)) for s in expected_shapes(p).values()) for p in PARTS}
    assert counts == {"decoder": 1_222_531, "encoder": 1_222_532}
    assert len(expected_shapes("decoder")) == len(expected_shapes("encoder")) == 67
    assert expected_shapes("decoder")["1.weight"] == (64, 4, 3, 3)
    assert expected_shapes("decoder")["19.weight"] == (3, 64, 3, 3)
    assert "7.bias" not in expected_shapes("decoder")  # the convs after upsampling: no bias
    assert source_name("decoder", "3.conv.4.bias", "diffusers") == "decoder.layers.2.conv.4.bias"
    assert source_name("encoder", "3.conv.4.bias", "diffusers") == "encoder.layers.3.conv.4.bias"


def test_both_layouts_read_to_the_same_tensors(tmp_path: Path) -> None:
    dec, enc = _random("decoder", "taesd"), _random("encoder", "taesd")
    save_file(dec, str(tmp_path / "taesd_decoder.safetensors"))
    save_file(enc, str(tmp_path / "taesd_encoder.safetensors"))
    # fp16 in the diffusers file: widened to float32 on reading, equal after rounding
    both = {**_random("decoder", "diffusers"), **_random("encoder", "diffusers")}
    save_file({k: v.astype(np.float16) for k, v in both.items()},
              str(tmp_path / "diffusion_pytorch_model.safetensors"))

    published = {**read_taesd(tmp_path / "taesd_decoder.safetensors"),
                 **read_taesd(tmp_path / "taesd_encoder.safetensors")}
    diffusers = read_taesd(tmp_path / "diffusion_pytorch_model.safetensors")
    assert sorted(published) == sorted(diffusers) and len(published) == 134
    for k, v in published.items():
        assert v.dtype == diffusers[k].dtype == np.float32
        np.testing.assert_array_equal(v.astype(np.float16), diffusers[k])
    only = read_taesd(tmp_path / "diffusion_pytorch_model.safetensors", "decoder")
    assert sorted(only) == sorted(k for k in published if k.startswith("decoder."))
    assert set(read_taesd(tmp_path / "taesd_encoder.safetensors", "encoder")) == \
        {k for k in published if k.startswith("encoder.")}


def _refusal(tmp_path: Path, tensors: dict[str, np.ndarray], part: str | None = None) -> str:
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(InputError) as err:
        read_taesd(path, part)
    return str(err.value)


def test_an_sd_vae_or_a_checkpoint_is_refused_with_counts(tmp_path: Path) -> None:
    z = np.zeros((2, 2), np.float32)
    vae = {"decoder.conv_in.weight": z, "decoder.up.0.block.0.conv1.weight": z,
           "encoder.down.0.block.0.conv1.weight": z, "quant_conv.weight": z}
    msg = _refusal(tmp_path, vae)
    assert "not a TAESD decoder or encoder" in msg and "none of its 4 tensors" in msg
    assert "67 decoder" in msg and "Stable Diffusion VAE" in msg
    ckpt = {"model.diffusion_model.input_blocks.0.0.weight": z,
            "first_stage_model.decoder.conv_in.weight": z}
    assert "whole Stable Diffusion checkpoint" in _refusal(tmp_path, ckpt)
    (tmp_path / "taesd_decoder.pth").write_bytes(b"PK\x03\x04")  # never opened
    with pytest.raises(InputError, match="pickled PyTorch file"):
        read_taesd(tmp_path / "taesd_decoder.pth")


def test_incomplete_extra_misshapen_or_wrong_part_files_are_refused(tmp_path: Path) -> None:
    dec = _random("decoder", "taesd")
    partial = {k: v for k, v in dec.items() if not k.startswith("19.")}
    msg = _refusal(tmp_path, partial)
    assert "holds 65 of the 67 TAESD decoder tensors; 2 are missing (19.bias, 19.weight)" in msg
    msg = _refusal(tmp_path, {**dec, "20.weight": np.zeros(3, np.float32)})
    assert "67 tensors" not in msg and "68 tensors" in msg and "1 others (20.weight)" in msg
    wide = {**dec, "1.weight": np.zeros((64, 16, 3, 3), np.float32)}
    msg = _refusal(tmp_path, wide)
    assert "1.weight has shape (64, 16, 3, 3), TAESD's has (64, 4, 3, 3)" in msg
    assert "16 latent channels" in msg
    msg = _refusal(tmp_path, _random("encoder", "taesd"), "decoder")
    assert "is a TAESD encoder, not a TAESD decoder" in msg
    ints = {**dec, "1.bias": np.zeros(64, np.int32)}
    assert "not floating point" in _refusal(tmp_path, ints)


# --------------------------------------------------------------------------------------
# Parity with diffusers at 512x512 (slow)
# --------------------------------------------------------------------------------------

def _reference() -> Path:
    done = CACHE / "reference.json"
    if not (done.is_file() and json.loads(done.read_text())["roundtrip"]["exact"]
            and (CACHE / "reference.npz").is_file()):
        subprocess.run(["bash", str(ROOT / "benchmarks" / "ref_env.sh")], check=True)
        subprocess.run([str(REF_PY), str(ROOT / "benchmarks" / "taesd_reference.py"),
                        str(CACHE), "--size", "512", "--seed", "0"], check=True, cwd=ROOT)
    return CACHE


def _median_seconds(model: object, feeds: dict[str, np.ndarray], runs: int = 5) -> float:
    model(**feeds)  # type: ignore[operator]  # warm up: XNNPACK packs weights on first run
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model(**feeds)  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@pytest.mark.slow
def test_converted_taesd_matches_diffusers(tmp_path: Path) -> None:
    from parasight_desktop.engine.fileio import sha256_file
    from parasight_desktop.engine.runner import TFLiteModel
    from parasight_desktop.engine.taesd import convert_taesd

    ref = _reference()
    made = json.loads((ref / "reference.json").read_text())
    # 1. The reference files have the published names: same tensors, same writer, same
    #    size as TAESD 1.2's files; and diffusers' layout reads to the same tensors.
    assert made["files"] == PUBLISHED_SIZES and made["roundtrip"]["exact"]
    published = {**read_taesd(ref / "taesd_decoder.safetensors"),
                 **read_taesd(ref / "taesd_encoder.safetensors")}
    diffusers = read_taesd(ref / "diffusers" / "diffusion_pytorch_model.safetensors")
    assert published.keys() == diffusers.keys()
    assert all(np.array_equal(published[k], diffusers[k]) for k in published)

    # 2. Convert the published files at fp32; LiteRT against diffusers.
    out = tmp_path / "fp32"
    info = convert_taesd(ref / "taesd_decoder.safetensors", ref / "taesd_encoder.safetensors",
                         out, 512, 512, "fp32")
    assert info["decoder"] | {"psnr_db": None, "max_abs_error": None} == {
        "file": "taesd_decoder.tflite", "input": "latent", "output": "image",
        "latent_scaling": "none", "output_range": [-1, 1], "params": 1_222_531,
        "psnr_db": None, "max_abs_error": None}
    assert info["encoder"]["input_range"] == [-1, 1] and info["licence"]["name"] == "MIT"
    for file, entry in info["files"].items():
        assert entry == {"size": (out / file).stat().st_size, "sha256": sha256_file(out / file)}
    npz = np.load(ref / "reference.npz")
    decoder = TFLiteModel(out / "taesd_decoder.tflite", threads=2)
    decoded = decoder(latent=npz["latent"])["image"]
    assert decoded.shape == npz["decoded"].shape == (1, 512, 512, 3)
    # -1..1 is 0..255 on both sides (not clipped: random weights leave the range);
    # the second figure takes the reference's own (narrower) range as the peak.
    db = psnr(npz["decoded"], decoded, peak=2.0)
    db_own = psnr(npz["decoded"], decoded)
    encoder = TFLiteModel(out / "taesd_encoder.tflite", threads=2)
    encoded = encoder(image=npz["image"])["latent"]
    rel = float(np.linalg.norm(encoded - npz["encoded"]) / np.linalg.norm(npz["encoded"]))
    print(f"\nTAESD fp32 vs diffusers {made['diffusers']}: decoder PSNR {db:.1f} dB "
          f"(0..255 scale), {db_own:.1f} dB (reference's own range), max |diff| "
          f"{np.abs(decoded - npz['decoded']).max():.2e}; encoder relative error {rel:.2e}")
    assert db >= 40.0 and db_own >= 40.0
    assert rel < 1e-3

    # 3. int8 (dynamic range) decoder against fp32; decode times at 2 threads.
    q = convert_taesd(ref / "taesd_decoder.safetensors", None, tmp_path / "int8",
                      512, 512, "int8")
    quant = TFLiteModel(tmp_path / "int8" / "taesd_decoder.tflite", threads=2)
    q_decoded = quant(latent=npz["latent"])["image"]
    feeds = {"latent": npz["latent"]}
    t32, t8 = _median_seconds(decoder, feeds), _median_seconds(quant, feeds)
    size8 = q["files"]["taesd_decoder.tflite"]["size"]
    print(f"TAESD int8 decoder vs fp32: PSNR {psnr(decoded, q_decoded, peak=2.0):.1f} dB "
          f"(0..255 scale), vs diffusers {psnr(npz['decoded'], q_decoded, peak=2.0):.1f} dB; "
          f"{size8:,} bytes against {info['files']['taesd_decoder.tflite']['size']:,}")
    print(f"TAESD decoder at 512x512, 2 threads, median of 5: fp32 {t32 * 1000:.0f} ms, "
          f"int8 {t8 * 1000:.0f} ms; {info['decoder']['params']:,} parameters")
    assert "encoder" not in q and psnr(decoded, q_decoded, peak=2.0) >= 20.0
