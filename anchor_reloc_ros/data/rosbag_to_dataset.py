"""``export_dataset``: a recording -> a Cambridge-format training dataset.

Every decodable image with ground truth (interpolated at its stamp, see
``core.trajectory``) is written losslessly as ``images/frame<bag index>.png``; frames are
then sorted by stamp and split into ``dataset_train.txt`` / ``dataset_test.txt`` by one
rule: every N-th frame, everything after T seconds, or two time ranges (seconds from the
first exported frame; a frame inside both ranges goes to both splits). The ground-truth
pose is stored as the camera optical-frame pose ``T_world_cam``, as every dataset here.
A ``sensor_msgs/CameraInfo`` topic, when given, becomes ``camera.yaml``.
"""
from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from ..core.errors import ConfigError, DatasetError
from .cambridge import write_cambridge_split
from .frames import PosedFrame
from .prefetch import default_workers
from .rosbag_ground_truth import GroundTruthSource
from .rosbag_images import FrameStats, iter_bag_images
from .rosbag_io import DESERIALIZE_ERRORS, BagReader

CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_DIR = "images"


@dataclass
class ExportConfig:
    bag: Path
    image_topic: str
    out: Path
    gt: GroundTruthSource
    max_dt: float = 0.1
    test_every: int | None = None                      # default rule: every 5th frame
    test_after: float | None = None                    # s from the first frame
    train_range: tuple[float, float] | None = None     # s from the first frame, inclusive
    test_range: tuple[float, float] | None = None
    camera_info_topic: str | None = None


DEFAULT_TEST_EVERY = 5


def parse_range(text: str) -> tuple[float, float]:
    """``"A:B"`` seconds; either end may be empty (open)."""
    parts = text.split(":")
    if len(parts) != 2:
        raise ConfigError(f"time range {text!r} must look like A:B (seconds, either end may be empty)")
    try:
        lo = float(parts[0]) if parts[0].strip() else -np.inf
        hi = float(parts[1]) if parts[1].strip() else np.inf
    except ValueError as exc:
        raise ConfigError(f"time range {text!r}: {exc}") from exc
    if lo > hi:
        raise ConfigError(f"time range {text!r} is empty (start after end)")
    return lo, hi


def split_masks(rel_s: np.ndarray, config: ExportConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) boolean masks over frames sorted by time (``rel_s`` from the first)."""
    rules = [config.test_every is not None, config.test_after is not None,
             config.train_range is not None or config.test_range is not None]
    if sum(rules) > 1:
        raise ConfigError("choose one split rule: --test-every, --test-after, or --train-range/--test-range")
    if rules[2]:
        if config.train_range is None or config.test_range is None:
            raise ConfigError("--train-range and --test-range go together")
        (a, b), (c, d) = config.train_range, config.test_range
        return (rel_s >= a) & (rel_s <= b), (rel_s >= c) & (rel_s <= d)
    if rules[1]:
        test = rel_s > float(config.test_after)
        return ~test, test
    every = DEFAULT_TEST_EVERY if config.test_every is None else int(config.test_every)
    if every < 2:
        raise ConfigError(f"--test-every must be at least 2, got {every}")
    test = (np.arange(len(rel_s)) + 1) % every == 0
    return ~test, test


def _camera_yaml(msg: Any, path: Path) -> Path:
    """ROS camera_calibration_parsers YAML from a CameraInfo message."""
    def matrix(rows: int, cols: int, values: Any) -> dict[str, Any]:
        return {"rows": rows, "cols": cols, "data": [float(v) for v in values]}

    calib = {"image_width": int(msg.width), "image_height": int(msg.height),
             "camera_name": str(msg.header.frame_id) or "camera",
             "camera_matrix": matrix(3, 3, msg.k), "distortion_model": str(msg.distortion_model),
             "distortion_coefficients": matrix(1, len(msg.d), msg.d),
             "rectification_matrix": matrix(3, 3, msg.r), "projection_matrix": matrix(3, 4, msg.p)}
    path.write_text(yaml.safe_dump(calib, sort_keys=False), encoding="utf-8")
    return path


def _export_camera_info(bag: BagReader, topic: str, out: Path) -> Path | None:
    for conn, _, raw in bag.messages(bag.connections(topic, (CAMERA_INFO_TYPE,), "camera_info")):
        try:
            return _camera_yaml(bag.deserialize(raw, conn.msgtype), out / "camera.yaml")
        except DESERIALIZE_ERRORS:
            continue
    return None


def export_dataset(config: ExportConfig) -> dict[str, object]:
    """Write the dataset into ``config.out``; returns counts per split and skipped frames."""
    config.gt.validate()
    split_masks(np.zeros(1), config)  # refuse bad split options before reading the bag
    out = Path(config.out)
    (out / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    stats = FrameStats()
    stamps: list[int] = []
    frames: list[PosedFrame] = []
    no_gt = 0
    with BagReader(config.bag) as bag:
        traj, _ = config.gt.load(bag)
        camera_yaml = (_export_camera_info(bag, config.camera_info_topic, out)
                       if config.camera_info_topic else None)
        decoded = iter_bag_images(bag, config.image_topic, stats, workers=default_workers(), depth=16)
        with closing(decoded):
            for frame in decoded:
                position, quat, valid = traj.interpolate([frame.stamp_ns * 1e-9], config.max_dt)
                if not valid[0]:
                    no_gt += 1
                    continue
                name = f"{IMAGE_DIR}/frame{frame.index:06d}.png"
                if not cv2.imwrite(str(out / name), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)):
                    raise DatasetError(f"could not write image {out / name}")
                stamps.append(frame.stamp_ns)
                frames.append(PosedFrame(Path(name), position[0], quat[0], name, frame.stamp_ns * 1e-9))
    if not frames:
        raise DatasetError(f"nothing to export from {config.bag}: {stats.messages} images on "
                           f"{config.image_topic!r}, {no_gt} without ground truth within "
                           f"{config.max_dt} s, {stats.bad} bad")
    order = np.argsort(np.asarray(stamps), kind="stable")
    frames = [frames[i] for i in order]
    rel = (np.asarray(stamps)[order] - stamps[order[0]]) * 1e-9
    train, test = split_masks(rel, config)
    if not train.any() or not test.any():
        raise ConfigError(f"split rule leaves {int(train.sum())} train and {int(test.sum())} test "
                          f"frames of {len(frames)} (spanning {rel[-1]:.2f} s): both must be non-empty")
    write_cambridge_split(out, "train", [f for f, keep in zip(frames, train) if keep])
    write_cambridge_split(out, "test", [f for f, keep in zip(frames, test) if keep])
    return {"out": str(out), "train": int(train.sum()), "test": int(test.sum()),
            "without_gt": no_gt, **stats.as_dict(),
            "camera_yaml": str(camera_yaml) if camera_yaml else None}
