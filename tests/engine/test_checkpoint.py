"""Reading checkpoints people have: the safetensors reader against the reference writer,
LDM -> diffusers names, what is refused (each with its sentence), LoRA merging, and the
identity a PNG carries. Small files made here; the full-size mapping is checked against
diffusers in test_import_parity.py."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from parasight_desktop.engine import sd_import
from parasight_desktop.engine.checkpoint import (
    IGNORED,
    ldm_unet_name,
    ldm_vae_name,
    open_checkpoint,
)
from parasight_desktop.engine.errors import InputError
from parasight_desktop.engine.lora import MergedWeights, read_lora
from parasight_desktop.engine.safetensors_io import SafetensorsFile
from parasight_desktop.engine.sd_import import (
    LoraSpec,
    a1111_lora_hash,
    identity,
    inspect_checkpoint,
    suggest_name,
)

CONV_IN = "model.diffusion_model.input_blocks.0.0.weight"
TO_K = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
CONV1 = "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"


def sd_file(path: Path, *, context: int = 768, channels: int = 4,
            extra: dict[str, np.ndarray] | None = None,
            metadata: dict[str, str] | None = None) -> Path:
    """A small file with the keys that make it an SD 1.x (768) or 2.x (1024) checkpoint."""
    rng = np.random.default_rng(0)
    tensors = {
        CONV_IN: rng.standard_normal((320, channels, 3, 3)).astype(np.float32),
        TO_K: rng.standard_normal((320, context)).astype(np.float32),
        CONV1: rng.standard_normal((320, 320, 3, 3)).astype(np.float32),
        "first_stage_model.decoder.conv_in.weight":
            rng.standard_normal((512, 4, 3, 3)).astype(np.float32),
        **(extra or {}),
    }
    save_file(tensors, str(path), metadata=metadata)
    return path


def raw_file(path: Path, header: dict, data: bytes) -> Path:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


# ------------------------------------------------------------------ the reader


def test_reader_matches_the_reference_writer_for_fp32_and_fp16(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 5, 2)).astype(np.float32)
    b = rng.standard_normal((7,)).astype(np.float16)
    c = np.arange(6, dtype=np.int64).reshape(2, 3)
    save_file({"a": a, "b": b, "c": c}, str(tmp_path / "x.safetensors"),
              metadata={"format": "pt"})
    f = SafetensorsFile(tmp_path / "x.safetensors")
    assert set(f) == {"a", "b", "c"} and f.metadata == {"format": "pt"}
    np.testing.assert_array_equal(f.read("a"), a)
    assert f.read("b").dtype == np.float32
    np.testing.assert_array_equal(f.read("b"), b.astype(np.float32))
    np.testing.assert_array_equal(f.read("c"), c)


def test_reader_widens_bf16_exactly(tmp_path: Path) -> None:
    values = np.array([1.0, -2.5, 3.140625, 1e-3, 65280.0], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")  # bf16 is fp32's upper half
    path = raw_file(tmp_path / "b.safetensors",
                    {"w": {"dtype": "BF16", "shape": [5], "data_offsets": [0, 10]}},
                    bits.tobytes())
    expect = (bits.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(SafetensorsFile(path).read("w"), expect)
    assert abs(float(expect[2]) - 3.140625) < 1e-6


def test_truncated_and_damaged_files_are_named_as_such(tmp_path: Path) -> None:
    good = sd_file(tmp_path / "good.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-1000])
    with pytest.raises(InputError, match="truncated.*download it again"):
        SafetensorsFile(cut)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(InputError, match="damaged or incomplete"):
        SafetensorsFile(junk)
    lying = raw_file(tmp_path / "lying.safetensors",
                     {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 8)
    with pytest.raises(InputError, match="does not match its shape"):
        SafetensorsFile(lying)
    with pytest.raises(InputError, match="damaged"):
        inspect_checkpoint(cut)


class _Payload:
    """Unpickling this creates a folder: what a malicious checkpoint could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "unet.bin", "disguised.safetensors"])
