"""Decoded-image cache: every training image read, converted and resized once."""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence

import cv2
import numpy as np

from ..core.errors import DatasetError
from ..core.preprocessing import resize_rgb
from ..data.frames import PosedFrame


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB; DatasetError naming the file otherwise."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"cannot read image (missing, truncated or not an image): {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_images(frames: Sequence[PosedFrame], size_hw: tuple[int, int], threads: int = 4) -> np.ndarray:
    """(N, H, W, 3) uint8 array of all frames' images at the network input size.

    OpenCV releases the GIL while decoding, so a small thread pool overlaps the reads.
    """
    out = np.empty((len(frames), size_hw[0], size_hw[1], 3), dtype=np.uint8)

    def work(i: int) -> None:
        out[i] = resize_rgb(read_rgb(str(frames[i].image_path)), size_hw)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(work, range(len(frames))))
    return out


def dataset_fingerprint(frames: Sequence[PosedFrame]) -> str:
    """sha256 over frame names and poses: identifies the data a model was trained on."""
    h = hashlib.sha256()
    for f in frames:
        values = " ".join(f"{v:.6f}" for v in (*f.position, *f.quat_wxyz))
        h.update(f"{f.name} {values}\n".encode())
    return h.hexdigest()
