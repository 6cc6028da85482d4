"""Sharing to a folder: names, the sighting report, cards, and failures that leave nothing."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from parasight_desktop.engine.types import GenerationSettings
from parasight_desktop.library.errors import SaveError
from parasight_desktop.library.metadata import read_png_metadata
from parasight_desktop.library.share import (
    SLUG_MAX,
    default_share_folder,
    share_to_folder,
    slugify,
)

from ._helpers import MODEL_HASH

SIGHTING = {"where": "Route 9 near Point Pleasant", "when": "1966-11-15 23:30", "notes": "red eyes"}


def test_share_writes_image_and_report(
    tmp_path: Path, image: NDArray[np.uint8], settings: GenerationSettings
) -> None:
    folder = tmp_path / "new" / "ParaSight"  # created on demand
    shared = share_to_folder(folder, image, settings, SIGHTING)
    stem = "a-pale-long-legged-creature-crossing-the-road-at-night-123"
    assert shared.image == folder / f"{stem}.png"
    assert shared.report == folder / f"{stem}.json"
    assert shared.card is None
    assert sorted(os.listdir(folder)) == [f"{stem}.json", f"{stem}.png"]

    meta = read_png_metadata(shared.image)
    assert meta.settings == settings and meta.is_ai_generated
    assert meta.sighting == SIGHTING

    report = json.loads(shared.report.read_text("utf-8"))
    assert report["ai_generated"] is True
    assert "AI reconstruction" in report["statement"] and "not a photograph" in report["statement"]
    assert report["description"] == settings.prompt
    assert report["negative_prompt"] == "blurry, lowres"
    assert report["sighting"] == SIGHTING
    assert report["model"] == {"name": "parasight-mini", "hash": MODEL_HASH}
    assert report["settings"] == settings.to_dict()
    assert report["image"] == shared.image.name
    assert report["created_at"]


def test_names_never_overwrite(
    tmp_path: Path, image: NDArray[np.uint8], settings: GenerationSettings
) -> None:
    first = share_to_folder(tmp_path, image, settings, None)
    second = share_to_folder(tmp_path, image, settings, None)
    assert second.image.name.endswith("-123-2.png")
    assert second.report.name.endswith("-123-2.json")
    # A stranger's file with the third name's report: the whole set moves on to -4.
    (tmp_path / second.report.name.replace("-2.json", "-3.json")).write_text("mine")
    fourth = share_to_folder(tmp_path, image, settings, None)
    assert fourth.image.name.endswith("-123-4.png")
    assert (tmp_path / second.report.name.replace("-2.json", "-3.json")).read_text() == "mine"
    assert first.image.exists() and second.image.exists()
    assert len(os.listdir(tmp_path)) == 7


def test_card_is_written_with_metadata(
    tmp_path: Path, image: NDArray[np.uint8], settings: GenerationSettings
) -> None:
    shared = share_to_folder(tmp_path, image, settings, SIGHTING, card=True)
    assert shared.card is not None and shared.card.name.endswith("-123-card.png")
    meta = read_png_metadata(shared.card)
    assert meta.settings == settings and meta.is_ai_generated
    assert meta.parasight is not None and meta.parasight["card"] is True
    assert json.loads(shared.report.read_text("utf-8"))["card"] == shared.card.name


def test_folder_under_a_file_fails_clearly_and_writes_nothing(
    tmp_path: Path, image: NDArray[np.uint8], settings: GenerationSettings
) -> None:
    blocker = tmp_path / "Pictures"
    blocker.write_text("not a folder")
    with pytest.raises(SaveError, match="is a file, not a folder"):
        share_to_folder(blocker / "ParaSight", image, settings, None)
    assert os.listdir(tmp_path) == ["Pictures"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder_fails_clearly(
    tmp_path: Path, image: NDArray[np.uint8], settings: GenerationSettings
) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(SaveError, match="not allowed to write"):
            share_to_folder(tmp_path, image, settings, None)
    finally:
        tmp_path.chmod(0o700)


def test_disk_full_on_last_file_rolls_back_the_set(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    image: NDArray[np.uint8],
    settings: GenerationSettings,
) -> None:
    real_write = os.write
    written = []

    def full_on_third_file(fd: int, data: bytes) -> int:
        written.append(fd)
        if len(written) == 3:  # image, card, then the report
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_on_third_file)
    with pytest.raises(SaveError, match="full") as caught:
        share_to_folder(tmp_path, image, settings, SIGHTING, card=True)
    assert "Free some space or choose another folder" in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_slugify() -> None:
    assert slugify("A pale, long-legged creature!") == "a-pale-long-legged-creature"
    assert slugify("Créature pâle près du fjord") == "creature-pale-pres-du-fjord"
    assert slugify("目撃した生き物") == "sighting"
    assert slugify("   ") == "sighting"
    assert slugify("CON") == "sighting-con"
    long = slugify("a tall thin shape " * 20)
    assert len(long) <= SLUG_MAX
    assert ("a-tall-thin-shape-" * 20).startswith(long + "-")  # ends on a whole word
    assert len(slugify("x" * 200)) == SLUG_MAX
    assert slugify("../../etc/passwd") == "etc-passwd"


def test_default_share_folder() -> None:
    folder = default_share_folder()
    assert folder.name == "ParaSight"
    assert folder.is_absolute()
