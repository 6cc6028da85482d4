"""The judge's eye supervision: the renderer says where the eyes are, the map counts them."""

from __future__ import annotations

import numpy as np
import pytest

from training.judge import EYE_GRID, HEADS, build_judge, eye_maps, render_parallel
from training.render import IMAGE_SIZE, Sighting, render, render_dataset

COUNTS = {"one": (1, 1), "two": (2, 2), "three": (3, 3), "many": (7, 9)}


def test_eye_centres_match_the_asked_count_and_the_pixels() -> None:
    for eyes, (lo, hi) in COUNTS.items():
        sighting = Sighting("green", "blob", eyes, "big", "desert", False)
        spots: list[tuple[float, float]] = []
        img = render(sighting, 4, spots)
        assert lo <= len(spots) <= hi
        for x, y in spots:  # a pupil is drawn black at every centre
            assert img[int(y), int(x)].max() < 60
        assert np.array_equal(img, render(sighting, 4))  # asking changes no pixel


def test_render_dataset_gives_the_same_images_with_or_without_eyes() -> None:
    eyes: list[list[tuple[float, float]]] = []
    a, sa = render_dataset(8, seed=5, eyes=eyes)
    b, sb = render_dataset(8, seed=5)
    assert np.array_equal(a, b) and sa == sb and len(eyes) == 8
    assert all(0 <= x < IMAGE_SIZE and 0 <= y < IMAGE_SIZE for e in eyes for x, y in e)
    par: list[list[tuple[float, float]]] = []
    _, sightings = render_parallel(6, seed=2, processes=2, eyes=par)
    assert len(par) == 6  # one list per image, in the images' order
    assert all(len(e) <= COUNTS[s.eyes][1] for e, s in zip(par, sightings))


def test_an_eye_map_sums_to_the_number_of_eyes_where_they_are() -> None:
    maps = eye_maps([[(10.0, 20.0), (100.0, 60.0), (64.0, 64.0)], [], [(2.0, 126.0)]])
    assert maps.shape == (3, EYE_GRID, EYE_GRID, 1)
    np.testing.assert_allclose(maps.sum(axis=(1, 2, 3)), [3, 0, 1], atol=1e-5)
    cell = IMAGE_SIZE // EYE_GRID
    assert np.unravel_index(np.argmax(maps[2, :, :, 0]), (EYE_GRID, EYE_GRID)) == (
        126 // cell, 2 // cell)


def test_the_judge_reads_every_attribute_and_maps_the_eyes() -> None:
    model = build_judge()
    outs = model(np.zeros((2, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32), training=False)
    assert [o.shape[-1] for o in outs[:-1]] == list(HEADS.values())
    assert outs[-1].shape == (2, EYE_GRID, EYE_GRID, 1)


@pytest.mark.slow
def test_the_judge_trains_saves_and_loads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from training.judge import load_judge, predict, train_judge

    out = tmp_path / "judge.keras"
    report = train_judge(64, 32, 1, out=out)
    assert set(report) == {f"{t}/{k}" for t in ("clean", "degraded") for k in HEADS}
    images, _ = render_dataset(3, seed=9)
    preds = predict(load_judge(out), images)
    assert set(preds) == set(HEADS) and all(len(v) == 3 for v in preds.values())
    assert (out.parent / "judge_report.json").is_file()
