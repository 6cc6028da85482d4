"""The witness loop in the window: start images, Make 4, pick, mask, refine, lineage.

:class:`RefineController` holds the :class:`Sighting` and the widgets that edit it (the
start image panel, the variations strip, "Make 4", "Refine"), keeps the form and the
sighting in step, follows the queue's jobs for the variation tiles, and keeps each
finished image with its lineage (parent, start image, mask). The main window places its
widgets and asks it for requests; it does the rest here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QPushButton

from ..engine.errors import InputError, ParaSightError
from ..engine.types import MAX_GUIDANCE, GenerationRequest, GenerationResult
from ..library.errors import LibraryError
from ..library.history import History, HistoryEntry
from ..library.metadata import ImageMetadata
from ..library.sighting import Sighting, sighting_notes
from .images import qimage_to_array
from .settings import AppSettings
from .start_image_panel import StartImagePanel
from .variations import VariationStrip
from .worker import Job

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


def keep_in_history(history: History, job: Job, result: GenerationResult) -> HistoryEntry:
    """Add a finished image with where it came from (engine thread: touches no widget)."""
    origin = job.origin
    if origin is None:
        return history.add(result, job.sighting)
    return history.add(
        result, job.sighting, parent_id=origin.parent_id,
        start_image=origin.start.pixels if origin.start is not None else None,
        mask=origin.mask)


class RefineController(QObject):
    """The sighting and its widgets, wired to the window's form, queue and history."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.sighting = Sighting()
        self.panel = StartImagePanel(self.sighting)
        self.strip = VariationStrip()
        self.make4_button = QPushButton("Make &4")
        self.make4_button.setObjectName("make4Button")
        self.make4_button.setToolTip(
            "Make four images of these settings with four seeds, shown side by side")
        self.make4_button.clicked.connect(self.make_variations)
        self.make4_action = QAction("Make &4 variations", window)
        self.make4_action.setShortcuts([QKeySequence("Ctrl+Shift+Return"),
                                        QKeySequence("Ctrl+Shift+Enter")])
        self.make4_action.setToolTip(self.make4_button.toolTip())
        self.make4_action.triggered.connect(self.make_variations)
        window.addAction(self.make4_action)  # the shortcut works with the menu bar hidden
        self.refine_action = QAction("&Refine this image", window)
        self.refine_action.setToolTip(
            "Start the next image from this one: change the description or paint a mask, "
            "then generate")
        self.refine_action.triggered.connect(self.refine_shown)
        self.panel.error.connect(window.show_error)
        self.panel.status.connect(lambda text: window.statusBar().showMessage(text, 8000))
        self.strip.picked.connect(self.pick)
        self.strip.cancel_requested.connect(self.cancel_job)
        self.sighting.subscribe(self._on_sighting_changed)

    def wire(self) -> None:
        """Follow the queue and the form (once the window has built them)."""
        w = self.w
        q = w.queue
        q.job_started.connect(self.strip.job_started)
        q.progress.connect(lambda job, step, total, _left: self.strip.job_progress(
            job, step, total))
        q.preview.connect(self.strip.job_preview)
        q.cancelled.connect(self.strip.job_cancelled)
        q.failed.connect(lambda job, _msg: self.strip.job_failed(job))
        w.controls.model_changed.connect(self.update_model)
        w.controls.steps.valueChanged.connect(self.panel.set_steps)
        w.history_panel.entry_requested.connect(self.show_entry_id)
        self.panel.set_steps(w.controls.steps.value())
        self.update_model()

    # -- what is remembered between runs ---------------------------------------------------

    def restore_state(self, settings: AppSettings) -> None:
        if 0.0 < settings.strength <= 1.0:
            self.sighting.set_strength(settings.strength)
        self.panel.set_fit_mode(settings.start_fit)

    def save_state(self, settings: AppSettings) -> None:
        settings.strength = self.sighting.strength
        settings.start_fit = self.panel.fit_mode()

    # -- the model -----------------------------------------------------------------------

    def can_start_from_image(self) -> bool:
        name = self.w.controls.model_name()
        if not name:
            return False
        try:
            return self.w.store.manifest(name).has_image_encoder
        except (ParaSightError, OSError):
            return False

    def update_model(self, *_: Any) -> None:
        info = self.w.controls.model_info()
        if info is None:
            self.panel.set_model(128, 128, False, "No model")
            return
        self.panel.set_model(info.width, info.height, self.can_start_from_image(),
                             info.display_name)

    # -- form <-> sighting -----------------------------------------------------------------

    def read_form(self) -> None:
        d, c = self.w.describe, self.w.controls
        self.sighting.set_settings(
            prompt=d.prompt_text(), negative=d.negative_text(),
            notes=sighting_notes(d.sighting()), steps=c.steps.value(),
            guidance=float(c.guidance.value()), sampler=c.sampler_id(),
            model=c.model_name() or None, fast_decode=c.fast_decode_value())

    def request(self, seed: int) -> GenerationRequest:
        """The request the form and the start image describe, with ``seed``."""
        self.read_form()
        if self.sighting.start is not None and not self.can_start_from_image():
            # The model changed under the start image: keep the sketch, say what to do.
            raise InputError(self.panel.reason.text().replace(
                ": choose a model that can, or describe the sighting in words.",
                ": choose a model that can, or Clear the start image to make it from the "
                "description alone."))
        return self.sighting.request(seed)

    def submit(self, request: GenerationRequest) -> Job:
        return self.w.queue.submit(request, self.w.describe.sighting(),
                                   origin=self.sighting.origin(request))

    def make_variations(self) -> list[Job]:
        """Four seeds of the current settings (from the seed box on), as one set."""
        w = self.w
        if w.closing:
            return []
        try:
            w.check_model()
            self.read_form()
            requests = self.sighting.requests(4, w.controls.seed_for_next_image())
        except ParaSightError as err:
            w.show_error(str(err))
            return []
        jobs = [self.submit(r) for r in requests]
        assert self.sighting.variations is not None
        self.strip.start_set(self.sighting.variations.id, jobs, requests[0].prompt)
        w.messages.clear()
        w.statusBar().showMessage("Making 4 variations\u2026", 8000)
        return jobs

    def cancel_job(self, job: Job) -> None:
        q = self.w.queue
        if q.current is job:
            q.cancel_current()
        elif q.remove(job):
            self.strip.job_cancelled(job)

    def on_finished(self, job: Job, image: QImage, entry: HistoryEntry | None) -> None:
        self.strip.job_finished(job, image, entry)
        origin = job.origin
        if entry is not None and origin is not None and origin.variation_set is not None:
            seed = job.request.seed if job.request.seed is not None else -1
            self.sighting.variation_finished(origin.variation_set, seed, entry.id)

    # -- picking and refining ------------------------------------------------------------------

    def pick(self, entry: HistoryEntry | None, image: QImage) -> None:
        """A variation was clicked: show it and make it the image refined next."""
        if entry is None:
            self.w.show_error("This variation is not in the history, so it cannot be "
                              "refined; save it to keep it.")
            return
        self.w.show_entry(entry)
        self.w.history_panel.select(entry.id, emit=False)
        self.use(entry, image)

    def refine_shown(self) -> bool:
        shown = self.w.shown()
        if shown is None or shown.entry is None:
            self.w.show_error("Refine starts from an image in the history: make or choose "
                              "one first.")
            return False
        self.use(shown.entry, shown.image)
        return True

    def use(self, entry: HistoryEntry, image: QImage) -> None:
        if not self.can_start_from_image():
            self.w.show_error(self.panel.reason.text())
            return
        pixels = qimage_to_array(image) if not image.isNull() else None
        self.sighting.use_result(entry, pixels)
        self.write_form()
        self.w.statusBar().showMessage(
            f"Refining #{entry.id}: change the description or paint a mask, then Generate.",
            15000)

    def write_form(self) -> list[str]:
        """The sighting's settings back into the form; what could not be, as phrases."""
        s, c = self.sighting, self.w.controls
        notes: list[str] = []
        self.w.describe.set_values(s.prompt, s.negative, self.w.describe.sighting() or {})
        if s.model and not c.select_model(s.model):
            notes.append(f"its model '{s.model}' is not installed, so "
                         f"{c.model.currentText()} is kept")
        if s.steps is not None:
            c.steps.setValue(s.steps)
        if s.guidance is not None and 0.0 <= s.guidance <= MAX_GUIDANCE:
            c.guidance.setValue(s.guidance)
        if s.sampler and not c.set_sampler(s.sampler):
            notes.append(f"its sampler '{s.sampler}' is not available here, so "
                         f"{c.sampler.currentText()} is kept")
        return notes

    def restore(self, entry: HistoryEntry) -> list[str]:
        """Reuse: the entry's start image, mask, strength and parent (where kept)."""
        history = self.w.history
        start = mask = None
        if history is not None and entry.settings.init_image_sha256:
            try:
                start, mask = history.start_image(entry), history.mask(entry)
            except (LibraryError, OSError) as err:
                log.info("no start image for #%d: %s", entry.id, err)
        notes = self.sighting.restore(entry, start, mask, entry.parent_id)
        return notes + self._check_start_model()

    def restore_png(self, meta: ImageMetadata) -> list[str]:
        """A dropped PNG: its start image and mask where this history keeps them (by
        sha256), its parent where this history has that image; says what is missing."""
        assert meta.settings is not None
        history = self.w.history
        start = mask = None
        parent: int | None = None
        notes: list[str] = []
        if history is not None:
            try:
                start = history.find_start(meta.start_sha256) if meta.start_sha256 else None
                mask = history.find_mask(meta.mask_sha256) if meta.mask_sha256 else None
                if meta.parent_id is not None:
                    found = history.get(meta.parent_id)
                    if not meta.parent_image or found.image_path.name == meta.parent_image:
                        parent = found.id
            except (LibraryError, OSError) as err:
                log.info("lineage of a dropped PNG: %s", err)
        if meta.parent_id is not None and parent is None:
            notes.append(f"it was refined from an image (#{meta.parent_id}) this history "
                         "does not have, so it starts a new chain")
        notes += self.sighting.restore_settings(meta.settings, start, mask, parent)
        return notes + self._check_start_model()

    def _check_start_model(self) -> list[str]:
        if self.sighting.start is not None and not self.can_start_from_image():
            self.sighting.clear_start()
            return [("the chosen model cannot start from an image, so it is made from the "
                     "description alone")]
        return []

    # -- lineage -----------------------------------------------------------------------------------

    def lineage(self, entry: HistoryEntry) -> list[HistoryEntry]:
        """The chain that led to ``entry``, root first (just ``entry`` if none is kept)."""
        history = self.w.history
        if history is None:
            return [entry]
        try:
            chain = history.lineage(entry.id)
        except (LibraryError, OSError) as err:
            log.info("no lineage for #%d: %s", entry.id, err)
            return [entry]
        return chain or [entry]

    def show_lineage(self, entry: HistoryEntry | None) -> None:
        if entry is None:
            self.w.history_panel.set_lineage([])
            return
        children: list[HistoryEntry] = []
        if self.w.history is not None:
            try:
                children = self.w.history.children(entry.id)
            except (LibraryError, OSError) as err:
                log.info("no children for #%d: %s", entry.id, err)
        self.w.history_panel.set_lineage(self.lineage(entry), children)

    def show_entry_id(self, entry_id: int) -> None:
        history = self.w.history
        if history is None:
            return
        try:
            entry = history.get(entry_id)
        except (LibraryError, OSError) as err:
            self.w.show_error(f"{err} (it may have been deleted).")
            return
        if not self.w.history_panel.select(entry_id):
            self.w.show_entry(entry)

    def _on_sighting_changed(self) -> None:
        has = self.sighting.start is not None
        self.w.generate_button.setText("&Generate from image" if has else "&Generate")
        self.make4_button.setToolTip(
            "Make four images " + ("from the start image " if has else "") +
            "with four seeds, shown side by side")
        self.strip.mark_picked(self.sighting.variations.picked
                               if self.sighting.variations is not None else None)
