"""Malformed images are counted, logged and skipped; the node keeps serving good frames;
/diagnostics leaves OK when they take over."""
from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseWithCovarianceStamped
from rcl_interfaces.msg import Log
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from anchor_reloc_ros.ros.conversions import stamp_to_ns
from ros_node_harness import (  # noqa: F401 - fixtures are imported by name
    Harness,
    compressed_msg,
    image_msg,
    plumbing_checkpoint,
    random_rgb,
    ros_context,
    stamped,
    wait_until,
)

GOOD = random_rgb(21)


def _raw(encoding: str, height: int, width: int, step: int, data: bytes) -> Image:
    return stamped(Image(encoding=encoding, height=height, width=width, step=step, data=data),
                   1, "camera_optical")


BAD_RAW = {
    "unknown encoding": _raw("32FC1", 4, 4, 16, bytes(64)),
    "empty encoding": _raw("", 4, 4, 12, bytes(48)),
    "truncated data": _raw("rgb8", 4, 4, 12, bytes(47)),
    "too much data": _raw("rgb8", 4, 4, 12, bytes(55)),
    "step shorter than a row": _raw("rgb8", 4, 4, 11, bytes(44)),
    "zero height": _raw("rgb8", 0, 4, 12, b""),
    "zero width": _raw("bgr8", 4, 0, 0, b""),
    "odd width yuv422": _raw("yuv422", 4, 3, 6, bytes(24)),
    "odd step mono16": _raw("mono16", 2, 2, 5, bytes(10)),
    "no data at all": _raw("mono8", 4, 4, 4, b""),
    "size far beyond the data": _raw("rgb8", 100_000, 100_000, 300_000, bytes(12)),
    "1x1 pixel": _raw("rgb8", 1, 1, 3, bytes(3)),   # decodes, but too small for the model
    "1 row": _raw("mono8", 1, 64, 64, bytes(64)),
}


def _compressed(fmt: str, data: bytes) -> CompressedImage:
    return stamped(CompressedImage(format=fmt, data=data), 1, "camera_optical")


BAD_COMPRESSED = {
    "garbage jpeg": _compressed("jpeg", b"\xff\xd8\xff\xe0 not a jpeg at all" * 4),
    "empty payload": _compressed("jpeg", b""),
    "truncated jpeg": _compressed("jpeg", compressed_msg(GOOD, "jpeg").data[:40]),
    "png header only": _compressed("png", b"\x89PNG\r\n\x1a\n" + bytes(30)),
    "depth image": _compressed("16UC1; compressedDepth png", compressed_msg(GOOD, "png").data),
    "1x1 png": compressed_msg(GOOD[:1, :1], "png"),
}


def _send_bad_then_good(h: Harness, bad: dict, good) -> None:
    """Send each bad message once it is the only one in flight, then a good frame."""
    for i, (kind, msg) in enumerate(bad.items(), start=1):
        h.images.publish(msg)
        wait_until(lambda: h.node.stats.counters["bad"] >= i, timeout_s=5.0,
                   what=f"bad frame #{i} ({kind}) to be counted")
    counts = h.node.stats.counters.snapshot()
    assert counts["bad"] == len(bad), counts
    assert counts["errors"] == 0, counts
    assert all(w.is_alive() for w in h.node._workers)
    stamp = 77 * 1_000_000_000
    h.images.publish(stamped(good, stamp, "camera_optical"))
    pose = h.pose.wait(lambda m: stamp_to_ns(m.header.stamp) == stamp, what="a pose after the bad frames")
    assert np.all(np.isfinite([pose.pose.pose.position.x, pose.pose.pose.orientation.w]))

    def reports_bad(m: DiagnosticArray) -> bool:
        values = {kv.key: kv.value for kv in m.status[0].values}
        return values.get("frames_bad") == str(len(bad)) and values.get("frames_published") != "0"

    h.diagnostics.wait(reports_bad, what="diagnostics with the bad-frame count")


def _harness(checkpoint, transport: str, topic: str, msg_type) -> Harness:
    h = Harness({"weights": str(checkpoint), "device": "cpu", "qos_reliability": "reliable",
                 "image_transport": transport, "diagnostics_period_s": 0.2,
                 "base_frame": "camera_optical"})
    h.pose = h.subscribe(PoseWithCovarianceStamped, "/anchor_reloc_node/pose")
    h.diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    h.images = h.publisher(msg_type, topic)
    return h


@pytest.fixture(scope="module")
def raw_node(ros_context, plumbing_checkpoint):
    h = _harness(plumbing_checkpoint, "raw", "/image_raw", Image)
    yield h
    h.close()


