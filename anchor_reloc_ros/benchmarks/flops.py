"""FLOPs per image (a multiply-add counts as 2) and the implied hardware limit."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..core.model import RelocNet


def flops_per_image(model: RelocNet, image_size_hw: tuple[int, int]) -> float:
    """Forward FLOPs of ``model`` for one image, counted by torch's FlopCounterMode."""
    h, w = image_size_hw
    x = torch.full((1, 3, h, w), 127.0, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return float(counter.get_total_flops())


def limit_line(name: str, flops: float, measured_ms: float, images: int, peak_tflops: float | None) -> str:
    """One sentence comparing a measured time with FLOPs / peak for ``images`` images."""
    achieved = flops * images / (measured_ms / 1000.0) / 1e12
    if not peak_tflops:
        return (f"{name}: {flops / 1e9:.3f} GFLOP/image, {achieved * 1000:.1f} GFLOP/s achieved "
                "(device peak unknown: pass --gpu-peak-tflops)")
    limit_ms = flops * images / (peak_tflops * 1e12) * 1000.0
    return (f"{name}: {flops / 1e9:.3f} GFLOP/image x {images} at {peak_tflops:.0f} TFLOPS peak -> "
            f"limit {limit_ms * 1000:.1f} us, measured {measured_ms * 1000:.1f} us: "
            f"{measured_ms / limit_ms:.0f}x off the limit ({100 * achieved / peak_tflops:.2f}% of peak)")
