"""Generated coloured shapes (circle, square, triangle...): any image size and number of
classes, the same images for the same seed, no download."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netbuilder.runtime.data.dataset import DataError, Parts

SHAPE_NAMES = ("circle", "square", "triangle", "diamond", "cross", "ring", "hexagon", "star",
               "bar", "crescent")


def load_shapes(opts: dict[str, Any], input_shape: tuple[int | None, ...] | None) -> Parts:
    size = opts["image_size"]
    if size is None and input_shape and len(input_shape) == 3 and None not in input_shape[:2]:
        size = list(input_shape[:2])
    size = size or [32, 32]
    classes = opts["num_classes"]
    if not 2 <= classes <= len(SHAPE_NAMES):
        raise DataError(f"shapes: num_classes must be from 2 to {len(SHAPE_NAMES)}, "
                        f"found {classes}")
    n = opts["samples"]
    if n < 2 * classes:
        raise DataError(f"shapes: {n} samples are too few for {classes} classes")
    x, y = generate_shapes(n, size[0], size[1], classes, opts["seed"])
    return Parts("shapes", "shapes", x, y, list(SHAPE_NAMES[:classes]), "0-255",
                  notes=[f"generated {n} {size[0]}×{size[1]} RGB images of {classes} shapes "
                         f"(seed {opts['seed']})"])


def generate_shapes(n: int, height: int, width: int, classes: int, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 RGB images (n, height, width, 3) of simple filled shapes in random colours,
    sizes and places on a random plain background, with their class (an index into
    ``SHAPE_NAMES``), balanced over ``classes`` classes. The same seed gives the same images."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    rng.shuffle(y)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy = (yy + 0.5) / height
    xx = (xx + 0.5) / width
    images = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        background = rng.uniform(0, 90, 3) if rng.random() < 0.5 else rng.uniform(165, 255, 3)
        colour = (255 - background) * rng.uniform(0.6, 1.0, 3) + rng.uniform(-30, 30, 3)
        r = rng.uniform(0.2, 0.34)
        cy, cx = rng.uniform(r + 0.04, 1 - r - 0.04, 2)
        angle = rng.uniform(0, 2 * np.pi)
        mask = _shape_mask(SHAPE_NAMES[y[i]], yy - cy, xx - cx, r, angle)
        img = np.empty((height, width, 3), dtype=np.float32)
        img[:] = background
        img[mask] = colour
        img += rng.normal(0, 6, img.shape)
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images, y.astype(np.int64)


def _shape_mask(kind: str, dy: np.ndarray, dx: np.ndarray, r: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy       # rotated coordinates
    if kind == "circle":
        return dx * dx + dy * dy <= r * r
    if kind == "ring":
        d2 = dx * dx + dy * dy
        return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    if kind == "square":
        h = r * 0.8   # upright: a tilted square would be a diamond
        return (np.abs(dx) <= h) & (np.abs(dy) <= h)
    if kind == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if kind == "cross":
        w = r * 0.33
        return ((np.abs(u) <= r) & (np.abs(v) <= w)) | ((np.abs(v) <= r) & (np.abs(u) <= w))
    if kind == "bar":
        return (np.abs(u) <= r) & (np.abs(v) <= 0.3 * r)
    if kind == "crescent":
        d2 = dx * dx + dy * dy
        ox, oy = 0.45 * r * c, 0.45 * r * s
        return (d2 <= r * r) & ((dx - ox) ** 2 + (dy - oy) ** 2 > (0.8 * r) ** 2)
    if kind == "star":
        theta = (np.arctan2(dy, dx) - angle) % (2 * np.pi / 5)
        tip = np.abs(theta - np.pi / 5) / (np.pi / 5)          # 1 at a tip, 0 between tips
        reach = r * (0.42 + 0.58 * tip ** 1.5)
        return dx * dx + dy * dy <= reach * reach
    sides = 3 if kind == "triangle" else 6
    inside = np.ones(dx.shape, dtype=bool)
    for k in range(sides):
        a = angle + 2 * np.pi * k / sides
        inside &= np.cos(a) * dx + np.sin(a) * dy <= r * (0.5 if sides == 3 else 0.87)
    return inside
