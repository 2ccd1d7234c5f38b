"""Live bag replay: the bag's images into the real ``anchor_reloc_node`` over DDS.

The node runs as a child process (``node_process``) with its default QoS, exactly as on
a robot. This process publishes the recorded image messages byte for byte
(``Publisher.publish(raw_cdr)``) at the recorded rate times ``rate``, on a private
topic, and records what the node publishes on ``~/pose`` and ``~/anchor`` with raw
subscriptions. The first frame is sent once before the timed run so model warm-up is
not charged to it. Frames that the offline path would skip (malformed or undecodable)
are skipped here too, and zero header stamps are replaced by the bag time so every
output can be matched to its frame. Every wait is bounded.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from anchor_reloc_ros.msg import AnchorDebug

from ..core.errors import AnchorRelocError
from ..core.estimate import PoseEstimate
from ..data.image_codec import ImageDecodeError, message_to_rgb
from ..data.rosbag_estimates import ANCHOR_TOPIC, POSE_TOPIC, POSE_TYPE, estimate_from_messages
from ..data.rosbag_images import IMAGE_TYPES, FrameStats
from ..data.rosbag_io import (
    ANCHOR_DEBUG_TYPE,
    DESERIALIZE_ERRORS,
    BagReader,
    BagWriter,
    stamp_ns,
    time_msg,
    typestore,
)
from .node_process import NodeProcess, apply_ros_settings

REPLAY_TOPIC = "/bag_eval/image"
CAMERA_FRAME = "bag_eval_camera"   # camera_frame = base_frame: the node publishes the camera pose
SPIN_S = 0.02
WARMUP_QUIET_S = 0.3


class LiveReplayError(AnchorRelocError):
    """The node did not start, died, or never answered."""


@dataclass
class LiveOptions:
    weights: Path
    backend: str = "auto"              # node parameter: auto | torch | onnxruntime | tensorrt
    device: str = "auto"
    fp16: bool = False
    decode: str = "argmax"
    top_k: int = 3
    cpu_threads: int = 1               # the replayer needs a core too; oversubscribed torch is far slower
    rate: float = 1.0
    startup_timeout_s: float = 120.0   # model load + discovery
    warmup_timeout_s: float = 60.0
    settle_s: float = 2.0              # after the last frame: stop when quiet this long
    drain_timeout_s: float = 30.0


@dataclass
class LiveRun:
    stamps_ns: list[int] = field(default_factory=list)        # published frames
    indices: list[int] = field(default_factory=list)
    estimates: dict[int, PoseEstimate] = field(default_factory=dict)   # by stamp
    stats: dict[str, object] = field(default_factory=dict)
    frame_stats: FrameStats = field(default_factory=FrameStats)


@dataclass
class _Frame:
    index: int
    bag_ns: int
    stamp_ns: int
    raw: bytes


class _Recorder:
    """Raw messages from the node with their arrival time (monotonic ns)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[str, int, bytes]] = []

    def callback(self, topic: str):
        def record(raw: bytes) -> None:
            now = time.monotonic_ns()
            with self._lock:
                self.items.append((topic, now, bytes(raw)))
        return record

    def snapshot(self) -> list[tuple[str, int, bytes]]:
        with self._lock:
            return list(self.items)

    def clear(self) -> None:
        with self._lock:
            self.items.clear()


def _frames(bag: BagReader, topic: str, stats: FrameStats) -> Iterator[_Frame]:
    """Publishable frames: parseable, decodable, with a non-zero stamp (bag time if zero)."""
    store = typestore()
    for index, (conn, bag_ns, raw) in enumerate(bag.messages(bag.connections(topic, IMAGE_TYPES, "image"))):
        stats.messages += 1
        try:
            msg = bag.deserialize(raw, conn.msgtype)
            message_to_rgb(msg)
        except (ImageDecodeError, *DESERIALIZE_ERRORS) as exc:
            stats.add_bad(index, str(exc))
            continue
        stamp = stamp_ns(msg.header.stamp)
        if stamp == 0:
            stats.zero_stamps += 1
            stamp = bag_ns
            msg.header.stamp = time_msg(bag_ns)
            raw = bytes(store.serialize_cdr(msg, conn.msgtype))
        yield _Frame(index, bag_ns, stamp, bytes(raw))


