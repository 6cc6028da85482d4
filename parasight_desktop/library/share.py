"""Share to a folder: the PNG (with metadata), a JSON sighting report beside it, and a card.

Files are named ``<slug of the description>-<seed>``; a name already taken gets
``-2``, ``-3``... so nothing is ever overwritten. Each file is written atomically, and
if any of the set fails the ones already written are removed: all or nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
from numpy.typing import NDArray

from .. import __version__
from ..engine.types import GenerationSettings
from .card import make_sighting_card
from .errors import AlreadyExistsError, SaveError
from .files import ensure_folder, remove_quietly, write_atomic
from .metadata import APP_NAME, format_parameters, png_bytes

SLUG_MAX = 60
REPORT_STATEMENT = (
    "This image is an AI reconstruction: {app} made it with a trained image model from "
    "the written description below. It is not a photograph, and it is not evidence that "
    "anything looked like this."
)
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{p}{n}" for p in ("com", "lpt") for n in range(10)
}
_MAX_TRIES = 10_000


@dataclass(frozen=True)
class SharedFiles:
    """The files one share wrote. ``card`` is ``None`` unless a card was asked for."""

    image: Path
    report: Path
    card: Path | None = None


def default_share_folder() -> Path:
    """``<the user's Pictures folder>/ParaSight`` (created only when something is shared)."""
    return platformdirs.user_pictures_path() / "ParaSight"


def slugify(description: str, max_length: int = SLUG_MAX) -> str:
    """A short lowercase ASCII file-name stem from a description; never empty."""
    ascii_text = unicodedata.normalize("NFKD", description).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        words = cut.rsplit("-", 1)[0] if "-" in cut else ""  # end on a whole word if one fits
        slug = (words if len(words) >= max_length // 2 else slug[:max_length]).strip("-")
    if not slug:
        return "sighting"
    if slug in _WINDOWS_RESERVED:
        return f"sighting-{slug}"
    return slug


def share_to_folder(
    folder: Path | str,
    image: NDArray[np.uint8],
    settings: GenerationSettings,
    sighting: Mapping[str, Any] | None,
    *,
    card: bool = False,
) -> SharedFiles:
    """Write the image, its sighting report and (if ``card``) a sighting card into ``folder``.

    ``sighting`` holds what the person noted, e.g. ``{"where": ..., "when": ...}``.
    Raises :class:`SaveError` (what happened, what to do) and leaves nothing behind.
    """
    folder = ensure_folder(Path(folder))
    details = dict(sighting or {})
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    extra = {"created_at": created_at, "sighting": details or None}
    image_png = png_bytes(image, settings, extra)
    card_png: bytes | None = None
    if card:
        picture = make_sighting_card(
            image,
            settings.prompt,
            _detail(details, "where", "place"),
            _detail(details, "when", "date"),
        )
        card_png = png_bytes(picture, settings, {**extra, "card": True})

    base = f"{slugify(settings.prompt)}-{settings.seed}"
    for attempt in range(1, _MAX_TRIES + 1):
        stem = base if attempt == 1 else f"{base}-{attempt}"
        names = _names(folder, stem, card)
        if any(path.exists() for path in names.values()):
            continue
        report = _report(settings, details, created_at, names)
        try:
            return _write_set(names, image_png, report, card_png)
        except AlreadyExistsError:
            continue  # another program took one of the names meanwhile: try the next stem
    raise SaveError(
        f"Every name like {base}.png is taken in {folder}. "
        "Choose another folder, or tidy this one, then share again."
    )


def _names(folder: Path, stem: str, card: bool) -> dict[str, Path]:
    names = {"image": folder / f"{stem}.png", "report": folder / f"{stem}.json"}
    if card:
        names["card"] = folder / f"{stem}-card.png"
    return names


def _write_set(
    names: Mapping[str, Path], image_png: bytes, report: bytes, card_png: bytes | None
) -> SharedFiles:
    """Write each file atomically; on any failure remove those already written."""
    written: list[Path] = []
    try:
        written.append(write_atomic(names["image"], image_png))
        if card_png is not None:
            written.append(write_atomic(names["card"], card_png))
        written.append(write_atomic(names["report"], report))
    except BaseException:
        for path in written:
            remove_quietly(path)
        raise
    return SharedFiles(image=names["image"], report=names["report"], card=names.get("card"))


def _report(
    settings: GenerationSettings,
    sighting: Mapping[str, Any],
    created_at: str,
    names: Mapping[str, Path],
) -> bytes:
    """The sighting report: what was described, what made the image, and what it is not."""
    card = names.get("card")
    doc = {
        "report": "ParaSight sighting report",
        "ai_generated": True,
        "statement": REPORT_STATEMENT.format(app=APP_NAME),
        "description": settings.prompt,
        "negative_prompt": settings.negative_prompt,
        "sighting": dict(sighting),
        "image": names["image"].name,
        "card": card.name if card is not None else None,
        "model": {"name": settings.model_name, "hash": settings.model_hash},
        "settings": settings.to_dict(),
        "parameters": format_parameters(settings),
        "created_at": created_at,
        "app": APP_NAME,
        "app_version": __version__,
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")


def _detail(sighting: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = sighting.get(key)
        if value not in (None, ""):
            return str(value)
    return None
