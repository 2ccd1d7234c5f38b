"""Drive a real ``anchor_reloc_node`` over DDS with a stream of image messages.

One code path for everything that feeds the live node and measures it: live bag
replay (``bag_replay``) and the node benchmark (``benchmarks.node_latency``).

The node runs as a child process (``node_process``) with its default QoS, exactly as on
a robot. This process publishes pre-serialized image messages (``Publisher.publish(raw)``)
paced by their nominal times, and records what the node publishes on ``~/pose`` and
``~/anchor`` with raw subscriptions, plus its ``/diagnostics`` counters, which tell
frames the node never received (transport) from frames it received but skipped because
a newer one arrived while it was busy. The first frame is sent before the timed run
so model warm-up is not charged to it. Every wait is bounded.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from anchor_reloc_ros.msg import AnchorDebug

from ..core.decoding import DecodeOptions
from ..core.errors import AnchorRelocError
from ..core.estimate import PoseEstimate
from ..core.inference_options import InferenceOptions
from ..data.rosbag_estimates import ANCHOR_TOPIC, POSE_TOPIC, POSE_TYPE, estimate_from_messages
from ..data.rosbag_images import FrameStats
from ..data.rosbag_io import ANCHOR_DEBUG_TYPE, stamp_ns, typestore
from .node import NODE_NAME
from .node_process import NodeProcess, apply_ros_settings
from .parameters import option_parameters

LIVE_TOPIC = "/bag_eval/image"
CAMERA_FRAME = "bag_eval_camera"   # camera_frame = base_frame: the node publishes the camera pose
SPIN_S = 0.02
WARMUP_QUIET_S = 0.3
DIAGNOSTICS_PERIOD_S = 0.25
RecordedItem = tuple[str, int, bytes]   # (topic, arrival monotonic ns, raw CDR)
LIVE_NODE_THREADS = 1   # the node's cpu_threads for threads 0: the publisher needs a core too


class LiveReplayError(AnchorRelocError):
    """The node did not start, died, or never answered."""


@dataclass
class LiveOptions:
    weights: Path
    inference: InferenceOptions = field(default_factory=InferenceOptions)  # the node's (no cuda_graphs)
    decoding: DecodeOptions = field(default_factory=DecodeOptions)
    inference_workers: int = 1
    rate: float = 1.0                  # speed factor on the frames' nominal times
    closed_loop: bool = False          # send each frame only once the last one was answered
    answer_timeout_s: float = 5.0      # closed loop: give up on a frame after this long
    startup_timeout_s: float = 120.0   # model load + discovery
    warmup_timeout_s: float = 60.0
    settle_s: float = 2.0              # after the last frame: stop when quiet this long
    drain_timeout_s: float = 30.0


@dataclass(frozen=True)
class LiveFrame:
    """One image message to publish: ``time_ns`` paces it, ``stamp_ns`` identifies it."""

    index: int
    time_ns: int
    stamp_ns: int
    raw: bytes


@dataclass
class LiveRun:
    stamps_ns: list[int] = field(default_factory=list)        # published frames, in order
    indices: list[int] = field(default_factory=list)
    estimates: dict[int, PoseEstimate] = field(default_factory=dict)   # by stamp
    stats: dict[str, object] = field(default_factory=dict)
    recorded: list[RecordedItem] = field(default_factory=list)
    frame_stats: FrameStats = field(default_factory=FrameStats)   # input frames skipped as bad


class _Recorder:
    """Raw messages from the node with their arrival time (monotonic ns)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[RecordedItem] = []
        self._pose_stamps: set[int] = set()

    def callback(self, topic: str) -> Callable[[bytes], None]:
        store = typestore()

        def record(raw: bytes) -> None:
            now = time.monotonic_ns()
            data = bytes(raw)
            stamp = (stamp_ns(store.deserialize_cdr(data, POSE_TYPE).header.stamp)
                     if topic == POSE_TOPIC else None)
            with self._lock:
                self.items.append((topic, now, data))
                if stamp is not None:
                    self._pose_stamps.add(stamp)
        return record

    def has_pose(self, stamp: int) -> bool:
        with self._lock:
            return stamp in self._pose_stamps

    def has_poses(self, stamps: set[int]) -> bool:
        with self._lock:
            return stamps <= self._pose_stamps

    def snapshot(self) -> list[RecordedItem]:
        with self._lock:
            return list(self.items)

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)

    def clear(self) -> None:
        with self._lock:
            self.items.clear()
            self._pose_stamps.clear()


