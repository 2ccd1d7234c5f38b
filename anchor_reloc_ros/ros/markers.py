"""rviz markers: every anchor, the chosen anchor highlighted, its offset and the estimate."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ..core.estimate import PoseEstimate
from .conversions import matrix_to_pose_msg, point_msg

_GREY = ColorRGBA(r=0.6, g=0.6, b=0.7, a=0.6)
_RED = ColorRGBA(r=1.0, g=0.1, b=0.1, a=1.0)
_YELLOW = ColorRGBA(r=1.0, g=0.85, b=0.1, a=1.0)
_GREEN = ColorRGBA(r=0.1, g=0.9, b=0.2, a=1.0)


def _marker(ns: str, kind: int, frame: str, stamp: TimeMsg, scale: tuple[float, float, float],
            color: ColorRGBA) -> Marker:
    m = Marker(ns=ns, id=0, type=kind, action=Marker.ADD, color=color)
    m.header.frame_id = frame
    m.header.stamp = stamp
    m.scale.x, m.scale.y, m.scale.z = scale
    m.pose.orientation.w = 1.0
    return m


def estimate_markers(est: PoseEstimate, anchors_world: np.ndarray, T_map_body: np.ndarray,
                     frame: str, stamp: TimeMsg) -> MarkerArray:
    """Markers in ``frame`` (the map) for one estimate; ``T_map_body`` is the published pose."""
    markers = []
    anchors = np.asarray(anchors_world, dtype=np.float64).reshape(-1, 3)
    if anchors.shape[0]:
        cloud = _marker("anchors", Marker.SPHERE_LIST, frame, stamp, (0.15, 0.15, 0.15), _GREY)
        cloud.points = [point_msg(a) for a in anchors]
        markers.append(cloud)
    if est.anchor_index >= 0:
        chosen = _marker("chosen_anchor", Marker.SPHERE, frame, stamp, (0.4, 0.4, 0.4), _RED)
        chosen.pose.position = point_msg(est.anchor_position)
        offset = _marker("offset", Marker.ARROW, frame, stamp, (0.05, 0.12, 0.15), _YELLOW)
        offset.points = [point_msg(est.anchor_position), point_msg(est.position)]
        markers += [chosen, offset]
    pose = _marker("estimate", Marker.ARROW, frame, stamp, (0.6, 0.08, 0.08), _GREEN)
    pose.pose = matrix_to_pose_msg(T_map_body)
    markers.append(pose)
    return MarkerArray(markers=markers)
