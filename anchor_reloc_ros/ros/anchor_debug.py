"""PoseEstimate + the gate's verdict -> anchor_reloc_ros/msg/AnchorDebug (rclpy)."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg

from anchor_reloc_ros.msg import AnchorDebug

from ..core.anchor_debug_fields import POINT_FIELDS, VECTOR3_FIELDS, anchor_debug_fields
from ..core.estimate import PoseEstimate
from ..core.gate import GateDecision
from .conversions import point_msg, vector3_msg


def anchor_debug(est: PoseEstimate, frame: str, stamp: TimeMsg, anchors_world: np.ndarray,
                 latency_ms: float, decode_mode: str, decision: GateDecision) -> AnchorDebug:
    """The debug message of one estimate, with the gate's verdict on it."""
    fields = anchor_debug_fields(est, anchors_world, latency_ms, decode_mode, decision)
    vectors = {**{name: point_msg(fields.pop(name)) for name in POINT_FIELDS},
               **{name: vector3_msg(fields.pop(name)) for name in VECTOR3_FIELDS}}
    msg = AnchorDebug(**{k: v.tolist() if hasattr(v, "tolist") else v for k, v in fields.items()}, **vectors)
    msg.header.frame_id = frame
    msg.header.stamp = stamp
    return msg
