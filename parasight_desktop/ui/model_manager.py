"""The Models dialog: what is installed, what can be downloaded, and making a model of it.

It lists the installed models (the embedded one and the person's own) and the
catalogue's downloadable ones, models and add-ons (a LoRA, TAESD); shows an entry's
licence and needs it accepted before downloading; downloads, converts and imports a
person's own checkpoint (chosen, or dropped on the dialog: see :mod:`.import_dialog`) on a
background thread of its own
(none touches a loaded model, so none waits behind a generation in the engine thread);
and removes a person's model after asking. The engine does the work
(``engine.download``, ``engine.sd_convert``, ``engine.sd_import``); this module only
starts it, shows its progress and says how it ended.

The jobs run one at a time on their own thread (:mod:`.model_jobs`). Closing the dialog
does not stop a job: it goes on, and the dialog comes back when it ends.
``models_changed`` tells the main window to reload its list of models.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..engine import catalog, sd_convert, sd_import
from ..engine.catalog import CatalogEntry, downloads_dir
from ..engine.download import (
    DownloadProgress,
    format_bytes,
    remove_model,
)
from ..engine.errors import InputError, ParaSightError
from ..engine.sd_convert import (
    ConvertProgress,
)
from ..engine.store import ModelInfo, ModelStore, user_models_dir
from .catalogue_page import CataloguePageMixin, addon_use, precision_tradeoffs
from .icon import app_icon
from .import_dialog import ImportModelDialog, ImportRequest
from .message_bar import ERROR, INFO, WARNING, MessageBar
from .model_jobs import ModelJob, ModelJobs
from .signals import emit
from .units import format_duration

_BAR_STEPS = 1000  # QProgressBar counts in ints: byte counts beyond 2 GB would overflow


def folder_size(path: Path) -> int:
    try:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return 0


#: What an import's own jobs (before the converter's) are called on screen.
IMPORT_JOB_LABELS = {"hash": "Reading the checkpoint's files (sha256)",
                     "weights": "Mapping the weights onto KerasCV's layers"}


def part_label(job: str) -> str:
    """``unet-2`` -> ``UNet part 3``; ``text_encoder`` -> ``text encoder``; an import's
    ``hash`` and ``weights`` -> what they do."""
    if job.startswith("unet-"):
        return f"UNet part {int(job.split('-')[1]) + 1}"
    return IMPORT_JOB_LABELS.get(job, job.replace("_", " "))


def dropped_model(paths: list[Path]) -> Path | None:
    """The first ``.safetensors`` file or folder among dropped paths, or None."""
    for path in paths:
        if path.is_dir() or path.suffix.lower() == ".safetensors":
            return path
    return None


# ====================================================================== the dialog

_INSTALLED = "installed"
_CATALOGUE = "catalogue"
_KEY = Qt.ItemDataRole.UserRole


class ModelManagerDialog(CataloguePageMixin, QDialog):
    """Lists, downloads, converts and removes models. Emits ``models_changed`` after a
    model is installed or removed."""

    models_changed = Signal()

    def __init__(self, store: ModelStore | None = None, parent: QWidget | None = None, *,
                 mirror: str | None = None) -> None:
        super().__init__(parent)
        self.store = store if store is not None else ModelStore()
        self.mirror = mirror  # None: $PARASIGHT_MODEL_MIRROR or the published URLs
        self.setWindowTitle("Models")
        self.setWindowIcon(app_icon())
        self.setObjectName("modelManager")
        self._installed: dict[str, ModelInfo] = {}
        self._accepted: set[str] = set()  # licences accepted while this dialog lives
        self._entry_shown = ""  # the catalogue entry whose options are on show
        self._licence_shown = ""
        try:
            sd_convert.check_conversion_possible()
            self.conversion_blocker = ""
        except InputError as err:
            self.conversion_blocker = str(err)

        self.jobs = ModelJobs(self)
        self.jobs.started.connect(self._on_started)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.finished.connect(self._on_finished)
        self.jobs.failed.connect(self._on_failed)
        self.jobs.cancelled.connect(self._on_cancelled)

        self._build()
        self.refresh()
        self.resize(1080, 760)

    # ================================================================ building

    def _build(self) -> None:
        self.messages = MessageBar()
        self.tree = QTreeWidget()
        self.tree.setObjectName("modelList")
        self.tree.setHeaderLabels(["Model", "Size", "Licence", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAccessibleName("Models")
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(lambda *_: self._show_selected())

        self.pages = QStackedWidget()
        self.empty_page = QLabel("Choose a model on the left.")
        self.empty_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(self.empty_page)
        self.pages.addWidget(self._build_installed_page())
        self.pages.addWidget(self._scrolled(self._build_catalogue_page()))

        splitter = QSplitter()
        splitter.addWidget(self.tree)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([560, 520])
        splitter.setChildrenCollapsible(False)

        self.progress_box = self._build_progress()
        self.import_file_button = QPushButton("Import a &model file\u2026")
        self.import_file_button.setObjectName("importModelFile")
        self.import_file_button.setToolTip(
            "Convert a Stable Diffusion 1.x or 2.x checkpoint (.safetensors) you have, "
            "with its VAE and LoRAs; or drop the file on this window")
        self.import_file_button.clicked.connect(lambda: self.ask_import_model(pick="file"))
        self.import_folder_button = QPushButton("Import a di&ffusers folder\u2026")
        self.import_folder_button.setObjectName("importModelFolder")
        self.import_folder_button.setToolTip(
            "Convert a Stable Diffusion 1.x or 2.x model saved as a diffusers folder")
        self.import_folder_button.clicked.connect(lambda: self.ask_import_model(pick="folder"))
        for button in (self.remove_button, self.download_button, self.convert_button,
                       self.import_button, self.cancel_button, self.import_file_button,
                       self.import_folder_button):
            button.setAutoDefault(False)  # Enter must not download, convert or remove
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.import_file_button)
        bottom.addWidget(self.import_folder_button)
        bottom.addStretch(1)
        bottom.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.messages)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.progress_box)
        layout.addLayout(bottom)
        self.setAcceptDrops(True)  # a .safetensors dropped here opens the import dialog

    @staticmethod
    def _scrolled(widget: QWidget) -> QScrollArea:
        area = QScrollArea()
        area.setWidget(widget)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # wrap instead
        return area

    @staticmethod
    def _wrapping_label(object_name: str = "") -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if object_name:
            label.setObjectName(object_name)
        return label

    def _build_installed_page(self) -> QWidget:
        page = QWidget()
        self.installed_title = self._wrapping_label("installedTitle")
        self.installed_info = self._wrapping_label("installedInfo")
        self.installed_licence = QTextBrowser()
        self.installed_licence.setObjectName("installedLicence")
        self.remove_button = QPushButton("&Remove\u2026")
        self.remove_button.setObjectName("removeButton")
        self.remove_button.setToolTip("Delete this model's folder (downloads are kept)")
        self.remove_button.clicked.connect(self.remove_selected)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.remove_button)
        layout = QVBoxLayout(page)
        layout.addWidget(self.installed_title)
        layout.addWidget(self.installed_info)
        layout.addWidget(QLabel("Licence:"))
        layout.addWidget(self.installed_licence, 1)
        layout.addLayout(row)
        return page

    def _build_progress(self) -> QGroupBox:
        group = QGroupBox()
        group.setObjectName("progressBox")
        self.progress_title = QLabel()
        self.progress_title.setObjectName("progressTitle")
        self.progress_detail = QLabel()
        self.progress_detail.setObjectName("progressDetail")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.clicked.connect(self.cancel)
        self.parts_log = QListWidget()
        self.parts_log.setObjectName("partsLog")
        self.parts_log.setMaximumHeight(110)
        hint = QLabel("You can close this window: the work goes on, and the window comes "
                      "back when it ends.")
        hint.setWordWrap(True)
        hint.setEnabled(False)  # greyed: a note, not a control
        row = QHBoxLayout()
        row.addWidget(self.progress_bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(group)
        layout.addWidget(self.progress_title)
        layout.addLayout(row)
        layout.addWidget(self.progress_detail)
        layout.addWidget(self.parts_log)
        layout.addWidget(hint)
        group.hide()
        return group

    # ================================================================ state

    def refresh(self) -> None:
        """Read the installed models and the downloads again; keep the selection."""
        key = self._selected_key()
        try:
            infos = self.store.list_models()
        except (ParaSightError, OSError) as err:
            infos = []
            self.messages.show_message(str(err), ERROR)
        self._installed = {i.name: i for i in infos}
        self.tree.blockSignals(True)
        self.tree.clear()
        installed = QTreeWidgetItem(self.tree, ["Installed"])
        for info in infos:
            kind = "embedded" if info.builtin else "installed"
            item = QTreeWidgetItem(installed, [
                info.display_name, format_bytes(folder_size(info.path)), info.licence_name,
                kind])
            item.setData(0, _KEY, (_INSTALLED, info.name))
            item.setToolTip(0, f"{info.name}: {info.path}")
        if not infos:
            QTreeWidgetItem(installed, ["No model is installed."]).setDisabled(True)
        available = QTreeWidgetItem(self.tree, ["Available to download"])
        for entry in catalog.all_entries():
            approx = entry.approx_bytes()
            item = QTreeWidgetItem(available, [
                entry.display_name, f"\u2248{format_bytes(approx)}" if approx else "?",
                entry.licence_name, self._download_status(entry, short=True)])
            item.setData(0, _KEY, (_CATALOGUE, entry.name))
            item.setToolTip(0, entry.description)
        for group in (installed, available):
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading, not a choice
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            group.setFirstColumnSpanned(True)
        self.tree.expandAll()
        self.tree.blockSignals(False)
        if not self.select(key) and not self.select((_INSTALLED, "")):
            self._show_selected()

    def select(self, key: tuple[str, str] | None) -> bool:
        """Select the model with ``key`` ((kind, name); name "" is the first of kind)."""
        if key is None:
            return False
        for item in self._items():
            found = item.data(0, _KEY)
            if found and found[0] == key[0] and (found[1] == key[1] or not key[1]):
                if item is self.tree.currentItem():
                    self._show_selected()  # no currentItemChanged to do it
                else:
                    self.tree.setCurrentItem(item)
                return True
        return False

    def _items(self) -> list[QTreeWidgetItem]:
        """Every model row, under both headings."""
        items = []
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            if group is not None:
                items += [c for j in range(group.childCount())
                          if (c := group.child(j)) is not None]
        return items

    def _selected_key(self) -> tuple[str, str] | None:
        item = self.tree.currentItem()
        data = item.data(0, _KEY) if item is not None else None
        return (str(data[0]), str(data[1])) if data else None

    def selected_entry(self) -> CatalogEntry | None:
        key = self._selected_key()
        if key is None or key[0] != _CATALOGUE:
            return None
        return catalog.CATALOG.get(key[1]) or catalog.ADDONS.get(key[1])

    def selected_model(self) -> ModelInfo | None:
        key = self._selected_key()
        if key is None or key[0] != _INSTALLED:
            return None
        return self._installed.get(key[1])

    # ================================================================ the details pane

    def _show_selected(self) -> None:
        entry, info = self.selected_entry(), self.selected_model()
        if info is not None:
            self._show_installed(info)
            self.pages.setCurrentIndex(1)
        elif entry is not None:
            self._show_entry(entry)
            self.pages.setCurrentIndex(2)
        else:
            self.pages.setCurrentIndex(0)
        self._update_buttons()

    def _show_installed(self, info: ModelInfo) -> None:
        e = html.escape
        self.installed_title.setText(f"<h3>{e(info.display_name)}</h3>")
        where = ("Embedded in ParaSight; it cannot be removed." if info.builtin
                 else f"Installed in {e(str(info.path))}")
        self.installed_info.setText(
            f"<p>{e(info.description)}</p>"
            f"<p><b>Name:</b> {e(info.name)}<br><b>Image size:</b> {info.width} \u00d7 "
            f"{info.height}<br><b>On disk:</b> {format_bytes(folder_size(info.path))}<br>"
            f"<b>Licence:</b> {e(info.licence_name)}<br>{where}</p>"
            + (f"<p><b>Precision:</b> {e(info.precision)}</p>" if info.precision else "")
            + f"<p><b>How it runs on this computer:</b> {e(info.runs_on)}</p>")
        self.installed_licence.setPlainText(info.licence_text or info.licence_name)

    def _update_buttons(self) -> None:
        busy = self.jobs.is_busy()
        entry, info = self.selected_entry(), self.selected_model()
        self.remove_button.setEnabled(not busy and info is not None and not info.builtin)
        can_convert = (not busy and not self.conversion_blocker and entry is not None
                       and entry.is_model)
        self.download_button.setEnabled(not busy and entry is not None
                                        and self.accept_box.isChecked())
        self.convert_button.setEnabled(can_convert and entry is not None
                                       and self._downloaded_sources(entry) is not None)
        self.import_button.setEnabled(can_convert)
        self.import_file_button.setEnabled(not busy)
        self.import_folder_button.setEnabled(not busy)
        if entry is not None and not self.accept_box.isChecked():
            self.download_button.setToolTip("Read the licence and accept it first")
        else:
            self.download_button.setToolTip("Download its files (a stopped download resumes "
                                            "where it stopped)")

    # ================================================================ commands

    def ask_import_model(self, path: Path | None = None, *,
                         pick: str = "") -> ImportModelDialog | None:
        """Open the import dialog on ``path``; ``pick`` "file" or "folder" asks for it first."""
        if self.jobs.is_busy():
            self.messages.show_message("Wait for the running job to end (or cancel it) "
                                       "before importing a model.", WARNING)
            return None
        if path is None and pick == "file":
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Import a model file", str(Path.home()),
                "Safetensors checkpoints (*.safetensors);;All files (*)")
            path = Path(chosen) if chosen else None
        elif path is None and pick == "folder":
            chosen = QFileDialog.getExistingDirectory(self, "Import a diffusers folder",
                                                      str(Path.home()))
            path = Path(chosen) if chosen else None
        if path is None and pick:
            return None
        dialog = ImportModelDialog(precision_tradeoffs(), path, blocker=self.conversion_blocker,
                                   parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._import_chosen(dialog))
        dialog.open()
        return dialog

    def _import_chosen(self, dialog: ImportModelDialog) -> None:
        request = dialog.request()
        if request is not None:
            self.import_model(request)

    def import_model(self, request: ImportRequest) -> ModelJob | None:
        """Import a person's checkpoint (with its VAE and LoRAs) on the models thread."""
        if self.jobs.is_busy():
            return None
        if self.conversion_blocker:
            self.messages.show_message(self.conversion_blocker, ERROR)
            return None
        name = request.name
        out = user_models_dir() / name
        if out.exists() and not self._confirm(
                "Replace model",
                f"A model called '{name}' is installed. Importing replaces it; go on?"):
            return None
        work = functools.partial(
            sd_import.import_checkpoint, request.source, out, name=name,
            display_name=request.display_name, precision=request.precision, vae=request.vae,
            loras=request.loras, prediction=request.prediction, few_step=request.few_step,
            taesd=request.taesd)
        return self._start(ModelJob("import", name, f"importing {request.display_name}", work))

    def remove_selected(self) -> bool:
        """Remove the selected (non-embedded) model, after asking."""
        info = self.selected_model()
        if info is None or info.builtin or self.jobs.is_busy():
            return False
        size = format_bytes(folder_size(info.path))
        if not self._confirm(
                "Remove model",
                f"Remove {info.display_name} ({info.name})? This deletes {info.path} "
                f"({size}). Downloaded files, if any, are kept."):
            return False
        try:
            removed = remove_model(info.name)
        except ParaSightError as err:
            self.messages.show_message(str(err), ERROR)
            return False
        freed = format_bytes(sum(n for _, n in removed))
        self.messages.show_message(f"Removed {info.display_name} ({freed} freed).", INFO)
        self.refresh()
        emit(self.models_changed)
        return True

    def cancel(self) -> None:
        """Stop the running download, conversion or import; what is finished is kept."""
        if self.jobs.cancel():
            self.cancel_button.setEnabled(False)
            self.progress_title.setText(self.progress_title.text() + " \u2014 stopping\u2026")

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Cancel any job and stop the models thread (the app does this when it quits)."""
        return self.jobs.shutdown(timeout_ms)

    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _start(self, job: ModelJob) -> ModelJob:
        self.messages.clear()
        return self.jobs.start(job)

    # ================================================================ job reports

    def _on_started(self, job: ModelJob) -> None:
        self.parts_log.clear()
        self.parts_log.setVisible(job.kind != "download")
        self._part_seconds: list[float] = []  # the converter's parts done in this job
        self.progress_title.setText(job.what[0].upper() + job.what[1:])
        self.progress_detail.setText("Starting\u2026")
        self.progress_bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.progress_box.show()
        self._update_buttons()

    def _on_progress(self, job: ModelJob, report: object) -> None:
        if isinstance(report, DownloadProgress):
            self._show_download(job, report)
        elif isinstance(report, ConvertProgress):
            self._show_conversion(report)

    def _show_download(self, job: ModelJob, p: DownloadProgress) -> None:
        names = job.files
        where = f" (file {names.index(p.file) + 1} of {len(names)})" if p.file in names else ""
        total = format_bytes(p.total_bytes) if p.total_bytes is not None else "?"
        text = f"{p.file}{where}: {format_bytes(p.done_bytes)} of {total}"
        if p.verifying:
            text += " \u2014 checking its sha256\u2026"
            self.progress_bar.setRange(0, 0)
        else:
            if p.speed_bps > 0:
                text += f" \u00b7 {format_bytes(p.speed_bps)}/s"
            if p.eta_s is not None:
                text += f" \u00b7 {format_duration(p.eta_s)} left"
            if p.total_bytes:
                self.progress_bar.setRange(0, _BAR_STEPS)
                self.progress_bar.setValue(round(_BAR_STEPS * p.done_bytes / p.total_bytes))
            else:
                self.progress_bar.setRange(0, 0)
        self.progress_detail.setText(text)

    def _show_conversion(self, p: ConvertProgress) -> None:
        total = str(p.total) if p.total is not None else "?"
        line = f"Part {p.index} of {total}: {part_label(p.job)} \u2014 {p.status}"
        r = p.result
        if r is not None and p.status == "done":
            psnr = f", {r.psnr_db:.1f} dB against Keras" if r.psnr_db is not None else ""
            line += (f" ({r.params / 1e6:.0f}M parameters, {format_duration(r.seconds)}, "
                     f"peak {r.peak_rss_bytes / 2**30:.1f} GiB{psnr})")
        self.parts_log.addItem(line)
        self.parts_log.scrollToBottom()
        self.progress_detail.setText(line + self._time_left(p))
        if p.total is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, p.total)
            self.progress_bar.setValue(p.index - 1 if p.status == "converting" else p.index)

    def _time_left(self, p: ConvertProgress) -> str:
        """`` · about 12 min left``: the parts to go at the mean time of those converted in
        this job (an import's hash and weights jobs are unlike the parts: not counted)."""
        r = p.result
        if r is not None and p.status == "done" and p.job not in IMPORT_JOB_LABELS:
            self._part_seconds.append(r.seconds)
        if p.total is None or not self._part_seconds:
            return ""
        to_go = p.total - p.index + (1 if p.status == "converting" else 0)
        if to_go <= 0:
            return ""
        mean = sum(self._part_seconds) / len(self._part_seconds)
        return f" \u00b7 about {format_duration(mean * to_go)} left"

    def _ended(self) -> None:
        self.progress_box.hide()
        self.refresh()
        self._update_buttons()
        if not self.isVisible():  # closed while it ran: come back to say how it ended
            self.show()
            self.raise_()

    def _on_finished(self, job: ModelJob, result: object) -> None:
        if job.kind == "download":
            entry = catalog.CATALOG.get(job.name) or catalog.ADDONS.get(job.name)
            shown = entry.display_name if entry is not None else job.name
            text = (f"{shown} is downloaded to {downloads_dir(job.name)}. Next, choose a "
                    "precision and size and press Convert.")
            if entry is not None and not entry.is_model:
                text = f"{shown} is downloaded to {downloads_dir(job.name)}. {addon_use(entry)}"
            elif self.conversion_blocker:
                text = f"{shown} is downloaded to {downloads_dir(job.name)}. " \
                       + self.conversion_blocker
            self.messages.show_message(text, INFO)
            self._ended()
            return
        self.messages.show_message(
            f"Installed '{job.name}' in {result}. Choose it in the main window's model list "
            "to make images with it.", INFO)
        self._ended()
        self.select((_INSTALLED, job.name))
        emit(self.models_changed)

    def _on_failed(self, job: ModelJob, message: str) -> None:
        self.messages.show_message(message, ERROR)
        self._ended()

    def _on_cancelled(self, job: ModelJob, message: str) -> None:
        self.messages.show_message(message, WARNING)
        self._ended()

    # ================================================================ Qt events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if dropped_model(paths) is not None and not self.jobs.is_busy():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        path = dropped_model(paths)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.ask_import_model(path)

    def showEvent(self, event: QShowEvent) -> None:
        if not self.jobs.is_busy():
            self.refresh()  # files may have changed while it was closed (the command line)
        super().showEvent(event)
