"""Write the window icon as PNGs beside this script: ``parasight-<size>.png``.

Run from the repository root::

    QT_QPA_PLATFORM=offscreen .venv/bin/python resources/icons/make_icons.py

The drawing itself is ``parasight_desktop.ui.icon.paint_icon``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtGui import QGuiApplication

from parasight_desktop.ui.icon import ICON_SIZES, icon_path, paint_icon


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # noqa: F841
    for size in ICON_SIZES:
        path = icon_path(size)
        if not paint_icon(size).save(str(path), "PNG"):
            print(f"could not write {path}", file=sys.stderr)
            return 1
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
