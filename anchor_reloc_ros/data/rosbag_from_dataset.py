"""``make_bag``: a posed dataset split -> a rosbag2 a robot could have recorded.

Topics (frames follow REP-103/105):

* ``/camera/image_raw`` (sensor_msgs/Image, rgb8) or, with ``compressed``,
  ``/camera/image_raw/compressed`` (CompressedImage, jpeg); frame ``camera_optical_frame``.
* ``/camera/camera_info``: from ``DIR/camera.yaml`` (ROS calibration YAML) if present,
  else a pinhole guess (fx = fy = image width, principal point at the centre).
* ``/ground_truth/pose`` (PoseStamped, frame ``map``): the pose of the camera OPTICAL
  frame, ``T_map_cam``, exactly the dataset's pose, so dataset -> bag -> dataset is exact.
* ``/tf_static``: ``base_link -> camera_link -> camera_optical_frame`` (REP-103 optical
  rotation); with ``odom_drift`` also ``/tf`` ``odom -> base_link`` whose ``map -> odom``
  drifts linearly in x, y and yaw (exercises the node's map->odom output).

Stamps: the dataset's own timestamps when every frame has one (shifted to a realistic
epoch when they start at or before zero), else ``rate`` Hz from a fixed epoch. The bag
receive time equals the header stamp.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..core.errors import ConfigError, DatasetError
from ..core.geometry import R_BODY_OPTICAL, invert_transform, make_transform, pq_from_transform, transform_from_pq
from .frames import PoseDataset
from .image_codec import compressed_to_rgb, rgb_to_compressed, rgb_to_image_fields
from .loader import load_dataset
from .rosbag_io import BagWriter, header_msg, msg_class

IMAGE_TOPIC = "/camera/image_raw"
COMPRESSED_TOPIC = IMAGE_TOPIC + "/compressed"
CAMERA_INFO_TOPIC = "/camera/camera_info"
GT_TOPIC = "/ground_truth/pose"
MAP_FRAME, ODOM_FRAME, BASE_FRAME = "map", "odom", "base_link"
CAMERA_LINK, OPTICAL_FRAME = "camera_link", "camera_optical_frame"
EPOCH_NS = 1_700_000_000 * 1_000_000_000
# Camera mounted 0.2 m ahead of and 1.2 m above base_link, looking forward.
T_BASE_LINK = make_transform(np.eye(3), np.array([0.2, 0.0, 1.2]))
T_LINK_OPTICAL = make_transform(R_BODY_OPTICAL, np.zeros(3))
# Simulated odometry drift of map->odom, per second.
DRIFT_XY_PER_S = np.array([0.02, -0.01])
DRIFT_YAW_PER_S = np.radians(0.2)


@dataclass
class MakeBagConfig:
    data: Path
    out: Path
    split: str = "test"
    compressed: bool = False
    rate_hz: float | None = None   # None: dataset stamps if complete, else DEFAULT_RATE_HZ
    odom_drift: bool = False
    storage: str = "mcap"
    jpeg_quality: int = 90


DEFAULT_RATE_HZ = 10.0


def frame_stamps_ns(dataset: PoseDataset, rate_hz: float | None) -> np.ndarray:
    """Header stamps (ns) for every frame, strictly increasing when made from a rate."""
    stamps = [f.timestamp for f in dataset.frames]
    if rate_hz is None and all(s is not None for s in stamps):
        t = np.asarray(stamps, dtype=np.float64)
        ns = np.round(t * 1e9).astype(np.int64)
        return ns + (EPOCH_NS if t.min() <= 0.0 else 0)
    rate = DEFAULT_RATE_HZ if rate_hz is None else float(rate_hz)
    if not rate > 0:
        raise ConfigError(f"--rate must be positive, got {rate_hz}")
    return EPOCH_NS + np.round(np.arange(len(dataset)) * 1e9 / rate).astype(np.int64)


def _pose(p: np.ndarray, q: np.ndarray) -> Any:
    """geometry_msgs/Pose from a position and a w-first quaternion (written as x, y, z, w)."""
    return msg_class("geometry_msgs/msg/Pose")(
        position=msg_class("geometry_msgs/msg/Point")(x=p[0], y=p[1], z=p[2]),
        orientation=msg_class("geometry_msgs/msg/Quaternion")(x=q[1], y=q[2], z=q[3], w=q[0]))


def _transform(T: np.ndarray, parent: str, child: str, stamp_ns: int) -> Any:
    p, q = pq_from_transform(T)
    tf = msg_class("geometry_msgs/msg/Transform")(
        translation=msg_class("geometry_msgs/msg/Vector3")(x=p[0], y=p[1], z=p[2]),
        rotation=msg_class("geometry_msgs/msg/Quaternion")(x=q[1], y=q[2], z=q[3], w=q[0]))
    return msg_class("geometry_msgs/msg/TransformStamped")(
        header=header_msg(stamp_ns, parent), child_frame_id=child, transform=tf)


def _tf_message(transforms: list[Any]) -> Any:
    return msg_class("tf2_msgs/msg/TFMessage")(transforms=transforms)


def _image_msg(rgb: np.ndarray, stamp_ns: int, compressed: bool, quality: int) -> Any:
    header = header_msg(stamp_ns, OPTICAL_FRAME)
    if compressed:
        fmt, data = rgb_to_compressed(rgb, "jpeg", quality)
        return msg_class("sensor_msgs/msg/CompressedImage")(
            header=header, format=fmt, data=np.frombuffer(data, np.uint8))
    encoding, h, w, step, data = rgb_to_image_fields(rgb, "rgb8")
    return msg_class("sensor_msgs/msg/Image")(header=header, height=h, width=w, encoding=encoding,
                                              is_bigendian=0, step=step,
                                              data=np.frombuffer(data, np.uint8))


def _matrix(calib: dict, key: str, size: int, default: np.ndarray) -> np.ndarray:
    if key not in calib:
        return default
    values = np.asarray(calib[key]["data"], dtype=np.float64).reshape(-1)
    if values.size != size and key != "distortion_coefficients":
        raise DatasetError(f"camera.yaml: {key} has {values.size} values, expected {size}")
    return values


def camera_info(root: Path, width: int, height: int, stamp_ns: int) -> Any:
    """CameraInfo from ``root/camera.yaml`` if present, else a pinhole guess."""
    path = Path(root) / "camera.yaml"
    calib: dict = {}
    if path.is_file():
        try:
            calib = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise DatasetError(f"cannot parse {path}: {exc}") from exc
    f = float(width)
    K = np.array([f, 0, width / 2.0, 0, f, height / 2.0, 0, 0, 1])
    k = _matrix(calib, "camera_matrix", 9, K)
    P = np.hstack([k.reshape(3, 3), np.zeros((3, 1))]).reshape(-1)
    return msg_class("sensor_msgs/msg/CameraInfo")(
        header=header_msg(stamp_ns, OPTICAL_FRAME),
        height=int(calib.get("image_height", height)), width=int(calib.get("image_width", width)),
        distortion_model=str(calib.get("distortion_model", "plumb_bob")),
        d=_matrix(calib, "distortion_coefficients", 5, np.zeros(5)),
        k=k, r=_matrix(calib, "rectification_matrix", 9, np.eye(3).reshape(-1)),
        p=_matrix(calib, "projection_matrix", 12, P), binning_x=0, binning_y=0,
        roi=msg_class("sensor_msgs/msg/RegionOfInterest")(x_offset=0, y_offset=0, height=0,
                                                          width=0, do_rectify=False))


def drifting_map_odom(dt_s: float) -> np.ndarray:
    """``T_map_odom`` after ``dt_s`` seconds of simulated odometry drift."""
    yaw = DRIFT_YAW_PER_S * dt_s
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return make_transform(R, np.append(DRIFT_XY_PER_S * dt_s, 0.0))


def read_image_file(path: Path) -> np.ndarray:
    """An image file (png/jpeg) as RGB, through the same decoder as CompressedImage."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc
    return compressed_to_rgb(Path(path).suffix.lstrip("."), data)


