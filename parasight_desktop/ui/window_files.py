"""The main window's files: save, copy and share the image shown, and put back the
description and settings of an image (a PNG opened or dropped on the window).

A mixin of :class:`~parasight_desktop.ui.main_window.MainWindow`, kept apart so the window
module stays a size one can read; it uses the window's widgets and message bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QStandardPaths, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QCheckBox, QFileDialog

from ..engine.types import MAX_GUIDANCE, GenerationSettings
from ..library.errors import LibraryError
from ..library.files import ensure_folder
from ..library.metadata import read_png_metadata, write_png
from ..library.share import default_share_folder, share_to_folder, slugify
from . import desktop
from .image_info import ShownImage, png_extra
from .message_bar import ERROR, INFO, WARNING, MessageBar
from .start_image_panel import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from .controls import GenerationControls
    from .describe import DescribePanel
    from .refine import RefineController
    from .settings import AppSettings


class ImageFilesMixin:
    """Saving, copying, sharing; settings from a PNG; drops. Needs the window's
    ``settings``, ``messages``, ``card_check``, ``describe``, ``controls``, ``refine``,
    ``_shown``, ``_status``, ``show_error`` and ``show_message``."""

    settings: AppSettings
    messages: MessageBar
    card_check: QCheckBox
    describe: DescribePanel
    controls: GenerationControls
    refine: RefineController
    _shown: ShownImage | None

    if TYPE_CHECKING:  # the window's own
        def _status(self, text: str, ms: int = 8000) -> None: ...

        def show_error(self, text: str) -> None: ...

        def show_message(self, text: str, kind: str = INFO,
                         action: tuple[str, str] | None = None) -> None: ...

    # ================================================================ save, copy, share

    def proposed_file_name(self, settings: GenerationSettings) -> str:
        return f"{slugify(settings.prompt)}-{settings.seed}.png"

    def ask_save_path(self, proposed: Path) -> Path | None:
        """Ask where to save (a file dialog); tests replace this method."""
        dialog = QFileDialog(self, "Save image", str(proposed.parent), "PNG images (*.png)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("png")
        dialog.selectFile(proposed.name)
        if dialog.exec() != QFileDialog.DialogCode.Accepted or not dialog.selectedFiles():
            return None
        return Path(dialog.selectedFiles()[0])

    def save_image(self) -> Path | None:
        shown = self._shown
        if shown is None:
            self._status("Make or choose an image first.")
            return None
        folder = self.settings.last_save_folder or Path(
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
            or Path.home())
        path = self.ask_save_path(folder / self.proposed_file_name(shown.settings))
        if path is None:
            return None
        overwrite = True  # the file dialog has asked already
        if path.suffix.lower() != ".png":
            path, overwrite = path.with_name(path.name + ".png"), False
        try:
            write_png(path, shown.pixels(), shown.settings, sighting=shown.sighting,
                      extra=png_extra(shown), overwrite=overwrite)
        except (LibraryError, OSError, ValueError) as err:
            self.show_error(str(err))
            return None
        self.settings.last_save_folder = path.parent
        self._status(f"Saved {path}.")
        return path

    def copy_image(self) -> None:
        if self._shown is None:
            return
        QGuiApplication.clipboard().setImage(self._shown.image)
        self._status("Image copied.")

    def share_folder(self) -> Path:
        return self.settings.share_folder or default_share_folder()

    def share(self) -> Any:
        """Write the image, a sighting report and (if asked) a card into the share folder."""
        shown = self._shown
        if shown is None:
            self._status("Make or choose an image first.")
            return None
        folder = self.share_folder()
        try:
            files = share_to_folder(folder, shown.pixels(), shown.settings, shown.sighting,
                                    card=self.card_check.isChecked())
        except (LibraryError, OSError) as err:
            kept = ("The image is still in your history." if shown.entry is not None
                    else "The image is still shown; save it with Ctrl+S.")
            self.show_message(f"{err} {kept}", ERROR, ("choose-share", "Choose share folder\u2026"))
            return None
        names = ", ".join(p.name for p in (files.image, files.card, files.report) if p)
        self.show_message(f"Shared to {folder}: {names}.", INFO,
                          ("open-share", "Open share folder"))
        return files

    def open_share_folder(self) -> None:
        folder = self.share_folder()
        try:
            ensure_folder(folder)
        except LibraryError as err:
            self.show_message(str(err), ERROR, ("choose-share", "Choose share folder\u2026"))
            return
        if not desktop.open_folder(folder):
            self.show_error(f"Could not open {folder} in the file manager; open it yourself.")

    def ask_share_folder(self) -> Path | None:
        """Ask for a folder (a dialog); tests replace this method."""
        chosen = QFileDialog.getExistingDirectory(self, "Share images to", str(self.share_folder()))
        return Path(chosen) if chosen else None

    def choose_share_folder(self) -> None:
        folder = self.ask_share_folder()
        if folder is not None:
            self.settings.share_folder = folder
            self._status(f"Images will be shared to {folder}.")
            if self.messages.kind == ERROR:
                self.messages.clear()

    # ================================================================ settings from images

    def apply_settings(self, settings: GenerationSettings, sighting: dict[str, Any] | None,
                       source: str, notes: list[str] | None = None) -> list[str]:
        """Put an image's description and settings into the form; return what could not be
        (after ``notes``, what could not be restored already)."""
        notes = list(notes or [])
        self.describe.set_values(settings.prompt, settings.negative_prompt, sighting or {})
        if settings.model_name and not self.controls.select_model(settings.model_name):
            notes.append(f"its model '{settings.model_name}' is not installed, so "
                         f"{self.controls.model.currentText()} is kept")
        self.controls.set_seed(settings.seed, lock=True)
        self.controls.steps.setValue(settings.steps)
        if 0.0 <= settings.guidance <= MAX_GUIDANCE:
            self.controls.guidance.setValue(settings.guidance)
        if not self.controls.set_sampler(settings.sampler):
            notes.append(f"its sampler '{settings.sampler}' is not available here, so "
                         f"{self.controls.sampler.currentText()} is kept")
        if not self.controls.set_fast_decode(bool(settings.decoder)):
            notes.append(f"it was decoded with {settings.decoder}, which "
                         f"{self.controls.model.currentText()} does not have, so it is "
                         "decoded in full")
        text = f"Loaded the description and settings of {source}"
        text += (": " + "; ".join(notes) + ".") if notes else "."
        self._status(text, 15000)
        if notes:
            self.show_message(text, WARNING)
        return notes

    def load_settings_from_png(self, path: Path) -> bool:
        try:
            meta = read_png_metadata(path)
        except (LibraryError, OSError) as err:
            self.show_error(str(err))
            return False
        if meta.settings is None:
            self.show_error(
                f"{path.name} holds no image settings (no 'parameters' or 'parasight' text in "
                "the PNG), so there is nothing to load. Drop a PNG made by ParaSight or by "
                "another Stable Diffusion tool.")
            return False
        notes = self.refine.restore_png(meta)  # start image, mask, parent where kept
        self.apply_settings(meta.settings, meta.sighting, path.name, notes)
        return True

    def ask_load_settings(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Load settings from a PNG", "",
                                              "PNG images (*.png)")
        if name:
            self.load_settings_from_png(Path(name))

    @staticmethod
    def _image_urls(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls()
                if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES]

    def open_dropped(self, path: Path) -> bool:
        """A PNG with settings puts them back; any other picture becomes the start image."""
        if path.suffix.lower() == ".png":
            try:
                if read_png_metadata(path).settings is not None:
                    return self.load_settings_from_png(path)
            except (LibraryError, OSError):
                pass  # not readable as a PNG with settings: try it as a picture
        return self.refine.panel.load(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.source() is None and self._image_urls(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = self._image_urls(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        # Let the drag source get its answer before any error is shown.
        QTimer.singleShot(0, lambda: self.open_dropped(paths[0]))
