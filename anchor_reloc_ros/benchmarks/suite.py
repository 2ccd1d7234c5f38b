"""``run_bench(config) -> Path``: every benchmark, one Markdown report + JSON in ``config.out``."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core.errors import ConfigError
from .decode_throughput import default_bag, run_decode_benchmark
from .machine import describe_machine
from .model_latency import FULL, QUICK, benchmark_backbone, rows_as_dicts
from .report import render
from .training_throughput import benchmark_training
from .training_throughput import rows_as_dicts as train_dicts

FULL_BACKBONES = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_lite0", "resnet18")
QUICK_BACKBONES = ("mobilenet_v3_small",)
NODE_TIMEOUT_S = 900


@dataclass
class BenchConfig:
    out: Path
    threads: int
    quick: bool = False
    backbones: tuple[str, ...] = field(default_factory=tuple)   # empty: the defaults for the mode
    image_size_hw: tuple[int, int] = (240, 320)
    training: bool = True
    node: bool = False
    decode: bool = True           # bag decode + resize throughput of the bundled demo bag
    gpu_peak_tflops: float | None = None

    def chosen_backbones(self) -> tuple[str, ...]:
        return self.backbones or (QUICK_BACKBONES if self.quick else FULL_BACKBONES)


def _node_latency(config: BenchConfig, backbone: str) -> dict[str, Any]:
    """The node benchmark in a child process (rclpy and the built messages stay out of this one)."""
    h, w = config.image_size_hw
    with tempfile.TemporaryDirectory(prefix="anchor_reloc_node_bench_") as tmp:
        out = Path(tmp) / "node.json"
        cmd = [sys.executable, "-m", "anchor_reloc_ros.benchmarks.node_latency", "--backbone",
               backbone, "--size", f"{w}x{h}", "--threads", str(config.threads),
               "--json", str(out)]
        cmd += ["--frames", "30", "--seconds", "2"] if config.quick else []
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"error": f"node benchmark timed out after {NODE_TIMEOUT_S} s"}
        if done.returncode != 0 or not out.is_file():
            return {"error": f"node benchmark failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"}
        return {**json.loads(out.read_text()), "table": done.stdout}


def _decode_throughput(config: BenchConfig) -> dict[str, Any]:
    try:
        return run_decode_benchmark(default_bag(), config.image_size_hw, config.quick)
    except ConfigError as exc:  # no bundled bag (e.g. an install without demo/)
        return {"error": str(exc)}


def run_bench(config: BenchConfig) -> Path:
    """Measure, write ``bench.md`` and ``bench.json`` into ``config.out``; returns the Markdown path."""
    if config.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {config.threads}")
    torch.set_num_threads(config.threads)
    config.out.mkdir(parents=True, exist_ok=True)
    h, w = config.image_size_hw
    result: dict[str, Any] = {"quick": config.quick, "image_size_wxh": f"{w}x{h}",
                              "machine": describe_machine(config.threads, config.gpu_peak_tflops),
                              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "latency": [], "overhead": [], "training": [], "node_latency": [], "skipped_backends": []}
    effort = QUICK if config.quick else FULL
    backbones = config.chosen_backbones()
    with tempfile.TemporaryDirectory(prefix="anchor_reloc_bench_") as tmp:
        work = Path(tmp)
        for backbone in backbones:
            rows, overhead, _ = benchmark_backbone(backbone, config.image_size_hw, config.threads, effort,
                                                   not config.quick, work, result["skipped_backends"])
            result["latency"] += rows_as_dicts(rows)
            result["overhead"] += rows_as_dicts(overhead)
        if config.training:
            result["training"] = train_dicts(benchmark_training(backbones[0], config.image_size_hw, config.threads,
                                                                work, config.quick))
        if config.node:
            node_backbones = backbones[:1] if config.quick else backbones
            result["node_latency"] = [_node_latency(config, b) for b in node_backbones]
    if config.decode:
        result["decode"] = _decode_throughput(config)
    result["load_average_at_end"] = describe_machine(config.threads)["load_average_1_5_15"]
    (config.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    md = config.out / "bench.md"
    md.write_text(render(result))
    return md
