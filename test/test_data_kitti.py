"""KITTI odometry reader: both layouts, the cam2 shift, the split, errors, the real subset, the CLI."""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from anchor_reloc_ros.core.errors import DatasetError
from anchor_reloc_ros.core.geometry import quat_to_matrix
from anchor_reloc_ros.data.kitti import read_kitti
from anchor_reloc_ros.data.loader import detect_format, load_dataset
from anchor_reloc_ros.data.rosbag_from_dataset import read_image_file
from anchor_reloc_ros.tools.cli import main
from anchor_reloc_ros.training.image_cache import read_rgb

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO.parent / "shared" / "data" / "kitti_drive_subset"

# Odometry calibration of sequences 00-02 (P0..P3 as in their calib.txt; Tr rounded).
FX, CX, CY = 718.856, 607.1928, 185.2157
P0 = np.array([[FX, 0, CX, 0], [0, FX, CY, 0], [0, 0, 1, 0]])
P1 = np.array([[FX, 0, CX, -386.1448], [0, FX, CY, 0], [0, 0, 1, 0]])
P2 = np.array([[FX, 0, CX, 45.38225], [0, FX, CY, -0.1130887], [0, 0, 1, 0.003779761]])
P3 = np.array([[FX, 0, CX, -337.2877], [0, FX, CY, 2.369057], [0, 0, 1, 0.004915215]])
TR = np.array([[0.0, -1, 0, 0], [0, 0, -1, -0.08], [1, 0, 0, -0.27]])


def _row(M: np.ndarray) -> str:
    return " ".join(f"{v:.12e}" for v in np.asarray(M).reshape(-1))


def _poses(n: int) -> list[np.ndarray]:
    """Camera-to-world 3x4 rows: driving along +z, turning about the camera's y axis."""
    out = []
    for i in range(n):
        yaw = np.radians(3.0 * i)
        R = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        out.append(np.column_stack([R, [0.1 * i, -0.01 * i, 1.0 * i]]))
    return out


def _images(folder: Path, n: int, colour: bool, size: tuple[int, int] = (12, 16)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)))
    for i in range(n):
        shape = (*size, 3) if colour else size
        cv2.imwrite(str(folder / f"{i:06d}.png"), rng.integers(0, 256, shape, dtype=np.uint8))


def _sequence(folder: Path, n: int, *, image_dirs: tuple[str, ...] = ("image_0",), poses: Path | None = None,
              times: bool = True, calib: bool = True, size: tuple[int, int] = (12, 16)) -> Path:
    """An official-layout sequence folder; poses in ``poses`` (default ../../poses/NN.txt)."""
    for name in image_dirs:
        _images(folder / name, n, colour=name == "image_2", size=size)
    if calib:
        rows = zip(("P0", "P1", "P2", "P3", "Tr"), (P0, P1, P2, P3, TR))
        (folder / "calib.txt").write_text("".join(f"{k}: {_row(M)}\n" for k, M in rows))
    if times:
        (folder / "times.txt").write_text("".join(f"{0.1 * i:.6e}\n" for i in range(n)))
    poses = poses or folder.parent.parent / "poses" / f"{folder.name}.txt"
    poses.parent.mkdir(parents=True, exist_ok=True)
    poses.write_text("".join(_row(T) + "\n" for T in _poses(n)))
    return folder


def _republished(root: Path, n: int, size: tuple[int, int] = (12, 16)) -> Path:
    """The kitti_drive_subset layout: image_l/ (grayscale) + poses.txt + unlabelled calib.txt."""
    _images(root / "image_l", n, colour=False, size=size)
    (root / "poses.txt").write_text("".join(_row(T) + "\n" for T in _poses(n)))
    (root / "calib.txt").write_text(f"{_row(P0)}\n{_row(P1)}\n")
    return root


def test_official_sequence_folder_with_grayscale_images(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "sequences" / "00", 6)
    assert detect_format(seq) == "kitti"
    ds = load_dataset(seq, "all")
    assert ds.format == "kitti" and len(ds) == 6
    assert [f.name for f in ds.frames[:2]] == ["image_0/000000.png", "image_0/000001.png"]
    expected = _poses(6)
    np.testing.assert_allclose(ds.positions(), [T[:, 3] for T in expected], atol=1e-9)
    for frame, T in zip(ds.frames, expected):
        np.testing.assert_allclose(quat_to_matrix(frame.quat_wxyz), T[:, :3], atol=1e-9)
    assert [f.timestamp for f in ds.frames] == pytest.approx([0.1 * i for i in range(6)])


