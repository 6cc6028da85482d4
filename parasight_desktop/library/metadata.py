"""PNG metadata: the settings that made an image, readable by ParaSight and by other tools.

Every PNG ParaSight writes carries three text chunks, all before the image data:

1. ``parameters``: AUTOMATIC1111's web UI text, which most Stable Diffusion tools read
   (tEXt when the text is Latin-1, else iTXt in UTF-8). Image to image adds
   ``Denoising strength``, inpainting ``Mask blur``, where A1111 puts them.
2. ``parasight``: iTXt JSON with the full settings (with the start image's sha256), the
   model, the app version, the time, the sighting details, the lineage (``parent``,
   ``parent_image``, ``mask_sha256``) and ``"ai_generated": true``.
3. ``XML:com.adobe.xmp``: an XMP packet with IPTC's DigitalSourceType
   ``trainedAlgorithmicMedia`` and a description saying this is an AI reconstruction
   of a described sighting, not a photograph.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .. import __version__
from ..engine.types import SAMPLER_IDS, GenerationSettings
from .errors import MetadataError
from .files import write_atomic

APP_NAME = "ParaSight Desktop"
PARAMETERS_KEY = "parameters"
PARASIGHT_KEY = "parasight"
XMP_KEY = "XML:com.adobe.xmp"
#: IPTC digital source type for media made by a trained model from a text prompt.
AI_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
DISCLAIMER = "AI reconstruction of a described sighting \u2014 not a photograph"
#: Version of the ``parasight`` chunk's JSON layout (later keys are optional additions).
PARASIGHT_FORMAT = 1
#: Lineage in the ``parasight`` chunk: the parent history entry's id and image file
#: name, and the mask's id (the start image's is in the settings).
PARENT_KEY = "parent"
PARENT_IMAGE_KEY = "parent_image"
MASK_KEY = "mask_sha256"

#: AUTOMATIC1111's keys for image to image and inpainting.
STRENGTH_KEY = "Denoising strength"
MASK_BLUR_KEY = "Mask blur"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_CHUNK = 2**31 - 1
_MAX_TEXT = 16 * 2**20  # bytes a compressed text chunk may expand to
# One "Key: value" pair of A1111's last line; a value is JSON-quoted when it holds , : or \n.
_PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_NEGATIVE_PREFIX = "Negative prompt:"
# Characters XML 1.0 cannot hold at all.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_RESERVED_KEYS = ("format", "app", "app_version", "ai_generated", "settings", "model")


@dataclass(frozen=True)
class ImageMetadata:
    """What a PNG says about how it was made. ``settings`` is ``None`` when it cannot tell."""

    settings: GenerationSettings | None
    parameters: str | None
    parasight: dict[str, Any] | None
    is_ai_generated: bool
    xmp: str | None = None

    @property
    def sighting(self) -> dict[str, Any] | None:
        """The sighting details ParaSight stored, if any."""
        value = (self.parasight or {}).get("sighting")
        return value if isinstance(value, dict) else None

    @property
    def parent_id(self) -> int | None:
        """The history entry this image was refined from, as its history numbered it."""
        value = (self.parasight or {}).get(PARENT_KEY)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def parent_image(self) -> str:
        """The parent's image file name in its history (stable where ids are not)."""
        value = (self.parasight or {}).get(PARENT_IMAGE_KEY)
        return value if isinstance(value, str) else ""

    @property
    def start_sha256(self) -> str:
        """The start image's id (``image_sha256``), or "" for an image made from text."""
        return self.settings.init_image_sha256 if self.settings is not None else ""

    @property
    def mask_sha256(self) -> str:
        """The inpainting mask's id (``image_sha256`` of the (H, W) mask), or ""."""
        value = (self.parasight or {}).get(MASK_KEY)
        return value if isinstance(value, str) else ""


# --- AUTOMATIC1111 parameters text ---------------------------------------------------


