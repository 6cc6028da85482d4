"""How the windows write a duration: one style for a step's time left, an image's time
and a conversion's."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """``4.2 s``, ``42 s``, ``3 min 05 s``, ``1 h 07 min``; ``?`` while unknown."""
    if seconds is None:
        return "?"
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f} s"
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s // 60 % 60:02d} min"
