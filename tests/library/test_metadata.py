"""PNG metadata: A1111 text both ways, ParaSight's own chunk, XMP, and damaged files."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import parasight_desktop
from parasight_desktop.engine.types import GenerationSettings
from parasight_desktop.library.errors import MetadataError
from parasight_desktop.library.metadata import (
    AI_SOURCE_TYPE,
    format_parameters,
    parse_parameters,
    png_bytes,
    read_png_metadata,
    settings_from_parameters,
    write_png,
)

from ._helpers import MODEL_HASH, make_settings

# Realistic samples, laid out as AUTOMATIC1111 (and tools copying it) write them.
A1111_CLASSIC = (
    "masterpiece, best quality, a cryptid standing in a misty forest, (glowing eyes:1.2), "
    "<lora:foggy:0.7>\n"
    "Negative prompt: (worst quality, low quality:1.4), blurry, watermark\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 2846159132, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, "
    'Hires upscale: 2, Hires upscaler: Latent, Lora hashes: "foggy: 5e3b0f7c1a2d", '
    "Version: v1.6.0"
)
A1111_SCHEDULE_TYPE = (
    "a lake monster surfacing at dawn, photo, 35mm\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 42, "
    "Size: 1024x1024, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Clip skip: 2, "
    'ADetailer model: face_yolov8n.pt, TI hashes: "easynegative: c74b4e810b03", Version: v1.10.1'
)
MULTILINE_OTHER_TOOL = (
    "a winged figure above the bridge,\n"
    "night, sodium street lights,\n"
    "grainy\n"
    "Negative prompt: cartoon,\n"
    "drawing\n"
    "Steps: 30, Sampler: DPM++ SDE, Schedule type: Automatic, CFG scale: 7.5, Seed: 7, "
    'Size: 512x512, Model: "my model, v2", Template: "a winged figure, night", Version: f2.0.1'
)


# --- A1111 text ----------------------------------------------------------------------


def test_format_parameters_matches_a1111_layout(settings: GenerationSettings) -> None:
    assert format_parameters(settings) == (
        "a pale long-legged creature crossing the road at night\n"
        "Negative prompt: blurry, lowres\n"
        "Steps: 20, Sampler: DPM++ 2M, CFG scale: 7.5, Seed: 123, Size: 64x48, "
        "Model hash: 6ce0161689, Model: parasight-mini"
    )


def test_format_parameters_omits_empty_negative_and_writes_whole_cfg_like_a1111() -> None:
    text = format_parameters(make_settings(negative_prompt="", guidance=7.0, sampler="euler-a"))
    assert "Negative prompt" not in text
    assert text.splitlines()[1].startswith("Steps: 20, Sampler: Euler a, CFG scale: 7, Seed:")


def test_format_then_parse_round_trips_through_settings() -> None:
    settings = make_settings(
        prompt="line one, with commas\nline two: with a colon",
        negative_prompt="ugly\nsecond negative line",
        model_name="odd, name: v2",
        sampler="dpmpp-2m-karras",
    )
    parsed = parse_parameters(format_parameters(settings))
    assert parsed["Model"] == "odd, name: v2"  # quoted on the way out, unquoted on the way in
    back = settings_from_parameters(parsed)
    assert back is not None
    assert back == GenerationSettings(**{**settings.to_dict(), "model_hash": MODEL_HASH[:10]})


def test_parse_classic_a1111_with_negative_and_extra_keys() -> None:
    parsed = parse_parameters(A1111_CLASSIC)
    assert parsed["Prompt"].endswith("(glowing eyes:1.2), <lora:foggy:0.7>")
    assert parsed["Negative prompt"] == "(worst quality, low quality:1.4), blurry, watermark"
    assert parsed["Lora hashes"] == "foggy: 5e3b0f7c1a2d"
    assert parsed["Hires upscaler"] == "Latent"
    assert parsed["Version"] == "v1.6.0"
    settings = settings_from_parameters(parsed)
    assert settings is not None
    assert (settings.steps, settings.sampler, settings.guidance) == (28, "dpmpp-2m-karras", 7.0)
    assert (settings.seed, settings.width, settings.height) == (2846159132, 512, 768)
    assert (settings.model_name, settings.model_hash) == ("v1-5-pruned-emaonly", "6ce0161689")


def test_parse_schedule_type_folds_into_sampler_and_missing_negative_is_empty() -> None:
    parsed = parse_parameters(A1111_SCHEDULE_TYPE)
    assert parsed["Prompt"] == "a lake monster surfacing at dawn, photo, 35mm"
    assert parsed["Negative prompt"] == ""
    assert parsed["TI hashes"] == "easynegative: c74b4e810b03"
    settings = settings_from_parameters(A1111_SCHEDULE_TYPE)  # text works as well as a dict
    assert settings is not None
    assert settings.sampler == "dpmpp-2m-karras"
    assert settings.guidance == 5.5


def test_parse_multiline_prompt_and_unknown_sampler_keeps_its_name() -> None:
    parsed = parse_parameters(MULTILINE_OTHER_TOOL.replace("\n", "\r\n"))
    assert (
        parsed["Prompt"]
        == "a winged figure above the bridge,\nnight, sodium street lights,\ngrainy"
    )
    assert parsed["Negative prompt"] == "cartoon,\ndrawing"
    assert parsed["Model"] == "my model, v2"
    assert parsed["Template"] == "a winged figure, night"
    settings = settings_from_parameters(parsed)
    assert settings is not None
    assert settings.sampler == "DPM++ SDE"
    assert settings.model_hash == ""


def test_prompt_only_text_has_no_settings() -> None:
    parsed = parse_parameters("just a prompt, nothing else")
    assert parsed == {"Prompt": "just a prompt, nothing else", "Negative prompt": ""}
    assert settings_from_parameters(parsed) is None


# --- Writing and reading PNGs -------------------------------------------------------


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """An independent minimal PNG chunk walker, to check what was really written."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        out.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _text_chunk_kinds(data: bytes) -> dict[str, bytes]:
    return {
        body.split(b"\x00", 1)[0].decode("latin-1"): kind
        for kind, body in _chunks(data)
        if kind in (b"tEXt", b"zTXt", b"iTXt")
    }