def test_dataset_root_reads_its_one_sequence_with_poses(tmp_path: Path) -> None:
    _sequence(tmp_path / "sequences" / "03", 5)
    _images(tmp_path / "sequences" / "11" / "image_0", 3, colour=False)  # a test sequence: no poses
    assert detect_format(tmp_path) == "kitti"
    ds = load_dataset(tmp_path, "all")
    assert len(ds) == 5 and ds.frames[0].name == "sequences/03/image_0/000000.png"


def test_dataset_root_with_several_posed_sequences_asks_for_one(tmp_path: Path) -> None:
    _sequence(tmp_path / "sequences" / "00", 3)
    _sequence(tmp_path / "sequences" / "01", 3)
    with pytest.raises(DatasetError, match=r"holds 2 sequences with poses \(00, 01\): point at one") as info:
        load_dataset(tmp_path, "all")
    assert str(tmp_path / "sequences" / "00") in str(info.value)


def test_dataset_root_without_poses(tmp_path: Path) -> None:
    _images(tmp_path / "sequences" / "11" / "image_0", 3, colour=False)
    with pytest.raises(DatasetError, match=r"no sequence has poses .*poses/NN.txt.*sequences: 11"):
        load_dataset(tmp_path, "all")


def test_colour_images_are_preferred_and_moved_to_cam2(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "sequences" / "07", 4, image_dirs=("image_0", "image_2"))
    ds = read_kitti(seq, "all")
    assert ds.frames[0].name == "image_2/000000.png"
    gray = read_kitti(_sequence(tmp_path / "gray" / "sequences" / "07", 4), "all")
    # cam2's centre in cam0 coordinates: P2 = K [I | t2], centre = -t2 (P0's t is 0)
    centre = -np.linalg.solve(P2[:, :3], P2[:, 3])
    assert centre[0] == pytest.approx(-0.0599, abs=2e-4)  # 6 cm left of cam0
    for colour, cam0 in zip(ds.frames, gray.frames):
        R = quat_to_matrix(cam0.quat_wxyz)
        np.testing.assert_allclose(colour.position, cam0.position + R @ centre, atol=1e-9)
        np.testing.assert_allclose(colour.quat_wxyz, cam0.quat_wxyz, atol=1e-12)
    assert np.linalg.norm(ds.positions() - gray.positions(), axis=1) == pytest.approx(
        [np.linalg.norm(centre)] * 4)


def test_colour_images_need_the_calibration(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "sequences" / "00", 3, image_dirs=("image_2",), calib=False)
    with pytest.raises(DatasetError, match=r"calib.txt not found: it is needed to move the cam0 poses"):
        read_kitti(seq, "all")
    (seq / "calib.txt").write_text(f"P0: {_row(P0)}\nP1: {_row(P1)}\n")
    with pytest.raises(DatasetError, match=r"calib.txt: no P2 row"):
        read_kitti(seq, "all")


def test_poses_beside_the_images(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "05", 3, poses=tmp_path / "05" / "05.txt", times=False)
    ds = load_dataset(seq, "all")
    assert len(ds) == 3 and ds.frames[0].timestamp is None


def test_republished_variant(tmp_path: Path) -> None:
    root = _republished(tmp_path / "drive", 7)
    assert detect_format(root) == "kitti"
    ds = load_dataset(root, "all")
    assert len(ds) == 7 and ds.frames[3].name == "image_l/000003.png" and ds.frames[3].timestamp is None
    np.testing.assert_allclose(ds.positions()[3], _poses(7)[3][:, 3])


