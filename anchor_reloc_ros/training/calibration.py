"""Uncertainty calibration on held-out validation frames (which the heads never fit).

``calibrate`` fits the decoder's ``UncertaintyCalibration`` from the raw head outputs
of the validation frames and their ground truth, for one decode (mode and test-time views;
the decoder's own unless told otherwise; recorded in it, so that ``auto`` decodes as fitted):

1. ``uncertainty_temperature``: from ``UNCERTAINTY_TEMPERATURES``, the one whose mixture
   covariance ranks the validation errors best (Spearman of sigma and error; the floor of
   step 2 does not change the ranking). With fewer than ``RANKING_MIN_FRAMES`` frames, or
   when no temperature ranks at all, the one whose softmax gives the anchor nearest to the
   truth the highest mean log-probability (temperature scaling). Measured on the street
   demo model: the likelihood picks 4.0, the ranking 2.0; Spearman on the test walk 0.35
   -> 0.45, on two other held-out walks 0.33 -> 0.42 and 0.36 -> 0.38, with the 99 %
   ellipses still holding 98-100 % of the frames.
2. Position floor: ``MIN_POSITION_STD_M`` + f times the residual second moment (e e^T,
   e = estimate - truth), f the smallest with none of the 68 / 95 / 99 % ellipses
   (mixture moment + floor, chi-square 3 dof) optimistic: each holds at least its level
   of the frames. The floor is scaled per frame by 1 + g (1 - point mass), the network's
   softmax mass near the published point; g from ``FLOOR_MASS_GAINS``, each with its own
   f, the one whose covariance ranks the errors best (0 with fewer than
   ``RANKING_MIN_FRAMES`` frames). On the bundled street weights (cluster, 4 views) the
   val walk picks 4 (Spearman 0.34 -> 0.36, ``calibrate``); the walks it never saw rank
   better too (``bag-eval``: the demo bag 0.38 -> 0.41, ``eval`` of the test walk 0.40 ->
   0.43, five ``make-scene --walk-seed`` walks 0.26-0.46 -> 0.31-0.49).
   With a committee (``core.model``, ``training.committee``), the committee gain c of
   ``COMMITTEE_GAINS`` (the anchored axes' variance + c d^2, d the committee's distance from
   the estimate) is chosen with it: each c gets its own floor and mass gain, and the triple
   whose covariance ranks the validation errors best wins.
3. Rotation: variance = floor * (1 + g * normalised softmax entropy), floor and g by the
   Gaussian likelihood of the rotation errors; g > 0 only when it gains more than
   ``ROTATION_GAIN_MIN_NATS`` over g = 0 (one more parameter), else the plain floor.
   The floor is then raised, if needed, until no level is optimistic (as in 2).
4. ``position_std_limit``, the gate's std limit (``max_position_std_factor`` = 1): the
   largest position std (sqrt of the largest eigenvalue) at which the frames kept, at
   least ``GATE_MIN_KEPT`` of them, hold at most ``GATE_GROSS_RATIO`` times the share of
   gross errors (wrong places: more than ``GROSS_ERROR_SPACINGS`` anchor spacings off) of
   all frames; 0 (no limit) when no std does that, i.e. when the covariance does not tell
   wrong places from right ones on validation, or when validation has no gross error.
   An earlier rule asked the kept frames for half the median error of all. It found no
   limit for the cluster decode with 4 views on the street demo model (its val-walk
   median is 2.15 m, and the half with the smallest sigma still has 1.60 m), although
   2.7 % of that half are jumps of over 20 m against 18.0 % of all frames; the
   gross-error rule gives 59.0 m there (and 58.7 m for argmax, where the median rule
   gave 61.5 m).
5. ``right_anchor_position_cov``, the odometry check's per-estimate noise: the error second
   moment of the frames whose chosen anchor is the one nearest the truth (at least
   ``RIGHT_ANCHOR_MIN_FRAMES`` of them, else the floor; PoseNet: the floor).
6. ``agreed_position_cov``, the position covariance the node publishes for an estimate the
   odometry vote agreed on: the node's gate (``core.frame_gate``, the vote at its defaults but no warm-up,
   so without re-decoding; the other tests off; the ground-truth motion between the
   validation frames as odometry) runs over the validation frames in order. Each frame it
   publishes has an error e and a vote residual r (its distance from the place the
   estimates it agrees with give, ``core.odom_check``); it gets ``minimum + f (P + r r^T)``,
   P the second moment of ``e - r`` (the error of that place), f the smallest with no
   68 / 95 / 99 % level optimistic. Stored as ``agreed_position_cov = minimum + f P`` and
   ``agreed_residual_gain = f``. On the bundled weights' val walk: std 0.85 / 2.16 / 0.51 m
   (x / y / z) at r = 0 and f = 1.30; the one covariance shared by every agreed pose before
   it had 1.81 / 3.73 / 0.09 m. z is wider because r carries each past estimate's rotation
   error over the distance travelled since it. None (gain 0) when the vote agrees on fewer
   than ``RIGHT_ANCHOR_MIN_FRAMES`` frames (and for PoseNet).
7. ``agreed_fusion_gain`` K, for the odometry fusion (``odom_fuse``): on the same frames,
   ``K = A (A + B)^-1`` with A the second moment of e and B that of ``e - r``, the
   inverse-variance fusion of the estimate and that place. The fused error is
   ``e - K r = (e - r) + u``, ``u = (I - K) r``, so ``fused_position_cov = minimum + f B`` and
   ``fused_residual_gain = f`` by step 6's rule with u for r. Bundled weights: K diagonal
   0.77 / 0.77 / 0.01 (z: the absolute-z head beats the carried z), std 0.95 / 2.41 / 0.56 m,
   f = 1.61. None like step 6.

The PoseNet head has no hypotheses: only the floor is fitted (step 2 with no mixture).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..core.decoding import (DecodedBatch, DecodeOptions, Decoder, UncertaintyCalibration, anchor_spacing,
                             mass_floor_scale, normalized_entropy, view_softmax)
from ..core.geometry import quat_angle_deg, transform_from_pq
from ..core.model import COMMITTEE_LOGITS_KEY
from ..core.frame_gate import FrameGate
from ..core.gate import GateLimits, PoseGate, position_std
from ..core.odom_check import OdomCheckConfig
from ..core.uncertainty import COVERAGE_LEVELS, chi2_quantile_3dof, position_nees, position_sigma, spearman

MIN_POSITION_STD_M = 0.01
MIN_ROTATION_STD_RAD = np.radians(0.2)
UNCERTAINTY_TEMPERATURES = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 16.0)
ROTATION_ENTROPY_GAINS = (0.0, 1.0, 3.0, 10.0, 30.0)
ROTATION_GAIN_MIN_NATS = 1.0
GATE_MIN_KEPT = 0.25       # the std limit keeps at least this share of the validation frames ...
GATE_GROSS_RATIO = 0.5     # ... whose share of gross errors is at most this times that of all of them
GROSS_ERROR_SPACINGS = 5.0  # a gross error (a wrong place): this many anchor spacings off
RIGHT_ANCHOR_MIN_FRAMES = 5
RANKING_MIN_FRAMES = 30   # fewer validation frames: the temperature by likelihood (and no floor gain)
FLOOR_MASS_GAINS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
COMMITTEE_GAINS = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
# The odometry vote of steps 6 and 7: its defaults; should those re-decode, the validation frames
# need no extra scene test; no warm-up: it withholds a walk's first agreed frames, which say as
# much about the fit as the rest.
CALIBRATION_VOTE = OdomCheckConfig(vote_max_ood_score=0.0, warmup_fraction=0.0)


def calibrate(decoder: Decoder, outputs: Mapping[str, torch.Tensor | np.ndarray], gt_positions: np.ndarray,
              gt_quats_wxyz: np.ndarray, temperature: float = 1.0,
              options: DecodeOptions | None = None) -> UncertaintyCalibration:
    """The calibration for ``decoder``'s model from validation ``outputs`` (raw heads; with
    ``options.views`` rows per frame) and truth, for the decode ``options`` (default: the
    decoder's own).

    ``temperature`` (the fusion temperature, chosen for accuracy elsewhere) is kept as is.
    ``decoder`` is only read: its route frame and anchors.
    """
    options = (options or decoder.options).resolved(decoder.calibration)
    gt_p = np.asarray(gt_positions, dtype=np.float64)
    if len(gt_p) == 0:
        return UncertaintyCalibration(temperature=temperature, uncertainty_temperature=temperature,
                                      decode=options.mode, views=options.views)
    arrays = {k: (v.detach().float().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
              .astype(np.float64) for k, v in outputs.items()}
    logits = arrays.get("logits_BN")
    minimum = np.eye(3) * MIN_POSITION_STD_M ** 2
    t_u = temperature if logits is None else _mixture_temperature(decoder, arrays, gt_p, temperature, minimum, options)
    committee_gain, mass_gain, floor, probe = _committee_and_floor(decoder, arrays, options, gt_p,
                                                                   temperature, t_u, minimum)
    e = probe.positions - gt_p
    entropy = normalized_entropy(view_softmax(logits, t_u, options.views)) \
        if logits is not None else np.zeros(len(gt_p))
    angles = np.radians(quat_angle_deg(probe.quats_wxyz, gt_quats_wxyz))
    rot_var, gain = _rotation_model(angles, entropy)
    fitted = UncertaintyCalibration(floor, rot_var, temperature, t_u, gain, floor_mass_gain=mass_gain,
                                    committee_gain=committee_gain,
                                    decode=options.mode, views=options.views)
    final = decoder.decode(arrays, options, fitted)
    stds = np.array([position_std(c) for c in final.covariances])
    right = np.zeros(len(gt_p), dtype=bool) if logits is None else \
        final.anchor_index == nearest_anchors(decoder, gt_p)
    right_cov = minimum + e[right].T @ e[right] / right.sum() if right.sum() >= RIGHT_ANCHOR_MIN_FRAMES else floor
    agreed = AgreedFit() if logits is None else agreed_covariance(
        final, decoder.frame.to_world(decoder.anchors_route), gt_p, gt_quats_wxyz, right_cov, minimum)
    gross_m = GROSS_ERROR_SPACINGS * anchor_spacing(decoder.anchors_route[:, :decoder.anchor_dims]) * decoder.frame.scale
    std_limit = gate_std_limit(stds, np.linalg.norm(final.positions - gt_p, axis=1), gross_m)
    return replace(fitted, position_std_limit=std_limit, right_anchor_position_cov=right_cov,
                   agreed_position_cov=agreed.cov, agreed_residual_gain=agreed.gain,
                   agreed_fusion_gain=agreed.fusion_gain, fused_position_cov=agreed.fused_cov,
                   fused_residual_gain=agreed.fused_gain)


def _committee_and_floor(decoder: Decoder, arrays: dict[str, np.ndarray], options: DecodeOptions,
                         gt_p: np.ndarray, temperature: float, t_u: float,
                         minimum: np.ndarray) -> tuple[float, float, np.ndarray, DecodedBatch]:
    """Steps 2 and 3: (committee gain, floor mass gain, floor, the decode at that committee
    gain with the minimum floor). Each gain of ``COMMITTEE_GAINS`` (0 alone without a committee
    or with fewer than ``RANKING_MIN_FRAMES`` frames) gets its own floor fit; the pair whose
    covariance ranks the errors best wins (ties: the smaller gains)."""
    has_committee = COMMITTEE_LOGITS_KEY in arrays and len(gt_p) >= RANKING_MIN_FRAMES
    best = None
    for c in COMMITTEE_GAINS if has_committee else (0.0,):
        probe = decoder.decode(arrays, options, UncertaintyCalibration(minimum, MIN_ROTATION_STD_RAD ** 2,
                                                                      temperature, t_u, committee_gain=c))
        e = probe.positions - gt_p
        rank, mass_gain, floor = _floor_with_mass_gain(e, probe.covariances[:, :3, :3] - minimum, probe.point_mass,
                                                       minimum, e.T @ e / len(e))
        if best is None or rank > best[0]:     # ties: the smaller gain, tried first
            best = (rank, c, mass_gain, floor, probe)
    return best[1:]


def _floor_with_mass_gain(errors: np.ndarray, mixture_N33: np.ndarray, point_mass: np.ndarray,
                          minimum: np.ndarray, residual: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Step 2: (rank, gain, floor). For each gain of ``FLOOR_MASS_GAINS`` the floor ``minimum + f
    residual`` scaled per frame by ``1 + gain (1 - point mass)``, f the smallest with no level
    optimistic; the gain whose covariance ranks the errors best (ties: the smaller; 0 with
    fewer than ``RANKING_MIN_FRAMES`` frames), with its Spearman rank (-inf where none ranks)."""
    gains = FLOOR_MASS_GAINS if len(errors) >= RANKING_MIN_FRAMES else (0.0,)
    norms = np.linalg.norm(errors, axis=1)
    best: tuple[float, float, np.ndarray] | None = None
    for gain in gains:
        scale = mass_floor_scale(point_mass, gain)[:, None, None]
        floor = minimum + _floor_scale(errors, mixture_N33 + scale * minimum, scale * residual) * residual
        rho = spearman(position_sigma(mixture_N33 + scale * floor), norms) if len(errors) >= RANKING_MIN_FRAMES \
            else 0.0
        rank = rho if np.isfinite(rho) else -np.inf
        if best is None or rank > best[0]:     # ties: the smaller gain, tried first
            best = (rank, gain, floor)
    return best


@dataclass(frozen=True)
class AgreedFit:
    """Steps 6 and 7: the agreed covariance and residual gain, the fusion gain K and the fused ones."""

    cov: np.ndarray | None = None
    gain: float = 0.0
    fusion_gain: np.ndarray | None = None
    fused_cov: np.ndarray | None = None
    fused_gain: float = 0.0


def agreed_covariance(decoded: DecodedBatch, anchors_world: np.ndarray, gt_positions: np.ndarray,
                      gt_quats_wxyz: np.ndarray, check_cov: np.ndarray, minimum: np.ndarray) -> AgreedFit:
    """Steps 6 and 7 on the frames the odometry vote agrees on (see the module doc), through
    the node's own gate code at the vote's defaults without fusion, the other tests off;
    nothing when it agrees on too few."""
    gate = FrameGate(PoseGate(None, 0.0), CALIBRATION_VOTE, check_cov)
    limits = GateLimits(max_ood_score=0.0, min_confidence=0.0, max_position_std=0.0, max_position_std_factor=0.0)
    errors, residuals = [], []
    for est, gp, gq in zip(decoded.estimates(anchors_world, 0.0), gt_positions, gt_quats_wxyz):
        decision = gate.judge(est, est.transform(), transform_from_pq(gp, gq), limits)
        if decision.passed:
            errors.append(est.position + np.asarray(decision.position_shift) - gp)
            residuals.append(decision.vote_residual)
    if len(errors) < RIGHT_ANCHOR_MIN_FRAMES:
        return AgreedFit()
    e, r = np.array(errors), np.array(residuals)
    own = e.T @ e / len(e)                          # the agreed estimates' own error
    place = (e - r).T @ (e - r) / len(e)            # the error of the place the agreeing estimates give
    K = own @ np.linalg.inv(own + place)            # step 7: the inverse-variance fusion of the two
    u = r @ (np.eye(3) - K).T                       # what of r the fusion leaves: fused error = (e - r) + u
    f = _agreed_scale(e, r, place, minimum)
    f_fused = _agreed_scale(e - r @ K.T, u, place, minimum)
    return AgreedFit(minimum + f * place, f, K, minimum + f_fused * place, f_fused)


def _agreed_scale(errors: np.ndarray, residuals: np.ndarray, place: np.ndarray, minimum: np.ndarray) -> float:
    """The smallest f with ``minimum + f (place + r r^T)`` optimistic at no level."""
    shape = place[None] + residuals[:, :, None] * residuals[:, None, :]
    return _floor_scale(errors, np.tile(minimum, (len(errors), 1, 1)), shape)


def gate_std_limit(stds: np.ndarray, errors: np.ndarray, gross_m: float) -> float:
    """The largest std whose frames at or below it (>= GATE_MIN_KEPT of all) hold a share of
    errors over ``gross_m`` <= GATE_GROSS_RATIO x that of all frames; 0.0 when there is none
    (or no frame is that far off)."""
    order = np.argsort(stds, kind="stable")
    s, gross = stds[order], errors[order] > gross_m
    target = GATE_GROSS_RATIO * float(np.mean(gross)) if len(s) else 0.0
    if target == 0.0:
        return 0.0
    kept_gross = np.cumsum(gross)
    for kept in range(len(s), max(1, int(np.ceil(GATE_MIN_KEPT * len(s)))) - 1, -1):
        if s[kept - 1] < (s[kept] if kept < len(s) else np.inf) and kept_gross[kept - 1] / kept <= target:
            return float(s[kept - 1])
    return 0.0


def nearest_anchors(decoder: Decoder, gt_world: np.ndarray) -> np.ndarray:
    """(N,) index of the anchor nearest each true position, along the anchored axes."""
    D = decoder.anchor_dims
    p_route = decoder.frame.to_route(gt_world)[:, None, :D]
    return np.argmin(np.sum((p_route - decoder.anchors_route[None, :, :D]) ** 2, axis=2), axis=1)


def _mixture_temperature(decoder: Decoder, arrays: dict[str, np.ndarray], gt_world: np.ndarray,
                         temperature: float, minimum: np.ndarray, options: DecodeOptions) -> float:
    """Step 1: the grid temperature whose mixture sigma ranks the errors best, else by likelihood."""
    if len(gt_world) >= RANKING_MIN_FRAMES:
        ranked = []
        for t in UNCERTAINTY_TEMPERATURES:
            d = decoder.decode(arrays, options, UncertaintyCalibration(minimum, MIN_ROTATION_STD_RAD ** 2,
                                                                      temperature, t))
            rho = spearman(position_sigma(d.covariances[:, :3, :3]), np.linalg.norm(d.positions - gt_world, axis=1))
            if np.isfinite(rho):
                ranked.append((rho, t))
        if ranked:
            return max(ranked)[1]   # ties: the larger temperature (the wider mixture)
    return _classification_temperature(decoder, arrays["logits_BN"][::options.views], gt_world)


def _classification_temperature(decoder: Decoder, logits_BN: np.ndarray, gt_world: np.ndarray) -> float:
    """Grid temperature with the best mean log-softmax of the anchor nearest to the truth."""
    nearest = nearest_anchors(decoder, gt_world)
    rows = np.arange(len(nearest))

    def log_likelihood(t: float) -> float:
        z = logits_BN / t
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(z[rows, nearest] - np.log(np.exp(z).sum(axis=1))))

    return max(UNCERTAINTY_TEMPERATURES, key=log_likelihood)


