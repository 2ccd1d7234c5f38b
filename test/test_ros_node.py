"""The real node over real DDS: images in; pose, TF, AnchorDebug, markers, diagnostics out."""
from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from anchor_reloc_ros.core.geometry import invert_transform, transform_from_pq
from anchor_reloc_ros.data.image_codec import compressed_to_rgb, image_to_rgb
from anchor_reloc_ros.msg import AnchorDebug
from anchor_reloc_ros.ros.conversions import pose_msg_to_matrix, stamp_to_ns, transform_msg_to_matrix
from anchor_reloc_ros.ros.conversions import transform_stamped
from anchor_reloc_ros.ros.pose_math import camera_to_base
from ros_node_harness import (  # noqa: F401 - fixtures are imported by name
    STATIC_QOS,
    Harness,
    plumbing_checkpoint,
    compressed_msg,
    image_msg,
    random_rgb,
    ros_context,
    stamped,
    wait_until,
)

NS = "/anchor_reloc_node"
# base_link -> camera optical frame: 0.2 m forward, 0.5 m up, REP-103 optical rotation.
T_BASE_CAM = transform_from_pq([0.2, 0.0, 0.5], [0.5, -0.5, 0.5, -0.5])


def _has_stamp(stamp_ns: int):
    return lambda m: stamp_to_ns(m.header.stamp) == stamp_ns


@pytest.fixture(scope="module")
def raw(ros_context, plumbing_checkpoint):
    h = Harness({"weights": str(plumbing_checkpoint), "device": "cpu",
                 "image_topic": "camera/image_raw", "tf_mode": "map_to_base",
                 "publish_initialpose": True, "initialpose_min_confidence": 0.0,
                 "initialpose_interval_s": 0.0, "diagnostics_period_s": 0.2,
                 "relocalize_timeout_s": 1.0})
    static = h.peer.create_publisher(TFMessage, "/tf_static", STATIC_QOS)
    static.publish(TFMessage(transforms=[transform_stamped(
        T_BASE_CAM, "base_link", "camera_optical", stamped(Image(), 0, "").header.stamp)]))
    h.static_pub = static
    h.pose = h.subscribe(PoseWithCovarianceStamped, f"{NS}/pose")
    h.anchor = h.subscribe(AnchorDebug, f"{NS}/anchor")
    h.markers = h.subscribe(MarkerArray, f"{NS}/markers")
    h.tf = h.subscribe(TFMessage, "/tf", 100)
    h.initialpose = h.subscribe(PoseWithCovarianceStamped, "/initialpose")
    h.diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    h.images = h.publisher(Image, "/camera/image_raw")
    yield h
    h.close()


def _expected_base(h: Harness, rgb: np.ndarray):
    est = h.node.localizer.localize(rgb)
    return est, *camera_to_base(est.transform(), est.covariance, invert_transform(T_BASE_CAM))


def test_raw_image_gives_base_pose_and_every_output_with_the_image_stamp(raw) -> None:
    stamp = 1_700_000_000_123_456_789
    rgb = random_rgb(1)
    pose = raw.publish_until(raw.images, image_msg(rgb, "rgb8", stamp), raw.pose, _has_stamp(stamp))
    est, T_map_base, cov_base = _expected_base(raw, rgb)

    assert pose.header.frame_id == "map"
    np.testing.assert_allclose(pose_msg_to_matrix(pose.pose.pose), T_map_base, atol=1e-5)
    cov = np.asarray(pose.pose.covariance).reshape(6, 6)
    np.testing.assert_allclose(cov, cov_base, rtol=1e-6, atol=1e-9)
    assert np.all(np.diag(cov) > 0) and np.allclose(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > -1e-9)

    debug = raw.anchor.wait(_has_stamp(stamp), what="AnchorDebug")
    assert debug.header.frame_id == "map"
    assert debug.anchor_index == est.anchor_index and debug.decode_mode == "argmax"
    np.testing.assert_allclose([debug.anchor_position.x, debug.anchor_position.y],
                               est.anchor_position[:2], atol=1e-6)
    assert list(debug.topk_indices) == list(est.topk_indices) and len(debug.topk_indices) == 3
    assert debug.confidence == pytest.approx(est.anchor_confidence, rel=1e-5)
    assert 0 <= debug.nearest_anchor_index < len(raw.node.localizer.anchors_world)
    assert debug.inference_ms > 0 and debug.latency_ms >= debug.inference_ms * 0.5

    markers = raw.markers.wait(lambda m: m.markers and _has_stamp(stamp)(m.markers[0]),
                               what="MarkerArray")
    by_ns = {m.ns: m for m in markers.markers}
    assert {"anchors", "chosen_anchor", "offset", "estimate"} <= set(by_ns)
    assert all(m.header.frame_id == "map" for m in markers.markers)
    assert len(by_ns["anchors"].points) == len(raw.node.localizer.anchors_world)
    np.testing.assert_allclose(pose_msg_to_matrix(by_ns["estimate"].pose), T_map_base, atol=1e-5)

    tf = raw.tf.wait(lambda m: any(t.child_frame_id == "base_link" and
                                   stamp_to_ns(t.header.stamp) == stamp for t in m.transforms),
                     what="map -> base_link on /tf")
    (t,) = [t for t in tf.transforms if t.child_frame_id == "base_link"]
    assert t.header.frame_id == "map"
    np.testing.assert_allclose(transform_msg_to_matrix(t.transform), T_map_base, atol=1e-5)

    init = raw.initialpose.wait(_has_stamp(stamp), what="initialpose")
    assert init.header.frame_id == "map"


