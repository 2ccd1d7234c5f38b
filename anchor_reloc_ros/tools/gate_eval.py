"""``anchor-reloc gate-eval``: how many frames that are not from the mapped scene the gate withholds."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.gate import GateLimits
from ..core.inference_options import InferenceOptions
from ..core.odom_check import OdomCheckConfig
from ..core.options import add_arguments, from_args, option_specs
from ..evaluation.out_of_scene import INSERT_EVERY, NOISE_FRAMES
from .bag_eval import ODOM_FLAGS
from .inference_args import add_decode_arguments, add_inference_arguments, decode_options_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate-eval", help="measure the gate on out-of-scene frames (noise, blank, another place)",
                       description="Runs WEIGHTS on a split of its own scene and on frames that are not from it "
                                   "(uniform noise, an all-black and an all-white frame, and with --other the "
                                   "frames of another dataset), gates them as the node does (no odometry) and "
                                   "prints, per kind, the share withheld and the AUROC of the out-of-scene score "
                                   "against the in-scene frames. Writes OUT/summary.json.")
    p.add_argument("--weights", type=Path, required=True, metavar="CKPT", help=".safetensors checkpoint")
    p.add_argument("--data", type=Path, required=True, metavar="DIR", help="the checkpoint's own scene")
    p.add_argument("--split", default="test", help="its split used as the in-scene frames")
    p.add_argument("--other", type=Path, action="append", default=[], metavar="DIR",
                   help="another dataset whose frames are out of scene (repeatable)")
    p.add_argument("--other-split", default="test", help="the split of each --other dataset")
    p.add_argument("--noise-frames", type=int, default=NOISE_FRAMES, metavar="N", help="uniform-noise frames")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    gate = p.add_argument_group("gate (the node parameters of the same names, at its defaults)")
    add_arguments(gate, option_specs(GateLimits))
    p.add_argument("--odometry", action="store_true",
                   help="replay the split in order with its ground-truth motion as odometry through the odometry "
                        "check too, every 5th frame replaced by each other kind's frames in turn")
    add_arguments(gate, option_specs(OdomCheckConfig, only=ODOM_FLAGS))
    add_decode_arguments(p)
    add_inference_arguments(p, InferenceOptions(device="cpu"), only=("device",))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..core.localizer import Localizer
    from ..evaluation.out_of_scene import (dataset_frames, dataset_poses, format_reports, out_of_scene_report,
                                           report_rows, synthetic_garbage)

    localizer = Localizer.from_checkpoint(args.weights, device=args.device)
    localizer.set_decode_options(decode_options_from_args(args))
    in_scene = dataset_frames(args.data, args.split)
    h, w = in_scene[0].shape[:2]
    others = synthetic_garbage(h, w, args.noise_frames)
    for other in args.other:
        others[Path(other).name] = dataset_frames(other, args.other_split)
    limits = from_args(GateLimits(), args)
    odometry = from_args(OdomCheckConfig(), args) if args.odometry else None
    reports = out_of_scene_report(localizer, in_scene, others, limits, odometry,
                                  dataset_poses(args.data, args.split) if args.odometry else None)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"weights": str(args.weights), "data": str(args.data), "split": args.split,
               **localizer.decoder.options.summary_fields(),   # auto resolved: the decode that ran
               "limits": {s.name: getattr(limits, s.name) for s in option_specs(limits)},
               "odometry": None if odometry is None else {s.name: getattr(odometry, s.name)
                                                          for s in option_specs(odometry, only=ODOM_FLAGS)},
               "kinds": report_rows(reports)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=True) + "\n")
    print(f"{args.weights} on {args.data} ({args.split}) and out-of-scene frames"
          + (f" (odometry replay, every {INSERT_EVERY}th frame replaced):" if odometry else ":"))
    print(format_reports(reports))
    print(f"summary: {args.out / 'summary.json'}")
    return 0
