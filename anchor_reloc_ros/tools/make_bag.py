"""``anchor-reloc make-bag``: turn a dataset split into a rosbag2 with ground truth."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "make-bag", help="write a dataset split as a rosbag2 (images, camera_info, ground truth, TF)",
        description="Writes /camera/image_raw (rgb8) or /camera/image_raw/compressed (jpeg), "
                    "/camera/camera_info (DIR/camera.yaml, else a pinhole guess), /ground_truth/pose "
                    "(PoseStamped in 'map': the pose of the camera OPTICAL frame camera_optical_frame, "
                    "exactly the dataset pose), /tf_static base_link -> camera_link -> "
                    "camera_optical_frame and, with --odom-drift, /tf odom -> base_link with a "
                    "drifting map -> odom. Stamps come from the dataset when every frame has one, "
                    "else from --rate.")
    p.add_argument("--data", type=Path, required=True, metavar="DIR", help="dataset folder (any format)")
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, required=True, metavar="BAG", help="output bag folder (must not exist)")
    p.add_argument("--compressed", action="store_true", help="jpeg CompressedImage instead of raw rgb8")
    p.add_argument("--rate", type=float, default=None, metavar="HZ",
                   help="frame rate for the stamps (default: dataset stamps, else 10 Hz)")
    p.add_argument("--odom-drift", action="store_true", help="add a drifting odom -> base_link /tf stream")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--jpeg-quality", type=int, default=90)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..data.rosbag_from_dataset import MakeBagConfig, make_bag

    summary = make_bag(MakeBagConfig(args.data, args.out, args.split, args.compressed, args.rate,
                                     args.odom_drift, args.storage, args.jpeg_quality))
    print(f"wrote {summary['bag']}: {summary['frames']} frames over {summary['duration_s']:.1f} s "
          f"on {summary['image_topic']}, ground truth on {summary['gt_topic']}")
    return 0
