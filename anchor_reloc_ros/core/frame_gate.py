"""One frame's gate decision: ``PoseGate`` (scene, confidence, std), then the odometry check.

Shared by the node and ``bag-eval`` so offline numbers are the node's. Call ``judge`` in
publishing order: the odometry check keeps a track.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .decoding import UncertaintyCalibration
from .estimate import PoseEstimate
from .gate import GateDecision, GateLimits, PoseGate
from .ood import OodCalibration
from .odom_check import OdomCheckConfig, OdomConsistency

REASON_KINDS = ("out_of_scene", "low_confidence", "uncertain", "odom_check")


def pose_gate_for(metadata: dict, calibration: UncertaintyCalibration) -> PoseGate:
    """The gate of one checkpoint: its out-of-scene calibration and calibrated std limit."""
    return PoseGate(OodCalibration.from_metadata(metadata), calibration.position_std_limit)


def reason_kind(reason: str) -> str:
    """``out_of_scene`` / ``low_confidence`` / ``uncertain`` / ``odom_check`` of a reason."""
    return reason.split(":", 1)[0]


class FrameGate:
    def __init__(self, gate: PoseGate, odom: OdomCheckConfig | None = None) -> None:
        self.gate = gate
        self.odom = OdomConsistency(odom) if odom is not None else None

    def judge(self, est: PoseEstimate, T_map_base: np.ndarray, covariance_6x6: np.ndarray,
              T_odom_base: np.ndarray | None, limits: GateLimits) -> GateDecision:
        """``T_odom_base`` None: no odometry at this stamp, the odometry check is skipped."""
        decision = self.gate.check(est, limits)
        if not decision.passed or self.odom is None or T_odom_base is None:
            return decision
        verdict = self.odom.check(T_map_base, covariance_6x6, T_odom_base)
        if verdict.accepted:
            return decision
        return replace(decision, passed=False, reason=verdict.reason)
