"""The about box: version, what ParaSight is, and every licence it ships (models included)."""

from __future__ import annotations

import html

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..engine.store import ModelInfo, resources_dir
from .icon import app_icon


def clip_licence_text() -> str:
    path = resources_dir() / "clip" / "LICENSE"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return f"(The licence file {path} is missing; the CLIP vocabulary is MIT-licensed.)"


def licences_html(models: list[ModelInfo]) -> str:
    """Every licence as HTML: ParaSight's, the CLIP vocabulary's, Qt's, each model's."""
    parts = [
        "<h3>ParaSight Desktop</h3><p>MIT License.</p>",
        "<h3>CLIP tokenizer vocabulary (OpenAI)</h3>",
        "<p>MIT License. From <i>resources/clip/</i>:</p>",
        f"<pre style='white-space: pre-wrap'>{html.escape(clip_licence_text())}</pre>",
        f"<h3>Qt for Python (PySide6 {html.escape(pyside_version)})</h3>",
        "<p>GNU LGPL version 3. See https://www.qt.io/licensing/.</p>",
    ]
    for info in models:
        parts.append(f"<h3>Model: {html.escape(info.display_name)} ({html.escape(info.name)})</h3>")
        parts.append(f"<p>Licence: {html.escape(info.licence_name)}")
        if info.source:
            parts.append(f"<br>Source: {html.escape(info.source)}")
        parts.append("</p>")
        if info.licence_text and info.licence_text != info.licence_name:
            parts.append(f"<pre style='white-space: pre-wrap'>{html.escape(info.licence_text)}</pre>")
    if not models:
        parts.append("<p>No model is installed.</p>")
    return "\n".join(parts)


class AboutDialog(QDialog):
    def __init__(self, models: list[ModelInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About ParaSight")
        self.setWindowIcon(app_icon())
        header = self.header = QLabel()
        header.setObjectName("aboutHeader")
        header.setTextFormat(Qt.TextFormat.RichText)
        header.setWordWrap(True)
        header.setText(
            f"<h2>ParaSight Desktop {html.escape(__version__)}</h2>"
            "<p>Describe something you saw; ParaSight draws an image of it, on this "
            "computer, with a Stable Diffusion model run by TensorFlow Lite.</p>"
            "<p><b>Every image it makes is an AI reconstruction of a description, not a "
            "photograph</b>, and its files say so.</p>"
        )
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(96, 96))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.licences = QTextBrowser()
        self.licences.setObjectName("licences")
        self.licences.setOpenExternalLinks(True)
        self.licences.setHtml(licences_html(models))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        top = QWidget()
        row = QHBoxLayout(top)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(icon)
        row.addWidget(header, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(top)
        layout.addWidget(QLabel("Licences:"))
        layout.addWidget(self.licences, 1)
        layout.addWidget(buttons)
        self.resize(620, 560)

