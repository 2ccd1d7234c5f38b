"""Covariance calibration on held-out frames: constructed cases with a known answer, the
trainer storing it, and `anchor-reloc calibrate` refitting an existing checkpoint."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from anchor_reloc_ros.core.anchors import RouteFrame
from anchor_reloc_ros.core.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from anchor_reloc_ros.core.decoding import DecodeOptions, Decoder, UncertaintyCalibration, normalized_entropy, softmax
from anchor_reloc_ros.core.localizer import Localizer
from anchor_reloc_ros.data.loader import load_dataset
from anchor_reloc_ros.core.geometry import quat_angle_deg, transform_from_pq
from anchor_reloc_ros.core.frame_gate import FrameGate
from anchor_reloc_ros.core.gate import GateLimits, PoseGate
from anchor_reloc_ros.core.uncertainty import COVERAGE_LEVELS, coverage, position_nees, spearman, uncertainty_summary
from anchor_reloc_ros.tools.cli import main
from anchor_reloc_ros.training import calibration
from anchor_reloc_ros.training.calibration import (CALIBRATION_VOTE, GATE_GROSS_RATIO, GATE_MIN_KEPT, calibrate,
                                                  gate_std_limit)

FRAME = RouteFrame(np.zeros(3), np.eye(3), 1.0, "z")
ANCHORS = np.c_[np.arange(20) * 2.0, np.zeros(20), np.zeros(20)]
TRUE_T = 2.0


def _rotvec_quats(rotvecs: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(rotvecs, axis=1, keepdims=True)
    axis = rotvecs / np.maximum(angle, 1e-12)
    return np.c_[np.cos(angle / 2), np.sin(angle / 2) * axis]


def _anchor_process(seed: int, n: int, rotation_follows_entropy: bool) -> tuple[dict, np.ndarray, np.ndarray]:
    """Frames whose true anchor is drawn from softmax(logits / TRUE_T): calibrated at TRUE_T.

    The true anchor's hypothesis is the truth + 0.2 m noise, the others are garbage;
    the rotation error is drawn with a variance growing with the softmax entropy, or not.
    """
    rng = np.random.default_rng(seed)
    N = len(ANCHORS)
    p = softmax(rng.normal(size=(n, N)) * rng.uniform(0.5, 6.0, size=(n, 1)))
    true = np.array([rng.choice(N, p=row) for row in p])
    truth = ANCHORS[true] + np.c_[rng.uniform(-0.9, 0.9, n), rng.uniform(-0.9, 0.9, n), np.zeros(n)]
    offsets = rng.normal(size=(n, N, 2)) * 5.0
    offsets[np.arange(n), true] = truth[:, :2] - ANCHORS[true, :2] + rng.normal(size=(n, 2)) * 0.2
    rot_std = 0.01 * np.sqrt(1.0 + 20.0 * normalized_entropy(p)) if rotation_follows_entropy else np.full(n, 0.02)
    gt_q = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    est_q = _rotvec_quats(rng.normal(size=(n, 3)) * rot_std[:, None])
    outputs = {"logits_BN": TRUE_T * np.log(p), "offsets_BND": offsets, "absolute_BA": np.c_[np.zeros(n), est_q]}
    return outputs, truth, gt_q


def _decoder(calibration: UncertaintyCalibration | None = None) -> Decoder:
    return Decoder(FRAME, ANCHORS, 2, calibration or UncertaintyCalibration(), "argmax", 3)


def test_small_validation_sets_get_the_likelihood_temperature(monkeypatch: pytest.MonkeyPatch) -> None:
    outputs, truth, gt_q = _anchor_process(0, 600, rotation_follows_entropy=True)
    monkeypatch.setattr(calibration, "RANKING_MIN_FRAMES", 601)   # as if too few frames to rank
    calib = calibrate(_decoder(), outputs, truth, gt_q, temperature=1.0)
    assert calib.uncertainty_temperature == TRUE_T and calib.temperature == 1.0
    assert calib.floor_mass_gain == 0.0                            # too few to rank: no floor gain either


def test_mixture_temperature_ranks_errors_and_ellipses_stay_honest() -> None:
    outputs, truth, gt_q = _anchor_process(0, 600, rotation_follows_entropy=True)
    calib = calibrate(_decoder(), outputs, truth, gt_q, temperature=1.0)
    # the temperature is the grid one whose sigma ranks these frames' errors best
    def rho(c: UncertaintyCalibration, outs: dict, gt: np.ndarray) -> float:
        d = _decoder(c).decode(outs)
        return float(uncertainty_summary(d.positions, gt, d.covariances)["spearman_sigma_error"])
    chosen = rho(calib, outputs, truth)
    assert all(chosen >= rho(replace(calib, uncertainty_temperature=t), outputs, truth)
               for t in calibration.UNCERTAINTY_TEMPERATURES)
    assert calib.rotation_entropy_gain >= 3.0      # the rotation error really grows with entropy
    # the floor's gain on the mass pointing elsewhere is the grid one ranking best, each with its own floor
    assert calib.floor_mass_gain in calibration.FLOOR_MASS_GAINS
    for gain in calibration.FLOOR_MASS_GAINS:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(calibration, "FLOOR_MASS_GAINS", (gain,))
            assert chosen >= rho(calibrate(_decoder(), outputs, truth, gt_q, temperature=1.0), outputs, truth) - 1e-12
    d = _decoder(calib).decode(outputs)
    rotation_nees = np.radians(quat_angle_deg(d.quats_wxyz, gt_q)) ** 2 / d.covariances[:, 3, 3]
    assert all(coverage(rotation_nees)[level] >= level for level in COVERAGE_LEVELS)
    fit = uncertainty_summary(d.positions, truth, d.covariances)
    assert fit["coverage_68"] >= 0.68 and fit["coverage_95"] >= 0.95 and fit["coverage_99"] >= 0.99
    # fresh frames from the same process: still honest, and sigma ranks the errors at least as
    # well as with the likelihood's temperature (the process's true one)
    outputs2, truth2, _ = _anchor_process(1, 600, rotation_follows_entropy=True)
    d2 = _decoder(calib).decode(outputs2)
    fresh = uncertainty_summary(d2.positions, truth2, d2.covariances)
    assert fresh["coverage_95"] >= 0.9 and fresh["coverage_99"] >= 0.97
    assert fresh["spearman_sigma_error"] > 0.4
    assert fresh["spearman_sigma_error"] >= rho(replace(calib, uncertainty_temperature=TRUE_T), outputs2, truth2)
    # the pre-mixture covariance (argmax: the constant floor) ranks nothing
    old = uncertainty_summary(d2.positions, truth2, np.tile(np.eye(6), (len(truth2), 1, 1)))
    assert np.isnan(old["spearman_sigma_error"])


def test_right_anchor_covariance_is_the_error_of_frames_whose_anchor_was_right() -> None:
    outputs, truth, gt_q = _anchor_process(4, 600, rotation_follows_entropy=False)
    calib = calibrate(_decoder(), outputs, truth, gt_q)
    # the right anchor's hypothesis is the truth + 0.2 m noise per anchored axis (z is exact)
    np.testing.assert_allclose(np.sqrt(np.diag(calib.right_anchor_position_cov))[:2], 0.2, rtol=0.15)
    assert np.sqrt(calib.right_anchor_position_cov[2, 2]) < 0.02
    assert np.sqrt(calib.position_cov[0, 0]) > 5 * 0.2     # the floor also covers the wrong anchors
    np.testing.assert_array_equal(calib.odometry_check_cov(), calib.right_anchor_position_cov)
    # the node's gate with the vote (ground-truth motion as odometry, as calibrated) publishes the
    # right-anchor frames and few wrong ones: a covariance far below the mixture's, honest on them
    d = _decoder(calib).decode(outputs)
    right = d.anchor_index == np.argmin(np.abs(truth[:, None, 0] - ANCHORS[None, :, 0]), axis=1)
    gate = FrameGate(PoseGate(None, 0.0), CALIBRATION_VOTE, calib.right_anchor_position_cov,
                     calib.agreed_position_cov, calib.agreed_residual_gain)
    off = GateLimits(max_ood_score=0.0, min_confidence=0.0, max_position_std_factor=0.0)   # as calibrated
    decisions = [gate.judge(est, est.transform(), transform_from_pq(t, gq), off)
                 for est, t, gq in zip(d.estimates(ANCHORS, 0.0), truth, gt_q)]
    published = np.array([decision.passed for decision in decisions])
    assert published[right].mean() >= 0.9 and published[~right].mean() < 0.3
    assert np.trace(calib.agreed_position_cov) < 0.25 * np.median(np.trace(d.covariances[:, :3, :3], axis1=1, axis2=2))
    # each agreed pose's covariance grows with its distance from the place its agreeing
    # estimates give (the vote residual): it ranks the errors, and no level is optimistic
    assert calib.agreed_residual_gain > 0
    agreed = np.array([gate.agreed_position_cov(decision.vote_residual) for decision in decisions if decision.passed])
    errors = (d.positions - truth)[published]
    nees = position_nees(errors, agreed * (1 + 1e-9))   # the fit puts a frame on a level's boundary
    assert all(coverage(nees)[level] >= level for level in COVERAGE_LEVELS)
    assert spearman(np.trace(agreed, axis1=1, axis2=2), np.linalg.norm(errors, axis=1)) > 0.5
    again = UncertaintyCalibration.from_dict(calib.to_dict())
    np.testing.assert_allclose(again.right_anchor_position_cov, calib.right_anchor_position_cov)
    np.testing.assert_allclose(again.agreed_position_cov, calib.agreed_position_cov)
    assert again.agreed_residual_gain == calib.agreed_residual_gain
    old = UncertaintyCalibration.from_dict({"position_cov": (np.eye(3) * 9).tolist(), "rotation_var": 0.01,
                                            "temperature": 1.0})
    assert old.right_anchor_position_cov is None and old.agreed_position_cov is None
    assert old.agreed_residual_gain == 0.0          # before it: the agreed covariance alone
    with pytest.raises(ValueError, match="agreed_residual_gain"):
        replace(calib, agreed_residual_gain=-1.0)
    np.testing.assert_array_equal(old.odometry_check_cov(), np.eye(3) * 9)   # before it: the floor


def test_odometry_fusion_gain_is_the_inverse_variance_weight_and_its_poses_are_closer_and_honest() -> None:
    from anchor_reloc_ros.core.frame_gate import frame_gate_for

    outputs, truth, gt_q = _anchor_process(4, 600, rotation_follows_entropy=False)
    calib = calibrate(_decoder(), outputs, truth, gt_q)
    K = calib.agreed_fusion_gain
    # each hypothesis is 0.2 m off along the anchored axes, independently per frame, so the place
    # the agreeing estimates give is the better one there, and z (exact) is left alone
    assert K is not None and 0.5 < K[0, 0] < 1.0 and abs(K[2, 2]) < 0.05
    off = GateLimits(max_ood_score=0.0, min_confidence=0.0, max_position_std_factor=0.0)   # as calibrated

    def published(outs: dict, gt: np.ndarray, gq: np.ndarray, fuse: bool) -> tuple[np.ndarray, np.ndarray]:
        gate = frame_gate_for({}, calib, replace(CALIBRATION_VOTE, fuse=fuse))
        errors, covariances = [], []
        for est, t, q in zip(_decoder(calib).decode(outs).estimates(ANCHORS, 0.0), gt, gq):
            decision = gate.judge(est, est.transform(), transform_from_pq(t, q), off)
            if decision.passed:
                errors.append(est.position + np.asarray(decision.position_shift) - t)
                covariances.append(gate.published_covariance(est.covariance, est.covariance, decision)[:3, :3])
        return np.array(errors), np.array(covariances)

    for outs, gt, gq, fitted in ((outputs, truth, gt_q, True), (*_anchor_process(5, 600, False), False)):
        fused, fused_cov = published(outs, gt, gq, True)
        own, _ = published(outs, gt, gq, False)
        assert len(fused) == len(own)               # the fusion moves poses, it publishes the same frames
        assert np.median(np.linalg.norm(fused, axis=1)) < 0.8 * np.median(np.linalg.norm(own, axis=1))
        inside = coverage(position_nees(fused, fused_cov * (1 + 1e-9)))
        assert all(inside[level] >= (level if fitted else level - 0.03) for level in COVERAGE_LEVELS)
    again = UncertaintyCalibration.from_dict(calib.to_dict())
    np.testing.assert_allclose(again.agreed_fusion_gain, K)
    np.testing.assert_allclose(again.fused_position_cov, calib.fused_position_cov)
    assert again.fused_residual_gain == calib.fused_residual_gain > 0
    old = UncertaintyCalibration.from_dict({"position_cov": np.eye(3).tolist(), "rotation_var": 0.01,
                                            "temperature": 1.0})
    assert old.agreed_fusion_gain is None and old.fused_position_cov is None and old.fused_residual_gain == 0.0
    with pytest.raises(ValueError, match="agreed_fusion_gain"):
        replace(calib, agreed_fusion_gain=np.full((3, 3), np.nan))


def test_rotation_floor_only_when_entropy_does_not_help() -> None:
    outputs, truth, gt_q = _anchor_process(2, 600, rotation_follows_entropy=False)
    calib = calibrate(_decoder(), outputs, truth, gt_q)
    assert calib.rotation_entropy_gain == 0.0
    assert np.sqrt(calib.rotation_var) == pytest.approx(0.02, rel=0.1)   # per-axis std of the draws


def test_posenet_gets_the_residual_floor() -> None:
    rng = np.random.default_rng(3)
    n, sigma = 3000, np.diag([2.0, 0.5, 0.1]) ** 2
    truth = rng.normal(size=(n, 3)) * 10
    est = truth + rng.normal(size=(n, 3)) @ np.sqrt(sigma)
    outputs = {"position_B3": est, "quat_B4": np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))}
    decoder = Decoder(FRAME, np.zeros((0, 3)), 2, UncertaintyCalibration(), "argmax", 3)
    calib = calibrate(decoder, outputs, truth, outputs["quat_B4"], temperature=1.0)
    assert calib.uncertainty_temperature == 1.0 and calib.rotation_entropy_gain == 0.0
    np.testing.assert_allclose(np.diag(calib.position_cov), np.diag(sigma), rtol=0.15)
    assert calib.rotation_var == pytest.approx(np.radians(0.2) ** 2)   # perfect rotations: the minimum
    empty = calibrate(decoder, {k: v[:0] for k, v in outputs.items()}, truth[:0], truth[:0], temperature=4.0)
    assert empty.uncertainty_temperature == 4.0


def test_gate_std_limit_keeps_the_frames_the_covariance_trusts() -> None:
    rng = np.random.default_rng(0)
    stds = rng.uniform(1.0, 10.0, 200)
    # a wrong place (error 50 m, over the 20 m gross limit) gets likelier as the std grows
    gross = rng.uniform(0.0, 1.0, 200) < (stds - 1.0) / 9.0
    errors = np.where(gross, 50.0, rng.uniform(0.0, 3.0, 200))
    limit = gate_std_limit(stds, errors, 20.0)
    kept = stds <= limit
    assert kept.mean() >= GATE_MIN_KEPT and limit == stds[kept].max()
    assert np.mean(gross[kept]) <= GATE_GROSS_RATIO * np.mean(gross)      # the kept frames halve the jumps
    one_more = stds <= np.sort(stds)[kept.sum()]
    assert np.mean(gross[one_more]) > GATE_GROSS_RATIO * np.mean(gross)   # the largest such limit
    # wrong places unrelated to the std, or none at all: no limit
    assert gate_std_limit(stds, np.where(rng.uniform(0.0, 1.0, 200) < 0.3, 50.0, 1.0), 20.0) == 0.0
    assert gate_std_limit(stds, errors, 60.0) == 0.0
    # a calibration from before the limit existed reads as none
    old = UncertaintyCalibration.from_dict({"position_cov": np.eye(3).tolist(), "rotation_var": 0.01, "temperature": 1.0})
    assert old.position_std_limit == 0.0 and "position_std_limit" in UncertaintyCalibration().to_dict()


def test_training_stores_the_new_calibration(tiny_checkpoint: Path, strip_dataset: Path) -> None:
    calib = read_metadata(tiny_checkpoint)["calibration"]
    assert {"uncertainty_temperature", "rotation_entropy_gain"} <= set(calib)
    loc = Localizer.from_checkpoint(tiny_checkpoint, device="cpu")
    test = load_dataset(strip_dataset, "test")
    from anchor_reloc_ros.training.image_cache import read_rgb

    covs = np.stack([e.covariance for e in loc.localize_batch([read_rgb(str(f.image_path)) for f in test.frames])])
    assert np.linalg.eigvalsh(covs).min() > 0
    assert len(np.unique(covs[:, :3, :3].round(12).reshape(len(covs), -1), axis=0)) > 1   # not one constant


def test_calibrate_cli_refits_an_old_checkpoint(tiny_checkpoint: Path, strip_dataset: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    contents = load_checkpoint(tiny_checkpoint)
    meta = dict(contents.metadata)
    meta["calibration"] = {"position_cov": np.eye(3).tolist(), "rotation_var": 0.01, "temperature": 2.0}
    old = save_checkpoint(tmp_path / "old.safetensors", contents.model, meta)
    out = tmp_path / "recalibrated.safetensors"
    assert main(["calibrate", "--weights", str(old), "--data", str(strip_dataset), "--out", str(out),
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "validation frames" in printed and "inside own 68 / 95 / 99 % ellipse" in printed
    new = read_metadata(out)
    assert new["calibration"]["temperature"] == 2.0      # the fusion temperature is kept
    assert "uncertainty_temperature" in new["calibration"] and new["recalibrated"]["val_frames"] == 8
    a, b = load_checkpoint(old).model.state_dict(), load_checkpoint(out).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)       # weights untouched


def test_the_decode_calibrated_for_is_the_default(tiny_checkpoint: Path, strip_dataset: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    trained = Localizer.from_checkpoint(tiny_checkpoint, device="cpu")
    assert (trained.decode, trained.views) == ("argmax", 1)      # train calibrates for argmax, one view
    out = tmp_path / "cluster2.safetensors"
    assert main(["calibrate", "--weights", str(tiny_checkpoint), "--data", str(strip_dataset), "--out", str(out),
                 "--device", "cpu", "--decode", "cluster", "--views", "2"]) == 0
    assert "decode cluster, 2 views, now its default" in capsys.readouterr().out
    calib = read_metadata(out)["calibration"]
    assert (calib["decode"], calib["views"]) == ("cluster", 2)
    loc = Localizer.from_checkpoint(out, device="cpu")
    assert (loc.decode, loc.views) == ("cluster", 2)             # auto: as calibrated
    assert Localizer.from_checkpoint(out, device="cpu", decode="argmax").views == 2   # mode given, views auto
    loc.set_decode_options(DecodeOptions("fusion", 3, 1))
    assert (loc.decode, loc.views) == ("fusion", 1)
    loc.set_decode_options(DecodeOptions())
    assert (loc.decode, loc.views) == ("cluster", 2)
    # recalibrating without --decode keeps the decode it was calibrated for
    again = tmp_path / "again.safetensors"
    assert main(["calibrate", "--weights", str(out), "--data", str(strip_dataset), "--out", str(again),
                 "--device", "cpu"]) == 0
    assert read_metadata(again)["calibration"]["views"] == 2
    # a calibration from before the decode was recorded decodes as argmax with one view
    old = UncertaintyCalibration.from_dict({"position_cov": np.eye(3).tolist(), "rotation_var": 0.01, "temperature": 1.0})
    assert (old.decode, old.views) == ("argmax", 1)
    with pytest.raises(ValueError, match="calibration decode"):
        UncertaintyCalibration(decode="auto")


def test_calibrate_cli_refuses_another_dataset(tiny_checkpoint: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from synthetic_fixture import make_strip_dataset

    other = make_strip_dataset(tmp_path / "other", n_train=20, n_test=2, seed=5)
    assert main(["calibrate", "--weights", str(tiny_checkpoint), "--data", str(other),
                 "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fingerprint" in err[0] and str(other) in err[0]
    assert main(["calibrate", "--weights", str(tmp_path / "x.onnx"), "--data", str(other),
                 "--out", str(tmp_path / "y.safetensors")]) == 2
    assert ".safetensors checkpoint" in capsys.readouterr().err


def test_calibrate_and_calibrate_ood_can_use_the_datasets_val_split(tiny_checkpoint: Path, strip_dataset: Path,
                                                                    tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from anchor_reloc_ros.data.cambridge import write_cambridge_split

    data = shutil.copytree(strip_dataset, tmp_path / "data")
    write_cambridge_split(data, "val", load_dataset(data, "test").frames[:5])  # a second walk
    out = tmp_path / "on_val.safetensors"
    # The checkpoint held out every 6th training frame: that rule stays unless asked otherwise.
    assert main(["calibrate", "--weights", str(tiny_checkpoint), "--data", str(data), "--out", str(out),
                 "--device", "cpu"]) == 0
    assert read_metadata(out)["recalibrated"]["val_frames"] == 8
    assert main(["calibrate", "--weights", str(tiny_checkpoint), "--data", str(data), "--out", str(out),
                 "--device", "cpu", "--val-split"]) == 0
    assert read_metadata(out)["recalibrated"]["val_frames"] == 5
    assert main(["calibrate-ood", "--weights", str(out), "--data", str(data), "--val-split"]) == 0
    assert "of 5 validation frames" in capsys.readouterr().out
    assert main(["calibrate", "--weights", str(tiny_checkpoint), "--data", str(strip_dataset),
                 "--out", str(out), "--val-split"]) == 2
    assert "has no val split" in capsys.readouterr().err
