"""The 15 CIFAR-10-C corruptions, batched over images, with the CIFAR-10-C severity constants.

Reference: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019 (CIFAR-10-C). The severity constants below are the published CIFAR-10-C
ones (32×32 images). Differences from the published generator, all deliberate:

- No ImageMagick/OpenCV: motion blur (used by `motion_blur` and `snow`) follows ImageMagick's
  MotionBlurImage kernel (one-sided Gaussian of width 2·radius+1 along the angle, integer offsets,
  edge pixels repeated); the affine warp of `elastic` is an inverse-mapped bilinear warp with
  reflect-101 borders like cv2.warpAffine.
- `frost` needs frost photographs, which are not redistributable offline: a bank of frost textures
  is synthesised from seeded ice-crystal branches over a plasma-fractal haze (see `frost_bank`).
- Everything is vectorised over the batch axis; per-image randomness (noise, angles, crops) comes
  from the caller's generator, so a batch gives the same output however it was assembled upstream.
- Inputs and outputs are uint8 [B, H, W, 3]; outputs are rounded and clipped to [0, 255].
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from lumabench.params import IMAGE_CORRUPTIONS
from lumabench.seeding import rng as derive_rng

F32 = np.float32
Fn = Callable[[np.ndarray, object, np.random.Generator], np.ndarray]

# CIFAR-10-C constants, severity 1..5.
GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)
SHOT_NOISE = (500, 250, 100, 75, 50)
IMPULSE_NOISE = (0.01, 0.02, 0.03, 0.05, 0.07)
DEFOCUS_BLUR = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))  # disk radius, alias blur
GLASS_BLUR = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))  # sigma, delta, iters
MOTION_BLUR = ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3))  # radius, sigma
ZOOM_BLUR = tuple(np.arange(1, hi, 0.01) for hi in (1.06, 1.11, 1.16, 1.21, 1.26))
SNOW = (
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)  # loc, scale, zoom, threshold, blur radius, blur sigma, blend
FROST = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))  # image weight, frost weight
FOG = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))  # strength, wibble decay
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)
ELASTIC = tuple((32 * a, 32 * s, 32 * f) for a, s, f in (
    (0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03),
))  # fmt: skip  # displacement alpha, smoothing sigma, affine jitter (pixels)
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)
JPEG_QUALITY = (80, 65, 58, 50, 40)

FROST_TEXTURES = 6
FROST_SIZE = 160
FROST_SEED = 20190101  # fixed: the frost bank is part of the corruption's definition, not of a run


# ------------------------------------------------------------------ helpers
def _gauss(x: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """Gaussian blur of [B, H, W, (C)] over H and W only (skimage.filters.gaussian semantics)."""
    if sigma <= 0:
        return x
    sig = (0.0, sigma, sigma) + ((0.0,) if x.ndim == 4 else ())
    return ndimage.gaussian_filter(x, sigma=sig, mode=mode, truncate=truncate)


def _zoom_axis(x: np.ndarray, axis: int, out_len: int) -> np.ndarray:
    """Linear resampling along one axis, corner-aligned (scipy.ndimage.zoom with order=1)."""
    n = x.shape[axis]
    pos = np.zeros(out_len) if out_len == 1 else np.arange(out_len) * ((n - 1) / (out_len - 1))
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0).astype(x.dtype)
    shape = [1] * x.ndim
    shape[axis] = out_len
    w = w.reshape(shape)
    return np.take(x, i0, axis=axis) * (1 - w) + np.take(x, i1, axis=axis) * w


def clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Zoom the centre of each [B, H, W, ...] image by `factor`, cropped back to H×W."""
    h = x.shape[1]
    ch = int(np.ceil(h / factor))
    top = (h - ch) // 2
    crop = x[:, top : top + ch, top : top + ch]
    out_len = round(ch * factor)
    z = _zoom_axis(_zoom_axis(crop, 1, out_len), 2, out_len)
    t = (z.shape[1] - h) // 2
    return z[:, t : t + h, t : t + h]


