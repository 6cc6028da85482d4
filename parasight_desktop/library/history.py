"""The history: every finished image, kept as a PNG with its settings, listed from SQLite.

On disk, beside the database file::

    history.sqlite3          one row per image (WAL mode; schema version in user_version)
    images/<name>.png        the image, with full metadata (see metadata.py)
    thumbnails/<name>.png    a small copy for lists (THUMB_SIZE px on the long side)

The PNGs are the record: each carries its settings, sighting and timings, so a history
whose database is lost can be rebuilt from ``images/`` (``open_or_recover`` does this).

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

from ..engine.types import GenerationResult, GenerationSettings
from .errors import (
    AlreadyExistsError,
    CorruptHistoryError,
    EntryNotFoundError,
    HistoryError,
    LibraryError,
    MetadataError,
)
from .files import ensure_folder, remove_quietly, write_atomic
from .metadata import png_bytes, read_png_metadata

SCHEMA_VERSION = 1
THUMB_SIZE = 192
IMAGES_DIR = "images"
THUMBS_DIR = "thumbnails"

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
#: Upgrades: schema version N -> the SQL that takes it to N + 1.
_MIGRATIONS: dict[int, str] = {}
_COLUMNS = "id, created_at, settings, sighting, timings, image_file, thumb_file"


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


@dataclass(frozen=True)
class DeletedEntry:
    """What ``History.delete`` removed, held in memory so ``History.restore`` can undo it."""

    entry: HistoryEntry
    image_png: bytes | None
    thumb_png: bytes | None


class History:
    """The image history in ``db_path``, with its PNGs in folders beside it."""

    def __init__(self, db_path: Path | str) -> None:
        self.path = Path(db_path)
        self.folder = self.path.parent
        self.images_dir = self.folder / IMAGES_DIR
        self.thumbs_dir = self.folder / THUMBS_DIR
        #: Set by ``open_or_recover``: where a damaged database was moved, and how many
        #: images were brought back from ``images/``.
        self.recovered_from: Path | None = None
        self.recovered_entries = 0
        self._local = threading.local()
        self._lock = threading.Lock()
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

    # --- Writing ---------------------------------------------------------------------

    def add(
        self, result: GenerationResult, sighting: Mapping[str, Any] | None = None
    ) -> HistoryEntry:
        """Keep a finished image: write its PNG and thumbnail atomically, then its row."""
        created_at, moment = _timestamp(result.created_at)
        details = dict(sighting) if sighting else None
        timings = {str(k): float(v) for k, v in result.timings.items()}
        png = png_bytes(
            result.image,
            result.settings,
            {"created_at": created_at, "sighting": details, "timings": timings},
        )
        image_path, thumb_path = self._write_files(
            f"{moment:%Y%m%d-%H%M%S}-{result.settings.seed}", png, _thumbnail_png(result.image)
        )
        entry = HistoryEntry(
            id=0,
            created_at=created_at,
            settings=result.settings,
            image_path=image_path,
            thumb_path=thumb_path,
            sighting=details,
            timings=timings,
        )
        try:
            with self._sql("add the image to"):
                entry_id = self._insert(entry, with_id=False)
        except BaseException:
            remove_quietly(image_path)
            remove_quietly(thumb_path)
            raise
        return replace(entry, id=entry_id)

    def delete(self, entry_id: int) -> DeletedEntry:
        """Remove an entry and its files; pass the result to :meth:`restore` to undo."""
        entry = self.get(entry_id)
        deleted = DeletedEntry(
            entry, _read_or_none(entry.image_path), _read_or_none(entry.thumb_path)
        )
        with self._sql("delete the image from"):
            conn = self._conn()
            with conn:
                gone = conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,)).rowcount
        if not gone:
            raise _not_found(entry_id)
        remove_quietly(entry.image_path)
        remove_quietly(entry.thumb_path)
        return deleted

    def restore(self, deleted: DeletedEntry) -> HistoryEntry:
        """Undo :meth:`delete`: put the files and the row back, with the same id."""
        entry = deleted.entry
        written: builtins.list[Path] = []
        try:
            for path, data in (
                (entry.image_path, deleted.image_png),
                (entry.thumb_path, deleted.thumb_png),
            ):
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

        Settings, sighting, timings and time come from each PNG's own metadata; files
        without readable settings are left alone.
        """
        if not self.images_dir.is_dir():
            return 0
        with self._sql("read"):
            known = {row[0] for row in self._conn().execute("SELECT image_file FROM entries")}
        added = 0
        for image_path in sorted(self.images_dir.glob("*.png")):
            if self._relative(image_path) in known:
                continue
            entry = self._entry_from_png(image_path)
            if entry is None:
                continue
            with self._sql("add the image to"):
                self._insert(entry, with_id=False)
            added += 1
        return added

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
            if version == 0:
                conn.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
                version = SCHEMA_VERSION
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
        )
        columns = "created_at, settings, sighting, timings, search_text, image_file, thumb_file"
        conn = self._conn()
        with conn:
            if with_id:  # restoring: an entry already there (undo twice) is left as it is
                conn.execute(
                    f"INSERT OR IGNORE INTO entries (id, {columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (entry.id, *values),
                )
                return entry.id
            cursor = conn.execute(
                f"INSERT INTO entries ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)", values
            )
        return int(cursor.lastrowid or 0)

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
        entry_id, created_at, settings, sighting, timings, image_file, thumb_file = row
        try:
            return HistoryEntry(
                id=int(entry_id),
                created_at=str(created_at),
                settings=GenerationSettings.from_dict(json.loads(settings)),
                image_path=self.folder / image_file,
                thumb_path=self.folder / thumb_file,
                sighting=json.loads(sighting) if sighting else None,
                timings=json.loads(timings),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CorruptHistoryError(self.path, f"entry {entry_id} cannot be read: {err}") from err

    def _entry_from_png(self, image_path: Path) -> HistoryEntry | None:
        """An entry rebuilt from a PNG's own metadata (and a fresh thumbnail if needed)."""
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
        return HistoryEntry(
            id=0,
            created_at=created_at,
            settings=meta.settings,
            image_path=image_path,
            thumb_path=thumb_path,
            sighting=meta.sighting,
            timings=timings if isinstance(timings, dict) else {},
        )

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            return str(path)


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
