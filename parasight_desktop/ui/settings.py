"""One typed settings object over QSettings: every remembered choice, its type and default.

Each option is a :class:`Setting` descriptor on :class:`AppSettings`, so the key, the
type and the default are written once and code reads ``settings.steps``, never a
string key. The file is an INI file in the user's config folder (from platformdirs);
tests pass a path in ``tmp_path`` so they never touch the developer's own settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import platformdirs
from PySide6.QtCore import QByteArray, QSettings

from ..engine.types import DEFAULT_STRENGTH

APP_NAME = "ParaSight"
SETTINGS_FILENAME = "settings.ini"

T = TypeVar("T")


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(raw)


def _to_path(raw: Any) -> Path | None:
    text = str(raw)
    return Path(text) if text else None


def _to_bytes(raw: Any) -> QByteArray:
    if isinstance(raw, QByteArray):
        return raw
    if isinstance(raw, (bytes, bytearray)):
        return QByteArray(bytes(raw))
    raise ValueError(raw)


_READERS: dict[type, Any] = {
    str: str,
    int: int,
    float: float,
    bool: _to_bool,
    Path: _to_path,
    QByteArray: _to_bytes,
}


class Setting(Generic[T]):
    """One option: a key, a type and a default. A stored value that does not parse reads as
    the default, so a hand-edited or old settings file never stops the app from starting."""

    def __init__(self, key: str, kind: type, default: T) -> None:
        self.key = key
        self.kind = kind
        self.default = default
        self._read = _READERS[kind]

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> Setting[T]: ...
    @overload
    def __get__(self, obj: AppSettings, objtype: type | None = None) -> T: ...

    def __get__(self, obj: AppSettings | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        raw = obj.qsettings.value(self.key, None)
        if raw is None:
            return self.default
        try:
            return self._read(raw)
        except (TypeError, ValueError):
            return self.default

    def __set__(self, obj: AppSettings, value: T) -> None:
        if value is None:
            obj.qsettings.remove(self.key)
        elif self.kind is Path:
            obj.qsettings.setValue(self.key, str(value))
        else:
            obj.qsettings.setValue(self.key, value)


def default_settings_path() -> Path:
    return platformdirs.user_config_path(APP_NAME, appauthor=False) / SETTINGS_FILENAME


def default_data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


class AppSettings:
    """Everything ParaSight remembers between runs."""

    # The description being written, kept so a restart loses nothing.
    prompt: Setting[str] = Setting("describe/prompt", str, "")
    negative_prompt: Setting[str] = Setting("describe/negative_prompt", str, "")
    sighting_where: Setting[str] = Setting("describe/sighting_where", str, "")
    sighting_when: Setting[str] = Setting("describe/sighting_when", str, "")

    # Generation settings. ``model`` "" means the store's default model; steps,
    # guidance, sampler and fast decode are remembered for the model named in ``model``.
    model: Setting[str] = Setting("generate/model", str, "")
    seed: Setting[int] = Setting("generate/seed", int, 0)
    seed_locked: Setting[bool] = Setting("generate/seed_locked", bool, False)
    steps: Setting[int] = Setting("generate/steps", int, 0)
    guidance: Setting[float] = Setting("generate/guidance", float, -1.0)
    sampler: Setting[str] = Setting("generate/sampler", str, "")
    # None: the model's default (never saved yet).
    fast_decode: Setting[bool | None] = Setting("generate/fast_decode", bool, None)

    # Starting from an image: how much of it is made again, and how a picture is fitted.
    strength: Setting[float] = Setting("refine/strength", float, DEFAULT_STRENGTH)
    start_fit: Setting[str] = Setting("refine/fit", str, "crop")

    # Sharing: None means the library's default (a ParaSight folder in Pictures).
    share_folder: Setting[Path | None] = Setting("share/folder", Path, None)
    share_card: Setting[bool] = Setting("share/card", bool, False)
    last_save_folder: Setting[Path | None] = Setting("save/last_folder", Path, None)

    # Where history lives: None means the platform's user data folder.
    data_dir: Setting[Path | None] = Setting("app/data_dir", Path, None)

    window_geometry: Setting[QByteArray] = Setting("window/geometry", QByteArray, QByteArray())
    window_state: Setting[QByteArray] = Setting("window/state", QByteArray, QByteArray())
    splitter_state: Setting[QByteArray] = Setting("window/splitter", QByteArray, QByteArray())

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_settings_path()
        self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)

    def history_dir(self) -> Path:
        return self.data_dir or default_data_dir()

    def reset(self, name: str) -> None:
        """Forget one option, so it reads as its default again."""
        setting = getattr(type(self), name)
        self.qsettings.remove(setting.key)

    def sync(self) -> None:
        self.qsettings.sync()
