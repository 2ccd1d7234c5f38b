"""What the node achieved over the last few seconds, as a health level (ROS-free).

``EventWindow`` keeps the times of the frame events the node counts (received,
processed, published, bad, errors, ...) for the last ``WINDOW_S`` seconds; ``assess``
turns those counts into a level and one line, so ``/diagnostics`` follows what the node
achieves now rather than what it once did. ``diagnostics`` builds the message from it.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum

WINDOW_S = 5.0
# More than one frame in five bad or failed is no longer a camera hiccup: the robot is
# localized on much less than it is sent.
BAD_FRACTION_WARN = 0.2
# Output below half the rate the input allows (after max_rate_hz) means the model can
# no longer keep up with the camera.
OUTPUT_RATIO_WARN = 0.5
STALE_INPUT_S = 5.0


class Level(IntEnum):
    """The levels of diagnostic_msgs/DiagnosticStatus."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class Health:
    level: Level
    message: str


class EventWindow:
    """Counts of named events within the last ``window_s`` seconds (thread-safe)."""

    def __init__(self, names: Iterable[str], window_s: float = WINDOW_S,
                 now_s: float | None = None) -> None:
        self.names = tuple(names)
        self.window_s = window_s
        self._events: deque[tuple[float, str]] = deque()
        self._started = time.monotonic() if now_s is None else now_s
        self._lock = threading.Lock()

    def add(self, name: str, now_s: float | None = None) -> None:
        now = time.monotonic() if now_s is None else now_s
        with self._lock:
            self._events.append((now, name))
            self._prune(now)

    def counts(self, now_s: float | None = None) -> dict[str, int]:
        """Events per name in the window (every name present, 0 when none)."""
        now = time.monotonic() if now_s is None else now_s
        with self._lock:
            self._prune(now)
            seen = Counter(name for _, name in self._events)
        return {name: seen.get(name, 0) for name in self.names}

    def span_s(self, now_s: float | None = None) -> float:
        """The window's length, shorter while the node has run for less than that."""
        now = time.monotonic() if now_s is None else now_s
        return max(1e-9, min(self.window_s, now - self._started))

    def _prune(self, now: float) -> None:
        while self._events and now - self._events[0][0] > self.window_s:
            self._events.popleft()


def assess(window: Mapping[str, int], span_s: float, *, worker_alive: bool,
           since_input_s: float | None, continuous: bool, max_rate_hz: float,
           topic: str) -> Health:
    """The level for the window's counts (keys: received, processed, published, bad,
    errors, gated, tf_failures), checked from the worst case down. Gated frames (withheld
    by the gate) are a choice, not a fault: they only WARN when every frame is gated."""
    if not worker_alive:
        return Health(Level.ERROR, "inference worker stopped")
    if since_input_s is None:
        return Health(Level.WARN, f"waiting for images on {topic}")
    if since_input_s > STALE_INPUT_S:
        return Health(Level.WARN, f"no images received on {topic} for {since_input_s:.1f} s")
    bad, failed, published = window["bad"], window["errors"], window["published"]
    finished = window["processed"] + bad + failed
    last = f"in the last {span_s:.0f} s"
    if finished == 0:
        if continuous and window["received"]:
            return Health(Level.WARN, f"{window['received']} frames received, none finished {last}")
        return Health(Level.OK, "one-shot mode: call ~/relocalize")
    if bad + failed == finished:
        return Health(Level.ERROR, f"no frame localized {last}: {bad} bad, {failed} failed")
    if (bad + failed) / finished > BAD_FRACTION_WARN:
        return Health(Level.WARN, f"{bad + failed} of {finished} frames bad or failed {last} "
                                  f"({bad} bad, {failed} failed)")
    if published and window["tf_failures"] / published > BAD_FRACTION_WARN:
        return Health(Level.WARN, f"transform not broadcast for {window['tf_failures']} of "
                                  f"{published} poses {last}")
    if not continuous:
        return Health(Level.OK, "one-shot mode: call ~/relocalize")
    if not published:
        return Health(Level.WARN, f"no estimate passed the gate {last}: {window['gated']} gated "
                                  f"({_gate_reasons(window)})")
    expected = window["received"] - window["gated"]
    if max_rate_hz > 0:
        expected = min(expected, max_rate_hz * span_s)
    out_hz, in_hz = published / span_s, window["received"] / span_s
    if published < OUTPUT_RATIO_WARN * expected:
        return Health(Level.WARN, f"output {out_hz:.1f} Hz well below the input {in_hz:.1f} Hz")
    return Health(Level.OK, f"localizing at {out_hz:.1f} Hz")


def _gate_reasons(window: Mapping[str, int]) -> str:
    """E.g. "12 out_of_scene, 3 uncertain": the gated counts by reason."""
    parts = [f"{v} {k.removeprefix('gated_')}" for k, v in window.items() if k.startswith("gated_") and v]
    return ", ".join(parts) or "no reason recorded"
