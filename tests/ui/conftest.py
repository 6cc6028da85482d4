"""The real window on the real tiny model, with settings and data in ``tmp_path``."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from parasight_desktop.engine.pipeline import Engine
from parasight_desktop.engine.store import ModelStore
from parasight_desktop.ui.main_window import MainWindow
from parasight_desktop.ui.model_manager import ModelManagerDialog
from parasight_desktop.ui.settings import AppSettings

#: Long enough to cancel, queue behind, or close during (the tiny model runs ~50 steps/s).
LONG_STEPS = 400


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.ini"


@pytest.fixture
def app_settings(settings_file: Path, tmp_path: Path) -> AppSettings:
    """A fresh settings file in tmp_path (never the developer's), data and share there too."""
    settings = AppSettings(settings_file)
    settings.data_dir = tmp_path / "data"
    settings.share_folder = tmp_path / "share"
    return settings


WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot, app_settings: AppSettings, tiny_store: ModelStore,  # type: ignore[no-untyped-def]
                ) -> Iterator[WindowFactory]:
    """Build (and on teardown close) real windows over the tiny model's store.

    Each window gets its own Engine, as each run of the app does; pass ``settings`` to
    reopen with what an earlier window left behind, or ``store`` for another model folder.
    """
    windows: list[MainWindow] = []

    def make(settings: AppSettings | None = None, store: ModelStore | None = None) -> MainWindow:
        store = store or tiny_store
        window = MainWindow(settings or app_settings, store=store, engine=Engine(store, threads=1))
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        assert window.queue.engine_thread.wait(5000)


@pytest.fixture
def make_dialog(qtbot) -> Iterator[Callable[[], ModelManagerDialog]]:  # type: ignore[no-untyped-def]
    """Models dialogs on the store, shown; each is shut down (its jobs stopped) at the end."""
    import shiboken6

    made: list[ModelManagerDialog] = []

    def make() -> ModelManagerDialog:
        dialog = ModelManagerDialog(ModelStore())
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        made.append(dialog)
        return dialog

    yield make
    for dialog in made:
        if shiboken6.isValid(dialog):
            assert dialog.shutdown(5000)
