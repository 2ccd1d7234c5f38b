"""``OnnxBackend``: an exported ``.onnx`` model run by ONNX Runtime.

Execution providers are chosen by name: ``CPUExecutionProvider`` always,
``CUDAExecutionProvider`` and ``TensorrtExecutionProvider`` when the installed
onnxruntime build has them and a CUDA device is present. Outputs come back as CPU
torch tensors under the head-output names, so the ``Decoder`` works unchanged.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CheckpointError, ConfigError, DeviceError
from .inference_options import InferenceOptions
from .onnx_export import INPUT_NAME
from .preprocessing import to_planar_float32

log = logging.getLogger(__name__)
CPU_EP = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
TRT_EP = "TensorrtExecutionProvider"
ORT_KINDS = ("onnxruntime", "tensorrt")

Provider = str | tuple[str, dict[str, Any]]


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _cuda_usable(ep: str) -> bool:
    return ep in available_providers() and torch.cuda.is_available()


def select_providers(kind: str = "onnxruntime", device: str = InferenceOptions.device,
                     fp16: bool = InferenceOptions.fp16,
                     cache_dir: str | Path | None = None) -> list[Provider]:
    """Providers for ``kind`` (onnxruntime | tensorrt) on ``device`` (auto | cpu | cuda[:N])."""
    base, _, index = device.partition(":")
    device_id = int(index) if index else 0
    if kind not in ORT_KINDS:
        raise ConfigError(f"ONNX backend must be one of {ORT_KINDS}, got {kind!r}")
    if kind == "tensorrt":
        if base == "cpu" or not _cuda_usable(TRT_EP):
            raise DeviceError("backend=tensorrt needs onnxruntime-gpu with the TensorRT execution provider "
                              f"and a CUDA device (available providers: {available_providers()}, "
                              f"CUDA: {torch.cuda.is_available()}); or build an engine with trtexec "
                              "(docs/deployment.md)")
        trt_options = {"device_id": device_id, "trt_fp16_enable": fp16, "trt_engine_cache_enable": True,
                       "trt_engine_cache_path": str(cache_dir or Path.home() / ".cache" / "anchor_reloc" / "trt")}
        return [(TRT_EP, trt_options), (CUDA_EP, {"device_id": device_id}), CPU_EP]
    if base == "cuda" and not _cuda_usable(CUDA_EP):
        raise DeviceError(f"device={device} with backend=onnxruntime needs onnxruntime-gpu and a CUDA device "
                          f"(available providers: {available_providers()}, CUDA: {torch.cuda.is_available()})")
    if base in ("cuda", "auto") and _cuda_usable(CUDA_EP):
        return [(CUDA_EP, {"device_id": device_id}), CPU_EP]
    if base not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda[:N], got {device!r}")
    return [CPU_EP]


def _ort_load_errors() -> tuple[type[BaseException], ...]:
    """The exception types ORT raises for unreadable or invalid models (not RuntimeError subclasses)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("InvalidProtobuf", "InvalidGraph", "NoSuchFile", "Fail", "RuntimeException", "InvalidArgument",
             "NotImplemented")
    return (RuntimeError, ValueError, *(getattr(state, n) for n in names if hasattr(state, n)))


def _provider_name(p: Provider) -> str:
    return p if isinstance(p, str) else p[0]


class OnnxBackend:
    """Runs an exported model; ``threads`` sets ORT's intra-op CPU threads (0 = ORT default)."""

    device = torch.device("cpu")  # outputs are returned as CPU tensors

    def __init__(self, model: str | Path | bytes, providers: Sequence[Provider] = (CPU_EP,),
                 threads: int = InferenceOptions.threads,
                 source: str | None = None) -> None:
        import onnxruntime as ort

        self.source = source or (str(model) if not isinstance(model, bytes) else "<bytes>")
        providers = [providers] if isinstance(providers, str) else list(providers)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads > 0:
            options.intra_op_num_threads = int(threads)
        data = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(data, sess_options=options, providers=providers)
        except _ort_load_errors() as exc:
            raise CheckpointError(f"ONNX Runtime cannot load {self.source}: {exc}") from None
        wanted = _provider_name(providers[0])
        self.providers = self.session.get_providers()
        if self.providers[0] != wanted:
            raise DeviceError(f"ONNX Runtime could not start {wanted} for {self.source} "
                              f"(running on {self.providers[0]}); check the CUDA/TensorRT libraries")
        self.name = "tensorrt" if wanted == TRT_EP else "onnxruntime"
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != [INPUT_NAME]:
            raise CheckpointError(f"{self.source}: expected one input {INPUT_NAME!r}, got {[i.name for i in inputs]}")
        batch = inputs[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None
        self.output_names = [o.name for o in self.session.get_outputs()]

    def _run(self, x_B3HW: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.output_names, {INPUT_NAME: x_B3HW})

    def _run_fixed(self, x_B3HW: np.ndarray) -> list[np.ndarray]:
        """A fixed-batch graph: run in chunks of that size, padding the last one."""
        b, n = self.fixed_batch, len(x_B3HW)
        parts: list[list[np.ndarray]] = []
        for start in range(0, n, b):
            chunk = x_B3HW[start:start + b]
            if len(chunk) < b:
                chunk = np.concatenate([chunk, np.zeros((b - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            parts.append([o[:n - start] for o in self._run(chunk)])
        return [np.concatenate(outs) for outs in zip(*parts)]

    def __call__(self, batch_BHW3: torch.Tensor) -> dict[str, torch.Tensor]:
        x = to_planar_float32(batch_BHW3.numpy())
        outs = self._run(x) if self.fixed_batch is None or self.fixed_batch == len(x) else self._run_fixed(x)
        return {name: torch.from_numpy(o) for name, o in zip(self.output_names, outs)}