def test_round_trip_prefers_parasight_chunk(
    tmp_path: Path, image: NDArray[np.uint8], settings: GenerationSettings
) -> None:
    path = write_png(
        tmp_path / "a.png", image, settings, sighting={"where": "Route 9", "when": "dusk"}
    )
    meta = read_png_metadata(path)
    assert meta.settings == settings  # full model hash: it came from the parasight chunk
    assert meta.is_ai_generated
    assert meta.sighting == {"where": "Route 9", "when": "dusk"}
    assert meta.parasight is not None
    assert meta.parasight["ai_generated"] is True
    assert meta.parasight["app_version"] == parasight_desktop.__version__
    assert meta.parasight["model"] == {"name": "parasight-mini", "hash": MODEL_HASH}
    assert meta.parasight["created_at"]
    assert meta.parameters == format_parameters(settings)
    with Image.open(path) as reopened:  # pixels are exact, and Pillow agrees on the text
        assert np.array_equal(np.asarray(reopened), image)
        assert reopened.info["parameters"] == format_parameters(settings)


def test_latin1_parameters_are_text_before_image_data(
    image: NDArray[np.uint8], settings: GenerationSettings
) -> None:
    data = png_bytes(image, settings)
    kinds = _text_chunk_kinds(data)
    assert kinds == {"parameters": b"tEXt", "parasight": b"iTXt", "XML:com.adobe.xmp": b"iTXt"}
    order = [kind for kind, _ in _chunks(data)]
    assert max(i for i, k in enumerate(order) if k in (b"tEXt", b"iTXt")) < order.index(b"IDAT")


def test_non_latin1_prompt_goes_to_itxt_and_round_trips(
    tmp_path: Path, image: NDArray[np.uint8]
) -> None:
    settings = make_settings(
        prompt="目撃した生き物, glowing eyes — Ñandú", negative_prompt="ぼやけた"
    )
    path = write_png(tmp_path / "jp.png", image, settings)
    assert _text_chunk_kinds(path.read_bytes())["parameters"] == b"iTXt"
    meta = read_png_metadata(path)
    assert meta.settings == settings
    assert meta.parameters is not None and meta.parameters.startswith("目撃した生き物")
    with Image.open(path) as reopened:
        assert reopened.info["parameters"].startswith("目撃した生き物")


