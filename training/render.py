"""A procedural renderer of sightings with known attributes: the training data of ParaSight Mini.

Every image is a setting (a background with its own palette and structures) with one
creature drawn over it in bold, outlined shapes, so a person — and the judge — can
read the colour, the kind, the eyes, the size, the setting and whether it glows at a
glance, even at 128x128. Everything is a pure function of a seed.

Drawing is done at twice the size and downsampled, which anti-aliases the edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
KINDS: tuple[str, ...] = (
    "blob", "serpent", "winged creature", "tentacled creature", "tall shadow figure",
    "glowing orb of light",
)
EYES: tuple[str, ...] = ("one", "two", "three", "many")
SIZES: tuple[str, ...] = ("small", "big")
SETTINGS: tuple[str, ...] = (
    "forest", "lake", "night sky", "desert", "snowy field", "city street at night",
)

#: Colour-and-kind pairs never shown in training, to test that the model composes.
#: Each kind is held out once, each with a different colour.
HELD_OUT: frozenset[tuple[str, str]] = frozenset({
    ("blue", "blob"),
    ("red", "winged creature"),
    ("yellow", "tentacled creature"),
    ("purple", "serpent"),
    ("white", "tall shadow figure"),
    ("green", "glowing orb of light"),
})

RGB: dict[str, tuple[int, int, int]] = {
    "red": (215, 25, 25),
    "orange": (250, 135, 0),
    "yellow": (250, 225, 25),
    "green": (30, 185, 45),
    "blue": (35, 75, 235),
    "purple": (145, 40, 200),
    "white": (245, 245, 245),
    "black": (18, 18, 18),
}

IMAGE_SIZE = 128
_SS = 2  # supersampling factor
_S = IMAGE_SIZE * _SS


@dataclass(frozen=True)
class Sighting:
    """The attributes of one image."""

    colour: str
    kind: str
    eyes: str
    size: str
    setting: str
    glowing: bool

    @property
    def held_out(self) -> bool:
        return (self.colour, self.kind) in HELD_OUT

    def labels(self) -> dict[str, int]:
        """Class indices, for the judge."""
        return {
            "colour": COLOURS.index(self.colour),
            "kind": KINDS.index(self.kind),
            "eyes": EYES.index(self.eyes),
            "size": SIZES.index(self.size),
            "setting": SETTINGS.index(self.setting),
            "glowing": int(self.glowing),
        }


def random_sighting(rng: np.random.Generator, *, held_out: bool | None = False) -> Sighting:
    """Attributes drawn uniformly; ``held_out`` False excludes held-out pairs, True keeps
    only them, None allows everything."""
    while True:
        s = Sighting(
            colour=COLOURS[rng.integers(len(COLOURS))],
            kind=KINDS[rng.integers(len(KINDS))],
            eyes=EYES[rng.integers(len(EYES))],
            size=SIZES[rng.integers(len(SIZES))],
            setting=SETTINGS[rng.integers(len(SETTINGS))],
            glowing=bool(rng.integers(2)),
        )
        if held_out is None or s.held_out == held_out:
            return s


# 1. Settings ------------------------------------------------------------------------------

def _jit(rng: np.random.Generator, c: tuple[int, int, int], amount: int = 10) -> tuple[int, ...]:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in c)


def _vertical_gradient(top: tuple[int, ...], bottom: tuple[int, ...], height: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height)[:, None]
    return (np.array(top)[None, :] * (1 - t) + np.array(bottom)[None, :] * t)


def _background(setting: str, rng: np.random.Generator) -> tuple[Image.Image, float]:
    """The setting, and the ground line (fraction of the height) creatures stand on."""
    s = _S
    arr = np.zeros((s, s, 3), np.float64)
    if setting == "forest":
        horizon = rng.uniform(0.45, 0.55)
        h = int(horizon * s)
        arr[:h] = _vertical_gradient(_jit(rng, (150, 200, 235)), (200, 225, 240), h)[:, None, :]
        arr[h:] = _jit(rng, (70, 120, 45))
        img = Image.fromarray(arr.astype(np.uint8))
        d = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(7, 11))):
            x = rng.uniform(-0.05, 1.05) * s
            base = (horizon + rng.uniform(-0.02, 0.12)) * s
            height = rng.uniform(0.35, 0.6) * s
            width = height * rng.uniform(0.35, 0.5)
            d.rectangle([x - width * 0.07, base - height * 0.15, x + width * 0.07, base],
                        fill=_jit(rng, (90, 60, 30)))
            green = _jit(rng, (25, 85, 35), 12)
            for k in range(3):  # three stacked tiers, a pine tree
                top = base - height * (1.0 - 0.22 * k)
                bot = base - height * (0.1 + 0.27 * (2 - k) * 0.5)
                w = width * (0.55 + 0.22 * k)
                d.polygon([(x, top), (x - w / 2, bot), (x + w / 2, bot)], fill=green)
        return img, horizon
    if setting == "lake":
        horizon = rng.uniform(0.38, 0.48)
        h = int(horizon * s)
        arr[:h] = _vertical_gradient(_jit(rng, (120, 180, 235)), (190, 220, 245), h)[:, None, :]
        arr[h:] = _vertical_gradient(_jit(rng, (40, 110, 170)), _jit(rng, (20, 60, 120)),
                                     s - h)[:, None, :]
        img = Image.fromarray(arr.astype(np.uint8))
        d = ImageDraw.Draw(img)
        hill = _jit(rng, (70, 110, 75))
        pts = [(0, h)]
        for x in np.linspace(0, s, 7):
            pts.append((x, h - rng.uniform(0.02, 0.09) * s))
        pts.append((s, h))
        d.polygon(pts, fill=hill)
        for _ in range(int(rng.integers(10, 16))):
            y = rng.uniform(horizon + 0.04, 0.98) * s
            x = rng.uniform(0, s)
            w = rng.uniform(0.06, 0.16) * s
            d.line([(x - w, y), (x + w, y)], fill=(140, 190, 230), width=3)
        return img, min(0.9, horizon + 0.25)
    if setting == "night sky":
        arr[:] = _vertical_gradient(_jit(rng, (5, 5, 28)), _jit(rng, (25, 25, 75)), s)[:, None, :]
        img = Image.fromarray(arr.astype(np.uint8))
        d = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(40, 70))):
            x, y = rng.uniform(0, s), rng.uniform(0, s)
            r = rng.uniform(1.0, 2.6)
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 230))
        mx, my, mr = rng.uniform(0.1, 0.9) * s, rng.uniform(0.08, 0.22) * s, 0.07 * s
        d.ellipse([mx - mr, my - mr, mx + mr, my + mr], fill=(245, 240, 200))
        d.ellipse([mx - mr * 0.55, my - mr * 1.1, mx + mr * 1.45, my + mr * 0.9],
                  fill=tuple(arr[int(my), min(s - 1, int(mx))].astype(int)))
        return img, rng.uniform(0.55, 0.75)
    if setting == "desert":
        horizon = rng.uniform(0.4, 0.5)
        h = int(horizon * s)
        arr[:h] = _vertical_gradient(_jit(rng, (245, 215, 150)), (255, 240, 200), h)[:, None, :]
        arr[h:] = _jit(rng, (225, 180, 105))
        img = Image.fromarray(arr.astype(np.uint8))
        d = ImageDraw.Draw(img)
        sx, sy, sr = rng.uniform(0.1, 0.9) * s, rng.uniform(0.08, 0.2) * s, 0.08 * s
        d.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=(255, 250, 215))
        for k in range(3):  # dunes
            y0 = (horizon + 0.08 + 0.16 * k) * s
            phase = rng.uniform(0, 2 * math.pi)
            xs = np.linspace(0, s, 40)
            ys = y0 + 0.04 * s * np.sin(xs / s * 2 * math.pi * rng.uniform(0.8, 1.6) + phase)
            d.line(list(zip(xs, ys)), fill=_jit(rng, (195, 145, 80)), width=4)
        for _ in range(int(rng.integers(1, 3))):  # cacti
            cx = rng.uniform(0.05, 0.95) * s
            cy = (horizon + rng.uniform(0.0, 0.08)) * s
            ch = rng.uniform(0.1, 0.18) * s
            col = _jit(rng, (60, 130, 60))
            d.rounded_rectangle([cx - 5, cy - ch, cx + 5, cy], radius=4, fill=col)
            d.rounded_rectangle([cx - 16, cy - ch * 0.7, cx - 10, cy - ch * 0.35], radius=3,
                                fill=col)
            d.rectangle([cx - 16, cy - ch * 0.4, cx, cy - ch * 0.35], fill=col)
        return img, horizon + 0.3
    if setting == "snowy field":
        horizon = rng.uniform(0.4, 0.5)
        h = int(horizon * s)
        arr[:h] = _vertical_gradient(_jit(rng, (175, 185, 205)), (215, 222, 235), h)[:, None, :]
        arr[h:] = _vertical_gradient((250, 252, 255), _jit(rng, (225, 232, 245)),
                                     s - h)[:, None, :]
        img = Image.fromarray(arr.astype(np.uint8))
        d = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 6))):  # drifts
            x, y = rng.uniform(0, s), rng.uniform(horizon + 0.05, 0.95) * s
            w, hh = rng.uniform(0.1, 0.25) * s, rng.uniform(0.02, 0.04) * s
            d.ellipse([x - w, y - hh, x + w, y + hh], fill=(200, 212, 232))
        for _ in range(int(rng.integers(2, 5))):  # bare dark trees on the horizon
            x = rng.uniform(0, s)
            th = rng.uniform(0.08, 0.15) * s
            d.line([(x, h), (x, h - th)], fill=(70, 70, 80), width=3)
            d.line([(x, h - th * 0.6), (x - th * 0.3, h - th * 0.9)], fill=(70, 70, 80), width=2)
            d.line([(x, h - th * 0.5), (x + th * 0.3, h - th * 0.8)], fill=(70, 70, 80), width=2)
        for _ in range(int(rng.integers(30, 50))):  # falling snow
            x, y = rng.uniform(0, s), rng.uniform(0, s)
            r = rng.uniform(1.5, 3.0)
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255))
        return img, horizon + 0.3
    if setting == "city street at night":
        horizon = rng.uniform(0.68, 0.76)
        h = int(horizon * s)
        arr[:h] = _vertical_gradient(_jit(rng, (10, 10, 30)), (35, 30, 55), h)[:, None, :]
        arr[h:] = _jit(rng, (55, 55, 60))
        img = Image.fromarray(arr.astype(np.uint8))
        d = ImageDraw.Draw(img)
        x = -rng.uniform(0, 0.1) * s
        while x < s:
            w = rng.uniform(0.16, 0.28) * s
            top = rng.uniform(0.12, 0.4) * s
            d.rectangle([x, top, x + w - 3, h], fill=_jit(rng, (45, 45, 62), 8))
            for wy in np.arange(top + 8, h - 12, 16):
                for wx in np.arange(x + 6, x + w - 12, 13):
                    if rng.random() < 0.55:
                        d.rectangle([wx, wy, wx + 6, wy + 8], fill=_jit(rng, (245, 205, 95)))
            x += w
        d.rectangle([0, h, s, h + 6], fill=(100, 100, 105))  # kerb
        yc = (horizon + 1.0) / 2 * s
        for dx in range(0, s, 40):  # centre line
            d.rectangle([dx + 8, yc - 2, dx + 28, yc + 2], fill=(240, 220, 120))
        lx = rng.uniform(0.05, 0.95) * s  # one street lamp
        d.line([(lx, h), (lx, h - 0.4 * s)], fill=(30, 30, 35), width=4)
        d.ellipse([lx - 7, h - 0.4 * s - 7, lx + 7, h - 0.4 * s + 7], fill=(255, 240, 170))
        return img, min(0.92, horizon + 0.12)
    raise ValueError(f"unknown setting {setting!r}")


# 2. Creatures -----------------------------------------------------------------------------

def _outline_for(col: tuple[int, ...]) -> tuple[int, ...]:
    lum = 0.3 * col[0] + 0.59 * col[1] + 0.11 * col[2]
    if lum < 60:
        return (150, 150, 165)
    return tuple(int(v * 0.35) for v in col)


def _draw_kind(d: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, scale: float,
               fill: tuple[int, ...], line: tuple[int, ...],
               rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Draw one creature; return its face (x, y, half-width, half-height) for the eyes."""
    lw = max(3, int(5 * scale))
    if kind == "blob":
        rx, ry = 0.36 * _S * scale, 0.26 * _S * scale
        n = 24
        phase = rng.uniform(0, 2 * math.pi)
        pts = []
        for k in range(n):
            a = 2 * math.pi * k / n
            wob = 1 + 0.1 * math.sin(3 * a + phase) + 0.05 * math.sin(5 * a + 2 * phase)
            y = math.sin(a)
            pts.append((cx + rx * math.cos(a) * wob, cy + ry * (y if y < 0 else 0.6 * y) * wob))
        d.polygon(pts, fill=fill, outline=line, width=lw)
        return cx, cy - ry * 0.35, rx * 0.6, ry * 0.3
    if kind == "serpent":
        length, amp, thick = 0.8 * _S * scale, 0.1 * _S * scale, 0.09 * _S * scale
        phase = rng.uniform(0, 2 * math.pi)
        xs = np.linspace(cx - length / 2, cx + length / 2, 60)
        ys = cy + amp * np.sin((xs - xs[0]) / length * 3 * math.pi + phase)
        for x, y, k in zip(xs, ys, range(60)):  # outline pass, then body pass
            r = thick * (0.55 + 0.45 * k / 59) + lw
            d.ellipse([x - r, y - r, x + r, y + r], fill=line)
        for x, y, k in zip(xs, ys, range(60)):
            r = thick * (0.55 + 0.45 * k / 59)
            d.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        hx, hy = xs[-1], ys[-1]
        hr = thick * 1.5
        d.ellipse([hx - hr, hy - hr, hx + hr * 1.2, hy + hr], fill=fill, outline=line, width=lw)
        return hx + hr * 0.1, hy - hr * 0.1, hr * 0.8, hr * 0.55
    if kind == "winged creature":
        span, body = 0.46 * _S * scale, 0.12 * _S * scale
        lift = rng.uniform(0.15, 0.35)
        for side in (-1, 1):
            tip = (cx + side * span, cy - span * lift)
            d.polygon([(cx + side * body * 0.3, cy - body * 0.5), tip,
                       (cx + side * span * 0.8, cy + body * 0.5),
                       (cx + side * span * 0.5, cy + body * 0.3),
                       (cx + side * span * 0.25, cy + body * 0.9)],
                      fill=fill, outline=line, width=lw)
        d.ellipse([cx - body * 0.65, cy - body, cx + body * 0.65, cy + body * 1.1],
                  fill=fill, outline=line, width=lw)
        return cx, cy - body * 0.35, body * 0.45, body * 0.4
    if kind == "tentacled creature":
        hr = 0.2 * _S * scale
        for k in range(6):  # tentacles first, under the head
            x0 = cx - hr * 0.8 + k * hr * 0.32
            pts = []
            phase = rng.uniform(0, 2 * math.pi)
            for j in range(12):
                y = cy + j * hr * 0.12
                pts.append((x0 + hr * 0.15 * math.sin(j * 0.8 + phase) + (x0 - cx) * j * 0.05, y))
            d.line(pts, fill=line, width=int(hr * 0.24) + 2 * lw, joint="curve")
            d.line(pts, fill=fill, width=int(hr * 0.24), joint="curve")
        d.pieslice([cx - hr, cy - hr * 1.1, cx + hr, cy + hr * 0.9], 180, 360,
                   fill=fill, outline=line, width=lw)
        d.rectangle([cx - hr + lw, cy - hr * 0.15, cx + hr - lw, cy + hr * 0.1], fill=fill)
        return cx, cy - hr * 0.45, hr * 0.6, hr * 0.3
    if kind == "tall shadow figure":
        h = 0.72 * _S * scale
        w = h * 0.22
        top = cy - h / 2
        hr = w * 0.62
        d.polygon([(cx - w * 0.45, top + hr * 1.8), (cx + w * 0.45, top + hr * 1.8),
                   (cx + w * 0.6, top + h * 0.68), (cx - w * 0.6, top + h * 0.68)],
                  fill=fill, outline=line, width=lw)
        for side in (-1, 1):
            d.line([(cx + side * w * 0.25, top + h * 0.6), (cx + side * w * 0.3, top + h)],
                   fill=line, width=int(w * 0.28) + 2 * lw)
            d.line([(cx + side * w * 0.25, top + h * 0.6), (cx + side * w * 0.3, top + h - lw)],
                   fill=fill, width=int(w * 0.28))
            d.line([(cx + side * w * 0.45, top + hr * 2.0), (cx + side * w * 0.75, top + h * 0.55)],
                   fill=fill, width=int(w * 0.18))
        d.ellipse([cx - hr, top, cx + hr, top + hr * 2], fill=fill, outline=line, width=lw)
        return cx, top + hr, hr * 0.65, hr * 0.45
    if kind == "glowing orb of light":
        r = 0.25 * _S * scale
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=line, width=lw)
        light = tuple(int(v + (255 - v) * 0.55) for v in fill[:3])
        ri = r * 0.55
        d.ellipse([cx - ri - r * 0.2, cy - ri - r * 0.2, cx + ri - r * 0.2, cy + ri - r * 0.2],
                  fill=light)
        return cx, cy, r * 0.55, r * 0.35
    raise ValueError(f"unknown kind {kind!r}")


