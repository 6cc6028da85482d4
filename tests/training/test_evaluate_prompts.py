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
