"""Hand-made bags for the bag tests: any topics, any stamps, through the project's writer."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anchor_reloc_ros.data.image_codec import rgb_to_compressed, rgb_to_image_fields
from anchor_reloc_ros.data.rosbag_io import BagWriter, header_msg, msg_class

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC


def write_bag(path: Path, topics: dict[str, str], messages: Sequence[tuple[str, int, Any]],
              storage: str = "mcap") -> Path:
    """``topics``: {topic: type}; ``messages``: (topic, bag time ns, message or raw bytes)."""
    with BagWriter(path, storage) as bag:
        for topic, msgtype in topics.items():
            bag.add_topic(topic, msgtype)
        for topic, bag_ns, msg in messages:
            if isinstance(msg, (bytes, bytearray)):
                bag.write_raw(topic, bag_ns, bytes(msg))
            else:
                bag.write(topic, bag_ns, msg)
    return path


def image_msg(rgb: np.ndarray, stamp_ns: int, compressed: bool = False, frame: str = "cam") -> Any:
    header = header_msg(stamp_ns, frame)
    if compressed:
        fmt, data = rgb_to_compressed(rgb, "png")
        return msg_class("sensor_msgs/msg/CompressedImage")(header=header, format=fmt,
                                                            data=np.frombuffer(data, np.uint8))
    enc, h, w, step, data = rgb_to_image_fields(rgb, "bgr8")
    return msg_class("sensor_msgs/msg/Image")(header=header, height=h, width=w, encoding=enc,
                                              is_bigendian=0, step=step, data=np.frombuffer(data, np.uint8))


def pose(position: np.ndarray, q_wxyz: np.ndarray) -> Any:
    return msg_class("geometry_msgs/msg/Pose")(
        position=msg_class("geometry_msgs/msg/Point")(x=position[0], y=position[1], z=position[2]),
        orientation=msg_class("geometry_msgs/msg/Quaternion")(x=q_wxyz[1], y=q_wxyz[2], z=q_wxyz[3],
                                                              w=q_wxyz[0]))


def transform_stamped(position: np.ndarray, q_wxyz: np.ndarray, stamp_ns: int, parent: str,
                      child: str) -> Any:
    tf = msg_class("geometry_msgs/msg/Transform")(
        translation=msg_class("geometry_msgs/msg/Vector3")(x=position[0], y=position[1], z=position[2]),
        rotation=pose(position, q_wxyz).orientation)
    return msg_class("geometry_msgs/msg/TransformStamped")(header=header_msg(stamp_ns, parent),
                                                           child_frame_id=child, transform=tf)


def gt_message(msgtype: str, position: np.ndarray, q_wxyz: np.ndarray, stamp_ns: int,
               parent: str = "map", child: str = "cam") -> Any:
    """A ground-truth message of any supported type holding ``T_parent_child``."""
    header = header_msg(stamp_ns, parent)
    if msgtype == "geometry_msgs/msg/PoseStamped":
        return msg_class(msgtype)(header=header, pose=pose(position, q_wxyz))
    cov = msg_class("geometry_msgs/msg/PoseWithCovariance")(pose=pose(position, q_wxyz),
                                                           covariance=np.eye(6).reshape(36))
    if msgtype == "geometry_msgs/msg/PoseWithCovarianceStamped":
        return msg_class(msgtype)(header=header, pose=cov)
    if msgtype == "nav_msgs/msg/Odometry":
        zero = msg_class("geometry_msgs/msg/Vector3")(x=0.0, y=0.0, z=0.0)
        twist = msg_class("geometry_msgs/msg/TwistWithCovariance")(
            twist=msg_class("geometry_msgs/msg/Twist")(linear=zero, angular=zero), covariance=np.zeros(36))
        return msg_class(msgtype)(header=header, child_frame_id=child, pose=cov, twist=twist)
    tf = transform_stamped(position, q_wxyz, stamp_ns, parent, child)
    if msgtype == "geometry_msgs/msg/TransformStamped":
        return tf
    # TFMessage: the wanted transform among unrelated ones
    other = transform_stamped(np.zeros(3), np.array([1.0, 0, 0, 0]), stamp_ns, "odom", "base_link")
    return msg_class("tf2_msgs/msg/TFMessage")(transforms=[other, tf])


def string_msg(text: str) -> Any:
    return msg_class("std_msgs/msg/String")(data=text)


def random_rgb(seed: int, h: int = 24, w: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
