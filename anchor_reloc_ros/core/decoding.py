"""Turn raw head outputs into world poses with a covariance.

Anchor head:
* ``argmax`` (the paper): position of the most confident anchor + its offset.
* ``fusion`` (ours): the confidence-weighted mean of the top-k anchor hypotheses
  (anchor + its own offset), confidences re-normalised over the k.

The position covariance is the weighted spread of the top-k hypotheses plus a floor
calibrated on held-out validation residuals (``UncertaintyCalibration``), so it is
never zero and never claims more certainty than the network earned on data it did
not train on. The rotation variance is the calibrated floor.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from .anchors import RouteFrame
from .errors import ConfigError
from .estimate import PoseEstimate
from .geometry import quat_normalize

DECODE_MODES = ("argmax", "fusion")


@dataclass
class UncertaintyCalibration:
    """Validation-calibrated error statistics (world frame, SI units)."""

    position_cov: np.ndarray = field(default_factory=lambda: np.eye(3))  # m^2
    rotation_var: float = float(np.radians(5.0) ** 2)                    # rad^2 per axis
    temperature: float = 1.0                                              # softmax temperature

    def to_dict(self) -> dict:
        return {"position_cov": np.asarray(self.position_cov).tolist(),
                "rotation_var": float(self.rotation_var), "temperature": float(self.temperature)}

    @staticmethod
    def from_dict(d: dict) -> "UncertaintyCalibration":
        return UncertaintyCalibration(np.asarray(d["position_cov"], dtype=np.float64),
                                      float(d["rotation_var"]), float(d["temperature"]))


@dataclass
class DecodedBatch:
    """Batch decode results as numpy arrays (world frame)."""

    positions: np.ndarray          # (B, 3)
    quats_wxyz: np.ndarray         # (B, 4)
    covariances: np.ndarray        # (B, 6, 6)
    anchor_index: np.ndarray       # (B,) argmax anchor, -1 for PoseNet
    anchor_confidence: np.ndarray  # (B,)
    offsets: np.ndarray            # (B, 3) predicted offset from the argmax anchor, world
    topk_indices: np.ndarray       # (B, k)
    topk_confidences: np.ndarray   # (B, k)

    def __len__(self) -> int:
        return len(self.positions)

    def estimates(self, anchors_world: np.ndarray, inference_ms: float) -> list[PoseEstimate]:
        out = []
        for b in range(len(self)):
            i = int(self.anchor_index[b])
            out.append(PoseEstimate(
                position=self.positions[b], quat_wxyz=self.quats_wxyz[b],
                covariance=self.covariances[b], anchor_index=i,
                anchor_confidence=float(self.anchor_confidence[b]),
                anchor_position=anchors_world[i] if i >= 0 else np.full(3, np.nan),
                offset=self.offsets[b], topk_indices=self.topk_indices[b],
                topk_confidences=self.topk_confidences[b], inference_ms=inference_ms))
        return out


class Decoder:
    """Decodes head outputs for one trained model (its route frame and anchors)."""

    def __init__(self, frame: RouteFrame, anchors_route: np.ndarray, anchor_dims: int,
                 calibration: UncertaintyCalibration, mode: str = "argmax", top_k: int = 3) -> None:
        self.frame = frame
        self.anchors_route = np.asarray(anchors_route, dtype=np.float64).reshape(-1, 3)
        self.anchor_dims = anchor_dims
        self.calibration = calibration
        self.mode = mode
        self.top_k = top_k

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in DECODE_MODES:
            raise ConfigError(f"decode must be one of {DECODE_MODES}, got {value!r}")
        self._mode = value

    @property
    def top_k(self) -> int:
        return self._top_k

    @top_k.setter
    def top_k(self, value: int) -> None:
        if int(value) < 1:
            raise ConfigError(f"top_k must be >= 1, got {value}")
        self._top_k = int(value)

    def _covariances(self, spread_route_B33: np.ndarray) -> np.ndarray:
        R, s = self.frame.R_route_world, self.frame.scale
        spread_world = s * s * np.einsum("ji,bjk,kl->bil", R, spread_route_B33, R)
        cov = np.zeros((len(spread_route_B33), 6, 6))
        cov[:, :3, :3] = spread_world + self.calibration.position_cov
        cov[:, 3:, 3:] = np.eye(3) * self.calibration.rotation_var
        return cov

    def decode(self, outputs: Mapping[str, torch.Tensor | np.ndarray]) -> DecodedBatch:
        """Head outputs (torch tensors on any device, or numpy arrays) -> world poses.

        The arithmetic is numpy on the CPU: the outputs are a few hundred numbers per
        image, where per-op dispatch of torch would cost more than the maths.
        """
        arrays = {name: _as_float64(value) for name, value in outputs.items()}
        if "logits_BN" in arrays:
            return self._decode_anchor(arrays)
        return self._decode_posenet(arrays)

    def _decode_posenet(self, outputs: dict[str, np.ndarray]) -> DecodedBatch:
        p_route = outputs["position_B3"]
        q = quat_normalize(outputs["quat_B4"])
        B = len(p_route)
        return DecodedBatch(self.frame.to_world(p_route), q, self._covariances(np.zeros((B, 3, 3))),
                            np.full(B, -1), np.zeros(B), np.zeros((B, 3)),
                            np.zeros((B, 0), dtype=np.int64), np.zeros((B, 0)))

    def _decode_anchor(self, outputs: dict[str, np.ndarray]) -> DecodedBatch:
        D = self.anchor_dims
        conf = softmax(outputs["logits_BN"] / self.calibration.temperature)   # (B, N)
        B, N = conf.shape
        k = min(self.top_k, N)
        top_idx = np.argsort(-conf, axis=1, kind="stable")[:, :k]            # (B, k), ties: lower index
        rows = np.arange(B)[:, None]
        top_conf = conf[rows, top_idx]
        offsets = outputs["offsets_BND"].reshape(B, N, D)
        hyp = self.anchors_route[top_idx, :D] + offsets[rows, top_idx]          # (B, k, D)
        if self.mode == "fusion":
            w = top_conf / top_conf.sum(axis=1, keepdims=True)
        else:
            w = np.zeros_like(top_conf)
            w[:, 0] = 1.0
        mean = np.einsum("bk,bkd->bd", w, hyp)                                  # (B, D)
        dev = hyp - mean[:, None, :]
        spread_route = np.zeros((B, 3, 3))
        spread_route[:, :D, :D] = np.einsum("bk,bki,bkj->bij", w, dev, dev)
        absolute = outputs["absolute_BA"]
        n_coord = 3 - D
        p_route = np.concatenate([mean, absolute[:, :n_coord]], axis=1)
        offset_route = np.zeros((B, 3))
        offset_route[:, :D] = offsets[rows[:, 0], top_idx[:, 0]]
        offsets_world = offset_route * self.frame.scale @ self.frame.R_route_world
        return DecodedBatch(self.frame.to_world(p_route), quat_normalize(absolute[:, n_coord:]),
                            self._covariances(spread_route), top_idx[:, 0], top_conf[:, 0],
                            offsets_world, top_idx, top_conf)


def softmax(logits_BN: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so large logits cannot overflow."""
    z = np.exp(logits_BN - logits_BN.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _as_float64(value: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float64)
