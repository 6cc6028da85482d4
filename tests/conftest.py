"""Shared fixtures: a real tiny model run by the real LiteRT interpreter, fresh dirs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TINY_MODEL = Path(__file__).resolve().parent / "data" / "tiny-model"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Never touch the developer's own data, cache or settings folders."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PARASIGHT_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    yield


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    """A private copy of the tiny model folder (tests may damage it)."""
    dest = tmp_path / "models" / "tiny-model"
    shutil.copytree(TINY_MODEL, dest)
    return dest


@pytest.fixture
def tiny_store(tiny_model_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    from parasight_desktop.engine.store import ModelStore

    return ModelStore([tiny_model_dir.parent], hash_cache=tmp_path / "hashes.json")


@pytest.fixture
def tiny_engine(tiny_store):  # type: ignore[no-untyped-def]
    from parasight_desktop.engine.pipeline import Engine

    return Engine(tiny_store, threads=2)
