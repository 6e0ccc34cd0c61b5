#!/usr/bin/env python3
"""Generate the demo inventory: ads in assets/ads/<slug>/ and healing scenes in assets/healing/.

Everything is made here from code -- no stock images: self-contained HTML/CSS creatives
(inline SVG, system fonts, no external requests, a layout for landscape and one for portrait),
images drawn with Pillow/numpy and a short VP8/WebM video drawn frame by frame with Pillow and
encoded with OpenCV. Deterministic (fixed seeds, a fixed WebM track id), so running it twice gives
the same files byte for byte (with the same Pillow/OpenCV builds; tests/test_demo_assets.py checks).

    python scripts/make_demo_assets.py [--out assets] [--only ads|healing]
    python scripts/make_demo_assets.py --contact-sheet docs/screenshots/demo-ads.png
"""

from __future__ import annotations

import argparse
import math
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

W, H = 1280, 720
FLIGHT = ("2026-01-01", "2027-12-31")

FONT_CANDIDATES = {
    "bold": [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ],
    "regular": [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ],
    "serif": [
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf",
    ],
}


def font(kind: str, size: int) -> ImageFont.FreeTypeFont:
    for path in FONT_CANDIDATES[kind]:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


# --- drawing helpers ---------------------------------------------------------------------------


def lerp(a, b, t):
    return np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t


def vertical_gradient(stops: list[tuple[float, tuple[int, int, int]]], h: int = H, w: int = W) -> np.ndarray:
    ys = np.linspace(0, 1, h, dtype=np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        col = np.interp(ys, [s for s, _ in stops], [rgb[c] for _, rgb in stops])
        img[:, :, c] = col[:, None]
    return img


def ridge(rng: np.random.Generator, base: float, amp: float, octaves: int = 5, w: int = W) -> np.ndarray:
    """A mountain ridge line: heights (pixels from top) for every column."""
    x = np.linspace(0, 1, w, dtype=np.float32)
    y = np.zeros(w, np.float32)
    for o in range(octaves):
        freq = 1.5 * 2**o
        phase = rng.uniform(0, 2 * math.pi)
        y += np.sin(x * freq * 2 * math.pi + phase) * amp / (1.8**o)
        y += np.abs(np.sin(x * freq * 3.1 + phase * 1.7)) * amp * 0.25 / (1.8**o)
    return base - y


def fill_below(img: np.ndarray, line: np.ndarray, color, shade: float = 0.0) -> None:
    h = img.shape[0]
    rows = np.arange(h, dtype=np.float32)[:, None]
    mask = rows >= line[None, :]
    # gentle darkening towards the bottom of each layer
    depth = np.clip((rows - float(line.min())) / (h * 0.6), 0, 1)
    col = np.asarray(color, np.float32)[None, None, :] * (1 - shade * depth[:, :, None])
    col = np.broadcast_to(col, img.shape)
    img[mask] = col[mask]


def glow(img: np.ndarray, cx: float, cy: float, r: float, color, strength: float = 1.0) -> None:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    core = np.clip(1.2 - d / r, 0, 1)
    halo = np.exp(-((d / (r * 4.5)) ** 2)) * 0.55
    a = np.clip(core + halo, 0, 1)[:, :, None] * strength
    img[:] = img * (1 - a) + np.asarray(color, np.float32)[None, None, :] * a


# --- healing scenes --------------------------------------------------------------------------------

SKIES = {
    "morning": [(0, (120, 160, 214)), (0.45, (238, 196, 170)), (0.62, (252, 222, 176))],
    "afternoon": [(0, (58, 120, 200)), (0.5, (132, 184, 232)), (0.62, (196, 224, 244))],
    "evening": [(0, (52, 46, 108)), (0.35, (176, 84, 112)), (0.55, (244, 146, 86)), (0.62, (252, 196, 120))],
    "night": [(0, (6, 10, 30)), (0.5, (20, 32, 72)), (0.62, (38, 52, 96))],
}
SUN = {  # position (fraction), radius, colour; near the middle, which a portrait screen also shows,
    # and below the clock the panel puts at the top of a portrait screen
    "morning": (0.42, 0.42, 34, (255, 236, 200)),
    "afternoon": (0.58, 0.30, 30, (255, 252, 236)),
    "evening": (0.54, 0.46, 44, (255, 170, 90)),
    "night": (0.60, 0.32, 24, (236, 236, 220)),
}
LAND = {  # far, mid, near colours
    "spring": [(128, 160, 150), (92, 146, 98), (66, 124, 70)],
    "summer": [(112, 150, 150), (60, 124, 76), (38, 100, 52)],
    "autumn": [(150, 140, 150), (176, 108, 60), (140, 70, 40)],
    "winter": [(186, 198, 216), (222, 230, 240), (244, 248, 252)],
}
TOD_LIGHT = {"morning": 0.95, "afternoon": 1.0, "evening": 0.72, "night": 0.42}
TITLES = {
    ("spring", "morning"): "Blossom valley at sunrise",
    ("spring", "afternoon"): "Green hills in spring",
    ("spring", "evening"): "Spring dusk over the lake",
    ("spring", "night"): "A quiet spring night",
    ("summer", "morning"): "Summer lake at first light",
    ("summer", "afternoon"): "Mountain lake in summer",
    ("summer", "evening"): "Golden summer evening",
    ("summer", "night"): "Warm summer starlight",
    ("autumn", "morning"): "Misty autumn morning",
    ("autumn", "afternoon"): "Autumn forest in the sun",
    ("autumn", "evening"): "Amber autumn sunset",
    ("autumn", "night"): "Autumn moonrise",
    ("winter", "morning"): "Fresh snow at dawn",
    ("winter", "afternoon"): "Bright winter peaks",
    ("winter", "evening"): "Pink alpenglow",
    ("winter", "night"): "Snow under the stars",
}


def healing_scene(season: str, tod: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    sky_stops = SKIES[tod]
    img = vertical_gradient(sky_stops + [(1.0, sky_stops[-1][1])])
    light = TOD_LIGHT[tod]
    sky_far = np.asarray(sky_stops[-1][1], np.float32)

    if tod == "night":  # stars
        n = 380
        xs, ys = rng.uniform(0, W, n), rng.uniform(0, H * 0.55, n) ** 1.0
        b = rng.uniform(120, 255, n)
        for x, y, v in zip(xs.astype(int), ys.astype(int), b, strict=True):
            img[y, x] = np.maximum(img[y, x], v)
            if v > 235 and 0 < x < W - 1 and 0 < y < H - 1:
                img[y - 1 : y + 2, x] = np.maximum(img[y - 1 : y + 2, x], v * 0.6)
                img[y, x - 1 : x + 2] = np.maximum(img[y, x - 1 : x + 2], v * 0.6)
    sx, sy, sr, scol = SUN[tod]
    glow(img, sx * W, sy * H, sr, scol, 0.95)

    # soft clouds
    if tod in ("morning", "afternoon", "evening"):
        cloud = Image.new("L", (W, H), 0)
        cd = ImageDraw.Draw(cloud)
        for _ in range(7):
            cx, cy = rng.uniform(0, W), rng.uniform(H * 0.08, H * 0.35)
            for _ in range(6):
                rx, ry = rng.uniform(40, 110), rng.uniform(14, 30)
                ox, oy = rng.uniform(-90, 90), rng.uniform(-12, 12)
                cd.ellipse([cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry], fill=110)
        cloud = np.asarray(cloud.filter(ImageFilter.GaussianBlur(18)), np.float32)[:, :, None] / 255
        ccol = {"morning": (255, 232, 226), "afternoon": (255, 255, 255), "evening": (255, 190, 170)}[tod]
        img = img * (1 - cloud * 0.8) + np.asarray(ccol, np.float32) * cloud * 0.8

    far, mid, near = LAND[season]
    layers = [
        (ridge(rng, H * 0.56, 90, 6), far, 0.55),
        (ridge(rng, H * 0.68, 50, 5), mid, 0.25),
        (ridge(rng, H * 0.80, 26, 4), near, 0.0),
    ]
    lake = season in ("spring", "summer") or (season == "autumn" and tod == "evening")
    for i, (line, col, haze) in enumerate(layers):
        if lake and i == 2:
            break
        c = lerp(col, sky_far, haze) * light + sky_far * (1 - light) * 0.25
        fill_below(img, line, np.clip(c, 0, 255), shade=0.25)
        if season == "winter" and i < 2:  # snow caps
            cap = line + 22 + 10 * np.sin(np.linspace(0, 40, W))
            rows = np.arange(H, dtype=np.float32)[:, None]
            m = (rows >= line[None, :]) & (rows < cap[None, :])
            img[m] = np.clip(lerp((250, 252, 255), sky_far, 0.2) * light + 10, 0, 255)

    if lake:
        water_top = int(H * 0.74)
        above = img[water_top - (H - water_top) : water_top][::-1].copy()
        tint = np.asarray((60, 110, 150) if tod != "night" else (10, 20, 50), np.float32)
        refl = above * 0.6 + tint * 0.4
        # ripples
        for y in range(refl.shape[0]):
            shift = int(3 * math.sin(y * 0.35) * (y / refl.shape[0] + 0.2))
            refl[y] = np.roll(refl[y], shift, axis=0)
        img[water_top:] = refl[: H - water_top]
        near = LAND[season][2]
        shore = ridge(rng, H * 0.93, 14, 3)
        fill_below(img, shore, np.clip(np.asarray(near, np.float32) * light, 0, 255), shade=0.3)

    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pil, "RGBA")
    ground = H * 0.80 if not lake else H * 0.92
    if season == "autumn":
        for _ in range(55):
            x = rng.uniform(0, W)
            y = ground + rng.uniform(-30, 40)
            r = rng.uniform(14, 34)
            col = [(196, 84, 36), (226, 140, 40), (170, 50, 40), (236, 180, 60)][rng.integers(4)]
            col = tuple(int(c * light) for c in col)
            d.rectangle([x - 2, y, x + 2, y + r * 1.4], fill=(60, 40, 30, 255))
            d.ellipse([x - r, y - r, x + r, y + r * 0.8], fill=col + (235,))
    elif season == "spring":
        for _ in range(260):
            x, y = rng.uniform(0, W), rng.uniform(ground - 10, H)
            r = rng.uniform(1.5, 4)
            col = [(255, 190, 214), (255, 255, 255), (255, 226, 120)][rng.integers(3)]
            col = tuple(int(c * light) for c in col)
            d.ellipse([x - r, y - r, x + r, y + r], fill=col + (220,))
    elif season == "summer":
        for _ in range(40):
            x = rng.uniform(0, W)
            y = ground + rng.uniform(-10, 30)
            h = rng.uniform(40, 90)
            col = tuple(int(c * light) for c in (24, 78, 44))
            d.polygon([(x, y - h), (x - h * 0.28, y), (x + h * 0.28, y)], fill=col + (255,))
    elif season == "winter":
        for _ in range(30):
            x = rng.uniform(0, W)
            y = ground + rng.uniform(-20, 40)
            h = rng.uniform(40, 80)
            col = tuple(int(c * light) for c in (30, 64, 60))
            d.polygon([(x, y - h), (x - h * 0.3, y), (x + h * 0.3, y)], fill=col + (255,))
            d.polygon(
                [(x, y - h), (x - h * 0.12, y - h * 0.55), (x + h * 0.12, y - h * 0.55)], fill=(250, 250, 255, 230)
            )
        for _ in range(220):  # falling snow
            x, y, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(1, 3)
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255, 170))
    if tod == "morning" and season in ("autumn", "winter"):
        pil = Image.blend(pil, Image.new("RGB", (W, H), (236, 232, 236)), 0.18)  # mist
    return pil.filter(ImageFilter.GaussianBlur(0.6))


