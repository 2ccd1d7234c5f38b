"""What the numbers were measured on: CPU, load, library versions, GPU and its peak."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

# Dense fp16 tensor-core peak (TFLOPS, no sparsity) by substring of the device name;
# first match wins, so more specific names come first. Jetson figures are approximate.
GPU_PEAK_FP16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0),
    ("A100", 312.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("A10", 125.0),
    ("RTX 4090", 165.0), ("RTX 3090", 71.0), ("V100", 125.0), ("T4", 65.0),
    ("Orin Nano", 10.0), ("Orin NX", 25.0), ("Orin", 42.5), ("Xavier", 11.0),
)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gpu_peak_tflops(name: str) -> float | None:
    for key, peak in GPU_PEAK_FP16_TFLOPS:
        if key.lower() in name.lower():
            return peak
    return None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import torchvision

        out["torchvision"] = torchvision.__version__
    except ImportError:
        out["torchvision"] = "missing"
    try:
        import onnxruntime as ort

        out["onnxruntime"] = f"{ort.__version__} ({', '.join(ort.get_available_providers())})"
    except ImportError:
        out["onnxruntime"] = "missing"
    return out


def describe_machine(threads: int, gpu_peak_override: float | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": threads,
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        **_versions(),
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                       "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda,
                       "peak_fp16_tflops": gpu_peak_override or gpu_peak_tflops(props.name)}
    return info


def machine_markdown(info: dict[str, Any]) -> str:
    gpu = info["gpu"]
    lines = [f"- CPU: {info['cpu']}, {info['usable_cores']} usable of {info['logical_cores']} logical cores; "
             f"benchmark threads: {info['threads']}",
             f"- load average (1/5/15 min) at start: {info['load_average_1_5_15']}",
             f"- {info['os']}; python {info['python']}, torch {info['torch']}, torchvision {info['torchvision']}, "
             f"onnxruntime {info['onnxruntime']}",
             f"- GPU: {gpu['name']} ({gpu['memory_gib']} GiB, sm {gpu['capability']}, CUDA {gpu['cuda']}), "
             f"fp16 dense peak {gpu['peak_fp16_tflops']} TFLOPS" if gpu else "- GPU: none"]
    return "\n".join(lines)
