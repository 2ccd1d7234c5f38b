"""Fit a committee (``core.model``) to a trained checkpoint and recalibrate it.

The committee is ``heads`` small anchor + offset heads, each from its own random start,
trained with the paper's loss on the frozen network's pooled features of the training
frames: the clean image and ``augmented_views`` augmented ones (the checkpoint's augmentation).
They see nothing the network did not. Where they land far from the network's estimate
the frame is one the training data pins down badly, and the calibration
(``training.calibration``, refitted on the validation frames afterwards) turns that
distance into covariance when it ranks the validation errors.

Measured on the bundled street weights (8 heads of 64 units, 3000 steps), Spearman of
sigma and error: see the README's Covariance section.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.anchors import AnchorSet
from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.decoding import DecodeOptions
from ..core.device import resolve_device
from ..core.errors import ConfigError
from ..core.loss import LossWeights, anchor_loss
from ..core.model import MAX_COMMITTEE_HEADS, RelocNet
from ..data.augment import AugmentParams
from .committee_config import CommitteeConfig
from .feature_cache import compute_features, encode_views
from .image_cache import load_images
from .recalibrate import Recalibration, recalibrate, training_set_splits
from .targets import Targets, make_targets


def fit_committee(model: RelocNet, feats_VNF: torch.Tensor, targets: Targets, weights: LossWeights,
                  config: CommitteeConfig) -> list[float]:
    """Give ``model`` a fresh committee and train it on ``feats_VNF`` (views x frames x
    features, frame n's targets at ``targets`` row n); the network itself is untouched.
    Returns each head's last-step loss."""
    model.with_committee(config.heads, config.hidden)
    V, N, _ = feats_VNF.shape
    feats_VNF = feats_VNF.float().cpu()
    with torch.no_grad():   # the network's own absolute head: the loss needs it, the committee has none
        absolute_VNA = torch.stack([model.cpu().eval().heads(f)["absolute_BA"] for f in feats_VNF])
    losses = []
    for k in range(config.heads):
        torch.manual_seed(config.seed * MAX_COMMITTEE_HEADS + k)
        anchor, offset = model.committee_anchor_heads[k], model.committee_offset_heads[k]
        for m in (anchor, offset):
            for layer in m.modules():
                if isinstance(layer, torch.nn.Linear):
                    layer.reset_parameters()
        params = [*anchor.parameters(), *offset.parameters()]
        optimizer = torch.optim.Adam(params, lr=config.lr)
        generator = torch.Generator().manual_seed(config.seed * MAX_COMMITTEE_HEADS + k)
        anchor.train(), offset.train()
        for _ in range(config.steps):
            vi = torch.randint(0, V, (config.batch_size,), generator=generator)
            fi = torch.randint(0, N, (config.batch_size,), generator=generator)
            f = feats_VNF[vi, fi]
            out = {"logits_BN": anchor(f), "offsets_BND": offset(f).view(len(f), -1, model.config.anchor_dims),
                   "absolute_BA": absolute_VNA[vi, fi]}
            b = targets.batch(fi)
            loss, _ = anchor_loss(out, b["offsets_BND"], b["absolute_BA"], b["nearest_B"], weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@dataclass
class CommitteeResult:
    recalibration: Recalibration
    losses: list[float]
    train_frames: int
    feature_seconds: float
    fit_seconds: float


def add_committee_to_checkpoint(weights: Path, data: Path, out: Path, config: CommitteeConfig = CommitteeConfig(),
                                device: str = "auto", val_split: bool = False,
                                decoding: DecodeOptions = DecodeOptions()) -> CommitteeResult:
    """Write ``out``: ``weights`` with a committee fitted on ``data``'s training frames (its
    training set, as ``calibrate``) and the calibration refitted on its validation frames."""
    contents = load_checkpoint(Path(weights))
    meta = contents.metadata
    if contents.model.config.head != "anchor":
        raise ConfigError(f"a committee needs an anchor-head checkpoint, {weights} is {contents.model.config.head}")
    splits = training_set_splits(Path(weights), Path(data), meta, val_split)   # before the slow part
    anchors = AnchorSet.from_metadata(meta["anchors"])
    targets = make_targets(np.stack([f.position for f in splits.train]), np.stack([f.quat_wxyz for f in splits.train]),
                           contents.frame, anchors, anchors.dims)
    t0 = time.perf_counter()
    dev = resolve_device(device)
    model = contents.model.to(dev)
    params = AugmentParams(**meta["augmentation"]) if meta.get("augmentation") else AugmentParams()
    feats = encode_views(lambda images, aug: compute_features(model, images, dev, aug),
                         load_images(splits.train, contents.image_size), params, config.augmented_views, config.seed)
    t1 = time.perf_counter()
    t = meta.get("training", {})
    loss_weights = LossWeights(float(t.get("alpha1", 1.0)), float(t.get("alpha2", 1.0)), float(t.get("alpha3", 1.0)))
    losses = fit_committee(model, feats, targets, loss_weights, config)
    t2 = time.perf_counter()
    meta = {**meta, "committee": {"heads": config.heads, "hidden": config.hidden, "steps": config.steps,
                                  "batch_size": config.batch_size, "lr": config.lr, "augmented_views": config.augmented_views,
                                  "seed": config.seed, "train_frames": len(splits.train)}}
    save_checkpoint(Path(out), model.cpu().float(), meta, half=meta.get("weights_dtype") == "float16")
    recal = recalibrate(Path(out), Path(data), Path(out), device, val_split, decoding)
    return CommitteeResult(recal, losses, len(splits.train), t1 - t0, t2 - t1)

