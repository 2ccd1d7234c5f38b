"""``anchor-reloc train``: train an anchor-point (or PoseNet) relocalizer."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..core.anchors import UP_AXIS_CHOICES
from ..core.backbones import BACKBONES
from ..core.device import DEVICE_CHOICES
from ..core.model import HEAD_TYPES, TRUNK_TYPES
from ..core.options import OptionSpec, add_arguments, values_from_args
from ..training.config import VAL_SOURCES, TrainConfig, parse_image_size


def _flag(name: str, help: str, **details: object) -> OptionSpec:
    """A TrainConfig field's flag; its default comes from TrainConfig (``_specs``)."""
    return OptionSpec(name, None, help, **details)  # type: ignore[arg-type]


# The TrainConfig fields that are flags, shared by ``train`` and ``benchmark`` (in --help order).
MODEL_FLAGS = (
    _flag("backbone", "image backbone", choices=tuple(sorted(BACKBONES))),
    _flag("pretrained", "start from ImageNet weights (offline only for efficientnet_lite0)"),
    _flag("freeze_backbone", "train the heads on cached backbone features (fast on a CPU)"),
    _flag("train_stages", "train only the last N backbone stages on cached activations of the frozen "
          "early stages (CPU fine-tuning; 0 = off)", metavar="N"),
    _flag("anchor_every", "an anchor at every K-th training frame", metavar="K"),
    _flag("anchor_dims", "2: anchor the route's horizontal plane (paper); 3: all axes (drones)", choices=(2, 3)),
    _flag("up_axis", "world up axis; auto = least-variance direction of the training trajectory",
          choices=UP_AXIS_CHOICES),
    _flag("image_size", "network input size", parse=parse_image_size, metavar="N|WxH"),
    _flag("epochs", "passes over the training set"),
    _flag("min_steps", "with --freeze-backbone or --train-stages, raise --epochs until this many "
          "optimiser steps (0 = off)"),
    _flag("feature_cache_augmentations", "augmented copies per image in the frozen-feature / stage cache "
          "(default: auto, 4..20 for about 2000 samples)", flag="--cached-views", parse=int, metavar="N"),
    _flag("batch_size", "images per optimiser step"),
    _flag("lr", "learning rate of the heads"),
    _flag("backbone_lr_scale", "learning rate of the trained backbone (stages) as a fraction of --lr",
          metavar="S"),
    _flag("alpha1", "cross-entropy weight to the nearest anchor (0 = the paper's loss, whose softmax collapses)"),
    _flag("label_smoothing", "share of the cross-entropy target spread evenly over all anchors (0 = one-hot)",
          metavar="E"),
    _flag("ema_decay", "validate and save an exponential moving average of the weights with this decay per "
          "step (0 = off, the trained weights themselves)", metavar="D"),
    _flag("alpha2", "offset / position weight"),
    _flag("alpha3", "absolute coordinate + rotation weight"),
    _flag("head_hidden", "hidden units of each head (or of the shared trunk; 0 = linear heads)"),
    _flag("trunk", "shared: one hidden layer feeds every head; separate: one hidden layer per head",
          choices=TRUNK_TYPES),
    _flag("dropout", "dropout rate in the heads"),
    _flag("feature_norm", "standardise backbone features with the training set's statistics"),
    _flag("augment", "colour jitter and small centred zooms of the training images (pose-preserving)"),
    _flag("device", f"one of {DEVICE_CHOICES} or cuda:N"),
    _flag("workers", "DataLoader worker processes"),
    _flag("threads", "CPU threads for torch (0 = default)"),
    _flag("seed", "random seed"),
)
# ``train`` alone (``--head`` comes before the shared flags, the rest after).
HEAD_FLAG = _flag("head", "anchor: the paper's anchor head; posenet: direct regression", choices=HEAD_TYPES)
RUN_FLAGS = (
    _flag("val_source", "validation frames: the dataset's own val split (a second walk; 'auto' uses it when "
          "present), or every --val-every-th training frame ('train')", choices=VAL_SOURCES),
    _flag("val_every", "hold out every n-th frame for validation (0 = none)"),
    _flag("choose_decode", "when validating on the dataset's own val split (30 frames or more), pick the "
          "decode of best.safetensors there (argmax or cluster, 1 or 4 test-time views) and calibrate it for "
          "that decode, which the node and the tools then run by default"),
    _flag("committee_heads", "after training, fit a committee of this many small heads to best.safetensors "
          "and recalibrate it (anchor-reloc add-committee with its defaults; 0 = none)", metavar="N"),
    _flag("save_half", "store fp16 weights"),
    _flag("resume", "continue the run in RUN_DIR"),
    _flag("save_every_s", "write last checkpoint + resumable state at most this often (always at the end)",
          flag="--save-every", metavar="SECONDS"),
    _flag("kitti_test_every", "KITTI data: every N-th frame is test, the rest train (eval reuses it)",
          metavar="N"),
)
DEFAULTS = TrainConfig(Path("."), Path("."))


def _specs(flags: tuple[OptionSpec, ...], defaults: TrainConfig = DEFAULTS) -> tuple[OptionSpec, ...]:
    return tuple(replace(f, default=getattr(defaults, f.name)) for f in flags)


def add_model_arguments(p: argparse.ArgumentParser, defaults: TrainConfig = DEFAULTS) -> None:
    """Options shared by ``train`` and ``benchmark``."""
    add_arguments(p, _specs(MODEL_FLAGS, defaults))


def config_from_args(args: argparse.Namespace, data: Path, out: Path, **overrides: object) -> TrainConfig:
    """The TrainConfig of every generated flag ``args`` holds, then ``overrides``."""
    values = values_from_args((*MODEL_FLAGS, HEAD_FLAG, *RUN_FLAGS), args)
    return TrainConfig(data=data, out=out, **{**values, **overrides})  # type: ignore[arg-type]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a relocalizer on a posed image dataset",
                       description="Train on DIR's training split; writes best/last checkpoints, "
                                   "metrics.csv and a resumable state into RUN_DIR.")
    p.add_argument("--data", type=Path, required=True, metavar="DIR")
    p.add_argument("--out", type=Path, required=True, metavar="RUN_DIR")
    add_arguments(p, _specs((HEAD_FLAG,)))
    add_model_arguments(p)
    add_arguments(p, _specs(RUN_FLAGS))
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..training.trainer import train

    config = config_from_args(args, args.data, args.out)
    best = train(config, progress=not args.quiet)
    print(f"best checkpoint: {best}")
    return 0
