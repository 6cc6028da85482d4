"""The catalogue: the published SD v1.4 files, their licence, where downloads go."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parasight_desktop.engine import catalog
from parasight_desktop.engine.errors import InputError

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
