"""Start images for image to image: a photo, a sketch or a mask, fitted to the model's size.

``load_start_image`` reads any picture Pillow can open and returns RGB pixels at exactly
the model's width and height, either centre-cropped (``"crop"``: the picture fills the
frame, its edges may be cut) or letterboxed (``"fit"``: all of it is kept, on a neutral
grey ground). ``load_mask`` reads a mask (white = may change) the same way.

What the loader takes care of, so the window and the CLI need not:

1. The file: missing, empty, a folder, unreadable, not an image, damaged or truncated,
   or absurdly large (Pillow's decompression-bomb limit) each end in one sentence in a
   :class:`StartImageError`; nothing else escapes.
2. Size: a big JPEG is decoded already reduced (``draft``: the decoder's own 1/2, 1/4,
   1/8 scaling), so a 50-megapixel photo never exists at full size in memory; other
   formats are reduced by whole factors (``reducing_gap``) before the final LANCZOS.
3. Orientation: the EXIF orientation tag is applied, as the camera meant it.
4. Colour: CMYK (through its ICC profile where it has one), 16-bit greyscale scaled
   (not clipped) to 8 bits, palette and greyscale pictures become RGB; transparent
   pixels are laid on white (the paper a sketch was drawn on). An animated GIF, PNG or
   WebP gives its first frame, with a note saying so.
"""

from __future__ import annotations

import io
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, get_args

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from ..engine.types import image_sha256
from .errors import LibraryError

FitMode = Literal["crop", "fit"]
FIT_MODES: tuple[str, ...] = get_args(FitMode)
#: The letterbox ground of ``"fit"``: mid grey, which image to image treats as "nothing".
NEUTRAL_GROUND = (128, 128, 128)
#: The ground transparent pixels are laid on: white, like the paper of a sketch.
PAPER = (255, 255, 255)
#: Whole-factor reduction happens while the picture is still this many times the target.
REDUCING_GAP = 2.0
READABLE = "PNG, JPEG, WebP, GIF, BMP or TIFF"


class StartImageError(LibraryError):
    """A start image or mask could not be read; the message says why and what to do."""


@dataclass(frozen=True)
class StartImage:
    """A start image fitted to the model: what the engine's ``init_image`` takes."""

    pixels: NDArray[np.uint8] = field(repr=False)  # (height, width, 3) RGB
    original_size: tuple[int, int]  # (width, height) of the picture, upright
    source_name: str  # the file's name, or "" for bytes
    #: Sentences worth showing, e.g. that only an animated GIF's first frame was used.
    notes: tuple[str, ...] = ()
    #: Where the picture lies in ``pixels`` (left, top, right, bottom): all of it for
    #: ``"crop"``, the part inside the bands for ``"fit"``.
    content_box: tuple[int, int, int, int] = (0, 0, 0, 0)
    #: How much smaller the file was decoded than its full size (JPEG draft: 1, 2, 4, 8).
    read_scale: int = 1

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def sha256(self) -> str:
        """The start image's id, as the settings record it (``image_sha256``)."""
        return image_sha256(self.pixels)


def load_start_image(
    source: Path | str | bytes, width: int, height: int, mode: FitMode = "crop"
) -> StartImage:
    """Read a photo or sketch and fit it to ``width`` x ``height`` RGB.

    Raises :class:`StartImageError` (one sentence) for anything that cannot be read.
    """
    _check_target(width, height, mode)
    name = _source_name(source)
    with _open(source, name) as picture:
        notes = _first_frame_notes(picture)
        full_w, full_h = picture.size
        read_scale = _draft(picture, width, height)
        upright, swap = _decode(picture, name)
    rgb = to_rgb(upright)
    fitted, box = _fit(rgb, width, height, mode, NEUTRAL_GROUND)
    return StartImage(
        pixels=np.asarray(fitted, dtype=np.uint8).copy(),
        original_size=(full_h, full_w) if swap else (full_w, full_h),
        source_name=name,
        notes=notes,
        content_box=box,
        read_scale=read_scale,
    )


def load_mask(
    source: Path | str | bytes, width: int, height: int, mode: FitMode = "crop"
) -> NDArray[np.uint8]:
    """Read a mask picture (white = may change, black = keep) fitted like its start image.

    Transparent pixels count as black (kept), and so do the bands of ``"fit"``. The
    result is (height, width) uint8; grey levels are kept (the engine blurs the edge).
    """
    _check_target(width, height, mode)
    name = _source_name(source)
    with _open(source, name) as picture:
        _draft(picture, width, height)
        upright, _ = _decode(picture, name)
    grey = to_rgb(upright, ground=(0, 0, 0)).convert("L")
    fitted, _ = _fit(grey, width, height, mode, 0, Image.Resampling.BILINEAR)
    return np.asarray(fitted, dtype=np.uint8).copy()


