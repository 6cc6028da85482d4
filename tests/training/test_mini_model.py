"""The Mini's architecture: the pooled-text path is on for new runs, off for old configs."""

from __future__ import annotations

import numpy as np

from training.mini_model import MAX_TOKENS, MiniConfig, build_unet


def test_configs_saved_before_the_pooled_text_path_build_the_old_unet() -> None:
    old = {k: v for k, v in MiniConfig.tiny().to_dict().items() if k != "unet_pooled_text"}
    assert not MiniConfig.from_dict(old).unet_pooled_text
    assert MiniConfig.from_dict(MiniConfig.tiny().to_dict()).unet_pooled_text
    assert (build_unet(MiniConfig.from_dict(old)).count_params()
            < build_unet(MiniConfig.tiny()).count_params())


def _output(cfg: MiniConfig, context: np.ndarray) -> np.ndarray:
    """The UNet's output with random weights and every attention silenced (its output
    projection zeroed): the caption can then only come in through the pooled path."""
    import keras

    keras.utils.set_random_seed(0)
    unet = build_unet(cfg)
    rng = np.random.default_rng(0)
    for w in unet.weights:  # the zero-initialised layers would hide every path
        w.assign(rng.normal(0, 0.3, w.shape).astype("float32"))
    for layer in unet.layers:
        if isinstance(layer, keras.layers.MultiHeadAttention):
            for w in layer._output_dense.weights:
                w.assign(np.zeros(w.shape, "float32"))
    s = cfg.latent_size
    latent = rng.standard_normal((1, s, s, cfg.latent_channels)).astype("float32")
    temb = rng.standard_normal((1, cfg.t_dim)).astype("float32")
    return np.asarray(unet([latent, temb, context]))


def test_the_pooled_caption_steers_the_unet_without_attention() -> None:
    tiny = MiniConfig.tiny()
    rng = np.random.default_rng(1)
    one, other = rng.standard_normal((2, 1, MAX_TOKENS, tiny.text_dim)).astype("float32")
    assert np.abs(_output(tiny, one) - _output(tiny, other)).mean() > 1e-3
    old = MiniConfig.from_dict({**tiny.to_dict(), "unet_pooled_text": False})
    assert np.array_equal(_output(old, one), _output(old, other))  # cross-attention only


def _attention_layers(cfg: MiniConfig) -> int:
    import keras

    return sum(isinstance(layer, keras.layers.MultiHeadAttention)
               for layer in build_unet(cfg).layers)


def test_configs_saved_before_the_top_self_attention_option_keep_it() -> None:
    old = {k: v for k, v in MiniConfig.tiny().to_dict().items()
           if k != "unet_top_self_attention"}
    assert MiniConfig.from_dict(old).unet_top_self_attention
    new = MiniConfig.tiny()
    assert not MiniConfig.from_dict(new.to_dict()).unet_top_self_attention
    # five transformer blocks (16x16 down and up, 8x8 down and up, 4x4): the two at the
    # top keep their cross-attention and lose their self-attention
    assert _attention_layers(MiniConfig.from_dict(old)) == 10
    assert _attention_layers(new) == 8
