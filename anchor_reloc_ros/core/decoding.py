"""Turn raw head outputs into world poses with a covariance.

Anchor head, each anchor's hypothesis being the anchor + its own offset:
* ``argmax`` (the paper, the default): the hypothesis of the most confident anchor.
* ``fusion``: the confidence-weighted mean of the top-k anchors' hypotheses, confidences
  re-normalised over the k.
* ``cluster``: the place most probability agrees on. Each hypothesis
  collects the confidence of all hypotheses within ``CLUSTER_RADIUS_SPACINGS`` anchor
  spacings of it; the one collecting most wins, and the confidence-weighted mean of its
  neighbours is published. Neighbouring anchors that all point at one place then outvote a
  lone confident anchor elsewhere. The reported anchor is the winning hypothesis's. The
  vote and the mean use the network's own softmax (temperature 1), not the fusion
  temperature: that one is chosen for top-k fusion and, where it is high (4 and 8 on the
  real KITTI subset), flattens the softmax until the whole route is one cluster (KITTI,
  ``eval`` of 3 seeds, mean of their medians: 2.38 m with it, 0.66 m without; argmax 0.59 m).

With test-time views (``DecodeOptions.views``, ``core.test_time_views``) the outputs hold
V rows per frame. Each anchor's confidence is then its mean over the views and its
hypothesis the confidence-weighted mean of the views' ones; rotation and the non-anchored
coordinate come from view 0, the frame itself.

Which decode runs: the one given, or with ``auto`` (the default) the one the checkpoint's
covariance was calibrated for (``UncertaintyCalibration.decode`` / ``.views``; argmax with
one view for checkpoints calibrated before it was recorded), because the covariance and
the gate's limits are fitted for one decode and are only honest for it.

Covariance, in both modes: the second moment of ALL N anchor hypotheses (weights
softmax(logits / T_u)) about the PUBLISHED point, plus a floor, scaled per frame by
1 + gain x (1 - the network's softmax mass within the cluster radius of the published
point): a frame whose network mostly points elsewhere is less certain than its mixture
alone says (the gain is chosen on validation, 0 where it does not help). T_u, the floor and the
rotation model are fitted on held-out validation frames (``training.calibration``) and
stored in the checkpoint (``UncertaintyCalibration``). The covariance grows when the
softmax splits between distant anchors, whichever point is published, and is never
below the floor. The rotation variance is its floor times (1 + gain * normalised softmax
entropy), the gain 0 unless validation showed it helps. The PoseNet head has no
hypotheses: it publishes the floor.

With a committee (``core.model``) and a calibrated ``committee_gain`` c, each member on each
test-time view is decoded alone (a one-view frame, the network's decode) and d, the lower
quartile (``COMMITTEE_QUANTILE``) of these K x V looks' distances from the published point,
adds c d^2 to both anchored axes' variance (route frame, so c carries no unit): the point is
doubtful when even the nearest quarter of the committee's looks land away from it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .anchors import RouteFrame
from .errors import ConfigError
from .estimate import PoseEstimate
from .geometry import quat_normalize
from .model import COMMITTEE_LOGITS_KEY, COMMITTEE_OFFSETS_KEY
from .options import option
from .test_time_views import VIEW_CHOICES

DECODE_MODES = ("argmax", "fusion", "cluster")
AUTO = "auto"                      # DecodeOptions.mode: the decode the calibration was fitted for
AUTO_VIEWS = 0                     # DecodeOptions.views: likewise
# cluster decoding's radius, in anchor spacings (the median distance between neighbouring
# anchors). Chosen on the street demo model's val walk (a numpy prototype of 4 views, frames
# within 2 m: 48.7 / 50.7 / 46.0 % at about 1.5 / 2 / 3 spacings; argmax 43.3 %).
CLUSTER_RADIUS_SPACINGS = 2.0
CLUSTER_PAIRS_PER_CHUNK = 2_000_000
# The committee's distance d: this quantile of the distances of its K x V looks (each member on
# each view alone) from the published point. Chosen on 8 street val walks (walk seeds 11-18, 150
# frames each; HELDOUT_SPLIT=val scripts/heldout_walks.sh renders them) with the committees of
# add-committee seeds 0 and 1: mean Spearman(d, error) 0.49 / 0.51 at the quartile, 0.49 / 0.50
# at the median, 0.46 / 0.48 at the 0.1 quantile; each member decoded over its pooled views (the
# earlier rule), median: 0.47 / 0.48.
COMMITTEE_QUANTILE = 0.25
# Calibration covariances that checkpoints calibrated before them lack (read as None).
OPTIONAL_COVARIANCES = ("right_anchor_position_cov", "agreed_position_cov", "fused_position_cov")
OPTIONAL_MATRICES = (*OPTIONAL_COVARIANCES, "agreed_fusion_gain")
# Non-negative calibration gains that checkpoints calibrated before them lack (read as 0).
OPTIONAL_GAINS = ("agreed_residual_gain", "fused_residual_gain", "floor_mass_gain", "committee_gain")


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
    # published for an agreed estimate: agreed_position_cov + this x r r^T, r its vote residual
    # (core.frame_gate); 0 in checkpoints calibrated before it
    agreed_residual_gain: float = 0.0
    # 3x3 gain K of the odometry fusion: an agreed estimate is published at its position - K r,
    # the inverse-variance fusion with the place its agreeing estimates give (core.frame_gate),
    # with fused_position_cov + fused_residual_gain x u u^T, u = (I - K) r; None / 0: no fusion
    # (checkpoints calibrated before it)
    agreed_fusion_gain: np.ndarray | None = None
    fused_position_cov: np.ndarray | None = None
    fused_residual_gain: float = 0.0
    # the floor is scaled per frame by 1 + this x (1 - the softmax mass near the published
    # point, ``DecodedBatch.point_mass``); 0 in checkpoints calibrated before it
    floor_mass_gain: float = 0.0
    # the anchored axes' variance grows by this x d^2, d the committee's distance from the published
    # point (``DecodedBatch.committee_distance``); 0: none (no committee, or older)
    committee_gain: float = 0.0
    decode: str = "argmax"   # the decode (mode, test-time views) all of the above was fitted for
    views: int = 1

    def __post_init__(self) -> None:
        if self.decode not in DECODE_MODES or self.views not in VIEW_CHOICES:
            raise ValueError(f"calibration decode must be one of {DECODE_MODES} with views in {VIEW_CHOICES}, "
                             f"got {self.decode!r} with {self.views!r}")
        self.position_cov = _spd_3x3(self.position_cov, "calibration position_cov")
        for name in ("rotation_var", "temperature", "uncertainty_temperature"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"calibration {name} must be positive, got {getattr(self, name)}")
        if not float(self.rotation_entropy_gain) >= 0:
            raise ValueError(f"calibration rotation_entropy_gain must be >= 0, got {self.rotation_entropy_gain}")
        for name in OPTIONAL_GAINS:
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"calibration {name} must be >= 0, got {getattr(self, name)}")
        if not float(self.position_std_limit) >= 0:
            raise ValueError(f"calibration position_std_limit must be >= 0, got {self.position_std_limit}")
        for name in OPTIONAL_COVARIANCES:
            if getattr(self, name) is not None:
                setattr(self, name, _spd_3x3(getattr(self, name), f"calibration {name}"))
        if self.agreed_fusion_gain is not None:
            K = np.asarray(self.agreed_fusion_gain, dtype=np.float64)
            if K.shape != (3, 3) or not np.isfinite(K).all():
                raise ValueError(f"calibration agreed_fusion_gain must be a finite 3x3 matrix, got {K.tolist()}")
            self.agreed_fusion_gain = K

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
                **{name: float(getattr(self, name)) for name in OPTIONAL_GAINS},
                "decode": self.decode, "views": int(self.views),
                **{name: getattr(self, name).tolist() for name in OPTIONAL_MATRICES
                   if getattr(self, name) is not None}}

    @staticmethod
    def from_dict(d: dict) -> "UncertaintyCalibration":
        temperature = float(d["temperature"])
        return UncertaintyCalibration(np.asarray(d["position_cov"], dtype=np.float64), float(d["rotation_var"]),
                                      temperature, float(d.get("uncertainty_temperature", temperature)),
                                      float(d.get("rotation_entropy_gain", 0.0)),
                                      float(d.get("position_std_limit", 0.0)),
                                      **{name: None if d.get(name) is None else np.asarray(d[name], dtype=np.float64)
                                         for name in OPTIONAL_MATRICES},
                                      **{name: float(d.get(name, 0.0)) for name in OPTIONAL_GAINS},
                                      decode=str(d.get("decode", "argmax")), views=int(d.get("views", 1)))


@dataclass
class DecodedBatch:
    """Batch decode results as numpy arrays (world frame)."""

    positions: np.ndarray          # (B, 3)
    quats_wxyz: np.ndarray         # (B, 4)
    covariances: np.ndarray        # (B, 6, 6)
    anchor_index: np.ndarray       # (B,) the decode's anchor (argmax, cluster winner), -1 for PoseNet
    anchor_confidence: np.ndarray  # (B,)
    offsets: np.ndarray            # (B, 3) that anchor's predicted offset, world
    topk_indices: np.ndarray       # (B, k)
    topk_confidences: np.ndarray   # (B, k)
    hypotheses: np.ndarray | None = None    # (B, N, 3) every anchor's hypothesis, world; None: PoseNet
    confidences: np.ndarray | None = None   # (B, N) their softmax confidences (mean over views)
    # (B,) the network's softmax mass on hypotheses within the cluster radius of the published
    # point (1 for PoseNet): how much of the network agrees with what is published
    point_mass: np.ndarray | None = None
    # (B,) d, the committee's distance from the published point in metres (module doc; anchored
    # axes); None: no committee, or its calibrated gain is 0
    committee_distance: np.ndarray | None = None

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
                committee_distance=(math.nan if self.committee_distance is None
                                    else float(self.committee_distance[b])),
                **({} if self.hypotheses is None else
                   {"hypotheses": self.hypotheses[b], "hypothesis_confidences": self.confidences[b]})))
        return out


@dataclass(frozen=True)
class DecodeOptions:
    """How to turn hypotheses into one pose; immutable, so a decode in flight on another
    thread never sees half of a change (the node swaps the whole object)."""

    mode: str = option(AUTO, "auto = the decode the checkpoint's covariance was calibrated for (the bundled "
                       "street weights: cluster with 4 views; train calibrates for argmax unless the dataset's "
                       "val walk picks another); argmax = the paper's most confident anchor; cluster = the place "
                       "most anchor confidence agrees on (hypotheses within 2 anchor spacings averaged); fusion = "
                       "confidence-weighted fusion of the top_k anchors", choices=(AUTO,) + DECODE_MODES,
                       flag="--decode", ros_name="decode")
    top_k: int = option(3, "Anchors used by the fusion decoder and reported in AnchorDebug", range=(1, 1000),
                        metavar="K")
    views: int = option(AUTO_VIEWS, "Test-time views per frame, pooled: 1 = the frame, 2 = + its centre crop, "
                        "4 = + the left and right crops too (0.85 of each side); 0 = as the checkpoint was "
                        "calibrated. The network runs once per view; with the cluster decode the street test "
                        "walk's median error is 2.92 m with 4 views, 3.55 m with 1 (argmax: 3.88 m). Recalibrate "
                        "(anchor-reloc calibrate --decode D --views V) for the covariance and gate of another decode",
                        choices=(AUTO_VIEWS,) + VIEW_CHOICES, metavar="V")

    def __post_init__(self) -> None:
        if self.mode not in (AUTO,) + DECODE_MODES:
            raise ConfigError(f"decode must be one of {(AUTO,) + DECODE_MODES}, got {self.mode!r}")
        if int(self.top_k) < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.views not in (AUTO_VIEWS,) + VIEW_CHOICES:
            raise ConfigError(f"views must be one of {(AUTO_VIEWS,) + VIEW_CHOICES}, got {self.views!r}")

    def resolved(self, calibration: UncertaintyCalibration) -> DecodeOptions:
        """These options with ``auto`` mode / views replaced by the decode ``calibration`` was fitted for."""
        return replace(self, mode=calibration.decode if self.mode == AUTO else self.mode,
                       views=calibration.views if self.views == AUTO_VIEWS else self.views)

    @property
    def label(self) -> str:
        return f"{self.mode}, {self.views} view{'s' if self.views > 1 else ''}"

    def summary_fields(self) -> dict[str, object]:
        """The decode as ``summary.json`` records it (resolve ``auto`` first: the decode that ran)."""
        return {"decode": self.mode, "top_k": self.top_k, "views": self.views}


class Decoder:
    """Decodes head outputs for one trained model (its route frame and anchors).

    ``options`` and ``calibration`` are replaced whole, never mutated; ``decode`` reads
    each once, or takes them per call (validation sweeps pass their own).
    """

    def __init__(self, frame: RouteFrame, anchors_route: np.ndarray, anchor_dims: int,
                 calibration: UncertaintyCalibration, mode: str = DecodeOptions.mode,
                 top_k: int = DecodeOptions.top_k, views: int = DecodeOptions.views) -> None:
        self.frame = frame
        self.anchors_route = np.asarray(anchors_route, dtype=np.float64).reshape(-1, 3)
        self.anchor_dims = anchor_dims
        self.calibration = calibration
        self._options = DecodeOptions(mode, int(top_k), int(views)).resolved(calibration)
        self.cluster_radius_route = CLUSTER_RADIUS_SPACINGS * anchor_spacing(self.anchors_route[:, :anchor_dims])

    @property
    def options(self) -> DecodeOptions:
        """The decode options, never ``auto``: set ones are resolved against the calibration."""
        return self._options

    @options.setter
    def options(self, value: DecodeOptions) -> None:
        self._options = value.resolved(self.calibration)

    @property
    def mode(self) -> str:
        return self.options.mode

    @property
    def top_k(self) -> int:
        return self.options.top_k

    def _covariances(self, spread_route_B33: np.ndarray, entropy_B: np.ndarray,
                     c: UncertaintyCalibration, point_mass_B: np.ndarray) -> np.ndarray:
        """6x6 covariances: mixture moment (route -> world) + floor x (1 + gain x (1 - point
        mass)); rotation floor (x entropy factor)."""
        R, s = self.frame.R_route_world, self.frame.scale
        spread_world = (s * s) * (R.T @ spread_route_B33 @ R)
        cov = np.zeros((len(spread_route_B33), 6, 6))
        cov[:, :3, :3] = spread_world + mass_floor_scale(point_mass_B, c.floor_mass_gain)[:, None, None] * c.position_cov
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
        calib = calibration or self.calibration
        opts = (options or self.options).resolved(calib)
        arrays = {name: _as_float64(value) for name, value in outputs.items()}
        if "logits_BN" in arrays:
            return self._decode_anchor(arrays, opts, calib)
        return self._decode_posenet(arrays, opts.views, calib)

    def _decode_posenet(self, outputs: dict[str, np.ndarray], views: int,
                        calib: UncertaintyCalibration) -> DecodedBatch:
        p_route = _frames(outputs["position_B3"], views)[:, 0]
        q = quat_normalize(_frames(outputs["quat_B4"], views)[:, 0])
        B = len(p_route)
        covariances = self._covariances(np.zeros((B, 3, 3)), np.zeros(B), calib, np.ones(B))  # no hypotheses: the floor
        return DecodedBatch(self.frame.to_world(p_route), q, covariances,
                            np.full(B, -1), np.zeros(B), np.zeros((B, 3)),
                            np.zeros((B, 0), dtype=np.int64), np.zeros((B, 0)), point_mass=np.ones(B))

    def _decode_anchor(self, outputs: dict[str, np.ndarray], opts: DecodeOptions,
                       calib: UncertaintyCalibration) -> DecodedBatch:
        D, V = self.anchor_dims, opts.views
        pt = self._point(outputs["logits_BN"], outputs["offsets_BND"], opts, calib)
        conf, hyp, chosen, mean = pt.conf, pt.hyp, pt.chosen, pt.mean
        B, N, _ = hyp.shape
        rows = np.arange(B)
        spread_route, entropy = self._mixture(_conf_at(outputs["logits_BN"], calib.uncertainty_temperature, V, pt),
                                              hyp, mean, calib)
        d_route = self._committee_distance_route(outputs, opts, calib, mean)
        if d_route is not None:   # the committee's distance widens the anchored axes
            spread_route[:, :D, :D] += calib.committee_gain * (d_route ** 2)[:, None, None] * np.eye(D)
        near = np.sum((hyp - mean[:, None, :]) ** 2, axis=2) <= self.cluster_radius_route ** 2
        point_mass = np.sum(_conf_at(outputs["logits_BN"], 1.0, V, pt) * near, axis=1)
        absolute = _frames(outputs["absolute_BA"], V)[:, 0]                    # view 0: the frame itself
        n_coord = 3 - D
        p_route = np.concatenate([mean, absolute[:, :n_coord]], axis=1)
        offset_route = np.zeros((B, 3))
        offset_route[:, :D] = hyp[rows, chosen] - self.anchors_route[chosen, :D]
        offsets_world = offset_route * self.frame.scale @ self.frame.R_route_world
        hyp_route = np.concatenate([hyp, np.repeat(absolute[:, None, :n_coord], N, axis=1)], axis=2)
        hypotheses = self.frame.to_world(hyp_route.reshape(-1, 3)).reshape(B, N, 3)
        return DecodedBatch(self.frame.to_world(p_route), quat_normalize(absolute[:, n_coord:]),
                            self._covariances(spread_route, entropy, calib, point_mass), chosen,
                            conf[rows, chosen], offsets_world, pt.top_idx, pt.top_conf, hypotheses, conf, point_mass,
                            None if d_route is None else d_route * self.frame.scale)

    def _point(self, logits_rows: np.ndarray, offsets_rows: np.ndarray, opts: DecodeOptions,
               calib: UncertaintyCalibration) -> _Point:
        """One set of anchor heads' (V rows per frame) pooled hypotheses and the point the decode publishes."""
        D, V = self.anchor_dims, opts.views
        logits = _frames(logits_rows, V)                                        # (B, V, N)
        B, _, N = logits.shape
        conf, hyp = _pooled(softmax(logits / calib.temperature),                 # (B, N), (B, N, D)
                            self.anchors_route[None, None, :, :D] + _frames(offsets_rows, V).reshape(B, V, N, D))
        top_idx = np.argsort(-conf, axis=1, kind="stable")[:, :min(opts.top_k, N)]   # (B, k), ties: lower index
        rows = np.arange(B)[:, None]
        top_conf = conf[rows, top_idx]
        pt = _Point(conf, hyp, top_idx, top_conf, top_idx[:, 0], hyp[rows[:, 0], top_idx[:, 0]], calib.temperature)
        if opts.mode == "fusion":
            w = top_conf / top_conf.sum(axis=1, keepdims=True)
            pt.mean = np.einsum("bk,bkd->bd", w, hyp[rows, top_idx])             # (B, D)
        elif opts.mode == "cluster":   # the vote: the network's own probabilities (module doc)
            pt.chosen, pt.mean = cluster_point(_conf_at(logits_rows, 1.0, V, pt), hyp, self.cluster_radius_route)
        return pt

    def _committee_distance_route(self, outputs: dict[str, np.ndarray], opts: DecodeOptions,
                                  calib: UncertaintyCalibration, point_BD: np.ndarray) -> np.ndarray | None:
        """(B,) the ``COMMITTEE_QUANTILE`` over the frame's K x V committee looks (each member on
        each test-time view, decoded alone as a one-view frame with the network's decode) of the
        route distance from each look's point to the published one; None without a committee or its gain."""
        if calib.committee_gain <= 0 or COMMITTEE_LOGITS_KEY not in outputs:
            return None
        logits, offsets = outputs[COMMITTEE_LOGITS_KEY], outputs[COMMITTEE_OFFSETS_KEY]   # (BV, K, N), (BV, K, N, D)
        rows, K, N = logits.shape
        looks = self._point(logits.reshape(rows * K, N), offsets.reshape(rows * K, N, -1),
                            replace(opts, views=1), calib).mean                           # (BV K, D), frame-major
        B = len(point_BD)
        dist = np.linalg.norm(looks.reshape(B, rows // B * K, -1) - point_BD[:, None, :], axis=2)
        return np.quantile(dist, COMMITTEE_QUANTILE, axis=1)

    def _mixture(self, weights_BN: np.ndarray, hyp_BND: np.ndarray, point_BD: np.ndarray,
                 calib: UncertaintyCalibration) -> tuple[np.ndarray, np.ndarray]:
        """Route-frame (B, 3, 3) second moment of all hypotheses about the published point,
        with the uncertainty temperature's weights, and their entropy / log N in [0, 1]."""
        B, N, D = hyp_BND.shape
        dev = hyp_BND - point_BD[:, None, :]
        spread = np.zeros((B, 3, 3))
        spread[:, :D, :D] = (weights_BN[:, :, None] * dev).transpose(0, 2, 1) @ dev
        entropy = normalized_entropy(weights_BN) if calib.rotation_entropy_gain > 0 else np.zeros(B)
        return spread, entropy


@dataclass
class _Point:
    """One set of anchor heads, decoded: pooled confidences and hypotheses, the top k, the point."""

    conf: np.ndarray        # (B, N) at the fusion temperature, mean over the views
    hyp: np.ndarray         # (B, N, D) route
    top_idx: np.ndarray     # (B, k)
    top_conf: np.ndarray    # (B, k)
    chosen: np.ndarray      # (B,) the decode's anchor
    mean: np.ndarray        # (B, D) the published point, route
    temperature: float      # the one ``conf`` is at


def _conf_at(logits_rows: np.ndarray, t: float, views: int, pt: _Point) -> np.ndarray:
    """(B, N) view-mean softmax at temperature ``t`` (``pt.conf`` when it is at ``t``)."""
    return pt.conf if t == pt.temperature else view_softmax(logits_rows, t, views)


def mass_floor_scale(point_mass_B: np.ndarray, gain: float) -> np.ndarray:
    """(B,) the factor on each frame's position floor: 1 + gain x (1 - its point mass)."""
    return 1.0 + gain * (1.0 - np.asarray(point_mass_B, dtype=np.float64))


def anchor_spacing(anchors_ND: np.ndarray) -> float:
    """The median distance from each anchor to its nearest neighbour (1.0 for a single anchor)."""
    a = np.asarray(anchors_ND, dtype=np.float64)
    if len(a) < 2:
        return 1.0
    d2 = np.sum((a[:, None, :] - a[None, :, :]) ** 2, axis=2)
    np.fill_diagonal(d2, np.inf)
    spacing = float(np.median(np.sqrt(d2.min(axis=1))))
    return spacing if spacing > 0 else 1.0


def cluster_point(conf_BN: np.ndarray, hyp_BND: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(winning hypothesis index (B,), published point (B, D)) of cluster decoding (module doc)."""
    B, N, _ = hyp_BND.shape
    step = max(1, CLUSTER_PAIRS_PER_CHUNK // max(1, N * N))   # frames per chunk: bounded (N, N) memory
    winners, points = [], []
    for s in range(0, B, step):
        conf, hyp = conf_BN[s:s + step], hyp_BND[s:s + step]
        sq = np.einsum("bnd,bnd->bn", hyp, hyp)      # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, no (b, N, N, D) array
        d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * (hyp @ hyp.transpose(0, 2, 1))   # (b, N, N)
        near = (d2 <= radius * radius).astype(np.float64)
        winner = np.argmax(near @ conf[:, :, None], axis=1)[:, 0]                  # ties: lower index
        members = near[np.arange(len(winner)), winner] * conf                       # the winner included
        winners.append(winner)
        points.append(np.einsum("bn,bnd->bd", members, hyp) / members.sum(axis=1, keepdims=True))
    return np.concatenate(winners), np.concatenate(points)


def _frames(rows: np.ndarray, views: int) -> np.ndarray:
    """(B * V, ...) frame-major rows -> (B, V, ...)."""
    if len(rows) % views:
        raise ValueError(f"{len(rows)} output rows are not a whole number of frames of {views} views")
    return rows.reshape(len(rows) // views, views, *rows.shape[1:])


def view_softmax(logits_rows: np.ndarray, temperature: float, views: int) -> np.ndarray:
    """(B, N) softmax(logits / temperature) of each frame, averaged over its ``views`` rows."""
    return softmax(_frames(logits_rows, views) / temperature).mean(axis=1)


def _pooled(conf_BVN: np.ndarray, hyp_BVND: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor over the views: the mean confidence and the confidence-weighted mean hypothesis."""
    if conf_BVN.shape[1] == 1:
        return conf_BVN[:, 0], hyp_BVND[:, 0]
    total = np.maximum(conf_BVN.sum(axis=1), 1e-300)
    return conf_BVN.mean(axis=1), np.einsum("bvn,bvnd->bnd", conf_BVN, hyp_BVND) / total[:, :, None]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by its maximum so large logits cannot overflow."""
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


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
