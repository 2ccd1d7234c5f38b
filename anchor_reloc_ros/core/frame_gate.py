"""One frame's gate decision: ``PoseGate`` (scene, confidence, std), then the odometry check.

Shared by the node and ``bag-eval`` so offline numbers are the node's. Call ``judge`` in
publishing order: the odometry check keeps a window of recent estimates.

Where the odometry check runs (it is on and the stamp has odometry), it replaces the
checkpoint-calibrated std test (``max_position_std_factor``) for frames whose
out-of-scene score is within ``vote_max_ood_score``: on the validation walk and the demo
bag that test removed about 40 % of the frames under 2 m and no jump the vote did not
remove already. Frames between that and ``max_ood_score`` keep the std test (uniform
noise that passes the scene test lands there, and the vote alone let 6 % of it through).
An explicit ``max_position_std`` still applies, to the covariance that would be published
(for an agreed estimate, the agreed one below). Only estimates that pass the scene and
confidence tests vote.

When the estimate disagrees with the place the vote agrees on, another of the frame's
hypotheses near that place may be published instead (re-decoding, see odom_check);
``GateDecision.position_shift`` then moves the published pose onto it.

An estimate the vote agreed on is published with an agreed position covariance in place
of the mixture one: once odometry confirms the place, the along-route spread over wrong
anchors no longer applies. It is ``C_agreed + g r r^T``: ``r`` the estimate's vote residual,
its distance from the place the estimates it agrees with give (``OdomVerdict.residual``),
and ``C_agreed``, ``g`` fitted on the validation frames the vote agreed on
(``UncertaintyCalibration.agreed_position_cov`` / ``.agreed_residual_gain``). On the
bundled demo bag the residual ranks the published poses' errors with a Spearman of 0.75,
where the one shared covariance before it ranked them at 0.13.

With ``fusion_gain`` K (``UncertaintyCalibration.agreed_fusion_gain``, ``odom_fuse``), an
agreed estimate is published at ``position - K r`` instead: the inverse-variance fusion of
the image's estimate and the place the agreeing estimates give, ``K = A (A + B)^-1`` with
A, B their error covariances on the validation frames. Its error is ``(e - r) + (I - K) r``,
so its covariance is ``C_agreed + g (I - K) r r^T (I - K)^T`` (both fitted for it). The
published pose then depends on earlier images through odometry: a filter that fuses it with
the same odometry counts that odometry twice (``odom_fuse: false`` publishes the image's own).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .decoding import UncertaintyCalibration
from .estimate import PoseEstimate
from .gate import GateDecision, GateLimits, PoseGate, position_std
from .geometry import xyz_tuple
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
    """``odom_cov``: the odometry check's per-estimate position covariance (see odom_check);
    ``agreed_cov``: the position covariance of an estimate the vote agreed on (None: keep the
    estimate's own)."""

    def __init__(self, gate: PoseGate, odom: OdomCheckConfig | None = None,
                 odom_cov: np.ndarray | None = None, agreed_cov: np.ndarray | None = None,
                 residual_gain: float = 0.0, fusion_gain: np.ndarray | None = None) -> None:
        self.gate = gate
        self.odom = OdomConsistency(odom, odom_cov) if odom is not None else None
        self.agreed_cov = None if agreed_cov is None else np.asarray(agreed_cov, dtype=np.float64).reshape(3, 3)
        self.residual_gain = float(residual_gain)
        # K of the odometry fusion (zero: publish the image's own estimate)
        self.fusion_gain = np.zeros((3, 3)) if fusion_gain is None else \
            np.asarray(fusion_gain, dtype=np.float64).reshape(3, 3)

    def published_covariance(self, covariance_6x6: np.ndarray, estimate_covariance_6x6: np.ndarray,
                             decision: GateDecision) -> np.ndarray:
        """The covariance to publish: ``covariance_6x6`` (the estimate's, possibly carried to
        the base frame) with the estimate's position block replaced by the agreed one when the
        vote agreed. Carrying through a lever arm adds terms from the rotation block only, so
        swapping the camera's position block shifts the base's by the same difference."""
        if not decision.agreed or self.agreed_cov is None:
            return covariance_6x6
        out = np.array(covariance_6x6, dtype=np.float64).reshape(6, 6)
        out[:3, :3] += self.agreed_position_cov(decision.vote_residual) \
            - np.asarray(estimate_covariance_6x6, dtype=np.float64).reshape(6, 6)[:3, :3]
        return 0.5 * (out + out.T)

    def agreed_position_cov(self, vote_residual: tuple[float, float, float]) -> np.ndarray:
        """The agreed covariance plus gain x u u^T, u = (I - K) r the part of the pose's vote
        residual r the fusion leaves (r itself without fusion): a pose far from the place its
        agreeing estimates put it is that much less certain."""
        u = np.asarray(vote_residual, dtype=np.float64) @ (np.eye(3) - self.fusion_gain).T
        return self.agreed_cov + self.residual_gain * np.outer(u, u)

    def judge(self, est: PoseEstimate, T_map_base: np.ndarray, T_odom_base: np.ndarray | None,
              limits: GateLimits) -> GateDecision:
        """``T_odom_base`` None: no odometry at this stamp, the odometry check is skipped."""
        voting = self.odom is not None and T_odom_base is not None
        decision = self.gate.check(est, replace(limits, max_position_std_factor=0.0, max_position_std=0.0)
                                   if voting else limits)
        limit = self.odom.config.vote_max_ood_score if voting else 0.0
        trusted = limit <= 0 or decision.ood_score <= limit    # nan (no calibration): not trusted
        if voting and not trusted:
            decision = self.gate.check(est, limits)           # a doubtful frame keeps the std test
        if not decision.passed or not voting:
            return decision
        order = np.argsort(-np.asarray(est.hypothesis_confidences), kind="stable")
        order = order[order != est.anchor_index]             # the argmax is the estimate itself
        lever = np.asarray(T_map_base, dtype=np.float64)[:3, 3] - est.position   # camera -> base, map frame
        verdict = self.odom.check(T_map_base, T_odom_base, est.hypotheses[order] + lever if trusted else None)
        if not verdict.accepted:
            return replace(decision, passed=False, reason=verdict.reason)
        shift = -self.fusion_gain @ np.asarray(verdict.residual)       # the odometry fusion (0 without)
        agreed = replace(decision, agreed=True, vote_residual=verdict.residual)
        if verdict.chosen >= 0:
            anchor = int(order[verdict.chosen])
            shift = shift + est.hypotheses[anchor] - est.position
            agreed = replace(agreed, redecoded_anchor=anchor)
        agreed = replace(agreed, position_shift=xyz_tuple(shift))
        # an explicit std limit judges the covariance that would be published
        std = position_std(self.published_covariance(est.covariance, est.covariance, agreed))
        agreed = replace(agreed, position_std=std)
        if limits.max_position_std > 0 and not std <= limits.max_position_std:
            return replace(agreed, passed=False, agreed=False,
                           reason=f"uncertain: agreed position std {std:.2f} m > {limits.max_position_std:g} m")
        return agreed


def shifted(T: np.ndarray, decision: GateDecision) -> np.ndarray:
    """``T`` (4x4, map frame) moved by the decision's shift, re-decoding and odometry fusion (a
    copy; ``T`` when none)."""
    if not any(decision.position_shift):
        return T
    out = np.array(T, dtype=np.float64)
    out[:3, 3] += decision.position_shift
    return out


def frame_gate_for(metadata: dict, calibration: UncertaintyCalibration,
                   odom: OdomCheckConfig | None) -> FrameGate:
    """The node's and ``bag-eval``'s whole gate for one checkpoint (``odom`` None: no odometry check)."""
    c = calibration
    fused = odom is not None and odom.fuse and c.agreed_fusion_gain is not None and c.fused_position_cov is not None
    agreed = (c.fused_position_cov, c.fused_residual_gain, c.agreed_fusion_gain) if fused \
        else (c.agreed_position_cov, c.agreed_residual_gain, None)
    return FrameGate(pose_gate_for(metadata, c), odom, c.odometry_check_cov(), *agreed)

