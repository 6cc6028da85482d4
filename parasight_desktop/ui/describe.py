"""The describe panel: what was seen, what to leave out, and where and when it was seen."""

from __future__ import annotations

import html
import random
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from ..engine.errors import ParaSightError
from ..engine.tokenizer import MAX_PROMPT_TOKENS, Tokenizer
from .signals import emit

EXAMPLES = (
    "a glowing green orb hovering over a pine forest at night, mist, grainy photo",
    "a tall thin shadowy figure with red eyes standing on a country road at dusk",
    "three silent triangular lights in formation over a lake, long exposure",
    "a pale translucent woman in a white dress on a staircase of an old manor",
    "a large hairy ape-like creature crossing a logging road, blurry trail camera",
    "a silver disc reflecting sunlight above wheat fields, 1970s snapshot",
)


class PromptEdit(QPlainTextEdit):
    """A plain-text box that sends Ctrl+Enter up instead of starting a new line."""

    submit = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            emit(self.submit)
            return
        super().keyPressEvent(event)


class DescribePanel(QWidget):
    """Description (with a token counter), negative description and sighting details."""

    submit = Signal()

    def __init__(self, tokenizer: Tokenizer | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tokenizer = tokenizer
        first, second = random.sample(EXAMPLES, 2)

        self.prompt = PromptEdit()
        self.prompt.setObjectName("description")
        self.prompt.setAccessibleName("Description of what you saw")
        self.prompt.setPlaceholderText(
            f"Describe what you saw, as if telling a friend. For example:\n\n"
            f"\u2022 {first}\n\u2022 {second}\n\nCtrl+Enter makes the image."
        )
        self.prompt.setTabChangesFocus(True)
        self.prompt.submit.connect(self.submit)
        self.prompt.setMinimumHeight(96)

        self.tokens = QLabel()
        self.tokens.setObjectName("tokenCounter")
        self.tokens.setWordWrap(True)
        self.tokens.setTextFormat(Qt.TextFormat.RichText)

        self.negative = PromptEdit()
        self.negative.setObjectName("negative")
        self.negative.setAccessibleName("What the image should not show")
        self.negative.setPlaceholderText("Leave out (optional): e.g. text, watermark, cartoon")
        self.negative.setTabChangesFocus(True)
        self.negative.submit.connect(self.submit)
        self.negative.setFixedHeight(self.negative.fontMetrics().lineSpacing() * 2 + 14)

        self.where = QLineEdit()
        self.where.setObjectName("sightingWhere")
        self.where.setPlaceholderText("e.g. Loch Ness, north shore")
        self.when = QLineEdit()
        self.when.setObjectName("sightingWhen")
        self.when.setPlaceholderText("e.g. 31 Oct 2025, about 11 pm")
        sighting = QGroupBox("Sighting details (not sent to the model)")
        sighting.setToolTip(
            "Kept with the image and shown on sighting cards; never sent to the model."
        )
        form = QFormLayout(sighting)
        form.addRow("&Where:", self.where)
        form.addRow("W&hen:", self.when)

        describe_label = QLabel("&Describe what you saw")
        describe_label.setBuddy(self.prompt)
        negative_label = QLabel("&Leave out")
        negative_label.setBuddy(self.negative)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(describe_label)
        layout.addWidget(self.prompt, 1)
        layout.addWidget(self.tokens)
        layout.addWidget(negative_label)
        layout.addWidget(self.negative)
        layout.addWidget(sighting)

        # Count tokens a moment after typing stops, not on every key.
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(120)
        self._count_timer.timeout.connect(self.update_token_count)
        self.prompt.textChanged.connect(self._count_timer.start)
        self.over_limit = False
        self.dropped_text = ""
        self.update_token_count()

    # -- values ----------------------------------------------------------------------

    def prompt_text(self) -> str:
        return self.prompt.toPlainText()

    def negative_text(self) -> str:
        return self.negative.toPlainText()

    def sighting(self) -> dict[str, Any] | None:
        """What the person noted about the sighting; ``None`` if nothing."""
        details = {
            key: edit.text().strip()
            for key, edit in (("where", self.where), ("when", self.when))
            if edit.text().strip()
        }
        return details or None

    def set_values(
        self,
        prompt: str | None = None,
        negative: str | None = None,
        sighting: dict[str, Any] | None = None,
    ) -> None:
        if prompt is not None:
            self.prompt.setPlainText(prompt)
        if negative is not None:
            self.negative.setPlainText(negative)
        if sighting is not None:
            self.where.setText(str(sighting.get("where") or sighting.get("place") or ""))
            self.when.setText(str(sighting.get("when") or sighting.get("date") or ""))
        self.update_token_count()

    # -- token counter -------------------------------------------------------------

    def update_token_count(self) -> None:
        """Show how many of the model's 75 prompt tokens the description uses, and what is cut."""
        self._count_timer.stop()
        text = self.prompt.toPlainText()
        if self._tokenizer is None:
            self.tokens.setText("")
            return
        try:
            tokens = self._tokenizer.encode(text)
        except ParaSightError as err:
            self.tokens.setText(html.escape(str(err)))
            return
        self.over_limit = tokens.dropped > 0
        self.dropped_text = tokens.dropped_text
        used = tokens.n_tokens + tokens.dropped
        if not self.over_limit:
            self.tokens.setText(f"{used} of {MAX_PROMPT_TOKENS} tokens")
            self.tokens.setToolTip("The model reads the first 75 tokens of a description.")
            return
        colour = self.palette().color(QPalette.ColorRole.Link).name()
        warn = "#d9822b" if self.palette().color(QPalette.ColorRole.Window).lightness() < 128 \
            else "#b3261e"
        cut = html.escape(tokens.dropped_text)
        if len(cut) > 160:
            cut = cut[:160] + "\u2026"
        self.tokens.setText(
            f"<span style='color:{warn}'><b>{used} of {MAX_PROMPT_TOKENS} tokens: too long.</b> "
            f"The model will not read the last {tokens.dropped}:</span> "
            f"<span style='color:{colour}'><s>{cut}</s></span>"
        )
        self.tokens.setToolTip("Shorten the description, or put the important words first.")
