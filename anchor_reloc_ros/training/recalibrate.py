"""Refit an existing checkpoint's uncertainty calibration on its held-out validation frames.

The validation frames are the ones the trainer held out of the checkpoint's own training
set (``checkpoint_train_val_frames``: the rule its training resolved, or the dataset's own
val split on request), so the dataset must be the
one it was trained on (same fingerprint). Only the ``calibration`` metadata changes; the
weights are written back unchanged (fp16 stays fp16).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.decoding import DecodeOptions, UncertaintyCalibration
from ..core.errors import ConfigError
from ..core.localizer import Localizer
from ..core.uncertainty import uncertainty_summary
from .calibration import calibrate
from .image_cache import dataset_fingerprint, read_rgb
from .prepare import TrainValFrames, checkpoint_train_val_frames


@dataclass
class Recalibration:
    calibration: UncertaintyCalibration
    previous: UncertaintyCalibration
    val_frames: int
    validation: dict[str, object]   # uncertainty_summary on the validation frames, in the decode calibrated for
    decoding: DecodeOptions


def recalibrate(weights: Path, data: Path, out: Path, device: str = "auto", val_split: bool = False,
                decoding: DecodeOptions = DecodeOptions(),
                outputs: dict[str, np.ndarray] | None = None) -> Recalibration:
    """Write ``out``: ``weights`` with its calibration refitted on ``data``'s validation frames
    (the checkpoint's rule, or the dataset's own val split with ``val_split``), for ``decoding``
    (``auto``: the decode it is calibrated for now), which the new calibration records.
    ``outputs``: those frames' raw head outputs for ``decoding.views``, when already computed."""
    weights, data = Path(weights), Path(data)
    if weights.suffix != ".safetensors":
        raise ConfigError(f"calibrate needs a .safetensors checkpoint, got {weights} "
                          "(recalibrate first, then export to ONNX)")
    contents = load_checkpoint(weights)
    decoding = decoding.resolved(contents.calibration)   # auto: the decode it was calibrated for so far
    meta = contents.metadata
    val = training_set_splits(weights, data, meta, val_split).val
    localizer = Localizer(contents, device=device, source=str(weights))
    if outputs is None:
        outputs = head_outputs(localizer, [str(f.image_path) for f in val], decoding.views)
    gt_p = np.stack([f.position for f in val])
    gt_q = np.stack([f.quat_wxyz for f in val])
    new = calibrate(localizer.decoder, outputs, gt_p, gt_q, contents.calibration.temperature, decoding)
    decoded = localizer.decoder.decode(outputs, decoding, new)
    meta = {**meta, "calibration": new.to_dict(),
            "recalibrated": {"from": str(weights), "data": str(data), "val_frames": len(val),
                             "decode": decoding.mode, "views": decoding.views,
                             "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}
    save_checkpoint(Path(out), contents.model.cpu().float(), meta, half=meta.get("weights_dtype") == "float16")
    return Recalibration(new, contents.calibration, len(val),
                         uncertainty_summary(decoded.positions, gt_p, decoded.covariances), decoding)


def training_set_splits(weights: Path, data: Path, meta: dict, val_split: bool) -> TrainValFrames:
    """``data``'s training and validation frames for the checkpoint ``weights`` (metadata
    ``meta``); ConfigError unless ``data`` is its training set and has validation frames."""
    splits = checkpoint_train_val_frames(data, meta, val_split)
    if dataset_fingerprint(splits.dataset.frames) != meta.get("dataset", {}).get("fingerprint"):
        raise ConfigError(f"{data} is not the training set of {weights} (dataset fingerprint differs): "
                          "only that set's held-out validation frames are known to be unseen")
    if not splits.val:
        raise ConfigError(f"{weights} was trained without validation frames (val_every "
                          f"{meta['training']['val_every']}): nothing held out to calibrate on")
    return splits


@torch.inference_mode()
def head_outputs(localizer: Localizer, paths: list[str], views: int, batch: int = 16) -> dict[str, np.ndarray]:
    """Raw head outputs of the images at ``paths``, their views cropped as the localizer does."""
    chunks = [localizer.run_views([read_rgb(p) for p in paths[s:s + batch]], views)
              for s in range(0, len(paths), batch)]
    return {k: np.concatenate([c[k].float().cpu().numpy() for c in chunks]) for k in chunks[0]}
