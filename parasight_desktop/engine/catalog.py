"""The catalogue of models ParaSight knows how to download, and where downloads go.

An entry names the published files (URL, sha256), the licence a person must accept
before downloading them, and what converting them should aim for. Downloads land in
``<user data>/downloads/<name>/`` under their published file names; the converter
reads them from there. ``PARASIGHT_MODEL_MIRROR`` (a base URL) replaces each file's
host and path, for mirrors and for tests: the file name is appended to it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .store import resources_dir, user_data_dir

MIRROR_ENV = "PARASIGHT_MODEL_MIRROR"


@dataclass(frozen=True)
class RemoteFile:
    """One published file.

    ``size`` is the exact byte count when known (then checked before the hash);
    ``approx_size`` is only for telling a person how much room a download needs.
    An ``optional`` file is fetched only when asked for.
    """

    role: str
    filename: str
    url: str
    sha256: str
    size: int | None = None
    approx_size: int | None = None
    optional: bool = False

    def url_from(self, mirror: str | None) -> str:
        """This file's URL, or the same file name under ``mirror``."""
        if not mirror:
            return self.url
        return mirror.rstrip("/") + "/" + self.filename


@dataclass(frozen=True)
class CatalogEntry:
    """A downloadable model: its files, its licence, and how to convert it."""

    name: str
    display_name: str
    description: str
    licence_name: str
    licence_url: str
    licence_file: str  # in resources/licences/
    size_note: str
    files: tuple[RemoteFile, ...]
    default_precision: str
    width: int = 512
    height: int = 512

    @property
    def licence_text(self) -> str:
        """The licence notice shipped with ParaSight, or its name and URL if it is missing."""
        path = resources_dir() / "licences" / self.licence_file
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            return f"{self.licence_name}\n{self.licence_url}\n"

    def file(self, role: str) -> RemoteFile:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(role)

    def wanted(self, include_optional: bool = False) -> tuple[RemoteFile, ...]:
        """The files a download fetches: the required ones, plus optional ones if asked."""
        return tuple(f for f in self.files if include_optional or not f.optional)

    def approx_bytes(self, include_optional: bool = False) -> int:
        return sum(f.size or f.approx_size or 0 for f in self.wanted(include_optional))


_KCV = "https://huggingface.co/fchollet/stable-diffusion/resolve/main/"
_MB = 1_000_000

# KerasCV's own StableDiffusion fetches these same files with these same hashes
# (keras_cv/models/stable_diffusion). Exact sizes are not published with them, so
# the Content-Length the server sends is used; approx_size is float32 weights x
# parameter count (123M, 860M, 49.5M, 34.2M), for the disk-space estimate only.
_SD_V14 = CatalogEntry(
    name="sd-v1.4",
    display_name="Stable Diffusion v1.4",
    description=(
        "Stable Diffusion v1.4 (CompVis), as published for KerasCV by fchollet. "
        "Text to image at 512x512. Downloaded as Keras files, then converted to "
        "TensorFlow Lite on this computer with 'parasight models convert sd-v1.4'."
    ),
    licence_name="CreativeML OpenRAIL-M",
    licence_url="https://huggingface.co/spaces/CompVis/stable-diffusion-license",
    licence_file="creativeml-openrail-m.md",
    size_note="about 4.1 GB to download (4.3 GB with the image encoder)",
    files=(
        RemoteFile(
            role="text_encoder", filename="kcv_encoder.h5", url=_KCV + "kcv_encoder.h5",
            sha256="4789e63e07c0e54d6a34a29b45ce81ece27060c499a709d556c7755b42bb0dc4",
            approx_size=492 * _MB,
        ),
        RemoteFile(
            role="diffusion_model", filename="kcv_diffusion_model.h5",
            url=_KCV + "kcv_diffusion_model.h5",
            sha256="8799ff9763de13d7f30a683d653018e114ed24a6a819667da4f5ee10f9e805fe",
            approx_size=3_440 * _MB,
        ),
        RemoteFile(
            role="decoder", filename="kcv_decoder.h5", url=_KCV + "kcv_decoder.h5",
            sha256="ad350a65cc8bc4a80c8103367e039a3329b4231c2469a1093869a345f55b1962",
            approx_size=198 * _MB,
        ),
        RemoteFile(
            role="image_encoder", filename="vae_encoder.h5", url=_KCV + "vae_encoder.h5",
            sha256="c60fb220a40d090e0f86a6ab4c312d113e115c87c40ff75d11ffcf380aab7ebb",
            approx_size=137 * _MB, optional=True,  # for image-to-image, later
        ),
    ),
    default_precision="fp16",
)

CATALOG: dict[str, CatalogEntry] = {e.name: e for e in (_SD_V14,)}


def get_entry(name: str) -> CatalogEntry:
    """The catalogue entry called ``name``; :class:`InputError` lists the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(CATALOG)
        raise InputError(f"No downloadable model is called '{name}': known ones are {known}.") \
            from None


def downloads_dir(name: str) -> Path:
    """Where the published files of model ``name`` are downloaded to."""
    return user_data_dir() / "downloads" / name


def local_path(entry: CatalogEntry, role: str) -> Path:
    """Where the file with ``role`` of ``entry`` lies once downloaded."""
    return downloads_dir(entry.name) / entry.file(role).filename


def mirror_from_env() -> str | None:
    return os.environ.get(MIRROR_ENV) or None
