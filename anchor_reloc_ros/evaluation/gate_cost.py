"""The pose gate's cost per frame, on real estimates: what the node adds after the network.

(A benchmark kept next to the gate's evaluation code, which it runs: ``benchmarks`` may
not import ``evaluation``.)

    python -m anchor_reloc_ros.evaluation.gate_cost               # bundled weights on the bundled demo bag
    python -m anchor_reloc_ros.evaluation.gate_cost --weights W --bag BAG --topic /cam/compressed

The bag's frames are localized once; then ``bag_gate.gate_frames`` (the node's
``FrameGate``, in stamp order) judges all of them, with and without the odometry vote,
in interleaved rounds (``timing.time_interleaved``). Per-frame cost = median pass / frames.
The vote's cost grows with ``odom_window_frames`` squared and with ``odom_redecode_top_k``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.gate import GateLimits
from ..core.odom_check import OdomCheckConfig
from ..data.rosbag_images import FrameStats
from ..data.rosbag_io import BagError, BagReader
from ..benchmarks.decode_throughput import default_bag, image_topic
from ..benchmarks.timing import time_interleaved


def measure_gate_cost(weights: Path, bag_path: Path, topic: str | None, rounds: int = 7) -> dict[str, object]:
    """Median per-frame gate time (ms) with the odometry vote (when the bag has odometry) and without."""
    from ..core.localizer import Localizer
    from .bag_eval import localize_offline
    from .bag_gate import gate_frames, read_bag_odometry

    localizer = Localizer.from_checkpoint(weights, device="cpu")
    with BagReader(bag_path) as bag:
        topic = topic or image_topic(bag)
        frames, _ = localize_offline(bag, topic, localizer, 16, FrameStats())
        odometry = read_bag_odometry(bag)
    ordered = frames.sorted()
    if not ordered.estimates:
        raise BagError(f"no decodable image on {topic!r} in {bag_path}")
    meta, calib, limits = localizer.metadata, localizer.decoder.calibration, GateLimits()
    variants = {"scene + std tests": lambda: gate_frames(ordered, meta, calib, limits, None, None)}
    if odometry is not None:
        variants["with the odometry vote"] = lambda: gate_frames(ordered, meta, calib, limits, odometry,
                                                                 OdomCheckConfig())
    timings = time_interleaved(variants, iters=rounds, warmup=1)
    n = len(ordered.estimates)
    return {"weights": str(weights), "bag": str(bag_path), "topic": topic, "frames": n,
            "odometry": odometry is not None,
            "per_frame_ms": {name: t.p50_ms / n for name, t in timings.items()}}


def main(argv: list[str] | None = None) -> int:
    from ..data.bundled import BUNDLED_WEIGHTS, locate

    parser = argparse.ArgumentParser(prog="python -m anchor_reloc_ros.evaluation.gate_cost",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="checkpoint (default: the bundled weights)")
    parser.add_argument("--bag", type=Path, default=None, help="rosbag2 (default: the bundled demo bag)")
    parser.add_argument("--topic", default=None, help="image topic (default: the bag's first)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        weights = args.weights or locate(BUNDLED_WEIGHTS, "weights", "--weights")
        result = measure_gate_cost(weights, args.bag or default_bag(), args.topic, args.rounds)
    except (BagError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"gate cost per frame on {result['frames']} frames of {result['bag']} ({result['topic']}), "
          f"median of {args.rounds} passes:")
    for name, ms in result["per_frame_ms"].items():
        print(f"  {name}: {ms:.3f} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
