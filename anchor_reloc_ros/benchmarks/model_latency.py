"""Model latency per backbone and backend, and the Localizer's overhead over the bare network.

For each backbone a random-weight model is saved as a checkpoint and exported to ONNX,
so every backend runs exactly what users deploy. "Backend call" is the
``InferenceBackend`` protocol (uint8 batch in, head outputs out); "bare network" is the
engine alone on a ready float input; "Localizer" is the full per-frame path (resize,
network, decoding, estimate objects).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.backend_factory import make_localizer
from ..core.backends import InferenceBackend, TorchBackend
from ..core.checkpoint import read_metadata
from ..core.model import RelocNet
from ..core.onnx_backend import CUDA_EP, TRT_EP, OnnxBackend, available_providers, select_providers
from ..core.onnx_export import INPUT_NAME, export_model_onnx
from ..core.preprocessing import to_network_input, to_planar_float32
from ..core.torch_fast import CudaGraphBackend
from .flops import flops_per_image
from .synthetic import random_checkpoint, random_model
from .timing import Timing, time_interleaved

THROUGHPUT_BATCH = 32


@dataclass(frozen=True)
class Effort:
    iters: int          # batch-1 timed calls
    batch_iters: int    # batch-32 timed calls
    warmup: int
    budget_s: float     # per measurement


QUICK = Effort(iters=15, batch_iters=2, warmup=5, budget_s=2.0)
FULL = Effort(iters=200, batch_iters=10, warmup=10, budget_s=10.0)


@dataclass
class Case:
    """One backend under test and how to build a Localizer that runs on it."""

    name: str
    backend: InferenceBackend
    weights: Path
    localizer_options: dict
    sync: Callable[[], None] | None = None


@dataclass
class LatencyRow:
    backbone: str
    backend: str
    device: str
    gflops_per_image: float
    batch1_p50_ms: float
    batch1_p95_ms: float
    batch32_images_per_s: float
    speedup_vs_torch_eager: float = float("nan")


@dataclass
class OverheadRow:
    backbone: str
    backend: str
    bare_network_p50_ms: float
    backend_call_p50_ms: float
    localizer_p50_ms: dict[str, float] = field(default_factory=dict)   # camera size -> ms
    ratio: dict[str, float] = field(default_factory=dict)              # camera size -> Localizer / bare


def _cuda_sync() -> None:
    torch.cuda.synchronize()


def _add(cases: list[Case], skipped: list[str], name: str, make: Callable[[], Case]) -> None:
    """Build a case; a backend that cannot start here is reported, not fatal to the run."""
    try:
        cases.append(make())
    except Exception as exc:  # noqa: BLE001 - any backend failure is reported as a row note
        skipped.append(f"{name}: {type(exc).__name__}: {exc}")


def build_cases(model: RelocNet, ckpt: Path, onnx_fp32: Path, onnx_fp16: Path | None, threads: int,
                full: bool, skipped: list[str]) -> list[Case]:
    """Every backend this machine can run (CUDA ones only when a GPU is present); the ones
    that fail to start are described in ``skipped``."""
    cpu = {"device": "cpu", "threads": threads}
    gpu = {"device": "cuda"}
    cases: list[Case] = []
    _add(cases, skipped, "torch-cpu-fp32", lambda: Case(
        "torch-cpu-fp32", TorchBackend(copy.deepcopy(model), "cpu"), ckpt, {"backend": "torch", **cpu}))
    _add(cases, skipped, "ort-cpu-fp32", lambda: Case(
        "ort-cpu-fp32", OnnxBackend(onnx_fp32, select_providers("onnxruntime", "cpu"), threads), onnx_fp32,
        {"backend": "onnxruntime", **cpu}))
    if full:
        _add(cases, skipped, "torch-cpu-fp32-channels_last", lambda: Case(
            "torch-cpu-fp32-channels_last", TorchBackend(copy.deepcopy(model), "cpu", channels_last=True), ckpt,
            {"backend": "torch", **cpu}))
    if not torch.cuda.is_available():
        return cases
    _add(cases, skipped, "torch-cuda-fp32", lambda: Case(
        "torch-cuda-fp32", TorchBackend(copy.deepcopy(model), "cuda"), ckpt, {"backend": "torch", **gpu},
        _cuda_sync))
    _add(cases, skipped, "torch-cuda-fp16", lambda: Case(
        "torch-cuda-fp16", TorchBackend(copy.deepcopy(model), "cuda", fp16=True), ckpt,
        {"backend": "torch", "fp16": True, **gpu}, _cuda_sync))
    _add(cases, skipped, "torch-cuda-fp16-cudagraph", lambda: Case(
        "torch-cuda-fp16-cudagraph", CudaGraphBackend(TorchBackend(copy.deepcopy(model), "cuda", fp16=True)),
        ckpt, {"backend": "torch", "fp16": True, "cuda_graphs": True, **gpu}, _cuda_sync))
    providers = available_providers()
    if CUDA_EP in providers and onnx_fp16 is not None:
        _add(cases, skipped, "ort-cuda-fp16", lambda: Case(
            "ort-cuda-fp16", OnnxBackend(onnx_fp16, select_providers("onnxruntime", "cuda")), onnx_fp16,
            {"backend": "onnxruntime", **gpu}))
    if TRT_EP in providers:
        trt = select_providers("tensorrt", "cuda", fp16=True, cache_dir=onnx_fp32.parent / "trt_cache")
        _add(cases, skipped, "ort-tensorrt-fp16", lambda: Case(
            "ort-tensorrt-fp16", OnnxBackend(onnx_fp32, trt), onnx_fp32, {"backend": "tensorrt", "fp16": True, **gpu}))
    return cases


def working_cases(cases: list[Case], size_hw: tuple[int, int], skipped: list[str]) -> list[Case]:
    """The cases whose first batch-1 and batch-32 calls succeed (e.g. a CUDA graph capture)."""
    ok = []
    for case in cases:
        try:
            for n in (1, THROUGHPUT_BATCH):
                case.backend(_batch(n, size_hw))
            if case.sync:
                case.sync()
            ok.append(case)
        except Exception as exc:  # noqa: BLE001 - reported as a row note, the others still run
            skipped.append(f"{case.name}: {type(exc).__name__}: {exc}")
    return ok


def _bare_runner(backend: InferenceBackend, batch_BHW3: torch.Tensor) -> Callable[[], object]:
    """The engine alone on a ready input (no uint8 conversion, no copies to the device)."""
    if isinstance(backend, OnnxBackend):
        x = to_planar_float32(batch_BHW3.numpy())
        return lambda: backend.session.run(backend.output_names, {INPUT_NAME: x})
    if isinstance(backend, TorchBackend):
        x = to_network_input(batch_BHW3, backend.device, backend.dtype, backend.channels_last)

        def run() -> object:
            with torch.inference_mode():
                return backend.model(x)

        return run
    return lambda: backend(batch_BHW3)  # graph-replaying backends: the call is the network


def _batch(n: int, size_hw: tuple[int, int], seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (n, *size_hw, 3), dtype=np.uint8))


def measure_cases(cases: list[Case], backbone: str, gflops: float, size_hw: tuple[int, int],
                  effort: Effort) -> list[LatencyRow]:
    """Batch-1 latency and batch-32 throughput of cases on one device, timed round-robin."""
    one, many = _batch(1, size_hw), _batch(THROUGHPUT_BATCH, size_hw)
    sync = cases[0].sync
    t1 = time_interleaved({c.name: (lambda c=c: c.backend(one)) for c in cases}, effort.iters, effort.warmup,
                          effort.budget_s * len(cases), sync)
    t32 = time_interleaved({c.name: (lambda c=c: c.backend(many)) for c in cases}, effort.batch_iters, 1,
                           effort.budget_s * len(cases), sync)
    return [LatencyRow(backbone, c.name, c.localizer_options["device"], gflops, t1[c.name].p50_ms,
                       t1[c.name].p95_ms, THROUGHPUT_BATCH / (t32[c.name].p50_ms / 1000.0)) for c in cases]


def measure_overhead(case: Case, backbone: str, size_hw: tuple[int, int], effort: Effort,
                     camera_sizes_hw: list[tuple[int, int]]) -> OverheadRow:
    """Localizer.localize per frame vs the bare network at batch 1 (the <= 1.25x target), round-robin."""
    one = _batch(1, size_hw)
    localizer = make_localizer(case.weights, **case.localizer_options)
    # The Localizer's own engine for all three: a second session would evict its weights from the caches.
    engine = localizer.backend
    fns: dict[str, Callable[[], object]] = {"bare": _bare_runner(engine, one), "call": lambda: engine(one)}
    for h, w in camera_sizes_hw:
        frames = _batch(8, (h, w), seed=1).numpy()
        counter = iter(range(1 << 30))
        fns[f"{w}x{h}"] = lambda frames=frames, counter=counter: localizer.localize(
            frames[next(counter) % len(frames)])
    timings: dict[str, Timing] = time_interleaved(fns, effort.iters, effort.warmup, effort.budget_s * 2, case.sync)
    bare = timings.pop("bare").p50_ms
    row = OverheadRow(backbone, case.name, bare, timings.pop("call").p50_ms)
    for key, timing in timings.items():
        row.localizer_p50_ms[key] = timing.p50_ms
        row.ratio[key] = timing.p50_ms / bare
    return row


def benchmark_backbone(backbone: str, size_hw: tuple[int, int], threads: int, effort: Effort, full: bool,
                       workdir: Path, skipped: list[str] | None = None
                       ) -> tuple[list[LatencyRow], list[OverheadRow], float]:
    """Latency rows for every backend, overhead rows for the best CPU (and GPU) backend, FLOPs/image.
    Backends that fail here are described in ``skipped`` (prefixed with the backbone)."""
    model = random_model(backbone)
    flops = flops_per_image(model, size_hw)
    folder = workdir / backbone
    ckpt = random_checkpoint(model, size_hw, folder / "random.safetensors")
    meta = read_metadata(ckpt)
    onnx32 = export_model_onnx(model, meta, folder / "random.onnx")
    onnx16 = export_model_onnx(copy.deepcopy(model), meta, folder / "random_fp16.onnx", fp16=True) \
        if torch.cuda.is_available() else None
    failed: list[str] = []
    cases = working_cases(build_cases(model, ckpt, onnx32, onnx16, threads, full, failed), size_hw, failed)
    rows: list[LatencyRow] = []
    for device in ("cpu", "cuda"):
        on_device = [c for c in cases if c.localizer_options["device"] == device]
        if on_device:
            rows += measure_cases(on_device, backbone, flops / 1e9, size_hw, effort)
    eager = next((r.batch1_p50_ms for r in rows if r.backend == "torch-cpu-fp32"), None)
    for r in rows:
        if r.device == "cpu" and eager is not None:
            r.speedup_vs_torch_eager = eager / r.batch1_p50_ms
    h, w = size_hw
    cameras = [(h, w), (2 * h, 2 * w)]
    overhead = []
    for device in ("cpu", "cuda"):
        mine = [r for r in rows if r.device == device]
        if mine:
            best = min(mine, key=lambda r: r.batch1_p50_ms).backend
            case = next(c for c in cases if c.name == best)
            try:
                overhead.append(measure_overhead(case, backbone, size_hw, effort, cameras))
            except Exception as exc:  # noqa: BLE001 - reported; the other measurements stand
                failed.append(f"{case.name} Localizer overhead: {type(exc).__name__}: {exc}")
    if skipped is not None:
        skipped += [f"{backbone} {note}" for note in failed]
    return rows, overhead, flops


def rows_as_dicts(rows: list[LatencyRow] | list[OverheadRow]) -> list[dict]:
    return [asdict(r) for r in rows]
