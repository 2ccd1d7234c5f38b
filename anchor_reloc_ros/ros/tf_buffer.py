"""TF lookups: ``tf2_ros`` when importable, otherwise a small buffer of our own.

A pip-only machine has no ``tf2_ros``. ``TransformStore`` is a ROS-free tf tree with
time interpolation (linear translation, slerp rotation) and a cache window;
``OwnTfListener`` fills it from ``/tf`` and ``/tf_static``. Both backends expose
``lookup(target, source, stamp_ns, timeout_s) -> T_target_source`` (4x4) and raise
``TransformUnavailable``. ``make_tf_lookup(node)`` picks the backend.
"""
from __future__ import annotations

import bisect
import importlib.util
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from ..core.errors import AnchorRelocError
from ..core.geometry import invert_transform, quat_slerp, transform_from_pq
from .conversions import transform_msg_to_pq, transform_msg_to_matrix

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
TF_STATIC_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)


class TransformUnavailable(AnchorRelocError):
    """A transform cannot be computed (unknown frame, no path, or out of time range).

    ``retryable`` is True when waiting may help (the data is newer than the buffer).
    """

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class _Edge:
    parent: str
    static: bool
    times: list[int] = field(default_factory=list)
    samples: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (t, q_wxyz)


class TransformStore:
    """A tf tree of ``parent -> child`` edges, each a time series (or one static value)."""

    def __init__(self, cache_s: float = 10.0) -> None:
        self._cache_ns = int(cache_s * 1e9)
        self._edges: dict[str, _Edge] = {}

    def set_transform(self, parent: str, child: str, stamp_ns: int, translation: np.ndarray,
                      q_wxyz: np.ndarray, static: bool = False) -> None:
        """Add ``T_parent_child`` at ``stamp_ns`` (static: valid at every time)."""
        if not parent or not child or parent == child:
            raise ValueError(f"invalid transform {parent!r} -> {child!r}")
        edge = self._edges.get(child)
        if edge is None or edge.static != static or edge.parent != parent:
            edge = self._edges[child] = _Edge(parent, static)
        sample = (np.asarray(translation, dtype=np.float64), np.asarray(q_wxyz, dtype=np.float64))
        if static:
            edge.times, edge.samples = [0], [sample]
            return
        i = bisect.bisect_right(edge.times, stamp_ns)
        if i > 0 and edge.times[i - 1] == stamp_ns:
            edge.samples[i - 1] = sample
            return
        edge.times.insert(i, stamp_ns)
        edge.samples.insert(i, sample)
        horizon = edge.times[-1] - self._cache_ns
        cut = bisect.bisect_left(edge.times, horizon)
        if cut > 0:
            del edge.times[:cut], edge.samples[:cut]

    def frames(self) -> set[str]:
        return set(self._edges) | {e.parent for e in self._edges.values()}

    def _chain(self, frame: str) -> list[str]:
        """``frame``, its parent, ... up to the root."""
        chain = [frame]
        while chain[-1] in self._edges:
            chain.append(self._edges[chain[-1]].parent)
            if len(chain) > 1000:
                raise TransformUnavailable(f"tf tree has a loop through {frame!r}")
        return chain

    def _sample(self, child: str, stamp_ns: int) -> np.ndarray:
        """``T_parent_child`` at ``stamp_ns`` by interpolation."""
        edge = self._edges[child]
        if edge.static:
            return transform_from_pq(*edge.samples[0])
        times = edge.times
        if stamp_ns > times[-1]:
            raise TransformUnavailable(
                f"{edge.parent} -> {child}: requested time {stamp_ns * 1e-9:.6f} is newer than "
                f"the latest data {times[-1] * 1e-9:.6f}", retryable=True)
        if stamp_ns < times[0]:
            raise TransformUnavailable(
                f"{edge.parent} -> {child}: requested time {stamp_ns * 1e-9:.6f} is older than "
                f"the oldest data {times[0] * 1e-9:.6f}")
        i = bisect.bisect_left(times, stamp_ns)
        if times[i] == stamp_ns:
            return transform_from_pq(*edge.samples[i])
        (t0, q0), (t1, q1) = edge.samples[i - 1], edge.samples[i]
        a = (stamp_ns - times[i - 1]) / (times[i] - times[i - 1])
        return transform_from_pq((1.0 - a) * t0 + a * t1, quat_slerp(q0, q1, a))

    def lookup(self, target: str, source: str, stamp_ns: int = 0) -> np.ndarray:
        """``T_target_source`` (maps source coordinates into target) at ``stamp_ns``.

        ``stamp_ns == 0`` means the latest time at which the whole chain has data.
        """
        if target == source:
            return np.eye(4)
        for frame in (target, source):
            if frame not in self.frames():
                raise TransformUnavailable(f"frame {frame!r} does not exist in the tf tree",
                                           retryable=True)
        up_source, up_target = self._chain(source), self._chain(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise TransformUnavailable(
                f"{target!r} and {source!r} are not connected in the tf tree", retryable=True)
        edges = up_source[:up_source.index(common)] + up_target[:up_target.index(common)]
        if stamp_ns == 0:
            dynamic = [self._edges[c].times[-1] for c in edges if not self._edges[c].static]
            stamp_ns = min(dynamic) if dynamic else 0
        T_common_source = self._compose(up_source, common, stamp_ns)
        T_common_target = self._compose(up_target, common, stamp_ns)
        return invert_transform(T_common_target) @ T_common_source

    def _compose(self, chain: list[str], common: str, stamp_ns: int) -> np.ndarray:
        T = np.eye(4)
        for child in chain[:chain.index(common)]:
            T = self._sample(child, stamp_ns) @ T
        return T


class TfLookup(Protocol):
    def lookup(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> np.ndarray: ...


class OwnTfListener:
    """Fills a ``TransformStore`` from ``/tf`` and ``/tf_static``; waits are bounded."""

    def __init__(self, node: Node, cache_s: float = 10.0, callback_group=None) -> None:
        from tf2_msgs.msg import TFMessage

        self.store = TransformStore(cache_s)
        self._cond = threading.Condition()
        self._subs = [
            node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS,
                                     callback_group=callback_group),
            node.create_subscription(TFMessage, "/tf_static", self._on_tf_static, TF_STATIC_QOS,
                                     callback_group=callback_group),
        ]

    def _on_tf(self, msg) -> None:
        self._add(msg, static=False)

    def _on_tf_static(self, msg) -> None:
        self._add(msg, static=True)

    def _add(self, msg, static: bool) -> None:
        with self._cond:
            for tf in msg.transforms:
                stamp_ns = tf.header.stamp.sec * 1_000_000_000 + tf.header.stamp.nanosec
                try:
                    self.store.set_transform(tf.header.frame_id.lstrip("/"),
                                             tf.child_frame_id.lstrip("/"), stamp_ns,
                                             *transform_msg_to_pq(tf.transform), static=static)
                except ValueError:
                    continue  # a malformed transform (empty or self-referencing frame)
            self._cond.notify_all()

    def lookup(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> np.ndarray:
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while True:
                try:
                    return self.store.lookup(target, source, stamp_ns)
                except TransformUnavailable as exc:
                    remaining = deadline - time.monotonic()
                    if not exc.retryable or remaining <= 0:
                        raise
                    self._cond.wait(remaining)


class Tf2RosLookup:
    """Adapter over ``tf2_ros.Buffer`` + ``TransformListener`` (a real ROS install)."""

    def __init__(self, node: Node, cache_s: float = 10.0, callback_group=None) -> None:
        import tf2_ros
        from rclpy.duration import Duration

        self._tf2_ros = tf2_ros
        self._buffer = tf2_ros.Buffer(cache_time=Duration(seconds=cache_s), node=node)
        self._listener = tf2_ros.TransformListener(self._buffer, node, spin_thread=False)

    def lookup(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> np.ndarray:
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            tf = self._buffer.lookup_transform(
                target, source, Time(nanoseconds=stamp_ns),
                timeout=Duration(nanoseconds=int(max(0.0, timeout_s) * 1e9)))
        except self._tf2_ros.TransformException as exc:
            raise TransformUnavailable(f"{target} <- {source}: {exc}") from exc
        return transform_msg_to_matrix(tf.transform)


def tf2_ros_available() -> bool:
    return importlib.util.find_spec("tf2_ros") is not None


def make_tf_lookup(node: Node, callback_group=None) -> TfLookup:
    """``tf2_ros`` when importable (a ROS install), else ``OwnTfListener``."""
    if tf2_ros_available():
        return Tf2RosLookup(node, callback_group=callback_group)
    return OwnTfListener(node, callback_group=callback_group)
