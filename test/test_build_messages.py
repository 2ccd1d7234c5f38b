"""The generated interfaces import, match their definitions, and cross real DDS."""
from __future__ import annotations

import json

import pytest

from ros_helpers import REPO_ROOT, finish, find_share_file, ros_env, start_python

rclpy = pytest.importorskip("rclpy", reason="ROS 2 (rclpy) is not installed; run scripts/setup.sh")

EXPECTED_ANCHOR_DEBUG_FIELDS = {
    "header": "std_msgs/Header",
    "anchor_index": "int32",
    "anchor_position": "geometry_msgs/Point",
    "confidence": "float",
    "topk_indices": "sequence<int32>",
    "topk_confidences": "sequence<float>",
    "offset": "geometry_msgs/Vector3",
    "nearest_anchor_index": "int32",
    "inference_ms": "float",
    "latency_ms": "float",
    "decode_mode": "string",
    "published": "boolean",
    "gate_reason": "string",
    "ood_score": "float",
    "gate_confidence": "float",
    "position_std": "float",
    "odom_anchor_index": "int32",
    "vote_residual": "float",
    "odom_shift": "geometry_msgs/Vector3",
    "committee_distance": "float",
}

# Real ROS 2 Jazzy's tf2_msgs/msg/TFMessage; the pip-only stand-in must equal it.
JAZZY_TFMESSAGE_HASH = "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"


def _rosbags_hash(msg_file: str, type_name: str) -> str:
    from rosbags.typesys import Stores, get_typestore, get_types_from_msg

    store = get_typestore(Stores.ROS2_JAZZY)
    store.register(get_types_from_msg((REPO_ROOT / msg_file).read_text(), type_name))
    return store.hash_rihs01(type_name)


def test_anchor_debug_imports_from_repo_root_with_all_fields() -> None:
    from anchor_reloc_ros.msg import AnchorDebug

    assert AnchorDebug.get_fields_and_field_types() == EXPECTED_ANCHOR_DEBUG_FIELDS
    msg = AnchorDebug(anchor_index=3, confidence=0.5, topk_indices=[3, 1],
                      topk_confidences=[0.5, 0.25], decode_mode="fusion")
    assert list(msg.topk_indices) == [3, 1]
    assert msg.decode_mode == "fusion"


def test_anchor_debug_imports_outside_the_repository(tmp_path) -> None:
    """From another folder the installed package (not the source tree) is used."""
    code = """
        import anchor_reloc_ros
        from anchor_reloc_ros.msg import AnchorDebug
        from tf2_msgs.msg import TFMessage
        print(AnchorDebug.__module__, TFMessage.__module__)
    """
    rc, out, err = finish(start_python(code, ros_env(), cwd=tmp_path), timeout=60)
    assert rc == 0, err
    assert "anchor_reloc_ros.msg._anchor_debug" in out


def test_anchor_debug_type_hash_matches_its_definition() -> None:
    json_file = find_share_file("anchor_reloc_ros", "msg/AnchorDebug.json")
    assert json_file is not None, "share/anchor_reloc_ros/msg/AnchorDebug.json not installed"
    hashes = {h["type_name"]: h["hash_string"]
              for h in json.loads(json_file.read_text())["type_hashes"]}
    type_name = "anchor_reloc_ros/msg/AnchorDebug"
    assert hashes[type_name] == _rosbags_hash("msg/AnchorDebug.msg", type_name)


def test_tf_message_imports_and_equals_jazzy() -> None:
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    msg = TFMessage(transforms=[TransformStamped(child_frame_id="odom")])
    assert msg.transforms[0].child_frame_id == "odom"
    assert TFMessage.get_fields_and_field_types() == {
        "transforms": "sequence<geometry_msgs/TransformStamped>"}
    json_file = find_share_file("tf2_msgs", "msg/TFMessage.json")
    if json_file is not None:
        hashes = {h["type_name"]: h["hash_string"]
                  for h in json.loads(json_file.read_text())["type_hashes"]}
        assert hashes["tf2_msgs/msg/TFMessage"] == JAZZY_TFMESSAGE_HASH