def _percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def _rate(times_ns: list[int]) -> float:
    span = (max(times_ns) - min(times_ns)) * 1e-9 if len(times_ns) > 1 else 0.0
    return (len(times_ns) - 1) / span if span > 0 else 0.0


class _Session:
    """rclpy on a private context: image publisher, raw recorders, a spinning thread."""

    def __init__(self, msg_type: type, topic: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("bag_eval_replay", context=self.context)
        self.publisher = self.node.create_publisher(
            msg_type, topic, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.recorder = _Recorder()
        out_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        for cls, out_topic in ((PoseWithCovarianceStamped, POSE_TOPIC), (AnchorDebug, ANCHOR_TOPIC)):
            self.node.create_subscription(cls, out_topic, self.recorder.callback(out_topic), out_qos,
                                          raw=True)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="bag_eval_spin", daemon=True)
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


def _by_stamp(items: list[tuple[str, int, bytes]], topic: str,
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
        time.sleep(0.05)
    return True


def _wait(predicate: Callable[[], bool], timeout_s: float, node: NodeProcess, what: str) -> None:
    if not _poll(predicate, timeout_s, node, what):
        raise LiveReplayError(f"no {what} within {timeout_s:.0f} s; node log ends: {node.log_tail()} "
                              f"(full log: {node.log_path})")


def _warm_up(session: _Session, node: NodeProcess, frame: _Frame, timeout_s: float) -> None:
    """Send the first frame, once a second, until the node answers it (input may be best-effort)."""
    def answered() -> bool:
        return frame.stamp_ns in _by_stamp(session.recorder.snapshot(), POSE_TOPIC)

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        session.publisher.publish(frame.raw)
        if _poll(answered, min(1.0, max(0.0, deadline - time.monotonic())), node, "a first estimate"):
            return
    raise LiveReplayError(f"anchor_reloc_node gave no estimate within {timeout_s:.0f} s; node log ends: "
                          f"{node.log_tail()} (full log: {node.log_path})")


class _Quiet:
    """Whether the node has published nothing new for a while."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder
        self._count, self._since = len(recorder.snapshot()), time.monotonic()

    def for_s(self, seconds: float) -> bool:
        count = len(self._recorder.snapshot())
        if count != self._count:
            self._count, self._since = count, time.monotonic()
        return time.monotonic() - self._since >= seconds


def replay_live(bag_path: Path, image_topic: str, out_bag: Path, log_path: Path,
                options: LiveOptions) -> LiveRun:
    """Replay ``image_topic`` through a fresh node; record its output into ``out_bag``."""
    run = LiveRun()
    env = apply_ros_settings()
    with BagReader(bag_path) as bag:
        conns = bag.connections(image_topic, IMAGE_TYPES, "image")
        compressed = conns[0].msgtype.endswith("CompressedImage")
        topic = REPLAY_TOPIC + ("/compressed" if compressed else "")  # image_transport naming
        params = {"weights": Path(options.weights).resolve(), "backend": options.backend,
                  "device": options.device,
                  "fp16": options.fp16, "decode": options.decode, "top_k": options.top_k,
                  "cpu_threads": options.cpu_threads, "image_topic": topic,
                  "image_transport": "compressed" if compressed else "raw",
                  "camera_frame": CAMERA_FRAME, "base_frame": CAMERA_FRAME}
        node = NodeProcess(params, log_path, env)
        session: _Session | None = None
        try:
            session = _Session(CompressedImage if compressed else Image, topic)
            _wait(session.matched, options.startup_timeout_s, node, "connection to anchor_reloc_node")
            frames = _frames(bag, image_topic, run.frame_stats)
            first = next(frames, None)
            if first is None:
                raise LiveReplayError(f"no publishable image on {image_topic!r} in {bag_path}")
            _warm_up(session, node, first, options.warmup_timeout_s)
            quiet = _Quiet(session.recorder)  # late answers to repeated warm-up frames
            _poll(lambda: quiet.for_s(WARMUP_QUIET_S), 10.0, node, "the warm-up to finish")
            session.recorder.clear()
            published = _publish_paced(session, [first], frames, options.rate, run)
            _drain(session, node, run, options)
        finally:
            if session is not None:
                session.close()
            exit_code = node.stop()
    items = session.recorder.snapshot()
    _collect(run, items, published, exit_code)
    _write_recording(out_bag, items)
    return run


def _publish_paced(session: _Session, head: list[_Frame], rest: Iterator[_Frame], rate: float,
                   run: LiveRun) -> dict[int, int]:
    """Publish at the recorded pace / ``rate``; returns publish time (monotonic ns) by stamp."""
    published: dict[int, int] = {}
    start_wall = time.monotonic()
    start_bag: int | None = None
    for frame in itertools.chain(head, rest):
        start_bag = frame.bag_ns if start_bag is None else start_bag
        delay = start_wall + (frame.bag_ns - start_bag) * 1e-9 / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        session.publisher.publish(frame.raw)
        published.setdefault(frame.stamp_ns, time.monotonic_ns())
        run.stamps_ns.append(frame.stamp_ns)
        run.indices.append(frame.index)
    return published


def _drain(session: _Session, node: NodeProcess, run: LiveRun, options: LiveOptions) -> None:
    """Wait for outstanding estimates: all frames answered, or quiet for ``settle_s``."""
    wanted = set(run.stamps_ns)
    quiet = _Quiet(session.recorder)
    _poll(lambda: wanted <= set(_by_stamp(session.recorder.snapshot(), POSE_TOPIC))
          or quiet.for_s(options.settle_s), options.drain_timeout_s, node, "the last estimates")


def _collect(run: LiveRun, items: list[tuple[str, int, bytes]], published: dict[int, int],
             exit_code: int) -> None:
    poses = _by_stamp(items, POSE_TOPIC, published)
    anchors = _by_stamp(items, ANCHOR_TOPIC, published)
    answered = [s for s in published if s in poses]
    for s in answered:
        run.estimates[s] = estimate_from_messages(poses[s][1], anchors.get(s, (0, None))[1])
    latency = [(poses[s][0] - published[s]) * 1e-6 for s in answered]
    node_latency = [float(anchors[s][1].latency_ms) for s in answered if s in anchors]
    p50, p95 = _percentiles(latency)
    n50, n95 = _percentiles(node_latency)
    run.stats = {
        "published": len(run.stamps_ns), "answered": len(answered),
        "dropped": len(set(run.stamps_ns)) - len(answered),
        "input_rate_hz": _rate(list(published.values())),
        "output_rate_hz": _rate([poses[s][0] for s in answered]),
        "latency_p50_ms": p50, "latency_p95_ms": p95,
        "node_latency_p50_ms": n50, "node_latency_p95_ms": n95,
        "node_exit_code": exit_code,
    }


def _write_recording(path: Path, items: list[tuple[str, int, bytes]]) -> None:
    """What the node published, bag time = header stamp (lines up with the input bag)."""
    store = typestore()
    with BagWriter(path) as bag:
        bag.add_topic(POSE_TOPIC, POSE_TYPE)
        bag.add_topic(ANCHOR_TOPIC, ANCHOR_DEBUG_TYPE)
        for topic, _, raw in items:
            msgtype = POSE_TYPE if topic == POSE_TOPIC else ANCHOR_DEBUG_TYPE
            bag.write_raw(topic, stamp_ns(store.deserialize_cdr(raw, msgtype).header.stamp), raw)
