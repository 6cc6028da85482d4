"""Start ParaSight under Xvfb, make a few images, and save the window to docs/screenshot.png.

    .venv/bin/python tools/screenshot.py [--model-dir DIR] [--out docs/screenshot.png]
    .venv/bin/python tools/screenshot.py --import-dialog [--out docs/import_dialog.png] \
        [--checkpoint FILE] [--lora FILE:STRENGTH] [--installed MODEL_DIR]...
    .venv/bin/python tools/screenshot.py --few-step [--model-dir DIR] \
        [--out docs/screenshot_fewstep.png]
    .venv/bin/python tools/screenshot.py --witness [--model-dir DIR] [--steps N]
    .venv/bin/python tools/screenshot.py --models --installed MODEL_DIR... [--out FILE]

Without a display it starts its own Xvfb (``apt-get install xvfb``) and runs Qt's xcb
platform on it, so the picture is what a desktop shows (minus the window frame). The
model is the store's default (the embedded ParaSight Mini); ``--model-dir`` points at
another model folder, e.g. ``tests/data/tiny-model`` before the embedded one exists.
Settings, history and the share folder live in a temporary folder, never the user's.
``--import-dialog`` shows the Models window with the import dialog open on a checkpoint
and a LoRA (``--checkpoint``, ``--lora``; without them a small stand-in SD 1.x file and a
LoRA at 0.8 whose headers read as real ones, so it says 0.3M parameters), with the model
folders given by ``--installed`` listed as installed, and saves the window.
``--few-step`` makes the images with a few-step model chosen (its defaults: LCM, guidance
1, fast decode with TAESD): ``--model-dir`` if given, else a copy of the tiny test model
whose manifest says so and names its own decoder as the fast one.
``--witness`` goes round the witness loop (a sketch, an image from it, Make 4, pick one,
mask and refine it, refine again) and saves docs/screenshot_sketch.png (the sketch
window over the main one), docs/screenshot_variations.png (the four, one picked) and
docs/screenshot_lineage.png (the history showing the chain). The model is the store's
default where it can start from an image, else the tiny test model (which can).
``--models`` shows the Models window with the first ``--installed`` folder selected (its
licence, source and how it runs on this computer) and saves the window.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = (1360, 860)
SEED = 1
IMAGES = (
    ("a huge glowing orange winged creature in the night sky with many eyes",
     {"where": "Marfa, Texas", "when": "31 Oct 2025, 9 pm"}),
    ("a small purple blob with three eyes in the snow",
     {"where": "Hessdalen valley", "when": "last winter"}),
    ("a tall shadow figure on a city street at night",
     {"where": "Point Pleasant, WV", "when": "2 Aug 2025, 23:40"}),
    ("a glowing orb of light in the forest",
     {"where": "Kielder Forest, Northumberland", "when": "3 Mar 2025, about 2 am"}),
    ("a big green serpent with two eyes in the lake",
     {"where": "Loch Ness, north shore", "when": "14 Sep 2025, dusk"}),
)


def start_xvfb() -> subprocess.Popen[bytes]:
    """An Xvfb server on the first free display; DISPLAY is set to it."""
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb is not installed: apt-get install -y xvfb")
    for display in range(99, 120):
        if Path(f"/tmp/.X11-unix/X{display}").exists() or Path(f"/tmp/.X{display}-lock").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{display}", "-screen", "0", f"{SIZE[0] + 40}x{SIZE[1] + 40}x24",
             "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{display}").exists():
                os.environ["DISPLAY"] = f":{display}"
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.kill()
        proc.wait()
    raise SystemExit("could not start Xvfb")


def _scratch_settings(tmp: Path):  # type: ignore[no-untyped-def]
    """Settings, history and share folder in ``tmp``, never the user's own."""
    from parasight_desktop.ui.settings import AppSettings

    settings = AppSettings(tmp / "settings.ini")
    settings.data_dir = tmp / "data"
    settings.share_folder = tmp / "share"
    return settings


