"""Errors from the library. Each message says what happened and what to do next."""

from __future__ import annotations

from pathlib import Path

from ..engine.errors import ParaSightError


class LibraryError(ParaSightError):
    """Base class for failures while keeping, reading or sharing a finished image."""


class MetadataError(LibraryError):
    """A file that is not a PNG, or is damaged, so its settings cannot be read."""


class SaveError(LibraryError):
    """A file could not be written (full disk, unwritable folder). Nothing half-written is left."""


class AlreadyExistsError(SaveError):
    """The target file exists and overwriting was not asked for."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path.name} already exists in {path.parent}; it was left as it is. "
            "Choose another name, or allow overwriting."
        )
        self.path = path


class HistoryError(LibraryError):
    """The history database could not be opened, read or written."""


class EntryNotFoundError(HistoryError):
    """No history entry has the id asked for (it may have been deleted)."""


class CorruptHistoryError(HistoryError):
    """The history database file is damaged or is not a ParaSight history.

    ``History.open_or_recover`` moves such a file aside and starts afresh.
    """

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"The history file {path} is damaged ({detail}). Move it aside (ParaSight "
            "can do this for you and start a new history), then open ParaSight again."
        )
        self.path = path