def _floor_scale(errors_N3: np.ndarray, base_N33: np.ndarray, residual_33: np.ndarray) -> float:
    """Smallest f (bisection on log f) with every coverage level met by base + f residual."""
    limits = [(level, chi2_quantile_3dof(level)) for level in COVERAGE_LEVELS]

    def covered(f: float) -> bool:
        nees = position_nees(errors_N3, base_N33 + f * residual_33)
        return all(float(np.mean(nees <= limit)) >= level for level, limit in limits)

    lo, hi = 1e-6, 1.0
    while not covered(hi) and hi < 1e6:
        hi *= 4.0
    for _ in range(50):
        mid = float(np.sqrt(lo * hi))
        lo, hi = (lo, mid) if covered(mid) else (mid, hi)
    return hi


def _rotation_model(angles_rad: np.ndarray, entropy: np.ndarray) -> tuple[float, float]:
    """(floor variance per axis, entropy gain) from the rotation errors (see the module doc).

    The rotation vector's three components share the variance v: angle^2 / v is chi-square
    with 3 dof, so the per-frame negative log-likelihood is (angle^2 / v + 3 log v) / 2.
    """
    def fit(gain: float) -> tuple[float, float, float]:
        factor = 1.0 + gain * entropy
        v0 = max(float(np.mean(angles_rad ** 2 / factor)) / 3.0, MIN_ROTATION_STD_RAD ** 2)
        v = v0 * factor
        return float(np.sum(angles_rad ** 2 / v + 3.0 * np.log(v)) / 2.0), v0, gain

    plain = fit(0.0)
    best = min((fit(g) for g in ROTATION_ENTROPY_GAINS), key=lambda r: r[0])
    _, v0, gain = best if plain[0] - best[0] > ROTATION_GAIN_MIN_NATS else plain
    # then, as for position, no 68 / 95 / 99 % level optimistic on these frames
    nees = np.sort(angles_rad ** 2 / (v0 * (1.0 + gain * entropy)))
    inflate = max(nees[min(len(nees) - 1, int(np.ceil(level * len(nees))) - 1)] / chi2_quantile_3dof(level)
                  for level in COVERAGE_LEVELS)
    return v0 * max(1.0, float(inflate)), gain