def run(out: Path, model_dir: Path | None, steps: int | None) -> int:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from parasight_desktop.engine.pipeline import Engine
    from parasight_desktop.engine.store import ModelStore
    from parasight_desktop.ui.app import make_application
    from parasight_desktop.ui.main_window import MainWindow

    app = make_application(["parasight"])
    with tempfile.TemporaryDirectory(prefix="parasight-shot-") as tmp:
        settings = _scratch_settings(Path(tmp))
        store = ModelStore([model_dir]) if model_dir is not None else ModelStore()
        window = MainWindow(settings, store=store, engine=Engine(store))
        window.resize(*SIZE)
        window.show()
        if model_dir is not None:
            window.controls.select_model(model_dir.name)

        finished: list[object] = []
        window.queue.finished.connect(lambda *args: finished.append(args))
        for seed, (prompt, sighting) in enumerate(IMAGES, start=SEED):
            window.describe.set_values(prompt, "cartoon, text, watermark", sighting)
            window.controls.set_seed(seed, lock=True)  # the same picture every run
            if steps:
                window.controls.steps.setValue(steps)
            if window.generate() is None:
                print(window.messages.text(), file=sys.stderr)
                return 1
        loop = QEventLoop()
        poll = QTimer()
        poll.timeout.connect(lambda: len(finished) == len(IMAGES) and loop.quit())
        poll.start(100)
        QTimer.singleShot(30 * 60 * 1000, loop.quit)
        loop.exec()
        poll.stop()
        if len(finished) != len(IMAGES):
            print("timed out waiting for the images", file=sys.stderr)
            return 1
        # Leave the form showing the last description, the way a person would see it.
        window.messages.clear()
        window.statusBar().clearMessage()
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out), "PNG"):
            print(f"could not write {out}", file=sys.stderr)
            return 1
        print(out)
        window.close()
        QApplication.processEvents()
    return 0


def _settle(app: object, rounds: int = 25) -> None:
    for _ in range(rounds):
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.02)


def _grab_screen(app: object, widgets: list[object], out: Path) -> bool:
    """The screen under the union of ``widgets``' frames (so a dialog over the window shows)."""
    area = widgets[0].frameGeometry()  # type: ignore[attr-defined]
    for w in widgets[1:]:
        area = area.united(w.frameGeometry())  # type: ignore[attr-defined]
    shot = app.primaryScreen().grabWindow(  # type: ignore[attr-defined]
        0, area.x(), area.y(), area.width(), area.height())
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = bool(shot.save(str(out), "PNG"))
    print(out if ok else f"could not write {out}", file=sys.stdout if ok else sys.stderr)
    return ok


def draw_sighting(canvas: object) -> None:
    """A night scene through the canvas's own API: sky, hills, pines, a glowing orb."""
    import math

    c = canvas
    c.fill_background((18, 24, 64))  # type: ignore[attr-defined]
    w, h = c.image_size()  # type: ignore[attr-defined]
    c.fill_shape([(0, h * 0.72), (w * 0.3, h * 0.62), (w * 0.65, h * 0.7), (w, h * 0.6),  # type: ignore[attr-defined]
                  (w, h), (0, h)], (30, 90, 45))
    for x in (0.12, 0.22, 0.84):
        c.fill_shape([(w * x, h * 0.45), (w * (x - 0.06), h * 0.75), (w * (x + 0.06), h * 0.75)],  # type: ignore[attr-defined]
                     (12, 50, 25))
    cx, cy, r = w * 0.55, h * 0.3, w * 0.11
    c.fill_shape([(cx + 1.6 * r * math.cos(a), cy + 1.6 * r * math.sin(a))  # type: ignore[attr-defined]
                  for a in [i * math.pi / 12 for i in range(24)]], (120, 110, 60))
    c.fill_shape([(cx + r * math.cos(a), cy + r * math.sin(a))  # type: ignore[attr-defined]
                  for a in [i * math.pi / 12 for i in range(24)]], (250, 225, 60))
    c.stroke([(cx - r * 2.2, cy + r * 2.6), (cx - r * 1.2, cy + r * 1.4)], (250, 225, 60), 2)  # type: ignore[attr-defined]
    c.stroke([(cx + r * 2.2, cy + r * 2.6), (cx + r * 1.2, cy + r * 1.4)], (250, 225, 60), 2)  # type: ignore[attr-defined]
    c.stroke([(w * 0.4, h * 0.78), (w * 0.42, h * 0.7)], (0, 0, 0), 3)  # type: ignore[attr-defined]


