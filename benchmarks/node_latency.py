"""Node latency: image published -> pose received over real DDS, against the Localizer alone.

    .venv/bin/python benchmarks/node_latency.py                       # untrained default model
    .venv/bin/python benchmarks/node_latency.py --weights best.safetensors --frames 200

Runs ``anchor_reloc_node`` as a separate process. For every frame, this process first
times ``Localizer.localize`` alone on it (same checkpoint, same torch threads), then
publishes it and waits for the pose with that frame's stamp (closed loop: no queueing,
so the figure is the pipeline's own latency). Interleaving the two keeps background
load from favouring either. Output: p50/p95 of both, the node's own inference time
(from AnchorDebug), and the overhead ratio ``node_p50 / localizer_p50 - 1`` (target
<= 15 % on the CPU). Loopback only (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST); shared-memory
transport with ``config/fastdds_shm.xml`` unless --udp.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHM_PROFILE = REPO / "config" / "fastdds_shm.xml"


@dataclass
class BenchConfig:
    weights: Path | None
    frames: int
    warmup: int
    width: int
    height: int
    encoding: str          # rgb8, bgr8 or jpeg
    threads: int
    shm: bool
    backbone: str
    timeout_s: float


def percentiles(values_ms: list[float]) -> tuple[float, float]:
    arr = np.asarray(values_ms, dtype=np.float64)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def make_checkpoint(backbone: str, folder: Path) -> Path:
    """An untrained checkpoint with the training defaults (timing does not need training)."""
    import torch

    from anchor_reloc_ros.core.anchors import RouteFrame
    from anchor_reloc_ros.core.checkpoint import save_checkpoint
    from anchor_reloc_ros.core.decoding import UncertaintyCalibration
    from anchor_reloc_ros.core.model import ModelConfig, RelocNet

    torch.manual_seed(0)
    n = 100
    model = RelocNet(ModelConfig(backbone=backbone, head="anchor", num_anchors=n), pretrained=False)
    anchors = np.stack([np.arange(n, dtype=float), np.zeros(n), np.zeros(n)], axis=1)
    meta = {"preprocessing": {"image_size": [224, 224]},
            "route_frame": RouteFrame(np.zeros(3), np.eye(3), 1.0, "z").to_dict(),
            "anchors": {"positions_route": anchors.tolist()},
            "calibration": UncertaintyCalibration().to_dict()}
    return save_checkpoint(folder / f"untrained_{backbone}.safetensors", model, meta)


def make_frames(config: BenchConfig, count: int) -> list[np.ndarray]:
    """Smooth random images (JPEG-compressible like camera frames)."""
    import cv2

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(count):
        small = rng.integers(0, 256, (config.height // 16, config.width // 16, 3), dtype=np.uint8)
        frames.append(cv2.resize(small, (config.width, config.height), interpolation=cv2.INTER_CUBIC))
    return frames


def ros_environment(config: BenchConfig) -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(101, 200)))
    env["OMP_NUM_THREADS"] = str(config.threads)
    for name in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(name, None)
        if config.shm:
            env[name] = str(SHM_PROFILE)
    return env


def measure(config: BenchConfig, weights: Path, frames: list[np.ndarray]
            ) -> tuple[list[float], list[float], list[float], int]:
    """(Localizer-alone ms, node end-to-end ms, node-reported inference ms, frames lost)."""
    import rclpy
    import torch
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from sensor_msgs.msg import CompressedImage, Image

    from anchor_reloc_ros.core.localizer import Localizer
    from anchor_reloc_ros.data.image_codec import rgb_to_compressed, rgb_to_image_fields
    from anchor_reloc_ros.msg import AnchorDebug

    torch.set_num_threads(config.threads)
    localizer = Localizer.from_checkpoint(weights, device="cpu")

    compressed = config.encoding == "jpeg"
    node_cmd = [sys.executable, "-c", "import sys; from anchor_reloc_ros.ros.node import main; "
                "sys.exit(main())", "--ros-args", "-p", f"weights:={weights}", "-p", "device:=cpu",
                "-p", "image_topic:=bench/image", "-p", "base_frame:=bench_cam",
                "-p", f"image_transport:={'compressed' if compressed else 'raw'}",
                "-p", f"cpu_threads:={config.threads}", "-p", "diagnostics_period_s:=5.0"]
    proc = subprocess.Popen(node_cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    rclpy.init()
    try:
        peer = rclpy.create_node("node_latency_bench")
        arrivals: dict[int, float] = {}
        inference: dict[int, float] = {}
        cond = threading.Condition()

        def on_pose(msg: PoseWithCovarianceStamped) -> None:
            now = time.perf_counter()
            with cond:
                arrivals[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = now
                cond.notify_all()

        def on_debug(msg: AnchorDebug) -> None:
            inference[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = msg.inference_ms

        peer.create_subscription(PoseWithCovarianceStamped, "/anchor_reloc_node/pose", on_pose, 10)
        peer.create_subscription(AnchorDebug, "/anchor_reloc_node/anchor", on_debug, 10)
        topic = "/bench/image/compressed" if compressed else "/bench/image"
        pub = peer.create_publisher(CompressedImage if compressed else Image, topic,
                                    QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        executor = SingleThreadedExecutor()
        executor.add_node(peer)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        deadline = time.monotonic() + 60.0
        while pub.get_subscription_count() == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not start:\n{proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.05)

        messages = []
        for i, rgb in enumerate(frames):
            if compressed:
                fmt, data = rgb_to_compressed(rgb, "jpeg", 90)
                msg = CompressedImage(format=fmt, data=data)
            else:
                enc, h, w, step, data = rgb_to_image_fields(rgb, config.encoding)
                msg = Image(encoding=enc, height=h, width=w, step=step, data=data)
            msg.header.frame_id = "bench_cam"
            msg.header.stamp.sec = 1000 + i
            messages.append(msg)

        alone, latencies, node_inference, lost = [], [], [], 0
        for i, msg in enumerate(messages):
            key = (1000 + i) * 1_000_000_000
            t0 = time.perf_counter()
            localizer.localize(frames[i])
            local_ms = (time.perf_counter() - t0) * 1e3
            sent = time.perf_counter()
            pub.publish(msg)
            with cond:
                got = cond.wait_for(lambda: key in arrivals, timeout=config.timeout_s)
            if not got:
                lost += 1
                continue
            if i >= config.warmup:
                alone.append(local_ms)
                latencies.append((arrivals[key] - sent) * 1e3)
                time.sleep(0.005)  # let AnchorDebug (published after the pose) arrive
                if key in inference:
                    node_inference.append(inference[key])
        executor.shutdown(timeout_sec=5.0)
        peer.destroy_node()
        return alone, latencies, node_inference, lost
    finally:
        rclpy.try_shutdown()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def run(config: BenchConfig) -> dict[str, float]:
    os.environ.update(ros_environment(config))
    with tempfile.TemporaryDirectory(prefix="node_latency_") as tmp:
        weights = config.weights or make_checkpoint(config.backbone, Path(tmp))
        frames = make_frames(config, config.warmup + config.frames)
        alone, node_ms, node_inference, lost = measure(config, weights, frames)
    a50, a95 = percentiles(alone)
    n50, n95 = percentiles(node_ms)
    ratios = np.asarray(node_ms) / np.asarray(alone)
    return {"localizer_p50_ms": a50, "localizer_p95_ms": a95, "node_p50_ms": n50,
            "node_p95_ms": n95, "node_inference_p50_ms": percentiles(node_inference)[0]
            if node_inference else float("nan"), "overhead_p50": n50 / a50 - 1.0,
            "overhead_p95": n95 / a95 - 1.0, "paired_ratio_median": float(np.median(ratios)),
            "frames": float(len(node_ms)), "lost": float(lost)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, help="checkpoint (default: an untrained one)")
    parser.add_argument("--backbone", default="efficientnet_lite0",
                        help="backbone of the untrained default checkpoint")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the camera frames")
    parser.add_argument("--encoding", default="rgb8", choices=["rgb8", "bgr8", "jpeg"])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads, the same for the node and the Localizer")
    parser.add_argument("--udp", action="store_true", help="default DDS transports, not SHM")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-frame wait (s)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    config = BenchConfig(args.weights, args.frames, args.warmup, width, height, args.encoding,
                         args.threads, not args.udp, args.backbone, args.timeout)
    r = run(config)
    print(f"frames {int(r['frames'])} ({int(r['lost'])} lost), {width}x{height} {args.encoding}, "
          f"{args.threads} torch threads, {'SHM' if config.shm else 'UDP'} transport")
    print(f"Localizer alone      p50 {r['localizer_p50_ms']:8.2f} ms   p95 {r['localizer_p95_ms']:8.2f} ms")
    print(f"node, image -> pose  p50 {r['node_p50_ms']:8.2f} ms   p95 {r['node_p95_ms']:8.2f} ms"
          f"   (node-reported inference p50 {r['node_inference_p50_ms']:.2f} ms)")
    print(f"overhead             p50 {100 * r['overhead_p50']:+7.1f} %    p95 {100 * r['overhead_p95']:+7.1f} %"
          f"   (target <= +15 % at p50)")
    print(f"paired per-frame ratio node/alone, median {r['paired_ratio_median']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
