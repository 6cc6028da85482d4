"""The history gallery: a strip of thumbnails, newest first, and what can be done with one."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QSize, Qt, QUrl, Signal, SignalInstance
from PySide6.QtGui import QAction, QIcon, QImageReader, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..library.history import HistoryEntry
from .signals import emit

THUMB = 80
ENTRY_ROLE = Qt.ItemDataRole.UserRole


class _ThumbList(QListWidget):
    """Thumbnails that drag out as their PNG files."""

    def mimeData(self, items: Sequence[QListWidgetItem]) -> QMimeData:
        mime = QMimeData()
        urls = []
        for item in items:
            entry = item.data(ENTRY_ROLE)
            if isinstance(entry, HistoryEntry):
                urls.append(QUrl.fromLocalFile(str(entry.image_path)))
        mime.setUrls(urls)
        return mime


class HistoryPanel(QWidget):
    """Lists history entries; emits what the person asked for, does none of it itself."""

    selected = Signal(object)  # HistoryEntry
    reuse_requested = Signal(object)
    reveal_requested = Signal(object)
    delete_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = _ThumbList()
        self.list.setObjectName("history")
        self.list.setAccessibleName("History")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(True)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 12, THUMB + 12))
        self.list.setMovement(QListView.Movement.Static)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setDragEnabled(True)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.list.setMinimumHeight(THUMB + 20)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemActivated.connect(lambda item: self._emit(self.reuse_requested, item))
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self.reuse_action = QAction("Reuse", self)
        self.reuse_action.setToolTip("Put this image's description and settings back in the form")
        self.reuse_action.triggered.connect(lambda: self._emit_current(self.reuse_requested))
        self.reveal_action = QAction("Show file", self)
        self.reveal_action.setToolTip("Show this image's file in the file manager")
        self.reveal_action.triggered.connect(lambda: self._emit_current(self.reveal_requested))
        self.delete_action = QAction("Delete", self)
        self.delete_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.delete_action.triggered.connect(lambda: self._emit_current(self.delete_requested))
        for action in (self.reuse_action, self.reveal_action, self.delete_action):
            self.list.addAction(action)

        self.title = QLabel("History")
        self.title.setObjectName("historyTitle")
        buttons = QHBoxLayout()
        for action, name in (
            (self.reuse_action, "reuseButton"),
            (self.reveal_action, "revealButton"),
            (self.delete_action, "deleteButton"),
        ):
            button = QPushButton(action.text())
            button.setObjectName(name)
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._update_actions()

    # -- content ---------------------------------------------------------------------

    def set_entries(self, entries: list[HistoryEntry], select_id: int | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for entry in entries:
            self.list.addItem(self._item(entry))
        self.list.blockSignals(False)
        self.title.setText(f"History ({len(entries)})" if entries else "History (empty)")
        if select_id is not None:
            self.select(select_id, emit=False)
        self._update_actions()

    def prepend(self, entry: HistoryEntry) -> None:
        """Add a new entry at the front and make it current without re-showing it."""
        self.list.blockSignals(True)
        self.list.insertItem(0, self._item(entry))
        self.list.setCurrentRow(0)
        self.list.blockSignals(False)
        self.title.setText(f"History ({self.list.count()})")
        self._update_actions()

    def entries(self) -> list[HistoryEntry]:
        return [self.list.item(i).data(ENTRY_ROLE) for i in range(self.list.count())]

    def current_entry(self) -> HistoryEntry | None:
        item = self.list.currentItem()
        if item is None:
            return None
        entry: HistoryEntry = item.data(ENTRY_ROLE)
        return entry

    def select(self, entry_id: int, emit: bool = True) -> bool:
        for i in range(self.list.count()):
            if self.list.item(i).data(ENTRY_ROLE).id == entry_id:
                if not emit:
                    self.list.blockSignals(True)
                self.list.setCurrentRow(i)
                self.list.blockSignals(False)
                self._update_actions()
                return True
        return False

    # -- internals -------------------------------------------------------------------

    def _item(self, entry: HistoryEntry) -> QListWidgetItem:
        item = QListWidgetItem()
        item.setIcon(_thumbnail(entry))
        item.setData(ENTRY_ROLE, entry)
        prompt = entry.settings.prompt
        short = prompt if len(prompt) <= 200 else prompt[:200] + "\u2026"
        item.setToolTip(f"{short}\nSeed {entry.settings.seed} \u00b7 {entry.created_at[:16]}")
        item.setData(Qt.ItemDataRole.AccessibleTextRole, short)
        return item

    def _on_current(self, current: QListWidgetItem | None, _previous: object) -> None:
        self._update_actions()
        if current is not None:
            emit(self.selected, current.data(ENTRY_ROLE))

    def _emit(self, signal: SignalInstance, item: QListWidgetItem | None) -> None:
        if item is not None:
            emit(signal, item.data(ENTRY_ROLE))

    def _emit_current(self, signal: SignalInstance) -> None:
        self._emit(signal, self.list.currentItem())

    def _update_actions(self) -> None:
        has = self.list.currentItem() is not None
        for action in (self.reuse_action, self.reveal_action, self.delete_action):
            action.setEnabled(has)
        for button in self.findChildren(QPushButton):
            button.setEnabled(has)


def _thumbnail(entry: HistoryEntry) -> QIcon:
    """The entry's thumbnail file, read at list size (the full image if the thumbnail is gone)."""
    for path in (entry.thumb_path, entry.image_path):
        reader = QImageReader(str(path))
        size = reader.size()
        if size.isValid():
            reader.setScaledSize(size.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if not image.isNull():
            return QIcon(QPixmap.fromImage(image))
    return QIcon()
