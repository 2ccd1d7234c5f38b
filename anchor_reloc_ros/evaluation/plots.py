"""PNG plots of an evaluation: a top view, error CDFs, error over time, sparsification (matplotlib, no display)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .report import EvaluationResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Lay out, write the PNG and free the figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return Path(path)


def horizontal_axes(points: np.ndarray) -> np.ndarray:
    """(2, 3) the two directions of largest spread: the top-view plane whatever is up."""
    P = np.asarray(points, dtype=np.float64)
    P = P[np.isfinite(P).all(axis=1)]
    if len(P) < 3:
        return np.eye(3)[:2]
    _, vecs = np.linalg.eigh(np.cov((P - P.mean(axis=0)).T))
    return vecs[:, ::-1][:, :2].T


def plot_top_view(result: "EvaluationResult", path: Path, title: str, max_links: int = 400) -> Path:
    """Ground truth, estimates, anchors, and a line from each estimate to its chosen anchor."""
    plt = _pyplot()
    axes = horizontal_axes(result.gt_positions)
    gt = result.gt_positions @ axes.T
    est = result.est_positions @ axes.T
    fig, ax = plt.subplots(figsize=(8, 7))
    if len(result.anchors_world):
        anc = result.anchors_world @ axes.T
        step = max(1, len(est) // max_links)
        for i in range(0, len(est), step):
            a = result.anchor_index[i]
            if a >= 0 and np.isfinite(est[i]).all():
                ax.plot([est[i, 0], anc[a, 0]], [est[i, 1], anc[a, 1]], color="0.8", lw=0.5, zorder=1)
        ax.scatter(anc[:, 0], anc[:, 1], marker="^", s=30, c="tab:orange", label="anchors", zorder=3)
    ax.plot(gt[:, 0], gt[:, 1], "-", color="tab:green", lw=1.2, label="ground truth", zorder=2)
    ok = np.isfinite(est).all(axis=1)
    ax.scatter(est[ok, 0], est[ok, 1], s=6, c="tab:blue", label="estimate", zorder=4)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("horizontal axis 1 (m)")
    ax.set_ylabel("horizontal axis 2 (m)")
    s = result.summary
    ax.set_title(f"{title}\nmedian {s['median_translation_m']:.2f} m / {s['median_rotation_deg']:.1f} deg")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_error_cdf(result: "EvaluationResult", path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, axs = plt.subplots(1, 2, figsize=(10, 4))
    n = len(result.translation_error)
    for ax, err, unit in ((axs[0], result.translation_error, "m"), (axs[1], result.rotation_error, "deg")):
        e = np.sort(err)
        finite = np.isfinite(e)
        ax.plot(e[finite], np.arange(1, finite.sum() + 1) / max(n, 1), color="tab:blue")
        ax.set_xlabel(f"error ({unit})")
        ax.set_ylabel("fraction of frames")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        if finite.any():
            ax.set_xlim(0, float(np.percentile(e[finite], 98)) * 1.05 + 1e-9)
    axs[0].set_title("translation error CDF")
    axs[1].set_title("rotation error CDF")
    fig.suptitle(title)
    return _save(fig, path)


def plot_error_over_time(result: "EvaluationResult", path: Path, title: str) -> Path:
    """Translation and rotation error against time; frames without an estimate are marked."""
    plt = _pyplot()
    t = result.timestamps - (result.timestamps.min() if len(result.timestamps) else 0.0)
    fig, axs = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    for ax, err, unit in ((axs[0], result.translation_error, "m"), (axs[1], result.rotation_error, "deg")):
        finite = np.isfinite(err)
        ax.plot(t[finite], err[finite], ".-", color="tab:blue", ms=3, lw=0.8)
        if (~finite).any():
            top = float(err[finite].max()) if finite.any() else 1.0
            ax.scatter(t[~finite], np.full((~finite).sum(), top), marker="x", c="tab:red",
                       label="no estimate", zorder=3)
            ax.legend(loc="upper right", fontsize=8)
        ax.set_ylabel(f"error ({unit})")
        ax.grid(alpha=0.3)
    axs[1].set_xlabel("time since first frame (s)")
    axs[0].set_title(title)
    return _save(fig, path)


def plot_sparsification(result: "EvaluationResult", path: Path, title: str) -> Path:
    """Median error of the most confident x % (by published sigma) against x, with the oracle."""
    plt = _pyplot()
    s = result.summary
    x = 100.0 * np.asarray(s["sparsification_fractions"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, s["sparsification_median_m"], "o-", ms=3, color="tab:blue",
            label="kept by smallest sigma = sqrt(trace cov)")
    ax.plot(x, s["sparsification_oracle_median_m"], "--", color="tab:green", label="oracle (kept by true error)")
    ax.set_xlabel("frames kept, most confident first (%)")
    ax.set_ylabel("median translation error (m)")
    ax.set_xlim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    rho = float(s["spearman_sigma_error"])
    ax.set_title(f"{title}\nsparsification: Spearman(sigma, error) {rho:.2f}, "
                 f"inside own 99 % ellipse {100 * float(s['coverage_99']):.0f}%", fontsize=9)
    return _save(fig, path)
