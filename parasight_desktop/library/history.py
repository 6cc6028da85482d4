"""The history: every finished image, kept as a PNG with its settings, listed from SQLite.

On disk, beside the database file::

    history.sqlite3          one row per image (WAL mode; schema version in user_version)
    images/<name>.png        the image, with full metadata (see metadata.py)
    thumbnails/<name>.png    a small copy for lists (THUMB_SIZE px on the long side)
    starts/<sha256>.png      a start image (image to image), once however many use it
    masks/<sha256>.png       an inpainting mask (white = changed), likewise

The PNGs are the record: each carries its settings, sighting, timings and lineage (its
parent's id and image name, its start image's and mask's sha256), so a history whose
database is lost can be rebuilt from ``images/`` (``open_or_recover`` does this).

Lineage: an entry may name the entry it was refined from (``parent_id``). Deleting an
entry leaves its children's ``parent_id`` as it was, so undoing the delete mends the
line; until then ``lineage`` stops at the gap. Start images and masks are named by their
content (``image_sha256``) and counted by reference: deleting an entry removes its start
image or mask only when no other entry uses it (undo writes it back). The count is kept
under one lock per ``History`` object, so two processes must not share one history.

Threads: SQLite connections must not be shared between threads, so ``History`` opens
one connection per thread on first use (WAL lets readers go on while one thread
writes). One ``History`` object may therefore be used from the GUI thread and the
worker thread alike; ``close()`` closes them all, and must not race other calls.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ..engine.types import GenerationResult, GenerationSettings, image_sha256
from .errors import (
    AlreadyExistsError,
    CorruptHistoryError,
    EntryNotFoundError,
    HistoryError,
    LibraryError,
    MetadataError,
)
from .files import ensure_folder, remove_quietly, write_atomic
from .metadata import MASK_KEY, PARENT_IMAGE_KEY, png_bytes, read_png_metadata

SCHEMA_VERSION = 2
THUMB_SIZE = 192
IMAGES_DIR = "images"
THUMBS_DIR = "thumbnails"
STARTS_DIR = "starts"
MASKS_DIR = "masks"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

#: Version 1, as first created; later versions are reached through _MIGRATIONS.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so undo can restore an id
    created_at  TEXT NOT NULL,                      -- ISO 8601, UTC, millisecond precision
    settings    TEXT NOT NULL,                      -- GenerationSettings.to_dict() as JSON
    sighting    TEXT,                               -- JSON object or NULL
    timings     TEXT NOT NULL,                      -- JSON {stage: seconds}
    search_text TEXT NOT NULL,                      -- casefolded prompt and sighting words
    image_file  TEXT NOT NULL,                      -- relative to the database's folder
    thumb_file  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_newest_first ON entries (created_at DESC, id DESC);
"""
#: Upgrades: schema version N -> the SQL that takes it to N + 1. Old rows are kept.
_MIGRATIONS: dict[int, str] = {
    # 1 -> 2, image to image: lineage, start image and mask. No foreign key on
    # parent_id: a child outlives its deleted parent (undo brings the parent back).
    1: """
ALTER TABLE entries ADD COLUMN parent_id INTEGER;   -- the entry it was refined from
ALTER TABLE entries ADD COLUMN start_sha256 TEXT;   -- starts/<sha256>.png
ALTER TABLE entries ADD COLUMN mask_sha256 TEXT;    -- masks/<sha256>.png
CREATE INDEX IF NOT EXISTS entries_parent ON entries (parent_id);
CREATE INDEX IF NOT EXISTS entries_start ON entries (start_sha256);
CREATE INDEX IF NOT EXISTS entries_mask ON entries (mask_sha256);
""",
}
_COLUMNS = (
    "id, created_at, settings, sighting, timings, image_file, thumb_file, "
    "parent_id, start_sha256, mask_sha256"
)


