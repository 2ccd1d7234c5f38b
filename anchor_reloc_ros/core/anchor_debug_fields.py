"""The field values of an AnchorDebug message (msg/AnchorDebug.msg), built once for both
writers: the node's rclpy message and the rosbags message of an offline output bag."""
from __future__ import annotations

import numpy as np

from .estimate import PoseEstimate
from .gate import GateDecision

# (3,) float arrays: each writer wraps them, as geometry_msgs/Point and geometry_msgs/Vector3
POINT_FIELDS = ("anchor_position",)
VECTOR3_FIELDS = ("offset", "odom_shift")
VECTOR_FIELDS = POINT_FIELDS + VECTOR3_FIELDS


def nearest_anchor_index(anchors_world: np.ndarray, position: np.ndarray) -> int:
    """Index of the anchor closest to ``position``; -1 when there are no anchors."""
    anchors = np.asarray(anchors_world, dtype=np.float64).reshape(-1, 3)
    if anchors.shape[0] == 0:
        return -1
    return int(np.argmin(np.linalg.norm(anchors - np.asarray(position)[None, :3], axis=1)))


def _vector3(values: np.ndarray) -> np.ndarray:
    """Up to 3 values as a (3,) float array (missing ones are zero)."""
    out = np.zeros(3)
    flat = np.asarray(values, dtype=np.float64).reshape(-1)[:3]
    out[:flat.size] = flat
    return out


def anchor_debug_fields(est: PoseEstimate, anchors_world: np.ndarray, latency_ms: float,
                        decode_mode: str, decision: GateDecision) -> dict[str, object]:
    """Every AnchorDebug field but the header, with the gate's verdict on ``est``."""
    sources = {"anchor_position": est.anchor_position, "offset": est.offset,
               "odom_shift": decision.position_shift}
    vectors = {name: _vector3(sources[name]) for name in VECTOR_FIELDS}
    return {
        "anchor_index": int(est.anchor_index),
        "confidence": float(est.anchor_confidence),
        "topk_indices": np.asarray(est.topk_indices, dtype=np.int32).reshape(-1),
        "topk_confidences": np.asarray(est.topk_confidences, dtype=np.float32).reshape(-1),
        "nearest_anchor_index": nearest_anchor_index(anchors_world, est.position),
        "inference_ms": float(est.inference_ms),
        "latency_ms": float(latency_ms),
        "decode_mode": decode_mode,
        "published": bool(decision.passed),
        "gate_reason": decision.reason,
        "ood_score": float(decision.ood_score),
        "gate_confidence": float(decision.confidence),
        "position_std": float(decision.position_std),
        "odom_anchor_index": int(decision.redecoded_anchor),
        "vote_residual": decision.vote_residual_m,
        "committee_distance": float(est.committee_distance),
        **vectors,
    }
