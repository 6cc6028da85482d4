"""The history over real SQLite and real files: add, list, search, delete, undo, recovery."""

from __future__ import annotations

import errno
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from parasight_desktop.library.errors import (
    CorruptHistoryError,
    EntryNotFoundError,
    HistoryError,
    SaveError,
)
from parasight_desktop.library.history import SCHEMA_VERSION, THUMB_SIZE, History
from parasight_desktop.library.metadata import read_png_metadata

from ._helpers import make_image, make_result


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


def test_add_writes_files_then_row(db: Path) -> None:
    with History(db) as history:
        result = make_result(created_at="2024-05-01T21:30:00+02:00")
        entry = history.add(result, sighting={"where": "Loch Ness", "when": "dusk"})
        assert entry.id > 0
        assert entry.created_at == "2024-05-01T19:30:00.000+00:00"
        assert entry.settings == result.settings
        assert entry.sighting == {"where": "Loch Ness", "when": "dusk"}
        assert entry.timings == result.timings
        assert entry.image_path.parent == db.parent / "images"
        assert history.get(entry.id) == entry
        assert history.count() == 1

    meta = read_png_metadata(entry.image_path)
    assert meta.settings == result.settings
    assert meta.sighting == {"where": "Loch Ness", "when": "dusk"}
    assert meta.parasight is not None and meta.parasight["timings"] == result.timings
    with Image.open(entry.thumb_path) as thumb:
        assert max(thumb.size) <= THUMB_SIZE
        assert thumb.format == "PNG"


def test_list_is_newest_first_with_paging(db: Path) -> None:
    with History(db) as history:
        ids = [
            history.add(
                make_result(f"sighting {i}", seed=i, created_at=f"2024-01-0{i}T00:00:00Z")
            ).id
            for i in (1, 3, 2)
        ]
        listed = history.list()
        assert [e.settings.prompt for e in listed] == ["sighting 3", "sighting 2", "sighting 1"]
        assert [e.id for e in history.list(limit=1, offset=1)] == [ids[2]]
        assert history.list(limit=5, offset=3) == []


def test_search_matches_prompt_and_sighting_words(db: Path) -> None:
    with History(db) as history:
        history.add(make_result("A grey Ñandú by the fence", seed=1), {"where": "Patagonia"})
        history.add(make_result("a glowing orb over the lake", seed=2), {"where": "Lake Erie"})
        history.add(make_result("100% real 50_50 shape", seed=3))
        assert [e.settings.seed for e in history.list(search="ñANDÚ")] == [1]
        assert [e.settings.seed for e in history.list(search="lake")] == [2]
        assert [e.settings.seed for e in history.list(search="erie orb")] == [2]
        assert history.list(search="orb patagonia") == []
        assert [e.settings.seed for e in history.list(search="100%")] == [3]
        assert history.list(search="0%r") == []  # % and _ are not wildcards
        assert history.count(search="the") == 2
        assert history.count(search="  ") == 3


def test_history_survives_reopen_in_wal_mode(db: Path) -> None:
    with History(db) as history:
        entry = history.add(make_result(), {"where": "here"})
    with History(db) as history:
        assert history.list() == [entry]
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_delete_and_restore(db: Path) -> None:
    with History(db) as history:
        keep = history.add(make_result("keep", seed=1))
        entry = history.add(make_result("undo me", seed=2), {"where": "bridge"})
        image_bytes = entry.image_path.read_bytes()

        deleted = history.delete(entry.id)
        assert history.count() == 1
        assert not entry.image_path.exists() and not entry.thumb_path.exists()
        with pytest.raises(EntryNotFoundError, match=f"#{entry.id}"):
            history.get(entry.id)
        with pytest.raises(EntryNotFoundError):
            history.delete(entry.id)

        restored = history.restore(deleted)
        assert restored == entry
        assert restored.image_path.read_bytes() == image_bytes
        assert restored.thumb_path.exists()
        assert history.restore(deleted) == entry  # undo twice does no harm
        assert [e.id for e in history.list()] == [entry.id, keep.id]
        newer = history.add(make_result("after", seed=3))
        assert newer.id > entry.id  # ids are never reused


