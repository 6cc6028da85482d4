"""A sighting card: the image with the description, place, date and a plain disclaimer below.

The card is meant to travel on its own (a chat, a forum post), so the words that say
it is an AI reconstruction are part of the pixels, not only of the metadata.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from datetime import date as Date

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from .metadata import DISCLAIMER

#: Cards narrower than this are scaled up (by a whole factor) so the text stays legible.
MIN_CARD_WIDTH = 512
MAX_DESCRIPTION_LINES = 8

_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_BACKGROUND = (250, 250, 247)
_TEXT = (28, 28, 30)
_MUTED = (90, 90, 96)
_WARNING = (150, 30, 30)
_RULE = (210, 210, 205)
_ELLIPSIS = "\u2026"
_MISSING = "\ue000"  # private use: the default font draws its missing-glyph box for it
_SUBSTITUTES = {
    "\u2014": "-",
    "\u2013": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u00df": "ss",
    "\u00e6": "ae",
    "\u00c6": "AE",
    "\u0153": "oe",
    "\u0152": "OE",
    "\u00f8": "o",
    "\u00d8": "O",
    "\u0142": "l",
    "\u0141": "L",
    "\u0111": "d",
    "\u0110": "D",
    "\u00fe": "th",
    "\u00de": "Th",
}


def make_sighting_card(
    image: NDArray[np.uint8],
    description: str,
    place: str | None = None,
    date: str | Date | None = None,
) -> NDArray[np.uint8]:
    """Return an (H', W', 3) uint8 card: ``image`` on top, a text band with the details below.

    Long text wraps (a description past ``MAX_DESCRIPTION_LINES`` lines ends in an
    ellipsis). Characters Pillow's default font lacks get a near-ASCII stand-in ("é" is
    drawn as "e") or, with none, a box: never an error.
    """
    picture = _rgb(image)
    scale = max(1, math.ceil(MIN_CARD_WIDTH / picture.width))
    if scale > 1:
        picture = picture.resize(
            (picture.width * scale, picture.height * scale), Image.Resampling.LANCZOS
        )
    width = picture.width
    pad = max(8, width // 32)
    body = _font(max(12, width // 30))
    small = _font(max(10, width // 40))
    room = width - 2 * pad

    # 1. Lay out the lines: description, where and when, then the disclaimer.
    lines: list[tuple[str, _Font, tuple[int, int, int]]] = []
    for text in _wrap(description.strip() or "(no description)", body, room, MAX_DESCRIPTION_LINES):
        lines.append((text, body, _TEXT))
    details = " \u00b7 ".join(
        part for part in (_label("Where", place), _label("When", _date_text(date))) if part
    )
    for text in _wrap(details, small, room, 3):
        lines.append((text, small, _MUTED))
    disclaimer = _wrap(DISCLAIMER, small, room, 3)

    # 2. Measure the band and draw.
    gap = pad // 2
    body_height = sum(_line_height(font) for _, font, _ in lines)
    rule_block = gap * 2 + 1
    disclaimer_height = len(disclaimer) * _line_height(small)
    band = pad + body_height + rule_block + disclaimer_height + pad
    card = Image.new("RGB", (width, picture.height + band), _BACKGROUND)
    card.paste(picture, (0, 0))
    draw = ImageDraw.Draw(card)
    y = picture.height + pad
    for text, font, colour in lines:
        draw.text((pad, y), _drawable(text, font), font=font, fill=colour)
        y += _line_height(font)
    y += gap
    draw.line([(pad, y), (width - pad, y)], fill=_RULE, width=1)
    y += gap + 1
    for text in disclaimer:
        draw.text((pad, y), _drawable(text, small), font=small, fill=_WARNING)
        y += _line_height(small)
    return np.asarray(card, dtype=np.uint8).copy()


def _rgb(image: NDArray[np.uint8]) -> Image.Image:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or array.size == 0:
        raise ValueError(f"Expected a non-empty uint8 image; got {array.dtype} {array.shape}.")
    return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")


@functools.lru_cache(maxsize=16)
def _font(size: int) -> _Font:
    return ImageFont.load_default(size=size)


def _line_height(font: _Font) -> int:
    top, bottom = font.getbbox("Agy|")[1::2]
    return math.ceil(bottom - min(top, 0)) + max(2, int(bottom) // 4)


def _label(name: str, value: str | None) -> str:
    value = (value or "").strip()
    return f"{name}: {value}" if value else ""


def _date_text(value: str | Date | None) -> str | None:
    return value.isoformat() if isinstance(value, Date) else value


def _drawable(text: str, font: _Font) -> str:
    """``text`` with characters the font lacks swapped for near ASCII ones where possible.

    Pillow's default font covers little beyond ASCII: "é" becomes "e" and "—" becomes
    "-"; a character with no such stand-in (Japanese, say) is drawn as a box.
    """
    if not isinstance(font, ImageFont.FreeTypeFont):  # the bitmap font Pillow falls back on
        return text.encode("latin-1", "replace").decode("latin-1")
    return "".join(_stand_in(font, char) for char in text)


def _stand_in(font: ImageFont.FreeTypeFont, char: str) -> str:
    if _has_glyph(font, char):
        return char
    plain = _SUBSTITUTES.get(char) or "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    if plain and plain != char and all(_has_glyph(font, c) for c in plain):
        return plain
    return char


@functools.lru_cache(maxsize=8192)
def _has_glyph(font: ImageFont.FreeTypeFont, char: str) -> bool:
    if char.isspace():
        return True
    return bytes(font.getmask(char)) != bytes(font.getmask(_MISSING))


def _width(text: str, font: _Font) -> float:
    return float(font.getlength(_drawable(text, font)))


def _wrap(text: str, font: _Font, room: int, max_lines: int) -> list[str]:
    """Greedy word wrap to ``room`` pixels; words wider than a line are split by character."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if _width(candidate, font) <= room:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            for char in word:  # a word (or a script without spaces) too wide for a line
                if current and _width(current + char, font) > room:
                    lines.append(current)
                    current = ""
                current += char
        if current:
            lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _width(last + _ELLIPSIS, font) > room:
            last = last[:-1]
        lines[-1] = last.rstrip() + _ELLIPSIS
    return lines
