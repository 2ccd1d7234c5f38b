"""Cambridge Landmarks reader/writer: convention, robustness, errors, round trip."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from anchor_reloc_ros.core.errors import DatasetError
from anchor_reloc_ros.core.geometry import (
    invert_transform,
    quat_angle_deg,
    quat_to_matrix,
    transform_from_pq,
)
from anchor_reloc_ros.data.cambridge import read_cambridge, write_cambridge_split
from anchor_reloc_ros.data.frames import PosedFrame

HEADER = "Visual Landmark Dataset V1\nImageFile, Camera Position [X Y Z W P Q R]\n\n"
S = float(np.sqrt(0.5))


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((4, 6, 3), np.uint8))
    return path


def _scene(root: Path, body: str, images: tuple[str, ...] = ("seq1/frame00001.png",),
           newline: str = "\n") -> Path:
    for name in images:
        _png(root / name)
    text = (HEADER + body).replace("\n", newline)
    (root / "dataset_train.txt").write_bytes(text.encode())
    return root


def test_projection_matches_dataset_convention(tmp_path: Path) -> None:
    # Hand-built camera: centre C, world-to-camera rotation 90 deg about y
    # (W P Q R = cos45, 0, sin45, 0), so R_cam_world = [[0,0,1],[0,1,0],[-1,0,0]]:
    # world -x is straight ahead, world +z is to the right, world +y is down.
    C = np.array([10.0, 2.0, 3.0])
    _scene(tmp_path, f"seq1/frame00001.png {C[0]} {C[1]} {C[2]} {S} 0 {S} 0\n")
    frame = read_cambridge(tmp_path, "train").frames[0]
    np.testing.assert_allclose(frame.position, C)

    f, cx, cy = 500.0, 320.0, 240.0
    T_cam_world = invert_transform(transform_from_pq(frame.position, frame.quat_wxyz))

    def pixel(p_world: np.ndarray) -> tuple[float, float, float]:
        x, y, z = (T_cam_world @ np.append(p_world, 1.0))[:3]
        return f * x / z + cx, f * y / z + cy, z

    u, v, z = pixel(C + [-5.0, 0.0, 0.0])
    assert z == pytest.approx(5.0)  # in front, positive depth
    assert (u, v) == pytest.approx((cx, cy))
    u, v, z = pixel(C + [-5.0, 1.0, 2.0])  # 2 m right, 1 m down at 5 m depth
    assert z == pytest.approx(5.0)
    assert (u, v) == pytest.approx((cx + f * 2.0 / 5.0, cy + f * 1.0 / 5.0))
    assert pixel(C + [5.0, 0.0, 0.0])[2] < 0.0  # behind the camera


def test_quaternion_is_conjugated_to_camera_to_world(tmp_path: Path) -> None:
    _scene(tmp_path, f"seq1/frame00001.png 0 0 0 {S} 0 {S} 0\n")
    frame = read_cambridge(tmp_path).frames[0]
    np.testing.assert_allclose(frame.quat_wxyz, [S, 0.0, -S, 0.0], atol=1e-12)
    # optical z (forward) points along world -x
    np.testing.assert_allclose(quat_to_matrix(frame.quat_wxyz)[:, 2], [-1.0, 0.0, 0.0], atol=1e-12)


def test_crlf_tabs_blank_lines_and_trailing_space(tmp_path: Path) -> None:
    body = ("seq1/frame00001.png\t1 2 3\t1 0 0 0   \n\n  \n"
            "seq1/frame00002.png 4 5 6 2 0 0 0\t\n\n")
    _scene(tmp_path, body, ("seq1/frame00001.png", "seq1/frame00002.png"), newline="\r\n")
    ds = read_cambridge(tmp_path, "train")
    assert [fr.name for fr in ds.frames] == ["seq1/frame00001.png", "seq1/frame00002.png"]
    np.testing.assert_allclose(ds.positions(), [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_allclose(ds.quaternions()[1], [1, 0, 0, 0])  # normalised
    assert ds.format == "cambridge" and ds.split == "train"


def test_header_without_blank_line_keeps_first_frame(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    (tmp_path / "dataset_test.txt").write_text(
        "Visual Landmark Dataset V1\nImageFile, Camera Position [X Y Z W P Q R]\n"
        "a.png 1 1 1 1 0 0 0\na.png 2 2 2 1 0 0 0\n")
    assert len(read_cambridge(tmp_path, "test")) == 2


@pytest.mark.parametrize("line, message", [
    ("seq1/frame00001.png 1 2 3 1 0 0", "expected 8 fields"),
    ("seq1/frame00001.png 1 2 3 1 0 0 0 9", "expected 8 fields"),
    ("seq1/frame00001.png 1 two 3 1 0 0 0", "must be numbers"),
    ("seq1/frame00001.png 1 2 3 nan 0 0 0", "must be finite"),
    ("seq1/frame00001.png 1 2 3 0 0 0 0", "zero length"),
])
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    _scene(tmp_path, f"seq1/frame00001.png 1 2 3 1 0 0 0\n\n{line}\n")
    with pytest.raises(DatasetError, match=message) as info:
        read_cambridge(tmp_path)
    assert "dataset_train.txt:6:" in str(info.value)


def test_missing_image_names_image_and_list_line(tmp_path: Path) -> None:
    _scene(tmp_path, "seq1/frame00001.png 1 2 3 1 0 0 0\nseq1/frame00009.png 1 2 3 1 0 0 0\n")
    with pytest.raises(DatasetError) as info:
        read_cambridge(tmp_path)
    text = str(info.value)
    assert "frame00009.png" in text and "dataset_train.txt:5" in text


def test_missing_split_file_lists_present_files(tmp_path: Path) -> None:
    _scene(tmp_path, "seq1/frame00001.png 1 2 3 1 0 0 0\n")
    with pytest.raises(DatasetError, match=r"dataset_test\.txt.*present: dataset_train\.txt"):
        read_cambridge(tmp_path, "test")


def test_empty_list_is_an_error(tmp_path: Path) -> None:
    _scene(tmp_path, "\n\n")
    with pytest.raises(DatasetError, match="no frames"):
        read_cambridge(tmp_path)


def test_write_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(20):
        q = rng.normal(size=4)
        frames.append(PosedFrame(
            image_path=_png(tmp_path / "seq2" / f"frame{i:05d}.png"),
            position=rng.uniform(-300.0, 300.0, size=3),
            quat_wxyz=q / np.linalg.norm(q) * (1 if i % 2 else -1),
            name=f"seq2/frame{i:05d}.png",
        ))
    path = write_cambridge_split(tmp_path, "train", frames)
    assert path == tmp_path / "dataset_train.txt"
    lines = path.read_text().splitlines()
    assert lines[3].startswith("seq2/frame00000.png ")  # 3 header lines, relative paths
    assert len(lines[3].split()[1].split(".")[1]) >= 6
    ds = read_cambridge(tmp_path, "train")
    assert len(ds) == 20
    np.testing.assert_allclose(ds.positions(), [f.position for f in frames], atol=1e-9)
    for got, want in zip(ds.frames, frames):
        q_want = want.quat_wxyz / np.linalg.norm(want.quat_wxyz)
        assert min(np.abs(got.quat_wxyz - q_want).max(), np.abs(got.quat_wxyz + q_want).max()) < 1e-9
        assert got.image_path.resolve() == want.image_path.resolve()
    assert np.all(quat_angle_deg(ds.quaternions(), [f.quat_wxyz for f in frames]) < 1e-6)


def test_writer_accepts_paths_relative_to_root(tmp_path: Path) -> None:
    _png(tmp_path / "seq1" / "frame00001.png")
    frame = PosedFrame(Path("seq1/frame00001.png"), np.zeros(3), np.array([1.0, 0, 0, 0]), "x")
    write_cambridge_split(tmp_path, "test", [frame])
    assert read_cambridge(tmp_path, "test").frames[0].name == "seq1/frame00001.png"


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink then dotdot"])
def test_list_lines_cannot_escape_the_dataset_folder(tmp_path: Path, kind: str) -> None:
    root, outside = tmp_path / "scene", _png(tmp_path / "elsewhere" / "secret.png")
    _png(root / "seq1" / "frame00001.png")
    (root / "seq1" / "out").symlink_to(outside.parent, target_is_directory=True)
    listed = {"dotdot": "../../../../../../../../etc/hostname", "absolute": str(outside),
              "symlink then dotdot": "seq1/out/../secret.png"}[kind]
    _scene(root, f"seq1/frame00001.png 1 2 3 1 0 0 0\n{listed} 1 2 3 1 0 0 0\n")
    with pytest.raises(DatasetError, match="absolute" if kind == "absolute" else "leaves the dataset folder") as info:
        read_cambridge(root)
    assert f"dataset_train.txt:5: image path {listed!r}" in str(info.value)


def test_images_the_owner_linked_into_the_folder_are_read(tmp_path: Path) -> None:
    """Symlinks placed inside the dataset (images kept on another disk) are followed."""
    root, outside = tmp_path / "scene", _png(tmp_path / "elsewhere" / "secret.png")
    (root / "seq1").mkdir(parents=True)
    (root / "seq1" / "link.png").symlink_to(outside)
    _scene(root, "seq1/link.png 1 2 3 1 0 0 0\n")
    assert read_cambridge(root).frames[0].image_path == root / "seq1" / "link.png"