def test_pickles_are_refused_without_being_opened(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "unpickled-marker"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"state_dict": _Payload(marker)}))
    with pytest.raises(InputError, match="pickled PyTorch file.*can run any code"):
        inspect_checkpoint(path)
    assert not marker.exists()
    # a diffusers folder whose UNet is pickled is refused the same way
    folder = tmp_path / "folder"
    for part in ("unet", "vae", "text_encoder"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(InputError, match="pickled"):
        inspect_checkpoint(folder)
    assert not marker.exists()


# ------------------------------------------------------------------ what it is


def test_sd1_and_sd2_are_told_apart_by_the_cross_attention_width(tmp_path: Path) -> None:
    plan = inspect_checkpoint(sd_file(tmp_path / "My Model_v2.safetensors"))
    assert (plan.family, plan.layout) == ("sd1", "ldm")
    assert plan.family_label == "Stable Diffusion 1.x"
    assert suggest_name(plan.source) == "my-model_v2".replace("_", "-")
    sd2 = sd_file(tmp_path / "sd2.safetensors", context=1024,
                  metadata={"modelspec.prediction_type": "epsilon"})
    assert inspect_checkpoint(sd2).family == "sd2"


@pytest.mark.parametrize("key,shape,family", [
    ("conditioner.embedders.1.model.transformer.resblocks.0.ln_1.weight", (4,), "XL"),
    ("model.diffusion_model.label_emb.0.0.weight", (4, 4), "XL"),
    ("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", (4, 4), "3"),
    ("model.diffusion_model.double_blocks.0.img_attn.qkv.weight", (4, 4), "Flux"),
])
def test_other_families_are_named(tmp_path: Path, key: str, shape: tuple[int, ...],
                                  family: str) -> None:
    path = tmp_path / "other.safetensors"
    save_file({key: np.zeros(shape, np.float32)}, str(path))
    with pytest.raises(InputError, match=f"{family}.*Stable Diffusion 1.x and 2.x models only"):
        inspect_checkpoint(path)


def test_inpainting_v_prediction_and_unknown_tensors_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="inpainting checkpoint.*9 input channels"):
        inspect_checkpoint(sd_file(tmp_path / "inpaint.safetensors", channels=9))
    silent = sd_file(tmp_path / "sd2.safetensors", context=1024)
    with pytest.raises(InputError, match="does not say what its UNet predicts.*--prediction"):
        inspect_checkpoint(silent)
    assert inspect_checkpoint(silent, prediction="epsilon").family == "sd2"
    with pytest.raises(InputError, match="v-prediction model"):
        inspect_checkpoint(silent, prediction="v")
    v = sd_file(tmp_path / "v.safetensors", context=1024,
                metadata={"modelspec.prediction_type": "v"})
    with pytest.raises(InputError, match="v-prediction"):
        inspect_checkpoint(v)
    odd = sd_file(tmp_path / "odd.safetensors",
                  extra={"model.diffusion_model.mystery_block.weight": np.zeros(3, np.float32)})
    with pytest.raises(InputError, match="1 tensors ParaSight does not understand.*mystery"):
        inspect_checkpoint(odd)


def test_known_extras_are_ignored_by_name_and_ema_is_noticed(tmp_path: Path) -> None:
    ema = {f"model_ema.diffusion_modelinput_blocks{i}": np.zeros(1, np.float32)
           for i in range(101)}
    path = sd_file(tmp_path / "ema.safetensors", extra={
        **ema, "alphas_cumprod": np.zeros(1000, np.float32),
        "cond_stage_model.transformer.text_model.embeddings.position_ids":
            np.arange(77, dtype=np.int64)[None],
        "first_stage_model.encoder.conv_in.weight": np.zeros((128, 3, 3, 3), np.float32)})
    plan = inspect_checkpoint(path)
    assert plan.has_ema
    reasons = dict(IGNORED)
    assert plan.ignored[reasons[r"model_ema\..*"]] == 101
    assert sum(plan.ignored.values()) == 103
    assert plan.image_encoder  # the VAE's encoder is read, not ignored
    assert not inspect_checkpoint(sd_file(tmp_path / "plain.safetensors")).image_encoder


