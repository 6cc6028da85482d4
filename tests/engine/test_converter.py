"""Keras -> TFLite through the project's converter, run back by LiteRT (slow: imports TF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_model():  # type: ignore[no-untyped-def]
    import keras

    keras.utils.set_random_seed(0)
    a = keras.Input((8, 8, 4), name="latent")
    b = keras.Input((6,), name="timestep_embedding")
    x = keras.layers.Conv2D(64, 3, padding="same", activation="swish")(a)
    x = x + keras.layers.Reshape((1, 1, 64))(keras.layers.Dense(64)(b))
    x = keras.layers.GroupNormalization(groups=8)(x)
    out = keras.layers.Conv2D(4, 3, padding="same")(x)
    return keras.Model([a, b], out)


def _probe() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"latent": rng.standard_normal((2, 8, 8, 4)).astype(np.float32),
            "timestep_embedding": rng.standard_normal((2, 6)).astype(np.float32)}


@pytest.mark.parametrize("precision, min_psnr", [("fp32", 80.0), ("fp16", 35.0),
                                                 ("int8", 25.0)])
def test_conversion_keeps_names_and_matches_keras(small_model, tmp_path: Path,
                                                  precision: str, min_psnr: float) -> None:
    from parasight_desktop.engine.converter import TensorSpec, convert_keras_model
    from parasight_desktop.engine.fileio import sha256_file
    from parasight_desktop.engine.runner import TFLiteModel

    out = tmp_path / f"m-{precision}.tflite"
    report = convert_keras_model(
        small_model, out,
        [TensorSpec("latent", (None, 8, 8, 4)), TensorSpec("timestep_embedding", (None, 6))],
        ["noise"], precision, probe=_probe())
    assert report.size == out.stat().st_size and report.sha256 == sha256_file(out)
    assert report.psnr_db is not None and report.psnr_db >= min_psnr
    model = TFLiteModel(out)
    assert set(model.inputs) == {"latent", "timestep_embedding"}
    assert set(model.outputs) == {"noise"}
    assert not list(tmp_path.glob(".*.part"))  # nothing half-written left behind


def test_int8_and_fp16_files_are_smaller_than_fp32(small_model, tmp_path: Path) -> None:
    from parasight_desktop.engine.converter import TensorSpec, convert_keras_model

    sizes = {}
    for p in ("fp32", "fp16", "int8"):
        sizes[p] = convert_keras_model(
            small_model, tmp_path / f"{p}.tflite",
            [TensorSpec("latent", (None, 8, 8, 4)), TensorSpec("timestep_embedding", (None, 6))],
            ["noise"], p).size
    assert sizes["int8"] < sizes["fp32"] and sizes["fp16"] < sizes["fp32"]


def test_unknown_precision_is_refused(small_model, tmp_path: Path) -> None:
    from parasight_desktop.engine.converter import convert_keras_model
    from parasight_desktop.engine.errors import InputError

    with pytest.raises(InputError, match="bf16"):
        convert_keras_model(small_model, tmp_path / "x.tflite", [], ["y"], "bf16")
