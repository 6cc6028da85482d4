"""Small steps the UI tests share: type, generate and wait, all through the real window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from parasight_desktop.ui.main_window import MainWindow, ShownImage

TIMEOUT_MS = 60_000


def activate(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Make the window active, so its keyboard shortcuts are live (as on a desktop)."""
    window.activateWindow()
    window.raise_()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)


def type_description(qtbot, window: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    prompt = window.describe.prompt
    prompt.setFocus()
    prompt.selectAll()
    qtbot.keyClick(prompt, Qt.Key.Key_Delete)
    qtbot.keyClicks(prompt, text)
    assert prompt.toPlainText() == text


def press_ctrl_enter(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClick(window.describe.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def generate_and_wait(qtbot, window: MainWindow, by_keyboard: bool = False) -> ShownImage:  # type: ignore[no-untyped-def]
    """Generate from the form as it is and wait for the finished image to be shown."""
    with qtbot.waitSignal(window.queue.finished, timeout=TIMEOUT_MS):
        if by_keyboard:
            press_ctrl_enter(qtbot, window)
        else:
            assert window.generate() is not None, window.messages.text()
    qtbot.waitUntil(lambda: not window.queue.is_busy(), timeout=TIMEOUT_MS)
    shown = window.shown()
    assert shown is not None
    return shown


def start_long_job(qtbot, window: MainWindow, steps: int) -> None:  # type: ignore[no-untyped-def]
    """Start a generation of ``steps`` steps and return once its first step is done."""
    window.controls.steps.setValue(steps)
    with qtbot.waitSignal(window.queue.progress, timeout=TIMEOUT_MS):
        assert window.generate() is not None, window.messages.text()
