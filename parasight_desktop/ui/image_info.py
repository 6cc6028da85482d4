"""The finished image being shown, and the settings that made it, as the panel beside it says."""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtGui import QImage

from ..engine.types import GenerationSettings
from ..library.history import HistoryEntry
from ..library.metadata import DISCLAIMER
from .images import qimage_to_array
from .units import format_duration


@dataclass(frozen=True)
class ShownImage:
    """The finished image in the view, and everything needed to save or share it."""

    image: QImage
    settings: GenerationSettings
    sighting: dict[str, Any] | None = None
    entry: HistoryEntry | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    tokens_dropped: int = 0
    created_at: str = ""

    def pixels(self) -> NDArray[np.uint8]:
        return qimage_to_array(self.image)


def png_extra(shown: ShownImage) -> dict[str, Any]:
    extra: dict[str, Any] = {"timings": shown.timings}
    if shown.created_at:
        extra["created_at"] = shown.created_at
    return extra


def _start_rows(shown: ShownImage) -> list[tuple[str, str]]:
    """Image to image: the parent, the strength and the steps it ran, the mask's blur."""
    s = shown.settings
    if s.strength is None:
        return []
    parent = shown.entry.parent_id if shown.entry is not None else None
    rows = [("From", f"image #{parent}" if parent is not None else "a start image"),
            ("Strength", f"{s.strength:.2f} ({s.steps_run} of {s.steps} steps)")]
    if s.mask_blur is not None:
        rows.append(("Mask", f"painted region, blur {s.mask_blur} px"))
    return rows


def settings_html(shown: ShownImage) -> str:
    """What made the image, for the panel beside it."""
    s = shown.settings
    e = html.escape
    rows = [
        ("Seed", str(s.seed)),
        ("Steps", str(s.steps)),
        ("Guidance", f"{s.guidance:g}"),
        ("Sampler", s.sampler_label),
        *([("Decoder", s.decoder)] if s.decoder else []),
        ("Model", s.model_name or "unknown"),
        ("Size", f"{s.width}\u00d7{s.height}"),
        *_start_rows(shown),
    ]
    if shown.created_at:
        rows.append(("Made", shown.created_at[:19].replace("T", " ") + " UTC"))
    total = shown.timings.get("total")
    if total:
        rows.append(("Took", format_duration(total)))
    table = "".join(f"<tr><td><b>{e(k)}</b>&nbsp;</td><td>{e(v)}</td></tr>" for k, v in rows)
    parts = [f"<p><b>Description</b><br>{e(s.prompt)}</p>"]
    if shown.tokens_dropped:
        parts.append(f"<p><i>The model did not read the last {shown.tokens_dropped} "
                     "token(s) of this description.</i></p>")
    if s.negative_prompt:
        parts.append(f"<p><b>Left out</b><br>{e(s.negative_prompt)}</p>")
    parts.append("<p><b>Settings</b></p>")
    parts.append(f"<table cellspacing='0' cellpadding='1'>{table}</table>")
    if shown.sighting:
        lines = [f"{label}: {e(str(shown.sighting[key]))}"
                 for key, label in (("where", "Where"), ("when", "When"))
                 if shown.sighting.get(key)]
        if lines:
            parts.append("<p><b>Sighting</b><br>" + "<br>".join(lines) + "</p>")
    parts.append(f"<p><i>{e(DISCLAIMER)}.</i></p>")
    return "\n".join(parts)