def _draw_eyes(d: ImageDraw.ImageDraw, eyes: str, face: tuple[float, float, float, float],
               rng: np.random.Generator) -> list[tuple[float, float]]:
    """Draw the eyes on the face; return their centres (drawing coordinates)."""
    fx, fy, fw, fh = face
    if eyes == "one":
        spots = [(fx, fy, 1.0)]
    elif eyes == "two":
        spots = [(fx - fw * 0.55, fy, 0.8), (fx + fw * 0.55, fy, 0.8)]
    elif eyes == "three":
        spots = [(fx - fw * 0.75, fy + fh * 0.3, 0.65), (fx, fy - fh * 0.5, 0.65),
                 (fx + fw * 0.75, fy + fh * 0.3, 0.65)]
    else:
        n = int(rng.integers(7, 10))
        spots = []
        for k in range(n):
            a = 2 * math.pi * k / n + rng.uniform(-0.2, 0.2)
            rad = 0.85 if k % 2 else 0.45
            spots.append((fx + fw * rad * math.cos(a) * 1.1, fy + fh * rad * math.sin(a) * 1.5,
                          0.42))
    base = max(3.0, min(fw, fh * 1.8) * 0.75)
    for x, y, k in spots:
        r = base * k
        d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255), outline=(0, 0, 0),
                  width=max(1, int(r * 0.18)))
        p = r * 0.5
        d.ellipse([x - p, y - p, x + p, y + p], fill=(0, 0, 0))
    return [(x, y) for x, y, _ in spots]


