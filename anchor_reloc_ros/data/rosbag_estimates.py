"""PoseEstimate <-> the node's output messages, as rosbags objects (no rclpy).

The topics and types match what ``anchor_reloc_node`` publishes, so an offline
bag-eval output bag and a live recording look the same next to the input bag:
``/anchor_reloc_node/pose`` (PoseWithCovarianceStamped of the camera optical frame in
the map) and ``/anchor_reloc_node/anchor`` (anchor_reloc_ros/AnchorDebug).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..core.anchor_debug_fields import POINT_FIELDS, VECTOR3_FIELDS, anchor_debug_fields
from ..core.estimate import PoseEstimate
from ..core.gate import GateDecision
from .rosbag_io import ANCHOR_DEBUG_TYPE, BagWriter, header_msg, msg_class

POSE_TOPIC = "/anchor_reloc_node/pose"
ANCHOR_TOPIC = "/anchor_reloc_node/anchor"
POSE_TYPE = "geometry_msgs/msg/PoseWithCovarianceStamped"


def _vec(cls: str, v: np.ndarray) -> Any:
    """A Point/Vector3 from a (3,) array."""
    x, y, z = (float(a) for a in np.asarray(v, dtype=np.float64).reshape(3))
    return msg_class(cls)(x=x, y=y, z=z)


def pose_message(est: PoseEstimate, stamp_ns: int, frame: str) -> Any:
    w, x, y, z = (float(a) for a in est.quat_wxyz)
    pose = msg_class("geometry_msgs/msg/Pose")(
        position=_vec("geometry_msgs/msg/Point", est.position),
        orientation=msg_class("geometry_msgs/msg/Quaternion")(x=x, y=y, z=z, w=w))
    with_cov = msg_class("geometry_msgs/msg/PoseWithCovariance")(
        pose=pose, covariance=np.asarray(est.covariance, dtype=np.float64).reshape(36))
    return msg_class(POSE_TYPE)(header=header_msg(stamp_ns, frame), pose=with_cov)


def anchor_message(est: PoseEstimate, stamp_ns: int, frame: str, anchors_world: np.ndarray,
                   latency_ms: float, decode_mode: str, decision: GateDecision | None = None) -> Any:
    """AnchorDebug as the node publishes it; ``decision`` None: not gated (published)."""
    fields = anchor_debug_fields(est, anchors_world, latency_ms, decode_mode, decision or GateDecision(True))
    vectors = {**{name: _vec("geometry_msgs/msg/Point", fields.pop(name)) for name in POINT_FIELDS},
               **{name: _vec("geometry_msgs/msg/Vector3", fields.pop(name)) for name in VECTOR3_FIELDS}}
    return msg_class(ANCHOR_DEBUG_TYPE)(header=header_msg(stamp_ns, frame), **fields, **vectors)


def estimate_from_messages(pose_msg: Any, anchor_msg: Any | None) -> PoseEstimate:
    """A PoseEstimate rebuilt from a recorded pose (and its AnchorDebug when present)."""
    p, q = pose_msg.pose.pose.position, pose_msg.pose.pose.orientation
    a = anchor_msg
    return PoseEstimate(
        position=np.array([p.x, p.y, p.z]), quat_wxyz=np.array([q.w, q.x, q.y, q.z]),
        covariance=np.asarray(pose_msg.pose.covariance, dtype=np.float64).reshape(6, 6),
        anchor_index=int(a.anchor_index) if a else -1,
        anchor_confidence=float(a.confidence) if a else 0.0,
        anchor_position=(np.array([a.anchor_position.x, a.anchor_position.y, a.anchor_position.z])
                         if a else np.full(3, np.nan)),
        offset=np.array([a.offset.x, a.offset.y, a.offset.z]) if a else np.zeros(3),
        topk_indices=np.asarray(a.topk_indices if a else [], dtype=np.int64),
        topk_confidences=np.asarray(a.topk_confidences if a else [], dtype=np.float64),
        inference_ms=float(a.inference_ms) if a else float("nan"),
        committee_distance=float(getattr(a, "committee_distance", math.nan)) if a else math.nan)


def write_estimates_bag(path: Path, items: Iterable[tuple[int, PoseEstimate, GateDecision | None]], frame: str,
                        anchors_world: np.ndarray, decode_mode: str, storage: str = "mcap") -> Path:
    """An output bag of ``(stamp_ns, estimate, gate decision)``: pose + AnchorDebug per frame,
    bag time = stamp; the pose of every frame (the gate off), its verdict in AnchorDebug."""
    with BagWriter(path, storage) as bag:
        bag.add_topic(POSE_TOPIC, POSE_TYPE)
        bag.add_topic(ANCHOR_TOPIC, ANCHOR_DEBUG_TYPE)
        for stamp, est, decision in items:
            bag.write(POSE_TOPIC, stamp, pose_message(est, stamp, frame))
            bag.write(ANCHOR_TOPIC, stamp, anchor_message(est, stamp, frame, anchors_world,
                                                          est.inference_ms, decode_mode, decision))
    return Path(path)
