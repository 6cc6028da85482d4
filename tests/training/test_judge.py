"""The judge reads every attribute, trains, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest

from training.judge import HEADS, build_judge, labels_of, render_parallel
from training.render import IMAGE_SIZE, render_dataset


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
    report = train_judge(64, 32, 1, out=out)
    assert set(report) == {f"{t}/{k}" for t in ("clean", "degraded") for k in HEADS}
    images, _ = render_dataset(3, seed=9)
    preds = predict(load_judge(out), images)
    assert set(preds) == set(HEADS) and all(len(v) == 3 for v in preds.values())
    assert (out.parent / "judge_report.json").is_file()
