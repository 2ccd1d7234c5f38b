"""``anchor_reloc_node``: camera image in; pose, TF, anchor debug, markers out.

Threading: the image callback only drops the message into a ``LatestFrameSlot`` (the
newest frame wins). ``inference_workers`` ``FrameWorker`` threads (default one) decode,
run the ``Localizer``, look up TF and publish, never a frame older than one already
published; the single-threaded executor is never blocked by inference, and the blocking
``~/relocalize`` service runs on its own thread (``blocking_service``). Every per-image
output carries the image's ``header.stamp``; in tf_mode map_to_odom a timer re-broadcasts
the latest ``map -> odom`` between estimates (``tf_republisher``).

Shutdown (``main``): SIGINT/SIGTERM only ask the spin loop to stop (``shutdown.py``); then
the image subscription, the workers and the ``~/relocalize`` thread are stopped and
joined, the nodes destroyed, and only then is the context shut down.
"""
from __future__ import annotations

import importlib.util
import itertools
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseWithCovarianceStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from anchor_reloc_ros.msg import AnchorDebug

from ..core.errors import AnchorRelocError, CheckpointError, InvalidImageError
from ..core.estimate import PoseEstimate
from ..core.frame_gate import FrameGate, frame_gate_for, reason_kind, shifted
from ..core.gate import GateDecision
from ..data.image_codec import ImageDecodeError, message_to_rgb
from .anchor_debug import anchor_debug
from .blocking_service import BlockingService
from .conversions import ns_to_stamp, pose_with_covariance, stamp_to_ns, transform_stamped
from .diagnostics import NodeStats, diagnostic_array
from .frame_worker import FrameWorker, LatestFrameSlot
from .markers import estimate_markers
from .parameters import GATE_REBUILT_BY, SPECS, NodeParams, declare_all, validate
from .pose_math import camera_to_base, map_to_odom, sanitize_covariance
from .shutdown import StopSignals
from .tf_buffer import TF_QOS, TransformUnavailable, make_tf_lookup, tf2_ros_available
from .tf_republisher import LatestTransform

if TYPE_CHECKING:
    from ..core.localizer import Localizer

NODE_NAME = "anchor_reloc_node"
POLL_S = 0.1                 # worker wake-up period when idle (bounds shutdown time)
SPIN_POLL_S = 0.1            # main loop wake-up period: how soon a stop signal is seen
FIRST_EXTRINSIC_WAIT_S = 0.5  # first camera->base lookup may wait for /tf_static
LOG_THROTTLE_S = 5.0


@dataclass
class _Frame:
    msg: Image | CompressedImage
    received_ns: int  # time.monotonic_ns() at the callback
    sequence: int     # arrival order


def _share_dirs() -> list[Path]:
    """The package's share directories: the ament index (colcon), then sys.prefix (pip)."""
    dirs = [Path(sys.prefix) / "share" / "anchor_reloc_ros"]
    if importlib.util.find_spec("ament_index_python") is None:
        return dirs
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    try:
        dirs.insert(0, Path(get_package_share_directory("anchor_reloc_ros")))
    except PackageNotFoundError:
        return dirs  # a pip install has no ament index entry
    return dirs


def resolve_weights(weights: str) -> Path:
    """``weights`` as given if it exists, else under the package's share/weights."""
    path = Path(weights).expanduser()
    if path.is_absolute() or path.exists():
        return path
    for share in _share_dirs():
        for candidate in (share / "weights" / path, share / path):
            if candidate.exists():
                return candidate
    return path


