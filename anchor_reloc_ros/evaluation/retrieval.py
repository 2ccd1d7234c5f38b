"""Image-retrieval baseline: the pose of the nearest training image in feature space.

This is the "store the database" approach the anchor paper argues against: its memory
grows with every mapped image, and it cannot be more precise than the spacing of the
database. Features are the same backbone's pooled ImageNet features.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..core.estimate import PoseEstimate
from ..core.model import RelocNet
from ..core.preprocessing import as_image_list, to_batch_uint8, to_network_input


@dataclass
class RetrievalIndex:
    features_NF: torch.Tensor  # L2-normalised database features
    positions: np.ndarray      # (N, 3)
    quats_wxyz: np.ndarray     # (N, 4)

    @property
    def memory_bytes(self) -> int:
        return int(self.features_NF.numel() * self.features_NF.element_size()
                   + self.positions.nbytes + self.quats_wxyz.nbytes)


class RetrievalLocalizer:
    """Same call shape as ``Localizer.localize_batch`` so evaluation code is shared."""

    def __init__(self, model: RelocNet, index: RetrievalIndex, image_size: tuple[int, int],
                 device: torch.device, covariance: np.ndarray | None = None) -> None:
        self.model = model.to(device).eval()
        self.index = RetrievalIndex(index.features_NF.to(device), index.positions, index.quats_wxyz)
        self.image_size = image_size
        self.device = device
        self.anchors_world = np.zeros((0, 3))
        self.covariance = covariance if covariance is not None else np.eye(6)
        self.decode, self.top_k, self.views = "nearest-neighbour", 1, 1

    @torch.inference_mode()
    def localize_batch(self, images: np.ndarray | list[np.ndarray]) -> list[PoseEstimate]:
        image_list = as_image_list(images)
        t0 = time.perf_counter()
        x = to_network_input(to_batch_uint8(image_list, self.image_size), self.device, torch.float32)
        query = F.normalize(self.model.features(x), dim=1)
        sim = query @ self.index.features_NF.T
        best_sim, best = sim.max(dim=1)
        ms = (time.perf_counter() - t0) * 1000.0 / len(image_list)
        out = []
        for b, i in enumerate(best.cpu().numpy()):
            out.append(PoseEstimate(self.index.positions[i].copy(), self.index.quats_wxyz[i].copy(),
                                    self.covariance.copy(), -1, float(best_sim[b]), np.full(3, np.nan),
                                    np.zeros(3), np.array([i]), np.array([float(best_sim[b])]), ms))
        return out

    def localize(self, image: np.ndarray) -> PoseEstimate:
        return self.localize_batch([image])[0]


def build_index(features_NF: torch.Tensor, positions: np.ndarray, quats_wxyz: np.ndarray) -> RetrievalIndex:
    return RetrievalIndex(F.normalize(features_NF.float(), dim=1), np.asarray(positions, dtype=np.float64),
                          np.asarray(quats_wxyz, dtype=np.float64))
