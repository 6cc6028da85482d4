"""Variations: "Make 4" shown together, each image as it finishes.

A set is four jobs in the one engine queue (four seeds of the same settings). Each tile
follows its own job: waiting, its step and preview while it runs, the finished image.
Each can be cancelled on its own (the running one within a step, a waiting one is taken
out of the queue). Clicking a finished image picks it: it becomes the current image,
the one refined next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .signals import emit

TILE = 112

WAITING = "waiting"
RUNNING = "running"
DONE = "done"
CANCELLED = "cancelled"
FAILED = "failed"


@dataclass
class _Tile:
    job: Any
    seed: int
    button: QToolButton
    cancel: QToolButton
    caption: QLabel
    state: str = WAITING
    entry: Any = None


class VariationStrip(QWidget):
    """The current set of variations, in a row of tiles."""

    #: a finished tile was clicked: its history entry (or None if it is not kept) and QImage
    picked = Signal(object, QImage)
    #: a tile's cancel button: its job
    cancel_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("variations")
        self.setAccessibleName("Variations")
        self.set_id: int | None = None
        self._tiles: list[_Tile] = []
        self.title = QLabel()
        self.title.setObjectName("variationsTitle")
        self.grid = QGridLayout()
        self.grid.setSpacing(6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(self.grid)
        self.hide()

    # -- the set ---------------------------------------------------------------------------

    def start_set(self, set_id: int, jobs: list[Any], prompt: str = "") -> None:
        """Show a new set: one waiting tile per job (``job.request.seed``)."""
        self.clear()
        self.set_id = set_id
        for i, job in enumerate(jobs):
            self._tiles.append(self._make_tile(job, i))
        short = prompt if len(prompt) <= 48 else prompt[:48] + "\u2026"
        self.title.setText(f"Variations: {len(jobs)} seeds of \u201c{short}\u201d" if short
                           else f"Variations: {len(jobs)} seeds")
        self.show()

    def clear(self) -> None:
        for tile in self._tiles:
            for w in (tile.button, tile.cancel, tile.caption):
                w.deleteLater()
        self._tiles.clear()
        self.set_id = None
        self.hide()

    def _make_tile(self, job: Any, index: int) -> _Tile:
        button = QToolButton()
        button.setObjectName(f"variation{index}")
        button.setIconSize(QSize(TILE, TILE))
        button.setFixedSize(TILE + 8, TILE + 8)
        button.setAutoRaise(True)
        button.setCheckable(True)
        seed = job.request.seed
        button.setToolTip(f"Seed {seed}")
        button.setAccessibleName(f"Variation with seed {seed}")
        cancel = QToolButton()
        cancel.setObjectName(f"cancelVariation{index}")
        cancel.setText("\u00d7")
        cancel.setToolTip("Stop making this one")
        cancel.setAccessibleName(f"Stop making the variation with seed {seed}")
        caption = QLabel()
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        tile = _Tile(job, seed, button, cancel, caption)
        button.clicked.connect(lambda _=False, t=tile: self._on_click(t))
        cancel.clicked.connect(lambda _=False, t=tile: emit(self.cancel_requested, t.job))
        row = QHBoxLayout()
        row.addWidget(caption, 1)
        row.addWidget(cancel)
        col = index % 4
        self.grid.addWidget(button, (index // 4) * 2, col)
        self.grid.addLayout(row, (index // 4) * 2 + 1, col)
        self._set_state(tile, WAITING, "waiting")
        return tile

    # -- following the jobs ------------------------------------------------------------------

    def tile_of(self, job: Any) -> _Tile | None:
        for tile in self._tiles:
            if tile.job is job:
                return tile
        return None

    def states(self) -> list[str]:
        return [t.state for t in self._tiles]

    def tiles(self) -> list[_Tile]:
        return list(self._tiles)

    def job_started(self, job: Any) -> None:
        tile = self.tile_of(job)
        if tile is not None:
            self._set_state(tile, RUNNING, "starting")

    def job_progress(self, job: Any, step: int, total: int) -> None:
        tile = self.tile_of(job)
        if tile is not None:
            self._set_state(tile, RUNNING, f"step {step}/{total}")

    def job_preview(self, job: Any, image: QImage) -> None:
        tile = self.tile_of(job)
        if tile is not None:
            tile.button.setIcon(_icon(image))

    def job_finished(self, job: Any, image: QImage, entry: Any) -> None:
        tile = self.tile_of(job)
        if tile is None:
            return
        tile.entry = entry
        tile.button.setIcon(_icon(image))
        tile.button.setProperty("image", image)
        label = f"#{entry.id}" if entry is not None else "not kept"
        self._set_state(tile, DONE, f"{label} \u00b7 seed {tile.seed}")

    def job_cancelled(self, job: Any) -> None:
        tile = self.tile_of(job)
        if tile is not None:
            self._set_state(tile, CANCELLED, "cancelled")

    def job_failed(self, job: Any) -> None:
        tile = self.tile_of(job)
        if tile is not None:
            self._set_state(tile, FAILED, "failed")

    def mark_picked(self, entry_id: int | None) -> None:
        for tile in self._tiles:
            tile.button.setChecked(tile.entry is not None and tile.entry.id == entry_id)

    # -- internals -----------------------------------------------------------------------------

    def _set_state(self, tile: _Tile, state: str, text: str) -> None:
        tile.state = state
        tile.caption.setText(text)
        tile.button.setEnabled(state == DONE)
        tile.cancel.setVisible(state in (WAITING, RUNNING))
        if state in (WAITING, CANCELLED, FAILED) and tile.button.icon().isNull():
            tile.button.setText(text)
        elif not tile.button.icon().isNull():
            tile.button.setText("")
        tile.button.setToolButtonStyle(
            Qt.ToolButtonStyle.ToolButtonIconOnly if not tile.button.icon().isNull()
            else Qt.ToolButtonStyle.ToolButtonTextOnly)

    def _on_click(self, tile: _Tile) -> None:
        if tile.state != DONE:
            return
        self.mark_picked(tile.entry.id if tile.entry is not None else None)
        image = tile.button.property("image")
        emit(self.picked, tile.entry, image if isinstance(image, QImage) else QImage())


def _icon(image: QImage) -> QIcon:
    return QIcon(QPixmap.fromImage(image).scaled(
        TILE, TILE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
