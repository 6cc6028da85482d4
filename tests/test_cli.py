"""``parasight`` on the command line: real model, real files, exit codes and messages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from parasight_desktop.cli import main
from parasight_desktop.library.metadata import read_png_metadata
from tests.conftest import TINY_MODEL


@pytest.fixture
def installed_tiny() -> str:
    """The tiny model installed in the (temporary) user data folder."""
    dest = Path(os.environ["PARASIGHT_DATA_DIR"]) / "models" / "tiny-model"
    shutil.copytree(TINY_MODEL, dest)
    return "tiny-model"


def test_generate_writes_a_png_with_metadata(installed_tiny, tmp_path, capsys) -> None:
    out = tmp_path / "blob.png"
    code = main(["generate", "a red blob in the snow", "--model", installed_tiny,
                 "--seed", "42", "--steps", "3", "--guidance", "6", "--sampler", "euler-a",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip() == str(out)
    assert Image.open(out).size == (128, 128)
    meta = read_png_metadata(out)
    assert meta.settings is not None and meta.settings.seed == 42
    assert meta.settings.sampler == "euler-a" and meta.settings.model_name == "tiny-model"
    assert meta.parameters is not None and "Sampler: Euler a" in meta.parameters
    assert meta.is_ai_generated


def test_same_command_twice_gives_the_same_pixels(installed_tiny, tmp_path) -> None:
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for p in paths:
        assert main(["generate", "a tall shadow figure", "--model", installed_tiny,
                     "--seed", "5", "--steps", "2", "--out", str(p), "--quiet"]) == 0
    a, b = (np.asarray(Image.open(p)) for p in paths)
    assert np.array_equal(a, b)


def test_default_output_name_comes_from_the_prompt(installed_tiny, tmp_path,
                                                   monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "Green orb over the lake!", "--model", installed_tiny,
                 "--seed", "9", "--steps", "1", "--quiet"]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written.name.startswith("green-orb-over-the-lake") and written.name.endswith(
        "-9.png")
    assert (tmp_path / written).is_file()


@pytest.mark.parametrize("args, fragment", [
    (["generate", ""], "empty"),
    (["generate", "x", "--steps", "0"], "Steps must be between 1 and 500"),
    (["generate", "x", "--steps", "501"], "Steps must be between 1 and 500"),
    (["generate", "x", "--steps", "ten"], "not a whole number"),
    (["generate", "x", "--guidance", "nan"], "finite"),
    (["generate", "x", "--guidance", "inf"], "finite"),
    (["generate", "x", "--sampler", "plms"], "Unknown sampler 'plms'"),
    (["generate", "x", "--model", "sd-v9"], "Unknown model 'sd-v9'"),
    (["generate", "x", "--out", "/nonexistent-dir/x.png"], "does not exist"),
    (["generate", "x", "--out", "picture.jpg"], "must end in .png"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(installed_tiny, args, fragment, capsys,
                                         tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and fragment in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unwritable_output_folder_is_refused_before_any_work(installed_tiny, tmp_path,
                                                             capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["generate", "x", "--model", installed_tiny, "--out", str(blocker / "a.png")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_models_list_shows_the_installed_model(installed_tiny, capsys) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny-model" in out and "128x128" in out and "MIT" in out


def test_info_prints_settings_and_json(installed_tiny, tmp_path, capsys) -> None:
    out = tmp_path / "i.png"
    main(["generate", "a small white blob", "--model", installed_tiny, "--seed", "3",
          "--steps", "2", "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("a small white blob") and "Seed: 3" in text
    assert main(["info", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["seed"] == 3 and data["ai_generated"] is True


def test_info_on_a_non_png_is_a_clear_error(tmp_path, capsys) -> None:
    bad = tmp_path / "x.png"
    bad.write_text("hello")
    code = main(["info", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_console_script_runs_in_a_fresh_process(installed_tiny, tmp_path) -> None:
    out = tmp_path / "p.png"
    exe = Path(sys.executable).parent / "parasight"
    proc = subprocess.run([str(exe), "generate", "an orb", "--model", installed_tiny,
                           "--seed", "1", "--steps", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()


def test_generate_without_a_model_uses_the_embedded_mini_model(tmp_path, capsys) -> None:
    out = tmp_path / "snow.png"
    assert main(["generate", "a red blob in the snow", "--seed", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    meta = read_png_metadata(out)
    assert meta.settings is not None and meta.settings.model_name == "parasight-mini"
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert pixels.shape == (128, 128, 3)
    # The embedded model draws what it is told: more red than green or blue.
    r, g, b = (pixels[..., i].mean() for i in range(3))
    assert r > g and r > b


def test_models_import_refuses_with_one_line_and_installs_nothing(tmp_path, capsys,
                                                                   monkeypatch) -> None:
    import pickle

    from parasight_desktop.engine import store

    models = tmp_path / "models"
    monkeypatch.setattr(store, "user_models_dir", lambda: models)
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(pickle.dumps(print))
    cases = [([str(ckpt)], "pickled PyTorch file"),
             ([str(tmp_path / "absent.safetensors")], "no such file"),
             ([str(ckpt.with_suffix(".safetensors")), "--lora", "x:strong"], "must be a number")]
    for args, fragment in cases:
        code = main(["models", "import", *args])
        err = capsys.readouterr().err
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and fragment in err
    assert not models.exists()


# --- Image to image and inpainting ----------------------------------------------------


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A 'photo' wider than the model (320x200): left half red, right half blue."""
    pixels = np.zeros((200, 320, 3), np.uint8)
    pixels[:, :160] = (220, 30, 30)
    pixels[:, 160:] = (30, 30, 220)
    path = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(path, quality=95)
    return path


