"""A model is a folder: ``manifest.json`` plus ``.tflite`` files. This module reads it.

The manifest names every file with its size and sha256, the image size, the latent
shape and scaling factor, the text encoder's and UNet parts' tensor names, the
timestep-embedding convention, the scheduler config, default settings, licence and
source. A UNet may be several parts run in sequence; each part lists the named
tensors it reads and the ones it produces, and the runner routes them by name.
See docs/MODEL_FORMAT.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .schedulers import ScheduleConfig
from .timestep import TimestepEmbedding
from .types import SAMPLERS

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PartSpec:
    """One UNet part: its file, the named tensors it reads and those it writes."""

    file: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class ModelDefaults:
    steps: int = 20
    guidance: float = 7.5
    sampler: str = "dpmpp-2m"
    fast_decode: bool = False  # decode with the fast decoder (few-step models)


@dataclass(frozen=True)
class DecoderSpec:
    """A second decoder (TAESD): its file, tensor names, and its latent convention."""

    file: str
    input: str = "latent"
    output: str = "image"
    #: "none": it takes the UNet's latents as they are (TAESD); the main decoder of a
    #: KerasCV model divides by the scaling factor itself.
    latent_scaling: str = "none"
    name: str = "TAESD"


@dataclass(frozen=True)
class EncoderSpec:
    """An image encoder: pixels in -1..1, (1, height, width, 3) -> the UNet's latent
    (already multiplied by the scaling factor: KerasCV's ImageEncoder does it; TAESD's
    latents are in that space by construction). Image to image and inpainting need one."""

    file: str
    input: str = "image"
    output: str = "latent"
    name: str = ""  # "" the model's own; "TAESD"


@dataclass(frozen=True)
class ModelManifest:
    folder: Path
    name: str
    display_name: str
    description: str
    version: str
    licence_name: str
    licence_file: str | None
    source: str
    width: int
    height: int
    latent_shape: tuple[int, int, int]  # (h, w, c), NHWC without the batch
    scaling_factor: float
    text_encoder: str  # file name
    text_dim: int
    unet_parts: tuple[PartSpec, ...]
    unet_output: str
    decoder: str  # file name
    decoder_input: str
    decoder_output: str
    timestep_embedding: TimestepEmbedding
    scheduler: ScheduleConfig
    defaults: ModelDefaults
    files: dict[str, FileEntry]
    preview_factors: tuple[tuple[float, float, float], ...]  # 4 rows (channels) x RGB
    preview_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    extra: dict[str, Any] = field(default_factory=dict)
    pad_token: int = 49407  # what fills the 77 tokens after the end token (SD 2.x: 0)
    #: LCM-distilled models: the guidance projection's file (a float32 .npy, (320, dim))
    guidance_embedding: str | None = None
    fast_decoder: DecoderSpec | None = None  # full-size image, a fraction of the cost
    preview_decoder: DecoderSpec | None = None  # the same at a quarter of the pixels
    image_encoder: EncoderSpec | None = None  # the model's own (VAE) encoder
    fast_encoder: EncoderSpec | None = None  # TAESD's encoder

    @property
    def has_image_encoder(self) -> bool:
        """Whether the model can start from an image (image to image, inpainting)."""
        return self.image_encoder is not None or self.fast_encoder is not None

    @property
    def model_hash(self) -> str:
        """sha256 over the files' hashes in a fixed order: one id for the whole model."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(f"{name}:{self.files[name].sha256}\n".encode())
        return h.hexdigest()

    @property
    def identity(self) -> dict[str, Any]:
        """What an imported model was made from (source file hashes, LoRAs), or {}."""
        value = self.extra.get("identity")
        return value if isinstance(value, dict) else {}

    @property
    def lora_hashes(self) -> str:
        """The merged LoRAs as AUTOMATIC1111 writes ``Lora hashes``."""
        return lora_hashes_text(self.identity.get("loras", []))

    @property
    def public_hash(self) -> str:
        """The hash other tools know the model by: an imported checkpoint file's sha256
        (AUTOMATIC1111's Model hash is its first 10 digits), else :attr:`model_hash`."""
        return str(self.identity.get("sha256") or self.model_hash)

    def path(self, file: str) -> Path:
        return self.folder / file

    def licence_text(self) -> str:
        """The model's licence, and its fast decoder's (TAESD) where it has one."""
        if self.licence_file and (self.folder / self.licence_file).is_file():
            text = (self.folder / self.licence_file).read_text(encoding="utf-8")
        else:
            text = self.licence_name
        extra = self.extra.get("taesd", {}).get("licence_file") if isinstance(
            self.extra.get("taesd"), dict) else None
        if extra and (self.folder / str(extra)).is_file():
            text += "\n\n" + (self.folder / str(extra)).read_text(encoding="utf-8")
        return text


def lora_hashes_text(loras: list[dict[str, Any]]) -> str:
    """``name: hash, name: hash``, as AUTOMATIC1111 writes ``Lora hashes``."""
    return ", ".join(f"{lo['name']}: {lo['a1111_hash']}" for lo in loras)


