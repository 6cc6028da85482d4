"""The evaluation prompts cover every attribute and the held-out pairs, and name the kind."""

from __future__ import annotations

from training.captions import KIND_WORDS
from training.evaluate_mini import prompts
from training.render import COLOURS, HELD_OUT, KINDS, SETTINGS


def test_two_hundred_prompts_cover_attributes_and_held_out_pairs() -> None:
    items = prompts()
    assert len(items) == 200
    sightings = [s for _, s in items]
    assert sum(s.held_out for s in sightings) == 48
    assert {(s.colour, s.kind) for s in sightings if s.held_out} == set(HELD_OUT)
    assert {s.colour for s in sightings} == set(COLOURS)
    assert {s.kind for s in sightings} == set(KINDS)
    assert {s.setting for s in sightings} == set(SETTINGS)
    assert all(any(w in t for w in KIND_WORDS[s.kind]) for t, s in items)


def test_by_kind_reports_each_kind_found_and_what_images_are_read_as() -> None:
    import numpy as np

    from training.evaluate_mini import by_kind

    asked = np.array([0, 0, 1, 1, 1, 1])
    read = np.array([0, 1, 0, 0, 0, 1])  # serpents mostly read as blobs
    r = by_kind(read, asked)
    assert r["found"] == {KINDS[0]: 0.5, KINDS[1]: 0.25}
    assert r["read_as"][KINDS[0]] == 0.6667 and r["read_as"][KINDS[1]] == 0.3333
    assert sum(r["read_as"].values()) == 1.0


def test_the_autoencoder_ceiling_judges_renders_before_and_after_a_saved_autoencoder(
        tmp_path) -> None:
    import json

    from training.evaluate_mini import autoencoder_ceiling
    from training.mini_model import MiniConfig, build_decoder, build_encoder

    cfg = MiniConfig.tiny()
    build_encoder(cfg).save_weights(tmp_path / "encoder.weights.h5")
    build_decoder(cfg).save_weights(tmp_path / "decoder.weights.h5")
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    r = autoencoder_ceiling(tmp_path, n=24)
    assert r["rendered"]["accuracy"]["colour"] > 0.9  # the shipped judge on real renders
    # an untrained autoencoder passes only the 8x8 mean colour: no kind survives it
    assert set(r["autoencoded"]["kind"]["read_as"]) == set(KINDS)
    assert r["autoencoded"]["accuracy"]["kind"] < r["rendered"]["accuracy"]["kind"]