def _start(path: Path, fit: str = "crop") -> np.ndarray:
    from parasight_desktop.library.start_image import load_start_image

    return load_start_image(path, 128, 128, fit).pixels  # type: ignore[arg-type]


def test_generate_from_a_start_image(installed_tiny, photo, tmp_path, capsys) -> None:
    from parasight_desktop.engine.types import image_sha256

    out = tmp_path / "from-photo.png"
    code = main(["generate", "a shape by the river", "--model", installed_tiny,
                 "--init-image", str(photo), "--strength", "0.5", "--steps", "4",
                 "--seed", "7", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "from photo.jpg at strength 0.5 (2 of 4 steps)" in captured.err
    meta = read_png_metadata(out)
    assert meta.settings is not None and meta.settings.strength == 0.5
    assert meta.settings.init_image_sha256 == image_sha256(_start(photo))
    assert meta.parameters is not None and "Denoising strength: 0.5" in meta.parameters
    assert "Mask blur" not in meta.parameters


def test_fit_letterboxes_the_start_image(installed_tiny, photo, tmp_path) -> None:
    from parasight_desktop.engine.types import image_sha256

    out = tmp_path / "fitted.png"
    assert main(["generate", "a shape", "--model", installed_tiny, "--init-image", str(photo),
                 "--fit", "fit", "--steps", "2", "--seed", "1", "--out", str(out),
                 "--quiet"]) == 0
    meta = read_png_metadata(out)
    assert meta.settings is not None
    assert meta.settings.init_image_sha256 == image_sha256(_start(photo, "fit"))
    assert meta.settings.init_image_sha256 != image_sha256(_start(photo, "crop"))


def test_inpainting_keeps_the_start_image_outside_the_mask(installed_tiny, photo,
                                                            tmp_path, capsys) -> None:
    mask = np.zeros((200, 320), np.uint8)
    mask[60:140, 120:200] = 255  # change the middle only
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    out = tmp_path / "inpainted.png"
    code = main(["generate", "a dark shape", "--model", installed_tiny, "--init-image",
                 str(photo), "--mask", str(mask_path), "--mask-blur", "2", "--strength",
                 "1", "--steps", "2", "--seed", "3", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "inpainting" in captured.err
    meta = read_png_metadata(out)
    assert meta.settings is not None and meta.settings.mask_blur == 2
    assert meta.parameters is not None and "Denoising strength: 1, Mask blur: 2" in meta.parameters
    made = np.asarray(Image.open(out).convert("RGB")).astype(int)
    start = _start(photo).astype(int)
    assert np.abs(made[:20, :20] - start[:20, :20]).max() <= 2  # far from the mask: kept


@pytest.mark.parametrize("args, fragment", [
    (["--init-image", "missing.jpg"], "missing.jpg does not exist"),
    (["--init-image", "notes.png"], "notes.png is not a picture ParaSight can read"),
    (["--init-image", "empty.png"], "empty.png is empty"),
    (["--init-image", "photo.png", "--strength", "1.5"], "at most 1"),
    (["--init-image", "photo.png", "--strength", "0"], "Strength must be above 0"),
    (["--init-image", "photo.png", "--mask", "black.png"], "mask is empty"),
    (["--init-image", "photo.png", "--mask-blur", "99"], "Mask blur must be between"),
    (["--init-image", "photo.png", "--fit", "stretch"], "invalid choice"),
    (["--strength", "0.5"], "--strength needs a start image"),
    (["--mask", "black.png", "--fit", "fit"], "--fit and --mask need a start image"),
])
def test_bad_start_images_exit_2_with_one_line(installed_tiny, args, fragment, tmp_path,
                                               capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 64), (90, 90, 90)).save("photo.png")
    Image.new("L", (64, 64), 0).save("black.png")
    Path("notes.png").write_text("seen at dusk")
    Path("empty.png").write_bytes(b"")
    before = set(tmp_path.iterdir())
    try:
        code = main(["generate", "a shape", "--model", installed_tiny, "--steps", "2", *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and fragment in err
    assert set(tmp_path.iterdir()) == before  # nothing written


def test_a_model_without_an_image_encoder_says_so_in_one_line(installed_tiny, photo,
                                                               tmp_path, capsys) -> None:
    folder = Path(os.environ["PARASIGHT_DATA_DIR"]) / "models" / installed_tiny
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("image_encoder", None)
    manifest["files"].pop("image_encoder.tflite", None)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "image_encoder.tflite").unlink(missing_ok=True)
    out = tmp_path / "never.png"
    code = main(["generate", "a shape", "--model", installed_tiny, "--init-image", str(photo),
                 "--steps", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has no image encoder" in err and not out.exists()
