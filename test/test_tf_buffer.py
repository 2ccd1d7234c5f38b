"""Our own tf buffer (used where tf2_ros is not importable): tree, interpolation, waits."""
from __future__ import annotations

import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from tf2_msgs.msg import TFMessage

from anchor_reloc_ros.core.geometry import (
    invert_transform,
    matrix_to_quat,
    quat_angle_deg,
    transform_from_pq,
)
from anchor_reloc_ros.ros.conversions import transform_stamped
from anchor_reloc_ros.ros.tf_buffer import OwnTfListener, TransformStore, TransformUnavailable
from ros_node_harness import STATIC_QOS, ros_context, wait_until  # noqa: F401

S = 1_000_000_000  # one second in ns


def yaw_q(deg: float) -> np.ndarray:
    h = np.radians(deg) / 2
    return np.array([np.cos(h), 0.0, 0.0, np.sin(h)])


def ros_time(ns: int) -> Time:
    sec, nanosec = divmod(ns, S)
    return Time(sec=sec, nanosec=nanosec)


def pq(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return T[:3, 3], matrix_to_quat(T[:3, :3])


@pytest.fixture
def store() -> TransformStore:
    s = TransformStore(cache_s=10.0)
    # map -> odom (static), odom -> base (moving along x, turning), base -> cam (static)
    s.set_transform("map", "odom", 0, [10.0, 0.0, 0.0], yaw_q(90), static=True)
    s.set_transform("odom", "base", 1 * S, [0.0, 0.0, 0.0], yaw_q(0))
    s.set_transform("odom", "base", 3 * S, [2.0, 0.0, 0.0], yaw_q(90))
    s.set_transform("base", "cam", 0, [0.5, 0.0, 1.0], yaw_q(0), static=True)
    s.set_transform("base", "wheel", 2 * S, [0.0, 0.3, 0.0], yaw_q(0))
    return s


def test_interpolates_translation_linearly_and_rotation_by_slerp(store) -> None:
    p, q = pq(store.lookup("odom", "base", 2 * S))
    np.testing.assert_allclose(p, [1.0, 0.0, 0.0], atol=1e-12)
    assert quat_angle_deg(q, yaw_q(45)) < 1e-6
    p, _ = pq(store.lookup("odom", "base", int(1.5 * S)))
    np.testing.assert_allclose(p, [0.5, 0.0, 0.0], atol=1e-12)


def test_exact_sample_times_and_identity(store) -> None:
    np.testing.assert_allclose(store.lookup("odom", "base", 3 * S),
                               transform_from_pq([2.0, 0, 0], yaw_q(90)), atol=1e-12)
    np.testing.assert_array_equal(store.lookup("cam", "cam", 5 * S), np.eye(4))


def test_chains_through_static_and_dynamic_edges(store) -> None:
    T_map_cam = store.lookup("map", "cam", 3 * S)
    expected = (transform_from_pq([10.0, 0, 0], yaw_q(90)) @ transform_from_pq([2.0, 0, 0], yaw_q(90))
                @ transform_from_pq([0.5, 0, 1.0], yaw_q(0)))
    np.testing.assert_allclose(T_map_cam, expected, atol=1e-12)
    # The reverse direction is the inverse.
    np.testing.assert_allclose(store.lookup("cam", "map", 3 * S), invert_transform(expected),
                               atol=1e-12)


def test_lookup_between_sibling_branches(store) -> None:
    T_cam_wheel = store.lookup("cam", "wheel", 2 * S)
    expected = invert_transform(transform_from_pq([0.5, 0, 1.0], yaw_q(0))) @ \
        transform_from_pq([0.0, 0.3, 0.0], yaw_q(0))
    np.testing.assert_allclose(T_cam_wheel, expected, atol=1e-12)


def test_time_zero_means_latest_common_time(store) -> None:
    # odom->base is known up to 3 s: time 0 gives the 3 s transform.
    np.testing.assert_allclose(store.lookup("odom", "cam", 0),
                               store.lookup("odom", "cam", 3 * S), atol=1e-12)
    # Static-only chains work at any time.
    np.testing.assert_allclose(store.lookup("base", "cam", 123 * S), store.lookup("base", "cam", 0))


def test_extrapolation_into_the_future_is_retryable_the_past_is_not(store) -> None:
    with pytest.raises(TransformUnavailable, match="newer") as future:
        store.lookup("odom", "base", 4 * S)
    assert future.value.retryable
    with pytest.raises(TransformUnavailable, match="older") as past:
        store.lookup("odom", "base", S // 2)
    assert not past.value.retryable


def test_unknown_and_disconnected_frames(store) -> None:
    with pytest.raises(TransformUnavailable, match="does not exist"):
        store.lookup("map", "nowhere", 2 * S)
    store.set_transform("island", "rock", 0, [0, 0, 0], yaw_q(0), static=True)
    with pytest.raises(TransformUnavailable, match="not connected"):
        store.lookup("map", "rock", 2 * S)


def test_cache_window_drops_old_samples() -> None:
    s = TransformStore(cache_s=1.0)
    for t in range(10):
        s.set_transform("odom", "base", t * S, [float(t), 0, 0], yaw_q(0))
    with pytest.raises(TransformUnavailable, match="older"):
        s.lookup("odom", "base", 5 * S)
    np.testing.assert_allclose(pq(s.lookup("odom", "base", int(8.5 * S)))[0], [8.5, 0, 0])


def test_out_of_order_samples_are_sorted() -> None:
    s = TransformStore()
    s.set_transform("odom", "base", 3 * S, [3.0, 0, 0], yaw_q(0))
    s.set_transform("odom", "base", 1 * S, [1.0, 0, 0], yaw_q(0))
    np.testing.assert_allclose(pq(s.lookup("odom", "base", 2 * S))[0], [2.0, 0, 0])


def test_invalid_transforms_are_rejected() -> None:
    s = TransformStore()
    with pytest.raises(ValueError):
        s.set_transform("base", "base", 0, [0, 0, 0], yaw_q(0))
    with pytest.raises(ValueError):
        s.set_transform("", "base", 0, [0, 0, 0], yaw_q(0))


def test_listener_over_dds_fills_the_store_and_waits_bounded(ros_context) -> None:
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    node = rclpy.create_node("tf_listener_under_test")
    peer = rclpy.create_node("tf_publisher")
    listener = OwnTfListener(node)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(peer)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        stamp = ros_time(0)
        static_pub = peer.create_publisher(TFMessage, "/tf_static", STATIC_QOS)
        tf_pub = peer.create_publisher(TFMessage, "/tf", 100)
        static_pub.publish(TFMessage(transforms=[transform_stamped(
            transform_from_pq([0.5, 0, 1.0], yaw_q(0)), "base", "cam", stamp)]))
        T = listener.lookup("base", "cam", 0, timeout_s=5.0)
        np.testing.assert_allclose(T[:3, 3], [0.5, 0, 1.0])

        wait_until(lambda: tf_pub.get_subscription_count() > 0, what="/tf subscriber")
        for t in (1, 3):
            msg = transform_stamped(transform_from_pq([float(t), 0, 0], yaw_q(0)), "odom", "base",
                                    ros_time(t * S))
            tf_pub.publish(TFMessage(transforms=[msg]))
        T = listener.lookup("odom", "cam", 2 * S, timeout_s=5.0)
        np.testing.assert_allclose(T[:3, 3], [2.5, 0, 1.0], atol=1e-12)

        # Data that never comes: the wait ends at the timeout, not later.
        t0 = time.monotonic()
        with pytest.raises(TransformUnavailable):
            listener.lookup("odom", "base", 60 * S, timeout_s=0.3)
        assert 0.25 < time.monotonic() - t0 < 2.0
        # A non-retryable failure (too old) does not wait at all.
        t0 = time.monotonic()
        with pytest.raises(TransformUnavailable):
            listener.lookup("odom", "base", S // 2, timeout_s=5.0)
        assert time.monotonic() - t0 < 0.5
    finally:
        executor.shutdown(timeout_sec=5.0)
        thread.join(5.0)
        node.destroy_node()
        peer.destroy_node()
