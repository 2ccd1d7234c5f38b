"""Benchmark results -> Markdown tables (for the README / docs) and JSON."""
from __future__ import annotations

import math
from typing import Any

from .flops import limit_line
from .machine import machine_markdown

OVERHEAD_TARGET = 1.25


def _fmt(v: Any, digits: int = 2) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def latency_section(rows: list[dict]) -> str:
    header = ["backbone", "backend", "GFLOP/img", "batch-1 p50 ms", "batch-1 p95 ms", "batch-32 img/s",
              "GFLOP/s (b32)", "b1 speed-up vs torch eager"]
    body = [[r["backbone"], r["backend"], r["gflops_per_image"], r["batch1_p50_ms"], r["batch1_p95_ms"],
             r["batch32_images_per_s"], r["gflops_per_image"] * r["batch32_images_per_s"],
             r["speedup_vs_torch_eager"]] for r in rows]
    return table(header, body)


def overhead_section(rows: list[dict]) -> str:
    cameras = sorted({k for r in rows for k in r["ratio"]}, key=lambda k: int(k.split("x")[0]))
    header = ["backbone", "backend", "bare network p50 ms", "backend call p50 ms"]
    header += [h for c in cameras for h in (f"Localizer p50 ms ({c} frame)", f"ratio ({c})")]
    body = [[r["backbone"], r["backend"], r["bare_network_p50_ms"], r["backend_call_p50_ms"],
             *[v for c in cameras for v in (r["localizer_p50_ms"][c], r["ratio"][c])]] for r in rows]
    cpu = [r for r in rows if not r["backend"].startswith(("torch-cuda", "ort-cuda", "ort-tensorrt"))]
    met = [r["backbone"] for r in cpu if max(r["ratio"].values()) <= OVERHEAD_TARGET]
    missed = [f"{r['backbone']} ({max(r['ratio'].values()):.2f}x)" for r in cpu if r["backbone"] not in met]
    return (table(header, body) + f"\n\nTarget: Localizer <= {OVERHEAD_TARGET}x the bare network on the best CPU "
            f"backend. Met: {', '.join(met) or 'none'}. Not met: {', '.join(missed) or 'none'}.")


def gpu_limit_section(rows: list[dict], peak_tflops: float | None) -> str:
    lines = []
    for r in rows:
        if r["device"] != "cuda":
            continue
        flops = r["gflops_per_image"] * 1e9
        name = f"{r['backbone']} {r['backend']}"
        lines.append("- " + limit_line(f"{name} batch-1", flops, r["batch1_p50_ms"], 1, peak_tflops))
        lines.append("- " + limit_line(f"{name} batch-32", flops, 32000.0 / r["batch32_images_per_s"], 32,
                                       peak_tflops))
    return "\n".join(lines)


def training_section(rows: list[dict]) -> str:
    header = ["backbone", "mode", "train images", "batch", "setup s", "epoch s (median)", "images/s"]
    body = [[r["backbone"], r["mode"], r["train_images"], r["batch_size"], r["setup_s"], r["epoch_s"],
             r["images_per_s"]] for r in rows]
    return table(header, body)


def decode_section(decode: dict[str, Any]) -> str:
    """``benchmarks.decode_throughput``: bag decode + resize passes per thread count."""
    header = ["decode threads", "frames", "pass p50 ms", "pass p95 ms", "images/s (median pass)",
              "speed-up vs 1"]
    body = [[r["threads"], r["frames"], r["pass_p50_ms"], r["pass_p95_ms"], round(r["images_per_s"]),
             r["speedup_vs_1"]] for r in decode["rows"]]
    return table(header, body)


def render(result: dict[str, Any]) -> str:
    size = result["image_size_wxh"]
    parts = [f"# anchor-reloc bench ({'quick' if result['quick'] else 'full'})", "", "## Machine", "",
             machine_markdown(result["machine"]), "",
             f"## Model latency ({size}, random weights, {result['machine']['threads']} CPU threads)", "",
             latency_section(result["latency"]), "",
             "## Localizer per frame vs the bare network (fastest backend per device, batch 1)", "",
             overhead_section(result["overhead"]), ""]
    if result.get("skipped_backends"):
        parts += ["Backends that could not run here (not timed):", "",
                  *[f"- {note}" for note in result["skipped_backends"]], ""]
    gpu = result["machine"]["gpu"]
    if gpu:
        parts += ["## GPU: distance from the theoretical limit (FLOPs / fp16 dense peak)", "",
                  gpu_limit_section(result["latency"], gpu["peak_fp16_tflops"]), ""]
    if result.get("training"):
        parts += [f"## Training throughput ({size}, real Trainer, steps only)", "",
                  training_section(result["training"]), ""]
    decode = result.get("decode")
    if decode:
        parts += [f"## Bag decode ({decode.get('frame_wxh', '?')} frames) + resize to {size}, no network "
                  "(offline bag-eval's input; python -m anchor_reloc_ros.benchmarks.decode_throughput)", "",
                  decode_section(decode) if "rows" in decode else f"failed: {decode.get('error')}", ""]
    nodes = result.get("node_latency") or []
    if nodes:
        parts += ["## Node: image published -> pose received, over DDS (python -m anchor_reloc_ros.benchmarks.node_latency)", ""]
        parts += [node.get("table") or f"failed: {node.get('error')}" for node in nodes]
    return "\n".join(parts)
