"""Few-step generation in the pipeline: guidance only where it mixes anything in, TAESD
as the fast and the preview decoder (converted for real, here onto the tiny model), and the
defaults an import gives a few-step model. TAESD against diffusers: test_taesd.py; LCM and
trailing Euler against diffusers at full size: test_import_parity.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from parasight_desktop.engine import sd_convert, sd_import
from parasight_desktop.engine.errors import InputError
from parasight_desktop.engine.pipeline import Engine, Pipeline
from parasight_desktop.engine.store import ModelStore
from parasight_desktop.engine.taesd import attach_taesd, expected_shapes
from parasight_desktop.engine.types import GenerationRequest
from parasight_desktop.library.metadata import format_parameters, settings_from_parameters


def _random_taesd(folder: Path) -> Path:
    """TAESD files in the published layout, seeded random weights of the right shapes."""
    rng = np.random.default_rng(0)
    for part in ("decoder", "encoder"):
        tensors = {name: (0.2 * rng.standard_normal(shape)).astype(np.float32)
                   for name, shape in expected_shapes(part).items()}
        save_file(tensors, str(folder / f"taesd_{part}.safetensors"))
    return folder / "taesd_decoder.safetensors"


@pytest.fixture(scope="module")
def taesd_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model (128x128, 4 latent channels) with TAESD attached at int8."""
    import shutil

    from tests.conftest import TINY_MODEL

    root = tmp_path_factory.mktemp("fewstep")
    folder = root / "models" / "tiny-model"
    shutil.copytree(TINY_MODEL, folder)
    decoder = _random_taesd(root)
    attach_taesd(folder, decoder, decoder.with_name("taesd_encoder.safetensors"), "int8")
    return folder


@pytest.mark.slow
def test_attached_taesd_is_a_verified_part_of_the_model(taesd_model: Path) -> None:
    store = ModelStore([taesd_model.parent], hash_cache=taesd_model.parent / "hashes.json")
    manifest = store.load("tiny-model")  # every file, TAESD's included, size- and hash-checked
    assert manifest.fast_decoder is not None and manifest.preview_decoder is not None
    for file in ("taesd_decoder.tflite", "taesd_preview.tflite", "taesd_encoder.tflite"):
        assert file in manifest.files
    assert "Ollin Boer Bohan" in manifest.licence_text()
    assert store.list_models()[0].fast_decoder == "TAESD"
    assert not (taesd_model / ".taesd-work").exists()


@pytest.mark.slow
def test_fast_decode_uses_taesd_keeps_the_unet_and_says_so(taesd_model: Path) -> None:
    engine = Engine(ModelStore([taesd_model.parent]), threads=2)
    pipe = engine.pipeline("tiny-model")
    request = {"prompt": "a red blob in the snow", "seed": 3, "steps": 3}
    full = engine.generate(GenerationRequest(**request))
    assert full.settings.decoder == ""  # the model's defaults keep its own decoder
    fast = engine.generate(GenerationRequest(**request, fast_decode=True))
    assert fast.settings.decoder == "TAESD"
    spec = pipe.manifest.fast_decoder
    assert spec is not None and pipe.fast_decoder is not None
    expected = pipe.fast_decoder(**{spec.input: pipe.last_latent})[spec.output][0]
    np.testing.assert_array_equal(
        fast.image, np.clip((expected + 1) / 2 * 255, 0, 255).astype(np.uint8))
    assert not np.array_equal(fast.image, full.image)
    assert pipe.unet_parts  # the UNet stays loaded after a fast decode
    text = format_parameters(fast.settings)
    assert "VAE: TAESD" in text
    back = settings_from_parameters(text)
    assert back is not None and back.decoder == "TAESD"


@pytest.mark.slow
def test_image_to_image_encodes_with_the_encoder_beside_the_decoder(taesd_model: Path) -> None:
    """TAESD's encoder with TAESD's decoder, the model's own with its own; a model with
    TAESD only (no encoder of its own) starts from images through TAESD's."""
    engine = Engine(ModelStore([taesd_model.parent]), threads=2)
    pipe = engine.pipeline("tiny-model")
    fast_spec, own_spec = pipe.encoder_spec(fast=True), pipe.encoder_spec(fast=False)
    assert fast_spec is not None and fast_spec.name == "TAESD"
    assert own_spec is not None and own_spec.file == "image_encoder.tflite"
    start = np.random.default_rng(2).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    taesd = pipe.encode_image(start, fast=True)
    own = pipe.encode_image(start, fast=False)
    assert taesd.shape == own.shape == (1, 16, 16, 4) and not np.allclose(taesd, own)
    fast = engine.generate(GenerationRequest("a blob", seed=3, steps=4, init_image=start,
                                             strength=0.5, fast_decode=True))
    assert fast.settings.decoder == "TAESD" and fast.settings.strength == 0.5
    manifest = pipe.manifest
    only_taesd = type(manifest)(**{**manifest.__dict__, "image_encoder": None})
    assert only_taesd.has_image_encoder
    assert Pipeline(only_taesd, threads=1).encoder_spec(fast=False) == fast_spec


