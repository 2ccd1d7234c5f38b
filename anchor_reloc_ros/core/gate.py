"""The pose gate: withhold an estimate that is too uncertain or not from the mapped scene.

ROS-free; the node and ``bag-eval`` run the same ``PoseGate.check``. Three tests, each
off at 0:

* ``max_ood_score``: the out-of-scene score (core/ood.py) relative to the checkpoint's
  validation threshold (1.0 = its 99th percentile on validation frames). Checkpoints
  without an out-of-scene calibration skip this test (``ood_available`` is False).
* ``min_confidence``: a calibrated in-scene confidence, ``1 - score / (2 * threshold)``
  clipped to 0..1 (0.5 at the threshold, 1.0 for a feature identical to a training one),
  not the raw softmax, which is ~1.0 for a white frame. Without a calibration the raw
  softmax is used, as before.
* ``max_position_std``: the largest position standard deviation, ``sqrt`` of the largest
  eigenvalue of the 3x3 position covariance, in metres. ``max_position_std_factor``
  gives it relative to the checkpoint's validation-calibrated std limit instead
  (training/calibration.py; the smaller of the two applies when both are set).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .estimate import PoseEstimate
from .options import option
from .ood import OodCalibration


@dataclass(frozen=True)
class GateLimits:
    """The gate's limits: each default and help text defined once (also the node parameters)."""

    max_ood_score: float = option(
        0.9, "Gate: withhold estimates whose out-of-scene score exceeds this, in units of the "
        "checkpoint's threshold (1.0 = the 99th percentile of its validation frames); 0 = off. Not "
        "applied to weights without an out-of-scene calibration", range=(0.0, 1000.0))
    min_confidence: float = option(
        0.0, "Gate: publish pose/TF only when the calibrated in-scene confidence (1 - out-of-scene "
        "score / 2; 0.5 at the validation threshold) is at least this; the raw anchor softmax for "
        "weights without an out-of-scene calibration; 0 = off", range=(0.0, 1.0))
    max_position_std: float = option(
        0.0, "Gate: withhold estimates whose largest position standard deviation (sqrt of the "
        "largest eigenvalue of the position covariance that would be published: with the odometry vote "
        "agreeing, the agreed one) exceeds this (m); 0 = off", range=(0.0, 1.0e6))
    max_position_std_factor: float = option(
        1.0, "Gate: the same test, on the estimate's own covariance, at this multiple of the checkpoint's "
        "validation-calibrated std limit (the largest std at which the validation frames kept, at least "
        "25 %, hold at most half the share of gross errors of all; none when no std does that, or the "
        "checkpoint predates it); 0 = off (the smaller limit applies when both are set)", range=(0.0, 1000.0))


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str = ""          # "" when passed, else e.g. "out_of_scene: score 3.1 > 1.0"
    ood_score: float = math.nan   # relative score (nan when the checkpoint has none)
    confidence: float = math.nan  # the confidence min_confidence was compared with
    position_std: float = math.nan
    agreed: bool = False      # the odometry vote agreed (the published position covariance is then
                              # the calibrated agreed one, see FrameGate.published_covariance)
    redecoded_anchor: int = -1    # the vote chose this anchor's hypothesis instead of the argmax's
    position_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # m, map frame: published - estimated
    # agreed: the published position minus the place the agreeing estimates put it (m, map frame)
    vote_residual: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def vote_residual_m(self) -> float:
        """The vote residual's length (m); nan unless the vote agreed."""
        return float(np.linalg.norm(self.vote_residual)) if self.agreed else math.nan

    @property
    def fused(self) -> bool:
        """Published where the odometry fusion alone moved it (not re-decoded)."""
        return self.passed and self.redecoded_anchor < 0 and any(self.position_shift)


def position_std(covariance_6x6: np.ndarray) -> float:
    """``sqrt`` of the largest eigenvalue of the position block (m); inf if not finite."""
    block = np.asarray(covariance_6x6, dtype=np.float64).reshape(6, 6)[:3, :3]
    if not np.all(np.isfinite(block)):
        return math.inf
    return float(math.sqrt(max(float(np.linalg.eigvalsh(0.5 * (block + block.T))[-1]), 0.0)))


class PoseGate:
    """Checks estimates of one checkpoint against ``GateLimits``."""

    def __init__(self, ood: OodCalibration | None, calibrated_std_limit_m: float) -> None:
        self.ood = ood
        self.calibrated_std_limit_m = float(calibrated_std_limit_m)  # 0: the checkpoint has none

    @property
    def ood_available(self) -> bool:
        return self.ood is not None

    def std_limit(self, limits: GateLimits) -> float:
        """The position-std limit in metres (inf when off)."""
        candidates = [math.inf]
        if limits.max_position_std > 0:
            candidates.append(limits.max_position_std)
        if limits.max_position_std_factor > 0 and self.calibrated_std_limit_m > 0:
            candidates.append(limits.max_position_std_factor * self.calibrated_std_limit_m)
        return min(candidates)

    def check(self, est: PoseEstimate, limits: GateLimits) -> GateDecision:
        std = position_std(est.covariance)
        rel = math.nan
        if self.ood is not None and math.isfinite(est.ood_score):
            rel = self.ood.relative(est.ood_score)
            confidence = min(1.0, max(0.0, 1.0 - 0.5 * rel))
        elif self.ood is not None:
            confidence = 0.0  # a calibrated checkpoint whose network gave no score: unknown
        else:
            confidence = 1.0 if est.anchor_index < 0 else float(est.anchor_confidence)

        def decision(reason: str) -> GateDecision:
            return GateDecision(not reason, reason, rel, confidence, std)

        if self.ood is not None and limits.max_ood_score > 0 and not rel <= limits.max_ood_score:
            return decision(f"out_of_scene: score {rel:.2f} > {limits.max_ood_score:g}")
        if limits.min_confidence > 0 and confidence < limits.min_confidence:
            return decision(f"low_confidence: {confidence:.2f} < {limits.min_confidence:g}")
        limit = self.std_limit(limits)
        if not std <= limit:
            return decision(f"uncertain: position std {std:.2f} m > {limit:.2f} m")
        return decision("")
