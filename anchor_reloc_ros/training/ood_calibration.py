"""Attach the out-of-scene score (core/ood.py) to a checkpoint and calibrate its threshold.

The bank holds at most ``MAX_BANK_ROWS`` training features; the threshold is the
``quantile`` (0.99) of the scores of the VALIDATION frames (held out from the bank and
from fitting). ``anchor-reloc train`` calls ``calibrate_run_checkpoints`` after its last
epoch; ``add_ood_to_checkpoint`` (``anchor-reloc calibrate-ood``) does the same for an
existing checkpoint from its dataset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.errors import DatasetError
from ..core.model import RelocNet
from ..core.ood import (DEFAULT_K, MAX_BANK_ROWS, METADATA_KEY, OodCalibration, knn_cosine_distance,
                        log_feature_norm, log_norm_deviation, make_bank, ood_score)
from .feature_cache import compute_features
from .image_cache import load_images
from .prepare import checkpoint_train_val_frames

QUANTILE = 0.99


def calibrate_ood(model: RelocNet, train_feat_NF: torch.Tensor, val_feat_VF: torch.Tensor,
                  k: int = DEFAULT_K, quantile: float = QUANTILE,
                  rows: int = MAX_BANK_ROWS) -> OodCalibration:
    """Attach a bank of training features to ``model``; the threshold from validation scores."""
    if len(val_feat_VF) == 0:
        raise DatasetError("out-of-scene calibration needs validation frames (--val-every > 0)")
    bank = make_bank(train_feat_NF, rows).half().float()  # fp16-exact: the same in fp16 files
    val = val_feat_VF.float().cpu()
    log_norms = log_feature_norm(train_feat_NF.cpu())
    norm_3 = torch.stack([log_norms.mean(), log_norms.std(unbiased=False), torch.tensor(1.0)]).half().float()
    # weight: the magnitude term's validation quantile on the cosine's (both equal there)
    cos_q = np.quantile(knn_cosine_distance(val, bank, k).numpy(), quantile)
    dev_q = np.quantile(log_norm_deviation(val, norm_3).numpy(), quantile)
    norm_3[2] = float(cos_q / max(dev_q, 1e-6))
    norm_3 = norm_3.half().float()
    model.set_ood_bank(bank, k, norm_3)
    scores = ood_score(val, bank, k, norm_3).numpy()
    return OodCalibration(float(np.quantile(scores, quantile)), quantile, int(k),
                          float(np.median(scores)), int(len(scores)))


def _rewrite(path: Path, model: RelocNet, metadata: dict, calibration: OodCalibration,
             out: Path | None = None) -> Path:
    meta = {**metadata, METADATA_KEY: calibration.to_dict()}
    return save_checkpoint(out or path, model, meta, half=metadata.get("weights_dtype") == "float16")


def calibrate_run_checkpoints(paths: list[Path], train_feat_NF: torch.Tensor | None,
                              train_images: np.ndarray, val_images: np.ndarray,
                              device: torch.device) -> OodCalibration | None:
    """Training's hook: calibrate ``paths`` (best, last) in place.

    ``train_feat_NF`` (cached frozen-backbone features) is used when given; otherwise the
    features are computed by each checkpoint's own (fine-tuned) backbone.
    """
    calibration = None
    for path in paths:
        if not path.is_file():
            continue
        contents = load_checkpoint(path)
        model = contents.model.to(device)
        train_feats = train_feat_NF
        if train_feats is None:
            step = max(1, len(train_images) // MAX_BANK_ROWS)
            train_feats = compute_features(model, train_images[::step], device)
        val_feats = compute_features(model, val_images, device)
        calibration = calibrate_ood(model, train_feats.cpu(), val_feats)
        _rewrite(path, model.cpu(), contents.metadata, calibration)
    return calibration


def add_ood_to_checkpoint(weights: Path, data: Path, out: Path | None = None,
                          device: str = "cpu", val_split: bool = False, k: int = DEFAULT_K) -> OodCalibration:
    """Calibrate an existing checkpoint on the training split of ``data`` (its own split rule,
    or the dataset's val split with ``val_split``), scoring by the ``k``-th nearest neighbour."""
    contents = load_checkpoint(Path(weights))
    splits = checkpoint_train_val_frames(Path(data), contents.metadata, val_split)
    train_frames, val_frames = splits.train, splits.val
    step = max(1, len(train_frames) // MAX_BANK_ROWS)
    dev = torch.device(device)
    model = contents.model.to(dev)
    train_feats = compute_features(model, load_images(train_frames[::step], contents.image_size), dev)
    val_feats = compute_features(model, load_images(val_frames, contents.image_size), dev)
    calibration = calibrate_ood(model, train_feats, val_feats, k=k)
    _rewrite(Path(weights), model.cpu(), contents.metadata, calibration, out)
    return calibration