def test_diagnostics_report_rates_latency_counters_and_device(raw) -> None:
    raw.publish_until(raw.images, image_msg(random_rgb(2), "rgb8", 5_000_000_000), raw.pose,
                      _has_stamp(5_000_000_000))

    def processed(msg: DiagnosticArray) -> bool:
        values = {kv.key: kv.value for kv in msg.status[0].values}
        return int(values.get("frames_published", "0")) >= 1

    diag = raw.diagnostics.wait(processed, what="diagnostics after a frame")
    status = diag.status[0]
    values = {kv.key: kv.value for kv in status.values}
    for key in ("input_rate_hz", "output_rate_hz", "latency_p50_ms", "latency_p95_ms",
                "frames_dropped", "frames_bad", "frames_received", "device"):
        assert key in values, key
    assert values["device"] == "cpu" and status.hardware_id == "cpu"
    assert float(values["latency_p50_ms"]) > 0
    assert values["pose_of"] == "base_link"
    assert values["decode"] == "argmax" and values["views"] == "1"
    assert "anchor_reloc_node" in status.name


ENCODINGS = [("bgr8", 4), ("mono8", 0), ("bayer_rggb8", 2), ("yuv422", 0), ("rgba8", 0), ("mono16", 0)]


@pytest.mark.parametrize("encoding, padding", ENCODINGS)
def test_camera_encodings_reach_the_model(raw, encoding: str, padding: int) -> None:
    # a distinct stamp per case (hash() is salted per process and could collide)
    stamp = 10_000_000_000 + 1000 * ENCODINGS.index((encoding, padding))
    msg = image_msg(random_rgb(3), encoding, stamp, padding=padding)
    pose = raw.publish_until(raw.images, msg, raw.pose, _has_stamp(stamp))
    decoded = image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data, False)
    _, T_map_base, _ = _expected_base(raw, decoded)
    np.testing.assert_allclose(pose_msg_to_matrix(pose.pose.pose), T_map_base, atol=1e-5)


def test_tf_mode_map_to_camera_and_fusion_decode_at_run_time(raw) -> None:
    results = raw.node.set_parameters([Parameter("tf_mode", value="map_to_camera"),
                                       Parameter("decode", value="fusion")])
    try:
        assert all(r.successful for r in results), results
        assert raw.node.params.tf_mode == "map_to_camera"
        assert raw.node.localizer.decode == "fusion"
        stamp, rgb = 20_000_000_000, random_rgb(4)
        raw.publish_until(raw.images, image_msg(rgb, "rgb8", stamp), raw.pose, _has_stamp(stamp))
        tf = raw.tf.wait(lambda m: any(t.child_frame_id == "camera_optical" and
                                       stamp_to_ns(t.header.stamp) == stamp for t in m.transforms),
                         what="map -> camera_optical")
        est = raw.node.localizer.localize(rgb)
        np.testing.assert_allclose(transform_msg_to_matrix(tf.transforms[0].transform),
                                   est.transform(), atol=1e-5)
        assert raw.anchor.wait(_has_stamp(stamp)).decode_mode == "fusion"
    finally:
        raw.node.set_parameters([Parameter("tf_mode", value="map_to_base"),
                                 Parameter("decode", value="argmax")])


@pytest.mark.parametrize("name, value, reason", [
    ("decode", "median", "decode"),
    ("tf_mode", "map_to_world", "tf_mode"),
    ("top_k", 0, "top_k"),
    ("views", 3, "views"),
    ("min_confidence", 1.5, "min_confidence"),
    ("base_frame", "/base_link", "frame id"),
    ("map_frame", "", "frame id"),
    ("weights", "/other.ckpt", "read-only"),
    ("device", "cuda", "read-only"),
])
def test_bad_parameter_values_are_refused_with_a_reason(raw, name: str, value, reason: str) -> None:
    (result,) = raw.node.set_parameters([Parameter(name, value=value)])
    assert not result.successful
    assert reason in result.reason or reason.replace("-", "") in result.reason.lower()
    assert raw.node.params.tf_mode == "map_to_base" and raw.node.params.decoding.mode == "argmax"


