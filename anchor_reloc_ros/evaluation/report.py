"""Write an evaluation's outputs: summary JSON, per-frame CSV, TUM files and plots.

Shared by ``anchor-reloc eval`` and ``anchor-reloc bag-eval`` so both report the
same metrics in the same files: the errors and how honest the published covariance is
(``evaluation.uncertainty``). A frame without an estimate is kept with NaN pose
and infinite error.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.estimate import PoseEstimate
from ..core.metrics import format_summary, pose_errors, summarize_errors
from ..data.tum import write_tum
from ..core.uncertainty import format_uncertainty, position_sigma, uncertainty_summary


@dataclass
class EvaluationResult:
    names: list[str]
    timestamps: np.ndarray       # (N,) seconds
    est_positions: np.ndarray    # (N, 3), NaN where missing
    est_quats: np.ndarray        # (N, 4), NaN where missing
    gt_positions: np.ndarray
    gt_quats: np.ndarray
    anchor_index: np.ndarray     # (N,) -1 when none
    nearest_anchor: np.ndarray   # (N,) anchor nearest to the ground truth, -1 when none
    confidence: np.ndarray
    inference_ms: np.ndarray
    anchors_world: np.ndarray    # (A, 3)
    translation_error: np.ndarray
    rotation_error: np.ndarray
    summary: dict[str, float]    # error metrics + uncertainty_summary (coverage, NEES, ...)
    covariances: np.ndarray      # (N, 6, 6) published pose covariances, NaN where missing


def collect(names: Sequence[str], timestamps: Sequence[float], estimates: Sequence[PoseEstimate | None],
            gt_positions: np.ndarray, gt_quats: np.ndarray, anchors_world: np.ndarray) -> EvaluationResult:
    n = len(estimates)
    est_p = np.full((n, 3), np.nan)
    est_q = np.full((n, 4), np.nan)
    anchor = np.full(n, -1)
    conf = np.zeros(n)
    ms = np.full(n, np.nan)
    cov = np.full((n, 6, 6), np.nan)
    for i, e in enumerate(estimates):
        if e is not None:
            est_p[i], est_q[i], cov[i] = e.position, e.quat_wxyz, e.covariance
            anchor[i], conf[i], ms[i] = e.anchor_index, e.anchor_confidence, e.inference_ms
    gt_p = np.asarray(gt_positions, dtype=np.float64)
    if len(anchors_world):
        nearest = np.argmin(np.linalg.norm(gt_p[:, None, :] - anchors_world[None], axis=2), axis=1)
    else:
        nearest = np.full(n, -1)
    t_err, r_err = pose_errors(est_p, est_q, gt_p, gt_quats)
    summary = {**summarize_errors(t_err, r_err), **uncertainty_summary(est_p, gt_p, cov)}
    return EvaluationResult(list(names), np.asarray(timestamps, dtype=np.float64), est_p, est_q, gt_p,
                            np.asarray(gt_quats, dtype=np.float64), anchor, nearest, conf, ms,
                            np.asarray(anchors_world), t_err, r_err, summary, cov)


def write_report(result: EvaluationResult, out: Path, title: str, extra: dict | None = None,
                 plots: bool = True) -> dict[str, Path]:
    """Write every output into ``out``; returns the paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"summary": out / "summary.json", "frames": out / "frames.csv",
             "estimate_tum": out / "estimate.tum", "groundtruth_tum": out / "groundtruth.tum"}
    summary = dict(result.summary)
    if np.isfinite(result.inference_ms).any():
        summary["median_inference_ms"] = float(np.nanmedian(result.inference_ms))
    summary.update(extra or {})
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    sigma = position_sigma(result.covariances[:, :3, :3])  # NaN where no estimate
    with open(paths["frames"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "timestamp", "translation_error_m", "rotation_error_deg",
                    "est_x", "est_y", "est_z", "est_qw", "est_qx", "est_qy", "est_qz",
                    "gt_x", "gt_y", "gt_z", "gt_qw", "gt_qx", "gt_qy", "gt_qz",
                    "chosen_anchor", "nearest_anchor", "confidence", "inference_ms", "position_sigma_m"])
        for i, name in enumerate(result.names):
            w.writerow([name, f"{result.timestamps[i]:.9f}", f"{result.translation_error[i]:.6f}",
                        f"{result.rotation_error[i]:.6f}",
                        *(f"{v:.6f}" for v in result.est_positions[i]), *(f"{v:.8f}" for v in result.est_quats[i]),
                        *(f"{v:.6f}" for v in result.gt_positions[i]), *(f"{v:.8f}" for v in result.gt_quats[i]),
                        int(result.anchor_index[i]), int(result.nearest_anchor[i]),
                        f"{result.confidence[i]:.6f}", f"{result.inference_ms[i]:.3f}", f"{sigma[i]:.6f}"])
    # TUM files for evo: the estimate file holds only frames that have an estimate.
    ok = np.isfinite(result.est_positions).all(axis=1)
    write_tum(paths["estimate_tum"], result.timestamps[ok], result.est_positions[ok], result.est_quats[ok])
    write_tum(paths["groundtruth_tum"], result.timestamps, result.gt_positions, result.gt_quats)
    if plots:
        from .plots import plot_error_cdf, plot_sparsification, plot_top_view

        paths["top_view"] = plot_top_view(result, out / "top_view.png", title)
        paths["error_cdf"] = plot_error_cdf(result, out / "error_cdf.png", title)
        if "sparsification_median_m" in result.summary:
            paths["sparsification"] = plot_sparsification(result, out / "sparsification.png", title)
    return paths


def print_summary(result: EvaluationResult, header: str) -> None:
    print(header)
    print(format_summary(result.summary))
    honesty = format_uncertainty(result.summary)
    if honesty:
        print(honesty)
