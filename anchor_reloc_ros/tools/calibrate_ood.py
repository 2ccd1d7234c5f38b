"""``anchor-reloc calibrate-ood``: add the out-of-scene score to an existing checkpoint."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import ConfigError
from ..core.inference_options import InferenceOptions
from ..core.ood import DEFAULT_K
from .calibrate import add_val_split_argument
from .inference_args import add_inference_arguments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate-ood", help="add the out-of-scene score and its threshold to a checkpoint",
                       description="Store a bank of training features and the out-of-scene threshold (the 99th "
                                   "percentile of the validation frames' scores) in CKPT, as a fresh "
                                   "`anchor-reloc train` does. DATA is the checkpoint's training dataset; its "
                                   "validation frames follow the checkpoint's own rule (--val-source / --val-every) "
                                   "or, with --val-split, the dataset's own val split.")
    p.add_argument("--weights", type=Path, required=True, metavar="CKPT", help="a .safetensors checkpoint")
    p.add_argument("--data", type=Path, required=True, help="the dataset the checkpoint was trained on")
    p.add_argument("--out", type=Path, default=None, help="write here instead of overwriting CKPT")
    p.add_argument("--k", type=int, default=DEFAULT_K, metavar="K",
                   help="the score is the cosine distance to the K-th nearest training feature")
    add_inference_arguments(p, InferenceOptions(device="cpu"), only=("device",))
    add_val_split_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..training.ood_calibration import add_ood_to_checkpoint

    if args.k < 1:
        raise ConfigError(f"--k must be >= 1, got {args.k}")
    ood = add_ood_to_checkpoint(args.weights, args.data, args.out, args.device, args.val_split, args.k)
    print(f"wrote {args.out or args.weights}: out-of-scene threshold {ood.threshold:.4f} "
          f"(the {ood.quantile:.0%} quantile of {ood.val_frames} validation frames, median {ood.val_median:.4f}, "
          f"k = {ood.k})")
    return 0
