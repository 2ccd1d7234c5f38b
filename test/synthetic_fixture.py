"""A tiny posed dataset for tests: a camera sliding along a textured strip.

Each frame is a crop of one large random-texture panorama; the crop's horizontal
position follows the camera's x, its vertical position the camera's y, so images
really determine the pose. Written in Cambridge format with the project's writer.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from anchor_reloc_ros.core.geometry import R_BODY_OPTICAL, matrix_to_quat
from anchor_reloc_ros.data.cambridge import write_cambridge_split
from anchor_reloc_ros.data.frames import PosedFrame


def make_strip_dataset(root: Path, n_train: int = 16, n_test: int = 6, size: tuple[int, int] = (48, 64),
                       seed: int = 0, n_val: int = 0) -> Path:
    """A Cambridge-format strip (its own val split too, drawn like the test split, when ``n_val``)."""
    rng = np.random.default_rng(seed)
    h, w = size
    pano = cv2.resize(rng.integers(0, 256, (12, 60, 3), dtype=np.uint8), (w * 10, h * 2),
                      interpolation=cv2.INTER_CUBIC)
    pano = cv2.GaussianBlur(pano, (3, 3), 0)
    # Camera looks along world +y (body x -> world y), z up: R_world_body then optical.
    R_world_body = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    q = matrix_to_quat(R_world_body @ R_BODY_OPTICAL)

    def frames(split: str, xs: np.ndarray, ys: np.ndarray) -> list[PosedFrame]:
        out = []
        (root / split).mkdir(parents=True, exist_ok=True)
        for i, (x, y) in enumerate(zip(xs, ys)):
            u = int(round(x / 20.0 * (pano.shape[1] - w)))
            v = int(round(y / 2.0 * (pano.shape[0] - h)))
            name = f"{split}/frame{i:05d}.png"
            cv2.imwrite(str(root / name), cv2.cvtColor(pano[v:v + h, u:u + w], cv2.COLOR_RGB2BGR))
            out.append(PosedFrame(root / name, np.array([x, y, 1.5]), q, name))
        return out

    xs = np.linspace(0.0, 20.0, n_train)
    ys = 1.0 + 0.5 * np.sin(xs)
    write_cambridge_split(root, "train", frames("train", xs, ys))
    xt = np.sort(rng.uniform(0.5, 19.5, n_test))
    write_cambridge_split(root, "test", frames("test", xt, 1.0 + 0.5 * np.sin(xt)))
    if n_val:
        xv = np.sort(rng.uniform(0.5, 19.5, n_val))
        write_cambridge_split(root, "val", frames("val", xv, 1.0 + 0.5 * np.sin(xv)))
    return root
