"""``anchor-reloc bag-eval``: evaluate a checkpoint on a rosbag2 recording."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.gate import GateLimits
from ..core.odom_check import OdomCheckConfig
from ..core.options import add_arguments, from_args, option_specs
from ..data.prefetch import default_workers
from .inference_args import (add_decode_arguments, add_inference_arguments, decode_options_from_args,
                             inference_options_from_args)

if TYPE_CHECKING:
    from ..data.rosbag_ground_truth import GroundTruthSource

GT_CONVENTION = (
    "Ground truth is taken as the pose of the frame we estimate: the camera OPTICAL frame "
    "(x right, y down, z forward) in the map, T_map_cam, the same convention as the dataset "
    "files; no extrinsic is applied (make-bag writes exactly this on /ground_truth/pose).")


def add_gt_arguments(p: argparse.ArgumentParser) -> None:
    """--gt-topic / --gt-child-frame / --gt-parent-frame / --gt-tum / --max-dt (shared with bag-export)."""
    gt = p.add_mutually_exclusive_group(required=True)
    gt.add_argument("--gt-topic", metavar="TOPIC",
                    help="PoseStamped, PoseWithCovarianceStamped, Odometry, TransformStamped or "
                         "TFMessage (/tf, needs --gt-child-frame)")
    gt.add_argument("--gt-tum", type=Path, metavar="FILE", help="TUM trajectory file "
                    "(timestamp tx ty tz qx qy qz qw) on the bag's clock")
    p.add_argument("--gt-child-frame", metavar="FRAME", help="child frame to take from TF/Odometry")
    p.add_argument("--gt-parent-frame", metavar="FRAME", help="parent frame (when the child has several)")
    p.add_argument("--max-dt", type=float, default=0.1, metavar="S",
                   help="an image gets ground truth only between two samples at most S seconds "
                        "away on each side (linear/SLERP interpolation; default 0.1)")


def gt_source_from_args(args: argparse.Namespace) -> GroundTruthSource:
    """The ``GroundTruthSource`` of the options ``add_gt_arguments`` added (not --max-dt)."""
    from ..data.rosbag_ground_truth import GroundTruthSource

    return GroundTruthSource(args.gt_topic, args.gt_child_frame, args.gt_parent_frame, args.gt_tum)


# the odometry check's flags: every OdomCheckConfig option that is also a node parameter
ODOM_FLAGS = tuple(s.name for s in option_specs(OdomCheckConfig) if s.parameter)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bag-eval", help="evaluate a checkpoint on a rosbag2 recording (offline or through the live node)",
        description="Localizes every image of a rosbag2 (mcap or sqlite3) or ROS 1 .bag and compares with ground truth "
                    "interpolated at the image stamps. Writes summary.json, frames.csv, TUM files for "
                    "evo_ape, top-view / error-CDF / error-over-time plots and estimates_bag/ (mcap) into "
                    "OUT. Frames without ground truth within --max-dt are counted and left out; frames "
                    "with ground truth but no estimate count as failures. " + GT_CONVENTION)
    p.add_argument("bag", type=Path, metavar="BAG", help="rosbag2 folder, a .mcap/.db3 file, or a ROS 1 .bag")
    p.add_argument("--weights", type=Path, required=True, metavar="CKPT",
                   help=".safetensors checkpoint or .onnx export")
    p.add_argument("--image-topic", required=True, metavar="TOPIC",
                   help="sensor_msgs/Image or CompressedImage topic")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_gt_arguments(p)
    p.add_argument("--mode", choices=("offline", "live"), default="offline",
                   help="offline: batched, as fast as possible (default); live: replay through "
                        "anchor_reloc_node over DDS and measure rate, latency and drops")
    p.add_argument("--rate", type=float, default=1.0, metavar="R",
                   help="live: replay speed as a factor of the recorded rate (default 1)")
    p.add_argument("--batch-size", type=int, default=16, help="offline batch size")
    p.add_argument("--decode-workers", type=int, default=default_workers(), metavar="N",
                   help="offline: threads that decode and resize the images ahead of the network "
                        f"(default: the usable CPU cores, at most 8; here {default_workers()})")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-gate", action="store_true",
                   help="offline: skip the node's gate (accuracy vs the fraction of frames published)")
    p.add_argument("--no-odom-check", action="store_true",
                   help="offline gate: skip the odometry check even when the bag has odom -> base_link")
    gate = p.add_argument_group("offline gate (the node parameters of the same names, at its defaults)")
    add_arguments(gate, option_specs(GateLimits))
    add_arguments(gate, option_specs(OdomCheckConfig, only=ODOM_FLAGS))
    add_decode_arguments(p)
    actions = add_inference_arguments(p)
    actions["threads"].help += "; live: the node's cpu_threads, 0 = 1 thread (the replayer needs a core)"
    actions["cuda_graphs"].help += "; offline only (the node has no such parameter)"
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.bag_eval import BagEvalConfig, bag_eval
    from ..evaluation.report import print_summary

    config = BagEvalConfig(args.bag, args.weights, args.image_topic, args.out,
                           gt_source_from_args(args), args.mode, args.rate, args.max_dt,
                           inference_options_from_args(args), decode_options_from_args(args),
                           batch_size=args.batch_size, decode_workers=args.decode_workers,
                           plots=not args.no_plots, gate=not args.no_gate, odom_check=not args.no_odom_check,
                           gate_limits=from_args(GateLimits(), args), odom_config=from_args(OdomCheckConfig(), args))
    result, paths, extra = bag_eval(config)
    print_summary(result, f"{args.weights} on {args.bag} {args.image_topic} ({args.mode})")
    print(f"frames without ground truth (left out): {extra['frames_without_gt']}, "
          f"bad frames skipped: {extra['bad_frames']}")
    if "gate_published_fraction" in extra:
        from ..evaluation.bag_gate import gate_line

        print(gate_line(extra))
    if args.mode == "offline":
        print(f"throughput: {extra['images_per_s']:.1f} images/s ({extra['decode_workers']} decode workers)")
    else:
        print(f"rate: {extra['input_rate_hz']:.1f} Hz in, {extra['output_rate_hz']:.1f} Hz out; "
              f"latency p50 {extra['latency_p50_ms']:.1f} ms, p95 {extra['latency_p95_ms']:.1f} ms; "
              f"dropped {extra['dropped']} of {extra['published']} (counted as failures above)")
        print(f"answered frames only: median {extra['answered_median_translation_m']:.3f} m, "
              f"{extra['answered_median_rotation_deg']:.2f} deg")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