def test_default_split_and_its_option(tmp_path: Path) -> None:
    root = _republished(tmp_path / "drive", 12)
    test = load_dataset(root, "test")
    train = load_dataset(root, "train")
    assert [f.name for f in test.frames] == ["image_l/000002.png", "image_l/000007.png"]
    assert len(train) == 10 and not {f.name for f in train.frames} & {f.name for f in test.frames}
    every4 = load_dataset(root, "test", kitti_test_every=4)
    assert [f.name[-6:-4] for f in every4.frames] == ["02", "06", "10"]
    assert [f.name for f in read_kitti(root, "test", test_every=4).frames] == [f.name for f in every4.frames]
    assert len(load_dataset(root, "test", kitti_test_every=None)) == 2  # None: the reader's default
    with pytest.raises(DatasetError, match="test_every must be at least 2, got 1"):
        load_dataset(root, "test", kitti_test_every=1)
    with pytest.raises(DatasetError, match="splits .* not 'val'"):
        read_kitti(root, "val")
    with pytest.raises(TypeError, match="unknown dataset option"):
        load_dataset(root, "test", test_every=4)


def test_kitti_option_leaves_other_formats_alone(strip_dataset: Path) -> None:
    default = load_dataset(strip_dataset, "test")
    assert len(load_dataset(strip_dataset, "test", kitti_test_every=3)) == len(default)


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("file, line, text, message", [
    ("poses", 3, "1 0 0 0 0 1 0 0 0 0 1", "expected 12 numbers"),
    ("poses", 2, "1 0 0 0 0 1 0 0 0 0 x 0", "pose entries must be numbers"),
    ("poses", 2, "1 0 0 0 0 1 0 0 0 0 nan 0", "pose entries must be finite"),
    ("poses", 4, "1 0 0 0 0 1 0 0 0 0 -1 0", "rotation block is not a rotation"),
    ("calib", 3, "P2: 1 2 3", "expected 12 numbers for P2"),
    ("calib", 1, "P0: 718 0 607 0 0 718 185 0 0 0 1 zero", "P0 entries must be numbers"),
    ("calib", 3, "P2: 0 0 607 45 0 718 185 0 0 0 1 0", "P2 is not a camera projection"),
    ("times", 2, "0.1 0.2", "expected one time in seconds"),
    ("times", 5, "later", "time must be numbers"),
])
def test_malformed_lines_name_file_and_line(tmp_path: Path, file: str, line: int, text: str,
                                            message: str) -> None:
    seq = _sequence(tmp_path / "sequences" / "00", 5, image_dirs=("image_2",))
    files = {"poses": tmp_path / "poses" / "00.txt", "calib": seq / "calib.txt", "times": seq / "times.txt"}
    path = files[file]
    _replace_line(path, line, text)
    with pytest.raises(DatasetError, match=message) as info:
        read_kitti(seq, "all")
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_unlabelled_calib_rows_past_tr(tmp_path: Path) -> None:
    root = _republished(tmp_path, 3)
    (root / "calib.txt").write_text("".join(f"{_row(P0)}\n" for _ in range(6)))
    with pytest.raises(DatasetError, match=r"calib.txt:6: unlabelled rows are P0, P1, P2, P3, Tr"):
        read_kitti(root, "all")


def test_times_count_must_match(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "sequences" / "00", 5)
    (seq / "times.txt").write_text("0\n0.1\n0.2\n0.3\n")
    with pytest.raises(DatasetError, match=r"times.txt has 4 times for 5 poses"):
        read_kitti(seq, "all")


def test_more_poses_than_images_names_the_missing_image(tmp_path: Path) -> None:
    root = _republished(tmp_path, 4)
    with (root / "poses.txt").open("a") as fh:
        fh.write(_row(_poses(5)[4]) + "\n")
    with pytest.raises(DatasetError) as info:
        read_kitti(root, "all")
    images, poses = root / "image_l", root / "poses.txt"
    assert str(info.value) == (f"image not found: {images / '000004.png'} (pose at {poses}:5); "
                               f"4 images in {images} for 5 poses in {poses}")


def test_more_images_than_poses(tmp_path: Path) -> None:
    root = _republished(tmp_path, 4)
    _replace_line(root / "poses.txt", 4, "")
    with pytest.raises(DatasetError, match=r"4 images in .* for 3 poses in .*: .*000003.png has no pose"):
        read_kitti(root, "all")


def test_a_gap_in_the_image_numbers(tmp_path: Path) -> None:
    root = _republished(tmp_path, 5)
    (root / "image_l" / "000002.png").unlink()
    with pytest.raises(DatasetError, match=r"image not found: .*/000002.png \(pose at .*poses.txt:3\)"):
        read_kitti(root, "all")