def test_min_confidence_gates_the_pose_but_not_the_debug(raw) -> None:
    raw.node.set_parameters([Parameter("min_confidence", value=1.0)])
    try:
        before = raw.node.stats.counters["gated_low_confidence"]
        stamp = 30_000_000_000
        raw.publish_until(raw.images, image_msg(random_rgb(5), "rgb8", stamp), raw.anchor,
                          _has_stamp(stamp))
        assert raw.node.stats.counters["gated_low_confidence"] > before
        assert not [m for m in raw.pose.items() if _has_stamp(stamp)(m)]
    finally:
        raw.node.set_parameters([Parameter("min_confidence", value=0.0)])


def test_one_shot_mode_localizes_only_on_relocalize(raw) -> None:
    client = raw.peer.create_client(Trigger, f"{NS}/relocalize")
    assert client.wait_for_service(timeout_sec=5.0)
    raw.node.set_parameters([Parameter("continuous", value=False)])
    try:
        stamp = 40_000_000_000
        received = raw.node.stats.counters["received"]
        for _ in range(3):  # best-effort link: a few copies of the same frame
            raw.images.publish(image_msg(random_rgb(6), "rgb8", stamp))
            time.sleep(0.05)
        wait_until(lambda: raw.node.stats.counters["received"] > received, what="the image")
        time.sleep(0.3)
        assert not [m for m in raw.pose.items() if _has_stamp(stamp)(m)], "localized unasked"
        future = client.call_async(Trigger.Request())
        response = wait_until(lambda: future.done() and future.result(), what="relocalize reply")
        assert response.success, response.message
        assert raw.pose.wait(_has_stamp(stamp)).header.frame_id == "map"
        # No new frame since: the service answers "no estimate" within its timeout.
        future = client.call_async(Trigger.Request())
        response = wait_until(lambda: future.done() and future.result(), what="second reply")
        assert not response.success and "/camera/image_raw" in response.message
    finally:
        raw.node.set_parameters([Parameter("continuous", value=True)])
        raw.peer.destroy_client(client)


@pytest.fixture(scope="module")
def compressed(ros_context, plumbing_checkpoint):
    h = Harness({"weights": str(plumbing_checkpoint), "device": "cpu",
                 "image_topic": "cam/image", "image_transport": "compressed",
                 "base_frame": "camera_optical"}, namespace="robot2")
    h.pose = h.subscribe(PoseWithCovarianceStamped, "/robot2/anchor_reloc_node/pose")
    h.images = h.publisher(CompressedImage, "/robot2/cam/image/compressed")
    yield h
    h.close()


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_images_in_a_namespace(compressed, fmt: str) -> None:
    stamp = 50_000_000_000 + len(fmt)
    msg = compressed_msg(random_rgb(7), fmt, stamp)
    pose = compressed.publish_until(compressed.images, msg, compressed.pose, _has_stamp(stamp))
    est = compressed.node.localizer.localize(compressed_to_rgb(msg.format, msg.data))
    # base_frame == camera frame: the published pose is the camera pose itself.
    np.testing.assert_allclose(pose_msg_to_matrix(pose.pose.pose), est.transform(), atol=1e-5)


def test_max_rate_hz_limits_processing_and_drops_the_rest(raw) -> None:
    raw.node.set_parameters([Parameter("max_rate_hz", value=4.0)])
    try:
        before = raw.node.stats.counters.snapshot()
        t0 = time.monotonic()
        for i in range(30):  # ~30 Hz for one second
            raw.images.publish(image_msg(random_rgb(i % 4), "rgb8", (60 + i) * 1_000_000_000))
            time.sleep(max(0.0, t0 + (i + 1) / 30 - time.monotonic()))
        elapsed = time.monotonic() - t0
        time.sleep(0.3)
        after = raw.node.stats.counters.snapshot()
        processed = after["processed"] - before["processed"]
        assert 1 <= processed <= 4.0 * (elapsed + 0.3) + 1, (processed, elapsed)
        assert after["dropped"] - before["dropped"] > 0
    finally:
        raw.node.set_parameters([Parameter("max_rate_hz", value=0.0)])


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime missing")
def test_onnx_export_runs_on_the_onnxruntime_backend(ros_context, plumbing_checkpoint,
                                                     tmp_path) -> None:
    from anchor_reloc_ros.core.onnx_export import export_onnx

    onnx_path = export_onnx(plumbing_checkpoint, tmp_path / "model.onnx")
    h = Harness({"weights": str(onnx_path), "device": "cpu", "backend": "onnxruntime",
                 "base_frame": "camera_optical", "image_topic": "onnx/image"})
    try:
        assert h.node.localizer.backend.name == "onnxruntime"
        pose_inbox = h.subscribe(PoseWithCovarianceStamped, f"{NS}/pose")
        images = h.publisher(Image, "/onnx/image")
        stamp, rgb = 90_000_000_000, random_rgb(9)
        pose = h.publish_until(images, image_msg(rgb, "rgb8", stamp), pose_inbox, _has_stamp(stamp))
        np.testing.assert_allclose(pose_msg_to_matrix(pose.pose.pose),
                                   h.node.localizer.localize(rgb).transform(), atol=1e-5)
    finally:
        h.close()