@pytest.mark.slow
def test_previews_are_decoded_pictures_at_half_size(taesd_model: Path) -> None:
    engine = Engine(ModelStore([taesd_model.parent]), threads=2)
    shapes: list[tuple[int, ...]] = []
    engine.generate(GenerationRequest("a blob", seed=1, steps=2),
                    on_step=lambda i, n, p: shapes.append(() if p is None else p.shape))
    assert shapes == [(64, 64, 3), (64, 64, 3)]


def test_fast_decode_without_a_fast_decoder_is_refused(tiny_engine) -> None:
    with pytest.raises(InputError, match="has no fast decoder.*add-taesd"):
        tiny_engine.generate(GenerationRequest("a blob", seed=1, steps=2, fast_decode=True))


@pytest.mark.parametrize("sampler,guidance,unconditional", [
    ("dpmpp-2m", 7.5, True), ("dpmpp-2m", 1.0, False), ("dpmpp-2m", 0.0, False),
    ("euler-trailing", 0.0, False), ("lcm", 7.5, False), ("lcm", 1.0, False),
])
def test_unconditional_pass_only_where_guidance_mixes_it_in(
        tiny_engine, monkeypatch, sampler: str, guidance: float, unconditional: bool) -> None:
    pipe = tiny_engine.pipeline()
    seen: list[str] = []
    real = pipe.encode_cached
    monkeypatch.setattr(pipe, "encode_cached", lambda text: seen.append(text) or real(text))
    batches: list[int] = []
    real_unet = pipe._unet
    monkeypatch.setattr(pipe, "_unet", lambda x, t, c: batches.append(x.shape[0])
                        or real_unet(x, t, c))
    tiny_engine.generate(GenerationRequest("a blob", seed=1, steps=2, guidance=guidance,
                                           sampler=sampler))
    assert bool(seen) is unconditional
    assert sum(batches) == (4 if unconditional else 2)  # 2 steps, 2 or 1 images each


def _fake_import(tmp_path: Path, monkeypatch, **kwargs) -> dict:  # type: ignore[no-untyped-def]
    from tests.engine.test_checkpoint import sd_file
    from tests.ui.test_import_dialog import ImportWorker

    monkeypatch.setattr(sd_convert, "_run_job", ImportWorker())
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "models" / "few"
    sd_import.import_checkpoint(sd_file(tmp_path / "base.safetensors", **kwargs.pop("file", {})),
                                out, name="few", **kwargs)
    return json.loads((out / "manifest.json").read_text())


def test_few_step_kinds_set_the_models_defaults(tmp_path: Path, monkeypatch) -> None:
    lcm = _fake_import(tmp_path / "a", monkeypatch, few_step="lcm")
    assert lcm["defaults"] == {"steps": 4, "guidance": 1.0, "sampler": "lcm",
                               "fast_decode": True}
    turbo = _fake_import(tmp_path / "b", monkeypatch, few_step="turbo",
                         file={"context": 1024}, prediction="epsilon")
    assert turbo["defaults"] == {"steps": 1, "guidance": 0.0, "sampler": "euler-trailing",
                                 "fast_decode": True}
    assert turbo["text_encoder"]["pad_token"] == 0 and turbo["extra"]["family"] == "sd2"
    plain = _fake_import(tmp_path / "c", monkeypatch)
    assert plain["defaults"]["sampler"] == "dpmpp-2m" and plain["extra"]["family"] == "sd1"
    with pytest.raises(InputError, match="Unknown few-step kind"):
        _fake_import(tmp_path / "d", monkeypatch, few_step="hyper")


def test_the_lcm_lora_is_recognised_by_its_hash(tmp_path: Path, monkeypatch) -> None:
    from parasight_desktop.engine.fileio import sha256_file
    from tests.engine.test_checkpoint import _base

    lora = tmp_path / "pytorch_lora_weights.safetensors"
    module = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    save_file({f"{module}.lora_down.weight": np.zeros((4, 768), np.float32),
               f"{module}.lora_up.weight": np.zeros((320, 4), np.float32)}, str(lora))
    monkeypatch.setitem(sd_import.FEW_STEP_LORAS, sha256_file(lora), "lcm")
    from tests.ui.test_import_dialog import ImportWorker

    monkeypatch.setattr(sd_convert, "_run_job", ImportWorker())
    out = tmp_path / "models" / "lcm"
    sd_import.import_checkpoint(_base(tmp_path), out, name="lcm",
                                loras=[sd_import.LoraSpec(lora, 1.0)])
    assert json.loads((out / "manifest.json").read_text())["defaults"]["sampler"] == "lcm"


