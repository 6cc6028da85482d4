"""Sketches as a person draws them on the sketch canvas: a flat ground, a filled shape.

Drawn with PIL here (the same operations as ``parasight_desktop.ui.sketch_canvas``:
fill the background, fill a polygon given in image pixels), so the image encoder can
be trained on them and the sketch evaluation can run without Qt.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .render import IMAGE_SIZE, RGB

#: A ground colour for each setting: the colour a person picks for it (the renderer's
#: dominant colour of that setting: its grass, water, sky, sand, snow, street at night).
SETTING_GROUND: dict[str, tuple[int, int, int]] = {
    "forest": (70, 120, 45),
    "lake": (40, 100, 165),
    "night sky": (15, 15, 50),
    "desert": (225, 185, 110),
    "snowy field": (235, 240, 250),
    "city street at night": (45, 42, 60),
}

#: Half width and half height (fractions of the image) of each kind's sketched shape.
KIND_EXTENT: dict[str, tuple[float, float]] = {
    "blob": (0.3, 0.2),
    "serpent": (0.4, 0.12),
    "winged creature": (0.38, 0.18),
    "tentacled creature": (0.2, 0.28),
    "tall shadow figure": (0.11, 0.34),
    "glowing orb of light": (0.22, 0.22),
}

Point = tuple[float, float]


def shape_points(rng: np.random.Generator, half_w: float, half_h: float,
                 centre: Point | None = None, n: int = 18, wobble: float = 0.15
                 ) -> list[Point]:
    """A closed, hand-drawn-looking outline: an ellipse of the given half extents
    (fractions of the image) with each vertex's radius jittered by ``wobble``."""
    s = IMAGE_SIZE
    if centre is None:
        cx = rng.uniform(max(half_w, 0.2), min(1 - half_w, 0.8))
        cy = rng.uniform(max(half_h, 0.25), min(1 - half_h, 0.75))
    else:
        cx, cy = centre
    pts = []
    for k in range(n):
        a = 2 * math.pi * k / n
        r = 1.0 + rng.uniform(-wobble, wobble)
        pts.append(((cx + half_w * r * math.cos(a)) * s, (cy + half_h * r * math.sin(a)) * s))
    return pts


def draw_sketch(ground: tuple[int, int, int], shapes: list[tuple[list[Point], tuple[int, ...]]],
                size: int = IMAGE_SIZE) -> np.ndarray:
    """A (size, size, 3) uint8 sketch: ``ground`` everywhere, then each filled polygon."""
    img = Image.new("RGB", (size, size), ground)
    d = ImageDraw.Draw(img)
    for points, rgb in shapes:
        d.polygon(points, fill=tuple(int(v) for v in rgb))
    return np.asarray(img, np.uint8)


def shape_mask(points: list[Point], size: int = IMAGE_SIZE) -> np.ndarray:
    """The polygon as a (size, size) bool mask."""
    img = Image.new("L", (size, size), 0)
    ImageDraw.Draw(img).polygon(points, fill=255)
    return np.asarray(img) > 127


def random_sketch(rng: np.random.Generator) -> np.ndarray:
    """A training sketch: a setting's ground (or any colour) with one to three shapes in
    a creature colour (or any colour), some as strokes: what the canvas can make."""
    grounds = list(SETTING_GROUND.values())
    ground = (grounds[rng.integers(len(grounds))] if rng.random() < 0.6
              else tuple(int(v) for v in rng.integers(0, 256, 3)))
    shapes = []
    colours = list(RGB.values())
    for _ in range(int(rng.integers(1, 4))):
        rgb = (colours[rng.integers(len(colours))] if rng.random() < 0.7
               else tuple(int(v) for v in rng.integers(0, 256, 3)))
        hw, hh = rng.uniform(0.06, 0.4), rng.uniform(0.06, 0.35)
        shapes.append((shape_points(rng, hw, hh, wobble=rng.uniform(0.0, 0.3)), rgb))
    img = Image.fromarray(draw_sketch(ground, shapes))
    if rng.random() < 0.3:  # a few brush strokes
        d = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(1, 4))):
            pts = [tuple(rng.uniform(0, IMAGE_SIZE, 2)) for _ in range(int(rng.integers(2, 5)))]
            d.line(pts, fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
                   width=int(rng.integers(2, 9)), joint="curve")
    return np.asarray(img, np.uint8)
