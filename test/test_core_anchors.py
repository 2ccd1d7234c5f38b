"""Anchor selection, offsets, and up-axis detection on non-z-up trajectories."""
import numpy as np
import pytest

from anchor_reloc_ros.core.anchors import (anchor_offsets, detect_up_axis, nearest_anchor,
                                           route_frame_from_trajectory, select_anchors)
from anchor_reloc_ros.core.errors import ConfigError
from anchor_reloc_ros.core.geometry import R_BODY_OPTICAL, matrix_to_quat


def _walk(n: int = 50) -> np.ndarray:
    t = np.linspace(0, 1, n)
    return np.stack([30 * t, 5 * np.sin(6 * t), np.full(n, 1.6)], axis=1)


def test_every_kth_frame_is_an_anchor_and_count_follows_data() -> None:
    P = _walk(53)
    anchors = select_anchors(P, 10)
    assert anchors.count == 6  # frames 0, 10, ..., 50
    np.testing.assert_array_equal(anchors.frame_indices, [0, 10, 20, 30, 40, 50])
    np.testing.assert_allclose(anchors.positions_route, P[::10])
    assert select_anchors(P, 7).count == 8


def test_offsets_and_nearest() -> None:
    anchors = select_anchors(np.array([[0.0, 0, 0], [10.0, 0, 0], [20.0, 0, 0]]), 1)
    P = np.array([[12.0, 1.0, 5.0]])
    off = anchor_offsets(P, anchors)
    assert off.shape == (1, 3, 2)
    np.testing.assert_allclose(off[0], [[12, 1], [2, 1], [-8, 1]])
    assert nearest_anchor(P, anchors)[0] == 1
    anchors3 = select_anchors(np.array([[0.0, 0, 0], [0.0, 0, 10]]), 1, dims=3)
    assert nearest_anchor(np.array([[0.0, 0, 9]]), anchors3)[0] == 1


@pytest.mark.parametrize("up", [np.array([0, 0, 1.0]), np.array([1.0, 0, 0]), np.array([0, -1.0, 0])])
def test_up_axis_detected_with_sign_from_cameras(up: np.ndarray) -> None:
    # Build a walk in a plane with normal `up`, cameras upright relative to `up`.
    e1 = np.array([0, 1.0, 0]) if abs(up[1]) < 0.5 else np.array([0, 0, 1.0])
    e2 = np.cross(up, e1)
    local = _walk()
    P = local[:, :1] * e1 + local[:, 1:2] * e2 + local[:, 2:3] * up
    R_world_body = np.stack([e1, e2, up], axis=1)  # body x along e1, z along up
    q = np.repeat(matrix_to_quat(R_world_body @ R_BODY_OPTICAL)[None], len(P), axis=0)
    np.testing.assert_allclose(detect_up_axis(P, q), up, atol=1e-6)
    frame = route_frame_from_trajectory(P, q)
    np.testing.assert_allclose(frame.R_route_world[2], up, atol=1e-6)
    np.testing.assert_allclose(frame.R_route_world @ frame.R_route_world.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(frame.R_route_world) == pytest.approx(1.0)
    # round trip through the route frame
    np.testing.assert_allclose(frame.to_world(frame.to_route(P)), P, atol=1e-9)


def test_named_up_axis_and_bad_values() -> None:
    P = _walk()
    frame = route_frame_from_trajectory(P, up_axis="-y")
    np.testing.assert_allclose(frame.R_route_world[2], [0, -1, 0])
    with pytest.raises(ConfigError):
        route_frame_from_trajectory(P, up_axis="up")
    with pytest.raises(ConfigError):
        select_anchors(P, 0)