def fit_image(
    picture: Image.Image, width: int, height: int, mode: FitMode = "crop"
) -> Image.Image:
    """``picture`` as RGB at exactly ``width`` x ``height``: centre-cropped or letterboxed."""
    _check_target(width, height, mode)
    fitted, _ = _fit(to_rgb(picture), width, height, mode, NEUTRAL_GROUND)
    return fitted


def to_rgb(picture: Image.Image, ground: tuple[int, int, int] = PAPER) -> Image.Image:
    """Any Pillow mode as 8-bit RGB; transparency is laid on ``ground``."""
    mode = picture.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        picture = Image.fromarray(_to_8bit(np.asarray(picture)))
        mode = "L"
    if mode == "CMYK":
        return _cmyk_to_rgb(picture)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode in ("P", "L", "RGB") and "transparency" in picture.info
    )
    if has_alpha:
        rgba = picture.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*ground, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return picture if mode == "RGB" else picture.convert("RGB")


# --- Reading -----------------------------------------------------------------------


def _check_target(width: int, height: int, mode: str) -> None:
    if width < 1 or height < 1:
        raise ValueError(f"The target size must be positive, got {width}x{height}.")
    if mode not in FIT_MODES:
        raise ValueError(f"Unknown fit mode {mode!r}: use one of {', '.join(FIT_MODES)}.")


def _source_name(source: Path | str | bytes) -> str:
    return "" if isinstance(source, bytes) else Path(source).name


def _open(source: Path | str | bytes, name: str) -> Image.Image:
    """Open (header only) with every failure turned into one sentence."""
    label = name or "The picture"
    target: Path | IO[bytes]
    if isinstance(source, bytes):
        if not source:
            raise StartImageError(
                "The picture is empty (no bytes at all), so there is nothing to start "
                "from. Copy or drop the picture again."
            )
        target = io.BytesIO(source)
    else:
        target = Path(source)
        _check_file(target)
    try:
        with warnings.catch_warnings():
            # Between Pillow's warning and error limits: the reduced read copes with it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(target)
    except Image.DecompressionBombError as err:
        raise StartImageError(
            f"{label} is too large to open safely ({_bomb_size(err)}); it may be damaged "
            "or made to exhaust memory. Scale it down in an image editor, then try again."
        ) from err
    except UnidentifiedImageError as err:
        raise StartImageError(
            f"{label} is not a picture ParaSight can read. Choose a {READABLE} file."
        ) from err
    except OSError as err:
        if isinstance(target, Path) and err.errno is not None:
            raise _unreadable(target, err) from err
        raise _damaged(label, err) from err
    except (SyntaxError, ValueError, EOFError, MemoryError) as err:
        raise _damaged(label, err) from err


def _check_file(path: Path) -> None:
    """A missing, empty or unreadable file, or a folder: one sentence each."""
    try:
        info = path.stat()
    except OSError as err:
        raise _unreadable(path, err) from err
    if stat.S_ISDIR(info.st_mode):
        raise StartImageError(f"{path.name} is a folder, not a picture. Choose a {READABLE} file.")
    if info.st_size == 0:
        raise StartImageError(
            f"{path.name} is empty (0 bytes), so there is no picture to start from. "
            "Choose another file, or save the picture again."
        )


def _unreadable(path: Path, err: OSError) -> StartImageError:
    where = path.parent if str(path.parent) not in ("", ".") else Path.cwd()
    if isinstance(err, FileNotFoundError):
        return StartImageError(
            f"{path.name} does not exist in {where}. Check the file's name and folder, "
            "then try again."
        )
    if isinstance(err, PermissionError):
        return StartImageError(
            f"ParaSight is not allowed to read {path.name} in {where}. Change the file's "
            "permissions, or copy it somewhere you can read it."
        )
    return StartImageError(
        f"Could not read {path.name} in {where} ({err.strerror or err}). Check that the "
        "file is there and readable, then try again."
    )


def _first_frame_notes(picture: Image.Image) -> tuple[str, ...]:
    frames = int(getattr(picture, "n_frames", 1) or 1)
    if frames <= 1:
        return ()
    kind = "GIF" if picture.format == "GIF" else (picture.format or "picture")
    return (f"The first frame of an animated {kind} ({frames} frames) was used.",)


def _draft(picture: Image.Image, width: int, height: int) -> int:
    """Let a JPEG decode itself reduced, keeping at least REDUCING_GAP x the target."""
    if picture.format != "JPEG":
        return 1
    # A JPEG's EXIF comes before its pixels, so reading it here decodes nothing.
    want_w, want_h = (height, width) if _swaps_sides(picture) else (width, height)
    before = picture.size[0]
    try:
        picture.draft(
            picture.mode, (int(want_w * REDUCING_GAP), int(want_h * REDUCING_GAP))
        )
    except (OSError, ValueError):
        return 1
    return max(1, round(before / max(1, picture.size[0])))