class _NodeCounters:
    """The node's latest ``frames_*`` diagnostics counters and when they arrived."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: dict[str, int] = {}
        self.arrived_ns = 0

    def callback(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(f"{NODE_NAME}:"):
                values = {kv.key[len("frames_"):]: int(kv.value) for kv in status.values
                          if kv.key.startswith("frames_")}
                with self._lock:
                    self.values, self.arrived_ns = values, time.monotonic_ns()

    def snapshot(self) -> tuple[dict[str, int], int]:
        with self._lock:
            return dict(self.values), self.arrived_ns


class _Session:
    """rclpy on a private context: image publisher, recorders, a spinning thread."""

    def __init__(self, msg_type: type, topic: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("anchor_reloc_live_feed", context=self.context)
        self.publisher = self.node.create_publisher(
            msg_type, topic, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.recorder = _Recorder()
        self.counters = _NodeCounters()
        out_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        for cls, out_topic in ((PoseWithCovarianceStamped, POSE_TOPIC), (AnchorDebug, ANCHOR_TOPIC)):
            self.node.create_subscription(cls, out_topic, self.recorder.callback(out_topic), out_qos,
                                          raw=True)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.counters.callback, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="live_feed_spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=SPIN_S)

    def matched(self) -> bool:
        return (self.publisher.get_subscription_count() > 0
                and self.node.count_publishers(POSE_TOPIC) > 0
                and self.node.count_publishers(ANCHOR_TOPIC) > 0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def by_stamp(items: list[RecordedItem], topic: str,
             not_before: Mapping[int, int] | None = None) -> dict[int, tuple[int, Any]]:
    """First message per header stamp on ``topic``: ``{stamp: (arrival ns, message)}``;
    with ``not_before`` (publish times by stamp), earlier arrivals are ignored."""
    msgtype = POSE_TYPE if topic == POSE_TOPIC else ANCHOR_DEBUG_TYPE
    store = typestore()
    out: dict[int, tuple[int, Any]] = {}
    for item_topic, recv_ns, raw in items:
        if item_topic != topic:
            continue
        msg = store.deserialize_cdr(raw, msgtype)
        stamp = stamp_ns(msg.header.stamp)
        if not_before is None or recv_ns >= not_before.get(stamp, 0):
            out.setdefault(stamp, (recv_ns, msg))
    return out


def _poll(predicate: Callable[[], bool], timeout_s: float, node: NodeProcess, what: str) -> bool:
    """True once ``predicate`` holds, False after ``timeout_s``; raises if the node died."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if not node.alive():
            raise LiveReplayError(f"anchor_reloc_node exited (code {node.proc.returncode}) while "
                                  f"waiting for {what}: {node.log_tail()} (full log: {node.log_path})")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _wait(predicate: Callable[[], bool], timeout_s: float, node: NodeProcess, what: str) -> None:
    if not _poll(predicate, timeout_s, node, what):
        raise LiveReplayError(f"no {what} within {timeout_s:.0f} s; node log ends: {node.log_tail()} "
                              f"(full log: {node.log_path})")


