"""``anchor-reloc demo``: the bundled street model on the bundled street bag, live.

The demo is ``bag_eval`` in live mode with fixed inputs: it starts the real
``anchor_reloc_node``, replays the bag's images over DDS at the recorded rate and
scores what the node publishes against the bag's ``/ground_truth/pose``.

Bundled files are found by ``data.bundled``. Heavy imports (rosbags, bag_eval) happen inside the
functions so ``anchor-reloc --help`` stays fast.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import ConfigError
from ..core.inference_options import InferenceOptions, is_onnx_path
from ..data.bundled import BUNDLED_BAG, BUNDLED_WEIGHTS, locate
from ..ros.node_process import apply_ros_settings  # no rclpy: starts the node as a process

DEFAULT_OUT = Path("demo_out")
PLOTS = ("top_view", "error_cdf", "error_over_time", "sparsification")


@dataclass
class DemoConfig:
    weights: Path | None = None   # None: BUNDLED_WEIGHTS
    bag: Path | None = None       # None: BUNDLED_BAG
    out: Path = DEFAULT_OUT
    rate: float = 1.0             # replay speed factor
    device: str = InferenceOptions.device
    onnx: bool = True             # run the node on an ONNX export (ONNX Runtime: ~3x faster on CPU)


@dataclass
class DemoPlan:
    """Resolved inputs of one demo run."""

    weights: Path
    bag: Path
    image_topic: str
    frames: int
    duration_s: float
    config: DemoConfig


@dataclass
class DemoRun:
    plan: DemoPlan
    summary: dict[str, object]    # exactly what summary.json holds
    paths: dict[str, Path]
    wall_s: float
    gate: dict[str, object]       # the node's gate over the same bag, offline (OUT/gate/summary.json)


def _given(path: Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"{what} not found: {path}")
    return path


def _image_topic(bag_path: Path) -> tuple[str, int, float]:
    """make-bag's compressed or raw image topic (the first present), its message count
    and the bag's duration; an absent topic is reported later by bag_eval with the
    bag's topic list."""
    from ..data.rosbag_from_dataset import COMPRESSED_TOPIC, IMAGE_TOPIC
    from ..data.rosbag_io import BagReader

    with BagReader(bag_path) as bag:
        topics = bag.reader.topics
        topic = next((t for t in (COMPRESSED_TOPIC, IMAGE_TOPIC) if t in topics), COMPRESSED_TOPIC)
        count = topics[topic].msgcount if topic in topics else 0
        return topic, int(count), bag.reader.duration * 1e-9


def prepare(config: DemoConfig) -> DemoPlan:
    """Resolve the weights and the bag (clear errors naming missing files) and apply the
    ROS settings (``node_process.apply_ros_settings``) to this process."""
    if not config.rate > 0:
        raise ConfigError(f"--rate must be positive, got {config.rate}")
    weights = (locate(BUNDLED_WEIGHTS, "weights", "--weights") if config.weights is None
               else _given(config.weights, "weights file"))
    bag = (locate(BUNDLED_BAG, "demo bag", "--bag") if config.bag is None
           else _given(config.bag, "bag"))
    topic, frames, duration = _image_topic(bag)
    apply_ros_settings()  # loopback discovery + a ROS_DOMAIN_ID if unset, for us and the node
    return DemoPlan(weights, bag, topic, frames, duration, config)


def run_demo(plan: DemoPlan) -> DemoRun:
    """Replay the bag through the live node (bag_eval live mode) and score it."""
    from ..data.rosbag_from_dataset import GT_TOPIC
    from ..data.rosbag_ground_truth import GroundTruthSource
    from ..core.onnx_export import export_onnx
    from .bag_eval import BagEvalConfig, bag_eval

    weights = plan.weights
    if plan.config.onnx and not is_onnx_path(weights):
        weights = export_onnx(weights, Path(plan.config.out) / f"{weights.stem}.onnx")
    config = BagEvalConfig(plan.bag, weights, plan.image_topic, Path(plan.config.out),
                           GroundTruthSource(topic=GT_TOPIC), mode="live", rate=plan.config.rate,
                           inference=InferenceOptions(device=plan.config.device))
    t0 = time.perf_counter()
    _, paths, _ = bag_eval(config)
    summary = json.loads(paths["summary"].read_text())
    # The live replay turns the gate off to score every frame; what the gate at its defaults
    # does (with the bag's odometry: the vote and its re-decoding) is the same code, offline.
    gated = replace(config, out=Path(plan.config.out) / "gate", mode="offline", plots=False)
    _, _, gate = bag_eval(gated)
    return DemoRun(plan, summary, paths, time.perf_counter() - t0, gate)


def format_plan(plan: DemoPlan) -> str:
    return (f"anchor-reloc demo: {plan.weights} on {plan.bag} ({plan.frames} frames on "
            f"{plan.image_topic}, {plan.duration_s:.0f} s at x{plan.config.rate:g})\n"
            f"starting anchor_reloc_node (ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '?')}, "
            "loopback only) and replaying the bag through it...")


def format_report(run: DemoRun) -> str:
    """What the demo prints: accuracy, rates, latency, drops, and where the files are."""
    from ..core.metrics import format_summary
    from ..core.uncertainty import format_uncertainty

    s = run.summary
    lines = ["", "accuracy against ground truth (a dropped frame counts as a failure):",
             *("  " + line for line in format_summary(s).splitlines()),
             *("  " + line for line in format_uncertainty(s).splitlines()),
             f"rate: {s['input_rate_hz']:.1f} Hz in, {s['output_rate_hz']:.1f} Hz out",
             f"latency (image published -> pose received): p50 {s['latency_p50_ms']:.1f} ms, "
             f"p95 {s['latency_p95_ms']:.1f} ms",
             f"drops: {s['dropped']} of {s['published']} frames",
             "plots:"]
    lines += [f"  {kind}: {run.paths[kind]}" for kind in PLOTS if kind in run.paths]
    if "gate_published_fraction" in run.gate:
        from .bag_gate import gate_line

        odometry = "with the bag's odometry, odom_check on" if run.gate["gate_odom_check"] else "no odometry in the bag"
        lines += [f"the node's gate at its defaults on the same bag ({odometry}; offline, "
                  f"{Path(run.plan.config.out) / 'gate'}/):", *("  " + line for line in gate_line(run.gate).splitlines())]
    lines += [f"all outputs (summary.json, frames.csv, TUM files for evo_ape, estimates bag, node log): "
              f"{Path(run.plan.config.out)}/",
              f"demo took {run.wall_s:.1f} s"]
    return "\n".join(lines)
