"""What a person can get wrong, or what can go wrong under them: a clear sentence, nothing lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from parasight_desktop.engine.store import ModelStore
from parasight_desktop.ui.message_bar import ERROR

from .helpers import TIMEOUT_MS, activate, generate_and_wait, press_ctrl_enter, type_description

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_empty_description_says_what_to_do(qtbot, make_window, text: str) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    activate(qtbot, window)
    window.describe.prompt.setPlainText(text)
    window.describe.where.setText("the old mill")
    press_ctrl_enter(qtbot, window)
    assert window.messages.kind == ERROR
    assert "description is empty" in window.messages.text()
    assert not window.queue.is_busy() and window.queue.pending == []
    assert window.history_panel.entries() == []
    assert window.describe.where.text() == "the old mill"
    assert QApplication.focusWidget() is window.describe.prompt

    # Writing something and generating clears the message.
    type_description(qtbot, window, "a heron made of light")
    generate_and_wait(qtbot, window)
    assert window.messages.text() == ""


def test_unwritable_share_folder_keeps_the_image(  # type: ignore[no-untyped-def]
    qtbot, make_window, app_settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the share folder should be")
    app_settings.share_folder = blocker / "share"
    window = make_window()
    type_description(qtbot, window, "lights over the moor")
    shown = generate_and_wait(qtbot, window)
    assert window.share() is None
    text = window.messages.text()
    assert window.messages.kind == ERROR
    assert "not a folder" in text and "still in your history" in text
    assert window.messages.action.text().startswith("Choose share folder")
    assert [e.id for e in window.history_panel.entries()] == [shown.entry.id]
    assert shown.entry.image_path.is_file()
    assert window.shown() is shown

    # Choosing another folder from the message fixes it.
    good = tmp_path / "elsewhere"
    good.mkdir()
    window.ask_share_folder = lambda: good
    window.messages.action.click()
    assert window.share() is not None
    assert len(list(good.glob("*.png"))) == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a POSIX user that folder permissions apply to")
def test_read_only_share_folder(qtbot, make_window, app_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    app_settings.share_folder = folder
    try:
        window = make_window()
        type_description(qtbot, window, "lights over the moor")
        generate_and_wait(qtbot, window)
        assert window.share() is None
        assert "not allowed to write" in window.messages.text()
    finally:
        folder.chmod(0o700)


def test_model_file_changed_on_disk(qtbot, make_window, tiny_model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a green orb")
    first = generate_and_wait(qtbot, window)

    unet = tiny_model_dir / "unet.tflite"
    data = bytearray(unet.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    unet.write_bytes(bytes(data))

    with qtbot.waitSignal(window.queue.failed, timeout=TIMEOUT_MS):
        window.generate()
    text = window.messages.text()
    assert "unet.tflite" in text and "reinstall" in text
    # Nothing lost: the description, the image shown, the history.
    assert window.describe.prompt_text() == "a green orb"
    assert window.shown() is first
    assert len(window.history_panel.entries()) == 1
    qtbot.waitUntil(lambda: not window.queue.is_busy())
    assert window.generate_button.isEnabled()


def test_model_file_missing(qtbot, make_window, tiny_model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    (tiny_model_dir / "decoder.tflite").unlink()
    window = make_window()
    # Said as soon as the window has looked at the model, before anyone presses Generate.
    qtbot.waitUntil(lambda: "missing decoder.tflite" in window.messages.text(),
                    timeout=TIMEOUT_MS)
    type_description(qtbot, window, "a green orb")
    window.messages.clear()
    with qtbot.waitSignal(window.queue.failed, timeout=TIMEOUT_MS):
        window.generate()
    assert "missing decoder.tflite" in window.messages.text()
    assert window.history_panel.entries() == []


def test_no_model_installed(qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = ModelStore([tmp_path / "no-models"], hash_cache=tmp_path / "h.json")
    window = make_window(store=empty)
    assert "No model is installed" in window.messages.text()
    assert not window.controls.model.isEnabled()
    type_description(qtbot, window, "a green orb")
    assert window.generate() is None
    assert "No model is installed" in window.messages.text()
    assert window.describe.prompt_text() == "a green orb"
