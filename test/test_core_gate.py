"""The gate (ROS-free): position std, limits, the odometry consistency state machine."""
from __future__ import annotations

import math

import numpy as np
import pytest

from anchor_reloc_ros.core.estimate import PoseEstimate
from anchor_reloc_ros.core.frame_gate import FrameGate
from anchor_reloc_ros.core.gate import GateLimits, PoseGate, position_std
from anchor_reloc_ros.core.odom_check import OdomCheckConfig, OdomConsistency
from anchor_reloc_ros.core.ood import OodCalibration

OOD = OodCalibration(threshold=0.2, quantile=0.99, k=5, val_median=0.1, val_frames=50)


def _estimate(ood_score: float = 0.1, std_m: float = 1.0, confidence: float = 0.9) -> PoseEstimate:
    cov = np.eye(6) * 0.01
    cov[:3, :3] = np.diag([std_m ** 2, 0.25, 0.25])
    return PoseEstimate(np.zeros(3), np.array([1.0, 0, 0, 0]), cov, 0, confidence, np.zeros(3), np.zeros(3),
                        np.array([0]), np.array([confidence]), 1.0, ood_score)


def _pose(x: float, y: float = 0.0) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = [x, y, 0.0]
    return T


def test_position_std_is_the_largest_eigen_direction() -> None:
    cov = np.zeros((6, 6))
    cov[:2, :2] = [[4.0, 3.9], [3.9, 4.0]]  # strongly correlated: 7.9 along the diagonal
    assert position_std(cov) == pytest.approx(math.sqrt(7.9))
    cov[0, 0] = np.nan
    assert position_std(cov) == math.inf


@pytest.mark.parametrize("est, limits, reason", [
    (_estimate(0.1), GateLimits(), ""),
    (_estimate(0.5), GateLimits(max_ood_score=1.5), "out_of_scene"),    # 2.5 x the threshold
    (_estimate(0.5), GateLimits(max_ood_score=0.0), ""),                # off
    (_estimate(0.1), GateLimits(min_confidence=0.9), "low_confidence"),  # calibrated: 1 - 0.5/2 = 0.75
    (_estimate(0.1, std_m=5.0), GateLimits(max_position_std=3.0), "uncertain"),
    (_estimate(0.1, std_m=5.0), GateLimits(max_position_std_factor=2.0), "uncertain"),  # 2 x 2 m
    (_estimate(0.1, std_m=3.0), GateLimits(max_position_std_factor=2.0), ""),
    (_estimate(math.nan), GateLimits(), "out_of_scene"),  # a calibrated model that gave no score
])
def test_gate_reasons(est: PoseEstimate, limits: GateLimits, reason: str) -> None:
    decision = PoseGate(OOD, calibrated_std_limit_m=2.0).check(est, limits)
    assert decision.passed == (reason == "")
    assert decision.reason.startswith(reason)


def test_without_calibration_the_gate_uses_the_covariance_and_the_raw_softmax() -> None:
    gate = PoseGate(None, calibrated_std_limit_m=1.0)
    assert gate.check(_estimate(math.nan), GateLimits(max_ood_score=1.0)).passed
    assert not gate.check(_estimate(math.nan, confidence=0.3), GateLimits(min_confidence=0.5)).passed
    assert not gate.check(_estimate(math.nan, std_m=4.0), GateLimits(max_position_std_factor=3.0)).passed


def _fix(check: OdomConsistency, x_est: float, x_odom: float, std: float = 0.5) -> bool:
    cov = np.eye(6) * std ** 2
    return check.check(_pose(x_est), cov, _pose(x_odom)).accepted


def test_odometry_check_starts_a_track_rejects_a_jump_and_recovers_after_n_frames() -> None:
    check = OdomConsistency(OdomCheckConfig(threshold=4.03, recovery_frames=3, drift_per_m=0.05))
    # The track starts only after 3 mutually consistent estimates.
    assert [_fix(check, x, x + 100.0) for x in (0.0, 1.0, 2.0)] == [False, False, True]
    assert _fix(check, 3.1, 103.0)                 # consistent with odometry: accepted
    assert not _fix(check, 40.0, 104.0)            # a 36 m jump along the route: rejected
    assert _fix(check, 5.0, 105.0)                 # back on the track
    # Kidnapped: from now on the estimates are 50 m further, and consistent among themselves.
    assert [_fix(check, 56.0 + i, 106.0 + i) for i in range(3)] == [False, False, True]
    assert _fix(check, 59.0, 109.0)


def test_odometry_check_breaks_an_inconsistent_chain() -> None:
    check = OdomConsistency(OdomCheckConfig(recovery_frames=2))
    assert [_fix(check, x, x) for x in (0.0, 1.0)] == [False, True]
    # Two wrong estimates that also disagree with each other never start a new track.
    assert not _fix(check, 40.0, 2.0)
    assert not _fix(check, -40.0, 3.0)
    assert _fix(check, 4.0, 4.0)


def test_frame_gate_runs_the_odometry_check_only_on_estimates_that_passed() -> None:
    gate = FrameGate(PoseGate(OOD, 1.0), OdomCheckConfig(recovery_frames=1))
    est = _estimate(0.1)
    assert gate.judge(est, _pose(0.0), est.covariance, _pose(0.0), GateLimits()).passed
    jump = gate.judge(est, _pose(50.0), est.covariance, _pose(1.0), GateLimits())
    assert jump.passed  # recovery_frames=1: a single frame starts a new track
    gate = FrameGate(PoseGate(OOD, 1.0), OdomCheckConfig(recovery_frames=2))
    assert not gate.judge(est, _pose(0.0), est.covariance, _pose(0.0), GateLimits()).passed  # 1 of 2
    assert gate.judge(est, _pose(1.0), est.covariance, _pose(1.0), GateLimits()).passed
    rejected = gate.judge(est, _pose(50.0), est.covariance, _pose(2.0), GateLimits())
    assert not rejected.passed and rejected.reason.startswith("odom_check: Mahalanobis distance")
    assert gate.judge(est, _pose(50.0), est.covariance, None, GateLimits()).passed  # no odometry: skipped
    out = gate.judge(_estimate(0.9), _pose(2.0), est.covariance, _pose(2.0), GateLimits())
    assert out.reason.startswith("out_of_scene")
