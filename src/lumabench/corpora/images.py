"""CIFAR-like 32x32 images for every class, rendered offline from colour-emoji glyphs.

Each image picks one source (an emoji glyph of the class, or a procedural drawing where no emoji
fits) and draws it at 128x128 under a random background, scale, rotation, flip, position and colour
jitter, then reduces it to 32x32 with an antialiasing filter, as CIFAR's downsampled photos are.
The test pool is rendered from its own random streams, so no rendered item is shared with train.
"""

from __future__ import annotations

import colorsys
import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from lumabench.classes import CLASSES, LumaClass
from lumabench.corpora import drawings
from lumabench.errors import MissingDependencyError
from lumabench.seeding import rng

log = logging.getLogger(__name__)

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_PACKAGE = "fonts-noto-color-emoji"
EMOJI_SIZE = 109  # the only size the font's bitmap strikes render at
CANVAS = drawings.SIZE
EMOJI_LICENCE = "OFL-1.1 (Noto Color Emoji glyphs)"
DRAWN_LICENCE = "CC0-1.0 (procedural drawing)"

_TONES = ("", "\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff")
_VS = "\ufe0f"


def _toned(*bases: str) -> tuple[str, ...]:
    return tuple(b + t for b in bases for t in _TONES)


# class -> emoji glyphs that depict it (several variants where the font has them)
EMOJI: dict[str, tuple[str, ...]] = {
    "man": _toned("\U0001f468", "\U0001f9d4", "\U0001f474"),
    "boy": _toned("\U0001f466"),
    "house": ("\U0001f3e0", "\U0001f3e1", "\U0001f3d8" + _VS, "\U0001f6d6", "\U0001f3da" + _VS),
    "woman": _toned("\U0001f469", "\U0001f475"),
    "girl": _toned("\U0001f467"),
    "road": ("\U0001f6e3" + _VS,),
    "horse": ("\U0001f40e", "\U0001f434"),
    "dog": ("\U0001f415", "\U0001f436", "\U0001f9ae", "\U0001f429", "\U0001f415\u200d\U0001f9ba"),
    "ship": ("\U0001f6a2", "\u26f4" + _VS, "\U0001f6f3" + _VS, "\U0001f6e5" + _VS, "\u26f5"),
    "bird": ("\U0001f426", "\U0001f54a" + _VS, "\U0001f985", "\U0001f99c", "\U0001f986", "\U0001f989", "\U0001f424"),
    "mountain": ("\u26f0" + _VS, "\U0001f3d4" + _VS, "\U0001f5fb", "\U0001f30b"),
    "bed": ("\U0001f6cf" + _VS, "\U0001f6cc"),
    "train": ("\U0001f686", "\U0001f682", "\U0001f684", "\U0001f685", "\U0001f688", "\U0001f683", "\U0001f69e"),
    "bridge": ("\U0001f309",),
    "fish": ("\U0001f41f", "\U0001f420", "\U0001f421"),
    "cloud": ("\u2601" + _VS, "\U0001f325" + _VS, "\u26c5", "\U0001f326" + _VS),
    "chair": ("\U0001fa91", "\U0001f4ba"),
    "cat": ("\U0001f408", "\U0001f431", "\U0001f408\u200d\u2b1b"),
    "baby": _toned("\U0001f476"),
    "castle": ("\U0001f3f0", "\U0001f3ef"),
    "television": ("\U0001f4fa",),
    "bear": ("\U0001f43b", "\U0001f43b\u200d\u2744" + _VS, "\U0001f9f8"),
    "camel": ("\U0001f42a", "\U0001f42b"),
    "sea": ("\U0001f30a",),
    "fox": ("\U0001f98a",),
    "bus": ("\U0001f68c", "\U0001f68d", "\U0001f68e"),
    "snake": ("\U0001f40d",),
    "lamp": ("\U0001f3ee",),
    "clock": ("\u23f0", "\U0001f570" + _VS, *(chr(c) for c in range(0x1F550, 0x1F568))),
    "lion": ("\U0001f981",),
    "palm": ("\U0001f334",),
    "rabbit": ("\U0001f407", "\U0001f430"),
    "pine": ("\U0001f332", "\U0001f384"),
    "cattle": ("\U0001f404", "\U0001f42e", "\U0001f402", "\U0001f403"),
    "oak": ("\U0001f333",),
    "mouse": ("\U0001f401", "\U0001f42d"),
    "frog": ("\U0001f438",),
    "bicycle": ("\U0001f6b2",),
    "truck": ("\U0001f69a", "\U0001f69b", "\U0001f6fb"),
    "elephant": ("\U0001f418",),
    "roses": ("\U0001f339", "\U0001f940"),
    "wolf": ("\U0001f43a",),
    "telephone": ("\u260e" + _VS, "\U0001f4de", "\U0001f4f1"),
    "bee": ("\U0001f41d",),
    "whale": ("\U0001f40b", "\U0001f433"),
}
# classes drawn procedurally, with how many shares of the draws the drawing gets next to the emoji
DRAWN: dict[str, int] = {"table": 1, "tank": 1, "ray": 1, "plain": 1, "lamp": 3, "sea": 2, "road": 2, "bridge": 2}
FOREST_TREES = ("\U0001f332", "\U0001f333")
WATER_BACKGROUNDS = {"fish", "whale", "ray"}


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont:
    if not FONT_PATH.is_file():
        raise MissingDependencyError(
            "the colour emoji font is not installed", FONT_PATH, f"apt-get install {FONT_PACKAGE}"
        )
    return ImageFont.truetype(str(FONT_PATH), EMOJI_SIZE, layout_engine=ImageFont.Layout.RAQM)


