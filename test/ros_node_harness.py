"""In-process harness for the node tests: a real node and a peer on one executor thread.

Every wait is bounded. rclpy runs over real DDS on loopback with the per-run domain
that conftest.py sets.
"""
from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from anchor_reloc_ros.data.image_codec import rgb_to_compressed, rgb_to_image_fields
from anchor_reloc_ros.ros.node import AnchorRelocNode

WAIT_S = 10.0
STATIC_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
_names = itertools.count()


def make_untrained_checkpoint(path: Path) -> Path:
    """A small, untrained anchor model (8 anchors on a line) for plumbing tests."""
    import torch

    from anchor_reloc_ros.core.anchors import RouteFrame
    from anchor_reloc_ros.core.checkpoint import save_checkpoint
    from anchor_reloc_ros.core.decoding import UncertaintyCalibration
    from anchor_reloc_ros.core.model import ModelConfig, RelocNet

    torch.manual_seed(0)
    model = RelocNet(ModelConfig(backbone="tiny_cnn", head="anchor", num_anchors=8,
                                 anchor_dims=2, head_hidden=0), pretrained=False)
    anchors = np.stack([np.arange(8.0), np.zeros(8), np.zeros(8)], axis=1)
    frame = RouteFrame(np.zeros(3), np.eye(3), 1.0, "z")
    meta = {"preprocessing": {"image_size": [64, 80]}, "route_frame": frame.to_dict(),
            "anchors": {"positions_route": anchors.tolist()},
            "calibration": UncertaintyCalibration().to_dict()}
    return save_checkpoint(path, model, meta)


@pytest.fixture(scope="session")
def plumbing_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained checkpoint (instant): the node's plumbing does not need a trained model.

    The test that needs real accuracy uses conftest's trained ``tiny_checkpoint``.
    """
    return make_untrained_checkpoint(tmp_path_factory.mktemp("weights") / "untrained.ckpt")


@pytest.fixture(scope="module")
def ros_context():
    """rclpy initialised for one test module (Jazzy: init + try_shutdown).

    Reuses a default context another module left initialised instead of failing.
    """
    if rclpy.ok():
        yield
        return
    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()


def wait_until(predicate: Callable[[], Any], timeout_s: float = WAIT_S, what: str = "condition",
               poll_s: float = 0.02) -> Any:
    """Poll ``predicate`` until truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.1f} s waiting for {what}")


def random_rgb(seed: int = 0, height: int = 48, width: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def stamped(msg, stamp_ns: int, frame_id: str):
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    msg.header.frame_id = frame_id
    return msg


def image_msg(rgb: np.ndarray, encoding: str = "rgb8", stamp_ns: int = 0,
              frame_id: str = "camera_optical", padding: int = 0) -> Image:
    enc, height, width, step, data = rgb_to_image_fields(rgb, encoding, padding=padding)
    msg = Image(encoding=enc, height=height, width=width, step=step, data=data)
    return stamped(msg, stamp_ns, frame_id)


def compressed_msg(rgb: np.ndarray, fmt: str = "jpeg", stamp_ns: int = 0,
                   frame_id: str = "camera_optical") -> CompressedImage:
    format_string, data = rgb_to_compressed(rgb, fmt)
    return stamped(CompressedImage(format=format_string, data=data), stamp_ns, frame_id)


class Inbox:
    """Thread-safe list of received messages."""

    def __init__(self) -> None:
        self._items: list = []
        self._lock = threading.Lock()

    def __call__(self, msg) -> None:
        with self._lock:
            self._items.append(msg)

    def items(self) -> list:
        with self._lock:
            return list(self._items)

    def wait(self, predicate: Callable[[Any], bool] = lambda m: True, timeout_s: float = WAIT_S,
             what: str = "a message") -> Any:
        return wait_until(lambda: next((m for m in self.items() if predicate(m)), None),
                          timeout_s, what)


class Harness:
    """An ``AnchorRelocNode`` and a peer node spun by one executor in a thread."""

    def __init__(self, overrides: dict[str, Any], namespace: str = "") -> None:
        self.node = AnchorRelocNode(
            parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
            namespace=namespace or None)
        self.peer = rclpy.create_node(f"test_peer_{next(_names)}")
        self.executor = SingleThreadedExecutor()  # as the node's main()
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def subscribe(self, msg_type, topic: str, qos: QoSProfile | int = 10) -> Inbox:
        inbox = Inbox()
        self.peer.create_subscription(msg_type, topic, inbox, qos)
        return inbox

    def publisher(self, msg_type, topic: str, qos: QoSProfile | int = 10):
        pub = self.peer.create_publisher(msg_type, topic, qos)
        wait_until(lambda: pub.get_subscription_count() > 0, what=f"a subscriber on {topic}")
        return pub

    def publish_until(self, pub, msg, inbox: Inbox, predicate: Callable[[Any], bool],
                      timeout_s: float = WAIT_S, period_s: float = 0.3) -> Any:
        """Re-publish ``msg`` until ``inbox`` has a matching message (best-effort links)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pub.publish(msg)
            end = min(deadline, time.monotonic() + period_s)
            while time.monotonic() < end:
                hit = next((m for m in inbox.items() if predicate(m)), None)
                if hit is not None:
                    return hit
                time.sleep(0.01)
        pytest.fail(f"no matching message within {timeout_s:.1f} s")

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        self.node.destroy_node()
        self.peer.destroy_node()