def _warm_up(session: _Session, node: NodeProcess, frame: LiveFrame, timeout_s: float) -> None:
    """Send the first frame, once a second, until the node answers it (input may be best-effort)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        session.publisher.publish(frame.raw)
        wait_s = min(1.0, max(0.0, deadline - time.monotonic()))
        if _poll(lambda: session.recorder.has_pose(frame.stamp_ns), wait_s, node, "a first estimate"):
            return
    raise LiveReplayError(f"anchor_reloc_node gave no estimate within {timeout_s:.0f} s; node log ends: "
                          f"{node.log_tail()} (full log: {node.log_path})")


class _Quiet:
    """Whether the node has published nothing new for a while."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder
        self._count, self._since = len(recorder), time.monotonic()

    def for_s(self, seconds: float) -> bool:
        count = len(self._recorder)
        if count != self._count:
            self._count, self._since = count, time.monotonic()
        return time.monotonic() - self._since >= seconds


def _fresh_counters(session: _Session, node: NodeProcess) -> dict[str, int]:
    """Node counters from a diagnostics message sent after now (empty if none comes)."""
    asked = time.monotonic_ns()
    _poll(lambda: session.counters.snapshot()[1] > asked, 5 * DIAGNOSTICS_PERIOD_S + 1.0, node,
          "node diagnostics")
    values, arrived = session.counters.snapshot()
    return values if arrived > asked else {}


def _publish_paced(session: _Session, node: NodeProcess, frames: Iterable[LiveFrame],
                   options: LiveOptions, run: LiveRun) -> dict[int, int]:
    """Publish at the frames' pace / ``rate`` (or, closed loop, each after the last answer);
    returns publish time (monotonic ns) by stamp."""
    published: dict[int, int] = {}
    start_wall = time.monotonic()
    start_time: int | None = None
    for frame in frames:
        start_time = frame.time_ns if start_time is None else start_time
        delay = start_wall + (frame.time_ns - start_time) * 1e-9 / options.rate - time.monotonic()
        if delay > 0 and not options.closed_loop:
            time.sleep(delay)
        session.publisher.publish(frame.raw)
        published.setdefault(frame.stamp_ns, time.monotonic_ns())
        run.stamps_ns.append(frame.stamp_ns)
        run.indices.append(frame.index)
        if options.closed_loop:
            _poll(lambda: session.recorder.has_pose(frame.stamp_ns), options.answer_timeout_s, node,
                  "an estimate")
    return published


