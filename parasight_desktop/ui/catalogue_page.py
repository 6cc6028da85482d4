"""The Models dialog's catalogue page: a downloadable entry's licence, accepted before
its files download, and converting them (precision and image size) for ParaSight.

A mixin of :class:`~parasight_desktop.ui.model_manager.ModelManagerDialog`, kept apart so
that module stays a size one can read; it uses the dialog's selection, jobs and message
bar. The engine does the work (``engine.download``, ``engine.sd_convert``).
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..engine import sd_convert
from ..engine.catalog import CatalogEntry, downloads_dir
from ..engine.download import download_model, format_bytes, free_bytes
from ..engine.sd_convert import OPTIONAL_ROLES, PRECISION_HELP, ROLES, install_name
from ..engine.store import ModelInfo, user_models_dir
from .import_keras_dialog import ImportKerasDialog
from .message_bar import ERROR, WARNING, MessageBar
from .model_jobs import ModelJob, ModelJobs

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


class CataloguePageMixin:
    """The catalogue page's widgets and commands. Needs the dialog's ``jobs``,
    ``messages``, ``mirror``, ``conversion_blocker``, ``_installed``, ``_accepted``,
    ``_licence_shown``, ``_entry_shown``, ``selected_entry``, ``_update_buttons``,
    ``_wrapping_label``, ``_confirm`` and ``_start``."""

    jobs: ModelJobs
    messages: MessageBar
    mirror: str | None
    conversion_blocker: str
    _installed: dict[str, ModelInfo]
    _accepted: set[str]
    _licence_shown: str
    _entry_shown: str

    if TYPE_CHECKING:  # the dialog's own
        def selected_entry(self) -> CatalogEntry | None: ...

        def _update_buttons(self) -> None: ...

        @staticmethod
        def _wrapping_label(object_name: str = "") -> QLabel: ...

        def _confirm(self, title: str, text: str) -> bool: ...

        def _start(self, job: ModelJob) -> ModelJob: ...

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
