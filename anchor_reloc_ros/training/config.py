"""Everything a training run needs, in one serialisable dataclass."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..core.backbones import check_train_stages
from ..core.errors import ConfigError

# Where validation frames come from: "split" the dataset's own val split (required), "train"
# every val_every-th training frame, "auto" the first when the dataset has one, else the second.
VAL_SOURCES = ("auto", "split", "train")


@dataclass
class TrainConfig:
    data: Path
    out: Path
    head: str = "anchor"
    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    freeze_backbone: bool = False
    train_stages: int = 0            # >0: train the last N backbone stages on cached prefix activations
    anchor_every: int = 10
    anchor_dims: int = 2
    up_axis: str = "auto"
    image_size: tuple[int, int] = (224, 224)
    epochs: int = 60
    min_steps: int = 2000            # with --freeze-backbone / --train-stages: at least this many optimiser steps
    batch_size: int = 32
    lr: float = 1e-3
    backbone_lr_scale: float = 0.1   # backbone learns slower than the fresh heads
    weight_decay: float = 1e-4
    lr_step: int = 0                 # StepLR period in epochs; 0 -> cosine decay
    lr_gamma: float = 0.5
    alpha1: float = 1.0              # CE to the nearest anchor; the paper's 0 lets the softmax collapse
    label_smoothing: float = 0.0     # share of the CE target spread over all anchors
    ema_decay: float = 0.0           # >0: validate and save an exponential moving average of the weights
    alpha2: float = 1.0
    alpha3: float = 1.0
    head_hidden: int = 512
    dropout: float = 0.1
    trunk: str = "separate"          # one hidden layer per head ("shared": one feeds every head)
    feature_norm: bool = False       # standardise pooled features with the training set's statistics;
                                     # off: it doubled errors on walks shifted from the training walk
    augment: bool = True
    feature_cache_augmentations: int | None = None  # augmented copies cached with --freeze-backbone (None: auto)
    val_source: str = "auto"               # auto: the dataset's own val split if it has one, else val_every
    val_every: int = 10                    # every n-th training frame held out for validation
    choose_decode: bool = True             # pick best.safetensors' decode on the dataset's own val split
    committee_heads: int = 0               # > 0: fit a committee of this many heads to best.safetensors
    device: str = "auto"
    amp: bool = True                       # mixed precision on CUDA
    workers: int = 0
    seed: int = 0
    resume: bool = False
    save_half: bool = False                # store fp16 weights (smaller files)
    threads: int = 0                       # CPU threads for torch (0 = torch default)
    save_every_s: float = 30.0             # write last/state at most this often (and at the end)
    feature_cache: Path | None = None      # frozen-feature cache file (default: OUT/feature_cache.safetensors)
    kitti_test_every: int = 5              # KITTI data: every n-th frame is the test split (eval reuses it)

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.min_steps >= 0, f"--min-steps must be >= 0, got {self.min_steps}"),
            (self.feature_cache_augmentations is None or self.feature_cache_augmentations >= 0,
             f"--cached-views must be >= 0, got {self.feature_cache_augmentations}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.anchor_every >= 1, f"--anchor-every must be >= 1, got {self.anchor_every}"),
            (min(self.image_size) >= 32, f"--image-size must be at least 32 pixels, got {self.image_size}"),
            (self.val_source in VAL_SOURCES,
             f"--val-source must be one of {', '.join(VAL_SOURCES)}, got {self.val_source!r}"),
            (self.val_every == 0 or self.val_every >= 2, f"--val-every must be 0 or >= 2, got {self.val_every}"),
            (min(self.alpha1, self.alpha2, self.alpha3) >= 0, "loss weights must be >= 0"),
            (0 <= self.label_smoothing < 1, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}"),
            (0 <= self.ema_decay < 1, f"--ema-decay must be in [0, 1), got {self.ema_decay}"),
            (self.kitti_test_every >= 2, f"--kitti-test-every must be >= 2, got {self.kitti_test_every}"),
            (self.committee_heads >= 0, f"--committee-heads must be >= 0, got {self.committee_heads}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.train_stages:
            if self.freeze_backbone:
                raise ConfigError("--train-stages and --freeze-backbone exclude each other: pick one")
            check_train_stages(self.backbone, self.train_stages)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["data"], d["out"] = str(self.data), str(self.out)
        d["feature_cache"] = str(self.feature_cache) if self.feature_cache else None
        d["image_size"] = list(self.image_size)
        return d

    @staticmethod
    def from_dict(d: dict) -> "TrainConfig":
        known = {f.name for f in fields(TrainConfig)}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["data"], kwargs["out"] = Path(kwargs["data"]), Path(kwargs["out"])
        if kwargs.get("feature_cache"):
            kwargs["feature_cache"] = Path(kwargs["feature_cache"])
        kwargs["image_size"] = tuple(kwargs.get("image_size", (224, 224)))
        return TrainConfig(**kwargs)


def parse_image_size(text: str) -> tuple[int, int]:
    """``224`` -> (224, 224); ``256x192`` (W x H) -> (192, 256) as (H, W)."""
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x"))
            return h, w
        s = int(text)
        return s, s
    except ValueError:
        raise ConfigError(f"--image-size must be N or WxH, got {text!r}") from None
