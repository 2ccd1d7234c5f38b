"""Counters, rates and latencies of the node, reported as a DiagnosticStatus."""
from __future__ import annotations

import math
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from .rates import Counters, LatencyWindow, RateMeter

COUNTERS = ("received", "processed", "published", "dropped", "superseded", "bad",
            "low_confidence", "errors", "tf_failures")
STALE_INPUT_S = 5.0


class NodeStats:
    """Everything /diagnostics reports; updated from the executor and the worker."""

    def __init__(self) -> None:
        self.counters = Counters(*COUNTERS)
        self.input_rate = RateMeter()
        self.output_rate = RateMeter()
        self.latency_ms = LatencyWindow()
        self.inference_ms = LatencyWindow()
        self.last_input_monotonic: float | None = None

    def on_input(self) -> None:
        self.counters.add("received")
        self.input_rate.tick()
        self.last_input_monotonic = time.monotonic()

    def on_output(self, latency_ms: float, inference_ms: float) -> None:
        self.counters.add("published")
        self.output_rate.tick()
        self.latency_ms.add(latency_ms)
        self.inference_ms.add(inference_ms)


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.2f}"


def diagnostic_array(stats: NodeStats, name: str, hardware_id: str, stamp,
                     extra: dict[str, str], worker_alive: bool, continuous: bool,
                     topic: str) -> DiagnosticArray:
    """One status: OK while localizing, WARN without input or with bad frames, ERROR if
    the worker died."""
    counts = stats.counters.snapshot()
    since = (None if stats.last_input_monotonic is None
             else time.monotonic() - stats.last_input_monotonic)
    if not worker_alive:
        level, message = DiagnosticStatus.ERROR, "inference worker stopped"
    elif since is None:
        level, message = DiagnosticStatus.WARN, f"waiting for images on {topic}"
    elif since > STALE_INPUT_S:
        level, message = DiagnosticStatus.WARN, f"no image on {topic} for {since:.1f} s"
    elif counts["bad"] and not counts["processed"]:
        level, message = DiagnosticStatus.WARN, f"{counts['bad']} bad frames, no good one yet"
    elif not continuous:
        level, message = DiagnosticStatus.OK, "one-shot mode: call ~/relocalize"
    else:
        level, message = DiagnosticStatus.OK, f"localizing at {stats.output_rate.rate_hz():.1f} Hz"
    values = {
        "input_rate_hz": _fmt(stats.input_rate.rate_hz()),
        "output_rate_hz": _fmt(stats.output_rate.rate_hz()),
        "latency_p50_ms": _fmt(stats.latency_ms.percentile(50)),
        "latency_p95_ms": _fmt(stats.latency_ms.percentile(95)),
        "inference_p50_ms": _fmt(stats.inference_ms.percentile(50)),
        **{f"frames_{k}": str(v) for k, v in counts.items()},
        **extra,
    }
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
