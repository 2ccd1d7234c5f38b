"""PoseEstimate -> anchor_reloc_ros/msg/AnchorDebug."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg

from anchor_reloc_ros.msg import AnchorDebug

from ..core.estimate import PoseEstimate
from .conversions import point_msg, vector3_msg


def anchor_debug(est: PoseEstimate, frame: str, stamp: TimeMsg, nearest_anchor_index: int,
                 latency_ms: float, decode_mode: str) -> AnchorDebug:
    msg = AnchorDebug(
        anchor_index=int(est.anchor_index),
        anchor_position=point_msg(est.anchor_position),
        confidence=float(est.anchor_confidence),
        topk_indices=np.asarray(est.topk_indices, dtype=np.int32).reshape(-1).tolist(),
        topk_confidences=np.asarray(est.topk_confidences, dtype=np.float32).reshape(-1).tolist(),
        offset=vector3_msg(est.offset),
        nearest_anchor_index=int(nearest_anchor_index),
        inference_ms=float(est.inference_ms),
        latency_ms=float(latency_ms),
        decode_mode=decode_mode,
    )
    msg.header.frame_id = frame
    msg.header.stamp = stamp
    return msg
