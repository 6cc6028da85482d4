"""The LiteRT wrapper's input checks and the model store's verification."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parasight_desktop.engine import store as store_mod
from parasight_desktop.engine.errors import InputError, ModelError
from parasight_desktop.engine.manifest import load_manifest
from parasight_desktop.engine.runner import TFLiteModel
from parasight_desktop.engine.store import ModelStore


@pytest.fixture
def unet(tiny_model_dir: Path) -> TFLiteModel:
    return TFLiteModel(tiny_model_dir / "unet.tflite", threads=1)


def _feeds(batch: int = 1) -> dict[str, np.ndarray]:
    return {"latent": np.zeros((batch, 16, 16, 4), np.float32),
            "timestep_embedding": np.zeros((batch, 16), np.float32),
            "context": np.zeros((batch, 77, 16), np.float32)}


def test_runner_runs_by_name_and_resizes_the_batch(unet: TFLiteModel) -> None:
    assert set(unet.inputs) == {"latent", "timestep_embedding", "context"}
    assert unet.input_shape("latent") == (-1, 16, 16, 4)
    assert unet(**_feeds(1))["noise"].shape == (1, 16, 16, 4)
    assert unet(**_feeds(2))["noise"].shape == (2, 16, 16, 4)


@pytest.mark.parametrize("change, fragment", [
    (lambda f: f.pop("context"), "missing \\['context'\\]"),
    (lambda f: f.update(extra=np.zeros(1, np.float32)), "unexpected \\['extra'\\]"),
    (lambda f: f.update(latent=np.zeros((1, 16, 16, 4), np.float64)), "must be float32"),
    (lambda f: f.update(latent=np.zeros((1, 8, 8, 4), np.float32)), "must have shape"),
    (lambda f: f.update(context=np.zeros((77, 16), np.float32)), "must have shape"),
])
def test_runner_refuses_wrong_inputs_with_a_clear_error(unet, change, fragment) -> None:
    feeds = _feeds()
    change(feeds)
    with pytest.raises(ModelError, match=fragment):
        unet(**feeds)


def assert_refuses_a_second_thread(model: Any, feeds: dict[str, np.ndarray]) -> None:
    """A model called first from this thread refuses a call from another, with a sentence
    (a LiteRT model must not be called from two threads; shared with the compiled runner's
    tests)."""
    model(**feeds)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            model(**feeds)
        except ModelError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors and "second thread" in str(errors[0])


def test_runner_refuses_a_second_thread(unet: TFLiteModel) -> None:
    assert_refuses_a_second_thread(unet, _feeds())


def test_runner_names_a_damaged_file(tmp_path: Path) -> None:
    bad = tmp_path / "unet.tflite"
    bad.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ModelError, match="unet.tflite"):
        TFLiteModel(bad)


def test_store_lists_and_loads_a_verified_model(tiny_store: ModelStore) -> None:
    assert tiny_store.names() == ["tiny-model"]
    assert tiny_store.default_model() == "tiny-model"
    info = tiny_store.get("tiny-model")
    assert info.licence_name == "MIT" and "MIT License" in info.licence_text
    assert (info.width, info.height) == (128, 128)
    m = tiny_store.load("tiny-model")
    assert m.latent_shape == (16, 16, 4) and m.unet_parts[0].outputs == ("noise",)


def test_an_older_stable_diffusion_conversion_is_pointed_to_the_faster_one(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    """A folder converted before the current layout (engine.sd_convert.LAYOUT) says that
    converting it again decodes faster; the current layout and other models say nothing."""
    from parasight_desktop.engine.sd_convert import LAYOUT

    path = tiny_model_dir / "manifest.json"
    data = json.loads(path.read_text())
    said = {}
    for layout in (None, 2, LAYOUT):
        data["extra"] = {"precision": "int8", "batch": 1, "lean_attention": True,
                         **({"layout": layout} if layout else {})}
        path.write_text(json.dumps(data))
        info = ModelStore([tiny_model_dir.parent], hash_cache=tmp_path / "h.json").get(
            "tiny-model")
        said[layout] = info.runs_on
    assert "converting or importing it again" in said[None]
    assert "decoder about 1.8 times as fast" in said[None]
    assert "converting or importing it again" in said[2] and "1.8" not in said[2]
    assert said[None].startswith("LiteRT") and "earlier ParaSight" not in said[LAYOUT]
    assert info.precision == "int8"


def test_unknown_model_is_an_input_error(tiny_store: ModelStore) -> None:
    with pytest.raises(InputError, match="Unknown model 'sd-v9'.*tiny-model"):
        tiny_store.load("sd-v9")


def test_missing_file_is_named(tiny_store: ModelStore, tiny_model_dir: Path) -> None:
    (tiny_model_dir / "decoder.tflite").unlink()
    with pytest.raises(ModelError, match="missing decoder.tflite"):
        tiny_store.load("tiny-model")


def test_truncated_file_is_named(tiny_store: ModelStore, tiny_model_dir: Path) -> None:
    f = tiny_model_dir / "unet.tflite"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(ModelError, match="unet.tflite.*bytes"):
        tiny_store.load("tiny-model")


def test_changed_file_of_the_same_size_fails_its_hash(tiny_store, tiny_model_dir) -> None:
    tiny_store.load("tiny-model")  # hashes cached now
    f = tiny_model_dir / "text_encoder.tflite"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="text_encoder.tflite.*sha256"):
        tiny_store.load("tiny-model")


def test_hashes_are_computed_once_per_file(tiny_store, monkeypatch) -> None:
    calls: list[Path] = []
    real = store_mod.sha256_file
    monkeypatch.setattr(store_mod, "sha256_file", lambda p: calls.append(p) or real(p))
    n_files = len(tiny_store.load("tiny-model").files)
    assert len(calls) == n_files == 4  # text encoder, UNet, decoder, image encoder
    tiny_store.load("tiny-model")
    again = ModelStore(tiny_store.roots, hash_cache=tiny_store.hashes.path)
    again.load("tiny-model")
    assert len(calls) == n_files  # cached in memory and on disk


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "damaged"),
    ("[]", "not a JSON object"),
    ('{"format": 99}', "format 99"),
    ('{"format": 1, "name": "x"}', "lacks 'files'"),
])
def test_malformed_manifest_is_a_clear_error(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ModelError, match=fragment):
        load_manifest(tmp_path)


def test_manifest_naming_an_unlisted_file_is_refused(tiny_model_dir: Path) -> None:
    path = tiny_model_dir / "manifest.json"
    data = json.loads(path.read_text())
    del data["files"]["decoder.tflite"]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="decoder.tflite"):
        load_manifest(tiny_model_dir)


def test_broken_model_is_skipped_in_the_list(tiny_store, tiny_model_dir: Path) -> None:
    broken = tiny_model_dir.parent / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{")
    assert [i.name for i in tiny_store.list_models()] == ["tiny-model"]


def test_no_models_installed_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="No model is installed"):
        ModelStore([tmp_path]).default_model()


def test_released_model_pages_come_back_as_the_same_bytes(tiny_model_dir) -> None:
    """After the first run the model file's mapped pages are let go (Linux); later runs
    fault them back in from the file and compute exactly the same outputs."""
    import sys

    import numpy as np

    from parasight_desktop.engine.runner import TFLiteModel, release_mapped_pages

    model = TFLiteModel(tiny_model_dir / "decoder.tflite", threads=1)
    name = next(iter(model.inputs))
    shape = [d if d > 0 else 1 for d in model.input_shape(name)]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    first = model(**{name: x})
    if sys.platform.startswith("linux"):
        assert release_mapped_pages(model.path) > 0  # the file is mapped, and was advised
    again = model(**{name: x})
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
