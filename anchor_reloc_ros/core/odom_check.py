"""Consistency of estimates with odometry: a vote over the recent estimates.

ROS-free (the node and ``bag-eval`` run the same one). On a street whose facades repeat,
a wrong anchor is often chosen several frames running, and its covariance is wide
enough that one rejection test against the last accepted pose cannot tell it from a
right one. So every recent estimate votes instead. Each estimate ``j`` of the window
is carried to the current stamp by the odometry since it,
``pred_j = T_map_base_j @ inv(T_odom_base_j) @ T_odom_base_now``, and two estimates
agree when the Mahalanobis distance of their carried positions,

    d = sqrt(r^T S^-1 r),  r = pred_j - pred_k,  S = 2 C + ((drift * (t_j + t_k))^2 + floor^2) I,

is at most ``threshold`` (sigma units, like robot_localization's
``pose0_rejection_threshold``; 4.03 is the chi-square 99.9 % bound for 3 dof). ``C`` is
the position covariance of an estimate whose anchor is right (calibrated on validation
frames, ``UncertaintyCalibration.right_anchor_position_cov``), ``t`` the distance
travelled since each estimate. The new estimate passes when at least ``min_agreeing``
others in the window agree with it and it agrees with the estimate most others agree
with (ties: the newest). A run of wrong anchors shorter than the right cluster is
rejected; after a kidnapping the new place wins once its estimates outnumber the old
ones in the window (at most about ``window_frames / 2`` frames). After start-up (and every
``reset``) the vote judges only once the window holds ``warmup_fraction`` of
``window_frames``: a first run of aliased frames would otherwise fill the window alone, with
nothing to outvote it (held-out walk 2's first 5 estimates agree on a place 43 m off).

An accepted estimate's ``residual`` is its position minus the consensus of the carried
positions that agree with it (their inverse-variance mean, the older ones carrying more
odometry error): an independent look at its error, since the
estimates it agrees with saw other images (``core.frame_gate`` widens its covariance by it).

Re-decoding: when the estimate disagrees but the window agrees on a place (at least
``min_agreeing`` estimates), the network's other hypotheses are tried. The one of the
``redecode_top_k`` most confident anchors nearest the place the window predicts (the
consensus of the agreeing estimates, carried to now) is published instead, if it is within
``threshold``. The window keeps the network's own (argmax) estimate, so the vote stays
independent evidence and cannot confirm itself. A re-decoded pose lands on the predicted
place by construction, so the vote is no evidence that the frame shows the scene at all:
``FrameGate`` lets the vote replace the std test, and re-decode, only for frames within
the stricter ``vote_max_ood_score``.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .geometry import invert_transform, xyz_tuple
from .options import option


@dataclass(frozen=True)
class OdomCheckConfig:
    """The odometry check's settings (node parameters odom_*; each default defined once)."""

    threshold: float = option(
        4.03, "Odometry check: largest Mahalanobis distance (sigma, position, 3 dof; 4.03 = "
        "chi-square 99.9 %) at which two estimates carried by odometry agree, as robot_localization's "
        "pose0_rejection_threshold", range=(0.1, 1000.0), ros_name="odom_rejection_threshold",
        flag="--odom-rejection-threshold")
    window_frames: int = option(
        40, "Odometry check: the votes come from this many latest estimates that passed the scene "
        "test, this one included; after a kidnapping the new place wins within about half of them",
        range=(2, 10000), ros_name="odom_window_frames", flag="--odom-window-frames")
    min_agreeing: int = option(
        4, "Odometry check: publish only when at least this many other estimates of the window agree",
        range=(1, 10000), ros_name="odom_min_agreeing", flag="--odom-min-agreeing")
    warmup_fraction: float = option(
        0.25, "Odometry check: judge only once the window holds this fraction of odom_window_frames (0.25 "
        "of 40: 10 estimates), after start-up and after every reset, so that a first short run of aliased "
        "frames, with nothing yet to outvote it, is not published (held-out walk 2 published 6 of its first "
        "14 frames 43 m off without it); 0 = from the first min_agreeing + 1", range=(0.0, 1.0),
        ros_name="odom_warmup_fraction", flag="--odom-warmup-fraction")
    drift_per_m: float = option(
        0.05, "Odometry check: odometry position error (m) per metre travelled", range=(0.0, 10.0),
        ros_name="odom_drift_per_m", flag="--odom-drift-per-m")
    noise_floor_m: float = option(
        0.2, "Odometry/extrinsic position error that never vanishes (m)", ros_name=None)
    redecode_top_k: int = option(
        1, "Odometry check: when the estimate disagrees with the place the window agrees on, publish "
        "instead the hypothesis of these most confident anchors nearest that place, if within the "
        "threshold; 1 = never (the default: with 20, 14 % of uniform-noise frames were published; it "
        "raised the demo bag's frames published within 2 m from 25 to 44 %)", range=(1, 10000),
        ros_name="odom_redecode_top_k", flag="--odom-redecode-top-k")
    fuse: bool = option(
        True, "Odometry check: publish an estimate the vote agrees with fused with the place its agreeing "
        "estimates give (carried by odometry; inverse-variance weights calibrated on validation frames; "
        "README, Covariance); false = the single image's own pose, for a filter that wants measurements "
        "independent of the odometry it already fuses. Weights calibrated before it have no fusion gain",
        ros_name="odom_fuse", flag="--odom-fuse")
    vote_max_ood_score: float = option(
        0.85, "Odometry check: frames whose out-of-scene score is at most this (units of the checkpoint's "
        "threshold, as max_ood_score) are judged by the vote instead of the calibrated std test, and may be "
        "re-decoded; frames above it keep the std test as well and are never re-decoded (the vote is no "
        "evidence that a frame shows the scene); 0 = every frame", range=(0.0, 1000.0),
        ros_name="odom_vote_max_ood_score", flag="--odom-vote-max-ood-score")

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"odom check threshold must be positive, got {self.threshold}")
        if self.window_frames < 2:
            raise ValueError(f"odom window must hold >= 2 frames, got {self.window_frames}")
        if not 1 <= self.min_agreeing < self.window_frames:
            raise ValueError(f"odom min_agreeing must be in 1..window_frames-1 ({self.window_frames - 1}), "
                             f"got {self.min_agreeing}")


