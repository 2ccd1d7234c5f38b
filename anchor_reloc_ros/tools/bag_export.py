"""``anchor-reloc bag-export``: a recording -> a Cambridge-format training dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

from .bag_eval import GT_CONVENTION, add_gt_arguments, gt_source_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bag-export", help="export a rosbag2 recording as a Cambridge-format dataset",
        description="Writes images/*.png (lossless) plus dataset_train.txt and dataset_test.txt for "
                    "every image with ground truth within --max-dt, so a recording can be used with "
                    "'anchor-reloc train'. Split: every N-th frame is test (--test-every, default 5), "
                    "or frames after SECONDS are test (--test-after), or two ranges in seconds from the "
                    "first frame (--train-range A:B --test-range C:D, open ends allowed). "
                    + GT_CONVENTION)
    p.add_argument("bag", type=Path, metavar="BAG", help="rosbag2 folder, a .mcap/.db3 file, or a ROS 1 .bag")
    p.add_argument("--image-topic", required=True, metavar="TOPIC")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_gt_arguments(p)
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--test-every", type=int, metavar="N")
    rule.add_argument("--test-after", type=float, metavar="SECONDS")
    rule.add_argument("--train-range", metavar="A:B")
    p.add_argument("--test-range", metavar="C:D")
    p.add_argument("--camera-info-topic", metavar="TOPIC", help="CameraInfo topic to save as camera.yaml")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..data.rosbag_to_dataset import ExportConfig, export_dataset, parse_range

    config = ExportConfig(args.bag, args.image_topic, args.out, gt_source_from_args(args), args.max_dt,
                          args.test_every, args.test_after,
                          parse_range(args.train_range) if args.train_range else None,
                          parse_range(args.test_range) if args.test_range else None,
                          args.camera_info_topic)
    summary = export_dataset(config)
    print(f"wrote {summary['out']}: {summary['train']} train + {summary['test']} test frames; "
          f"left out {summary['without_gt']} without ground truth and {summary['bad_frames']} bad frames")
    return 0
