"""Frame algebra for the node's outputs (ROS-free numpy, tested on its own).

Covariances are 6x6 over (x, y, z, rot X, rot Y, rot Z) in the MAP frame, with a
rotation error applied on the left (``R_true = exp(dtheta) R_est``, dtheta in map
axes), which is how ``PoseWithCovariance`` consumers (robot_localization, AMCL) read it.
"""
from __future__ import annotations

import numpy as np

from ..core.geometry import invert_transform

# Variances never go below this (m^2 / rad^2): consumers read zeros as certainty.
COVARIANCE_FLOOR = 1e-6
# Used when an estimate carries no usable covariance (NaN/inf): "we do not know".
UNKNOWN_VARIANCE = 1e3


def skew(v: np.ndarray) -> np.ndarray:
    x, y, z = np.asarray(v, dtype=np.float64)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def sanitize_covariance(cov6: np.ndarray) -> np.ndarray:
    """Symmetric 6x6 with every variance >= COVARIANCE_FLOOR; unknown if not finite."""
    cov = np.asarray(cov6, dtype=np.float64).reshape(6, 6)
    if not np.all(np.isfinite(cov)):
        return np.eye(6) * UNKNOWN_VARIANCE
    cov = 0.5 * (cov + cov.T)
    idx = np.diag_indices(6)
    cov[idx] = np.maximum(cov[idx], COVARIANCE_FLOOR)
    return cov


def covariance_through_lever(cov6: np.ndarray, lever_map: np.ndarray) -> np.ndarray:
    """Covariance of a point rigidly attached at ``lever_map`` (map axes) from the pose.

    ``p' = p + R l`` perturbs as ``dp' = dp + dtheta x (R l) = dp - [R l]x dtheta``;
    the orientation error of a rigidly attached frame is the same dtheta.
    """
    J = np.eye(6)
    J[:3, 3:] = -skew(lever_map)
    return J @ np.asarray(cov6, dtype=np.float64) @ J.T


def camera_to_base(T_map_cam: np.ndarray, cov_cam: np.ndarray, T_cam_base: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``T_map_base = T_map_cam @ T_cam_base`` and its covariance in the map frame."""
    T_map_base = np.asarray(T_map_cam, dtype=np.float64) @ np.asarray(T_cam_base, dtype=np.float64)
    lever_map = T_map_cam[:3, :3] @ T_cam_base[:3, 3]
    return T_map_base, sanitize_covariance(covariance_through_lever(cov_cam, lever_map))


def map_to_odom(T_map_base: np.ndarray, T_odom_base: np.ndarray) -> np.ndarray:
    """REP-105 / AMCL: ``T_map_odom = T_map_base @ inv(T_odom_base)``."""
    return np.asarray(T_map_base, dtype=np.float64) @ invert_transform(T_odom_base)