def make_bag(config: MakeBagConfig) -> dict[str, object]:
    """Write the bag; returns a summary (frames, topics, time span)."""
    dataset = load_dataset(config.data, config.split)
    stamps = frame_stamps_ns(dataset, config.rate_hz)
    image_topic = COMPRESSED_TOPIC if config.compressed else IMAGE_TOPIC
    image_type = "sensor_msgs/msg/CompressedImage" if config.compressed else "sensor_msgs/msg/Image"
    T_base_optical = T_BASE_LINK @ T_LINK_OPTICAL
    T_optical_base = invert_transform(T_base_optical)
    with BagWriter(config.out, config.storage) as bag:
        bag.add_topic(image_topic, image_type)
        bag.add_topic(CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
        bag.add_topic(GT_TOPIC, "geometry_msgs/msg/PoseStamped")
        bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)
        bag.write("/tf_static", stamps.min(), _tf_message([
            _transform(T_BASE_LINK, BASE_FRAME, CAMERA_LINK, stamps.min()),
            _transform(T_LINK_OPTICAL, CAMERA_LINK, OPTICAL_FRAME, stamps.min())]))
        if config.odom_drift:
            bag.add_topic("/tf", "tf2_msgs/msg/TFMessage")
        info = None
        for frame, stamp in zip(dataset.frames, stamps):
            rgb = read_image_file(frame.image_path)
            info = info or camera_info(dataset.root, rgb.shape[1], rgb.shape[0], stamp)
            bag.write(image_topic, stamp, _image_msg(rgb, stamp, config.compressed, config.jpeg_quality))
            bag.write(CAMERA_INFO_TOPIC, stamp, replace(info, header=header_msg(stamp, OPTICAL_FRAME)))
            bag.write(GT_TOPIC, stamp, msg_class("geometry_msgs/msg/PoseStamped")(
                header=header_msg(stamp, MAP_FRAME), pose=_pose(frame.position, frame.quat_wxyz)))
            if config.odom_drift:
                T_map_base = transform_from_pq(frame.position, frame.quat_wxyz) @ T_optical_base
                T_odom_base = invert_transform(drifting_map_odom((stamp - stamps[0]) * 1e-9)) @ T_map_base
                bag.write("/tf", stamp, _tf_message([_transform(T_odom_base, ODOM_FRAME, BASE_FRAME, stamp)]))
    return {"bag": str(config.out), "frames": len(dataset), "image_topic": image_topic,
            "gt_topic": GT_TOPIC, "duration_s": float((stamps.max() - stamps.min()) * 1e-9)}
