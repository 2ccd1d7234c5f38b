"""KITTI odometry sequences: the official layout and the common republished one.

``root`` may be any of:

* an official sequence folder ``<kitti>/sequences/NN``::

      image_2/000000.png ...   left colour camera (cam2); used when it holds images
      image_0/000000.png ...   left grayscale camera (cam0); used otherwise
      calib.txt                "P0: <12 numbers>" ... "P3:", "Tr:" (row-major 3x4)
      times.txt                one time in seconds per frame (optional)

  with the poses in ``<kitti>/poses/NN.txt``, else ``poses.txt`` or ``NN.txt`` in the folder;
* the official dataset folder ``<kitti>`` holding ``sequences/`` and ``poses/``, when
  exactly one sequence has poses (several: an error listing them);
* a republished sequence folder (e.g. ``kitti_drive_subset``): ``image_l/*.png`` (cam0
  grayscale) + ``poses.txt`` (+ ``calib.txt``, whose unlabelled rows are P0, P1, ... in order).

Poses: one line per frame, 12 numbers, the row-major 3x4 ``[R|t]`` of ``T_world_cam0``
(camera-to-world of the left grayscale camera, OpenCV axes x right / y down / z forward,
world = the first cam0 frame, metres). Line ``i + 1`` belongs to image ``i`` (``000000.png``
is line 1), so image names must be frame numbers; a missing number is an error.

Colour images: the poses are cam0's, but image_2 comes from cam2. The cameras are
rectified (same rotation), so only the centre moves. Each projection is
``P_i = K_i [I | t_i]``, ``t_i = K_i^-1 P_i[:, 3]`` taking rectified-cam0 coordinates to
cam ``i``'s; cam2's centre in cam0 coordinates is ``t_0 - t_2`` (about 6 cm to the left,
-x, in the odometry calibration; ``t_i`` reduces to ``P_i[:, 3] / fx`` when ``P_i[2, 3]`` is 0),
and its world position is ``C_0 + R_0 (t_0 - t_2)``. Reading image_2 therefore needs
``calib.txt`` with P0 and P2.

Split (KITTI ships none): frame ``i`` is ``test`` when ``i % test_every == test_every // 2``
(default 5: frames 2, 7, 12, ...), else ``train``; ``all`` is every frame. Test frames thus
lie inside the mapped route, between training frames, as in Cambridge and 7-Scenes.
Timestamps come from times.txt when present, else they are ``None``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.errors import DatasetError
from ..core.geometry import matrix_to_quat
from .frames import PosedFrame, PoseDataset
from .text_lines import TextLine, parse_floats, parse_rotation, read_text_lines

FORMAT = "kitti"
IMAGE_DIRS = ("image_2", "image_0", "image_l")  # preference order
COLOUR_DIR = "image_2"
SEQUENCES_DIR = "sequences"
SPLITS = ("train", "test", "all")
DEFAULT_TEST_EVERY = 5
CALIB_ROWS = ("P0", "P1", "P2", "P3", "Tr")  # order of unlabelled calib.txt rows

_LABEL_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):$")


def is_sequence_folder(folder: Path) -> bool:
    """True when ``folder`` has one of the image folders (official or republished)."""
    return any((Path(folder) / d).is_dir() for d in IMAGE_DIRS)


def is_kitti_folder(root: Path) -> bool:
    """True for a sequence folder or an official dataset folder (``sequences/``)."""
    return is_sequence_folder(root) or (Path(root) / SEQUENCES_DIR).is_dir()


def find_poses(sequence: Path) -> Path | None:
    """The pose file of a sequence folder (module rule), or ``None``."""
    candidates = [sequence / "poses.txt", sequence / f"{sequence.name}.txt"]
    if sequence.parent.name == SEQUENCES_DIR:
        candidates.insert(0, sequence.parent.parent / "poses" / f"{sequence.name}.txt")
    return next((p for p in candidates if p.is_file()), None)


def _pick_sequence(root: Path) -> Path:
    """The one sequence with poses under an official dataset folder ``root``."""
    folders = sorted(p for p in (root / SEQUENCES_DIR).iterdir() if p.is_dir())
    posed = [p for p in folders if find_poses(p) is not None]
    if len(posed) == 1:
        return posed[0]
    names = ", ".join(p.name for p in (posed or folders)) or "none"
    if not posed:
        raise DatasetError(
            f"{root}: no sequence has poses (looked for {root / 'poses'}/NN.txt); sequences: {names}"
        )
    raise DatasetError(
        f"{root} holds {len(posed)} sequences with poses ({names}): point at one of them, "
        f"e.g. {posed[0]}"
    )


def read_calib(path: Path) -> dict[str, tuple[TextLine, np.ndarray]]:
    """calib.txt rows by name (``P0`` ...), each with its line and 3x4 matrix."""
    rows: dict[str, tuple[TextLine, np.ndarray]] = {}
    unlabelled = 0
    for line in read_text_lines(path, what="KITTI calib file"):
        fields = line.fields
        label = _LABEL_RE.match(fields[0])
        if label is not None:
            name, fields = label.group(1), fields[1:]
        elif unlabelled < len(CALIB_ROWS):
            name, unlabelled = CALIB_ROWS[unlabelled], unlabelled + 1
        else:
            raise line.error(f"unlabelled rows are {', '.join(CALIB_ROWS)}; this is one too many")
        if len(fields) != 12:
            raise line.error(f"expected 12 numbers for {name} (a row-major 3x4 matrix), got {len(fields)}")
        rows[name] = (line, parse_floats(line, fields, f"{name} entries").reshape(3, 4))
    return rows


def camera_offset(calib: dict[str, tuple[TextLine, np.ndarray]], calib_path: Path, camera: str) -> np.ndarray:
    """Centre of rectified camera ``camera`` (``"P2"``) in cam0 coordinates: ``t_0 - t_i``."""
    def translation(name: str) -> np.ndarray:
        if name not in calib:
            raise DatasetError(f"{calib_path}: no {name} row (needed to place the {COLOUR_DIR} camera)")
        line, P = calib[name]
        K = P[:, :3]
        if K[0, 0] <= 0.0 or abs(np.linalg.det(K)) < 1e-9:
            raise line.error(f"{name} is not a camera projection "
                             f"(fx = {K[0, 0]:g}, det K = {np.linalg.det(K):g})")
        return np.linalg.solve(K, P[:, 3])

    return translation("P0") - translation(camera)


def read_poses(path: Path) -> tuple[list[TextLine], np.ndarray, np.ndarray]:
    """Lines, (N, 3) cam0 centres and (N, 3, 3) camera-to-world rotations of a pose file."""
    lines = read_text_lines(path, what="KITTI pose file")
    if not lines:
        raise DatasetError(f"{path}: no poses")
    positions, rotations = [], []
    for line in lines:
        if len(line.fields) != 12:
            raise line.error(f"expected 12 numbers (a row-major 3x4 [R|t]), got {len(line.fields)}")
        T = parse_floats(line, line.fields, "pose entries").reshape(3, 4)
        rotations.append(parse_rotation(line.where, T[:, :3]))
        positions.append(T[:, 3])
    return lines, np.stack(positions), np.stack(rotations)


def _read_times(path: Path, count: int) -> list[float]:
    lines = read_text_lines(path, what="KITTI times file")
    times = []
    for line in lines:
        if len(line.fields) != 1:
            raise line.error(f"expected one time in seconds, got {len(line.fields)} fields")
        times.append(float(parse_floats(line, line.fields, "time")[0]))
    if len(times) != count:
        raise DatasetError(f"{path} has {len(times)} times for {count} poses")
    return times


def _image_dir(sequence: Path) -> Path:
    present = [sequence / d for d in IMAGE_DIRS if (sequence / d).is_dir()]
    for folder in present:
        if any(folder.glob("*.png")):
            return folder
    tried = ", ".join(str(p) for p in present) or f"{sequence}/{{{','.join(IMAGE_DIRS)}}}"
    raise DatasetError(f"no *.png images in {tried}")


def _numbered_images(image_dir: Path, poses_path: Path, pose_lines: list[TextLine]) -> list[Path]:
    """The images ``0 .. N-1`` for ``N`` pose lines, in frame order."""
    by_number: dict[int, Path] = {}
    for path in sorted(image_dir.glob("*.png")):
        if not path.stem.isdigit():
            raise DatasetError(f"KITTI image names must be frame numbers (000000.png), got {path}")
        if int(path.stem) in by_number:
            raise DatasetError(f"two images for frame {int(path.stem)}: {by_number[int(path.stem)]}, {path}")
        by_number[int(path.stem)] = path
    count = f"{len(by_number)} images in {image_dir} for {len(pose_lines)} poses in {poses_path}"
    width = len(next(iter(by_number.values())).stem)
    for i, line in enumerate(pose_lines):
        if i not in by_number:
            missing = image_dir / f"{i:0{width}d}.png"
            raise DatasetError(f"image not found: {missing} (pose at {line.where}); {count}")
    extra = sorted(n for n in by_number if n >= len(pose_lines))
    if extra:
        raise DatasetError(f"{count}: {by_number[extra[0]]} has no pose")
    return [by_number[i] for i in range(len(pose_lines))]


def _sequence_frames(root: Path, sequence: Path) -> list[PosedFrame]:
    poses_path = find_poses(sequence)
    if poses_path is None:
        official = (f"{sequence.parent.parent / 'poses' / sequence.name}.txt, "
                    if sequence.parent.name == SEQUENCES_DIR else "")
        raise DatasetError(
            f"no KITTI poses for {sequence}: looked for {official}"
            f"{sequence / 'poses.txt'}, {sequence / sequence.name}.txt"
        )
    image_dir = _image_dir(sequence)
    lines, positions, rotations = read_poses(poses_path)
    images = _numbered_images(image_dir, poses_path, lines)
    calib_path = sequence / "calib.txt"
    calib = read_calib(calib_path) if calib_path.is_file() else None
    if image_dir.name == COLOUR_DIR:
        if calib is None:
            raise DatasetError(f"{calib_path} not found: it is needed to move the cam0 poses to {image_dir}")
        positions = positions + rotations @ camera_offset(calib, calib_path, "P2")
    times_path = sequence / "times.txt"
    times = _read_times(times_path, len(lines)) if times_path.is_file() else [None] * len(lines)
    return [
        PosedFrame(img, p, matrix_to_quat(R), img.relative_to(root).as_posix(), t)
        for img, p, R, t in zip(images, positions, rotations, times)
    ]


def read_kitti(root: Path | str, split: str = "train", *,
               test_every: int = DEFAULT_TEST_EVERY) -> PoseDataset:
    """Read a KITTI sequence's ``train``, ``test`` or ``all`` split (module rules)."""
    root = Path(root)
    if split not in SPLITS:
        raise DatasetError(f"KITTI sequences have splits {list(SPLITS)}, not {split!r}")
    if test_every < 2:
        raise DatasetError(f"the KITTI test_every must be at least 2, got {test_every}")
    if not is_kitti_folder(root):
        expected = f"{', '.join(IMAGE_DIRS)} or {SEQUENCES_DIR}/"
        raise DatasetError(f"not a KITTI folder: {root} (expected {expected})")
    frames = _sequence_frames(root, root if is_sequence_folder(root) else _pick_sequence(root))
    if split != "all":
        offset = test_every // 2
        frames = [f for i, f in enumerate(frames) if (i % test_every == offset) == (split == "test")]
    if not frames:
        raise DatasetError(f"{root}: split {split!r} has no frames (test_every = {test_every})")
    return PoseDataset(root=root, split=split, format=FORMAT, frames=frames)
