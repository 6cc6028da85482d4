"""The whole path a person takes: describe, Ctrl+Enter, look, save, share, come back later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication

from parasight_desktop import __version__
from parasight_desktop.engine.store import ModelStore, builtin_models_dir
from parasight_desktop.library.metadata import AI_SOURCE_TYPE, read_png_metadata
from parasight_desktop.ui.message_bar import ERROR
from parasight_desktop.ui.settings import AppSettings

from .helpers import activate, generate_and_wait, type_description

pytestmark = pytest.mark.gui

DESCRIPTION = "a glowing green orb hovering over a pine forest at night"


def test_describe_generate_save_share_and_reopen_from_history(
    qtbot, make_window, settings_file: Path, tmp_path: Path, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    # The real embedded model, as a person gets it on first start.
    embedded = ModelStore([builtin_models_dir()])
    window = make_window(store=embedded)
    activate(qtbot, window)
    assert "ParaSight" in window.windowTitle()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.describe.prompt)

    # 1. Describe, note the sighting, Ctrl+Enter, wait for the image.
    type_description(qtbot, window, DESCRIPTION)
    qtbot.keyClicks(window.describe.where, "Kielder Forest")
    qtbot.keyClicks(window.describe.when, "3 March, 2 am")
    shown = generate_and_wait(qtbot, window, by_keyboard=True)
    assert shown.settings.prompt == DESCRIPTION
    assert shown.settings.model_name == "parasight-mini"
    assert (shown.image.width(), shown.image.height()) == (128, 128)
    assert shown.sighting == {"where": "Kielder Forest", "when": "3 March, 2 am"}
    assert window.view.has_pixmap() and window.view.fit_mode
    info = window.info.toPlainText()
    assert str(shown.settings.seed) in info and "Kielder Forest" in info
    assert window.messages.text() == ""

    # 2. Ctrl+S: the dialog proposes a name made from the description.
    proposed: list[Path] = []
    target = tmp_path / "saved" / "orb.png"
    target.parent.mkdir()
    monkeypatch.setattr(window, "ask_save_path", lambda p: (proposed.append(p), target)[1])
    activate(qtbot, window)
    qtbot.keyClick(window.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(target.exists)
    slug = "a-glowing-green-orb-hovering-over-a-pine-forest-at-night"
    assert proposed[0].name == f"{slug}-{shown.settings.seed}.png"
    saved = read_png_metadata(target)
    assert saved.settings == shown.settings
    assert saved.is_ai_generated
    assert saved.parameters is not None and "Steps: 20" in saved.parameters
    assert "Model: parasight-mini" in saved.parameters
    assert saved.sighting == shown.sighting
    assert saved.xmp is not None and AI_SOURCE_TYPE in saved.xmp

    # 3. Ctrl+Shift+S with a sighting card: image, card and report in the share folder.
    window.card_check.setChecked(True)
    qtbot.keyClick(window.view, Qt.Key.Key_S,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    share = tmp_path / "share"
    qtbot.waitUntil(lambda: len(list(share.glob("*.json"))) == 1)
    (png,) = [p for p in share.glob("*.png") if not p.name.endswith("-card.png")]
    (card,) = share.glob("*-card.png")
    (report,) = share.glob("*.json")
    assert read_png_metadata(png).settings == shown.settings
    assert read_png_metadata(card).is_ai_generated
    with Image.open(card) as picture:
        assert picture.height > picture.width  # the text band sits under the image
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["description"] == DESCRIPTION
    assert doc["sighting"] == {"where": "Kielder Forest", "when": "3 March, 2 am"}
    assert doc["ai_generated"] is True
    assert "Shared to" in window.messages.text()

    # 4. The history survives closing the window; the form is as it was left.
    (entry,) = window.history_panel.entries()
    assert entry.image_path.is_file()
    window.close()
    reopened = make_window(settings=AppSettings(settings_file), store=embedded)
    assert reopened.describe.prompt_text() == DESCRIPTION
    assert reopened.describe.sighting() == shown.sighting
    (again,) = reopened.history_panel.entries()
    assert again.id == entry.id
    reopened.history_panel.list.setCurrentRow(0)
    reshown = reopened.shown()
    assert reshown is not None and reshown.settings == shown.settings
    assert reshown.image.convertToFormat(shown.image.format()) == shown.image


def test_about_box_names_version_and_every_licence(  # type: ignore[no-untyped-def]
    qtbot, make_window, tiny_model_dir: Path
) -> None:
    window = make_window()
    dialog = window.show_about()
    qtbot.waitExposed(dialog)
    text = dialog.licences.toPlainText()
    assert "CLIP" in text and "MIT" in text
    assert "Tiny test model" in text
    first_line = (tiny_model_dir / "LICENSE").read_text().strip().splitlines()[0]
    assert first_line.strip() in text
    assert f"ParaSight Desktop {__version__}" in dialog.header.text()
    dialog.close()


def test_token_counter_warns_and_shows_what_is_cut(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    window.describe.prompt.setPlainText("orb " * 75 + "zebra giraffe")
    qtbot.waitUntil(lambda: "too long" in window.describe.tokens.text())
    assert window.describe.over_limit
    assert "zebra giraffe" in window.describe.tokens.text()
    window.describe.prompt.setPlainText("a small orb")
    qtbot.waitUntil(lambda: window.describe.tokens.text() == "3 of 75 tokens")


def test_seed_dice_lock_and_model_defaults(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    controls = window.controls
    type_description(qtbot, window, "a shadow on the stairs")
    first = generate_and_wait(qtbot, window).settings.seed
    second = generate_and_wait(qtbot, window).settings.seed
    assert first != second  # unlocked: a new seed each time, shown in the field
    assert controls.seed.text() == str(second)
    controls.lock.setChecked(True)
    assert generate_and_wait(qtbot, window).settings.seed == second
    controls.dice.click()
    assert controls.seed.text() != str(second)

    controls.steps.setValue(9)
    controls.guidance.setValue(11.5)
    controls.set_sampler("ddim")
    controls.reset.click()
    assert (controls.steps.value(), controls.guidance.value(), controls.sampler_id()) == (
        4, 5.0, "dpmpp-2m")


def test_history_reuse_delete_and_undo(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a lantern floating over a marsh")
    window.describe.where.setText("the fens")
    first = generate_and_wait(qtbot, window)
    type_description(qtbot, window, "a second lantern")
    generate_and_wait(qtbot, window)
    panel = window.history_panel
    assert [e.settings.prompt for e in panel.entries()] == [
        "a second lantern", "a lantern floating over a marsh"]

    # Reuse: the older image's description, sighting and settings come back, seed locked.
    panel.list.setCurrentRow(1)
    assert window.shown().settings == first.settings
    panel.findChild(type(window.generate_button), "reuseButton").click()
    assert window.describe.prompt_text() == "a lantern floating over a marsh"
    assert window.describe.where.text() == "the fens"
    assert window.controls.seed_value() == first.settings.seed
    assert window.controls.lock.isChecked()

    # Delete it, then undo.
    entry = panel.current_entry()
    panel.findChild(type(window.generate_button), "deleteButton").click()
    assert [e.settings.prompt for e in panel.entries()] == ["a second lantern"]
    assert not entry.image_path.exists()
    assert window.undo_button.isVisible()
    window.undo_button.click()
    assert len(panel.entries()) == 2
    assert entry.image_path.exists()
    assert window.shown().entry.id == entry.id


def test_dropping_a_png_from_another_tool_loads_its_settings(  # type: ignore[no-untyped-def]
    qtbot, make_window, tmp_path: Path
) -> None:
    from PIL.PngImagePlugin import PngInfo

    other = tmp_path / "from-webui.png"
    info = PngInfo()
    info.add_text("parameters", "a cat in a tall hat\nNegative prompt: blurry\n"
                  "Steps: 12, Sampler: Euler a, CFG scale: 6.5, Seed: 1234, Size: 512x512, "
                  "Model hash: abcdef0123, Model: sd15")
    Image.new("RGB", (8, 8)).save(other, pnginfo=info)

    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    qtbot.waitUntil(lambda: window.describe.prompt_text() == "a cat in a tall hat")
    assert window.describe.negative_text() == "blurry"
    c = window.controls
    assert (c.steps.value(), c.guidance.value(), c.sampler_id()) == (12, 6.5, "euler-a")
    assert c.seed_value() == 1234 and c.lock.isChecked()
    assert c.model_name() == "tiny-model"  # sd15 is not installed: kept, and said so
    assert "sd15" in window.messages.text()

    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert not window.load_settings_from_png(plain)
    assert "no image settings" in window.messages.text()
    assert window.describe.prompt_text() == "a cat in a tall hat"  # nothing lost


def test_zoom_fit_and_actual_size(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a silver disc")
    generate_and_wait(qtbot, window)
    view = window.view
    fitted = view.zoom()
    assert view.fit_mode and fitted > 1.0  # 128 px fills a larger view
    viewport = view.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    wheel = QWheelEvent(centre, viewport.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    assert not view.fit_mode and view.zoom() == pytest.approx(fitted * 1.25)
    window.actual_action.trigger()
    assert view.zoom() == pytest.approx(1.0)
    assert window.zoom_label.text() == "100%"
    window.fit_action.trigger()
    assert view.fit_mode and view.zoom() == pytest.approx(fitted)


def test_copy_puts_the_image_on_the_clipboard(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a figure in the fog")
    generate_and_wait(qtbot, window)
    window.copy_action.trigger()
    assert QApplication.clipboard().image().size() == window.shown().image.size()


def test_drag_out_carries_the_image_and_its_file(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    type_description(qtbot, window, "a figure in the fog")
    shown = generate_and_wait(qtbot, window)
    mime = window.view.mime_data()
    assert mime.hasImage()
    assert [Path(u.toLocalFile()) for u in mime.urls()] == [shown.entry.image_path]
    gallery = window.history_panel.list
    urls = gallery.mimeData([gallery.item(0)]).urls()
    assert [Path(u.toLocalFile()) for u in urls] == [shown.entry.image_path]


def test_messages_follow_a_dark_palette(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    app = QApplication.instance()
    original = app.palette()
    dark = QPalette(original)
    dark.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.black)
    dark.setColor(QPalette.ColorRole.WindowText, Qt.GlobalColor.white)
    try:
        app.setPalette(dark)
        window.show_error("Something to read in the dark.")
        bar = window.messages
        assert bar.kind == ERROR
        qtbot.waitUntil(lambda: bar.palette().color(QPalette.ColorRole.Window).lightness() < 100)
        assert bar.palette().color(QPalette.ColorRole.WindowText).lightness() > 200
    finally:
        app.setPalette(original)


def test_the_form_is_keyboard_reachable_in_reading_order(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    activate(qtbot, window)
    d, c, p = window.describe, window.controls, window.refine.panel
    # The start image panel sits between the settings and Generate (its mask, clear and
    # strength wait for a start image, so Tab passes them by).
    expected = [d.negative, d.where, d.when, c.model, c.seed, c.dice, c.lock, c.steps,
                c.guidance, c.sampler, c.reset, p.open_button, p.paste_button,
                p.sketch_button, p.fit, window.generate_button, window.refine.make4_button]
    d.prompt.setFocus()
    qtbot.waitUntil(d.prompt.hasFocus)
    reached = []
    for _ in expected:
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        focus = QApplication.focusWidget()
        # A spin box's focus lands on its line edit.
        reached.append(focus.parentWidget() if focus.parentWidget() in (c.steps, c.guidance)
                       else focus)
    assert reached == expected


def test_models_window_changes_update_the_model_list(  # type: ignore[no-untyped-def]
    qtbot, make_window, tiny_model_dir: Path
) -> None:
    import shutil

    from parasight_desktop.ui.signals import emit

    def install_copy(name: str) -> None:
        folder = tiny_model_dir.parent / name
        shutil.copytree(tiny_model_dir, folder)
        manifest = folder / "manifest.json"
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        doc["name"] = name
        manifest.write_text(json.dumps(doc), encoding="utf-8")

    window = make_window()
    window.controls.steps.setValue(7)
    dialog = window.show_models()
    assert dialog is not None and dialog.isVisible()
    assert window.show_models() is dialog  # one Models window, brought back

    # A model appears (as after a download); the chosen one and its settings stay.
    install_copy("tiny-copy")
    emit(dialog.models_changed)
    assert window.controls.model.count() == 2
    assert window.controls.model_name() == "tiny-model"
    assert window.controls.steps.value() == 7

    # The chosen model goes away: the other is chosen, with its defaults, and loaded.
    shutil.rmtree(tiny_model_dir)
    emit(dialog.models_changed)
    assert window.controls.model_name() == "tiny-copy"
    assert window.controls.steps.value() == 4
    qtbot.waitUntil(lambda: window.warm_model == "tiny-copy", timeout=60_000)
    dialog.close()
    window.close()
    assert window.threads_stopped
    assert dialog.jobs.models_thread.isFinished()