def test_xmp_marks_the_image_as_ai_made(image: NDArray[np.uint8]) -> None:
    settings = make_settings(prompt='a <thing> & "something" else\x01')
    meta_text = {
        body.split(b"\x00", 1)[0]: body
        for kind, body in _chunks(png_bytes(image, settings))
        if kind == b"iTXt"
    }[b"XML:com.adobe.xmp"]
    # iTXt: keyword \0 compressed(0) method \0-terminated language, translated keyword, text.
    assert meta_text[len(b"XML:com.adobe.xmp") + 1] == 0
    xml_text = meta_text.split(b"\x00", 5)[5].decode("utf-8")
    root = ET.fromstring(xml_text)
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    description = root.find(f"{rdf}RDF/{rdf}Description")
    assert description is not None
    source = description.get("{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}DigitalSourceType")
    assert source == AI_SOURCE_TYPE
    alt = description.find(f"{{http://purl.org/dc/elements/1.1/}}description/{rdf}Alt/{rdf}li")
    assert alt is not None and alt.text is not None
    assert "AI reconstruction of a described sighting" in alt.text
    assert "not a photograph" in alt.text
    assert 'a <thing> & "something" else' in alt.text


@pytest.mark.parametrize("how", ["tEXt", "zTXt", "iTXt", "iTXt-compressed"])
def test_reads_pillow_png_with_only_parameters(tmp_path: Path, how: str) -> None:
    info = PngInfo()
    if how == "tEXt":
        info.add_text("parameters", A1111_CLASSIC)
    elif how == "zTXt":
        info.add_text("parameters", A1111_CLASSIC, zip=True)
    else:
        info.add_itxt("parameters", A1111_CLASSIC, zip=how == "iTXt-compressed")
    path = tmp_path / "other-tool.png"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path, pnginfo=info)
    assert _text_chunk_kinds(path.read_bytes())["parameters"] == how[:4].encode()
    meta = read_png_metadata(path)
    assert meta.parasight is None
    assert meta.parameters == A1111_CLASSIC
    assert meta.settings is not None and meta.settings.seed == 2846159132
    assert meta.is_ai_generated