def _swaps_sides(picture: Image.Image) -> bool:
    """Whether the EXIF orientation turns the picture a quarter (5-8 swap its sides).

    Call it on a JPEG before decoding, on anything else after: Pillow decodes a PNG to
    find EXIF stored after the pixels, and a decoding error must not be lost here.
    """
    try:
        orientation = picture.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError):
        return False
    return orientation in (5, 6, 7, 8)


def _decode(picture: Image.Image, label: str) -> tuple[Image.Image, bool]:
    """Decode the (first frame of the) picture and turn it upright, in place (no second
    full-size copy); also say whether that swapped its sides."""
    label = label or "The picture"
    try:
        picture.seek(0)
        picture.load()
        swap = _swaps_sides(picture)  # only once decoded: a PNG's EXIF may follow its pixels
        ImageOps.exif_transpose(picture, in_place=True)
    except MemoryError as err:
        raise StartImageError(
            f"{label} is too large to open on this computer. Scale it down in an image "
            "editor, then try again."
        ) from err
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as err:
        raise _damaged(label, err) from err
    return picture, swap


def _damaged(label: str, err: BaseException) -> StartImageError:
    return StartImageError(
        f"{label} is damaged or incomplete ({_plain(err)}), so it could not be read. Try "
        "another copy of the file, or open it in an image editor and save it again."
    )


def _plain(err: BaseException) -> str:
    """Pillow's reason in plain words, where it has a usual one."""
    detail = str(err).strip().rstrip(".")
    lowered = detail.lower()
    if "truncated" in lowered or isinstance(err, EOFError):
        return "it ends too early"
    if "data stream" in lowered or "crc" in lowered:
        return "its picture data is scrambled"
    return detail.replace("(", "").replace(")", "") or type(err).__name__


def _bomb_size(err: Image.DecompressionBombError) -> str:
    digits = re.search(r"\((\d+) pixels\)", str(err))
    if digits is None:
        return "more pixels than any photograph"
    return f"{int(digits.group(1)) / 1e6:,.0f} megapixels"


# --- Colour ------------------------------------------------------------------------


def _to_8bit(array: NDArray[np.generic]) -> NDArray[np.uint8]:
    """16-bit or 32-bit greyscale to 0..255 by scale, not by clipping."""
    values = np.asarray(array, dtype=np.float64)
    if values.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    top = float(np.nanmax(values))
    if np.issubdtype(array.dtype, np.floating) and top <= 1.0:
        values = values * 255.0  # a float picture in 0..1
    elif top > 255.0:
        values = values / (65535.0 / 255.0)  # 16 bits per sample
    return np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8)


def _cmyk_to_rgb(picture: Image.Image) -> Image.Image:
    """CMYK through its own ICC profile where it has one (print colours), else plainly."""
    profile = picture.info.get("icc_profile")
    if not profile:
        return picture.convert("RGB")
    try:
        from PIL import ImageCms
    except ImportError:  # Pillow built without LittleCMS
        return picture.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        target = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(picture, source, target, outputMode="RGB")
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        converted = None  # a damaged or unusable profile: convert plainly
    if converted is not None:
        return converted
    return picture.convert("RGB")


# --- Fitting -----------------------------------------------------------------------


def _fit(
    picture: Image.Image,
    width: int,
    height: int,
    mode: str,
    ground: int | tuple[int, ...],
    resample: Image.Resampling = Image.Resampling.LANCZOS,
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Resize (crop to fill, or letterbox to fit) to exactly ``width`` x ``height``.

    LANCZOS for pictures; a mask takes BILINEAR, which cannot ring past its black and white.
    """
    src_w, src_h = picture.size
    if (src_w, src_h) == (width, height):
        return picture, (0, 0, width, height)
    if mode == "crop":
        # The largest centred part of the source with the target's proportions.
        scale = max(width / src_w, height / src_h)
        box_w, box_h = min(src_w, width / scale), min(src_h, height / scale)
        left, top = (src_w - box_w) / 2, (src_h - box_h) / 2
        box = (left, top, left + box_w, top + box_h)
        out = _resize(picture, (width, height), box, resample)
        return out, (0, 0, width, height)
    scale = min(width / src_w, height / src_h)
    inner_w = max(1, min(width, round(src_w * scale)))
    inner_h = max(1, min(height, round(src_h * scale)))
    inner = _resize(picture, (inner_w, inner_h), None, resample)
    canvas = Image.new(picture.mode, (width, height), ground)
    left, top = (width - inner_w) // 2, (height - inner_h) // 2
    canvas.paste(inner, (left, top))
    return canvas, (left, top, left + inner_w, top + inner_h)


def _resize(
    picture: Image.Image,
    size: tuple[int, int],
    box: tuple[float, float, float, float] | None,
    resample: Image.Resampling,
) -> Image.Image:
    if box is None and picture.size == size:
        return picture
    return picture.resize(size, resample, box=box, reducing_gap=REDUCING_GAP)
