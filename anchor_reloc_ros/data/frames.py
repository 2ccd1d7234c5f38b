"""The in-memory form every dataset reader returns: posed image frames."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PosedFrame:
    """One image with its ground-truth camera pose ``T_world_cam``.

    ``position`` is the camera centre in world coordinates (metres). ``quat_wxyz`` is
    the rotation that maps optical-frame vectors (x right, y down, z forward) into
    the world (camera-to-world), normalised with ``w >= 0``.
    """

    image_path: Path
    position: np.ndarray
    quat_wxyz: np.ndarray
    name: str
    timestamp: float | None = None


@dataclass
class PoseDataset:
    """An ordered list of frames for one split of one scene."""

    root: Path
    split: str
    format: str
    frames: list[PosedFrame] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    def positions(self) -> np.ndarray:
        """(N, 3) camera centres."""
        return np.stack([f.position for f in self.frames]) if self.frames else np.zeros((0, 3))

    def quaternions(self) -> np.ndarray:
        """(N, 4) camera-to-world quaternions, w first."""
        return np.stack([f.quat_wxyz for f in self.frames]) if self.frames else np.zeros((0, 4))
