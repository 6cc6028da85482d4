"""The Mini's text encoder is trained on its own first, then frozen and its contexts
cached for the UNet's training (Stable Diffusion's recipe with CLIP)."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from training.captions import caption
from training.mini_model import MAX_TOKENS, MiniConfig
from training.render import random_sighting
from training.train_mini import Plan, encode_contexts, tokenize_all, train_text_encoder


@pytest.fixture(scope="module")
def trained() -> tuple[object, dict[str, float], MiniConfig]:
    rng = np.random.default_rng(0)
    sightings = [random_sighting(rng) for _ in range(1000)]
    texts = [caption(s, rng) for s in sightings for _ in range(2)]
    ids = tokenize_all(texts).reshape(len(sightings), 2, MAX_TOKENS)
    cfg = MiniConfig.tiny()
    plan = replace(Plan(), text_steps=400, text_batch=64, text_lr=1e-2)
    encoder, acc = train_text_encoder(cfg, plan, ids, sightings, time.perf_counter())
    return encoder, acc, cfg


@pytest.mark.slow
def test_the_trained_encoder_names_what_unseen_captions_say_and_is_frozen(trained) -> None:
    encoder, acc, _ = trained
    # colour and setting are in every caption; chance is 1/8 and 1/6 (the real run,
    # 10,000 sightings: 100% both, logged and in the manifest)
    assert acc["colour"] > 0.85 and acc["setting"] > 0.85, acc
    assert not encoder.trainable and not encoder.trainable_weights


@pytest.mark.slow
def test_cached_contexts_are_the_encoders_output(trained) -> None:
    encoder, _, cfg = trained
    ids = tokenize_all(["a red blob in the snow", "a green serpent in the lake",
                        "a red blob in the snow", ""]).reshape(2, 2, MAX_TOKENS)
    ctx = encode_contexts(encoder, ids)
    assert ctx.shape == (2, 2, MAX_TOKENS, cfg.text_dim) and ctx.dtype == np.float16
    pos = np.tile(np.arange(MAX_TOKENS, dtype=np.int32), (4, 1))
    direct = np.asarray(encoder([ids.reshape(4, MAX_TOKENS), pos])).reshape(ctx.shape)
    np.testing.assert_allclose(ctx.astype(np.float32), direct, atol=1e-2, rtol=1e-2)
    assert np.array_equal(ctx[0, 0], ctx[1, 0])  # the same caption, the same context
    assert np.abs(ctx[0, 0].astype(np.float32) - ctx[0, 1]).mean() > 1e-2
