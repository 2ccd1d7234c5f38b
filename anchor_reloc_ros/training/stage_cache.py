"""Partial fine-tuning (``--train-stages N``): train the last N backbone stages on a CPU.

``core.backbones.split_backbone`` cuts the backbone into a frozen prefix and a trainable
suffix that share the model's modules, so the trained model, its checkpoints and its
ONNX export are the ordinary ``RelocNet``. The prefix runs once per image (the clean
view and every cached augmented view, as the frozen-feature cache does, and the
validation images); its activations are kept in memory as fp16 and on disk in the
same keyed safetensors cache, so a resumed run skips them. A training step then runs
suffix -> global pool -> heads on a batch of cached activations.

BatchNorm layers of the suffix stay in eval mode (frozen running statistics; their
affine weights still learn): batches of 32 correlated frames of one route would give
noisy batch statistics, and running statistics that drift during training would make
the trained network differ from the one validated and exported and would move the
pooled features away from the standardisation statistics set once at the start.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core.backbones import split_backbone
from ..core.model import RelocNet
from ..data.augment import Augmenter
from .feature_cache import image_batches


class StagedBackbone:
    """The model's backbone as (frozen prefix, trainable suffix) for cached-activation steps."""

    def __init__(self, model: RelocNet, train_stages: int) -> None:
        self.model = model
        self.prefix, self.suffix = split_backbone(model.config.backbone, model.backbone, train_stages)
        self.prefix.requires_grad_(False)

    def suffix_parameters(self) -> list[nn.Parameter]:
        return list(self.suffix.parameters())

    def train_mode(self) -> None:
        """Prefix in eval mode, suffix in train mode (dropout, drop-connect) with frozen BatchNorm."""
        self.model.backbone.eval()
        self.suffix.train()
        for module in self.suffix.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()

    def pool(self, activations: torch.Tensor) -> torch.Tensor:
        """Cached prefix activations (B, C, h, w) -> pooled backbone features (B, F)."""
        return self.suffix(activations.float()).mean(dim=(2, 3))

    @torch.inference_mode()
    def activations(self, images: np.ndarray, device: torch.device, augmenter: Augmenter | None = None,
                    batch_size: int = 32) -> torch.Tensor:
        """(N, C, h, w) fp16 prefix activations of uint8 images (CPU), optionally augmented first."""
        self.model.eval()
        chunks = [self.prefix(self.model.normalize(x)).half().cpu()
                  for x in image_batches(images, device, augmenter, batch_size)]
        return torch.cat(chunks) if chunks else torch.zeros((0, 0, 0, 0), dtype=torch.float16)

    @torch.inference_mode()
    def pooled_features(self, activations: torch.Tensor, device: torch.device,
                        batch_size: int = 256) -> torch.Tensor:
        """(M, F) pooled features of cached activations, eval mode (feature statistics, validation)."""
        self.model.eval()
        return torch.cat([self.pool(activations[s:s + batch_size].to(device))
                          for s in range(0, len(activations), batch_size)])

