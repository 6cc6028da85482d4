"""Bring your own model: the import dialog, driven through its widgets, on real (tiny)
``.safetensors`` files the engine really inspects. The import runs the real
orchestration (``sd_import.import_checkpoint`` then the converter) with a worker that
writes real files in place of the TensorFlow process, as test_model_manager.py does."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from safetensors.numpy import save_file

from parasight_desktop.engine import sd_convert, sd_import, taesd
from parasight_desktop.engine.errors import CancelledError
from parasight_desktop.engine.fileio import sha256_file
from parasight_desktop.engine.manifest import load_manifest
from parasight_desktop.engine.store import user_models_dir
from parasight_desktop.ui import import_dialog
from parasight_desktop.ui.import_dialog import ImportModelDialog
from parasight_desktop.ui.message_bar import INFO, WARNING
from parasight_desktop.ui.model_manager import ModelManagerDialog, precision_tradeoffs
from tests.engine.test_sd_convert import Worker

pytestmark = pytest.mark.gui

TIMEOUT_MS = 30_000
UNET = "model.diffusion_model."
LORA_MODULE = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"


# ---------------------------------------------------------------- tiny real files


def write_checkpoint(path: Path, context: int = 768, in_channels: int = 4) -> Path:
    """An LDM checkpoint as far as its header goes: the UNet's first convolution and one
    cross-attention key (768 wide: SD 1.x; 1024: SD 2.x), and one VAE tensor."""
    save_file({
        f"{UNET}input_blocks.0.0.weight": np.zeros((320, in_channels, 3, 3), np.float32),
        f"{UNET}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight":
            np.zeros((320, context), np.float32),
        "first_stage_model.decoder.conv_in.weight": np.zeros((512, 4, 3, 3), np.float32),
    }, str(path))
    return path


def write_lora(path: Path, module: str = LORA_MODULE, rank: int = 4) -> Path:
    rng = np.random.default_rng(0)
    save_file({f"{module}.lora_down.weight": rng.standard_normal((rank, 768), np.float32),
               f"{module}.lora_up.weight": rng.standard_normal((320, rank), np.float32)},
              str(path))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "my files"
    folder.mkdir()
    (folder / "old.ckpt").write_bytes(b"\x80\x02pickled")
    return {"sd1": write_checkpoint(folder / "My Model.safetensors"),
            "sd2": write_checkpoint(folder / "sd21-base.safetensors", context=1024),
            "inpainting": write_checkpoint(folder / "inpaint.safetensors", in_channels=9),
            "ckpt": folder / "old.ckpt",
            "lora": write_lora(folder / "detail.safetensors"),
            "other_lora": write_lora(folder / "sdxl-style.safetensors",
                                     module="lora_unet_nonexistent_module")}


# ---------------------------------------------------------------- workers


class ImportWorker(Worker):
    """The test conversion worker, which also does the import's ``weights`` job: it writes
    keras-cv's three HDF5 files where the converter reads them."""

    def __call__(self, job, work, cancel, log):  # type: ignore[no-untyped-def]
        if job["job"] != "weights":
            return super().__call__(job, work, cancel, log)
        self.ran.append("weights")
        self.jobs["weights"] = job
        out = Path(job["work_dir"])
        for name in ("text_encoder.h5", "diffusion_model.h5", "decoder.h5"):
            (out / name).write_bytes(name.encode() * 100)
        return sd_convert.PartResult(
            job="weights", file="diffusion_model.h5", inputs=[], outputs=[], params=1000,
            size=300, sha256="0" * 64, seconds=2.0, peak_rss_bytes=2**30, psnr_db=None,
            max_abs_error=None, n_parts=3)


class WaitingImportWorker(ImportWorker):
    """Imports until ``wait_on``, then runs until cancelled, as the real worker does."""

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


# ---------------------------------------------------------------- dialogs


@pytest.fixture
def make_dialog(make_dialog, monkeypatch):  # type: ignore[no-untyped-def]
    """conftest's Models dialogs, in an installation that can convert (the worker is fake)."""
    monkeypatch.setattr(sd_convert, "check_conversion_possible", lambda: None)
    return make_dialog


