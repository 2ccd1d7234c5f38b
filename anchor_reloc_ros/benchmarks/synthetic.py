"""Benchmark inputs made on the spot: random-weight checkpoints and a tiny posed dataset."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..core.anchors import RouteFrame
from ..core.backbones import get_backbone_spec
from ..core.checkpoint import save_checkpoint
from ..core.decoding import UncertaintyCalibration
from ..core.geometry import R_BODY_OPTICAL, matrix_to_quat
from ..core.model import ModelConfig, RelocNet
from ..data.cambridge import write_cambridge_split
from ..data.frames import PosedFrame

BENCH_ANCHORS = 64  # an 800-frame scene with an anchor every ~12 frames


def random_model(backbone: str, num_anchors: int = BENCH_ANCHORS, seed: int = 0) -> RelocNet:
    """An anchor-head RelocNet with random (not pretrained) weights, in eval mode."""
    torch.manual_seed(seed)
    return RelocNet(ModelConfig(backbone, "anchor", num_anchors), pretrained=False).eval()


def random_checkpoint(model: RelocNet, image_size_hw: tuple[int, int], path: Path) -> Path:
    """Save ``model`` with complete metadata (straight-line route, default calibration)."""
    spec = get_backbone_spec(model.config.backbone)
    n = model.config.num_anchors
    anchors = np.stack([np.linspace(0.0, 50.0, n), np.zeros(n), np.zeros(n)], axis=1)
    frame = RouteFrame(np.zeros(3), np.eye(3), 1.0, "z")
    metadata = {
        "preprocessing": {"image_size": list(image_size_hw), "mean": list(spec.mean), "std": list(spec.std),
                          "pixel_range": 255, "color": "RGB", "resize": "opencv_area"},
        "route_frame": frame.to_dict(),
        "anchors": {"positions_route": anchors.tolist(), "positions_world": anchors.tolist(), "every_k": 1,
                    "dims": model.config.anchor_dims, "frame_indices": list(range(n))},
        "calibration": UncertaintyCalibration().to_dict(),
        "training": {"note": "random weights for benchmarking"},
    }
    return save_checkpoint(path, model, metadata)


def write_corridor_dataset(root: Path, n_train: int, n_test: int, size_hw: tuple[int, int], seed: int = 0) -> Path:
    """A Cambridge-format dataset: crops sliding along a random smooth texture, pose = crop position."""
    rng = np.random.default_rng(seed)
    h, w = size_hw
    texture = cv2.resize(rng.integers(0, 256, (8, 64, 3), dtype=np.uint8), (w * 6, h), interpolation=cv2.INTER_CUBIC)
    q = matrix_to_quat(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ R_BODY_OPTICAL)
    for split, count in (("train", n_train), ("test", n_test)):
        (root / split).mkdir(parents=True, exist_ok=True)
        frames = []
        for i, x in enumerate(np.linspace(0.0, 10.0, count)):
            u = int(round(x / 10.0 * (texture.shape[1] - w)))
            name = f"{split}/{i:05d}.png"
            cv2.imwrite(str(root / name), texture[:, u:u + w])
            frames.append(PosedFrame(root / name, np.array([x, 0.0, 1.5]), q, name))
        write_cambridge_split(root, split, frames)
    return root