# 3. The whole image -----------------------------------------------------------------------

_FLYING = {"winged creature", "glowing orb of light"}


@dataclass(frozen=True)
class Rendered:
    """One drawing and what the renderer knows about it."""

    image: np.ndarray  # (128, 128, 3) uint8
    coverage: np.ndarray  # (128, 128) float32 0..1: the creature (eyes in, halo out)
    eyes: tuple[tuple[float, float], ...]  # centres (x, y) in pixels of the eyes in frame


def render(sighting: Sighting, seed: int) -> np.ndarray:
    """The sighting as a (128, 128, 3) uint8 image; the same seed gives the same image."""
    return render_full(sighting, seed).image


def render_full(sighting: Sighting, seed: int) -> Rendered:
    """The image, where the creature is (the Mini's training weights its pixels with it)
    and where its eyes are (the judge's eye counter learns from them)."""
    rng = np.random.default_rng(seed)
    bg, ground = _background(sighting.setting, rng)
    scale = (rng.uniform(0.88, 1.0) if sighting.size == "big" else rng.uniform(0.52, 0.6))
    half_h = {"blob": 0.2, "serpent": 0.17, "winged creature": 0.2, "tentacled creature": 0.3,
              "tall shadow figure": 0.36, "glowing orb of light": 0.25}[sighting.kind] * scale
    half_w = {"blob": 0.36, "serpent": 0.45, "winged creature": 0.46, "tentacled creature": 0.22,
              "tall shadow figure": 0.12, "glowing orb of light": 0.25}[sighting.kind] * scale
    cx = rng.uniform(max(half_w, 0.2), min(1 - half_w, 0.8)) * _S
    if sighting.kind in _FLYING or sighting.setting == "night sky":
        cy = rng.uniform(max(half_h + 0.04, 0.25), min(0.55, 1 - half_h - 0.02)) * _S
    else:  # standing on the ground
        foot = min(0.96, ground + rng.uniform(-0.05, 0.05))
        cy = (foot - half_h) * _S
        cy = min(max(cy, (half_h + 0.02) * _S), (1 - half_h - 0.02) * _S)

    base = _jit(rng, RGB[sighting.colour], 12)
    fill = base
    if sighting.glowing:
        fill = tuple(int(v + (255 - v) * 0.2) for v in base)
    line = _outline_for(base)

    layer = Image.new("RGBA", (_S, _S), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    face = _draw_kind(d, sighting.kind, cx, cy, scale, fill + (255,), line + (255,), rng)
    spots = _draw_eyes(d, sighting.eyes, face, rng)
    eyes = tuple((x / _SS, y / _SS) for x, y in spots if 0 <= x < _S and 0 <= y < _S)

    size = (IMAGE_SIZE, IMAGE_SIZE)
    out = bg.convert("RGB").resize(size, Image.BILINEAR)
    layer = layer.resize(size, Image.BILINEAR)
    if sighting.glowing:  # a halo of the creature's own colour, brightened
        alpha = layer.getchannel("A")
        halo = alpha.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(7 * scale + 3))
        a = np.asarray(halo, np.float32)[..., None] / 255.0 * 0.95
        glow = np.array([v + (255 - v) * 0.45 for v in base], np.float32)
        o = np.asarray(out, np.float32)
        out = Image.fromarray(np.clip(o * (1 - a) + glow * a + 25 * a, 0, 255).astype(np.uint8))
    out.paste(layer, (0, 0), layer)
    return Rendered(np.asarray(out, np.uint8),
                    np.asarray(layer.getchannel("A"), np.float32) / 255.0, eyes)


