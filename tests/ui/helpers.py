"""Small steps the UI tests share: type, generate and wait, all through the real window."""

from __future__ import annotations

import itertools
import os
import time
from typing import Self

import pytest
from PySide6.QtCore import Qt, QTimer
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


def skip_if_overloaded() -> None:
    """Skip a timing test where more runnable work than twice the cores means any thread,
    the GUI's too, waits its turn: it would measure the other programs."""
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > 2 * (os.cpu_count() or 1):
        pytest.skip(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: "
                    "a timing test here would measure the other programs")


class GuiTimerProbe:
    """A precise 10 ms timer on the GUI thread, recording when it fires: how late the GUI
    thread got to it is how long the window would have stood still."""

    interval = 0.010

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(int(self.interval * 1000))
        self._timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def __enter__(self) -> Self:
        self.ticks.append(time.perf_counter())
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.stop()

    def assert_on_time(self, limit: float = 0.100) -> None:
        gaps = [b - a for a, b in itertools.pairwise(self.ticks)]
        assert len(gaps) > 20, "the generation was too short to measure"
        worst_lateness = max(gaps) - self.interval
        assert worst_lateness < limit, (
            f"the GUI thread stalled for {worst_lateness * 1000:.0f} ms")
