"""The Models dialog, driven through its widgets: a real store, real downloads from a real
HTTP server on 127.0.0.1, real removal. Conversion runs the real orchestration with the
test worker of tests/engine/test_sd_convert.py in place of the TensorFlow process (a real
conversion takes half an hour)."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel

from parasight_desktop.engine import catalog, sd_convert
from parasight_desktop.engine.catalog import CatalogEntry, downloads_dir
from parasight_desktop.engine.errors import CancelledError, InputError
from parasight_desktop.engine.manifest import load_manifest
from parasight_desktop.engine.store import ModelStore, user_models_dir
from parasight_desktop.ui.import_keras_dialog import ImportKerasDialog
from parasight_desktop.ui.message_bar import ERROR, INFO, WARNING
from parasight_desktop.ui.model_manager import ModelManagerDialog, precision_tradeoffs
from parasight_desktop.ui.units import format_duration
from tests.conftest import TINY_MODEL
from tests.engine.test_download import _blob, _sha
from tests.engine.test_sd_convert import Worker

pytestmark = pytest.mark.gui

TIMEOUT_MS = 30_000
CHUNK = 32 * 1024


# ---------------------------------------------------------------- a trickling server


@dataclass
class ServerState:
    files: dict[str, bytes]
    delay: float = 0.0  # seconds between 32 kB chunks, so a download takes a while
    log: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        st = self.server.state
        name = self.path.lstrip("/")
        st.log.append((name, self.headers.get("Range")))
        data = st.files.get(name)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, status = 0, 200
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m:
            start, status = int(m.group(1)), 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        for i in range(0, len(body), CHUNK):
            self.wfile.write(body[i:i + CHUNK])
            self.wfile.flush()
            if st.delay:
                time.sleep(st.delay)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up on a cancelled download is expected




NAMES = {"text_encoder": "b.bin", "diffusion_model": "a.bin", "decoder": "c.bin",
         "image_encoder": "d.bin"}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerState]:
    """Serves sd-v1.4's files (generated, known sha256) as the catalogue's mirror."""
    files = {"b.bin": _blob(200_000, 1), "a.bin": _blob(1_500_000, 2),
             "c.bin": _blob(100_000, 3), "d.bin": _blob(50_000, 4)}
    state = ServerState(files)
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    use_entry(monkeypatch, state)
    monkeypatch.setenv(catalog.MIRROR_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def use_entry(monkeypatch: pytest.MonkeyPatch, state: ServerState,
              wrong_hash: str | None = None) -> CatalogEntry:
    """sd-v1.4 as the catalogue has it, but with the server's files, sizes and hashes."""
    real = catalog.get_entry("sd-v1.4")
    files = tuple(
        replace(f, filename=NAMES[f.role], url=f"https://unreachable.invalid/{NAMES[f.role]}",
                sha256="0" * 64 if f.role == wrong_hash else _sha(state.files[NAMES[f.role]]),
                size=len(state.files[NAMES[f.role]]), approx_size=None)
        for f in real.files)
    entry = replace(real, files=files)
    monkeypatch.setitem(catalog.CATALOG, "sd-v1.4", entry)
    return entry


# ---------------------------------------------------------------- the dialog

DialogFactory = Callable[[], ModelManagerDialog]


@pytest.fixture
def installed_tiny() -> Path:
    """The tiny model installed in the (temporary) user data folder."""
    dest = Path(os.environ["PARASIGHT_DATA_DIR"]) / "models" / "tiny-model"
    shutil.copytree(TINY_MODEL, dest)
    return dest