@functools.lru_cache(maxsize=512)
def glyph(text: str) -> Image.Image | None:
    """The emoji `text` as a tight RGBA sprite, or None when the font has no single glyph for it."""
    font = _font()
    if font.getlength(text) > 1.5 * font.getlength("\U0001f600"):
        return None  # the sequence did not form one glyph (e.g. an older font without it)
    im = Image.new("RGBA", (EMOJI_SIZE + 40, EMOJI_SIZE + 40), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((4, 4), text, font=font, embedded_color=True)
    box = im.getchannel("A").getbbox()
    return None if box is None else im.crop(box)


@functools.lru_cache(maxsize=64)
def sources(name: str) -> tuple[tuple[str, str], ...]:
    """The draw sources of a class: ("emoji", glyph), ("drawn", name) or ("forest", "")."""
    out: list[tuple[str, str]] = [("emoji", e) for e in EMOJI.get(name, ()) if glyph(e) is not None]
    missing = [e for e in EMOJI.get(name, ()) if glyph(e) is None]
    if missing:
        log.debug("font has no glyph for %d %s emoji", len(missing), name)
    if name == "forest":
        out += [("forest", "")] * 4
    if name in DRAWN:
        out += [("drawn", name)] * DRAWN[name] * max(1, len(out))
    if not out:
        raise MissingDependencyError(
            f"the emoji font has no glyph for class {name!r}", FONT_PATH, f"apt-get install --reinstall {FONT_PACKAGE}"
        )
    return tuple(out)


# ---------------------------------------------------------------- backgrounds and augmentation
def _colour(g: np.random.Generator, water: bool = False) -> tuple[int, int, int]:
    h = g.uniform(0.5, 0.62) if water else g.random()
    s = g.uniform(0.05, 0.7)
    v = g.uniform(0.3, 1.0)
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))  # type: ignore[return-value]


