"""Making a picture again from its PNG: what can be restored, and what cannot.

A PNG dropped on the window (ParaSight's own, or AUTOMATIC1111's) carries its settings,
and for image to image the sha256 of its start image and mask, not their pixels: those
are kept by the history (``starts/`` and ``masks/``). ``restore_request`` reads the PNG,
looks the start image and mask up in the history, and says in a sentence each what it
could not bring back, so the person knows why the next image may differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..engine.types import DEFAULT_MASK_BLUR, GenerationRequest, GenerationSettings
from .errors import EntryNotFoundError
from .history import History
from .metadata import read_png_metadata

NO_SETTINGS = (
    "This picture carries no settings ParaSight can read, so nothing was restored; "
    "describe the sighting instead."
)
START_GONE = (
    "The start image of this picture is no longer in the history; the settings are "
    "restored, the start image is not."
)
START_AND_MASK_GONE = (
    "The start image and mask of this picture are no longer in the history; the settings "
    "are restored, the start image and mask are not."
)
START_NOT_STORED = (
    "This picture was made from a start image its file does not include (AUTOMATIC1111 "
    "keeps none); the settings are restored: open the start image again to use them."
)
MASK_GONE = (
    "The mask of this picture is no longer in the history; the settings and start image "
    "are restored, so paint the part to change again, or the whole image may change."
)


@dataclass(frozen=True)
class Restoration:
    """What a PNG lets ParaSight put back. ``notes`` says what it could not."""

    settings: GenerationSettings | None
    start_image: NDArray[np.uint8] | None = field(default=None, repr=False)  # (H, W, 3)
    mask: NDArray[np.uint8] | None = field(default=None, repr=False)  # (H, W), 255 = change
    #: The history entry it was refined from, where that entry is in this history.
    parent_id: int | None = None
    sighting: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Everything that made the picture is back: generating again makes it again."""
        return self.settings is not None and not self.notes

    def request(self, model: str | None = None) -> GenerationRequest:
        """The request that makes the picture again (on ``model``, else the one named)."""
        s = self.settings
        if s is None:
            raise ValueError("Nothing to make: this picture carries no settings.")
        start = self.start_image
        mask = self.mask if start is not None else None
        return GenerationRequest(
            prompt=s.prompt,
            negative_prompt=s.negative_prompt,
            seed=s.seed,
            steps=s.steps,
            guidance=s.guidance,
            sampler=s.sampler,
            model=model or s.model_name or None,
            fast_decode=bool(s.decoder),
            init_image=start,
            strength=s.strength if start is not None else None,
            mask=mask,
            mask_blur=s.mask_blur if s.mask_blur is not None else DEFAULT_MASK_BLUR,
        )


def restore_request(path: Path | str, history: History | None = None) -> Restoration:
    """Read ``path``'s settings and find its start image, mask and parent in ``history``.

    Raises :class:`MetadataError` for a file that is not a PNG or is damaged; a PNG
    without settings gives a restoration with no settings and one note.
    """
    meta = read_png_metadata(path)
    settings = meta.settings
    if settings is None:
        return Restoration(settings=None, notes=(NO_SETTINGS,))
    start_sha, mask_sha = meta.start_sha256, meta.mask_sha256
    start = history.find_start(start_sha) if history is not None and start_sha else None
    mask = history.find_mask(mask_sha) if history is not None and mask_sha else None
    notes: list[str] = []
    if start_sha and start is None:
        notes.append(START_AND_MASK_GONE if mask_sha else START_GONE)
        mask = None
    elif not start_sha and settings.strength is not None:
        notes.append(START_NOT_STORED)
    elif start is not None and mask_sha and mask is None:
        notes.append(MASK_GONE)
    if mask is not None and start is not None and mask.shape != start.shape[:2]:
        mask = None
        notes.append(MASK_GONE)
    return Restoration(
        settings=settings,
        start_image=start,
        mask=mask,
        parent_id=_parent(history, meta.parent_id, meta.parent_image),
        sighting=meta.sighting,
        notes=tuple(notes),
    )


def _parent(history: History | None, parent_id: int | None, parent_image: str) -> int | None:
    """The parent in this history: by id when its image name agrees (ids of another
    history, or of one rebuilt from its PNGs, name other pictures), else by name."""
    if history is None or (parent_id is None and not parent_image):
        return None
    if parent_id is not None:
        try:
            entry = history.get(parent_id)
        except EntryNotFoundError:
            entry = None
        if entry is not None and (not parent_image or entry.image_path.name == parent_image):
            return entry.id
    found = history.find_image(parent_image) if parent_image else None
    return found.id if found is not None else None
