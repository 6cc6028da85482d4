"""Start the window: ``main(argv)`` makes the QApplication, the window, and runs it."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QApplication

from .. import __version__
from .icon import app_icon
from .main_window import MainWindow
from .settings import APP_NAME, AppSettings

log = logging.getLogger(__name__)


def make_application(argv: Sequence[str]) -> QApplication:
    """The QApplication, named and with its icon (reused if one exists, as under pytest-qt)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv))
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("parasight")
    app.setWindowIcon(app_icon())
    return app


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parasight", add_help=True)
    parser.add_argument("--settings", type=Path, help="settings file (default: the user's)")
    parser.add_argument("--data-dir", type=Path, help="folder for the history (this run only)")
    args, _qt_args = parser.parse_known_args(list(argv)[1:])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run ParaSight's window until it is closed; return the exit status."""
    argv = list(sys.argv if argv is None else argv)
    args = _parse(argv)
    app = make_application(argv)
    settings = AppSettings(args.settings)
    window = MainWindow(settings, data_dir=args.data_dir)
    window.show()
    status = app.exec()
    window.close()  # after a quit from elsewhere: stop the engine thread, keep the form
    if not window.threads_stopped:
        # A model call (or a models-window job) that cannot be interrupted is still
        # running: leave without waiting for it, rather than hang or abort in QThread's
        # destructor.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status
