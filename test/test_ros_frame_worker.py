"""Latest-frame hand-off and statistics (ROS-free helpers of the node)."""
from __future__ import annotations

import threading
import time

import pytest

from anchor_reloc_ros.ros.frame_worker import FrameWorker, LatestFrameSlot
from anchor_reloc_ros.ros.rates import Counters, LatencyWindow, RateMeter


def test_put_replaces_the_oldest_and_take_returns_the_newest() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    assert slot.put(1) is None
    assert slot.put(2) == 1  # the OLDEST is dropped
    assert slot.take(0.0) == 2
    assert slot.take(0.0) is None


def test_take_waits_bounded_and_wakes_on_put() -> None:
    slot: LatestFrameSlot[str] = LatestFrameSlot()
    t0 = time.monotonic()
    assert slot.take(0.1) is None
    assert 0.08 < time.monotonic() - t0 < 1.0
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    assert slot.take(5.0) == "frame"


def test_restore_never_overwrites_a_newer_frame() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    slot.restore(1)
    assert slot.take(0.0) == 1
    slot.put(3)
    slot.restore(2)
    assert slot.take(0.0) == 3


def test_slow_worker_always_starts_on_the_newest_frame() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    processed: list[int] = []
    dropped = Counters("dropped")

    def step() -> None:
        item = slot.take(0.05)
        if item is not None:
            time.sleep(0.03)  # a slow network
            processed.append(item)

    errors: list[BaseException] = []  # pytest.fail in the worker thread would only end that thread
    worker = FrameWorker(step, on_error=errors.append)
    worker.start()
    try:
        for i in range(40):
            if slot.put(i) is not None:
                dropped.add("dropped")
            time.sleep(0.002)
        deadline = time.monotonic() + 5.0
        while (not processed or processed[-1] != 39) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        assert worker.stop(timeout_s=2.0)
    assert not errors, errors
    assert processed[-1] == 39 and processed == sorted(processed)
    assert len(processed) + dropped["dropped"] == 40 and dropped["dropped"] > 0


def test_worker_survives_exceptions_and_stops_promptly() -> None:
    errors: list[BaseException] = []
    calls = Counters("n")

    def step() -> None:
        calls.add("n")
        time.sleep(0.01)
        if calls["n"] % 2:
            raise RuntimeError("a bad frame")

    worker = FrameWorker(step, on_error=errors.append)
    worker.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    assert worker.stop(timeout_s=2.0)
    assert time.monotonic() - t0 < 1.0
    assert calls["n"] > 4 and len(errors) >= 2


def test_rate_meter_and_latency_percentiles() -> None:
    meter = RateMeter(window_s=5.0)
    for i in range(11):
        meter.tick(now_ns=i * 100_000_000)  # 10 Hz for one second
    assert meter.rate_hz(now_ns=1_000_000_000) == pytest.approx(10.0)
    assert meter.rate_hz(now_ns=60_000_000_000) == 0.0  # everything aged out
    window = LatencyWindow(size=100)
    assert window.percentile(50) != window.percentile(50)  # NaN while empty
    for v in range(1, 101):
        window.add(float(v))
    assert window.percentile(50) == pytest.approx(50.5)
    assert window.percentile(95) == pytest.approx(95.05)