def test_a_lora_or_a_vae_given_as_the_model_gets_pointed_to_the_right_place(
        tmp_path: Path) -> None:
    lora = tmp_path / "style.safetensors"
    save_file({"lora_unet_x.lora_down.weight": np.zeros((4, 8), np.float32)}, str(lora))
    with pytest.raises(InputError, match="is a LoRA.*--lora"):
        inspect_checkpoint(lora)
    vae = tmp_path / "vae.safetensors"
    save_file({"decoder.conv_in.weight": np.zeros((512, 4, 3, 3), np.float32)}, str(vae))
    with pytest.raises(InputError, match="VAE alone.*--vae"):
        inspect_checkpoint(vae)


# ------------------------------------------------------------------ names


@pytest.mark.parametrize("ldm,diffusers", [
    ("time_embed.0.weight", "time_embedding.linear_1.weight"),
    ("time_embed.2.bias", "time_embedding.linear_2.bias"),
    ("input_blocks.0.0.bias", "conv_in.bias"),
    ("input_blocks.1.0.in_layers.0.weight", "down_blocks.0.resnets.0.norm1.weight"),
    ("input_blocks.2.1.proj_in.weight", "down_blocks.0.attentions.1.proj_in.weight"),
    ("input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"),
    ("input_blocks.4.0.skip_connection.bias", "down_blocks.1.resnets.0.conv_shortcut.bias"),
    ("input_blocks.8.0.emb_layers.1.weight", "down_blocks.2.resnets.1.time_emb_proj.weight"),
    ("input_blocks.11.0.out_layers.3.weight", "down_blocks.3.resnets.1.conv2.weight"),
    ("middle_block.1.transformer_blocks.0.attn1.to_q.weight",
     "mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight"),
    ("middle_block.2.out_layers.0.bias", "mid_block.resnets.1.norm2.bias"),
    ("output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"),
    ("output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"),
    ("output_blocks.8.2.conv.weight", "up_blocks.2.upsamplers.0.conv.weight"),
    ("output_blocks.7.1.transformer_blocks.0.ff.net.0.proj.weight",
     "up_blocks.2.attentions.1.transformer_blocks.0.ff.net.0.proj.weight"),
    ("output_blocks.11.0.skip_connection.weight", "up_blocks.3.resnets.2.conv_shortcut.weight"),
    ("out.0.weight", "conv_norm_out.weight"),
    ("out.2.bias", "conv_out.bias"),
])
def test_ldm_unet_names(ldm: str, diffusers: str) -> None:
    assert ldm_unet_name(ldm) == diffusers


@pytest.mark.parametrize("ldm,diffusers", [
    ("decoder.up.0.block.2.conv1.weight", "decoder.up_blocks.3.resnets.2.conv1.weight"),
    ("decoder.up.3.upsample.conv.bias", "decoder.up_blocks.0.upsamplers.0.conv.bias"),
    ("decoder.up.1.block.0.nin_shortcut.weight",
     "decoder.up_blocks.2.resnets.0.conv_shortcut.weight"),
    ("decoder.mid.attn_1.proj_out.weight", "decoder.mid_block.attentions.0.to_out.0.weight"),
    ("decoder.mid.attn_1.norm.bias", "decoder.mid_block.attentions.0.group_norm.bias"),
    ("decoder.mid.block_2.norm1.weight", "decoder.mid_block.resnets.1.norm1.weight"),
    ("decoder.norm_out.weight", "decoder.conv_norm_out.weight"),
    ("post_quant_conv.bias", "post_quant_conv.bias"),
])
def test_ldm_vae_names(ldm: str, diffusers: str) -> None:
    assert ldm_vae_name(ldm) == diffusers


def test_openclip_in_proj_splits_into_q_k_v_and_layer_23_is_dropped(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3 * 8, 8)).astype(np.float32)
    p = "cond_stage_model.model.transformer.resblocks"
    path = sd_file(tmp_path / "sd2.safetensors", context=1024, extra={
        f"{p}.0.attn.in_proj_weight": w, f"{p}.23.attn.in_proj_weight": w,
        "cond_stage_model.model.text_projection": np.zeros((8, 8), np.float32)},
        metadata={"modelspec.prediction_type": "epsilon"})
    ck = open_checkpoint(path)
    layer = "text_encoder.text_model.encoder.layers"
    for i, name in enumerate("qkv"):
        np.testing.assert_array_equal(
            ck.tensors[f"{layer}.0.self_attn.{name}_proj.weight"].read(), w[8 * i:8 * (i + 1)])
    assert not any(".layers.23." in k for k in ck.tensors)
    assert sum(ck.ignored.values()) == 2


