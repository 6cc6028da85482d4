"""Sighting cards: the image, the details in a band below it, and the disclaimer."""

from __future__ import annotations

from datetime import date

import numpy as np

from parasight_desktop.library.card import MIN_CARD_WIDTH, make_sighting_card

from ._helpers import make_image


def _band(card: np.ndarray, image_height: int) -> np.ndarray:
    return card[image_height:]


def test_card_adds_a_band_with_text_below_the_image() -> None:
    image = np.full((128, 128, 3), 30, np.uint8)
    card = make_sighting_card(
        image, "A tall grey figure by the water tower", "Mothman Park", "1966-11-15"
    )
    assert card.dtype == np.uint8 and card.ndim == 3 and card.shape[2] == 3
    scale = MIN_CARD_WIDTH // 128
    assert card.shape[1] == MIN_CARD_WIDTH
    assert card.shape[0] > 128 * scale  # height grew
    assert (card[: 128 * scale] == 30).all()  # the picture is intact (scaled up)
    band = _band(card, 128 * scale)
    assert len(np.unique(band.reshape(-1, 3), axis=0)) > 2  # text was drawn, not one colour
    # The disclaimer is in the lowest lines, in its own (red) colour.
    bottom = band[-band.shape[0] // 4 :]
    red = (bottom[..., 0].astype(int) - bottom[..., 2].astype(int)) > 60
    assert red.sum() > 50


def test_wide_image_is_not_scaled() -> None:
    image = make_image(1, 300, 640)
    card = make_sighting_card(image, "orb", None, None)
    assert card.shape[1] == 640
    assert np.array_equal(card[:300], image)


def test_long_and_non_latin_text_wraps_without_crashing() -> None:
    image = make_image(2, 64, 64)
    short = make_sighting_card(image, "orb", "here", date(2024, 5, 1))
    long = make_sighting_card(
        image,
        "目撃した生き物は背が高く、赤い目をしていた。" * 20
        + " Créature pâle — “Nøkken” " * 30
        + "Lorem" * 200,
        "Tromsø, Norge",
        "1. Mai 2024",
    )
    assert long.shape[1] == short.shape[1]
    assert long.shape[0] > short.shape[0]
    assert long.shape[0] < short.shape[0] * 3  # capped at a few lines, then an ellipsis


def test_grey_and_rgba_images_are_accepted() -> None:
    grey = np.zeros((64, 64), np.uint8)
    rgba = np.zeros((64, 64, 4), np.uint8)
    assert make_sighting_card(grey, "x", "", "").shape[2] == 3
    assert make_sighting_card(rgba, "x", "", "").shape[2] == 3
