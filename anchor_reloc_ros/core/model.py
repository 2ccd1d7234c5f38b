"""The relocalization network: backbone -> global average pool -> heads.

Two head types share every other part, so the PoseNet control is a true
side-by-side comparison (the paper's Table 4):

* ``anchor``: anchor logits (N), offsets to every anchor (N x dims) and an absolute
  head (the non-anchored route coordinate(s) + a quaternion).
* ``posenet``: direct position (3, route frame) + quaternion.

``trunk="shared"`` puts one hidden layer in front of all heads (each head is then
linear); ``"separate"`` gives every head its own hidden layer (older checkpoints).
``feature_norm`` standardises the pooled features with the training set's per-channel
mean and std, stored as buffers so checkpoints and ONNX exports carry them.

A committee (``committee_heads`` > 0, anchor heads only; ``with_committee``) is a set of
small anchor + offset heads fitted afterwards on the same pooled features
(``training.committee``). They are not used for the pose: how far their estimates fall
from the network's widens its covariance (``core.decoding``).

The network takes ``image_B3HW`` as float pixels in 0..255 and normalises inside, so
the exported ONNX graph and the torch model need the same (trivial) preprocessing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from .backbones import get_backbone_spec
from .errors import ConfigError
from .ood import BANK_KEY, DEFAULT_K, NORM_KEY, OOD_SCORE_KEY, ood_score

HEAD_TYPES = ("anchor", "posenet")
TRUNK_TYPES = ("shared", "separate")
COMMITTEE_LOGITS_KEY = "committee_logits_BKN"     # (B, K, N) each committee member's anchor logits
COMMITTEE_OFFSETS_KEY = "committee_offsets_BKND"  # (B, K, N, D) and its offsets to every anchor
MAX_COMMITTEE_HEADS = 64


@dataclass(frozen=True)
class ModelConfig:
    backbone: str
    head: str = "anchor"
    num_anchors: int = 0
    anchor_dims: int = 2
    head_hidden: int = 512  # 0: a single linear layer per head, as in the paper
    dropout: float = 0.1
    trunk: str = "separate"     # "shared": one hidden layer feeds every (linear) head
    feature_norm: bool = False  # standardise pooled features (stats stored as buffers)
    committee_heads: int = 0    # small anchor + offset heads whose disagreement widens the covariance
    committee_hidden: int = 64  # their hidden width

    def __post_init__(self) -> None:
        if self.head not in HEAD_TYPES:
            raise ConfigError(f"--head must be one of {HEAD_TYPES}, got {self.head!r}")
        if self.head == "anchor" and self.num_anchors < 1:
            raise ConfigError("an anchor head needs at least one anchor")
        if self.anchor_dims not in (2, 3):
            raise ConfigError(f"anchor dims must be 2 or 3, got {self.anchor_dims}")
        if self.trunk not in TRUNK_TYPES:
            raise ConfigError(f"trunk must be one of {TRUNK_TYPES}, got {self.trunk!r}")
        if not 0 <= self.committee_heads <= MAX_COMMITTEE_HEADS or self.committee_hidden < 1:
            raise ConfigError(f"a committee needs 0..{MAX_COMMITTEE_HEADS} heads of width >= 1, got "
                              f"{self.committee_heads} of {self.committee_hidden}")
        if self.committee_heads and self.head != "anchor":
            raise ConfigError("a committee needs an anchor head")

    @property
    def absolute_dim(self) -> int:
        """Outputs of the absolute head: non-anchored coordinates + quaternion."""
        return (3 - self.anchor_dims) + 4

    def to_dict(self) -> dict:
        return asdict(self)


def _head(in_dim: int, out_dim: int, hidden: int, dropout: float) -> nn.Module:
    if hidden <= 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout), nn.Linear(hidden, out_dim))


class RelocNet(nn.Module):
    def __init__(self, config: ModelConfig, pretrained: bool = False) -> None:
        super().__init__()
        self.config = config
        spec = get_backbone_spec(config.backbone)
        self.backbone = spec.build(pretrained)
        self.register_buffer("mean_3", torch.tensor(spec.mean) * 255.0, persistent=False)
        self.register_buffer("std_3", torch.tensor(spec.std) * 255.0, persistent=False)
        f, h, p = spec.feature_dim, config.head_hidden, config.dropout
        if config.feature_norm:
            self.register_buffer("feat_mean_F", torch.zeros(f))
            self.register_buffer("feat_std_F", torch.ones(f))
        self.trunk: nn.Module = nn.Identity()
        if config.trunk == "shared" and h > 0:
            self.trunk = nn.Sequential(nn.Linear(f, h), nn.ReLU(inplace=True), nn.Dropout(p))
            f, h, p = h, 0, 0.0  # the heads are then plain linear layers
        if config.head == "anchor":
            n = config.num_anchors
            self.anchor_head = _head(f, n, h, p)
            self.offset_head = _head(f, n * config.anchor_dims, h, p)
            self.absolute_head = _head(f, config.absolute_dim, h, p)
        else:
            self.position_head = _head(f, 3, h, p)
            self.rotation_head = _head(f, 4, h, p)
        self._build_committee()
        # Out-of-scene score (core/ood.py): a bank of training features, attached after training.
        self.register_buffer(BANK_KEY, None)
        self.register_buffer(NORM_KEY, None)   # optional: the feature-magnitude term of the score
        self.ood_k = DEFAULT_K

    def _build_committee(self) -> None:
        c, f = self.config, get_backbone_spec(self.config.backbone).feature_dim
        self.committee_anchor_heads = nn.ModuleList(
            [_head(f, c.num_anchors, c.committee_hidden, c.dropout) for _ in range(c.committee_heads)])
        self.committee_offset_heads = nn.ModuleList(
            [_head(f, c.num_anchors * c.anchor_dims, c.committee_hidden, c.dropout) for _ in range(c.committee_heads)])
        self.committee_anchor_heads.train(self.training)   # a model in eval mode gets eval-mode heads
        self.committee_offset_heads.train(self.training)

    def with_committee(self, heads: int, hidden: int) -> RelocNet:
        """Replace the committee with ``heads`` fresh (untrained) ones of width ``hidden``."""
        self.config = replace(self.config, committee_heads=int(heads), committee_hidden=int(hidden))
        self._build_committee()
        return self.to(next(self.parameters()).device)

    def committee(self, feat_BF: torch.Tensor) -> dict[str, torch.Tensor]:
        """The committee's outputs from the raw pooled features (none without a committee)."""
        if not self.config.committee_heads:
            return {}
        N, D = self.config.num_anchors, self.config.anchor_dims
        return {COMMITTEE_LOGITS_KEY: torch.stack([h(feat_BF) for h in self.committee_anchor_heads], dim=1),
                COMMITTEE_OFFSETS_KEY: torch.stack([h(feat_BF).view(-1, N, D) for h in self.committee_offset_heads],
                                                   dim=1)}

    def normalize(self, image_B3HW: torch.Tensor) -> torch.Tensor:
        """0..255 pixels -> the backbone's input normalisation."""
        return (image_B3HW - self.mean_3.view(1, 3, 1, 1)) / self.std_3.view(1, 3, 1, 1)

    def features(self, image_B3HW: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features ``feat_BF`` from 0..255 pixels."""
        return self.backbone(self.normalize(image_B3HW)).mean(dim=(2, 3))

    def set_feature_stats(self, feat_NF: torch.Tensor) -> None:
        """Standardise with the per-channel mean and std of training features ``feat_NF``."""
        if not self.config.feature_norm:
            return
        feat_NF = feat_NF.detach().float()
        std_F = feat_NF.std(dim=0, unbiased=False)
        # Near-constant channels (dead ReLUs) must not be blown up: floor at 10 % of the median.
        floor = max(float(std_F.median()) * 0.1, 1e-6)
        self.feat_mean_F.copy_(feat_NF.mean(dim=0))
        self.feat_std_F.copy_(std_F.clamp_min(floor))

    def set_ood_bank(self, bank_MF: torch.Tensor, k: int = DEFAULT_K, norm_3: torch.Tensor | None = None) -> None:
        """Attach the training-feature bank (and the magnitude statistics): ``forward`` then also
        returns ``ood_score_B``."""
        ref = next(self.parameters())
        setattr(self, BANK_KEY, bank_MF.detach().to(ref.device, ref.dtype))
        setattr(self, NORM_KEY, None if norm_3 is None else norm_3.detach().to(ref.device, ref.dtype))
        self.ood_k = int(k)

    def heads(self, feat_BF: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        committee = self.committee(feat_BF)
        if c.feature_norm:
            feat_BF = (feat_BF - self.feat_mean_F) / self.feat_std_F
        feat_BF = self.trunk(feat_BF)
        if c.head == "anchor":
            return {
                "logits_BN": self.anchor_head(feat_BF),
                "offsets_BND": self.offset_head(feat_BF).view(-1, c.num_anchors, c.anchor_dims),
                "absolute_BA": self.absolute_head(feat_BF),
                **committee,
            }
        return {"position_B3": self.position_head(feat_BF), "quat_B4": self.rotation_head(feat_BF)}

    def forward(self, image_B3HW: torch.Tensor) -> dict[str, torch.Tensor]:
        feat_BF = self.features(image_B3HW)
        out = self.heads(feat_BF)
        bank = getattr(self, BANK_KEY)
        if bank is not None:
            out[OOD_SCORE_KEY] = ood_score(feat_BF, bank, self.ood_k, getattr(self, NORM_KEY))
        return out

    def head_parameters(self) -> list[nn.Parameter]:
        """The pose heads' (and trunk's) parameters: not the backbone's, nor the committee's."""
        return [p for name, p in self.named_parameters() if not name.startswith(("backbone.", "committee_"))]
