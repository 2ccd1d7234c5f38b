"""``anchor-reloc demo``: the bundled street model on the bundled street bag, through the live node."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data.bundled import BUNDLED_BAG, BUNDLED_WEIGHTS
from ..evaluation.demo import DEFAULT_OUT
from .inference_args import add_inference_arguments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="replay the bundled street bag through the live node and report accuracy, rate, latency",
        description="Starts anchor_reloc_node with the bundled street model, replays the bundled test walk "
                    "over DDS (loopback only, its own ROS_DOMAIN_ID unless set) and prints accuracy against "
                    "the bag's ground truth, input/output rate, latency p50/p95 and drops. Writes "
                    "summary.json, frames.csv, TUM files, plots and the node's output bag into OUT. "
                    "Same as: anchor-reloc bag-eval BAG --mode live --image-topic "
                    "/camera/image_raw/compressed --gt-topic /ground_truth/pose.")
    p.add_argument("--weights", type=Path, default=None, metavar="W",
                   help=f"checkpoint (default: the bundled {BUNDLED_WEIGHTS})")
    p.add_argument("--bag", type=Path, default=None, metavar="B",
                   help=f"bag made by make-bag (default: the bundled {BUNDLED_BAG}/)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder (default: ./{DEFAULT_OUT}/)")
    p.add_argument("--rate", type=float, default=1.0, metavar="R",
                   help="replay speed as a factor of the recorded rate (default 1)")
    add_inference_arguments(p, only=("device",))["device"].help += " (the node's)"
    p.add_argument("--onnx", action=argparse.BooleanOptionalAction, default=True,
                   help="export the weights to ONNX and run the node with ONNX Runtime (default)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.demo import DemoConfig, format_plan, format_report, prepare, run_demo

    plan = prepare(DemoConfig(args.weights, args.bag, args.out, args.rate, args.device, args.onnx))
    print(format_plan(plan), flush=True)
    print(format_report(run_demo(plan)))
    return 0
