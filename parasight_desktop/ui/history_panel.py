"""The history gallery: a strip of thumbnails, newest first, and what can be done with one;
under it the chosen image's lineage (the chain of images it was refined from)."""

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
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..library.history import HistoryEntry
from .signals import emit

THUMB = 80
LINEAGE_THUMB = 40
LINEAGE_SHOWN = 5  # the last images of a longer chain
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
    #: an image of the lineage was clicked (or "Go to parent"): its entry id
    entry_requested = Signal(int)

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

        self.lineage = LineageView()
        self.lineage.entry_requested.connect(lambda entry_id: emit(self.entry_requested,
                                                                   entry_id))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.lineage)
        self._update_actions()

    def set_lineage(self, chain: list[HistoryEntry],
                    children: Sequence[HistoryEntry] = ()) -> None:
        """Show the chosen image's chain, root first (the image itself last), and the
        images refined from it."""
        self.lineage.set_chain(chain, children)

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
        started = f"\nStarted from #{entry.parent_id}" if entry.parent_id is not None else ""
        item.setToolTip(f"#{entry.id}: {short}\nSeed {entry.settings.seed} \u00b7 "
                        f"{entry.created_at[:16]}{started}")
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


class LineageView(QWidget):
    """"Started from #12", and the chain as small thumbnails to walk back along."""

    entry_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lineage")
        self.setAccessibleName("Lineage")
        self.chain: list[HistoryEntry] = []
        self.label = QLabel()
        self.label.setObjectName("lineageText")
        self.label.setWordWrap(True)
        self.parent_button = QPushButton("Go to parent")
        self.parent_button.setObjectName("goToParent")
        self.parent_button.setToolTip("Show the image this one was refined from")
        self.parent_button.clicked.connect(self._go_to_parent)
        self.children_label = QLabel()
        self.children_label.setObjectName("lineageChildren")
        self.children_label.setWordWrap(True)
        self.children_label.setTextFormat(Qt.TextFormat.RichText)
        self.children_label.linkActivated.connect(
            lambda href: emit(self.entry_requested, int(href.removeprefix("entry:"))))
        self.row = QHBoxLayout()
        self.row.setSpacing(2)
        top = QHBoxLayout()
        top.addWidget(self.label, 1)
        top.addWidget(self.parent_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addLayout(self.row)
        layout.addWidget(self.children_label)
        self.hide()

    def parent_id(self) -> int | None:
        return self.chain[-2].id if len(self.chain) > 1 else None

    def set_chain(self, chain: list[HistoryEntry],
                  children: Sequence[HistoryEntry] = ()) -> None:
        self.chain = list(chain)
        while self.row.count():
            item = self.row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        parent = self.parent_id()
        links = ", ".join(f"<a href='entry:{c.id}'>#{c.id}</a>" for c in children)
        self.children_label.setText(f"Refined into {links}" if links else "")
        self.children_label.setVisible(bool(links))
        self.label.setVisible(parent is not None)
        self.parent_button.setVisible(parent is not None)
        if parent is None:
            self.setVisible(bool(links))
            return
        shown = self.chain[-LINEAGE_SHOWN:]
        if len(self.chain) > len(shown):
            self.row.addWidget(QLabel(f"\u2026{len(self.chain) - len(shown)} more"))
        for i, entry in enumerate(shown):
            if i:
                arrow = QLabel("\u2192")
                self.row.addWidget(arrow)
            button = QToolButton()
            button.setIcon(_thumbnail(entry))
            button.setIconSize(QSize(LINEAGE_THUMB, LINEAGE_THUMB))
            button.setText(f"#{entry.id}")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setAutoRaise(True)
            button.setToolTip(f"#{entry.id}: {entry.settings.prompt[:120]}")
            current = entry is self.chain[-1]
            button.setCheckable(current)  # the image shown: marked, not a link
            button.setChecked(current)
            if not current:
                button.clicked.connect(
                    lambda _=False, i=entry.id: emit(self.entry_requested, i))
            else:
                button.clicked.connect(lambda _=False, b=button: b.setChecked(True))
            self.row.addWidget(button)
        self.row.addStretch(1)
        text = f"Started from #{parent}"
        if len(self.chain) > 2:
            text += f" \u00b7 a chain of {len(self.chain)} images from #{self.chain[0].id}"
        self.label.setText(text)
        self.show()

    def _go_to_parent(self) -> None:
        parent = self.parent_id()
        if parent is not None:
            emit(self.entry_requested, parent)


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
