"""PoseEstimate -> anchor_reloc_ros/msg/AnchorDebug."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg

from anchor_reloc_ros.msg import AnchorDebug

from ..core.estimate import PoseEstimate
from ..core.gate import GateDecision
from .conversions import point_msg, vector3_msg

# Messages generated before msg/AnchorDebug.msg gained the gate fields lack them.
_GATE_FIELDS = "gated" in AnchorDebug.get_fields_and_field_types()


def anchor_debug(est: PoseEstimate, frame: str, stamp: TimeMsg, nearest_anchor_index: int,
                 latency_ms: float, decode_mode: str, decision: GateDecision | None = None) -> AnchorDebug:
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
    if decision is not None and _GATE_FIELDS:
        msg.gated, msg.gate_reason = not decision.passed, decision.reason
        msg.ood_score, msg.position_std = float(decision.ood_score), float(decision.position_std)
    msg.header.frame_id = frame
    msg.header.stamp = stamp
    return msg
