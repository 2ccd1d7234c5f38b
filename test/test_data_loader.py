"""Format detection and dispatch."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from anchor_reloc_ros.core.errors import DatasetError
from anchor_reloc_ros.data.loader import detect_format, load_dataset
from anchor_reloc_ros.data.tum import write_tum


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((4, 6, 3), np.uint8))


def _cambridge(root: Path) -> Path:
    _png(root / "seq1" / "frame00001.png")
    (root / "dataset_train.txt").write_text("h1\nh2\n\nseq1/frame00001.png 1 2 3 1 0 0 0\n")
    return root


def _seven_scenes(root: Path) -> Path:
    _png(root / "seq-01" / "frame-000000.color.png")
    (root / "seq-01" / "frame-000000.pose.txt").write_text("1 0 0 4\n0 1 0 5\n0 0 1 6\n0 0 0 1\n")
    (root / "TrainSplit.txt").write_text("sequence1\n")
    return root


def _image_folder(root: Path) -> Path:
    _png(root / "images" / "0.500000.png")
    write_tum(root / "poses.tum", np.array([0.5]), np.array([[7.0, 8.0, 9.0]]), np.array([[1.0, 0, 0, 0]]))
    return root


@pytest.mark.parametrize("build, fmt, x", [
    (_cambridge, "cambridge", 1.0),
    (_seven_scenes, "7scenes", 4.0),
    (_image_folder, "image_folder", 7.0),
])
def test_detect_and_load(tmp_path: Path, build, fmt: str, x: float) -> None:
    root = build(tmp_path / "scene")
    assert detect_format(root) == fmt
    ds = load_dataset(str(root), "train" if fmt != "image_folder" else "all")
    assert ds.format == fmt and ds.positions()[0, 0] == pytest.approx(x)


def test_image_folder_with_split_subfolders(tmp_path: Path) -> None:
    _image_folder(tmp_path / "train")
    _image_folder(tmp_path / "test")
    assert detect_format(tmp_path) == "image_folder"
    assert len(load_dataset(tmp_path, "test")) == 1


def test_wrong_path(tmp_path: Path) -> None:
    missing = tmp_path / "x" / "y"
    with pytest.raises(DatasetError, match=f"^dataset folder not found: {missing}$"):
        load_dataset(missing)
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(DatasetError, match="dataset folder not found"):
        detect_format(tmp_path / "file.txt")


def test_unrecognised_folder_lists_expectations(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("hi")
    (tmp_path / "images").mkdir()  # images but no trajectory
    with pytest.raises(DatasetError) as info:
        detect_format(tmp_path)
    text = str(info.value)
    for expected in ("dataset_train.txt", "TrainSplit.txt", "poses.tum", "found: images/, notes.md"):
        assert expected in text


def test_missing_split_propagates(tmp_path: Path) -> None:
    root = _cambridge(tmp_path)
    with pytest.raises(DatasetError, match="dataset_test.txt"):
        load_dataset(root, "test")


def test_data_layer_never_imports_rclpy() -> None:
    code = ("import sys, anchor_reloc_ros.data.loader, anchor_reloc_ros.data.augment; "
            "sys.exit('rclpy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