def test_failed_image_write_leaves_no_row_and_no_files(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with History(db) as history:

        def refuse(*args: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "link", refuse)
        with pytest.raises(SaveError, match="full"):
            history.add(make_result())
        monkeypatch.undo()
        assert history.count() == 0
        assert os.listdir(db.parent / "images") == []


def test_failed_row_insert_removes_the_files(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with History(db) as history:

        def broken_insert(*args: object, **kwargs: object) -> int:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(History, "_insert", broken_insert)
        with pytest.raises(HistoryError, match="Could not add the image"):
            history.add(make_result())
        assert os.listdir(db.parent / "images") == []
        assert os.listdir(db.parent / "thumbnails") == []


def test_corrupt_database_is_a_clear_error_naming_the_file(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not an SQLite database, just some bytes " * 100)
    with pytest.raises(CorruptHistoryError) as caught:
        History(db)
    assert str(db) in str(caught.value)
    assert "damaged" in str(caught.value)


def test_damaged_pages_are_detected(db: Path) -> None:
    with History(db) as history:
        for i in range(30):
            history.add(make_result("x" * 2000, seed=i))
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    page = 4096
    data[page * 2 : page * 4] = b"\xa5" * (page * 2)  # scribble over two b-tree pages
    db.write_bytes(bytes(data))
    with pytest.raises(CorruptHistoryError):
        History(db)


def test_open_or_recover_moves_bad_file_aside_and_keeps_the_images(db: Path) -> None:
    with History(db) as history:
        old = [
            history.add(make_result(f"sighting {i}", seed=i), {"where": f"place {i}"})
            for i in range(3)
        ]
    old[0].thumb_path.unlink()  # a lost thumbnail is made again
    db.write_bytes(b"garbage" * 1000)

    history = History.open_or_recover(db)
    try:
        assert history.recovered_from is not None
        assert history.recovered_from.name.startswith("history.sqlite3.corrupt-")
        assert history.recovered_from.read_bytes() == b"garbage" * 1000  # kept, not deleted
        assert history.recovered_entries == 3
        entries = sorted(history.list(), key=lambda e: e.settings.seed)
        assert [e.settings for e in entries] == [e.settings for e in old]
        assert [e.sighting for e in entries] == [e.sighting for e in old]
        assert [e.created_at for e in entries] == [e.created_at for e in old]
        assert entries[0].thumb_path.exists()
    finally:
        history.close()

    with History.open_or_recover(db) as again:  # a sound file is simply opened
        assert again.recovered_from is None and again.count() == 3


def test_foreign_database_is_not_taken_for_a_history(db: Path) -> None:
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE contacts (name TEXT)")
    with pytest.raises(CorruptHistoryError, match="not a ParaSight history"):
        History(db)


def test_newer_schema_is_refused_not_moved(db: Path) -> None:
    History(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer ParaSight") as caught:
        History.open_or_recover(db)
    assert not isinstance(caught.value, CorruptHistoryError)
    assert db.exists()


def test_one_history_serves_two_threads(db: Path) -> None:
    with History(db) as history, ThreadPoolExecutor(max_workers=1) as worker:
        history.add(make_result("from the gui thread", seed=1))
        added = worker.submit(
            lambda: [
                history.add(make_result(f"from the worker {i}", seed=10 + i)) for i in range(3)
            ]
        )
        while not added.done():
            history.count()  # reads go on in this thread while the worker writes
        assert len(added.result()) == 3  # re-raises anything the worker hit
        assert history.count() == 4


def test_unknown_or_naive_times_are_stored_as_utc(db: Path) -> None:
    with History(db) as history:
        naive = history.add(make_result(created_at="2024-02-03T04:05:06"))
        assert naive.created_at == "2024-02-03T04:05:06.000+00:00"
        unreadable = history.add(make_result(created_at="last tuesday"))
        assert unreadable.created_at.endswith("+00:00")


def test_history_folder_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file")
    with pytest.raises(SaveError, match="is a file, not a folder"):
        History(tmp_path / "data" / "history.sqlite3")


def test_thumbnail_keeps_aspect(db: Path) -> None:
    from parasight_desktop.engine.types import GenerationResult

    from ._helpers import make_settings

    with History(db) as history:
        result = GenerationResult(make_image(0, 300, 600), make_settings(width=600, height=300))
        entry = history.add(result)
    with Image.open(entry.thumb_path) as thumb:
        assert thumb.size == (THUMB_SIZE, THUMB_SIZE // 2)
