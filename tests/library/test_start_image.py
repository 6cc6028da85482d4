"""Start images from real files written by Pillow: every kind of picture, and every bad one."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from parasight_desktop.engine.types import image_sha256
from parasight_desktop.library.errors import LibraryError
from parasight_desktop.library.start_image import (
    NEUTRAL_GROUND,
    StartImage,
    StartImageError,
    fit_image,
    load_mask,
    load_start_image,
)

W, H = 64, 48  # the model's size in these tests


def _one_sentence(err: pytest.ExceptionInfo[StartImageError]) -> str:
    text = str(err.value)
    assert "\n" not in text and text.endswith(".")
    assert isinstance(err.value, LibraryError)
    return text


def _halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: where the picture went is easy to see."""
    a = np.zeros((height, width, 3), np.uint8)
    a[:, : width // 2] = (255, 0, 0)
    a[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(a)


# --- Fitting --------------------------------------------------------------------------


def test_a_photo_is_centre_cropped_to_the_models_size(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    picture = np.zeros((100, 400, 3), np.uint8)
    picture[:, 150:250] = 255  # a white band in the middle; black far left and right
    Image.fromarray(picture).save(path)
    start = load_start_image(path, W, H, "crop")
    assert isinstance(start, StartImage)
    assert start.pixels.shape == (H, W, 3) and start.pixels.dtype == np.uint8
    assert start.original_size == (400, 100) and start.source_name == "wide.png"
    assert start.content_box == (0, 0, W, H) and start.notes == ()
    # 400x100 cropped to 4:3 keeps x 167..233 of the source: the band fills the middle.
    assert start.pixels[:, W // 2].min() > 200
    assert start.sha256 == image_sha256(start.pixels)


def test_fit_letterboxes_on_a_neutral_ground(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 100), (255, 255, 255)).save(path)
    start = load_start_image(path, W, H, "fit")
    left, top, right, bottom = start.content_box
    assert (left, right) == (0, W) and bottom - top == 16  # 400x100 -> 64x16
    assert tuple(start.pixels[0, 0]) == NEUTRAL_GROUND
    assert tuple(start.pixels[H - 1, W - 1]) == NEUTRAL_GROUND
    assert start.pixels[H // 2].min() > 250


def test_fit_image_works_on_a_pillow_image_in_any_mode() -> None:
    fitted = fit_image(_halves(200, 100).convert("P"), W, H, "crop")
    assert fitted.mode == "RGB" and fitted.size == (W, H)
    pixels = np.asarray(fitted)
    assert pixels[H // 2, 2, 0] > 200 and pixels[H // 2, W - 3, 2] > 200
    with pytest.raises(ValueError, match="fit mode"):
        fit_image(_halves(10, 10), W, H, "stretch")  # type: ignore[arg-type]


def test_a_small_sketch_is_enlarged_smoothly(tmp_path: Path) -> None:
    path = tmp_path / "sketch.png"
    _halves(16, 12).save(path)
    start = load_start_image(path, W, H)
    assert start.pixels.shape == (H, W, 3)
    assert start.pixels[H // 2, 0, 0] > 240 and start.pixels[H // 2, W - 1, 2] > 240


def test_bytes_load_like_a_file() -> None:
    buffer = io.BytesIO()
    _halves(128, 96).save(buffer, format="PNG")
    start = load_start_image(buffer.getvalue(), W, H)
    assert start.source_name == "" and start.original_size == (128, 96)
    assert start.pixels.shape == (H, W, 3)


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    # Stored sideways (96 wide, 128 tall, red on top) with "rotate 90 clockwise to view".
    stored = np.zeros((128, 96, 3), np.uint8)
    stored[:64] = (255, 0, 0)
    stored[64:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    start = load_start_image(path, W, H, "crop")
    assert start.original_size == (128, 96)  # upright: landscape
    # Turned clockwise, the top (red) goes to the right.
    assert start.pixels[H // 2, W - 2, 0] > 200 and start.pixels[H // 2, 1, 2] > 200


# --- Kinds of picture -----------------------------------------------------------------


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (120, 90), (0, 255, 255, 0)).save(path, quality=95)  # red ink
    start = load_start_image(path, W, H)
    r, g, b = start.pixels[H // 2, W // 2].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_cmyk_jpeg_with_a_damaged_colour_profile_is_converted_plainly(tmp_path: Path) -> None:
    path = tmp_path / "print-profile.jpg"
    Image.new("CMYK", (120, 90), (255, 255, 0, 0)).save(  # cyan + magenta ink: blue
        path, quality=95, icc_profile=b"not really a profile" * 8)
    start = load_start_image(path, W, H)
    r, g, b = start.pixels[H // 2, W // 2].astype(int)
    assert b > 200 and r < 60 and g < 60


def test_16_bit_greyscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "scan16.png"
    ramp = np.tile(np.linspace(0, 65535, 128).astype(np.uint16), (96, 1))
    Image.fromarray(ramp).save(path)  # mode I;16
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    start = load_start_image(path, W, H)
    row = start.pixels[H // 2, :, 0].astype(int)
    assert row[1] < 15 and 100 < row[W // 2] < 160 and row[-2] > 240  # a ramp, not white
    assert np.all(np.diff(row[2:-2]) >= 0)


def test_48_bit_rgb_png(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    rows = np.zeros((96, 128, 3), ">u2")
    rows[..., 0] = 65535
    rows[..., 2] = 32768
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", 128, 96, 16, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )
    start = load_start_image(path, W, H)
    assert tuple(start.pixels[H // 2, W // 2]) == (255, 0, 128)


def test_palette_png(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    _halves(128, 96).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(path)
    start = load_start_image(path, W, H)
    assert start.pixels[H // 2, 2, 0] > 240 and start.pixels[H // 2, W - 3, 2] > 240


def test_transparent_png_lies_on_white(tmp_path: Path) -> None:
    path = tmp_path / "strokes.png"
    rgba = np.zeros((96, 128, 4), np.uint8)  # transparent black...
    rgba[40:56, :, :] = (0, 0, 0, 255)  # ...with one opaque black stroke across
    Image.fromarray(rgba).save(path)
    start = load_start_image(path, W, H)
    assert tuple(start.pixels[2, 2]) == (255, 255, 255)
    assert start.pixels[H // 2, W // 2].max() < 30


def test_animated_gif_gives_its_first_frame_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "blink.gif"
    frames = [Image.new("RGB", (80, 60), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    start = load_start_image(path, W, H)
    r, g, b = start.pixels[H // 2, W // 2].astype(int)
    assert r > 200 and g < 50 and b < 50
    assert start.notes and "first frame of an animated GIF" in start.notes[0]


def test_a_50_megapixel_photo_loads_reduced(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A real 8660x5773 JPEG: read at 1/4 by the decoder, never decoded at full size."""
    path = tmp_path_factory.mktemp("big") / "camera.jpg"
    gradient = Image.linear_gradient("L").resize((8660, 5773), Image.Resampling.BILINEAR)
    red = gradient.transpose(Image.Transpose.ROTATE_90).resize((8660, 5773))
    Image.merge("RGB", (red, gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
                ).save(path, quality=80)
    del gradient, red
    full_bytes = 8660 * 5773 * 3  # one full decode, before Pillow's padding to 4 bytes
    # The peak is measured in a fresh process: VmHWM (unlike ru_maxrss, which a child
    # inherits from this big process) starts again at exec.
    script = textwrap.dedent("""
        import sys
        from parasight_desktop.library.start_image import load_start_image
        def peak():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        before = peak()
        start = load_start_image(sys.argv[1], 512, 512, "crop")
        print(start.read_scale, start.original_size, start.pixels.shape, peak() - before)
    """)
    if not Path("/proc/self/status").is_file():
        pytest.skip("peak memory is read from /proc (Linux)")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, timeout=120, check=True).stdout.split(maxsplit=1)
    scale, rest = int(out[0]), out[1]
    assert scale == 4  # 8660x5773 read as 2165x1444: still twice the 512 target
    assert "(8660, 5773)" in rest and "(512, 512, 3)" in rest
    grown = int(rest.rsplit(maxsplit=1)[-1])
    assert 0 < grown < full_bytes / 5, f"peak memory grew {grown / 2**20:.0f} MiB"


# --- Bad input: one sentence each -----------------------------------------------------


def test_an_absurdly_large_picture_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    # A valid header claiming 100000 x 100000 pixels, and almost no data.
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + _chunk(b"IEND", b"")
    )
    with pytest.raises(StartImageError) as err:
        load_start_image(path, W, H)
    text = _one_sentence(err)
    assert "bomb.png is too large to open safely (10,000 megapixels)" in text
    assert "Scale it down" in text


def test_a_truncated_jpeg(tmp_path: Path) -> None:
    whole = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(whole, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    with pytest.raises(StartImageError) as err:
        load_start_image(path, W, H)
    text = _one_sentence(err)
    assert text.startswith("cut.jpg is damaged or incomplete (it ends too early)")
    assert "another copy" in text


def test_a_damaged_png(tmp_path: Path) -> None:
    whole = io.BytesIO()
    Image.effect_noise((128, 96), 64).convert("RGB").save(whole, format="PNG")
    data = bytearray(whole.getvalue())
    idat = data.index(b"IDAT") + 4
    middle = idat + int.from_bytes(data[idat - 8 : idat - 4], "big") // 2
    data[middle : middle + 30] = b"\xff" * 30  # scribble over the compressed pixels
    path = tmp_path / "scribbled.png"
    path.write_bytes(bytes(data))
    with pytest.raises(StartImageError) as err:
        load_start_image(path, W, H)
    assert _one_sentence(err).startswith("scribbled.png is damaged or incomplete")


def test_a_file_that_is_not_a_picture(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("Seen at dusk by the old mill.\n")
    with pytest.raises(StartImageError) as err:
        load_start_image(path, W, H)
    text = _one_sentence(err)
    assert "notes.png is not a picture ParaSight can read" in text and "JPEG" in text


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(StartImageError) as err:
        load_start_image(path, W, H)
    assert "empty.jpg is empty (0 bytes)" in _one_sentence(err)
    with pytest.raises(StartImageError) as err:
        load_start_image(b"", W, H)
    assert "empty" in _one_sentence(err)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StartImageError) as err:
        load_start_image(tmp_path / "gone.jpg", W, H)
    text = _one_sentence(err)
    assert f"gone.jpg does not exist in {tmp_path}" in text


def test_a_folder(tmp_path: Path) -> None:
    with pytest.raises(StartImageError) as err:
        load_start_image(tmp_path, W, H)
    assert "is a folder, not a picture" in _one_sentence(err)


# --- Masks ----------------------------------------------------------------------------


def test_a_mask_is_fitted_like_its_start_image(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    mask = np.zeros((96, 128), np.uint8)
    mask[:, 64:] = 255  # change the right half
    Image.fromarray(mask).save(path)
    fitted = load_mask(path, W, H)
    assert fitted.shape == (H, W) and fitted.dtype == np.uint8
    assert fitted[:, : W // 2 - 2].max() == 0 and fitted[:, W // 2 + 2 :].min() == 255


def test_a_transparent_mask_keeps_its_transparent_part(tmp_path: Path) -> None:
    path = tmp_path / "painted.png"
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[10:20, 10:20] = (255, 255, 255, 255)
    Image.fromarray(rgba).save(path)
    fitted = load_mask(path, W, H)
    assert fitted[15, 15] == 255 and fitted[0, 0] == 0 and fitted[40, 60] == 0


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