def test_image_names_must_be_frame_numbers(tmp_path: Path) -> None:
    root = _republished(tmp_path, 3)
    (root / "image_l" / "000001.png").rename(root / "image_l" / "left_1.png")
    with pytest.raises(DatasetError, match=r"must be frame numbers \(000000.png\), got .*left_1.png"):
        read_kitti(root, "all")


def test_missing_poses_and_images(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "sequences" / "04", 3)
    (tmp_path / "poses" / "04.txt").unlink()
    with pytest.raises(DatasetError, match=r"no KITTI poses for .*04: looked for .*/04.txt, .*poses.txt"):
        read_kitti(seq, "all")
    empty = tmp_path / "empty"
    (empty / "image_0").mkdir(parents=True)
    (empty / "poses.txt").write_text(_row(_poses(1)[0]) + "\n")
    with pytest.raises(DatasetError, match=r"no \*.png images in .*empty/image_0"):
        load_dataset(empty, "all")


def test_unrecognised_folder_message_names_kitti(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("hi")
    expected = r"not a KITTI folder: .*expected image_2, image_0, image_l or sequences/"
    with pytest.raises(DatasetError, match=expected):
        read_kitti(tmp_path)
    with pytest.raises(DatasetError, match=r"KITTI odometry \(image_2 / image_0 / image_l/ with poses"):
        detect_format(tmp_path)


def test_grayscale_images_read_as_rgb(tmp_path: Path) -> None:
    gray = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)
    cv2.imwrite(str(tmp_path / "000000.png"), gray)
    for reader in (read_rgb, read_image_file):  # training + eval, and make-bag
        rgb = reader(tmp_path / "000000.png")
        assert rgb.shape == (12, 16, 3) and rgb.dtype == np.uint8
        for channel in range(3):
            np.testing.assert_array_equal(rgb[..., channel], gray)


@pytest.mark.skipif(not SUBSET.is_dir(), reason=f"real KITTI subset not present at {SUBSET}")
def test_real_kitti_drive_subset() -> None:
    assert detect_format(SUBSET) == "kitti"
    everything = load_dataset(SUBSET, "all")
    train, test = load_dataset(SUBSET, "train"), load_dataset(SUBSET, "test")
    assert (len(everything), len(train), len(test)) == (51, 41, 10)
    np.testing.assert_allclose(everything.frames[0].position, 0.0, atol=1e-9)
    np.testing.assert_allclose(everything.frames[0].quat_wxyz, [1.0, 0.0, 0.0, 0.0], atol=1e-6)
    steps = np.linalg.norm(np.diff(everything.positions(), axis=0), axis=1)
    assert steps.sum() == pytest.approx(51.8, abs=0.5) and 0.8 < np.median(steps) < 1.2
    first = everything.frames[0].image_path
    assert cv2.imread(str(first), cv2.IMREAD_UNCHANGED).ndim == 2  # stored grayscale
    assert read_rgb(first).shape == (376, 1241, 3)


@pytest.mark.parametrize("layout", ["official", "republished"])
def test_train_and_eval_through_the_cli(tmp_path: Path, layout: str) -> None:
    n = 20
    if layout == "official":
        _sequence(tmp_path / "kitti" / "sequences" / "00", n, size=(48, 64))
        data = tmp_path / "kitti"
    else:
        data = _republished(tmp_path / "kitti", n, size=(48, 64))
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--backbone", "tiny_cnn", "--no-pretrained",
                 "--epochs", "1", "--image-size", "64x48", "--anchor-every", "4", "--device", "cpu",
                 "--quiet", "--kitti-test-every", "4"]) == 0
    # eval takes the split from the checkpoint: every 4th frame, offset 2
    assert main(["eval", "--weights", str(run / "best.safetensors"), "--data", str(data),
                 "--out", str(tmp_path / "eval"), "--no-plots", "--device", "cpu"]) == 0
    with open(tmp_path / "eval" / "frames.csv", newline="") as fh:
        names = [row["name"] for row in csv.DictReader(fh)]
    assert [name[-10:] for name in names] == [f"{i:06d}.png" for i in range(2, n, 4)]
    assert main(["eval", "--weights", str(run / "best.safetensors"), "--data", str(data),
                 "--out", str(tmp_path / "eval5"), "--no-plots", "--device", "cpu",
                 "--kitti-test-every", "5"]) == 0
    with open(tmp_path / "eval5" / "frames.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 4
