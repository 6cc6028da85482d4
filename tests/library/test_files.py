"""Atomic writes: a failure at any step leaves neither a final file nor a temporary one."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from parasight_desktop.engine.types import GenerationSettings
from parasight_desktop.library import files
from parasight_desktop.library.errors import AlreadyExistsError, SaveError
from parasight_desktop.library.files import ensure_folder, write_atomic
from parasight_desktop.library.metadata import write_png


def _fail(code: int):  # type: ignore[no-untyped-def]
    def raiser(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    return raiser


def test_write_creates_file_with_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "a.bin", b"hello")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["a.bin"]


def test_replace_failure_leaves_old_file_and_no_temp(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    image: NDArray[np.uint8],
    settings: GenerationSettings,
) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(b"old")
    monkeypatch.setattr(os, "replace", _fail(errno.EIO))
    with pytest.raises(SaveError, match="x.png"):
        write_png(path, image, settings, overwrite=True)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.png"]


def test_link_failure_leaves_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    image: NDArray[np.uint8],
    settings: GenerationSettings,
) -> None:
    monkeypatch.setattr(os, "link", _fail(errno.EIO))
    monkeypatch.setattr(os, "replace", _fail(errno.EIO))
    with pytest.raises(SaveError):
        write_png(tmp_path / "x.png", image, settings)
    assert os.listdir(tmp_path) == []


def test_disk_full_mid_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls = []

    def half_then_full(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(SaveError, match="full") as caught:
        write_atomic(tmp_path / "big.bin", b"x" * 1000)
    assert "Free some space" in str(caught.value)
    assert len(calls) == 2
    assert os.listdir(tmp_path) == []


def test_fsync_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fsync", _fail(errno.EIO))
    with pytest.raises(SaveError):
        write_atomic(tmp_path / "a.bin", b"data")
    assert os.listdir(tmp_path) == []


def test_no_overwrite_without_permission(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"first")
    with pytest.raises(AlreadyExistsError):
        write_atomic(path, b"second")
    assert path.read_bytes() == b"first"
    write_atomic(path, b"second", overwrite=True)
    assert path.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_file_appearing_meanwhile_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.bin"
    real_link = os.link

    def someone_else_wins(src: str, dst: str) -> None:
        Path(dst).write_bytes(b"theirs")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", someone_else_wins)
    with pytest.raises(AlreadyExistsError):
        write_atomic(path, b"mine")
    assert path.read_bytes() == b"theirs"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_filesystem_without_hard_links_still_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "link", _fail(errno.EPERM))
    path = write_atomic(tmp_path / "a.bin", b"data")
    assert path.read_bytes() == b"data"
    assert os.listdir(tmp_path) == ["a.bin"]
    with pytest.raises(AlreadyExistsError):
        write_atomic(path, b"again")


def test_folder_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "pictures"
    blocker.write_bytes(b"I am a file")
    with pytest.raises(SaveError, match="is a file, not a folder") as caught:
        ensure_folder(blocker / "ParaSight")
    assert str(blocker) in str(caught.value)
    with pytest.raises(SaveError, match="is a file, not a folder"):
        ensure_folder(blocker)


def test_every_errno_gets_a_sentence(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    for code, words in [
        (errno.ENOSPC, "full"),
        (errno.EACCES, "not allowed"),
        (errno.EROFS, "read-only"),
        (errno.ENAMETOOLONG, "too long"),
        (errno.EIO, "Could not save a.png"),
    ]:
        message = str(files.save_error(OSError(code, os.strerror(code)), target))
        assert words in message
        assert message.endswith(".")
