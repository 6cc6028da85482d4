"""The judge reads every attribute, trains, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest

from training.judge import (
    HEADS,
    build_judge,
    count_eyes,
    eye_classes,
    labels_of,
    render_parallel,
)
from training.render import IMAGE_SIZE, eye_density, render_dataset, render_dataset_maps


def test_the_judge_reads_every_attribute() -> None:
    outs = build_judge()(np.zeros((2, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32), training=False)
    assert [o.shape for o in outs] == [(2, n) for n in HEADS.values()]


def test_parallel_rendering_keeps_images_and_labels_together() -> None:
    images, sightings = render_parallel(6, seed=2, processes=2)
    again, same = render_parallel(6, seed=2, processes=2)
    assert np.array_equal(images, again) and sightings == same
    labels = labels_of(sightings)
    assert set(labels) == set(HEADS) and all(len(v) == 6 for v in labels.values())


@pytest.mark.slow
def test_the_judge_trains_saves_and_loads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from training.judge import load_judge, predict, train_judge

    out = tmp_path / "judge.keras"
    report = train_judge(64, 32, 1, out=out, eye_epochs=1)
    assert set(report) == {f"{t}/{k}" for t in ("clean", "degraded")
                           for k in [*HEADS, "eyes_head"]}
    images, _ = render_dataset(3, seed=9)
    judge = load_judge(out)
    assert judge.eyes is not None  # saved beside the heads, loaded with them
    preds = predict(judge, images)
    assert set(preds) == set(HEADS) and all(len(v) == 3 for v in preds.values())
    counts = count_eyes(judge.eyes, images)
    assert np.array_equal(preds["eyes"], eye_classes(counts))  # the counter, not the head
    assert (out.parent / "judge_report.json").is_file()
    train_judge(64, 32, 1, out=out, eye_epochs=1, eyes_only=True)  # the heads stay as saved
    again = load_judge(out)
    for a, b in zip(judge.heads.get_weights(), again.heads.get_weights()):
        assert np.array_equal(a, b)


def test_eye_density_sums_to_the_eyes_in_frame_and_classes_follow_the_count() -> None:
    density = eye_density(((10.0, 20.0), (64.0, 64.0), (126.0, 3.0)))
    assert density.shape == (32, 32) and abs(density.sum() - 3.0) < 1e-4
    middle = density[12:20, 12:20]  # the eye at (64, 64) peaks on the centre four cells
    assert np.allclose(density[15:17, 15:17], middle.max())
    assert density[5, 2] > 10 * density[2, 5]  # (x 10, y 20): rows are y, columns x
    assert list(eye_classes(np.array([0.2, 1.2, 1.8, 2.7, 4.9, 5.1, 9.0]))) == [0, 0, 1, 2, 2, 3, 3]
    _, sightings, maps = render_dataset_maps(8, seed=5)
    for s, m in zip(sightings, maps.eyes):  # the drawn count, less any eye out of frame
        drawn = {"one": (1, 1), "two": (2, 2), "three": (3, 3), "many": (7, 9)}[s.eyes]
        assert drawn[0] - 2 <= round(float(m.sum())) <= drawn[1]
