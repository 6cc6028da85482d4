"""The runner's second backend: LiteRT's CompiledModel with XNNPACK's options, on real
small models converted by the project's own converter and run by real LiteRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parasight_desktop.engine.errors import ModelError
from parasight_desktop.engine.runner import (
    WEIGHT_CACHE_DIR,
    CpuSettings,
    TFLiteModel,
    reload_choice,
    reload_settings,
    signature_inputs,
    weight_cache_file,
)
from tests.engine.test_runner_store import assert_refuses_a_second_thread

pytestmark = pytest.mark.slow  # the fixture converts with TensorFlow


@pytest.fixture(scope="module")
def fixed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UNet-like block at a fixed batch of 1, int8 dynamic range like the SD imports."""
    import keras

    from parasight_desktop.engine.converter import TensorSpec, convert_keras_model

    keras.utils.set_random_seed(0)
    a = keras.Input((8, 8, 4), name="latent")
    b = keras.Input((6,), name="timestep_embedding")
    x = keras.layers.Conv2D(64, 3, padding="same", activation="swish")(a)
    x = x + keras.layers.Reshape((1, 1, 64))(keras.layers.Dense(64)(b))
    x = keras.layers.Reshape((64, 64))(x)
    x = keras.layers.MultiHeadAttention(4, 16)(x, x)
    x = keras.layers.Reshape((8, 8, 64))(x)
    out = keras.layers.Conv2D(4, 3, padding="same")(x)
    path = tmp_path_factory.mktemp("fixed") / "block.tflite"
    convert_keras_model(keras.Model([a, b], out), path,
                        [TensorSpec("latent", (1, 8, 8, 4)),
                         TensorSpec("timestep_embedding", (1, 6))], ["noise"], "int8")
    return path


def _feeds(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"latent": rng.standard_normal((1, 8, 8, 4)).astype(np.float32),
            "timestep_embedding": rng.standard_normal((1, 6)).astype(np.float32)}


def test_signature_shapes_are_read_from_the_file(fixed_model: Path,
                                                 tiny_model_dir: Path) -> None:
    assert signature_inputs(fixed_model) == {"latent": (1, 8, 8, 4),
                                             "timestep_embedding": (1, 6)}
    assert signature_inputs(tiny_model_dir / "unet.tflite") == {
        "latent": (-1, 16, 16, 4), "timestep_embedding": (-1, 16), "context": (-1, 77, 16)}