@pytest.fixture
def picker(qtbot) -> Callable[..., ImportModelDialog]:  # type: ignore[no-untyped-def]
    def make(source: Path | None = None) -> ImportModelDialog:
        dialog = ImportModelDialog(precision_tradeoffs(), source)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled() and button.isVisible(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def parts_log(dialog: ModelManagerDialog) -> list[str]:
    return [dialog.parts_log.item(i).text() for i in range(dialog.parts_log.count())]


def kinds_offered(dialog: ImportModelDialog) -> list[str | None]:
    """The model kinds the kind choice lets a person pick now."""
    model = dialog.kind_combo.model()
    return [dialog.kind_combo.itemData(i) for i in range(dialog.kind_combo.count())
            if model.item(i).isEnabled()]


@pytest.fixture
def lcm_lora(files, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """A LoRA the engine takes for the LCM-LoRA (by its sha256, as it knows the real one)."""
    path = write_lora(files["lora"].with_name("pytorch_lora_weights.safetensors"), rank=8)
    monkeypatch.setattr(sd_import, "FEW_STEP_LORAS", {sha256_file(path): "lcm"})
    return path


# ---------------------------------------------------------------- choosing


@pytest.mark.parametrize("kind, sentence", [
    ("ckpt", "is a pickled PyTorch file (.ckpt)"),
    ("inpainting", "is an inpainting checkpoint"),
])
def test_a_refused_file_shows_its_sentence_and_cannot_be_imported(  # type: ignore[no-untyped-def]
        picker, files, kind, sentence) -> None:
    dialog = picker(files[kind])
    assert dialog.error_label.isVisible() and sentence in dialog.error_label.text()
    assert files[kind].name in dialog.error_label.text()
    assert dialog.plan is None and dialog.request() is None
    assert not dialog.import_button.isEnabled()
    assert "Cannot be imported" in dialog.plan_label.text()


def test_an_sd1_file_shows_what_it_is_and_can_be_imported(picker, files) -> None:  # type: ignore[no-untyped-def]
    dialog = picker()
    assert not dialog.import_button.isEnabled()  # nothing chosen yet
    dialog.set_source(files["sd1"])
    assert not dialog.error_label.isVisible()
    text = dialog.plan_label.text()
    assert "Stable Diffusion 1.x" in text and "single file (LDM layout)" in text
    assert "0.3M parameters" in text and "EMA" not in text
    assert dialog.name() == "my-model"  # suggested from the file's name
    assert dialog.precision() == "int8"
    assert "Installs as <b>my-model</b>" in dialog.name_note.text()
    assert dialog.import_button.isEnabled()
    # The precision trade-offs are those the Models dialog states.
    for precision, text in precision_tradeoffs().items():
        assert dialog.precision_buttons[precision].isVisible()
        assert any(label.text() == text for label in dialog.findChildren(type(dialog.name_note)))
    dialog.name_edit.setText("no way/")
    dialog.name_edit.textEdited.emit("no way/")
    assert "not a usable name" in dialog.name_note.text()
    assert not dialog.import_button.isEnabled()
    dialog.name_edit.setText("mine")
    dialog.name_edit.textEdited.emit("mine")
    assert dialog.import_button.isEnabled()
    dialog.set_source(files["sd2"])
    assert dialog.name() == "mine"  # typed by the person: kept


def test_loras_are_checked_as_they_are_added(picker, files) -> None:  # type: ignore[no-untyped-def]
    dialog = picker(files["sd1"])
    spin = dialog.add_lora(files["lora"], 0.7)
    assert (spin.minimum(), spin.maximum(), spin.singleStep()) == (-2.0, 2.0, 0.05)
    assert dialog.import_button.isEnabled()
    assert dialog.lora_table.item(0, 0).text() == "detail.safetensors"
    assert dialog.lora_table.item(0, 1).text() == "1 weight"
    assert [(s.name, s.strength) for s in dialog.request().loras] == [("detail", 0.7)]

    dialog.add_lora(files["other_lora"])  # made for another model: refused at once
    assert dialog.lora_table.rowCount() == 2
    assert dialog.error_label.isVisible()
    assert "sdxl-style.safetensors does not fit this Stable Diffusion 1.x model" in \
        dialog.error_label.text()
    assert not dialog.import_button.isEnabled()

    assert dialog.remove_lora_button.isEnabled()  # the LoRA just added is selected
    dialog.remove_lora_button.click()
    assert dialog.lora_table.rowCount() == 1 and not dialog.error_label.isVisible()
    assert dialog.import_button.isEnabled()
    assert dialog.request().loras[0].strength == 0.7


def test_an_sd2_file_asks_whether_it_predicts_noise(picker, files) -> None:  # type: ignore[no-untyped-def]
    dialog = picker(files["sd2"])
    assert dialog.noise_box.isVisible() and not dialog.noise_box.isChecked()
    assert "does not say what its UNet predicts" in dialog.error_label.text()
    assert not dialog.import_button.isEnabled()
    dialog.noise_box.click()
    assert not dialog.error_label.isVisible()
    assert "Stable Diffusion 2.x" in dialog.plan_label.text()
    assert dialog.import_button.isEnabled() and dialog.request().prediction == "epsilon"
    dialog.set_source(files["sd1"])  # an SD 1.x file has nothing to ask
    assert not dialog.noise_box.isVisible() and dialog.request().prediction is None


def test_dropping_a_safetensors_file_opens_the_import_dialog(qtbot, make_dialog, files) -> None:  # type: ignore[no-untyped-def]
    dialog = make_dialog()

    def drop(path: Path) -> bool:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        enter = QDragEnterEvent(QPoint(40, 40), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(dialog, enter)
        if not enter.isAccepted():
            return False
        event = QDropEvent(QPointF(40, 40), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(dialog, event)
        return True

    assert not drop(files["ckpt"])  # not offered: no dialog
    assert dialog.findChild(ImportModelDialog) is None
    assert drop(files["sd1"])
    opened = dialog.findChild(ImportModelDialog)
    assert opened is not None and opened.source == files["sd1"]
    qtbot.waitExposed(opened)
    assert "Stable Diffusion 1.x" in opened.plan_label.text()
    assert opened.import_button.isEnabled()
    opened.reject()


# ---------------------------------------------------------------- model kind and TAESD


def test_the_model_kind_offers_sd_turbo_only_for_sd2_and_states_the_defaults(  # type: ignore[no-untyped-def]
        picker, files) -> None:
    dialog = picker(files["sd1"])
    assert dialog.kind_combo.isVisible() and dialog.kind_combo.isEnabled()
    assert dialog.kind_combo.currentText() == "Ordinary (many steps)"
    assert dialog.few_step() is None and dialog.request().few_step is None
    assert kinds_offered(dialog) == [None, "lcm"]  # SD-Turbo is an SD 2.x model
    assert dialog.kind_note.text() == "Starts at 12 steps, guidance 7.5, the dpmpp-2m sampler."
    dialog.set_few_step("lcm")
    assert dialog.kind_combo.currentText() == "LCM (4 steps, e.g. with the LCM-LoRA)"
    assert "Starts at 4 steps, guidance 1, the lcm sampler" in dialog.kind_note.text()
    assert dialog.request().few_step == "lcm"

    dialog.set_source(files["sd2"])
    dialog.noise_box.click()
    assert kinds_offered(dialog) == [None, "lcm", "turbo"]
    assert dialog.few_step() == "lcm"  # the person's choice is kept
    dialog.set_few_step("turbo")
    assert dialog.kind_combo.currentText() == "SD-Turbo (1 step)"
    assert "Starts at 1 step, guidance 0, the euler-trailing sampler" in dialog.kind_note.text()
    assert dialog.request().few_step == "turbo"
    dialog.set_source(files["sd1"])  # not an SD-Turbo: back to an ordinary model
    assert dialog.few_step() is None and kinds_offered(dialog) == [None, "lcm"]


def test_the_lcm_lora_makes_it_an_lcm_model_by_itself(  # type: ignore[no-untyped-def]
        qtbot, picker, files, lcm_lora) -> None:
    dialog = picker(files["sd1"])
    dialog.add_lora(files["lora"])  # an ordinary LoRA changes nothing
    qtbot.waitUntil(lambda: not dialog.hashing(), timeout=TIMEOUT_MS)
    qtbot.wait(100)
    assert dialog.few_step() is None
    dialog.add_lora(lcm_lora)
    qtbot.waitUntil(lambda: dialog.few_step() == "lcm", timeout=TIMEOUT_MS)
    assert dialog.request().few_step == "lcm"
    assert dialog.kind_note.text().startswith("The LCM-LoRA makes it an LCM model: it starts "
                                              "at 4 steps, guidance 1, the lcm sampler")
    assert kinds_offered(dialog) == ["lcm"]  # the engine would make "Ordinary" LCM anyway
    dialog.remove_lora(1)  # the LoRA that chose it gone: back to what it was
    assert dialog.few_step() is None and kinds_offered(dialog) == [None, "lcm"]


def test_a_lora_is_hashed_once_and_off_the_gui_thread(  # type: ignore[no-untyped-def]
        qtbot, picker, files, lcm_lora, monkeypatch) -> None:
    hashed: list[tuple[str, bool]] = []

    def sha256_recorded(path: Path) -> str:
        hashed.append((Path(path).name, threading.current_thread() is threading.main_thread()))
        return sha256_file(path)

    monkeypatch.setattr(import_dialog, "sha256_file", sha256_recorded)
    dialog = picker(files["sd1"])
    dialog.add_lora(lcm_lora)
    qtbot.waitUntil(lambda: dialog.few_step() == "lcm", timeout=TIMEOUT_MS)
    assert not dialog.hashing() and "Reading the LoRAs" not in dialog.kind_note.text()
    dialog.set_vae(None)  # the files are inspected again, the LoRA is not read again
    dialog.precision_buttons["fp16"].click()
    assert hashed == [("pytorch_lora_weights.safetensors", False)]


def test_an_lcm_distilled_model_is_said_to_be_one(picker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.engine.test_checkpoint import _diffusers_folder

    folder = _diffusers_folder(tmp_path / "lcm-dreamshaper", {
        "decoder.conv_in.weight": np.zeros((512, 4, 3, 3), np.float32)})
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    from safetensors.numpy import load_file

    save_file({**load_file(str(unet)),
               "time_embedding.cond_proj.weight": np.zeros((320, 256), np.float32)}, str(unet))
    dialog = picker(folder)
    assert dialog.plan is not None and dialog.plan.guidance_embedding
    assert dialog.few_step() == "lcm" and not dialog.kind_combo.isEnabled()
    assert dialog.kind_note.text() == ("An LCM-distilled model (it takes guidance as an "
                                       "input): it starts at 4 steps, guidance 8, the lcm "
                                       "sampler.")


def test_taesd_is_off_until_it_is_downloaded_or_chosen(picker, files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dialog = picker(files["sd1"])
    assert "0.3 s" in dialog.taesd_box.toolTip() and "preview" in dialog.taesd_box.toolTip()
    assert not dialog.taesd_box.isEnabled() and not dialog.taesd_box.isChecked()
    assert "TAESD is not downloaded" in dialog.taesd_note.text()
    assert dialog.taesd_button.isVisible() and dialog.taesd_button.isEnabled()
    assert dialog.request().taesd is None
    decoder = tmp_path / "taesd_decoder.safetensors"
    decoder.write_bytes(b"")
    dialog.set_taesd(decoder)  # as "Choose file..." does
    assert dialog.taesd_box.isEnabled() and dialog.taesd_box.isChecked()
    assert dialog.request().taesd == decoder and str(decoder) in dialog.taesd_note.text()
    dialog.taesd_box.click()
    assert dialog.request().taesd is None and "Not added" in dialog.taesd_note.text()


# ---------------------------------------------------------------- importing


def test_import_shows_each_part_and_installs_the_model_with_its_lora(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, files, monkeypatch) -> None:
    worker = ImportWorker()
    monkeypatch.setattr(sd_convert, "_run_job", worker)
    dialog = make_dialog()
    assert dialog.import_file_button.isEnabled() and dialog.import_folder_button.isEnabled()
    chooser = dialog.ask_import_model(files["sd1"])
    chooser.add_lora(files["lora"], 0.7)
    shown: list[str] = []
    dialog.jobs.progress.connect(lambda *_: shown.append(dialog.progress_detail.text()))
    with qtbot.waitSignal(dialog.models_changed, timeout=TIMEOUT_MS):
        click(qtbot, chooser.import_button)
        assert dialog.progress_box.isVisible() and dialog.parts_log.isVisible()
        assert not dialog.import_file_button.isEnabled()  # one job at a time

    log = parts_log(dialog)
    assert log[:4] == [
        "Part 1 of ?: Reading the checkpoint's files (sha256) \u2014 converting",
        "Part 1 of ?: Reading the checkpoint's files (sha256) \u2014 done",
        "Part 2 of ?: Mapping the weights onto KerasCV's layers \u2014 converting",
        ("Part 2 of ?: Mapping the weights onto KerasCV's layers \u2014 done (0M parameters, "
         "2.0 s, peak 1.0 GiB)")]
    assert "Part 3 of ?: text encoder \u2014 converting" in log
    assert "Part 5 of 7: UNet part 2 \u2014 converting" in log
    assert log[-1].startswith("Part 7 of 7: decoder \u2014 done")
    assert any(t.startswith("Part 5 of 7: UNet part 2") and t.endswith("about 3.0 s left")
               for t in shown), shown
    assert worker.ran == ["weights", "text_encoder", "unet-0", "unet-1", "unet-2", "decoder"]
    assert worker.jobs["weights"]["loras"] == [[str(files["lora"]), 0.7]]
    assert {j.get("precision") for n, j in worker.jobs.items() if n != "weights"} == {"int8"}

    out = user_models_dir() / "my-model"
    manifest = load_manifest(out)
    assert manifest.display_name == "My Model + detail (int8)"
    (lora,) = manifest.extra["identity"]["loras"]
    assert lora["name"] == "detail" and lora["strength"] == 0.7
    assert dialog.messages.kind == INFO and "Installed 'my-model'" in dialog.messages.text()
    assert dialog.selected_model() is not None and dialog.selected_model().name == "my-model"
    assert not dialog.progress_box.isVisible()


def test_an_sd2_import_passes_its_prediction(qtbot, make_dialog, files, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    worker = ImportWorker()
    monkeypatch.setattr(sd_convert, "_run_job", worker)
    dialog = make_dialog()
    chooser = dialog.ask_import_model(files["sd2"])
    chooser.noise_box.click()
    with qtbot.waitSignal(dialog.models_changed, timeout=TIMEOUT_MS):
        click(qtbot, chooser.import_button)
    assert worker.jobs["weights"]["prediction"] == "epsilon"
    assert load_manifest(user_models_dir() / "sd21-base").extra["family"] == "sd2"


def test_an_sd_turbo_import_with_taesd_passes_both(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, files, monkeypatch, tmp_path) -> None:
    worker = ImportWorker()
    monkeypatch.setattr(sd_convert, "_run_job", worker)
    attached: list[tuple[Path, str]] = []

    def attach(folder, decoder, encoder=None, precision="int8"):  # type: ignore[no-untyped-def]
        # TAESD's conversion needs TensorFlow: recorded here, tested in tests/engine
        attached.append((Path(decoder), precision))
        return {}

    monkeypatch.setattr(taesd, "attach_taesd", attach)
    decoder = tmp_path / "taesd_decoder.safetensors"
    decoder.write_bytes(b"")
    dialog = make_dialog()
    chooser = dialog.ask_import_model(files["sd2"])
    chooser.noise_box.click()
    chooser.set_few_step("turbo")
    chooser.set_taesd(decoder)
    with qtbot.waitSignal(dialog.models_changed, timeout=TIMEOUT_MS):
        click(qtbot, chooser.import_button)
    assert attached == [(decoder, "int8")]
    defaults = load_manifest(user_models_dir() / "sd21-base").defaults
    assert (defaults.steps, defaults.guidance, defaults.sampler) == (1, 0.0, "euler-trailing")


def test_cancel_keeps_the_work_and_the_same_import_resumes(  # type: ignore[no-untyped-def]
        qtbot, make_dialog, files, monkeypatch) -> None:
    stopping = WaitingImportWorker("unet-0")
    monkeypatch.setattr(sd_convert, "_run_job", stopping)
    dialog = make_dialog()
    chooser = dialog.ask_import_model(files["sd1"])
    chooser.add_lora(files["lora"], 0.7)
    with qtbot.waitSignal(dialog.jobs.cancelled, timeout=TIMEOUT_MS):
        click(qtbot, chooser.import_button)
        qtbot.waitUntil(lambda: "UNet part 1 \u2014 converting" in dialog.progress_detail.text(),
                        timeout=TIMEOUT_MS)
        click(qtbot, dialog.cancel_button)
        assert "stopping" in dialog.progress_title.text()
    assert stopping.ran == ["weights", "text_encoder", "unet-0"]
    assert dialog.messages.kind == WARNING and "finished parts are kept" in dialog.messages.text()
    assert not (user_models_dir() / "my-model").exists()
    assert dialog.import_file_button.isEnabled()

    resume = ImportWorker()
    monkeypatch.setattr(sd_convert, "_run_job", resume)
    again = dialog.ask_import_model(files["sd1"])
    assert "stopped part-way" in again.name_note.text()
    again.add_lora(files["lora"], 0.7)
    with qtbot.waitSignal(dialog.models_changed, timeout=TIMEOUT_MS):
        click(qtbot, again.import_button)
    assert resume.ran == ["unet-0", "unet-1", "unet-2", "decoder"]  # nothing done twice
    log = parts_log(dialog)
    assert "Part 1 of ?: Reading the checkpoint's files (sha256) \u2014 skipped (already " \
           "converted)" in log
    assert "Part 2 of ?: Mapping the weights onto KerasCV's layers \u2014 skipped (already " \
           "converted)" in log
    assert load_manifest(user_models_dir() / "my-model").extra["identity"]["loras"][0][
        "strength"] == 0.7
