"""Bag decode throughput: images/s that offline ``bag-eval`` can be fed, without the network.

    python -m anchor_reloc_ros.benchmarks.decode_throughput                 # bundled demo bag -> 224x224
    python -m anchor_reloc_ros.benchmarks.decode_throughput --bag BAG --topic /cam/compressed --size 320x240

One pass = ``iter_bag_images`` over the whole image topic exactly as ``bag-eval
--decode-workers N`` runs it: raw messages read from the bag (sequential), then
deserialized, decoded (JPEG/PNG/raw) and resized to the network input on N threads, in
order. Passes for every thread count (1, 2, 4, ... up to the usable cores) are timed in
interleaved rounds (``timing.time_interleaved``: load bursts hit all counts alike); the
median pass gives images/s. "read only" is the sequential part alone: the ceiling for any
number of threads.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..data.prefetch import usable_cores
from ..data.rosbag_images import IMAGE_TYPES, FrameStats, iter_bag_images, read_image_messages
from ..data.rosbag_io import BagReader, BagTopicError
from .report import decode_section
from .timing import time_interleaved

READ_ONLY = "read only"


@dataclass
class DecodeRow:
    threads: str            # thread count, or READ_ONLY
    frames: int
    pass_p50_ms: float
    pass_p95_ms: float
    images_per_s: float     # frames / median pass
    speedup_vs_1: float


def thread_counts(cores: int) -> list[int]:
    """1, 2, 4, ... below ``cores`` (the usable cores), then ``cores`` itself."""
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    return counts + [cores] if cores > 1 else counts


def image_topic(bag: BagReader) -> str:
    """The bag's first image topic (by name)."""
    topics = [name for name, msgtype in bag.topics().items() if msgtype in IMAGE_TYPES]
    if not topics:
        raise BagTopicError(f"bag {bag.path} has no image topic; it has: {bag.describe_topics()}")
    return topics[0]


def benchmark_decode(bag_path: Path, topic: str | None, size_hw: tuple[int, int], counts: list[int],
                     rounds: int = 5, warmup: int = 1, budget_s: float = 60.0, depth: int = 32
                     ) -> tuple[str, tuple[int, int], list[DecodeRow]]:
    """Time decode+resize passes over ``topic`` (None: the first image topic); returns the
    topic, its first frame's (H, W), and one row per thread count plus the read-only row."""
    with BagReader(bag_path) as bag:
        topic = topic or image_topic(bag)
        first = next(iter_bag_images(bag, topic, FrameStats()), None)
        frame_hw = first.rgb.shape[:2] if first is not None else (0, 0)
        frames: dict[str, int] = {}

        def decode_pass(workers: int) -> None:
            stats = FrameStats()
            frames[str(workers)] = sum(1 for _ in iter_bag_images(bag, topic, stats, size_hw, workers, depth))

        def read_pass() -> None:
            frames[READ_ONLY] = sum(1 for _ in read_image_messages(bag, topic))

        fns = {str(n): (lambda n=n: decode_pass(n)) for n in counts}
        fns[READ_ONLY] = read_pass
        timings = time_interleaved(fns, rounds, warmup=warmup, budget_s=budget_s, min_rounds=min(3, rounds))
    rate = {name: frames[name] / (t.p50_ms / 1000.0) for name, t in timings.items()}
    base = rate[str(counts[0])]
    rows = [DecodeRow(name, frames[name], timings[name].p50_ms, timings[name].p95_ms, rate[name],
                      rate[name] / base) for name in [*map(str, counts), READ_ONLY]]
    return topic, (int(frame_hw[0]), int(frame_hw[1])), rows


def run_decode_benchmark(bag_path: Path, size_hw: tuple[int, int], quick: bool = False,
                         topic: str | None = None) -> dict[str, Any]:
    """The benchmark as a JSON-able dict (``anchor-reloc bench`` and ``main``)."""
    cores = usable_cores()
    used, (fh, fw), rows = benchmark_decode(bag_path, topic, size_hw, thread_counts(cores),
                                            rounds=1 if quick else 5)
    h, w = size_hw
    return {"bag": str(bag_path), "topic": used, "frame_wxh": f"{fw}x{fh}", "size_wxh": f"{w}x{h}",
            "usable_cores": cores, "rows": [asdict(r) for r in rows]}


def default_bag() -> Path:
    from ..data.bundled import BUNDLED_BAG, locate

    return locate(BUNDLED_BAG, "demo bag", "--bag")


def main(argv: list[str] | None = None) -> int:
    from ..training.config import parse_image_size
    from .machine import describe_machine, machine_markdown

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bag", type=Path, help="bag folder or file (default: the bundled demo bag)")
    parser.add_argument("--topic", help="image topic (default: the bag's first image topic)")
    parser.add_argument("--size", type=parse_image_size, default=(224, 224), metavar="WxH",
                        help="network input size to resize to (default 224x224: the bundled demo model's)")
    parser.add_argument("--quick", action="store_true", help="one timed round")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    bag = args.bag or default_bag()
    result = run_decode_benchmark(bag, args.size, args.quick, args.topic)
    result["machine"] = describe_machine(usable_cores())
    print(machine_markdown(result["machine"]))
    print(f"\n{bag} {result['topic']}: {result['frame_wxh']} frames -> {result['size_wxh']}, "
          f"{result['usable_cores']} usable cores\n")
    print(decode_section(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
