"""``anchor-reloc compare``: mean ± std over seeds of runs' summary.json, group against group."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.errors import ConfigError


def parse_group(text: str) -> tuple[str, list[Path]]:
    """``NAME=RUN[,RUN...]`` -> (NAME, runs)."""
    name, sep, runs = text.partition("=")
    paths = [Path(r) for r in runs.split(",") if r]
    if not sep or not name or not paths:
        raise argparse.ArgumentTypeError(f"expected NAME=RUN[,RUN...], got {text!r}")
    return name, paths


def register(sub: argparse._SubParsersAction) -> None:
    from ..evaluation.run_comparison import DEFAULT_METRICS

    p = sub.add_parser("compare", help="compare groups of runs (e.g. seeds) from their summary.json",
                       description="Each GROUP is NAME=RUN[,RUN...], a RUN being an eval / bag-eval / demo "
                                   "output folder or its summary.json. Prints, per group and metric, the mean, "
                                   "the sample std and the range over its runs, and the first metric's mean "
                                   "relative to the first group's.")
    p.add_argument("groups", nargs="+", type=parse_group, metavar="GROUP")
    p.add_argument("--metric", action="append", dest="metrics", default=None, metavar="KEY",
                   help=f"a summary.json key (repeat; every run must have it; default: those of "
                        f"{', '.join(DEFAULT_METRICS)} that every run of a group has)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the statistics as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.run_comparison import DEFAULT_METRICS, compare_groups, comparison_to_dict, format_comparison

    groups: dict[str, list[Path]] = {}
    for name, runs in args.groups:
        if name in groups:
            raise ConfigError(f"group {name!r} given twice")
        groups[name] = runs
    metrics = tuple(args.metrics) if args.metrics else DEFAULT_METRICS
    stats = compare_groups(groups, metrics, required=bool(args.metrics))
    print(format_comparison(stats, metrics))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(comparison_to_dict(stats), indent=2))
        print(f"statistics: {args.out}")
    return 0
