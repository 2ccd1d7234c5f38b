"""The result of localizing one image: what the Localizer returns to every caller."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PoseEstimate:
    """Camera pose ``T_world_cam`` estimated from one image, with its uncertainty.

    * ``position``: camera centre in the map/world frame, metres, shape (3,).
    * ``quat_wxyz``: camera-to-world rotation of the optical frame, w first, shape (4,).
    * ``covariance``: 6x6 row-major over x, y, z and rotations about world X, Y, Z
      (REP-103 / ``PoseWithCovariance`` order), never all zeros.
    * ``anchor_index`` / ``anchor_confidence``: the anchor the decoder relied on (the
      argmax anchor) and its softmax confidence; -1 / 0.0 for the PoseNet head.
    * ``anchor_position``: that anchor's position in the world, shape (3,).
    * ``offset``: the predicted offset from that anchor to the camera, a world-frame
      vector in metres, shape (3,) (zero along non-anchored axes).
    * ``topk_indices`` / ``topk_confidences``: the k most confident anchors.
    * ``inference_ms``: network + decode time per image (a batch's time divided by
      its size).
    * ``ood_score``: the raw out-of-scene score (core/ood.py); nan when the checkpoint
      has no training-feature bank.
    * ``hypotheses`` / ``hypothesis_confidences``: every anchor's camera-centre
      hypothesis (anchor + its own offset, world frame, shape (N, 3)) and its softmax
      confidence (N,), for the odometry check's re-decoding; empty for PoseNet.
    * ``committee_distance``: the committee's distance d from ``position`` in metres
      (``core.decoding``), which widened the covariance; nan without a committee.
    """

    position: np.ndarray
    quat_wxyz: np.ndarray
    covariance: np.ndarray
    anchor_index: int
    anchor_confidence: float
    anchor_position: np.ndarray
    offset: np.ndarray
    topk_indices: np.ndarray
    topk_confidences: np.ndarray
    inference_ms: float
    ood_score: float = math.nan
    hypotheses: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    hypothesis_confidences: np.ndarray = field(default_factory=lambda: np.zeros(0))
    committee_distance: float = math.nan

    def transform(self) -> np.ndarray:
        """4x4 ``T_world_cam``."""
        from .geometry import transform_from_pq

        return transform_from_pq(self.position, self.quat_wxyz)
