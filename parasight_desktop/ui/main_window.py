"""The main window: describe, generate in the background, look, save, share, look back.

The window is thin: it builds a :class:`GenerationRequest` from the form, hands it to
the :class:`GenerationQueue` (the one engine thread), and passes finished images to the
library (history, PNG metadata, sharing). Failures end in a sentence in the message
bar; the description, the settings and every image made stay where they were.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.errors import InputError, ModelError, ParaSightError
from ..engine.pipeline import Engine
from ..engine.store import ModelInfo, ModelStore, user_data_dir
from ..engine.tokenizer import Tokenizer
from ..engine.types import MAX_GUIDANCE, GenerationRequest, GenerationResult
from ..library.errors import LibraryError
from ..library.history import DeletedEntry, History, HistoryEntry
from . import desktop
from .about import AboutDialog
from .controls import GenerationControls
from .describe import DescribePanel
from .history_panel import HistoryPanel
from .icon import app_icon
from .image_info import ShownImage, settings_html
from .image_view import ImageView
from .message_bar import ERROR, INFO, WARNING, MessageBar
from .refine import RefineController, keep_in_history
from .settings import AppSettings
from .units import format_duration
from .window_files import ImageFilesMixin
from .worker import EngineLike, GenerationQueue, Job

__all__ = ["MainWindow", "ShownImage", "history_path", "settings_html"]
log = logging.getLogger(__name__)

WINDOW_TITLE = "ParaSight"
HISTORY_DB = "history.sqlite3"
#: How long closing the window waits for the engine thread to stop (the rest of the
#: 2-second budget is left for Qt to tear down).
SHUTDOWN_WAIT_MS = 1500
#: Then how long for the Models window's thread, which was cancelled at the same time.
MODELS_WAIT_MS = 250


def history_path(settings: AppSettings, data_dir: Path | None = None) -> Path:
    """history.sqlite3 in a ``history`` folder of the app's data folder (beside ``models``)."""
    base = data_dir or settings.data_dir or user_data_dir()
    return base / "history" / HISTORY_DB


