"""The witness loop, end to end in the real window on the real tiny model (it has an
image encoder): sketch -> generate -> Make 4 -> pick -> mask -> refine, the history
keeping the chain; and the GUI stays responsive while a person draws during a
generation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QTimer

from parasight_desktop.engine.errors import ParaSightError
from parasight_desktop.engine.store import ModelStore, builtin_models_dir
from parasight_desktop.library.sighting import read_pixels

from .helpers import TIMEOUT_MS, GuiTimerProbe, skip_if_overloaded, type_description

pytestmark = pytest.mark.gui

NIGHT = (15, 20, 60)
GLOW = (250, 220, 40)
GREEN = (40, 160, 60)


@pytest.fixture
def loop_store(tiny_store, tmp_path):  # type: ignore[no-untyped-def]
    """ParaSight Mini where it can start from an image (128x128, fast), else the tiny model."""
    mini = builtin_models_dir()
    try:
        store = ModelStore([mini], hash_cache=tmp_path / "mini-hashes.json")
        if store.manifest(store.default_model()).has_image_encoder:
            return store
    except (ParaSightError, OSError):
        pass
    return tiny_store


def _finish(qtbot, window, start) -> list:  # type: ignore[no-untyped-def]
    """Run ``start()`` and wait until every job it queued is finished; their jobs."""
    done: list = []
    window.queue.finished.connect(lambda job, result, image: done.append(job))
    jobs = start()
    jobs = jobs if isinstance(jobs, list) else [jobs]
    assert all(j is not None for j in jobs), window.messages.text()
    qtbot.waitUntil(lambda: all(j in done for j in jobs), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.queue.is_busy(), timeout=TIMEOUT_MS)
    assert all(j.kept is not None for j in jobs), [j.keep_error for j in jobs]
    return jobs


def test_sketch_generate_make_four_pick_mask_refine_keeps_the_chain(
        qtbot, make_window, loop_store) -> None:  # type: ignore[no-untyped-def]
    window = make_window(store=loop_store)
    qtbot.waitUntil(lambda: window.warm_model == window.controls.model_name(),
                    timeout=TIMEOUT_MS)
    refine, panel = window.refine, window.refine.panel
    type_description(qtbot, window, "a glowing yellow orb over a dark field")
    window.controls.set_seed(42, lock=True)
    window.controls.steps.setValue(10)

    # 1. A sketch: night sky, a yellow orb, a green field.
    sketch = panel.open_sketch()
    canvas = sketch.canvas
    canvas.fill_background(NIGHT)
    canvas.fill_shape([(0, 96), (128, 90), (128, 128), (0, 128)], GREEN)
    canvas.fill_shape([(64 + 20 * np.cos(a), 40 + 20 * np.sin(a))
                       for a in np.linspace(0, 2 * np.pi, 24, endpoint=False)], GLOW)
    canvas.stroke([(30, 96), (30, 70)], (0, 0, 0), 3)
    sketch.use_button.click()
    drawn = canvas.pixels()
    assert refine.sighting.start is not None and refine.sighting.start.source == "sketch"
    panel.strength.setValue(80)
    assert panel.strength_label.text().endswith("(8 of 10 steps)")

    # 2. Generate from it: the root of the chain, made in 8 steps.
    steps_seen: list[int] = []
    window.queue.progress.connect(lambda job, step, total, left: steps_seen.append(total))
    (first,) = _finish(qtbot, window, window.generate)
    root = first.kept
    assert root.parent_id is None and root.settings.strength == pytest.approx(0.8)
    assert set(steps_seen) == {8}  # progress counts the steps that run
    assert np.array_equal(window.history.start_image(root), drawn)

    # 3. Refine it: four variations from it, shown together.
    assert window.refine.refine_action.isEnabled()
    window.refine.refine_action.trigger()
    assert refine.sighting.parent_id == root.id
    panel.strength.setValue(60)
    jobs = _finish(qtbot, window, refine.make_variations)
    assert len(jobs) == 4 and [j.request.seed for j in jobs] == [42, 43, 44, 45]  # locked
    variations = [j.kept for j in jobs]
    assert all(v.parent_id == root.id for v in variations)
    assert all(v.settings.strength == pytest.approx(0.6) for v in variations)

    # 4. Pick the second one: it becomes the current image and the next parent.
    tile = refine.strip.tiles()[1]
    tile.button.click()
    picked = tile.entry
    assert window.shown().entry.id == picked.id and refine.sighting.parent_id == picked.id

    # 5. Mask the top half (the orb) and refine it with a changed description.
    mask_dialog = panel.open_mask()
    mask_dialog.painter.paint_shape([(0, 0), (128, 0), (128, 64), (0, 64)])
    mask_dialog.use_button.click()
    mask = refine.sighting.mask
    assert mask is not None and mask[10, 10] == 255 and mask[100, 10] == 0
    type_description(qtbot, window, "a glowing green orb over a dark field")
    (masked_job,) = _finish(qtbot, window, window.generate)
    masked = masked_job.kept
    assert masked.parent_id == picked.id and masked.settings.mask_blur is not None
    kept_mask = window.history.mask(masked)
    assert kept_mask is not None and np.array_equal(kept_mask, mask)
    # Outside the mask the picked image is kept (the engine lays it back over).
    made = np.asarray(Image.open(masked.image_path).convert("RGB"))
    start = window.history.start_image(masked)
    assert start is not None and np.array_equal(start, read_pixels(picked.image_path))
    assert np.abs(made[80:].astype(int) - start[80:]).max() <= 2
    assert np.abs(made[:48].astype(int) - start[:48]).mean() > 2  # the masked part changed

    # 6. Refine the refined one: the fourth generation of the chain.
    window.refine.refine_action.trigger()
    assert refine.sighting.parent_id == masked.id and refine.sighting.mask is None
    (last_job,) = _finish(qtbot, window, window.generate)
    last = last_job.kept

    # The history: the chain of four generations, each with its parent.
    chain = window.history.lineage(last.id)
    assert [e.id for e in chain] == [root.id, picked.id, masked.id, last.id]
    assert [e.parent_id for e in chain] == [None, root.id, picked.id, masked.id]
    window.history_panel.select(last.id)
    lineage = window.history_panel.lineage
    assert lineage.isVisible() and [e.id for e in lineage.chain] == [e.id for e in chain]
    assert lineage.label.text() == (f"Started from #{masked.id} \u00b7 a chain of 4 images "
                                   f"from #{root.id}")
    # Walk back to the parent; reuse restores its start image, mask and strength.
    lineage.parent_button.click()
    assert window.shown().entry.id == masked.id
    assert lineage.children_label.text() == (
        f"Refined into <a href='entry:{last.id}'>#{last.id}</a>")
    window.history_panel.select(root.id)  # the root: no parent, four refinements
    assert not lineage.parent_button.isVisible() and lineage.children_label.isVisible()
    assert all(f"#{v.id}<" in lineage.children_label.text() for v in variations)
    lineage.children_label.linkActivated.emit(f"entry:{picked.id}")  # walk forward
    assert window.shown().entry.id == picked.id
    window.history_panel.select(masked.id)
    window.reuse_entry(masked)
    assert refine.sighting.parent_id == picked.id
    assert refine.sighting.mask is not None and np.array_equal(refine.sighting.mask, mask)
    assert refine.sighting.strength == pytest.approx(0.6)
    assert panel.strength.value() == 60


def test_drawing_during_a_generation_keeps_the_gui_timer_on_time(
        qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    skip_if_overloaded()
    window = make_window()
    qtbot.waitUntil(lambda: window.warm_model == "tiny-model", timeout=TIMEOUT_MS)
    type_description(qtbot, window, "a shape in the trees")
    sketch = window.refine.panel.open_sketch()
    sketch.canvas.fill_background(NIGHT)
    sketch.use_button.click()
    window.refine.panel.strength.setValue(100)
    window.controls.steps.setValue(480)  # long enough for many ticks (see test_background)

    strokes = itertools.count()
    canvas = sketch.canvas

    def draw() -> None:  # a person drawing: a stroke every 30 ms, with undo now and then
        i = next(strokes)
        canvas.stroke([(i % 128, 0), ((i * 7) % 128, 127), (64, 64)], GLOW, 6)
        if i % 5 == 4:
            canvas.undo()

    pen = QTimer()
    pen.setInterval(30)
    pen.timeout.connect(draw)
    with GuiTimerProbe() as probe, qtbot.waitSignal(window.queue.finished,
                                                    timeout=TIMEOUT_MS):
        pen.start()
        window.generate()
    pen.stop()
    assert next(strokes) > 5, "the generation was too short to draw during it"
    probe.assert_on_time()
