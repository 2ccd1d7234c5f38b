"""Test-time views: each frame runs as itself plus crops of it, in one batch.

The decoder pools their anchor hypotheses (``Decoder``, ``DecodeOptions.views``). A crop
shows the same place from a slightly narrower field of view, so a wrong anchor that one
view's features alias to is often outvoted by the others. Measured on the street demo
model with cluster decoding (val walk, where the views were chosen; then the test walk),
frames within 2 m: 1 view 39.3 / 30.7 %, the frame + its centre crop 44.7 / 36.0 %, + the
left and right crops too 48.7 / 35.7 % (median 2.15 / 2.92 m; argmax with 1 view: 3.82 /
3.88 m). The network runs once per view. Crops are taken from the image as received, before the
resize to the network input, so they keep its full resolution.

Rows are frame-major: frame b's views are rows ``b * V .. b * V + V - 1``, view 0 the
frame itself (its rotation, height and scene score are the ones published).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

VIEW_CHOICES = (1, 2, 4)
CROP_FRACTION = 0.85   # of the width and of the height


def view_windows(height: int, width: int, views: int) -> list[tuple[slice, slice]]:
    """(rows, cols) windows of each view: the whole frame, the centre crop, the left and the
    right crop (``CROP_FRACTION`` of each side; left / right vertically centred)."""
    if views not in VIEW_CHOICES:
        raise ValueError(f"views must be one of {VIEW_CHOICES}, got {views}")
    ch, cw = max(1, round(height * CROP_FRACTION)), max(1, round(width * CROP_FRACTION))
    top, left = (height - ch) // 2, (width - cw) // 2
    rows = slice(top, top + ch)
    windows = [(slice(0, height), slice(0, width)), (rows, slice(left, left + cw)),
               (rows, slice(0, cw)), (rows, slice(width - cw, width))]
    return windows[:views]


def view_images(images: Sequence[np.ndarray], views: int) -> list[np.ndarray]:
    """Each image's ``views`` views, frame-major, cropped from the image at its own size
    (the network input size is reached later, by one resize of each crop)."""
    if views == 1:
        return list(images)
    out: list[np.ndarray] = []
    for image in images:
        h, w = image.shape[:2]
        out.extend(np.ascontiguousarray(image[rows, cols]) for rows, cols in view_windows(h, w, views))
    return out


def first_views(rows: np.ndarray, views_in: int, views: int) -> np.ndarray:
    """Of frame-major rows with ``views_in`` views per frame, each frame's first ``views`` rows
    (the same as running those views alone: view 0 the frame, then the crops in order)."""
    if views > views_in or len(rows) % views_in:
        raise ValueError(f"cannot take {views} of {views_in} views from {len(rows)} rows")
    return rows.reshape(len(rows) // views_in, views_in, *rows.shape[1:])[:, :views].reshape(-1, *rows.shape[1:])
