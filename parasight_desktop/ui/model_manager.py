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
import re
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
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
    download_model,
    format_bytes,
    free_bytes,
    remove_model,
)
from ..engine.errors import InputError, ParaSightError
from ..engine.sd_convert import (
    OPTIONAL_ROLES,
    PRECISION_HELP,
    ROLES,
    ConvertProgress,
    install_name,
)
from ..engine.store import ModelInfo, ModelStore, user_models_dir
from .icon import app_icon
from .import_dialog import ImportModelDialog, ImportRequest
from .import_keras_dialog import ImportKerasDialog
from .message_bar import ERROR, INFO, WARNING, MessageBar
from .model_jobs import ModelJob, ModelJobs
from .signals import emit
from .units import format_duration

PRECISIONS = ("fp32", "fp16", "int8")
#: Sizes offered for a conversion; the engine takes multiples of 128 from 128 to 1024.
SIZES = (
    ((512, 512), "the size Stable Diffusion v1 was trained at"),
    ((384, 384), "faster, less detail"),
    ((640, 640), "slower"),
    ((768, 768), "slower still"),
    ((512, 768), "portrait"),
    ((768, 512), "landscape"),
)
_BAR_STEPS = 1000  # QProgressBar counts in ints: byte counts beyond 2 GB would overflow
#: What a downloaded add-on is for, by its catalogue kind (a model is converted instead).
ADDON_USE = {
    "lora": ("Add it when importing an SD 1.x model, or run 'parasight models import FILE "
             "--lora {name}'."),
    "decoder": ("It is added by itself to models you import from now on; to add it to a "
                "model already installed, run 'parasight models add-taesd MODEL'."),
}


def addon_use(entry: CatalogEntry) -> str:
    """What a downloaded add-on is for, in a sentence ("" for a model)."""
    return ADDON_USE.get(entry.kind, "").format(name=entry.name)


def precision_tradeoffs() -> dict[str, str]:
    """``{"fp32": "exact, largest ...", ...}`` from the command line's help, so the dialog
    and ``parasight models convert --help`` state the same trade-offs."""
    out = {}
    for part in PRECISION_HELP.split(";"):
        name, _, text = part.partition(":")
        out[name.strip()] = text.strip()
    return out


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