def _need(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ModelError(f"{where} lacks '{key}': the model folder is incomplete; reinstall it.")
    return data[key]


def load_manifest(folder: Path) -> ModelManifest:
    """Read and check ``folder/manifest.json``; :class:`ModelError` names what is wrong."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"No {MANIFEST} in {folder}: this is not a model folder; reinstall the model."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is damaged ({exc}); reinstall the model.") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} is damaged (not a JSON object); reinstall the model.")
    where = str(path)
    try:
        fmt = int(data.get("format", 0))
        if fmt != FORMAT_VERSION:
            raise ModelError(
                f"{path} is format {fmt}; this version of ParaSight reads format "
                f"{FORMAT_VERSION}. Update ParaSight or reconvert the model."
            )
        files = {
            str(name): FileEntry(str(name), int(e["size"]), str(e["sha256"]).lower())
            for name, e in _need(data, "files", where).items()
        }
        te = _need(data, "text_encoder", where)
        unet = _need(data, "unet", where)
        dec = _need(data, "decoder", where)
        latent = _need(data, "latent", where)
        image = _need(data, "image", where)
        parts = tuple(
            PartSpec(str(p["file"]), tuple(p["inputs"]), tuple(p["outputs"]))
            for p in _need(unet, "parts", where + " unet")
        )
        d = data.get("defaults", {})
        defaults = ModelDefaults(
            steps=int(d.get("steps", 20)),
            guidance=float(d.get("guidance", 7.5)),
            sampler=str(d.get("sampler", "dpmpp-2m")),
            fast_decode=bool(d.get("fast_decode", False)),
        )
        if defaults.sampler not in SAMPLERS:
            raise ModelError(f"{path}: unknown default sampler '{defaults.sampler}'.")
        prev = data.get("preview", {})
        factors = tuple(tuple(float(v) for v in row) for row in prev.get("rgb_factors", []))
        shape = tuple(int(v) for v in _need(latent, "shape", where + " latent"))
        if len(shape) != 3:
            raise ModelError(f"{path}: latent shape must be (h, w, c), got {shape}.")
        if not factors:
            factors = tuple((0.33, 0.33, 0.33) if i == 0 else (0.0, 0.0, 0.0)
                            for i in range(shape[2]))
        lic = data.get("licence", {})
        manifest = ModelManifest(
            folder=folder,
            name=str(_need(data, "name", where)),
            display_name=str(data.get("display_name", data["name"])),
            description=str(data.get("description", "")),
            version=str(data.get("version", "")),
            licence_name=str(lic.get("name", "unknown")),
            licence_file=lic.get("file"),
            source=str(data.get("source", "")),
            width=int(_need(image, "width", where + " image")),
            height=int(_need(image, "height", where + " image")),
            latent_shape=(shape[0], shape[1], shape[2]),
            scaling_factor=float(latent.get("scaling_factor", 1.0)),
            text_encoder=str(_need(te, "file", where + " text_encoder")),
            text_dim=int(te.get("context_dim", 0)),
            unet_parts=parts,
            unet_output=str(unet.get("output", parts[-1].outputs[0] if parts else "")),
            decoder=str(_need(dec, "file", where + " decoder")),
            decoder_input=str(dec.get("input", "latent")),
            decoder_output=str(dec.get("output", "image")),
            timestep_embedding=TimestepEmbedding.from_dict(data.get("timestep_embedding", {})),
            scheduler=ScheduleConfig.from_dict(data.get("scheduler", {})),
            defaults=defaults,
            files=files,
            preview_factors=factors,  # type: ignore[arg-type]
            preview_bias=tuple(float(v) for v in prev.get("rgb_bias", (0, 0, 0))),  # type: ignore[arg-type]
            extra=dict(data.get("extra", {})),
            pad_token=int(te.get("pad_token", 49407)),
            guidance_embedding=(str(data["guidance_embedding"]["file"])
                                if data.get("guidance_embedding") else None),
            fast_decoder=_decoder_spec(data.get("fast_decoder")),
            preview_decoder=_decoder_spec(data.get("preview_decoder")),
            image_encoder=_encoder_spec(data.get("image_encoder"), ""),
            fast_encoder=_encoder_spec(data.get("fast_encoder"), "TAESD"),
        )
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelError(f"{path} is malformed ({exc!r}); reinstall the model.") from exc
    extra_decoders = [d.file for d in (manifest.fast_decoder, manifest.preview_decoder,
                                       manifest.image_encoder, manifest.fast_encoder) if d]
    if manifest.guidance_embedding:
        extra_decoders.append(manifest.guidance_embedding)
    for f in [manifest.text_encoder, manifest.decoder, *(p.file for p in parts),
              *extra_decoders]:
        if f not in files:
            raise ModelError(f"{path} uses {f} but does not list its hash; reinstall the model.")
    return manifest


def _decoder_spec(data: Any) -> DecoderSpec | None:
    if not data:
        return None
    spec = DecoderSpec(file=str(data["file"]), input=str(data.get("input", "latent")),
                       output=str(data.get("output", "image")),
                       latent_scaling=str(data.get("latent_scaling", "none")),
                       name=str(data.get("name", "TAESD")))
    if spec.latent_scaling != "none" or list(data.get("output_range", [-1, 1])) != [-1, 1]:
        raise ModelError(f"{spec.file}: a fast decoder must take unscaled latents and give "
                         "-1..1; reinstall the model.")
    return spec


def _encoder_spec(data: Any, name: str) -> EncoderSpec | None:
    if not data:
        return None
    spec = EncoderSpec(file=str(data["file"]), input=str(data.get("input", "image")),
                       output=str(data.get("output", "latent")),
                       name=str(data.get("name", name)))
    if (list(data.get("input_range", [-1, 1])) != [-1, 1]
            or str(data.get("latent_scaling", "none")) != "none"):
        raise ModelError(f"{spec.file}: an image encoder must take pixels in -1..1 and give "
                         "the UNet's (scaled) latents; reinstall the model.")
    return spec


def write_manifest(folder: Path, data: dict[str, Any]) -> Path:
    """Write ``manifest.json`` atomically (used by the converter and the exporter)."""
    from .fileio import atomic_write_bytes

    data = {"format": FORMAT_VERSION, **data}
    path = Path(folder) / MANIFEST
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())
    load_manifest(folder)  # refuse to leave a manifest we cannot read back
    return path
