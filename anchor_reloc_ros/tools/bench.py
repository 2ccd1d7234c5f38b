"""``anchor-reloc bench``: model latency, Localizer overhead and training throughput tables."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..core.inference_options import InferenceOptions
from .inference_args import add_inference_arguments


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def register(sub: argparse._SubParsersAction) -> None:
    from ..training.config import parse_image_size

    p = sub.add_parser("speed", aliases=["bench"], help="measure inference latency and training throughput on this machine",
                       description="Benchmark every backbone x available backend (torch, ONNX Runtime CPU; "
                                   "CUDA fp16, CUDA graphs, ORT-CUDA and TensorRT when present) on random "
                                   "weights, the Localizer's per-frame overhead over the bare network, and "
                                   "training throughput. Writes bench.md and bench.json into --out.")
    p.add_argument("--quick", action="store_true", help="one small backbone, few iterations (a smoke test)")
    p.add_argument("--out", type=Path, default=Path("bench_results"), metavar="DIR")
    p.add_argument("--backbones", nargs="+", default=None, metavar="NAME",
                   help="backbones to measure (default: mobilenet_v3_small/large, efficientnet_lite0, resnet18)")
    threads = add_inference_arguments(p, InferenceOptions(threads=_usable_cores()), only=("threads",))["threads"]
    threads.help += "; here at least 1, by default the usable cores"
    p.add_argument("--image-size", type=parse_image_size, default=(240, 320), metavar="WxH",
                   help="network input size (default 320x240)")
    p.add_argument("--no-training", dest="training", action="store_false", help="skip training throughput")
    p.add_argument("--no-decode", dest="decode", action="store_false",
                   help="skip the bag decode + resize throughput (bundled demo bag, 1..N threads)")
    p.add_argument("--node", action="store_true",
                   help="also benchmark the ROS node at 30 and 100 Hz input (needs rclpy; spawns the node)")
    p.add_argument("--gpu-peak-tflops", type=float, default=None,
                   help="the GPU's dense fp16 peak, when its name is not in the built-in table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..core.backbones import get_backbone_spec
    from ..benchmarks.suite import BenchConfig, run_bench

    for name in args.backbones or ():
        get_backbone_spec(name)  # unknown names fail before any measuring
    config = BenchConfig(out=args.out, threads=args.threads, quick=args.quick,
                         backbones=tuple(args.backbones or ()), image_size_hw=args.image_size,
                         training=args.training, node=args.node, gpu_peak_tflops=args.gpu_peak_tflops,
                         decode=args.decode)
    md = run_bench(config)
    print(md.read_text())
    print(f"wrote {md} and {md.with_suffix('.json')}")
    return 0
