"""The engine thread: the window stays responsive, cancel and close stop it, requests queue."""

from __future__ import annotations

import itertools
import os
import time

import pytest
from PySide6.QtCore import Qt, QTimer

from .conftest import LONG_STEPS
from .helpers import TIMEOUT_MS, activate, generate_and_wait, start_long_job, type_description

pytestmark = pytest.mark.gui


def _overloaded() -> bool:
    """More runnable work than twice the cores: any thread, the GUI's too, waits its turn."""
    if not hasattr(os, "getloadavg"):
        return False
    return os.getloadavg()[0] > 2 * (os.cpu_count() or 1)


def test_window_stays_responsive_while_generating(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    if _overloaded():
        pytest.skip(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: "
                    "a timing test here would measure the other programs")
    window = make_window()
    # The window loads the model while the person types; measure the generation itself.
    qtbot.waitUntil(lambda: window.warm_model == "tiny-model", timeout=TIMEOUT_MS)
    type_description(qtbot, window, "a tall figure at the edge of the woods")
    # Long enough for many timer ticks on a fast CPU too (the tiny model takes about 1.5 ms
    # a step on an AMD EPYC with AVX-512: 120 steps gave 17 ticks of 10 ms).
    n_steps = 480
    window.controls.steps.setValue(n_steps)
    interval = 0.010
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(int(interval * 1000))
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    steps: list[int] = []
    window.queue.progress.connect(lambda job, step, total, left: steps.append(step))

    ticks.append(time.perf_counter())
    timer.start()
    with qtbot.waitSignal(window.queue.finished, timeout=TIMEOUT_MS):
        window.generate()
    timer.stop()

    # Progress in order, from the first step to the last (fast steps are reported
    # a few times a second, not each one).
    assert steps[0] == 1 and steps[-1] == n_steps and steps == sorted(set(steps))
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(gaps) > 20, "the generation was too short to measure"
    worst_lateness = max(gaps) - interval
    assert worst_lateness < 0.100, f"the GUI thread stalled for {worst_lateness * 1000:.0f} ms"


def test_progress_says_step_k_of_n_and_time_left(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a figure on the bridge")
    start_long_job(qtbot, window, LONG_STEPS)
    qtbot.waitUntil(lambda: "left" in window.progress_label.text())
    text = window.progress_label.text()
    assert text.startswith("Step ") and f"of {LONG_STEPS}" in text and "about" in text
    assert window.progress.isVisible() and window.cancel_button.isEnabled()
    assert not window.view.image().isNull() or window.view.has_pixmap()  # the preview shows
    window.cancel()
    qtbot.waitUntil(lambda: not window.queue.is_busy(), timeout=TIMEOUT_MS)
    assert not window.progress.isVisible() and not window.cancel_button.isEnabled()


def test_escape_cancels_within_a_step_and_keeps_nothing(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a green orb")
    before = generate_and_wait(qtbot, window)
    start_long_job(qtbot, window, LONG_STEPS)
    activate(qtbot, window)
    steps: list[int] = []
    window.queue.progress.connect(lambda job, step, total, left: steps.append(step))
    started = time.perf_counter()
    with qtbot.waitSignal(window.queue.cancelled, timeout=TIMEOUT_MS):
        qtbot.keyClick(window.describe.prompt, Qt.Key.Key_Escape)
    assert time.perf_counter() - started < 1.0
    # Steps already reported before Esc was read, then the one running: no more.
    assert len(steps) <= 3 and all(step < LONG_STEPS for step in steps)
    qtbot.waitUntil(lambda: not window.queue.is_busy())
    assert len(window.history_panel.entries()) == 1
    assert window.shown() is not None and window.shown().entry.id == before.entry.id
    assert "Cancelled" in window.statusBar().currentMessage()


def test_generating_while_busy_queues_and_the_queue_can_be_cleared(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "first")
    start_long_job(qtbot, window, LONG_STEPS)
    running = window.queue.current
    window.controls.steps.setValue(4)
    type_description(qtbot, window, "second")
    window.generate()
    type_description(qtbot, window, "third")
    window.generate()
    assert [j.request.prompt for j in window.queue.pending] == ["second", "third"]
    assert window.queue_box.isVisible() and window.queue_list.count() == 2
    assert "second" in window.queue_list.item(0).text()
    assert window.queue.current is running

    window.clear_queue_button.click()
    assert window.queue.pending == [] and not window.queue_box.isVisible()
    window.cancel()
    qtbot.waitUntil(lambda: not window.queue.is_busy(), timeout=TIMEOUT_MS)
    assert window.history_panel.entries() == []


def test_queued_requests_run_one_after_another(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    finished: list[str] = []
    window.queue.finished.connect(lambda job, result, image: finished.append(job.request.prompt))
    for text in ("one", "two", "three"):
        type_description(qtbot, window, text)
        assert window.generate() is not None
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=TIMEOUT_MS)
    assert finished == ["one", "two", "three"]
    assert [e.settings.prompt for e in window.history_panel.entries()] == ["three", "two", "one"]
    assert window.shown().settings.prompt == "three"


def test_closing_while_generating_cancels_and_stops_within_two_seconds(
    qtbot, make_window, settings_file  # type: ignore[no-untyped-def]
) -> None:
    window = make_window()
    type_description(qtbot, window, "closing time")
    start_long_job(qtbot, window, LONG_STEPS)
    type_description(qtbot, window, "closing time, queued")
    window.generate()
    started = time.perf_counter()
    window.close()
    assert time.perf_counter() - started < 2.0
    assert window.engine_stopped and window.queue.engine_thread.isFinished()
    assert window.history_panel.entries() == []
    assert "closing time, queued" in settings_file.read_text(encoding="utf-8")