def test_compiled_model_gives_the_interpreters_numbers(fixed_model: Path) -> None:
    plain = TFLiteModel(fixed_model, threads=2)
    compiled = TFLiteModel(fixed_model, threads=2, cpu=CpuSettings(compiled=True))
    assert compiled.cpu.compiled and not plain.cpu.compiled
    assert set(compiled.inputs) == set(plain.inputs)
    assert set(compiled.outputs) == set(plain.outputs) == {"noise"}
    assert compiled.input_shape("latent") == plain.input_shape("latent") == (1, 8, 8, 4)
    for seed in (0, 1):  # buffers are reused between calls
        a, b = plain(**_feeds(seed))["noise"], compiled(**_feeds(seed))["noise"]
        assert b.shape == (1, 8, 8, 4) and b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_weight_cache_is_written_once_and_read_back(fixed_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "xnnpack"
    cpu = CpuSettings(compiled=True, weight_cache=cache)
    want = TFLiteModel(fixed_model, threads=1)(**_feeds())["noise"]
    first = TFLiteModel(fixed_model, threads=1, cpu=cpu)
    np.testing.assert_array_equal(first(**_feeds())["noise"], want)
    files = list(cache.iterdir())
    assert files == [weight_cache_file(cache, fixed_model, None)]
    assert files[0].stat().st_size > 0
    written = files[0].stat().st_mtime_ns
    del first
    again = TFLiteModel(fixed_model, threads=1, cpu=cpu)  # the reload after a decode
    np.testing.assert_array_equal(again(**_feeds())["noise"], want)
    assert list(cache.iterdir()) == files and files[0].stat().st_mtime_ns == written


def test_cache_file_changes_with_the_model_file(fixed_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "block.tflite"
    copy.write_bytes(fixed_model.read_bytes())
    before = weight_cache_file(tmp_path, copy, None)
    copy.write_bytes(fixed_model.read_bytes() + b"\0")
    assert weight_cache_file(tmp_path, copy, None) != before
    assert weight_cache_file(tmp_path, copy, 4) != weight_cache_file(tmp_path, copy, None)


def test_compiled_model_checks_inputs_like_the_interpreter(fixed_model: Path) -> None:
    model = TFLiteModel(fixed_model, threads=1, cpu=CpuSettings(compiled=True))
    bad = _feeds()
    bad["latent"] = np.zeros((2, 8, 8, 4), np.float32)
    with pytest.raises(ModelError, match="must have shape"):
        model(**bad)
    bad = _feeds()
    bad["latent"] = bad["latent"].astype(np.float64)
    with pytest.raises(ModelError, match="must be float32"):
        model(**bad)
    with pytest.raises(ModelError, match="missing"):
        model(latent=_feeds()["latent"])
    assert_refuses_a_second_thread(model, _feeds())


def test_resizable_models_stay_on_the_interpreter(tiny_model_dir: Path) -> None:
    """A compiled model's outputs keep their first size after an input resize in this
    LiteRT, so models with a resizable batch run on the interpreter whatever is asked."""
    unet = TFLiteModel(tiny_model_dir / "unet.tflite", threads=1,
                       cpu=CpuSettings(compiled=True))
    assert not unet.cpu.compiled
    assert unet.input_shape("latent") == (-1, 16, 16, 4)
    feeds = {"latent": np.zeros((2, 16, 16, 4), np.float32),
             "timestep_embedding": np.zeros((2, 16), np.float32),
             "context": np.zeros((2, 77, 16), np.float32)}
    assert unet(**feeds)["noise"].shape == (2, 16, 16, 4)


def test_settings_say_what_runs() -> None:
    assert CpuSettings().describe() == "LiteRT Interpreter (XNNPACK)"
    assert (CpuSettings(compiled=True, weight_cache=Path("x")).describe()
            == "LiteRT CompiledModel (XNNPACK), weight cache")


def test_a_stale_cache_of_the_same_model_is_deleted(fixed_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "xnnpack"
    cache.mkdir()
    stale = cache / "block-0123456789abcdef"
    other = cache / "block-other-0123456789abcdef"  # another model's file
    stale.write_bytes(b"old")
    other.write_bytes(b"keep")
    TFLiteModel(fixed_model, threads=1, cpu=CpuSettings(compiled=True, weight_cache=cache))
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [other.name, weight_cache_file(cache, fixed_model, None).name])


def test_reload_settings_choose_the_cache_per_machine(tmp_path: Path) -> None:
    avx2 = frozenset({"avx2", "fma"})
    got = reload_settings(tmp_path, "int8", avx2)
    assert got == CpuSettings(compiled=True, weight_cache=tmp_path / WEIGHT_CACHE_DIR)
    assert not (tmp_path / WEIGHT_CACHE_DIR).exists()  # made only when a model uses it
    assert reload_settings(tmp_path, "int8", frozenset()).compiled  # flags unknown
    assert reload_settings(tmp_path, "int8", avx2 | {"avx512f"}) == CpuSettings()
    assert reload_settings(tmp_path, "fp32", avx2) == CpuSettings()
    assert reload_settings(tmp_path / "missing", "int8", avx2) == CpuSettings()


def test_reload_choice_says_what_was_picked_and_why(tmp_path: Path) -> None:
    """The sentence the Models window shows, one per case, and always with the same
    settings reload_settings gives."""
    avx2 = frozenset({"avx2", "fma"})
    cases = {(tmp_path, "int8", avx2): "no AVX-512",
             (tmp_path, "int8", frozenset()): "features could not be read",
             (tmp_path, "int8", avx2 | {"avx512f"}): "has AVX-512",
             (tmp_path, "fp32", avx2): "in fp32",
             (tmp_path / "missing", "int8", avx2): "cannot be written"}
    for (folder, precision, flags), words in cases.items():
        settings, why = reload_choice(folder, precision, flags)
        assert settings == reload_settings(folder, precision, flags)
        assert words in why and why.endswith(".")
        assert ("and its weight cache (" in why) == settings.compiled


def test_pipeline_of_a_resizable_model_runs_as_before(tiny_engine, tiny_model_dir) -> None:  # type: ignore[no-untyped-def]
    from parasight_desktop.engine.types import GenerationRequest

    pipe = tiny_engine.pipeline("tiny-model")
    assert all(not m.cpu.compiled for m in pipe.unet_parts)
    tiny_engine.generate(GenerationRequest("a cat", seed=1, model="tiny-model", steps=2))
    assert not (tiny_model_dir / WEIGHT_CACHE_DIR).exists()


def test_a_damaged_file_is_still_a_clear_error(fixed_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(fixed_model.read_bytes()[:4096])
    with pytest.raises(ModelError, match="could not be loaded"):
        TFLiteModel(broken, threads=1, cpu=CpuSettings(compiled=True, weight_cache=tmp_path))
