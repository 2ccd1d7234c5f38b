"""Is the published covariance honest? Coverage, NEES, rank correlation, sparsification.

Pure numpy. Position only (the first 3x3 block of the 6x6 pose covariance):

* ``nees``: e^T C^-1 e per frame, e = estimate - truth. A consistent covariance gives
  chi-square with 3 degrees of freedom (mean 3).
* coverage: the fraction of frames inside their own 68 / 95 / 99 % ellipse
  (NEES <= the chi-square quantile); honest = the nominal level.
* ``spearman``: the rank correlation of sigma = sqrt(trace C) with the translation error.
* sparsification: the median error of the x % most confident frames (smallest sigma)
  against x, next to the oracle that keeps the x % with the smallest true error.
"""
from __future__ import annotations

import math

import numpy as np

COVERAGE_LEVELS = (0.68, 0.95, 0.99)
SPARSIFICATION_FRACTIONS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # 5 % .. 100 %
POSITION_DOF = 3


def chi2_cdf_3dof(x: np.ndarray | float) -> np.ndarray:
    """CDF of the chi-square distribution with 3 degrees of freedom (closed form)."""
    x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    root = np.sqrt(x / 2.0)
    erf = np.vectorize(math.erf, otypes=[np.float64])(root)
    return erf - np.sqrt(2.0 * x / math.pi) * np.exp(-x / 2.0)


def chi2_quantile_3dof(level: float) -> float:
    """The chi-square (3 dof) quantile at ``level`` in (0, 1), by bisection on the CDF."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"coverage level must be in (0, 1), got {level}")
    lo, hi = 0.0, 100.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if chi2_cdf_3dof(mid) < level else (lo, mid)
    return 0.5 * (lo + hi)


def position_nees(errors_N3: np.ndarray, covariances_N33: np.ndarray) -> np.ndarray:
    """e^T C^-1 e per frame (C: the 3x3 position covariances)."""
    e = np.asarray(errors_N3, dtype=np.float64)
    C = np.asarray(covariances_N33, dtype=np.float64)
    return np.einsum("ni,ni->n", e, np.linalg.solve(C, e[..., None])[..., 0])


def position_sigma(covariances_N33: np.ndarray) -> np.ndarray:
    """sqrt(trace C) per frame: one 'metres of uncertainty' number."""
    return np.sqrt(np.trace(np.asarray(covariances_N33, dtype=np.float64), axis1=1, axis2=2))


def coverage(nees: np.ndarray, levels: tuple[float, ...] = COVERAGE_LEVELS) -> dict[float, float]:
    """Fraction of frames with NEES within each level's chi-square (3 dof) quantile."""
    n = np.asarray(nees, dtype=np.float64)
    return {lv: float(np.mean(n <= chi2_quantile_3dof(lv))) if len(n) else float("nan") for lv in levels}


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    sorted_v = values[order]
    ranks = np.empty(len(values))
    boundaries = np.flatnonzero(np.diff(sorted_v) != 0) + 1
    for start, stop in zip(np.r_[0, boundaries], np.r_[boundaries, len(values)]):
        ranks[order[start:stop]] = 0.5 * (start + stop - 1)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant (no ranking at all)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) < 2:
        return float("nan")
    rx, ry = _average_ranks(x), _average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry / denom) if denom > 0 else float("nan")


def sparsification(confidence_order_key: np.ndarray, errors: np.ndarray,
                   fractions: tuple[float, ...] = SPARSIFICATION_FRACTIONS) -> np.ndarray:
    """Median error of the ``x`` fraction of frames with the smallest key, for each x."""
    e = np.asarray(errors, dtype=np.float64)[np.argsort(confidence_order_key, kind="stable")]
    return np.array([float(np.median(e[:max(1, int(round(f * len(e))))])) for f in fractions])


def uncertainty_summary(est_positions: np.ndarray, gt_positions: np.ndarray,
                        covariances: np.ndarray) -> dict[str, object]:
    """All honesty metrics over the frames with a finite estimate and covariance.

    ``covariances``: (N, 6, 6) pose or (N, 3, 3) position covariances. Keys are flat
    (``coverage_95``, ...) so they sit in ``summary.json`` next to the error metrics.
    """
    C = np.asarray(covariances, dtype=np.float64)[:, :3, :3]
    e = np.asarray(est_positions, dtype=np.float64) - np.asarray(gt_positions, dtype=np.float64)
    ok = np.isfinite(e).all(axis=1) & np.isfinite(C).all(axis=(1, 2))
    e, C = e[ok], C[ok]
    out: dict[str, object] = {"uncertainty_frames": int(ok.sum())}
    if not len(e):
        return out
    nees = position_nees(e, C)
    sigma = position_sigma(C)
    err = np.linalg.norm(e, axis=1)
    for level, frac in coverage(nees).items():
        out[f"coverage_{round(100 * level)}"] = frac
    out["mean_nees"] = float(np.mean(nees))
    out["median_nees"] = float(np.median(nees))
    out["spearman_sigma_error"] = spearman(sigma, err)
    out["median_sigma_m"] = float(np.median(sigma))
    out["distinct_covariances"] = int(len(np.unique(np.round(C.reshape(len(C), -1), 9), axis=0)))
    curve, oracle = sparsification(sigma, err), sparsification(err, err)
    out["sparsification_fractions"] = list(SPARSIFICATION_FRACTIONS)
    out["sparsification_median_m"] = curve.tolist()
    out["sparsification_oracle_median_m"] = oracle.tolist()
    # area between the curve and the oracle, relative to the overall median (0 = oracle ranking)
    out["sparsification_excess"] = float(np.mean(curve - oracle) / max(float(np.median(err)), 1e-12))
    return out


def format_uncertainty(summary: dict[str, object]) -> str:
    """The printed lines of ``uncertainty_summary`` (empty when it has no frames)."""
    if "mean_nees" not in summary:
        return ""
    inside = " / ".join(f"{100 * float(summary[f'coverage_{round(100 * lv)}']):.1f}" for lv in COVERAGE_LEVELS)
    nominal = " / ".join(f"{round(100 * lv)}" for lv in COVERAGE_LEVELS)
    rho = float(summary["spearman_sigma_error"])
    return "\n".join([
        f"covariance: inside own {nominal} % ellipse: {inside} % of {int(summary['uncertainty_frames'])} "
        f"frames (honest: {nominal})",
        f"covariance: mean NEES {float(summary['mean_nees']):.2f} (honest: 3.00), Spearman(sigma, error) "
        f"{'n/a' if math.isnan(rho) else f'{rho:.2f}'}, median sigma {float(summary['median_sigma_m']):.2f} m, "
        f"{int(summary['distinct_covariances'])} distinct",
    ])