@pytest.fixture
def conversion_possible(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in an install with TensorFlow (the worker that would use it is replaced)."""
    monkeypatch.setattr(sd_convert, "check_conversion_possible", lambda: None)


def rows(dialog: ModelManagerDialog) -> dict[str, list[str]]:
    """{group heading: ["name | size | licence | status", ...]} as the list shows them."""
    out = {}
    for i in range(dialog.tree.topLevelItemCount()):
        group = dialog.tree.topLevelItem(i)
        out[group.text(0)] = [" | ".join(group.child(j).text(c) for c in range(4))
                              for j in range(group.childCount())]
    return out


def click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled() and button.isVisible(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# ---------------------------------------------------------------- listing


def test_lists_installed_and_downloadable_models(make_dialog, installed_tiny) -> None:  # type: ignore[no-untyped-def]
    dialog = make_dialog()
    listed = rows(dialog)
    (tiny,) = [r for r in listed["Installed"] if r.startswith("Tiny test model")]
    assert tiny.endswith("| MIT | installed") and " MB |" in tiny
    sd, lora, taesd = listed["Available to download"]  # the models, then the add-ons
    assert sd == "Stable Diffusion v1.4 | \u22484.1 GB | CreativeML OpenRAIL-M | not downloaded"
    assert lora == "LCM-LoRA for SD 1.x | \u2248134.6 MB | OpenRAIL++ | not downloaded"
    assert taesd == "TAESD (tiny decoder) | \u22489.8 MB | MIT | not downloaded"

    assert dialog.select(("installed", "tiny-model"))
    assert "MIT License" in dialog.installed_licence.toPlainText()
    assert "Installed in" in dialog.installed_info.text()
    # how this machine runs it, and why (engine.runner.reload_choice)
    assert "How it runs on this computer:</b> LiteRT" in dialog.installed_info.text()
    assert dialog.remove_button.isEnabled()

    assert dialog.select(("catalogue", "sd-v1.4"))
    info = dialog.entry_info.text()
    assert "about 4.1 GB to download" in info and "Free space" in info and " GB (" in info
    assert "Use Restrictions" in dialog.licence_view.toPlainText()
    # The precision trade-offs are stated beside each choice; the default comes from the
    # catalogue, and the name it installs as follows the choices.
    tradeoffs = precision_tradeoffs()
    assert set(tradeoffs) == {"fp32", "fp16", "int8"} and all(tradeoffs.values())
    for precision, text in tradeoffs.items():
        assert dialog.findChild(QLabel, f"tradeoff_{precision}").text() == text
    assert dialog.precision() == "fp16" and dialog.image_size() == (512, 512)
    assert "sd-v1.4-fp16" in dialog.install_name_label.text()
    dialog.precision_buttons["int8"].click()
    dialog.size_combo.setCurrentIndex(dialog.size_combo.findData("768x512"))
    assert "sd-v1.4-int8-768x512" in dialog.install_name_label.text()


def test_the_embedded_model_is_listed_and_cannot_be_removed(  # type: ignore[no-untyped-def]
        make_dialog, tmp_path, monkeypatch) -> None:
    shutil.copytree(TINY_MODEL, tmp_path / "res" / "models" / "parasight-mini")
    monkeypatch.setenv("PARASIGHT_RESOURCES", str(tmp_path / "res"))
    dialog = make_dialog()
    assert [r.split(" | ")[-1] for r in rows(dialog)["Installed"]] == ["embedded"]
    assert dialog.select(("installed", "parasight-mini"))  # a model is named by its folder
    assert "cannot be removed" in dialog.installed_info.text()
    assert not dialog.remove_button.isEnabled()
    assert not dialog.remove_selected()


def test_format_duration() -> None:
    assert [format_duration(s) for s in (None, 0.27, 4.44, 9.97, 59.6, 185, 4000)] == [
        "?", "0.3 s", "4.4 s", "10 s", "1 min 00 s", "3 min 05 s", "1 h 06 min"]


# ---------------------------------------------------------------- downloading


def test_download_is_disabled_until_the_licence_is_accepted(qtbot, make_dialog) -> None:  # type: ignore[no-untyped-def]
    dialog = make_dialog()
    assert dialog.select(("catalogue", "sd-v1.4"))
    assert not dialog.accept_box.isChecked()
    assert not dialog.download_button.isEnabled()
    assert "accept it first" in dialog.download_button.toolTip()
    dialog.accept_box.click()
    assert dialog.download_button.isEnabled()
    dialog.accept_box.click()
    assert not dialog.download_button.isEnabled()
    assert dialog.download() is None and not dialog.jobs.is_busy()
    assert "tick 'I accept'" in dialog.messages.text()
    assert not downloads_dir("sd-v1.4").exists()


def test_download_completes_with_progress(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, server, conversion_possible) -> None:
    server.delay = 0.01
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    dialog.accept_box.click()
    shown: list[str] = []
    dialog.jobs.progress.connect(lambda *_: shown.append(dialog.progress_detail.text()))
    changed: list[bool] = []
    dialog.models_changed.connect(lambda: changed.append(True))

    with qtbot.waitSignal(dialog.jobs.finished, timeout=TIMEOUT_MS):
        click(qtbot, dialog.download_button)
        assert dialog.progress_box.isVisible() and dialog.cancel_button.isEnabled()
        assert not dialog.download_button.isEnabled()  # one job at a time

    folder = downloads_dir("sd-v1.4")
    for name in ("a.bin", "b.bin", "c.bin"):
        assert (folder / name).read_bytes() == server.files[name]
    assert not (folder / "d.bin").exists()  # optional, not asked for
    assert any(t.startswith("a.bin (file 2 of 3): ") and " of 1.5 MB" in t and "B/s" in t
               and " left" in t for t in shown), shown
    assert any("checking its sha256" in t for t in shown)
    assert not dialog.progress_box.isVisible()
    assert dialog.messages.kind == INFO and "is downloaded to" in dialog.messages.text()
    assert rows(dialog)["Available to download"][0].endswith("| downloaded")
    assert dialog.convert_button.isEnabled()
    assert changed == []  # downloaded, not installed: the model list has not changed


def test_the_window_stays_responsive_during_a_download(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, server) -> None:
    """A 10 ms timer in the GUI thread is never 100 ms late while a download runs.

    The GUI thread doing the download would make it late by the whole download (about a
    second). On a busy machine the OS alone can pause the process that long now and then,
    so a run counts if one of three tries is on time.
    """
    server.delay = 0.02  # about a second for the 1.5 MB file
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    dialog.accept_box.click()
    worst: list[float] = []
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    for _ in range(3):
        shutil.rmtree(downloads_dir("sd-v1.4"), ignore_errors=True)
        ticks[:] = [time.perf_counter()]
        timer.start()
        with qtbot.waitSignal(dialog.jobs.finished, timeout=TIMEOUT_MS):
            click(qtbot, dialog.download_button)
        timer.stop()
        ticks.append(time.perf_counter())
        assert len(ticks) > 20, f"the timer fired only {len(ticks) - 2} times"
        worst.append(max(b - a for a, b in itertools.pairwise(ticks)) - 0.010)
        if worst[-1] < 0.100:
            break
    assert min(worst) < 0.100, f"worst lateness per try: {[round(w * 1000) for w in worst]} ms"


def test_cancel_mid_download_keeps_the_part_and_the_next_try_resumes(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, server) -> None:
    server.delay = 0.05
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    dialog.accept_box.click()
    with qtbot.waitSignal(dialog.jobs.cancelled, timeout=TIMEOUT_MS) as cancelled:
        click(qtbot, dialog.download_button)
        qtbot.waitUntil(lambda: dialog.progress_detail.text().startswith("a.bin")
                        and not dialog.progress_detail.text().startswith("a.bin (file 2 of 3): 0 B"),
                        timeout=TIMEOUT_MS)
        click(qtbot, dialog.cancel_button)
        assert "stopping" in dialog.progress_title.text()
    assert "resumes" in cancelled.args[1]
    part = downloads_dir("sd-v1.4") / "a.bin.part"
    kept = part.stat().st_size
    assert 0 < kept < len(server.files["a.bin"])
    assert dialog.messages.kind == WARNING and "resumes" in dialog.messages.text()
    assert not dialog.progress_box.isVisible()
    assert rows(dialog)["Available to download"][0].endswith("| partly downloaded")

    # The dialog is usable, and the next try resumes where this one stopped.
    server.delay = 0.0
    with qtbot.waitSignal(dialog.jobs.finished, timeout=TIMEOUT_MS):
        click(qtbot, dialog.download_button)
    assert (downloads_dir("sd-v1.4") / "a.bin").read_bytes() == server.files["a.bin"]
    assert ("a.bin", f"bytes={kept}-") in server.log
    assert [name for name, _ in server.log].count("b.bin") == 1  # finished: not fetched again


def test_a_wrong_hash_is_shown_and_nothing_else_is_lost(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, server, monkeypatch) -> None:
    use_entry(monkeypatch, server, wrong_hash="decoder")
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    dialog.accept_box.click()
    with qtbot.waitSignal(dialog.jobs.failed, timeout=TIMEOUT_MS):
        click(qtbot, dialog.download_button)
    text = dialog.messages.text()
    assert dialog.messages.kind == ERROR
    assert "c.bin" in text and "does not match its published sha256" in text
    folder = downloads_dir("sd-v1.4")
    assert (folder / "a.bin").is_file() and (folder / "b.bin").is_file()
    assert not (folder / "c.bin").exists() and not (folder / "c.bin.part").exists()
    assert dialog.download_button.isEnabled() and not dialog.progress_box.isVisible()


@pytest.mark.parametrize("name, licence_words", [
    ("lcm-lora-sdv1-5", "OpenRAIL"),
    ("taesd", "MIT"),
])
def test_an_add_on_shows_its_licence_and_offers_no_conversion(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, conversion_possible, name, licence_words) -> None:
    dialog = make_dialog()
    assert dialog.select(("catalogue", "sd-v1.4"))
    assert dialog.convert_box.isVisible() and dialog.import_button.isEnabled()
    assert dialog.select(("catalogue", name))
    entry = catalog.get_entry(name)
    assert dialog.selected_entry() == entry
    assert entry.size_note in dialog.entry_info.text()
    assert licence_words in dialog.licence_view.toPlainText()
    assert not dialog.download_button.isEnabled()  # the licence is accepted first
    dialog.accept_box.click()
    assert dialog.download_button.isEnabled()
    # An add-on is used when a model is imported, never converted on its own.
    assert not dialog.convert_box.isVisible()
    assert not dialog.import_button.isEnabled() and not dialog.convert_button.isEnabled()
    assert dialog.ask_import() is None and dialog.convert_downloaded() is None
    assert dialog.addon_note.isVisible()
    assert ("parasight models import FILE --lora lcm-lora-sdv1-5" if name != "taesd"
            else "parasight models add-taesd MODEL") in dialog.addon_note.text()


def test_a_downloaded_taesd_says_what_it_is_for_and_imports_take_it(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, server, conversion_possible, monkeypatch, tmp_path) -> None:
    real = catalog.get_entry("taesd")
    server.files.update({"taesd_decoder.safetensors": _blob(40_000, 5),
                         "taesd_encoder.safetensors": _blob(30_000, 6)})
    files = tuple(replace(f, url=f"https://unreachable.invalid/{f.filename}",
                          sha256=_sha(server.files[f.filename]),
                          size=len(server.files[f.filename]))
                  for f in real.files)
    monkeypatch.setitem(catalog.ADDONS, "taesd", replace(real, files=files))
    dialog = make_dialog()
    assert dialog.select(("catalogue", "taesd"))
    dialog.accept_box.click()
    with qtbot.waitSignal(dialog.jobs.finished, timeout=TIMEOUT_MS):
        click(qtbot, dialog.download_button)
    text = dialog.messages.text()
    assert dialog.messages.kind == INFO and "TAESD (tiny decoder) is downloaded to" in text
    assert "added by itself to models you import" in text and "add-taesd MODEL" in text
    assert "Convert" not in text
    assert rows(dialog)["Available to download"][2].endswith("| MIT | downloaded")
    decoder = downloads_dir("taesd") / "taesd_decoder.safetensors"
    assert catalog.downloaded_path("taesd", "decoder") == decoder

    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"")  # the import dialog only needs to open on something
    chooser = dialog.ask_import_model(checkpoint)
    assert chooser is not None
    assert chooser.taesd_box.isEnabled() and chooser.taesd_box.isChecked()
    assert chooser.taesd() == decoder
    chooser.reject()


# ---------------------------------------------------------------- removing


def test_remove_asks_then_deletes_the_model_and_says_so(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, installed_tiny) -> None:
    dialog = make_dialog()
    assert dialog.select(("installed", "tiny-model"))
    asked: list[str] = []
    dialog._confirm = lambda title, text: asked.append(text) or False  # type: ignore[method-assign]
    click(qtbot, dialog.remove_button)
    assert installed_tiny.is_dir() and "Downloaded files, if any, are kept" in asked[0]

    dialog._confirm = lambda title, text: True  # type: ignore[method-assign]
    with qtbot.waitSignal(dialog.models_changed, timeout=5000):
        click(qtbot, dialog.remove_button)
    assert not installed_tiny.exists()
    assert not any(r.startswith("Tiny test model") for r in rows(dialog)["Installed"])
    assert dialog.messages.kind == INFO and "Removed Tiny test model" in dialog.messages.text()


# ---------------------------------------------------------------- converting


@pytest.fixture
def downloaded() -> dict[str, Path]:
    """sd-v1.4's three files in the downloads folder (contents the test worker ignores)."""
    entry = catalog.get_entry("sd-v1.4")
    folder = downloads_dir("sd-v1.4")
    folder.mkdir(parents=True)
    paths = {}
    for role in sd_convert.ROLES:
        paths[role] = folder / entry.file(role).filename
        paths[role].write_bytes(role.encode() * 100)
    return paths


class WaitingWorker(Worker):
    """Converts until ``wait_on``, then runs until cancelled, as the real worker does."""

    def __init__(self, wait_on: str) -> None:
        super().__init__()
        self.wait_on = wait_on

    def __call__(self, job, work, cancel, log):  # type: ignore[no-untyped-def]
        if job["job"] == self.wait_on:
            self.ran.append(job["job"])
            assert cancel.wait(TIMEOUT_MS / 1000)
            raise CancelledError("Conversion cancelled; finished parts are kept and a later "
                                 "conversion resumes from the next one.")
        return super().__call__(job, work, cancel, log)


def test_convert_shows_each_part_and_installs_the_model(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, downloaded, conversion_possible, monkeypatch) -> None:
    worker = Worker()  # keeps each job it was given
    monkeypatch.setattr(sd_convert, "_run_job", worker)
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    dialog.precision_buttons["int8"].click()
    with qtbot.waitSignal(dialog.models_changed, timeout=TIMEOUT_MS):
        click(qtbot, dialog.convert_button)
    log = [dialog.parts_log.item(i).text() for i in range(dialog.parts_log.count())]
    assert log[0] == "Part 1 of ?: text encoder \u2014 converting"
    assert log[1].startswith("Part 1 of ?: text encoder \u2014 done (0M parameters, 1.0 s, "
                             "peak 1.0 GiB, 120.0 dB against Keras)")
    assert "Part 3 of 5: UNet part 2 \u2014 converting" in log
    assert log[-1].startswith("Part 5 of 5: decoder \u2014 done")
    assert worker.ran == ["text_encoder", "unet-0", "unet-1", "unet-2", "decoder"]
    assert {j["precision"] for j in worker.jobs.values()} == {"int8"}
    assert worker.jobs["text_encoder"]["sources"] == {r: str(p) for r, p in downloaded.items()}

    out = user_models_dir() / "sd-v1.4-int8"
    manifest = load_manifest(out)
    assert manifest.display_name == "Stable Diffusion v1.4 (int8)"
    assert manifest.extra["precision"] == "int8"
    assert dialog.selected_model() is not None and dialog.selected_model().name == "sd-v1.4-int8"
    assert "Installed 'sd-v1.4-int8'" in dialog.messages.text()
    assert any(r.startswith("Stable Diffusion v1.4 (int8) |") for r in rows(dialog)["Installed"])
    dialog.select(("catalogue", "sd-v1.4"))
    assert "installed as sd-v1.4-int8" in dialog.entry_info.text()


def test_a_downloaded_image_encoder_is_converted_too(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, downloaded, conversion_possible, monkeypatch) -> None:
    """KerasCV's optional vae_encoder.h5, where it was downloaded, becomes the model's image
    encoder, so the converted model can start from a sketch or a photo."""
    entry = catalog.get_entry("sd-v1.4")
    encoder = downloads_dir("sd-v1.4") / entry.file("image_encoder").filename
    encoder.write_bytes(b"image_encoder" * 100)
    worker = Worker()
    monkeypatch.setattr(sd_convert, "_run_job", worker)
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    assert "to start from a sketch or photo" in dialog.optional_box.text()
    dialog.precision_buttons["int8"].click()
    with qtbot.waitSignal(dialog.models_changed, timeout=TIMEOUT_MS):
        click(qtbot, dialog.convert_button)
    assert "image_encoder" in worker.ran
    assert worker.jobs["text_encoder"]["sources"]["image_encoder"] == str(encoder)
    manifest = load_manifest(user_models_dir() / "sd-v1.4-int8")
    assert manifest.image_encoder is not None and manifest.has_image_encoder


def test_a_failed_conversion_says_why_and_installs_nothing(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, downloaded, conversion_possible, monkeypatch) -> None:
    monkeypatch.setattr(sd_convert, "_run_job", Worker(fail_on="unet-1"))
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    changed: list[bool] = []
    dialog.models_changed.connect(lambda: changed.append(True))
    with qtbot.waitSignal(dialog.jobs.failed, timeout=TIMEOUT_MS):
        click(qtbot, dialog.convert_button)
    assert dialog.messages.kind == ERROR
    assert "Converting unet-1 stopped: it ran out of memory" in dialog.messages.text()
    assert not (user_models_dir() / "sd-v1.4-fp16").exists() and changed == []
    assert dialog.convert_button.isEnabled()


def test_cancel_stops_a_conversion_and_keeps_the_dialog_usable(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, downloaded, conversion_possible, monkeypatch) -> None:
    monkeypatch.setattr(sd_convert, "_run_job", WaitingWorker("unet-0"))
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    with qtbot.waitSignal(dialog.jobs.cancelled, timeout=TIMEOUT_MS):
        click(qtbot, dialog.convert_button)
        qtbot.waitUntil(lambda: "UNet part 1 \u2014 converting" in dialog.progress_detail.text(),
                        timeout=TIMEOUT_MS)
        click(qtbot, dialog.cancel_button)
    assert dialog.messages.kind == WARNING and "finished parts are kept" in dialog.messages.text()
    assert dialog.convert_button.isEnabled() and dialog.import_button.isEnabled()


def test_when_conversion_is_impossible_the_dialog_says_so(  # type: ignore[no-untyped-def]
        make_dialog, downloaded, monkeypatch) -> None:
    def cannot() -> None:
        raise InputError("Converting a model needs TensorFlow, which this installation "
                         "does not include.")

    monkeypatch.setattr(sd_convert, "check_conversion_possible", cannot)
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    assert dialog.conversion_blocker_label.isVisible()
    assert "needs TensorFlow" in dialog.conversion_blocker_label.text()
    assert not dialog.convert_button.isEnabled() and not dialog.import_button.isEnabled()


def test_import_keras_files_you_already_have(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, tmp_path, conversion_possible, monkeypatch) -> None:
    worker = Worker()  # keeps each job it was given
    monkeypatch.setattr(sd_convert, "_run_job", worker)
    entry = catalog.get_entry("sd-v1.4")
    mine = tmp_path / "my weights"
    mine.mkdir()
    for role in sd_convert.ROLES:
        (mine / entry.file(role).filename).write_bytes(b"h5" * 50)
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    dialog.precision_buttons["fp32"].click()
    picker = dialog.ask_import()
    assert isinstance(picker, ImportKerasDialog)
    assert not picker.ok.isEnabled()
    picker.set_path("decoder", mine / "kcv_decoder.h5")  # the other two are found beside it
    assert picker.sources() == {r: mine / entry.file(r).filename for r in sd_convert.ROLES}
    assert picker.ok.isEnabled()
    picker.edits["text_encoder"].setText(str(mine / "missing.h5"))
    assert not picker.ok.isEnabled()
    picker.edits["text_encoder"].setText(str(mine / "kcv_encoder.h5"))
    with qtbot.waitSignal(dialog.models_changed, timeout=TIMEOUT_MS):
        click(qtbot, picker.ok)
    sources = worker.jobs["text_encoder"]["sources"]
    assert sources["diffusion_model"] == str(mine / "kcv_diffusion_model.h5")
    assert load_manifest(user_models_dir() / "sd-v1.4").extra["precision"] == "fp32"


# ---------------------------------------------------------------- lifetime


def test_deleting_the_dialog_stops_its_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = ModelManagerDialog(ModelStore())
    thread = dialog.jobs.models_thread
    assert thread.isRunning()
    shiboken6.delete(dialog)
    assert thread.isFinished()


def test_closing_the_dialog_lets_the_job_go_on_and_it_comes_back_at_the_end(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, downloaded, conversion_possible, monkeypatch) -> None:
    monkeypatch.setattr(sd_convert, "_run_job", WaitingWorker("unet-0"))
    dialog = make_dialog()
    dialog.select(("catalogue", "sd-v1.4"))
    click(qtbot, dialog.convert_button)
    qtbot.waitUntil(lambda: "UNet part 1" in dialog.progress_detail.text(), timeout=TIMEOUT_MS)
    dialog.close()
    assert not dialog.isVisible() and dialog.jobs.is_busy()
    with qtbot.waitSignal(dialog.jobs.cancelled, timeout=TIMEOUT_MS):
        dialog.cancel()
    assert dialog.isVisible() and "finished parts are kept" in dialog.messages.text()
