"""Regression targets in route units, computed once per dataset split."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.anchors import AnchorSet, RouteFrame, anchor_offsets, nearest_anchor
from ..core.geometry import quat_normalize


@dataclass
class Targets:
    """Per-frame targets as CPU tensors (index them with a batch of frame indices)."""

    position_B3: torch.Tensor       # route frame
    quat_B4: torch.Tensor           # camera-to-world, w >= 0
    offsets_BND: torch.Tensor       # to every anchor, anchored dims ((B, 0, D) for PoseNet)
    nearest_B: torch.Tensor
    absolute_BA: torch.Tensor       # non-anchored coordinate(s) + quaternion

    def __len__(self) -> int:
        return len(self.position_B3)

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"position_B3": self.position_B3[idx], "quat_B4": self.quat_B4[idx],
                "offsets_BND": self.offsets_BND[idx], "nearest_B": self.nearest_B[idx],
                "absolute_BA": self.absolute_BA[idx]}


def make_targets(positions_world: np.ndarray, quats_wxyz: np.ndarray, frame: RouteFrame,
                 anchors: AnchorSet | None, anchor_dims: int) -> Targets:
    p_route = frame.to_route(positions_world)
    q = quat_normalize(quats_wxyz)
    if anchors is not None:
        offsets = anchor_offsets(p_route, anchors)
        nearest = nearest_anchor(p_route, anchors)
    else:
        offsets = np.zeros((len(p_route), 0, anchor_dims))
        nearest = np.zeros(len(p_route), dtype=np.int64)
    absolute = np.concatenate([p_route[:, anchor_dims:], q], axis=1)

    def f32(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32)

    return Targets(f32(p_route), f32(q), f32(offsets), torch.as_tensor(nearest, dtype=torch.long), f32(absolute))
