"""The Mini's architecture: options new runs take and configs saved before them do not."""

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


def _context_through_the_word_path_only(cfg: MiniConfig, texts: list[str]) -> np.ndarray:
    """Contexts with every layer norm but the word path's silenced (gain 0, bias 0): the
    attention layers then see constants and the last norm gives 0, so whatever is left
    of a word came the direct way."""
    import keras

    from training.mini_model import build_text_encoder
    from training.train_mini import tokenize_all

    keras.utils.set_random_seed(0)
    encoder = build_text_encoder(cfg)
    for layer in encoder.layers:
        if isinstance(layer, keras.layers.LayerNormalization):
            src = layer._inbound_nodes[0].input_tensors[0]._keras_history.operation
            if not isinstance(src, keras.layers.Dense):  # the word path reads the embedding
                for w in layer.weights:
                    w.assign(np.zeros(w.shape, "float32"))
    ids = tokenize_all(texts)
    pos = np.tile(np.arange(MAX_TOKENS, dtype=np.int32), (len(texts), 1))
    return np.asarray(encoder([ids, pos]))


def test_a_words_own_embedding_reaches_its_context_whatever_surrounds_it() -> None:
    texts = ["a red blob", "a red serpent", "it was red"]
    ctx = _context_through_the_word_path_only(MiniConfig.tiny(), texts)
    red = ctx[0, 2]  # [start, a, red, ...]
    assert np.abs(red).mean() > 0.1
    np.testing.assert_allclose(ctx[1, 2], red, atol=1e-5)  # another creature beside it
    np.testing.assert_allclose(ctx[2, 3], red, atol=1e-5)  # another place in the caption
    assert np.abs(ctx[0, 3] - ctx[1, 3]).mean() > 0.1  # blob is not serpent
    old = MiniConfig.from_dict({k: v for k, v in MiniConfig.tiny().to_dict().items()
                                if k != "text_word_skip"})
    assert not old.text_word_skip  # configs saved before the option: no word path
    assert np.abs(_context_through_the_word_path_only(old, texts)).max() < 1e-6
