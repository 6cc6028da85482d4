"""The sighting being refined: what the window shows and its widgets edit (practice 17).

A person refines one sighting in a loop: describe it, make variations, pick the
closest, fix what is wrong (from a sketch or a photo, or by masking a region) and
generate again from the current image. :class:`Sighting` holds that state in plain
Python, so it is tested without Qt:

* the settings being edited (description, seed, steps, guidance, sampler, model...);
* the start image (its pixels at the model's size, where they came from, how they
  were fitted), the mask over it, the strength and the mask's blur;
* the parent: the history entry the next image is refined from;
* the current set of variations ("Make 4": four seeds of the same settings).

It builds the :class:`GenerationRequest` (s) from that state and says where each image
came from (:class:`Origin`), which the history keeps as the image's lineage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..engine.types import (
    DEFAULT_MASK_BLUR,
    DEFAULT_STRENGTH,
    MAX_SEED,
    GenerationRequest,
    GenerationSettings,
    image_sha256,
    steps_to_run,
)

#: Where a start image came from.
FROM_FILE = "file"
FROM_SKETCH = "sketch"
FROM_CLIPBOARD = "clipboard"
FROM_IMAGE = "image"  # a finished image of the history (Refine, a picked variation)

#: How many images "Make 4" makes.
VARIATIONS = 4

_set_ids = count(1)


@dataclass(frozen=True, eq=False)
class StartPicture:
    """The start image as the sighting holds it: pixels at the model's size and their story."""

    pixels: NDArray[np.uint8]  # (height, width, 3) RGB
    source: str  # for people: "sketch", "photo.jpg", "image #12"
    kind: str = FROM_FILE
    fit: str = "crop"  # how a file was fitted to the model's size: "crop" or "fit"
    entry_id: int | None = None  # the history entry, where kind is FROM_IMAGE

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    @property
    def sha256(self) -> str:
        return image_sha256(self.pixels)


@dataclass(frozen=True, eq=False)
class Origin:
    """Where one image comes from, carried beside its request to the history."""

    parent_id: int | None = None
    start: StartPicture | None = None
    mask: NDArray[np.uint8] | None = None
    variation_set: int | None = None  # the id of the set it belongs to, if any


@dataclass
class VariationSet:
    """One "Make 4": the seeds asked for and, as each finishes, its history entry id."""

    id: int
    seeds: list[int]
    entry_ids: dict[int, int] = field(default_factory=dict)  # seed -> entry id
    picked: int | None = None  # the entry id chosen as the current image
    #: the set's own requests (an image made apart from the set with one of its seeds is
    #: not one of them)
    requests: list[GenerationRequest] = field(default_factory=list, repr=False)

    def holds(self, request: GenerationRequest) -> bool:
        return any(r is request for r in self.requests)

    def finished(self, seed: int, entry_id: int) -> None:
        if seed in self.seeds:
            self.entry_ids[seed] = entry_id

    @property
    def done(self) -> bool:
        return len(self.entry_ids) == len(self.seeds)


class EntryLike(Protocol):
    """What :class:`Sighting` reads from a history entry."""

    @property
    def id(self) -> int: ...

    @property
    def settings(self) -> GenerationSettings: ...

    @property
    def image_path(self) -> Path: ...


def next_seeds(first: int, n: int) -> list[int]:
    """``first`` and the ``n - 1`` seeds after it (as AUTOMATIC1111 numbers a batch),
    wrapping past the largest seed."""
    return [(first + i) % (MAX_SEED + 1) for i in range(n)]


