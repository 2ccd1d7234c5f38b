"""Wall-clock timing with warm-up, a time budget, and medians / 95th percentiles.

On a shared machine, other processes come and go during a run. ``time_interleaved``
therefore times several candidates in rounds (each round runs every candidate once, in
a shuffled order), so a burst of load, or the scheduler's period, hits all of them alike
and their medians and ratios stay comparable.
"""
from __future__ import annotations

import random
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


def time_interleaved(fns: dict[str, Callable[[], object]], iters: int, warmup: int = 3, budget_s: float = 20.0,
                     sync: Callable[[], None] | None = None, min_rounds: int = 3) -> dict[str, Timing]:
    """Round-robin timing of every function in ``fns``; ``budget_s`` bounds the whole set."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    if sync:
        sync()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    rng = random.Random(0)
    deadline = time.perf_counter() + budget_s
    for round_ in range(max(iters, 1)):
        rng.shuffle(names)  # a fresh order every round: no fixed lag behind any other candidate
        for name in names:
            fn = fns[name]
            t0 = time.perf_counter()
            fn()
            if sync:
                sync()
            samples[name].append(time.perf_counter() - t0)
        if round_ + 1 >= min_rounds and time.perf_counter() > deadline:
            break
    return {name: Timing.from_seconds(values) for name, values in samples.items()}
