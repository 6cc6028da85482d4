"""The export-time arrangements of GroupNormalization and the VAE attention
(engine/lean_keras.py) compute what Keras and keras-cv compute, and convert to the
operators they were written for (no five-axis MEAN, no transposed score matrix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parasight_desktop.engine import lean_keras

pytestmark = pytest.mark.slow


def _group_norm(channels: int, seed: int) -> object:
    import keras

    gn = keras.layers.GroupNormalization(epsilon=1e-5)
    gn.build((None, None, None, channels))
    rng = np.random.default_rng(seed)
    gn.gamma.assign(rng.standard_normal(channels).astype(np.float32))
    gn.beta.assign(rng.standard_normal(channels).astype(np.float32))
    return gn


@pytest.mark.parametrize("shape, offset", [((2, 6, 5, 64), 0.0), ((1, 4, 4, 320), 50.0),
                                           ((1, 3, 7, 128), -3.0)])
def test_group_norm_computes_what_keras_does(shape: tuple[int, ...], offset: float) -> None:
    gn = _group_norm(shape[-1], 1)
    x = (np.random.default_rng(0).standard_normal(shape) * 4 + offset).astype(np.float32)
    ref = np.asarray(gn(x))
    with lean_keras.lean_layers():
        got = np.asarray(gn(x))
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-4 * float(np.abs(ref).max()))
    # and the layer is Keras's own again outside the arrangement
    assert np.array_equal(np.asarray(gn(x)), ref)


def test_group_norm_falls_back_to_keras_for_other_ranks() -> None:
    import keras

    gn = keras.layers.GroupNormalization(groups=4, epsilon=1e-5)
    x = np.random.default_rng(2).standard_normal((2, 9, 16)).astype(np.float32)
    ref = np.asarray(gn(x))
    with lean_keras.lean_layers():
        assert np.array_equal(np.asarray(gn(x)), ref)


def test_vae_attention_computes_what_keras_cv_does() -> None:
    import keras
    from keras_cv.src.models.stable_diffusion.attention_block import AttentionBlock

    keras.utils.set_random_seed(0)
    block = AttentionBlock(64)
    x = np.random.default_rng(1).standard_normal((1, 6, 5, 64)).astype(np.float32) * 3
    ref = np.asarray(block(x))
    with lean_keras.lean_layers():
        got = np.asarray(block(x))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4 * float(np.abs(ref).max()))


@pytest.mark.parametrize("size", [(2, 2), (3, 1)])
def test_upsampling_repeats_pixels_as_keras_does(size: tuple[int, int]) -> None:
    import keras

    up = keras.layers.UpSampling2D(size)
    x = np.random.default_rng(4).standard_normal((2, 5, 3, 7)).astype(np.float32)
    ref = np.asarray(up(x))
    with lean_keras.lean_layers():
        got = np.asarray(up(x))
    assert np.array_equal(got, ref)
    bilinear = keras.layers.UpSampling2D(2, interpolation="bilinear")
    ref = np.asarray(bilinear(x))
    with lean_keras.lean_layers():  # not the arrangement's: Keras's own
        assert np.array_equal(np.asarray(bilinear(x)), ref)


def test_converted_decoder_block_uses_the_fast_operators(tmp_path: Path) -> None:
    """A VAE block (GroupNorm, swish, attention, upsampling) converted under the
    arrangement: the probe against Keras's own arithmetic holds, the statistics are
    taken by 4-D MEANs over the spatial axes (XNNPACK's global average pool), the only
    transposes are of the keys (hw x c), never of the (hw x hw) scores, and no operator
    is left outside XNNPACK (no TILE): the whole block is one delegated graph."""
    import keras
    from ai_edge_litert.interpreter import Interpreter
    from keras_cv.src.models.stable_diffusion.attention_block import AttentionBlock

    from parasight_desktop.engine.converter import TensorSpec, convert_keras_model

    keras.utils.set_random_seed(0)
    h, w, c = 12, 10, 64
    inp = keras.Input((h, w, c), batch_size=1)
    x = keras.activations.swish(keras.layers.GroupNormalization(epsilon=1e-5)(inp))
    model = keras.Model(inp, keras.layers.UpSampling2D(2)(AttentionBlock(c)(x)))
    probe = {"x": np.random.default_rng(3).standard_normal((1, h, w, c)).astype(np.float32)}
    out = tmp_path / "block.tflite"
    report = convert_keras_model(model, out, [TensorSpec("x", (1, h, w, c))], ["y"], "fp32",
                                 probe=probe, workdir=tmp_path, rewrite=lean_keras.lean_layers)
    assert report.psnr_db is not None and report.psnr_db > 90
    it = Interpreter(str(out))
    shapes = {t["index"]: tuple(t["shape"]) for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    means = [shapes[o["inputs"][0]] for o in ops if o["op_name"] == "MEAN"]
    assert means and all(len(s) <= 4 for s in means)
    assert any(s == (1, h, w, c) for s in means)  # the spatial means of the big tensor
    for o in ops:
        if o["op_name"] == "TRANSPOSE":
            assert shapes[o["inputs"][0]][-2:] != (h * w, h * w)
    assert "TILE" not in {o["op_name"] for o in ops}
    it.allocate_tensors()  # XNNPACK takes the graph here: one piece, nothing left over
    assert [o["op_name"] for o in it._get_ops_details()].count("DELEGATE") == 1
