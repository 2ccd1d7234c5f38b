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
from .machine import describe_machine
from .model_latency import FULL, QUICK, benchmark_backbone, rows_as_dicts
from .report import render
from .training_throughput import benchmark_training
from .training_throughput import rows_as_dicts as train_dicts

FULL_BACKBONES = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_lite0", "resnet18")
QUICK_BACKBONES = ("mobilenet_v3_small",)
NODE_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "node_latency.py"


@dataclass
class BenchConfig:
    out: Path
    threads: int
    quick: bool = False
    backbones: tuple[str, ...] = field(default_factory=tuple)   # empty: the defaults for the mode
    image_size_hw: tuple[int, int] = (240, 320)
    training: bool = True
    node: bool = False
    gpu_peak_tflops: float | None = None

    def chosen_backbones(self) -> tuple[str, ...]:
        return self.backbones or (QUICK_BACKBONES if self.quick else FULL_BACKBONES)


def _node_latency(ckpt: Path, config: BenchConfig) -> str:
    """Run the ROS engineer's node benchmark in a subprocess (needs rclpy and the built messages)."""
    if not NODE_SCRIPT.is_file():
        return f"skipped: {NODE_SCRIPT} not found"
    h, w = config.image_size_hw
    cmd = [sys.executable, str(NODE_SCRIPT), "--weights", str(ckpt), "--threads", str(config.threads),
           "--size", f"{w}x{h}", "--frames", "30" if config.quick else "300"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "failed: node benchmark timed out after 600 s"
    if done.returncode != 0:
        return f"failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
    return done.stdout


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
                              "latency": [], "overhead": [], "training": [], "node_latency": None}
    effort = QUICK if config.quick else FULL
    backbones = config.chosen_backbones()
    with tempfile.TemporaryDirectory(prefix="anchor_reloc_bench_") as tmp:
        work = Path(tmp)
        for backbone in backbones:
            rows, overhead, _ = benchmark_backbone(backbone, config.image_size_hw, config.threads, effort,
                                                   not config.quick, work)
            result["latency"] += rows_as_dicts(rows)
            result["overhead"] += rows_as_dicts(overhead)
        if config.training:
            result["training"] = train_dicts(benchmark_training(backbones[0], config.image_size_hw, config.threads,
                                                                work, config.quick))
        if config.node:
            result["node_latency"] = _node_latency(work / backbones[0] / "random.safetensors", config)
    result["load_average_at_end"] = describe_machine(config.threads)["load_average_1_5_15"]
    (config.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    md = config.out / "bench.md"
    md.write_text(render(result))
    return md
