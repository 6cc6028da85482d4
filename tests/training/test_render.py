"""The renderer is deterministic, draws every attribute, and honours the held-out pairs."""

from __future__ import annotations

import numpy as np

from training.captions import caption
from training.render import (
    COLOURS,
    HELD_OUT,
    KINDS,
    SETTINGS,
    Sighting,
    random_sighting,
    render,
    render_dataset,
    render_dataset_maps,
    render_full,
)


def test_same_seed_same_image_other_seed_other_image() -> None:
    s = Sighting("red", "blob", "two", "big", "forest", True)
    a, b, c = render(s, 1), render(s, 1), render(s, 2)
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_every_kind_and_setting_renders() -> None:
    for k, kind in enumerate(KINDS):
        for setting in SETTINGS:
            img = render(Sighting(COLOURS[k], kind, "many", "small", setting, False), 0)
            assert img.std() > 10


def test_training_sets_exclude_held_out_pairs() -> None:
    _, sightings = render_dataset(60, seed=3, held_out=False)
    assert not any((s.colour, s.kind) in HELD_OUT for s in sightings)
    rng = np.random.default_rng(0)
    assert all(random_sighting(rng, held_out=True).held_out for _ in range(20))


def test_captions_name_colour_and_setting_in_varied_words() -> None:
    rng = np.random.default_rng(0)
    s = Sighting("red", "serpent", "three", "small", "forest", True)
    texts = {caption(s, rng) for _ in range(50)}
    assert len(texts) > 30
    assert all(any(w in t for w in ("red", "crimson", "scarlet")) for t in texts)


def test_the_mask_covers_the_creature_and_grows_with_its_size() -> None:
    big = Sighting("red", "blob", "two", "big", "snowy field", False)
    r = render_full(big, 4)
    image, alpha = r.image, r.coverage
    assert np.array_equal(image, render(big, 4))  # the same picture either way
    assert alpha.shape == (128, 128) and 0.0 <= alpha.min() and alpha.max() == 1.0
    red = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 90)
    assert red.sum() > 200 and alpha[red].mean() > 0.95  # the red body is inside the mask
    assert alpha[~red].mean() < 0.1  # the snow is not
    assert len(r.eyes) == 2 and all(alpha[int(y), int(x)] > 0.9 for x, y in r.eyes)
    small = render_full(Sighting("red", "blob", "two", "small", "snowy field", False), 4).coverage
    assert 2.0 * small.sum() < alpha.sum()
    images, sightings, maps = render_dataset_maps(4, seed=3)
    masks = maps.creature
    assert masks.shape == (4, 16, 16) and masks.dtype == np.float32
    again, same = render_dataset(4, seed=3)
    assert np.array_equal(images, again) and sightings == same
    assert (masks.sum(axis=(1, 2)) > 2.0).all()  # every creature covers latent cells
