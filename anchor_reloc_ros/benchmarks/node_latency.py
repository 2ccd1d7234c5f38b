"""Node benchmark: image published -> pose received, through the real node over DDS.

    python -m anchor_reloc_ros.benchmarks.node_latency                     # defaults below
    python -m anchor_reloc_ros.benchmarks.node_latency --weights model.onnx --rates 30 100

Each phase starts a fresh ``anchor_reloc_node`` child process and feeds it synthetic
camera frames with ``ros.live_session`` (the same code as live bag replay), from this
process, on this machine, over loopback shared memory:

* **closed loop**: each frame is sent once the last one was answered (no queueing), so
  the latency is the pipeline's own. The node's overhead is the end-to-end median over
  the median ``Localizer.localize`` time the node itself reports for the same frames
  (AnchorDebug.inference_ms): same process, same frames, same moment.
* **open loop** at each input rate (30 and 100 Hz): sustained output rate, latency
  p50/p95, and the frames without a pose, split into lost in transport and skipped
  because a newer frame arrived while the node was busy (the node keeps the newest).

The default model is a random-weight mobilenet_v3_large exported to ONNX at the camera
size (320x240): timing does not need training.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.inference_options import InferenceOptions
from ..core.options import add_arguments, from_args, option_specs

DEFAULT_RATES = (30.0, 100.0)
# What the node runs with; backend torch makes the random model a checkpoint, else an ONNX export.
NODE_INFERENCE = InferenceOptions(device="cpu", threads=1)


@dataclass
class NodeBenchConfig:
    weights: Path | None = None          # .safetensors or .onnx; None: a random model
    backbone: str = "mobilenet_v3_large"
    inference: InferenceOptions = NODE_INFERENCE   # the node's backend, device, fp16, cpu_threads
    size_wh: tuple[int, int] = (320, 240)
    encoding: str = "rgb8"               # rgb8 | bgr8 | jpeg
    workers: int = 1                     # the node's inference_workers
    closed_frames: int = 200
    rates_hz: tuple[float, ...] = DEFAULT_RATES
    seconds_per_rate: float = 10.0


@dataclass
class NodePhase:
    name: str
    input_rate_hz: float
    published: int
    answered: int
    output_rate_hz: float
    latency_p50_ms: float
    latency_p95_ms: float
    localizer_p50_ms: float
    lost_in_transport: int | None
    skipped_while_busy: int | None
    superseded: int | None
    overhead_p50: float = float("nan")   # closed loop: latency p50 / Localizer p50 - 1


@dataclass
class NodeBenchResult:
    config: dict
    phases: list[NodePhase] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"config": self.config, "phases": [asdict(p) for p in self.phases]}


def _random_weights(config: NodeBenchConfig, folder: Path) -> Path:
    from ..core.checkpoint import read_metadata
    from ..core.onnx_export import export_model_onnx
    from .synthetic import random_checkpoint, random_model

    w, h = config.size_wh
    model = random_model(config.backbone)
    ckpt = random_checkpoint(model, (h, w), folder / f"random_{config.backbone}.safetensors")
    if config.inference.backend != "torch":
        return export_model_onnx(model, read_metadata(ckpt), folder / f"random_{config.backbone}.onnx")
    return ckpt


def synthetic_frames(size_wh: tuple[int, int], encoding: str, count: int, rate_hz: float,
                     first_stamp_s: int) -> tuple[list, bool]:
    """``count`` serialized camera messages (smooth random images), paced at ``rate_hz``."""
    import cv2
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CompressedImage, Image

    from ..data.image_codec import rgb_to_compressed, rgb_to_image_fields
    from ..ros.live_session import CAMERA_FRAME, LiveFrame

    w, h = size_wh
    rng = np.random.default_rng(0)
    distinct = []
    for _ in range(min(count, 16)):
        small = rng.integers(0, 256, (max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
        distinct.append(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))
    compressed = encoding == "jpeg"
    frames = []
    for i in range(count):
        rgb = distinct[i % len(distinct)]
        if compressed:
            fmt, data = rgb_to_compressed(rgb, "jpeg", 90)
            msg = CompressedImage(format=fmt, data=data)
        else:
            enc, height, width, step, data = rgb_to_image_fields(rgb, encoding)
            msg = Image(encoding=enc, height=height, width=width, step=step, data=data)
        time_ns = int(round(i * 1e9 / rate_hz))
        msg.header.frame_id = CAMERA_FRAME
        msg.header.stamp.sec = first_stamp_s + time_ns // 1_000_000_000
        msg.header.stamp.nanosec = time_ns % 1_000_000_000
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        frames.append(LiveFrame(i, time_ns, stamp, serialize_message(msg)))
    return frames, compressed


def _phase(name: str, weights: Path, config: NodeBenchConfig, rate_hz: float, count: int,
           closed_loop: bool, log: Path) -> NodePhase:
    from ..ros.live_session import LiveOptions, run_live

    frames, compressed = synthetic_frames(config.size_wh, config.encoding, count, rate_hz, 1000)
    options = LiveOptions(weights, config.inference, inference_workers=config.workers,
                          closed_loop=closed_loop, settle_s=1.0)
    s = run_live(frames, compressed, log, options, what="the synthetic frames").stats
    phase = NodePhase(name, float(s["input_rate_hz"]), int(s["published"]), int(s["answered"]),
                      float(s["output_rate_hz"]), float(s["latency_p50_ms"]), float(s["latency_p95_ms"]),
                      float(s["localizer_p50_ms"]), s.get("lost_in_transport"), s.get("skipped_while_busy"),
                      s.get("superseded"))
    if closed_loop:
        phase.overhead_p50 = phase.latency_p50_ms / phase.localizer_p50_ms - 1.0
    return phase


def run_node_bench(config: NodeBenchConfig, log_dir: Path | None = None) -> NodeBenchResult:
    """All phases; node logs go to ``log_dir`` (a temporary folder when None)."""
    result = NodeBenchResult({**asdict(config), "weights": str(config.weights) if config.weights else None})
    with tempfile.TemporaryDirectory(prefix="node_bench_") as tmp:
        logs = Path(log_dir) if log_dir else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        weights = config.weights or _random_weights(config, Path(tmp))
        result.config["model_file"] = weights.name
        result.phases.append(_phase("closed loop", weights, config, 30.0, config.closed_frames, True,
                                    logs / "node_closed_loop.log"))
        for rate in config.rates_hz:
            count = max(int(round(rate * config.seconds_per_rate)), 2)
            result.phases.append(_phase(f"{rate:g} Hz", weights, config, rate, count, False,
                                        logs / f"node_{rate:g}hz.log"))
    return result


def _opt(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def render_table(result: NodeBenchResult) -> str:
    """Markdown table of the phases."""
    c = result.config
    w, h = c["size_wh"]
    lines = [f"Node: {c.get('model_file')} ({c['backbone'] if not c['weights'] else 'given weights'}), "
             f"{w}x{h} {c['encoding']}, node cpu_threads={c['inference']['threads']} "
             f"inference_workers={c['workers']}, "
             "publisher on the same machine (loopback shared memory)", "",
             "| phase | input Hz | output Hz | answered | latency p50 ms | latency p95 ms | "
             "Localizer p50 ms | overhead p50 | lost in transport | skipped while busy | superseded |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in result.phases:
        overhead = "" if np.isnan(p.overhead_p50) else f"{100 * p.overhead_p50:+.1f} %"
        lines.append(f"| {p.name} | {p.input_rate_hz:.1f} | {p.output_rate_hz:.1f} | {p.answered}/{p.published} | "
                     f"{p.latency_p50_ms:.2f} | {p.latency_p95_ms:.2f} | {p.localizer_p50_ms:.2f} | {overhead} | "
                     f"{_opt(p.lost_in_transport)} | {_opt(p.skipped_while_busy)} | {_opt(p.superseded)} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--weights", type=Path, help="checkpoint or ONNX export (default: a random model)")
    parser.add_argument("--backbone", default=NodeBenchConfig.backbone, help="backbone of the random model")
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the camera frames")
    parser.add_argument("--encoding", default="rgb8", choices=["rgb8", "bgr8", "jpeg"])
    parser.add_argument("--workers", type=int, default=1, help="the node's inference_workers")
    node = add_arguments(parser.add_argument_group("the node's inference parameters"),
                         (s for s in option_specs(NODE_INFERENCE) if s.parameter))  # no cuda_graphs
    node["backend"].help += "; the random model is a checkpoint for torch, else an ONNX export"
    parser.add_argument("--frames", type=int, default=200, help="closed-loop frames")
    parser.add_argument("--rates", type=float, nargs="*", default=list(DEFAULT_RATES), help="input rates (Hz)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each rate phase")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    parser.add_argument("--logs", type=Path, help="keep the node logs in this folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, got {args.size!r}")
    config = NodeBenchConfig(args.weights, args.backbone, from_args(NODE_INFERENCE, args), (w, h), args.encoding,
                             args.workers, args.frames, tuple(args.rates), args.seconds)
    from ..core.errors import AnchorRelocError

    try:
        result = run_node_bench(config, args.logs)
    except AnchorRelocError as exc:
        print(f"node benchmark failed: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    print(render_table(result), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
