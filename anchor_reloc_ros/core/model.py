"""The relocalization network: backbone -> global average pool -> heads.

Two head types share every other part, so the PoseNet control is a true
side-by-side comparison (the paper's Table 4):

* ``anchor``: anchor logits (N), offsets to every anchor (N x dims) and an absolute
  head (the non-anchored route coordinate(s) + a quaternion).
* ``posenet``: direct position (3, route frame) + quaternion.

The network takes ``image_B3HW`` as float pixels in 0..255 and normalises inside, so
the exported ONNX graph and the torch model need the same (trivial) preprocessing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .backbones import get_backbone_spec
from .errors import ConfigError

HEAD_TYPES = ("anchor", "posenet")


@dataclass(frozen=True)
class ModelConfig:
    backbone: str
    head: str = "anchor"
    num_anchors: int = 0
    anchor_dims: int = 2
    head_hidden: int = 512  # 0: a single linear layer per head, as in the paper
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.head not in HEAD_TYPES:
            raise ConfigError(f"--head must be one of {HEAD_TYPES}, got {self.head!r}")
        if self.head == "anchor" and self.num_anchors < 1:
            raise ConfigError("an anchor head needs at least one anchor")
        if self.anchor_dims not in (2, 3):
            raise ConfigError(f"anchor dims must be 2 or 3, got {self.anchor_dims}")

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
        if config.head == "anchor":
            n = config.num_anchors
            self.anchor_head = _head(f, n, h, p)
            self.offset_head = _head(f, n * config.anchor_dims, h, p)
            self.absolute_head = _head(f, config.absolute_dim, h, p)
        else:
            self.position_head = _head(f, 3, h, p)
            self.rotation_head = _head(f, 4, h, p)

    def features(self, image_B3HW: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features ``feat_BF`` from 0..255 pixels."""
        x = (image_B3HW - self.mean_3.view(1, 3, 1, 1)) / self.std_3.view(1, 3, 1, 1)
        return self.backbone(x).mean(dim=(2, 3))

    def heads(self, feat_BF: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        if c.head == "anchor":
            return {
                "logits_BN": self.anchor_head(feat_BF),
                "offsets_BND": self.offset_head(feat_BF).view(-1, c.num_anchors, c.anchor_dims),
                "absolute_BA": self.absolute_head(feat_BF),
            }
        return {"position_B3": self.position_head(feat_BF), "quat_B4": self.rotation_head(feat_BF)}

    def forward(self, image_B3HW: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.features(image_B3HW))

    def head_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("backbone.")]
