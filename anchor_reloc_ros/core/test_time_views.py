"""Test-time views: each frame runs as itself plus crops of it, in one batch.

The decoder pools their anchor hypotheses (``Decoder``, ``DecodeOptions.views``). A crop
shows the same place from a slightly narrower field of view, so a wrong anchor that one
view's features alias to is often outvoted by the others. Measured on the street demo
model (val walk, where this was chosen; then the test walk), cluster decoding, frames
within 2 m: 1 view 39.3 / 30.3 %, the frame + the centre crop 44.7 / 36.0 %, + the left and
right crops too 50.7 / 40.3 % (median 1.93 / 2.46 m; argmax with 1 view: 3.82 / 3.88 m).
The network runs once per view.

Rows are frame-major: frame b's views are rows ``b * V .. b * V + V - 1``, view 0 the
frame itself (its rotation, height and scene score are the ones published).
"""
from __future__ import annotations

import numpy as np
import torch

from .preprocessing import resize_rgb

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


def expand_views(batch_BHW3: torch.Tensor, views: int) -> torch.Tensor:
    """(B * views, H, W, 3) uint8: each frame's views, resized back to H x W, frame-major."""
    if views == 1:
        return batch_BHW3
    images = batch_BHW3.numpy()
    B, H, W, _ = images.shape
    out = np.empty((B * views, H, W, 3), dtype=np.uint8)
    for v, (rows, cols) in enumerate(view_windows(H, W, views)):
        for b in range(B):
            out[b * views + v] = resize_rgb(np.ascontiguousarray(images[b, rows, cols]), (H, W))
    return torch.from_numpy(out)
