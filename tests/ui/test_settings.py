"""The typed settings object: each option has one key, one type and one default."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray

from parasight_desktop.ui.settings import AppSettings

pytestmark = pytest.mark.gui


def test_defaults_then_values_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    settings = AppSettings(path)
    assert (settings.prompt, settings.seed, settings.seed_locked) == ("", 0, False)
    assert settings.share_folder is None and settings.guidance == -1.0
    settings.prompt = "a light, over the hill\nmoving slowly"
    settings.seed = 4_000_000_000  # past a 32-bit signed int
    settings.seed_locked = True
    settings.guidance = 7.5
    settings.share_folder = tmp_path / "share"
    settings.window_geometry = QByteArray(b"\x00\x01geometry")
    settings.sync()

    again = AppSettings(path)
    assert again.prompt == "a light, over the hill\nmoving slowly"
    assert again.seed == 4_000_000_000 and again.seed_locked is True
    assert again.guidance == 7.5
    assert again.share_folder == tmp_path / "share"
    assert bytes(again.window_geometry) == b"\x00\x01geometry"
    again.share_folder = None
    assert again.share_folder is None


def test_a_damaged_value_reads_as_its_default(tmp_path: Path) -> None:
    path = tmp_path / "settings.ini"
    path.write_text("[generate]\nseed=lots\nseed_locked=perhaps\nsteps=12\n", encoding="utf-8")
    settings = AppSettings(path)
    assert settings.seed == 0 and settings.seed_locked is False
    assert settings.steps == 12


def test_reset_forgets_one_option(tmp_path: Path) -> None:
    settings = AppSettings(tmp_path / "settings.ini")
    settings.steps = 30
    settings.reset("steps")
    assert settings.steps == 0
