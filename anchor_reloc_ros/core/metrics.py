"""Pose error metrics. A missing or failed estimate counts as infinite error."""
from __future__ import annotations

import numpy as np

from .geometry import quat_angle_deg

# (translation m, rotation deg) accuracy thresholds reported everywhere.
ACCURACY_THRESHOLDS: tuple[tuple[float, float], ...] = ((0.05, 5.0), (0.25, 2.0), (0.5, 5.0), (2.0, 5.0))
# Position-only thresholds (m): the share of frames within them, whatever the rotation error.
POSITION_THRESHOLDS_M: tuple[float, ...] = (0.5, 2.0, 5.0)


def pose_errors(est_positions: np.ndarray, est_quats_wxyz: np.ndarray,
                gt_positions: np.ndarray, gt_quats_wxyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame translation error (m) and rotation error (deg).

    Rows of the estimates that are NaN (no estimate) give ``inf``.
    """
    est_p = np.asarray(est_positions, dtype=np.float64)
    est_q = np.asarray(est_quats_wxyz, dtype=np.float64)
    missing = ~np.isfinite(est_p).all(axis=1) | ~np.isfinite(est_q).all(axis=1)
    t_err = np.linalg.norm(est_p - np.asarray(gt_positions, dtype=np.float64), axis=1)
    r_err = np.full(len(est_q), np.inf)
    ok = ~missing
    if ok.any():
        r_err[ok] = quat_angle_deg(est_q[ok], np.asarray(gt_quats_wxyz, dtype=np.float64)[ok])
    t_err[missing] = np.inf
    return t_err, r_err


def accuracy_key(t_m: float, r_deg: float) -> str:
    return f"acc_{t_m:g}m_{r_deg:g}deg"


def within_key(t_m: float) -> str:
    return f"within_{t_m:g}m"


def summarize_errors(t_err: np.ndarray, r_err: np.ndarray) -> dict[str, float]:
    """Medians, means (over finite errors, with the failure count) and accuracies."""
    t = np.asarray(t_err, dtype=np.float64)
    r = np.asarray(r_err, dtype=np.float64)
    n = len(t)
    finite = np.isfinite(t) & np.isfinite(r)
    out: dict[str, float] = {
        "frames": float(n),
        "failed": float(n - finite.sum()),
        # medians include failures as +inf, so they can only get worse, never hidden
        "median_translation_m": float(np.median(t)) if n else float("inf"),
        "median_rotation_deg": float(np.median(r)) if n else float("inf"),
        "mean_translation_m": float(t[finite].mean()) if finite.any() else float("inf"),
        "mean_rotation_deg": float(r[finite].mean()) if finite.any() else float("inf"),
        "rmse_translation_m": float(np.sqrt(np.mean(t[finite] ** 2))) if finite.any() else float("inf"),
    }
    for tm, rd in ACCURACY_THRESHOLDS:
        out[accuracy_key(tm, rd)] = float(np.mean((t < tm) & (r < rd))) if n else 0.0
    for tm in POSITION_THRESHOLDS_M:
        out[within_key(tm)] = float(np.mean(t < tm)) if n else 0.0
    return out


def format_summary(summary: dict[str, float]) -> str:
    lines = [
        f"frames: {int(summary['frames'])} (failed: {int(summary['failed'])})",
        f"median error: {summary['median_translation_m']:.3f} m, {summary['median_rotation_deg']:.2f} deg",
        f"mean error:   {summary['mean_translation_m']:.3f} m, {summary['mean_rotation_deg']:.2f} deg",
    ]
    for tm, rd in ACCURACY_THRESHOLDS:
        lines.append(f"accuracy (<{tm:g} m, <{rd:g} deg): {100.0 * summary[accuracy_key(tm, rd)]:.1f}%")
    shares = " / ".join(f"{100.0 * summary[within_key(tm)]:.1f}" for tm in POSITION_THRESHOLDS_M)
    limits = " / ".join(f"{tm:g}" for tm in POSITION_THRESHOLDS_M)
    lines.append(f"within {limits} m (position only): {shares} %")
    return "\n".join(lines)