def read_pixels(path: Path) -> NDArray[np.uint8]:
    """An image file's RGB pixels."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


class Sighting:
    """The sighting being refined. Widgets edit it through its methods; listeners added
    with :meth:`subscribe` hear of every change (the window redraws what it shows)."""

    def __init__(self) -> None:
        self.prompt = ""
        self.negative = ""
        self.notes: dict[str, str] = {}  # where and when it was seen
        self.seed: int | None = None  # None: a random seed for each image
        self.steps: int | None = None
        self.guidance: float | None = None
        self.sampler: str | None = None
        self.model: str | None = None
        self.fast_decode: bool | None = None
        self.start: StartPicture | None = None
        self.mask: NDArray[np.uint8] | None = None
        self.strength = DEFAULT_STRENGTH
        self.mask_blur = DEFAULT_MASK_BLUR
        self.parent_id: int | None = None
        self.variations: VariationSet | None = None
        self._listeners: list[Callable[[], None]] = []

    # -- observing ---------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # -- editing -----------------------------------------------------------------------

    def set_settings(self, **values: Any) -> None:
        """Set any of prompt, negative, notes, seed, steps, guidance, sampler, model,
        fast_decode (the form's fields), without telling listeners (the form is where
        they came from)."""
        for key, value in values.items():
            if key not in _SETTINGS:
                raise TypeError(f"Sighting has no setting '{key}'")
            setattr(self, key, value)

    def set_start(self, pixels: NDArray[np.uint8], source: str, kind: str = FROM_FILE,
                  fit: str = "crop", entry_id: int | None = None) -> None:
        """Start the next image from ``pixels`` (a mask of another size is dropped)."""
        self.start = StartPicture(np.array(pixels, dtype=np.uint8, order="C"), source, kind,
                                  fit, entry_id)
        if self.mask is not None and self.mask.shape != self.start.pixels.shape[:2]:
            self.mask = None
        self.changed()

    def clear_start(self) -> None:
        """Back to text to image: no start image, no mask, no parent."""
        self.start = None
        self.mask = None
        self.parent_id = None
        self.changed()

    def set_mask(self, mask: NDArray[np.uint8] | None) -> None:
        """The region that may change (255) and what is kept (0); None or all-0 for none."""
        if mask is not None:
            if self.start is None:
                raise ValueError("A mask needs a start image: open or draw one first.")
            if mask.shape != self.start.pixels.shape[:2]:
                raise ValueError(f"The mask is {mask.shape[1]}x{mask.shape[0]} but the start "
                                 f"image is {self.start.size[0]}x{self.start.size[1]}.")
            mask = np.array(mask, dtype=np.uint8, order="C")  # ours: the caller may reuse it
            if not mask.any():
                mask = None
        self.mask = mask
        self.changed()

    def set_strength(self, strength: float) -> None:
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"Strength must be above 0 and at most 1 (got {strength:g}).")
        self.strength = float(strength)
        self.changed()

    def set_mask_blur(self, pixels: int) -> None:
        self.mask_blur = int(pixels)
        self.changed()

    # -- what is being made -------------------------------------------------------------

    @property
    def from_image(self) -> bool:
        return self.start is not None

    def steps_to_run(self, steps: int | None = None) -> int | None:
        """How many steps the next image takes (None: the model's default, not known here)."""
        steps = self.steps if steps is None else steps
        if steps is None:
            return None
        return steps_to_run(steps, self.strength if self.start is not None else None)

    def request(self, seed: int | None = None) -> GenerationRequest:
        """The request for one image with ``seed`` (default: the sighting's seed).
        Raises the engine's InputError with a sentence if it cannot be made."""
        start = self.start
        request = GenerationRequest(
            prompt=self.prompt,
            negative_prompt=self.negative,
            seed=self.seed if seed is None else seed,
            steps=self.steps,
            guidance=self.guidance,
            sampler=self.sampler,
            model=self.model,
            fast_decode=self.fast_decode,
            init_image=None if start is None else start.pixels,
            strength=None if start is None else self.strength,
            mask=None if start is None else self.mask,
            mask_blur=self.mask_blur,
        )
        request.validate()
        return request

    def requests(self, n: int = 1, first_seed: int | None = None) -> list[GenerationRequest]:
        """``n`` requests of the same settings with seeds ``first_seed``, +1, ... For more
        than one, a new variation set is started (see :meth:`origin`)."""
        first = self.seed if first_seed is None else first_seed
        if first is None:
            raise ValueError("requests() needs a seed: set one or pass first_seed")
        seeds = next_seeds(first, n)
        built = [self.request(seed) for seed in seeds]  # all checked before the set starts
        if n > 1:
            self.variations = VariationSet(next(_set_ids), seeds, requests=built)
            self.changed()
        return built

    def origin(self, request: GenerationRequest) -> Origin:
        """Where the image ``request`` makes comes from (for the history's lineage)."""
        in_set = self.variations
        set_id = in_set.id if in_set is not None and in_set.holds(request) else None
        return Origin(parent_id=self.parent_id if self.start is not None else None,
                      start=self.start, mask=self.mask if self.start is not None else None,
                      variation_set=set_id)

    def variation_finished(self, set_id: int | None, seed: int, entry_id: int) -> None:
        if self.variations is not None and self.variations.id == set_id:
            self.variations.finished(seed, entry_id)
            self.changed()

    # -- from finished images -----------------------------------------------------------

    def use_result(self, entry: EntryLike, pixels: NDArray[np.uint8] | None = None) -> None:
        """Refine ``entry``: its image becomes the start image and the parent of what is
        made next; its description and settings go back into the sighting. The mask is
        cleared (it belonged to the last image); the strength stays as chosen."""
        if pixels is None:
            pixels = read_pixels(entry.image_path)
        self._take_settings(entry.settings)
        self.start = StartPicture(np.ascontiguousarray(pixels, dtype=np.uint8),
                                  f"image #{entry.id}", FROM_IMAGE, entry_id=entry.id)
        self.mask = None
        self.parent_id = entry.id
        if self.variations is not None and entry.id in self.variations.entry_ids.values():
            self.variations.picked = entry.id
        self.changed()

    def restore(self, entry: EntryLike, start_image: NDArray[np.uint8] | None = None,
                mask: NDArray[np.uint8] | None = None, parent_id: int | None = None) -> list[str]:
        """Put back everything that made ``entry``: settings, start image, mask, strength,
        mask blur and its parent, so generating again makes it again. Returns what could
        not be restored, each as a phrase."""
        return self.restore_settings(entry.settings, start_image, mask, parent_id,
                                     f"start image of #{entry.id}")

    def restore_settings(self, s: GenerationSettings, start_image: NDArray[np.uint8] | None,
                         mask: NDArray[np.uint8] | None, parent_id: int | None,
                         start_name: str = "start image") -> list[str]:
        """:meth:`restore` from settings alone (a PNG's, say), with what was found of its
        start image, mask and parent."""
        notes: list[str] = []
        self._take_settings(s)
        self.seed = s.seed
        self.variations = None
        self.parent_id = parent_id
        if s.strength is not None:
            self.strength = s.strength
        if s.mask_blur is not None:
            self.mask_blur = s.mask_blur
        self.start, self.mask = None, None
        if start_image is not None:
            start_image = np.ascontiguousarray(start_image, dtype=np.uint8)
            self.start = StartPicture(
                start_image, start_name, FROM_IMAGE if parent_id is not None else FROM_FILE,
                entry_id=parent_id)
            if mask is not None and mask.shape == start_image.shape[:2] and mask.any():
                self.mask = np.ascontiguousarray(mask, dtype=np.uint8)
            elif mask is not None:
                notes.append("its mask does not fit its start image, so it was left out")
            elif s.mask_blur is not None:
                notes.append("its mask is no longer kept, so the whole image may change")
        elif s.init_image_sha256:
            notes.append("its start image is not kept here, so it is made from the "
                         "description alone (open or sketch one to start from)")
        self.changed()
        return notes

    def _take_settings(self, s: GenerationSettings) -> None:
        self.prompt = s.prompt
        self.negative = s.negative_prompt
        self.steps = s.steps
        self.guidance = s.guidance
        self.sampler = s.sampler
        self.model = s.model_name or self.model

    def snapshot(self) -> dict[str, Any]:
        """The settings as a plain dict (for tests and logs; pixels left out)."""
        return {key: getattr(self, key) for key in _SETTINGS} | {
            "strength": self.strength, "mask_blur": self.mask_blur,
            "parent_id": self.parent_id,
            "start": None if self.start is None else self.start.source,
            "masked": self.mask is not None}


_SETTINGS = ("prompt", "negative", "notes", "seed", "steps", "guidance", "sampler", "model",
             "fast_decode")


def sighting_notes(values: Mapping[str, Any] | None) -> dict[str, str]:
    """Where and when, as kept with an image (empty values left out)."""
    return {str(k): str(v) for k, v in (values or {}).items() if v}
