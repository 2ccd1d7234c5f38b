"""numpy poses <-> geometry_msgs. Quaternions are w-first in numpy, x-y-z-w in messages."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import (
    Point,
    Pose,
    PoseWithCovarianceStamped,
    Quaternion,
    Transform,
    TransformStamped,
    Vector3,
)

from ..core.geometry import pq_from_transform, transform_from_pq
from .pose_math import sanitize_covariance


def stamp_to_ns(stamp: TimeMsg) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> TimeMsg:
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return TimeMsg(sec=sec, nanosec=nanosec)


def quat_wxyz_to_msg(q_wxyz: np.ndarray) -> Quaternion:
    w, x, y, z = (float(v) for v in q_wxyz)
    return Quaternion(x=x, y=y, z=z, w=w)


def quat_msg_to_wxyz(q: Quaternion) -> np.ndarray:
    return np.array([q.w, q.x, q.y, q.z], dtype=np.float64)


def point_msg(p: np.ndarray) -> Point:
    x, y, z = (float(v) for v in np.asarray(p, dtype=np.float64).reshape(3))
    return Point(x=x, y=y, z=z)


def vector3_msg(v: np.ndarray) -> Vector3:
    """A Vector3 from up to 3 values (a 2-D offset gets z = 0)."""
    vals = np.zeros(3)
    flat = np.asarray(v, dtype=np.float64).reshape(-1)[:3]
    vals[:flat.size] = flat
    return Vector3(x=float(vals[0]), y=float(vals[1]), z=float(vals[2]))


def matrix_to_pose_msg(T: np.ndarray) -> Pose:
    position, q_wxyz = pq_from_transform(T)
    return Pose(position=point_msg(position), orientation=quat_wxyz_to_msg(q_wxyz))


def matrix_to_transform_msg(T: np.ndarray) -> Transform:
    position, q_wxyz = pq_from_transform(T)
    return Transform(translation=vector3_msg(position), rotation=quat_wxyz_to_msg(q_wxyz))


def transform_msg_to_pq(tf: Transform) -> tuple[np.ndarray, np.ndarray]:
    t = tf.translation
    return np.array([t.x, t.y, t.z], dtype=np.float64), quat_msg_to_wxyz(tf.rotation)


def transform_msg_to_matrix(tf: Transform) -> np.ndarray:
    return transform_from_pq(*transform_msg_to_pq(tf))


def pose_msg_to_matrix(pose: Pose) -> np.ndarray:
    p = pose.position
    return transform_from_pq(np.array([p.x, p.y, p.z]), quat_msg_to_wxyz(pose.orientation))


def transform_stamped(T_parent_child: np.ndarray, parent: str, child: str,
                      stamp: TimeMsg) -> TransformStamped:
    msg = TransformStamped(child_frame_id=child, transform=matrix_to_transform_msg(T_parent_child))
    msg.header.frame_id = parent
    msg.header.stamp = stamp
    return msg


def pose_with_covariance(T_frame_body: np.ndarray, cov6: np.ndarray, frame: str,
                         stamp: TimeMsg) -> PoseWithCovarianceStamped:
    """PoseWithCovarianceStamped with a sanitized (never all-zero) row-major covariance."""
    msg = PoseWithCovarianceStamped()
    msg.header.frame_id = frame
    msg.header.stamp = stamp
    msg.pose.pose = matrix_to_pose_msg(T_frame_body)
    msg.pose.covariance = sanitize_covariance(cov6).reshape(36).tolist()
    return msg
