"""Camera frames from a bag: sensor_msgs/Image or CompressedImage decoded to RGB.

Decoding goes through ``data.image_codec`` (the same code the node uses). A message
that cannot be deserialized or decoded is counted in ``FrameStats`` and skipped; it
never stops the run. Frames come in bag order; callers sort by ``stamp_ns``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .image_codec import ImageDecodeError, message_to_rgb
from .rosbag_io import DESERIALIZE_ERRORS, BagReader, header_stamp_ns

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
MAX_REASONS = 5


@dataclass
class FrameStats:
    messages: int = 0        # messages on the topic
    bad: int = 0             # skipped: malformed message or undecodable image
    zero_stamps: int = 0     # header stamp was zero: bag receive time used instead
    bad_reasons: list[str] = field(default_factory=list)

    def add_bad(self, index: int, reason: str) -> None:
        self.bad += 1
        if len(self.bad_reasons) < MAX_REASONS:
            self.bad_reasons.append(f"message {index}: {reason}")

    def as_dict(self) -> dict[str, object]:
        return {"image_messages": self.messages, "bad_frames": self.bad,
                "zero_stamp_frames": self.zero_stamps, "bad_frame_reasons": list(self.bad_reasons)}


@dataclass
class BagFrame:
    index: int        # position among the topic's messages, in bag order
    stamp_ns: int     # header stamp (bag receive time when the stamp is zero)
    frame_id: str
    rgb: np.ndarray   # HxWx3 uint8


def iter_bag_images(bag: BagReader, topic: str, stats: FrameStats) -> Iterator[BagFrame]:
    """Decoded frames of ``topic``; ``BagTopicError`` if it is absent or not an image."""
    connections = bag.connections(topic, IMAGE_TYPES, "image")
    for index, (conn, bag_ns, raw) in enumerate(bag.messages(connections)):
        stats.messages += 1
        try:
            msg = bag.deserialize(raw, conn.msgtype)
            rgb = message_to_rgb(msg)
        except ImageDecodeError as exc:
            stats.add_bad(index, str(exc))
            continue
        except DESERIALIZE_ERRORS as exc:
            stats.add_bad(index, str(exc))
            continue
        if msg.header.stamp.sec == 0 and msg.header.stamp.nanosec == 0:
            stats.zero_stamps += 1
        yield BagFrame(index, header_stamp_ns(msg, bag_ns), str(msg.header.frame_id), rgb)
