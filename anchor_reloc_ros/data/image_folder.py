"""Generic scene: a folder of images plus a TUM trajectory of ``T_world_cam`` poses.

Layout of a scene folder ``DIR``::

    DIR/images/ (or DIR/rgb/)             *.png / *.jpg / *.jpeg
    DIR/poses.tum (or DIR/groundtruth.txt) TUM trajectory, see ``tum.py``

Matching images to poses:

* If every image stem is a number (``1305031102.175304.png``), it is the capture time
  in seconds; each image takes the trajectory row with the nearest timestamp, and
  images with no row within ``tolerance_s`` are dropped (an error if none match).
  The frame's ``timestamp`` is the image's.
* Otherwise, if the image count equals the row count, images in natural name order
  (``frame2`` before ``frame10``) pair with rows in timestamp order; the frame's
  ``timestamp`` is the row's.
* Anything else is a ``DatasetError``.

Splits, first rule that applies:

1. ``DIR/train/`` and ``DIR/test/`` both exist: each is a scene folder as above.
2. ``DIR/train.txt`` or ``DIR/test.txt`` exists: the split's file lists image names
   (relative to the image folder, ``#`` comments allowed); it must exist.
3. Every ``test_every``-th matched frame (index ``i % test_every == test_every - 1``,
   in time order) is ``test``, the rest ``train``.

``split="all"`` returns every matched frame (or both subfolders, train first).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.errors import DatasetError
from .frames import PosedFrame, PoseDataset
from .text_lines import path_inside, read_text_lines
from .tum import read_tum

FORMAT = "image_folder"
IMAGE_DIRS = ("images", "rgb")
TRAJECTORY_FILES = ("poses.tum", "groundtruth.txt")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test", "all")
DEFAULT_TOLERANCE_S = 0.02
DEFAULT_TEST_EVERY = 5

_NUMBER_RE = re.compile(r"^\d+(\.\d+)?$")


def find_layout(folder: Path) -> tuple[Path, Path] | None:
    """``(image_dir, trajectory)`` if ``folder`` holds one scene, else ``None``."""
    image_dir = next((folder / d for d in IMAGE_DIRS if (folder / d).is_dir()), None)
    trajectory = next((folder / f for f in TRAJECTORY_FILES if (folder / f).is_file()), None)
    return (image_dir, trajectory) if image_dir and trajectory else None


def has_split_folders(root: Path) -> bool:
    return all(find_layout(root / s) is not None for s in ("train", "test"))


def _natural_key(name: str) -> list[int | str]:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def _list_images(image_dir: Path) -> list[Path]:
    images = [p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    if not images:
        raise DatasetError(f"no {'/'.join(IMAGE_EXTENSIONS)} images in {image_dir}")
    return sorted(images, key=lambda p: _natural_key(p.name))


def _match(
    images: list[Path], stamps: np.ndarray, trajectory: Path, tolerance_s: float
) -> list[tuple[Path, int, float]]:
    """``(image, trajectory row, timestamp)`` triples in time order (module rule)."""
    if len(stamps) == 0:
        raise DatasetError(f"{trajectory}: trajectory has no poses")
    order = np.argsort(stamps, kind="stable")
    if not all(_NUMBER_RE.match(p.stem) for p in images):
        if len(images) != len(stamps):
            raise DatasetError(
                f"cannot match {len(images)} images in {images[0].parent} to {len(stamps)} poses "
                f"in {trajectory}: names are not timestamps and the counts differ"
            )
        return [(img, int(row), float(stamps[row])) for img, row in zip(images, order)]
    image_t = np.array([float(p.stem) for p in images])
    sorted_t = stamps[order]
    idx = np.searchsorted(sorted_t, image_t)
    left = np.clip(idx - 1, 0, len(sorted_t) - 1)
    right = np.clip(idx, 0, len(sorted_t) - 1)
    nearest = np.where(np.abs(sorted_t[left] - image_t) <= np.abs(sorted_t[right] - image_t), left, right)
    keep = np.abs(sorted_t[nearest] - image_t) <= tolerance_s
    if not keep.any():
        raise DatasetError(
            f"no image in {images[0].parent} has a pose in {trajectory} within {tolerance_s} s "
            f"(images {image_t.min():.3f}..{image_t.max():.3f} s, "
            f"poses {sorted_t[0]:.3f}..{sorted_t[-1]:.3f} s)"
        )
    triples = [(img, int(order[n]), float(t)) for img, n, t, k in zip(images, nearest, image_t, keep) if k]
    return sorted(triples, key=lambda triple: triple[2])


def _scene_frames(root: Path, folder: Path, tolerance_s: float) -> list[PosedFrame]:
    layout = find_layout(folder)
    if layout is None:
        raise DatasetError(
            f"{folder}: expected an image folder ({' or '.join(IMAGE_DIRS)}) and a trajectory "
            f"({' or '.join(TRAJECTORY_FILES)})"
        )
    image_dir, trajectory = layout
    stamps, positions, quats = read_tum(trajectory)
    return [
        PosedFrame(img, positions[row], quats[row], img.relative_to(root).as_posix(), stamp)
        for img, row, stamp in _match(_list_images(image_dir), stamps, trajectory, tolerance_s)
    ]


def _split_by_list(frames: list[PosedFrame], image_dir: Path, list_file: Path) -> list[PosedFrame]:
    by_path = {f.image_path: f for f in frames}
    chosen = []
    for line in read_text_lines(list_file, comment="#", what="split file"):
        path = path_inside(image_dir, line.text, line, "image")
        if path not in by_path:
            reason = "has no matching pose" if path.is_file() else "not found"
            raise line.error(f"image {path} {reason}")
        chosen.append(by_path[path])
    return chosen


def read_image_folder(
    root: Path | str,
    split: str = "train",
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    test_every: int = DEFAULT_TEST_EVERY,
) -> PoseDataset:
    """Read an image-folder scene's ``train``, ``test`` or ``all`` split (rules above)."""
    root = Path(root)
    if split not in SPLITS:
        raise DatasetError(f"image-folder scenes have splits {list(SPLITS)}, not {split!r}")
    if test_every < 2:
        raise DatasetError(f"test_every must be at least 2, got {test_every}")
    if has_split_folders(root):
        names = ("train", "test") if split == "all" else (split,)
        frames = [f for s in names for f in _scene_frames(root, root / s, tolerance_s)]
    else:
        frames = _scene_frames(root, root, tolerance_s)
        list_files = {s: root / f"{s}.txt" for s in ("train", "test")}
        if split != "all" and any(p.is_file() for p in list_files.values()):
            image_dir = find_layout(root)[0]  # type: ignore[index]  # checked by _scene_frames
            frames = _split_by_list(frames, image_dir, list_files[split])
        elif split != "all":
            is_test = [i % test_every == test_every - 1 for i in range(len(frames))]
            frames = [f for f, t in zip(frames, is_test) if t == (split == "test")]
    if not frames:
        raise DatasetError(f"{root}: split {split!r} has no frames")
    return PoseDataset(root=root, split=split, format=FORMAT, frames=frames)
