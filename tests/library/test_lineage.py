"""Image to image in the history: lineage, start images and masks, over real SQLite and files."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from parasight_desktop.engine.types import GenerationResult, image_sha256
from parasight_desktop.library.errors import EntryNotFoundError
from parasight_desktop.library.history import SCHEMA_VERSION, Entry, History
from parasight_desktop.library.metadata import read_png_metadata, write_png
from parasight_desktop.library.restore import (
    MASK_GONE,
    NO_SETTINGS,
    START_AND_MASK_GONE,
    START_GONE,
    START_NOT_STORED,
    restore_request,
)

from ._helpers import make_image, make_result, make_settings


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


def _mask(top: int = 10) -> NDArray[np.uint8]:
    mask = np.zeros((48, 64), np.uint8)
    mask[top : top + 20, 20:40] = 255
    return mask


def _refined(
    start: NDArray[np.uint8], seed: int, mask: NDArray[np.uint8] | None = None
) -> GenerationResult:
    """A result as the engine returns it for image to image (or inpainting, with a mask)."""
    base = make_result(f"refined {seed}", seed=seed)
    settings = replace(
        base.settings,
        strength=0.6,
        mask_blur=4 if mask is not None else None,
        init_image_sha256=image_sha256(start),
    )
    return replace(base, settings=settings)


def _refine(
    history: History, parent: Entry, seed: int, mask: NDArray[np.uint8] | None = None
) -> Entry:
    """Refine ``parent`` as the window does: its image is the start image."""
    start = np.asarray(Image.open(parent.image_path).convert("RGB"))
    return history.add(
        _refined(start, seed, mask), parent_id=parent.id, start_image=start, mask=mask
    )


def test_an_inpainted_image_keeps_its_parent_start_image_and_mask(db: Path) -> None:
    with History(db) as history:
        root = history.add(make_result("a shape in the hedge", seed=1))
        assert (root.parent_id, root.start_sha256, root.mask_sha256) == (None, "", "")
        assert history.start_image(root) is None and history.mask(root) is None
        mask = _mask()
        child = _refine(history, root, 2, mask)
        start = np.asarray(Image.open(root.image_path).convert("RGB"))

        assert child.parent_id == root.id
        assert child.start_sha256 == image_sha256(start) == child.settings.init_image_sha256
        assert child.mask_sha256 == image_sha256(mask)
        assert (db.parent / "starts" / f"{child.start_sha256}.png").is_file()
        assert (db.parent / "masks" / f"{child.mask_sha256}.png").is_file()
        assert history.get(child.id) == child
        kept_start, kept_mask = history.start_image(child), history.mask(child)
        assert kept_start is not None and np.array_equal(kept_start, start)
        assert kept_mask is not None and np.array_equal(kept_mask, mask)
        assert history.find_start(child.start_sha256) is not None

    meta = read_png_metadata(child.image_path)
    assert meta.parent_id == root.id and meta.parent_image == root.image_path.name
    assert meta.start_sha256 == child.start_sha256 and meta.mask_sha256 == child.mask_sha256
    assert meta.parameters is not None
    assert "Denoising strength: 0.6, Mask blur: 4" in meta.parameters


def test_a_start_image_is_stored_once_however_many_use_it(db: Path) -> None:
    photo = make_image(7)
    with History(db) as history:
        a = history.add(_refined(photo, 1), start_image=photo)
        b = history.add(_refined(photo, 2), start_image=photo)
        assert a.start_sha256 == b.start_sha256
        assert [p.name for p in (db.parent / "starts").iterdir()] == [f"{a.start_sha256}.png"]


def test_a_start_image_that_is_not_the_settings_one_is_refused(db: Path) -> None:
    with History(db) as history:
        with pytest.raises(ValueError, match="not the one the image was made from"):
            history.add(_refined(make_image(1), 1), start_image=make_image(2))
        assert history.count() == 0
        assert not (db.parent / "starts").exists() or not any((db.parent / "starts").iterdir())
        with pytest.raises(ValueError, match="mask must be uint8"):
            history.add(_refined(make_image(1), 1), start_image=make_image(1),
                        mask=np.zeros((48, 64, 3), np.uint8))


def test_settings_without_the_start_images_id_get_it(db: Path) -> None:
    photo = make_image(3)
    with History(db) as history:
        entry = history.add(make_result(seed=4), start_image=photo)
    assert entry.start_sha256 == entry.settings.init_image_sha256 == image_sha256(photo)
    assert read_png_metadata(entry.image_path).start_sha256 == image_sha256(photo)


def test_lineage_runs_root_first_and_stops_at_a_deleted_ancestor(db: Path) -> None:
    with History(db) as history:
        root = history.add(make_result("root", seed=1))
        a = _refine(history, root, 2)
        b = _refine(history, a, 3)
        c = _refine(history, b, 4)
        sibling = _refine(history, root, 5)

        assert [e.id for e in history.lineage(c.id)] == [root.id, a.id, b.id, c.id]
        assert [e.id for e in history.lineage(root.id)] == [root.id]
        assert [e.id for e in history.children(root.id)] == [a.id, sibling.id]
        assert history.children(c.id) == []

        deleted = history.delete(b.id)
        assert [e.id for e in history.lineage(c.id)] == [c.id]  # stops at the gap
        assert history.get(c.id).parent_id == b.id  # kept, so undo mends the line
        history.restore(deleted)
        assert [e.id for e in history.lineage(c.id)] == [root.id, a.id, b.id, c.id]
        with pytest.raises(EntryNotFoundError):
            history.lineage(9999)


def test_deleting_keeps_start_images_others_still_use(db: Path) -> None:
    photo, mask = make_image(9), _mask()
    with History(db) as history:
        first = history.add(_refined(photo, 1, mask), start_image=photo, mask=mask)
        second = history.add(_refined(photo, 2, mask), start_image=photo, mask=mask)
        start_file = db.parent / "starts" / f"{first.start_sha256}.png"
        mask_file = db.parent / "masks" / f"{first.mask_sha256}.png"

        undo_first = history.delete(first.id)
        assert start_file.exists() and mask_file.exists()  # the second still uses them
        assert history.start_image(second) is not None

        history.delete(second.id)
        assert not start_file.exists() and not mask_file.exists()  # nobody left
        assert history.find_start(first.start_sha256) is None

        back = history.restore(undo_first)  # undo brings the files back too
        assert back == first
        restored = history.start_image(back)
        assert restored is not None and np.array_equal(restored, photo)
        assert np.array_equal(history.mask(back), mask)  # type: ignore[arg-type]


def test_a_missing_or_altered_start_file_reads_as_gone(db: Path) -> None:
    photo = make_image(5)
    with History(db) as history:
        entry = history.add(_refined(photo, 1), start_image=photo)
        path = db.parent / "starts" / f"{entry.start_sha256}.png"
        Image.fromarray(make_image(6)).save(path)  # other pixels under its name
        assert history.start_image(entry) is None
        path.unlink()
        assert history.start_image(entry) is None
        assert history.find_start("../history") is None and history.find_mask("") is None
        Image.fromarray(make_image(6)).save(path)
        history.add(_refined(photo, 2), start_image=photo)  # given again: the file is mended
        mended = history.start_image(entry)
        assert mended is not None and np.array_equal(mended, photo)


_SCHEMA_V1 = """
CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, settings TEXT NOT NULL,
    sighting TEXT, timings TEXT NOT NULL, search_text TEXT NOT NULL,
    image_file TEXT NOT NULL, thumb_file TEXT NOT NULL
);
CREATE INDEX entries_newest_first ON entries (created_at DESC, id DESC);
PRAGMA user_version = 1;
"""


def test_a_version_1_history_is_upgraded_and_keeps_its_entries(db: Path) -> None:
    db.parent.mkdir(parents=True)
    old = make_settings("a tall figure on the ridge")
    with sqlite3.connect(db) as raw:  # as ParaSight 0.x left it
        raw.executescript(_SCHEMA_V1)
        raw.execute(
            "INSERT INTO entries (created_at, settings, sighting, timings, search_text, "
            "image_file, thumb_file) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("2024-03-01T20:00:00.000+00:00", json.dumps(old.to_dict()),
             json.dumps({"where": "ridge"}), "{}", "a tall figure on the ridge",
             "images/old.png", "thumbnails/old.png"),
        )
    raw.close()
    (db.parent / "images").mkdir()
    write_png(db.parent / "images" / "old.png", make_image(), old)

    with History(db) as history:
        [entry] = history.list()
        assert entry.settings == old and entry.sighting == {"where": "ridge"}
        assert (entry.parent_id, entry.start_sha256, entry.mask_sha256) == (None, "", "")
        child = _refine(history, entry, 8)
        assert [e.id for e in history.lineage(child.id)] == [entry.id, child.id]
        assert history.count("ridge") == 1  # its search text came through
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    raw.close()


def test_recovery_rebuilds_lineage_start_images_and_masks_from_the_pngs(db: Path) -> None:
    mask = _mask(5)
    with History(db) as history:
        history.add(make_result("unrelated", seed=50))
        root = history.add(make_result("root", seed=1))
        a = _refine(history, root, 2, mask)
        b = _refine(history, a, 3)
        history.delete(history.list(search="unrelated")[0].id)  # ids now have a gap
    db.write_bytes(b"garbage" * 1000)

    with History.open_or_recover(db) as history:
        assert history.recovered_entries == 3
        rebuilt = history.find_image(b.image_path.name)
        assert rebuilt is not None
        line = history.lineage(rebuilt.id)
        assert [e.image_path.name for e in line] == [
            e.image_path.name for e in (root, a, b)]
        assert [e.settings for e in line] == [root.settings, a.settings, b.settings]
        again_a = line[1]
        assert again_a.start_sha256 == a.start_sha256 and again_a.mask_sha256 == a.mask_sha256
        assert np.array_equal(history.mask(again_a), mask)  # type: ignore[arg-type]
        assert history.start_image(again_a) is not None


# --- Restoring from a dropped PNG -----------------------------------------------------


def test_a_dropped_png_restores_settings_start_image_mask_and_parent(
    db: Path, tmp_path: Path
) -> None:
    mask = _mask()
    with History(db) as history:
        root = history.add(make_result("root", seed=1))
        child = _refine(history, root, 2, mask)
        copy = tmp_path / "shared-copy.png"  # e.g. sent by e-mail and dropped back
        copy.write_bytes(child.image_path.read_bytes())

        got = restore_request(copy, history)
        assert got.complete and got.notes == ()
        assert got.settings == child.settings and got.parent_id == root.id
        assert np.array_equal(got.start_image, history.start_image(child))  # type: ignore[arg-type]
        assert np.array_equal(got.mask, mask)  # type: ignore[arg-type]
        request = got.request()
        request.validate()
        assert request.init_image is not None and request.mask is not None
        assert (request.strength, request.mask_blur, request.seed) == (0.6, 4, 2)

        history.delete(child.id)  # its start image and mask go with it
        gone = restore_request(copy, history)
        assert gone.settings == child.settings and gone.start_image is None
        assert gone.notes == (START_AND_MASK_GONE,) and not gone.complete
        assert gone.request().init_image is None  # from the description alone


def test_restore_says_what_is_missing_in_one_sentence_each(db: Path, tmp_path: Path) -> None:
    photo = make_image(2)
    with History(db) as history:
        entry = history.add(_refined(photo, 1), start_image=photo)
        (db.parent / "starts" / f"{entry.start_sha256}.png").unlink()
        assert restore_request(entry.image_path, history).notes == (START_GONE,)
        assert restore_request(entry.image_path, None).notes == (START_GONE,)

        masked = history.add(_refined(make_image(3), 2, _mask()), start_image=make_image(3),
                             mask=_mask())
        (db.parent / "masks" / f"{masked.mask_sha256}.png").unlink()
        got = restore_request(masked.image_path, history)
        assert got.notes == (MASK_GONE,) and got.start_image is not None and got.mask is None

    a1111 = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(a1111, pnginfo=_text(
        "parameters", "a shape\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, "
        "Size: 512x512, Denoising strength: 0.5"))
    got = restore_request(a1111)
    assert got.settings is not None and got.settings.strength == 0.5
    assert got.notes == (START_NOT_STORED,)

    bare = tmp_path / "bare.png"
    Image.new("RGB", (8, 8)).save(bare)
    assert restore_request(bare).notes == (NO_SETTINGS,)
    for note in (START_GONE, START_AND_MASK_GONE, START_NOT_STORED, MASK_GONE, NO_SETTINGS):
        assert "\n" not in note and note.endswith(".")


def _text(key: str, value: str):  # type: ignore[no-untyped-def]
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(key, value)
    return info
