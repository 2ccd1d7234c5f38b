"""Uncertainty calibration from held-out validation residuals."""
from __future__ import annotations

import numpy as np

from ..core.decoding import UncertaintyCalibration
from ..core.geometry import quat_angle_deg

MIN_POSITION_STD_M = 0.01
MIN_ROTATION_STD_RAD = np.radians(0.2)


def calibrate(est_positions: np.ndarray, est_quats_wxyz: np.ndarray, gt_positions: np.ndarray,
              gt_quats_wxyz: np.ndarray, temperature: float = 1.0) -> UncertaintyCalibration:
    """Residual second moments (world frame): the covariance floor the decoder adds.

    Position: mean of e e^T with e = estimate - truth, regularised so every direction
    keeps at least ``MIN_POSITION_STD_M``. Rotation: mean squared angle split evenly
    over the three axes.
    """
    e = np.asarray(est_positions, dtype=np.float64) - np.asarray(gt_positions, dtype=np.float64)
    if len(e) == 0:
        return UncertaintyCalibration(temperature=temperature)
    cov = e.T @ e / len(e) + np.eye(3) * MIN_POSITION_STD_M ** 2
    angles = np.radians(quat_angle_deg(est_quats_wxyz, gt_quats_wxyz))
    rot_var = max(float(np.mean(angles ** 2)) / 3.0, MIN_ROTATION_STD_RAD ** 2)
    return UncertaintyCalibration(cov, rot_var, temperature)
