"""ROS 1 bags (EuRoC, TUM VI, RealSense T265 recordings): offline bag-eval reads them as it
reads rosbag2, through rosbags.

The bag is a real ROS 1 ``.bag`` (bz2-compressed chunks, as many public datasets ship)
written with ``rosbags.rosbag1.Writer`` and the ROS 1 Noetic message definitions: mono8
``sensor_msgs/Image`` frames of the synthetic strip scene and ``nav_msgs/Odometry`` ground
truth, as a T265 records them. The same frames in a rosbag2 must give the same numbers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_typestore

from anchor_reloc_ros.data.cambridge import read_cambridge
from anchor_reloc_ros.tools.cli import main
from bag_helpers import SEC, T0, gt_message, write_bag

IMAGE_TOPIC = "/camera/fisheye1/image_raw"
ODOM_TOPIC = "/camera/odom/sample"
IMAGE_TYPE = "sensor_msgs/msg/Image"
ODOM_TYPE = "nav_msgs/msg/Odometry"
PERIOD_NS = SEC // 10
REPO = Path(__file__).resolve().parents[1]


def _mono_frames(dataset: Path) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(stamp, mono8 image, position, quaternion wxyz) of every test frame, 10 Hz."""
    frames = read_cambridge(dataset, "test").frames
    return [(T0 + i * PERIOD_NS, cv2.imread(str(f.image_path), cv2.IMREAD_GRAYSCALE), f.position, f.quat_wxyz)
            for i, f in enumerate(frames)]


