"""The one engine thread: a thin QObject worker on a long-lived QThread, and its queue.

:class:`GenerationWorker` lives in the engine thread and runs one job at a time by
calling ``engine.generate`` (practice 6: a LiteRT interpreter must not be called from
two threads). :class:`GenerationQueue` lives in the GUI thread: it holds the jobs
waiting their turn (visible, and clearable), hands the worker the next one when the
last is done, and cancels by setting the job's ``threading.Event`` directly, because a
queued slot could not run while the worker thread is busy (practice 7).

Only copied ``QImage``s cross from the engine thread; the GUI makes pixmaps (practice 8).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from ..engine.errors import CancelledError, ParaSightError
from ..engine.types import GenerationRequest, GenerationResult
from .images import array_to_qimage
from .signals import emit

log = logging.getLogger(__name__)

_job_ids = itertools.count(1)

#: The shortest time between two progress reports from one job, in seconds.
REPORT_INTERVAL_S = 0.1


class EngineLike(Protocol):
    def generate(
        self,
        request: GenerationRequest,
        on_step: Callable[[int, int, Any], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult: ...


@dataclass(eq=False)
class Job:
    """One request on its way through the queue, with what the UI keeps beside it."""

    request: GenerationRequest
    sighting: Any = None  # kept with the image, never sent to the model
    #: where the image comes from (library.sighting.Origin: parent, start image, mask,
    #: variation set), kept with it in the history
    origin: Any = None
    id: int = field(default_factory=lambda: next(_job_ids))
    cancel: threading.Event = field(default_factory=threading.Event)
    #: Set in the engine thread when the image has been kept: what ``keep`` returned,
    #: or the sentence saying why it could not be kept.
    kept: Any = None
    keep_error: str | None = None


#: Runs in the engine thread after a job succeeds: keeps the image (e.g. adds it to the
#: history, which writes PNGs) so that work never stalls the GUI thread.
KeepFn = Callable[[Job, GenerationResult], Any]


class GenerationWorker(QObject):
    """Runs jobs in the engine thread. Knows the engine, not the widgets."""

    #: job, step (1-based), total, seconds left (-1 while unknown)
    progress = Signal(object, int, int, float)
    #: job, preview image (a copy)
    preview = Signal(object, QImage)
    #: job (with ``kept``/``keep_error`` set), GenerationResult, the image as a QImage (a copy)
    finished = Signal(object, object, QImage)
    #: job, a sentence for the user
    failed = Signal(object, str)
    cancelled = Signal(object)

    #: model name, "" when ready, else the sentence saying why it could not be loaded
    warmed_up = Signal(str, str)

    def __init__(self, engine: EngineLike, keep: KeepFn | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._keep = keep

    @Slot(str)
    def warm_up(self, model: str) -> None:
        """Load ``model`` ahead of the first request (imports, file checks, interpreters),
        so that work is done while the person is still typing, not during a generation."""
        load = getattr(self._engine, "pipeline", None)
        error = ""
        if load is not None:
            try:
                load(model or None)
            except ParaSightError as err:
                error = str(err)
            except Exception as err:  # reported again, in full, when a generation tries
                log.exception("could not load the model ahead of time")
                error = f"The model could not be loaded ({type(err).__name__}: {err})."
        emit(self.warmed_up, model, error)

    @Slot(object)
    def run(self, job: Job) -> None:
        first_step_at: float | None = None
        last_report = -REPORT_INTERVAL_S

        def on_step(step: int, total: int, preview: Any) -> None:
            nonlocal first_step_at, last_report
            now = time.monotonic()
            if first_step_at is None or step <= 1:
                first_step_at, left = now, -1.0
            else:
                left = (now - first_step_at) / (step - 1) * (total - step)
            # Fast models step faster than anyone can watch: report at most every
            # REPORT_INTERVAL_S (and always the first and last step), so the GUI thread
            # repaints a few times a second, not once per step.
            if step > 1 and step < total and now - last_report < REPORT_INTERVAL_S:
                return
            last_report = now
            emit(self.progress, job, step, total, left)
            if preview is not None:
                emit(self.preview, job, array_to_qimage(preview))

        if job.cancel.is_set():
            emit(self.cancelled, job)
            return
        try:
            result = self._engine.generate(job.request, on_step=on_step, cancel=job.cancel)
            image = array_to_qimage(result.image)
        except CancelledError:
            emit(self.cancelled, job)
        except ParaSightError as err:
            emit(self.failed, job, str(err))
        except MemoryError:
            emit(
                self.failed,
                job,
                "There was not enough memory to make this image. Close other programs, "
                "or choose a smaller model, then try again.",
            )
        except Exception as err:  # a bug: say so plainly, keep the app alive
            log.exception("generation failed")
            emit(
                self.failed,
                job,
                f"Something went wrong while making the image ({type(err).__name__}: {err}). "
                "Your description is kept; try again, and report this if it happens again.",
            )
        else:
            if self._keep is not None:
                try:
                    job.kept = self._keep(job, result)
                except (ParaSightError, OSError) as err:
                    job.keep_error = str(err)
                except Exception as err:
                    log.exception("could not keep the image")
                    job.keep_error = f"The image could not be kept ({type(err).__name__}: {err})."
            emit(self.finished, job, result, image)


class GenerationQueue(QObject):
    """The GUI-thread side: a queue of jobs, one running at a time in the engine thread."""

    job_started = Signal(object)
    progress = Signal(object, int, int, float)
    preview = Signal(object, QImage)
    finished = Signal(object, object, QImage)
    failed = Signal(object, str)
    cancelled = Signal(object)
    #: the waiting jobs changed (added, started, cleared)
    queue_changed = Signal()
    #: True when the first job starts after an idle spell, False when the last one ends
    busy_changed = Signal(bool)

    #: model name, "" or the sentence saying why it could not be loaded (GUI thread)
    warmed_up = Signal(str, str)

    _submit = Signal(object)
    _warm_up = Signal(str)

    def __init__(
        self, engine: EngineLike, keep: KeepFn | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._pending: deque[Job] = deque()
        self._current: Job | None = None
        self._closed = False
        self._busy = False
        self._thread = QThread()
        self._thread.setObjectName("parasight-engine")
        self._worker = GenerationWorker(engine, keep)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        # The worker lives in the engine thread, so these are queued connections. The
        # worker's signals are relayed signal-to-signal (Qt re-emits them in the GUI
        # thread); the bookkeeping slot is connected after the relay, so the window
        # hears of a job's end before the next job starts.
        self._submit.connect(self._worker.run)
        self._warm_up.connect(self._worker.warm_up)
        self._worker.warmed_up.connect(self.warmed_up)
        self._worker.progress.connect(self.progress)
        self._worker.preview.connect(self.preview)
        for relay, source in (
            (self.finished, self._worker.finished),
            (self.failed, self._worker.failed),
            (self.cancelled, self._worker.cancelled),
        ):
            source.connect(relay)
            source.connect(self._done)
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:  # however the app ends, the engine thread is stopped first
            app.aboutToQuit.connect(self.shutdown)

    # -- state --------------------------------------------------------------------

    @property
    def current(self) -> Job | None:
        return self._current

    @property
    def pending(self) -> list[Job]:
        return list(self._pending)

    def is_busy(self) -> bool:
        return self._current is not None

    @property
    def engine_thread(self) -> QThread:
        return self._thread

    # -- commands (GUI thread) ----------------------------------------------------

    def submit(self, request: GenerationRequest, sighting: Any = None,
               origin: Any = None) -> Job:
        """Run ``request`` now if idle, else queue it behind the others."""
        if self._closed:
            raise RuntimeError("the generation queue is shut down")
        job = Job(request=request, sighting=sighting, origin=origin)
        self._pending.append(job)
        emit(self.queue_changed)
        self._start_next()
        return job

    def warm_up(self, model: str) -> None:
        """Have the engine thread load ``model`` now; requests made meanwhile wait for it."""
        if not self._closed:
            emit(self._warm_up, model)

    def cancel_current(self) -> bool:
        """Stop the running job within one step. Thread-safe: it only sets an Event."""
        job = self._current
        if job is None:
            return False
        job.cancel.set()
        return True

    def clear_queue(self) -> int:
        """Drop every job still waiting (the running one goes on). Returns how many."""
        n = len(self._pending)
        for job in self._pending:
            job.cancel.set()
        self._pending.clear()
        if n:
            emit(self.queue_changed)
        return n

    def remove(self, job: Job) -> bool:
        """Drop one waiting job."""
        try:
            self._pending.remove(job)
        except ValueError:
            return False
        job.cancel.set()
        emit(self.queue_changed)
        return True

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Cancel everything and stop the engine thread. False if it did not stop in time
        (a model call that cannot be interrupted is still running). Only the first call
        waits; later ones (the app's aboutToQuit, say) report without waiting again."""
        if self._closed:
            return self._thread.isFinished()
        self._closed = True
        self.clear_queue()
        self.cancel_current()
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    # -- engine thread -> GUI thread ---------------------------------------------

    def _start_next(self) -> None:
        if self._current is not None or not self._pending or self._closed:
            return
        self._current = self._pending.popleft()
        emit(self.queue_changed)
        self._set_busy(True)
        emit(self.job_started, self._current)
        emit(self._submit, self._current)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            emit(self.busy_changed, busy)

    @Slot(object)
    def _done(self, job: Job, *_: Any) -> None:
        if job is self._current:
            self._current = None
        self._start_next()
        if self._current is None:
            self._set_busy(False)
