"""Frozen-backbone feature cache: run the backbone once, train the heads for many epochs.

With ``--freeze-backbone`` the pooled features of every training image are computed
once (plus a few augmented copies, so augmentation still helps), which makes CPU
training fast. The cache is kept on disk next to the run, keyed by everything that
changes the features, so a resumed run does not recompute it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..core.model import RelocNet
from ..core.preprocessing import to_network_input
from ..data.augment import Augmenter, AugmentParams


def image_batches(images: np.ndarray, device: torch.device, augmenter: Augmenter | None = None,
                  batch_size: int = 64) -> Iterator[torch.Tensor]:
    """float B3HW network inputs of uint8 images, in order, each optionally augmented first."""
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        if augmenter is not None:
            chunk = np.stack([augmenter(im) for im in chunk])
        yield to_network_input(torch.from_numpy(np.ascontiguousarray(chunk)), device, torch.float32)


@torch.inference_mode()
def compute_features(model: RelocNet, images: np.ndarray, device: torch.device,
                     augmenter: Augmenter | None = None, batch_size: int = 64) -> torch.Tensor:
    """(N, F) pooled features of uint8 images, optionally augmented first."""
    model.eval()
    feats = [model.features(x).float().cpu() for x in image_batches(images, device, augmenter, batch_size)]
    if not feats:
        return torch.zeros((0, 0))
    return torch.cat(feats)


def encode_views(encode: Callable[[np.ndarray, Augmenter | None], torch.Tensor], images: np.ndarray,
                 params: AugmentParams | None, copies: int, seed: int,
                 after_each: Callable[[], None] = lambda: None) -> torch.Tensor:
    """(1 + copies, ...) ``encode`` of the clean images and of ``copies`` augmented ones, view v
    seeded ``seed * 1000 + v`` (the training cache's and the committee's views)."""
    views = [encode(images, None)]
    after_each()
    for view in range(copies):
        views.append(encode(images, Augmenter(params, seed=seed * 1000 + view + 1)))
        after_each()
    return torch.stack(views)


def cache_summary(label: str, tensors: dict[str, torch.Tensor], seconds: float, loaded: bool) -> str:
    """One line: what a feature or activation cache holds, its memory and how long it took."""
    train, val = tensors["train"], tensors["val"]
    size_mb = sum(t.numel() * t.element_size() for t in tensors.values()) / 1e6
    shape = "x".join(str(v) for v in train.shape[2:])
    how = "loaded from disk" if loaded else "computed"
    return (f"{label}: {train.shape[0]} views x {train.shape[1]} train + {len(val)} val images, "
            f"{shape} {str(train.dtype).removeprefix('torch.')} each, {size_mb:.1f} MB in memory, "
            f"{how} in {seconds:.1f} s")


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def load_or_compute(path: Path, key: str, compute: "callable[[], dict[str, torch.Tensor]]") -> dict[str, torch.Tensor]:
    """Reuse ``path`` when its stored key matches, else compute and store atomically."""
    if path.is_file():
        try:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as fh:
                stored_key = (fh.metadata() or {}).get("key")
            if stored_key == key:
                return load_file(str(path))
        except (OSError, ValueError, RuntimeError):
            pass  # unreadable cache: recompute it below
    tensors = compute()
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"key": key})
    tmp.replace(path)
    return tensors
