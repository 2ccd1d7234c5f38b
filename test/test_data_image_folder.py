"""Image folder + TUM trajectory: timestamp / order matching and the three split rules."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from anchor_reloc_ros.core.errors import DatasetError
from anchor_reloc_ros.data.image_folder import read_image_folder
from anchor_reloc_ros.data.tum import write_tum


def _images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(folder / name), np.zeros((4, 6, 3), np.uint8))


def _trajectory(path: Path, stamps: list[float]) -> None:
    n = len(stamps)
    positions = np.column_stack([np.arange(n, dtype=float), np.zeros(n), np.zeros(n)])
    write_tum(path, np.array(stamps), positions, np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)))


def _timestamped_scene(root: Path, n: int = 10) -> Path:
    # poses at 100 Hz from t0, images at 10 Hz offset by 3 ms, named by their time
    t0 = 1305031102.0
    _trajectory(root / "groundtruth.txt", [t0 + 0.01 * i for i in range(10 * n + 1)])
    _images(root / "rgb", [f"{t0 + 0.1 * i + 0.003:.6f}.png" for i in range(n)])
    return root


def test_timestamp_matching_picks_nearest_pose(tmp_path: Path) -> None:
    root = _timestamped_scene(tmp_path)
    ds = read_image_folder(root, "all")
    assert ds.format == "image_folder" and len(ds) == 10
    # image i is 3 ms after pose row 10*i, whose x is 10*i
    np.testing.assert_allclose(ds.positions()[:, 0], 10.0 * np.arange(10))
    assert ds.frames[1].timestamp == pytest.approx(1305031102.103, abs=1e-6)
    assert ds.frames[1].name == "rgb/1305031102.103000.png"


def test_images_outside_tolerance_are_dropped(tmp_path: Path) -> None:
    root = _timestamped_scene(tmp_path)
    _images(root / "rgb", ["1305031200.000000.png"])  # 98 s after the last pose
    assert len(read_image_folder(root, "all")) == 10
    with pytest.raises(DatasetError, match="within 0.001 s"):
        read_image_folder(root, "all", tolerance_s=0.001)


def test_every_nth_split(tmp_path: Path) -> None:
    root = _timestamped_scene(tmp_path)
    test = read_image_folder(root, "test", test_every=5)
    train = read_image_folder(root, "train", test_every=5)
    assert [f.position[0] for f in test.frames] == [40.0, 90.0]
    assert len(train) == 8 and not {f.name for f in train.frames} & {f.name for f in test.frames}


def test_order_matching_with_natural_sort(tmp_path: Path) -> None:
    _images(tmp_path / "images", ["frame10.jpg", "frame2.png", "frame1.png"])
    _trajectory(tmp_path / "poses.tum", [5.0, 3.0, 4.0])  # rows out of time order
    ds = read_image_folder(tmp_path, "all")
    assert [f.name for f in ds.frames] == ["images/frame1.png", "images/frame2.png", "images/frame10.jpg"]
    # frame1 <-> t=3 (x=1), frame2 <-> t=4 (x=2), frame10 <-> t=5 (x=0)
    np.testing.assert_allclose(ds.positions()[:, 0], [1.0, 2.0, 0.0])
    assert [f.timestamp for f in ds.frames] == [3.0, 4.0, 5.0]


def test_order_matching_needs_equal_counts(tmp_path: Path) -> None:
    _images(tmp_path / "images", ["a.png", "b.png"])
    _trajectory(tmp_path / "poses.tum", [1.0, 2.0, 3.0])
    with pytest.raises(DatasetError, match="2 images .* 3 poses"):
        read_image_folder(tmp_path, "all")


def test_train_test_subfolders(tmp_path: Path) -> None:
    _timestamped_scene(tmp_path / "train", 6)
    _timestamped_scene(tmp_path / "test", 3)
    assert len(read_image_folder(tmp_path, "train")) == 6
    test = read_image_folder(tmp_path, "test")
    assert len(test) == 3 and test.frames[0].name.startswith("test/rgb/")
    assert len(read_image_folder(tmp_path, "all")) == 9


def test_split_list_files(tmp_path: Path) -> None:
    root = _timestamped_scene(tmp_path, 4)
    (root / "train.txt").write_bytes(b"# train images\r\n1305031102.003000.png\r\n\r\n1305031102.203000.png\r\n")
    (root / "test.txt").write_text("1305031102.103000.png\n")
    assert [f.position[0] for f in read_image_folder(root, "train").frames] == [0.0, 20.0]
    assert [f.position[0] for f in read_image_folder(root, "test").frames] == [10.0]
    (root / "test.txt").write_text("1305031102.103000.png\nmissing.png\n")
    with pytest.raises(DatasetError, match=r"test.txt:2: image .*missing.png not found"):
        read_image_folder(root, "test")
    (root / "test.txt").unlink()
    with pytest.raises(DatasetError, match=r"split file not found: .*test.txt"):
        read_image_folder(root, "test")


def test_bad_trajectory_line_is_reported(tmp_path: Path) -> None:
    _images(tmp_path / "images", ["1.000000.png"])
    (tmp_path / "poses.tum").write_text("1.0 0 0 0 0 0 0 1\n2.0 0 0 zero 0 0 0 1\n")
    with pytest.raises(DatasetError, match=r"poses.tum:2: .*must be numbers"):
        read_image_folder(tmp_path, "all")


def test_layout_and_argument_errors(tmp_path: Path) -> None:
    _images(tmp_path / "images", ["1.000000.png"])
    with pytest.raises(DatasetError, match="expected an image folder"):
        read_image_folder(tmp_path, "all")
    _trajectory(tmp_path / "poses.tum", [1.0])
    with pytest.raises(DatasetError, match="not 'val'"):
        read_image_folder(tmp_path, "val")
    with pytest.raises(DatasetError, match="test_every"):
        read_image_folder(tmp_path, "train", test_every=1)


@pytest.mark.parametrize("listed", ["../../outside.png", "/etc/hostname"])
def test_split_list_lines_cannot_escape_the_image_folder(tmp_path: Path, listed: str) -> None:
    root = _timestamped_scene(tmp_path / "scene", 4)
    _images(tmp_path, ["outside.png"])
    (root / "test.txt").write_text(f"1305031102.103000.png\n{listed}\n")
    with pytest.raises(DatasetError, match=rf"test.txt:2: image '{listed}' (leaves the dataset folder|is absolute)"):
        read_image_folder(root, "test")
