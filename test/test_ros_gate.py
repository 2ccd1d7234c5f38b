"""The gate in the running node, over real DDS: garbage withheld at the defaults, poses in
order with a positive-definite covariance, the odometry check rejects a jump and recovers,
and the poses it agreed on carry the calibrated agreed covariance."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage

from anchor_reloc_ros.core.checkpoint import load_checkpoint, save_checkpoint
from anchor_reloc_ros.core.frame_gate import pose_gate_for
from anchor_reloc_ros.core.gate import GateLimits
from anchor_reloc_ros.core.geometry import make_transform
from anchor_reloc_ros.core.localizer import Localizer
from anchor_reloc_ros.data.loader import load_dataset
from anchor_reloc_ros.msg import AnchorDebug
from anchor_reloc_ros.ros.conversions import ns_to_stamp, stamp_to_ns, transform_stamped
from anchor_reloc_ros.ros.tf_buffer import TransformUnavailable
from anchor_reloc_ros.training.image_cache import read_rgb
from ros_node_harness import Harness, image_msg, ros_context, wait_until  # noqa: F401 - fixture
from test_ood import garbage_frames

S = 1_000_000_000
CAMERA = "camera_optical"
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def _scene(strip_dataset: Path) -> list[np.ndarray]:
    return [read_rgb(str(f.image_path)) for f in load_dataset(strip_dataset, "test").frames]


def _harness(weights: Path, **overrides) -> Harness:
    h = Harness({"weights": str(weights), "device": "cpu", "base_frame": CAMERA,
                 "qos_reliability": "reliable", **overrides})
    h.images = h.publisher(Image, "image_raw", RELIABLE)
    h.pose = h.subscribe(PoseWithCovarianceStamped, "anchor_reloc_node/pose", RELIABLE)
    return h


def _replay_with_odometry(h: Harness, images: list[np.ndarray], T_odom: list[np.ndarray],
                          first_stamp_ns: int) -> list[int]:
    """Put ``odom -> camera`` on /tf around each image's stamp (1 s apart), then feed the images."""
    tf = h.publisher(TFMessage, "/tf", 100)
    stamps = [first_stamp_ns + i * S for i in range(len(images))]
    odometry = TFMessage(transforms=[transform_stamped(T, "odom", CAMERA, ns_to_stamp(s + d))
                                     for T, s in zip(T_odom, stamps) for d in (-S // 10, S // 10)])

    def odometry_known() -> bool:
        tf.publish(odometry)
        try:
            return h.node._tf.lookup("odom", CAMERA, stamps[-1], 0.1) is not None
        except TransformUnavailable:
            return False

    wait_until(odometry_known, what="odometry on TF")
    assert _feed(h, images, stamps[0]) == stamps
    return stamps


def _feed(h: Harness, frames: list[np.ndarray], first_stamp_ns: int) -> list[int]:
    """Publish each frame once (reliable; stamps 1 s apart) and wait until the node has judged
    it: the node keeps only the newest frame, so a burst would be dropped."""
    stamps = [first_stamp_ns + i * S for i in range(len(frames))]
    for rgb, stamp in zip(frames, stamps):
        before = h.node.stats.counters["processed"]
        h.images.publish(image_msg(rgb, "rgb8", stamp, CAMERA))
        wait_until(lambda: h.node.stats.counters["processed"] > before, what="the frame processed")
    return stamps


@pytest.mark.parametrize("workers", [1, 2])
def test_defaults_withhold_garbage_and_publish_the_scene_in_order(ros_context, tiny_checkpoint: Path,
                                                                  strip_dataset: Path, workers: int) -> None:
    h = _harness(tiny_checkpoint, inference_workers=workers)
    debug = h.subscribe(AnchorDebug, "anchor_reloc_node/anchor", RELIABLE)
    try:
        wait_until(lambda: h.node._anchor_pub.get_subscription_count() > 0, what="the debug subscription")
        garbage = _feed(h, garbage_frames(), 10 * S)
        scene = _feed(h, _scene(strip_dataset) * 2, 100 * S)
        wait_until(lambda: h.node.stats.counters["published"] >= 1, what="a published pose")
        poses = h.pose.items()
        stamps = [stamp_to_ns(m.header.stamp) for m in poses]
        # ~/anchor carries every judged frame with the gate's verdict: withheld ones flagged
        wait_until(lambda: len(debug.items()) >= len(garbage) + len(scene), what="a debug message per frame")
        verdicts = {stamp_to_ns(m.header.stamp): m for m in debug.items()}
        assert all(not verdicts[g].published and verdicts[g].gate_reason.startswith("out_of_scene")
                   and verdicts[g].ood_score > 1.0 for g in garbage), [verdicts[g].gate_reason for g in garbage]
        assert {t for t, m in verdicts.items() if m.published} == set(stamps)
        assert all(m.gate_reason == "" and m.position_std > 0 for t, m in verdicts.items() if m.published)
        assert not set(stamps) & set(garbage)                      # noise, black, white: all withheld
        assert h.node.stats.counters["gated_out_of_scene"] >= len(garbage)
        assert stamps == sorted(set(stamps)) and set(stamps) <= set(scene)  # never backwards, no repeats
        # the node's gate is the checkpoint's offline one at its defaults (one borderline frame of slack)
        loc = Localizer.from_checkpoint(tiny_checkpoint, device="cpu")
        gate = pose_gate_for(loc.metadata, loc.decoder.calibration)
        expected = {t for t, est in zip(scene, loc.localize_batch(_scene(strip_dataset) * 2))
                    if gate.check(est, GateLimits()).passed}
        assert expected and len(set(stamps) ^ expected) <= 1, (sorted(stamps), sorted(expected))
        for m in poses:
            cov = np.asarray(m.pose.covariance).reshape(6, 6)
            assert np.allclose(cov, cov.T) and np.linalg.eigvalsh(cov).min() > 0
    finally:
        h.close()


def test_odometry_check_rejects_a_jump_and_recovers_after_a_kidnapping(ros_context, tiny_checkpoint: Path,
                                                                       strip_dataset: Path, tmp_path: Path) -> None:
    images = _scene(strip_dataset)[:6]
    # The node's own estimates (same checkpoint, same code): odometry is built from them,
    # so the test is about the check, not about the tiny model's accuracy.
    T_est = [e.transform() for e in Localizer.from_checkpoint(tiny_checkpoint, device="cpu").localize_batch(images)]
    kidnap = make_transform(np.eye(3), [0.0, 200.0, 0.0])  # from frame 3 on, odometry is 200 m off
    T_odom = [T if i < 3 else kidnap @ T for i, T in enumerate(T_est)]
    # A copy of the checkpoint with a known agreed covariance: what the vote's poses must carry.
    agreed = np.diag([4.0, 9.0, 0.25])
    contents = load_checkpoint(tiny_checkpoint)
    meta = {**contents.metadata, "calibration": {**contents.metadata["calibration"],
                                                 "agreed_position_cov": agreed.tolist()}}
    weights = save_checkpoint(tmp_path / "agreed.safetensors", contents.model, meta)
    h = _harness(weights, odom_check=True, odom_min_agreeing=1, max_ood_score=0.0,
                 max_position_std_factor=0.0, odom_fuse=False, odom_warmup_fraction=0.0)
    try:
        stamps = _replay_with_odometry(h, images, T_odom, 200 * S)
        wait_until(lambda: h.node.stats.counters["published"] >= 3, what="3 published poses")
        wait_until(lambda: h.node.stats.counters["gated_odom_check"] >= 3, what="3 frames gated")
        published = [stamp_to_ns(m.header.stamp) for m in h.pose.items()]
        # 0: nobody to agree with; 3, 4: the new place is outvoted by 0-2; 5: 3 against 3, the newest wins.
        assert published == [stamps[1], stamps[2], stamps[5]]
        assert h.node.stats.counters["gated_odom_check"] == 3
        for m in h.pose.items():   # the vote agreed: the agreed position block, the estimate's rotation
            cov = np.array(m.pose.covariance).reshape(6, 6)
            np.testing.assert_allclose(cov[:3, :3], agreed, atol=1e-9)
            assert np.linalg.eigvalsh(cov).min() > 0
    finally:
        h.close()


def test_odometry_re_decoding_publishes_the_hypothesis_at_the_agreed_place(ros_context, tiny_checkpoint: Path,
                                                                            strip_dataset: Path,
                                                                            tmp_path: Path) -> None:
    images = _scene(strip_dataset)[:4]
    estimates = Localizer.from_checkpoint(tiny_checkpoint, device="cpu").localize_batch(images)
    # Odometry equal to the first 3 estimates (the window agrees that map = odom); for the 4th frame it
    # says the robot is at that frame's hypothesis farthest from its argmax, among the 20 most confident.
    last = estimates[3]
    top = [i for i in np.argsort(-last.hypothesis_confidences)[:21] if i != last.anchor_index][:20]
    anchor = max(top, key=lambda i: np.linalg.norm(last.hypotheses[i] - last.position))
    assert np.linalg.norm(last.hypotheses[anchor] - last.position) > 1.0
    T_odom = [e.transform() for e in estimates[:3]] + [make_transform(last.transform()[:3, :3], last.hypotheses[anchor])]
    # a tight right-anchor covariance (only the 0.2 m floor and the drift remain): the argmax disagrees
    contents = load_checkpoint(tiny_checkpoint)
    meta = {**contents.metadata, "calibration": {**contents.metadata["calibration"],
                                                 "right_anchor_position_cov": (np.eye(3) * 1e-6).tolist()}}
    weights = save_checkpoint(tmp_path / "tight.safetensors", contents.model, meta)
    h = _harness(weights, odom_check=True, odom_min_agreeing=1, max_ood_score=0.0, max_position_std_factor=0.0,
                 odom_redecode_top_k=20, odom_vote_max_ood_score=0.0,   # the tiny model's scores: not the point
                 odom_fuse=False, odom_warmup_fraction=0.0)
    try:
        debug = h.subscribe(AnchorDebug, "anchor_reloc_node/anchor", RELIABLE)
        stamps = _replay_with_odometry(h, images, T_odom, 300 * S)
        wait_until(lambda: h.node.stats.counters["published"] >= 3, what="3 published poses")
        wait_until(lambda: len(debug.items()) >= 4, what="4 AnchorDebug messages")
        poses = {stamp_to_ns(m.header.stamp): m.pose.pose.position for m in h.pose.items()}
        assert sorted(poses) == stamps[1:]
        p = poses[stamps[3]]
        np.testing.assert_allclose([p.x, p.y, p.z], last.hypotheses[anchor], atol=1e-4)   # not the argmax
        assert h.node.stats.counters["redecoded"] == 1
        verdicts = {stamp_to_ns(m.header.stamp): (m.published, m.anchor_index, m.odom_anchor_index)
                    for m in debug.items()}
        assert verdicts[stamps[3]] == (True, last.anchor_index, anchor)
        assert verdicts[stamps[2]][2] == -1
        # the vote residual reaches the robot: set where the vote agreed, NaN before it could
        residual = {stamp_to_ns(m.header.stamp): m.vote_residual for m in debug.items()}
        assert math.isnan(residual[stamps[0]]) and all(residual[s] >= 0 for s in stamps[1:4])
    finally:
        h.close()


def test_odometry_fusion_publishes_the_pose_moved_towards_the_place_its_window_gives(
        ros_context, tiny_checkpoint: Path, strip_dataset: Path, tmp_path: Path) -> None:
    images = _scene(strip_dataset)[:4]
    estimates = Localizer.from_checkpoint(tiny_checkpoint, device="cpu").localize_batch(images)
    # odometry equal to the first 3 estimates; for the 4th it puts the robot d away from its estimate,
    # so the window's place for it is the estimate + d, and its vote residual r = -d
    d = np.array([0.4, -0.2, 0.0])
    last = estimates[3]
    T_odom = [e.transform() for e in estimates[:3]] + [make_transform(last.transform()[:3, :3], last.position + d)]
    K, fused, gain = np.diag([0.5, 0.75, 0.0]), np.diag([0.04, 0.09, 0.01]), 2.0
    contents = load_checkpoint(tiny_checkpoint)
    meta = {**contents.metadata, "calibration": {
        **contents.metadata["calibration"], "right_anchor_position_cov": np.eye(3).tolist(),
        "agreed_position_cov": np.eye(3).tolist(), "agreed_fusion_gain": K.tolist(),
        "fused_position_cov": fused.tolist(), "fused_residual_gain": gain}}
    weights = save_checkpoint(tmp_path / "fused.safetensors", contents.model, meta)
    h = _harness(weights, odom_check=True, odom_min_agreeing=1, max_ood_score=0.0, max_position_std_factor=0.0,
                 odom_warmup_fraction=0.0)
    try:
        debug = h.subscribe(AnchorDebug, "anchor_reloc_node/anchor", RELIABLE)
        stamps = _replay_with_odometry(h, images, T_odom, 400 * S)
        wait_until(lambda: h.node.stats.counters["published"] >= 3, what="3 published poses")
        wait_until(lambda: len(debug.items()) >= 4, what="4 AnchorDebug messages")
        poses = {stamp_to_ns(m.header.stamp): m.pose for m in h.pose.items()}
        assert sorted(poses) == stamps[1:]
        p = poses[stamps[3]].pose.position
        np.testing.assert_allclose([p.x, p.y, p.z], last.position + K @ d, atol=1e-4)   # x - K r
        u = (np.eye(3) - K) @ -d
        np.testing.assert_allclose(np.array(poses[stamps[3]].covariance).reshape(6, 6)[:3, :3],
                                   fused + gain * np.outer(u, u), atol=1e-6)
        shifts = {stamp_to_ns(m.header.stamp): [m.odom_shift.x, m.odom_shift.y, m.odom_shift.z] for m in debug.items()}
        np.testing.assert_allclose(shifts[stamps[3]], K @ d, atol=1e-5)
        np.testing.assert_allclose(shifts[stamps[0]], 0.0)                 # withheld: not moved
        assert h.node.stats.counters["fused"] >= 1 and h.node.stats.counters["redecoded"] == 0
    finally:
        h.close()


def test_the_vote_warms_up_first_and_its_parameters_apply_at_run_time(ros_context, tiny_checkpoint: Path,
                                                                     strip_dataset: Path) -> None:
    images = _scene(strip_dataset)[:6]
    # odometry equal to the node's own estimates: each agrees with every one before it
    T_odom = [e.transform() for e in Localizer.from_checkpoint(tiny_checkpoint, device="cpu").localize_batch(images)]
    h = _harness(tiny_checkpoint, odom_check=True, odom_min_agreeing=1, max_ood_score=0.0,
                 max_position_std_factor=0.0)   # the default warm-up: 10 of the 40-frame window
    try:
        debug = h.subscribe(AnchorDebug, "anchor_reloc_node/anchor", RELIABLE)
        _replay_with_odometry(h, images[:3], T_odom[:3], 500 * S)
        wait_until(lambda: len(debug.items()) >= 3, what="3 AnchorDebug messages")
        assert h.node.stats.counters["published"] == 0 and h.node.stats.counters["gated_odom_check"] == 3
        assert all(m.gate_reason.startswith("odom_check: warming up") for m in debug.items())
        # any odom_* parameter rebuilds the gate: the vote starts again, now without a warm-up
        assert h.node.set_parameters([Parameter("odom_warmup_fraction", value=0.0)])[0].successful
        stamps = _replay_with_odometry(h, images[3:], T_odom[3:], 600 * S)
        wait_until(lambda: h.node.stats.counters["published"] >= 2, what="2 published poses")
        assert [stamp_to_ns(m.header.stamp) for m in h.pose.items()] == stamps[1:]
    finally:
        h.close()
