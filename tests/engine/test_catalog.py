"""The catalogue: the published SD v1.4 files, the add-ons (LCM-LoRA, TAESD), their
licences, where downloads go and how a download is found again."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from parasight_desktop.engine import catalog
from parasight_desktop.engine.errors import InputError
from parasight_desktop.engine.store import resources_dir

# The table in issue 5: the URLs and hashes keras_cv.models.StableDiffusion itself uses.
PUBLISHED = {
    "text_encoder": (
        "https://huggingface.co/fchollet/stable-diffusion/resolve/main/kcv_encoder.h5",
        "4789e63e07c0e54d6a34a29b45ce81ece27060c499a709d556c7755b42bb0dc4"),
    "diffusion_model": (
        "https://huggingface.co/fchollet/stable-diffusion/resolve/main/kcv_diffusion_model.h5",
        "8799ff9763de13d7f30a683d653018e114ed24a6a819667da4f5ee10f9e805fe"),
    "decoder": (
        "https://huggingface.co/fchollet/stable-diffusion/resolve/main/kcv_decoder.h5",
        "ad350a65cc8bc4a80c8103367e039a3329b4231c2469a1093869a345f55b1962"),
    "image_encoder": (
        "https://huggingface.co/fchollet/stable-diffusion/resolve/main/vae_encoder.h5",
        "c60fb220a40d090e0f86a6ab4c312d113e115c87c40ff75d11ffcf380aab7ebb"),
}


def test_sd_v14_lists_the_published_files_and_hashes() -> None:
    entry = catalog.get_entry("sd-v1.4")
    assert {f.role: (f.url, f.sha256) for f in entry.files} == PUBLISHED
    for f in entry.files:
        assert f.url.rsplit("/", 1)[1] == f.filename
        assert re.fullmatch(r"[0-9a-f]{64}", f.sha256)
    assert (entry.width, entry.height) == (512, 512)
    assert entry.default_precision in ("fp32", "fp16", "int8")


def test_the_image_encoder_is_optional() -> None:
    entry = catalog.get_entry("sd-v1.4")
    assert [f.role for f in entry.wanted()] == ["text_encoder", "diffusion_model", "decoder"]
    assert len(entry.wanted(include_optional=True)) == 4
    assert entry.file("image_encoder").optional
    assert 3_500_000_000 < entry.approx_bytes() < entry.approx_bytes(include_optional=True)


def test_licence_notice_names_the_licence_and_its_restrictions() -> None:
    entry = catalog.get_entry("sd-v1.4")
    text = entry.licence_text
    assert entry.licence_name == "CreativeML OpenRAIL-M"
    assert entry.licence_url in text
    assert "full text" in text and "summary" in text
    for restriction in ("minors", "false information", "harass", "medical advice"):
        assert restriction in text


def test_a_missing_licence_file_falls_back_to_name_and_url(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PARASIGHT_RESOURCES", str(tmp_path))
    entry = catalog.get_entry("sd-v1.4")
    assert entry.licence_name in entry.licence_text and entry.licence_url in entry.licence_text


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"'sd-v9'.*sd-v1\.4"):
        catalog.get_entry("sd-v9")


def test_downloads_live_in_the_user_data_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PARASIGHT_DATA_DIR", str(tmp_path))
    entry = catalog.get_entry("sd-v1.4")
    assert catalog.downloads_dir("sd-v1.4") == tmp_path / "downloads" / "sd-v1.4"
    assert catalog.local_path(entry, "decoder") == Path(
        tmp_path, "downloads", "sd-v1.4", "kcv_decoder.h5")


def test_mirror_replaces_the_address_but_keeps_the_file_name(monkeypatch) -> None:
    f = catalog.get_entry("sd-v1.4").file("decoder")
    assert f.url_from(None) == f.url
    assert f.url_from("http://127.0.0.1:8000/sd/") == "http://127.0.0.1:8000/sd/kcv_decoder.h5"
    assert f.url_from("http://m.example/sd") == "http://m.example/sd/kcv_decoder.h5"
    monkeypatch.delenv(catalog.MIRROR_ENV, raising=False)
    assert catalog.mirror_from_env() is None
    monkeypatch.setenv(catalog.MIRROR_ENV, "http://m.example/x")
    assert catalog.mirror_from_env() == "http://m.example/x"


# -- add-ons ------------------------------------------------------------------------


def test_addons_are_downloadable_but_not_models() -> None:
    assert [(e.name, e.kind) for e in catalog.all_entries()] == [
        ("sd-v1.4", "model"), ("lcm-lora-sdv1-5", "lora"), ("taesd", "decoder")]
    assert list(catalog.CATALOG) == ["sd-v1.4"]  # what is converted (the Models dialog)
    assert all(catalog.get_entry(n).kind == k for n, k in
               [("lcm-lora-sdv1-5", "lora"), ("taesd", "decoder"), ("sd-v1.4", "model")])
    assert catalog.model_entry("sd-v1.4").is_model
    for name, word in (("lcm-lora-sdv1-5", "LoRA"), ("taesd", "image decoder")):
        with pytest.raises(InputError, match=rf"is a {word}, not a model.*not converted"):
            catalog.model_entry(name)
    with pytest.raises(InputError, match=r"'x'.*sd-v1\.4, lcm-lora-sdv1-5, taesd"):
        catalog.get_entry("x")
    with pytest.raises(ValueError, match="kind"):
        replace(catalog.get_entry("taesd"), kind="vae")


def test_lcm_lora_is_the_published_file() -> None:
    (f,) = catalog.get_entry("lcm-lora-sdv1-5").files
    assert f.role == "lora" and f.filename == "pytorch_lora_weights.safetensors"
    assert f.url == ("https://huggingface.co/latent-consistency/lcm-lora-sdv1-5/resolve/main/"
                     "pytorch_lora_weights.safetensors")
    assert f.sha256 == "8f90d840e075ff588a58e22c6586e2ae9a6f7922996ee6649a7f01072333afe4"
    assert f.size == 134_621_556 and not f.optional


def test_taesd_is_pinned_to_a_hub_revision() -> None:
    entry = catalog.get_entry("taesd")
    sizes = {"decoder": 4_895_612, "encoder": 4_895_600}
    assert {f.role: f.size for f in entry.wanted()} == sizes  # both, neither optional
    for f in entry.files:
        m = re.fullmatch(r"https://huggingface\.co/madebyollin/taesd/resolve/([0-9a-f]{40})/"
                         r"(taesd_(?:de|en)coder\.safetensors)", f.url)
        assert m, f.url  # a commit, never "main": editions replace the files in place
        assert m.group(2) == f.filename == f"taesd_{f.role}.safetensors"
        assert f.sha256 == ""  # taken from the hub's X-Linked-Etag, then recorded
    assert len({f.url.rsplit("/", 2)[1] for f in entry.files}) == 1  # one revision


@pytest.mark.parametrize("name", ["sd-v1.4", "lcm-lora-sdv1-5", "taesd"])
def test_every_entry_ships_its_licence_notice(name) -> None:
    entry = catalog.get_entry(name)
    path = resources_dir() / "licences" / entry.licence_file
    assert path.is_file(), path
    assert entry.licence_text == path.read_text(encoding="utf-8")
    assert entry.licence_url in entry.licence_text


def test_the_addon_licences_say_what_they_are() -> None:
    lcm = catalog.get_entry("lcm-lora-sdv1-5")
    assert lcm.licence_name == "OpenRAIL++"
    assert "openrail++" in lcm.licence_text and "full text" in lcm.licence_text
    assert "CreativeML Open RAIL++-M" in lcm.licence_text
    taesd = catalog.get_entry("taesd")
    assert taesd.licence_name == "MIT"
    text = taesd.licence_text
    assert "MIT License" in text and "Copyright (c) 2023 Ollin Boer Bohan" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


# -- finding a download again -------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_downloaded_path_of_a_pinned_file(monkeypatch) -> None:
    real = catalog.get_entry("lcm-lora-sdv1-5")
    data = b"lora weights"
    entry = replace(real, files=(replace(real.files[0], sha256=_sha(data), size=len(data)),))
    monkeypatch.setitem(catalog.ADDONS, entry.name, entry)
    assert catalog.downloaded_path("lcm-lora-sdv1-5", "lora") is None  # not downloaded
    path = catalog.local_path(entry, "lora")
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    assert catalog.downloaded_path("lcm-lora-sdv1-5", "lora") == path
    path.write_bytes(data.upper())  # same size, other bytes
    assert catalog.downloaded_path("lcm-lora-sdv1-5", "lora") is None
    assert catalog.downloaded_path("lcm-lora-sdv1-5", "lora", verify=False) == path
    path.write_bytes(data + b"!")
    assert catalog.downloaded_path("lcm-lora-sdv1-5", "lora", verify=False) is None
    with pytest.raises(InputError, match="has no file 'unet': it has lora"):
        catalog.downloaded_path("lcm-lora-sdv1-5", "unet")


def test_an_unpinned_file_counts_only_with_a_record_for_its_url() -> None:
    entry = catalog.get_entry("taesd")
    data = b"d" * 4_895_612
    path = catalog.local_path(entry, "decoder")
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    assert catalog.downloaded_path("taesd", "decoder") is None  # nothing to verify against
    catalog.record_hash(entry, "decoder", _sha(data), len(data), "X-Linked-Etag")
    assert catalog.recorded_hash(entry, "decoder") == (_sha(data), len(data))
    assert catalog.downloaded_path("taesd", "decoder") == path
    assert catalog.downloaded_path("taesd", "encoder") is None
    # A new revision in the catalogue makes the record stale.
    moved = replace(entry, files=tuple(replace(f, url=f.url.replace("/resolve/", "/r/"))
                                       for f in entry.files))
    assert catalog.recorded_hash(moved, "decoder") is None
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, catalog.HASHES_FILE])  # written atomically: no temporary left behind


def test_a_damaged_record_is_no_record() -> None:
    entry = catalog.get_entry("taesd")
    folder = catalog.downloads_dir("taesd")
    folder.mkdir(parents=True)
    (folder / catalog.HASHES_FILE).write_text("{not json")
    assert catalog.recorded_hash(entry, "decoder") is None
    catalog.record_hash(entry, "decoder", "0" * 64, 1, "X-Linked-Etag")  # rewrites it
    assert catalog.recorded_hash(entry, "decoder") == ("0" * 64, 1)
