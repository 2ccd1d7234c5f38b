"""``anchor-reloc benchmark``: anchor vs PoseNet vs retrieval, side by side, in one run."""
from __future__ import annotations

import argparse
from pathlib import Path

from .train import add_model_arguments, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("accuracy", aliases=["benchmark"], help="train and compare anchor, fusion, PoseNet and retrieval",
                       description="Same backbone, input size, augmentation, epochs, optimiser and seeds for "
                                   "every learned method; writes benchmark.md, benchmark.json and "
                                   "anchor_spacing.png into OUT.")
    p.add_argument("--data", type=Path, required=True, metavar="DIR")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--budget", choices=("quick", "full"), default="quick",
                   help="quick: frozen-backbone feature caching (CPU minutes); full: fine-tune (GPU)")
    p.add_argument("--seeds", type=int, nargs="+", help="default: the budget's (0 1 2)")
    p.add_argument("--spacing", type=int, nargs="+", metavar="K", help="anchor spacings to study")
    p.add_argument("--ours-alpha1", type=float, default=1.0,
                   help="cross-entropy weight of our variant (chosen on validation data)")
    add_model_arguments(p)
    p.set_defaults(handler=run, epochs=None)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.benchmark import Benchmark, BenchmarkConfig

    base = config_from_args(args, args.data, args.out, epochs=args.epochs or 1)
    report = Benchmark(BenchmarkConfig(args.data, args.out, args.budget, base, tuple(args.seeds or ()) or None,
                                       tuple(args.spacing or ()) or None, args.epochs,
                                       ours_alpha1=args.ours_alpha1)).run()
    print((args.out / "benchmark.md").read_text())
    print(f"anchor (paper) / PoseNet median translation: {report['anchor_over_posenet']:.2f}")
    print(f"anchor (ours) / PoseNet median translation: {report['ours_over_posenet']:.2f}")
    print(f"wrote {args.out / 'benchmark.md'}, {args.out / 'benchmark.json'}, {args.out / 'anchor_spacing.png'}")
    return 0
