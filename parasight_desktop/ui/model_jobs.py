"""The Models window's jobs: downloads, conversions and imports on a thread of their own.

One job runs at a time on a long-lived QThread (practice 7), away from the engine thread
that generates, so neither waits on the other. Cancel sets the job's
``threading.Event`` directly, because a queued slot could not run while the worker is
busy. The engine does the work; this module only starts it and reports how it went.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from ..engine.errors import CancelledError, ParaSightError
from .signals import emit

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ModelJob:
    """One download or conversion. ``work(on_progress=..., cancel=...)`` calls the engine."""

    kind: str  # "download", "convert" or "import"
    name: str  # the catalogue entry downloaded, or the model a conversion/import installs
    what: str  # "downloading Stable Diffusion v1.4", for messages
    work: Callable[..., Any]
    files: tuple[str, ...] = ()  # a download's file names, in the order they come
    cancel: threading.Event = field(default_factory=threading.Event)


class ModelJobWorker(QObject):
    """Runs a :class:`ModelJob` in the models thread. Knows the engine call, not the widgets."""

    progress = Signal(object, object)  # job, DownloadProgress or ConvertProgress
    finished = Signal(object, object)  # job, what the engine returned
    failed = Signal(object, str)  # job, a sentence for the person
    cancelled = Signal(object, str)  # job, the engine's sentence (what is kept)

    @Slot(object)
    def run(self, job: ModelJob) -> None:
        if job.cancel.is_set():
            emit(self.cancelled, job, "Cancelled before it started; nothing was changed.")
            return
        try:
            result = job.work(on_progress=lambda report: emit(self.progress, job, report),
                              cancel=job.cancel)
        except CancelledError as err:
            emit(self.cancelled, job, str(err))
        except ParaSightError as err:
            emit(self.failed, job, str(err))
        except OSError as err:
            emit(self.failed, job,
                 f"Something on the disk stopped {job.what}: {err}. Check that the folder "
                 "is writable and has free space, then try again: finished work is kept.")
        except MemoryError:
            emit(self.failed, job,
                 f"There was not enough memory for {job.what}. Close other programs and "
                 "try again: finished work is kept.")
        except Exception as err:  # a bug: say so plainly, keep the app alive
            log.exception("%s failed", job.what)
            emit(self.failed, job,
                 f"Something went wrong while {job.what} ({type(err).__name__}: {err}). "
                 "Try again, and report this if it happens again.")
        else:
            emit(self.finished, job, result)


# Threads that did not stop in time when their owner went, with their workers: kept
# referenced until they end, so Python never frees a QThread or QObject still in use.
_still_running: set[tuple[QThread, ModelJobWorker]] = set()


def _stop_thread(thread: QThread, worker: ModelJobWorker, running: list[ModelJob],
                 timeout_ms: int = 3000) -> bool:
    """Cancel the job in ``running``, end ``thread``; park both if it outlives the wait."""
    for job in running:
        job.cancel.set()
    if not shiboken6.isValid(thread):  # already gone (the interpreter is exiting)
        return True
    thread.quit()
    if thread.wait(timeout_ms):
        return True
    pair = (thread, worker)
    _still_running.add(pair)
    thread.finished.connect(lambda: _still_running.discard(pair))
    log.warning("the models thread did not stop in %d ms", timeout_ms)
    return False


class ModelJobs(QObject):
    """The GUI-thread side: one models thread, one job at a time, cancel by Event."""

    started = Signal(object)
    progress = Signal(object, object)
    finished = Signal(object, object)
    failed = Signal(object, str)
    cancelled = Signal(object, str)

    _submit = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: list[ModelJob] = []  # the one job running, if any
        self._closed = False
        self._thread = QThread()  # no parent: _stop_thread decides when it may be freed
        self._thread.setObjectName("parasight-models")
        self._worker = ModelJobWorker()
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._thread.start()
        # However this object goes (its dialog deleted, the app quitting), the job is
        # cancelled and the thread stopped first: Qt aborts on a running QThread's delete.
        thread, worker, running = self._thread, self._worker, self._running
        self.destroyed.connect(lambda *_: _stop_thread(thread, worker, running))
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @property
    def current(self) -> ModelJob | None:
        return self._running[0] if self._running else None

    def is_busy(self) -> bool:
        return bool(self._running)

    @property
    def models_thread(self) -> QThread:
        return self._thread

    def start(self, job: ModelJob) -> ModelJob:
        if self._closed:
            raise RuntimeError("the models thread is shut down")
        if self._running:
            raise RuntimeError("a model job is already running")
        self._running.append(job)
        emit(self.started, job)
        emit(self._submit, job)
        return job

    def cancel(self) -> bool:
        """Stop the running job soon (within one read, or one part's worker). Thread-safe."""
        for job in self._running:
            job.cancel.set()
        return bool(self._running)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Cancel the job and stop the thread; False if it did not stop in time."""
        if self._closed:
            return self._thread.isFinished()
        self._closed = True
        return _stop_thread(self._thread, self._worker, self._running, timeout_ms)

    def _end(self, job: ModelJob) -> bool:
        if job not in self._running:
            return False
        self._running.remove(job)
        return True

    @Slot(object, object)
    def _on_progress(self, job: ModelJob, report: object) -> None:
        if job in self._running:
            emit(self.progress, job, report)

    @Slot(object, object)
    def _on_finished(self, job: ModelJob, result: object) -> None:
        if self._end(job):
            emit(self.finished, job, result)

    @Slot(object, str)
    def _on_failed(self, job: ModelJob, message: str) -> None:
        if self._end(job):
            emit(self.failed, job, message)

    @Slot(object, str)
    def _on_cancelled(self, job: ModelJob, message: str) -> None:
        if self._end(job):
            emit(self.cancelled, job, message)
