"""``anchor-reloc add-committee``: fit the committee whose disagreement widens the covariance."""
from __future__ import annotations

import argparse

from ..training.committee_config import CommitteeConfig
from .calibrate import add_recalibration_arguments, print_calibration
from .inference_args import decode_options_from_args


def register(sub: argparse._SubParsersAction) -> None:
    d = CommitteeConfig()
    p = sub.add_parser("add-committee", help="add a committee of small heads to a checkpoint and recalibrate it",
                       description="Trains HEADS small anchor + offset heads, each from its own random start, on "
                                   "WEIGHTS' own pooled features of DATA's training frames (DATA: the set it was "
                                   "trained on; the clean image and --augmented-views augmented ones), stores them in OUT "
                                   "and refits the calibration on the validation frames, as `calibrate` does. "
                                   "The pose is unchanged: the committee's distance from it widens the covariance "
                                   "by the gain the validation frames pick (0 where it does not rank their errors).")
    add_recalibration_arguments(p)
    p.add_argument("--heads", type=int, default=d.heads, help="committee members")
    p.add_argument("--hidden", type=int, default=d.hidden, help="each member's hidden units")
    p.add_argument("--steps", type=int, default=d.steps, help="Adam steps per member")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--augmented-views", type=int, default=d.augmented_views, help="augmented views per training image")
    p.add_argument("--seed", type=int, default=d.seed)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..training.committee import add_committee_to_checkpoint

    config = CommitteeConfig(args.heads, args.hidden, args.steps, args.batch_size, args.lr, args.augmented_views,
                             args.seed)
    r = add_committee_to_checkpoint(args.weights, args.data, args.out, config, args.device, args.val_split,
                                    decode_options_from_args(args))
    print(f"committee: {config.heads} heads of {config.hidden} units on {r.train_frames} training frames x "
          f"{config.augmented_views + 1} views (features {r.feature_seconds:.0f} s, fit {r.fit_seconds:.0f} s; "
          f"last-step loss median {sorted(r.losses)[len(r.losses) // 2]:.3g})")
    print_calibration(args.out, r.recalibration)
    return 0
