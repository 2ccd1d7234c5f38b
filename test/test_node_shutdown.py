"""SIGINT / SIGTERM under load: the node stops its threads in order and exits 0, quietly.

Twenty node processes (three at a time, each in its own namespace, all fed by one
publisher at 40 Hz) are each stopped as soon as they localize frames, with a
~/relocalize call in flight, signals alternating SIGINT / SIGTERM; every one must exit 0
with no traceback, no ERROR line and no failed rosout publish in its output.
"""
from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
import rclpy
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from anchor_reloc_ros.ros.node_process import NodeProcess
from ros_helpers import ros_env
from ros_node_harness import (  # noqa: F401 - fixtures are imported by name
    Inbox,
    image_msg,
    plumbing_checkpoint,
    random_rgb,
    ros_context,
    wait_until,
)

SHUTDOWNS, CONCURRENT = 20, 3  # overlapping start-ups (torch import) keep the test short
POSES_BEFORE_STOP = 5
FEED_PERIOD_S = 0.025  # 40 Hz
TOPIC = "/shutdown_test/image_raw"
STARTUP_TIMEOUT_S = 90.0  # three nodes importing torch at once on a loaded 2-core machine
FORBIDDEN = ("Traceback", "ERROR", "Failed to publish log message")


class _Feeder:
    """One peer node: publishes frames at 40 Hz and listens to every node's pose."""

    def __init__(self) -> None:
        self.node = rclpy.create_node("shutdown_test_feeder")
        self._pub = self.node.create_publisher(Image, TOPIC, 10)
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._executor.spin, daemon=True),
                         threading.Thread(target=self._feed, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _feed(self) -> None:
        msg = image_msg(random_rgb(3), "rgb8", 0, "camera_optical")
        for i in range(1, 1_000_000):
            if self._stop.wait(FEED_PERIOD_S):
                return
            msg.header.stamp.sec = i
            self._pub.publish(msg)

    def poses(self, namespace: str) -> Inbox:
        inbox = Inbox()
        self.node.create_subscription(PoseWithCovarianceStamped,
                                      f"/{namespace}/anchor_reloc_node/pose", inbox, 10)
        return inbox

    def close(self) -> None:
        self._stop.set()
        self._executor.shutdown(timeout_sec=5.0)
        for thread in self._threads:
            thread.join(5.0)
        self.node.destroy_node()


@pytest.fixture
def feeder(ros_context):
    f = _Feeder()
    yield f
    f.close()


def test_twenty_shutdowns_under_load_exit_zero_without_errors(feeder, plumbing_checkpoint,
                                                              tmp_path: Path) -> None:
    env = ros_env()
    params = {"weights": str(plumbing_checkpoint), "device": "cpu", "cpu_threads": 1,
              "image_topic": TOPIC, "tf_mode": "map_to_camera", "base_frame": "camera_optical"}
    signals = [signal.SIGINT, signal.SIGTERM]
    running: dict[str, tuple[NodeProcess, Inbox, float]] = {}
    results: list[tuple[str, str, int, str]] = []
    started = 0
    try:
        while len(results) < SHUTDOWNS:
            while len(running) < CONCURRENT and started < SHUTDOWNS:
                name = f"shutdown_{started}"
                poses = feeder.poses(name)
                running[name] = (NodeProcess(params, tmp_path / f"{name}.log", env, namespace=name),
                                 poses, time.monotonic())
                started += 1
            ready = wait_until(lambda: [n for n, (node, poses, _) in running.items()
                                        if len(poses.items()) >= POSES_BEFORE_STOP or not node.alive()],
                               timeout_s=STARTUP_TIMEOUT_S, what="a node to localize frames")
            for name in ready:
                node, _, since = running.pop(name)
                assert node.alive(), f"{name} exited early: {node.log_tail()}"
                client = feeder.node.create_client(Trigger, f"/{name}/anchor_reloc_node/relocalize")
                if client.wait_for_service(timeout_sec=1.0):
                    client.call_async(Trigger.Request())  # in flight while the node stops
                sig = signals[int(name.rsplit("_", 1)[1]) % 2]
                code = node.stop(timeout_s=20.0, sig=sig)  # under load: frames keep coming
                results.append((name, sig.name, code,
                                node.log_path.read_text(encoding="utf-8", errors="replace")))
                feeder.node.destroy_client(client)
    finally:
        for node, _, _ in running.values():
            node.stop(timeout_s=1.0, sig=signal.SIGKILL)

    assert len(results) == SHUTDOWNS
    failures = [f"{name} ({sig}): exit {code}; " + " | ".join(
                    line for line in text.splitlines() if any(w in line for w in FORBIDDEN))[:500]
                for name, sig, code, text in results
                if code != 0 or any(word in text for word in FORBIDDEN)
                or f"{sig}: shutting down" not in text]  # the signal really took the orderly path
    assert not failures, "\n".join(failures)