def test_raw_bad_frames_are_counted_and_skipped(raw_node) -> None:
    assert len(BAD_RAW) >= 8
    _send_bad_then_good(raw_node, BAD_RAW, image_msg(GOOD, "bgr8"))


def test_burst_keeps_the_newest_frame_and_accounts_for_every_one(raw_node) -> None:
    before = raw_node.node.stats.counters.snapshot()
    stamps = [(200 + i) * 1_000_000_000 for i in range(25)]
    for i, stamp in enumerate(stamps):
        raw_node.images.publish(image_msg(random_rgb(i), "rgb8", stamp))
    raw_node.pose.wait(lambda m: stamp_to_ns(m.header.stamp) == stamps[-1],
                       what="the pose of the newest frame")

    def settled() -> dict | None:
        now = raw_node.node.stats.counters.snapshot()
        delta = {k: now[k] - before[k] for k in now}
        done = delta["processed"] + delta["dropped"] + delta["bad"]
        return delta if delta["received"] and done == delta["received"] else None

    # DDS itself may drop some of a burst (history depth); what the node received it
    # either processed or dropped, oldest first.
    delta = wait_until(settled, what="every received frame processed or dropped")
    assert delta["received"] <= len(stamps) and delta["bad"] == 0
    poses = [stamp_to_ns(m.header.stamp) for m in raw_node.pose.items()
             if stamp_to_ns(m.header.stamp) in stamps]
    assert poses == sorted(poses), "frames must never be processed out of order"
    assert delta["processed"] == len(poses)


@pytest.fixture(scope="module")
def compressed_node(ros_context, plumbing_checkpoint):
    h = _harness(plumbing_checkpoint, "compressed", "/image_raw/compressed", CompressedImage)
    yield h
    h.close()


def test_compressed_bad_frames_are_counted_and_skipped(compressed_node) -> None:
    _send_bad_then_good(compressed_node, BAD_COMPRESSED, compressed_msg(GOOD, "jpeg"))


ROSOUT_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def _values(m: DiagnosticArray) -> dict[str, str]:
    return {kv.key: kv.value for kv in m.status[0].values}


def _of_raw_node(m: DiagnosticArray) -> bool:
    """Diagnostics of the raw node (the compressed one may publish on /diagnostics too)."""
    return _values(m).get("image_topic") == "/image_raw"


def test_a_1x1_frame_is_a_counted_bad_frame_not_a_logged_error(raw_node) -> None:
    logs = raw_node.subscribe(Log, "/rosout", ROSOUT_QOS)
    before = raw_node.node.stats.counters.snapshot()
    raw_node.images.publish(image_msg(GOOD[:1, :1], "rgb8"))
    wait_until(lambda: raw_node.node.stats.counters["bad"] == before["bad"] + 1,
               what="the 1x1 frame counted as bad")
    raw_node.diagnostics.wait(lambda m: _of_raw_node(m) and
                              _values(m).get("frames_bad") == str(before["bad"] + 1),
                              what="/diagnostics counting the 1x1 frame as bad")
    time.sleep(0.3)  # let a log line, if any, reach /rosout
    assert raw_node.node.stats.counters["errors"] == before["errors"]
    errors = [m.msg for m in logs.items() if m.name == "anchor_reloc_node" and m.level >= Log.ERROR]
    assert not errors, errors


def _feed_until(h: Harness, msg, predicate, timeout_s: float, what: str,
                period_s: float = 0.05) -> DiagnosticArray:
    """Publish ``msg`` at 20 Hz until the raw node's next diagnostics match ``predicate``."""
    first = len(h.diagnostics.items())
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        h.images.publish(msg)
        time.sleep(period_s)
        hit = next((m for m in h.diagnostics.items()[first:] if _of_raw_node(m) and predicate(m)),
                   None)
        if hit is not None:
            return hit
    pytest.fail(f"no /diagnostics {what} within {timeout_s:.0f} s")


def test_diagnostics_leave_ok_within_5_s_when_only_bad_frames_arrive(raw_node) -> None:
    def level(wanted: bytes):
        return lambda m: m.status[0].level == wanted

    # Earlier bad frames leave the 5 s window: good frames alone bring it back to OK.
    ok = _feed_until(raw_node, image_msg(GOOD, "rgb8"), level(DiagnosticStatus.OK), 10.0, "OK")
    assert "localizing at" in ok.status[0].message
    bad = BAD_RAW["truncated data"]
    warn = _feed_until(raw_node, bad, lambda m: m.status[0].level != DiagnosticStatus.OK, 5.0,
                       "leaving OK")
    assert "bad" in warn.status[0].message
    # Once the good frames have left the window too, nothing is localized: ERROR.
    error = _feed_until(raw_node, bad, level(DiagnosticStatus.ERROR), 8.0, "ERROR")
    assert "no frame localized" in error.status[0].message
