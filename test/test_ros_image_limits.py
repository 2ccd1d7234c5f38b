"""max_image_pixels over DDS: decompression bombs and oversized raw frames are bad frames,
refused from their headers, and the node keeps serving good frames between them.

The node runs one-shot (``continuous:=false``) so that every ``~/relocalize`` reply says
what happened to exactly the frame just sent.
"""
from __future__ import annotations

import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from anchor_reloc_ros.data.image_header import DEFAULT_MAX_IMAGE_PIXELS
from bad_images import jpeg_claiming, png_claiming
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

GOOD = random_rgb(5)  # 48 x 64


def _harness(checkpoint, transport: str, topic: str, msg_type) -> Harness:
    h = Harness({"weights": str(checkpoint), "device": "cpu", "qos_reliability": "reliable",
                 "image_transport": transport, "continuous": False, "relocalize_timeout_s": 5.0,
                 "base_frame": "camera_optical"})
    h.images = h.publisher(msg_type, topic)
    h.client = h.peer.create_client(Trigger, "/anchor_reloc_node/relocalize")
    assert h.client.wait_for_service(timeout_sec=5.0)
    return h


def _relocalize_on(h: Harness, msg) -> Trigger.Response:
    """Send ``msg``, wait until the node has it, then ask for its estimate."""
    received = h.node.stats.counters["received"]
    h.images.publish(msg)
    wait_until(lambda: h.node.stats.counters["received"] > received, what="the frame to arrive")
    future = h.client.call_async(Trigger.Request())
    return wait_until(lambda: future.done() and future.result(), what="the relocalize reply")


def _assert_bad_then_good(h: Harness, bad, good, match: str) -> None:
    bad_before = h.node.stats.counters["bad"]
    response = _relocalize_on(h, bad)
    assert not response.success
    assert response.message.startswith("bad image:") and match in response.message, response.message
    assert h.node.stats.counters["bad"] == bad_before + 1
    response = _relocalize_on(h, good)
    assert response.success, response.message
    assert all(w.is_alive() for w in h.node._workers)


@pytest.fixture(scope="module")
def compressed_node(ros_context, plumbing_checkpoint):
    h = _harness(plumbing_checkpoint, "compressed", "/image_raw/compressed", CompressedImage)
    yield h
    h.close()


@pytest.fixture(scope="module")
def raw_node(ros_context, plumbing_checkpoint):
    h = _harness(plumbing_checkpoint, "raw", "/image_raw", Image)
    yield h
    h.close()


@pytest.mark.parametrize("kind, bomb", [("png", png_claiming(20000, 20000)),
                                        ("jpeg", jpeg_claiming(20000, 20000))])
def test_compressed_bombs_are_bad_frames(compressed_node, kind: str, bomb: bytes) -> None:
    assert compressed_node.node.params.max_image_pixels == DEFAULT_MAX_IMAGE_PIXELS
    msg = stamped(CompressedImage(format=f"rgb8; {kind} compressed bgr8", data=bomb), 1, "camera_optical")
    _assert_bad_then_good(compressed_node, msg, compressed_msg(GOOD, kind, 2), f"{kind} image 20000x20000")


def test_a_raw_size_claim_is_refused_for_its_size(raw_node) -> None:
    claim = stamped(Image(encoding="rgb8", height=10000, width=10000, step=30000, data=bytes(30000)),
                    1, "camera_optical")
    _assert_bad_then_good(raw_node, claim, image_msg(GOOD, "rgb8", 2),
                          f"rgb8 image 10000x10000 (100000000 pixels) exceeds max_image_pixels "
                          f"{DEFAULT_MAX_IMAGE_PIXELS}")


def test_the_limit_can_be_changed_at_run_time(raw_node) -> None:
    h = raw_node
    pixels = GOOD.shape[0] * GOOD.shape[1]
    assert h.node.set_parameters([Parameter("max_image_pixels", value=pixels - 1)])[0].successful
    try:
        response = _relocalize_on(h, image_msg(GOOD, "rgb8", 3))
        assert not response.success and f"exceeds max_image_pixels {pixels - 1}" in response.message
    finally:
        assert h.node.set_parameters([Parameter("max_image_pixels", value=0)])[0].successful
    assert _relocalize_on(h, image_msg(GOOD, "rgb8", 4)).success
    refused = h.node.set_parameters([Parameter("max_image_pixels", value=-1)])[0]
    assert not refused.successful and "max_image_pixels" in refused.reason
