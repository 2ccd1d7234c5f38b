"""core.trajectory: interpolation on hand-made trajectories and the max_dt gap rule."""
from __future__ import annotations

import numpy as np
import pytest

from anchor_reloc_ros.core.geometry import quat_angle_deg
from anchor_reloc_ros.core.trajectory import Trajectory


def yaw_quat(deg: float) -> np.ndarray:
    half = np.radians(deg) / 2.0
    return np.array([np.cos(half), 0.0, 0.0, np.sin(half)])


def straight_line() -> Trajectory:
    stamps = np.array([0.0, 1.0, 2.0, 3.0])
    positions = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 2.0, 0], [2.0, 2.0, 4.0]])
    quats = np.stack([yaw_quat(0), yaw_quat(90), yaw_quat(90), yaw_quat(-90)])
    return Trajectory.from_samples(stamps, positions, quats)


def test_exact_samples_come_back_unchanged() -> None:
    traj = straight_line()
    p, q, ok = traj.interpolate(traj.stamps, max_dt=0.01)
    assert ok.all()
    np.testing.assert_allclose(p, traj.positions)
    np.testing.assert_allclose(q, traj.quats_wxyz, atol=1e-12)


def test_linear_position_and_slerp_rotation_between_samples() -> None:
    p, q, ok = straight_line().interpolate(np.array([0.25, 1.5, 2.5]), max_dt=1.0)
    assert ok.all()
    np.testing.assert_allclose(p, [[0.25, 0, 0], [1.5, 1.0, 0], [2.0, 2.0, 2.0]])
    # 0 -> 90 deg yaw at a quarter: 22.5 deg; 90 -> -90 deg halfway: the shorter way is
    # ambiguous at exactly 180 deg, so check the angle to both ends instead.
    assert quat_angle_deg(q[0], yaw_quat(22.5)) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(q[1], yaw_quat(90), atol=1e-12)
    assert quat_angle_deg(q[2], yaw_quat(90)) == pytest.approx(90.0, abs=1e-6)
    assert quat_angle_deg(q[2], yaw_quat(-90)) == pytest.approx(90.0, abs=1e-6)


def test_slerp_takes_the_short_way_round() -> None:
    traj = Trajectory.from_samples([0.0, 1.0], np.zeros((2, 3)), [yaw_quat(170), yaw_quat(-170)])
    _, q, ok = traj.interpolate([0.5], max_dt=1.0)
    assert ok.all()
    assert quat_angle_deg(q[0], yaw_quat(180)) == pytest.approx(0.0, abs=1e-6)


def test_gap_rule_and_no_extrapolation() -> None:
    stamps = np.array([0.0, 0.1, 0.2, 5.0, 5.1])
    traj = Trajectory.from_samples(stamps, np.zeros((5, 3)), np.tile(yaw_quat(0), (5, 1)))
    # before the start, inside, exact, 0.05 s after 0.2 but 4.75 s before 5.0 (gap),
    # mid-gap, 0.05 s before 5.0 but 4.75 s after 0.2 (gap), inside, exact last, after
    query = np.array([-0.01, 0.05, 0.2, 0.25, 2.6, 4.95, 5.05, 5.1, 5.11])
    _, _, ok = traj.interpolate(query, max_dt=0.1)
    assert ok.tolist() == [False, True, True, False, False, False, True, True, False]


def test_unsorted_and_duplicate_samples_are_sorted_last_wins() -> None:
    traj = Trajectory.from_samples([2.0, 0.0, 1.0, 1.0], [[2, 0, 0], [0, 0, 0], [9, 9, 9], [1, 0, 0]],
                                   np.tile(yaw_quat(0), (4, 1)))
    np.testing.assert_array_equal(traj.stamps, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(traj.positions[:, 0], [0.0, 1.0, 2.0])
    p, _, ok = traj.interpolate([1.5, 0.5], max_dt=1.0)
    assert ok.all()
    np.testing.assert_allclose(p[:, 0], [1.5, 0.5])


def test_empty_and_invalid_input() -> None:
    empty = Trajectory.from_samples(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 4)))
    p, q, ok = empty.interpolate([1.0], max_dt=1.0)
    assert not ok.any() and np.isnan(p).all() and np.isnan(q).all()
    with pytest.raises(ValueError, match="non-finite"):
        Trajectory.from_samples([0.0, np.nan], np.zeros((2, 3)), np.tile(yaw_quat(0), (2, 1)))
    with pytest.raises(ValueError, match="2 timestamps"):
        Trajectory.from_samples([0.0, 1.0], np.zeros((3, 3)), np.tile(yaw_quat(0), (3, 1)))
