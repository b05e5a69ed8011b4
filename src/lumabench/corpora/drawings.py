"""Procedural drawings for classes with no fitting emoji (table, tank, ray, plain, lamp, ...).

Each function draws one random instance on a 128x128 canvas from a seeded generator: objects on a
transparent canvas (composited on a random background later), scenes filling the whole frame.
Shapes and colours vary per instance so the class is recognisable but not a single template.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 128
Colour = tuple[int, int, int]


def _jitter(g: np.random.Generator, base: Colour, amount: int = 25) -> tuple[int, int, int, int]:
    c = [int(np.clip(v + g.integers(-amount, amount + 1), 0, 255)) for v in base]
    return (c[0], c[1], c[2], 255)


def _pick(g: np.random.Generator, palette: list[Colour]) -> Colour:
    return palette[int(g.integers(len(palette)))]


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    return im, ImageDraw.Draw(im)


def _sky(g: np.random.Generator, horizon: int) -> Image.Image:
    """A vertical sky gradient down to `horizon` (blue, grey or dusk)."""
    top, bottom = [
        ((70, 130, 210), (170, 210, 240)),
        ((120, 130, 145), (190, 195, 200)),
        ((60, 80, 150), (240, 170, 120)),
        ((100, 160, 230), (220, 235, 250)),
    ][int(g.integers(4))]
    t = np.linspace(0, 1, max(horizon, 1))[:, None, None]
    col = (1 - t) * np.array(top) + t * np.array(bottom)
    arr = np.repeat(col, SIZE, axis=1) + g.normal(0, 2, (max(horizon, 1), SIZE, 1))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _texture(g: np.random.Generator, h: int, base: Colour, amount: float, streak: bool = True) -> Image.Image:
    noise = g.normal(0, amount, (h, SIZE // 4 if streak else SIZE, 1))
    arr = np.clip(np.array(base)[None, None, :] + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB").resize((SIZE, h), Image.Resampling.BILINEAR)


def table(g: np.random.Generator) -> Image.Image:
    """A table: a thick top (rectangular in perspective, or round) on legs or a pedestal."""
    im, d = _canvas()
    wood = _jitter(g, _pick(g, [(140, 90, 50), (110, 70, 40), (200, 160, 110), (235, 235, 230), (80, 80, 85)]))
    dark = (*tuple(int(v * 0.7) for v in wood[:3]), 255)
    w = int(g.integers(80, 118))
    x0, top = (SIZE - w) // 2, int(g.integers(30, 55))
    depth, thick = int(g.integers(10, 24)), int(g.integers(5, 10))
    bottom = int(g.integers(100, 122))
    leg = int(g.integers(5, 10))
    if g.random() < 0.7:
        skew = int(g.integers(6, 16))
        d.polygon([(x0 + skew, top), (x0 + w - skew, top), (x0 + w, top + depth), (x0, top + depth)], fill=wood)
        d.rectangle([x0, top + depth, x0 + w, top + depth + thick], fill=dark)
        for lx in (x0 + 3, x0 + w - 3 - leg):
            d.rectangle([lx, top + depth + thick, lx + leg, bottom], fill=dark)
        for lx in (x0 + skew + 2, x0 + w - skew - 2 - leg):
            d.rectangle([lx, top + depth, lx + leg, bottom - depth], fill=dark)
    else:
        d.ellipse([x0, top, x0 + w, top + depth * 2], fill=wood)
        d.rectangle([x0, top + depth, x0 + w, top + depth + thick], fill=dark)
        d.ellipse([x0, top, x0 + w, top + depth * 2 - thick], fill=wood)
        cx = SIZE // 2
        d.rectangle([cx - leg, top + depth + thick, cx + leg, bottom - 4], fill=dark)
        d.ellipse([cx - w // 4, bottom - 8, cx + w // 4, bottom + 2], fill=dark)
    return im


def tank(g: np.random.Generator) -> Image.Image:
    """A battle tank in side view: tracks with road wheels, hull, turret and a long gun."""
    im, d = _canvas()
    body = _jitter(g, _pick(g, [(85, 95, 55), (120, 115, 70), (150, 130, 90), (100, 105, 100), (70, 80, 60)]), 15)
    dark = (40, 40, 38, 255)
    x0, x1 = int(g.integers(8, 18)), int(g.integers(110, 121))
    ty = int(g.integers(78, 92))
    d.rounded_rectangle([x0, ty, x1, ty + 24], radius=12, fill=dark)
    n = int(g.integers(5, 8))
    for i in range(n):
        cx = x0 + 12 + i * (x1 - x0 - 24) / (n - 1)
        d.ellipse([cx - 7, ty + 5, cx + 7, ty + 19], fill=(90, 90, 85, 255))
    d.polygon([(x0 - 2, ty + 2), (x0 + 10, ty - 16), (x1 - 8, ty - 16), (x1 + 4, ty + 2)], fill=body)
    tx = int(g.integers(40, 62))
    d.rounded_rectangle([tx, ty - 34, tx + int(g.integers(34, 46)), ty - 14], radius=6, fill=body)
    gy = ty - 27
    if g.random() < 0.5:
        d.rectangle([tx + 30, gy - 2, SIZE - 2, gy + 3], fill=body)
    else:
        d.rectangle([6, gy - 2, tx + 6, gy + 3], fill=body)
    for _ in range(int(g.integers(3, 7))):  # camouflage blotches inside the hull
        cx, cy = int(g.integers(x0 + 10, x1 - 10)), int(g.integers(ty - 30, ty))
        r = int(g.integers(3, 8))
        blot = _jitter(g, (60, 70, 40), 20)
        mask = Image.new("L", im.size, 0)
        ImageDraw.Draw(mask).ellipse([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=255)
        mask = Image.fromarray(np.minimum(np.array(mask), np.array(im.getchannel("A"))))
        im.paste(Image.new("RGBA", im.size, blot), (0, 0), mask)
    return im


def ray(g: np.random.Generator) -> Image.Image:
    """A ray seen from above: broad triangular wings, small head fins and a long thin tail."""
    im, d = _canvas()
    col = _jitter(g, _pick(g, [(70, 80, 95), (120, 110, 95), (50, 60, 80), (150, 140, 120)]), 15)
    cx, cy = SIZE // 2, int(g.integers(42, 58))
    span = int(g.integers(50, 62))
    length = int(g.integers(40, 54))
    wing = int(g.integers(-6, 8))
    d.polygon(
        [(cx, cy - length // 2), (cx + span, cy + wing), (cx + span // 3, cy + length // 2),
         (cx, cy + length // 2 + 6), (cx - span // 3, cy + length // 2), (cx - span, cy + wing)],
        fill=col,
    )  # fmt: skip
    tail = cy + length // 2 + int(g.integers(20, 40))
    d.line([(cx, cy + length // 2), (cx + int(g.integers(-8, 9)), tail)], fill=col, width=2)
    d.polygon(
        [(cx - 8, cy - length // 2 + 2), (cx - 4, cy - length // 2 - 8), (cx - 2, cy - length // 2 + 4)], fill=col
    )
    d.polygon(
        [(cx + 8, cy - length // 2 + 2), (cx + 4, cy - length // 2 - 8), (cx + 2, cy - length // 2 + 4)], fill=col
    )
    if g.random() < 0.5:  # spotted back
        for _ in range(int(g.integers(6, 14))):
            sx, sy = cx + int(g.integers(-span // 2, span // 2)), cy + int(g.integers(-8, 12))
            d.ellipse([sx - 2, sy - 2, sx + 2, sy + 2], fill=(230, 230, 225, 255))
    return im


def lamp(g: np.random.Generator) -> Image.Image:
    """A table or floor lamp: a trapezoid shade, a stem, a base and often a warm glow."""
    im, d = _canvas()
    shade = _jitter(g, _pick(g, [(240, 230, 200), (200, 60, 50), (60, 90, 160), (230, 200, 90), (250, 250, 245)]))
    metal = _jitter(g, _pick(g, [(60, 60, 60), (180, 150, 80), (200, 200, 205), (120, 80, 50)]), 10)
    cx = SIZE // 2 + int(g.integers(-10, 11))
    top, sh = int(g.integers(8, 24)), int(g.integers(28, 40))
    tw, bw = int(g.integers(14, 24)), int(g.integers(30, 44))
    base_y = int(g.integers(112, 124))
    if g.random() < 0.4:  # glow under the shade
        glow = Image.new("RGBA", im.size, (0, 0, 0, 0))
        ImageDraw.Draw(glow).ellipse([cx - bw, top + sh - 10, cx + bw, top + sh + 40], fill=(255, 240, 170, 150))
        im.alpha_composite(glow.filter(ImageFilter.GaussianBlur(6)))
    d.rectangle([cx - 2, top + sh, cx + 2, base_y - 6], fill=metal)
    d.ellipse([cx - 22, base_y - 10, cx + 22, base_y + 2], fill=metal)
    d.polygon([(cx - tw, top), (cx + tw, top), (cx + bw, top + sh), (cx - bw, top + sh)], fill=shade)
    d.line([(cx - bw, top + sh), (cx + bw, top + sh)], fill=tuple(int(v * 0.8) for v in shade[:3]), width=2)
    return im


def plain(g: np.random.Generator) -> Image.Image:
    """A wide flat grassland: sky, a low straight horizon, textured grass or steppe to the edge."""
    horizon = int(g.integers(40, 76))
    im = Image.new("RGB", (SIZE, SIZE))
    im.paste(_sky(g, horizon), (0, 0))
    ground = _pick(g, [(110, 150, 60), (150, 160, 70), (190, 170, 90), (90, 130, 60), (170, 150, 80)])
    im.paste(_texture(g, SIZE - horizon, ground, 14), (0, horizon))
    d = ImageDraw.Draw(im)
    if g.random() < 0.5:  # a thin line of distant bushes on the horizon
        for x in range(0, SIZE, int(g.integers(3, 8))):
            if g.random() < 0.5:
                h = int(g.integers(1, 4))
                d.ellipse([x, horizon - h, x + int(g.integers(3, 7)), horizon + 1], fill=(60, 90, 50))
    return im.convert("RGBA")


def sea(g: np.random.Generator) -> Image.Image:
    """Open water to the horizon with wave crests."""
    horizon = int(g.integers(30, 70))
    im = Image.new("RGB", (SIZE, SIZE))
    im.paste(_sky(g, horizon), (0, 0))
    water = _pick(g, [(30, 90, 150), (20, 70, 120), (40, 120, 160), (30, 100, 130)])
    im.paste(_texture(g, SIZE - horizon, water, 10), (0, horizon))
    d = ImageDraw.Draw(im)
    for _ in range(int(g.integers(20, 50))):
        y = int(g.integers(horizon + 3, SIZE))
        x = int(g.integers(0, SIZE))
        w = int(2 + (y - horizon) / 6)
        d.arc([x, y, x + w * 2, y + w], 200, 340, fill=(220, 235, 245), width=1)
    return im.convert("RGBA")


def road(g: np.random.Generator) -> Image.Image:
    """A road running to the horizon in perspective, with edge lines and a dashed centre line."""
    horizon = int(g.integers(30, 60))
    im = Image.new("RGB", (SIZE, SIZE))
    im.paste(_sky(g, horizon), (0, 0))
    side = _pick(g, [(100, 140, 60), (170, 150, 90), (120, 120, 110), (80, 120, 60)])
    im.paste(_texture(g, SIZE - horizon, side, 12), (0, horizon))
    d = ImageDraw.Draw(im)
    vx = SIZE // 2 + int(g.integers(-30, 31))
    half = int(g.integers(40, 70))
    tarmac = _jitter(g, (70, 70, 72), 15)[:3]
    d.polygon([(vx - 2, horizon), (vx + 2, horizon), (SIZE // 2 + half, SIZE), (SIZE // 2 - half, SIZE)], fill=tarmac)
    d.line([(vx - 2, horizon), (SIZE // 2 - half + 4, SIZE)], fill=(230, 230, 230), width=1)
    d.line([(vx + 2, horizon), (SIZE // 2 + half - 4, SIZE)], fill=(230, 230, 230), width=1)
    line = (240, 210, 60) if g.random() < 0.5 else (240, 240, 240)
    for t0 in np.arange(0.05, 1.0, 0.12):
        t1 = t0 + 0.06
        p0 = (vx + (SIZE // 2 - vx) * t0, horizon + (SIZE - horizon) * t0)
        p1 = (vx + (SIZE // 2 - vx) * t1, horizon + (SIZE - horizon) * t1)
        d.line([p0, p1], fill=line, width=max(1, int(3 * t1)))
    return im.convert("RGBA")


def bridge(g: np.random.Generator) -> Image.Image:
    """A bridge over water: arch bridge or suspension bridge with towers and cables."""
    horizon = int(g.integers(50, 70))
    im = Image.new("RGB", (SIZE, SIZE))
    im.paste(_sky(g, horizon), (0, 0))
    im.paste(_texture(g, SIZE - horizon, _pick(g, [(40, 90, 130), (50, 110, 120)]), 8), (0, horizon))
    d = ImageDraw.Draw(im)
    deck = int(g.integers(horizon - 10, horizon + 12))
    colour = _jitter(g, _pick(g, [(150, 140, 130), (190, 70, 50), (110, 110, 115), (170, 150, 120)]), 10)[:3]
    d.rectangle([0, deck, SIZE, deck + 6], fill=colour)
    if g.random() < 0.5:
        n = int(g.integers(2, 5))
        w = SIZE / n
        for i in range(n):
            d.arc([i * w + 2, deck - 2, (i + 1) * w - 2, deck + w * 0.9], 180, 360, fill=colour, width=5)
            d.rectangle([(i + 1) * w - 4, deck, (i + 1) * w + 2, SIZE], fill=colour)
    else:
        t1, t2 = int(g.integers(20, 45)), int(g.integers(83, 108))
        top = int(g.integers(8, 25))
        for t in (t1, t2):
            d.rectangle([t - 3, top, t + 3, SIZE], fill=colour)
        d.line([(0, deck - 20), (t1, top)], fill=colour, width=2)
        d.arc([t1, top - 30, t2, deck], 20, 160, fill=colour, width=2)
        d.line([(t2, top), (SIZE, deck - 20)], fill=colour, width=2)
        for x in range(t1 + 6, t2, 6):
            d.line([(x, deck), (x, top + 12)], fill=colour, width=1)
    return im.convert("RGBA")


OBJECTS: dict[str, Callable[[np.random.Generator], Image.Image]] = {
    "table": table,
    "tank": tank,
    "ray": ray,
    "lamp": lamp,
}
SCENES: dict[str, Callable[[np.random.Generator], Image.Image]] = {
    "plain": plain,
    "sea": sea,
    "road": road,
    "bridge": bridge,
}
