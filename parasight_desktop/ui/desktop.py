"""Hand files and folders to the desktop: open a folder, show a file in the file manager."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices


def open_folder(folder: Path) -> bool:
    """Open ``folder`` in the file manager. False if the desktop refused."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def reveal_file(path: Path) -> bool:
    """Show ``path`` selected in the file manager where the platform can; else open its folder."""
    if sys.platform == "win32":
        return QProcess.startDetached("explorer.exe", [f"/select,{Path(path)}"])[0]
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", str(path)])[0]
    return open_folder(Path(path).parent)