def _drain(session: _Session, node: NodeProcess, run: LiveRun, options: LiveOptions) -> None:
    """Wait for outstanding estimates: all frames answered, or quiet for ``settle_s``."""
    wanted = set(run.stamps_ns)
    quiet = _Quiet(session.recorder)
    _poll(lambda: session.recorder.has_poses(wanted) or quiet.for_s(options.settle_s),
          options.drain_timeout_s, node, "the last estimates")


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95), NaN for no values."""
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def _rate(times_ns: list[int]) -> float:
    span = (max(times_ns) - min(times_ns)) * 1e-9 if len(times_ns) > 1 else 0.0
    return (len(times_ns) - 1) / span if span > 0 else 0.0


def _counter_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    if not before or not after:
        return {}
    return {k: after[k] - before.get(k, 0) for k in after}


def _collect(run: LiveRun, published: dict[int, int], node_counts: dict[str, int],
             exit_code: int) -> None:
    poses = by_stamp(run.recorded, POSE_TOPIC, published)
    anchors = by_stamp(run.recorded, ANCHOR_TOPIC, published)
    answered = [s for s in published if s in poses]
    for s in answered:
        run.estimates[s] = estimate_from_messages(poses[s][1], anchors.get(s, (0, None))[1])
    latency = [(poses[s][0] - published[s]) * 1e-6 for s in answered]   # published -> pose received
    node_latency = [float(anchors[s][1].latency_ms) for s in answered if s in anchors]
    inference = [float(anchors[s][1].inference_ms) for s in answered if s in anchors]
    p50, p95 = percentiles(latency)
    n50, n95 = percentiles(node_latency)
    i50, i95 = percentiles(inference)
    run.stats = {
        "published": len(run.stamps_ns), "answered": len(answered),
        "dropped": len(set(run.stamps_ns)) - len(answered),
        "input_rate_hz": _rate(list(published.values())),
        "output_rate_hz": _rate([poses[s][0] for s in answered]),
        "latency_p50_ms": p50, "latency_p95_ms": p95,
        "node_latency_p50_ms": n50, "node_latency_p95_ms": n95,
        "localizer_p50_ms": i50, "localizer_p95_ms": i95,   # Localizer.localize inside the node
        "node_exit_code": exit_code,
    }
    if node_counts:
        # Where the drops happened: never reached the node, skipped for a newer frame while the
        # node was busy, or localized but overtaken by a newer frame's result (parallel workers).
        run.stats["node_received"] = node_counts.get("received", 0)
        run.stats["lost_in_transport"] = max(0, len(run.stamps_ns) - node_counts.get("received", 0))
        run.stats["skipped_while_busy"] = node_counts.get("dropped", 0)
        run.stats["superseded"] = node_counts.get("superseded", 0)
        run.stats["bad_at_node"] = node_counts.get("bad", 0)


def node_threads(inference: InferenceOptions) -> int:
    """The node's cpu_threads: ``threads``, or LIVE_NODE_THREADS for 0 (all cores would leave
    none to the publisher, and oversubscribed torch is far slower)."""
    return inference.threads or LIVE_NODE_THREADS


def node_parameters(options: LiveOptions, topic: str, compressed: bool) -> dict[str, object]:
    return {**option_parameters(options.inference), **option_parameters(options.decoding),
            "weights": Path(options.weights).resolve(), "cpu_threads": node_threads(options.inference),
            "inference_workers": options.inference_workers, "image_topic": topic,
            "image_transport": "compressed" if compressed else "raw",
            "camera_frame": CAMERA_FRAME, "base_frame": CAMERA_FRAME,
            "diagnostics_period_s": DIAGNOSTICS_PERIOD_S,
            # Every frame answered (the warm-up waits for a pose): the replay measures the
            # localizer; offline bag-eval reports the gate at its defaults.
            "max_ood_score": 0.0, "max_position_std_factor": 0.0}


def run_live(frames: Iterable[LiveFrame], compressed: bool, log_path: Path,
             options: LiveOptions, what: str = "the input", run: LiveRun | None = None) -> LiveRun:
    """Publish ``frames`` (raw CDR ``sensor_msgs/Image`` or ``CompressedImage``) to a
    fresh node, paced by their ``time_ns``; returns what came back, matched by stamp
    (in ``run`` when given)."""
    run = run if run is not None else LiveRun()
    env = apply_ros_settings()
    topic = LIVE_TOPIC + ("/compressed" if compressed else "")  # image_transport naming
    node = NodeProcess(node_parameters(options, topic, compressed), log_path, env)
    session: _Session | None = None
    published: dict[int, int] = {}
    counts: dict[str, int] = {}
    try:
        session = _Session(CompressedImage if compressed else Image, topic)
        _wait(session.matched, options.startup_timeout_s, node, "connection to anchor_reloc_node")
        stream = iter(frames)
        first = next(stream, None)
        if first is None:
            raise LiveReplayError(f"no publishable image in {what}")
        _warm_up(session, node, first, options.warmup_timeout_s)
        quiet = _Quiet(session.recorder)  # late answers to repeated warm-up frames
        _poll(lambda: quiet.for_s(WARMUP_QUIET_S), 10.0, node, "the warm-up to finish")
        before = _fresh_counters(session, node)
        session.recorder.clear()
        published = _publish_paced(session, node, itertools.chain([first], stream), options, run)
        _drain(session, node, run, options)
        counts = _counter_delta(before, _fresh_counters(session, node))
    finally:
        if session is not None:
            session.close()
            run.recorded = session.recorder.snapshot()
        exit_code = node.stop()
    _collect(run, published, counts, exit_code)
    return run
