"""Texture layers built from the real photographs that ship with scikit-image.

All layers are ``LAYER_SIZE`` square RGB uint8 images; they are grouped by
material (``TextureSet.groups``) so that layouts can pick, e.g., one of several
facade tiles. Variety comes from random crops, scales, colour casts and window
grids; places stay distinguishable although photographs repeat.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

LAYER_SIZE = 256
_PHOTO_NAMES = ("brick", "gravel", "grass", "coffee", "chelsea", "astronaut", "rocket", "camera",
                "coins", "text", "moon", "page", "hubble_deep_field", "immunohistochemistry", "retina",
                "cell", "colorwheel", "clock")
# Photographs with scene content, used for shop windows, posters and glazing.
_PICTURES = ("coffee", "chelsea", "astronaut", "rocket", "hubble_deep_field", "immunohistochemistry",
             "retina", "camera", "moon", "coins", "colorwheel", "clock", "cell")
# Photographs with fine texture, used as wall materials.
_MATERIALS = ("brick", "brick", "gravel", "moon")


@lru_cache(maxsize=1)
def _photo_cache() -> tuple[tuple[str, np.ndarray], ...]:
    import skimage.data

    photos = []
    for name in _PHOTO_NAMES:
        img = np.asarray(getattr(skimage.data, name)()).astype(np.float32) / 255.0
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = np.ascontiguousarray(img[..., :3])
        img.flags.writeable = False
        photos.append((name, img))
    return tuple(photos)


def load_photos() -> dict[str, np.ndarray]:
    """The bundled scikit-image photographs as read-only float32 RGB in [0, 1] (no network)."""
    return dict(_photo_cache())


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.resize(img, (max(1, w), max(1, h)), interpolation=cv2.INTER_AREA)


def random_crop(rng: np.random.Generator, img: np.ndarray, w: int, h: int,
                zoom: tuple[float, float] = (0.4, 1.0)) -> np.ndarray:
    """Crop a random window covering ``zoom`` of the photo and resize it to ``w x h``."""
    H, W = img.shape[:2]
    frac = rng.uniform(*zoom)
    aspect = w / h
    ch = int(min(H, W / aspect) * frac)
    cw = int(ch * aspect)
    y = int(rng.integers(0, H - ch + 1))
    x = int(rng.integers(0, W - cw + 1))
    return _resize(img[y:y + ch, x:x + cw], w, h)


def recolour(img: np.ndarray, colour: np.ndarray, contrast: float = 1.0, desaturate: float = 0.0) -> np.ndarray:
    """Blend towards grey, scale contrast around the mean and apply a colour cast."""
    grey = img.mean(axis=2, keepdims=True)
    out = img * (1.0 - desaturate) + grey * desaturate
    mean = out.mean()
    out = (out - mean) * contrast + mean
    return np.clip(out * np.asarray(colour, np.float32), 0.0, 1.0)


def tileable(img: np.ndarray) -> np.ndarray:
    """Make a texture seamless by cross-fading it with its half-shifted copy."""
    n = img.shape[0]
    ramp = np.abs(np.linspace(-1.0, 1.0, n, dtype=np.float32))
    weight = np.minimum(ramp[:, None], ramp[None, :])[..., None]
    shifted = np.roll(img, (n // 2, n // 2), axis=(0, 1))
    return img * (1.0 - weight) + shifted * weight


def _colour(rng: np.random.Generator, base: tuple[float, float, float], spread: float = 0.12) -> np.ndarray:
    return np.clip(np.asarray(base) * rng.uniform(1.0 - spread, 1.0 + spread, 3), 0.05, 1.3).astype(np.float32)


def _material(rng: np.random.Generator, photos: dict[str, np.ndarray], names: tuple[str, ...],
              colour: tuple[float, float, float], contrast: float, zoom=(0.3, 0.8)) -> np.ndarray:
    n = LAYER_SIZE
    img = random_crop(rng, photos[str(rng.choice(names))], n, n, zoom)
    img = img * (0.6 / max(float(img.mean()), 0.05))  # the colour sets the albedo
    return tileable(recolour(img, _colour(rng, colour), contrast, desaturate=0.8))


_WALL_COLOURS = ((0.95, 0.85, 0.7), (0.85, 0.55, 0.45), (0.8, 0.8, 0.82), (0.95, 0.9, 0.6),
                 (0.7, 0.75, 0.85), (1.0, 1.0, 0.95), (0.65, 0.5, 0.4))


def facade_tile(rng: np.random.Generator, photos: dict[str, np.ndarray]) -> np.ndarray:
    """Wall material with a 2 x 2 window grid (one tile = two bays by two floors)."""
    n = LAYER_SIZE
    wall_colour = _WALL_COLOURS[int(rng.integers(len(_WALL_COLOURS)))]
    img = _material(rng, photos, _MATERIALS, wall_colour, rng.uniform(0.5, 1.0), (0.25, 0.6))
    win_w = int(n / 2 * rng.uniform(0.35, 0.65))
    win_h = int(n / 2 * rng.uniform(0.4, 0.7))
    frame = _colour(rng, (0.9, 0.9, 0.88) if rng.random() < 0.6 else (0.25, 0.22, 0.2), 0.1)
    glass_tint = _colour(rng, (0.45, 0.55, 0.7), 0.2)
    panes = [random_crop(rng, photos[str(rng.choice(_PICTURES))], win_w, win_h) for _ in range(2)]
    border = max(2, n // 64)
    for row in range(2):
        for col in range(2):
            y0 = row * n // 2 + int((n / 2 - win_h) * 0.45)
            x0 = col * n // 2 + (n // 2 - win_w) // 2
            pane = recolour(panes[(row + col) % 2], glass_tint, 0.6, 0.5) * 0.7
            img[y0 - border:y0 + win_h + border, x0 - border:x0 + win_w + border] = frame
            img[y0:y0 + win_h, x0:x0 + win_w] = pane
            img[y0:y0 + win_h, x0 + win_w // 2 - border // 2:x0 + win_w // 2 + border // 2 + 1] = frame
            img[y0 + win_h + border:y0 + win_h + 3 * border, x0 - 2 * border:x0 + win_w + 2 * border] = frame * 0.9
    return img


def shopfront(rng: np.random.Generator, photos: dict[str, np.ndarray]) -> np.ndarray:
    """Ground-floor shop: coloured sign band with lettering over a display window."""
    n = LAYER_SIZE
    img = np.empty((n, n, 3), np.float32)
    band = int(n * 0.22)
    sign_colour = np.clip(rng.uniform(0.1, 1.0, 3), 0, 1).astype(np.float32)
    letters = random_crop(rng, photos[str(rng.choice(("text", "page")))], n, band, (0.5, 1.0))
    img[:band] = sign_colour * (0.35 + 0.65 * letters)
    img[band:] = _colour(rng, (0.3, 0.3, 0.32))
    m = n // 24
    img[band + m:n - m, m:n - m] = random_crop(rng, photos[str(rng.choice(_PICTURES))], n - 2 * m, n - band - 2 * m)
    door_x = int(rng.integers(m, n - n // 4 - m))
    img[band + 3 * m:n, door_x:door_x + n // 4] = _colour(rng, (0.35, 0.25, 0.18), 0.3)
    return img


def poster(rng: np.random.Generator, photos: dict[str, np.ndarray]) -> np.ndarray:
    """A photograph with a thin frame (indoor posters, billboards)."""
    n = LAYER_SIZE
    img = np.empty((n, n, 3), np.float32)
    img[:] = _colour(rng, (0.9, 0.9, 0.9) if rng.random() < 0.5 else (0.15, 0.12, 0.1), 0.1)
    m = n // 16
    img[m:n - m, m:n - m] = random_crop(rng, photos[_PICTURES[int(rng.integers(len(_PICTURES)))]], n - 2 * m, n - 2 * m)
    return img


def planks(rng: np.random.Generator, photos: dict[str, np.ndarray], colour: tuple[float, float, float]) -> np.ndarray:
    """Wood-like boards: a photo stretched along one axis, with seams."""
    n = LAYER_SIZE
    streaks = _resize(random_crop(rng, photos[str(rng.choice(("gravel", "grass", "moon")))], n // 8, n), n, n)
    img = tileable(recolour(streaks, _colour(rng, colour), 1.5, desaturate=1.0))
    img[:, :: n // 4] *= 0.4
    return img


def tiles(rng: np.random.Generator, photos: dict[str, np.ndarray], colour: tuple[float, float, float],
          count: int) -> np.ndarray:
    """Square tiles with grout lines (ceilings, paving)."""
    img = _material(rng, photos, ("gravel", "moon"), colour, 0.3)
    step = LAYER_SIZE // count
    img[::step] *= 0.6
    img[:, ::step] *= 0.6
    return img


def sky(rng: np.random.Generator) -> np.ndarray:
    """Blue gradient with soft procedural clouds; row 0 is the zenith."""
    n = LAYER_SIZE
    noise = sum(cv2.resize(rng.random((k, k)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC) / k ** 0.5
                for k in (4, 8, 16, 32))
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    clouds = np.clip((tileable(noise[..., None].repeat(3, 2))[..., 0] - 0.45) * 2.5, 0.0, 1.0)
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None, None]
    blue = (1.0 - t) * np.array([0.35, 0.55, 0.9], np.float32) + t * np.array([0.75, 0.85, 0.95], np.float32)
    return blue * (1.0 - clouds[..., None]) + clouds[..., None] * 0.95


@dataclass
class TextureSet:
    """``layers (L, LAYER_SIZE, LAYER_SIZE, 3) uint8`` and layer indices per material."""

    layers: np.ndarray
    groups: dict[str, list[int]] = field(default_factory=dict)

    def pick(self, rng: np.random.Generator, group: str) -> int:
        options = self.groups[group]
        return options[int(rng.integers(len(options)))]

    def first(self, group: str) -> int:
        return self.groups[group][0]


def build_textures(rng: np.random.Generator, counts: dict[str, int] | None = None) -> TextureSet:
    """Generate every material layer; ``counts`` overrides how many variants per group."""
    photos = load_photos()
    makers: dict[str, Callable[[], np.ndarray]] = {
        "white": lambda: np.ones((LAYER_SIZE, LAYER_SIZE, 3), np.float32),
        "facade": lambda: facade_tile(rng, photos),
        "shop": lambda: shopfront(rng, photos),
        "poster": lambda: poster(rng, photos),
        "asphalt": lambda: _material(rng, photos, ("gravel",), (0.38, 0.38, 0.4), 0.6),
        "pavement": lambda: tiles(rng, photos, (0.75, 0.72, 0.68), 4),
        "grass": lambda: _material(rng, photos, ("grass",), (0.45, 0.65, 0.3), 1.0),
        "bark": lambda: planks(rng, photos, (0.4, 0.3, 0.22)),
        "leaves": lambda: _material(rng, photos, ("grass", "gravel"), (0.35, 0.6, 0.25), 1.6, (0.15, 0.3)),
        "roof": lambda: _material(rng, photos, ("gravel", "brick"), (0.5, 0.35, 0.3), 0.8),
        "paint": lambda: _material(rng, photos, ("moon",), (0.9, 0.9, 0.9), 0.2),
        "cloth": lambda: random_crop(rng, photos[str(rng.choice(("astronaut", "chelsea", "coffee")))],
                                     LAYER_SIZE, LAYER_SIZE),
        "sky": lambda: sky(rng),
        "plaster": lambda: _material(rng, photos, ("gravel", "moon", "brick"), (0.92, 0.9, 0.85), 0.25),
        "wood": lambda: planks(rng, photos, (0.7, 0.5, 0.3)),
        "carpet": lambda: _material(rng, photos, ("grass", "gravel"), (0.45, 0.45, 0.55), 0.5),
        "ceiling": lambda: tiles(rng, photos, (0.95, 0.95, 0.95), 2),
    }
    default_counts = {"facade": 14, "shop": 8, "poster": 10, "plaster": 4, "wood": 3, "carpet": 2, "cloth": 4}
    counts = {**default_counts, **(counts or {})}
    layers: list[np.ndarray] = []
    groups: dict[str, list[int]] = {}
    for group, make in makers.items():
        for _ in range(counts.get(group, 1)):
            groups.setdefault(group, []).append(len(layers))
            layers.append(make())
    stacked = np.clip(np.stack(layers) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return TextureSet(stacked, groups)
