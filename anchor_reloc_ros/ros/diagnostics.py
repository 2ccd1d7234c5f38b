"""Counters, rates and latencies of the node, reported as a DiagnosticStatus.

The one place that builds the node's ``/diagnostics`` message; its level comes from
``health.assess`` over the last ``health.WINDOW_S`` seconds of frame events.
"""
from __future__ import annotations

import math
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from .health import EventWindow, Level, assess
from .rates import Counters, LatencyWindow, RateMeter

COUNTERS = ("received", "processed", "published", "dropped", "superseded", "bad",
            "gated", "gated_out_of_scene", "gated_low_confidence", "gated_uncertain",
            "gated_odom_check", "redecoded", "fused", "errors", "tf_failures")
_LEVELS = {Level.OK: DiagnosticStatus.OK, Level.WARN: DiagnosticStatus.WARN,
           Level.ERROR: DiagnosticStatus.ERROR}


class WindowedCounters(Counters):
    """Counters whose every increment is also recorded in a sliding ``EventWindow``."""

    def __init__(self, names: tuple[str, ...], window: EventWindow) -> None:
        super().__init__(*names)
        self.window = window

    def add(self, name: str, amount: int = 1) -> None:
        super().add(name, amount)
        for _ in range(amount):
            self.window.add(name)


class NodeStats:
    """Everything /diagnostics reports; updated from the executor and the worker."""

    def __init__(self) -> None:
        self.counters = WindowedCounters(COUNTERS, EventWindow(COUNTERS))
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
                     topic: str, max_rate_hz: float = 0.0) -> DiagnosticArray:
    """One status whose level follows the last few seconds (``health.assess``)."""
    counts = stats.counters.snapshot()
    since = (None if stats.last_input_monotonic is None
             else time.monotonic() - stats.last_input_monotonic)
    window = stats.counters.window
    health = assess(window.counts(), window.span_s(), worker_alive=worker_alive,
                    since_input_s=since, continuous=continuous, max_rate_hz=max_rate_hz,
                    topic=topic)
    values = {
        "input_rate_hz": _fmt(stats.input_rate.rate_hz()),
        "output_rate_hz": _fmt(stats.output_rate.rate_hz()),
        "latency_p50_ms": _fmt(stats.latency_ms.percentile(50)),
        "latency_p95_ms": _fmt(stats.latency_ms.percentile(95)),
        "inference_p50_ms": _fmt(stats.inference_ms.percentile(50)),
        **{f"frames_{k}": str(v) for k, v in counts.items()},
        **extra,
    }
    status = DiagnosticStatus(level=_LEVELS[health.level], name=name, message=health.message,
                              hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
