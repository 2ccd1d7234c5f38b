"""dataset -> make-bag -> bag-export -> dataset: identical poses and images; TF and camera_info."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anchor_reloc_ros.core.geometry import invert_transform, transform_from_pq
from anchor_reloc_ros.data.cambridge import read_cambridge
from anchor_reloc_ros.data.rosbag_from_dataset import (
    EPOCH_NS,
    T_BASE_LINK,
    T_LINK_OPTICAL,
    drifting_map_odom,
    read_image_file,
)
from anchor_reloc_ros.data.rosbag_ground_truth import read_gt_topic
from anchor_reloc_ros.data.rosbag_io import BagReader
from anchor_reloc_ros.tools.cli import main


def exported_frames(root: Path) -> list:
    frames = read_cambridge(root, "train").frames + read_cambridge(root, "test").frames
    return sorted(frames, key=lambda f: f.name)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_raw_round_trip_is_exact(strip_dataset: Path, tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    assert main(["make-bag", "--data", str(strip_dataset), "--split", "test", "--out", str(bag),
                 "--storage", storage]) == 0
    out = tmp_path / "exported"
    assert main(["bag-export", str(bag), "--image-topic", "/camera/image_raw", "--gt-topic",
                 "/ground_truth/pose", "--out", str(out), "--test-every", "3",
                 "--camera-info-topic", "/camera/camera_info"]) == 0
    original = read_cambridge(strip_dataset, "test").frames
    exported = exported_frames(out)
    assert len(exported) == len(original)
    assert len(read_cambridge(out, "test")) == len(original) // 3
    for a, b in zip(original, exported):
        np.testing.assert_allclose(b.position, a.position, atol=1e-9)
        np.testing.assert_allclose(b.quat_wxyz, a.quat_wxyz, atol=1e-9)
        np.testing.assert_array_equal(read_image_file(b.image_path), read_image_file(a.image_path))
    assert "camera_matrix" in (out / "camera.yaml").read_text()


def test_compressed_bag_with_odom_drift(strip_dataset: Path, tmp_path: Path) -> None:
    bag = tmp_path / "bagz"
    assert main(["make-bag", "--data", str(strip_dataset), "--out", str(bag), "--compressed",
                 "--rate", "5", "--odom-drift", "--jpeg-quality", "95"]) == 0
    out = tmp_path / "exported"
    assert main(["bag-export", str(bag), "--image-topic", "/camera/image_raw/compressed", "--gt-topic",
                 "/ground_truth/pose", "--out", str(out), "--train-range", ":0.99",
                 "--test-range", "1.0:"]) == 0
    original = read_cambridge(strip_dataset, "test").frames
    exported = exported_frames(out)
    assert len(read_cambridge(out, "train")) == 5  # 5 Hz: stamps 0.0 .. 0.8 s
    for a, b in zip(original, exported):
        np.testing.assert_allclose(b.position, a.position, atol=1e-9)
        diff = np.abs(read_image_file(b.image_path).astype(int) - read_image_file(a.image_path))
        assert diff.mean() < 4.0  # jpeg
    with BagReader(bag) as reader:
        gt, _ = read_gt_topic(reader, "/ground_truth/pose")
        odom, _ = read_gt_topic(reader, "/tf", child_frame="base_link")
        static = {c: read_gt_topic(reader, "/tf_static", child_frame=c)[0]
                  for c in ("camera_link", "camera_optical_frame")}
    np.testing.assert_allclose(gt.stamps - gt.stamps[0], np.arange(len(original)) / 5.0, atol=1e-6)
    assert gt.stamps[0] == EPOCH_NS * 1e-9
    for s in static.values():
        assert len(s) == 1
    T_base_opt = (transform_from_pq(static["camera_link"].positions[0], static["camera_link"].quats_wxyz[0])
                  @ transform_from_pq(static["camera_optical_frame"].positions[0],
                                      static["camera_optical_frame"].quats_wxyz[0]))
    np.testing.assert_allclose(T_base_opt, T_BASE_LINK @ T_LINK_OPTICAL, atol=1e-12)
    for i in range(len(gt)):
        # map->odom (drift) * odom->base * base->optical == map->optical (the ground truth)
        T_map_opt = (drifting_map_odom(gt.stamps[i] - gt.stamps[0])
                     @ transform_from_pq(odom.positions[i], odom.quats_wxyz[i]) @ T_base_opt)
        np.testing.assert_allclose(T_map_opt, transform_from_pq(gt.positions[i], gt.quats_wxyz[i]), atol=1e-9)
    assert not np.allclose(drifting_map_odom(1.0), np.eye(4))
    np.testing.assert_allclose(invert_transform(drifting_map_odom(0.0)), np.eye(4))


def test_export_errors(strip_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bag = tmp_path / "bag"
    assert main(["make-bag", "--data", str(strip_dataset), "--out", str(bag)]) == 0
    assert main(["make-bag", "--data", str(strip_dataset), "--out", str(bag)]) == 2
    assert "already exists" in capsys.readouterr().err
    common = ["bag-export", str(bag), "--image-topic", "/camera/image_raw", "--out", str(tmp_path / "x")]
    assert main([*common, "--gt-topic", "/ground_truth/pose", "--test-after", "100"]) == 2
    assert "0 test frames" in capsys.readouterr().err
    assert main([*common, "--gt-topic", "/ground_truth/pose", "--train-range", "0:1"]) == 2
    assert "go together" in capsys.readouterr().err
    assert main([*common, "--gt-topic", "/nope"]) == 2
    assert "/ground_truth/pose (geometry_msgs/PoseStamped)" in capsys.readouterr().err
