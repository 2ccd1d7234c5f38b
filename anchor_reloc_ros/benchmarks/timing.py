"""Wall-clock timing with warm-up, a time budget, and medians / 95th percentiles."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p95_ms: float
    samples: int

    @staticmethod
    def from_seconds(samples_s: list[float]) -> "Timing":
        ms = np.asarray(samples_s, dtype=np.float64) * 1000.0
        return Timing(float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), len(ms))


def time_calls(fn: Callable[[], object], iters: int, warmup: int = 3, budget_s: float = 20.0,
               sync: Callable[[], None] | None = None, min_samples: int = 3) -> Timing:
    """Time ``iters`` calls of ``fn`` (fewer when ``budget_s`` runs out, but >= ``min_samples``).

    ``sync`` runs after every call inside the timed region (e.g. ``torch.cuda.synchronize``)
    so asynchronous devices are timed to completion.
    """
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < max(iters, 1):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        samples.append(time.perf_counter() - t0)
        if len(samples) >= min_samples and time.perf_counter() > deadline:
            break
    return Timing.from_seconds(samples)