def test_plain_png_has_no_settings(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(path)
    meta = read_png_metadata(path)
    assert (meta.settings, meta.parameters, meta.parasight, meta.is_ai_generated) == (
        None,
        None,
        None,
        False,
    )


def test_broken_parasight_json_falls_back_to_parameters(tmp_path: Path) -> None:
    info = PngInfo()
    info.add_text("parameters", A1111_SCHEDULE_TYPE)
    info.add_itxt("parasight", "{not json")
    path = tmp_path / "half.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    meta = read_png_metadata(path)
    assert meta.parasight is None
    assert meta.settings is not None and meta.settings.seed == 42


def _good_png(tmp_path: Path) -> bytes:
    return png_bytes(np.zeros((8, 8, 3), np.uint8), make_settings())


@pytest.mark.parametrize(
    ("name", "damage", "words"),
    [
        ("notes.png", lambda good: b"not an image at all", "not a PNG"),
        ("photo.png", lambda good: b"\xff\xd8\xff\xe0" + b"\x00" * 64, "not a PNG"),
        ("empty.png", lambda good: b"", "not a PNG"),
        ("cut.png", lambda good: good[: len(good) // 2], "damaged"),
        (
            "flipped.png",
            lambda good: good[:-30] + bytes([good[-30] ^ 0xFF]) + good[-29:],
            "damaged",
        ),
        ("huge.png", lambda good: good[:8] + b"\xff\xff\xff\xffIHDR", "damaged"),
    ],
)
def test_bad_files_give_a_clear_error(
    tmp_path: Path, name: str, damage: object, words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(damage(_good_png(tmp_path)))  # type: ignore[operator]
    with pytest.raises(MetadataError, match=words) as caught:
        read_png_metadata(path)
    assert name in str(caught.value)


def test_missing_file_and_folder_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="does not exist"):
        read_png_metadata(tmp_path / "gone.png")
    with pytest.raises(MetadataError, match="is a folder"):
        read_png_metadata(tmp_path)


def test_compressed_text_bomb_is_skipped(tmp_path: Path) -> None:
    good = _good_png(tmp_path)
    body = b"parameters\x00\x00" + zlib.compress(b"a" * (17 * 2**20), 9)
    bomb = struct.pack(">I", len(body)) + b"zTXt" + body
    bomb += struct.pack(">I", zlib.crc32(b"zTXt" + body))
    path = tmp_path / "bomb.png"
    path.write_bytes(good[:33] + bomb + good[33:])  # after IHDR (8 + 25 bytes)
    meta = read_png_metadata(path)
    assert meta.parameters == format_parameters(make_settings())  # the real one, not the bomb


def test_write_png_refuses_to_overwrite_unless_asked(
    tmp_path: Path, image: NDArray[np.uint8], settings: GenerationSettings
) -> None:
    from parasight_desktop.library.errors import AlreadyExistsError

    path = tmp_path / "x.png"
    path.write_bytes(b"keep me")
    with pytest.raises(AlreadyExistsError, match="already exists"):
        write_png(path, image, settings)
    assert path.read_bytes() == b"keep me"
    write_png(path, image, settings, overwrite=True)
    assert read_png_metadata(path).settings == settings


def test_rejects_wrong_image_array(settings: GenerationSettings) -> None:
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(np.zeros((8, 8, 3), np.float32), settings)


# --- Image to image and inpainting ----------------------------------------------------

A1111_INPAINT = (
    "a grey shape by the barn, night, photo\n"
    "Negative prompt: cartoon\n"
    "Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 99, Size: 512x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.6, "
    "Mask blur: 4, Version: v1.6.0"
)


def test_image_to_image_writes_denoising_strength_where_a1111_does() -> None:
    text = format_parameters(make_settings(strength=0.6, init_image_sha256="ab" * 32))
    assert text.splitlines()[-1] == (
        "Steps: 20, Sampler: DPM++ 2M, CFG scale: 7.5, Seed: 123, Size: 64x48, "
        "Model hash: 6ce0161689, Model: parasight-mini, Denoising strength: 0.6"
    )


def test_inpainting_adds_mask_blur_after_strength_and_before_extra_keys() -> None:
    settings = make_settings(strength=0.75, mask_blur=4, decoder="TAESD",
                             lora_hashes="foggy: 5e3b0f7c1a2d", init_image_sha256="cd" * 32)
    line = format_parameters(settings).splitlines()[-1]
    assert line.endswith(
        "Model: parasight-mini, VAE: TAESD, Denoising strength: 0.75, Mask blur: 4, "
        'Lora hashes: "foggy: 5e3b0f7c1a2d"'
    )
    back = settings_from_parameters(format_parameters(settings))
    assert back is not None and (back.strength, back.mask_blur) == (0.75, 4)
    assert back.init_image_sha256 == ""  # A1111's text has no start image


def test_a1111_inpainting_png_reads_strength_and_mask_blur() -> None:
    settings = settings_from_parameters(A1111_INPAINT)
    assert settings is not None
    assert (settings.strength, settings.mask_blur, settings.sampler) == (0.6, 4, "euler-a")


def test_hires_fix_strength_is_not_image_to_image() -> None:
    settings = settings_from_parameters(A1111_CLASSIC)  # Denoising strength + Hires upscale
    assert settings is not None and settings.strength is None and settings.mask_blur is None


def test_text_to_image_has_neither_key() -> None:
    text = format_parameters(make_settings())
    assert "Denoising strength" not in text and "Mask blur" not in text


def test_the_parasight_chunk_records_start_image_parent_and_mask(
    tmp_path: Path, image: NDArray[np.uint8]
) -> None:
    settings = make_settings(strength=0.5, mask_blur=8, init_image_sha256="ef" * 32)
    path = write_png(tmp_path / "child.png", image, settings, parent=12,
                     extra={"parent_image": "20240501-193000-7-abc123.png",
                            "mask_sha256": "01" * 32})
    meta = read_png_metadata(path)
    assert meta.settings == settings
    assert meta.parasight is not None and meta.parasight["parent"] == 12
    assert meta.parent_id == 12 and meta.parent_image == "20240501-193000-7-abc123.png"
    assert meta.start_sha256 == "ef" * 32 and meta.mask_sha256 == "01" * 32
    plain = read_png_metadata(write_png(tmp_path / "text.png", image, make_settings()))
    assert (plain.parent_id, plain.parent_image, plain.start_sha256, plain.mask_sha256) == (
        None, "", "", "")
