"""Camera frames from a bag: sensor_msgs/Image or CompressedImage decoded to RGB.

Two steps: ``read_image_messages`` reads the raw CDR messages (sequential, cheap) and
``decode_image_message`` deserializes and decodes one of them, optionally resized to the
network input (independent per message, so ``iter_bag_images`` can run it on several
threads). Decoding goes through ``data.image_codec`` (the same code the node uses, with
its default ``max_image_pixels`` limit: an oversized frame is a bad frame),
resizing through ``core.preprocessing.resize_rgb``. A message that cannot be
deserialized or decoded is counted in ``FrameStats`` and skipped; it never stops the
run. Frames come in bag order; callers sort by ``stamp_ns``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..core.errors import InvalidImageError
from .image_codec import ImageDecodeError, message_to_rgb
from .prefetch import parallel_map
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
    rgb: np.ndarray   # HxWx3 uint8 (at the size asked for, if any)


@dataclass(frozen=True)
class RawImageMessage:
    index: int        # position among the topic's messages, in bag order
    bag_ns: int       # bag receive time
    msgtype: str
    raw: bytes        # CDR


@dataclass(frozen=True)
class DecodedMessage:
    message: RawImageMessage
    frame: BagFrame | None    # None: a bad frame, see ``error``
    error: str = ""
    zero_stamp: bool = False


def read_image_messages(bag: BagReader, topic: str) -> Iterator[RawImageMessage]:
    """The topic's undecoded messages in bag order; ``BagTopicError`` at once if it is absent
    or not an image topic."""
    connections = bag.connections(topic, IMAGE_TYPES, "image")
    return (RawImageMessage(index, bag_ns, conn.msgtype, raw)
            for index, (conn, bag_ns, raw) in enumerate(bag.messages(connections)))


def decode_image_message(bag: BagReader, message: RawImageMessage, size_hw: tuple[int, int] | None = None,
                         resize: bool = True) -> DecodedMessage:
    """Deserialize and decode one message, checked as a network input and resized to
    ``size_hw`` when given (``resize`` False: checked only, kept at its size). Thread-safe;
    touches no shared state, so the caller counts the outcome (in order)."""
    try:
        msg = bag.deserialize(message.raw, message.msgtype)
        rgb = message_to_rgb(msg)
        if size_hw is not None:
            from ..core.preprocessing import check_image, resize_rgb  # here: readers need no torch

            rgb = resize_rgb(check_image(rgb), size_hw) if resize else check_image(rgb)
    except (ImageDecodeError, InvalidImageError, *DESERIALIZE_ERRORS) as exc:
        return DecodedMessage(message, None, str(exc))
    zero = msg.header.stamp.sec == 0 and msg.header.stamp.nanosec == 0
    frame = BagFrame(message.index, header_stamp_ns(msg, message.bag_ns), str(msg.header.frame_id), rgb)
    return DecodedMessage(message, frame, zero_stamp=zero)


def iter_decoded_messages(bag: BagReader, topic: str, stats: FrameStats, size_hw: tuple[int, int] | None = None,
                          workers: int = 0, depth: int | None = None, resize: bool = True) -> Iterator[DecodedMessage]:
    """The decodable messages of ``topic`` in bag order (frames resized to ``size_hw`` when
    given, as ``decode_image_message`` with ``resize``), bad ones and zero stamps counted in
    ``stats``; ``BagTopicError`` if the topic is absent or not an image. ``workers`` > 0 decodes on that many threads, at most ``depth``
    messages ahead (``data.prefetch.parallel_map``); 0 decodes on the caller's thread.
    Leaving the loop early stops the threads."""
    decode = partial(decode_image_message, bag, size_hw=size_hw, resize=resize)
    results = parallel_map(decode, read_image_messages(bag, topic), workers, depth, name="bag-decode")
    with closing(results):
        for result in results:
            stats.messages += 1
            if result.frame is None:
                stats.add_bad(result.message.index, result.error)
                continue
            if result.zero_stamp:
                stats.zero_stamps += 1
            yield result


def iter_bag_images(bag: BagReader, topic: str, stats: FrameStats, size_hw: tuple[int, int] | None = None,
                    workers: int = 0, depth: int | None = None, resize: bool = True) -> Iterator[BagFrame]:
    """The decoded frames of ``iter_decoded_messages``."""
    decoded = iter_decoded_messages(bag, topic, stats, size_hw, workers, depth, resize)
    with closing(decoded):
        for result in decoded:
            yield result.frame  # type: ignore[misc]  # only good frames come out