# ------------------------------------------------------------------ LoRA


def _base(tmp_path: Path) -> Path:
    return sd_file(tmp_path / "base.safetensors")


def test_kohya_lora_merges_linear_and_3x3_conv_with_alpha_over_rank(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    down_k, up_k = rng.standard_normal((4, 768)), rng.standard_normal((320, 4))
    down_c, up_c = rng.standard_normal((4, 320, 3, 3)), rng.standard_normal((320, 4, 1, 1))
    m_k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    m_c = "lora_unet_input_blocks_1_0_in_layers_2"  # an LDM-style module name
    lora = tmp_path / "style.safetensors"
    save_file({f"{m_k}.lora_down.weight": down_k.astype(np.float32),
               f"{m_k}.lora_up.weight": up_k.astype(np.float32),
               f"{m_k}.alpha": np.array(2.0, np.float32),
               f"{m_c}.lora_down.weight": down_c.astype(np.float32),
               f"{m_c}.lora_up.weight": up_c.astype(np.float32)}, str(lora))
    ck = open_checkpoint(_base(tmp_path))
    lf = read_lora(lora, 0.8, ck)
    merged = MergedWeights(ck, [lf])
    to_k = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    conv1 = "unet.down_blocks.0.resnets.0.conv1.weight"
    assert merged.touched == {to_k, conv1}
    base_k, base_c = ck.tensors[to_k].read(), ck.tensors[conv1].read()
    np.testing.assert_allclose(merged.read(to_k), base_k + 0.8 * 2 / 4 * up_k @ down_k,
                               rtol=1e-5, atol=1e-5)
    delta_c = (up_c[:, :, 0, 0] @ down_c.reshape(4, -1)).reshape(320, 320, 3, 3)
    np.testing.assert_allclose(merged.read(conv1), base_c + 0.8 * delta_c, rtol=1e-5, atol=1e-4)
    plan = inspect_checkpoint(ck.path, loras=[LoraSpec(lora, 0.8)])
    assert plan.loras[0][1] == 2


def test_peft_lora_without_alpha_scales_by_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((8, 768)), rng.standard_normal((320, 8))
    m = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"
    lora = tmp_path / "peft.safetensors"
    save_file({f"{m}.lora_A.weight": a.astype(np.float32),
               f"{m}.lora_B.weight": b.astype(np.float32)}, str(lora))
    ck = open_checkpoint(_base(tmp_path))
    merged = MergedWeights(ck, [read_lora(lora, 1.0, ck)])
    name = f"{m}.weight"
    np.testing.assert_allclose(merged.read(name), ck.tensors[name].read() + b @ a,
                               rtol=1e-5, atol=1e-4)


def test_a_lora_for_another_model_is_refused_with_the_counts(tmp_path: Path) -> None:
    m = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    lora = tmp_path / "sdxl-style.safetensors"
    save_file({f"{m}.lora_down.weight": np.zeros((4, 2048), np.float32),  # SDXL's width
               f"{m}.lora_up.weight": np.zeros((320, 4), np.float32),
               "lora_unet_nowhere.lora_down.weight": np.zeros((4, 8), np.float32),
               "lora_unet_nowhere.lora_up.weight": np.zeros((8, 4), np.float32)}, str(lora))
    with pytest.raises(InputError, match=r"does not fit this Stable Diffusion 1.x model: "
                                         r"0 of 2 .*1 name nothing.*1 have other shapes"):
        inspect_checkpoint(_base(tmp_path), loras=[LoraSpec(lora)])


def test_lora_spec_parses_strengths() -> None:
    assert LoraSpec.parse("a.safetensors:0.5") == LoraSpec(Path("a.safetensors"), 0.5)
    assert LoraSpec.parse("a.safetensors") == LoraSpec(Path("a.safetensors"), 1.0)
    with pytest.raises(InputError, match="must be a number"):
        LoraSpec.parse("a.safetensors:strong")


# ------------------------------------------------------------------ identity, disk


def test_model_hash_is_the_files_sha256_as_automatic1111_writes_it(tmp_path: Path) -> None:
    from parasight_desktop.engine.fileio import sha256_file

    path = _base(tmp_path)
    lora = tmp_path / "style.safetensors"
    save_file({"lora_unet_a.lora_down.weight": np.ones((2, 3), np.float32)}, str(lora))
    ident = identity(path, None, [LoraSpec(lora, 0.6)], sha256_file)
    assert ident["a1111_hash"] == hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    data = lora.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert a1111_lora_hash(lora) == hashlib.sha256(data[8 + n:]).hexdigest()[:12]
    assert ident["loras"][0]["strength"] == 0.6
    from parasight_desktop.engine.manifest import lora_hashes_text

    assert lora_hashes_text(ident["loras"]) == f"style: {a1111_lora_hash(lora)}"


def test_not_enough_disk_space_is_said_before_any_work(tmp_path: Path, monkeypatch) -> None:
    class Usage:
        free = 10**5

    monkeypatch.setattr(sd_import.shutil, "disk_usage", lambda _p: Usage)
    out = tmp_path / "models" / "base"
    with pytest.raises(InputError, match=r"needs about .* GB free .* there are 0.0 GB"):
        sd_import.import_checkpoint(_base(tmp_path), out, name="base", precision="int8")
    assert not out.exists() and not out.with_name("base.converting").exists()


def _diffusers_folder(root: Path, vae_keys: dict[str, np.ndarray],
                      unet_name: str = "diffusion_pytorch_model.safetensors") -> Path:
    rng = np.random.default_rng(7)
    for part in ("unet", "vae", "text_encoder"):
        (root / part).mkdir(parents=True, exist_ok=True)
    save_file({"conv_in.weight": rng.standard_normal((320, 4, 3, 3)).astype(np.float32),
               "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight":
                   rng.standard_normal((320, 768)).astype(np.float16)},
              str(root / "unet" / unet_name))
    save_file(vae_keys, str(root / "vae" / "diffusion_pytorch_model.safetensors"))
    save_file({"embeddings.token_embedding.weight": np.zeros((8, 4), np.float32)},
              str(root / "text_encoder" / "model.safetensors"))
    return root


def test_diffusers_folder_with_old_vae_names_and_an_fp16_variant(tmp_path: Path) -> None:
    w = np.arange(16, dtype=np.float32).reshape(4, 4)
    folder = _diffusers_folder(tmp_path / "model", {
        "decoder.mid_block.attentions.0.query.weight": w,
        "decoder.mid_block.attentions.0.proj_attn.bias": np.ones(4, np.float32),
        "encoder.mid_block.attentions.0.key.weight": w},
        unet_name="diffusion_pytorch_model.fp16.safetensors")
    ck = open_checkpoint(folder)
    assert (ck.layout, ck.family) == ("diffusers", "sd1")
    np.testing.assert_array_equal(
        ck.tensors["vae.decoder.mid_block.attentions.0.to_q.weight"].read(), w)
    assert "vae.decoder.mid_block.attentions.0.to_out.0.bias" in ck.tensors
    # transformers 5 writes CLIPTextModel without the text_model. prefix
    assert "text_encoder.text_model.embeddings.token_embedding.weight" in ck.tensors
    to_k = ck.tensors["unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"]
    assert to_k.read().dtype == np.float32  # fp16 widened
    # the encoder's attention too: old names, a linear weight
    np.testing.assert_array_equal(
        ck.tensors["vae.encoder.mid_block.attentions.0.to_k.weight"].read(), w)
    assert not ck.ignored


def test_a_separate_vae_replaces_the_decoder_and_must_be_complete(tmp_path: Path) -> None:
    base = _base(tmp_path)
    vae = tmp_path / "vae-ft-mse.safetensors"
    new = np.full((512, 4, 3, 3), 0.5, np.float32)
    save_file({"decoder.conv_in.weight": new, "encoder.conv_in.weight": new}, str(vae))
    plan = inspect_checkpoint(base, vae=vae)
    assert plan.vae == vae and plan.image_encoder  # the file brings an encoder
    ck, _ = sd_import._open(base, vae, [], None)
    np.testing.assert_array_equal(ck.tensors["vae.decoder.conv_in.weight"].read(), new)
    np.testing.assert_array_equal(ck.tensors["vae.encoder.conv_in.weight"].read(), new)
    empty = tmp_path / "not-a-vae.safetensors"
    save_file({"encoder.conv_in.weight": new}, str(empty))
    with pytest.raises(InputError, match="lacks 1 tensors of a Stable Diffusion VAE decoder"):
        inspect_checkpoint(base, vae=empty)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"decoder.conv_in.weight": np.zeros((256, 4, 3, 3), np.float32)}, str(wrong))
    with pytest.raises(InputError, match="does not fit this model"):
        inspect_checkpoint(base, vae=wrong)