@dataclass(frozen=True)
class HistoryEntry:
    """One kept image: its settings, its files and what the person noted about the sighting."""

    id: int
    created_at: str
    settings: GenerationSettings
    image_path: Path
    thumb_path: Path
    sighting: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: The entry this image was refined from (it may since have been deleted), or None.
    parent_id: int | None = None
    #: The start image's id (``image_sha256``; see ``History.start_image``), "" from text.
    start_sha256: str = ""
    #: The inpainting mask's id (see ``History.mask``), "" when the whole image could change.
    mask_sha256: str = ""


#: The name the window's code uses.
Entry = HistoryEntry


@dataclass(frozen=True)
class DeletedEntry:
    """What ``History.delete`` removed, held in memory so ``History.restore`` can undo it."""

    entry: HistoryEntry
    image_png: bytes | None
    thumb_png: bytes | None
    #: The start image and mask files (the delete removes them if no other entry uses
    #: them; ``restore`` writes them back if they are gone).
    start_png: bytes | None = None
    mask_png: bytes | None = None


class History:
    """The image history in ``db_path``, with its PNGs in folders beside it."""

    def __init__(self, db_path: Path | str) -> None:
        self.path = Path(db_path)
        self.folder = self.path.parent
        self.images_dir = self.folder / IMAGES_DIR
        self.thumbs_dir = self.folder / THUMBS_DIR
        self.starts_dir = self.folder / STARTS_DIR
        self.masks_dir = self.folder / MASKS_DIR
        #: Set by ``open_or_recover``: where a damaged database was moved, and how many
        #: images were brought back from ``images/``.
        self.recovered_from: Path | None = None
        self.recovered_entries = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        #: Held while start images and masks are written, counted or removed.
        self._blob_lock = threading.RLock()
        self._connections: builtins.list[sqlite3.Connection] = []
        self._closed = False
        ensure_folder(self.folder)
        conn = self._connect()
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._register(conn)

    @classmethod
    def open_or_recover(cls, db_path: Path | str) -> History:
        """Open the history; if its database is damaged, move it aside and start afresh.

        The damaged file is renamed ``<name>.corrupt-<time>`` (kept, not deleted), and
        the images already in ``images/`` are added back from their own metadata.
        """
        try:
            return cls(db_path)
        except CorruptHistoryError as err:
            moved = _move_aside(Path(db_path), err)
        history = cls(db_path)
        history.recovered_from = moved
        history.recovered_entries = history.import_images()
        return history

    # --- Reading ---------------------------------------------------------------------

    def list(
        self, limit: int | None = None, offset: int = 0, search: str | None = None
    ) -> builtins.list[HistoryEntry]:
        """Entries newest first; ``search`` keeps those whose prompt or sighting has every word."""
        where, params = _search_clause(search)
        sql = (
            f"SELECT {_COLUMNS} FROM entries {where} "
            "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        with self._sql("read"):
            rows = self._conn().execute(sql, (*params, -1 if limit is None else limit, offset))
            return [self._entry(row) for row in rows.fetchall()]

    def count(self, search: str | None = None) -> int:
        """How many entries there are (matching ``search``, if given)."""
        where, params = _search_clause(search)
        with self._sql("read"):
            row = self._conn().execute(f"SELECT count(*) FROM entries {where}", params).fetchone()
        return int(row[0])

    def get(self, entry_id: int) -> HistoryEntry:
        """The entry with this id; :class:`EntryNotFoundError` if there is none."""
        with self._sql("read"):
            row = (
                self._conn()
                .execute(f"SELECT {_COLUMNS} FROM entries WHERE id = ?", (entry_id,))
                .fetchone()
            )
        if row is None:
            raise _not_found(entry_id)
        return self._entry(row)

    def lineage(self, entry_id: int) -> builtins.list[HistoryEntry]:
        """The line of refinements that led to ``entry_id``: its root first, it last.

        A deleted ancestor ends the line there (the entries after it are returned).
        """
        line = [self.get(entry_id)]
        seen = {entry_id}
        while (parent := line[-1].parent_id) is not None and parent not in seen:
            seen.add(parent)
            try:
                line.append(self.get(parent))
            except EntryNotFoundError:
                break
        line.reverse()
        return line

    def children(self, entry_id: int) -> builtins.list[HistoryEntry]:
        """The entries refined from ``entry_id``, oldest first."""
        with self._sql("read"):
            rows = self._conn().execute(
                f"SELECT {_COLUMNS} FROM entries WHERE parent_id = ? "
                "ORDER BY created_at, id",
                (entry_id,),
            )
            return [self._entry(row) for row in rows.fetchall()]

    def find_image(self, name: str) -> HistoryEntry | None:
        """The entry whose image file is ``images/<name>``, if any (names outlast ids)."""
        entry_id = self._id_of_image(name)
        if entry_id is None:
            return None
        try:
            return self.get(entry_id)
        except EntryNotFoundError:
            return None

    def start_image(self, entry: HistoryEntry) -> NDArray[np.uint8] | None:
        """The start image ``entry`` was made from, (H, W, 3) RGB; None if from text, or
        if its file is gone or damaged."""
        return self.find_start(entry.start_sha256)

    def mask(self, entry: HistoryEntry) -> NDArray[np.uint8] | None:
        """The inpainting mask ``entry`` was made with, (H, W) with 255 = changed; None if
        it had none, or if its file is gone or damaged."""
        return self.find_mask(entry.mask_sha256)

    def find_start(self, sha256: str) -> NDArray[np.uint8] | None:
        """The start image with this id (``image_sha256``), if the history still has it."""
        return self._read_blob(self.starts_dir, sha256, "RGB")

    def find_mask(self, sha256: str) -> NDArray[np.uint8] | None:
        """The mask with this id (``image_sha256`` of the mask), if the history still has it."""
        return self._read_blob(self.masks_dir, sha256, "L")

    # --- Writing ---------------------------------------------------------------------

    def add(
        self,
        result: GenerationResult,
        sighting: Mapping[str, Any] | None = None,
        *,
        parent_id: int | None = None,
        start_image: NDArray[np.uint8] | None = None,
        mask: NDArray[np.uint8] | None = None,
    ) -> HistoryEntry:
        """Keep a finished image: write its PNG and thumbnail atomically, then its row.

        Image to image: ``parent_id`` is the entry it was refined from (None for a new
        photo or sketch), ``start_image`` the (H, W, 3) pixels the engine started from
        (kept once per sha256) and ``mask`` the (H, W) inpainting mask. The start image
        must be the one ``result.settings.init_image_sha256`` names.
        """
        settings = result.settings
        start_sha = settings.init_image_sha256
        if start_image is not None:
            start_image = _checked_pixels(start_image, 3, "start image")
            actual = image_sha256(start_image)
            if start_sha and start_sha != actual:
                raise ValueError(
                    "This start image is not the one the image was made from (its sha256 "
                    "differs from the settings' init_image_sha256)."
                )
            if not start_sha:
                start_sha = actual
                settings = replace(settings, init_image_sha256=actual)
        mask_sha = ""
        if mask is not None:
            mask = _checked_pixels(mask, 2, "mask")
            mask_sha = image_sha256(mask)
        created_at, moment = _timestamp(result.created_at)
        details = dict(sighting) if sighting else None
        timings = {str(k): float(v) for k, v in result.timings.items()}
        extra: dict[str, Any] = {"created_at": created_at, "sighting": details, "timings": timings}
        if parent_id is not None:
            parent_image = self._image_name(parent_id)
            if parent_image:
                extra[PARENT_IMAGE_KEY] = parent_image
        if mask_sha:
            extra[MASK_KEY] = mask_sha
        png = png_bytes(result.image, settings, extra, parent=parent_id)
        thumb = _thumbnail_png(result.image)
        with self._blob_lock:
            made: builtins.list[Path] = []
            try:
                if start_image is not None:
                    made += self._write_blob(self.starts_dir, start_sha, start_image)
                if mask is not None:
                    made += self._write_blob(self.masks_dir, mask_sha, mask)
                image_path, thumb_path = self._write_files(
                    f"{moment:%Y%m%d-%H%M%S}-{settings.seed}", png, thumb
                )
            except BaseException:
                for path in made:
                    remove_quietly(path)
                raise
            entry = HistoryEntry(
                id=0,
                created_at=created_at,
                settings=settings,
                image_path=image_path,
                thumb_path=thumb_path,
                sighting=details,
                timings=timings,
                parent_id=parent_id,
                start_sha256=start_sha,
                mask_sha256=mask_sha,
            )
            try:
                with self._sql("add the image to"):
                    entry_id = self._insert(entry, with_id=False)
            except BaseException:
                for path in (image_path, thumb_path, *made):
                    remove_quietly(path)
                raise
        return replace(entry, id=entry_id)

    def delete(self, entry_id: int) -> DeletedEntry:
        """Remove an entry and its files; pass the result to :meth:`restore` to undo."""
        entry = self.get(entry_id)
        with self._blob_lock:
            with self._sql("delete the image from"):
                conn = self._conn()
                with conn:
                    gone = conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,)).rowcount
            if not gone:
                raise _not_found(entry_id)
            # Undo needs them even where others use them now: those may go first.
            start_png = self._blob_bytes(self.starts_dir, entry.start_sha256)
            mask_png = self._blob_bytes(self.masks_dir, entry.mask_sha256)
            self._release_blob(self.starts_dir, "start_sha256", entry.start_sha256)
            self._release_blob(self.masks_dir, "mask_sha256", entry.mask_sha256)
        deleted = DeletedEntry(
            entry,
            _read_or_none(entry.image_path),
            _read_or_none(entry.thumb_path),
            start_png=start_png,
            mask_png=mask_png,
        )
        remove_quietly(entry.image_path)
        remove_quietly(entry.thumb_path)
        return deleted

    def restore(self, deleted: DeletedEntry) -> HistoryEntry:
        """Undo :meth:`delete`: put the files and the row back, with the same id."""
        entry = deleted.entry
        written: builtins.list[Path] = []
        files = [
            (entry.image_path, deleted.image_png),
            (entry.thumb_path, deleted.thumb_png),
        ]
        if deleted.start_png is not None and _is_sha256(entry.start_sha256):
            files.append((self._blob_path(self.starts_dir, entry.start_sha256), deleted.start_png))
        if deleted.mask_png is not None and _is_sha256(entry.mask_sha256):
            files.append((self._blob_path(self.masks_dir, entry.mask_sha256), deleted.mask_png))
        with self._blob_lock:
            try:
                for path, data in files:
                    if data is not None:
                        existed = path.exists()  # undo twice: the file is already back
                        ensure_folder(path.parent)
                        write_atomic(path, data, overwrite=True)
                        if not existed:
                            written.append(path)
                with self._sql("restore the image to"):
                    self._insert(entry, with_id=True)
            except BaseException:
                for path in written:
                    remove_quietly(path)
                raise
        return self.get(entry.id)

    def import_images(self) -> int:
        """Add every PNG in ``images/`` that no entry refers to; return how many were added.

        Settings, sighting, timings, time and lineage come from each PNG's own
        metadata (a parent is found by its image's name, as ids are new); start images
        and masks still in their folders are found by sha256. Files without readable
        settings are left alone.
        """
        if not self.images_dir.is_dir():
            return 0
        with self._sql("read"):
            known = {row[0] for row in self._conn().execute("SELECT image_file FROM entries")}
        added: builtins.list[tuple[int, str]] = []  # (new id, parent's image name)
        for image_path in sorted(self.images_dir.glob("*.png")):
            if self._relative(image_path) in known:
                continue
            found = self._entry_from_png(image_path)
            if found is None:
                continue
            entry, parent_image = found
            with self._sql("add the image to"):
                added.append((self._insert(entry, with_id=False), parent_image))
        # Ids are new, so each parent is found again by its image's name.
        for entry_id, parent_image in added:
            parent = self._id_of_image(parent_image)
            if parent is not None and parent != entry_id:
                with self._sql("add the image to"):
                    conn = self._conn()
                    with conn:
                        conn.execute(
                            "UPDATE entries SET parent_id = ? WHERE id = ?", (parent, entry_id)
                        )
        return len(added)

    def close(self) -> None:
        """Close every thread's connection. The object cannot be used afterwards."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- Internals -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """A new connection in WAL mode. Callers keep it to one thread (see module docs)."""
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        except sqlite3.Error as err:
            if conn is not None:
                conn.close()
            raise self._error(err, "open") from err

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check the file is a sound ParaSight history; create or upgrade its schema."""
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise CorruptHistoryError(self.path, f"SQLite's check says: {check}")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    f"The history file {self.path} was made by a newer ParaSight (schema "
                    f"{version}, this one knows {SCHEMA_VERSION}). Update ParaSight to open it."
                )
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if version == 0 and tables:
                raise CorruptHistoryError(
                    self.path, "it is a database, but not a ParaSight history"
                )
            if version > 0 and "entries" not in tables:
                raise CorruptHistoryError(self.path, "its table of images is missing")
            if version == 0:  # a new history: version 1, then the same upgrades as old ones
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = 1; COMMIT;")
                version = 1
            while version < SCHEMA_VERSION:
                conn.executescript(
                    f"BEGIN IMMEDIATE; {_MIGRATIONS[version]} PRAGMA user_version = {version + 1}; COMMIT;"
                )
                version += 1
        except sqlite3.Error as err:
            raise self._error(err, "open") from err

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("This History has been closed.")
            conn = self._connect()
            self._register(conn)
        return conn

    def _register(self, conn: sqlite3.Connection) -> None:
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)

    @contextmanager
    def _sql(self, action: str) -> Iterator[None]:
        """Turn SQLite's errors into :class:`HistoryError` sentences."""
        try:
            yield
        except sqlite3.Error as err:
            raise self._error(err, action) from err

    def _error(self, err: sqlite3.Error, action: str) -> HistoryError:
        code = getattr(err, "sqlite_errorcode", 0) & 0xFF
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return CorruptHistoryError(self.path, str(err))
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            hint = "Another program is using it: close other copies of ParaSight and try again."
        elif code == sqlite3.SQLITE_FULL:
            hint = "The disk is full: free some space and try again."
        elif code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
            hint = "Check that its folder exists and that you may write there."
        else:
            hint = "Try again; if it keeps failing, restart ParaSight."
        if action in ("open", "read"):
            what = f"Could not {action} the history file {self.path} ({err})."
        else:
            what = f"Could not {action} the history in {self.path} ({err})."
        return HistoryError(f"{what} {hint}")

    def _insert(self, entry: HistoryEntry, *, with_id: bool) -> int:
        values = (
            entry.created_at,
            json.dumps(entry.settings.to_dict(), ensure_ascii=False),
            None
            if entry.sighting is None
            else json.dumps(entry.sighting, ensure_ascii=False, default=str),
            json.dumps(entry.timings),
            _search_text(entry.settings.prompt, entry.sighting),
            self._relative(entry.image_path),
            self._relative(entry.thumb_path),
            entry.parent_id,
            entry.start_sha256 or None,
            entry.mask_sha256 or None,
        )
        columns = (
            "created_at, settings, sighting, timings, search_text, image_file, thumb_file, "
            "parent_id, start_sha256, mask_sha256"
        )
        marks = ", ".join("?" for _ in values)
        conn = self._conn()
        with conn:
            if with_id:  # restoring: an entry already there (undo twice) is left as it is
                conn.execute(
                    f"INSERT OR IGNORE INTO entries (id, {columns}) VALUES (?, {marks})",
                    (entry.id, *values),
                )
                return entry.id
            cursor = conn.execute(f"INSERT INTO entries ({columns}) VALUES ({marks})", values)
        return int(cursor.lastrowid or 0)

    def _image_name(self, entry_id: int) -> str:
        """The image file name of an entry ("" if it is gone): the parent's lasting name."""
        with self._sql("read"):
            row = (
                self._conn()
                .execute("SELECT image_file FROM entries WHERE id = ?", (entry_id,))
                .fetchone()
            )
        return Path(str(row[0])).name if row else ""

    def _id_of_image(self, name: str) -> int | None:
        if not name or "/" in name or "\\" in name:
            return None
        with self._sql("read"):
            row = (
                self._conn()
                .execute(
                    "SELECT id FROM entries WHERE image_file = ?",
                    (self._relative(self.images_dir / name),),
                )
                .fetchone()
            )
        return int(row[0]) if row else None

    def _blob_path(self, folder: Path, sha256: str) -> Path:
        return folder / f"{sha256}.png"

    def _write_blob(
        self, folder: Path, sha256: str, pixels: NDArray[np.uint8]
    ) -> builtins.list[Path]:
        """Keep a start image or mask once; return the path if this call wrote it.

        A file already there is kept if it holds these pixels, else (damaged, altered)
        replaced, so a start image given again mends its file.
        """
        path = self._blob_path(folder, sha256)
        mode = "RGB" if pixels.ndim == 3 else "L"
        existed = path.exists()
        if existed and self._read_blob(folder, sha256, mode) is not None:
            return []
        ensure_folder(folder)
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
        write_atomic(path, buffer.getvalue(), overwrite=True)
        return [] if existed else [path]

    def _blob_bytes(self, folder: Path, sha256: str) -> bytes | None:
        return _read_or_none(self._blob_path(folder, sha256)) if _is_sha256(sha256) else None

    def _release_blob(self, folder: Path, column: str, sha256: str) -> None:
        """After a delete: remove the file if no entry uses it any more."""
        if not _is_sha256(sha256):
            return
        with self._sql("read"):
            row = (
                self._conn()
                .execute(f"SELECT count(*) FROM entries WHERE {column} = ?", (sha256,))
                .fetchone()
            )
        if not int(row[0]):
            remove_quietly(self._blob_path(folder, sha256))

    def _read_blob(self, folder: Path, sha256: str, mode: str) -> NDArray[np.uint8] | None:
        """The pixels stored under ``sha256``; None if missing, damaged or not what it says."""
        if not _is_sha256(sha256):
            return None
        try:
            with Image.open(self._blob_path(folder, sha256)) as picture:
                pixels = np.asarray(picture.convert(mode), dtype=np.uint8).copy()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            return None
        return pixels if image_sha256(pixels) == sha256 else None

    def _write_files(self, stem: str, png: bytes, thumb: bytes) -> tuple[Path, Path]:
        """Write the image and thumbnail under a fresh name; neither or both are left."""
        ensure_folder(self.images_dir)
        ensure_folder(self.thumbs_dir)
        while True:
            name = f"{stem}-{secrets.token_hex(3)}.png"
            image_path, thumb_path = self.images_dir / name, self.thumbs_dir / name
            try:
                write_atomic(image_path, png)
            except AlreadyExistsError:
                continue
            try:
                write_atomic(thumb_path, thumb, overwrite=True)
            except BaseException:
                remove_quietly(image_path)
                raise
            return image_path, thumb_path

    def _entry(self, row: tuple[Any, ...]) -> HistoryEntry:
        (entry_id, created_at, settings, sighting, timings, image_file, thumb_file,
         parent_id, start_sha256, mask_sha256) = row
        try:
            return HistoryEntry(
                id=int(entry_id),
                created_at=str(created_at),
                settings=GenerationSettings.from_dict(json.loads(settings)),
                image_path=self.folder / image_file,
                thumb_path=self.folder / thumb_file,
                sighting=json.loads(sighting) if sighting else None,
                timings=json.loads(timings),
                parent_id=None if parent_id is None else int(parent_id),
                start_sha256=str(start_sha256 or ""),
                mask_sha256=str(mask_sha256 or ""),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CorruptHistoryError(self.path, f"entry {entry_id} cannot be read: {err}") from err

    def _entry_from_png(self, image_path: Path) -> tuple[HistoryEntry, str] | None:
        """An entry rebuilt from a PNG's own metadata (and a fresh thumbnail if needed),
        with its parent's image name (its ``parent_id`` is set once that is found)."""
        try:
            meta = read_png_metadata(image_path)
        except MetadataError:
            return None
        if meta.settings is None:
            return None
        doc = meta.parasight or {}
        created_at, _ = _timestamp(
            str(doc.get("created_at") or "")
            or datetime.fromtimestamp(image_path.stat().st_mtime, UTC).isoformat()
        )
        thumb_path = self.thumbs_dir / image_path.name
        if not thumb_path.exists():
            try:
                with Image.open(image_path) as picture:
                    pixels = np.asarray(picture.convert("RGB"))
                ensure_folder(self.thumbs_dir)
                write_atomic(thumb_path, _thumbnail_png(pixels))
            except (OSError, ValueError, LibraryError):
                return None
        timings = doc.get("timings")
        entry = HistoryEntry(
            id=0,
            created_at=created_at,
            settings=meta.settings,
            image_path=image_path,
            thumb_path=thumb_path,
            sighting=meta.sighting,
            timings=timings if isinstance(timings, dict) else {},
            start_sha256=meta.start_sha256 if _is_sha256(meta.start_sha256) else "",
            mask_sha256=meta.mask_sha256 if _is_sha256(meta.mask_sha256) else "",
        )
        return entry, meta.parent_image

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            return str(path)


def _is_sha256(text: str) -> bool:
    """A sha256 in lower-case hex: the only names starts/ and masks/ hold (a PNG's chunk
    could say anything, such as a path)."""
    return bool(_SHA256_RE.match(text))


def _checked_pixels(pixels: NDArray[np.uint8], ndim: int, what: str) -> NDArray[np.uint8]:
    array = np.asarray(pixels)
    if array.dtype != np.uint8 or array.ndim != ndim or (ndim == 3 and array.shape[2] != 3):
        shape = "(H, W, 3)" if ndim == 3 else "(H, W)"
        raise ValueError(f"The {what} must be uint8 {shape}; got {array.dtype} {array.shape}.")
    return np.ascontiguousarray(array)


def _search_clause(search: str | None) -> tuple[str, tuple[str, ...]]:
    words = tuple((search or "").casefold().split())
    if not words:
        return "", ()
    return "WHERE " + " AND ".join("instr(search_text, ?) > 0" for _ in words), words


def _search_text(prompt: str, sighting: Mapping[str, Any] | None) -> str:
    parts = [prompt]
    if sighting:
        parts.extend(_strings(sighting))
    return "\n".join(parts).casefold()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def _timestamp(text: str) -> tuple[str, datetime]:
    """``text`` (ISO 8601; naive means UTC; empty means now) as a sortable UTC string."""
    try:
        moment = datetime.fromisoformat(text) if text else datetime.now(UTC)
    except ValueError:
        moment = datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds"), moment


def _thumbnail_png(image: NDArray[np.uint8]) -> bytes:
    picture = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
    picture.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _not_found(entry_id: int) -> EntryNotFoundError:
    return EntryNotFoundError(
        f"Image #{entry_id} is no longer in the history (it may have been deleted). "
        "Refresh the list."
    )


def _move_aside(path: Path, err: CorruptHistoryError) -> Path:
    """Rename a damaged database (and its WAL) to ``<name>.corrupt-<time>``; return the new path."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 2
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    try:
        os.replace(path, target)
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            os.replace(wal, target.with_name(target.name + "-wal"))
        remove_quietly(path.with_name(path.name + "-shm"))
    except OSError as move_err:
        raise HistoryError(
            f"{err} ParaSight could not move it aside ({move_err.strerror or move_err}): "
            f"move or delete {path} yourself, then open ParaSight again."
        ) from move_err
    return target
