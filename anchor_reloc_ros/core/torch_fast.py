"""Faster eager torch: CUDA graphs for small batches and an explicit CPU thread count.

``CudaGraphBackend`` wraps a CUDA ``TorchBackend`` and captures the whole forward
(uint8 -> float, permute, network) once per batch shape, then replays it: one launch
instead of hundreds of kernel launches, which is what batch-1 latency on a GPU is
made of for MobileNet-sized networks. Other shapes fall back to eager.
"""
from __future__ import annotations

import logging

import torch

from .backends import TorchBackend
from .errors import ConfigError, DeviceError
from .preprocessing import to_network_input

log = logging.getLogger(__name__)


def set_cpu_threads(threads: int) -> None:
    """Set torch's intra-op CPU threads (process-wide); 0 keeps torch's default."""
    if threads < 0:
        raise ConfigError(f"threads must be >= 0, got {threads}")
    if threads > 0:
        torch.set_num_threads(int(threads))


class _Graph:
    """One captured forward: pinned host staging buffer -> device buffer -> graph -> outputs."""

    def __init__(self, backend: TorchBackend, shape: torch.Size, warmup: int = 3) -> None:
        device = backend.device
        self.host = torch.empty(shape, dtype=torch.uint8).pin_memory()
        self.input = torch.zeros(shape, dtype=torch.uint8, device=device)

        def forward() -> dict[str, torch.Tensor]:
            x = to_network_input(self.input, device, backend.dtype, backend.channels_last)
            return backend.model(x)

        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(warmup):  # cuDNN autotuning and lazy allocations happen outside the capture
                forward()
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = forward()
        self.copied = torch.cuda.Event()
        self.copied.record()

    def __call__(self, batch_BHW3: torch.Tensor) -> dict[str, torch.Tensor]:
        self.copied.synchronize()  # the previous upload has left the pinned buffer
        self.host.copy_(batch_BHW3)
        self.input.copy_(self.host, non_blocking=True)
        self.copied.record()
        self.graph.replay()
        return {k: v.clone() for k, v in self.outputs.items()}  # the next replay overwrites the outputs


class CudaGraphBackend:
    """A CUDA ``TorchBackend`` replayed through CUDA graphs (at most ``max_graphs`` batch shapes)."""

    def __init__(self, base: TorchBackend, max_graphs: int = 4) -> None:
        if base.device.type != "cuda":
            raise DeviceError(f"CUDA graphs need a CUDA device, the model is on {base.device}")
        self.base = base
        self.device = base.device
        self.name = "torch-cudagraph"
        self.max_graphs = max_graphs
        self._graphs: dict[tuple[int, ...], _Graph] = {}
        torch.backends.cudnn.benchmark = True

    @torch.inference_mode()
    def __call__(self, batch_BHW3: torch.Tensor) -> dict[str, torch.Tensor]:
        key = tuple(batch_BHW3.shape)
        graph = self._graphs.get(key)
        if graph is None and len(self._graphs) < self.max_graphs:
            log.info("capturing a CUDA graph for input shape %s", key)
            graph = self._graphs[key] = _Graph(self.base, batch_BHW3.shape)
        return graph(batch_BHW3) if graph is not None else self.base(batch_BHW3)
