"""The catalogue of what ParaSight knows how to download, and where downloads go.

An entry names the published files (URL, sha256), the licence a person must accept
before downloading them and, for a model, what converting it should aim for. Its
``kind`` says what it is: a ``"model"`` is converted into an installed model
(:data:`CATALOG`); a ``"lora"`` or a ``"decoder"`` is an add-on (:data:`ADDONS`)
that the importer reads as it is and that is never converted on its own.

Downloads land in ``<user data>/downloads/<name>/`` under their published file names;
the converter and the importer read them from there (:func:`downloaded_path`). A file
whose sha256 the catalogue cannot pin (``sha256=""``) is checked against the one the
model hub publishes for it, and that hash is kept in ``hashes.json`` beside the files
so the download can be verified again later without the network.
``PARASIGHT_MODEL_MIRROR`` (a base URL) replaces each file's host and path, for
mirrors and for tests: the file name is appended to it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .fileio import atomic_write_bytes, sha256_file
from .store import resources_dir, user_data_dir

MIRROR_ENV = "PARASIGHT_MODEL_MIRROR"
HASHES_FILE = "hashes.json"  # in a download folder: the sha256 each file was verified against
KINDS = ("model", "lora", "decoder")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RemoteFile:
    """One published file.

    ``size`` is the exact byte count when known (then checked before the hash);
    ``approx_size`` is only for telling a person how much room a download needs.
    An empty ``sha256`` means "the one the server publishes" (the hub's
    ``X-Linked-Etag``); the downloader refuses the file if there is none.
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
    """Something downloadable: its files, its licence and, for a model, how to convert it.

    ``kind`` is ``"model"`` (converted into an installed model), ``"lora"`` (merged
    into a model at import) or ``"decoder"`` (an image decoder used in place of the
    model's own); only a model has a conversion, and ``default_precision``, ``width``
    and ``height`` mean nothing for the others.
    """

    name: str
    display_name: str
    description: str
    licence_name: str
    licence_url: str
    licence_file: str  # in resources/licences/
    size_note: str
    files: tuple[RemoteFile, ...]
    default_precision: str = "fp32"
    width: int = 512
    height: int = 512
    kind: str = "model"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def is_model(self) -> bool:
        """Whether this entry is converted into a model (an add-on is not)."""
        return self.kind == "model"

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
            approx_size=137 * _MB, optional=True,  # converted too: image to image
        ),
    ),
    default_precision="fp16",
)

_LCM_LORA_SD15 = CatalogEntry(
    name="lcm-lora-sdv1-5",
    display_name="LCM-LoRA for SD 1.x",
    description=(
        "Latent Consistency LoRA for Stable Diffusion 1.x (latent-consistency). Merged "
        "into an SD 1.x model when it is imported, it makes good images in 2 to 8 steps "
        "with the LCM sampler at guidance 1 to 2. It is not a model on its own."
    ),
    licence_name="OpenRAIL++",
    licence_url="https://huggingface.co/latent-consistency/lcm-lora-sdv1-5",
    licence_file="openrail-plus-plus.md",
    size_note="about 135 MB to download",
    files=(
        # sha256 and size as the hub lists them, and as others who pin this file record them.
        RemoteFile(
            role="lora", filename="pytorch_lora_weights.safetensors",
            url="https://huggingface.co/latent-consistency/lcm-lora-sdv1-5/resolve/main/"
                "pytorch_lora_weights.safetensors",
            sha256="8f90d840e075ff588a58e22c6586e2ae9a6f7922996ee6649a7f01072333afe4",
            size=134_621_556,
        ),
    ),
    kind="lora",
)

# TAESD's editions replace the files under the same names, so the URLs name a hub
# revision, never "main". The hub's safetensors live only on the Hugging Face repository
# (the GitHub one has .pth files, in a separate history). The sha256 is not pinned here:
# the downloader takes it from the hub's X-Linked-Etag for this revision and records it.
_TAESD_REVISION = "614f76814bbe30edbe2e627ace1c2234c81a2c0e"
_TAESD_URL = f"https://huggingface.co/madebyollin/taesd/resolve/{_TAESD_REVISION}/"

_TAESD = CatalogEntry(
    name="taesd",
    display_name="TAESD (tiny decoder)",
    description=(
        "Tiny AutoEncoder for Stable Diffusion (Ollin Boer Bohan): a 1.2M-parameter "
        "stand-in for the SD 1.x/2.x image decoder, about 20 times cheaper, slightly "
        "softer. Worth it at 1 to 4 steps, where the full decoder takes most of the time."
    ),
    licence_name="MIT",
    licence_url="https://github.com/madebyollin/taesd/blob/main/LICENSE",
    licence_file="taesd-mit.md",
    size_note="about 9.8 MB to download",
    files=(
        RemoteFile(role="decoder", filename="taesd_decoder.safetensors",
                   url=_TAESD_URL + "taesd_decoder.safetensors", sha256="", size=4_895_612),
        RemoteFile(role="encoder", filename="taesd_encoder.safetensors",
                   url=_TAESD_URL + "taesd_encoder.safetensors", sha256="", size=4_895_600),
    ),
    kind="decoder",
)