def run_witness(docs: Path, model_dir: Path | None, steps: int | None) -> int:
    """The witness loop, photographed at three moments (see the module's docstring)."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from parasight_desktop.engine.pipeline import Engine
    from parasight_desktop.engine.store import ModelStore
    from parasight_desktop.ui.app import make_application
    from parasight_desktop.ui.main_window import MainWindow

    app = make_application(["parasight"])
    with tempfile.TemporaryDirectory(prefix="parasight-shot-") as tmp:
        settings = _scratch_settings(Path(tmp))
        store = ModelStore([model_dir]) if model_dir is not None else ModelStore()
        if model_dir is None:
            from parasight_desktop.engine.errors import ParaSightError

            try:
                can = store.manifest(store.default_model()).has_image_encoder
            except (ParaSightError, OSError):
                can = False
            if not can:
                model_dir = ROOT / "tests" / "data" / "tiny-model"
                store = ModelStore([model_dir.parent])
        window = MainWindow(settings, store=store, engine=Engine(store))
        window.resize(*SIZE)
        window.move(0, 0)
        window.show()
        if model_dir is not None:
            window.controls.select_model(model_dir.name)
        refine = window.refine

        finished: list[object] = []
        window.queue.finished.connect(lambda *args: finished.append(args))

        def wait_for(n: int) -> bool:
            loop = QEventLoop()
            poll = QTimer()
            poll.timeout.connect(lambda: len(finished) >= n and loop.quit())
            poll.start(50)
            QTimer.singleShot(20 * 60 * 1000, loop.quit)
            loop.exec()
            poll.stop()
            _settle(app, 10)
            return len(finished) >= n

        window.describe.set_values("a glowing yellow orb with beams over the pine trees at night",
                                   "text, watermark",
                                   {"where": "Kielder Forest, Northumberland",
                                    "when": "3 Mar 2025, about 2 am"})
        window.controls.set_seed(SEED, lock=True)
        if steps:
            window.controls.steps.setValue(steps)

        # 1. The sketch window over the main one.
        sketch = refine.panel.open_sketch()
        draw_sighting(sketch.canvas)
        sketch.set_colour((250, 225, 60))
        sketch.move(window.x() + 380, window.y() + 110)
        _settle(app)
        if not _grab_screen(app, [window, sketch], docs / "screenshot_sketch.png"):
            return 1
        sketch.use_button.click()
        refine.panel.strength.setValue(75)

        # 2. An image from the sketch, then four variations of it; the second picked.
        if window.generate() is None or not wait_for(1):
            print(window.messages.text() or "timed out", file=sys.stderr)
            return 1
        refine.refine_action.trigger()
        refine.panel.strength.setValue(60)
        if not refine.make_variations() or not wait_for(5):
            print(window.messages.text() or "timed out", file=sys.stderr)
            return 1
        refine.strip.tiles()[1].button.click()
        window.messages.clear()
        window.statusBar().clearMessage()
        _settle(app)
        if not _grab_screen(app, [window], docs / "screenshot_variations.png"):
            return 1

        # 3. Mask the sky and refine; refine that again; the history shows the chain.
        mask = refine.panel.open_mask()
        if mask is None:
            return 1
        w, h = mask.painter.image_size()
        mask.painter.paint_shape([(0, 0), (w, 0), (w, h * 0.55), (0, h * 0.55)])
        mask.use_button.click()
        window.describe.set_values("a glowing green orb with beams over the pine trees at night",
                                   "text, watermark", window.describe.sighting() or {})
        if window.generate() is None or not wait_for(6):
            return 1
        refine.refine_action.trigger()
        refine.panel.strength.setValue(35)
        if window.generate() is None or not wait_for(7):
            return 1
        last = window.history_panel.entries()[0]
        window.history_panel.select(last.id)
        window.messages.clear()
        window.statusBar().clearMessage()
        _settle(app)
        if not _grab_screen(app, [window], docs / "screenshot_lineage.png"):
            return 1
        window.close()
        QApplication.processEvents()
    return 0


def write_few_step_model(folder: Path) -> Path:
    """A copy of the tiny test model set up as an LCM model with a fast decoder, in ``folder``."""
    import json

    model = folder / "tiny-lcm"
    shutil.copytree(ROOT / "tests" / "data" / "tiny-model", model)
    path = model / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    decoder = manifest["decoder"]
    manifest.update(
        name=model.name,
        display_name="Tiny LCM test model",
        defaults={"steps": 4, "guidance": 1.0, "sampler": "lcm", "fast_decode": True},
        fast_decoder={"file": decoder["file"], "input": decoder["input"],
                      "output": decoder["output"], "latent_scaling": "none",
                      "output_range": [-1, 1], "name": "TAESD"},
    )
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return model


def write_import_samples(folder: Path) -> tuple[Path, Path]:
    """A checkpoint whose header reads as SD 1.x (LDM layout) and a LoRA that fits it."""
    import numpy as np
    from safetensors.numpy import save_file

    unet = "model.diffusion_model."
    checkpoint = folder / "my-finetune-v2.safetensors"
    save_file({f"{unet}input_blocks.0.0.weight": np.zeros((320, 4, 3, 3), np.float32),
               f"{unet}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight":
                   np.zeros((320, 768), np.float32),
               "first_stage_model.decoder.conv_in.weight": np.zeros((512, 4, 3, 3), np.float32)},
              str(checkpoint))
    lora = folder / "ink-sketch-style.safetensors"
    module = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    save_file({f"{module}.lora_down.weight": np.zeros((4, 768), np.float32),
               f"{module}.lora_up.weight": np.zeros((320, 4), np.float32)}, str(lora))
    return checkpoint, lora


def _scratch_models(tmp: Path, installed: tuple[Path, ...]) -> None:
    """A data folder under ``tmp`` for this run, with ``installed`` linked in as models."""
    os.environ["PARASIGHT_DATA_DIR"] = str(tmp / "data")
    (tmp / "data" / "models").mkdir(parents=True)
    for folder in installed:
        (tmp / "data" / "models" / folder.name).symlink_to(folder.resolve())


def run_models_window(out: Path, installed: tuple[Path, ...]) -> int:
    """The Models window, the first installed folder selected (with none, the catalogue's
    first model: its licence and conversion page); the window saved to ``out``."""
    from PySide6.QtWidgets import QApplication

    from parasight_desktop.ui.app import make_application
    from parasight_desktop.ui.model_manager import ModelManagerDialog

    app = make_application(["parasight"])
    with tempfile.TemporaryDirectory(prefix="parasight-shot-") as tmp:
        _scratch_models(Path(tmp), installed)
        models = ModelManagerDialog()
        models.move(0, 0)
        models.show()
        if installed and not models.select(("installed", installed[0].name)):
            print(f"{installed[0].name} is not listed", file=sys.stderr)
            return 1
        if not installed:
            from parasight_desktop.engine.catalog import all_entries

            models.select(("catalogue", all_entries()[0].name))
        _settle(app)
        ok = _grab_screen(app, [models], out)
        models.shutdown()
        models.close()
        QApplication.processEvents()
    return 0 if ok else 1


def run_import_dialog(out: Path, checkpoint: Path | None = None, lora: str | None = None,
                      installed: tuple[Path, ...] = ()) -> int:
    """The Models window with the import dialog open on it; the screen saved to ``out``."""
    from PySide6.QtWidgets import QApplication

    from parasight_desktop.engine.sd_import import LoraSpec
    from parasight_desktop.ui.app import make_application
    from parasight_desktop.ui.model_manager import ModelManagerDialog

    app = make_application(["parasight"])
    with tempfile.TemporaryDirectory(prefix="parasight-shot-") as tmp:
        _scratch_models(Path(tmp), installed)
        spec = LoraSpec.parse(lora) if lora else None
        if checkpoint is None:
            checkpoint, sample = write_import_samples(Path(tmp))
            spec = LoraSpec(sample, 0.8)
        models = ModelManagerDialog()
        models.move(0, 0)
        models.show()
        chooser = models.ask_import_model(checkpoint)
        if chooser is None:
            print(models.messages.text(), file=sys.stderr)
            return 1
        if spec is not None:
            chooser.add_lora(spec.path, spec.strength)
        for _ in range(30):
            app.processEvents()
            time.sleep(0.02)
        chooser.move(models.x() + (models.width() - chooser.width()) // 2,
                     max(0, models.y() + (models.height() - chooser.height()) // 2))
        for _ in range(30):
            app.processEvents()
            time.sleep(0.02)
        screen = app.primaryScreen()
        area = models.frameGeometry()
        shot = screen.grabWindow(0, area.x(), area.y(), area.width(), area.height())
        out.parent.mkdir(parents=True, exist_ok=True)
        if not shot.save(str(out), "PNG"):
            print(f"could not write {out}", file=sys.stderr)
            return 1
        print(out)
        chooser.reject()
        models.shutdown()
        models.close()
        QApplication.processEvents()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--model-dir", type=Path, help="a model folder (default: the store's)")
    parser.add_argument("--steps", type=int, help="steps per image (default: the model's)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first image (default 1)")
    parser.add_argument("--import-dialog", action="store_true",
                        help="the Models window with the import dialog open, instead")
    parser.add_argument("--few-step", action="store_true",
                        help="with a few-step model (LCM, fast decode) chosen, saved to "
                             "docs/screenshot_fewstep.png")
    parser.add_argument("--witness", action="store_true",
                        help="the witness loop: docs/screenshot_sketch.png, "
                             "screenshot_variations.png and screenshot_lineage.png")
    parser.add_argument("--checkpoint", type=Path, help="--import-dialog: the file to show")
    parser.add_argument("--lora", help="--import-dialog: a LoRA FILE[:STRENGTH] to add")
    parser.add_argument("--models", action="store_true",
                        help="the Models window, the first --installed folder selected "
                             "(with none: the catalogue's first model)")
    parser.add_argument("--installed", type=Path, action="append", default=[],
                        help="--import-dialog, --models: a model folder to list as installed")
    args = parser.parse_args()
    xvfb = None
    if not os.environ.get("DISPLAY"):
        xvfb = start_xvfb()
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    try:
        global SEED
        SEED = args.seed
        if args.import_dialog:
            out = args.out if args.out != parser.get_default("out") \
                else ROOT / "docs" / "import_dialog.png"
            return run_import_dialog(out.resolve(), args.checkpoint, args.lora,
                                     tuple(args.installed))
        if args.models:
            return run_models_window(args.out.resolve(), tuple(args.installed))
        if args.witness:
            return run_witness(ROOT / "docs", args.model_dir, args.steps)
        if args.few_step:
            out = args.out if args.out != parser.get_default("out") \
                else ROOT / "docs" / "screenshot_fewstep.png"
            with tempfile.TemporaryDirectory(prefix="parasight-fewstep-") as tmp:
                model_dir = args.model_dir or write_few_step_model(Path(tmp))
                return run(out.resolve(), model_dir, args.steps)
        return run(args.out.resolve(), args.model_dir, args.steps)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
