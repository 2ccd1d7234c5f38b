"""Covariance-honesty metrics on constructed cases whose answer is known."""
import math

import numpy as np
import pytest

from anchor_reloc_ros.core.uncertainty import (chi2_cdf_3dof, chi2_quantile_3dof, coverage,
                                                     format_uncertainty, position_nees, sparsification,
                                                     spearman, uncertainty_summary)


def _random_covariances(rng: np.random.Generator, n: int) -> np.ndarray:
    A = rng.normal(size=(n, 3, 3)) * rng.uniform(0.1, 10.0, size=(n, 1, 1))
    return A @ A.transpose(0, 2, 1) + 1e-3 * np.eye(3)


def _draw(rng: np.random.Generator, C: np.ndarray) -> np.ndarray:
    return np.einsum("nij,nj->ni", np.linalg.cholesky(C), rng.normal(size=(len(C), 3)))


def test_chi_square_quantiles_match_the_tables() -> None:
    # chi-square, 3 dof: 68.0 %, 95 %, 99 % points (standard tables)
    assert chi2_quantile_3dof(0.68) == pytest.approx(3.5059, abs=1e-3)
    assert chi2_quantile_3dof(0.95) == pytest.approx(7.8147, abs=1e-3)
    assert chi2_quantile_3dof(0.99) == pytest.approx(11.3449, abs=1e-3)
    assert float(chi2_cdf_3dof(0.0)) == 0.0 and float(chi2_cdf_3dof(200.0)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        chi2_quantile_3dof(1.0)


def test_errors_drawn_from_the_stated_covariance_are_honest() -> None:
    rng = np.random.default_rng(0)
    C = _random_covariances(rng, 20000)
    gt = rng.normal(size=(len(C), 3)) * 100
    est = gt + _draw(rng, C)
    s = uncertainty_summary(est, gt, C)
    assert s["coverage_68"] == pytest.approx(0.68, abs=0.01)
    assert s["coverage_95"] == pytest.approx(0.95, abs=0.006)
    assert s["coverage_99"] == pytest.approx(0.99, abs=0.003)
    assert s["mean_nees"] == pytest.approx(3.0, abs=0.1)
    assert s["median_nees"] == pytest.approx(2.366, abs=0.1)
    assert s["spearman_sigma_error"] > 0.5     # bigger ellipse, bigger error
    assert s["distinct_covariances"] == len(C) and s["uncertainty_frames"] == len(C)
    # the same errors with a 10x too small covariance: far outside their ellipses
    over = uncertainty_summary(est, gt, C / 10.0)
    assert over["coverage_95"] < 0.5 and over["mean_nees"] == pytest.approx(30.0, rel=0.05)


def test_nees_of_a_known_error() -> None:
    C = np.diag([4.0, 1.0, 0.25])[None]
    assert position_nees(np.array([[2.0, 1.0, 0.5]]), C)[0] == pytest.approx(3.0)
    assert coverage(np.array([1.0, 5.0, 10.0, 20.0]), (0.95,)) == {0.95: 0.5}


def test_spearman_known_values_ties_and_constant() -> None:
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)         # 1 - 6*4/120
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10))  # tied ranks share 1.5
    assert spearman([3, 2, 1], [1, 5, 9]) == pytest.approx(-1.0)
    assert math.isnan(spearman([2.5, 2.5, 2.5], [1, 2, 3]))                         # constant sigma: no ranking


def test_sparsification_is_the_oracle_for_a_perfect_ranking() -> None:
    err = np.arange(1.0, 11.0)
    np.testing.assert_allclose(sparsification(err, err, (0.1, 0.5, 1.0)), [1.0, 3.0, 5.5])
    np.testing.assert_allclose(sparsification(-err, err, (0.1, 0.5, 1.0)), [10.0, 8.0, 5.5])  # worst first
    C = np.eye(3)[None] * (err ** 2)[:, None, None]
    est = np.c_[err, np.zeros(10), np.zeros(10)]
    s = uncertainty_summary(est, np.zeros((10, 3)), C)
    assert s["sparsification_excess"] == pytest.approx(0.0)
    assert s["sparsification_median_m"] == s["sparsification_oracle_median_m"]
    assert len(s["sparsification_fractions"]) == len(s["sparsification_median_m"]) == 20


def test_missing_estimates_are_left_out_and_constant_covariance_reported() -> None:
    est = np.array([[1.0, 0.0, 0.0], [np.nan] * 3, [0.0, 3.0, 0.0]])
    C = np.stack([np.eye(3), np.full((3, 3), np.nan), np.eye(3)])
    s = uncertainty_summary(est, np.zeros((3, 3)), C)
    assert s["uncertainty_frames"] == 2 and s["distinct_covariances"] == 1
    assert math.isnan(s["spearman_sigma_error"])
    assert s["coverage_68"] == 0.5 and s["mean_nees"] == pytest.approx(5.0)
    assert "Spearman(sigma, error) n/a" in format_uncertainty(s) and "of 2 frames" in format_uncertainty(s)
    assert uncertainty_summary(est[1:2], np.zeros((1, 3)), C[1:2]) == {"uncertainty_frames": 0}
    assert format_uncertainty({"uncertainty_frames": 0}) == ""
