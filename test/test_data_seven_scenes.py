"""7-Scenes reader: splits, ordering, tolerant pose files, orthonormalisation, errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from anchor_reloc_ros.core.errors import DatasetError
from anchor_reloc_ros.core.geometry import quat_to_matrix
from anchor_reloc_ros.data.seven_scenes import read_pose_matrix, read_seven_scenes


def _rot_z(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _pose_text(T: np.ndarray, sep: str = " ", newline: str = "\n") -> str:
    return newline.join(sep.join(f"{v:.8e}" for v in row) + " " for row in T) + newline


def _frame(seq: Path, index: int, T: np.ndarray, ext: str = "png", **fmt: str) -> None:
    seq.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(seq / f"frame-{index:06d}.color.{ext}"), np.zeros((4, 6, 3), np.uint8))
    (seq / f"frame-{index:06d}.pose.txt").write_bytes(_pose_text(T, **fmt).encode())


def _pose(x: float, deg: float = 0.0) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = _rot_z(deg)
    T[:3, 3] = [x, 2.0 * x, -x]
    return T


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    (tmp_path / "TrainSplit.txt").write_bytes(b"sequence2\r\n\r\nsequence1\r\n")
    (tmp_path / "TestSplit.txt").write_text("sequence3\n")
    # frame numbers written out of order and past 9 to check numeric sorting
    for i in (10, 2, 0):
        _frame(tmp_path / "seq-01", i, _pose(1.0 + i, 10.0 * i))
    _frame(tmp_path / "seq-02", 0, _pose(100.0), sep="\t", newline="\r\n")
    _frame(tmp_path / "seq-03", 0, _pose(200.0), ext="jpg")
    return tmp_path


def test_rotation_matches_pose_file(scene: Path) -> None:
    ds = read_seven_scenes(scene, "train")
    np.testing.assert_allclose(quat_to_matrix(ds.frames[2].quat_wxyz), _rot_z(100.0), atol=1e-7)


def test_train_split_order_and_poses(scene: Path) -> None:
    ds = read_seven_scenes(scene, "train")
    assert ds.format == "7scenes"
    assert [f.name for f in ds.frames] == [
        "seq-01/frame-000000.color.png",
        "seq-01/frame-000002.color.png",
        "seq-01/frame-000010.color.png",
        "seq-02/frame-000000.color.png",
    ]
    np.testing.assert_allclose(ds.frames[2].position, [11.0, 22.0, -11.0], atol=1e-7)
    np.testing.assert_allclose(ds.frames[3].position, [100.0, 200.0, -100.0], atol=1e-6)
    assert all(f.image_path.is_file() for f in ds.frames)


def test_test_split_accepts_jpg(scene: Path) -> None:
    ds = read_seven_scenes(scene, "test")
    assert len(ds) == 1 and ds.frames[0].image_path.suffix == ".jpg"


def test_non_orthonormal_rotation_is_projected(tmp_path: Path) -> None:
    T = _pose(1.0, 30.0)
    T[:3, :3] *= 1.01  # slightly scaled, as in the dataset's rounding
    T[0, 1] += 0.003
    path = tmp_path / "frame-000000.pose.txt"
    path.write_text(_pose_text(T))
    R = read_pose_matrix(path)[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R, _rot_z(30.0), atol=3e-3)


@pytest.mark.parametrize("text, message, line", [
    ("1 0 0 0\n0 1 0 0\n0 0 1\n0 0 0 1\n", "expected 4 numbers", ":3:"),
    ("1 0 0 0\n0 1 0 0\n0 0 1 0\n", "expected 4 rows", ""),
    ("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n1 1 1 1\n", "expected 4 rows", ":5:"),
    ("1 0 0 0\n0 one 0 0\n0 0 1 0\n0 0 0 1\n", "must be numbers", ":2:"),
    ("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 1 1\n", "last row", ":4:"),
    ("1 0 0 0\n0 1 0 0\n0 0 -1 0\n0 0 0 1\n", "not a rotation", ""),
    ("2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "not a rotation", ""),
])
def test_malformed_pose_file(tmp_path: Path, text: str, message: str, line: str) -> None:
    path = tmp_path / "frame-000000.pose.txt"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as info:
        read_pose_matrix(path)
    assert f"{path}{line}" in str(info.value)


def test_missing_split_file(scene: Path) -> None:
    (scene / "TestSplit.txt").unlink()
    with pytest.raises(DatasetError, match="split file not found: .*TestSplit.txt"):
        read_seven_scenes(scene, "test")


def test_bad_split_line_and_missing_sequence(scene: Path) -> None:
    (scene / "TestSplit.txt").write_text("sequence3\nseq uence4\n")
    with pytest.raises(DatasetError, match=r"TestSplit.txt:2: expected 'sequenceN'"):
        read_seven_scenes(scene, "test")
    (scene / "TestSplit.txt").write_text("sequence3\n\nsequence7\n")
    with pytest.raises(DatasetError, match=r"seq-07.*TestSplit.txt:3"):
        read_seven_scenes(scene, "test")


def test_missing_colour_image(scene: Path) -> None:
    (scene / "seq-01" / "frame-000002.color.png").unlink()
    with pytest.raises(DatasetError, match=r"colour image not found for .*frame-000002.pose.txt"):
        read_seven_scenes(scene, "train")


def test_unknown_split_name(scene: Path) -> None:
    with pytest.raises(DatasetError, match="not 'validation'"):
        read_seven_scenes(scene, "validation")


def test_a_missing_optional_val_split_names_its_file(scene: Path) -> None:
    with pytest.raises(DatasetError, match="ValSplit.txt"):
        read_seven_scenes(scene, "val")


def test_a_sequence_linked_into_the_scene_is_read(scene: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A sequence folder the owner symlinked into the scene is followed (split files can only
    name seq-XX folders, so they cannot point outside)."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    _frame(elsewhere / "seq-09", 0, _pose(1.0))
    (scene / "seq-04").symlink_to(elsewhere / "seq-09", target_is_directory=True)
    (scene / "TrainSplit.txt").write_text("sequence1\nsequence4\n")
    names = [f.name for f in read_seven_scenes(scene, "train").frames]
    assert any(n.startswith("seq-04") for n in names), names
