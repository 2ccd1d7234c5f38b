"""One entry point for every dataset format: detect the layout, then read a split.

Detection, first match wins:

* ``cambridge``: ``dataset_train.txt`` or ``dataset_test.txt`` in the folder.
* ``7scenes``: ``TrainSplit.txt`` or ``TestSplit.txt`` in the folder.
* ``image_folder``: ``images/`` or ``rgb/`` plus ``poses.tum`` or ``groundtruth.txt``,
  either in the folder itself or in both ``train/`` and ``test/`` subfolders.
* ``kitti``: ``image_0/``, ``image_2/`` or ``image_l/`` (a KITTI odometry sequence folder,
  official or republished) or ``sequences/`` (the official dataset folder); see ``kitti.py``.

Reader options that only one format has are passed to ``load_dataset`` under a
format-qualified name (``READER_OPTIONS``), so callers can pass them for any folder.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.errors import DatasetError
from . import cambridge, image_folder, kitti, seven_scenes
from .frames import PoseDataset

_READERS: dict[str, Callable[..., PoseDataset]] = {
    cambridge.FORMAT: cambridge.read_cambridge,
    seven_scenes.FORMAT: seven_scenes.read_seven_scenes,
    image_folder.FORMAT: image_folder.read_image_folder,
    kitti.FORMAT: kitti.read_kitti,
}

# load_dataset option -> (the format it applies to, that reader's keyword).
READER_OPTIONS: dict[str, tuple[str, str]] = {
    "kitti_test_every": (kitti.FORMAT, "test_every"),
}

_EXPECTED = (
    "Cambridge Landmarks (dataset_train.txt / dataset_test.txt), "
    "7-Scenes (TrainSplit.txt / TestSplit.txt and seq-XX/), or an image folder "
    f"({' or '.join(image_folder.IMAGE_DIRS)}/ plus {' or '.join(image_folder.TRAJECTORY_FILES)}, "
    "optionally inside train/ and test/), or KITTI odometry "
    f"({' / '.join(kitti.IMAGE_DIRS)}/ with poses, or {kitti.SEQUENCES_DIR}/ + poses/)"
)


def detect_format(root: Path) -> str:
    """``"cambridge"``, ``"7scenes"``, ``"image_folder"`` or ``"kitti"`` for the folder ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    if any(cambridge.split_file(root, s).is_file() for s in ("train", "test")):
        return cambridge.FORMAT
    if any((root / name).is_file() for name in seven_scenes.SPLIT_FILES.values()):
        return seven_scenes.FORMAT
    if image_folder.find_layout(root) is not None or image_folder.has_split_folders(root):
        return image_folder.FORMAT
    if kitti.is_kitti_folder(root):
        return kitti.FORMAT
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:12]
    raise DatasetError(
        f"unrecognised dataset folder {root}: expected {_EXPECTED}; "
        f"found: {', '.join(found) or 'nothing'}"
    )


def has_split(root: Path | str, split: str) -> bool:
    """Whether ``root`` ships its own list for ``split`` (Cambridge ``dataset_<split>.txt``,
    7-Scenes ``ValSplit.txt``-style files); formats without split files say no."""
    root = Path(root).expanduser()
    fmt = detect_format(root)
    if fmt == cambridge.FORMAT:
        return cambridge.split_file(root, split).is_file()
    if fmt == seven_scenes.FORMAT:
        return split in seven_scenes.SPLIT_FILES and (root / seven_scenes.SPLIT_FILES[split]).is_file()
    return False


def load_dataset(root: Path | str, split: str = "train", **options: object) -> PoseDataset:
    """Detect the format of ``root`` and read its ``split``.

    ``options`` are ``READER_OPTIONS`` names (e.g. ``kitti_test_every=4``); each reaches
    only its own format's reader, and ``None`` means that reader's default.
    """
    unknown = sorted(set(options) - set(READER_OPTIONS))
    if unknown:
        raise TypeError(f"unknown dataset option(s) {', '.join(unknown)}; known: {', '.join(READER_OPTIONS)}")
    root = Path(root).expanduser()
    fmt = detect_format(root)
    kwargs = {READER_OPTIONS[name][1]: value for name, value in options.items()
              if READER_OPTIONS[name][0] == fmt and value is not None}
    return _READERS[fmt](root, split, **kwargs)
