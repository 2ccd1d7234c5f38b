"""Out-of-scene score: how far an image's pooled feature is from the training set.

The score is the cosine distance ``1 - cos`` of the pooled backbone feature to its
``k``-th nearest neighbour in a stored bank of training features (unit rows, at most
``MAX_BANK_ROWS``). Chosen on the street demo model against validation frames (AUROC,
k = 1, raw features): noise 1.00, black/white 1.00, the room scene 0.997; centring the
features on the training mean (0.10 / 0.83 / 0.89) and the energy score
``-logsumexp(logits)`` (1.00 / 0.16 / 0.88) were worse. A cosine ignores magnitude, and
once the threshold came from a shifted validation walk an all-white frame passed (its
feature points like a sky-heavy street frame's but is 2x longer than any training one):
with the magnitude statistics ``NORM_KEY`` the score is the larger of the cosine distance
and a weighted log-norm deviation (``ood_score``). It is computed inside the network
(``RelocNet.forward`` returns it as ``ood_score_B`` when a bank is attached), so the
checkpoint and the ONNX export carry the same signal. ``OodCalibration`` holds the
threshold chosen on validation frames; scores are reported relative to it (1.0 = the
``quantile`` of the validation scores).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

OOD_SCORE_KEY = "ood_score_B"
BANK_KEY = "ood_bank_MF"
NORM_KEY = "ood_norm_3"        # (mean, std) of log ||feature|| over the training features, weight
METADATA_KEY = "ood"
MAX_BANK_ROWS = 1000
# k: with the bundled street weights, each k calibrated on the val walk, the share of the
# corridor preset's val walk / uniform noise / the street val walk withheld at the gate's
# 0.9: k=1 96.0 / 58.3 / 6.0 %, k=3 96.7 / 97.7 / 6.0 %, k=5 98.7 / 100 / 5.3 %, k=7
# 99.3 / 100 / 4.0 %, k=10 99.3 / 100 / 4.7 %, k=20 99.3 / 100 / 6.7 %: 7 withholds the
# most foreign frames and the fewest own ones. The single nearest neighbour is fooled by one
# training frame that happens to look alike; the 7th needs a whole stretch of the route to.
DEFAULT_K = 7


def knn_cosine_distance(feat_BF: torch.Tensor, bank_MF: torch.Tensor, k: int) -> torch.Tensor:
    """(B,) cosine distance to the ``k``-th nearest bank row (bank rows: unit vectors)."""
    x = feat_BF.float()
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-6)
    sim_BM = x @ bank_MF.float().t()
    k = max(1, min(int(k), bank_MF.shape[0]))
    return 1.0 - torch.topk(sim_BM, k, dim=1).values[:, -1]


def log_feature_norm(feat_BF: torch.Tensor) -> torch.Tensor:
    """(B,) log ||f|| of pooled features."""
    return feat_BF.float().norm(dim=1).clamp_min(1e-6).log()


def log_norm_deviation(feat_BF: torch.Tensor, norm_3: torch.Tensor) -> torch.Tensor:
    """(B,) |log ||f|| - mean| / std: how far a feature's magnitude is from the training ones'."""
    return (log_feature_norm(feat_BF) - norm_3[0]).abs() / norm_3[1].clamp_min(1e-6)


def ood_score(feat_BF: torch.Tensor, bank_MF: torch.Tensor, k: int, norm_3: torch.Tensor | None) -> torch.Tensor:
    """(B,) the out-of-scene score: the cosine distance to the bank, or, with ``norm_3``, the
    larger of it and weight x the log-norm deviation (a blank frame's feature points like a
    scene's but is far larger or smaller; the weight puts both on the cosine's scale)."""
    score = knn_cosine_distance(feat_BF, bank_MF, k)
    if norm_3 is None:
        return score
    return torch.maximum(score, norm_3[2] * log_norm_deviation(feat_BF, norm_3))


def make_bank(train_feat_NF: torch.Tensor, rows: int = MAX_BANK_ROWS, seed: int = 0) -> torch.Tensor:
    """(M, F) unit rows: the training features, a random subset of <= ``rows``."""
    feats = train_feat_NF.detach().float().cpu()
    if feats.ndim != 2 or len(feats) == 0:
        raise ValueError(f"need a non-empty (N, F) feature matrix, got shape {tuple(feats.shape)}")
    if len(feats) > rows:
        perm = torch.randperm(len(feats), generator=torch.Generator().manual_seed(seed))
        feats = feats[perm[:rows]]
    return feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-6)


@dataclass(frozen=True)
class OodCalibration:
    """Threshold of the raw score (the ``quantile`` of validation scores) + reference quantiles."""

    threshold: float
    quantile: float
    k: int
    val_median: float
    val_frames: int

    def relative(self, raw_score: float) -> float:
        """The score in units of the threshold (1.0 = the validation quantile)."""
        return float(raw_score) / max(self.threshold, 1e-9)

    def to_dict(self) -> dict:
        return {"score": "max(knn_cosine_distance, w * log_norm_deviation)", "threshold": self.threshold, "quantile": self.quantile,
                "k": self.k, "val_median": self.val_median, "val_frames": self.val_frames}

    @staticmethod
    def from_metadata(metadata: dict) -> "OodCalibration | None":
        d = metadata.get(METADATA_KEY)
        if not d:
            return None
        return OodCalibration(float(d["threshold"]), float(d["quantile"]), int(d["k"]),
                              float(d["val_median"]), int(d["val_frames"]))
