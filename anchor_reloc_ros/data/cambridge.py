"""Cambridge Landmarks list files (``dataset_train.txt`` / ``dataset_test.txt``).

File format: three header lines, then one frame per line::

    seq1/frame00001.png X Y Z W P Q R

* ``X Y Z``: the camera centre in world coordinates (metres, SfM frame).
* ``W P Q R``: a w-first unit quaternion of the WORLD-TO-CAMERA rotation ``R_cam_world``
  for a computer-vision camera (x right, y down, z forward), i.e. a world point ``p``
  lies at ``R_cam_world @ (p - C)`` in the optical frame. This is how loaders that
  project the dataset's SfM points read it.

Our ``PosedFrame`` stores ``T_world_cam`` (camera-to-world), so the reader keeps
``position = [X, Y, Z]`` and returns ``quat_wxyz = conjugate(WPQR)`` (normalised,
``w >= 0``); the writer applies the inverse conversion.

Header rule: of the first three physical lines, those that do not parse as a frame
record are treated as header (the originals are two text lines and a blank one), so a
file whose header lost its blank line still loads every frame. Blank lines, tabs,
trailing whitespace and CRLF endings are accepted anywhere. Image paths are relative
to the folder holding the list file, must stay inside it (no absolute paths, no ``..``
or symlink leading out) and every image must exist.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.errors import DatasetError
from ..core.geometry import quat_conjugate, quat_normalize
from .frames import PosedFrame, PoseDataset
from .text_lines import TextLine, parse_floats, parse_unit_quat, path_inside, read_text_lines

FORMAT = "cambridge"
HEADER_LINES = 3
_HEADER = ("Visual Landmark Dataset V1", "ImageFile, Camera Position [X Y Z W P Q R]", "")
_DECIMALS = 12


def split_file(root: Path, split: str) -> Path:
    """Path of the list file for ``split`` (``dataset_<split>.txt``)."""
    return Path(root) / f"dataset_{split}.txt"


def _looks_like_record(line: TextLine) -> bool:
    fields = line.fields
    if len(fields) != 8:
        return False
    try:
        [float(tok) for tok in fields[1:]]
    except ValueError:
        return False
    return True


def _parse_record(root: Path, line: TextLine) -> PosedFrame:
    fields = line.fields
    if len(fields) != 8:
        raise line.error(f"expected 8 fields 'image X Y Z W P Q R', got {len(fields)}")
    values = parse_floats(line, fields[1:], "pose values")
    q_cam_world = parse_unit_quat(line, values[3:])
    image_path = path_inside(root, fields[0], line, "image path")
    if not image_path.is_file():
        raise DatasetError(f"image not found: {image_path} (listed at {line.where})")
    return PosedFrame(
        image_path=image_path,
        position=values[:3],
        quat_wxyz=quat_normalize(quat_conjugate(q_cam_world)),
        name=Path(fields[0]).as_posix(),
    )


def read_cambridge(root: Path | str, split: str = "train") -> PoseDataset:
    """Read ``root/dataset_<split>.txt`` into camera-to-world frames, in file order."""
    root = Path(root)
    path = split_file(root, split)
    if not path.is_file():
        present = sorted(p.name for p in root.glob("dataset_*.txt"))
        raise DatasetError(
            f"Cambridge split file not found: {path} (present: {', '.join(present) or 'none'})"
        )
    frames = [
        _parse_record(root, line)
        for line in read_text_lines(path, what="Cambridge list file")
        if line.number > HEADER_LINES or _looks_like_record(line)
    ]
    if not frames:
        raise DatasetError(f"{path}: no frames listed")
    return PoseDataset(root=root, split=split, format=FORMAT, frames=frames)


def _relative_image_path(root: Path, frame: PosedFrame) -> str:
    image = Path(frame.image_path)
    rel = image if not image.is_absolute() else Path(os.path.relpath(image.resolve(), root.resolve()))
    text = rel.as_posix()
    if any(ch.isspace() for ch in text):
        raise DatasetError(f"Cambridge list files cannot hold paths with whitespace: {image}")
    return text


def _format_record(root: Path, frame: PosedFrame) -> str:
    position = np.asarray(frame.position, dtype=np.float64).reshape(3)
    q_cam_world = quat_normalize(quat_conjugate(frame.quat_wxyz))
    numbers = " ".join(f"{v:.{_DECIMALS}f}" for v in (*position, *q_cam_world))
    return f"{_relative_image_path(root, frame)} {numbers}"


def write_cambridge_split(root: Path, split: str, frames: Sequence[PosedFrame]) -> Path:
    """Write ``root/dataset_<split>.txt`` for ``frames`` and return its path.

    Image paths are written relative to ``root`` (relative ``image_path`` values are
    taken as already relative to it); poses are converted back to the file's
    camera-centre + world-to-camera quaternion convention with 12 decimals.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines = [*_HEADER, *(_format_record(root, frame) for frame in frames)]
    path = split_file(root, split)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
