"""Turn raw head outputs into world poses with a covariance.

Anchor head:
* ``argmax`` (the paper): position of the most confident anchor + its offset.
* ``fusion`` (ours): the confidence-weighted mean of the top-k anchor hypotheses
  (anchor + its own offset), confidences re-normalised over the k.

Covariance, in both modes: the second moment of ALL N anchor hypotheses (weights
softmax(logits / T_u)) about the PUBLISHED point, plus a floor. T_u, the floor and the
rotation model are fitted on held-out validation frames (``training.calibration``) and
stored in the checkpoint (``UncertaintyCalibration``). The covariance grows when the
softmax splits between distant anchors, whichever point is published, and is never
below the floor. The rotation variance is its floor times (1 + gain * normalised softmax
entropy), the gain 0 unless validation showed it helps. The PoseNet head has no
hypotheses: it publishes the floor.
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
from .options import option

DECODE_MODES = ("argmax", "fusion")
# Calibration covariances that checkpoints calibrated before them lack (read as None).
OPTIONAL_COVARIANCES = ("right_anchor_position_cov", "agreed_position_cov")


def _spd_3x3(value: np.ndarray, what: str) -> np.ndarray:
    """``value`` as a 3x3 float64 matrix; ValueError unless symmetric positive definite."""
    C = np.asarray(value, dtype=np.float64).reshape(3, 3)
    if not (np.isfinite(C).all() and np.allclose(C, C.T) and np.linalg.eigvalsh(C).min() > 0):
        raise ValueError(f"{what} must be symmetric positive definite, got {C.tolist()}")
    return C


@dataclass
class UncertaintyCalibration:
    """Validation-calibrated uncertainty model (world frame, SI units).

    ``temperature`` is the softmax temperature of top-k fusion (chosen for accuracy);
    ``uncertainty_temperature`` the one of the hypothesis mixture behind the covariance
    (chosen so its weights are calibrated anchor probabilities on validation).
    Checkpoints written before the mixture model lack the last two keys: they read as
    T_u = ``temperature`` and gain 0.
    """

    position_cov: np.ndarray = field(default_factory=lambda: np.eye(3))  # m^2, the floor
    rotation_var: float = float(np.radians(5.0) ** 2)                    # rad^2 per axis, the floor
    temperature: float = 1.0                                              # fusion softmax temperature
    uncertainty_temperature: float = 1.0                                  # mixture softmax temperature
    rotation_entropy_gain: float = 0.0                                    # rotation: floor * (1 + g H/log N)
    position_std_limit: float = 0.0       # m, the gate's validation-calibrated std limit; 0 = none
    # m^2: the error covariance of validation frames whose argmax anchor was the one nearest the
    # truth (the odometry check's per-estimate noise); None in checkpoints calibrated before it
    right_anchor_position_cov: np.ndarray | None = None
    # m^2: the position covariance published for an estimate the odometry vote agreed on, fitted
    # on the validation frames the vote (ground-truth motion as odometry) agreed on; None: none
    agreed_position_cov: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.position_cov = _spd_3x3(self.position_cov, "calibration position_cov")
        for name in ("rotation_var", "temperature", "uncertainty_temperature"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"calibration {name} must be positive, got {getattr(self, name)}")
        if not float(self.rotation_entropy_gain) >= 0:
            raise ValueError(f"calibration rotation_entropy_gain must be >= 0, got {self.rotation_entropy_gain}")
        if not float(self.position_std_limit) >= 0:
            raise ValueError(f"calibration position_std_limit must be >= 0, got {self.position_std_limit}")
        for name in OPTIONAL_COVARIANCES:
            if getattr(self, name) is not None:
                setattr(self, name, _spd_3x3(getattr(self, name), f"calibration {name}"))

    def odometry_check_cov(self) -> np.ndarray:
        """The odometry check's per-estimate position covariance: the right-anchor one, or for
        checkpoints calibrated before it the floor (wider: it also covers wrong anchors)."""
        return self.position_cov if self.right_anchor_position_cov is None else self.right_anchor_position_cov

    def to_dict(self) -> dict:
        return {"position_cov": self.position_cov.tolist(), "rotation_var": float(self.rotation_var),
                "temperature": float(self.temperature),
                "uncertainty_temperature": float(self.uncertainty_temperature),
                "rotation_entropy_gain": float(self.rotation_entropy_gain),
                "position_std_limit": float(self.position_std_limit),
                **{name: getattr(self, name).tolist() for name in OPTIONAL_COVARIANCES
                   if getattr(self, name) is not None}}

    @staticmethod
    def from_dict(d: dict) -> "UncertaintyCalibration":
        temperature = float(d["temperature"])
        return UncertaintyCalibration(np.asarray(d["position_cov"], dtype=np.float64), float(d["rotation_var"]),
                                      temperature, float(d.get("uncertainty_temperature", temperature)),
                                      float(d.get("rotation_entropy_gain", 0.0)),
                                      float(d.get("position_std_limit", 0.0)),
                                      **{name: None if d.get(name) is None else np.asarray(d[name], dtype=np.float64)
                                         for name in OPTIONAL_COVARIANCES})


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
    hypotheses: np.ndarray | None = None    # (B, N, 3) every anchor's hypothesis, world; None: PoseNet
    confidences: np.ndarray | None = None   # (B, N) their softmax confidences

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
                topk_confidences=self.topk_confidences[b], inference_ms=inference_ms,
                **({} if self.hypotheses is None else
                   {"hypotheses": self.hypotheses[b], "hypothesis_confidences": self.confidences[b]})))
        return out


@dataclass(frozen=True)
class DecodeOptions:
    """How to turn hypotheses into one pose; immutable, so a decode in flight on another
    thread never sees half of a change (the node swaps the whole object)."""

    mode: str = option("argmax", "argmax = the paper's most confident anchor; fusion = confidence-weighted "
                       "fusion of the top_k anchors", choices=DECODE_MODES, flag="--decode", ros_name="decode")
    top_k: int = option(3, "Anchors used by the fusion decoder and reported in AnchorDebug", range=(1, 1000),
                        metavar="K")

    def __post_init__(self) -> None:
        if self.mode not in DECODE_MODES:
            raise ConfigError(f"decode must be one of {DECODE_MODES}, got {self.mode!r}")
        if int(self.top_k) < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")


class Decoder:
    """Decodes head outputs for one trained model (its route frame and anchors).

    ``options`` and ``calibration`` are replaced whole, never mutated; ``decode`` reads
    each once, or takes them per call (validation sweeps pass their own).
    """

    def __init__(self, frame: RouteFrame, anchors_route: np.ndarray, anchor_dims: int,
                 calibration: UncertaintyCalibration, mode: str = DecodeOptions.mode,
                 top_k: int = DecodeOptions.top_k) -> None:
        self.frame = frame
        self.anchors_route = np.asarray(anchors_route, dtype=np.float64).reshape(-1, 3)
        self.anchor_dims = anchor_dims
        self.calibration = calibration
        self.options = DecodeOptions(mode, int(top_k))

    @property
    def mode(self) -> str:
        return self.options.mode

    @property
    def top_k(self) -> int:
        return self.options.top_k

    def _covariances(self, spread_route_B33: np.ndarray, entropy_B: np.ndarray,
                     c: UncertaintyCalibration) -> np.ndarray:
        """6x6 covariances: mixture moment (route -> world) + floor; rotation floor (x entropy factor)."""
        R, s = self.frame.R_route_world, self.frame.scale
        spread_world = (s * s) * (R.T @ spread_route_B33 @ R)
        cov = np.zeros((len(spread_route_B33), 6, 6))
        cov[:, :3, :3] = spread_world + c.position_cov
        rot_var = c.rotation_var * (1.0 + c.rotation_entropy_gain * entropy_B)
        cov[:, 3:, 3:] = rot_var[:, None, None] * np.eye(3)
        return cov

    def decode(self, outputs: Mapping[str, torch.Tensor | np.ndarray], options: DecodeOptions | None = None,
               calibration: UncertaintyCalibration | None = None) -> DecodedBatch:
        """Head outputs (torch tensors on any device, or numpy arrays) -> world poses.

        ``options`` / ``calibration`` default to the decoder's own (read once per call).
        The arithmetic is numpy on the CPU: the outputs are a few hundred numbers per
        image, where per-op dispatch of torch would cost more than the maths.
        """
        opts = options or self.options
        calib = calibration or self.calibration
        arrays = {name: _as_float64(value) for name, value in outputs.items()}
        if "logits_BN" in arrays:
            return self._decode_anchor(arrays, opts, calib)
        return self._decode_posenet(arrays, calib)

    def _decode_posenet(self, outputs: dict[str, np.ndarray], calib: UncertaintyCalibration) -> DecodedBatch:
        p_route = outputs["position_B3"]
        q = quat_normalize(outputs["quat_B4"])
        B = len(p_route)
        covariances = self._covariances(np.zeros((B, 3, 3)), np.zeros(B), calib)  # no hypotheses: the floor
        return DecodedBatch(self.frame.to_world(p_route), q, covariances,
                            np.full(B, -1), np.zeros(B), np.zeros((B, 3)),
                            np.zeros((B, 0), dtype=np.int64), np.zeros((B, 0)))

    def _decode_anchor(self, outputs: dict[str, np.ndarray], opts: DecodeOptions,
                       calib: UncertaintyCalibration) -> DecodedBatch:
        D = self.anchor_dims
        logits = outputs["logits_BN"]
        conf = softmax(logits / calib.temperature)                              # (B, N)
        B, N = conf.shape
        k = min(opts.top_k, N)
        top_idx = np.argsort(-conf, axis=1, kind="stable")[:, :k]            # (B, k), ties: lower index
        rows = np.arange(B)[:, None]
        top_conf = conf[rows, top_idx]
        offsets = outputs["offsets_BND"].reshape(B, N, D)
        hyp = self.anchors_route[None, :, :D] + offsets                        # (B, N, D) all hypotheses
        if opts.mode == "fusion":
            w = top_conf / top_conf.sum(axis=1, keepdims=True)
            mean = np.einsum("bk,bkd->bd", w, hyp[rows, top_idx])             # (B, D)
        else:
            mean = hyp[rows[:, 0], top_idx[:, 0]]
        spread_route, entropy = self._mixture(logits, conf, hyp, mean, calib)
        absolute = outputs["absolute_BA"]
        n_coord = 3 - D
        p_route = np.concatenate([mean, absolute[:, :n_coord]], axis=1)
        offset_route = np.zeros((B, 3))
        offset_route[:, :D] = offsets[rows[:, 0], top_idx[:, 0]]
        offsets_world = offset_route * self.frame.scale @ self.frame.R_route_world
        hyp_route = np.concatenate([hyp, np.repeat(absolute[:, None, :n_coord], N, axis=1)], axis=2)
        hypotheses = self.frame.to_world(hyp_route.reshape(-1, 3)).reshape(B, N, 3)
        return DecodedBatch(self.frame.to_world(p_route), quat_normalize(absolute[:, n_coord:]),
                            self._covariances(spread_route, entropy, calib), top_idx[:, 0], top_conf[:, 0],
                            offsets_world, top_idx, top_conf, hypotheses, conf)

    def _mixture(self, logits_BN: np.ndarray, conf_BN: np.ndarray, hyp_BND: np.ndarray,
                 point_BD: np.ndarray, calib: UncertaintyCalibration) -> tuple[np.ndarray, np.ndarray]:
        """Route-frame (B, 3, 3) second moment of all hypotheses about the published point,
        with the uncertainty temperature's weights, and their entropy / log N in [0, 1]."""
        B, N, D = hyp_BND.shape
        w = conf_BN if calib.uncertainty_temperature == calib.temperature else \
            softmax(logits_BN / calib.uncertainty_temperature)
        dev = hyp_BND - point_BD[:, None, :]
        spread = np.zeros((B, 3, 3))
        spread[:, :D, :D] = (w[:, :, None] * dev).transpose(0, 2, 1) @ dev
        entropy = normalized_entropy(w) if calib.rotation_entropy_gain > 0 else np.zeros(B)
        return spread, entropy


def softmax(logits_BN: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so large logits cannot overflow."""
    z = np.exp(logits_BN - logits_BN.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def normalized_entropy(weights_BN: np.ndarray) -> np.ndarray:
    """Row entropy of a probability matrix over log N: 0 (one-hot) .. 1 (uniform)."""
    w = np.asarray(weights_BN, dtype=np.float64)
    if w.shape[1] < 2:
        return np.zeros(len(w))
    return -np.sum(w * np.log(np.maximum(w, 1e-300)), axis=1) / np.log(w.shape[1])


def _as_float64(value: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float64)
