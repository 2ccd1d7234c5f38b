"""The node's gate, run offline on ``bag-eval``'s estimates (accuracy vs frames published).

The same ``FrameGate`` as the node, at the node's defaults: the out-of-scene score,
the calibrated confidence, the position std and, when the bag has ``odom -> base_link``
on ``/tf`` and a static ``base_link -> camera`` chain on ``/tf_static``, the odometry
check on the base pose. ``gate_report`` gives the numbers for ``summary.json``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.decoding import UncertaintyCalibration
from ..core.frame_gate import REASON_KINDS, frame_gate_for, reason_kind
from ..core.gate import GateDecision, GateLimits
from ..core.geometry import invert_transform, transform_from_pq
from ..core.odom_check import OdomCheckConfig
from ..core.trajectory import Trajectory
from ..core.uncertainty import uncertainty_summary
from ..data.rosbag_ground_truth import _from_tf_message, read_gt_topic
from ..data.rosbag_io import BagError, BagReader
from .bag_eval import FrameEstimates

ODOM_FRAME, BASE_FRAME = "odom", "base_link"
ODOM_MAX_DT_S = 0.2


@dataclass
class BagOdometry:
    odom_base: Trajectory     # T_odom_base over time
    T_cam_base: np.ndarray    # 4x4, static
    camera_frame: str


def _static_camera(bag: BagReader, base_frame: str) -> tuple[np.ndarray, str] | None:
    """``T_base_cam`` of the unique leaf below ``base_frame`` in /tf_static, or None."""
    edges: dict[str, tuple[str, np.ndarray]] = {}
    try:
        connections = bag.connections("/tf_static", ("tf2_msgs/msg/TFMessage",), "static TF")
    except BagError:
        return None
    for conn, bag_ns, raw in bag.messages(connections):
        for s in _from_tf_message(bag.deserialize(raw, conn.msgtype), bag_ns):
            edges[s.child] = (s.parent, transform_from_pq(np.array(s.position), np.array(s.quat_wxyz)))
    parents = {p for p, _ in edges.values()}
    leaves = []
    for child in edges:
        if child in parents:
            continue
        T, frame = np.eye(4), child
        while frame in edges and frame != base_frame:
            parent, T_pc = edges[frame]
            T, frame = T_pc @ T, parent
        if frame == base_frame:
            leaves.append((T, child))
    return leaves[0] if len(leaves) == 1 else None


def read_bag_odometry(bag: BagReader, odom_frame: str = ODOM_FRAME,
                      base_frame: str = BASE_FRAME) -> BagOdometry | None:
    """The bag's odometry and camera extrinsic; None when either is missing."""
    camera = _static_camera(bag, base_frame)
    if camera is None:
        return None
    try:
        traj, _ = read_gt_topic(bag, "/tf", child_frame=base_frame, parent_frame=odom_frame)
    except BagError:
        return None
    T_base_cam, camera_frame = camera
    return BagOdometry(traj, invert_transform(T_base_cam), camera_frame)


def gate_frames(frames: FrameEstimates, metadata: dict, calibration: UncertaintyCalibration, limits: GateLimits,
                odometry: BagOdometry | None, odom_config: OdomCheckConfig | None
                ) -> tuple[list[GateDecision | None], list[np.ndarray | None]]:
    """Decisions in stamp order (``frames`` sorted) and the camera-pose covariance the node
    would publish with each; None for frames without an estimate."""
    gate = frame_gate_for(metadata, calibration, odom_config if odometry else None)
    stamps_s = np.asarray(frames.stamps_ns, dtype=np.float64) * 1e-9
    if odometry is not None:
        p, q, valid = odometry.odom_base.interpolate(stamps_s, ODOM_MAX_DT_S)
    out: list[GateDecision | None] = []
    covariances: list[np.ndarray | None] = []
    for i, est in enumerate(frames.estimates):
        if est is None:
            out.append(None)
            covariances.append(None)
            continue
        T_map_body, T_odom_base = est.transform(), None
        if odometry is not None:
            T_map_body = T_map_body @ odometry.T_cam_base
            T_odom_base = transform_from_pq(p[i], q[i]) if valid[i] else None
        out.append(gate.judge(est, T_map_body, T_odom_base, limits))
        covariances.append(gate.published_covariance(est.covariance, est.covariance, out[-1]))
    return out, covariances