def _fold(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Fold integer indices into [0, n): 'mirror' = reflect-101 (cv2), 'reflect' = half-sample symmetric."""
    if n == 1:
        return np.zeros_like(i)
    if mode == "mirror":
        p = 2 * (n - 1)
        i = np.mod(i, p)
        return np.where(i > n - 1, p - i, i)
    p = 2 * n
    i = np.mod(i, p)
    return np.where(i >= n, p - 1 - i, i)


def _bilinear(x: np.ndarray, ys: np.ndarray, xs: np.ndarray, mode: str) -> np.ndarray:
    """Sample [B, H, W, C] images at float coordinates ys, xs [B, H, W] (bilinear, folded borders)."""
    b, h, w, _ = x.shape
    y0 = np.floor(ys)
    x0 = np.floor(xs)
    wy = (ys - y0).astype(F32)[..., None]
    wx = (xs - x0).astype(F32)[..., None]
    y0 = y0.astype(np.intp)
    x0 = x0.astype(np.intp)
    ya, yb = _fold(y0, h, mode), _fold(y0 + 1, h, mode)
    xa, xb = _fold(x0, w, mode), _fold(x0 + 1, w, mode)
    bi = np.arange(b)[:, None, None]
    top = x[bi, ya, xa] * (1 - wx) + x[bi, ya, xb] * wx
    bot = x[bi, yb, xa] * (1 - wx) + x[bi, yb, xb] * wx
    return top * (1 - wy) + bot * wy


def motion_blur_batch(x: np.ndarray, radius: float, sigma: float, angles_deg: np.ndarray) -> np.ndarray:
    """ImageMagick-style motion blur of [B, H, W, C] with one angle per image.

    Kernel: k_i ∝ exp(-i²/2σ²), i = 0..2·ceil(radius) (one-sided), at integer offsets
    (round(i·cos a), round(i·sin a)); pixels outside the image repeat the edge.
    """
    b, h, w, _ = x.shape
    width = int(2 * np.ceil(radius) + 1)
    i = np.arange(width, dtype=np.float64)
    k = np.exp(-(i * i) / (2 * sigma * sigma))
    k = (k / k.sum()).astype(F32)
    a = np.deg2rad(angles_deg)
    ox = np.ceil(i[:, None] * np.cos(a)[None, :] - 0.5).astype(np.intp)  # [width, B]
    oy = np.ceil(i[:, None] * np.sin(a)[None, :] - 0.5).astype(np.intp)
    bi = np.arange(b)[:, None, None]
    rows = np.arange(h)[None, :, None]
    cols = np.arange(w)[None, None, :]
    out = np.zeros_like(x)
    for j in range(width):
        if k[j] < 1e-7:
            break
        yy = np.clip(rows + oy[j][:, None, None], 0, h - 1)
        xx = np.clip(cols + ox[j][:, None, None], 0, w - 1)
        out += k[j] * x[bi, yy, xx]
    return out


def plasma_fractal(rng: np.random.Generator, n: int, size: int, decay: float) -> np.ndarray:
    """n diamond-square fractal height maps [n, size, size] in [0, 1] (size a power of two).

    Fournier, Fussell & Carpenter, "Computer rendering of stochastic models", CACM 1982; the
    displacement scale shrinks by `decay` at each halving, as in CIFAR-10-C's fog.
    """
    if size & (size - 1):
        raise ValueError(f"plasma size must be a power of two, got {size}")
    m = np.zeros((n, size, size))
    step, wib = size, 100.0

    def jitter(a: np.ndarray) -> np.ndarray:
        return a / 4 + wib * rng.uniform(-wib, wib, a.shape)

    while step >= 2:
        half = step // 2
        corners = m[:, 0:size:step, 0:size:step]
        sq = corners + np.roll(corners, -1, axis=1)
        sq = sq + np.roll(sq, -1, axis=2)
        m[:, half:size:step, half:size:step] = jitter(sq)
        centres = m[:, half:size:step, half:size:step]
        corners = m[:, 0:size:step, 0:size:step]
        m[:, 0:size:step, half:size:step] = jitter(
            centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        )
        m[:, half:size:step, 0:size:step] = jitter(
            centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        )
        step //= 2
        wib /= decay
    m -= m.min(axis=(1, 2), keepdims=True)
    return m / np.maximum(m.max(axis=(1, 2), keepdims=True), 1e-12)


# ------------------------------------------------------------------ corruptions (x: float32 in [0, 1])
def gaussian_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(0.0, c, x.shape).astype(F32)


def shot_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return (rng.poisson(x * c) / c).astype(F32)


def impulse_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper on a fraction c of the values (per channel), half salt, half pepper."""
    flip = rng.random(x.shape) <= c
    salt = rng.random(x.shape) <= 0.5
    out = x.copy()
    out[flip & salt] = 1.0
    out[flip & ~salt] = 0.0
    return out


@functools.cache
def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """Aliased disk of `radius` on a 17×17 grid, smoothed by a 3×3 Gaussian, trimmed to its support."""
    grid = np.arange(-8, 9)
    xx, yy = np.meshgrid(grid, grid)
    d = ((xx**2 + yy**2) <= radius**2).astype(np.float64)
    d /= d.sum()
    g = np.exp(-(np.arange(-1, 2) ** 2) / (2 * alias_blur**2))
    g /= g.sum()
    d = ndimage.correlate1d(ndimage.correlate1d(d, g, axis=0, mode="mirror"), g, axis=1, mode="mirror")
    keep = np.nonzero(d.sum(axis=1) > 1e-12)[0]
    lo, hi = keep.min(), keep.max() + 1
    return d[lo:hi, lo:hi].astype(F32)


def defocus_blur(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    k = _disk(*c)
    return ndimage.correlate(x, k[None, :, :, None], mode="mirror")


def frosted_glass_blur(x: np.ndarray, c: tuple[float, int, int], rng: np.random.Generator) -> np.ndarray:
    """Blur, then locally shuffle pixels by sequential swaps with a neighbour, then blur again.

    The swaps run in the published scan order (bottom-right to top-left) and are sequential within
    an image, so the loop is over positions and vectorised over the batch.
    """
    sigma, delta, iters = c
    b, h, w, _ = x.shape
    y = np.floor(np.clip(_gauss(x, sigma), 0, 1) * 255).astype(np.uint8)
    y = np.ascontiguousarray(y.transpose(1, 2, 0, 3))  # [H, W, B, C]: one position = one [B, C] slab
    bi = np.arange(b)
    hs = range(h - delta, delta, -1)
    ws = range(w - delta, delta, -1)
    d = rng.integers(-delta, delta, size=(iters, len(hs), len(ws), 2, b))
    for it in range(iters):
        for a, hh in enumerate(hs):
            for bb, ww in enumerate(ws):
                dx, dy = d[it, a, bb, 0], d[it, a, bb, 1]
                hp, wp = hh + dy, ww + dx
                here = y[hh, ww].copy()
                y[hh, ww] = y[hp, wp, bi]
                y[hp, wp, bi] = here
    z = y.transpose(2, 0, 1, 3).astype(F32) / 255
    return _gauss(z, sigma)


def motion_blur(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    angles = rng.uniform(-45, 45, size=x.shape[0])
    return motion_blur_batch(x, c[0], c[1], angles)


def zoom_blur(x: np.ndarray, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(x)
    for z in c:
        out += clipped_zoom(x, float(z))
    return (x + out) / (len(c) + 1)


def _gray(x: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma (cv2 RGB2GRAY) of [B, H, W, 3] → [B, H, W, 1]."""
    return (x @ np.array([0.299, 0.587, 0.114], dtype=F32))[..., None]


def snow(x: np.ndarray, c: tuple, rng: np.random.Generator) -> np.ndarray:
    loc, scale, zoom, thresh, radius, sigma, blend = c
    b, h, w, _ = x.shape
    layer = rng.normal(loc, scale, size=(b, h, w, 1)).astype(F32)
    layer = clipped_zoom(layer, zoom)
    layer[layer < thresh] = 0
    layer = np.round(np.clip(layer, 0, 1) * 255) / 255  # the published code passes the layer through 8 bits
    layer = motion_blur_batch(layer.astype(F32), radius, sigma, rng.uniform(-135, -45, size=b))
    layer = np.round(np.clip(layer, 0, 1) * 255).astype(F32) / 255
    x = blend * x + (1 - blend) * np.maximum(x, _gray(x) * 1.5 + 0.5)
    return x + layer + layer[:, ::-1, ::-1]


@functools.cache
def frost_bank() -> tuple[np.ndarray, ...]:
    """Seeded synthetic frost textures (uint8 [S, S, 3]), standing in for the CIFAR-10-C frost photos.

    Each texture: dendritic ice crystals (random walks that branch at ±60°, like hexagonal ice)
    drawn additively, softened by a small blur, over a plasma-fractal haze; bluish-white tint. The
    published photos are downscaled ×0.2 before 32×32 crops; the textures are made at that scale.
    """
    out = []
    for t in range(FROST_TEXTURES):
        r = derive_rng(FROST_SEED, "frost-bank", t)
        s = FROST_SIZE
        canvas = np.zeros((s, s))
        n_seeds = int(r.integers(25, 45))
        for _ in range(n_seeds):
            stack = [(r.uniform(0, s), r.uniform(0, s), r.uniform(0, 2 * np.pi), r.uniform(10, 30), 0)]
            while stack:
                y0, x0, ang, length, depth = stack.pop()
                steps = max(int(length * 2), 2)
                tt = np.linspace(0, length, steps)
                wob = np.cumsum(r.normal(0, 0.04, steps))
                ys = y0 + tt * np.sin(ang + wob)
                xs = x0 + tt * np.cos(ang + wob)
                iy = np.mod(np.round(ys).astype(int), s)
                ix = np.mod(np.round(xs).astype(int), s)
                np.add.at(canvas, (iy, ix), 0.6 / (1 + depth))
                if depth < 3:
                    for frac in r.uniform(0.2, 0.9, size=int(r.integers(1, 4))):
                        k = int(frac * (steps - 1))
                        side = 1 if r.random() < 0.5 else -1
                        stack.append((ys[k], xs[k], ang + side * np.pi / 3, length * r.uniform(0.3, 0.6), depth + 1))
        canvas = ndimage.gaussian_filter(canvas, 0.6, mode="wrap")
        canvas = np.clip(canvas / np.quantile(canvas[canvas > 0], 0.9), 0, 1)
        haze = plasma_fractal(r, 1, 256, 2.0)[0, :s, :s]
        v = np.clip(0.55 * canvas + 0.35 * haze + r.normal(0, 0.03, (s, s)), 0, 1)
        tint = np.array([0.82, 0.9, 1.0])
        out.append(np.round(v[..., None] * tint * 255).astype(np.uint8))
    return tuple(out)


def frost(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    b, h, w, _ = x.shape
    bank = frost_bank()
    pick = rng.integers(0, len(bank), size=b)
    ys = rng.integers(0, FROST_SIZE - h, size=b)
    xs = rng.integers(0, FROST_SIZE - w, size=b)
    tex = np.stack([bank[p][y : y + h, xx : xx + w] for p, y, xx in zip(pick, ys, xs, strict=True)])
    return c[0] * x + c[1] * (tex.astype(F32) / 255)


def fog(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    b, h, w, _ = x.shape
    size = 1 << (max(h, w) - 1).bit_length()
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    pf = plasma_fractal(rng, b, size, c[1])[:, :h, :w, None].astype(F32)
    return (x + c[0] * pf) * peak / (peak + c[0])


def brightness(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Add c to the HSV value channel: with hue and saturation fixed, RGB scales by v'/v."""
    v = x.max(axis=-1, keepdims=True)
    v2 = np.clip(v + c, 0, 1)
    return np.where(v > 0, x * (v2 / np.maximum(v, 1e-12)), v2)


def contrast(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    m = x.mean(axis=(1, 2), keepdims=True)
    return (x - m) * c + m


def elastic(x: np.ndarray, c: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """Random affine (three jittered control points) then a smoothed random displacement field.

    Simard, Steinkraus & Platt, "Best practices for convolutional neural networks applied to visual
    document analysis", ICDAR 2003.
    """
    alpha, sigma, jitter = c
    b, h, w, _ = x.shape
    cy, cx = h // 2, w // 2
    sq = min(h, w) // 3
    src = np.array([[cx + sq, cy + sq], [cx + sq, cy - sq], [cx - sq, cy - sq]], dtype=np.float64)  # (x, y)
    dst = src[None] + rng.uniform(-jitter, jitter, size=(b, 3, 2))
    # affine A (2×3) with dst = A @ [src, 1]; sample the source at A^-1 applied to each output pixel
    s1 = np.concatenate([src, np.ones((3, 1))], axis=1)  # [3, 3]
    a = np.linalg.solve(s1[None].repeat(b, 0), dst).transpose(0, 2, 1)  # [B, 2, 3]
    lin, t = a[:, :, :2], a[:, :, 2]
    inv = np.linalg.inv(lin)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    p = np.stack([gx, gy], axis=-1)[None] - t[:, None, None, :]  # [B, H, W, 2]
    q = np.einsum("bij,bhwj->bhwi", inv, p)
    y = _bilinear(x, q[..., 1], q[..., 0], "mirror")
    dx = _gauss(rng.uniform(-1, 1, size=(b, h, w)), sigma, mode="reflect", truncate=3.0) * alpha
    dy = _gauss(rng.uniform(-1, 1, size=(b, h, w)), sigma, mode="reflect", truncate=3.0) * alpha
    return _bilinear(y, gy[None] + dy, gx[None] + dx, "reflect")


def _pil_each(x8: np.ndarray, fn: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(fn(Image.fromarray(im)).convert("RGB")) for im in x8])


def pixelate(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    _b, h, w, _ = x.shape
    x8 = _to_uint8(x)
    small = (int(w * c), int(h * c))
    out = _pil_each(x8, lambda im: im.resize(small, Image.Resampling.BOX).resize((w, h), Image.Resampling.BOX))
    return out.astype(F32) / 255


def jpeg_compression(x: np.ndarray, c: int, rng: np.random.Generator) -> np.ndarray:
    def roundtrip(im: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=c)
        return Image.open(io.BytesIO(buf.getvalue()))

    return _pil_each(_to_uint8(x), roundtrip).astype(F32) / 255


CORRUPTIONS: dict[str, tuple[Fn, Sequence[object]]] = {
    "gaussian_noise": (gaussian_noise, GAUSSIAN_NOISE),
    "shot_noise": (shot_noise, SHOT_NOISE),
    "impulse_noise": (impulse_noise, IMPULSE_NOISE),
    "defocus_blur": (defocus_blur, DEFOCUS_BLUR),
    "frosted_glass_blur": (frosted_glass_blur, GLASS_BLUR),
    "motion_blur": (motion_blur, MOTION_BLUR),
    "zoom_blur": (zoom_blur, ZOOM_BLUR),
    "snow": (snow, SNOW),
    "frost": (frost, FROST),
    "fog": (fog, FOG),
    "brightness": (brightness, BRIGHTNESS),
    "contrast": (contrast, CONTRAST),
    "elastic": (elastic, ELASTIC),
    "pixelate": (pixelate, PIXELATE),
    "jpeg_compression": (jpeg_compression, JPEG_QUALITY),
}
assert tuple(CORRUPTIONS) == IMAGE_CORRUPTIONS


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


def corrupt_batch(images: np.ndarray, name: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Apply one corruption at one severity (1..5) to uint8 images [B, H, W, 3]; uint8 out."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1..5, got {severity}")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 [B, H, W, 3], got {images.dtype} {images.shape}")
    if len(images) == 0:
        return images.copy()
    fn, consts = CORRUPTIONS[name]
    x = images.astype(F32) / 255
    return _to_uint8(fn(x, consts[severity - 1], rng))


def corrupt(
    images: np.ndarray, names: Sequence[str], severities: Sequence[int], rng: np.random.Generator
) -> np.ndarray:
    """Corrupt each image with its own (name, severity), batching images that share both.

    Groups run in sorted (name, severity) order, each from its own child generator, so the result is
    a function of the inputs and `rng`'s state only.
    """
    out = images.copy()
    names_a = np.asarray(names, dtype=object)
    sev_a = np.asarray(severities, dtype=np.int64)
    keys = sorted({(str(n), int(s)) for n, s in zip(names_a, sev_a, strict=True)})
    children = rng.spawn(len(keys)) if keys else []
    for (n, s), child in zip(keys, children, strict=True):
        idx = np.nonzero((names_a == n) & (sev_a == s))[0]
        out[idx] = corrupt_batch(images[idx], n, s, child)
    return out