def format_parameters(settings: GenerationSettings) -> str:
    """Settings as AUTOMATIC1111's web UI writes them (prompt, negative, one key line)."""
    fields: dict[str, str] = {
        "Steps": str(settings.steps),
        "Sampler": settings.sampler_label,
        "CFG scale": _format_number(settings.guidance),
        "Seed": str(settings.seed),
        "Size": f"{settings.width}x{settings.height}",
    }
    if settings.model_hash:
        fields["Model hash"] = settings.model_hash[:10]
    if settings.model_name:
        fields["Model"] = settings.model_name
    if settings.decoder:
        fields["VAE"] = settings.decoder  # AUTOMATIC1111 names a VAE other than the model's
    if settings.strength is not None:  # image to image (and inpainting)
        fields[STRENGTH_KEY] = _format_number(settings.strength)
        if settings.mask_blur is not None:  # inpainting
            fields[MASK_BLUR_KEY] = str(settings.mask_blur)
    if settings.lora_hashes:  # A1111's extra parameters come last, after its own
        fields["Lora hashes"] = settings.lora_hashes
    line = ", ".join(f"{key}: {_quote(value)}" for key, value in fields.items())
    negative = (
        f"\n{_NEGATIVE_PREFIX} {settings.negative_prompt}" if settings.negative_prompt else ""
    )
    return f"{settings.prompt}{negative}\n{line}".strip()


