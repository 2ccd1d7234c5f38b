"""Microsoft 7-Scenes reader.

Layout of one scene folder::

    TrainSplit.txt  TestSplit.txt       lines "sequence1", "sequence2", ...
    seq-01/frame-000000.color.png       (some redistributions ship .jpg)
    seq-01/frame-000000.pose.txt        4x4 camera-to-world matrix, row-major

``sequenceN`` maps to folder ``seq-NN`` (``seq-01`` style entries are accepted too).
The pose matrices are already ``T_world_cam`` for the optical frame (x right, y down,
z forward); their rotations are slightly non-orthonormal, so each is projected onto
the nearest rotation. Frames come in sequence-number order, then frame-number order;
a frame is its pose file plus the colour image beside it (depth images are ignored).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.errors import DatasetError
from ..core.geometry import pq_from_transform
from .frames import PosedFrame, PoseDataset
from .text_lines import TextLine, parse_floats, parse_rotation, path_inside, read_text_lines

FORMAT = "7scenes"
SPLIT_FILES = {"train": "TrainSplit.txt", "test": "TestSplit.txt", "val": "ValSplit.txt"}  # val: ours, optional
IMAGE_SUFFIXES = (".color.png", ".color.jpg")

_SEQUENCE_RE = re.compile(r"^(?:sequence|seq-?)(\d+)$", re.IGNORECASE)
_POSE_RE = re.compile(r"^frame-(\d+)\.pose\.txt$")


def _sequence_folders(root: Path, split: str) -> list[Path]:
    if split not in SPLIT_FILES:
        raise DatasetError(f"7-Scenes has splits {sorted(SPLIT_FILES)}, not {split!r}")
    split_path = root / SPLIT_FILES[split]
    numbered: dict[int, Path] = {}
    for line in read_text_lines(split_path, comment="#", what="7-Scenes split file"):
        match = _SEQUENCE_RE.match(line.text)
        if match is None:
            raise line.error(f"expected 'sequenceN', got {line.text!r}")
        folder = path_inside(root, f"seq-{int(match.group(1)):02d}", line, "sequence folder")
        if not folder.is_dir():
            raise DatasetError(f"sequence folder not found: {folder} (listed at {line.where})")
        numbered[int(match.group(1))] = folder
    if not numbered:
        raise DatasetError(f"{split_path}: no sequences listed")
    return [numbered[k] for k in sorted(numbered)]


def read_pose_matrix(path: Path) -> np.ndarray:
    """A 4x4 ``T_world_cam`` from a 7-Scenes pose file, rotation orthonormalised."""
    lines = read_text_lines(path, what="7-Scenes pose file")
    if len(lines) != 4:
        where = lines[4].where if len(lines) > 4 else str(path)
        raise DatasetError(f"{where}: expected 4 rows of 4 numbers, found {len(lines)} rows")
    rows = []
    for line in lines:
        if len(line.fields) != 4:
            raise line.error(f"expected 4 numbers, got {len(line.fields)}")
        rows.append(parse_floats(line, line.fields, "matrix entries"))
    T = np.stack(rows)
    _check_last_row(lines[3], T)
    T[:3, :3] = parse_rotation(str(path), T[:3, :3])
    return T


def _check_last_row(last_row: TextLine, T: np.ndarray) -> None:
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise last_row.error(f"last row must be 0 0 0 1, got {T[3].tolist()}")


def _color_image(pose_path: Path) -> Path:
    stem = pose_path.name[: -len(".pose.txt")]
    for suffix in IMAGE_SUFFIXES:
        candidate = pose_path.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    raise DatasetError(f"colour image not found for {pose_path} (tried {', '.join(IMAGE_SUFFIXES)})")


def _sequence_frames(root: Path, folder: Path) -> list[PosedFrame]:
    numbered = sorted(
        (int(m.group(1)), p) for p in folder.iterdir() if (m := _POSE_RE.match(p.name))
    )
    if not numbered:
        raise DatasetError(f"no frame-XXXXXX.pose.txt files in {folder}")
    frames = []
    for _, pose_path in numbered:
        image = _color_image(pose_path)
        position, quat = pq_from_transform(read_pose_matrix(pose_path))
        frames.append(PosedFrame(image, position, quat, image.relative_to(root).as_posix()))
    return frames


def read_seven_scenes(root: Path | str, split: str = "train") -> PoseDataset:
    """Read one 7-Scenes scene folder's ``train`` or ``test`` split."""
    root = Path(root)
    frames = [f for folder in _sequence_folders(root, split) for f in _sequence_frames(root, folder)]
    return PoseDataset(root=root, split=split, format=FORMAT, frames=frames)