def make_healing(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    seed = 11
    for season in ("spring", "summer", "autumn", "winter"):
        for tod in ("morning", "afternoon", "evening", "night"):
            seed += 1
            name = f"{season}-{tod}.jpg"
            healing_scene(season, tod, seed).save(out / name, quality=80, optimize=True, progressive=True)
            entries.append((f"{season}-{tod}", name, TITLES[(season, tod)], season, tod))
    lines = [
        "# Healing scenes, generated by scripts/make_demo_assets.py (drawn with numpy/Pillow).",
        "# season: spring summer autumn winter any; time_of_day: morning afternoon evening night any",
        "",
    ]
    for sid, name, title, season, tod in entries:
        lines += [
            "[[scene]]",
            f'id = "{sid}"',
            f'file = "{name}"',
            f'title = "{title}"',
            f'season = "{season}"',
            f'time_of_day = "{tod}"',
            "",
        ]
    (out / "scenes.toml").write_text("\n".join(lines), encoding="utf-8")


# --- ads ---------------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
*{{box-sizing:border-box;margin:0;padding:0}}
html,body{{width:100%;height:100%;overflow:hidden}}
body{{font-family:"Segoe UI",Roboto,"Helvetica Neue","Liberation Sans",Arial,sans-serif;color:{ink};background:{bg}}}
/* The panel lays its own chrome over every creative: an "Advertisement" chip top left and the
   privacy notice bottom left (landscape) or across the bottom (portrait). Nothing here sits there. */
.stage{{position:fixed;inset:0;overflow:hidden}}
.copy{{position:absolute;left:7vw;top:0;bottom:6vh;width:44vw;z-index:2;display:flex;flex-direction:column;
  justify-content:center;align-items:flex-start}}
.kicker{{font-size:2.1vmin;letter-spacing:.3em;text-transform:uppercase;opacity:.85;font-weight:700;
  animation:rise .9s ease-out both}}
h1{{font-size:8.4vmin;line-height:1.04;margin:.35em 0 .35em;font-weight:800;letter-spacing:-.01em;
  animation:rise 1s .15s ease-out both}}
p.sub{{font-size:3vmin;line-height:1.4;max-width:26em;opacity:.92;animation:rise 1s .35s ease-out both}}
.cta{{display:inline-block;margin-top:1.3em;padding:.7em 1.3em;border-radius:999px;font-weight:800;
  font-size:2.8vmin;background:{accent};color:{accent_ink};box-shadow:0 .6vmin 2vmin rgba(0,0,0,.18);
  animation:rise 1s .55s ease-out both, pulse 2.4s 1.8s ease-in-out infinite}}
.brand{{position:absolute;left:7vw;top:9vmin;font-size:2.6vmin;font-weight:800;opacity:.9;z-index:2;
  letter-spacing:.02em}}
.fine{{position:fixed;right:3vw;bottom:3.5vmin;font-size:1.8vmin;opacity:.75;z-index:2}}
.art{{position:absolute;right:0;top:0;width:54%;height:100%;z-index:1;
  -webkit-mask-image:linear-gradient(90deg,transparent 0,#000 24%);mask-image:linear-gradient(90deg,transparent 0,#000 24%)}}
@media (orientation:portrait){{
  .brand{{left:0;right:0;top:6.5vh;text-align:center;font-size:3.8vw}}
  .art{{top:10vh;left:0;right:0;margin:0 auto;width:calc(44vh * .889);height:44vh;
    -webkit-mask-image:linear-gradient(180deg,#000 82%,transparent);mask-image:linear-gradient(180deg,#000 82%,transparent)}}
  .art .g{{transform:translate(-60px,0)}}
  .copy{{left:8vw;right:8vw;width:auto;top:55vh;bottom:auto;display:block}}
  .kicker{{font-size:2.9vw}}
  h1{{font-size:10.6vw}}
  p.sub{{font-size:4.4vw;max-width:none}}
  .cta{{font-size:4.2vw}}
  .fine{{position:static;margin-top:2.4em;font-size:2.9vw}}
}}
@keyframes rise{{from{{opacity:0;transform:translateY(2.5vmin)}}to{{opacity:1;transform:none}}}}
@keyframes pulse{{0%,100%{{transform:scale(1)}}50%{{transform:scale(1.05)}}}}
@keyframes float{{0%,100%{{transform:translateY(0)}}50%{{transform:translateY(-3%)}}}}
@keyframes spin{{to{{transform:rotate(360deg)}}}}
@keyframes drift{{from{{transform:translateX(-8%)}}to{{transform:translateX(8%)}}}}
.float{{animation:float 5s ease-in-out infinite}}
.spin{{transform-origin:center;transform-box:fill-box;animation:spin 24s linear infinite}}
.drift{{animation:drift 9s ease-in-out infinite alternate}}
{extra_css}
</style></head>
<body><div class="stage">
<div class="brand">{brand}</div>
<svg class="art" viewBox="0 0 640 720" preserveAspectRatio="xMaxYMid meet" aria-hidden="true"><g class="g">{art}</g></svg>
<div class="copy">
  <div class="kicker">{kicker}</div>
  <h1>{headline}</h1>
  <p class="sub">{sub}</p>
  <div class="cta">{cta}</div>
  <div class="fine">{fine}</div>
</div>
</div></body></html>
"""

ADS: list[dict] = [
    dict(
        slug="sunny-smoothies",
        title="Sunshine Smoothie Bar",
        advertiser="Sunshine Juice Co.",
        duration=12,
        moods=["happy", "surprise"],
        age_groups=["teen", "20-39"],
        genders=[],
        cpm=12.0,
        budget=450.0,
        freq_cap=2,
        priority=1,
        dayparts=[{"days": ["daily"], "start": "08:00", "end": "20:00"}],
        mobile=dict(
            description="Cold-pressed smoothies blended to order: mango-passion, berry blast and "
            "green glow. Show this page at the counter.",
            address="14 Harbour Walk, Old Town",
            phone="+1 555 0142",
            website="https://sunshine-smoothies.example",
            coupon="SUNNY10",
            map_url="https://www.openstreetmap.org/search?query=14%20Harbour%20Walk",
        ),
        html=dict(
            bg="linear-gradient(135deg,#ffe259 0%,#ffa751 55%,#ff6f61 100%)",
            ink="#3b1d00",
            accent="#ffffff",
            accent_ink="#ff6f61",
            kicker="Good mood, great taste",
            headline="Keep that smile<br>ice-cold.",
            sub="Fresh mango-passion smoothies, blended to order two minutes from here.",
            cta="10% off with the QR code",
            brand="☀ Sunshine Smoothie Bar",
            fine="Offer valid until 31 Dec 2027",
            art="""<circle class="spin" cx="430" cy="180" r="120" fill="#fff3b0" opacity=".55"/>
<g class="float"><path d="M250 250 L520 250 L480 640 L290 640 Z" fill="#fff" opacity=".9"/>
<path d="M262 330 L508 330 L480 640 L290 640 Z" fill="#ff8a3d"/>
<path d="M270 420 L500 420 L480 640 L290 640 Z" fill="#ff5e62"/>
<rect x="392" y="90" width="18" height="220" rx="9" fill="#2ec4b6" transform="rotate(14 400 200)"/>
<circle cx="330" cy="380" r="12" fill="#fff" opacity=".7"/><circle cx="420" cy="470" r="9" fill="#fff" opacity=".6"/>
<circle cx="360" cy="540" r="14" fill="#fff" opacity=".5"/></g>
<path d="M200 700 q120 -60 240 0 t240 0 V720 H200Z" fill="#fff" opacity=".25" class="drift"/>""",
        ),
    ),
    dict(
        slug="hug-in-a-mug",
        title="Hug in a Mug Cocoa House",
        advertiser="Hug in a Mug",
        duration=12,
        moods=["sad", "neutral", "fear"],
        age_groups=["teen", "20-39", "40-59", "60+"],
        genders=[],
        uplifting=True,
        cpm=9.0,
        budget=300.0,
        freq_cap=2,
        dayparts=[{"days": ["daily"], "start": "07:00", "end": "22:00"}],
        mobile=dict(
            description="Rough day? Our hot cocoa comes with a marshmallow cloud and a kind word. "
            "Free refill with this page.",
            address="3 Lantern Lane",
            phone="+1 555 0199",
            website="https://hug-in-a-mug.example",
            map_url="https://www.openstreetmap.org/search?query=3%20Lantern%20Lane",
            coupon="HUG2U",
        ),
        html=dict(
            bg="radial-gradient(circle at 70% 40%,#ffd6a5 0%,#f4a261 45%,#8d5a3b 100%)",
            ink="#2b1608",
            accent="#2b1608",
            accent_ink="#ffe8cc",
            kicker="A little warmth for you",
            headline="Bad day?<br>Let it melt.",
            sub="Hot cocoa, marshmallow clouds and a cosy corner, around the corner.",
            cta="Free refill with the QR code",
            brand="♥ Hug in a Mug Cocoa House",
            fine="One refill per visit",
            art="""<g class="float"><ellipse cx="380" cy="600" rx="190" ry="30" fill="#000" opacity=".15"/>
<path d="M230 330 h300 v170 a150 110 0 0 1 -300 0 Z" fill="#fff7ee"/>
<path d="M530 380 a60 60 0 0 1 0 110" stroke="#fff7ee" stroke-width="26" fill="none"/>
<ellipse cx="380" cy="332" rx="150" ry="26" fill="#6b3e26"/>
<circle cx="340" cy="320" r="26" fill="#fff"/><circle cx="390" cy="312" r="22" fill="#fff"/>
<circle cx="430" cy="326" r="18" fill="#fff"/>
<path d="M380 470 c-30 -30 -60 -5 -40 20 l40 36 l40 -36 c20 -25 -10 -50 -40 -20z" fill="#e76f51"/></g>
<g opacity=".6" stroke="#fff" stroke-width="8" fill="none" stroke-linecap="round" class="drift">
<path d="M320 270 q-20 -40 0 -80 t0 -80"/><path d="M380 260 q-20 -40 0 -80 t0 -80"/>
<path d="M440 270 q-20 -40 0 -80 t0 -80"/></g>""",
        ),
    ),
    dict(
        slug="bloom-skincare",
        title="Bloom Botanical Skincare",
        advertiser="Bloom Laboratories",
        duration=15,
        moods=[],
        age_groups=["20-39", "40-59"],
        genders=["female"],
        cpm=18.0,
        budget=800.0,
        freq_cap=3,
        dayparts=[],
        mobile=dict(
            description="Botanical serums and SPF moisturisers, dermatologist tested. Free skin consultation in store.",
            address="Galleria Level 1, Unit 12",
            phone="+1 555 0110",
            website="https://bloom-skincare.example",
            map_url="https://www.openstreetmap.org/search?query=Galleria",
            coupon="GLOW15",
        ),
        html=dict(
            bg="linear-gradient(160deg,#fdf2f8 0%,#fbcfe8 50%,#f9a8d4 100%)",
            ink="#4a0d2e",
            accent="#4a0d2e",
            accent_ink="#fdf2f8",
            kicker="New · Botanical serum",
            headline="Your skin,<br>in full bloom.",
            sub="Rosehip and niacinamide serum for a calm, even glow, morning and night.",
            cta="15% off your first serum",
            brand="✿ Bloom Botanical Skincare",
            fine="Dermatologist tested",
            art="""<g class="spin" style="animation-duration:40s">
<g transform="translate(380 300)"><g fill="#f472b6" opacity=".85">
<ellipse rx="60" ry="150" transform="rotate(0)"/><ellipse rx="60" ry="150" transform="rotate(45)"/>
<ellipse rx="60" ry="150" transform="rotate(90)"/><ellipse rx="60" ry="150" transform="rotate(135)"/></g>
<circle r="55" fill="#fde68a"/></g></g>
<g class="float"><rect x="300" y="440" width="150" height="230" rx="26" fill="#fff"/>
<rect x="335" y="390" width="80" height="60" rx="10" fill="#4a0d2e"/>
<rect x="320" y="520" width="110" height="60" rx="8" fill="#fbcfe8"/>
<text x="375" y="560" font-size="26" text-anchor="middle" fill="#4a0d2e" font-weight="700">BLOOM</text></g>""",
        ),
    ),
    dict(
        slug="silver-river-cruises",
        title="Silver River Cruises",
        advertiser="Silver River Travel",
        duration=15,
        moods=["happy", "neutral"],
        age_groups=["60+"],
        genders=[],
        cpm=20.0,
        budget=700.0,
        freq_cap=2,
        priority=0,
        dayparts=[{"days": ["daily"], "start": "09:00", "end": "19:00"}],
        mobile=dict(
            description="Seven-night river cruises with guided village walks, live music and "
            "step-free boarding. Talk to a travel adviser today.",
            address="Silver River Travel, 88 Market Square",
            phone="+1 555 0188",
            website="https://silver-river.example",
            map_url="https://www.openstreetmap.org/search?query=88%20Market%20Square",
        ),
        html=dict(
            bg="linear-gradient(180deg,#0f3057 0%,#00587a 55%,#008891 100%)",
            ink="#f4f9f9",
            accent="#f0c75e",
            accent_ink="#0f3057",
            kicker="Seven nights · all inclusive",
            headline="Slow down.<br>Let the river<br>lead.",
            sub="Gentle river cruises with village walks, live music and step-free boarding.",
            cta="Brochure via the QR code",
            brand="≈ Silver River Cruises",
            fine="Prices per person, sharing",
            art="""<circle cx="470" cy="200" r="70" fill="#f0c75e" opacity=".9"/>
<path d="M0 430 L160 300 L280 400 L420 260 L640 430 Z" fill="#0b2540" opacity=".7"/>
<g class="drift"><path d="M150 520 h360 l-40 60 h-290 z" fill="#fff"/>
<rect x="220" y="470" width="210" height="50" rx="8" fill="#e8f1f2"/>
<g fill="#00587a"><rect x="240" y="485" width="22" height="18" rx="3"/><rect x="275" y="485" width="22" height="18" rx="3"/>
<rect x="310" y="485" width="22" height="18" rx="3"/><rect x="345" y="485" width="22" height="18" rx="3"/>
<rect x="380" y="485" width="22" height="18" rx="3"/></g></g>
<g stroke="#bfe6e8" stroke-width="5" opacity=".6" fill="none" class="drift">
<path d="M60 620 q40 -14 80 0 t80 0 t80 0 t80 0 t80 0 t80 0"/><path d="M20 670 q40 -14 80 0 t80 0 t80 0 t80 0 t80 0 t80 0"/></g>""",
        ),
    ),
    dict(
        slug="pixel-planet-arcade",
        title="Pixel Planet Arcade",
        advertiser="Pixel Planet",
        duration=10,
        moods=["happy", "surprise", "neutral"],
        age_groups=["child", "teen"],
        genders=[],
        cpm=8.0,
        budget=250.0,
        freq_cap=2,
        dayparts=[
            {"days": ["weekdays"], "start": "13:00", "end": "20:00"},
            {"days": ["weekend"], "start": "09:00", "end": "20:00"},
        ],
        mobile=dict(
            description="Retro cabinets, dance machines and a prize wall. Families welcome; "
            "free play card top-up with this page.",
            address="Pixel Planet, 5 Station Road",
            phone="+1 555 0123",
            website="https://pixel-planet.example",
            map_url="https://www.openstreetmap.org/search?query=5%20Station%20Road",
            coupon="LEVELUP",
        ),
        html=dict(
            bg="linear-gradient(135deg,#240046 0%,#5a189a 50%,#9d4edd 100%)",
            ink="#ffffff",
            accent="#fee440",
            accent_ink="#240046",
            kicker="Press start",
            headline="Level up<br>your weekend!",
            sub="Retro games, dance machines and a giant prize wall, just down the road.",
            cta="Free top-up with the QR code",
            brand="▲ Pixel Planet Arcade",
            fine="Under-12s with an adult",
            extra_css=".blink{animation:pulse .9s steps(2) infinite}",
            art="""<g class="float"><g fill="#00f5d4">
<rect x="300" y="200" width="40" height="40"/><rect x="460" y="200" width="40" height="40"/>
<rect x="340" y="240" width="40" height="40"/><rect x="420" y="240" width="40" height="40"/>
<rect x="300" y="280" width="200" height="40"/><rect x="260" y="320" width="80" height="40"/>
<rect x="380" y="320" width="40" height="40"/><rect x="460" y="320" width="80" height="40"/>
<rect x="220" y="360" width="360" height="40"/><rect x="220" y="400" width="40" height="80"/>
<rect x="300" y="400" width="200" height="40"/><rect x="540" y="400" width="40" height="80"/>
<rect x="300" y="440" width="40" height="40"/><rect x="460" y="440" width="40" height="40"/>
<rect x="340" y="480" width="50" height="40"/><rect x="410" y="480" width="50" height="40"/></g></g>
<g class="blink" fill="#fee440"><rect x="120" y="120" width="16" height="16"/><rect x="560" y="110" width="16" height="16"/>
<rect x="100" y="600" width="16" height="16"/><rect x="580" y="620" width="16" height="16"/></g>
<text x="400" y="640" font-size="44" text-anchor="middle" fill="#fee440" font-family="monospace" font-weight="700">1UP</text>""",
        ),
    ),
    dict(
        slug="hopfield-ipa",
        title="Hopfield Craft IPA",
        advertiser="Hopfield Brewing Co.",
        duration=12,
        moods=["happy", "surprise"],
        age_groups=["20-39", "40-59"],
        genders=[],
        age_restricted=True,
        cpm=16.0,
        budget=500.0,
        freq_cap=1,
        dayparts=[{"days": ["daily"], "start": "11:00", "end": "02:00"}],
        mobile=dict(
            description="Hazy, citrusy, brewed in town. Taproom tours every Friday and Saturday. "
            "18+ only; please drink responsibly.",
            address="Hopfield Taproom, 21 Mill Street",
            phone="+1 555 0177",
            website="https://hopfield-brewing.example",
            map_url="https://www.openstreetmap.org/search?query=21%20Mill%20Street",
        ),
        html=dict(
            bg="linear-gradient(160deg,#1b4332 0%,#2d6a4f 55%,#40916c 100%)",
            ink="#fefae0",
            accent="#f4a300",
            accent_ink="#1b1b1b",
            kicker="Brewed in town · 6.2% ABV",
            headline="Hazy days,<br>golden nights.",
            sub="Hopfield Craft IPA: citrus, pine and a soft finish. Taproom open till late.",
            cta="Taproom tour details",
            brand="⬢ Hopfield Brewing Co.",
            fine="18+ only · Please drink responsibly",
            art="""<g class="float"><path d="M280 220 h180 l-18 430 h-144 z" fill="#f4a300"/>
<path d="M280 220 h180 l-4 90 h-172 z" fill="#fff8e7"/>
<circle cx="300" cy="215" r="34" fill="#fff8e7"/><circle cx="350" cy="200" r="40" fill="#fff8e7"/>
<circle cx="410" cy="205" r="36" fill="#fff8e7"/><circle cx="450" cy="222" r="26" fill="#fff8e7"/>
<g fill="#fff" opacity=".55"><circle cx="330" cy="480" r="7"/><circle cx="380" cy="560" r="6"/>
<circle cx="400" cy="420" r="5"/><circle cx="350" cy="600" r="5"/></g></g>
<g fill="#95d5b2" opacity=".8" class="drift"><ellipse cx="560" cy="120" rx="26" ry="40"/>
<ellipse cx="600" cy="170" rx="22" ry="34"/><ellipse cx="530" cy="180" rx="20" ry="30"/></g>""",
        ),
    ),
    dict(
        slug="calm-breath-yoga",
        title="Calm Breath Yoga Studio",
        advertiser="Calm Breath",
        duration=15,
        moods=["sad", "fear", "neutral", "angry"],
        age_groups=["20-39", "40-59", "60+"],
        genders=[],
        uplifting=True,
        cpm=11.0,
        budget=400.0,
        freq_cap=2,
        dayparts=[{"days": ["daily"], "start": "06:00", "end": "21:00"}],
        mobile=dict(
            description="Gentle flow, breathwork and restorative classes for every body. Your first class is on us.",
            address="Calm Breath Studio, 9 Garden Court",
            phone="+1 555 0155",
            website="https://calm-breath.example",
            map_url="https://www.openstreetmap.org/search?query=9%20Garden%20Court",
            coupon="BREATHE",
        ),
        html=dict(
            bg="linear-gradient(180deg,#e0f2f1 0%,#b2dfdb 60%,#80cbc4 100%)",
            ink="#123b3a",
            accent="#123b3a",
            accent_ink="#e0f2f1",
            kicker="Breathe in · breathe out",
            headline="Ten slow<br>breaths.<br>Feel lighter.",
            sub="Gentle flow and restorative classes, every day from 6 am.",
            cta="First class free",
            brand="◯ Calm Breath Yoga Studio",
            fine="Mats and tea provided",
            extra_css="@keyframes breathe{0%,100%{transform:scale(.82)}50%{transform:scale(1.08)}}"
            ".breathe{transform-origin:center;transform-box:fill-box;animation:breathe 8s ease-in-out infinite}",
            art="""<circle class="breathe" cx="360" cy="340" r="200" fill="#ffffff" opacity=".45"/>
<circle class="breathe" cx="360" cy="340" r="130" fill="#ffffff" opacity=".6" style="animation-delay:.4s"/>
<g fill="#123b3a"><circle cx="360" cy="250" r="28"/>
<path d="M360 285 c-30 0 -40 40 -40 80 l-70 50 l10 18 l80 -40 l20 0 l80 40 l10 -18 l-70 -50 c0 -40 -10 -80 -40 -80z"/>
<path d="M250 470 q110 -50 220 0 l0 14 q-110 -30 -220 0z"/></g>""",
        ),
    ),
    dict(
        slug="ridgeline-outfitters",
        title="Ridgeline Outfitters",
        advertiser="Ridgeline Outdoor Ltd.",
        duration=12,
        moods=["happy", "neutral"],
        age_groups=["20-39", "40-59"],
        genders=["male"],
        cpm=15.0,
        budget=600.0,
        freq_cap=2,
        image="ridgeline",
        safe_zone=("right", 0.18),
        dayparts=[
            {"days": ["weekdays"], "start": "06:00", "end": "10:00"},
            {"days": ["weekdays"], "start": "16:00", "end": "22:00"},
            {"days": ["weekend"], "start": "07:00", "end": "22:00"},
        ],
        mobile=dict(
            description="Waterproof shells, trail shoes and ultralight packs. Free boot fitting "
            "and weekend trail maps.",
            address="Ridgeline, 40 North Gate",
            phone="+1 555 0166",
            website="https://ridgeline-outfitters.example",
            map_url="https://www.openstreetmap.org/search?query=40%20North%20Gate",
            coupon="TRAIL20",
            landing_url="https://ridgeline-outfitters.example/trail-shoes",
        ),
    ),
    dict(
        slug="glide-ebikes",
        title="Glide City E-Bikes",
        advertiser="Glide Mobility",
        duration=8,
        moods=["neutral", "disgust", "surprise"],
        age_groups=["20-39", "40-59"],
        genders=[],
        cpm=14.0,
        budget=650.0,
        freq_cap=2,
        video="glide",
        dayparts=[
            {"days": ["weekdays"], "start": "07:00", "end": "09:30"},
            {"days": ["weekdays"], "start": "16:30", "end": "19:00"},
        ],
        mobile=dict(
            description="Electric bikes at 40 stations across town: unlock with the app, ride the "
            "bike lanes past the traffic, leave it at any station. Your first 30 "
            "minutes are free.",
            address="Glide Hub, Central Station forecourt",
            phone="+1 555 0131",
            website="https://glide-bikes.example",
            map_url="https://www.openstreetmap.org/search?query=Central%20Station",
            coupon="GLIDEFREE",
        ),
    ),
    dict(
        slug="city-library-nights",
        title="City Library Late Nights",
        advertiser="City Library (house ad)",
        duration=10,
        moods=[],
        age_groups=[],
        genders=[],
        cpm=0.0,
        budget=0.0,
        freq_cap=0,
        priority=-2,
        image="library",
        dayparts=[],
        mobile=dict(
            description="Open till 10 pm on weekdays: quiet study rooms, free Wi-Fi, board-game "
            "evenings and a café. Library cards are free.",
            address="City Library, 1 Civic Plaza",
            phone="+1 555 0100",
            website="https://library.example",
            map_url="https://www.openstreetmap.org/search?query=1%20Civic%20Plaza",
        ),
    ),
]


def image_ridgeline(portrait: bool = False) -> Image.Image:
    """Landscape: text box on the left, the hiker right of centre, nothing but sky and hills in
    the right 18 % (its ad.toml declares that band a safe zone). Portrait: the text at the top,
    the hills and the hiker below."""
    w, h = (1080, 1920) if portrait else (W, H)
    rng = np.random.default_rng(7)
    img = vertical_gradient(
        [(0, (255, 183, 94)), (0.45, (255, 120, 90)), (0.7, (120, 60, 110)), (1, (40, 30, 70))], h=h, w=w
    )
    glow(img, w * 0.7, h * (0.5 if portrait else 0.42), 60, (255, 236, 180), 1.0)
    for base, amp, col in (
        (h * 0.6 if portrait else h * 0.55, 110, (120, 64, 96)),
        (h * 0.7 if portrait else h * 0.68, 70, (70, 40, 80)),
        (h * 0.82, 40, (30, 22, 48)),
    ):
        fill_below(img, ridge(rng, base, amp, 6, w=w), col, 0.2)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pil, "RGBA")
    # a hiker on the ridge
    x, y = (w * 0.62, h * 0.76) if portrait else (w * 0.74, h * 0.74)
    d.ellipse([x - 9, y - 92, x + 9, y - 74], fill=(20, 14, 30))
    d.polygon([(x - 10, y - 72), (x + 10, y - 72), (x + 14, y - 30), (x - 12, y - 30)], fill=(20, 14, 30))
    d.rectangle([x - 26, y - 72, x - 8, y - 38], fill=(20, 14, 30))  # backpack
    d.line([(x - 6, y - 30), (x - 16, y)], fill=(20, 14, 30), width=7)
    d.line([(x + 6, y - 30), (x + 14, y)], fill=(20, 14, 30), width=7)
    d.line([(x + 12, y - 66), (x + 30, y + 2)], fill=(20, 14, 30), width=3)  # pole
    # the text block: where and how large, per orientation
    box, title, head, body, button, label = (
        (
            [60, 140, 1020, 820],
            (110, 200, 40),
            (104, 270, 120, 8),
            (110, 560, 36, 12),
            ([110, 690, 650, 780], 45),
            (380, 735, 36),
        )
        if portrait
        else (
            [60, 60, 700, 660],
            (100, 110, 30),
            (96, 170, 92, 6),
            (100, 400, 28, 10),
            ([100, 520, 520, 590], 35),
            (310, 555, 28),
        )
    )
    d.rounded_rectangle(box, 28, fill=(20, 14, 30, 120))
    d.text(title[:2], "RIDGELINE OUTFITTERS", font=font("bold", title[2]), fill=(255, 214, 150))
    d.text(head[:2], "Chase the\nlast light.", font=font("bold", head[2]), fill=(255, 255, 255), spacing=head[3])
    d.text(
        body[:2],
        "Waterproof shells, trail shoes and\nultralight packs for after-work summits.",
        font=font("regular", body[2]),
        fill=(255, 236, 220),
        spacing=body[3],
    )
    d.rounded_rectangle(button[0], button[1], fill=(255, 183, 94))
    d.text(label[:2], "20% off trail shoes · QR", font=font("bold", label[2]), fill=(40, 22, 50), anchor="mm")
    return pil


def book_shelves(
    d: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    x0: int,
    x1: int,
    top: int,
    rows: int,
    pitch: int,
    depth: int,
    plank: int,
    widths: tuple[int, int],
    heights: tuple[int, int],
    gap: int,
    spines: bool,
) -> None:
    """Rows of books in the demo palette: each row on a plank at `top + row * pitch + depth`."""
    palette = [(231, 111, 81), (244, 162, 97), (233, 196, 106), (42, 157, 143), (138, 177, 125), (255, 255, 255)]
    for shelf in range(rows):
        y0 = top + shelf * pitch
        d.rectangle([x0 - 10, y0 + depth, x1 + 20, y0 + depth + plank], fill=(120, 86, 60))
        x = x0
        while x < x1:
            w = int(rng.integers(*widths))
            h = int(rng.integers(*heights))
            col = palette[int(rng.integers(len(palette)))]
            d.rectangle([x, y0 + depth - h, x + w, y0 + depth], fill=col + (230,))
            if spines:
                d.line([(x + 4, y0 + depth + 10 - h), (x + w - 4, y0 + depth + 10 - h)], fill=(0, 0, 0, 60), width=2)
            x += w + gap


def image_library(portrait: bool = False) -> Image.Image:
    """Landscape: text left, shelves right. Portrait: text at the top, the shelves below."""
    w, h = (1080, 1920) if portrait else (W, H)
    img = vertical_gradient([(0, (22, 34, 64)), (1, (44, 62, 104))], h=h, w=w)
    pil = Image.fromarray(img.astype(np.uint8))
    d = ImageDraw.Draw(pil, "RGBA")
    rng = np.random.default_rng(3)
    if portrait:  # the shelves below the text
        book_shelves(d, rng, 100, 970, 860, 6, 150, 120, 12, (22, 44), (80, 118), 4, spines=False)
    else:  # the shelves on the right
        book_shelves(d, rng, 710, 1200, 110, 5, 118, 96, 10, (16, 34), (62, 94), 3, spines=True)
        # a warm lamp glow
        glow_arr = np.asarray(pil, np.float32)
        glow(glow_arr, 560, 140, 30, (255, 214, 140), 0.9)
        pil = Image.fromarray(np.clip(glow_arr, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(pil, "RGBA")
    title, head, body, note = (
        ((90, 160, 42), (84, 240, 118, 10), (90, 560, 38, 12), (90, 720, 34))
        if portrait
        else ((80, 110, 30), (76, 170, 84, 8), (80, 410, 28, 10), (80, 560, 26))
    )
    d.text(title[:2], "CITY LIBRARY", font=font("bold", title[2]), fill=(255, 214, 140))
    d.text(head[:2], "Open late.\nStay curious.", font=font("serif", head[2]), fill=(255, 255, 255), spacing=head[3])
    d.text(
        body[:2],
        "Weekdays until 10 pm: quiet rooms,\nfree Wi-Fi, game nights and a café.",
        font=font("regular", body[2]),
        fill=(220, 230, 250),
        spacing=body[3],
    )
    d.text(note[:2], "Library cards are free — scan the QR code", font=font("bold", note[2]), fill=(255, 214, 140))
    return pil


# --- the video ad --------------------------------------------------------------------------------
# Drawn frame by frame with Pillow and encoded by OpenCV's FFmpeg writer as VP8 in WebM (plays in
# every Chromium). The panel fills the screen with a video (object-fit: cover), so on a portrait
# screen only the middle ~32 % of a 16:9 frame shows: every word and the brand stay inside that
# centre column (x 450..830 of 1280), the scenery around it is only decoration.
# Size: OpenCV gives the encoder no rate control (a bitrate of fps x width x height, so it codes at
# its best quality, a key frame every 12 frames); what keeps the file small is a still camera,
# soft detail behind the action and 20 frames a second.

VW, VH, FPS, SECONDS = 1280, 720, 20, 8
BLUR = (3, 3)  # soft focus on the far and near skyline
WINDOWS = (0.0, 0.15)  # share of lit windows


def ease(t: float) -> float:
    t = min(1.0, max(0.0, t))
    return t * t * (3 - 2 * t)


def window(t: float, a: float, b: float, fade: float = 0.3) -> float:
    """0 outside [a, b], 1 inside, with eased fades at both ends."""
    return ease((t - a) / fade) * (1 - ease((t - (b - fade)) / fade))


def _sprite(w: int, h: int, draw, scale: int = 3) -> Image.Image:
    """An anti-aliased RGBA sprite: drawn at `scale`x, then reduced."""
    big = Image.new("RGBA", (w * scale, h * scale), (0, 0, 0, 0))
    draw(ImageDraw.Draw(big), scale)
    return big.resize((w, h), Image.LANCZOS)


def _car(color, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w = int(rng.integers(150, 190))

    def draw(d, s):
        d.rounded_rectangle([4 * s, 26 * s, (w - 4) * s, 62 * s], 14 * s, fill=color)  # body
        d.rounded_rectangle([28 * s, 4 * s, (w - 40) * s, 34 * s], 14 * s, fill=color)  # cabin
        d.rounded_rectangle([38 * s, 10 * s, (w - 50) * s, 30 * s], 6 * s, fill=(150, 190, 230, 255))
        for cx in (38, w - 40):
            d.ellipse([(cx - 15) * s, 48 * s, (cx + 15) * s, 78 * s], fill=(18, 16, 28, 255))
            d.ellipse([(cx - 6) * s, 57 * s, (cx + 6) * s, 69 * s], fill=(120, 120, 140, 255))

    return _sprite(w, 80, draw)


def _fade(img: Image.Image, alpha: float) -> Image.Image:
    out = img.copy()
    out.putalpha(img.getchannel("A").point(lambda a: int(a * alpha)))
    return out


def _glow_dot(r: int, color) -> Image.Image:
    size = r * 8
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - size / 2
    a = np.exp(-(xx**2 + yy**2) / (2 * (r * 1.6) ** 2))
    a = np.clip(a * 1.3, 0, 1)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = color
    rgba[..., 3] = (a * 255).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def _rider(phase: float) -> Image.Image:
    """A commuter on an e-bike, pedals at `phase` (radians)."""

    def draw(d, s):
        def P(x, y):
            return (x * s, y * s)

        ink, frame, skin, coat = (24, 20, 40, 255), (46, 230, 160, 255), (240, 196, 160, 255), (255, 122, 89, 255)
        for cx in (40, 170):  # wheels
            d.ellipse([P(cx - 36, 104), P(cx + 36, 176)], outline=ink, width=8 * s)
            d.ellipse([P(cx - 5, 135), P(cx + 5, 145)], fill=ink)
        bb = (100, 140)  # bottom bracket
        d.line([P(40, 140), P(*bb), P(84, 80), P(40, 140)], fill=frame, width=8 * s, joint="curve")
        d.line([P(*bb), P(150, 78), P(84, 80)], fill=frame, width=8 * s, joint="curve")
        d.line([P(150, 78), P(170, 140)], fill=frame, width=8 * s)
        d.line([P(146, 66), P(158, 56), P(172, 58)], fill=ink, width=6 * s, joint="curve")  # bars
        d.rounded_rectangle([P(64, 92), P(100, 108)], 5 * s, fill=(20, 120, 90, 255))  # battery
        d.line([P(70, 74), P(96, 74)], fill=ink, width=7 * s)  # saddle
        # legs: hip above the saddle, feet on the cranks (opposite)
        hip = (86, 64)
        for k, shade in ((math.pi, (60, 52, 90, 255)), (0.0, (80, 70, 120, 255))):
            fx = bb[0] + 20 * math.cos(phase + k)
            fy = bb[1] + 20 * math.sin(phase + k)
            kx, ky = (hip[0] + fx) / 2 + 16, (hip[1] + fy) / 2 - 8
            d.line([P(*hip), P(kx, ky), P(fx, fy)], fill=shade, width=12 * s, joint="curve")
            d.line([P(fx - 6, fy + 2), P(fx + 10, fy + 2)], fill=ink, width=6 * s)
        d.line([P(*hip), P(132, 14)], fill=coat, width=22 * s)  # torso
        d.line([P(126, 22), P(152, 44), P(160, 58)], fill=coat, width=10 * s, joint="curve")  # arm
        d.ellipse([P(130, -14 + 8), P(156, 12 + 8)], fill=skin)  # head
        d.chord([P(126, -18 + 8), P(160, 16 + 8)], 180, 360, fill=(46, 230, 160, 255))  # helmet

    return _sprite(215, 185, draw).crop((0, 0, 215, 185))


def video_frames(seed: int = 5):
    """Yield the frames (RGB, VW x VH) of the Glide E-Bikes ad."""
    rng = np.random.default_rng(seed)
    n = int(FPS * SECONDS)
    horizon, road_top, jam_y = 430, 470, 505
    # sky + a low sun, then two rows of buildings that scroll at different speeds
    sky = vertical_gradient(
        [(0, (28, 26, 78)), (0.42, (112, 44, 110)), (0.6, (242, 120, 70)), (1, (255, 186, 110))], h=horizon, w=VW
    )
    glow(sky, VW * 0.5, horizon * 0.86, 70, (255, 226, 160), 0.9)
    sky_img = Image.new("RGBA", (VW, VH))
    sky_img.paste(Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8)))

    def skyline(color, window_col, lo, hi, wmin, wmax, width, lit):
        layer = Image.new("RGBA", (width, horizon), (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        x = 0
        while x < width:
            w = int(rng.integers(wmin, wmax))
            top = horizon - int(rng.integers(lo, hi))
            d.rectangle([x, top, x + w, horizon], fill=color)
            for wy in range(top + 14, horizon - 10, 22):
                for wx in range(x + 10, x + w - 14, 20):
                    if rng.random() < lit:
                        d.rectangle([wx, wy, wx + 8, wy + 10], fill=window_col)
            x += w + int(rng.integers(2, 10))
        return layer

    # a still camera and soft focus on the city behind (fine detail and motion cost bytes)
    far = skyline((88, 52, 110, 255), (255, 200, 140, 120), 120, 260, 50, 110, VW * 2, WINDOWS[0])
    far = far.filter(ImageFilter.GaussianBlur(BLUR[0]))
    near = skyline((40, 28, 66, 255), (255, 214, 130, 220), 60, 190, 70, 150, VW * 2, WINDOWS[1])
    near = near.filter(ImageFilter.GaussianBlur(BLUR[1]))
    cars = [
        _car(c, i)
        for i, c in enumerate(
            [
                (214, 64, 69, 255),
                (60, 110, 200, 255),
                (240, 190, 60, 255),
                (120, 130, 150, 255),
                (250, 250, 250, 255),
                (70, 170, 150, 255),
                (150, 80, 170, 255),
                (230, 120, 50, 255),
            ]
        )
    ]
    jam_x, x = [], -40
    for i in range(10):
        jam_x.append(x)
        x += cars[i % len(cars)].width + 26
    brake = _glow_dot(5, (255, 48, 40))
    bike_icon = _sprite(
        60,
        34,
        lambda d, s: (
            d.ellipse([2 * s, 12 * s, 22 * s, 32 * s], outline=(255, 255, 255, 200), width=3 * s),
            d.ellipse([38 * s, 12 * s, 58 * s, 32 * s], outline=(255, 255, 255, 200), width=3 * s),
            d.line(
                [12 * s, 22 * s, 26 * s, 8 * s, 48 * s, 22 * s, 30 * s, 22 * s, 26 * s, 8 * s],
                fill=(255, 255, 255, 200),
                width=3 * s,
            ),
        ),
    )

    f_head, f_sub, f_small = font("bold", 66), font("regular", 28), font("bold", 22)
    scrim = Image.new("L", (560, 400), 0)
    ImageDraw.Draw(scrim).ellipse([90, 50, 470, 350], fill=150)
    scrim = Image.merge(
        "RGBA",
        [
            Image.new("L", scrim.size, 16),
            Image.new("L", scrim.size, 10),
            Image.new("L", scrim.size, 36),
            scrim.filter(ImageFilter.GaussianBlur(50)),
        ],
    )
    f_brand, f_brand2, f_cta = font("bold", 74), font("regular", 28), font("bold", 28)
    cx = VW // 2

    def text_block(d, lines, top, fnt, fill, alpha, spacing=8, dy=0.0):
        if alpha <= 0:
            return
        y = top + (1 - alpha) * 24 + dy
        for line in lines:
            d.text((cx, y), line, font=fnt, fill=fill + (int(255 * alpha),), anchor="ma")
            y += fnt.size + spacing

    for i in range(n):
        t = i / FPS
        frame = sky_img.copy()
        frame.alpha_composite(far, (0, 0))
        frame.alpha_composite(near, (0, 0))
        d = ImageDraw.Draw(frame)
        d.rectangle([0, horizon, VW, VH], fill=(34, 32, 52, 255))  # street level
        d.rectangle([0, road_top, VW, VH], fill=(46, 44, 64, 255))  # road
        for k in range(-1, 12):  # lane dashes
            d.rectangle([k * 130 + 20, 590, k * 130 + 90, 596], fill=(230, 220, 200, 160))
        d.rectangle([0, 628, VW, 700], fill=(26, 150, 108, 255))  # bike lane
        d.rectangle([0, 628, VW, 633], fill=(220, 255, 236, 255))
        for k in range(0, VW, 320):
            frame.alpha_composite(bike_icon, (k + 130, 648))
        # the jam: the cars creep forward a few pixels, brake lights pulse
        # the jam: nothing moves, every brake light is on
        for k, x in enumerate(jam_x):
            frame.alpha_composite(cars[k % len(cars)], (x, jam_y))
            frame.alpha_composite(brake, (x - brake.width // 2 + 6, jam_y + 40 - brake.height // 2))
        # the rider glides along the bike lane: in at 2 s, past the middle at 4.4 s, gone by 6.4 s
        rx = -230 + (t - 2.0) * 340
        if -230 < rx < VW:
            speed = _rider(t * 9.0)
            d2 = ImageDraw.Draw(frame)
            for k in range(4):  # speed lines behind
                yk = 560 + k * 22
                d2.line([(rx - 140 + k * 18, yk), (rx - 20 + k * 10, yk)], fill=(255, 255, 255, 110), width=4)
            frame.alpha_composite(speed, (int(rx), 508))
        # a soft shadow behind the words, so they read over the lit city
        sc = max(window(t, 0.1, 3.0), window(t, 3.0, 5.8))
        if sc > 0:
            frame.alpha_composite(scrim if sc >= 1 else _fade(scrim, sc), (cx - scrim.width // 2, 40))
        d = ImageDraw.Draw(frame)
        # act 1 (0-3 s): stuck again?
        a1 = window(t, 0.15, 3.0)
        if a1 > 0:
            w = int(120 * a1)
            d.rounded_rectangle([cx - 74, 60, cx + 74, 104], 22, fill=(255, 255, 255, int(230 * a1)))
            minute = 12 + int(t * 2.2)
            d.text((cx, 82), f"08:{minute:02d}", font=f_small, fill=(214, 64, 69, w * 2), anchor="mm")
            text_block(d, ["Stuck", "again?"], 132, f_head, (255, 255, 255), a1)
            text_block(d, ["Same jam,", "every morning."], 292, f_sub, (255, 228, 214), window(t, 0.7, 3.0))
        # act 2 (3-5.8 s): glide past it
        a2 = window(t, 3.1, 5.8)
        if a2 > 0:
            text_block(d, ["Glide", "past it."], 120, f_head, (160, 255, 210), a2)
            text_block(d, ["Downtown in", "12 minutes, no sweat."], 284, f_sub, (255, 255, 255), window(t, 3.5, 5.8))
        # act 3 (5.8-8 s): the brand card
        a3 = ease((t - 5.75) / 0.25)
        if a3 > 0:
            shade = Image.new("RGBA", (VW, VH), (20, 16, 44, int(200 * a3)))
            frame.alpha_composite(shade)
            d = ImageDraw.Draw(frame)
            y0 = 70 + (1 - a3) * 30
            r = 52
            d.ellipse([cx - r, y0, cx + r, y0 + 2 * r], fill=(46, 230, 160, int(255 * a3)))
            d.polygon(
                [
                    (cx + 8, y0 + 16),
                    (cx - 22, y0 + 58),
                    (cx - 2, y0 + 58),
                    (cx - 10, y0 + 88),
                    (cx + 22, y0 + 44),
                    (cx + 2, y0 + 44),
                ],
                fill=(20, 16, 44, int(255 * a3)),
            )
            text_block(d, ["GLIDE"], y0 + 122, f_brand, (255, 255, 255), a3)
            text_block(d, ["city e-bikes"], y0 + 206, f_brand2, (160, 255, 210), a3)
            a4 = ease((t - 6.2) / 0.3)
            if a4 > 0:
                pulse = 1.0
                pw, ph = 168 * pulse, 32 * pulse
                py = y0 + 300
                d.rounded_rectangle([cx - pw, py - ph, cx + pw, py + ph], int(ph), fill=(255, 122, 89, int(255 * a4)))
                d.text((cx, py), "First ride free", font=f_cta, fill=(255, 255, 255, int(255 * a4)), anchor="mm")
                text_block(d, ["40 stations · scan the QR"], py + 52, f_sub, (230, 226, 255), a4)
        yield frame.convert("RGB")


def write_webm(path: Path, frames, fps: int = FPS, size=(VW, VH), bitrate: int = 900_000) -> None:
    """Encode RGB frames as VP8/WebM with OpenCV; byte-for-byte reproducible (the muxer's random
    track UID is replaced by a fixed one)."""
    import os

    import cv2

    old = os.environ.get("OPENCV_FFMPEG_WRITER_OPTIONS")
    os.environ["OPENCV_FFMPEG_WRITER_OPTIONS"] = f"b;{bitrate}|deadline;good|cpu-used;1|threads;1"
    tmp = path.with_suffix(".tmp.webm")
    try:
        w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"VP80"), fps, size)
        if not w.isOpened():
            raise RuntimeError("OpenCV cannot write VP8/WebM here (FFmpeg with libvpx is needed)")
        for f in frames:
            if f.size != size:
                raise ValueError(f"frame is {f.size}, the video {size}")
            w.write(cv2.cvtColor(np.asarray(f), cv2.COLOR_RGB2BGR))
        w.release()
    finally:
        if old is None:
            os.environ.pop("OPENCV_FFMPEG_WRITER_OPTIONS", None)
        else:
            os.environ["OPENCV_FFMPEG_WRITER_OPTIONS"] = old
    data = bytearray(tmp.read_bytes())
    tmp.unlink()
    at = data.find(b"\x73\xc5\x88")  # TrackUID, 8 bytes, random per run: make it fixed
    if at >= 0:
        uid = bytes(data[at + 3 : at + 11])
        data = bytearray(bytes(data).replace(uid, b"\x00\x00\x00\x00\x00\x00\x00\x01"))
    path.write_bytes(bytes(data))


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def toml_str(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_ad(root: Path, ad: dict) -> None:
    folder = root / ad["slug"]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    if "video" in ad:
        media = "creative.webm"
        write_webm(folder / media, video_frames())
    elif "image" in ad:
        media = "creative.jpg"
        draw = {"ridgeline": image_ridgeline, "library": image_library}[ad["image"]]
        draw().save(folder / media, quality=86, optimize=True, progressive=True)
        # and one made for portrait screens: the panel picks the creative that fits
        draw(portrait=True).save(folder / "creative-portrait.jpg", quality=86, optimize=True, progressive=True)
    else:
        media = "creative.html"
        h = dict(ad["html"])
        h.setdefault("extra_css", "")
        page = PAGE.format(title=ad["title"], **h)
        (folder / media).write_text(page, encoding="utf-8")
    lines = [
        f"# {ad['title']} -- demo ad generated by scripts/make_demo_assets.py",
        f"title = {toml_str(ad['title'])}",
        f"advertiser = {toml_str(ad['advertiser'])}",
        f'media = "{media}"',
        *(['media_portrait = "creative-portrait.jpg"'] if "image" in ad else []),
        f"duration = {ad['duration']}",
        f"age_restricted = {'true' if ad.get('age_restricted') else 'false'}",
        f"uplifting = {'true' if ad.get('uplifting') else 'false'}",
        f"frequency_cap = {ad['freq_cap']}",
        f"priority = {ad.get('priority', 0)}",
        "",
        "[targeting]",
        f"moods = {toml_list(ad['moods'])}",
        f"age_groups = {toml_list(ad['age_groups'])}",
        f"genders = {toml_list(ad['genders'])}",
        "",
        "[pricing]",
        f"cpm = {ad['cpm']:.2f}",
        f"budget = {ad['budget']:.2f}",
        "",
        "[flight]",
        f"start = {FLIGHT[0]}",
        f"end = {FLIGHT[1]}",
        "",
    ]
    for dp in ad["dayparts"]:
        lines += [
            "[[dayparts]]",
            f"days = {toml_list(dp['days'])}",
            f'start = "{dp["start"]}"',
            f'end = "{dp["end"]}"',
            "",
        ]
    if "safe_zone" in ad:
        side, size = ad["safe_zone"]
        lines += [
            "[safe_zone]  # a band of the creative with nothing important: the panel's strip may lie over it",
            f'side = "{side}"',
            f"size = {size}",
            "",
        ]
    lines.append("[mobile]")
    for k in ("description", "address", "phone", "website", "map_url", "coupon", "landing_url"):
        if k in ad["mobile"]:
            lines.append(f"{k} = {toml_str(ad['mobile'][k])}")
    (folder / "ad.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_ads(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for ad in ADS:
        write_ad(root, ad)
    (root / "README.md").write_text(
        textwrap.dedent("""\
        # Demo ads

        Generated by `scripts/make_demo_assets.py` (our own HTML/CSS creatives and Pillow drawings, no
        stock images). One folder per ad: `ad.toml` plus its media. The format is documented in
        `signage/ads/inventory.py`; check with `python -m signage ads validate`.
        """),
        encoding="utf-8",
    )


# --- screenshots and the contact sheet (needs playwright + Debian chromium) ---------------------

# Mirrors how signage/web/static/panel.js + panel.css show each media type: images and videos
# fill the screen (object-fit: cover); an ad image made for the other orientation is shown whole
# over a blurred copy of itself; HTML creatives run in a sandboxed iframe; on a portrait screen
# an ad's `media_portrait` is shown when it has one. (The panel shows them in its creative area,
# the screen less its QR/notice strip; here each creative gets the whole screen.)
VIEWER = """<!doctype html><html><head><meta charset="utf-8"><style>
html,body{margin:0;width:100%;height:100%;overflow:hidden;background:#101418}
.layer{position:absolute;inset:0;overflow:hidden}
.layer>img,.layer>video{position:absolute;inset:0;width:100%;height:100%;object-fit:cover}
.layer.fit>img,.layer.fit>video{object-fit:contain}
.layer>.backdrop{position:absolute;inset:-6%;background-size:cover;background-position:center;
  filter:blur(40px) brightness(.55) saturate(1.2)}
.layer>iframe{position:absolute;inset:0;width:100%;height:100%;border:0;background:transparent}
</style></head><body><div class="layer" id="l"></div><script>
var q = new URLSearchParams(location.search), url = q.get("src"), type = q.get("type"),
    kind = q.get("kind"), at = parseFloat(q.get("t") || "0"), l = document.getElementById("l");
window.ready = false;
if (type === "image") {
  var img = new Image();
  img.onload = function () {
    var ir = img.naturalWidth / img.naturalHeight, sr = innerWidth / innerHeight;
    if (kind === "ad" && Math.abs(Math.log(ir / sr)) > 0.12) {
      var bd = document.createElement("div"); bd.className = "backdrop";
      bd.style.backgroundImage = "url('" + url + "')"; l.appendChild(bd); l.classList.add("fit");
    }
    l.appendChild(img); img.decode().then(function () { window.ready = true; });
  };
  img.src = url;
} else if (type === "video") {
  // played up to `at` rather than seeked: this little server does not do Range requests
  var v = document.createElement("video"); v.muted = true; v.preload = "auto";
  v.ontimeupdate = function () {
    if (v.currentTime < at || window.ready) return;
    v.pause(); setTimeout(function () { window.ready = true; }, 300);
  };
  l.appendChild(v); v.src = url; v.play();
} else {
  var f = document.createElement("iframe"); f.setAttribute("sandbox", "allow-scripts");
  f.setAttribute("scrolling", "no");
  f.onload = function () { setTimeout(function () { window.ready = true; }, at * 1000); };
  l.appendChild(f); f.src = url;
}
</script></body></html>"""

HTML_CSP = (
    "sandbox allow-scripts; default-src 'self' data: blob:; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'none'"
)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--autoplay-policy=no-user-gesture-required",
]
SIZES = {"landscape": (1920, 1080), "portrait": (1080, 1920)}


def creatives(assets: Path) -> list[dict]:
    """Every ad creative and healing scene under `assets`: kind, id, title, url path, type."""
    import tomllib

    exts = {
        ".jpg": "image",
        ".jpeg": "image",
        ".png": "image",
        ".webp": "image",
        ".svg": "image",
        ".webm": "video",
        ".mp4": "video",
        ".html": "html",
    }
    out = []
    for folder in sorted(p for p in (assets / "ads").iterdir() if (p / "ad.toml").is_file()):
        ad = tomllib.loads((folder / "ad.toml").read_text(encoding="utf-8"))
        media = ad["media"]
        portrait = ad.get("media_portrait") or media  # the panel picks this one on a portrait screen
        out.append(
            dict(
                kind="ad",
                id=folder.name,
                title=ad["title"],
                path=f"ads/{folder.name}/{media}",
                type=exts[Path(media).suffix.lower()],
                portrait=dict(path=f"ads/{folder.name}/{portrait}", type=exts[Path(portrait).suffix.lower()]),
            )
        )
    scenes = tomllib.loads((assets / "healing" / "scenes.toml").read_text(encoding="utf-8"))["scene"]
    for sc in scenes:
        out.append(
            dict(
                kind="healing",
                id=sc["id"],
                title=sc["title"],
                path=f"healing/{sc['file']}",
                type=exts[Path(sc["file"]).suffix.lower()],
            )
        )
    return out


def shoot(
    assets: Path,
    out: Path,
    only: str | None = None,
    chromium: str = "/usr/bin/chromium",
    at: float = 4.0,
    video_at: float = 7.0,
) -> list[dict]:
    """Screenshot every creative at 1920x1080 and 1080x1920 in headless Chromium, shown the
    way the panel shows it. Returns the creatives with `shots[orientation] = png path`."""
    import functools
    import http.server
    import threading
    import urllib.parse

    from playwright.sync_api import sync_playwright

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def do_GET(self):
            if self.path.startswith("/__viewer"):
                body = VIEWER.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def end_headers(self):
            if self.path.endswith(".html"):
                self.send_header("Content-Security-Policy", HTML_CSP)
            super().end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(assets)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    out.mkdir(parents=True, exist_ok=True)
    items = [c for c in creatives(assets) if only in (None, c["kind"])]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
            for orient, (w, h) in SIZES.items():
                page = browser.new_page(viewport={"width": w, "height": h})
                for c in items:
                    m = c["portrait"] if orient == "portrait" and "portrait" in c else c
                    t = {"image": 0, "video": video_at}.get(m["type"], at)
                    q = urllib.parse.urlencode(dict(src="/" + m["path"], type=m["type"], kind=c["kind"], t=t))
                    page.goto(f"{base}/__viewer?{q}")
                    page.wait_for_function("window.ready === true", timeout=30000)
                    png = out / f"{c['kind']}-{c['id']}-{orient}.png"
                    page.screenshot(path=str(png))
                    c.setdefault("shots", {})[orient] = png
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return items


def contact_sheet(items: list[dict], path: Path, cols: int = 3) -> None:
    """A grid of the creatives: each tile the landscape shot with the portrait one beside it."""
    tile_h = 270
    lw, pw = tile_h * 16 // 9, tile_h * 9 // 16
    gap, pad, label = 14, 36, 44
    tile_w = lw + gap + pw
    rows = (len(items) + cols - 1) // cols
    head = 110
    sheet = Image.new(
        "RGB", (pad * 2 + cols * tile_w + (cols - 1) * pad, head + pad + rows * (tile_h + label + pad)), (16, 20, 24)
    )
    d = ImageDraw.Draw(sheet)
    d.text(
        (pad, 34),
        "Demo ads, rendered in Chromium as the panel shows them: 1920x1080 and 1080x1920",
        font=font("bold", 34),
        fill=(255, 255, 255),
    )
    for i, c in enumerate(items):
        r, k = divmod(i, cols)
        x = pad + k * (tile_w + pad)
        y = head + r * (tile_h + label + pad)
        land = Image.open(c["shots"]["landscape"]).convert("RGB").resize((lw, tile_h), Image.LANCZOS)
        port = Image.open(c["shots"]["portrait"]).convert("RGB").resize((pw, tile_h), Image.LANCZOS)
        sheet.paste(land, (x, y))
        sheet.paste(port, (x + lw + gap, y))
        d.text((x, y + tile_h + 10), c["title"], font=font("bold", 21), fill=(236, 240, 244))
        d.text(
            (x + tile_w, y + tile_h + 12),
            c["type"].upper(),
            font=font("regular", 17),
            fill=(150, 170, 190),
            anchor="ra",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets")
    ap.add_argument("--only", choices=("ads", "healing"))
    ap.add_argument(
        "--contact-sheet",
        type=Path,
        metavar="PNG",
        help="instead of generating: screenshot every ad in headless Chromium at 1920x1080 and "
        "1080x1920 (as the panel shows it) and write a contact sheet, e.g. "
        "docs/screenshots/demo-ads.png (needs playwright and /usr/bin/chromium)",
    )
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    if args.contact_sheet:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            items = shoot(args.out, Path(tmp), only="ad", chromium=args.chromium)
            contact_sheet(items, args.contact_sheet)
        print(f"wrote {args.contact_sheet} ({len(items)} ads)")
        return
    if args.only in (None, "ads"):
        make_ads(args.out / "ads")
    if args.only in (None, "healing"):
        make_healing(args.out / "healing")
    total = sum(
        p.stat().st_size
        for p in args.out.rglob("*")
        if p.is_file() and p.parts[-3:-1] != () and ("ads" in p.parts or "healing" in p.parts)
    )
    print(f"wrote demo assets to {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
