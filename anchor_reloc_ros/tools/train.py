"""``anchor-reloc train``: train an anchor-point (or PoseNet) relocalizer."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..core.anchors import UP_AXIS_CHOICES
from ..core.backbones import BACKBONES
from ..core.device import DEVICE_CHOICES
from ..core.model import HEAD_TYPES, TRUNK_TYPES
from ..training.config import VAL_SOURCES, TrainConfig, parse_image_size


def add_model_arguments(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    """Options shared by ``train`` and ``benchmark``."""
    p.add_argument("--backbone", default=defaults.backbone, choices=sorted(BACKBONES))
    p.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=defaults.pretrained,
                   help="start from ImageNet weights (offline only for efficientnet_lite0)")
    p.add_argument("--freeze-backbone", action="store_true",
                   help="train the heads on cached backbone features (fast on a CPU)")
    p.add_argument("--train-stages", type=int, default=defaults.train_stages, metavar="N",
                   help="train only the last N backbone stages on cached activations of the frozen "
                        "early stages (CPU fine-tuning; 0 = off)")
    p.add_argument("--anchor-every", type=int, default=defaults.anchor_every, metavar="K",
                   help="an anchor at every K-th training frame")
    p.add_argument("--anchor-dims", type=int, choices=(2, 3), default=defaults.anchor_dims,
                   help="2: anchor the route's horizontal plane (paper); 3: all axes (drones)")
    p.add_argument("--up-axis", default=defaults.up_axis, choices=UP_AXIS_CHOICES,
                   help="world up axis; auto = least-variance direction of the training trajectory")
    p.add_argument("--image-size", type=parse_image_size, default=defaults.image_size, metavar="N|WxH")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--min-steps", type=int, default=defaults.min_steps,
                   help="with --freeze-backbone or --train-stages, raise --epochs until this many "
                        "optimiser steps (0 = off)")
    p.add_argument("--cached-views", type=int, default=defaults.feature_cache_augmentations, metavar="N",
                   help="augmented copies per image in the frozen-feature / stage cache (default: auto, 4..20 "
                        "for about 2000 samples)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--backbone-lr-scale", type=float, default=defaults.backbone_lr_scale, metavar="S",
                   help="learning rate of the trained backbone (stages) as a fraction of --lr")
    p.add_argument("--alpha1", type=float, default=defaults.alpha1, help="cross-entropy weight to the nearest anchor (0 = the paper's loss, whose softmax collapses)")
    p.add_argument("--alpha2", type=float, default=defaults.alpha2, help="offset / position weight")
    p.add_argument("--alpha3", type=float, default=defaults.alpha3, help="absolute coordinate + rotation weight")
    p.add_argument("--head-hidden", type=int, default=defaults.head_hidden,
                   help="hidden units of the head trunk (0 = linear heads)")
    p.add_argument("--trunk", default=defaults.trunk, choices=TRUNK_TYPES,
                   help="shared: one hidden layer feeds every head; separate: one hidden layer per head")
    p.add_argument("--dropout", type=float, default=defaults.dropout)
    p.add_argument("--feature-norm", action=argparse.BooleanOptionalAction, default=defaults.feature_norm,
                   help="standardise backbone features with the training set's statistics")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=defaults.augment)
    p.add_argument("--device", default=defaults.device, help=f"one of {DEVICE_CHOICES} or cuda:N")
    p.add_argument("--workers", type=int, default=defaults.workers, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=defaults.threads, help="CPU threads for torch (0 = default)")
    p.add_argument("--seed", type=int, default=defaults.seed)


def config_from_args(args: argparse.Namespace, data: Path, out: Path, **overrides: object) -> TrainConfig:
    values = dict(
        data=data, out=out, head=getattr(args, "head", "anchor"), backbone=args.backbone,
        pretrained=args.pretrained, freeze_backbone=args.freeze_backbone,
        train_stages=args.train_stages, anchor_every=args.anchor_every,
        anchor_dims=args.anchor_dims, up_axis=args.up_axis, image_size=args.image_size, epochs=args.epochs,
        min_steps=args.min_steps, feature_cache_augmentations=args.cached_views,
        trunk=args.trunk, dropout=args.dropout, feature_norm=args.feature_norm,
        batch_size=args.batch_size, lr=args.lr, backbone_lr_scale=args.backbone_lr_scale,
        alpha1=args.alpha1, alpha2=args.alpha2, alpha3=args.alpha3,
        head_hidden=args.head_hidden, augment=args.augment, device=args.device, workers=args.workers,
        threads=args.threads, seed=args.seed,
    )
    values.update(overrides)
    return TrainConfig(**values)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a relocalizer on a posed image dataset",
                       description="Train on DIR's training split; writes best/last checkpoints, "
                                   "metrics.csv and a resumable state into RUN_DIR.")
    p.add_argument("--data", type=Path, required=True, metavar="DIR")
    p.add_argument("--out", type=Path, required=True, metavar="RUN_DIR")
    p.add_argument("--head", default="anchor", choices=HEAD_TYPES)
    add_model_arguments(p, TrainConfig(Path("."), Path(".")))
    p.add_argument("--val-source", choices=VAL_SOURCES, default=TrainConfig.val_source,
                   help="validation frames: the dataset's own val split (a second walk; 'auto' uses it when "
                        "present), or every --val-every-th training frame ('train')")
    p.add_argument("--val-every", type=int, default=10, help="hold out every n-th frame for validation (0 = none)")
    p.add_argument("--save-half", action="store_true", help="store fp16 weights")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    p.add_argument("--save-every", type=float, default=30.0, metavar="SECONDS",
                   help="write last checkpoint + resumable state at most this often (always at the end)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--kitti-test-every", type=int, default=TrainConfig.kitti_test_every, metavar="N",
                   help="KITTI data: every N-th frame is test, the rest train (eval reuses it)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..training.trainer import train

    config = config_from_args(args, args.data, args.out, val_every=args.val_every,
                              val_source=args.val_source, save_half=args.save_half, resume=args.resume, save_every_s=args.save_every,
                              kitti_test_every=args.kitti_test_every)
    best = train(config, progress=not args.quiet)
    print(f"best checkpoint: {best}")
    return 0