def test_a_separate_vae_replaces_the_checkpoints_encoder_as_a_whole(tmp_path: Path) -> None:
    old = np.zeros((128, 3, 3, 3), np.float32)
    base = sd_file(tmp_path / "base.safetensors", extra={
        "first_stage_model.encoder.conv_in.weight": old,
        "first_stage_model.quant_conv.weight": np.zeros((8, 8, 1, 1), np.float32)})
    decoder = np.full((512, 4, 3, 3), 0.5, np.float32)
    only_decoder = tmp_path / "decoder-only.safetensors"
    save_file({"decoder.conv_in.weight": decoder}, str(only_decoder))
    ck, _ = sd_import._open(base, only_decoder, [], None)  # the checkpoint's encoder stays
    np.testing.assert_array_equal(ck.tensors["vae.encoder.conv_in.weight"].read(), old)
    both = tmp_path / "both.safetensors"
    new = np.ones((128, 3, 3, 3), np.float32)
    save_file({"decoder.conv_in.weight": decoder, "encoder.conv_in.weight": new,
               "quant_conv.weight": np.ones((8, 8, 1, 1), np.float32)}, str(both))
    ck, _ = sd_import._open(base, both, [], None)
    np.testing.assert_array_equal(ck.tensors["vae.encoder.conv_in.weight"].read(), new)
    np.testing.assert_array_equal(ck.tensors["vae.quant_conv.weight"].read(), 1.0)
    partial = tmp_path / "partial.safetensors"
    save_file({"decoder.conv_in.weight": decoder, "encoder.conv_in.weight": new},
              str(partial))
    with pytest.raises(InputError, match="image encoder does not fit this model "
                                         r"\(vae.quant_conv.weight"):
        inspect_checkpoint(base, vae=partial)


