"""One entry point for every dataset format: detect the layout, then read a split.

Detection, first match wins:

* ``cambridge``: ``dataset_train.txt`` or ``dataset_test.txt`` in the folder.
* ``7scenes``: ``TrainSplit.txt`` or ``TestSplit.txt`` in the folder.
* ``image_folder``: ``images/`` or ``rgb/`` plus ``poses.tum`` or ``groundtruth.txt``,
  either in the folder itself or in both ``train/`` and ``test/`` subfolders.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.errors import DatasetError
from . import cambridge, image_folder, seven_scenes
from .frames import PoseDataset

_READERS: dict[str, Callable[[Path, str], PoseDataset]] = {
    cambridge.FORMAT: cambridge.read_cambridge,
    seven_scenes.FORMAT: seven_scenes.read_seven_scenes,
    image_folder.FORMAT: image_folder.read_image_folder,
}

_EXPECTED = (
    "Cambridge Landmarks (dataset_train.txt / dataset_test.txt), "
    "7-Scenes (TrainSplit.txt / TestSplit.txt and seq-XX/), or an image folder "
    f"({' or '.join(image_folder.IMAGE_DIRS)}/ plus {' or '.join(image_folder.TRAJECTORY_FILES)}, "
    "optionally inside train/ and test/)"
)


def detect_format(root: Path) -> str:
    """``"cambridge"``, ``"7scenes"`` or ``"image_folder"`` for the scene folder ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    if any(cambridge.split_file(root, s).is_file() for s in ("train", "test")):
        return cambridge.FORMAT
    if any((root / name).is_file() for name in seven_scenes.SPLIT_FILES.values()):
        return seven_scenes.FORMAT
    if image_folder.find_layout(root) is not None or image_folder.has_split_folders(root):
        return image_folder.FORMAT
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:12]
    raise DatasetError(
        f"unrecognised dataset folder {root}: expected {_EXPECTED}; "
        f"found: {', '.join(found) or 'nothing'}"
    )


def load_dataset(root: Path | str, split: str = "train") -> PoseDataset:
    """Detect the format of ``root`` and read its ``split`` with default options."""
    root = Path(root).expanduser()
    return _READERS[detect_format(root)](root, split)
