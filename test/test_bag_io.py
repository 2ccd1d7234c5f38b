"""Bag reading: ground-truth message types, extra topics, bad/unsorted/zero-stamp frames, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anchor_reloc_ros.core.errors import ConfigError
from anchor_reloc_ros.core.geometry import quat_normalize
from anchor_reloc_ros.core.preprocessing import resize_rgb
from anchor_reloc_ros.data.rosbag_ground_truth import read_gt_topic, read_gt_tum
from anchor_reloc_ros.data.rosbag_images import FrameStats, iter_bag_images
from anchor_reloc_ros.data.rosbag_io import BagError, BagReader, BagTopicError, stamp_ns
from anchor_reloc_ros.data.tum import write_tum
from anchor_reloc_ros.tools.cli import main
from bag_helpers import SEC, T0, gt_message, image_msg, random_rgb, string_msg, write_bag

GT_TYPES = ["geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/PoseWithCovarianceStamped",
            "nav_msgs/msg/Odometry", "geometry_msgs/msg/TransformStamped", "tf2_msgs/msg/TFMessage"]


def trajectory(n: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    stamps = T0 + np.arange(n) * SEC // 10
    return stamps, rng.normal(size=(n, 3)), quat_normalize(rng.normal(size=(n, 4)))


@pytest.mark.parametrize("msgtype", GT_TYPES)
def test_each_ground_truth_type_gives_the_same_trajectory(tmp_path: Path, msgtype: str) -> None:
    stamps, pos, quats = trajectory()
    topic = "/tf" if msgtype.startswith("tf2") else "/gt"
    # written in reverse order: the reader must sort
    msgs = [(topic, int(s), gt_message(msgtype, p, q, int(s))) for s, p, q in zip(stamps, pos, quats)][::-1]
    bag_path = write_bag(tmp_path / "gt", {topic: msgtype}, msgs)
    with BagReader(bag_path) as bag:
        traj, info = read_gt_topic(bag, topic, child_frame="cam")
    np.testing.assert_array_equal(traj.stamps, stamps * 1e-9)
    np.testing.assert_allclose(traj.positions, pos, atol=1e-12)
    np.testing.assert_allclose(traj.quats_wxyz, quats, atol=1e-12)
    assert info["gt_samples"] == len(stamps) and info["gt_frame"] == "map"


def test_tf_needs_a_child_frame_and_a_unique_parent(tmp_path: Path) -> None:
    stamps, pos, quats = trajectory(3)
    msgs = [("/tf", int(s), gt_message("tf2_msgs/msg/TFMessage", p, q, int(s))) for s, p, q in
            zip(stamps, pos, quats)]
    msgs.append(("/tf", int(stamps[-1]) + 1, gt_message("tf2_msgs/msg/TFMessage", pos[0], quats[0],
                                                         int(stamps[-1]) + 1, parent="world")))
    with BagReader(write_bag(tmp_path / "tf", {"/tf": "tf2_msgs/msg/TFMessage"}, msgs)) as bag:
        with pytest.raises(ConfigError, match=r"--gt-child-frame.*map -> cam \(3\)"):
            read_gt_topic(bag, "/tf")
        with pytest.raises(ConfigError, match="several parents.*map, world"):
            read_gt_topic(bag, "/tf", child_frame="cam")
        traj, _ = read_gt_topic(bag, "/tf", child_frame="cam", parent_frame="map")
        assert len(traj) == 3
        with pytest.raises(BagError, match="no ground-truth poses for map -> nowhere.*odom -> base_link"):
            read_gt_topic(bag, "/tf", child_frame="nowhere", parent_frame="map")


MIXED_STAMPS = [T0 + 3 * SEC, T0 + 1 * SEC, T0 + 2 * SEC]   # header stamps out of order


def _mixed_bag(tmp_path: Path) -> Path:
    """/cam: 3 good frames, a zero stamp, a truncated and a malformed one; /camz: 3 PNGs; /chatter."""
    topics = {"/cam": "sensor_msgs/msg/Image", "/chatter": "std_msgs/msg/String",
              "/camz": "sensor_msgs/msg/CompressedImage"}
    stamps = MIXED_STAMPS
    msgs = [("/chatter", T0, string_msg("hello"))]
    for i, s in enumerate(stamps):
        msgs.append(("/cam", T0 + i * SEC, image_msg(random_rgb(i), s)))
        msgs.append(("/camz", T0 + i * SEC, image_msg(random_rgb(i), s, compressed=True)))
    msgs.append(("/cam", T0 + 5 * SEC, image_msg(random_rgb(7), 0)))       # zero stamp
    bad = image_msg(random_rgb(8), T0 + 6 * SEC)
    bad.data = bad.data[:-5]                                                # truncated pixels
    msgs.append(("/cam", T0 + 6 * SEC, bad))
    msgs.append(("/cam", T0 + 7 * SEC, b"\x00\x01\x00\x00garbage"))        # malformed CDR
    return write_bag(tmp_path / "mixed", topics, msgs, storage="sqlite3")


@pytest.mark.parametrize("workers", [0, 3])  # decoded on the caller's thread or on 3 threads
def test_images_with_extra_topics_unsorted_zero_stamps_and_bad_frames(tmp_path: Path, workers: int) -> None:
    stamps = MIXED_STAMPS
    with BagReader(_mixed_bag(tmp_path)) as bag:
        stats = FrameStats()
        frames = list(iter_bag_images(bag, "/cam", stats, workers=workers, depth=2))
        zstats = FrameStats()
        zframes = list(iter_bag_images(bag, "/camz", zstats, workers=workers))
        small = list(iter_bag_images(bag, "/camz", FrameStats(), size_hw=(12, 20), workers=workers))
    assert [f.stamp_ns for f in frames] == [*stamps, T0 + 5 * SEC]         # zero -> bag time
    assert [f.index for f in frames] == [0, 1, 2, 3]
    for i, f in enumerate(frames[:3]):
        np.testing.assert_array_equal(f.rgb, random_rgb(i))                # bgr8 decoded to RGB
        np.testing.assert_array_equal(zframes[i].rgb, random_rgb(i))       # png CompressedImage
    assert (stats.messages, stats.bad, stats.zero_stamps) == (6, 2, 1)
    assert "truncated" in stats.bad_reasons[0] and "malformed" in stats.bad_reasons[1]
    assert (zstats.messages, zstats.bad) == (3, 0)
    for f, full in zip(small, zframes, strict=True):                     # resized by the one resize_rgb
        np.testing.assert_array_equal(f.rgb, resize_rgb(full.rgb, (12, 20)))


def test_live_replay_publishes_what_offline_decodes(tmp_path: Path) -> None:
    """Live replay skips and counts the same frames; a zero stamp is rewritten to the bag time."""
    pytest.importorskip("rclpy", reason="live replay needs ROS 2 (scripts/setup.sh)")
    pytest.importorskip("anchor_reloc_ros.msg", reason="the package's messages are not built")
    from anchor_reloc_ros.ros.bag_replay import _frames

    with BagReader(_mixed_bag(tmp_path)) as bag:
        stats = FrameStats()
        frames = list(_frames(bag, "/cam", stats))
        republished = [bag.deserialize(f.raw, "sensor_msgs/msg/Image") for f in frames]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.stamp_ns for f in frames] == [*MIXED_STAMPS, T0 + 5 * SEC]
    assert [stamp_ns(m.header.stamp) for m in republished] == [*MIXED_STAMPS, T0 + 5 * SEC]
    assert (stats.messages, stats.bad, stats.zero_stamps) == (6, 2, 1)


def test_missing_topic_and_wrong_type_list_the_bag_topics(tmp_path: Path) -> None:
    bag_path = write_bag(tmp_path / "b", {"/chatter": "std_msgs/msg/String"}, [("/chatter", T0, string_msg("x"))])
    with BagReader(bag_path) as bag:
        with pytest.raises(BagTopicError, match=r"'/cam' is not in bag .*the bag has: /chatter \(std_msgs/String\)"):
            list(iter_bag_images(bag, "/cam", FrameStats()))
        with pytest.raises(BagTopicError, match=r"has type std_msgs/String, expected sensor_msgs/Image"):
            list(iter_bag_images(bag, "/chatter", FrameStats()))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_corrupt_bag_names_the_file(tmp_path: Path, storage: str, capsys: pytest.CaptureFixture) -> None:
    bag_path = write_bag(tmp_path / "c", {"/chatter": "std_msgs/msg/String"},
                         [("/chatter", T0 + i, string_msg("x" * 100)) for i in range(50)], storage)
    data_file = next(p for p in bag_path.iterdir() if p.suffix in (".mcap", ".db3"))
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    with pytest.raises(BagError, match=str(bag_path)):
        with BagReader(bag_path) as bag:
            list(bag.messages(bag.connections("/chatter", ("std_msgs/msg/String",), "test")))
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"not a bag at all")
    code = main(["bag-eval", str(junk), "--weights", "w.safetensors", "--image-topic", "/cam",
                 "--gt-topic", "/gt", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "junk.mcap" in err and len(err.strip().splitlines()) == 1


def test_missing_bag_and_gt_tum(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="bag not found"):
        BagReader(tmp_path / "nope").__enter__()
    stamps, pos, quats = trajectory()
    write_tum(tmp_path / "gt.tum", stamps * 1e-9, pos, quats)
    traj, info = read_gt_tum(tmp_path / "gt.tum")
    np.testing.assert_allclose(traj.positions, pos, atol=1e-9)
    assert info["gt_samples"] == len(stamps)
