"""Live bag-eval: the real anchor_reloc_node over DDS, compared with offline bag-eval."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anchor_reloc_ros.data.rosbag_estimates import ANCHOR_TOPIC, POSE_TOPIC
from anchor_reloc_ros.data.rosbag_io import BagReader
from anchor_reloc_ros.tools.cli import main

pytest.importorskip("rclpy", reason="rclpy is not importable: live mode needs ROS 2 (scripts/setup.sh)")
pytest.importorskip("anchor_reloc_ros.msg", reason="the package's messages are not built (pip install -e .)")

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 150


def test_live_replay_through_the_node(strip_dataset: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    assert main(["make-bag", "--data", str(strip_dataset), "--out", str(bag), "--compressed", "--rate", "10"]) == 0
    common = [str(bag), "--weights", str(tiny_checkpoint), "--image-topic", "/camera/image_raw/compressed",
              "--gt-topic", "/ground_truth/pose", "--no-plots", "--device", "cpu"]
    assert main(["bag-eval", *common, "--out", str(tmp_path / "offline")]) == 0
    # a fresh process, as a user runs it (its DDS settings must be applied before rclpy starts)
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    proc = subprocess.run([sys.executable, "-m", "anchor_reloc_ros.tools.cli", "bag-eval", *common,
                           "--mode", "live", "--rate", "2", "--out", str(tmp_path / "live")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "latency p50" in proc.stdout
    live = json.loads((tmp_path / "live" / "summary.json").read_text())
    offline = json.loads((tmp_path / "offline" / "summary.json").read_text())
    assert live["published"] == live["frames"] == offline["frames"]
    assert live["answered"] + live["dropped"] == live["published"] and live["answered"] >= 1
    assert live["input_rate_hz"] == pytest.approx(20.0, rel=0.3)
    assert 0.0 < live["latency_p50_ms"] <= live["latency_p95_ms"] < 5000.0
    assert live["failed"] == live["dropped"]           # a dropped frame counts as a failure
    for key in ("median_translation_m", "mean_translation_m", "median_rotation_deg"):
        # the frames the node answered score exactly as offline (same Localizer, same decoder)
        if live["dropped"] == 0:
            assert live[key] == pytest.approx(offline[key], abs=1e-5), key
    assert live["answered_frames"] == live["answered"]
    with BagReader(tmp_path / "live" / "estimates_bag") as rec:
        topics = rec.reader.topics
        assert topics[POSE_TOPIC].msgcount >= live["answered"]
        assert topics[ANCHOR_TOPIC].msgcount >= live["answered"]
    assert "listening on /bag_eval/image/compressed" in (tmp_path / "live" / "node.log").read_text()


def test_live_mode_reports_a_node_that_cannot_start(strip_dataset: Path, tiny_checkpoint: Path,
                                                    tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    assert main(["make-bag", "--data", str(strip_dataset), "--out", str(bag)]) == 0
    bad_weights = tmp_path / "truncated.safetensors"  # metadata intact, tensors cut: the node fails
    data = tiny_checkpoint.read_bytes()
    bad_weights.write_bytes(data[: len(data) - 1000])
    proc = subprocess.run([sys.executable, "-m", "anchor_reloc_ros.tools.cli", "bag-eval", str(bag),
                           "--weights", str(bad_weights), "--image-topic", "/camera/image_raw",
                           "--gt-topic", "/ground_truth/pose", "--mode", "live", "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "anchor_reloc_node exited (code 1)" in proc.stderr and "truncated" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_bag_type_hashes_equal_the_generated_messages() -> None:
    """Bags we write declare the same RIHS01 hashes as rosidl, so ROS tools accept them."""
    import rclpy
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from rclpy.context import Context

    from anchor_reloc_ros.data.rosbag_io import typestore
    from anchor_reloc_ros.msg import AnchorDebug

    context = Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("bag_hash_check", context=context)
        for cls, name in ((AnchorDebug, "anchor_reloc_ros/msg/AnchorDebug"),
                          (PoseWithCovarianceStamped, "geometry_msgs/msg/PoseWithCovarianceStamped")):
            topic = f"/hash_check/{cls.__name__}"
            node.create_publisher(cls, topic, 1)
            (info,) = node.get_publishers_info_by_topic(topic)
            assert str(info.topic_type_hash) == typestore().hash_rihs01(name)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
