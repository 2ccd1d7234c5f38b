"""Training losses: the paper's equation 4 for the anchor head, and PoseNet's.

Anchor head (Saha et al., eq. 4), per image, averaged over the batch::

    a1 * CE(C, nearest anchor)                   (target optionally smoothed, see below)
  + a2 * sum_i C_i * ||o_i - o^_i||^2          (C = softmax of the anchor logits)
  + a3 * (||z - z^||^2 + ||q - q^/|q^| ||^2)

With a1 = 0 (the default, as the paper and the authors' code) the network discovers
its own relevant anchor. Positions are in route units (see ``anchors.RouteFrame``).
``label_smoothing`` e moves e of the CE target's mass from the nearest anchor to all N
evenly, so the softmax on training frames is never one-hot.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    alpha1: float = 0.0  # cross-entropy to the nearest anchor (0 disables the term)
    alpha2: float = 1.0  # confidence-weighted offset error
    alpha3: float = 1.0  # absolute coordinate(s) + quaternion error
    label_smoothing: float = 0.0  # share of the CE target spread over all anchors (0 = one-hot)

    def to_dict(self) -> dict:
        return asdict(self)


def quaternion_error(quat_pred_B4: torch.Tensor, quat_true_B4: torch.Tensor) -> torch.Tensor:
    """Per-image ``||q - q^/|q^| ||^2`` (targets are unit, w >= 0)."""
    unit = quat_pred_B4 / quat_pred_B4.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return ((quat_true_B4 - unit) ** 2).sum(dim=1)


def anchor_loss(outputs: dict[str, torch.Tensor], offsets_BND: torch.Tensor,
                absolute_BA: torch.Tensor, nearest_B: torch.Tensor,
                weights: LossWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """Equation 4. ``absolute_BA`` = non-anchored coordinate(s) then quaternion (wxyz)."""
    logits_BN = outputs["logits_BN"]
    conf_BN = torch.softmax(logits_BN, dim=1)
    sq_err_BN = ((outputs["offsets_BND"] - offsets_BND) ** 2).sum(dim=2)
    offset_term = (conf_BN * sq_err_BN).sum(dim=1).mean()

    n_coord = absolute_BA.shape[1] - 4
    pred_abs = outputs["absolute_BA"]
    coord_term = ((pred_abs[:, :n_coord] - absolute_BA[:, :n_coord]) ** 2).sum(dim=1)
    absolute_term = (coord_term + quaternion_error(pred_abs[:, n_coord:], absolute_BA[:, n_coord:])).mean()

    total = weights.alpha2 * offset_term + weights.alpha3 * absolute_term
    parts = {"offset": float(offset_term.detach()), "absolute": float(absolute_term.detach())}
    if weights.alpha1 > 0.0:
        ce_term = F.cross_entropy(logits_BN, nearest_B, label_smoothing=weights.label_smoothing)
        total = total + weights.alpha1 * ce_term
        parts["ce"] = float(ce_term.detach())
    parts["total"] = float(total.detach())
    return total, parts


def posenet_loss(outputs: dict[str, torch.Tensor], position_B3: torch.Tensor,
                 quat_B4: torch.Tensor, weights: LossWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """Direct regression: a2 * ||p - p^||^2 + a3 * ||q - q^/|q^| ||^2 (the paper's control)."""
    position_term = ((outputs["position_B3"] - position_B3) ** 2).sum(dim=1).mean()
    rotation_term = quaternion_error(outputs["quat_B4"], quat_B4).mean()
    total = weights.alpha2 * position_term + weights.alpha3 * rotation_term
    return total, {"position": float(position_term.detach()),
                   "rotation": float(rotation_term.detach()), "total": float(total.detach())}


def reloc_loss(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
               weights: LossWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss matching the head that produced ``outputs``."""
    if "logits_BN" in outputs:
        return anchor_loss(outputs, targets["offsets_BND"], targets["absolute_BA"],
                           targets["nearest_B"], weights)
    return posenet_loss(outputs, targets["position_B3"], targets["quat_B4"], weights)