def gate_report(decisions: list[GateDecision | None], errors_m: np.ndarray, odometry: bool,
                limits: GateLimits, position_errors: np.ndarray | None = None,
                covariances: list[np.ndarray | None] | None = None) -> dict[str, object]:
    """Fraction published and the accuracy of what was published, against all frames.

    ``errors_m``: each frame's estimate error (the network's, gate off). With
    ``position_errors`` (N, 3, the same errors as vectors), a published pose the odometry
    vote re-decoded is scored where it was published, and with the gate's ``covariances``
    (what the node publishes with each frame) their honesty is reported on the published
    frames (``gate_published_poses_*``) and, when the vote agreed on any, on all frames
    (``gate_all_frames_*``). Jumps (> 20 m) count as removed when withheld or corrected."""
    published = np.array([d is not None and d.passed for d in decisions])
    err = np.asarray(errors_m, dtype=np.float64)
    vectors = None if position_errors is None else np.array(position_errors, dtype=np.float64)
    if vectors is not None:     # where the node published each frame
        for i, d in enumerate(decisions):
            if d is not None and d.passed:       # re-decoded or fused: moved (else a zero shift)
                vectors[i] += d.position_shift
    out_err = err if vectors is None else np.linalg.norm(vectors, axis=1)
    finite = np.isfinite(err)
    good, jumps = finite & (err < 2.0), finite & (err > 20.0)
    published_jump = published & (out_err > 20.0)
    redecoded = np.array([d is not None and d.passed and d.redecoded_anchor >= 0 for d in decisions])
    fused = np.array([d is not None and d.fused for d in decisions])   # odom_fuse, not re-decoded

    def median(values: np.ndarray, mask: np.ndarray) -> float:
        return float(np.median(values[mask])) if mask.any() else float("nan")

    kinds = np.array([reason_kind(d.reason) if d is not None and not d.passed else "" for d in decisions])
    reasons = {k: int((kinds == k).sum()) for k in REASON_KINDS}
    # which test withheld the good frames: the odometry check's own share is what its check is about
    n_good = max(int(good.sum()), 1)
    good_by_reason = {k: float((good & (kinds == k)).sum() / n_good) for k in REASON_KINDS}
    n = max(len(published), 1)
    return {
        "gate_limits": limits.__dict__, "gate_odom_check": odometry,
        "gate_published_fraction": float(published.sum() / n) if len(published) else 0.0,
        "gate_redecoded_fraction": float(redecoded.sum() / n),
        "gate_fused_fraction": float(fused.sum() / n),
        "gate_median_translation_m_published": median(out_err, published & finite),
        "gate_median_translation_m_all": median(err, finite),
        "gate_published_within_2m_of_all": float((published & (out_err < 2.0)).sum() / n),
        "gate_good_frames_removed_fraction": float((good & ~published).sum() / n_good),
        "gate_good_frames_removed_by_reason": good_by_reason,
        "gate_jumps_removed_fraction": float((jumps & ~published_jump).sum() / max(jumps.sum(), 1)),
        "gate_jumps_published": int(published_jump.sum()),
        "gate_withheld_by_reason": reasons,
        **_covariance_honesty("gate_published_poses_", published, vectors, covariances),
        # with the vote on, every frame's covariance is the gate's (agreed or the estimate's own)
        **(_covariance_honesty("gate_all_frames_", np.array([d is not None for d in decisions]),
                               vectors, covariances)
           if any(d is not None and d.agreed for d in decisions) else {}),
    }


def _covariance_honesty(prefix: str, rows_mask: np.ndarray, position_errors: np.ndarray | None,
                        covariances: list[np.ndarray | None] | None) -> dict[str, object]:
    """Coverage, NEES, Spearman and median sigma of the gate's covariances on the masked frames."""
    if position_errors is None or covariances is None or not rows_mask.any():
        return {}
    rows = np.flatnonzero(rows_mask)
    e = np.asarray(position_errors, dtype=np.float64)[rows]
    honesty = uncertainty_summary(e, np.zeros_like(e), np.stack([covariances[i] for i in rows]))
    keys = ("coverage_68", "coverage_95", "coverage_99", "mean_nees", "spearman_sigma_error", "median_sigma_m")
    return {prefix + k: honesty[k] for k in keys if k in honesty}