#: Models: downloaded, then converted (the Models dialog lists these).
CATALOG: dict[str, CatalogEntry] = {e.name: e for e in (_SD_V14,)}
#: Add-ons: downloaded and used as they are, never converted on their own.
ADDONS: dict[str, CatalogEntry] = {e.name: e for e in (_LCM_LORA_SD15, _TAESD)}


def all_entries() -> list[CatalogEntry]:
    """Every downloadable entry: the models, then the add-ons."""
    return [*CATALOG.values(), *ADDONS.values()]


def get_entry(name: str) -> CatalogEntry:
    """The catalogue entry (model or add-on) called ``name``; :class:`InputError` lists
    the known ones."""
    entry = CATALOG.get(name) or ADDONS.get(name)
    if entry is None:
        known = ", ".join(e.name for e in all_entries())
        raise InputError(f"Nothing downloadable is called '{name}': known ones are {known}.")
    return entry


_KIND_WORDS = {"model": "model", "lora": "LoRA", "decoder": "image decoder"}


def model_entry(name: str) -> CatalogEntry:
    """The catalogue *model* called ``name``: an add-on is refused, since only a model
    has a conversion."""
    entry = get_entry(name)
    if not entry.is_model:
        raise InputError(
            f"{entry.display_name} ('{name}') is a {_KIND_WORDS[entry.kind]}, not a model: it "
            "is not converted on its own but used when a model is imported."
        )
    return entry



def downloads_dir(name: str) -> Path:
    """Where the published files of model ``name`` are downloaded to."""
    return user_data_dir() / "downloads" / name


def local_path(entry: CatalogEntry, role: str) -> Path:
    """Where the file with ``role`` of ``entry`` lies once downloaded."""
    return downloads_dir(entry.name) / entry.file(role).filename


def mirror_from_env() -> str | None:
    return os.environ.get(MIRROR_ENV) or None


# -- the hashes a download was verified against ----------------------------------------


def _read_hashes(name: str) -> dict[str, Any]:
    try:
        data = json.loads((downloads_dir(name) / HASHES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def recorded_hash(entry: CatalogEntry, role: str) -> tuple[str, int | None] | None:
    """(sha256, size) that ``entry``'s file ``role`` was verified against when downloaded.

    Only a record for the file's catalogue URL counts: a new revision in the catalogue
    makes the old record stale.
    """
    f = entry.file(role)
    rec = _read_hashes(entry.name).get(f.filename)
    if not isinstance(rec, dict) or rec.get("url") != f.url:
        return None
    sha, size = rec.get("sha256"), rec.get("size")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        return None
    return sha, size if isinstance(size, int) else None


def record_hash(entry: CatalogEntry, role: str, sha256: str, size: int, source: str) -> None:
    """Remember that ``entry``'s file ``role`` was verified against ``sha256`` (written
    atomically, beside the downloads)."""
    f = entry.file(role)
    files = _read_hashes(entry.name)
    files[f.filename] = {"sha256": sha256, "size": size, "url": f.url, "source": source}
    text = json.dumps({"version": 1, "files": files}, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(downloads_dir(entry.name) / HASHES_FILE, text.encode("utf-8"))


def expected_hash(entry: CatalogEntry, role: str) -> tuple[str, int | None] | None:
    """(sha256, size) a downloaded file must have: the catalogue's, else the recorded one."""
    f = entry.file(role)
    if f.sha256:
        return f.sha256, f.size
    rec = recorded_hash(entry, role)
    if rec is None:
        return None
    return rec[0], f.size if f.size is not None else rec[1]


def downloaded_path(entry_name: str, role: str, *, verify: bool = True) -> Path | None:
    """The downloaded, verified file ``role`` of catalogue entry ``entry_name``, or ``None``.

    ``None`` when it is not downloaded, or its size or sha256 (the catalogue's, or the
    one recorded when it was downloaded) does not match; ``verify=False`` skips hashing
    the file and checks its size only. An unknown name or role is an :class:`InputError`.
    """
    entry = get_entry(entry_name)
    try:
        f = entry.file(role)
    except KeyError:
        roles = ", ".join(x.role for x in entry.files)
        raise InputError(f"{entry.display_name} has no file '{role}': it has {roles}.") \
            from None
    path = downloads_dir(entry.name) / f.filename
    want = expected_hash(entry, role)
    if want is None or not path.is_file():
        return None
    sha, size = want
    if size is not None and path.stat().st_size != size:
        return None
    if verify and sha256_file(path) != sha:
        return None
    return path