class AnchorRelocNode(Node):
    """Single-image relocalization node (see the module docstring and the README)."""

    def __init__(self, localizer: Localizer | None = None, node_name: str = NODE_NAME,
                 **node_kwargs) -> None:
        super().__init__(node_name, **node_kwargs)
        try:
            self._setup(localizer)
        except AnchorRelocError:
            self.destroy_node()
            raise

    # ------------------------------------------------------------------ setup
    def _setup(self, localizer: Localizer | None) -> None:
        self._params: NodeParams = declare_all(self)
        p = self._params
        self._weights_path = resolve_weights(p.weights)
        self._localizer = localizer if localizer is not None else self._load(p)
        self._localizer.set_decode_options(p.decoding)
        self._stats = NodeStats()
        self._slot: LatestFrameSlot[_Frame] = LatestFrameSlot()
        self._pending: list[Future] = []
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()
        self._next_allowed = 0.0
        self._last_initialpose = -float("inf")
        self._extrinsic_known: bool | None = None  # None: not tried yet
        self._warned: set[str] = set()
        self._pose_of = "none yet"
        self._closing = False  # set once shutdown starts: no new work, no more logging
        self._map_odom = LatestTransform()  # re-broadcast by _republish_map_odom
        self._gate = self._make_gate(p)

        self._tf = make_tf_lookup(self, callback_group=MutuallyExclusiveCallbackGroup())
        self._pose_pub = self.create_publisher(PoseWithCovarianceStamped, "~/pose", 10)
        self._anchor_pub = self.create_publisher(AnchorDebug, "~/anchor", 10)
        self._marker_pub = self.create_publisher(MarkerArray, "~/markers", 1)
        self._initialpose_pub = self.create_publisher(PoseWithCovarianceStamped, "initialpose", 1)
        self._tf_pub = self.create_publisher(TFMessage, "/tf", TF_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        if p.qos_reliability == "best_effort":
            qos = qos_profile_sensor_data
        else:
            qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        msg_type = CompressedImage if p.image_transport == "compressed" else Image
        self._image_sub = self.create_subscription(msg_type, p.subscribed_topic, self._on_image, qos)
        self._relocalize = BlockingService(self, Trigger, "relocalize", self._on_relocalize)
        self._diag_timer = self.create_timer(p.diagnostics_period_s, self._publish_diagnostics)
        if p.transform_publish_period > 0:
            self._tf_timer = self.create_timer(p.transform_publish_period, self._republish_map_odom)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._commit_parameters)

        self._arrivals = itertools.count()
        self._publish_lock = threading.Lock()
        self._last_published_sequence = -1
        self._workers = [FrameWorker(self._step, self._on_worker_error, name=f"anchor_reloc_worker_{i}")
                         for i in range(p.inference_workers)]
        for worker in self._workers:
            worker.start()
        self.get_logger().info(
            f"weights {self._weights_path} ({len(self._localizer.anchors_world)} anchors) on "
            f"{self._localizer.device}; listening on {self.resolve_topic_name(p.subscribed_topic)} "
            f"({p.image_transport}, {p.qos_reliability}); tf_mode {p.tf_mode}; "
            f"{'continuous' if p.continuous else 'one-shot (~/relocalize)'}")

    def _load(self, p: NodeParams) -> Localizer:
        # Fail fast, before building a model, on the commonest start-up mistake.
        if not self._weights_path.is_file():
            raise CheckpointError(f"weights file not found: {self._weights_path}")
        try:
            localizer = p.inference.localizer(self._weights_path, p.decoding)
        except AnchorRelocError as exc:
            text = str(exc)
            if str(self._weights_path) not in text:
                text = f"{text} (weights: {self._weights_path})"
            raise type(exc)(text) from exc
        if p.inference.device == "auto" and localizer.device.type == "cpu":
            self.get_logger().info("device=auto: CUDA not available, running on the CPU")
        return localizer

    def _make_gate(self, p: NodeParams) -> FrameGate:
        gate = frame_gate_for(self._localizer.metadata, self._localizer.decoder.calibration,
                              p.odom if p.odom_check else None)
        if not gate.gate.ood_available:
            self._warn_once("no_ood", f"{self._weights_path} has no out-of-scene calibration: max_ood_score "
                            "is not applied and min_confidence gates on the raw softmax; the gate uses the "
                            "covariance only (add it with: anchor-reloc calibrate-ood --weights W --data D)")
        return gate

    @property
    def localizer(self) -> Localizer:
        return self._localizer

    @property
    def stats(self) -> NodeStats:
        return self._stats

    @property
    def params(self) -> NodeParams:
        return self._params

    def destroy_node(self) -> None:
        """Stop in order: image input, the workers, pending and future ~/relocalize calls,
        the service thread; then the node. Call it while the context is still valid."""
        self._closing = True
        image_sub = getattr(self, "_image_sub", None)
        if image_sub is not None:
            self.destroy_subscription(image_sub)
        for worker in getattr(self, "_workers", []):
            if not worker.stop():
                self.get_logger().warning(f"{worker.name} did not stop within its timeout")
        if hasattr(self, "_pending"):
            self._resolve_pending(False, "node shutting down")
        relocalize = getattr(self, "_relocalize", None)
        if relocalize is not None:
            relocalize.close()
        super().destroy_node()

    # -------------------------------------------------------------- parameters
    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for prm in params:
            reason = validate(prm.name, prm.value)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _commit_parameters(self, params: list[Parameter]) -> None:
        changes = {}
        for prm in params:
            if prm.name in SPECS:
                changes[prm.name] = float(prm.value) if isinstance(SPECS[prm.name].default, float) \
                    else prm.value
        self._params = self._params.updated(changes)
        decoding = self._params.decoding
        self._localizer.set_decode_options(decoding)  # one atomic swap
        if "continuous" in changes:
            self._wake.set()
        if changes.keys() & {"tf_mode", "map_frame", "odom_frame", "base_frame"}:
            self._map_odom.clear()  # kept for other frames: never re-broadcast it
        if changes.keys() & GATE_REBUILT_BY:
            with self._publish_lock:
                self._gate = self._make_gate(self._params)

    # ---------------------------------------------------------- input/service
    def _on_image(self, msg: Image | CompressedImage) -> None:
        self._stats.on_input()
        replaced = self._slot.put(_Frame(msg, time.monotonic_ns(), next(self._arrivals)))
        if replaced is not None and self._params.continuous:
            self._stats.counters.add("dropped")

    def _on_relocalize(self, request: Trigger.Request, response: Trigger.Response
                       ) -> Trigger.Response:
        if self._closing:
            response.success, response.message = False, "node shutting down"
            return response
        future: Future = Future()
        with self._pending_lock:
            self._pending.append(future)
        self._wake.set()
        timeout = self._params.relocalize_timeout_s
        try:
            response.success, response.message = future.result(timeout=timeout)
        except FutureTimeout:
            with self._pending_lock:
                if future in self._pending:
                    self._pending.remove(future)
            response.success = False
            response.message = (f"no estimate within {timeout:.1f} s: no image on "
                                f"{self.resolve_topic_name(self._params.subscribed_topic)}?")
        return response

    def _has_pending(self) -> bool:
        with self._pending_lock:
            return bool(self._pending)

    def _resolve_pending(self, success: bool, message: str) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.set_result((success, message))

    # ------------------------------------------------------------------ worker
    def _step(self) -> None:
        p = self._params
        if not p.continuous:
            self._wake.clear()
            if not self._has_pending():
                self._wake.wait(POLL_S)
                return
        wait = self._next_allowed - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, POLL_S))
            return
        frame = self._slot.take(POLL_S)
        if frame is None:
            return
        p = self._params  # re-read: parameters may have changed while waiting
        if not p.continuous and not self._has_pending():
            self._slot.restore(frame)  # switched to one-shot meanwhile: keep it for a request
            return
        if p.max_rate_hz > 0:
            self._next_allowed = time.monotonic() + 1.0 / p.max_rate_hz
        try:
            success, message = self._process(frame, p)
        except AnchorRelocError as exc:
            self._stats.counters.add("errors")
            self._log_error(f"localization failed: {exc}")
            success, message = False, f"localization failed: {exc}"
        self._resolve_pending(success, message)

    def _on_worker_error(self, exc: BaseException) -> None:
        self._stats.counters.add("errors")
        self._resolve_pending(False, f"internal error: {exc!r}")
        self._log_error(f"frame skipped after an unexpected error: {exc!r}")

    def _log_error(self, text: str) -> None:
        """Throttled error, unless shutting down (a frame cut short then is no error)."""
        if not self._closing and self.context.ok():
            self.get_logger().error(text, throttle_duration_sec=LOG_THROTTLE_S)

    def _process(self, frame: _Frame, p: NodeParams) -> tuple[bool, str]:
        msg = frame.msg
        try:
            rgb = message_to_rgb(msg, p.max_image_pixels)
            est = self._localizer.localize(rgb)  # InvalidImageError: e.g. too small a frame
        except (ImageDecodeError, InvalidImageError) as exc:
            self._stats.counters.add("bad")
            self.get_logger().warning(f"bad image skipped: {exc}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return False, f"bad image: {exc}"
        self._stats.counters.add("processed")
        stamp = msg.header.stamp
        stamp_ns = stamp_to_ns(stamp)
        cam_frame = p.camera_frame or msg.header.frame_id.lstrip("/")
        T_map_cam = est.transform()
        T_map_body, cov, body_frame = self._body_pose(T_map_cam, est.covariance, cam_frame,
                                                      stamp_ns, p)
        T_odom_base = self._odometry(body_frame, stamp_ns, p)
        with self._publish_lock:  # parallel workers finish out of order: never publish backwards
            if frame.sequence < self._last_published_sequence:
                self._stats.counters.add("superseded")
                return False, "superseded: a newer frame was localized first"
            self._last_published_sequence = frame.sequence
            decision = self._gate.judge(est, T_map_body, T_odom_base, p.gate)  # in order: odom window
            cov = self._gate.published_covariance(cov, est.covariance, decision)
            T_map_cam, T_map_body = shifted(T_map_cam, decision), shifted(T_map_body, decision)  # re-decoded
            return self._publish_estimate(frame, est, T_map_cam, T_map_body, cov, body_frame, cam_frame, p,
                                          decision)

    def _odometry(self, body_frame: str, stamp_ns: int, p: NodeParams) -> np.ndarray | None:
        """``T_odom_base`` at the image stamp for the odometry check; None when off or unknown."""
        if not p.odom_check:
            return None
        if body_frame != p.base_frame:
            self._warn_once("odom_no_base", f"odom_check: the pose of {p.base_frame} is unknown (no camera "
                            "extrinsic): the odometry check is skipped")
            return None
        try:
            return self._tf.lookup(p.odom_frame, p.base_frame, stamp_ns, p.tf_timeout_s)
        except TransformUnavailable as exc:
            self.get_logger().warning(f"odom_check skipped: no {p.odom_frame} -> {p.base_frame} ({exc})",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return None

    def _publish_estimate(self, frame: _Frame, est: PoseEstimate, T_map_cam: np.ndarray,
                          T_map_body: np.ndarray, cov: np.ndarray, body_frame: str, cam_frame: str,
                          p: NodeParams, decision: GateDecision) -> tuple[bool, str]:
        stamp = frame.msg.header.stamp
        stamp_ns = stamp_to_ns(stamp)
        confident = decision.passed
        if confident:
            if decision.redecoded_anchor >= 0:
                self._stats.counters.add("redecoded")
            elif decision.fused:
                self._stats.counters.add("fused")
            self._publish_tf(T_map_cam, T_map_body, body_frame, cam_frame, stamp, stamp_ns, p)
            self._pose_pub.publish(pose_with_covariance(T_map_body, cov, p.map_frame, stamp))
        else:
            self._stats.counters.add("gated")
            self._stats.counters.add(f"gated_{reason_kind(decision.reason)}")
        latency_ms = (time.monotonic_ns() - frame.received_ns) * 1e-6
        anchors = self._localizer.anchors_world
        # Debug outputs are built only for subscribers (message building costs ~0.5 ms).
        if self._anchor_pub.get_subscription_count():
            self._anchor_pub.publish(anchor_debug(est, p.map_frame, stamp, anchors, latency_ms,
                                                  self._localizer.decode, decision))
        if self._marker_pub.get_subscription_count():
            self._marker_pub.publish(estimate_markers(est, anchors, T_map_body, p.map_frame, stamp))
        if confident:
            self._maybe_initialpose(decision, T_map_body, cov, stamp, p)
            self._stats.on_output(latency_ms, est.inference_ms)
        x, y, z = T_map_body[:3, 3]
        summary = (f"{body_frame or 'camera'} at ({x:.2f}, {y:.2f}, {z:.2f}) in {p.map_frame}, "
                   f"anchor {est.anchor_index} conf {est.anchor_confidence:.2f}"
                   + (f" (odometry chose anchor {decision.redecoded_anchor})" if decision.redecoded_anchor >= 0 else "")
                   + f", stamp {stamp_ns * 1e-9:.3f}")
        if not confident:
            return False, f"gated ({decision.reason}): {summary}"
        return True, summary

    # ------------------------------------------------------------------ frames
    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(text)

    def _body_pose(self, T_map_cam: np.ndarray, cov_cam: np.ndarray, cam_frame: str,
                   stamp_ns: int, p: NodeParams) -> tuple[np.ndarray, np.ndarray, str]:
        """Pose of base_frame via the camera->base extrinsic, else of the camera itself."""
        if not cam_frame:
            self._warn_once("no_camera_frame", "image header.frame_id is empty and camera_frame "
                            "is unset: publishing the CAMERA pose (no extrinsic known)")
            self._pose_of = "camera (no frame id)"
            return T_map_cam, sanitize_covariance(cov_cam), ""
        if cam_frame == p.base_frame:
            self._pose_of = p.base_frame
            return T_map_cam, sanitize_covariance(cov_cam), cam_frame
        if self._extrinsic_known is None:
            timeout = max(p.tf_timeout_s, FIRST_EXTRINSIC_WAIT_S)
        else:
            timeout = p.tf_timeout_s if self._extrinsic_known else 0.0
        try:
            T_cam_base = self._tf.lookup(cam_frame, p.base_frame, stamp_ns, timeout)
        except TransformUnavailable as exc:
            if self._extrinsic_known is not False:
                self.get_logger().warning(
                    f"no transform {cam_frame} -> {p.base_frame} ({exc}): publishing the pose of "
                    f"{cam_frame} instead of {p.base_frame} until the extrinsic is on TF")
            self._extrinsic_known = False
            self._pose_of = cam_frame
            return T_map_cam, sanitize_covariance(cov_cam), cam_frame
        if self._extrinsic_known is False:
            self.get_logger().info(f"extrinsic {cam_frame} -> {p.base_frame} found: publishing "
                                   f"the pose of {p.base_frame}")
        self._extrinsic_known = True
        self._pose_of = p.base_frame
        T_map_base, cov_base = camera_to_base(T_map_cam, cov_cam, T_cam_base)
        return T_map_base, cov_base, p.base_frame

    def _publish_tf(self, T_map_cam: np.ndarray, T_map_body: np.ndarray, body_frame: str,
                    cam_frame: str, stamp, stamp_ns: int, p: NodeParams) -> None:
        if p.tf_mode == "none":
            return
        if p.tf_mode == "map_to_camera":
            if not cam_frame:
                self._tf_failure("tf_mode map_to_camera needs a camera frame id")
                return
            parent, child, T = p.map_frame, cam_frame, T_map_cam
        elif body_frame != p.base_frame:
            self._tf_failure(f"tf_mode {p.tf_mode}: the pose of {p.base_frame} is unknown "
                             f"(no {cam_frame or 'camera'} -> {p.base_frame} extrinsic)")
            return
        elif p.tf_mode == "map_to_base":
            parent, child, T = p.map_frame, p.base_frame, T_map_body
        else:  # map_to_odom, as AMCL: never a second parent for base_frame
            try:
                T_odom_base = self._tf.lookup(p.odom_frame, p.base_frame, stamp_ns,
                                              p.tf_timeout_s)
            except TransformUnavailable as exc:
                self._tf_failure(f"cannot publish {p.map_frame} -> {p.odom_frame}: {exc}")
                return
            parent, child, T = p.map_frame, p.odom_frame, map_to_odom(T_map_body, T_odom_base)
            self._map_odom.set(T, parent, child, stamp_ns)
        self._tf_pub.publish(TFMessage(transforms=[transform_stamped(T, parent, child, stamp)]))

    def _republish_map_odom(self) -> None:
        """Timer: the latest map -> odom, stamped max(its stamp, now) + transform_tolerance."""
        p = self._params
        if p.tf_mode != "map_to_odom":
            return  # map -> base / camera are poses at the image time: never restamped
        kept = self._map_odom.restamped(self.get_clock().now().nanoseconds,
                                        round(p.transform_tolerance * 1e9))
        if kept is not None:
            self._tf_pub.publish(TFMessage(transforms=[transform_stamped(
                kept.T, kept.parent, kept.child, ns_to_stamp(kept.stamp_ns))]))

    def _tf_failure(self, text: str) -> None:
        self._stats.counters.add("tf_failures")
        self.get_logger().warning(text, throttle_duration_sec=LOG_THROTTLE_S)

    def _maybe_initialpose(self, decision: GateDecision, T_map_body: np.ndarray, cov: np.ndarray,
                           stamp, p: NodeParams) -> None:
        if not p.publish_initialpose:
            return
        if decision.confidence < p.initialpose_min_confidence:  # the gate's calibrated confidence
            return
        now = time.monotonic()
        if p.continuous and now - self._last_initialpose < p.initialpose_interval_s:
            return
        self._last_initialpose = now
        self._initialpose_pub.publish(pose_with_covariance(T_map_body, cov, p.map_frame, stamp))

    # ------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        p = self._params
        extra = {
            "device": str(self._localizer.device),
            "backend": getattr(self._localizer.backend, "name", "torch"),
            "weights": str(self._weights_path),
            "decode": self._localizer.decode,
            "views": str(self._localizer.views),
            "tf_mode": p.tf_mode,
            "tf_backend": "tf2_ros" if tf2_ros_available() else "builtin",
            "pose_of": self._pose_of,
            "image_topic": self.resolve_topic_name(p.subscribed_topic),
        }
        self._diag_pub.publish(diagnostic_array(
            self._stats, f"{self.get_name()}: localization", str(self._localizer.device),
            self.get_clock().now().to_msg(), extra, all(w.is_alive() for w in self._workers), p.continuous,
            self.resolve_topic_name(p.subscribed_topic), max_rate_hz=p.max_rate_hz))


def spin_until_stopped(node: Node, signals: StopSignals) -> None:
    """Spin ``node`` until a stop signal or the context's end, then destroy it (in order)."""
    executor = SingleThreadedExecutor()  # see blocking_service: much lower latency than multi-threaded
    executor.add_node(node)
    try:
        while not signals.requested.is_set() and node.context.ok():
            executor.spin_once(timeout_sec=SPIN_POLL_S)
        if signals.requested.is_set():  # logged while the context is valid (rosout works)
            node.get_logger().info(f"{signals.signal_name}: shutting down")
    except ExternalShutdownException:
        pass  # someone else shut the context down: nothing left to stop in order
    finally:
        executor.shutdown(timeout_sec=5.0)
        node.destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console entry point: ``anchor_reloc_node --ros-args -p weights:=model.pt``.

    Exits 0 after SIGINT or SIGTERM, 1 when the node cannot start.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signals = StopSignals.install()
    try:
        try:
            node = AnchorRelocNode()
        except AnchorRelocError as exc:
            rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
            return 1
        spin_until_stopped(node, signals)
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
