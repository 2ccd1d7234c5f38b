"""Everything derived from the dataset before the first step: splits, frame, anchors, targets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.anchors import AnchorSet, RouteFrame, route_frame_from_trajectory, select_anchors
from ..core.errors import DatasetError
from ..data.frames import PosedFrame, PoseDataset
from ..data.loader import has_split, load_dataset
from .config import TrainConfig
from .image_cache import dataset_fingerprint, load_images
from .targets import Targets, make_targets


@dataclass
class PreparedData:
    dataset: PoseDataset
    train_frames: list[PosedFrame]
    val_frames: list[PosedFrame]
    frame: RouteFrame
    anchors: AnchorSet | None
    train_targets: Targets
    val_targets: Targets
    train_images: np.ndarray  # (N, H, W, 3) uint8 at the input size
    val_images: np.ndarray
    fingerprint: str
    val_source: str  # resolved: "split" or "train"

    def anchor_metadata(self) -> dict:
        if self.anchors is None:
            return {"positions_route": [], "positions_world": [], "every_k": 0, "dims": 0, "frame_indices": []}
        return {"positions_route": self.anchors.positions_route.tolist(),
                "positions_world": self.frame.to_world(self.anchors.positions_route).tolist(),
                "every_k": self.anchors.every_k, "dims": self.anchors.dims,
                "frame_indices": self.anchors.frame_indices.tolist()}


def split_train_val(frames: list[PosedFrame], val_every: int) -> tuple[list[PosedFrame], list[PosedFrame]]:
    """Hold out every ``val_every``-th frame (offset half a period) for validation."""
    if val_every == 0 or len(frames) < 2 * val_every:
        return list(frames), []
    offset = val_every // 2
    val = [f for i, f in enumerate(frames) if i % val_every == offset]
    train = [f for i, f in enumerate(frames) if i % val_every != offset]
    return train, val


@dataclass(frozen=True)
class TrainValFrames:
    dataset: PoseDataset       # the training split
    train: list[PosedFrame]
    val: list[PosedFrame]
    source: str                # "split" (the dataset's val split) or "train" (held out of it)


def train_val_frames(root: Path, val_source: str, val_every: int,
                     kitti_test_every: int | None = None) -> TrainValFrames:
    """The training split of ``root`` and its train / validation frames under ``val_source``.

    A dataset's own val split (a second walk) validates honestly: frames held out from the
    training walk sit a step away from training frames and favour whatever overfits.
    """
    dataset = load_dataset(root, "train", kitti_test_every=kitti_test_every)
    if val_source == "split" or (val_source == "auto" and has_split(root, "val")):
        if not has_split(root, "val"):
            raise DatasetError(f"--val-source split: {root} has no val split (dataset_val.txt or ValSplit.txt)")
        return TrainValFrames(dataset, list(dataset.frames), list(load_dataset(root, "val").frames), "split")
    train, val = split_train_val(dataset.frames, val_every)
    return TrainValFrames(dataset, train, val, "train")


def checkpoint_train_val_frames(data: Path, metadata: dict, val_split: bool = False) -> TrainValFrames:
    """A checkpoint's training set of ``data`` and the validation frames its training used.

    ``val_split`` takes the dataset's own val split instead, which no rule ever trains on.
    Checkpoints older than the val split held validation out of the training walk.
    """
    training = metadata.get("training", {})
    source = "split" if val_split else str(metadata.get("dataset", {}).get("val_source", "train"))
    return train_val_frames(Path(data), source, int(training.get("val_every", 10)),
                            int(training.get("kitti_test_every", 5)))


def prepare_data(config: TrainConfig, anchors_from: dict | None = None) -> PreparedData:
    """Load the training split and derive everything the loop needs.

    ``anchors_from`` (a checkpoint's metadata) reuses a stored route frame and anchors,
    which keeps a resumed run identical to the original.
    """
    splits = train_val_frames(config.data, config.val_source, config.val_every, config.kitti_test_every)
    dataset, train_frames, val_frames = splits.dataset, splits.train, splits.val
    if len(dataset) == 0:
        raise DatasetError(f"the training split of {config.data} has no frames")
    all_p, all_q = dataset.positions(), dataset.quaternions()
    if anchors_from is not None:
        frame = RouteFrame.from_dict(anchors_from["route_frame"])
        anchors = AnchorSet.from_metadata(anchors_from["anchors"]) if config.head == "anchor" else None
    else:
        frame = route_frame_from_trajectory(all_p, all_q, config.up_axis)
        # Anchors: every k-th frame of the whole training route (positions known a priori).
        anchors = (select_anchors(frame.to_route(all_p), config.anchor_every, config.anchor_dims)
                   if config.head == "anchor" else None)

    def targets(frames: list[PosedFrame]) -> Targets:
        p = np.stack([f.position for f in frames]) if frames else np.zeros((0, 3))
        q = np.stack([f.quat_wxyz for f in frames]) if frames else np.zeros((0, 4))
        return make_targets(p, q, frame, anchors, config.anchor_dims)

    return PreparedData(
        dataset=dataset, train_frames=train_frames, val_frames=val_frames, frame=frame, anchors=anchors,
        train_targets=targets(train_frames), val_targets=targets(val_frames),
        train_images=load_images(train_frames, config.image_size),
        val_images=load_images(val_frames, config.image_size),
        fingerprint=dataset_fingerprint(dataset.frames), val_source=splits.source,
    )
