"""Ground-truth trajectories from a bag topic or a TUM file.

Accepted topic types: geometry_msgs/PoseStamped, PoseWithCovarianceStamped,
TransformStamped, nav_msgs/Odometry and tf2_msgs/TFMessage (``/tf``; needs
``child_frame``, and ``parent_frame`` when that child has several parents).

Convention: the ground-truth pose is taken AS the pose we estimate, i.e. the camera
OPTICAL frame in the map, ``T_world_cam`` (what ``make-bag`` writes). No extrinsic is
applied. Stamps come from the message header (the bag receive time when zero); the
result is sorted by time (``core.trajectory.Trajectory``). ``GroundTruthSource`` picks one of
the two, as ``bag-eval`` and ``bag-export`` take it.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ConfigError
from ..core.trajectory import Trajectory
from .rosbag_io import DESERIALIZE_ERRORS, BagError, BagReader, header_stamp_ns
from .tum import read_tum

TF_TYPE = "tf2_msgs/msg/TFMessage"
TRANSFORM_TYPE = "geometry_msgs/msg/TransformStamped"
ODOMETRY_TYPE = "nav_msgs/msg/Odometry"
POSE_TYPES = ("geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/PoseWithCovarianceStamped",
              ODOMETRY_TYPE)
GT_TYPES = (*POSE_TYPES, TRANSFORM_TYPE, TF_TYPE)


@dataclass
class _Sample:
    stamp_ns: int
    parent: str
    child: str
    position: tuple[float, float, float]
    quat_wxyz: tuple[float, float, float, float]


def _pose_of(msg: Any) -> Any:
    """The geometry_msgs/Pose inside a PoseStamped, PoseWithCovarianceStamped or Odometry."""
    pose = msg.pose
    return pose.pose if hasattr(pose, "pose") else pose


def _from_pose(msg: Any, bag_ns: int) -> Iterator[_Sample]:
    pose = _pose_of(msg)
    p, q = pose.position, pose.orientation
    yield _Sample(header_stamp_ns(msg, bag_ns), str(msg.header.frame_id).lstrip("/"),
                  str(getattr(msg, "child_frame_id", "")).lstrip("/"),
                  (p.x, p.y, p.z), (q.w, q.x, q.y, q.z))


def _from_transform(tf: Any, bag_ns: int) -> Iterator[_Sample]:
    t, q = tf.transform.translation, tf.transform.rotation
    yield _Sample(header_stamp_ns(tf, bag_ns), str(tf.header.frame_id).lstrip("/"),
                  str(tf.child_frame_id).lstrip("/"), (t.x, t.y, t.z), (q.w, q.x, q.y, q.z))


def _from_tf_message(msg: Any, bag_ns: int) -> Iterator[_Sample]:
    for tf in msg.transforms:
        yield from _from_transform(tf, bag_ns)


_EXTRACT: dict[str, Callable[[Any, int], Iterator[_Sample]]] = {
    **{t: _from_pose for t in POSE_TYPES},
    TRANSFORM_TYPE: _from_transform,
    TF_TYPE: _from_tf_message,
}


def _pairs(samples: list[_Sample]) -> str:
    counts = Counter((s.parent, s.child) for s in samples)
    return ", ".join(f"{p or '?'} -> {c or '?'} ({n})" for (p, c), n in sorted(counts.items()))


def _select(samples: list[_Sample], msgtype: str, topic: str, child_frame: str | None,
            parent_frame: str | None) -> list[_Sample]:
    has_children = msgtype in (TF_TYPE, TRANSFORM_TYPE, ODOMETRY_TYPE)
    if msgtype == TF_TYPE and not child_frame:
        raise ConfigError(f"ground-truth topic {topic!r} carries TF: give --gt-child-frame "
                          f"(transforms present: {_pairs(samples) or 'none'})")
    chosen = samples
    if child_frame and has_children:
        chosen = [s for s in chosen if s.child == child_frame.lstrip("/")]
    if parent_frame:
        chosen = [s for s in chosen if s.parent == parent_frame.lstrip("/")]
    parents = sorted({s.parent for s in chosen})
    if has_children and len(parents) > 1:
        raise ConfigError(f"child frame {child_frame!r} on {topic!r} has several parents "
                          f"({', '.join(parents)}): give --gt-parent-frame")
    if not chosen:
        wanted = " -> ".join(f for f in (parent_frame or "*", child_frame or "*"))
        raise BagError(f"no ground-truth poses for {wanted} on {topic!r}"
                       f" (present: {_pairs(samples) or 'no messages'})")
    return chosen


def read_gt_topic(bag: BagReader, topic: str, child_frame: str | None = None,
                  parent_frame: str | None = None) -> tuple[Trajectory, dict[str, object]]:
    """The trajectory on ``topic`` (seconds) and a description for the report."""
    connections = bag.connections(topic, GT_TYPES, "ground-truth")
    samples: list[_Sample] = []
    bad = 0
    for conn, bag_ns, raw in bag.messages(connections):
        try:
            samples.extend(_EXTRACT[conn.msgtype](bag.deserialize(raw, conn.msgtype), bag_ns))
        except DESERIALIZE_ERRORS:
            bad += 1
    msgtype = connections[0].msgtype
    chosen = _select(samples, msgtype, topic, child_frame, parent_frame)
    traj = Trajectory.from_samples(np.array([s.stamp_ns for s in chosen], dtype=np.float64) * 1e-9,
                                   np.array([s.position for s in chosen]),
                                   np.array([s.quat_wxyz for s in chosen]))
    info = {"gt_source": f"{topic} ({msgtype.replace('/msg/', '/')})", "gt_samples": len(traj),
            "gt_frame": chosen[0].parent, "gt_bad_messages": bad}
    if chosen[0].child:
        info["gt_child_frame"] = chosen[0].child
    return traj, info


def read_gt_tum(path: Path | str) -> tuple[Trajectory, dict[str, object]]:
    """A TUM trajectory file as ground truth (``DatasetError`` if malformed)."""
    stamps, positions, quats = read_tum(Path(path))
    traj = Trajectory.from_samples(stamps, positions, quats)
    return traj, {"gt_source": str(path), "gt_samples": len(traj)}


@dataclass(frozen=True)
class GroundTruthSource:
    """Where the ground truth comes from: a bag ``topic`` (TF frames optional) or a ``tum`` file."""

    topic: str | None = None
    child_frame: str | None = None
    parent_frame: str | None = None
    tum: Path | None = None

    def validate(self) -> None:
        """``ConfigError`` unless exactly one of ``topic`` and ``tum`` is given."""
        if (self.topic is None) == (self.tum is None):
            raise ConfigError("give exactly one ground truth: --gt-topic TOPIC or --gt-tum FILE")

    def load(self, bag: BagReader) -> tuple[Trajectory, dict[str, object]]:
        """The trajectory (seconds) and a description for the report; ``bag`` is read for a topic."""
        self.validate()
        if self.tum is not None:
            return read_gt_tum(self.tum)
        return read_gt_topic(bag, str(self.topic), self.child_frame, self.parent_frame)