def render_dataset(n: int, seed: int, *, held_out: bool | None = False
                   ) -> tuple[np.ndarray, list[Sighting]]:
    """``n`` images and their attributes, all drawn from ``seed``."""
    images, sightings, _ = render_dataset_maps(n, seed, held_out=held_out)
    return images, sightings


@dataclass(frozen=True)
class Maps:
    """Per image: the creature's coverage on the latent grid (N, 16, 16) and its eyes as
    a density on a 32x32 grid (N, 32, 32): a small Gaussian per eye, each summing to 1,
    so a map's sum is the number of eyes in frame."""

    creature: np.ndarray
    eyes: np.ndarray


def eye_density(centres: tuple[tuple[float, float], ...], size: int = 32,
                sigma: float = 0.8) -> np.ndarray:
    """Eye centres (pixels of the 128x128 image) as a (size, size) density summing to
    the number of eyes."""
    out = np.zeros((size, size), np.float32)
    grid = np.arange(size, dtype=np.float32) + 0.5
    for x, y in centres:
        gx = np.exp(-0.5 * ((grid - x * size / IMAGE_SIZE) / sigma) ** 2)
        gy = np.exp(-0.5 * ((grid - y * size / IMAGE_SIZE) / sigma) ** 2)
        out += np.outer(gy / gy.sum(), gx / gx.sum())
    return out


def render_dataset_maps(n: int, seed: int, *, held_out: bool | None = False
                        ) -> tuple[np.ndarray, list[Sighting], Maps]:
    """``render_dataset``, and where each creature and its eyes are (``Maps``)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    f = IMAGE_SIZE // 16
    creature = np.zeros((n, 16, 16), np.float32)
    eyes = np.zeros((n, 32, 32), np.float32)
    sightings = []
    for i in range(n):
        s = random_sighting(rng, held_out=held_out)
        r = render_full(s, int(rng.integers(2**31)))
        images[i] = r.image
        creature[i] = r.coverage.reshape(16, f, 16, f).mean(axis=(1, 3))
        eyes[i] = eye_density(r.eyes)
        sightings.append(s)
    return images, sightings, Maps(creature, eyes)
