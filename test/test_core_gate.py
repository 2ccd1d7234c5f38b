"""The gate (ROS-free): position std, limits, the odometry consistency state machine."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from anchor_reloc_ros.core.estimate import PoseEstimate
from anchor_reloc_ros.core.frame_gate import FrameGate, shifted
from anchor_reloc_ros.core.gate import GateLimits, PoseGate, position_std
from anchor_reloc_ros.core.odom_check import OdomCheckConfig, OdomConsistency
from anchor_reloc_ros.core.ood import OodCalibration

OOD = OodCalibration(threshold=0.2, quantile=0.99, k=5, val_median=0.1, val_frames=50)


def _estimate(ood_score: float = 0.1, std_m: float = 1.0, confidence: float = 0.9) -> PoseEstimate:
    cov = np.eye(6) * 0.01
    cov[:3, :3] = np.diag([std_m ** 2, 0.25, 0.25])
    return PoseEstimate(np.zeros(3), np.array([1.0, 0, 0, 0]), cov, 0, confidence, np.zeros(3), np.zeros(3),
                        np.array([0]), np.array([confidence]), 1.0, ood_score)


def _pose(x: float, y: float = 0.0) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = [x, y, 0.0]
    return T


def test_position_std_is_the_largest_eigen_direction() -> None:
    cov = np.zeros((6, 6))
    cov[:2, :2] = [[4.0, 3.9], [3.9, 4.0]]  # strongly correlated: 7.9 along the diagonal
    assert position_std(cov) == pytest.approx(math.sqrt(7.9))
    cov[0, 0] = np.nan
    assert position_std(cov) == math.inf


@pytest.mark.parametrize("est, limits, reason", [
    (_estimate(0.1), GateLimits(), ""),
    (_estimate(0.5), GateLimits(max_ood_score=1.5), "out_of_scene"),    # 2.5 x the threshold
    (_estimate(0.5), GateLimits(max_ood_score=0.0), ""),                # off
    (_estimate(0.1), GateLimits(min_confidence=0.9), "low_confidence"),  # calibrated: 1 - 0.5/2 = 0.75
    (_estimate(0.1, std_m=5.0), GateLimits(max_position_std=3.0), "uncertain"),
    (_estimate(0.1, std_m=5.0), GateLimits(max_position_std_factor=2.0), "uncertain"),  # 2 x 2 m
    (_estimate(0.1, std_m=3.0), GateLimits(max_position_std_factor=2.0), ""),
    (_estimate(math.nan), GateLimits(), "out_of_scene"),  # a calibrated model that gave no score
])
def test_gate_reasons(est: PoseEstimate, limits: GateLimits, reason: str) -> None:
    decision = PoseGate(OOD, calibrated_std_limit_m=2.0).check(est, limits)
    assert decision.passed == (reason == "")
    assert decision.reason.startswith(reason)


def test_without_calibration_the_gate_uses_the_covariance_and_the_raw_softmax() -> None:
    gate = PoseGate(None, calibrated_std_limit_m=1.0)
    assert gate.check(_estimate(math.nan), GateLimits(max_ood_score=1.0)).passed
    assert not gate.check(_estimate(math.nan, confidence=0.3), GateLimits(min_confidence=0.5)).passed
    assert not gate.check(_estimate(math.nan, std_m=4.0), GateLimits(max_position_std_factor=3.0)).passed


def _votes(check: OdomConsistency, x_est: list[float], x_odom: list[float]) -> list[bool]:
    return [check.check(_pose(e), _pose(o)).accepted for e, o in zip(x_est, x_odom)]


def test_odometry_check_publishes_what_the_window_agrees_on_and_rejects_a_jump() -> None:
    check = OdomConsistency(OdomCheckConfig(threshold=4.03, window_frames=10, min_agreeing=2), np.eye(3) * 0.25)
    # The map is 100 m from the odometry frame; nothing is published before 2 others agree.
    assert _votes(check, [0.0, 1.0, 2.0, 3.1], [100.0, 101.0, 102.0, 103.0]) == [False, False, True, True]
    verdict = check.check(_pose(40.0), _pose(104.0))           # a 36 m jump along the route
    assert not verdict.accepted and verdict.reason.startswith("odom_check: 0 of the other 4")
    assert _votes(check, [5.0], [105.0]) == [True]            # the jump did not move the vote
    # Three wrong anchors in a row, 34 m off, agree with each other, but fewer than the right ones do.
    assert _votes(check, [36.0, 37.0, 38.0], [106.0, 107.0, 108.0]) == [False, False, False]
    assert _votes(check, [9.0], [109.0]) == [True]


def test_an_accepted_estimate_carries_its_residual_to_the_place_its_agreeing_estimates_give() -> None:
    check = OdomConsistency(OdomCheckConfig(window_frames=10, min_agreeing=2), np.eye(3) * 0.25)
    assert _votes(check, [0.0, 1.4], [0.0, 1.0]) == [False, False]
    verdict = check.check(_pose(1.7, 0.3), _pose(2.0))     # carried: 0 -> 2.0, 1.4 -> 2.4
    assert verdict.accepted
    # their inverse-variance mean: 0.25 m^2 each, plus 5 % drift over the 2 m / 1 m since, plus 0.2 m
    w = 1.0 / (0.25 + (0.05 * np.array([2.0, 1.0])) ** 2 + 0.2 ** 2)
    np.testing.assert_allclose(verdict.residual, [1.7 - (w @ [2.0, 2.4]) / w.sum(), 0.3, 0.0])
    rejected = check.check(_pose(40.0), _pose(3.0))
    assert not rejected.accepted and all(math.isnan(v) for v in rejected.residual)


def test_odometry_check_recovers_from_a_kidnapping_when_the_new_place_outnumbers_the_old() -> None:
    check = OdomConsistency(OdomCheckConfig(window_frames=8, min_agreeing=1), np.eye(3) * 0.25)
    assert _votes(check, [0.0, 1.0, 2.0], [0.0, 1.0, 2.0]) == [False, True, True]
    # Carried 50 m away without odometry: the new estimates agree among themselves only.
    after = _votes(check, [53.0 + i for i in range(5)], [3.0 + i for i in range(5)])
    assert after == [False, False, True, True, True]    # 3 old vs 3 new: the newest wins the tie


def test_odometry_check_judges_only_once_its_window_is_warm_after_a_start_and_a_reset() -> None:
    check = OdomConsistency(OdomCheckConfig(window_frames=8, min_agreeing=1, warmup_fraction=0.5), np.eye(3) * 0.25)
    assert check.warmup_frames == 4
    # A run of consistent estimates: frames 1 and 2 agree with the ones before, but the window is cold.
    verdicts = [check.check(_pose(float(i)), _pose(float(i))) for i in range(5)]
    assert [v.accepted for v in verdicts] == [False, False, False, True, True]
    assert verdicts[2].reason == "odom_check: warming up, 3 of the 4 estimates the vote needs in its window"
    assert verdicts[2].agreeing == 2                     # judged as before, only not yet published
    check.reset()
    assert _votes(check, [5.0, 6.0, 7.0, 8.0], [5.0, 6.0, 7.0, 8.0]) == [False, False, False, True]
    cold = OdomConsistency(OdomCheckConfig(window_frames=8, min_agreeing=1, warmup_fraction=0.0), np.eye(3) * 0.25)
    assert cold.warmup_frames == 1 and _votes(cold, [0.0, 1.0], [0.0, 1.0]) == [False, True]
    # the default: a quarter of the window
    assert OdomConsistency(OdomCheckConfig(), np.eye(3)).warmup_frames == 10


def test_odometry_check_ignores_estimates_that_agree_with_nobody() -> None:
    check = OdomConsistency(OdomCheckConfig(window_frames=6, min_agreeing=1), np.eye(3))
    scattered = [0.0, 40.0, -40.0, 80.0, -80.0, 120.0, -120.0]
    assert not any(_votes(check, scattered, [float(i) for i in range(len(scattered))]))


def test_odometry_check_distance_uses_the_calibrated_covariance_and_the_drift() -> None:
    cfg = OdomCheckConfig(threshold=4.03, window_frames=4, min_agreeing=1, drift_per_m=0.0)
    tight = OdomConsistency(cfg, np.eye(3) * 0.01)      # 0.1 m per estimate: 2 m apart disagree
    wide = OdomConsistency(cfg, np.eye(3) * 1.0)        # 1 m per estimate: 2 m apart agree
    assert _votes(tight, [0.0, 2.0], [0.0, 0.0]) == [False, False]
    assert _votes(wide, [0.0, 2.0], [0.0, 0.0]) == [False, True]
    drifting = OdomConsistency(replace(cfg, drift_per_m=0.05), np.eye(3) * 0.01)
    # 100 m travelled since the first: 5 m of odometry error, so 8 m apart still agree
    assert _votes(drifting, [0.0, 108.0], [0.0, 100.0]) == [False, True]
    with pytest.raises(ValueError, match="positive definite"):
        OdomConsistency(cfg, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="min_agreeing"):
        OdomCheckConfig(window_frames=4, min_agreeing=4)


def test_frame_gate_votes_only_with_estimates_that_passed_and_drops_the_calibrated_std_test() -> None:
    gate = FrameGate(PoseGate(OOD, 1.0), OdomCheckConfig(window_frames=10, min_agreeing=1, warmup_fraction=0.0), np.eye(3) * 0.25)
    wide = _estimate(0.1, std_m=50.0)          # far over the calibrated 1 m std limit
    assert not gate.judge(wide, _pose(0.0), _pose(0.0), GateLimits()).passed      # nobody to agree yet
    assert gate.judge(wide, _pose(1.0), _pose(1.0), GateLimits()).passed          # the vote replaces it
    # an explicit limit judges the covariance that would be published (here the estimate's own:
    # this gate has no agreed covariance); the estimate still votes
    explicit = gate.judge(wide, _pose(2.0), _pose(2.0), GateLimits(max_position_std=3.0))
    assert not explicit.passed and explicit.reason.startswith("uncertain: agreed position std 50.00 m > 3 m")
    jump = gate.judge(_estimate(0.1), _pose(50.0), _pose(3.0), GateLimits())
    assert not jump.passed and jump.reason.startswith("odom_check: 0 of the other 3")
    assert gate.judge(_estimate(0.1), _pose(50.0), None, GateLimits()).passed    # no odometry: no vote ...
    assert not gate.judge(wide, _pose(4.0), None, GateLimits()).passed          # ... and the std test again
    out = gate.judge(_estimate(0.9), _pose(4.0), _pose(4.0), GateLimits())
    assert out.reason.startswith("out_of_scene")
    # the window holds 0, 1, 2 and the jump (not the frames that failed the scene test): 3 agree with x = 5
    assert gate.odom.check(_pose(5.0), _pose(5.0)).agreeing == 3


def test_agreed_poses_get_the_agreed_position_block_in_the_camera_and_the_base_frame() -> None:
    from anchor_reloc_ros.core.geometry import make_transform
    from anchor_reloc_ros.ros.pose_math import camera_to_base

    agreed = np.diag([4.0, 9.0, 0.25])
    gate = FrameGate(PoseGate(OOD, 1.0), OdomCheckConfig(window_frames=4, min_agreeing=1), np.eye(3), agreed)
    est = _estimate(0.1, std_m=40.0)
    est.covariance[3:, 3:] = np.eye(3) * 0.02
    first = gate.judge(est, _pose(0.0), _pose(0.0), GateLimits())
    second = gate.judge(est, _pose(1.0), _pose(1.0), GateLimits())
    assert first.passed is False and not first.agreed and second.passed and second.agreed
    np.testing.assert_array_equal(gate.published_covariance(est.covariance, est.covariance, first), est.covariance)
    swapped = est.covariance.copy()
    swapped[:3, :3] = agreed
    np.testing.assert_allclose(gate.published_covariance(est.covariance, est.covariance, second), swapped)
    # carried to a base 1.5 m behind the camera: the same as carrying the swapped camera covariance
    T_cam, T_cam_base = make_transform(np.eye(3), [3.0, 1.0, 0.0]), make_transform(np.eye(3), [0.0, 0.5, -1.5])
    _, base = camera_to_base(T_cam, est.covariance, T_cam_base)
    _, expected = camera_to_base(T_cam, swapped, T_cam_base)
    np.testing.assert_allclose(gate.published_covariance(base, est.covariance, second), expected, atol=1e-12)
    # with a residual gain, a pose 2 m from where its agreeing estimates put it is that much wider
    gained = FrameGate(PoseGate(OOD, 1.0), OdomCheckConfig(window_frames=4, min_agreeing=1), np.eye(3), agreed, 1.5)
    off_place = replace(second, vote_residual=(2.0, 0.0, 0.0))
    expected_block = agreed + 1.5 * np.diag([4.0, 0.0, 0.0])
    np.testing.assert_allclose(gained.published_covariance(est.covariance, est.covariance, off_place)[:3, :3],
                               expected_block)
    np.testing.assert_allclose(gained.published_covariance(est.covariance, est.covariance, second)[:3, :3], agreed)


def test_re_decoding_publishes_the_hypothesis_near_the_agreed_place() -> None:
    cfg = OdomCheckConfig(window_frames=10, min_agreeing=2, redecode_top_k=3)
    check = OdomConsistency(cfg, np.eye(3) * 0.25)
    assert _votes(check, [0.0, 1.0, 2.0], [0.0, 1.0, 2.0]) == [False, False, True]
    # the network's argmax jumps 40 m; its 2nd and 3rd hypotheses are at 3.2 m and -60 m
    alternatives = np.array([[-60.0, 0.0, 0.0], [3.2, 0.0, 0.0], [90.0, 0.0, 0.0]])
    verdict = check.check(_pose(43.0), _pose(3.0), alternatives)
    assert verdict.accepted and verdict.chosen == 1
    np.testing.assert_allclose(verdict.residual, [0.2, 0.0, 0.0], atol=1e-12)   # 3.2 vs the place, x = 3
    assert not check.check(_pose(44.0), _pose(4.0), alternatives + 20.0).accepted    # none near: withheld
    # the window kept the argmax estimates (43, 44), not the re-decoded one: they agree with each other
    # only, so the place is still x = odometry, and they never outvote it
    assert check.check(_pose(5.0), _pose(5.0)).agreeing == 3
    never = OdomConsistency(replace(cfg, redecode_top_k=1), np.eye(3) * 0.25)
    _votes(never, [0.0, 1.0, 2.0], [0.0, 1.0, 2.0])
    assert not never.check(_pose(43.0), _pose(3.0), alternatives).accepted


def test_frame_gate_moves_a_re_decoded_pose_onto_the_chosen_anchor() -> None:
    gate = FrameGate(PoseGate(OOD, 1.0), OdomCheckConfig(window_frames=10, min_agreeing=1, redecode_top_k=20, warmup_fraction=0.0),
                     np.eye(3) * 0.25)

    def est_at(x: float, hypotheses: list[float], confidences: list[float]) -> PoseEstimate:
        est = _estimate(0.1)
        est.position = np.array([x, 0.0, 0.0])
        est.hypotheses = np.array([[h, 0.0, 0.0] for h in hypotheses])
        est.hypothesis_confidences = np.array(confidences)
        est.anchor_index = int(np.argmax(confidences))
        return est

    for x in (0.0, 1.0):
        gate.judge(est_at(x, [x, 50.0, 80.0], [0.8, 0.1, 0.1]), _pose(x), _pose(x), GateLimits())
    jump = est_at(50.0, [2.1, 50.0, 80.0], [0.2, 0.7, 0.1])        # argmax: anchor 1, 48 m off
    T_body = _pose(50.0 + 0.5)                                        # the base 0.5 m ahead of the camera
    decision = gate.judge(jump, T_body, _pose(2.0), GateLimits())
    assert decision.passed and decision.agreed and decision.redecoded_anchor == 0
    np.testing.assert_allclose(decision.position_shift, [2.1 - 50.0, 0.0, 0.0])
    np.testing.assert_allclose(shifted(T_body, decision)[:3, 3], [2.6, 0.0, 0.0])
    kept = gate.judge(est_at(3.0, [3.0, 50.0, 80.0], [0.8, 0.1, 0.1]), _pose(3.0), _pose(3.0), GateLimits())
    assert kept.passed and kept.redecoded_anchor == -1 and shifted(T_body, kept) is T_body
    # a frame that only just passes the scene test (0.18 / 0.2 = 0.9 of the threshold) is not
    # re-decoded, and keeps the std test: the vote alone needs the stricter vote_max_ood_score (0.85)
    doubtful = est_at(50.0, [4.1, 50.0, 80.0], [0.2, 0.7, 0.1])
    doubtful.ood_score = 0.18
    withheld = gate.judge(doubtful, _pose(50.0), _pose(4.0), GateLimits(max_ood_score=1.0))
    assert not withheld.passed and withheld.reason.startswith("odom_check")


def test_odometry_fusion_moves_an_agreed_pose_towards_its_consensus_and_widens_by_what_is_left() -> None:
    from anchor_reloc_ros.core.decoding import UncertaintyCalibration
    from anchor_reloc_ros.core.frame_gate import frame_gate_for

    K = np.diag([0.75, 0.5, 0.0])
    agreed, fused = np.diag([4.0, 9.0, 0.25]), np.diag([1.0, 2.0, 0.25])
    calibration = UncertaintyCalibration(right_anchor_position_cov=np.eye(3) * 0.25, agreed_position_cov=agreed,
                                         agreed_residual_gain=1.5, agreed_fusion_gain=K,
                                         fused_position_cov=fused, fused_residual_gain=2.0)
    cfg = OdomCheckConfig(window_frames=10, min_agreeing=2)
    gates = {fuse: frame_gate_for({}, calibration, replace(cfg, fuse=fuse)) for fuse in (True, False)}
    decisions = {}
    for fuse, gate in gates.items():
        for x in (0.0, 1.0, 2.0):
            gate.judge(_estimate(0.1), _pose(x), _pose(x), GateLimits())
        est = _estimate(0.1)
        est.position = np.array([4.0, 0.4, 0.0])            # the consensus carries the others to (3, 0, 0)
        decisions[fuse] = (est, gate.judge(est, _pose(4.0, 0.4), _pose(3.0), GateLimits()))
    est, d = decisions[True]
    r = np.array(d.vote_residual)
    np.testing.assert_allclose(r, [1.0, 0.4, 0.0], atol=1e-12)
    assert d.passed and d.agreed and d.redecoded_anchor == -1 and d.fused
    np.testing.assert_allclose(d.position_shift, -K @ r)               # 0.75 and 0.5 of the way there
    np.testing.assert_allclose(shifted(_pose(4.0, 0.4), d)[:3, 3], [3.25, 0.2, 0.0])
    u = (np.eye(3) - K) @ r                                            # what the fusion leaves of r
    np.testing.assert_allclose(gates[True].published_covariance(est.covariance, est.covariance, d)[:3, :3],
                               fused + 2.0 * np.outer(u, u))
    assert d.position_std == pytest.approx(position_std(gates[True].published_covariance(
        est.covariance, est.covariance, d)))
    # odom_fuse false: the image's own pose, with the unfused agreed covariance
    est, d = decisions[False]
    T = _pose(4.0, 0.4)
    assert d.passed and d.position_shift == (0.0, 0.0, 0.0) and shifted(T, d) is T and not d.fused
    np.testing.assert_allclose(gates[False].published_covariance(est.covariance, est.covariance, d)[:3, :3],
                               agreed + 1.5 * np.outer(r, r))
    # checkpoints calibrated before the fusion have no gain: fusing is a no-op for them
    old = frame_gate_for({}, replace(calibration, agreed_fusion_gain=None, fused_position_cov=None), cfg)
    assert not old.fusion_gain.any() and old.residual_gain == 1.5