def background(g: np.random.Generator, water: bool = False) -> Image.Image:
    """Solid colour, vertical gradient, smooth texture, or a two-tone ground/sky split."""
    kind = int(g.integers(4))
    a, b = np.array(_colour(g, water), float), np.array(_colour(g, water), float)
    if kind == 0:
        arr = np.broadcast_to(a, (CANVAS, CANVAS, 3)) + g.normal(0, 3, (CANVAS, CANVAS, 1))
    elif kind == 1:
        t = np.linspace(0, 1, CANVAS)[:, None, None]
        arr = np.broadcast_to((1 - t) * a + t * b, (CANVAS, CANVAS, 3))
    elif kind == 2:
        small = g.random((6, 6, 1))
        tex = np.array(Image.fromarray((small[..., 0] * 255).astype(np.uint8)).resize((CANVAS, CANVAS), Image.BICUBIC))
        t = (tex / 255.0)[..., None]
        arr = (1 - t) * a + t * b
    else:
        split = int(g.integers(CANVAS // 3, 3 * CANVAS // 4))
        arr = np.empty((CANVAS, CANVAS, 3))
        arr[:split], arr[split:] = a, b
        arr = arr + g.normal(0, 4, (CANVAS, CANVAS, 1))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB").convert("RGBA")


def colour_jitter(im: Image.Image, g: np.random.Generator) -> Image.Image:
    """Brightness, contrast, saturation and a small hue shift, keeping the alpha channel."""
    alpha = im.getchannel("A")
    rgb = im.convert("RGB")
    rgb = ImageEnhance.Brightness(rgb).enhance(g.uniform(0.75, 1.25))
    rgb = ImageEnhance.Contrast(rgb).enhance(g.uniform(0.75, 1.3))
    rgb = ImageEnhance.Color(rgb).enhance(g.uniform(0.6, 1.4))
    hsv = np.array(rgb.convert("HSV"))
    hsv[..., 0] = (hsv[..., 0].astype(int) + int(g.integers(-8, 9))) % 256
    out = Image.fromarray(hsv, "HSV").convert("RGBA")
    out.putalpha(alpha)
    return out


def place(canvas: Image.Image, sprite: Image.Image, g: np.random.Generator, scale: tuple[float, float]) -> None:
    """Paste `sprite` flipped, rotated and scaled at a random position (mostly inside the frame)."""
    if g.random() < 0.5:
        sprite = sprite.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    size = g.uniform(*scale) * CANVAS
    k = size / max(sprite.size)
    sprite = sprite.resize((max(1, round(sprite.width * k)), max(1, round(sprite.height * k))), Image.LANCZOS)
    sprite = sprite.rotate(float(g.uniform(-25, 25)), resample=Image.BICUBIC, expand=True)
    w, h = sprite.size
    x = int(g.integers(min(0, CANVAS - w) - w // 10, max(0, CANVAS - w) + w // 10 + 1))
    y = int(g.integers(min(0, CANVAS - h) - h // 10, max(0, CANVAS - h) + h // 10 + 1))
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    layer.paste(sprite, (x, y))
    canvas.alpha_composite(layer)


def forest(g: np.random.Generator) -> Image.Image:
    """Many trees over ground, smaller and higher ones behind: a forest, not one tree."""
    horizon = int(g.integers(20, 50))
    im = Image.new("RGBA", (CANVAS, CANVAS), (*_colour(g), 255))
    ground = Image.new("RGBA", (CANVAS, CANVAS - horizon), drawings._jitter(g, (60, 100, 45), 25))
    im.paste(ground, (0, horizon))
    n = int(g.integers(7, 15))
    for i in range(n):
        depth = i / max(1, n - 1)
        tree = glyph(FOREST_TREES[int(g.integers(len(FOREST_TREES)))])
        assert tree is not None
        size = (0.25 + 0.25 * depth) * CANVAS
        k = size / max(tree.size)
        t = tree.resize((max(1, round(tree.width * k)), max(1, round(tree.height * k))), Image.LANCZOS)
        x = int(g.integers(-t.width // 3, CANVAS - 2 * t.width // 3))
        y = int(horizon - t.height * 0.6 + depth * (CANVAS - horizon) * 0.8)
        layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
        layer.paste(t, (x, y))
        im.alpha_composite(layer)
    return im


def _scene_augment(scene: Image.Image, g: np.random.Generator) -> Image.Image:
    if g.random() < 0.5:
        scene = scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    zoom = g.uniform(1.0, 1.3)
    side = CANVAS / zoom
    x0, y0 = g.uniform(0, CANVAS - side), g.uniform(0, CANVAS - side)
    scene = scene.rotate(float(g.uniform(-6, 6)), resample=Image.BICUBIC)
    inner = scene.crop((round(x0), round(y0), round(x0 + side), round(y0 + side))).resize(
        (CANVAS, CANVAS), Image.BICUBIC
    )
    # rotation leaves transparent corners: fill them from the unrotated-looking edges by zooming a bit
    if zoom < 1.1:
        inner = inner.crop((6, 6, CANVAS - 6, CANVAS - 6)).resize((CANVAS, CANVAS), Image.BICUBIC)
    return colour_jitter(inner, g)


def render(cls: LumaClass, g: np.random.Generator, size: int = 32) -> tuple[Image.Image, str]:
    """One random image of `cls` at `size`x`size`, and the licence of what it was drawn from."""
    srcs = sources(cls.name)
    kind, what = srcs[int(g.integers(len(srcs)))]
    if kind == "forest":
        canvas, licence = _scene_augment(forest(g), g), EMOJI_LICENCE
    elif kind == "drawn" and what in drawings.SCENES:
        canvas, licence = _scene_augment(drawings.SCENES[what](g), g), DRAWN_LICENCE
    else:
        sprite = glyph(what) if kind == "emoji" else drawings.OBJECTS[what](g)
        assert sprite is not None
        sprite = sprite.crop(sprite.getchannel("A").getbbox())
        canvas = background(g, water=cls.name in WATER_BACKGROUNDS and g.random() < 0.6)
        place(canvas, colour_jitter(sprite, g), g, (0.55, 1.0))
        licence = EMOJI_LICENCE if kind == "emoji" else DRAWN_LICENCE
    small = canvas.convert("RGB").resize((size, size), Image.LANCZOS)
    sigma = g.uniform(0.0, 4.0)
    arr = np.asarray(small, np.float64) + g.normal(0.0, sigma, (size, size, 3))
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "RGB"), licence


def class_counts(cls: LumaClass, cfg: Any) -> dict[str, int]:
    """Images per pool: in-distribution classes split train/test, OOD classes all in `ood`."""
    if cls.ood:
        return {"ood": cfg.ood_images_per_class}
    n_test = round(cfg.images_per_class * cfg.image_test_fraction)
    return {"train": cfg.images_per_class - n_test, "test": n_test}


def render_class(name: str, cfg: Any, seed: int, out: Path) -> list[dict[str, Any]]:
    """Write every image of one class under `out/images/<pool>/<class>/`; return manifest rows."""
    cls = next(c for c in CLASSES if c.name == name)
    rows = []
    for pool, n in class_counts(cls, cfg).items():
        for i in range(n):
            img, licence = render(cls, rng(seed, "corpora", "image", name, pool, i), cfg.image_size)
            rel = f"images/{pool}/{name}/{name}_{i:04d}.png"
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path, format="PNG", optimize=False)
            rows.append({"corpus": "mini-images", "kind": "image", "rel": rel, "licence": licence, "label": name,
                         "pool": pool})  # fmt: skip
    return rows


def contact_sheet(out: Path, per_class: int = 8, zoom: int = 2) -> Path:
    """A PNG of the first images of every class with its name, to check the classes by eye."""
    cols, cell = 5, 32 * zoom + 2
    rows = -(-len(CLASSES) // cols)
    block_w, block_h = per_class * cell + 8, cell + 14
    sheet = Image.new("RGB", (cols * block_w, rows * block_h), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k, cls in enumerate(CLASSES):
        bx, by = (k % cols) * block_w, (k // cols) * block_h
        d.text((bx + 2, by + 1), f"{cls.id} {cls.name}", fill=(0, 0, 0), font=font)
        pool = "ood" if cls.ood else "train"
        files = sorted((out / "images" / pool / cls.name).glob("*.png"))[:per_class]
        for j, f in enumerate(files):
            with Image.open(f) as im:
                sheet.paste(im.convert("RGB").resize((32 * zoom, 32 * zoom), Image.NEAREST), (bx + j * cell, by + 13))
    path = out / "images" / "contact_sheet.png"
    sheet.save(path, format="PNG", optimize=False)
    return path
