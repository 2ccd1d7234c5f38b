"""Mixed precision for training: bf16 where the GPU has it, else fp16 with a GradScaler.

fp16 gradients of small losses underflow to zero; bf16 has fp32's exponent range and
needs no scaling. On the CPU (or with ``--no-amp``) everything stays fp32.
"""
from __future__ import annotations

from contextlib import AbstractContextManager

import torch


class MixedPrecision:
    """The autocast context and the backward/step for one device and dtype."""

    def __init__(self, device_type: str, dtype: torch.dtype | None) -> None:
        self.device_type = device_type
        self.dtype = dtype  # None: fp32, no autocast
        self.scaler = torch.amp.GradScaler(device_type) if dtype == torch.float16 else None

    @staticmethod
    def for_device(device: torch.device, enabled: bool) -> "MixedPrecision":
        if not enabled or device.type != "cuda":
            return MixedPrecision(device.type, None)
        return MixedPrecision("cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``loss.backward(); optimizer.step()``, scaled when fp16 (a step with inf/NaN
        gradients is skipped and the scale lowered, as torch.amp.GradScaler does)."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