class MainWindow(ImageFilesMixin, QMainWindow):
    """ParaSight's window. Pass ``store``, ``engine`` and ``history`` to share them (what the
    window creates itself it also closes); ``data_dir`` overrides where history is kept
    for this run only."""

    def __init__(
        self,
        settings: AppSettings,
        store: ModelStore | None = None,
        engine: EngineLike | None = None,
        history: History | None = None,
        data_dir: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self._data_dir = data_dir
        self.store = store if store is not None else ModelStore()
        self.engine = engine if engine is not None else Engine(self.store)
        self.history: History | None = history
        self._owns_history = history is None
        self._shown: ShownImage | None = None
        self._follow_job = False
        self._undo: list[DeletedEntry] = []
        self._models: list[ModelInfo] = []
        # Set by closeEvent: False if the engine thread (or any background thread) hung.
        self.engine_stopped = True
        self.threads_stopped = True
        self.closing = False
        self._models_dialog: QDialog | None = None

        self.setWindowTitle(WINDOW_TITLE)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.resize(1280, 800)

        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._build_layout()

        self.queue = GenerationQueue(self.engine, keep=self._keep_in_history, parent=self)
        self.queue.job_started.connect(self._on_job_started)
        self.queue.progress.connect(self._on_progress)
        self.queue.preview.connect(self._on_preview)
        self.queue.finished.connect(self._on_finished)
        self.queue.failed.connect(self._on_failed)
        self.queue.cancelled.connect(self._on_cancelled)
        self.queue.queue_changed.connect(self._on_queue_changed)
        self.queue.busy_changed.connect(self._on_busy_changed)
        self.queue.warmed_up.connect(self._on_warmed_up)
        self.refine.wire()
        self.controls.model_changed.connect(self._warm_up)
        self.warm_model: str | None = None  # the model the engine has ready, if any

        self.reload_models()
        self._restore_state()
        self._open_history()
        self._on_busy_changed(False)
        self._on_queue_changed()
        self._update_image_actions()
        if self.controls.model_name():
            self._warm_up(self.controls.model_name())
        self.describe.prompt.setFocus(Qt.FocusReason.OtherFocusReason)

    # ================================================================ building

    def _build_widgets(self) -> None:
        try:
            tokenizer: Tokenizer | None = Tokenizer()
        except ParaSightError as err:
            tokenizer = None
            log.warning("no token counter: %s", err)
        self.messages = MessageBar()
        self.messages.action_triggered.connect(self._on_message_action)
        self.describe = DescribePanel(tokenizer)
        self.describe.submit.connect(self.generate)
        self.controls = GenerationControls()

        self.generate_button = QPushButton("&Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Make an image from the description (Ctrl+Enter)")
        self.generate_button.setDefault(True)
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the image being made (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setTextVisible(True)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("progressLabel")

        self.queue_label = QLabel()
        self.queue_list = QListWidget()
        self.queue_list.setObjectName("queue")
        self.queue_list.setAccessibleName("Waiting to be made")
        self.queue_list.setMaximumHeight(72)
        self.queue_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.queue_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.clear_queue_button = QPushButton("Clear &queue")
        self.clear_queue_button.setObjectName("clearQueueButton")
        self.clear_queue_button.clicked.connect(self.clear_queue)

        self.view = ImageView()
        self.view.zoom_changed.connect(self._on_zoom_changed)
        self.zoom_label = QLabel()
        self.zoom_label.setMinimumWidth(48)
        self.info = QTextBrowser()
        self.info.setObjectName("imageInfo")
        self.info.setAccessibleName("Settings that made this image")
        self.info.setOpenLinks(False)
        self.info.setMinimumWidth(220)
        self.card_check = QCheckBox("With sighting &card")
        self.card_check.setObjectName("cardCheck")
        self.card_check.setToolTip(
            "Also make one PNG with the description, place and date set beneath the image, "
            "for places that strip metadata."
        )
        self.history_panel = HistoryPanel()
        self.history_panel.selected.connect(self.show_entry)
        self.history_panel.reuse_requested.connect(self.reuse_entry)
        self.history_panel.reveal_requested.connect(self.reveal_entry)
        self.history_panel.delete_requested.connect(self.delete_entry)
        self.undo_button = QPushButton("&Undo delete")
        self.undo_button.setObjectName("undoDeleteButton")
        self.undo_button.clicked.connect(self.undo_delete)
        self.refine = RefineController(self)  # the sighting: start image, variations, lineage

    def _action(self, text: str, slot: Any, shortcuts: list[QKeySequence] | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts(shortcuts)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even with the menu bar hidden
        return action

    def _build_actions(self) -> None:
        K = QKeySequence
        self.generate_action = self._action(
            "&Generate", self.generate, [K("Ctrl+Return"), K("Ctrl+Enter")],
            "Make an image from the description")
        self.cancel_action = self._action(
            "&Cancel", self.cancel, [K(Qt.Key.Key_Escape)], "Stop the image being made")
        self.clear_queue_action = self._action(
            "Clear &queue", self.clear_queue, tip="Drop the images waiting to be made")
        self.save_action = self._action(
            "&Save image\u2026", self.save_image, [K(K.StandardKey.Save)],
            "Save the image as a PNG with its settings")
        self.copy_action = self._action(
            "&Copy image", self.copy_image, [K(K.StandardKey.Copy)],
            "Copy the image to the clipboard")
        self.share_action = self._action(
            "S&hare to folder", self.share, [K("Ctrl+Shift+S")],
            "Put the image and a sighting report in the share folder")
        self.open_share_action = self._action(
            "&Open share folder", self.open_share_folder, tip="Open the share folder")
        self.choose_share_action = self._action(
            "Choose share fol&der\u2026", self.choose_share_folder,
            tip="Choose where shared images go")
        self.load_action = self._action(
            "&Load settings from PNG\u2026", self.ask_load_settings, [K(K.StandardKey.Open)],
            "Read the settings stored in a PNG (also: drop the PNG on the window)")
        self.fit_action = self._action("&Fit to window", self.view.fit, [K("Ctrl+0")])
        self.actual_action = self._action(
            "&Actual size (1:1)", self.view.actual_size, [K("Ctrl+1")])
        self.zoom_in_action = self._action(
            "Zoom &in", lambda: self.view.zoom_by(1.25), [K(K.StandardKey.ZoomIn)])
        self.zoom_out_action = self._action(
            "Zoom &out", lambda: self.view.zoom_by(0.8), [K(K.StandardKey.ZoomOut)])
        self.undo_action = self._action(
            "&Undo delete", self.undo_delete, [K(K.StandardKey.Undo)],
            "Bring back the last image deleted from the history")
        self.models_action = self._action(
            "&Models\u2026", self.show_models, tip="Install, download or remove models")
        self.about_action = self._action("&About ParaSight", self.show_about)
        self.quit_action = self._action("&Quit", self.close, [K(K.StandardKey.Quit)])
        # Text boxes keep Ctrl+C and Ctrl+Z for their own text (they claim those keys first).

    def _build_menus(self) -> None:
        menus: list[tuple[str, list[QAction | None]]] = [
            ("&File", [self.save_action, self.share_action, self.open_share_action,
                       self.choose_share_action, None, self.load_action, self.models_action,
                       None, self.quit_action]),
            ("&Edit", [self.copy_action, self.undo_action]),
            ("&Image", [self.generate_action, self.refine.make4_action, self.cancel_action,
                        self.clear_queue_action, self.refine.refine_action, None,
                        self.fit_action, self.actual_action, self.zoom_in_action,
                        self.zoom_out_action]),
            ("&Help", [self.about_action]),
        ]
        for title, actions in menus:
            menu = self.menuBar().addMenu(title)
            for action in actions:
                if action is None:
                    menu.addSeparator()
                else:
                    menu.addAction(action)

    def _tool_button(self, action: QAction, name: str, text: str | None = None) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setObjectName(name)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        if text:
            action.setIconText(text)  # the short label on the button; menus keep the long one
        return button

    def _build_layout(self) -> None:
        # Left: the form.
        run_row = QHBoxLayout()
        run_row.addWidget(self.generate_button, 1)
        run_row.addWidget(self.refine.make4_button)
        run_row.addWidget(self.cancel_button)
        queue_row = QHBoxLayout()
        queue_row.addWidget(self.queue_label, 1)
        queue_row.addWidget(self.clear_queue_button)
        self.queue_box = QWidget()
        queue_layout = QVBoxLayout(self.queue_box)
        queue_layout.setContentsMargins(0, 0, 0, 0)
        queue_layout.addLayout(queue_row)
        queue_layout.addWidget(self.queue_list)

        form = QWidget()
        form_layout = QVBoxLayout(form)
        form_layout.addWidget(self.describe, 1)
        form_layout.addWidget(self.controls)
        form_layout.addWidget(self.refine.panel)
        scroll = QScrollArea()
        scroll.setWidget(form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumWidth(form.minimumSizeHint().width() + 16)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Generate, its progress and the queue stay in view under the form, which scrolls
        # (with the start image panel the form is taller than a laptop's screen).
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        run_box = QVBoxLayout()
        run_box.setContentsMargins(9, 0, 9, 9)
        run_box.addLayout(run_row)
        run_box.addWidget(self.progress)
        run_box.addWidget(self.progress_label)
        run_box.addWidget(self.queue_box)
        left_layout.addLayout(run_box)

        # Centre: the image, its zoom and what can be done with it.
        zoom_row = QHBoxLayout()
        zoom_row.addWidget(self._tool_button(self.fit_action, "fitButton", "Fit"))
        zoom_row.addWidget(self._tool_button(self.actual_action, "actualSizeButton", "1:1"))
        zoom_row.addWidget(self.zoom_label)
        zoom_row.addWidget(self._tool_button(self.refine.refine_action, "refineButton", "Refine"))
        zoom_row.addStretch(1)
        zoom_row.addWidget(self._tool_button(self.save_action, "saveButton", "Save\u2026"))
        zoom_row.addWidget(self._tool_button(self.copy_action, "copyButton", "Copy"))
        zoom_row.addWidget(self._tool_button(self.share_action, "shareButton", "Share"))
        zoom_row.addWidget(self.card_check)
        zoom_row.addWidget(
            self._tool_button(self.open_share_action, "openShareButton", "Open share folder"))
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.view, 1)
        centre_layout.addWidget(self.refine.strip)
        centre_layout.addLayout(zoom_row)

        about_image = QWidget()
        about_layout = QVBoxLayout(about_image)
        about_layout.setContentsMargins(0, 0, 0, 0)
        about_layout.addWidget(QLabel("About this image"))
        about_layout.addWidget(self.info, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("rightSplitter")
        right.addWidget(about_image)
        right.addWidget(self.history_panel)
        right.setStretchFactor(0, 0)
        right.setStretchFactor(1, 1)
        right.setSizes([380, 320])
        right.setChildrenCollapsible(False)
        self.right_splitter = right

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([360, 620, 300])
        self.splitter.setChildrenCollapsible(False)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.messages)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.statusBar().addPermanentWidget(self.undo_button)
        self.undo_button.hide()

        # Tab walks the form top to bottom, then on to the image and the history.
        d, c, p = self.describe, self.controls, self.refine.panel
        chain: list[QWidget] = [d.prompt, d.negative, d.where, d.when, c.model, c.seed, c.dice,
                                c.lock, c.steps, c.guidance, c.sampler, c.reset, c.fast_decode,
                                *p.tab_chain(), self.generate_button, self.refine.make4_button,
                                self.cancel_button,
                                self.clear_queue_button, self.view]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    # ================================================================ state

    def reload_models(self) -> None:
        """List the installed models; a store that cannot be read is an error, not a crash.

        The chosen model stays chosen (with its settings) if it is still installed; a new
        choice gets its model's defaults and is loaded ahead of time.
        """
        before = self.controls.model_name()
        try:
            self._models = self.store.list_models()
        except (ParaSightError, OSError) as err:
            self._models = []
            self.show_error(str(err))
        current = before or self.settings.model
        if not any(m.name == current for m in self._models) and self._models:
            try:
                current = self.store.default_model()
            except ParaSightError:
                current = self._models[0].name
        self.controls.set_models(self._models, current)
        self.refine.update_model()
        after = self.controls.model_name()
        if after != before:
            self.controls.apply_model_defaults()
            if before and after:
                self._warm_up(after)
        if not self._models:
            self.show_error(self._no_model_message())
        elif self.messages.kind == ERROR and not before:
            self.messages.clear()  # "no model installed" is no longer true

    def _no_model_message(self) -> str:
        try:
            self.store.default_model()
        except ParaSightError as err:
            return str(err)
        return "No model could be read: reinstall ParaSight or the model, then restart it."

    def _restore_state(self) -> None:
        s = self.settings
        self.describe.set_values(
            s.prompt, s.negative_prompt, {"where": s.sighting_where, "when": s.sighting_when})
        if s.seed_locked or s.seed:
            self.controls.set_seed(s.seed, s.seed_locked)
        if s.model and s.model == self.controls.model_name():
            if s.steps > 0:
                self.controls.steps.setValue(s.steps)
            if 0.0 <= s.guidance <= MAX_GUIDANCE:
                self.controls.guidance.setValue(s.guidance)
            if s.sampler:
                self.controls.set_sampler(s.sampler)
            if s.fast_decode is not None:
                self.controls.set_fast_decode(s.fast_decode)
        self.card_check.setChecked(s.share_card)
        self.refine.restore_state(s)
        if not s.window_geometry.isEmpty():
            self.restoreGeometry(s.window_geometry)
        if not s.splitter_state.isEmpty():
            self.splitter.restoreState(s.splitter_state)

    def save_state(self) -> None:
        """Remember the form and the window, so a restart picks up where this left off."""
        s = self.settings
        s.prompt = self.describe.prompt_text()
        s.negative_prompt = self.describe.negative_text()
        sighting = self.describe.sighting() or {}
        s.sighting_where = sighting.get("where", "")
        s.sighting_when = sighting.get("when", "")
        s.model = self.controls.model_name()
        s.seed = self.controls.seed_value() or 0
        s.seed_locked = self.controls.lock.isChecked()
        s.steps = self.controls.steps.value()
        s.guidance = self.controls.guidance.value()
        s.sampler = self.controls.sampler_id()
        s.fast_decode = self.controls.fast_decode_value()
        s.share_card = self.card_check.isChecked()
        self.refine.save_state(s)
        s.window_geometry = QByteArray(self.saveGeometry())
        s.splitter_state = QByteArray(self.splitter.saveState())
        s.sync()

    def _open_history(self) -> None:
        if self.history is None:
            path = history_path(self.settings, self._data_dir)
            try:
                self.history = History.open_or_recover(path)
            except (LibraryError, OSError) as err:
                self.show_error(
                    f"{err} Images you make now are shown but not kept in the history; "
                    "save or share them to keep them.")
                return
            if self.history.recovered_from is not None:
                self.show_message(
                    f"The history file was damaged; it was kept as "
                    f"{self.history.recovered_from.name} and a new one started with "
                    f"{self.history.recovered_entries} image(s) brought back.", WARNING)
        self.refresh_history()

    def refresh_history(self, select_id: int | None = None) -> None:
        if self.history is None:
            self.history_panel.set_entries([])
            return
        try:
            entries = self.history.list()
        except (LibraryError, OSError) as err:
            self.show_error(str(err))
            return
        self.history_panel.set_entries(entries, select_id)

    # ================================================================ messages

    def show_error(self, text: str) -> None:
        log.info("error shown: %s", text)
        self.messages.show_message(text, ERROR)

    def show_message(self, text: str, kind: str = INFO,
                     action: tuple[str, str] | None = None) -> None:
        self.messages.show_message(text, kind, action)

    def _on_message_action(self, action_id: str) -> None:
        if action_id == "open-share":
            self.open_share_folder()
        elif action_id == "choose-share":
            self.choose_share_folder()

    def _status(self, text: str, ms: int = 8000) -> None:
        self.statusBar().showMessage(text, ms)

    # ================================================================ generate

    def build_request(self) -> GenerationRequest:
        """The request the form and the start image describe; :class:`InputError` or
        :class:`ModelError` if it can't."""
        self.refine.request(0)  # checked first, so a refused request does not use a seed
        self.check_model()
        return self.refine.request(self.controls.seed_for_next_image())

    def check_model(self) -> None:
        if not self.controls.model_name():
            raise ModelError(self._no_model_message())

    def generate(self) -> Job | None:
        """Make an image from the form now, or queue it behind the one being made."""
        if self.closing:
            return None
        try:
            request = self.build_request()
        except ParaSightError as err:
            self.show_error(str(err))
            if isinstance(err, InputError):
                self.describe.prompt.setFocus(Qt.FocusReason.OtherFocusReason)
            return None
        if self.messages.kind == ERROR:
            self.messages.clear()
        job = self.refine.submit(request)
        if self.queue.current is not job:
            self._status(f"Queued: {len(self.queue.pending)} waiting.")
        # The form is saved when the window closes, not here: writing the settings file
        # takes the GUI thread tens of milliseconds just as a generation starts.
        return job

    def cancel(self) -> None:
        if self.queue.cancel_current():
            self.progress_label.setText("Cancelling\u2026")

    def clear_queue(self) -> None:
        n = self.queue.clear_queue()
        if n:
            self._status(f"Cleared {n} waiting image(s) from the queue.")

    def _warm_up(self, model: str) -> None:
        self.warm_model = None
        self.statusBar().showMessage(f"Loading the model {model}\u2026")
        self.queue.warm_up(model)

    def _on_warmed_up(self, model: str, error: str) -> None:
        if model == self.controls.model_name():
            self.statusBar().showMessage("Ready." if not error else "", 3000)
        if error:
            self.warm_model = None
            if model == self.controls.model_name():
                self.show_error(error)
        else:
            self.warm_model = model

    def _on_job_started(self, job: Job) -> None:
        self._follow_job = True
        self.progress.setRange(0, 0)  # busy until the first step says how many
        self.progress_label.setText("Preparing the model\u2026")

    def _on_progress(self, job: Job, step: int, total: int, seconds_left: float) -> None:
        if job is not self.queue.current:
            return
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress.setFormat(f"Step {step} of {total}")
        if seconds_left < 0:
            self.progress_label.setText(f"Step {step} of {total}")
        else:
            self.progress_label.setText(
                f"Step {step} of {total} \u00b7 about {format_duration(seconds_left)} left")

    def _on_preview(self, job: Job, image: QImage) -> None:
        if job is not self.queue.current or not self._follow_job:
            return
        info = self._model_info(job.request.model)
        width, height = (info.width, info.height) if info else (image.width(), image.height())
        self.view.set_preview(image, width, height)
        self._shown = None
        self._update_image_actions()

    def _keep_in_history(self, job: Job, result: GenerationResult) -> HistoryEntry | None:
        """Runs in the engine thread: write the image into the history (History is
        thread-safe: one SQLite connection per thread). Touches no widget."""
        history = self.history
        return keep_in_history(history, job, result) if history is not None else None

    def _on_finished(self, job: Job, result: GenerationResult, image: QImage) -> None:
        entry: HistoryEntry | None = job.kept
        if job.keep_error is not None:
            self.show_error(
                f"{job.keep_error} The image is shown but not in the history: save it "
                "(Ctrl+S) or share it so it is not lost.")
        elif self.history is None:
            self._status("The history is not available: save or share this image to keep it.")
        shown = ShownImage(
            image=image, settings=result.settings, sighting=job.sighting, entry=entry,
            timings=dict(result.timings), tokens_dropped=result.tokens_dropped,
            created_at=entry.created_at if entry else result.created_at)
        if entry is not None:
            self.history_panel.prepend(entry)
        self.refine.on_finished(job, image, entry)
        if self._follow_job or self._shown is None:
            self._display(shown)
        total = result.timings.get("total")
        self._status(f"Made in {format_duration(total)}." if total else "Made.")

    def _on_failed(self, job: Job, message: str) -> None:
        self.show_error(message)
        self._restore_view()

    def _on_cancelled(self, job: Job) -> None:
        self._status("Cancelled; nothing was kept.")
        self._restore_view()

    def _restore_view(self) -> None:
        """After a failed or cancelled job, show again what was shown before its preview."""
        if self._shown is None and self._follow_job:
            entry = self.history_panel.current_entry()
            if entry is not None:
                self.show_entry(entry)
            else:
                self.view.clear()
        self._follow_job = False

    def _on_busy_changed(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.cancel_action.setEnabled(busy)
        self.progress.setVisible(busy)
        self.progress_label.setVisible(busy)
        if not busy:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress_label.setText("")

    def _on_queue_changed(self) -> None:
        pending = self.queue.pending
        self.queue_list.clear()
        for i, job in enumerate(pending, 1):
            prompt = " ".join(job.request.prompt.split())
            if len(prompt) > 60:
                prompt = prompt[:60] + "\u2026"
            self.queue_list.addItem(f"{i}. {prompt} (seed {job.request.seed})")
        self.queue_label.setText(f"Waiting: {len(pending)}")
        self.queue_box.setVisible(bool(pending))
        self.clear_queue_action.setEnabled(bool(pending))

    def _model_info(self, name: str | None) -> ModelInfo | None:
        for info in self._models:
            if info.name == name:
                return info
        return self.controls.model_info()

    # ================================================================ look

    def _display(self, shown: ShownImage) -> None:
        self._shown = shown
        file = shown.entry.image_path if shown.entry is not None else None
        self.view.set_image(shown.image, file)
        self.info.setHtml(settings_html(shown))
        self.refine.show_lineage(shown.entry)
        self._update_image_actions()

    def shown(self) -> ShownImage | None:
        return self._shown

    def show_entry(self, entry: HistoryEntry) -> None:
        """Show a history image (and stop following the job being made, if any)."""
        image = QImage(str(entry.image_path))
        if image.isNull():
            self.show_error(
                f"The image file {entry.image_path} is missing or unreadable; its settings are "
                "still in the history (Reuse settings makes it again).")
            return
        self._follow_job = False
        self._display(ShownImage(
            image=image, settings=entry.settings, sighting=entry.sighting, entry=entry,
            timings=dict(entry.timings), created_at=entry.created_at))

    def _update_image_actions(self) -> None:
        has = self._shown is not None
        for action in (self.save_action, self.copy_action, self.share_action,
                       self.refine.refine_action):
            action.setEnabled(has)
        if not has:
            self.info.setHtml("" if self.view.has_pixmap() else
                              "<p>The settings that made an image appear here.</p>")

    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    # ================================================================ save, copy, share

    # ================================================================ history

    def reuse_entry(self, entry: HistoryEntry) -> None:
        """Its description and settings, and its start image, mask and strength where kept."""
        notes = self.refine.restore(entry)
        self.apply_settings(entry.settings, entry.sighting, f"image #{entry.id}", notes)

    def reveal_entry(self, entry: HistoryEntry) -> None:
        if not entry.image_path.exists():
            self.show_error(f"{entry.image_path} is no longer there.")
        elif not desktop.reveal_file(entry.image_path):
            self.show_error(f"Could not open the file manager; the file is {entry.image_path}.")

    def delete_entry(self, entry: HistoryEntry) -> None:
        if self.history is None:
            return
        try:
            deleted = self.history.delete(entry.id)
        except (LibraryError, OSError) as err:
            self.show_error(str(err))
            return
        self._undo.append(deleted)
        if self._shown is not None and self._shown.entry is not None \
                and self._shown.entry.id == entry.id:
            self._shown = None
            self.view.clear()
            self._update_image_actions()
        self.refresh_history()
        self.undo_button.show()
        self._status("Image deleted from the history. Undo brings it back (Ctrl+Z).", 15000)

    def undo_delete(self) -> None:
        if not self._undo or self.history is None:
            return
        deleted = self._undo.pop()
        try:
            entry = self.history.restore(deleted)
        except (LibraryError, OSError) as err:
            self._undo.append(deleted)
            self.show_error(str(err))
            return
        self.undo_button.setVisible(bool(self._undo))
        self.refresh_history(select_id=entry.id)
        self.show_entry(entry)
        self._status("Image restored.")

    # ================================================================ about, close

    def show_models(self) -> QDialog | None:
        """The Models dialog (install, download, remove); the list here follows its changes."""
        if self._models_dialog is None:
            try:
                from .model_manager import ModelManagerDialog
            except ImportError as err:
                self.show_error(f"The Models window is not available ({err}).")
                return None
            dialog = ModelManagerDialog(self.store, self)
            dialog.models_changed.connect(self.reload_models)
            self._models_dialog = dialog
        self._models_dialog.show()
        self._models_dialog.raise_()
        self._models_dialog.activateWindow()
        return self._models_dialog

    def show_about(self) -> AboutDialog:
        dialog = AboutDialog(self._models, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel what is running, stop the background threads, keep the form for next time.

        Closing the window ends the app, so a model download or conversion running in the
        Models window is cancelled too (a download resumes from its part file next time).
        """
        if not self.closing:
            self.closing = True
            try:
                self.save_state()
            except Exception:  # never let a settings problem keep the window open
                log.exception("could not save settings")
            models_jobs = getattr(self._models_dialog, "jobs", None)
            if models_jobs is not None:
                models_jobs.cancel()  # both threads wind down at once
            self.engine_stopped = self.queue.shutdown(SHUTDOWN_WAIT_MS)
            if not self.engine_stopped:
                log.warning("the engine thread did not stop in %d ms", SHUTDOWN_WAIT_MS)
            models_stopped = models_jobs is None or models_jobs.shutdown(MODELS_WAIT_MS)
            self.threads_stopped = self.engine_stopped and models_stopped
            if self._owns_history and self.history is not None and self.engine_stopped:
                self.history.close()
        event.accept()
