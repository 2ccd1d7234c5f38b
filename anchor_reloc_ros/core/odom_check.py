"""Consistency of estimates with odometry, as robot_localization's rejection threshold.

ROS-free state machine (the node and ``bag-eval`` run the same one). The last accepted
estimate ``T_map_base`` is carried forward by the odometry that moved the robot since
(``T_odom_base`` then and now): ``pred = T_map_base_acc @ inv(T_odom_base_acc) @ T_odom_base``.
A new estimate passes when the Mahalanobis distance of its position from ``pred``,

    d = sqrt(r^T S^-1 r),  r = p - p_pred,  S = C_new + C_acc + ((drift * travelled)^2 + floor^2) I,

is at most ``threshold`` (sigma units, like ``pose0_rejection_threshold``; 4.03 is the
chi-square 99.9 % bound for 3 dof). Rejected estimates that agree with each other (each
within ``threshold`` of the previous one carried forward) form a chain; after
``recovery_frames`` of them the chain wins and becomes the new track (a kidnapped robot,
or a wrong earlier acceptance). Before the first acceptance the same rule starts the
track: ``recovery_frames`` mutually consistent estimates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .geometry import invert_transform
from .options import option


@dataclass(frozen=True)
class OdomCheckConfig:
    """The odometry check's settings (node parameters odom_*; each default defined once)."""

    threshold: float = option(
        4.03, "Odometry check: largest Mahalanobis distance (sigma, position, 3 dof; 4.03 = "
        "chi-square 99.9 %), as robot_localization's pose0_rejection_threshold",
        range=(0.1, 1000.0), ros_name="odom_rejection_threshold", flag="--odom-rejection-threshold")
    recovery_frames: int = option(
        3, "Odometry check: this many consecutive mutually consistent rejected estimates start a "
        "new track (kidnapped robot)", range=(1, 1000), ros_name="odom_recovery_frames", flag="--odom-recovery-frames")
    drift_per_m: float = option(
        0.05, "Odometry check: odometry position error (m) per metre travelled since the last "
        "accepted estimate", range=(0.0, 10.0), ros_name="odom_drift_per_m", flag="--odom-drift-per-m")
    noise_floor_m: float = option(
        0.2, "Odometry/extrinsic position error that never vanishes (m)", ros_name=None)

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"odom check threshold must be positive, got {self.threshold}")
        if self.recovery_frames < 1:
            raise ValueError(f"recovery frames must be >= 1, got {self.recovery_frames}")


@dataclass(frozen=True)
class OdomVerdict:
    accepted: bool
    reason: str                # "" when accepted as consistent; else why
    distance: float            # Mahalanobis distance to the track (nan: no track yet)


@dataclass
class _Fix:
    T_map_base: np.ndarray     # 4x4
    cov_pos: np.ndarray        # 3x3 (map frame)
    T_odom_base: np.ndarray    # 4x4 at the same stamp


class OdomConsistency:
    def __init__(self, config: OdomCheckConfig | None = None) -> None:
        self.config = config or OdomCheckConfig()
        self._track: _Fix | None = None
        self._chain: list[_Fix] = []

    @property
    def has_track(self) -> bool:
        return self._track is not None

    def reset(self) -> None:
        self._track, self._chain = None, []

    def distance(self, reference: _Fix, fix: _Fix) -> float:
        """Mahalanobis distance of ``fix`` from ``reference`` carried forward by odometry."""
        delta = invert_transform(reference.T_odom_base) @ fix.T_odom_base
        predicted = reference.T_map_base @ delta
        travelled = float(np.linalg.norm(delta[:3, 3]))
        c = self.config
        q = (c.drift_per_m * travelled) ** 2 + c.noise_floor_m ** 2
        S = fix.cov_pos + reference.cov_pos + np.eye(3) * q
        r = fix.T_map_base[:3, 3] - predicted[:3, 3]
        try:
            d2 = float(r @ np.linalg.solve(S, r))
        except np.linalg.LinAlgError:
            return math.inf
        return math.sqrt(max(d2, 0.0))

    def check(self, T_map_base: np.ndarray, covariance_6x6: np.ndarray,
              T_odom_base: np.ndarray) -> OdomVerdict:
        """Judge one estimate (and update the state): accepted estimates become the track."""
        fix = _Fix(np.asarray(T_map_base, dtype=np.float64),
                   np.asarray(covariance_6x6, dtype=np.float64).reshape(6, 6)[:3, :3].copy(),
                   np.asarray(T_odom_base, dtype=np.float64))
        c = self.config
        d = self.distance(self._track, fix) if self._track is not None else math.nan
        if self._track is not None and d <= c.threshold:
            self._track, self._chain = fix, []
            return OdomVerdict(True, "", d)
        if self._chain and self.distance(self._chain[-1], fix) > c.threshold:
            self._chain = []
        self._chain.append(fix)
        if len(self._chain) >= c.recovery_frames:
            started = "track started" if self._track is None else "track reset (kidnapped?)"
            self._track, self._chain = fix, []
            return OdomVerdict(True, f"{started} after {c.recovery_frames} consistent frames", d)
        if self._track is None:
            return OdomVerdict(False, f"odom_check: waiting for {c.recovery_frames} consistent frames "
                                      f"({len(self._chain)} so far)", d)
        return OdomVerdict(False, f"odom_check: Mahalanobis distance {d:.1f} > {c.threshold:g}", d)
