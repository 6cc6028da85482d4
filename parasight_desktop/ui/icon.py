"""The window icon: an eye in a night-blue tile, drawn with QPainter at any size.

``resources/icons/parasight-<size>.png`` are made from :func:`paint_icon` by
``resources/icons/make_icons.py``; the app loads those files and paints the icon
itself only if they are missing.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QIcon,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QRadialGradient,
)

from ..engine.store import resources_dir

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def icon_path(size: int) -> Path:
    """``resources/icons/parasight-<size>.png`` (PARASIGHT_RESOURCES moves resources/)."""
    return resources_dir() / "icons" / f"parasight-{size}.png"


def paint_icon(size: int) -> QImage:
    """The icon as a transparent ARGB image of ``size`` x ``size`` pixels."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 256.0, size / 256.0)  # drawn on a 256-unit canvas

    # 1. The tile: a rounded square, deep violet to night blue.
    tile = QRectF(8, 8, 240, 240)
    bg = QLinearGradient(tile.topLeft(), tile.bottomRight())
    bg.setColorAt(0.0, QColor("#3b2a7a"))
    bg.setColorAt(1.0, QColor("#0d1b3d"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(bg))
    p.drawRoundedRect(tile, 52, 52)

    # 2. The eye: an almond of two arcs, pale, with a soft outline.
    eye = QPainterPath()
    eye.moveTo(34, 132)
    eye.quadTo(128, 34, 222, 132)
    eye.quadTo(128, 222, 34, 132)
    p.setBrush(QColor("#eef2ff"))
    p.setPen(QPen(QColor("#9fe8d8"), 6 if size >= 32 else 10))
    p.drawPath(eye)

    # 3. The iris: a teal radial gradient, clipped to the eye; then the pupil.
    p.save()
    p.setClipPath(eye)
    iris = QRadialGradient(QPointF(128, 130), 46)
    iris.setColorAt(0.0, QColor("#7dffd9"))
    iris.setColorAt(0.7, QColor("#1fa88f"))
    iris.setColorAt(1.0, QColor("#0b5f63"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(iris))
    p.drawEllipse(QPointF(128, 130), 46, 46)
    p.setBrush(QColor("#07101f"))
    p.drawEllipse(QPointF(128, 130), 20, 20)
    p.setBrush(QColor(255, 255, 255, 230))
    p.drawEllipse(QPointF(116, 118), 8, 8)
    p.restore()

    # 4. A four-pointed spark above the eye (left out where it would be a smudge).
    if size >= 32:
        spark = QPainterPath()
        cx, cy, r, w = 196.0, 58.0, 26.0, 6.0
        spark.moveTo(cx, cy - r)
        spark.quadTo(cx + w, cy - w, cx + r, cy)
        spark.quadTo(cx + w, cy + w, cx, cy + r)
        spark.quadTo(cx - w, cy + w, cx - r, cy)
        spark.quadTo(cx - w, cy - w, cx, cy - r)
        p.setBrush(QColor("#ffe9a8"))
        p.drawPath(spark)
    p.end()
    return image


def app_icon() -> QIcon:
    """The window icon from the PNGs in resources/icons, painted afresh if they are missing."""
    icon = QIcon()
    for size in ICON_SIZES:
        path = icon_path(size)
        if path.is_file():
            icon.addFile(str(path))
        else:
            icon.addPixmap(QPixmap.fromImage(paint_icon(size)))
    return icon
