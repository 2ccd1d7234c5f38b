"""Compute-device selection with a CPU fallback for ``auto``."""
from __future__ import annotations

import logging

import torch

from .errors import ConfigError, DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU (logged); ``cuda`` without CUDA fails."""
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES:
        raise ConfigError(f"device must be one of {DEVICE_CHOICES} (or cuda:N), got {name!r}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.info("device=auto: CUDA not available, running on the CPU")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device={name} requested but CUDA is not available on this machine")
    return torch.device(name)
