"""Starting and quitting the app as a person does: ``main()``, in this process and another."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from parasight_desktop.ui import app as app_module
from parasight_desktop.ui.icon import ICON_SIZES, icon_path
from parasight_desktop.ui.main_window import MainWindow

from .conftest import LONG_STEPS

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]
TINY_MODEL = ROOT / "tests" / "data" / "tiny-model"


def test_window_icons_exist_at_every_size() -> None:
    for size in ICON_SIZES:
        image = QImage(str(icon_path(size)))
        assert (image.width(), image.height()) == (size, size)
        assert image.hasAlphaChannel()


def test_main_opens_the_window_and_returns_when_it_closes(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seen: list[MainWindow] = []

    def close_it() -> None:
        windows = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, MainWindow) and w.isVisible()]
        seen.extend(windows)
        for window in windows:
            window.close()  # the last window closing ends app.exec(), as on a desktop

    QTimer.singleShot(500, close_it)
    status = app_module.main(["parasight", "--settings", str(tmp_path / "s.ini"),
                              "--data-dir", str(tmp_path / "data")])
    assert status == 0
    (window,) = seen
    assert window.windowTitle() == "ParaSight"
    assert QApplication.applicationName() == "ParaSight"
    assert not QApplication.windowIcon().isNull()
    assert window.engine_stopped
    assert (tmp_path / "s.ini").is_file()


_CLOSE_WHILE_GENERATING = textwrap.dedent(
    """
    import sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from parasight_desktop.ui import app
    from parasight_desktop.ui.main_window import MainWindow

    def start():
        (w,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        w.describe.prompt.setPlainText("closing during a long job")
        w.controls.steps.setValue(STEPS)
        def on_progress(job, step, total, left):
            if step >= 3 and w.isVisible():
                print("CLOSING", time.monotonic(), flush=True)
                w.close()
        w.queue.progress.connect(on_progress)
        w.generate()

    app.make_application(sys.argv)
    QTimer.singleShot(100, start)
    sys.exit(app.main(["parasight", "--settings", sys.argv[1], "--data-dir", sys.argv[2]]))
    """
)


def test_closing_during_a_generation_ends_the_process_quickly(tmp_path: Path) -> None:
    """A separate process: nothing may keep it alive or make it exit with an error."""
    data = tmp_path / "data"
    shutil.copytree(TINY_MODEL, data / "models" / "tiny-model")
    env = {**os.environ, "PARASIGHT_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen"}
    script = _CLOSE_WHILE_GENERATING.replace("STEPS", str(LONG_STEPS))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "s.ini"), str(data)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    ended = time.monotonic()
    assert proc.returncode == 0, err
    closing = [line for line in out.splitlines() if line.startswith("CLOSING")]
    assert closing, out + err
    assert ended - float(closing[0].split()[1]) < 2.0
    assert "Traceback" not in err and "QThread: Destroyed" not in err


_CLOSE_DURING_A_LONG_MODEL_CALL = textwrap.dedent(
    """
    import sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from parasight_desktop.engine import pipeline
    from parasight_desktop.ui import app
    from parasight_desktop.ui.main_window import MainWindow

    # A model call that cannot be interrupted (a big model's UNet step on a slow CPU):
    # the real pipeline runs, but its first step takes 30 s and ignores cancel.
    real_predict = pipeline.Pipeline.predict_noise
    def slow_predict(self, *args):
        print("IN MODEL CALL", flush=True)
        time.sleep(30)
        return real_predict(self, *args)
    pipeline.Pipeline.predict_noise = slow_predict

    def start():
        (w,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        w.describe.prompt.setPlainText("closing during a model call")
        w.generate()
        def close():
            print("CLOSING", time.monotonic(), flush=True)
            w.close()
        QTimer.singleShot(1500, close)

    app.make_application(sys.argv)
    QTimer.singleShot(100, start)
    sys.exit(app.main(["parasight", "--settings", sys.argv[1], "--data-dir", sys.argv[2]]))
    """
)


def test_closing_during_an_uninterruptible_model_call_still_exits_quickly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(TINY_MODEL, data / "models" / "tiny-model")
    env = {**os.environ, "PARASIGHT_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CLOSE_DURING_A_LONG_MODEL_CALL, str(tmp_path / "s.ini"), str(data)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = proc.communicate(timeout=25)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    ended = time.monotonic()
    assert "IN MODEL CALL" in out, out + err
    closing = [line for line in out.splitlines() if line.startswith("CLOSING")]
    assert closing, out + err
    assert ended - float(closing[0].split()[1]) < 2.0
    assert proc.returncode == 0, err
    assert "QThread: Destroyed" not in err and "Traceback" not in err
    assert "closing during a model call" in (tmp_path / "s.ini").read_text(encoding="utf-8")
