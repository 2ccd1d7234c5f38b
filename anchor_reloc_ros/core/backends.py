"""Inference backends behind the Localizer: uint8 BHWC batch in, head outputs out.

``TorchBackend`` runs the ``RelocNet`` eagerly (CPU or CUDA, fp32 or fp16). Other
backends (ONNX Runtime, TensorRT) implement the same call and are chosen by
``make_backend``.
"""
from __future__ import annotations

import logging
from typing import Protocol

import torch

from .device import resolve_device
from .inference_options import InferenceOptions
from .model import RelocNet
from .preprocessing import to_network_input

log = logging.getLogger(__name__)


class InferenceBackend(Protocol):
    name: str
    device: torch.device

    def __call__(self, batch_BHW3: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw head outputs for a uint8 (B, H, W, 3) CPU batch at the input size."""
        ...


class TorchBackend:
    name = "torch"

    def __init__(self, model: RelocNet, device: str = InferenceOptions.device, fp16: bool = InferenceOptions.fp16,
                 channels_last: bool | None = None) -> None:
        self.device = resolve_device(device)
        if fp16 and self.device.type != "cuda":
            log.warning("fp16 requested on %s: running in fp32 (fp16 is for CUDA)", self.device)
            fp16 = False
        self.dtype = torch.float16 if fp16 else torch.float32
        self.channels_last = self.device.type == "cuda" if channels_last is None else channels_last
        self.model = model.to(self.device, self.dtype).eval()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, batch_BHW3: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(to_network_input(batch_BHW3, self.device, self.dtype, self.channels_last))