def parse_parameters(text: str) -> dict[str, str]:
    """Read AUTOMATIC1111-style text into ``{"Prompt", "Negative prompt", key: value...}``.

    Works like the web UI's own reader: the last line holds the ``Key: value`` pairs
    (quoted values are JSON strings), lines before ``Negative prompt:`` are the prompt.
    Keys are kept as written, so other tools' extra keys come through.
    """
    *lines, last = text.replace("\r\n", "\n").strip().split("\n")
    if len(_PARAM_RE.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not negative and stripped.startswith(_NEGATIVE_PREFIX):
            negative.append(stripped[len(_NEGATIVE_PREFIX) :].strip())
        elif negative:
            negative.append(stripped)
        else:
            prompt.append(stripped)
    result = {"Prompt": "\n".join(prompt).strip(), "Negative prompt": "\n".join(negative).strip()}
    for key, value in _PARAM_RE.findall(last):
        result[key.strip()] = _unquote(value.strip())
    return result


def settings_from_parameters(params: Mapping[str, str] | str) -> GenerationSettings | None:
    """Map A1111 parameters (text or parsed) to settings; ``None`` if a needed key is missing.

    A sampler ParaSight does not have keeps its A1111 name. ``Schedule type: Karras``
    (newer web UIs) folds into the sampler name, as older ones wrote it. ``Denoising
    strength`` and ``Mask blur`` become ``strength`` and ``mask_blur`` (image to image and
    inpainting); A1111 stores no start image, so ``init_image_sha256`` stays empty.
    """
    if isinstance(params, str):
        params = parse_parameters(params)
    try:
        size = _SIZE_RE.match(params["Size"])
        if size is None:
            return None
        strength = _strength(params)
        return GenerationSettings(
            prompt=params.get("Prompt", ""),
            negative_prompt=params.get("Negative prompt", ""),
            seed=int(params["Seed"]),
            steps=int(params["Steps"]),
            guidance=float(params["CFG scale"]),
            sampler=_sampler_id(params.get("Sampler", ""), params.get("Schedule type", "")),
            width=int(size.group(1)),
            height=int(size.group(2)),
            model_name=params.get("Model", ""),
            model_hash=params.get("Model hash", ""),
            lora_hashes=params.get("Lora hashes", ""),
            decoder=params.get("VAE", "") if params.get("VAE", "") == "TAESD" else "",
            strength=strength,
            mask_blur=_mask_blur(params) if strength is not None else None,
        )
    except (KeyError, ValueError):
        return None


def _strength(params: Mapping[str, str]) -> float | None:
    """Image to image's "Denoising strength"; ``None`` from text, or when it belongs to
    the hires fix (A1111 writes the same key for the second pass of a text-to-image)."""
    if STRENGTH_KEY not in params or any(key.startswith("Hires") for key in params):
        return None
    try:
        value = float(params[STRENGTH_KEY])
    except ValueError:
        return None
    return value if 0.0 < value <= 1.0 else None


def _mask_blur(params: Mapping[str, str]) -> int | None:
    try:
        value = int(params[MASK_BLUR_KEY])
    except (KeyError, ValueError):
        return None
    return value if value >= 0 else None


def _sampler_id(label: str, schedule: str) -> str:
    if schedule and schedule.lower() not in ("automatic", "normal", "default"):
        combined = f"{label} {schedule}"
        if combined in SAMPLER_IDS:
            return SAMPLER_IDS[combined]
    return SAMPLER_IDS.get(label, label)


def _format_number(value: float) -> str:
    text = repr(float(value))
    return text.removesuffix(".0")


def _quote(value: str) -> str:
    if "," not in value and "\n" not in value and ":" not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _unquote(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    try:
        unquoted = json.loads(value)
    except ValueError:
        return value
    return unquoted if isinstance(unquoted, str) else value


# --- Writing -------------------------------------------------------------------------


def png_bytes(
    image: NDArray[np.uint8],
    settings: GenerationSettings,
    extra: Mapping[str, Any] | None = None,
    *,
    parent: int | None = None,
) -> bytes:
    """Encode ``image`` (H, W, 3 RGB uint8) as a PNG carrying all three metadata chunks.

    ``extra`` adds keys to the ``parasight`` JSON (``sighting``, ``timings``,
    ``created_at``, ``parent_image``, ``mask_sha256``...); it cannot replace the settings,
    the model or ``ai_generated``. ``parent`` is the history entry the image was refined
    from (its start image's id is ``settings.init_image_sha256``).
    """
    created_at = str((extra or {}).get("created_at") or _now())
    doc: dict[str, Any] = {"created_at": created_at}
    doc.update({k: v for k, v in (extra or {}).items() if k not in _RESERVED_KEYS})
    if parent is not None:
        doc[PARENT_KEY] = int(parent)
    doc.update(
        format=PARASIGHT_FORMAT,
        app=APP_NAME,
        app_version=__version__,
        ai_generated=True,
        settings=settings.to_dict(),
        model={"name": settings.model_name, "hash": settings.model_hash},
    )
    info = PngInfo()
    parameters = format_parameters(settings)
    if _is_latin1(parameters):
        info.add_text(PARAMETERS_KEY, parameters)
    else:
        info.add_itxt(PARAMETERS_KEY, parameters)
    info.add_itxt(PARASIGHT_KEY, json.dumps(doc, ensure_ascii=False, default=str))
    info.add_itxt(XMP_KEY, _xmp_packet(settings, created_at))
    buffer = io.BytesIO()
    _to_pil(image).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def write_png(
    path: Path | str,
    image: NDArray[np.uint8],
    settings: GenerationSettings,
    *,
    sighting: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parent: int | None = None,
) -> Path:
    """Write the PNG with metadata to ``path`` atomically; never replaces a file unless asked."""
    fields = dict(extra or {})
    if sighting is not None:
        fields["sighting"] = dict(sighting)
    data = png_bytes(image, settings, fields, parent=parent)
    return write_atomic(Path(path), data, overwrite=overwrite)


def _to_pil(image: NDArray[np.uint8]) -> Image.Image:
    array = np.asarray(image)
    if array.dtype != np.uint8 or not (
        array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    ):
        raise ValueError(
            f"Expected a uint8 image shaped (H, W), (H, W, 3) or (H, W, 4); "
            f"got {array.dtype} {array.shape}."
        )
    return Image.fromarray(np.ascontiguousarray(array))


def _xmp_packet(settings: GenerationSettings, created_at: str) -> str:
    description = (
        f"{DISCLAIMER}. An image made by {APP_NAME} with a trained AI model from this "
        f"written description of a sighting: {settings.prompt}"
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f"    Iptc4xmpExt:DigitalSourceType={quoteattr(AI_SOURCE_TYPE)}\n"
        f"    xmp:CreatorTool={quoteattr(f'{APP_NAME} {__version__}')}\n"
        f"    xmp:CreateDate={quoteattr(_xml_text(created_at))}>\n"
        "   <dc:description>\n"
        "    <rdf:Alt>\n"
        f'     <rdf:li xml:lang="x-default">{escape(_xml_text(description))}</rdf:li>\n'
        "    </rdf:Alt>\n"
        "   </dc:description>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("", text)


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- Reading -------------------------------------------------------------------------


def read_png_metadata(path: Path | str) -> ImageMetadata:
    """Read ParaSight's or another tool's metadata from a PNG (tEXt, zTXt or iTXt).

    Settings come from the ``parasight`` chunk when it is there and sound, else from
    ``parameters``. Raises :class:`MetadataError` for a missing, non-PNG or damaged file.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            texts = _read_text_chunks(stream, path)
    except FileNotFoundError as err:
        raise MetadataError(f"{path} does not exist. Check the file name and try again.") from err
    except IsADirectoryError as err:
        raise MetadataError(f"{path} is a folder, not an image. Choose a PNG file.") from err
    except OSError as err:
        raise MetadataError(
            f"Could not read {path} ({err.strerror or err}). Check that the file is "
            "readable, then try again."
        ) from err

    parameters = texts.get(PARAMETERS_KEY)
    parasight = _json_object(texts.get(PARASIGHT_KEY))
    xmp = texts.get(XMP_KEY)
    settings = _settings_from_parasight(parasight)
    if settings is None and parameters is not None:
        settings = settings_from_parameters(parameters)
    is_ai = bool(
        (parasight is not None and parasight.get("ai_generated") is True)
        or (xmp is not None and "trainedAlgorithmicMedia" in xmp)
        or (parameters is not None and settings is not None)
    )
    return ImageMetadata(
        settings=settings,
        parameters=parameters,
        parasight=parasight,
        is_ai_generated=is_ai,
        xmp=xmp,
    )


def _read_text_chunks(stream: BinaryIO, path: Path) -> dict[str, str]:
    """Walk the PNG's chunks up to IEND, checking each CRC; return the text ones by key."""
    if stream.read(8) != _PNG_SIGNATURE:
        raise MetadataError(
            f"{path.name} is not a PNG image. ParaSight reads settings only from PNG files."
        )
    texts: dict[str, str] = {}
    while True:
        header = stream.read(8)
        if len(header) < 8:
            raise _damaged(path, "it ends too early")
        length, kind = struct.unpack(">I4s", header)
        if length > _MAX_CHUNK:
            raise _damaged(path, "a chunk has an impossible length")
        data = stream.read(length)
        crc = stream.read(4)
        if len(data) < length or len(crc) < 4:
            raise _damaged(path, "it ends too early")
        if zlib.crc32(kind + data) != struct.unpack(">I", crc)[0]:
            raise _damaged(path, f"the {kind.decode('latin-1')!r} chunk fails its checksum")
        if kind == b"IEND":
            return texts
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            try:
                key, value = _decode_text(kind, data)
            except (ValueError, zlib.error):
                continue  # one unreadable text chunk should not hide the others
            texts.setdefault(key, value)


def _decode_text(kind: bytes, data: bytes) -> tuple[str, str]:
    raw_key, _, rest = data.partition(b"\x00")
    key = raw_key.decode("latin-1")
    if kind == b"tEXt":
        return key, rest.decode("latin-1")
    if kind == b"zTXt":
        if rest[:1] != b"\x00":
            raise ValueError("unknown compression method")
        return key, _inflate(rest[1:]).decode("latin-1")
    compressed, method = rest[:1], rest[1:2]
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if compressed == b"\x01":
        if method != b"\x00":
            raise ValueError("unknown compression method")
        text = _inflate(text)
    return key, text.decode("utf-8")


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, _MAX_TEXT)
    if inflater.unconsumed_tail:
        raise ValueError("text chunk too large")
    return out


def _damaged(path: Path, detail: str) -> MetadataError:
    return MetadataError(
        f"{path.name} is a damaged PNG ({detail}), so its settings cannot be read. "
        "Try another copy of the file."
    )


def _json_object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _settings_from_parasight(doc: dict[str, Any] | None) -> GenerationSettings | None:
    data = (doc or {}).get("settings")
    if not isinstance(data, dict):
        return None
    try:
        return GenerationSettings.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None
