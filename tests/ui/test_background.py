"""The engine thread: the window stays responsive, cancel and close stop it, requests queue."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from .conftest import LONG_STEPS
from .helpers import (
    TIMEOUT_MS,
    GuiTimerProbe,
    activate,
    generate_and_wait,
    skip_if_overloaded,
    start_long_job,
    type_description,
)

pytestmark = pytest.mark.gui


def test_window_stays_responsive_while_generating(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    skip_if_overloaded()
    window = make_window()
    # The window loads the model while the person types; measure the generation itself.
    qtbot.waitUntil(lambda: window.warm_model == "tiny-model", timeout=TIMEOUT_MS)
    type_description(qtbot, window, "a tall figure at the edge of the woods")
    # Long enough for many timer ticks on a fast CPU too (the tiny model takes about 1.5 ms
    # a step on an AMD EPYC with AVX-512: 120 steps gave 17 ticks of 10 ms).
    n_steps = 480
    window.controls.steps.setValue(n_steps)
    steps: list[int] = []
    window.queue.progress.connect(lambda job, step, total, left: steps.append(step))
    with GuiTimerProbe() as probe, qtbot.waitSignal(window.queue.finished,
                                                    timeout=TIMEOUT_MS):
        window.generate()

    # Progress in order, from the first step to the last (fast steps are reported
    # a few times a second, not each one).
    assert steps[0] == 1 and steps[-1] == n_steps and steps == sorted(set(steps))
    probe.assert_on_time()


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
