"""Make 4 in the real window: four seeds shown together, each as it finishes, each
cancellable on its own; clicking one makes it the image refined next."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from parasight_desktop.library.sighting import FROM_IMAGE
from parasight_desktop.ui.variations import CANCELLED, DONE, WAITING

from .conftest import LONG_STEPS
from .helpers import TIMEOUT_MS, activate, type_description

pytestmark = pytest.mark.gui


def test_make_four_shows_four_seeds_as_they_finish_and_a_click_picks_one(
        qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a glowing orb over the lake")
    window.controls.set_seed(1000, lock=True)
    window.controls.steps.setValue(4)
    finished: list[int] = []
    states_when_first_done: list[list[str]] = []

    def on_finished(job, result, image) -> None:  # type: ignore[no-untyped-def]
        finished.append(job.request.seed)
        if len(finished) == 1:
            states_when_first_done.append(window.refine.strip.states())

    window.queue.finished.connect(on_finished)
    window.refine.make4_button.click()
    strip = window.refine.strip
    assert strip.isVisible() and len(strip.tiles()) == 4
    assert [t.seed for t in strip.tiles()] == [1000, 1001, 1002, 1003]
    assert "4 seeds" in strip.title.text()
    assert len(window.queue.pending) == 3  # one running, three waiting
    qtbot.waitUntil(lambda: len(finished) == 4, timeout=TIMEOUT_MS)
    assert finished == [1000, 1001, 1002, 1003]  # one engine thread, in order
    # Each image appeared as it finished: when the first was done, the others were not.
    assert states_when_first_done[0].count(DONE) == 1
    assert strip.states() == [DONE] * 4
    entries = window.history_panel.entries()
    assert sorted(e.settings.seed for e in entries) == [1000, 1001, 1002, 1003]
    variations = window.refine.sighting.variations
    assert variations is not None and variations.done

    third = strip.tiles()[2]
    third.button.click()
    shown = window.shown()
    assert shown is not None and shown.entry.id == third.entry.id
    assert shown.settings.seed == 1002 and third.button.isChecked()
    start = window.refine.sighting.start
    assert start is not None and start.kind == FROM_IMAGE and start.entry_id == third.entry.id
    assert window.refine.sighting.parent_id == third.entry.id
    assert variations.picked == third.entry.id
    assert window.history_panel.current_entry().id == third.entry.id


def test_each_variation_can_be_cancelled_on_its_own(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a tall figure on the bridge")
    window.controls.steps.setValue(LONG_STEPS)
    activate(qtbot, window)
    with qtbot.waitSignal(window.queue.progress, timeout=TIMEOUT_MS):  # by keyboard
        qtbot.keyClick(window.describe.prompt, Qt.Key.Key_Return,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    strip = window.refine.strip
    tiles = strip.tiles()
    assert tiles[0].state != WAITING and tiles[2].state == WAITING
    tiles[2].cancel.click()  # a waiting one leaves the queue at once
    assert tiles[2].state == CANCELLED and tiles[2].job not in window.queue.pending
    assert len(window.queue.pending) == 2
    with qtbot.waitSignal(window.queue.cancelled, timeout=TIMEOUT_MS):
        tiles[0].cancel.click()  # the running one stops within a step
    assert tiles[0].state == CANCELLED
    window.controls.steps.setValue(4)  # (the queued jobs keep the steps they were made with)
    window.refine.cancel_job(tiles[1].job)
    qtbot.waitUntil(lambda: tiles[3].state == DONE, timeout=TIMEOUT_MS * 2)
    assert [t.state for t in tiles] == [CANCELLED, CANCELLED, CANCELLED, DONE]
    assert [e.settings.seed for e in window.history_panel.entries()] == [tiles[3].seed]
    assert not tiles[0].button.isEnabled() and tiles[3].button.isEnabled()
