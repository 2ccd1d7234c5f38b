"""Live bag replay: a bag's image messages into the real ``anchor_reloc_node`` over DDS.

The recorded messages are published byte for byte at the recorded pace times ``rate``
(``live_session.run_live``). Frames that the offline path would skip (malformed or
undecodable) are skipped here too, and zero header stamps are replaced by the bag time
so every output can be matched to its frame. Messages of a ROS 1 ``.bag`` are converted
to CDR (re-serialized) before they are published. What the node published is written to a
bag whose times are the header stamps (it lines up with the input bag).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..data.rosbag_estimates import ANCHOR_TOPIC, POSE_TOPIC, POSE_TYPE
from ..data.rosbag_images import IMAGE_TYPES, FrameStats, iter_decoded_messages
from ..data.rosbag_io import ANCHOR_DEBUG_TYPE, BagReader, BagWriter, stamp_ns, time_msg, typestore
from .live_session import LiveFrame, LiveOptions, LiveReplayError, LiveRun, RecordedItem, node_threads, run_live

__all__ = ["LiveOptions", "LiveReplayError", "LiveRun", "node_threads", "replay_live"]


def _frames(bag: BagReader, topic: str, stats: FrameStats) -> Iterator[LiveFrame]:
    """Publishable CDR frames: the ones offline mode decodes (same reading, decoding and
    counting), with a zero header stamp replaced by the bag time."""
    store = typestore()
    for decoded in iter_decoded_messages(bag, topic, stats):
        message, raw = decoded.message, decoded.message.raw
        if decoded.zero_stamp or bag.is_ros1:
            msg = bag.deserialize(raw, message.msgtype)
            if decoded.zero_stamp:
                msg.header.stamp = time_msg(message.bag_ns)
            raw = bytes(store.serialize_cdr(msg, message.msgtype))  # ROS 1 Header's seq is dropped
        yield LiveFrame(message.index, message.bag_ns, decoded.frame.stamp_ns, raw)  # type: ignore[union-attr]


def replay_live(bag_path: Path, image_topic: str, out_bag: Path, log_path: Path,
                options: LiveOptions) -> LiveRun:
    """Replay ``image_topic`` through a fresh node; record its output into ``out_bag``."""
    run = LiveRun()
    with BagReader(bag_path) as bag:
        conns = bag.connections(image_topic, IMAGE_TYPES, "image")
        compressed = conns[0].msgtype.endswith("CompressedImage")
        run_live(_frames(bag, image_topic, run.frame_stats), compressed, log_path, options,
                 what=f"{image_topic!r} in {bag_path}", run=run)
    _write_recording(out_bag, run.recorded)
    return run


def _write_recording(path: Path, items: list[RecordedItem]) -> None:
    """What the node published, bag time = header stamp."""
    store = typestore()
    with BagWriter(path) as bag:
        bag.add_topic(POSE_TOPIC, POSE_TYPE)
        bag.add_topic(ANCHOR_TOPIC, ANCHOR_DEBUG_TYPE)
        for topic, _, raw in items:
            msgtype = POSE_TYPE if topic == POSE_TOPIC else ANCHOR_DEBUG_TYPE
            bag.write_raw(topic, stamp_ns(store.deserialize_cdr(raw, msgtype).header.stamp), raw)
