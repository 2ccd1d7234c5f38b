"""One frame's gate decision: ``PoseGate`` (scene, confidence, std), then the odometry check.

Shared by the node and ``bag-eval`` so offline numbers are the node's. Call ``judge`` in
publishing order: the odometry check keeps a window of recent estimates.

Where the odometry check runs (it is on and the stamp has odometry), it replaces the
checkpoint-calibrated std test (``max_position_std_factor``): on the validation walk and
the demo bag that test removed about 40 % of the frames under 2 m and no jump the vote
did not remove already. An explicit ``max_position_std`` still applies. Only estimates
that pass the scene and confidence tests vote.
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
    """``odom_cov``: the odometry check's per-estimate position covariance (see odom_check)."""

    def __init__(self, gate: PoseGate, odom: OdomCheckConfig | None = None,
                 odom_cov: np.ndarray | None = None) -> None:
        self.gate = gate
        self.odom = OdomConsistency(odom, odom_cov) if odom is not None else None

    def judge(self, est: PoseEstimate, T_map_base: np.ndarray, T_odom_base: np.ndarray | None,
              limits: GateLimits) -> GateDecision:
        """``T_odom_base`` None: no odometry at this stamp, the odometry check is skipped."""
        voting = self.odom is not None and T_odom_base is not None
        decision = self.gate.check(est, replace(limits, max_position_std_factor=0.0) if voting else limits)
        if not decision.passed or not voting:
            return decision
        verdict = self.odom.check(T_map_base, T_odom_base)
        if verdict.accepted:
            return decision
        return replace(decision, passed=False, reason=verdict.reason)


def frame_gate_for(metadata: dict, calibration: UncertaintyCalibration,
                   odom: OdomCheckConfig | None) -> FrameGate:
    """The node's and ``bag-eval``'s whole gate for one checkpoint (``odom`` None: no odometry check)."""
    return FrameGate(pose_gate_for(metadata, calibration), odom, calibration.odometry_check_cov())