_SUBSCRIBER = """
    import json, sys, time
    import rclpy
    from anchor_reloc_ros.msg import AnchorDebug
    topic, timeout = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    try:
        node = rclpy.create_node("anchor_debug_test_sub")
        got = []
        node.create_subscription(AnchorDebug, topic, got.append, 10)
        deadline = time.monotonic() + timeout
        while not got and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        infos = node.get_publishers_info_by_topic(topic)
        if not got:
            print("NO MESSAGE", file=sys.stderr)
            sys.exit(1)
        m = got[0]
        print(json.dumps({
            "anchor_index": m.anchor_index,
            "anchor_position": [m.anchor_position.x, m.anchor_position.y, m.anchor_position.z],
            "confidence": m.confidence,
            "topk_indices": list(m.topk_indices),
            "topk_confidences": [round(c, 4) for c in m.topk_confidences],
            "offset": [m.offset.x, m.offset.y, m.offset.z],
            "nearest_anchor_index": m.nearest_anchor_index,
            "decode_mode": m.decode_mode,
            "frame_id": m.header.frame_id,
            "stamp": [m.header.stamp.sec, m.header.stamp.nanosec],
            "publisher_type": infos[0].topic_type if infos else None,
        }))
    finally:
        rclpy.try_shutdown()
"""

_PUBLISHER = """
    import sys, time
    import rclpy
    from anchor_reloc_ros.msg import AnchorDebug
    topic, timeout = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    try:
        node = rclpy.create_node("anchor_debug_test_pub")
        pub = node.create_publisher(AnchorDebug, topic, 10)
        msg = AnchorDebug(anchor_index=7, confidence=0.75, topk_indices=[7, 2, 9],
                          topk_confidences=[0.75, 0.125, 0.0625], nearest_anchor_index=2,
                          inference_ms=4.5, latency_ms=9.0, decode_mode="argmax")
        msg.header.frame_id = "map"
        msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 345
        msg.anchor_position.x, msg.anchor_position.y, msg.anchor_position.z = 1.0, -2.0, 0.5
        msg.offset.x, msg.offset.y = 0.25, -0.5
        deadline = time.monotonic() + timeout
        seen = False
        # Publish until the subscriber has matched and left again (it exits after one).
        while time.monotonic() < deadline:
            count = pub.get_subscription_count()
            seen = seen or count > 0
            if seen and count == 0:
                break
            pub.publish(msg)
            time.sleep(0.05)
        print("matched" if seen else "never matched")
    finally:
        rclpy.try_shutdown()
"""


@pytest.mark.parametrize("shm_only", [False, True], ids=["default-transports", "shm-profile"])
def test_anchor_debug_crosses_dds_between_two_processes(tmp_path, shm_only: bool) -> None:
    topic = f"/anchor_debug_test_{'shm' if shm_only else 'default'}"
    env = ros_env(shm_only=shm_only)
    sub = start_python(_SUBSCRIBER, env, cwd=tmp_path, args=[topic, "20"])
    pub = start_python(_PUBLISHER, env, cwd=tmp_path, args=[topic, "25"])
    sub_rc, sub_out, sub_err = finish(sub, timeout=40)
    pub_rc, pub_out, pub_err = finish(pub, timeout=40)
    assert sub_rc == 0, f"subscriber failed:\n{sub_err}\npublisher:\n{pub_out}{pub_err}"
    assert pub_rc == 0, pub_err
    assert "matched" in pub_out
    got = json.loads(sub_out.strip().splitlines()[-1])
    assert got == {
        "anchor_index": 7,
        "anchor_position": [1.0, -2.0, 0.5],
        "confidence": 0.75,
        "topk_indices": [7, 2, 9],
        "topk_confidences": [0.75, 0.125, 0.0625],
        "offset": [0.25, -0.5, 0.0],
        "nearest_anchor_index": 2,
        "decode_mode": "argmax",
        "frame_id": "map",
        "stamp": [12, 345],
        "publisher_type": "anchor_reloc_ros/msg/AnchorDebug",
    }