def _write_ros1_bag(path: Path, frames: list) -> Path:
    store = get_typestore(Stores.ROS1_NOETIC)
    types = store.types
    writer = Writer(path)
    writer.set_compression(Writer.CompressionFormat.BZ2)
    with writer:
        images = writer.add_connection(IMAGE_TOPIC, IMAGE_TYPE, typestore=store)
        odometry = writer.add_connection(ODOM_TOPIC, ODOM_TYPE, typestore=store)
        for seq, (stamp, mono, position, quat) in enumerate(frames):
            sec, nanosec = divmod(stamp, SEC)

            time = types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)

            def header(frame_id: str):
                return types["std_msgs/msg/Header"](seq=seq, frame_id=frame_id, stamp=time)

            h, w = mono.shape
            image = types[IMAGE_TYPE](header=header("camera_fisheye1_optical_frame"), height=h, width=w,
                                      encoding="mono8", is_bigendian=0, step=w, data=mono.reshape(-1))
            vec = types["geometry_msgs/msg/Vector3"]
            pose = types["geometry_msgs/msg/Pose"](
                position=types["geometry_msgs/msg/Point"](x=position[0], y=position[1], z=position[2]),
                orientation=types["geometry_msgs/msg/Quaternion"](w=quat[0], x=quat[1], y=quat[2], z=quat[3]))
            odom = types[ODOM_TYPE](
                header=header("camera_odom_frame"), child_frame_id="camera_pose_frame",
                pose=types["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.eye(6).reshape(36)),
                twist=types["geometry_msgs/msg/TwistWithCovariance"](
                    twist=types["geometry_msgs/msg/Twist"](linear=vec(x=0.0, y=0.0, z=0.0),
                                                           angular=vec(x=0.0, y=0.0, z=0.0)),
                    covariance=np.zeros(36)))
            writer.write(odometry, stamp - PERIOD_NS // 2, store.serialize_ros1(odom, ODOM_TYPE))
            writer.write(images, stamp, store.serialize_ros1(image, IMAGE_TYPE))
    return path


def _write_ros2_bag(path: Path, frames: list) -> Path:
    """The same frames in a rosbag2 (mcap), through the project's writer."""
    from anchor_reloc_ros.data.rosbag_io import header_msg, msg_class

    messages = []
    for stamp, mono, position, quat in frames:
        h, w = mono.shape
        image = msg_class(IMAGE_TYPE)(header=header_msg(stamp, "camera_fisheye1_optical_frame"), height=h,
                                      width=w, encoding="mono8", is_bigendian=0, step=w, data=mono.reshape(-1))
        odom = gt_message(ODOM_TYPE, position, quat, stamp, "camera_odom_frame", "camera_pose_frame")
        messages += [(ODOM_TOPIC, stamp - PERIOD_NS // 2, odom), (IMAGE_TOPIC, stamp, image)]
    return write_bag(path, {IMAGE_TOPIC: IMAGE_TYPE, ODOM_TOPIC: ODOM_TYPE}, messages)


def _bag_eval(bag: Path, weights: Path, out: Path) -> dict:
    assert main(["bag-eval", str(bag), "--weights", str(weights), "--image-topic", IMAGE_TOPIC,
                 "--gt-topic", ODOM_TOPIC, "--out", str(out), "--no-plots", "--device", "cpu"]) == 0
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def frames(strip_dataset: Path) -> list:
    return _mono_frames(strip_dataset)


def test_bag_eval_reads_a_ros1_bag_like_a_rosbag2(frames: list, tiny_checkpoint: Path, tmp_path: Path) -> None:
    ros1 = _write_ros1_bag(tmp_path / "t265.bag", frames)
    assert ros1.read_bytes().startswith(b"#ROSBAG V2.0\n")
    summary = _bag_eval(ros1, tiny_checkpoint, tmp_path / "ros1_eval")
    assert summary["image_messages"] == len(frames) and summary["frames"] == len(frames)
    assert summary["bad_frames"] == 0 and summary["frames_without_gt"] == 0 and summary["failed"] == 0
    for key in ("median_translation_m", "median_rotation_deg", "rmse_translation_m"):
        assert np.isfinite(summary[key]), key
    errors = np.loadtxt(tmp_path / "ros1_eval" / "frames.csv", delimiter=",", skiprows=1, usecols=(2, 3))
    assert errors.shape == (len(frames), 2) and np.all(np.isfinite(errors))

    reference = _bag_eval(_write_ros2_bag(tmp_path / "ros2", frames), tiny_checkpoint, tmp_path / "ros2_eval")
    for key in ("frames", "median_translation_m", "median_rotation_deg", "rmse_translation_m"):
        assert summary[key] == pytest.approx(reference[key], abs=1e-9), key


def test_live_replay_converts_ros1_messages_to_cdr(frames: list, tmp_path: Path) -> None:
    pytest.importorskip("rclpy", reason="live replay needs ROS 2 (scripts/setup.sh)")
    from anchor_reloc_ros.data.rosbag_images import FrameStats
    from anchor_reloc_ros.data.rosbag_io import BagReader, stamp_ns, typestore
    from anchor_reloc_ros.ros.bag_replay import _frames

    with BagReader(_write_ros1_bag(tmp_path / "t265.bag", frames)) as bag:
        assert bag.is_ros1
        published = list(_frames(bag, IMAGE_TOPIC, FrameStats()))
    assert len(published) == len(frames)
    for sent, (stamp, mono, _, _) in zip(published, frames, strict=True):
        msg = typestore().deserialize_cdr(sent.raw, IMAGE_TYPE)  # what the node receives
        assert stamp_ns(msg.header.stamp) == stamp and msg.encoding == "mono8"
        np.testing.assert_array_equal(np.asarray(msg.data).reshape(mono.shape), mono)


def test_live_bag_eval_on_a_ros1_bag(frames: list, tiny_checkpoint: Path, tmp_path: Path) -> None:
    pytest.importorskip("rclpy", reason="live mode needs ROS 2 (scripts/setup.sh)")
    bag = _write_ros1_bag(tmp_path / "t265.bag", frames)
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    proc = subprocess.run([sys.executable, "-m", "anchor_reloc_ros.tools.cli", "bag-eval", str(bag), "--weights",
                           str(tiny_checkpoint), "--image-topic", IMAGE_TOPIC, "--gt-topic", ODOM_TOPIC,
                           "--no-plots", "--device", "cpu", "--mode", "live", "--rate", "2",
                           "--out", str(tmp_path / "live")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    live = json.loads((tmp_path / "live" / "summary.json").read_text())
    assert live["published"] == live["frames"] == len(frames) and live["answered"] >= 1
    assert live["bad_frames"] == 0 and np.isfinite(live["latency_p50_ms"])
