"""``anchor-reloc eval``: evaluate a checkpoint on a dataset split."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .inference_args import (add_decode_arguments, add_inference_arguments, decode_options_from_args,
                             inference_options_from_args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint (or .onnx export) on a dataset split",
                       description="Prints median/mean errors and accuracies; writes summary.json, "
                                   "frames.csv, TUM trajectories (for evo) and PNG plots into OUT.")
    p.add_argument("--weights", type=Path, required=True, metavar="CKPT",
                   help=".safetensors checkpoint or .onnx export")
    p.add_argument("--data", type=Path, required=True, metavar="DIR")
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--kitti-test-every", type=int, default=None, metavar="N",
                   help="KITTI data: every N-th frame is test (default: the checkpoint's training value)")
    add_decode_arguments(p)
    add_inference_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.report import print_summary
    from ..evaluation.run_eval import EvalConfig, evaluate

    config = EvalConfig(args.weights, args.data, args.out, args.split, inference_options_from_args(args),
                        decode_options_from_args(args), batch_size=args.batch_size,
                        plots=not args.no_plots, kitti_test_every=args.kitti_test_every)
    result, paths = evaluate(config)
    ran = json.loads(paths["summary"].read_text())   # the decode that ran (auto resolved)
    print_summary(result, f"{args.weights} on {args.data} [{args.split}], decode={ran['decode']}, views={ran['views']}")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
