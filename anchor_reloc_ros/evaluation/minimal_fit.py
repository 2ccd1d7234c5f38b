"""The control for the training recipe: a minimal full-batch fit on the same frozen features.

``benchmark`` runs it next to ``train``: same data preparation (route frame, anchors,
targets) and the same cached backbone features, but none of the trainer's machinery (no
mini-batches, schedule, validation-based checkpoint choice or calibration). It standardises
the features, puts one hidden layer (256, ReLU, dropout 0.2) in front of linear heads and
runs Adam at 1e-3 for 2000 full-batch steps on every cached view, the reference
experiment of the project notes. If ``train`` ever loses to it, the recipe has regressed.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from ..core.checkpoint import CheckpointContents
from ..core.decoding import UncertaintyCalibration
from ..core.loss import LossWeights, reloc_loss
from ..core.model import ModelConfig, RelocNet
from ..training.config import TrainConfig
from ..training.trainer import Trainer

STEPS = 2000
LR = 1e-3
HIDDEN = 256
DROPOUT = 0.2


def minimal_fit(config: TrainConfig, steps: int = STEPS) -> CheckpointContents:
    """Fit the heads on ``config``'s cached frozen features; an in-memory checkpoint."""
    trainer = Trainer(replace(config, freeze_backbone=True), progress=False)
    features = trainer.features["train"]                       # (views, N, F)
    views, n, _ = features.shape
    x = features.reshape(views * n, -1).to(trainer.device)
    targets = {k: v.to(trainer.device) for k, v in trainer.data.train_targets.batch(torch.arange(n).repeat(views)).items()}
    c = trainer.model_config
    model = RelocNet(ModelConfig(c.backbone, c.head, c.num_anchors, c.anchor_dims, HIDDEN, DROPOUT, "shared", True))
    model.backbone.load_state_dict(trainer.model.backbone.state_dict())
    model.to(trainer.device).set_feature_stats(x)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.head_parameters(), lr=LR)
    weights = LossWeights(1.0, 1.0, 1.0) if c.head == "anchor" else LossWeights(0.0, 1.0, 1.0)
    model.train()
    for _ in range(steps):
        loss, _ = reloc_loss(model.heads(x), targets, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval().cpu()
    anchors = trainer.data.anchors.positions_route if trainer.data.anchors is not None else torch.zeros((0, 3)).numpy()
    metadata = {"model": model.config.to_dict(), "preprocessing": {"image_size": list(config.image_size)}}
    return CheckpointContents(model, metadata, trainer.data.frame, anchors, UncertaintyCalibration())