def _honesty_text(report: dict[str, object], prefix: str, what: str) -> str:
    if prefix + "coverage_99" not in report:
        return ""
    inside = " / ".join(f"{100 * float(report[f'{prefix}coverage_{lv}']):.1f}" for lv in (68, 95, 99))
    return (f"\ngate: {what} inside their own 68 / 95 / 99 % ellipse: {inside} %, mean NEES "
            f"{float(report[prefix + 'mean_nees']):.2f}, Spearman(sigma, error) "
            f"{float(report[prefix + 'spearman_sigma_error']):.2f}, median sigma "
            f"{float(report[prefix + 'median_sigma_m']):.2f} m")


def write_gate_frames(path: Path, stamps_ns: list[int], decisions: list[GateDecision | None],
                      errors_m: np.ndarray) -> Path:
    """Per frame: stamp, the estimate's error, relative out-of-scene score, position std,
    published, reason, the anchor the odometry vote re-decoded to (-1: none) and the vote
    residual (m; nan unless the vote agreed)."""
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["stamp_ns", "translation_error_m", "ood_score", "position_std_m", "published", "reason",
                    "redecoded_anchor", "vote_residual_m"])
        for stamp, d, e in zip(stamps_ns, decisions, errors_m):
            w.writerow([stamp, f"{e:.4f}", f"{d.ood_score:.4f}" if d else "nan",
                        f"{d.position_std:.4f}" if d else "nan", int(bool(d and d.passed)),
                        d.reason if d else "no estimate", d.redecoded_anchor if d else -1,
                        f"{d.vote_residual_m:.4f}" if d else "nan"])
    return Path(path)


def _by_reason_text(report: dict[str, object]) -> str:
    shares: dict[str, float] = report["gate_good_frames_removed_by_reason"]  # type: ignore[assignment]
    parts = [f"{kind.replace('_', ' ')} {100 * v:.1f} %" for kind, v in shares.items() if v > 0]
    return f" ({', '.join(parts)})" if parts else ""


def gate_line(report: dict[str, object]) -> str:
    return (f"gate: {report['gate_published_fraction']:.1%} of frames published, median error "
            f"{report['gate_median_translation_m_published']:.2f} m published vs "
            f"{report['gate_median_translation_m_all']:.2f} m all; withheld or corrected "
            f"{report['gate_jumps_removed_fraction']:.0%} of the >20 m jumps, withheld "
            f"{report['gate_good_frames_removed_fraction']:.0%} of the <2 m frames"
            + _by_reason_text(report)
            + (f" (odometry check on: {report['gate_redecoded_fraction']:.1%} of frames re-decoded, "
               f"{report['gate_fused_fraction']:.1%} fused with odometry; "
               f"{report['gate_published_within_2m_of_all']:.1%} of all frames published within 2 m)"
               if report['gate_odom_check'] else "")
            + _honesty_text(report, "gate_published_poses_", "published poses")
            + _honesty_text(report, "gate_all_frames_", "all frames, each with the covariance the gate gives it,"))


def plot_accuracy_vs_published(errors_m: np.ndarray, published: np.ndarray, scores: np.ndarray,
                               path: Path, title: str) -> Path:
    """Median error of the most in-scene x % (by out-of-scene score) against x; the gate's point."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    err = np.asarray(errors_m, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    order = np.argsort(np.where(np.isfinite(scores), scores, np.inf))
    xs = np.arange(1, len(err) + 1) / max(len(err), 1)
    ax.plot(xs * 100, [np.median(err[order[:n]]) for n in range(1, len(err) + 1)], label="by out-of-scene score")
    oracle = np.sort(err)
    ax.plot(xs * 100, [np.median(oracle[:n]) for n in range(1, len(err) + 1)], "--", label="oracle")
    if published.any():
        ax.plot([published.mean() * 100], [np.median(err[published])], "o", label="the gate (defaults)")
    ax.set_xlabel("frames published (%)")
    ax.set_ylabel("median translation error (m)")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)
