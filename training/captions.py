"""Captions for rendered sightings: a small grammar with synonyms and varied phrasing.

The same attributes come out as "a big glowing green serpent in the lake" or "I saw
something small and crimson with three eyes in the woods". Colour, kind and setting
are named in almost every caption; size, eyes and glow are sometimes left out, as
people leave them out, so short prompts like "a red blob in the snow" are in range.
"""

from __future__ import annotations

import numpy as np

from .render import Sighting

COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "red", "crimson", "scarlet", "blood-red"),
    "orange": ("orange", "orange", "tangerine", "amber"),
    "yellow": ("yellow", "yellow", "golden", "lemon-yellow"),
    "green": ("green", "green", "emerald", "lime-green"),
    "blue": ("blue", "blue", "azure", "cobalt-blue"),
    "purple": ("purple", "purple", "violet", "lilac"),
    "white": ("white", "white", "pale white", "milk-white"),
    "black": ("black", "black", "jet-black", "pitch-black", "inky black"),
}
KIND_WORDS: dict[str, tuple[str, ...]] = {
    "blob": ("blob", "blob", "slime", "blob of goo", "jelly-like blob"),
    "serpent": ("serpent", "serpent", "snake", "sea serpent", "snake-like creature"),
    "winged creature": ("winged creature", "winged creature", "flying creature with wings",
                        "bat-like creature", "thing with wings"),
    "tentacled creature": ("tentacled creature", "tentacled creature", "creature with tentacles",
                           "octopus-like creature", "squid-like thing"),
    "tall shadow figure": ("tall shadow figure", "tall shadow figure", "shadowy figure",
                           "tall thin figure", "shadow man"),
    "glowing orb of light": ("glowing orb of light", "orb of light", "ball of light",
                             "floating orb", "orb"),
}
SETTING_WORDS: dict[str, tuple[str, ...]] = {
    "forest": ("in the forest", "in the woods", "among the trees", "deep in a forest",
               "in a pine forest"),
    "lake": ("in the lake", "on the lake", "by the lake", "over the water of a lake",
             "at the lake"),
    "night sky": ("in the night sky", "in the sky at night", "among the stars",
                  "flying across the night sky", "up in the starry sky"),
    "desert": ("in the desert", "on the sand dunes", "in the desert sand", "out in the desert",
               "among the dunes"),
    "snowy field": ("in a snowy field", "in the snow", "on a field of snow", "in the snowy meadow",
                    "out in the snow"),
    "city street at night": ("on a city street at night", "in the city at night",
                             "on a dark street downtown", "on the street at night",
                             "between the buildings at night"),
}
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "small", "little", "tiny"),
    "big": ("big", "big", "huge", "giant", "large", "enormous"),
}
EYE_WORDS: dict[str, tuple[str, ...]] = {
    "one": ("with one eye", "with a single eye", "with one big eye"),
    "two": ("with two eyes", "with a pair of eyes", "with two round eyes"),
    "three": ("with three eyes", "with three staring eyes", "with 3 eyes"),
    "many": ("with many eyes", "covered in eyes", "with dozens of eyes", "with lots of eyes"),
}
GLOW_WORDS: tuple[str, ...] = ("glowing", "glowing", "shining", "luminous", "bright glowing")


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _article(phrase: str) -> str:
    return "an" if phrase[:1] in "aeiou" else "a"


def caption(s: Sighting, rng: np.random.Generator) -> str:
    """One caption for ``s``, the phrasing drawn from ``rng``."""
    colour = _pick(rng, COLOUR_WORDS[s.colour])
    kind = _pick(rng, KIND_WORDS[s.kind])
    setting = _pick(rng, SETTING_WORDS[s.setting])
    size = _pick(rng, SIZE_WORDS[s.size]) if rng.random() < 0.75 else ""
    eyes = _pick(rng, EYE_WORDS[s.eyes]) if rng.random() < 0.7 else ""
    glow = _pick(rng, GLOW_WORDS) if s.glowing and rng.random() < 0.85 else ""
    if s.kind == "glowing orb of light" and kind.startswith("glowing") and glow:
        glow = ""  # no "glowing glowing orb"
    adjectives = " ".join(w for w in (size, glow, colour) if w)
    template = int(rng.integers(8))
    if template <= 2:  # "a big glowing green serpent with two eyes in the lake"
        text = f"{_article(adjectives)} {adjectives} {kind} {eyes} {setting}"
    elif template == 3:  # "I saw a ... "
        text = f"I saw {_article(adjectives)} {adjectives} {kind} {eyes} {setting}"
    elif template == 4:  # "In the woods, a crimson serpent with three eyes"
        text = f"{setting}, {_article(adjectives)} {adjectives} {kind} {eyes}"
    elif template == 5:  # "there was a ... it was glowing"
        adj = " ".join(w for w in (size, colour) if w)
        text = f"there was {_article(adj)} {adj} {kind} {setting} {eyes}"
        if glow:
            text += f", it was {glow}"
    elif template == 6:  # "last night I saw a serpent in the lake. it was green and had two eyes"
        text = f"last night I saw {_article(kind)} {kind} {setting}. it was {colour}"
        if size:
            text += f" and {size}"
        if glow:
            text += f" and {glow}"
        if eyes:
            text += f", {eyes}"
    else:  # "I saw something small and crimson with three eyes in the woods": no kind
        if rng.random() < 0.5:
            adj = " and ".join(w for w in (size, glow, colour) if w)
            text = f"I saw something {adj} {eyes} {setting}"
        else:  # tag style
            text = ", ".join(w for w in (colour, kind, size, glow, eyes, setting) if w)
    return " ".join(text.split())