@dataclass(frozen=True)
class OdomVerdict:
    accepted: bool
    reason: str                # "" when accepted; else why not
    distance: float            # Mahalanobis distance to the most agreed-with estimate (nan: none)
    agreeing: int              # other estimates in the window that agree with this one
    chosen: int = -1           # accepted by re-decoding: the index into ``alternatives``; else -1
    # accepted: the published position minus the consensus of the carried estimates it agrees
    # with (re-decoded: of those agreeing on the place), m, map frame; nan when not accepted
    residual: tuple[float, float, float] = (math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class _Fix:
    T_map_odom: np.ndarray     # 4x4: where this estimate puts the odometry frame
    odom_position: np.ndarray  # (3,) the base in the odometry frame at its stamp


class OdomConsistency:
    """The vote of ``config.window_frames`` recent estimates; ``measurement_cov`` is ``C`` above."""

    def __init__(self, config: OdomCheckConfig | None = None, measurement_cov: np.ndarray | None = None) -> None:
        self.config = config or OdomCheckConfig()
        C = np.eye(3) if measurement_cov is None else np.asarray(measurement_cov, dtype=np.float64).reshape(3, 3)
        eigenvalues, self._axes = np.linalg.eigh(0.5 * (C + C.T))
        if not np.all(np.isfinite(eigenvalues)) or eigenvalues.min() <= 0:
            raise ValueError(f"odom check measurement covariance must be positive definite, got {C.tolist()}")
        self._variances = eigenvalues                      # S = axes diag(2 var + q) axes^T
        self._window: deque[_Fix] = deque(maxlen=self.config.window_frames)

    def reset(self) -> None:
        self._window.clear()

    @property
    def warmup_frames(self) -> int:
        """Estimates the window must hold (this one included) before the vote judges."""
        return max(1, math.ceil(self.config.warmup_fraction * self.config.window_frames - 1e-9))

    def check(self, T_map_base: np.ndarray, T_odom_base: np.ndarray,
              alternatives: np.ndarray | None = None) -> OdomVerdict:
        """Add one estimate to the window and judge it against the others.

        ``alternatives``: (K, 3) map positions of the same frame's other hypotheses, most
        confident first (only the first ``redecode_top_k`` are tried)."""
        T_map_base = np.asarray(T_map_base, dtype=np.float64)
        T_odom_base = np.asarray(T_odom_base, dtype=np.float64)
        self._window.append(_Fix(T_map_base @ invert_transform(T_odom_base), T_odom_base[:3, 3].copy()))
        carried, travelled = self._carried(T_odom_base)
        d = self._distances(carried[:, None, :] - carried[None, :, :], travelled[:, None] + travelled[None, :])
        agree = d <= self.config.threshold
        support = agree.sum(axis=1) - 1                     # others agreeing with each
        n, m = len(support), self.config.min_agreeing
        best = n - 1 - int(np.argmax(support[::-1]))        # most agreed-with; ties: the newest
        own = int(support[-1])
        distance = float(d[-1, best]) if best != n - 1 else (0.0 if own else math.nan)
        if n < self.warmup_frames:
            return OdomVerdict(False, f"odom_check: warming up, {n} of the {self.warmup_frames} estimates "
                                      f"the vote needs in its window", distance, own)
        if own >= m and agree[-1, best]:
            others = agree[-1].copy()
            others[-1] = False
            residual = carried[-1] - self._consensus(carried, travelled, others)
            return OdomVerdict(True, "", distance, own, residual=xyz_tuple(residual))
        if support[best] >= m and alternatives is not None and len(alternatives) and self.config.redecode_top_k > 1:
            place = self._consensus(carried, travelled, agree[best])   # where the agreeing ones put it now
            candidates = np.asarray(alternatives, dtype=np.float64).reshape(-1, 3)[:self.config.redecode_top_k]
            to_place = self._distances(candidates - place, np.full(len(candidates), travelled[best]))
            nearest = int(np.argmin(to_place))
            if to_place[nearest] <= self.config.threshold:
                return OdomVerdict(True, "", float(to_place[nearest]), own, nearest,
                                   xyz_tuple(candidates[nearest] - place))
        if own < m:
            return OdomVerdict(False, f"odom_check: {own} of the other {n - 1} recent estimates agree "
                                      f"(need {m})", distance, own)
        return OdomVerdict(False, f"odom_check: {int(support[best])} recent estimates agree on a place "
                                  f"{distance:.1f} sigma away (this one: {own})", distance, own)

    def _carried(self, T_odom_base_now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The window's positions carried to now, and the distance travelled since each (the
        length of the odometry displacement, which no rotation changes)."""
        carried = np.array([(f.T_map_odom @ T_odom_base_now)[:3, 3] for f in self._window])
        travelled = np.linalg.norm(np.array([f.odom_position for f in self._window]) - T_odom_base_now[:3, 3], axis=1)
        return carried, travelled

    def _consensus(self, carried: np.ndarray, travelled: np.ndarray, members: np.ndarray) -> np.ndarray:
        """The inverse-variance mean of the ``members`` carried positions: each weighs
        1 / (mean variance of C + the odometry's variance over the distance since it)."""
        w = 1.0 / (self._variances.mean() + self._odometry_variance(travelled[members]))
        return (w[:, None] * carried[members]).sum(axis=0) / w.sum()

    def _odometry_variance(self, travelled: np.ndarray) -> np.ndarray:
        """Per axis, the odometry's position variance after ``travelled`` metres (m^2)."""
        return (self.config.drift_per_m * travelled) ** 2 + self.config.noise_floor_m ** 2

    def _distances(self, r: np.ndarray, travelled: np.ndarray) -> np.ndarray:
        """Mahalanobis length of each ``r`` (..., 3) under S = 2 C + q(travelled) I."""
        q = self._odometry_variance(travelled)
        return np.sqrt(np.sum((r @ self._axes) ** 2 / (2.0 * self._variances + q[..., None]), axis=-1))

