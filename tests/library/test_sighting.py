"""The sighting being refined, without Qt: requests, variations, refine and restore."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from parasight_desktop.engine.errors import InputError
from parasight_desktop.engine.types import (
    DEFAULT_STRENGTH,
    MAX_SEED,
    GenerationSettings,
    image_sha256,
)
from parasight_desktop.library.sighting import (
    FROM_IMAGE,
    FROM_SKETCH,
    Sighting,
    next_seeds,
)

from ._helpers import make_image, make_settings


@dataclass(frozen=True)
class Entry:
    id: int
    settings: GenerationSettings
    image_path: Path


def _sighting() -> Sighting:
    s = Sighting()
    s.set_settings(prompt="a grey shape over the hill", negative="text", seed=7, steps=20,
                   guidance=6.0, sampler="ddim", model="tiny-model", fast_decode=False)
    return s


def test_text_to_image_request_carries_the_settings_and_no_start() -> None:
    r = _sighting().request()
    assert (r.prompt, r.negative_prompt, r.seed, r.steps, r.guidance, r.sampler, r.model) == (
        "a grey shape over the hill", "text", 7, 20, 6.0, "ddim", "tiny-model")
    assert r.init_image is None and r.mask is None and r.strength is None


def test_an_empty_description_is_refused_with_a_sentence() -> None:
    s = _sighting()
    s.set_settings(prompt="  ")
    with pytest.raises(InputError, match="description is empty"):
        s.request()


def test_a_start_image_mask_and_strength_go_into_the_request() -> None:
    s = _sighting()
    pixels = make_image(height=48, width=64)
    s.set_start(pixels, "sketch", FROM_SKETCH)
    s.set_strength(0.4)
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 10:20] = 255
    s.set_mask(mask)
    s.set_mask_blur(6)
    r = s.request()
    assert r.init_image is not None and np.array_equal(r.init_image, pixels)
    assert r.strength == 0.4 and r.mask_blur == 6
    assert r.mask is not None and r.mask[15, 15] == 255 and r.mask[0, 0] == 0
    assert s.steps_to_run() == 8  # int(20 * 0.4)
    assert s.start is not None and s.start.sha256 == image_sha256(pixels)


def test_steps_to_run_counts_all_steps_from_text() -> None:
    s = _sighting()
    s.set_strength(0.3)  # no start image: the strength does not apply
    assert s.steps_to_run() == 20


def test_an_empty_mask_means_no_mask_and_a_wrong_sized_one_is_refused() -> None:
    s = _sighting()
    with pytest.raises(ValueError, match="needs a start image"):
        s.set_mask(np.full((48, 64), 255, np.uint8))
    s.set_start(make_image(), "photo.jpg")
    s.set_mask(np.zeros((48, 64), np.uint8))
    assert s.mask is None
    with pytest.raises(ValueError, match="64x48"):
        s.set_mask(np.full((10, 10), 255, np.uint8))


def test_a_bad_strength_is_refused() -> None:
    s = _sighting()
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            s.set_strength(bad)
    assert s.strength == DEFAULT_STRENGTH


def test_make_four_builds_four_consecutive_seeds_as_one_set() -> None:
    s = _sighting()
    heard: list[int] = []
    s.subscribe(lambda: heard.append(1))
    requests = s.requests(4)
    assert [r.seed for r in requests] == [7, 8, 9, 10]
    assert s.variations is not None and s.variations.seeds == [7, 8, 9, 10]
    assert heard
    set_id = s.variations.id
    assert all(s.origin(r).variation_set == set_id for r in requests)
    for seed, entry_id in zip((7, 8, 9, 10), (21, 22, 23, 24), strict=True):
        assert not s.variations.done
        s.variation_finished(set_id, seed, entry_id)
    assert s.variations.done and s.variations.entry_ids[9] == 23
    s.variation_finished(set_id + 99, 7, 99)  # another set's image: ignored
    assert s.variations.entry_ids[7] == 21


def test_an_image_made_apart_from_the_set_is_not_counted_in_it() -> None:
    s = _sighting()
    in_set = s.requests(4)
    alone = s.request()  # the same (locked) seed as the set's first
    assert alone.seed == in_set[0].seed
    assert s.origin(alone).variation_set is None
    assert s.origin(in_set[0]).variation_set == s.variations.id


def test_the_start_image_and_mask_are_copies() -> None:
    s = _sighting()
    pixels = make_image()
    s.set_start(pixels, "photo.jpg")
    mask = np.full((48, 64), 255, np.uint8)
    s.set_mask(mask)
    pixels[:] = 0
    mask[:] = 0
    assert s.start is not None and s.start.pixels.any() and s.mask is not None and s.mask.all()


def test_seeds_wrap_past_the_largest() -> None:
    assert next_seeds(MAX_SEED - 1, 3) == [MAX_SEED - 1, MAX_SEED, 0]


def test_a_refused_set_does_not_start() -> None:
    s = _sighting()
    s.set_settings(prompt="")
    with pytest.raises(InputError):
        s.requests(4)
    assert s.variations is None


def test_use_result_makes_the_image_the_start_and_the_parent(tmp_path: Path) -> None:
    s = _sighting()
    s.set_start(make_image(), "old.png")
    s.set_mask(np.full((48, 64), 255, np.uint8))
    pixels = make_image(seed=3)
    path = tmp_path / "12.png"
    Image.fromarray(pixels).save(path)
    entry = Entry(12, make_settings(prompt="the made one", seed=99), path)
    s.use_result(entry)  # read from the file
    assert s.start is not None and s.start.kind == FROM_IMAGE and s.start.entry_id == 12
    assert np.array_equal(s.start.pixels, pixels)
    assert s.mask is None and s.parent_id == 12 and s.prompt == "the made one"
    origin = s.origin(s.request())
    assert origin.parent_id == 12 and origin.start is s.start and origin.mask is None


def test_a_picked_variation_is_marked_in_its_set(tmp_path: Path) -> None:
    s = _sighting()
    s.requests(4)
    assert s.variations is not None
    for seed, entry_id in zip((7, 8, 9, 10), (1, 2, 3, 4), strict=True):
        s.variation_finished(s.variations.id, seed, entry_id)
    s.use_result(Entry(3, make_settings(seed=9), tmp_path / "gone.png"), make_image())
    assert s.variations.picked == 3 and s.parent_id == 3


def test_restore_puts_back_start_mask_strength_and_parent() -> None:
    s = _sighting()
    start = make_image(seed=5)
    mask = np.zeros((48, 64), np.uint8)
    mask[:, :10] = 255
    settings = make_settings(seed=31, strength=0.55, mask_blur=2,
                             init_image_sha256=image_sha256(start))
    notes = s.restore(Entry(40, settings, Path("x.png")), start, mask, parent_id=39)
    assert notes == []
    assert s.seed == 31 and s.strength == 0.55 and s.mask_blur == 2 and s.parent_id == 39
    assert s.start is not None and np.array_equal(s.start.pixels, start)
    assert s.mask is not None and s.mask[0, 0] == 255
    r = s.request()
    assert r.strength == 0.55 and r.init_image is not None and r.mask is not None


def test_restore_says_what_is_missing() -> None:
    s = _sighting()
    settings = make_settings(strength=0.5, mask_blur=4, init_image_sha256="ab" * 32)
    notes = s.restore(Entry(5, settings, Path("x.png")))
    assert s.start is None and s.mask is None
    assert notes and "start image" in notes[0]
    r = s.request()
    assert r.init_image is None and r.strength is None