class ModelManagerDialog(QDialog):
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

    def _build_catalogue_page(self) -> QWidget:
        page = QWidget()
        self.entry_title = self._wrapping_label("entryTitle")
        self.entry_info = self._wrapping_label("entryInfo")
        self.entry_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.entry_info.setOpenExternalLinks(True)

        # 1. Download: the licence, accepted, then the files.
        download_box = QGroupBox("Download")
        self.licence_view = QTextBrowser()
        self.licence_view.setObjectName("licenceText")
        self.licence_view.setOpenExternalLinks(True)
        self.licence_view.setMinimumHeight(130)
        self.accept_box = QCheckBox()
        self.accept_box.setObjectName("acceptLicence")
        self.accept_box.toggled.connect(self._on_accept_toggled)
        self.optional_box = QCheckBox()
        self.optional_box.setObjectName("includeOptional")
        self.download_button = QPushButton("&Download")
        self.download_button.setObjectName("downloadButton")
        self.download_button.clicked.connect(self.download)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.download_button)
        box = QVBoxLayout(download_box)
        box.addWidget(self.licence_view, 1)
        box.addWidget(self.accept_box)
        box.addWidget(self.optional_box)
        box.addLayout(row)

        # 2. An add-on: what it is for, in place of converting it.
        self.addon_note = self._wrapping_label("addonNote")

        # 3. Convert: precision (with its trade-offs) and size, from downloads or own files.
        self.convert_box = convert_box = QGroupBox("Convert for ParaSight (TensorFlow Lite)")
        self.precision_group = QButtonGroup(self)
        self.precision_buttons: dict[str, QRadioButton] = {}
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        tradeoffs = precision_tradeoffs()
        for i, precision in enumerate(PRECISIONS):
            button = QRadioButton(precision)
            button.setObjectName(f"precision_{precision}")
            self.precision_group.addButton(button, i)
            self.precision_buttons[precision] = button
            tradeoff = QLabel(tradeoffs.get(precision, ""))
            tradeoff.setObjectName(f"tradeoff_{precision}")
            tradeoff.setWordWrap(True)
            tradeoff.setBuddy(button)
            grid.addWidget(button, i, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(tradeoff, i, 1)
        self.precision_group.idToggled.connect(lambda *_: self._updateinstall_name())
        self.size_combo = QComboBox()
        self.size_combo.setObjectName("sizeCombo")
        self.size_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.size_combo.setMinimumContentsLength(16)
        for (w, h), note in SIZES:
            self.size_combo.addItem(f"{w} \u00d7 {h}  ({note})", f"{w}x{h}")
        self.size_combo.currentIndexChanged.connect(lambda *_: self._updateinstall_name())
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Image size:"))
        size_row.addWidget(self.size_combo, 1)
        self.install_name_label = self._wrapping_label("installName")
        self.convert_note = self._wrapping_label("convertNote")
        self.convert_note.setText(
            "Conversion runs on this computer, one part at a time; it can take half an hour "
            "or more and up to about 12 GB of memory. A stopped conversion resumes at the "
            "part where it stopped.")
        self.conversion_blocker_label = self._wrapping_label("conversionBlocker")
        self.conversion_blocker_label.setText(self.conversion_blocker)
        self.conversion_blocker_label.setVisible(bool(self.conversion_blocker))
        self.conversion_blocker_label.setStyleSheet(
            "background: rgba(220, 50, 47, 40); border: 1px solid rgb(220, 50, 47); "
            "border-radius: 3px; padding: 6px;")
        self.convert_button = QPushButton("&Convert downloaded files")
        self.convert_button.setObjectName("convertButton")
        self.convert_button.clicked.connect(self.convert_downloaded)
        self.import_button = QPushButton("&Import KerasCV files\u2026")
        self.import_button.setObjectName("importButton")
        self.import_button.setToolTip("Convert the .h5 files, if you already have them")
        self.import_button.clicked.connect(self.ask_import)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.convert_button)
        cbox = QVBoxLayout(convert_box)
        cbox.addWidget(QLabel("Precision:"))
        cbox.addLayout(grid)
        cbox.addLayout(size_row)
        cbox.addWidget(self.install_name_label)
        cbox.addWidget(self.convert_note)
        cbox.addWidget(self.conversion_blocker_label)
        cbox.addLayout(buttons)

        layout = QVBoxLayout(page)
        layout.addWidget(self.entry_title)
        layout.addWidget(self.entry_info)
        layout.addWidget(download_box, 1)
        layout.addWidget(self.addon_note)
        layout.addWidget(convert_box)
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

    def _download_status(self, entry: CatalogEntry, short: bool = False) -> str:
        folder = downloads_dir(entry.name)
        files = entry.wanted()
        have = sum((folder / f.filename).is_file() for f in files)
        partial = any((folder / (f.filename + ".part")).is_file() for f in files)
        if have == len(files):
            status = "downloaded"
        elif have or partial:
            status = "partly downloaded"
        else:
            status = "not downloaded"
        if short:
            return status
        made = [n for n in self._installed
                if n == entry.name or n.startswith(entry.name + "-")]
        return status + (f", installed as {', '.join(made)}" if made else "")

    def _downloaded_sources(self, entry: CatalogEntry) -> dict[str, Path] | None:
        folder = downloads_dir(entry.name)
        paths = {}
        for role in ROLES:
            try:
                path = folder / entry.file(role).filename
            except KeyError:
                return None
            if not path.is_file():
                return None
            paths[role] = path
        for role in OPTIONAL_ROLES:  # the image encoder, where it was downloaded too
            try:
                path = folder / entry.file(role).filename
            except KeyError:
                continue
            if path.is_file():
                paths[role] = path
        return paths

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

    def _show_entry(self, entry: CatalogEntry) -> None:
        e = html.escape
        folder = downloads_dir(entry.name)
        self.entry_title.setText(f"<h3>{e(entry.display_name)}</h3>")
        self.entry_info.setText(
            f"<p>{e(entry.description)}</p>"
            f"<p><b>Size:</b> {e(entry.size_note)}<br>"
            f"<b>Free space</b> where it goes: {format_bytes(free_bytes(folder))} "
            f"({e(str(folder))})<br><b>Status:</b> {e(self._download_status(entry))}<br>"
            f"<b>Licence:</b> {e(entry.licence_name)} "
            f"(<a href=\"{e(entry.licence_url)}\">full text</a>)</p>")
        text = entry.licence_text
        if text != self._licence_shown:  # laying out the licence again would be wasted work
            self._licence_shown = text
            if entry.licence_file.endswith(".md"):  # headings two levels down: it is a pane
                self.licence_view.setMarkdown(
                    re.sub(r"^(#{1,4}) ", r"\1## ", text, flags=re.MULTILINE))
            else:
                self.licence_view.setPlainText(text)
        self.accept_box.blockSignals(True)
        self.accept_box.setText(f"I have read the {entry.licence_name} licence and accept it")
        self.accept_box.setChecked(entry.name in self._accepted)
        self.accept_box.blockSignals(False)
        optional = [f for f in entry.files if f.optional]
        self.optional_box.setVisible(bool(optional))
        if optional:
            size = sum(f.size or f.approx_size or 0 for f in optional)
            roles = ", ".join(f.role.replace("_", " ") for f in optional)
            self.optional_box.setText(f"Also the {roles} (\u2248{format_bytes(size)}; "
                                      "to start from a sketch or photo)")
        if self.precision_group.checkedButton() is None or self._entry_shown != entry.name:
            self.precision_buttons.get(entry.default_precision,
                                       self.precision_buttons["fp32"]).setChecked(True)
            index = self.size_combo.findData(f"{entry.width}x{entry.height}")
            self.size_combo.setCurrentIndex(max(index, 0))
        self._entry_shown = entry.name
        self.convert_box.setVisible(entry.is_model)  # an add-on is never converted alone
        self.addon_note.setVisible(not entry.is_model)
        self.addon_note.setText(f"<b>How it is used:</b> {e(addon_use(entry))}")
        self._updateinstall_name()

    def precision(self) -> str:
        button = self.precision_group.checkedButton()
        return button.text() if button is not None else "fp32"

    def image_size(self) -> tuple[int, int]:
        w, _, h = str(self.size_combo.currentData() or "512x512").partition("x")
        return int(w), int(h)

    def install_name(self, entry: CatalogEntry) -> str:
        return install_name(entry.name, self.precision(), self.image_size(), None)

    def _updateinstall_name(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        name = self.install_name(entry)
        replaces = " It replaces the model of that name now installed." \
            if (user_models_dir() / name).exists() else ""
        self.install_name_label.setText(
            f"Installs as <b>{html.escape(name)}</b> in "
            f"{html.escape(str(user_models_dir()))}.{replaces}")

    def _on_accept_toggled(self, checked: bool) -> None:
        entry = self.selected_entry()
        if entry is not None:
            (self._accepted.add if checked else self._accepted.discard)(entry.name)
        self._update_buttons()

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

    def download(self) -> ModelJob | None:
        """Download the selected catalogue model on the models thread."""
        entry = self.selected_entry()
        if entry is None or self.jobs.is_busy():
            return None
        if not self.accept_box.isChecked():
            self.messages.show_message(
                f"Read the {entry.licence_name} licence and tick 'I accept' to download "
                f"{entry.display_name}.", WARNING)
            return None
        include = not self.optional_box.isHidden() and self.optional_box.isChecked()
        work = functools.partial(download_model, entry, accept_licence=True,
                                 include_optional=include, mirror=self.mirror)
        files = tuple(f.filename for f in entry.wanted(include))
        return self._start(ModelJob("download", entry.name,
                                    f"downloading {entry.display_name}", work, files))

    def convert_downloaded(self) -> ModelJob | None:
        """Convert the selected catalogue model's downloaded files."""
        entry = self.selected_entry()
        if entry is None or not entry.is_model:
            return None
        sources = self._downloaded_sources(entry)
        if sources is None:
            self.messages.show_message(
                f"{entry.display_name} is not downloaded yet: accept its licence and press "
                "Download first, or import files you already have.", WARNING)
            return None
        return self.convert(entry, sources)

    def ask_import(self) -> ImportKerasDialog | None:
        entry = self.selected_entry()
        if entry is None or not entry.is_model:
            return None
        dialog = ImportKerasDialog(entry, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.convert(entry, dialog.sources()))
        dialog.open()
        return dialog

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

    def convert(self, entry: CatalogEntry, sources: dict[str, Path]) -> ModelJob | None:
        """Convert ``sources`` (KerasCV .h5 files by role) with the chosen precision and size."""
        if self.jobs.is_busy():
            return None
        if self.conversion_blocker:
            self.messages.show_message(self.conversion_blocker, ERROR)
            return None
        precision, (w, h) = self.precision(), self.image_size()
        name = self.install_name(entry)
        out = user_models_dir() / name
        if out.exists() and not self._confirm(
                "Replace model",
                f"A model called '{name}' is installed. Converting replaces it; go on?"):
            return None
        label = f"{entry.display_name} ({precision}"
        label += ")" if (w, h) == (entry.width, entry.height) else f", {w}\u00d7{h})"
        work = functools.partial(
            sd_convert.convert_stable_diffusion, dict(sources), out, name=name,
            display_name=label, precision=precision, height=h, width=w)
        return self._start(ModelJob("convert", name, f"converting {label}", work))

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