@pytest.mark.slow
def test_guidance_embedding_matches_diffusers_lcm_time_embedding(tmp_path: Path) -> None:
    """LCM-distilled UNets: our host-side guidance embedding + cond_proj, added to the
    timestep embedding, then the UNet's own time MLP (linear_1, SiLU, linear_2), equals
    diffusers' TimestepEmbedding(..., cond_proj_dim=256) fed by the LCM pipeline's
    get_guidance_scale_embedding, for several timesteps and guidance scales."""
    import subprocess

    from benchmarks.import_fixture import ROOT, reference
    from parasight_desktop.engine.safetensors_io import SafetensorsFile
    from parasight_desktop.engine.timestep import GuidanceEmbedding, TimestepEmbedding

    subprocess.run(["bash", str(ROOT / "benchmarks" / "ref_env.sh")], check=True)
    reference("guidance-embedding", str(tmp_path), "--seed", "0")
    w = SafetensorsFile(tmp_path / "weights.safetensors")
    ref = np.load(tmp_path / "reference.npz")
    guidance = GuidanceEmbedding(w.read("cond_proj.weight"))
    timestep = TimestepEmbedding(dim=320)
    worst = 0.0
    for t, g, want in zip(ref["t"], ref["guidance"], ref["out"], strict=True):
        x = timestep(np.array([t]))[0] + guidance(float(g))
        h = x @ w.read("linear_1.weight").T + w.read("linear_1.bias")
        h = h / (1 + np.exp(-h))  # SiLU
        got = h @ w.read("linear_2.weight").T + w.read("linear_2.bias")
        worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
    print(f"\nguidance embedding vs diffusers: worst relative error {worst:.1e}")
    # float32 sin/cos of arguments up to 7,000 (w = (8 - 1) * 1000): one ulp of exp() in
    # either library moves the argument by ~4e-4, which is the size of what is left
    assert worst < 2e-4


def test_an_lcm_distilled_folder_keeps_its_guidance_projection(tmp_path: Path,
                                                               monkeypatch) -> None:
    from tests.engine.test_checkpoint import _diffusers_folder
    from tests.ui.test_import_dialog import ImportWorker

    folder = _diffusers_folder(tmp_path / "lcm-dreamshaper", {
        "decoder.conv_in.weight": np.zeros((512, 4, 3, 3), np.float32)})
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    from safetensors.numpy import load_file

    tensors = load_file(str(unet))
    projection = np.random.default_rng(2).standard_normal((320, 256)).astype(np.float32)
    save_file({**tensors, "time_embedding.cond_proj.weight": projection}, str(unet))
    plan = sd_import.inspect_checkpoint(folder)
    assert plan.guidance_embedding
    monkeypatch.setattr(sd_convert, "_run_job", ImportWorker())
    out = tmp_path / "models" / "lcm-dreamshaper"
    sd_import.import_checkpoint(folder, out, name="lcm-dreamshaper")
    data = json.loads((out / "manifest.json").read_text())
    assert data["defaults"] == {"steps": 4, "guidance": 8.0, "sampler": "lcm",
                                "fast_decode": True}
    stored = np.load(out / data["guidance_embedding"]["file"], allow_pickle=False)
    np.testing.assert_array_equal(stored, projection)
    assert data["files"]["guidance_projection.npy"]["size"] == (
        out / "guidance_projection.npy").stat().st_size


def test_the_guidance_embedding_steers_an_lcm_model(tiny_model_dir: Path, tiny_store) -> None:
    data = json.loads((tiny_model_dir / "manifest.json").read_text())
    dim = data["timestep_embedding"]["dim"]
    path = tiny_model_dir / "guidance_projection.npy"
    np.save(path, np.random.default_rng(0).standard_normal((dim, 256)).astype(np.float32),
            allow_pickle=False)
    from parasight_desktop.engine.fileio import sha256_file

    data["files"][path.name] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    data["guidance_embedding"] = {"file": path.name, "dim": 256}
    (tiny_model_dir / "manifest.json").write_text(json.dumps(data))
    engine = Engine(tiny_store, threads=2)

    def image(g: float) -> np.ndarray:
        return engine.generate(GenerationRequest("a blob", seed=2, steps=2, guidance=g,
                                                 sampler="lcm")).image

    assert not np.array_equal(image(1.0), image(8.0))  # LCM ignores guidance, the embedding not
    np.testing.assert_array_equal(image(8.0), image(8.0))