def _ldm_encoder(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The VAE encoder of an SD 1.x/2.x single file, as LDM names and shapes it
    (``ldm/modules/diffusionmodules/model.py``'s ``Encoder``, ch 128, ch_mult 1,2,4,4,
    2 res blocks, double_z; ``quant_conv`` 8 -> 8)."""
    out: dict[str, np.ndarray] = {}

    def put(name: str, *shape: int) -> None:
        for kind, s in (("weight", shape), ("bias", shape[:1])):
            out[f"first_stage_model.{name}.{kind}"] = rng.standard_normal(s).astype(np.float32)

    def resnet(name: str, cin: int, cout: int) -> None:
        put(f"{name}.norm1", cin)
        put(f"{name}.conv1", cout, cin, 3, 3)
        put(f"{name}.norm2", cout)
        put(f"{name}.conv2", cout, cout, 3, 3)
        if cin != cout:
            put(f"{name}.nin_shortcut", cout, cin, 1, 1)

    put("encoder.conv_in", 128, 3, 3, 3)
    widths = [128, 256, 512, 512]
    cin = 128
    for i, w in enumerate(widths):
        for j in range(2):
            resnet(f"encoder.down.{i}.block.{j}", cin, w)
            cin = w
        if i < 3:
            put(f"encoder.down.{i}.downsample.conv", w, w, 3, 3)
    resnet("encoder.mid.block_1", 512, 512)
    put("encoder.mid.attn_1.norm", 512)
    for x in ("q", "k", "v", "proj_out"):
        put(f"encoder.mid.attn_1.{x}", 512, 512, 1, 1)
    resnet("encoder.mid.block_2", 512, 512)
    put("encoder.norm_out", 512)
    put("encoder.conv_out", 8, 512, 3, 3)
    put("quant_conv", 8, 8, 1, 1)
    return out


def test_the_vae_encoder_maps_onto_keras_cvs_image_encoder_by_attribute(
        tmp_path: Path) -> None:
    """Every variable of keras-cv's ImageEncoder set once from an LDM file's encoder, each
    where its module says (a shortcut, the attention, the downsamplers, quant_conv: the
    values are distinct, so a swap shows); a tensor too many or too few is refused. That
    the arithmetic then equals diffusers' is test_import_parity.py's image-to-image case."""
    from parasight_desktop.engine.checkpoint import ENCODER_PREFIXES
    from parasight_desktop.engine.errors import ModelError
    from parasight_desktop.engine.keras_map import set_image_encoder
    from parasight_desktop.engine.sd_convert import _cheap_init, build_keras

    tensors = _ldm_encoder(np.random.default_rng(3))
    path = sd_file(tmp_path / "with-encoder.safetensors", extra=tensors)
    ck = open_checkpoint(path)
    names = [k for k in ck.tensors if k.startswith(ENCODER_PREFIXES)]
    assert len(names) == len(tensors) == 108
    with _cheap_init():
        model = build_keras("image_encoder", None, 512, 512)
    weights = MergedWeights(ck, [])
    assert set_image_encoder(model, weights, names) == len(model.weights) == 108

    def src(key: str) -> np.ndarray:
        return tensors[f"first_stage_model.{key}"]

    layers = [layer for layer in model.layers if layer.weights]
    conv = {0: "encoder.conv_in", 3: "encoder.down.0.downsample.conv",
            6: "encoder.down.1.downsample.conv", 9: "encoder.down.2.downsample.conv",
            16: "encoder.conv_out", 17: "quant_conv"}
    for index, key in conv.items():
        layer = layers[index].conv2d if hasattr(layers[index], "conv2d") else layers[index]
        np.testing.assert_array_equal(np.asarray(layer.kernel),
                                      src(f"{key}.weight").transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(np.asarray(layer.bias), src(f"{key}.bias"))
    shortcut = layers[4].residual_projection  # down_blocks.1.resnets.0: 128 -> 256
    np.testing.assert_array_equal(np.asarray(shortcut.conv2d.kernel),
                                  src("encoder.down.1.block.0.nin_shortcut.weight")
                                  .transpose(2, 3, 1, 0))
    attention = layers[13]
    for attr, key in (("q", "q"), ("k", "k"), ("v", "v"), ("proj_out", "proj_out")):
        got = getattr(attention, attr)
        got = got.conv2d if hasattr(got, "conv2d") else got
        np.testing.assert_array_equal(np.asarray(got.kernel)[0, 0],
                                      src(f"encoder.mid.attn_1.{key}.weight")[:, :, 0, 0].T)
    np.testing.assert_array_equal(np.asarray(layers[15].gamma), src("encoder.norm_out.weight"))
    np.testing.assert_array_equal(np.asarray(layers[14].norm2.beta),
                                  src("encoder.mid.block_2.norm2.bias"))
    with _cheap_init():
        fresh = build_keras("image_encoder", None, 512, 512)
    with pytest.raises(ModelError, match="lacks vae.quant_conv.bias"):
        set_image_encoder(fresh, weights, [n for n in names if n != "vae.quant_conv.bias"])
    odd = open_checkpoint(sd_file(tmp_path / "odd.safetensors", extra={
        **tensors, "first_stage_model.encoder.down.3.block.2.norm1.weight":
        np.ones(512, np.float32)}))  # a third resnet: a name diffusers has, a shape keras-cv not
    with _cheap_init():
        fresh = build_keras("image_encoder", None, 512, 512)
    with pytest.raises(ModelError, match="1 tensors that keras-cv's architecture has no place"):
        set_image_encoder(fresh, MergedWeights(odd, []),
                          [k for k in odd.tensors if k.startswith(ENCODER_PREFIXES)])
