"""The pipeline end to end on the real tiny model through the real LiteRT interpreter."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from parasight_desktop.engine.errors import CancelledError, InputError
from parasight_desktop.engine.pipeline import Pipeline, initial_latent
from parasight_desktop.engine.types import SAMPLERS, GenerationRequest


def test_same_request_twice_gives_identical_pixels(tiny_engine) -> None:
    req = GenerationRequest("a big glowing green serpent in the lake", seed=7, steps=5)
    a = tiny_engine.generate(req)
    b = tiny_engine.generate(req)
    assert a.image.dtype == np.uint8 and a.image.shape == (128, 128, 3)
    assert np.array_equal(a.image, b.image)


def test_fresh_engine_reproduces_the_image(tiny_store) -> None:
    from parasight_desktop.engine.pipeline import Engine

    req = GenerationRequest("a red blob in the snow", seed=3, steps=4, sampler="euler-a")
    a = Engine(tiny_store, threads=1).generate(req)
    b = Engine(tiny_store, threads=2).generate(req)
    assert np.array_equal(a.image, b.image)


def test_changed_seed_changes_the_image(tiny_engine) -> None:
    a = tiny_engine.generate(GenerationRequest("a red blob", seed=1, steps=4))
    b = tiny_engine.generate(GenerationRequest("a red blob", seed=2, steps=4))
    assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 5


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_makes_a_finite_image(tiny_engine, sampler: str) -> None:
    r = tiny_engine.generate(GenerationRequest("an orb of light", seed=5, steps=6,
                                               sampler=sampler))
    assert r.settings.sampler == sampler
    assert 0 < r.image.std()


def test_samplers_differ(tiny_engine) -> None:
    images = [tiny_engine.generate(GenerationRequest("a serpent", seed=5, steps=6, sampler=s))
              .image.astype(int) for s in ("ddim", "euler-a")]
    assert np.abs(images[0] - images[1]).mean() > 0.5


def test_initial_latent_is_numpy_default_rng(tiny_engine) -> None:
    expected = np.random.default_rng(11).standard_normal((1, 16, 16, 4)).astype(np.float32)
    assert np.array_equal(initial_latent(11, (16, 16, 4)), expected)


def test_result_carries_settings_hash_and_timings(tiny_engine, tiny_store) -> None:
    r = tiny_engine.generate(GenerationRequest("a purple winged creature", seed=9))
    m = tiny_store.manifest("tiny-model")
    s = r.settings
    assert (s.steps, s.guidance, s.sampler) == (m.defaults.steps, m.defaults.guidance,
                                                m.defaults.sampler)
    assert s.model_name == "tiny-model" and s.model_hash == m.model_hash
    assert len(s.model_hash) == 64 and (s.width, s.height) == (128, 128)
    for stage in ("tokenize", "text_encoder", "unet", "decoder", "total"):
        assert r.timings[stage] >= 0
    assert r.created_at.endswith("+00:00")


def test_request_without_seed_draws_and_records_one(tiny_engine) -> None:
    a = tiny_engine.generate(GenerationRequest("a blob", steps=2))
    again = tiny_engine.generate(GenerationRequest("a blob", steps=2, seed=a.settings.seed))
    assert np.array_equal(a.image, again.image)


def test_progress_reports_every_step_with_a_preview(tiny_engine) -> None:
    calls: list[tuple[int, int, tuple[int, ...]]] = []
    tiny_engine.generate(GenerationRequest("a blob", seed=1, steps=7),
                         on_step=lambda i, n, p: calls.append((i, n, p.shape)))
    assert [c[0] for c in calls] == list(range(1, 8))
    assert all(c[1] == 7 and c[2] == (16, 16, 3) for c in calls)


def test_cancel_during_step_k_stops_within_one_step_and_skips_decoding(tiny_engine,
                                                                      monkeypatch) -> None:
    cancel = threading.Event()
    seen: list[int] = []
    pipe = tiny_engine.pipeline()
    decoded: list[int] = []
    real_decoder = pipe.decoder
    monkeypatch.setattr(pipe, "decoder", lambda **kw: decoded.append(1) or real_decoder(**kw))

    def on_step(i: int, n: int, _p: object) -> None:
        seen.append(i)
        if i == 3:
            cancel.set()

    with pytest.raises(CancelledError):
        tiny_engine.generate(GenerationRequest("a blob", seed=1, steps=10), on_step, cancel)
    assert seen == [1, 2, 3]
    assert decoded == []


def test_cancel_on_last_step_still_skips_the_decoder(tiny_engine, monkeypatch) -> None:
    cancel = threading.Event()
    pipe = tiny_engine.pipeline()
    monkeypatch.setattr(pipe, "decoder", lambda **kw: pytest.fail("decoded after cancel"))
    with pytest.raises(CancelledError):
        tiny_engine.generate(GenerationRequest("a blob", seed=1, steps=3),
                             lambda i, n, p: cancel.set() if i == n else None, cancel)


def test_guidance_one_skips_the_unconditional_pass(tiny_engine, monkeypatch) -> None:
    pipe: Pipeline = tiny_engine.pipeline()
    batches = _spy_batches(pipe, monkeypatch)
    tiny_engine.generate(GenerationRequest("a blob", seed=1, steps=3, guidance=1.0))
    assert batches == [1, 1, 1]
    batches.clear()
    tiny_engine.generate(GenerationRequest("a blob", seed=1, steps=3, guidance=7.5))
    assert batches == [2, 2, 2]


def test_guidance_and_negative_prompt_change_the_image(tiny_engine) -> None:
    base = tiny_engine.generate(GenerationRequest("a blob", seed=4, steps=4, guidance=5.0))
    neg = tiny_engine.generate(GenerationRequest("a blob", negative_prompt="red", seed=4,
                                                 steps=4, guidance=5.0))
    weak = tiny_engine.generate(GenerationRequest("a blob", seed=4, steps=4, guidance=1.0))
    assert not np.array_equal(base.image, neg.image)
    assert not np.array_equal(base.image, weak.image)


def test_unconditional_encoding_is_cached(tiny_engine, monkeypatch) -> None:
    pipe = tiny_engine.pipeline()
    tiny_engine.generate(GenerationRequest("a blob", seed=1, steps=1))
    calls: list[int] = []
    real = pipe.encode
    monkeypatch.setattr(pipe, "encode", lambda t: calls.append(1) or real(t))
    tiny_engine.generate(GenerationRequest("another blob", seed=1, steps=1))
    assert len(calls) == 1  # the prompt only; "" came from the cache


def test_long_prompt_is_truncated_and_counted(tiny_engine) -> None:
    r = tiny_engine.generate(GenerationRequest("glowing " * 100, seed=1, steps=1))
    assert r.tokens_dropped == 25


@pytest.mark.parametrize("req, fragment", [
    (GenerationRequest("   "), "empty"),
    (GenerationRequest("x", steps=0), "Steps"),
    (GenerationRequest("x", steps=501), "Steps"),
    (GenerationRequest("x", guidance=float("nan")), "finite"),
    (GenerationRequest("x", sampler="plms"), "sampler"),
    (GenerationRequest("x", seed=-1), "Seed"),
    (GenerationRequest("x", model="nope"), "Unknown model"),
])
def test_bad_requests_are_clear_errors(tiny_engine, req, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        tiny_engine.generate(req)


def test_batched_guidance_matches_two_separate_passes(tiny_engine) -> None:
    req = GenerationRequest("a blob", seed=4, steps=4, guidance=5.0)
    pipe = tiny_engine.pipeline()
    batched = pipe.generate(req).image.astype(int)
    pipe.batch_guidance = False
    separate = pipe.generate(req).image.astype(int)
    assert np.abs(batched - separate).max() <= 1


def _spy_batches(pipe: Pipeline, monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    batches: list[int] = []
    real = pipe.predict_noise

    def spy(latent, temb, context):  # type: ignore[no-untyped-def]
        batches.append(latent.shape[0])
        return real(latent, temb, context)

    monkeypatch.setattr(pipe, "predict_noise", spy)
    return batches


def test_a_unet_converted_for_a_fixed_batch_gets_exactly_that_batch(tiny_engine,
                                                                     monkeypatch) -> None:
    """A UNet converted for batch 1 runs the guidance passes one by one; one converted
    for batch 2 pads a single image. Either way the image is the same."""
    pipe: Pipeline = tiny_engine.pipeline()
    assert pipe.unet_batch is None and pipe.batch_guidance  # the tiny model: any batch
    req = GenerationRequest("a blob", seed=4, steps=3, guidance=5.0)
    reference = pipe.generate(req).image.astype(int)
    one = GenerationRequest("a blob", seed=4, steps=3, guidance=1.0)
    reference_one = pipe.generate(one).image.astype(int)
    batches = _spy_batches(pipe, monkeypatch)

    pipe.unet_batch, pipe.batch_guidance = 1, False
    assert np.abs(pipe.generate(req).image.astype(int) - reference).max() <= 1
    assert batches == [1] * 6
    batches.clear()
    pipe.unet_batch, pipe.batch_guidance = 2, True
    assert np.abs(pipe.generate(one).image.astype(int) - reference_one).max() <= 1
    assert batches == [2] * 3


def test_cond_only_tail_skips_the_unconditional_pass_in_the_last_steps(tiny_engine,
                                                                       monkeypatch) -> None:
    pipe: Pipeline = tiny_engine.pipeline()
    req = GenerationRequest("a blob", seed=4, steps=4, guidance=5.0)
    full = pipe.generate(req).image
    batches = _spy_batches(pipe, monkeypatch)
    pipe.cond_only_tail = 0.5
    tail = pipe.generate(req).image
    assert batches == [2, 2, 1, 1]
    assert not np.array_equal(full, tail)


def test_swapping_stages_frees_the_unet_while_decoding_and_changes_no_pixel(tiny_engine,
                                                                            monkeypatch) -> None:
    pipe: Pipeline = tiny_engine.pipeline()
    assert not pipe.swap_stages  # a small model keeps everything loaded
    req = GenerationRequest("a blob", seed=4, steps=3, guidance=5.0)
    reference = pipe.generate(req).image
    pipe.swap_stages = True
    seen: list[tuple[int, bool]] = []
    real_decoder = pipe.decoder

    def decoder(**feeds):  # type: ignore[no-untyped-def]
        seen.append((len(pipe.unet_parts), pipe.decoder is not None))
        assert real_decoder is not None
        return real_decoder(**feeds)

    monkeypatch.setattr(pipe, "decoder", decoder)
    first = pipe.generate(req).image
    assert seen == [(0, True)]  # the UNet was let go before the decoder ran
    assert pipe.decoder is None and pipe.unet_parts == []
    second = pipe.generate(req).image  # loads both again
    assert np.array_equal(first, reference) and np.array_equal(second, reference)
    assert pipe.decoder is None and pipe.unet_parts == []


def test_a_large_model_kept_loaded_decodes_without_reloading_and_changes_no_pixel(
        tiny_engine, monkeypatch) -> None:
    """Both stages kept (swap_stages False on a large model): the UNet and decoder
    stay across images; an image encoder run lets both go and they come back."""
    pipe: Pipeline = tiny_engine.pipeline()
    req = GenerationRequest("a blob", seed=4, steps=3, guidance=5.0)
    reference = pipe.generate(req).image
    pipe.large, pipe.swap_stages = True, False
    unet, decoder = pipe.unet_parts, pipe.decoder
    again = pipe.generate(req).image
    assert np.array_equal(again, reference)
    assert pipe.unet_parts is unet and pipe.decoder is decoder  # nothing loaded again
    assert pipe.encoder_spec(False) is not None
    pipe.encode_image(np.asarray(reference))
    assert pipe.unet_parts == [] and pipe.decoder is None  # room for the encoder
    assert np.array_equal(pipe.generate(req).image, reference)
    assert pipe.unet_parts and pipe.decoder is not None  # back, and kept
