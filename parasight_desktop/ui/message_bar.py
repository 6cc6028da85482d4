"""A message strip across the top of the window: what went wrong and what to do.

Used instead of modal boxes, so an error never blocks the window nor hides what the
person was doing: the description and the last image stay where they were.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from .signals import emit

ERROR = "error"
WARNING = "warning"
INFO = "info"

_TINTS = {ERROR: QColor(220, 50, 47), WARNING: QColor(230, 160, 0), INFO: QColor(38, 139, 210)}


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() * (1 - t) + b.red() * t),
        round(a.green() * (1 - t) + b.green() * t),
        round(a.blue() * (1 - t) + b.blue() * t),
    )


class MessageBar(QFrame):
    """One message at a time, with an optional action button and a close button."""

    action_triggered = Signal(str)  # the action's id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self._kind = INFO
        self._restyling = False
        self._action_id = ""
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setObjectName("messageText")
        self.action = QPushButton()
        self.action.hide()
        self.action.clicked.connect(lambda: emit(self.action_triggered, self._action_id))
        close = QToolButton()
        close.setText("\u2715")
        close.setToolTip("Dismiss this message")
        close.setAccessibleName("Dismiss message")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action)
        layout.addWidget(close)
        self.hide()

    @property
    def kind(self) -> str:
        return self._kind

    def text(self) -> str:
        """The message showing, or "" when none is."""
        return "" if self.isHidden() else self.label.text()

    def show_message(
        self, text: str, kind: str = ERROR, action: tuple[str, str] | None = None
    ) -> None:
        """Show ``text``; ``action`` is (id, button label) for a follow-up the person may take."""
        self._kind = kind
        self.label.setText(text)
        if action is None:
            self._action_id = ""
            self.action.hide()
        else:
            self._action_id, label = action
            self.action.setText(label)
            self.action.show()
        self._apply_palette()
        self.show()

    def clear(self) -> None:
        self.hide()

    def changeEvent(self, event: QEvent) -> None:
        if (
            event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
            and not self._restyling
        ):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        """A tint of the message's colour over the window's own, so light and dark both read."""
        app_palette = QApplication.palette()
        base = app_palette.color(QPalette.ColorRole.Window)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, _mix(base, _TINTS[self._kind], 0.22))
        text = app_palette.color(QPalette.ColorRole.WindowText)
        palette.setColor(QPalette.ColorRole.WindowText, text)
        self._restyling = True
        try:
            self.setPalette(palette)
        finally:
            self._restyling = False
