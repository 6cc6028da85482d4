"""All-or-nothing file writes, and OS errors turned into sentences a person can act on.

A write goes to a temporary file in the target's own folder, is flushed and fsynced,
and only then takes the final name, so a crash or a full disk never leaves a
half-written image. Without ``overwrite`` the final name is taken with ``os.link``,
which fails rather than replace a file that appeared meanwhile.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from .errors import AlreadyExistsError, SaveError

#: Link errors that mean "this filesystem cannot hard-link", not "the write failed".
_NO_LINK = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def save_error(err: OSError, path: Path) -> SaveError:
    """Describe why ``path`` could not be written, and what to do about it."""
    folder, name = path.parent, path.name
    code = err.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        text = (
            f"The disk holding {folder} is full, so {name} was not saved. "
            "Free some space or choose another folder, then try again."
        )
    elif code in (errno.EACCES, errno.EPERM):
        text = (
            f"ParaSight is not allowed to write in {folder}, so {name} was not saved. "
            "Choose a folder you can write to, or change this folder's permissions."
        )
    elif code == errno.EROFS:
        text = (
            f"{folder} is on a read-only disk, so {name} was not saved. "
            "Choose a folder on another disk."
        )
    elif code == errno.ENAMETOOLONG:
        text = (
            f"The path {path} is too long for this system, so it was not saved. "
            "Choose a folder with a shorter path."
        )
    else:
        reason = err.strerror or str(err)
        text = (
            f"Could not save {name} in {folder} ({reason}). "
            "Check that the folder exists and is writable, then try again."
        )
    return SaveError(text)


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) if missing; raise :class:`SaveError` if impossible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        blocker = _first_file_on_path(folder)
        raise SaveError(
            f"{blocker} is a file, not a folder, so nothing can be saved in {folder}. "
            "Choose another folder, or move that file away."
        ) from err
    except OSError as err:
        raise save_error(err, folder / "(folder)") from err
    return folder


def write_atomic(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` all-or-nothing and return ``path``.

    Raises :class:`AlreadyExistsError` if ``path`` exists and ``overwrite`` is false,
    and :class:`SaveError` for any other failure; no temporary file is left behind.
    """
    if not overwrite and os.path.lexists(path):
        raise AlreadyExistsError(path)
    try:
        fd, tmp = _open_temp(path)
    except OSError as err:
        raise save_error(err, path) from err
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _publish(tmp, path, overwrite)
    except BaseException as err:
        _unlink_quietly(tmp)
        if isinstance(err, FileExistsError):
            raise AlreadyExistsError(path) from err
        if isinstance(err, OSError):
            raise save_error(err, path) from err
        raise
    _unlink_quietly(tmp)  # after os.link the temporary name is still there
    _sync_folder(path.parent)
    return path


def remove_quietly(path: Path) -> None:
    """Delete ``path`` if it exists; a file that is already gone is not an error."""
    _unlink_quietly(path)


def _open_temp(path: Path) -> tuple[int, Path]:
    """Create a new hidden temporary file beside ``path`` (mode from the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Give the finished temporary file its final name."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except (OSError, AttributeError) as err:
        if isinstance(err, OSError) and err.errno not in _NO_LINK:
            raise
        # This filesystem cannot hard-link (FAT, some network shares): check, then replace.
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from err
        os.replace(tmp, path)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_folder(folder: Path) -> None:
    """Make the new name itself durable (POSIX only; best effort)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _first_file_on_path(folder: Path) -> Path:
    """The nearest existing path at or above ``folder`` that is not a folder."""
    for candidate in (folder, *folder.parents):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return folder
