"""``anchor-reloc make-scene``: render a synthetic posed route dataset (Cambridge format)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import ConfigError

# Kept literal so that ``--help`` does not import the renderer; a test checks it
# against ``anchor_reloc_ros.data.synthetic.presets.PRESETS``.
PRESET_NAMES = ("street", "room", "corridor")


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> ``(320, 240)``."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"--size must look like 320x240, got {text!r}")
    return int(parts[0]), int(parts[1])


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "make-scene",
        help="render a synthetic posed route dataset (train, test and val walks)",
        description="Render a TRAIN walk, a different TEST walk and a VAL walk drawn like the test walk (no test-only "
                    "occluders; training validates on it) through a synthetic street, room or "
                    "corridor headlessly (OpenGL over EGL on the CPU) into a Cambridge-format folder with "
                    "TUM ground truth, camera.yaml and scene.json.")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="street", help="scene kind (default: street)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (new, empty or an earlier scene)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed and size give the same bytes")
    parser.add_argument("--walk-seed", type=int, default=None,
                        help="draw other test and val walks (paths and light) through the same scene, after "
                             "the same train walk: more held-out walks for a model trained on --seed's scene")
    parser.add_argument("--size", default="320x240", help="image size WxH (default 320x240)")
    parser.add_argument("--train-frames", type=int, default=None, help="train frames (preset default if omitted)")
    parser.add_argument("--test-frames", type=int, default=None, help="test frames (preset default if omitted)")
    parser.add_argument("--val-frames", type=int, default=None,
                        help="val-walk frames (default: half the test frames; 0 for none)")
    parser.add_argument("--samples", type=int, default=4, choices=(0, 2, 4, 8), help="MSAA samples (default 4)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic.generate import SceneConfig, make_scene

    width, height = parse_size(args.size)
    config = SceneConfig(preset=args.preset, out_dir=args.out, seed=args.seed, width=width, height=height,
                         train_frames=args.train_frames, test_frames=args.test_frames, val_frames=args.val_frames,
                         samples=args.samples, walk_seed=args.walk_seed)
    root = make_scene(config, log=lambda msg: print(msg, file=sys.stderr))
    print(root)
    return 0
