"""``anchor-reloc calibrate``: refit a checkpoint's covariance calibration on its validation frames."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .inference_args import add_decode_arguments, add_inference_arguments, decode_options_from_args

if TYPE_CHECKING:   # the heavy training imports stay inside the handlers
    from ..training.recalibrate import Recalibration


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="refit a checkpoint's covariance calibration on held-out frames",
                       description="Runs WEIGHTS on the validation frames its training held out of DATA "
                                   "(the training set it was trained on) and writes OUT with the covariance "
                                   "calibration refitted (mixture temperature, position floor, rotation "
                                   "model, gate limits) for the decode given (--decode, --views; the one it is "
                                   "calibrated for now unless told) and records that decode, which the node and "
                                   "the tools then run by default (decode auto); the weights are unchanged. "
                                   "`anchor-reloc train` does this itself; use it for checkpoints from older "
                                   "versions.")
    add_recalibration_arguments(p)
    p.set_defaults(handler=run)


def add_recalibration_arguments(p: argparse.ArgumentParser) -> None:
    """--weights / --data / --out, the device, the decode and --val-split (``calibrate``, ``add-committee``)."""
    p.add_argument("--weights", type=Path, required=True, metavar="CKPT", help="a .safetensors checkpoint")
    p.add_argument("--data", type=Path, required=True, metavar="DIR", help="the dataset it was trained on")
    p.add_argument("--out", type=Path, required=True, metavar="CKPT", help="where to write the result")
    add_inference_arguments(p, only=("device",))
    add_decode_arguments(p)
    add_val_split_argument(p)


def add_val_split_argument(p: argparse.ArgumentParser) -> None:
    """``--val-split``, shared with ``calibrate-ood``."""
    p.add_argument("--val-split", action="store_true",
                   help="use the dataset's own val split (a second walk, never trained on) instead of the "
                        "checkpoint's validation rule")


def run(args: argparse.Namespace) -> int:
    from ..training.recalibrate import recalibrate

    r = recalibrate(args.weights, args.data, args.out, args.device, args.val_split, decode_options_from_args(args))
    print_calibration(args.out, r)
    return 0


def print_calibration(out: Path, r: Recalibration) -> None:
    """The refitted calibration, in words (``calibrate``, ``add-committee``)."""
    from ..core.uncertainty import format_uncertainty

    c = r.calibration
    floor_m = float(c.position_cov.trace()) ** 0.5
    print(f"wrote {out}: mixture temperature {c.uncertainty_temperature:g} "
          f"(was {r.previous.uncertainty_temperature:g}), position floor sqrt(trace) {floor_m:.2f} m "
          f"x (1 + {c.floor_mass_gain:g} (1 - mass near the estimate)), "
          f"rotation floor {float(c.rotation_var) ** 0.5 * 57.29577951308232:.2f} deg "
          f"x (1 + {c.rotation_entropy_gain:g} entropy), gate std limit "
          + (f"{c.position_std_limit:.2f} m" if c.position_std_limit > 0 else "none (the std does not "
             "separate worse from better validation frames)"))
    if c.committee_gain > 0:
        print(f"committee: position variance + {c.committee_gain:g} x d^2 on the anchored axes, d its distance "
              "from the estimate")
    stds = " / ".join(f"{v:.2f}" for v in np.sqrt(np.diag(c.odometry_check_cov())))
    print(f"odometry check: per-estimate position std {stds} m (x / y / z"
          + (", the frames whose anchor was right)" if c.right_anchor_position_cov is not None else
             ", the floor: under 5 frames had the right anchor, or no anchor head)"))
    if c.agreed_position_cov is not None:
        agreed = " / ".join(f"{v:.2f}" for v in np.sqrt(np.diag(c.agreed_position_cov)))
        print(f"published when the odometry vote agrees: position std {agreed} m (x / y / z) "
              f"+ {c.agreed_residual_gain:.2f} x r r^T, r its vote residual")
    if c.agreed_fusion_gain is not None and c.fused_position_cov is not None:
        gain = " / ".join(f"{v:.2f}" for v in np.diag(c.agreed_fusion_gain))
        fused = " / ".join(f"{v:.2f}" for v in np.sqrt(np.diag(c.fused_position_cov)))
        print(f"odometry fusion (odom_fuse): published at position - K r, K diagonal {gain} (x / y / z); "
              f"position std {fused} m + {c.fused_residual_gain:.2f} x u u^T, u = (I - K) r")
    print(f"on its {r.val_frames} validation frames (decode {r.decoding.label}, now its default):")
    print(format_uncertainty(r.validation))
