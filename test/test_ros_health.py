"""The diagnostics level follows the last few seconds of frames (ROS-free logic)."""
from __future__ import annotations

import pytest

from anchor_reloc_ros.ros.diagnostics import COUNTERS, NodeStats
from anchor_reloc_ros.ros.health import WINDOW_S, EventWindow, Level, assess

TOPIC = "/camera/image_raw"


def _window(**counts: int) -> dict[str, int]:
    return {name: counts.get(name, 0) for name in COUNTERS}


def _assess(window: dict[str, int], span_s: float = WINDOW_S, *, worker_alive: bool = True,
            since_input_s: float | None = 0.1, continuous: bool = True, max_rate_hz: float = 0.0):
    return assess(window, span_s, worker_alive=worker_alive, since_input_s=since_input_s,
                  continuous=continuous, max_rate_hz=max_rate_hz, topic=TOPIC)


def _frames(n: int, bad: int = 0, errors: int = 0, withheld: int = 0, tf_failures: int = 0,
            dropped: int = 0) -> dict[str, int]:
    """``n`` frames received; ``dropped`` never started; of the rest some bad or failed."""
    processed = n - dropped - bad - errors
    return _window(received=n, dropped=dropped, bad=bad, errors=errors, processed=processed,
                   gated=withheld, gated_out_of_scene=withheld, published=processed - withheld,
                   tf_failures=tf_failures)


def test_event_window_forgets_what_is_older_than_the_window() -> None:
    window = EventWindow(("received", "bad"), window_s=5.0, now_s=100.0)
    for t in (100.0, 101.0, 104.0):
        window.add("received", now_s=t)
    window.add("bad", now_s=104.5)
    assert window.counts(now_s=105.5) == {"received": 2, "bad": 1}
    assert window.counts(now_s=109.6) == {"received": 0, "bad": 0}
    assert window.span_s(now_s=102.0) == pytest.approx(2.0)   # running for only 2 s
    assert window.span_s(now_s=200.0) == pytest.approx(5.0)


def test_node_stats_counters_feed_the_window() -> None:
    stats = NodeStats()
    stats.counters.add("bad", 3)
    stats.on_input()
    assert stats.counters["bad"] == 3 and stats.counters["received"] == 1
    counts = stats.counters.window.counts()
    assert counts["bad"] == 3 and counts["received"] == 1 and counts["published"] == 0


@pytest.mark.parametrize("window, kwargs, level, words", [
    (_frames(50), {}, Level.OK, ["localizing at 10.0 Hz"]),
    (_frames(50, bad=5), {}, Level.OK, ["localizing"]),                 # 10 %: a hiccup
    (_frames(50, bad=8, errors=4), {}, Level.WARN, ["12 of 50", "bad or failed"]),
    (_frames(50, bad=50), {}, Level.ERROR, ["no frame localized", "50 bad"]),
    (_frames(50, errors=50), {}, Level.ERROR, ["no frame localized", "50 failed"]),
    (_frames(50, bad=20, errors=30), {}, Level.ERROR, ["no frame localized"]),
    (_frames(50, withheld=50), {}, Level.WARN, ["no estimate passed the gate", "50 gated", "50 out_of_scene"]),
    (_frames(50, withheld=40), {}, Level.OK, ["localizing at 2.0 Hz"]),  # gating is no fault
    (_frames(50, tf_failures=40), {}, Level.WARN, ["transform not broadcast", "40 of 50"]),
    (_frames(100, dropped=70), {}, Level.WARN, ["output 6.0 Hz", "input 20.0 Hz"]),
    (_frames(100, dropped=75), {"max_rate_hz": 5.0}, Level.OK, ["localizing at 5.0 Hz"]),
    (_frames(100, dropped=90), {"max_rate_hz": 5.0}, Level.WARN, ["well below"]),
    (_window(received=40), {}, Level.WARN, ["40 frames received, none finished"]),
    (_frames(50), {"worker_alive": False}, Level.ERROR, ["worker stopped"]),
    (_window(), {"since_input_s": None}, Level.WARN, ["waiting for images on " + TOPIC]),
    (_window(), {"since_input_s": 7.25}, Level.WARN, [f"no images received on {TOPIC} for 7.2 s"]),
    (_window(received=20), {"continuous": False}, Level.OK, ["one-shot"]),
    (_frames(2, errors=2), {"continuous": False}, Level.ERROR, ["no frame localized"]),
    (_frames(2), {"continuous": False}, Level.OK, ["one-shot"]),
])
def test_level_follows_what_the_window_achieved(window, kwargs, level, words) -> None:
    health = _assess(window, **kwargs)
    assert health.level == level, health
    for word in words:
        assert word in health.message, health.message
