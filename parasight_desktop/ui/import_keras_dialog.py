"""Import KerasCV Stable Diffusion files a person already has: one picker per file.

Opened from the Models window (:mod:`.model_manager`), which converts what is chosen.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.catalog import CatalogEntry
from ..engine.sd_convert import ROLES

#: What to call each file a conversion reads, for the import dialog and messages.
ROLE_LABELS = {"text_encoder": "Text encoder", "diffusion_model": "Diffusion model (UNet)",
               "decoder": "Decoder"}


class ImportKerasDialog(QDialog):
    """Three file pickers for KerasCV Stable Diffusion .h5 files a person already has.

    Picking one file fills in the others when the published file names lie beside it.
    """

    def __init__(self, entry: CatalogEntry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self.setWindowTitle(f"Import {entry.display_name} files")
        self.edits: dict[str, QLineEdit] = {}
        intro = QLabel(
            f"Choose the three KerasCV files of {html.escape(entry.display_name)} you already "
            "have. They are converted with the precision and size chosen in the Models "
            "window; the files themselves are only read.")
        intro.setWordWrap(True)
        form = QFormLayout()
        for role in ROLES:
            edit = QLineEdit()
            edit.setObjectName(f"import_{role}")
            edit.setPlaceholderText(self._published_name(role) or ".h5 file")
            edit.textChanged.connect(self._update)
            browse = QPushButton("Browse\u2026")
            browse.setObjectName(f"browse_{role}")
            browse.clicked.connect(functools.partial(self._browse, role))
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(browse)
            form.addRow(f"{ROLE_LABELS[role]}:", row)
            self.edits[role] = edit
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Import and convert")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.resize(620, 0)
        self._update()

    def _published_name(self, role: str) -> str:
        try:
            return self.entry.file(role).filename
        except KeyError:
            return ""

    def sources(self) -> dict[str, Path]:
        return {role: Path(edit.text().strip()) for role, edit in self.edits.items()}

    def set_path(self, role: str, path: Path) -> None:
        """Set one file; fill the empty others from the same folder by their published names."""
        self.edits[role].setText(str(path))
        for other, edit in self.edits.items():
            sibling = Path(path).parent / self._published_name(other)
            if not edit.text().strip() and self._published_name(other) and sibling.is_file():
                edit.setText(str(sibling))

    def _browse(self, role: str) -> None:
        current = self.edits[role].text().strip()
        start = str(Path(current).parent) if current else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, f"Choose the {ROLE_LABELS[role].lower()} file", start,
            "Keras HDF5 weights (*.h5);;All files (*)")
        if path:
            self.set_path(role, Path(path))

    def _update(self) -> None:
        self.ok.setEnabled(all(edit.text().strip() and Path(edit.text().strip()).is_file()
                               for edit in self.edits.values()))
