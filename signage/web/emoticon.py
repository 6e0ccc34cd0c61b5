"""An emoticon drawn from attributes only: a mood (and whether a mask was seen).

Never from a photo: the face is built from a handful of shapes in a 100x100 box, and the
same shape list is rendered to SVG (for the panel's live overlay and the mobile download)
and to PNG with Pillow (for the download), so both look alike.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

from ..vocabulary import MOOD_DISPLAY_ORDER, normalise_mood

__all__ = ["LABELS", "MOOD_DISPLAY_ORDER", "FACE_COLOURS", "normalise_mood", "emoticon_svg", "emoticon_png"]

LABELS = {
    "happy": "happy",
    "neutral": "calm",
    "sad": "a little sad",
    "angry": "grumpy",
    "surprise": "surprised",
    "fear": "worried",
    "disgust": "unimpressed",
}

FACE_COLOURS = {
    "happy": "#FFD23F",
    "neutral": "#F7D774",
    "sad": "#9CCBFF",
    "angry": "#FF8A65",
    "surprise": "#FFC94A",
    "fear": "#C9B8FF",
    "disgust": "#A9D77A",
}
_INK = "#3B2A1A"


Point = tuple[float, float]
#: one drawing primitive: ("circle", cx, cy, r, fill, stroke, width), ("ellipse", cx, cy, rx, ry,
#: fill), ("line", points, colour, width) or ("poly", points, fill, stroke, width)
Shape = tuple[Any, ...]


def _quad(p0: Point, p1: Point, p2: Point, n: int = 14) -> list[Point]:
    pts = []
    for i in range(n + 1):
        t = i / n
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
        pts.append((a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1]))
    return pts


def _darker(hex_colour: str, f: float = 0.72) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"#{int(r * f):02X}{int(g * f):02X}{int(b * f):02X}"


def shapes(mood: str, mask: bool = False) -> list[Shape]:
    """The drawing, as primitives: ("circle", cx, cy, r, fill, stroke, width),
    ("ellipse", cx, cy, rx, ry, fill), ("line", points, colour, width),
    ("poly", points, fill, stroke, width)."""
    mood = normalise_mood(mood)
    face = FACE_COLOURS[mood]
    s: list[Shape] = [("circle", 50, 50, 44, face, _darker(face), 3)]
    eye_l, eye_r = (36, 43), (64, 43)

    if mood in ("surprise", "fear"):
        for ex, ey in (eye_l, eye_r):
            s.append(("ellipse", ex, ey, 6.5, 8, "#FFFFFF"))
            s.append(("ellipse", ex, ey + 1, 3.4, 4.2, _INK))
    elif mood == "happy":
        for ex, ey in (eye_l, eye_r):  # smiling, closed eyes
            s.append(("line", _quad((ex - 6, ey + 2), (ex, ey - 6), (ex + 6, ey + 2)), _INK, 3.6))
    else:
        for ex, ey in (eye_l, eye_r):
            s.append(("ellipse", ex, ey, 4.2, 5.6, _INK))

    brows = {
        "sad": [((27, 34), (34, 29), (42, 30)), ((58, 30), (66, 29), (73, 34))],
        "angry": [((26, 29), (34, 31), (43, 37)), ((57, 37), (66, 31), (74, 29))],
        "surprise": [((28, 30), (35, 22), (43, 28)), ((57, 28), (65, 22), (72, 30))],
        "fear": [((28, 31), (36, 26), (43, 27)), ((57, 27), (64, 26), (72, 31))],
        "disgust": [((28, 33), (35, 33), (43, 36)), ((57, 31), (65, 27), (72, 30))],
    }.get(mood, [])
    for p0, p1, p2 in brows:
        s.append(("line", _quad(p0, p1, p2), _INK, 3.2))

    if mood == "happy":
        s.append(("ellipse", 24, 58, 6, 4, "#FF9E9E"))
        s.append(("ellipse", 76, 58, 6, 4, "#FF9E9E"))
    if mood == "sad":
        s.append(
            ("poly", [(27, 52), (24.5, 58), (25, 61), (27, 62.5), (29, 61), (29.5, 58)], "#4FA3F7", "#4FA3F7", 0.5)
        )

    if mask:
        s.append(("line", [(23, 60), (9, 47)], "#7FA9C4", 2))
        s.append(("line", [(77, 60), (91, 47)], "#7FA9C4", 2))
        s.append(
            (
                "poly",
                _quad((22, 57), (50, 50), (78, 57)) + _quad((76, 80), (50, 94), (24, 80)),
                "#E4F4FF",
                "#8AB8D6",
                1.8,
            )
        )
        for y in (66, 74):
            s.append(("line", _quad((28, y), (50, y - 4), (72, y)), "#A9CDE3", 1.6))
        return s

    if mood == "happy":
        s.append(("poly", _quad((28, 60), (50, 66), (72, 60)) + _quad((72, 60), (50, 92), (28, 60)), _INK, _INK, 1.5))
        s.append(
            (
                "poly",
                _quad((40, 78), (50, 72), (60, 78)) + _quad((60, 78), (50, 85), (40, 78)),
                "#FF6F6F",
                "#FF6F6F",
                0.5,
            )
        )
    elif mood == "neutral":
        s.append(("line", [(37, 69), (63, 69)], _INK, 3.8))
    elif mood == "sad":
        s.append(("line", _quad((34, 76), (50, 62), (66, 76)), _INK, 3.8))
    elif mood == "angry":
        s.append(("line", _quad((35, 75), (50, 66), (65, 75)), _INK, 4.2))
    elif mood == "surprise":
        s.append(("ellipse", 50, 72, 7, 9, _INK))
    elif mood == "fear":
        pts = [(34, 74), (38, 70), (42, 74), (46, 70), (50, 74), (54, 70), (58, 74), (62, 70), (66, 74)]
        s.append(("line", pts, _INK, 3))
    elif mood == "disgust":
        s.append(("line", _quad((35, 72), (45, 66), (52, 71)) + _quad((52, 71), (59, 76), (66, 68)), _INK, 3.6))
    return s


def _pts(points: list[Point]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


@lru_cache(maxsize=64)
def emoticon_svg(mood: str, mask: bool = False, size: int = 256) -> str:
    mood = normalise_mood(mood)
    body = []
    for sh in shapes(mood, mask):
        kind = sh[0]
        if kind == "circle":
            _, cx, cy, r, fill, stroke, w = sh
            body.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{fill}" stroke="{stroke}" stroke-width="{w}"/>')
        elif kind == "ellipse":
            _, cx, cy, rx, ry, fill = sh
            body.append(f'<ellipse cx="{cx}" cy="{cy}" rx="{rx}" ry="{ry}" fill="{fill}"/>')
        elif kind == "line":
            _, pts, colour, w = sh
            body.append(
                f'<polyline points="{_pts(pts)}" fill="none" stroke="{colour}" stroke-width="{w}" '
                f'stroke-linecap="round" stroke-linejoin="round"/>'
            )
        elif kind == "poly":
            _, pts, fill, stroke, w = sh
            body.append(
                f'<polygon points="{_pts(pts)}" fill="{fill}" stroke="{stroke}" stroke-width="{w}" '
                f'stroke-linejoin="round"/>'
            )
    label = f"{LABELS[mood]} emoticon" + (" with a mask" if mask else "")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="{size}" '
        f'height="{size}" role="img" aria-label="{label}"><title>{label}</title>{"".join(body)}</svg>'
    )


def _rgba(hex_colour: str) -> tuple[int, int, int, int]:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)


@lru_cache(maxsize=32)
def emoticon_png(mood: str, mask: bool = False, size: int = 512) -> bytes:
    from PIL import Image, ImageDraw

    ss = 4  # draw big, then shrink: smooth edges without an anti-aliasing renderer
    big = size * ss
    k = big / 100.0
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def line(points: list[Point], colour: str, w: float) -> None:
        p = [(x * k, y * k) for x, y in points]
        width = max(1, int(round(w * k)))
        d.line(p, fill=_rgba(colour), width=width, joint="curve")
        r = width / 2
        for x, y in (p[0], p[-1]):
            d.ellipse((x - r, y - r, x + r, y + r), fill=_rgba(colour))

    for sh in shapes(mood, mask):
        kind = sh[0]
        if kind == "circle":
            _, cx, cy, r, fill, stroke, w = sh
            d.ellipse(
                ((cx - r - w / 2) * k, (cy - r - w / 2) * k, (cx + r + w / 2) * k, (cy + r + w / 2) * k),
                fill=_rgba(stroke),
            )
            d.ellipse(
                ((cx - r + w / 2) * k, (cy - r + w / 2) * k, (cx + r - w / 2) * k, (cy + r - w / 2) * k),
                fill=_rgba(fill),
            )
        elif kind == "ellipse":
            _, cx, cy, rx, ry, fill = sh
            d.ellipse(((cx - rx) * k, (cy - ry) * k, (cx + rx) * k, (cy + ry) * k), fill=_rgba(fill))
        elif kind == "line":
            _, pts, colour, w = sh
            line(pts, colour, w)
        elif kind == "poly":
            _, pts, fill, stroke, w = sh
            d.polygon([(x * k, y * k) for x, y in pts], fill=_rgba(fill))
            line(list(pts) + [pts[0]], stroke, w)
    img = img.resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()
