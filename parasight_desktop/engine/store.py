"""Where models live, which are installed, and whether their files are intact.

Models live in the user's data folder (``platformdirs``); the embedded model lives
in ``resources/models/``. Loading checks every file's size each time and its
sha256 once per file version: the hash is cached by (path, size, mtime), so a file
changed on disk is hashed again and a damaged one is named in a clear error.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import InputError, ModelError
from .fileio import atomic_write_bytes, sha256_file
from .manifest import MANIFEST, ModelDefaults, ModelManifest, load_manifest
from .memory import stage_plan
from .runner import reload_choice

APP_NAME = "ParaSight"
DEFAULT_MODEL = "parasight-mini"


def resources_dir() -> Path:
    """``resources/`` beside the package (source tree) or inside a bundle."""
    env = os.environ.get("PARASIGHT_RESOURCES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "resources"


def builtin_models_dir() -> Path:
    return resources_dir() / "models"


def user_data_dir() -> Path:
    env = os.environ.get("PARASIGHT_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_models_dir() -> Path:
    return user_data_dir() / "models"


@dataclass(frozen=True)
class ModelInfo:
    """What the UI and CLI show about an installed model."""

    name: str
    display_name: str
    path: Path
    description: str
    licence_name: str
    licence_text: str
    source: str
    width: int
    height: int
    defaults: ModelDefaults
    builtin: bool
    fast_decoder: str = ""  # the fast decoder's name ("TAESD") where the model has one
    guidance_embedding: bool = False  # LCM-distilled: guidance is an input of the UNet
    precision: str = ""  # as converted ("int8", "fp16", "fp32"); "" where not recorded
    runs_on: str = ""  # how this machine runs it and why (runner.reload_choice)


def _older_layout(m: ModelManifest) -> str:
    """A sentence for Stable Diffusion folders converted before the converter's current
    arrangement (sd_convert.LAYOUT), which run more slowly; else nothing. Figures:
    docs/BENCHMARKS.md, "Engine speed against OpenVINO"."""
    from .sd_convert import LAYOUT

    layout = m.extra.get("layout", 1)
    if "lean_attention" not in m.extra or layout >= LAYOUT:
        return ""
    gain = ("its decoder about 1.8 times as fast and each step a little faster"
            if layout < 2 else "each step and the decoder a little faster")
    return (" It was converted by an earlier ParaSight: converting or importing it again "
            f"makes {gain} (the same image, or one rounded slightly differently).")


def _stages(m: ModelManifest) -> str:
    """How a large model uses memory between images (memory.stage_plan); "" where its
    files cannot be read (the store reports that elsewhere)."""
    try:
        return stage_plan(m)[2]
    except OSError:
        return ""


class HashCache:
    """sha256 of model files, remembered by (path, size, mtime_ns) in one JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, list[object]] = {}
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._data = loaded
            except (OSError, ValueError):
                self._data = {}  # a damaged cache only costs a re-hash

    def sha256(self, file: Path) -> str:
        st = file.stat()
        key = str(file.resolve())
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
                return str(hit[2])
        digest = sha256_file(file)
        with self._lock:
            self._data[key] = [st.st_size, st.st_mtime_ns, digest]
            if self.path is not None:
                try:
                    atomic_write_bytes(self.path, json.dumps(self._data).encode())
                except OSError:
                    pass  # an unwritable cache folder only costs a re-hash next time
        return digest


def verify_files(manifest: ModelManifest, hashes: HashCache) -> None:
    """Raise :class:`ModelError` naming the first missing, truncated or altered file."""
    for entry in manifest.files.values():
        path = manifest.path(entry.name)
        if not path.is_file():
            raise ModelError(
                f"The model '{manifest.name}' is missing {entry.name} (in {manifest.folder}); "
                "reinstall or reconvert the model."
            )
        size = path.stat().st_size
        if size != entry.size:
            raise ModelError(
                f"{entry.name} of model '{manifest.name}' has {size} bytes, expected "
                f"{entry.size}: the file is damaged or incomplete; reinstall the model."
            )
        if hashes.sha256(path) != entry.sha256:
            raise ModelError(
                f"{entry.name} of model '{manifest.name}' does not match its sha256: "
                "the file is damaged or was changed; reinstall the model."
            )


class ModelStore:
    """The installed models: user models first, then the embedded ones."""

    def __init__(self, roots: Sequence[Path] | None = None, hash_cache: Path | None = None):
        if roots is None:
            roots = [user_models_dir(), builtin_models_dir()]
            if hash_cache is None:
                hash_cache = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / (
                    "model-hashes.json"
                )
        self.roots = [Path(r) for r in roots]
        self._builtin = builtin_models_dir().resolve()
        self.hashes = HashCache(hash_cache)

    def _folders(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for root in self.roots:
            if (root / MANIFEST).is_file():
                found.setdefault(root.name, root)
                continue
            if not root.is_dir():
                continue
            for sub in sorted(root.iterdir()):
                if (sub / MANIFEST).is_file():
                    found.setdefault(sub.name, sub)
        return found

    def list_models(self) -> list[ModelInfo]:
        """Every model whose manifest reads; a broken one is skipped, not fatal."""
        infos = []
        for folder in self._folders().values():
            try:
                infos.append(self._info(load_manifest(folder)))
            except ModelError:
                continue
        return infos

    def names(self) -> list[str]:
        return list(self._folders())

    def default_model(self) -> str:
        names = self.names()
        if not names:
            raise ModelError(
                "No model is installed: reinstall ParaSight (the embedded model ships with it) "
                "or install one with 'parasight models download'."
            )
        return DEFAULT_MODEL if DEFAULT_MODEL in names else names[0]

    def folder(self, name: str) -> Path:
        folders = self._folders()
        if name not in folders:
            known = ", ".join(folders) or "none"
            raise InputError(f"Unknown model '{name}': installed models are {known}.")
        return folders[name]

    def manifest(self, name: str) -> ModelManifest:
        """The model's manifest, without checking its files."""
        return load_manifest(self.folder(name))

    def get(self, name: str) -> ModelInfo:
        return self._info(self.manifest(name))

    def load(self, name: str) -> ModelManifest:
        """The manifest of a model whose files are all present and intact."""
        manifest = self.manifest(name)
        verify_files(manifest, self.hashes)
        return manifest

    def _info(self, m: ModelManifest) -> ModelInfo:
        builtin = m.folder.resolve().is_relative_to(self._builtin)
        return ModelInfo(
            # The folder's name: the one the store, the CLI and requests use.
            name=m.folder.name, display_name=m.display_name, path=m.folder, description=m.description,
            licence_name=m.licence_name, licence_text=m.licence_text(), source=m.source,
            width=m.width, height=m.height, defaults=m.defaults, builtin=builtin,
            fast_decoder=m.fast_decoder.name if m.fast_decoder else "",
            guidance_embedding=m.guidance_embedding is not None,
            precision=str(m.extra.get("precision") or ""),
            runs_on=(reload_choice(m.folder, m.extra.get("precision"))[1] + _stages(m)
                     + _older_layout(m)),
        )
