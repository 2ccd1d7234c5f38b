"""REP-105 map -> odom and camera -> base algebra, by hand and through the running node,
and map -> odom kept alive between estimates (as AMCL)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage

from anchor_reloc_ros.core.geometry import R_BODY_OPTICAL, invert_transform, make_transform
from anchor_reloc_ros.core.geometry import transform_from_pq
from anchor_reloc_ros.ros.conversions import (
    pose_msg_to_matrix,
    stamp_to_ns,
    transform_msg_to_matrix,
    transform_stamped,
)
from anchor_reloc_ros.ros.pose_math import (
    COVARIANCE_FLOOR,
    camera_to_base,
    covariance_through_lever,
    map_to_odom,
    sanitize_covariance,
)
from anchor_reloc_ros.ros.tf_republisher import LatestTransform
from ros_node_harness import (  # noqa: F401 - fixtures are imported by name
    STATIC_QOS,
    Harness,
    image_msg,
    plumbing_checkpoint,
    random_rgb,
    ros_context,
    wait_until,
)

S = 1_000_000_000


def yaw(deg: float, t=(0.0, 0.0, 0.0)) -> np.ndarray:
    h = np.radians(deg) / 2
    return transform_from_pq(t, [np.cos(h), 0, 0, np.sin(h)])


@pytest.mark.parametrize("T_map_base, T_odom_base, expected", [
    # base at (2, 1) facing +y in the map; odometry says (1, 0) facing +x.
    (yaw(90, (2, 1, 0)), yaw(0, (1, 0, 0)), yaw(90, (2, 0, 0))),
    # base at the map origin facing -x; odometry says (1, 1) facing +y.
    (yaw(180), yaw(90, (1, 1, 0)), yaw(90, (1, -1, 0))),
    # identical map and odom: identity.
    (yaw(30, (4, 5, 0)), yaw(30, (4, 5, 0)), np.eye(4)),
])
def test_map_to_odom_matches_hand_computed_transforms(T_map_base, T_odom_base, expected) -> None:
    T_map_odom = map_to_odom(T_map_base, T_odom_base)
    np.testing.assert_allclose(T_map_odom, expected, atol=1e-12)
    # And chaining it with odometry gives back the localized base pose.
    np.testing.assert_allclose(T_map_odom @ T_odom_base, T_map_base, atol=1e-12)


def test_camera_to_base_with_an_optical_camera_hand_computed() -> None:
    # Optical camera 1 m up at the map origin looking along map +x; the base is 0.5 m
    # behind it on the floor. In optical axes (x right, y down, z forward) the base is
    # at (0, 1, -0.5).
    T_map_cam = make_transform(R_BODY_OPTICAL, [0.0, 0.0, 1.0])
    T_cam_base = make_transform(R_BODY_OPTICAL.T, [0.0, 1.0, -0.5])
    sigma2 = 0.01
    cov_cam = np.diag([0.04, 0.04, 0.09, sigma2, sigma2, sigma2])
    T_map_base, cov_base = camera_to_base(T_map_cam, cov_cam, T_cam_base)
    np.testing.assert_allclose(T_map_base, make_transform(np.eye(3), [-0.5, 0.0, 0.0]), atol=1e-12)
    # Lever from camera to base in the map: l = (-0.5, 0, -1). A yaw error d moves the
    # base by d * z x l = (0, -0.5 d, 0): var(y) grows by 0.25 sigma^2, cov(y, yaw) = -0.5 sigma^2.
    assert cov_base[1, 1] == pytest.approx(0.04 + 0.25 * sigma2 + 1.0 * sigma2)  # roll lever too
    assert cov_base[1, 5] == pytest.approx(-0.5 * sigma2)
    assert cov_base[0, 0] == pytest.approx(0.04 + 1.0 * sigma2)  # pitch error swings x by 1 m
    assert cov_base[2, 2] == pytest.approx(0.09 + 0.25 * sigma2)
    np.testing.assert_allclose(cov_base[3:, 3:], cov_cam[3:, 3:])
    np.testing.assert_allclose(cov_base, cov_base.T)


def test_lever_covariance_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    cov = np.diag([0.02, 0.03, 0.01, 0.004, 0.002, 0.003])
    cov[0, 5] = cov[5, 0] = 0.001
    lever = np.array([0.3, -0.8, 1.2])
    samples = rng.multivariate_normal(np.zeros(6), cov, size=5_000)

    def rot(v: np.ndarray) -> np.ndarray:
        angle = np.linalg.norm(v)
        k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / max(angle, 1e-12)
        return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k

    moved = np.array([s[:3] + rot(s[3:]) @ lever - lever for s in samples])
    empirical = np.cov(np.hstack([moved, samples[:, 3:]]).T)
    np.testing.assert_allclose(covariance_through_lever(cov, lever), empirical, atol=2e-3)


def test_sanitize_never_returns_zero_or_nan() -> None:
    assert np.all(np.diag(sanitize_covariance(np.zeros((6, 6)))) >= COVARIANCE_FLOOR)
    bad = np.full((6, 6), np.nan)
    assert np.all(np.isfinite(sanitize_covariance(bad)))
    assert np.all(np.diag(sanitize_covariance(bad)) > 1.0)


# ------------------------------------------------------------- through the node
T_BASE_CAM = make_transform(R_BODY_OPTICAL, [0.3, 0.0, 0.8])


def _time(ns: int) -> Time:
    sec, nanosec = divmod(ns, S)
    return Time(sec=sec, nanosec=nanosec)


@pytest.fixture(scope="module")
def node(ros_context, plumbing_checkpoint):
    h = Harness({"weights": str(plumbing_checkpoint), "device": "cpu", "tf_mode": "map_to_odom",
                 "qos_reliability": "reliable", "tf_timeout_s": 0.5})
    static = h.peer.create_publisher(TFMessage, "/tf_static", STATIC_QOS)
    static.publish(TFMessage(transforms=[transform_stamped(T_BASE_CAM, "base_link",
                                                           "camera_optical", _time(0))]))
    h.keep = static
    h.tf_pub = h.publisher(TFMessage, "/tf", 100)
    h.tf = h.subscribe(TFMessage, "/tf", 100)
    h.pose = h.subscribe(PoseWithCovarianceStamped, "/anchor_reloc_node/pose")
    h.images = h.publisher(Image, "/image_raw", 10)
    yield h
    h.close()


def test_node_publishes_map_to_odom_at_the_image_stamp(node) -> None:
    stamp = 100 * S
    # Odometry 0.1 s before and after the image: base at x = 1.0 and 1.2, so 1.1 at the stamp.
    node.tf_pub.publish(TFMessage(transforms=[
        transform_stamped(yaw(0, (1.0, 0.0, 0.0)), "odom", "base_link", _time(stamp - S // 10)),
        transform_stamped(yaw(0, (1.2, 0.0, 0.0)), "odom", "base_link", _time(stamp + S // 10)),
    ]))
    rgb = random_rgb(11)
    node.images.publish(image_msg(rgb, "rgb8", stamp, "camera_optical"))
    pose = node.pose.wait(lambda m: stamp_to_ns(m.header.stamp) == stamp, what="pose")
    T_map_base = pose_msg_to_matrix(pose.pose.pose)
    est = node.node.localizer.localize(rgb)
    np.testing.assert_allclose(T_map_base, est.transform() @ invert_transform(T_BASE_CAM), atol=1e-5)

    def map_odom(m: TFMessage):
        return [t for t in m.transforms if t.header.frame_id == "map"]

    msg = node.tf.wait(lambda m: any(stamp_to_ns(t.header.stamp) == stamp for t in map_odom(m)),
                       what="map -> odom")
    (tf,) = map_odom(msg)
    assert tf.child_frame_id == "odom"
    expected = T_map_base @ invert_transform(yaw(0, (1.1, 0.0, 0.0)))
    np.testing.assert_allclose(transform_msg_to_matrix(tf.transform), expected, atol=1e-5)
    # base_link never gets a second parent from the node.
    assert not [t for m in node.tf.items() for t in m.transforms
                if t.child_frame_id == "base_link" and t.header.frame_id != "odom"]


def test_missing_odometry_skips_tf_but_still_publishes_the_pose(node) -> None:
    failures = node.node.stats.counters["tf_failures"]
    stamp = 500 * S  # odometry never reaches this time
    node.images.publish(image_msg(random_rgb(12), "rgb8", stamp, "camera_optical"))
    node.pose.wait(lambda m: stamp_to_ns(m.header.stamp) == stamp, what="pose without odom")
    wait_until(lambda: node.node.stats.counters["tf_failures"] > failures, what="tf failure count")
    assert not [t for m in node.tf.items() for t in m.transforms
                if t.header.frame_id == "map" and stamp_to_ns(t.header.stamp) == stamp]


# ------------------------------------------- map -> odom kept alive between estimates
TOLERANCE_S = 0.5  # the transform_tolerance default


class _TimedInbox:
    """map -> odom transforms with their wall-clock arrival time (ns)."""

    def __init__(self) -> None:
        self.items: list[tuple[int, object]] = []

    def __call__(self, msg: TFMessage) -> None:
        now = time.time_ns()
        self.items.extend((now, t) for t in msg.transforms if t.header.frame_id == "map")

    def between(self, start_ns: int, end_ns: int) -> list[tuple[int, object]]:
        return [(at, t) for at, t in list(self.items) if start_ns <= at <= end_ns]


def _localize_now(h: Harness, seed: int) -> int:
    """One image stamped now, with odometry around it; returns its stamp once posed."""
    stamp = time.time_ns()
    h.tf_pub.publish(TFMessage(transforms=[
        transform_stamped(yaw(0, (2.0, 0.0, 0.0)), "odom", "base_link", _time(stamp - S // 5)),
        transform_stamped(yaw(0, (2.0, 0.0, 0.0)), "odom", "base_link", _time(stamp + S // 5)),
    ]))
    h.images.publish(image_msg(random_rgb(seed), "rgb8", stamp, "camera_optical"))
    return stamp


def _assert_kept_alive(h: Harness, inbox: _TimedInbox, last_ns: int, expected: np.ndarray) -> None:
    """From 2 to 3.5 s after ``last_ns``: map -> odom arrives, fresh, increasing, unchanged."""
    time.sleep(max(0.0, (last_ns + 3_600_000_000 - time.time_ns()) * 1e-9))
    late = inbox.between(last_ns + 2 * S, last_ns + 3_500_000_000)
    assert len(late) >= 5, f"only {len(late)} map -> odom in 2..3.5 s after the last image"
    stamps = [stamp_to_ns(t.header.stamp) for _, t in late]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), "stamps must increase"
    for arrived, t in late:
        assert t.child_frame_id == "odom"
        ahead = stamp_to_ns(t.header.stamp) - arrived  # stamped now + tolerance when sent
        assert 0 < ahead <= TOLERANCE_S * S, f"stamp {ahead * 1e-9:+.3f} s from its arrival"
        np.testing.assert_allclose(transform_msg_to_matrix(t.transform), expected, atol=1e-5)


def _accepted_map_odom(h: Harness, inbox: _TimedInbox, stamp: int) -> np.ndarray:
    """The map -> odom broadcast for the image stamped ``stamp``."""
    h.pose.wait(lambda m: stamp_to_ns(m.header.stamp) == stamp, what="pose")
    wait_until(lambda: [t for _, t in list(inbox.items) if stamp_to_ns(t.header.stamp) == stamp],
               what="map -> odom at the image stamp")
    (t,) = [t for _, t in list(inbox.items) if stamp_to_ns(t.header.stamp) == stamp]
    return transform_msg_to_matrix(t.transform)


def test_map_to_odom_is_rebroadcast_with_fresh_stamps_after_the_camera_stops(node) -> None:
    inbox = _TimedInbox()
    sub = node.peer.create_subscription(TFMessage, "/tf", inbox, 100)
    stamps = []
    for i in range(3):
        stamps.append(_localize_now(node, 30 + i))
        time.sleep(0.2)
    expected = _accepted_map_odom(node, inbox, stamps[-1])
    _assert_kept_alive(node, inbox, stamps[-1], expected)
    node.peer.destroy_subscription(sub)


def test_one_shot_mode_keeps_map_to_odom_alive_after_the_service_call(node) -> None:
    client = node.peer.create_client(Trigger, "/anchor_reloc_node/relocalize")
    assert client.wait_for_service(timeout_sec=5.0)
    node.node.set_parameters([Parameter("continuous", value=False)])
    try:
        inbox = _TimedInbox()
        sub = node.peer.create_subscription(TFMessage, "/tf", inbox, 100)
        received = node.node.stats.counters["received"]
        stamp = _localize_now(node, 40)
        wait_until(lambda: node.node.stats.counters["received"] > received, what="the image")
        future = client.call_async(Trigger.Request())
        response = wait_until(lambda: future.done() and future.result(), what="relocalize reply")
        assert response.success, response.message
        expected = _accepted_map_odom(node, inbox, stamp)
        _assert_kept_alive(node, inbox, time.time_ns(), expected)
        node.peer.destroy_subscription(sub)
    finally:
        node.node.set_parameters([Parameter("continuous", value=True)])
        node.peer.destroy_client(client)


def test_rebroadcast_stamp_is_the_newer_of_estimate_and_now_plus_tolerance() -> None:
    kept = LatestTransform()
    assert kept.restamped(now_ns=5 * S, tolerance_ns=S // 2) is None
    kept.set(yaw(10, (1, 2, 0)), "map", "odom", stamp_ns=7 * S)
    ahead = kept.restamped(now_ns=5 * S, tolerance_ns=S // 2)  # camera clock ahead of ours
    assert ahead.stamp_ns == 7 * S + S // 2 and (ahead.parent, ahead.child) == ("map", "odom")
    np.testing.assert_allclose(ahead.T, yaw(10, (1, 2, 0)))
    assert kept.restamped(now_ns=9 * S, tolerance_ns=S // 2).stamp_ns == 9 * S + S // 2
    kept.clear()
    assert kept.restamped(now_ns=9 * S, tolerance_ns=0) is None
